"""The block loop of the synthetic generator: events [first, first + n) into block buffers.

``generate_block`` is the entry point of ``SyntheticSource``: it allocates the per-event scratch
tables once per block, generates each event into them and appends the rows to the block
buffers (``_synthetic_buffers``), with per-container offsets, links and event records.
"""

import math

import numpy as np
from numba.core import cgutils
from numba.extending import intrinsic

from metflow.framework.jit import kernel
from ._synthetic_layout import (C_C, C_F, C_L, C_T, C_V, NC, NE, NEG_OUT, NF, NJ, NMU_OUT, NP, NS, NT,
                                NTAU_OUT, NV_OUT, N_OUT, O_CLU, O_ELE, O_JPF, O_JTP, O_LELE, O_LMUO, O_MUO,
                                O_PFO, O_PHO, O_TAU, O_TRK, O_VTX)
from ._synthetic_links import LINK_OWNER
from ._synthetic_buffers import append_columns, room
from ._synthetic_event import generate_event


@intrinsic
def _borrow(typingctx, arr):
    """A view of ``arr`` that holds no reference (null meminfo): passing it to the per-particle
    helpers costs no atomic reference counting (about 10% of the block loop's time).

    Valid only while ``arr`` itself is alive. Its one user, ``_generate_into``, borrows only its
    arguments ``lib``, ``work`` and ``faults``, which its caller holds for the whole call, and no view
    leaves it (it returns the block buffers, which are not borrowed)."""
    def codegen(context, builder, signature, args):
        src = context.make_array(arr)(context, builder, value=args[0])
        view = context.make_array(arr)(context, builder)
        for field in ("nitems", "itemsize", "data", "shape", "strides"):
            setattr(view, field, getattr(src, field))
        view.meminfo = cgutils.get_null_value(view.meminfo.type)
        view.parent = cgutils.get_null_value(view.parent.type)
        return view._getvalue()
    return arr(arr), codegen


@kernel
def _capacities(mu, lib):
    """Per-event scratch sizes (rows) from hard bounds on every multiplicity.

    Pileup vertices are capped at mu + 12 sigma + 10, each bounded by the largest library
    entry; a hard-scatter truth jet has at most 82 pieces; each particle gives at most one
    track, two clusters and three PFOs.
    """
    off = lib[0]
    n_pu_max = int(mu + 12.0 * math.sqrt(mu + 1.0) + 10)
    per = np.zeros(4, np.int64)
    for v in range(off.shape[0] - 1):
        for k in range(4):
            per[k] = max(per[k], off[v + 1, k] - off[v, k])
    s_cap = 97 + n_pu_max * per[3]   # + 1: a noisy-cell seed
    p_cap = 8200
    t_cap = p_cap + n_pu_max * per[0]
    c_cap = 2 * p_cap + n_pu_max * per[1]
    f_cap = 3 * p_cap + n_pu_max * per[2]
    return n_pu_max, s_cap, p_cap, t_cap, c_cap, f_cap


@kernel
def _max_entry_clusters(lib):
    off = lib[0]
    most = 0
    for v in range(off.shape[0] - 1):
        most = max(most, off[v + 1, 1] - off[v, 1])
    return most


@kernel
def _allocate_scratch(mu, lib):
    """Per-event scratch tables of a block (reused for every event of it)."""
    n_pu_max, s_cap, p_cap, t_cap, c_cap, f_cap = _capacities(mu, lib)
    return (np.empty((p_cap, NP)), np.empty((s_cap, NS)), np.empty((t_cap, NT), np.float32),
            np.empty((c_cap, NC), np.float32), np.empty((f_cap, NF), np.float32),
            np.empty((5 * (t_cap + c_cap + f_cap), 3), np.int32), np.empty((n_pu_max + 1, NV_OUT)),
            np.empty((s_cap, NJ)), np.empty((s_cap, NJ)), np.empty((s_cap, 7)),
            np.empty((s_cap + 64, NEG_OUT)), np.empty((s_cap + 64, NEG_OUT)), np.empty((s_cap + 64, NMU_OUT)),
            np.empty((s_cap + 64, NTAU_OUT)), np.empty((s_cap + 64, NEG_OUT)), np.empty((s_cap + 64, NMU_OUT)),
            np.zeros(6, np.int64), np.zeros(8, np.int64), np.empty(6, np.int64), np.empty(4 * 128),
            np.empty(NE), np.zeros(3), np.empty(4, np.uint64), np.empty((s_cap, 3)),
            np.empty(_max_entry_clusters(lib), np.int64), np.empty(max(c_cap, f_cap), np.int64),
            np.empty(t_cap, np.int64), np.empty(s_cap, np.int64), np.empty(s_cap + 1, np.int64))


@kernel
def generate_block(seed, first, n, process, mu, lrt, lib, out_bufs, links, noisy_cell_rate=0.0,
                   dead_region_rate=0.0, mismeasured_jet_rate=0.0):
    """Events [first, first+n): block buffers, per-container offsets, links, event records.

    The three rates inject detector faults (see ``SyntheticSource``); 0 leaves events unchanged.

    ``lib`` is ``build_pileup_library(seed, LIB_SIZE)`` (built once per source); ``out_bufs``
    (see :func:`allocate_outputs`) and ``links`` are the initial block buffers, float32
    column-major (n_columns, rows) and int32 (rows, 3); they are replaced by larger ones when
    full, so use the returned arrays.
    """
    faults = np.array([noisy_cell_rate, dead_region_rate, mismeasured_jet_rate], np.float64)
    return _generate_into(seed, first, n, process, mu, lrt, lib, out_bufs, links, faults,
                          _allocate_scratch(mu, lib))


