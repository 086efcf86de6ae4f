"""Link bookkeeping: the (kind, owner object, target) rows of an event and their list columns.

Each link kind is one list field of one output container (``LINK_OWNER[kind]``), e.g.
L_JPF_CONST = the ``constituents`` of the EMPFlow jets. Kernels append rows to an event's link
table; the block loop offsets the owners to block indices; ``split_links`` groups a block's rows
into per-kind list offsets and values.
"""

import numpy as np

from metflow.framework.jit import kernel
from ._synthetic_layout import (C_L, O_ELE, O_JPF, O_JTP, O_LELE, O_LMUO, O_MUO, O_PHO, O_TAU, P_CLU, P_CLU2,
                                P_CPFO, P_NPFO, P_NPFO2, P_TRK)

# link kinds: (container, list field)
(L_JPF_CONST, L_JPF_GHOST, L_JTP_CONST, L_JTP_GHOST, L_ELE_CLU, L_ELE_TRK, L_ELE_PFO,
 L_PHO_CLU, L_PHO_TRK, L_PHO_PFO, L_MUO_CLU, L_MUO_PFO, L_TAU_TRK, L_TAU_CLU, L_TAU_PFO,
 L_LELE_CLU, L_LELE_TRK, L_LELE_PFO, L_LMUO_CLU, L_LMUO_PFO) = range(20)
N_LINK_KINDS = 20
LINK_OWNER = np.array([O_JPF, O_JPF, O_JTP, O_JTP, O_ELE, O_ELE, O_ELE, O_PHO, O_PHO, O_PHO,
                       O_MUO, O_MUO, O_TAU, O_TAU, O_TAU, O_LELE, O_LELE, O_LELE, O_LMUO, O_LMUO])


@kernel
def add_link(Lk, cnt, kind, obj, target):
    n = cnt[C_L]
    Lk[n, 0] = kind
    Lk[n, 1] = obj
    Lk[n, 2] = target
    cnt[C_L] = n + 1


@kernel
def emit_grouped(Lk, cnt, kind, obj_jet, n_obj, nj, start):
    """Links (kind, jet, object) grouped by jet, objects in index order (a counting sort);
    ``start``: scratch of at least nj + 1 entries."""
    for j in range(nj + 1):
        start[j] = 0
    for i in range(n_obj):
        if obj_jet[i] >= 0:
            start[obj_jet[i] + 1] += 1
    for j in range(nj):
        start[j + 1] += start[j]
    base = cnt[C_L]
    for i in range(n_obj):
        j = obj_jet[i]
        if j >= 0:
            row = base + start[j]
            start[j] += 1
            Lk[row, 0] = kind
            Lk[row, 1] = j
            Lk[row, 2] = i
    cnt[C_L] = base + start[nj - 1] if nj > 0 else base


@kernel
def link_particle(Lk, cnt, P, i, obj, k_clu, k_trk, k_pfo, with_track, with_cpfo):
    if k_clu >= 0:
        for c in (P_CLU, P_CLU2):
            if P[i, c] >= 0:
                add_link(Lk, cnt, k_clu, obj, int(P[i, c]))
    if with_track and P[i, P_TRK] >= 0:
        add_link(Lk, cnt, k_trk, obj, int(P[i, P_TRK]))
    if k_pfo >= 0:
        if with_cpfo and P[i, P_CPFO] >= 0:
            add_link(Lk, cnt, k_pfo, obj, int(P[i, P_CPFO]))
        for c in (P_NPFO, P_NPFO2):
            if P[i, c] >= 0:
                add_link(Lk, cnt, k_pfo, obj, int(P[i, c]))


@kernel
def split_links(links, n_objects):
    """Group (kind, owner, target) rows by kind (stable): per-kind list offsets and values.

    ``n_objects[kind]`` is the owner container's object count. Returns ``values`` (targets
    ordered by kind, then row order), ``value_bounds`` (int64[N_LINK_KINDS+1]) and
    ``list_offsets`` (for kind k: rows offset_bounds[k]..offset_bounds[k+1], n_objects[k]+1
    entries each, relative to the kind's first value).
    """
    n_kinds = n_objects.shape[0]
    value_bounds = np.zeros(n_kinds + 1, np.int64)
    for r in range(links.shape[0]):
        value_bounds[links[r, 0] + 1] += 1
    for k in range(n_kinds):
        value_bounds[k + 1] += value_bounds[k]
    offset_bounds = np.zeros(n_kinds + 1, np.int64)
    for k in range(n_kinds):
        offset_bounds[k + 1] = offset_bounds[k] + n_objects[k] + 1
    list_offsets = np.zeros(offset_bounds[n_kinds], np.int64)
    values = np.empty(links.shape[0], np.int32)
    fill = value_bounds[:n_kinds].copy()
    for r in range(links.shape[0]):
        k = links[r, 0]
        values[fill[k]] = links[r, 2]
        fill[k] += 1
        list_offsets[offset_bounds[k] + links[r, 1] + 1] += 1
    for k in range(n_kinds):
        for i in range(offset_bounds[k] + 1, offset_bounds[k + 1]):
            list_offsets[i] += list_offsets[i - 1]
    return values, value_bounds, list_offsets, offset_bounds
