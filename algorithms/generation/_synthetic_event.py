"""One synthetic event: hard scatter, detector, pileup overlay, faults, jets and objects.

Three random streams keep the hard scatter independent of pileup: HS (stream 0: truth and its
detector response), PU (stream 1: how many pileup vertices, which library entries, where) and
OBJ (stream 2: object-level decisions). The hard scatter's tracks are thus identical for any mu.
"""

import math

from metflow.edm.units import mm
from ._jit import kernel
from ._synthetic_layout import (CL_ETA, CL_JET, CL_PHI, CL_SEED, C_C, C_P, C_S, C_T, C_V, P_PHI, P_PT,
    P_TYPE, S_ETA, S_FIRST, S_LAST, S_LIGHT, S_PHI, S_PT, S_ROOT, TK_ETA, TK_FLAG, TK_JET, TK_PHI, TK_PT,
    TK_SEED, TK_VTX, T_NU, X_E)
from ._synthetic_random import expo, gauss, normal, poisson, u01, uniform, stream_state
from ._synthetic_kinematics import dr2, wrap
from ._synthetic_truth import add_seed
from ._synthetic_hard_process import MIX, MIX_CUMULATIVE, N_PROCESSES, hard_scatter
from ._synthetic_detector import add_cluster, add_neutral_pfo, detect_particles
from ._synthetic_pileup_library import overlay_vertex
from ._synthetic_jets import JET_R, build_jets, nearest_root, root
from ._synthetic_objects import reco_objects
from ._synthetic_links import L_JPF_CONST, L_JPF_GHOST, L_JTP_CONST, L_JTP_GHOST
from ._synthetic_faults import (DEAD_CENTRE_JITTER, DEAD_SEED_ETA_MAX, FAULT_DEAD, FAULT_MISMEASURED,
    FAULT_NOISY, FAULT_STREAM, MISMEASURED_ETA_MAX, MISMEASURED_PT_MIN, MISMEASURED_SCALE, NOISY_EMF,
    NOISY_ETA_MAX, NOISY_PT_MEAN, NOISY_PT_MIN, leading_hs_seed)

BEAM_SIGMA_Z, BEAM_SIGMA_XY = 45 * mm, 0.015 * mm

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
    st_f[0] = stream_state(seed, event, FAULT_STREAM)
    u_noisy, u_dead, u_mis = u01(st_f), u01(st_f), u01(st_f)
    dead_deta = uniform(st_f, -DEAD_CENTRE_JITTER, DEAD_CENTRE_JITTER)
    dead_dphi = uniform(st_f, -DEAD_CENTRE_JITTER, DEAD_CENTRE_JITTER)
    noisy_pt = NOISY_PT_MIN + expo(st_f, NOISY_PT_MEAN)
    noisy_eta = uniform(st_f, -NOISY_ETA_MAX, NOISY_ETA_MAX)
    noisy_phi = uniform(st_f, -math.pi, math.pi)
    mis_scale = uniform(st_f, MISMEASURED_SCALE[0], MISMEASURED_SCALE[1])
    fault_bits = 0
    dead[2] = 0.0
    if u_dead < faults[1]:
        lead = leading_hs_seed(S, n_hs_seeds, DEAD_SEED_ETA_MAX, 0.0, False)
        if lead >= 0:
            dead[0] = S[lead, S_ETA] + dead_deta
            dead[1] = wrap(S[lead, S_PHI] + dead_dphi)
            dead[2] = 1.0
            fault_bits |= FAULT_DEAD
    detect_particles(st, P, 0, n_hs, hs_z, lrt, dead, T, C, F, cnt, out)
    # pileup
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
        overlay_vertex(lib, entry, z, new_index, math.cos(dphi), math.sin(dphi), dphi, flip,
                        T, C, F, S, cnt, dead, remap)
    if u_noisy < faults[0] and cnt[C_S] < S.shape[0]:
        # a noisy hadronic-calorimeter cell: one huge cluster (and neutral PFO), no tracks
        ex = math.exp(noisy_eta)
        shf, chf = 0.5 * (ex - 1.0 / ex), 0.5 * (ex + 1.0 / ex)
        s = add_seed(S, cnt, noisy_pt, noisy_eta, noisy_phi, S_LIGHT, 0)
        S[s, S_FIRST] = cnt[C_P]
        S[s, S_LAST] = cnt[C_P]
        c = add_cluster(C, cnt, noisy_pt * chf, noisy_eta, noisy_phi, math.cos(noisy_phi),
                         math.sin(noisy_phi), shf, chf, NOISY_EMF, s)
        add_neutral_pfo(F, C, cnt, c, C[c, X_E])
        fault_bits |= FAULT_NOISY
    # merge seeds closer than the jet radius (harder seed wins), then assign constituents
    n_seeds = cnt[C_S]
    for s in range(n_seeds):
        best = -1
        for k in range(n_seeds):
            if k == s or S[k, S_PT] < S[s, S_PT] or (S[k, S_PT] == S[s, S_PT] and k > s):
                continue
            if dr2(S[s, S_ETA], S[s, S_PHI], S[k, S_ETA], S[k, S_PHI]) < JET_R * JET_R:
                if best < 0 or S[k, S_PT] > S[best, S_PT]:
                    best = k
        S[s, S_ROOT] = best if best >= 0 else s
    for s in range(n_seeds):
        S[s, S_ROOT] = root(S, s)
    n_roots = 0
    for s in range(n_seeds):
        if S[s, S_ROOT] == s:
            R[n_roots, 0] = S[s, S_ETA]
            R[n_roots, 1] = S[s, S_PHI]
            R[n_roots, 2] = s
            n_roots += 1
    for c in range(cnt[C_C]):
        sd = int(C[c, CL_SEED])
        C[c, CL_JET] = S[sd, S_ROOT] if sd >= 0 else nearest_root(R, n_roots, C[c, CL_ETA], C[c, CL_PHI])
    for t in range(cnt[C_T]):
        if T[t, TK_FLAG] == 2:
            continue   # LRT tracks are never ghost-associated
        sd = int(T[t, TK_SEED])
        T[t, TK_JET] = S[sd, S_ROOT] if sd >= 0 else nearest_root(R, n_roots, T[t, TK_ETA], T[t, TK_PHI])
    mis_seed = -1
    if u_mis < faults[2]:
        mis_seed = leading_hs_seed(S, n_hs_seeds, MISMEASURED_ETA_MAX, MISMEASURED_PT_MIN, True)
        if mis_seed >= 0:
            fault_bits |= FAULT_MISMEASURED
    nj_pf = build_jets(S, n_seeds, T, C, F, cnt, J_PF, acc, False, Lk, L_JPF_CONST, L_JPF_GHOST, n_pu_tracks,
                        mis_seed, mis_scale, tmp)
    nj_tp = build_jets(S, n_seeds, T, C, F, cnt, J_TP, acc, True, Lk, L_JTP_CONST, L_JTP_GHOST, n_pu_tracks,
                        mis_seed, mis_scale, tmp)
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
