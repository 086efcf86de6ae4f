"""Numba kernels of the association map and the core soft terms (private).

:func:`association_map` merges the jet associations and the packed object fragments of a block
into the map's columns (:func:`identify_overlaps` per association); :func:`soft_core` sums the
signals and tracks in no association into the core soft terms. Conventions (block-global
indices, status codes, float64 sums in a fixed order) are those of :mod:`._reco_kernels`;
the shared pieces come from :mod:`._fragment_kernels`.
"""

import numpy as np

from metflow.edm.met_base import MAX_OBJECTS_PER_ASSOCIATION
from metflow.framework.jit import kernel

from ._fragment_kernels import (ERR_INPUTS, ERR_LINK_RANGE, ERR_TOO_MANY_OBJECTS, FRAGMENT_HEADER, KIND_CAL,
                            KIND_TRK, OK, _add_vec, _pt, block_global_links, fragment_segments,
                            unpack_fragments)


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


@kernel(inline="always")
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


@kernel(inline="always")
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


@kernel(inline="always")
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


@kernel(inline="always")
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


@kernel
def association_map_and_core(assoc_offsets, jet_index, jettrk, sig_assoc, trk_assoc, jet_offsets, packed,
                             frag_container, sig_offsets, sig_px, sig_py, sig_pz, sig_e, sig_track,
                             sig_type_bit, trk_offsets, trk_px, trk_py, trk_pz, trk_e, trk_type_bit, pflow,
                             track_accepted):
    """:func:`association_map` and then :func:`soft_core` of the same block in one call (the
    map builder writes both, as Athena's METAssociationTool fills the map and the core
    container). Returns association_map's tuple plus the core sums float32[3, n_events, 2]
    (empty on a failure); status ERR_INPUTS also when soft_core refuses the inputs."""
    status, bad, bad_count, i64, i32, u8, u64, f32 = association_map(
        assoc_offsets, jet_index, jettrk, sig_assoc, trk_assoc, jet_offsets, packed, frag_container,
        sig_offsets, sig_px, sig_py, sig_pz, sig_e, sig_track, sig_type_bit, trk_offsets, trk_px, trk_py,
        trk_pz, trk_e, trk_type_bit, pflow)
    no_soft = np.zeros((3, 0, 2), dtype=np.float32)
    if status != OK:
        return status, bad, bad_count, i64, i32, u8, u64, f32, no_soft
    ok, soft, _, _ = soft_core(sig_offsets, sig_px, sig_py, sig_e, sig_track, trk_offsets, trk_px, trk_py,
                               track_accepted, sig_assoc, trk_assoc, assoc_offsets, packed,
                               frag_container.shape[0], pflow)
    if not ok:
        return (ERR_INPUTS, -1, 0, np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int32),
                np.zeros(0, dtype=np.uint8), np.zeros(0, dtype=np.uint64), np.zeros(0, dtype=np.float32),
                no_soft)
    return status, bad, bad_count, i64, i32, u8, u64, f32, soft
