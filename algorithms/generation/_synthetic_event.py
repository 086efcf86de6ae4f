"""One synthetic event: hard scatter, detector, pileup overlay, faults, jets and objects.

Three random streams keep the hard scatter independent of pileup: HS (stream 0: truth and its
detector response), PU (stream 1: how many pileup vertices, which library entries, where) and
OBJ (stream 2: object-level decisions). The hard scatter's tracks are thus identical for any mu.
Faults draw from stream 4 (``_synthetic_faults``), the pileup library from stream 3.
"""

import math

from metflow.edm.units import mm
from metflow.framework.jit import kernel
from ._synthetic_layout import (BEAM_SIGMA_XY, BEAM_SIGMA_Z, C_P, C_S, C_T, C_V, P_PHI, P_PT, P_TYPE, TK_PT,
                                TK_VTX, T_NU)
from ._synthetic_random import normal, stream_state, u01
from ._synthetic_hard_process import MIX, MIX_CUMULATIVE, N_PROCESSES, hard_scatter
from ._synthetic_detector import detect_particles
from ._synthetic_pileup_library import overlay_pileup
from ._synthetic_jets import assign_to_seeds, build_jets
from ._synthetic_objects import reco_objects
from ._synthetic_links import L_JPF_CONST, L_JPF_GHOST, L_JTP_CONST, L_JTP_GHOST
from ._synthetic_faults import (FAULT_DEAD, FAULT_MISMEASURED, FAULT_NOISY, add_noisy_cell, draw_faults,
                                mismeasured_seed, place_dead_box)

RUN_NUMBER = 284500


@kernel
def generate_event(seed, event, process, mu, lrt, lib, scratch, cnt, V, J_PF, J_TP, acc, nobj,
                   ELE, PHO, MUO, TAU, LELE, LMUO, evrec, out, wbuf, faults, dead, streams, tmp):
    """One event into the scratch tables; ``faults`` = (noisy cell, dead region, mismeasured
    jet) rates, ``dead`` the scratch dead-box (eta0, phi0, active)."""
    P, S, T, C, F, Lk = scratch
    R, remap = tmp[0], tmp[1]
    for k in range(cnt.shape[0]):
        cnt[k] = 0
    st, st_pu, st_obj, st_f = streams[0:1], streams[1:2], streams[2:3], streams[3:4]
    st[0] = stream_state(seed, event, 0)
    st_pu[0] = stream_state(seed, event, 1)
    st_obj[0] = stream_state(seed, event, 2)
    if process == MIX:
        u = u01(st)
        process = N_PROCESSES - 1
        for k in range(N_PROCESSES):
            if u < MIX_CUMULATIVE[k]:
                process = k
                break
    # hard scatter
    hs_z = BEAM_SIGMA_Z * normal(st)
    V[0, 0] = BEAM_SIGMA_XY * normal(st)
    V[0, 1] = BEAM_SIGMA_XY * normal(st)
    V[0, 2] = hs_z + 0.02 * mm * normal(st)
    V[0, 3] = 0.0
    V[0, 4] = 1.0
    cnt[C_V] = 1
    hard_scatter(st, process, P, S, cnt, wbuf)
    n_hs = cnt[C_P]
    n_hs_seeds = cnt[C_S]
    # detector faults: every number drawn up front, so each fault is independent of the others
    draws = draw_faults(seed, event, st_f)
    fault_bits = 0
    dead[2] = 0.0
    if draws.u_dead < faults[1] and place_dead_box(dead, S, n_hs_seeds, draws):
        fault_bits |= FAULT_DEAD
    detect_particles(st, P, 0, n_hs, hs_z, lrt, dead, T, C, F, cnt, out)
    n_pu_tracks = overlay_pileup(st_pu, mu, lib, V, T, C, F, S, cnt, dead, remap)
    if draws.u_noisy < faults[0] and cnt[C_S] < S.shape[0]:
        add_noisy_cell(S, C, F, cnt, draws)
        fault_bits |= FAULT_NOISY
    n_seeds = cnt[C_S]
    assign_to_seeds(S, n_seeds, T, C, cnt, R)
    mis_seed = -1
    if draws.u_mismeasured < faults[2]:
        mis_seed = mismeasured_seed(S, n_hs_seeds)
        if mis_seed >= 0:
            fault_bits |= FAULT_MISMEASURED
    nj_pf = build_jets(S, n_seeds, T, C, F, cnt, J_PF, acc, False, Lk, L_JPF_CONST, L_JPF_GHOST, n_pu_tracks,
                       mis_seed, draws.mismeasured_scale, tmp)
    nj_tp = build_jets(S, n_seeds, T, C, F, cnt, J_TP, acc, True, Lk, L_JTP_CONST, L_JTP_GHOST, n_pu_tracks,
                       mis_seed, draws.mismeasured_scale, tmp)
    reco_objects(st_obj, lrt, P, S, T, C, F, cnt, ELE, PHO, MUO, TAU, LELE, LMUO, nobj, Lk)
    # vertices' sum pT^2, truth MET, event record
    for t in range(cnt[C_T]):
        v = int(T[t, TK_VTX])
        if v >= 0:
            V[v, 3] += T[t, TK_PT] ** 2
    mpx, mpy, sumet = 0.0, 0.0, 0.0
    for i in range(n_hs):
        if P[i, P_TYPE] == T_NU:
            mpx += P[i, P_PT] * math.cos(P[i, P_PHI])
            mpy += P[i, P_PT] * math.sin(P[i, P_PHI])
            sumet += P[i, P_PT]
    evrec[0] = RUN_NUMBER
    evrec[1] = event
    evrec[2] = mu
    evrec[3] = 1.0
    evrec[4] = mpx
    evrec[5] = mpy
    evrec[6] = sumet
    evrec[7] = process
    evrec[8] = fault_bits
    return nj_pf, nj_tp
