"""Numba kernels of the MET association-map reconstruction (private).

Every kernel works on one block of events in columnar form: per-event ``offsets`` (int64,
n_events+1) and per-object columns, with link lists as (offsets, values) pairs. Indices that the
kernels exchange between each other are *block-global* (event offset + event-local index); the
public outputs convert back to event-local indices where the EDM wants links.

Kernels never raise: bad input is reported through a status code plus the position of the first
offence, and the Python caller turns that into an error naming event, container and key.
Sums are accumulated in float64 in a fixed per-event order, so results do not depend on how events
are grouped into blocks.
"""

import numpy as np
from numba import literal_unroll

from metflow.framework.jit import kernel

from ._fragment_kernels import (ERR_INPUTS, ERR_LINK_RANGE, ERR_SHARED_CONSTITUENT,  # noqa: F401
                                ERR_TOO_MANY_OBJECTS, FRAGMENT_HEADER, KIND_CAL, KIND_TRK, OK, _add_vec, _pt,
                                block_global_links, fragment_segments, pack_fragment, unpack_fragments)
# the map and soft-term kernels, re-exported: this module is the reconstruction algorithms' one
# kernel namespace (also what `metflow bench` times)
from ._map_kernels import (MAP_HEADER, association_map, association_map_and_core, identify_overlaps,  # noqa: F401
                           inputs_match, soft_core)


@kernel(inline="always")
def accept_tracks(trk_offsets, px, py, pz, z0, d0, vertex, passes_quality,
                  pv_offsets, pv_z, pv_is_hard_scatter,
                  min_pt, max_abs_eta, max_z0_sin_theta, max_d0):
    """Per-track acceptTrack decision: hard-scatter vertex 0 exists, track from it, quality, kinematics.

    z0 is taken relative to the hard-scatter vertex z (|(z0 - z_PV) sin(theta)|).
    """
    n_events = trk_offsets.shape[0] - 1
    accepted = np.zeros(px.shape[0], dtype=np.bool_)
    for ev in range(n_events):
        first_pv = pv_offsets[ev]
        if pv_offsets[ev + 1] == first_pv or not pv_is_hard_scatter[first_pv]:
            continue
        z_pv = np.float64(pv_z[first_pv])
        for t in range(trk_offsets[ev], trk_offsets[ev + 1]):
            if vertex[t] != 0 or not passes_quality[t]:
                continue
            tx = np.float64(px[t])
            ty = np.float64(py[t])
            tz = np.float64(pz[t])
            pt = _pt(tx, ty)
            if pt <= min_pt:
                continue
            p = np.sqrt(pt * pt + tz * tz)
            # |eta| < max  <=>  |pz| < p * tanh(max)
            if abs(tz) >= p * np.tanh(max_abs_eta):
                continue
            sin_theta = pt / p
            if abs((np.float64(z0[t]) - z_pv) * sin_theta) >= max_z0_sin_theta:
                continue
            if abs(np.float64(d0[t])) >= max_d0:
                continue
            accepted[t] = True
    return accepted


