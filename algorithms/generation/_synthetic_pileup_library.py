"""The pileup overlay library: minimum-bias vertices simulated once per seed, overlaid per event.

Pileup vertices are simulated once per seed into a library (at z = 0, phi as drawn) and each
event overlays Poisson(mu) of them, each with its own library entry, z position, azimuthal
rotation and eta reflection, as ATLAS overlays pre-simulated minimum-bias events. Library
entry v depends only on (seed, v) (stream LIB_STREAM), so events still depend only on
(seed, event index).
"""

import math

import numpy as np

from metflow.edm.units import GeV, MeV, mm
from metflow.framework.jit import kernel
from ._synthetic_layout import (BEAM_SIGMA_XY, BEAM_SIGMA_Z, CL_EMF, CL_ETA, CL_JET, CL_PHI, CL_PT, CL_SEED,
                                C_C, C_F, C_P, C_S, C_T, C_V, M_NH, M_PI, NC, NF, NP, NS, NT, PF_CLU, PF_EMF,
                                PF_Q, PF_TRK, S_ETA, S_FIRST, S_LAST, S_PHI, S_PUJET, S_ROOT, S_VTX, TK_D0,
                                TK_ETA, TK_FLAG, TK_JET, TK_PHI, TK_PT, TK_Q, TK_QUAL, TK_SEED, TK_VTX, TK_Z0,
                                T_CH, T_NH, T_PH, X_E, X_PX, X_PY, X_PZ)
from ._synthetic_random import expo, gauss, poisson, stream_state, u01, uniform
from ._synthetic_kinematics import p4_ptetaphim, wrap
from ._synthetic_truth import fragment
from ._synthetic_detector import NO_DEAD_BOX, TRK_ETA_MAX, detect_particles, in_dead_box, soft_detect
from ._synthetic_buffers import append

# pileup model (per pileup vertex)
PU_N_CHARGED, PU_N_NEUTRAL, PU_DIJET_PROB = 5.0, 3.0, 0.02
PU_MAX_PER_VERTEX = 30


@kernel
def _pileup_vertex(st, vgen, z_vtx, P, S, T, C, F, cnt, out, wbuf):
    """Soft charged and neutral particles of one pileup interaction, sometimes a soft dijet."""
    for k in range(poisson(st, PU_N_CHARGED, PU_MAX_PER_VERTEX)):
        pt = 450 * MeV + expo(st, 550 * MeV)
        q = 1.0 if u01(st) < 0.5 else -1.0
        soft_detect(st, T_CH, q, pt, TRK_ETA_MAX, M_PI, z_vtx, vgen, T, C, F, cnt, out)
    for k in range(poisson(st, PU_N_NEUTRAL, PU_MAX_PER_VERTEX)):
        pt = 200 * MeV + expo(st, 800 * MeV)
        if u01(st) < 0.5:
            soft_detect(st, T_PH, 0.0, pt, 4.5, 0.0, z_vtx, vgen, T, C, F, cnt, out)
        else:
            soft_detect(st, T_NH, 0.0, pt, 4.5, M_NH, z_vtx, vgen, T, C, F, cnt, out)
    if u01(st) < PU_DIJET_PROB and cnt[C_S] < S.shape[0] - 2:
        pt = 12 * GeV + expo(st, 8 * GeV)
        phi = uniform(st, -math.pi, math.pi)
        first = cnt[C_P]
        for k in range(2):
            p4 = p4_ptetaphim(pt, uniform(st, -4.0, 4.0), phi + k * math.pi, 0.0)
            fragment(st, P, S, cnt, p4, S_PUJET, vgen, wbuf)
        detect_particles(st, P, first, cnt[C_P], z_vtx, False, NO_DEAD_BOX, T, C, F, cnt, out)


LIB_STREAM = 3
LIB_SIZE = 2048


