"""Jets of the synthetic generator: seed merging, constituent assignment, calibration, JVT.

Truth seeds closer than JET_R are merged (the harder wins); every cluster, track and PFO
belongs to its seed's root or, failing that, to the nearest root within JET_R. ``build_jets``
then makes one collection (EMPFlow from PFOs, EMTopo from clusters) and records its
constituent and ghost-track links.
"""

import math

from metflow.edm.units import GeV
from metflow.framework.jit import kernel
from ._synthetic_layout import (CL_EMF, CL_ETA, CL_JET, CL_PHI, CL_PT, CL_SEED, C_C, C_F, C_T, NJ, PF_CLU,
                                PF_EMF, PF_TRK, S_ETA, S_PHI, S_PT, S_ROOT, TK_ETA, TK_FLAG, TK_JET, TK_PHI,
                                TK_PT, TK_SEED, TK_VTX, X_E)
from ._synthetic_kinematics import dr2
from ._synthetic_links import emit_grouped

JET_R, JET_AREA = 0.4, 0.503
JET_PT_MIN = 20 * GeV
JES_TOPO, JES_PFLOW = 1.12, 1.03   # constituent-scale -> calibrated response corrections
RHO_ETA_MAX = 2.0


@kernel
def root(S, s):
    while S[s, S_ROOT] != s:
        s = int(S[s, S_ROOT])
    return s


@kernel
def nearest_root(R, n_roots, eta, phi):
    """Index of the closest root seed within the jet radius (R rows: eta, phi, seed), or -1."""
    best, best_dr2 = -1, JET_R * JET_R
    for k in range(n_roots):
        deta = R[k, 0] - eta
        if abs(deta) > JET_R:
            continue
        dphi = abs(R[k, 1] - phi)
        if dphi > math.pi:
            dphi = math.tau - dphi
        d = deta * deta + dphi * dphi
        if d < best_dr2:
            best, best_dr2 = int(R[k, 2]), d
    return best


@kernel
def assign_to_seeds(S, n_seeds, T, C, cnt, R):
    """Merge seeds closer than the jet radius (the harder wins; S_ROOT), then give every cluster
    and track (CL_JET, TK_JET) its seed's root or, without a seed, the nearest root within
    JET_R (-1: none). LRT tracks are never ghost-associated. ``R``: scratch of n_seeds rows."""
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


@kernel
def build_jets(S, n_seeds, T, C, F, cnt, J, acc, topo, Lk, kind_const, kind_ghost, n_pu_tracks,
               mis_seed, mis_scale, tmp):
    """Jets of one collection from the seed assignment; rows in J sorted by calibrated pT.

    Calibrated 4-vector = constituent scale x (1 - rho*A/pT) x JES, rho from the unassigned
    constituents in |eta| < 2; JVT-like score from the ghost tracks' vertices (corrJVF form).
    The jet of seed ``mis_seed`` (-1: none) passing the pT threshold is then mismeasured: its
    calibrated four-momentum is multiplied by ``mis_scale``.
    """
    for s in range(n_seeds):
        for k in range(acc.shape[1]):
            acc[s, k] = 0.0
    # acc: 0-3 constituent p4, 4 EM energy, 5 PV0 ghost-track pT, 6 pileup ghost-track pT
    rho_sum = 0.0
    n_obj = cnt[C_C] if topo else cnt[C_F]
    R, remap, obj_root, trk_jet, jet_of, start = tmp
    for i in range(n_obj):
        if topo:
            r = int(C[i, CL_JET])
            emf, e = C[i, CL_EMF], C[i, X_E]
            src = C
            eta, pt = C[i, CL_ETA], C[i, CL_PT]
        else:
            emf, e = F[i, PF_EMF], F[i, X_E]
            src = F
            if F[i, PF_TRK] >= 0:
                r = int(T[int(F[i, PF_TRK]), TK_JET])
                eta, pt = 0.0, 0.0
            else:
                c = int(F[i, PF_CLU])
                r = int(C[c, CL_JET])
                eta, pt = C[c, CL_ETA], C[c, CL_PT] * e / C[c, X_E]
        obj_root[i] = r
        if r >= 0:
            for k in range(4):
                acc[r, k] += src[i, k]
            acc[r, 4] += emf * e
        elif abs(eta) < RHO_ETA_MAX:
            rho_sum += pt
    n_roots = 0
    for s in range(n_seeds):
        if S[s, S_ROOT] == s:
            n_roots += 1
    rho = rho_sum / max(2.0 * RHO_ETA_MAX * math.tau - n_roots * JET_AREA, 1.0)
    n_trk = cnt[C_T]
    for t in range(n_trk):
        r = int(T[t, TK_JET])
        if r >= 0:
            v = T[t, TK_VTX]
            if v == 0:
                acc[r, 5] += T[t, TK_PT]
            elif v > 0:
                acc[r, 6] += T[t, TK_PT]
    jes = JES_TOPO if topo else JES_PFLOW
    nj = 0
    for s in range(n_seeds):
        if S[s, S_ROOT] != s:
            continue
        cpt = math.hypot(acc[s, 0], acc[s, 1])
        if cpt <= 0.0:
            continue
        corr = (cpt - rho * JET_AREA) / cpt
        if corr <= 0.0:
            continue
        scale = corr * jes
        pt = cpt * scale
        if pt < JET_PT_MIN:
            continue
        if s == mis_seed:
            scale *= mis_scale
            pt *= mis_scale
        for k in range(4):
            J[nj, k] = acc[s, k] * scale
            J[nj, 4 + k] = acc[s, k]
        if acc[s, 5] + acc[s, 6] <= 0.0:
            J[nj, 8] = -0.1
        else:
            J[nj, 8] = acc[s, 5] / (acc[s, 5] + acc[s, 6] / (0.01 * max(n_pu_tracks, 1)))
        J[nj, 9] = acc[s, 4] / acc[s, 3] if acc[s, 3] > 0 else 0.0
        J[nj, 10] = s
        j = nj
        while j > 0 and math.hypot(J[j - 1, 0], J[j - 1, 1]) < pt:
            for k in range(NJ):
                tmp = J[j - 1, k]
                J[j - 1, k] = J[j, k]
                J[j, k] = tmp
            j -= 1
        nj += 1
    if nj == 0:
        return 0
    for s in range(n_seeds):
        jet_of[s] = -1
    for j in range(nj):
        jet_of[int(J[j, 10])] = j
    for i in range(n_obj):
        r = obj_root[i]
        obj_root[i] = jet_of[r] if r >= 0 else -1
    emit_grouped(Lk, cnt, kind_const, obj_root, n_obj, nj, start)
    for t in range(n_trk):
        r = int(T[t, TK_JET])
        trk_jet[t] = jet_of[r] if r >= 0 else -1
    emit_grouped(Lk, cnt, kind_ghost, trk_jet, n_trk, nj, start)
    return nj
