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

from metflow.edm.met_base import MAX_OBJECTS_PER_ASSOCIATION
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


@kernel
def identify_overlaps(assoc_offsets, piece_order, piece_assoc, piece_obj_container, piece_obj_index,
                      piece_obj_type, const_offsets, const_kind, const_index,
                      sig_px, sig_py, sig_pz, sig_e, sig_track, sig_type_bit,
                      trk_px, trk_py, trk_pz, trk_e, trk_type_bit, pflow, max_ovl):
    """Assemble the association map of a block (MissingETAssociation::identifyOverlaps per association).

    ``piece_order`` lists the pieces sorted by association (stable: associator order, then object
    order). Per association: owner mask per constituent (bit = object slot), one cal and one trk
    entry per distinct mask in increasing mask order, and the symmetric overlap graph with the OR of
    the shared constituents' type bits. Charged PFOs go to cal (PFO 4-vector) and trk (its track).
    Returns a tuple: status, bad assoc, obj_offsets, obj_container, obj_index, obj_type, ovl_offsets,
    ovl_index, ovl_type, cal_offsets, cal_key, cal[5, n], trk_offsets, trk_key, trk[5, n], n_ovl,
    n_cal, n_trk; the ovl/cal/trk columns are capacity-sized, their used lengths are n_ovl, n_cal,
    n_trk (:func:`association_map` copies them once, into its buffers)."""
    n_assoc = assoc_offsets[assoc_offsets.shape[0] - 1]
    n_obj = piece_order.shape[0]
    n_const = const_index.shape[0]
    obj_offsets = np.zeros(n_assoc + 1, dtype=np.int64)
    obj_container = np.empty(n_obj, dtype=np.uint8)
    obj_index = np.empty(n_obj, dtype=np.int32)
    obj_type = np.empty(n_obj, dtype=np.uint8)
    ovl_offsets = np.zeros(n_obj + 1, dtype=np.int64)
    ovl_index = np.empty(max_ovl, dtype=np.int32)
    ovl_type = np.empty(max_ovl, dtype=np.uint8)
    cal_offsets = np.zeros(n_assoc + 1, dtype=np.int64)
    cal_key = np.empty(n_const, dtype=np.uint64)
    cal = np.zeros((5, n_const), dtype=np.float64)
    trk_offsets = np.zeros(n_assoc + 1, dtype=np.int64)
    trk_key = np.empty(n_const, dtype=np.uint64)
    trk = np.zeros((5, n_const), dtype=np.float64)

    sig_owner = np.zeros(sig_px.shape[0], dtype=np.uint64)
    trk_owner = np.zeros(trk_px.shape[0], dtype=np.uint64)
    touched_kind = np.empty(n_const, dtype=np.uint8)
    touched_index = np.empty(n_const, dtype=np.int32)
    shared = np.zeros((MAX_OBJECTS_PER_ASSOCIATION, MAX_OBJECTS_PER_ASSOCIATION), dtype=np.uint8)
    masks = np.empty(n_const, dtype=np.uint64)
    acc = np.zeros((5, n_const), dtype=np.float64)
    order = np.empty(n_const, dtype=np.int64)

    n_o = 0
    n_ovl = 0
    n_cal = 0
    n_trk = 0
    p = 0
    for a in range(n_assoc):
        first_obj = n_o
        n_touched = 0
        while p < n_obj and piece_assoc[piece_order[p]] == a:
            q = piece_order[p]
            slot = n_o - first_obj
            if slot >= MAX_OBJECTS_PER_ASSOCIATION:
                return (ERR_TOO_MANY_OBJECTS, a, obj_offsets, obj_container, obj_index, obj_type,
                        ovl_offsets, ovl_index, ovl_type, cal_offsets, cal_key, cal, trk_offsets,
                        trk_key, trk, 0, 0, 0)
            obj_container[n_o] = piece_obj_container[q]
            obj_index[n_o] = piece_obj_index[q]
            obj_type[n_o] = piece_obj_type[q]
            bit = np.uint64(1) << np.uint64(slot)
            for k in range(const_offsets[q], const_offsets[q + 1]):
                c = const_index[k]
                if const_kind[k] == KIND_CAL:
                    if sig_owner[c] == 0:
                        touched_kind[n_touched] = KIND_CAL
                        touched_index[n_touched] = c
                        n_touched += 1
                    sig_owner[c] |= bit
                else:
                    if trk_owner[c] == 0:
                        touched_kind[n_touched] = KIND_TRK
                        touched_index[n_touched] = c
                        n_touched += 1
                    trk_owner[c] |= bit
            n_o += 1
            p += 1
        obj_offsets[a + 1] = n_o
        n_here = n_o - first_obj

        # overlap graph: OR of type bits of constituents shared by two objects
        for t in range(n_touched):
            c = touched_index[t]
            if touched_kind[t] == KIND_CAL:
                m = sig_owner[c]
                tb = sig_type_bit
            else:
                m = trk_owner[c]
                tb = trk_type_bit
            if m & (m - np.uint64(1)) == 0:
                continue
            for i in range(n_here):
                if (m >> np.uint64(i)) & np.uint64(1) == 0:
                    continue
                for j in range(i + 1, n_here):
                    if (m >> np.uint64(j)) & np.uint64(1):
                        shared[i, j] |= tb
                        shared[j, i] |= tb
        for i in range(n_here):
            for j in range(n_here):
                if shared[i, j] != 0:
                    ovl_index[n_ovl] = j
                    ovl_type[n_ovl] = shared[i, j]
                    shared[i, j] = 0
                    n_ovl += 1
            ovl_offsets[first_obj + i + 1] = n_ovl

        # keyed sums, calorimeter then tracks
        for kind in range(2):
            n_masks = 0
            for t in range(n_touched):
                c = touched_index[t]
                tk = touched_kind[t]
                if kind == 0:
                    if tk == KIND_CAL:
                        m = sig_owner[c]
                        vx = sig_px[c]
                        vy = sig_py[c]
                        vz = sig_pz[c]
                        ve = sig_e[c]
                    else:
                        continue
                else:
                    if tk == KIND_TRK:
                        m = trk_owner[c]
                        tr = c
                    elif pflow and sig_track[c] >= 0:
                        m = sig_owner[c]
                        tr = sig_track[c]
                    else:
                        continue
                    vx = trk_px[tr]
                    vy = trk_py[tr]
                    vz = trk_pz[tr]
                    ve = trk_e[tr]
                slot = -1
                for u in range(n_masks):
                    if masks[u] == m:
                        slot = u
                        break
                if slot < 0:
                    slot = n_masks
                    masks[slot] = m
                    for w in range(5):
                        acc[w, slot] = 0.0
                    n_masks += 1
                _add_vec(acc, slot, vx, vy, vz, ve)
            # increasing mask order (insertion sort: few masks per association)
            for u in range(n_masks):
                order[u] = u
            for u in range(1, n_masks):
                v = order[u]
                w = u
                while w > 0 and masks[order[w - 1]] > masks[v]:
                    order[w] = order[w - 1]
                    w -= 1
                order[w] = v
            for u in range(n_masks):
                src = order[u]
                if kind == 0:
                    cal_key[n_cal] = masks[src]
                    for w in range(5):
                        cal[w, n_cal] = acc[w, src]
                    n_cal += 1
                else:
                    trk_key[n_trk] = masks[src]
                    for w in range(5):
                        trk[w, n_trk] = acc[w, src]
                    n_trk += 1
        cal_offsets[a + 1] = n_cal
        trk_offsets[a + 1] = n_trk

        for t in range(n_touched):
            if touched_kind[t] == KIND_CAL:
                sig_owner[touched_index[t]] = 0
            else:
                trk_owner[touched_index[t]] = 0

    return (OK, -1, obj_offsets, obj_container, obj_index, obj_type, ovl_offsets, ovl_index, ovl_type,
            cal_offsets, cal_key, cal, trk_offsets, trk_key, trk, n_ovl, n_cal, n_trk)