@kernel
def build_pileup_library(seed, n_vertices):
    """Tracks, clusters, PFOs and jet seeds of n_vertices pileup interactions, with offsets.

    Track vertex column: 1 associated to its vertex, -1 not; seeds/links are entry-local.
    """
    P = np.empty((2000, NP))
    S = np.empty((16, NS))
    T = np.empty((400, NT), np.float32)
    C = np.empty((800, NC), np.float32)
    F = np.empty((1200, NF), np.float32)
    cnt = np.zeros(8, np.int64)
    out = np.empty(6, np.int64)
    wbuf = np.empty(4 * 128)
    st = np.empty(1, np.uint64)
    off = np.zeros((n_vertices + 1, 4), np.int64)
    LT = np.empty((n_vertices * 8, NT), np.float32)
    LC = np.empty((n_vertices * 12, NC), np.float32)
    LF = np.empty((n_vertices * 8, NF), np.float32)
    LS = np.empty((n_vertices // 8 + 4, NS))
    n_assoc = np.zeros(n_vertices, np.int64)
    for v in range(n_vertices):
        st[0] = stream_state(seed, v, LIB_STREAM)
        for k in range(8):
            cnt[k] = 0
        _pileup_vertex(st, 1.0, 0.0, P, S, T, C, F, cnt, out, wbuf)
        for t in range(cnt[C_T]):
            if T[t, TK_VTX] > 0:
                n_assoc[v] += 1
        o = off[v]
        LT = append(LT, o[0], T, cnt[C_T], NT)
        LC = append(LC, o[1], C, cnt[C_C], NC)
        LF = append(LF, o[2], F, cnt[C_F], NF)
        LS = append(LS, o[3], S, cnt[C_S], NS)
        off[v + 1, 0] = o[0] + cnt[C_T]
        off[v + 1, 1] = o[1] + cnt[C_C]
        off[v + 1, 2] = o[2] + cnt[C_F]
        off[v + 1, 3] = o[3] + cnt[C_S]
    return off, LT, LC, LF, LS, n_assoc


@kernel
def _rotate(px, py, c, s):
    return c * px - s * py, s * px + c * py


@kernel
def _overlay_vertex(lib, entry, z, new_vertex, cdp, sdp, dphi, flip, T, C, F, S, cnt, dead, remap):
    """Append library entry ``entry`` at z, rotated by dphi and reflected in eta if flip.

    Clusters falling in the active dead box ``dead`` are dropped with their neutral PFOs
    (``remap``: scratch, at least as long as the largest entry's cluster count).
    """
    off, LT, LC, LF, LS, n_assoc = lib
    t0, c0, f0, s0 = cnt[C_T], cnt[C_C], cnt[C_F], cnt[C_S]
    sgn = -1.0 if flip else 1.0
    for i in range(off[entry, 3], off[entry + 1, 3]):
        s = cnt[C_S]
        if s >= S.shape[0]:
            break
        for k in range(NS):
            S[s, k] = LS[i, k]
        S[s, S_ETA] = sgn * LS[i, S_ETA]
        S[s, S_PHI] = wrap(LS[i, S_PHI] + dphi)
        S[s, S_ROOT] = s
        S[s, S_FIRST] = 0
        S[s, S_LAST] = 0
        S[s, S_VTX] = new_vertex
        cnt[C_S] = s + 1
    n_seeds_added = cnt[C_S] - s0
    t = cnt[C_T]
    for i in range(off[entry, 0], off[entry + 1, 0]):
        T[t, X_PX], T[t, X_PY] = _rotate(LT[i, X_PX], LT[i, X_PY], cdp, sdp)
        T[t, X_PZ] = sgn * LT[i, X_PZ]
        T[t, X_E] = LT[i, X_E]
        T[t, TK_Q] = LT[i, TK_Q]
        T[t, TK_Z0] = z + sgn * LT[i, TK_Z0]
        T[t, TK_D0] = LT[i, TK_D0]
        T[t, TK_VTX] = new_vertex if LT[i, TK_VTX] > 0 else -1.0
        T[t, TK_QUAL] = LT[i, TK_QUAL]
        T[t, TK_PT] = LT[i, TK_PT]
        T[t, TK_ETA] = sgn * LT[i, TK_ETA]
        T[t, TK_PHI] = wrap(LT[i, TK_PHI] + dphi)
        sd = LT[i, TK_SEED]
        T[t, TK_SEED] = s0 + sd if (sd >= 0 and sd < n_seeds_added) else -1.0
        T[t, TK_FLAG] = LT[i, TK_FLAG]
        T[t, TK_JET] = -1.0
        t += 1
    cnt[C_T] = t
    c = cnt[C_C]
    masking = dead[2] > 0.0
    for i in range(off[entry, 1], off[entry + 1, 1]):
        if masking:
            if in_dead_box(dead, sgn * LC[i, CL_ETA], LC[i, CL_PHI] + dphi):
                remap[i - off[entry, 1]] = -1
                continue
            remap[i - off[entry, 1]] = c
        C[c, X_PX], C[c, X_PY] = _rotate(LC[i, X_PX], LC[i, X_PY], cdp, sdp)
        C[c, X_PZ] = sgn * LC[i, X_PZ]
        C[c, X_E] = LC[i, X_E]
        C[c, CL_PT] = LC[i, CL_PT]
        C[c, CL_ETA] = sgn * LC[i, CL_ETA]
        C[c, CL_PHI] = wrap(LC[i, CL_PHI] + dphi)
        sd = LC[i, CL_SEED]
        C[c, CL_SEED] = s0 + sd if (sd >= 0 and sd < n_seeds_added) else -1.0
        C[c, CL_EMF] = LC[i, CL_EMF]
        C[c, CL_JET] = -1.0
        c += 1
    cnt[C_C] = c
    f = cnt[C_F]
    for i in range(off[entry, 2], off[entry + 1, 2]):
        cl = c0 + LF[i, PF_CLU] if LF[i, PF_CLU] >= 0 else -1.0
        if masking and LF[i, PF_CLU] >= 0:
            cl = remap[int(LF[i, PF_CLU])]
            if cl < 0 and LF[i, PF_TRK] < 0:
                continue
        F[f, X_PX], F[f, X_PY] = _rotate(LF[i, X_PX], LF[i, X_PY], cdp, sdp)
        F[f, X_PZ] = sgn * LF[i, X_PZ]
        F[f, X_E] = LF[i, X_E]
        F[f, PF_Q] = LF[i, PF_Q]
        F[f, PF_TRK] = t0 + LF[i, PF_TRK] if LF[i, PF_TRK] >= 0 else -1.0
        F[f, PF_CLU] = cl
        F[f, PF_EMF] = LF[i, PF_EMF]
        f += 1
    cnt[C_F] = f
    return n_assoc[entry]


@kernel
def overlay_pileup(st_pu, mu, lib, V, T, C, F, S, cnt, dead, remap):
    """Poisson(mu) library entries overlaid on the event (random numbers from the pileup stream
    ``st_pu``); entries with at least two associated tracks become vertices of V. Returns the
    number of tracks associated to pileup vertices."""
    n_pu = poisson(st_pu, mu, (V.shape[0] - 1))
    n_pu_tracks = 0
    lib_n = lib[0].shape[0] - 1
    lib_assoc = lib[5]
    for j in range(n_pu):
        entry = min(int(u01(st_pu) * lib_n), lib_n - 1)
        z = BEAM_SIGMA_Z * gauss(st_pu)
        dphi = uniform(st_pu, -math.pi, math.pi)
        flip = u01(st_pu) < 0.5
        new_index = -1.0
        if lib_assoc[entry] >= 2:
            v = cnt[C_V]
            V[v, 0] = BEAM_SIGMA_XY * gauss(st_pu)
            V[v, 1] = BEAM_SIGMA_XY * gauss(st_pu)
            V[v, 2] = z + 0.05 * mm * gauss(st_pu)
            V[v, 3] = 0.0
            V[v, 4] = 0.0
            cnt[C_V] = v + 1
            n_pu_tracks += lib_assoc[entry]
            new_index = float(v)
        _overlay_vertex(lib, entry, z, new_index, math.cos(dphi), math.sin(dphi), dphi, flip,
                       T, C, F, S, cnt, dead, remap)
    return n_pu_tracks
