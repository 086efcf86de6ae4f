"""Numba kernels of METObjectSelection (private): the kept objects of a block and their columns."""

from __future__ import annotations

import numpy as np

from metflow.framework.jit import kernel


# ---------------------------------------------------------------------------------------------
# object selection (METObjectSelection)

SEL_UNDECIDED = -1   # `select_objects` result: an |eta| within rounding of a cut, decide in numpy


@kernel
def select_objects(offsets, px, py, pz, ids, id_bit, isolated, use_isolated, jvt, use_jvt,
                   min_jvt, jvt_max_pt, min_pt, eta_lo, eta_hi, jvt_eta_lo, jvt_eta_hi):
    """Kept-object indices of METObjectSelection over a block, or SEL_UNDECIDED.

    pT is the float32 hypot promoted to float64, |eta| is compared through x = pz/pT:
    |x| < eta_lo passes the |eta| cut, |x| > eta_hi fails it (eta_lo/hi bracket sinh of the cut
    by a relative 1e-9); in between, the caller computes |asinh(x)| with numpy, whose
    vectorised asinh may differ from libm by an ulp. Same for the JVT |eta| range
    (jvt_eta_lo/hi). Returns (kept index int64[n_kept], kept offsets int64[n_events+1],
    event-local index int32[n_kept]) and the status (0 or SEL_UNDECIDED).
    """
    n_events = offsets.shape[0] - 1
    n = px.shape[0]
    idx = np.empty(n, np.int64)
    local = np.empty(n, np.int32)
    out_offsets = np.zeros(n_events + 1, np.int64)
    k = 0
    for e in range(n_events):
        o0 = offsets[e]
        for i in range(o0, offsets[e + 1]):
            pt = np.float64(np.hypot(px[i], py[i]))
            if not pt > min_pt:
                continue
            if id_bit >= 0 and ((np.int64(ids[i]) >> id_bit) & 1) != 1:
                continue
            if use_isolated and not isolated[i]:
                continue
            x = np.abs(np.float64(pz[i]) / pt) if pt > 0 else 0.0
            if x > eta_hi:
                continue
            if not x < eta_lo:
                return idx[:0], out_offsets, local[:0], SEL_UNDECIDED
            if use_jvt and pt < jvt_max_pt and not jvt[i] >= min_jvt:
                if x < jvt_eta_lo:
                    continue
                if not x > jvt_eta_hi:
                    return idx[:0], out_offsets, local[:0], SEL_UNDECIDED
            idx[k] = i
            local[k] = i - o0
            k += 1
        out_offsets[e + 1] = k
    return idx[:k], out_offsets, local[:k], 0


@kernel
def take_lists(offsets, values, idx):
    """ListColumn.take for kept indices `idx`: (offsets int64[n+1], values int32)."""
    n = idx.shape[0]
    out_offsets = np.zeros(n + 1, np.int64)
    total = 0
    for k in range(n):
        total += offsets[idx[k] + 1] - offsets[idx[k]]
        out_offsets[k + 1] = total
    out_values = np.empty(total, np.int32)
    p = 0
    for k in range(n):
        for v in range(offsets[idx[k]], offsets[idx[k] + 1]):
            out_values[p] = values[v]
            p += 1
    return out_offsets, out_values


@kernel
def scaled_p4(idx, px, py, pz, e, scale):
    """float32 (px, py, pz, e)[idx] * scale (the selection's energy-scale variation)."""
    n = idx.shape[0]
    out = np.empty((4, n), np.float32)
    for k in range(n):
        i = idx[k]
        out[0, k] = px[i] * scale
        out[1, k] = py[i] * scale
        out[2, k] = pz[i] * scale
        out[3, k] = e[i] * scale
    return out