@kernel
def _soft_sums(sig_offsets, sig_px, sig_py, sig_e, sig_track, trk_offsets, trk_px, trk_py,
              track_accepted, sig_assoc, trk_assoc, misc_kind, misc_index, pflow):
    """Core soft terms per event: signals and accepted tracks in no association.

    ``misc_kind``/``misc_index`` list the constituents of objects in misc associations (block-global).
    Cluster mode: clusters with E > 0 -> cal; accepted tracks -> trk. PFlow mode: neutral PFOs with
    E > 0 -> cal; charged PFOs with an accepted track -> PFO to cal, its track to trk.
    Returns (soft[n_events, 2 terms, 3] = (mpx, mpy, sumet), sig_soft bool, trk_soft bool).
    """
    n_events = sig_offsets.shape[0] - 1
    sig_used = sig_assoc >= 0
    trk_used = trk_assoc >= 0
    for k in range(misc_index.shape[0]):
        if misc_kind[k] == KIND_CAL:
            sig_used[misc_index[k]] = True
        else:
            trk_used[misc_index[k]] = True
    sig_soft = np.zeros(sig_px.shape[0], dtype=np.bool_)
    trk_soft = np.zeros(trk_px.shape[0], dtype=np.bool_)
    soft = np.zeros((n_events, 2, 3), dtype=np.float64)
    for ev in range(n_events):
        t0 = trk_offsets[ev]
        for c in range(sig_offsets[ev], sig_offsets[ev + 1]):
            if sig_used[c]:
                continue
            if pflow and sig_track[c] >= 0:
                t = t0 + sig_track[c]
                if not track_accepted[t]:
                    continue
                trk_soft[t] = True
            elif not sig_e[c] > 0:
                continue
            sig_soft[c] = True
            x = np.float64(sig_px[c])
            y = np.float64(sig_py[c])
            soft[ev, 0, 0] -= x
            soft[ev, 0, 1] -= y
            soft[ev, 0, 2] += _pt(x, y)
        if not pflow:
            for t in range(t0, trk_offsets[ev + 1]):
                if track_accepted[t] and not trk_used[t]:
                    trk_soft[t] = True
        for t in range(t0, trk_offsets[ev + 1]):
            if trk_soft[t]:
                x = np.float64(trk_px[t])
                y = np.float64(trk_py[t])
                soft[ev, 1, 0] -= x
                soft[ev, 1, 1] -= y
                soft[ev, 1, 2] += _pt(x, y)
    return soft, sig_soft, trk_soft


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


