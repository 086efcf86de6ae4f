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

from metflow.framework.jit import kernel

KIND_CAL = 0  # calorimeter-like signal: TopoCluster or PFO
KIND_TRK = 1  # InDet track

OK = 0
ERR_LINK_RANGE = 1  # a link points outside its target container (event-local)
ERR_SHARED_CONSTITUENT = 2  # a constituent belongs to two jets
ERR_TOO_MANY_OBJECTS = 3  # more than 64 objects in one association
ERR_INPUTS = 4  # inputs of different blocks (event or object counts differ); the caller names them



@kernel
def _pt(x, y):
    """sqrt(x^2 + y^2) of float64 values widened from float32: the squares are exact, so this is
    as accurate as np.hypot (no overflow possible) and several times faster (hypot is a libm call)."""
    return np.sqrt(x * x + y * y)


@kernel
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


@kernel
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


@kernel
def block_global_links(offsets, links, target_offsets):
    """Event-local links (-1 = none) of objects in events ``offsets`` -> block-global indices
    into a container with ``target_offsets`` (still -1 for none)."""
    out = np.empty(links.shape[0], dtype=np.int32)
    for ev in range(offsets.shape[0] - 1):
        base = target_offsets[ev]
        for i in range(offsets[ev], offsets[ev + 1]):
            out[i] = links[i] + base if links[i] >= 0 else -1
    return out


@kernel
def _add_vec(target, a, px, py, pz, e):
    x = np.float64(px)
    y = np.float64(py)
    target[0, a] += x
    target[1, a] += y
    target[2, a] += np.float64(pz)
    target[3, a] += np.float64(e)
    target[4, a] += _pt(x, y)


@kernel
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


@kernel
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
    return (OK, -1, -1, piece_offsets, piece_assoc[:n_piece].copy(), const_offsets[:n_piece + 1].copy(),
            const_kind[:n_const].copy(), const_index[:n_const].copy())


# ---------------------------------------------------------------------------------------------
# fused entry points: one dispatch per algorithm execution (a numba call costs about 60 ns per
# array argument and 0.2-0.3 us per returned array, so small blocks want few, wide kernels)


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


@kernel
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


# header of a packed fragment: object type, n_events, n_objects, n_pieces, n_constituents
FRAGMENT_HEADER = 5


@kernel
def fragment_segments(n_events, n_sel, n_piece, n_const):
    """Start of each column in a packed fragment: obj_offsets, obj_index, piece_offsets,
    piece_assoc, const_offsets, const_kind, const_index, and the end."""
    out = np.empty(8, dtype=np.int64)
    out[0] = FRAGMENT_HEADER
    out[1] = out[0] + n_events + 1
    out[2] = out[1] + n_sel
    out[3] = out[2] + n_sel + 1
    out[4] = out[3] + n_piece
    out[5] = out[4] + n_piece + 1
    out[6] = out[5] + n_const
    out[7] = out[6] + n_const
    return out


@kernel
def _copy_into(out, start, values):
    for i in range(values.shape[0]):
        out[start + i] = values[i]


@kernel
def pack_fragment(object_type, obj_offsets, obj_index, piece_offsets, piece_assoc, const_offsets, const_kind,
                  const_index):
    """One associator's output in one int64 buffer (one array to return, freeze, concatenate):
    header (object_type, n_events, n_objects, n_pieces, n_constituents), then the columns of
    ``ObjectAssociations`` at :func:`fragment_segments`."""
    n_events = obj_offsets.shape[0] - 1
    seg = fragment_segments(n_events, obj_index.shape[0], piece_assoc.shape[0], const_index.shape[0])
    out = np.empty(seg[7], dtype=np.int64)
    out[0] = object_type
    out[1] = n_events
    out[2] = obj_index.shape[0]
    out[3] = piece_assoc.shape[0]
    out[4] = const_index.shape[0]
    _copy_into(out, seg[0], obj_offsets)
    _copy_into(out, seg[1], obj_index)
    _copy_into(out, seg[2], piece_offsets[:obj_index.shape[0] + 1])
    _copy_into(out, seg[3], piece_assoc)
    _copy_into(out, seg[4], const_offsets[:piece_assoc.shape[0] + 1])
    _copy_into(out, seg[5], const_kind)
    _copy_into(out, seg[6], const_index)
    return out


@kernel
def unpack_fragments(packed, n_fragments):
    """Concatenation of :func:`pack_fragment` buffers -> block-wide piece columns.

    Returns (piece_fragment, piece_obj_type, piece_obj_index, piece_assoc, const_offsets (global),
    const_kind, const_index), pieces in fragment order.
    """
    n_pieces = 0
    n_const = 0
    pos = 0
    for f in range(n_fragments):
        n_pieces += packed[pos + 3]
        n_const += packed[pos + 4]
        pos += fragment_segments(packed[pos + 1], packed[pos + 2], packed[pos + 3], packed[pos + 4])[7]
    p_frag = np.empty(n_pieces, dtype=np.int64)
    p_type = np.empty(n_pieces, dtype=np.uint8)
    p_obj = np.empty(n_pieces, dtype=np.int32)
    p_assoc = np.empty(n_pieces, dtype=np.int64)
    p_const = np.empty(n_pieces + 1, dtype=np.int64)
    c_kind = np.empty(n_const, dtype=np.uint8)
    c_index = np.empty(n_const, dtype=np.int32)
    p_const[0] = 0
    pos = 0
    p = 0
    c = 0
    for f in range(n_fragments):
        obj_type = packed[pos]
        n_sel = packed[pos + 2]
        n_piece = packed[pos + 3]
        n_c = packed[pos + 4]
        seg = pos + fragment_segments(packed[pos + 1], n_sel, n_piece, n_c)
        for s in range(n_sel):
            for q in range(packed[seg[2] + s], packed[seg[2] + s + 1]):
                p_frag[p + q] = f
                p_type[p + q] = obj_type
                p_obj[p + q] = packed[seg[1] + s]
        for q in range(n_piece):
            p_assoc[p + q] = packed[seg[3] + q]
            p_const[p + q + 1] = packed[seg[4] + q + 1] + c
        for k in range(n_c):
            c_kind[c + k] = packed[seg[5] + k]
            c_index[c + k] = packed[seg[6] + k]
        p += n_piece
        c += n_c
        pos = seg[7]
    return p_frag, p_type, p_obj, p_assoc, p_const, c_kind, c_index