@kernel(inline="always")
def build_jet_associations(jet_offsets, const_offsets, const_values, ghost_offsets, ghost_values,
                           sig_offsets, sig_track, trk_offsets, trk_px, trk_py, trk_pz, trk_e,
                           track_accepted, pflow):
    """One association per jet plus misc per event; constituent->association lookup; jettrk sums.

    Cluster mode: the cache holds the jet's clusters and its accepted ghost tracks; jettrk sums the
    accepted ghost tracks. PFlow mode: the cache holds the jet's PFOs; jettrk sums the tracks of the
    jet's charged PFOs whose track is accepted.
    Returns (status, bad_event, bad_jet, assoc_offsets, jet_index, sig_assoc, trk_assoc, jettrk[5, n]).
    """
    n_events = jet_offsets.shape[0] - 1
    n_jets = jet_offsets[n_events]
    n_assoc = n_jets + n_events
    assoc_offsets = np.empty(n_events + 1, dtype=np.int64)
    jet_index = np.full(n_assoc, -1, dtype=np.int32)
    sig_assoc = np.full(sig_offsets[n_events], -1, dtype=np.int32)
    trk_assoc = np.full(trk_offsets[n_events], -1, dtype=np.int32)
    jettrk = np.zeros((5, n_assoc), dtype=np.float64)
    assoc_offsets[0] = 0
    for ev in range(n_events):
        assoc_offsets[ev + 1] = jet_offsets[ev + 1] + ev + 1
    for ev in range(n_events):
        s0 = sig_offsets[ev]
        n_sig = sig_offsets[ev + 1] - s0
        t0 = trk_offsets[ev]
        n_trk = trk_offsets[ev + 1] - t0
        for j in range(jet_offsets[ev], jet_offsets[ev + 1]):
            a = assoc_offsets[ev] + (j - jet_offsets[ev])
            jet_index[a] = j - jet_offsets[ev]
            for k in range(const_offsets[j], const_offsets[j + 1]):
                local = const_values[k]
                if local < 0 or local >= n_sig:
                    return ERR_LINK_RANGE, ev, j - jet_offsets[ev], assoc_offsets, jet_index, sig_assoc, trk_assoc, jettrk
                c = s0 + local
                if sig_assoc[c] >= 0:
                    return ERR_SHARED_CONSTITUENT, ev, j - jet_offsets[ev], assoc_offsets, jet_index, sig_assoc, trk_assoc, jettrk
                sig_assoc[c] = a
                if pflow:
                    tl = sig_track[c]
                    if tl >= 0:
                        if tl >= n_trk:
                            return ERR_LINK_RANGE, ev, j - jet_offsets[ev], assoc_offsets, jet_index, sig_assoc, trk_assoc, jettrk
                        t = t0 + tl
                        if track_accepted[t]:
                            _add_vec(jettrk, a, trk_px[t], trk_py[t], trk_pz[t], trk_e[t])
            if not pflow:
                for k in range(ghost_offsets[j], ghost_offsets[j + 1]):
                    local = ghost_values[k]
                    if local < 0 or local >= n_trk:
                        return ERR_LINK_RANGE, ev, j - jet_offsets[ev], assoc_offsets, jet_index, sig_assoc, trk_assoc, jettrk
                    t = t0 + local
                    if not track_accepted[t]:
                        continue
                    if trk_assoc[t] >= 0:
                        return ERR_SHARED_CONSTITUENT, ev, j - jet_offsets[ev], assoc_offsets, jet_index, sig_assoc, trk_assoc, jettrk
                    trk_assoc[t] = a
                    _add_vec(jettrk, a, trk_px[t], trk_py[t], trk_pz[t], trk_e[t])
    return OK, -1, -1, assoc_offsets, jet_index, sig_assoc, trk_assoc, jettrk


@kernel(inline="always")
def order_objects(obj_offsets, px, py, min_pt):
    """Selected objects per event: pT >= min_pt, sorted by descending pT (ties keep input order).

    Returns (sel_offsets int64[n_events+1], sel_index int32 block-global object indices).
    """
    n_events = obj_offsets.shape[0] - 1
    sel = np.empty(obj_offsets[n_events], dtype=np.int32)
    sel_offsets = np.zeros(n_events + 1, dtype=np.int64)
    n = 0
    for ev in range(n_events):
        start = n
        for o in range(obj_offsets[ev], obj_offsets[ev + 1]):
            pt = np.hypot(np.float64(px[o]), np.float64(py[o]))
            if pt < min_pt:
                continue
            # insertion into the descending-pT run of this event (stable for equal pT)
            pos = n
            while pos > start:
                q = sel[pos - 1]
                if np.hypot(np.float64(px[q]), np.float64(py[q])) >= pt:
                    break
                sel[pos] = q
                pos -= 1
            sel[pos] = o
            n += 1
        sel_offsets[ev + 1] = n
    return sel_offsets, sel[:n]