@kernel
def inputs_match(assoc_offsets, sig_assoc, trk_assoc, sig_offsets, trk_offsets, packed, n_fragments):
    """Whether the jet associations (``assoc_offsets``, ``sig_assoc``, ``trk_assoc``), the signals,
    the tracks and the packed fragments cover the same events and objects."""
    n = assoc_offsets.shape[0]
    if sig_offsets.shape[0] != n or trk_offsets.shape[0] != n or sig_assoc.shape[0] != sig_offsets[n - 1] \
            or trk_assoc.shape[0] != trk_offsets[n - 1]:
        return False
    pos = 0
    for f in range(n_fragments):
        if pos + FRAGMENT_HEADER > packed.shape[0] or packed[pos + 1] != n - 1:
            return False
        pos += fragment_segments(packed[pos + 1], packed[pos + 2], packed[pos + 3], packed[pos + 4])[7]
    return pos == packed.shape[0]


@kernel
def _ordered_pieces(assoc_offsets, sig_assoc, trk_assoc, jet_offsets, packed, frag_container, sig_offsets,
                    trk_offsets):
    """Input checks of :func:`association_map` and the fragments' pieces in association order.
    Returns (status, bad, bad_count, piece container, object index, object type, association,
    const_offsets, const_kind, const_index, order, overlap capacity); on a failure the arrays are
    not meaningful."""
    n_events = assoc_offsets.shape[0] - 1
    n_fragments = frag_container.shape[0]
    if not inputs_match(assoc_offsets, sig_assoc, trk_assoc, sig_offsets, trk_offsets, packed,
                        n_fragments) or jet_offsets.shape[0] != n_events + 1 or \
            jet_offsets[n_events] + n_events != assoc_offsets[n_events]:
        z64 = np.zeros(0, dtype=np.int64)
        z8 = np.zeros(0, dtype=np.uint8)
        return (ERR_INPUTS, -1, 0, z8, np.zeros(0, dtype=np.int32), z8, z64, z64, z8,
                np.zeros(0, dtype=np.int32), z64, 0)
    p_frag, p_type, p_obj, piece_assoc, p_const, const_kind, const_index = unpack_fragments(
        packed, n_fragments)
    n_assoc = assoc_offsets[n_events]
    n_pieces = piece_assoc.shape[0]
    counts = np.zeros(n_assoc + 1, dtype=np.int64)
    status = OK
    bad = -1
    bad_count = 0
    for p in range(n_pieces):
        a = piece_assoc[p]
        if a < 0 or a >= n_assoc:
            status = ERR_LINK_RANGE
            bad = p
            bad_count = a
            break
        counts[a] += 1
    max_ovl = 0
    if status == OK:
        for a in range(n_assoc):
            c = counts[a]
            if c > MAX_OBJECTS_PER_ASSOCIATION:
                status = ERR_TOO_MANY_OBJECTS
                bad = a
                bad_count = c
                break
            max_ovl += c * (c - 1)
    p_cont = np.empty(n_pieces, dtype=np.uint8)
    order = np.empty(n_pieces, dtype=np.int64)
    if status != OK:
        return (status, bad, bad_count, p_cont, p_obj, p_type, piece_assoc, p_const, const_kind, const_index,
                order, max_ovl)
    for p in range(n_pieces):
        p_cont[p] = frag_container[p_frag[p]]
    # stable counting sort of the pieces by association
    start = np.empty(n_assoc + 1, dtype=np.int64)
    total = 0
    for a in range(n_assoc + 1):
        start[a] = total
        total += counts[a]
    for q in range(n_pieces):
        a = piece_assoc[q]
        order[start[a]] = q
        start[a] += 1
    return (OK, -1, 0, p_cont, p_obj, p_type, piece_assoc, p_const, const_kind, const_index, order, max_ovl)