@kernel
def _generate_into(seed, first, n, process, mu, lrt, lib, out_bufs, links, faults, work):
    """The block loop of :func:`generate_block`; ``lib``, ``work`` (the scratch tables) and
    ``faults`` are alive for the whole call, so the loop uses reference-free views of them."""
    lib = (_borrow(lib[0]), _borrow(lib[1]), _borrow(lib[2]), _borrow(lib[3]), _borrow(lib[4]),
           _borrow(lib[5]))
    (P, S, T, C, F, Lk, V, J_PF, J_TP, acc, ELE, PHO, MUO, TAU, LELE, LMUO, nobj, cnt, out, wbuf,
     evrec, dead, streams, R, remap, obj_root, trk_jet, jet_of, start) = work
    P, S, T, C, F, Lk, V = (_borrow(P), _borrow(S), _borrow(T), _borrow(C), _borrow(F), _borrow(Lk),
                            _borrow(V))
    J_PF, J_TP, acc = _borrow(J_PF), _borrow(J_TP), _borrow(acc)
    ELE, PHO, MUO, TAU = _borrow(ELE), _borrow(PHO), _borrow(MUO), _borrow(TAU)
    LELE, LMUO, nobj, cnt, out = _borrow(LELE), _borrow(LMUO), _borrow(nobj), _borrow(cnt), _borrow(out)
    wbuf, evrec, dead, faults, streams = (_borrow(wbuf), _borrow(evrec), _borrow(dead), _borrow(faults),
                                          _borrow(streams))
    tmp = (_borrow(R), _borrow(remap), _borrow(obj_root), _borrow(trk_jet), _borrow(jet_of), _borrow(start))
    scratch = (P, S, T, C, F, Lk)

    (bufs_trk, bufs_clu, bufs_pfo, bufs_vtx, bufs_jpf, bufs_jtp, bufs_ele, bufs_pho, bufs_muo,
     bufs_tau, bufs_lele, bufs_lmuo) = out_bufs
    offsets = np.zeros((n + 1, N_OUT), np.int64)
    n_links = 0
    events = np.empty((n, NE))
    for e in range(n):
        event = first + e
        nj_pf, nj_tp = generate_event(seed, event, process, mu, lrt, lib, scratch, cnt, V, J_PF, J_TP,
                                      acc, nobj, ELE, PHO, MUO, TAU, LELE, LMUO, evrec, out, wbuf,
                                      faults, dead, streams, tmp)
        o = offsets[e]
        counts = (cnt[C_T], cnt[C_C], cnt[C_F], cnt[C_V], nj_pf, nj_tp,
                  nobj[0], nobj[1], nobj[2], nobj[3], nobj[4], nobj[5])
        bufs_trk = append_columns(bufs_trk, o[O_TRK], T, counts[O_TRK])
        bufs_clu = append_columns(bufs_clu, o[O_CLU], C, counts[O_CLU])
        bufs_pfo = append_columns(bufs_pfo, o[O_PFO], F, counts[O_PFO])
        bufs_vtx = append_columns(bufs_vtx, o[O_VTX], V, counts[O_VTX])
        bufs_jpf = append_columns(bufs_jpf, o[O_JPF], J_PF, counts[O_JPF])
        bufs_jtp = append_columns(bufs_jtp, o[O_JTP], J_TP, counts[O_JTP])
        bufs_ele = append_columns(bufs_ele, o[O_ELE], ELE, counts[O_ELE])
        bufs_pho = append_columns(bufs_pho, o[O_PHO], PHO, counts[O_PHO])
        bufs_muo = append_columns(bufs_muo, o[O_MUO], MUO, counts[O_MUO])
        bufs_tau = append_columns(bufs_tau, o[O_TAU], TAU, counts[O_TAU])
        bufs_lele = append_columns(bufs_lele, o[O_LELE], LELE, counts[O_LELE])
        bufs_lmuo = append_columns(bufs_lmuo, o[O_LMUO], LMUO, counts[O_LMUO])
        for k in range(N_OUT):
            offsets[e + 1, k] = o[k] + counts[k]
        nl = cnt[C_L]
        links = room(links, n_links + nl)
        for i in range(nl):
            kind = Lk[i, 0]
            links[n_links + i, 0] = kind
            links[n_links + i, 1] = o[LINK_OWNER[kind]] + Lk[i, 1]
            links[n_links + i, 2] = Lk[i, 2]
        n_links += nl
        for k in range(NE):
            events[e, k] = evrec[k]
    bufs = (bufs_trk, bufs_clu, bufs_pfo, bufs_vtx, bufs_jpf, bufs_jtp, bufs_ele, bufs_pho,
            bufs_muo, bufs_tau, bufs_lele, bufs_lmuo)
    return bufs, offsets, links[:n_links], events