@kernel(inline="always")
def associate_objects(obj_offsets, sel_offsets, sel_index,
                      cal_link_offsets, cal_link_values, trk_link_offsets, trk_link_values,
                      sig_offsets, sig_e, sig_track, trk_offsets, track_accepted,
                      sig_assoc, trk_assoc, assoc_offsets, pflow):
    """Constituents of each selected object, grouped by the association that owns them.

    cal links point into the signal container (clusters, or PFOs in PFlow mode), trk links into the
    tracks (cluster mode only). Kept: clusters / neutral PFOs with E > 0, tracks and charged PFOs
    whose track is accepted. Constituents in no jet go to the event's misc association; an object
    without constituents gets one empty misc piece. Pieces of one object are in increasing
    association order; constituents of a piece in increasing (kind, index) order, duplicates removed.
    Returns (status, bad_event, bad_object, piece_offsets, piece_assoc, const_offsets, const_kind,
    const_index) where const_index is block-global.
    """
    n_events = obj_offsets.shape[0] - 1
    n_sel = sel_index.shape[0]
    n_links = cal_link_values.shape[0] + trk_link_values.shape[0]
    piece_offsets = np.zeros(n_sel + 1, dtype=np.int64)
    piece_assoc = np.empty(n_links + n_sel, dtype=np.int32)
    const_offsets = np.zeros(n_links + n_sel + 1, dtype=np.int64)
    const_kind = np.empty(n_links, dtype=np.uint8)
    const_index = np.empty(n_links, dtype=np.int32)
    sort_keys = np.empty(n_links, dtype=np.int64)
    n_piece = 0
    n_const = 0
    big = np.int64(1) << 32
    for ev in range(n_events):
        s0 = sig_offsets[ev]
        n_sig = sig_offsets[ev + 1] - s0
        t0 = trk_offsets[ev]
        n_trk = trk_offsets[ev + 1] - t0
        misc = assoc_offsets[ev + 1] - 1
        for s in range(sel_offsets[ev], sel_offsets[ev + 1]):
            o = sel_index[s]
            local_o = o - obj_offsets[ev]
            n_keys = 0
            for k in range(cal_link_offsets[o], cal_link_offsets[o + 1]):
                local = cal_link_values[k]
                if local < 0 or local >= n_sig:
                    return (ERR_LINK_RANGE, ev, local_o, piece_offsets, piece_assoc, const_offsets,
                            const_kind, const_index)
                c = s0 + local
                keep = False
                if pflow and sig_track[c] >= 0:
                    tl = sig_track[c]
                    if tl >= n_trk:
                        return (ERR_LINK_RANGE, ev, local_o, piece_offsets, piece_assoc, const_offsets,
                                const_kind, const_index)
                    keep = track_accepted[t0 + tl]
                else:
                    keep = sig_e[c] > 0
                if keep:
                    a = sig_assoc[c]
                    if a < 0:
                        a = misc
                    sort_keys[n_keys] = (np.int64(a) * 2 + KIND_CAL) * big + c
                    n_keys += 1
            for k in range(trk_link_offsets[o], trk_link_offsets[o + 1]):
                local = trk_link_values[k]
                if local < 0 or local >= n_trk:
                    return (ERR_LINK_RANGE, ev, local_o, piece_offsets, piece_assoc, const_offsets,
                            const_kind, const_index)
                t = t0 + local
                if track_accepted[t]:
                    a = trk_assoc[t]
                    if a < 0:
                        a = misc
                    sort_keys[n_keys] = (np.int64(a) * 2 + KIND_TRK) * big + t
                    n_keys += 1
            if n_keys == 0:
                piece_assoc[n_piece] = misc
                n_piece += 1
                const_offsets[n_piece] = n_const
            else:
                keys = np.sort(sort_keys[:n_keys])
                last_assoc = -1
                last_key = -1
                for k in range(n_keys):
                    key = keys[k]
                    if key == last_key:
                        continue
                    last_key = key
                    a = key // big // 2
                    if a != last_assoc:
                        if last_assoc >= 0:
                            n_piece += 1
                            const_offsets[n_piece] = n_const
                        piece_assoc[n_piece] = a
                        last_assoc = a
                    const_kind[n_const] = (key // big) % 2
                    const_index[n_const] = key % big
                    n_const += 1
                n_piece += 1
                const_offsets[n_piece] = n_const
            piece_offsets[s + 1] = n_piece
    # views of the working arrays (pack_fragment copies them into the fragment's one buffer)
    return (OK, -1, -1, piece_offsets, piece_assoc[:n_piece], const_offsets[:n_piece + 1],
            const_kind[:n_const], const_index[:n_const])


# ---------------------------------------------------------------------------------------------
# fused entry points: one dispatch per algorithm execution (a numba call costs about 60 ns per
# array argument and 0.2-0.3 us per returned array, so small blocks want few, wide kernels).
# The helpers they call are inlined (``inline="always"``): a call between kernels reference-counts
# its arrays, which at one event per block is a tenth of the map builder's kernel time.


@kernel
def jet_associations(jet_offsets, const_offsets, const_values, ghost_offsets, ghost_values,
                     sig_offsets, sig_track, trk_offsets, trk_px, trk_py, trk_pz, trk_e, trk_z0, trk_d0,
                     trk_vertex, trk_passes_quality, pv_offsets, pv_z, pv_is_hard_scatter,
                     min_pt, max_abs_eta, max_z0_sin_theta, max_d0, pflow):
    """accept_tracks + build_jet_associations in one call; returns the latter's tuple plus the
    accepted-track mask. Status ERR_INPUTS: the containers cover different numbers of events."""
    n = jet_offsets.shape[0]
    if sig_offsets.shape[0] != n or trk_offsets.shape[0] != n or pv_offsets.shape[0] != n:
        z32 = np.zeros(0, dtype=np.int32)
        return (ERR_INPUTS, -1, -1, np.zeros(1, dtype=np.int64), z32, z32, z32, np.zeros(0, dtype=np.bool_),
                np.zeros((5, 0), dtype=np.float64))
    accepted = accept_tracks(trk_offsets, trk_px, trk_py, trk_pz, trk_z0, trk_d0, trk_vertex,
                             trk_passes_quality, pv_offsets, pv_z, pv_is_hard_scatter,
                             min_pt, max_abs_eta, max_z0_sin_theta, max_d0)
    status, ev, jet, assoc_offsets, jet_index, sig_assoc, trk_assoc, jettrk = build_jet_associations(
        jet_offsets, const_offsets, const_values, ghost_offsets, ghost_values, sig_offsets, sig_track,
        trk_offsets, trk_px, trk_py, trk_pz, trk_e, accepted, pflow)
    return status, ev, jet, assoc_offsets, jet_index, sig_assoc, trk_assoc, accepted, jettrk


@kernel(inline="always")
def single_links_as_lists(links):
    """A single-link column (-1 = none) as list offsets + values (at most one entry per object)."""
    offsets = np.zeros(links.shape[0] + 1, dtype=np.int64)
    values = np.empty(links.shape[0], dtype=np.int32)
    n = 0
    for i in range(links.shape[0]):
        if links[i] >= 0:
            values[n] = links[i]
            n += 1
        offsets[i + 1] = n
    return offsets, values[:n]


@kernel
def object_associations(obj_offsets, px, py, min_pt, cal_link_offsets, cal_link_values,
                        trk_link_offsets, trk_link_values, trk_single_link, sig_offsets, sig_e, sig_track,
                        trk_offsets, track_accepted, sig_assoc, trk_assoc, assoc_offsets, pflow, object_type):
    """order_objects + associate_objects + event-local object indices in one call.

    ``trk_single_link``: the track links are one int32 link per object (-1 = none) in
    ``trk_link_values`` and ``trk_link_offsets`` is ignored. In PFlow mode the track links are not read.
    Returns (status, bad_event, bad_object, packed) with the result packed by :func:`pack_fragment`
    (the selected objects' offsets per event and event-local indices, then the pieces).
    Status ERR_INPUTS: the inputs cover different numbers of events, or the jet associations were
    built from other signals / tracks.
    """
    n = assoc_offsets.shape[0]
    if obj_offsets.shape[0] != n or sig_offsets.shape[0] != n or trk_offsets.shape[0] != n or \
            sig_assoc.shape[0] != sig_offsets[n - 1] or trk_assoc.shape[0] != trk_offsets[n - 1] or \
            track_accepted.shape[0] != trk_offsets[n - 1]:
        return ERR_INPUTS, -1, -1, np.zeros(0, dtype=np.int64)
    sel_offsets, sel_index = order_objects(obj_offsets, px, py, min_pt)
    if pflow:
        t_off = np.zeros(obj_offsets[obj_offsets.shape[0] - 1] + 1, dtype=np.int64)
        t_val = np.zeros(0, dtype=np.int32)
    elif trk_single_link:
        t_off, t_val = single_links_as_lists(trk_link_values)
    else:
        t_off = trk_link_offsets.astype(np.int64)
        t_val = trk_link_values.astype(np.int32)
    status, ev, obj, piece_offsets, piece_assoc, const_offsets, const_kind, const_index = associate_objects(
        obj_offsets, sel_offsets, sel_index, cal_link_offsets, cal_link_values, t_off, t_val,
        sig_offsets, sig_e, sig_track, trk_offsets, track_accepted, sig_assoc, trk_assoc, assoc_offsets,
        pflow)
    obj_local = np.empty(sel_index.shape[0], dtype=np.int32)
    for e in range(sel_offsets.shape[0] - 1):
        for s in range(sel_offsets[e], sel_offsets[e + 1]):
            obj_local[s] = sel_index[s] - obj_offsets[e]
    if status != OK:
        return status, ev, obj, np.zeros(0, dtype=np.int64)
    return status, ev, obj, pack_fragment(object_type, sel_offsets, obj_local, piece_offsets, piece_assoc,
                                          const_offsets, const_kind, const_index)


@kernel
def object_associations_of(collections, sig_offsets, sig_e, sig_track, trk_offsets, track_accepted,
                           sig_assoc, trk_assoc, assoc_offsets, pflow):
    """:func:`object_associations` for several object collections of one jet collection in one
    call (one dispatch, the shared inputs unboxed once).

    ``collections`` holds per collection the tuple (obj_offsets, px, py, min_pt, cal_link_offsets,
    cal_link_values, trk_link_offsets, trk_link_values, trk_single_link, object_type).
    Returns (status, bad, packed, bounds): the collections' packed fragments one after another,
    collection ``i`` at ``packed[bounds[i]:bounds[i + 1]]``, each equal to what
    :func:`object_associations` returns for it; on failure ``bad`` holds (collection, event,
    object) of the first failing collection, whose status is returned.
    """
    n = len(collections)
    bounds = np.zeros(n + 1, dtype=np.int64)
    bad = np.full(3, -1, dtype=np.int64)
    parts = [np.zeros(0, dtype=np.int64)]
    status = OK
    i = 0
    # literal_unroll: the loop body is typed per collection tuple type (no early return inside)
    for c in literal_unroll(collections):
        if status == OK:
            st, ev, obj, packed = object_associations(
                c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7], c[8], sig_offsets, sig_e, sig_track,
                trk_offsets, track_accepted, sig_assoc, trk_assoc, assoc_offsets, pflow, c[9])
            if st != OK:
                status = st
                bad[0] = i
                bad[1] = ev
                bad[2] = obj
            else:
                parts.append(packed)
                bounds[i + 1] = bounds[i] + packed.shape[0]
        i += 1
    if status != OK:
        return status, bad, np.zeros(0, dtype=np.int64), bounds
    out = np.empty(bounds[n], dtype=np.int64)
    for k in range(n):
        out[bounds[k]:bounds[k + 1]] = parts[k + 1]
    return OK, bad, out, bounds