@kernel
def _signal_tracks(pflow, sig_offsets, sig_track, trk_offsets, n_signals):
    """Block-global track index of each signal: the PFO's track (links are event-local), or -1
    for every cluster."""
    if pflow:
        return block_global_links(sig_offsets, sig_track, trk_offsets)
    return np.full(n_signals, -1, dtype=np.int32)


#: header of :func:`association_map`'s int64 buffer: n_assoc, n_obj, n_ovl, n_cal, n_trk
MAP_HEADER = 5


@kernel
def association_map(assoc_offsets, jet_index, jettrk, sig_assoc, trk_assoc, jet_offsets, packed,
                    frag_container, sig_offsets, sig_px, sig_py, sig_pz, sig_e, sig_track,
                    sig_type_bit, trk_offsets, trk_px, trk_py, trk_pz, trk_e, trk_type_bit, pflow):
    """The association map of a block from the jet associations and the fragments.

    ``packed`` is the concatenation of the fragments' :func:`pack_fragment` buffers in fragment
    order, ``frag_container[f]`` the container id of fragment ``f``. Pieces are ordered by
    association, stably (fragment order, then object order), then :func:`identify_overlaps` runs.
    ``jet_offsets`` are the jets' (one association per jet plus misc). The map's columns come in
    five buffers, one per dtype (five arrays to return instead of fifteen; the caller slices the
    fields out of them):

    * int64: header (:data:`MAP_HEADER`), obj_offsets, ovl_offsets, cal_offsets, trk_offsets
    * int32: obj_index, ovl_index
    * uint8: is_misc, obj_container, obj_type, ovl_type
    * uint64: cal_key, trk_key
    * float32: cal px, py, pz, e, sumpt, then trk's, then jettrk's (row after row)

    Returns (status, bad, bad_count, i64, i32, u8, u64, f32); on a failure the buffers are empty.
    Status ERR_INPUTS: the inputs do not match (:func:`inputs_match`, jet counts);
    ERR_TOO_MANY_OBJECTS: ``bad`` is the association, ``bad_count`` its number of objects;
    ERR_LINK_RANGE: piece ``bad`` (in fragment order) goes to association ``bad_count``, which
    does not exist.
    """
    status, bad, bad_count, p_cont, p_obj, p_type, piece_assoc, p_const, const_kind, const_index, order, \
        max_ovl = _ordered_pieces(assoc_offsets, sig_assoc, trk_assoc, jet_offsets, packed, frag_container,
                                  sig_offsets, trk_offsets)
    if status != OK:
        return (status, bad, bad_count, np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int32),
                np.zeros(0, dtype=np.uint8), np.zeros(0, dtype=np.uint64), np.zeros(0, dtype=np.float32))
    sig_trk = _signal_tracks(pflow, sig_offsets, sig_track, trk_offsets, sig_px.shape[0])
    (status, bad, obj_offsets, obj_container, obj_idx, obj_type, ovl_offsets, ovl_index, ovl_type,
     cal_offsets, cal_key, cal, trk_offsets_out, trk_key, trk, n_ovl, n_cal, n_trk) = identify_overlaps(
        assoc_offsets, order, piece_assoc, p_cont, p_obj, p_type, p_const, const_kind, const_index,
        sig_px, sig_py, sig_pz, sig_e, sig_trk, sig_type_bit, trk_px, trk_py, trk_pz, trk_e, trk_type_bit,
        pflow, max_ovl)
    n_assoc = jet_index.shape[0]
    n_obj = obj_idx.shape[0]
    i64 = np.empty(MAP_HEADER + 3 * (n_assoc + 1) + n_obj + 1, dtype=np.int64)
    i64[0] = n_assoc
    i64[1] = n_obj
    i64[2] = n_ovl
    i64[3] = n_cal
    i64[4] = n_trk
    pos = MAP_HEADER
    for a in range(n_assoc + 1):
        i64[pos + a] = obj_offsets[a]
    pos += n_assoc + 1
    for o in range(n_obj + 1):
        i64[pos + o] = ovl_offsets[o]
    pos += n_obj + 1
    for a in range(n_assoc + 1):
        i64[pos + a] = cal_offsets[a]
        i64[pos + n_assoc + 1 + a] = trk_offsets_out[a]
    i32 = np.empty(n_obj + n_ovl, dtype=np.int32)
    u8 = np.empty(n_assoc + 2 * n_obj + n_ovl, dtype=np.uint8)
    for a in range(n_assoc):
        u8[a] = jet_index[a] < 0
    for o in range(n_obj):
        i32[o] = obj_idx[o]
        u8[n_assoc + o] = obj_container[o]
        u8[n_assoc + n_obj + o] = obj_type[o]
    for v in range(n_ovl):
        i32[n_obj + v] = ovl_index[v]
        u8[n_assoc + 2 * n_obj + v] = ovl_type[v]
    u64 = np.empty(n_cal + n_trk, dtype=np.uint64)
    f32 = np.empty(5 * (n_cal + n_trk + n_assoc), dtype=np.float32)
    for w in range(5):
        for k in range(n_cal):
            f32[w * n_cal + k] = np.float32(cal[w, k])
        for k in range(n_trk):
            f32[5 * n_cal + w * n_trk + k] = np.float32(trk[w, k])
        for a in range(n_assoc):
            f32[5 * (n_cal + n_trk) + w * n_assoc + a] = np.float32(jettrk[w, a])
    for k in range(n_cal):
        u64[k] = cal_key[k]
    for k in range(n_trk):
        u64[n_cal + k] = trk_key[k]
    return status, bad, 0, i64, i32, u8, u64, f32


