"""Growable block buffers of the synthetic generator and the per-event tables appended to them.

Block buffers are float32 column-major (n_columns, rows) arrays, one per output container, and
one int32 (rows, 3) link table; a full buffer is replaced by one twice as large, so callers use
the returned arrays.
"""

import numpy as np

from metflow.framework.jit import kernel
from ._synthetic_layout import NC_OUT, NEG_OUT, NF_OUT, NJ_OUT, NMU_OUT, NTAU_OUT, NT_OUT, NV_OUT


@kernel
def room(buf, need):
    """``buf`` if it has ``need`` rows, else a copy with max(2x, need) rows."""
    if need <= buf.shape[0]:
        return buf
    new = np.empty((max(2 * buf.shape[0], need), buf.shape[1]), buf.dtype)
    new[:buf.shape[0]] = buf
    return new


@kernel
def append(dst, n_dst, src, n_src, ncols):
    """Rows [0, n_src) of src after row n_dst of the row-major table dst (grown if needed)."""
    dst = room(dst, n_dst + n_src)
    for i in range(n_src):
        for k in range(ncols):
            dst[n_dst + i, k] = src[i, k]
    return dst


@kernel
def append_columns(dst, n_dst, src, n_src):
    """Append rows of src (first dst.shape[0] columns) to the column-major block buffer dst."""
    ncols = dst.shape[0]
    if n_dst + n_src > dst.shape[1]:
        new = np.empty((ncols, max(2 * dst.shape[1], n_dst + n_src)), dst.dtype)
        new[:, :n_dst] = dst[:, :n_dst]
        dst = new
    for k in range(ncols):
        for i in range(n_src):
            dst[k, n_dst + i] = src[i, k]
    return dst


OUT_COLUMNS = (NT_OUT, NC_OUT, NF_OUT, NV_OUT, NJ_OUT, NJ_OUT, NEG_OUT, NEG_OUT, NMU_OUT, NTAU_OUT,
               NEG_OUT, NMU_OUT)


def allocate_outputs(n, mu):
    """Initial block buffers for n events at pileup mu, all views of one numpy allocation.

    One allocation per block lets the allocator hand the same memory back block after block
    (instead of fresh, page-faulting memory for each of 13 buffers).
    """
    guess, per_mu = max(n, 1), int(mu) + 1
    rows = (guess * (64 + 5 * per_mu), guess * (96 + 10 * per_mu), guess * (96 + 6 * per_mu),
            guess * (2 + per_mu), guess * 8, guess * 8, guess * 2, guess, guess * 2, guess,
            4 + guess // 8, 4 + guess // 8)
    n_links = guess * 256
    sizes = [c * r for c, r in zip(OUT_COLUMNS, rows)]
    arena = np.empty(sum(sizes) + 3 * n_links, np.float32)
    bufs, start = [], 0
    for c, r, size in zip(OUT_COLUMNS, rows, sizes):
        bufs.append(arena[start:start + size].reshape(c, r))
        start += size
    return tuple(bufs), arena[start:].view(np.int32).reshape(n_links, 3)