@kernel
def objects_map_and_core(collections, external, frag_container, assoc_offsets, jet_index, jettrk, sig_assoc,
                         trk_assoc, jet_offsets, sig_offsets, sig_px, sig_py, sig_pz, sig_e, sig_track,
                         sig_type_bit, trk_offsets, trk_px, trk_py, trk_pz, trk_e, trk_type_bit, pflow,
                         track_accepted):
    """The map builder's call: :func:`object_associations_of` on ``collections``, then
    :func:`association_map_and_core` on their fragments followed by ``external`` (fragments
    made by other algorithms, packed and concatenated); ``frag_container`` covers both.
    Returns (status, failed, bad, bad_count, i64, i32, u8, u64, f32, soft): ``failed`` is the
    collection whose association failed (``bad`` its event, ``bad_count`` its object), or -1
    with association_map_and_core's status, bad and bad_count."""
    status, bad, packed, _ = object_associations_of(collections, sig_offsets, sig_e, sig_track, trk_offsets,
                                                    track_accepted, sig_assoc, trk_assoc, assoc_offsets, pflow)
    if status != OK:
        return (status, bad[0], bad[1], bad[2], np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int32),
                np.zeros(0, dtype=np.uint8), np.zeros(0, dtype=np.uint64), np.zeros(0, dtype=np.float32),
                np.zeros((3, 0, 2), dtype=np.float32))
    if external.shape[0] != 0:
        packed = np.concatenate((packed, external))
    status, bad_piece, bad_count, i64, i32, u8, u64, f32, soft = association_map_and_core(
        assoc_offsets, jet_index, jettrk, sig_assoc, trk_assoc, jet_offsets, packed, frag_container,
        sig_offsets, sig_px, sig_py, sig_pz, sig_e, sig_track, sig_type_bit, trk_offsets, trk_px, trk_py,
        trk_pz, trk_e, trk_type_bit, pflow, track_accepted)
    return status, np.int64(-1), np.int64(bad_piece), np.int64(bad_count), i64, i32, u8, u64, f32, soft