@kernel
def soft_core(sig_offsets, sig_px, sig_py, sig_e, sig_track, trk_offsets, trk_px, trk_py,
              track_accepted, sig_assoc, trk_assoc, assoc_offsets, packed, n_fragments, pflow):
    """The core soft terms of a block: :func:`_soft_sums` on the constituents of the packed
    fragments (see :func:`association_map`), as float32 [3 (mpx, mpy, sumet), n_events, 2 terms].
    Returns (ok, sums, sig_soft, trk_soft); ``ok`` is False (and the arrays are empty) when the
    inputs do not match (:func:`inputs_match`, and ``track_accepted`` one per track)."""
    if not inputs_match(assoc_offsets, sig_assoc, trk_assoc, sig_offsets, trk_offsets, packed, n_fragments) \
            or track_accepted.shape[0] != trk_assoc.shape[0]:
        return (False, np.zeros((3, 0, 2), dtype=np.float32), np.zeros(0, dtype=np.bool_),
                np.zeros(0, dtype=np.bool_))
    _, _, _, _, _, misc_kind, misc_index = unpack_fragments(packed, n_fragments)
    soft, sig_soft, trk_soft = _soft_sums(sig_offsets, sig_px, sig_py, sig_e, sig_track, trk_offsets, trk_px,
                                          trk_py, track_accepted, sig_assoc, trk_assoc, misc_kind, misc_index,
                                          pflow)
    n = soft.shape[0]
    out = np.empty((3, n, 2), dtype=np.float32)
    for ev in range(n):
        for t in range(2):
            for w in range(3):
                out[w, ev, t] = np.float32(soft[ev, t, w])
    return True, out, sig_soft, trk_soft
