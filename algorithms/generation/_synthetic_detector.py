"""Toy detector response of the synthetic generator: truth particle -> tracks, clusters and PFOs.

Tracking (efficiency, pT and impact-parameter smearing), a calorimeter response per particle
type (clusters, brem and muon-bending splits), and eflow-like particle flow (charged PFOs for
hard-scatter tracks, neutral PFOs for what the tracks leave). A dead calorimeter box
(``dead`` = (eta0, phi0, active); placed by ``_synthetic_faults``) suppresses the clusters of
particles inside it, whose random numbers are still drawn.
"""

import math

import numpy as np

from metflow.edm.units import GeV, MeV, mm
from metflow.framework.jit import kernel
from ._synthetic_layout import (CL_EMF, CL_ETA, CL_JET, CL_PHI, CL_PT, CL_SEED, C_C, C_F, C_T, PF_CLU, PF_EMF,
                                PF_Q, PF_TRK, P_D0, P_DZ, P_ETA, P_M, P_PHI, P_PT, P_PX, P_PY, P_PZ, P_Q,
                                P_SEED, P_TRK, P_TYPE, P_VTX, TK_D0, TK_ETA, TK_FLAG, TK_JET, TK_PHI, TK_PT,
                                TK_Q, TK_QUAL, TK_SEED, TK_VTX, TK_Z0, T_CH, T_ELE, T_LRT_ELE, T_LRT_MU, T_MU,
                                T_NH, T_NU, T_PH, X_E, X_PX, X_PY, X_PZ)
from ._synthetic_random import expo, gauss, u01, uniform
from ._synthetic_kinematics import wrap

# detector model
TRK_ETA_MAX, TRK_PT_MIN = 2.5, 500 * MeV
CALO_ETA_MAX, CLUSTER_E_MIN = 4.9, 300 * MeV
R_HAD = 0.85                       # cluster-scale response to hadrons
DEAD_HALF_WIDTH = 0.4              # dead box: |deta| and |dphi| below this
NO_DEAD_BOX = np.zeros(3)          # (eta0, phi0, active) of an inactive box


@kernel
def _add_track(T, cnt, st, pt, eta, phi, cphi, sphi, shf, chf, q, m, z_vtx, vtx, flag, seed, d0, dz):
    """Smeared track; vertex is the generation vertex id (remapped later) or -1."""
    t = cnt[C_T]
    sigma = math.sqrt(0.012 ** 2 + (0.0004 * pt / GeV) ** 2)
    tpt = pt * max(1.0 + sigma * gauss(st), 0.05)
    T[t, X_PX] = tpt * cphi
    T[t, X_PY] = tpt * sphi
    T[t, X_PZ] = tpt * shf
    p = tpt * chf
    T[t, X_E] = math.sqrt(p * p + m * m)
    T[t, TK_Q] = q
    sig_ip = 0.02 * mm + 0.08 * mm * GeV / tpt
    T[t, TK_Z0] = z_vtx + dz + 2.0 * sig_ip * gauss(st)
    T[t, TK_D0] = d0 + 0.5 * sig_ip * gauss(st)
    T[t, TK_VTX] = vtx
    T[t, TK_QUAL] = 1.0 if (flag > 0 or u01(st) < 0.97) else 0.0
    T[t, TK_PT] = tpt
    T[t, TK_ETA] = eta
    T[t, TK_PHI] = phi
    T[t, TK_SEED] = seed
    T[t, TK_FLAG] = flag
    T[t, TK_JET] = -1.0
    cnt[C_T] = t + 1
    return t


@kernel
def add_cluster(C, cnt, e, eta, phi, cphi, sphi, shf, chf, emf, seed):
    c = cnt[C_C]
    pt = e / chf
    C[c, X_PX] = pt * cphi
    C[c, X_PY] = pt * sphi
    C[c, X_PZ] = pt * shf
    C[c, X_E] = e
    C[c, CL_PT] = pt
    C[c, CL_ETA] = eta
    C[c, CL_PHI] = phi
    C[c, CL_SEED] = seed
    C[c, CL_EMF] = emf
    C[c, CL_JET] = -1.0
    cnt[C_C] = c + 1
    return c


@kernel
def _add_cluster_at(C, cnt, e, eta, phi, shf, chf, emf, seed):
    """A cluster displaced in phi from its particle (brem, muon bending)."""
    phi = wrap(phi)
    return add_cluster(C, cnt, e, eta, phi, math.cos(phi), math.sin(phi), shf, chf, emf, seed)


@kernel
def add_neutral_pfo(F, C, cnt, c, e):
    """Neutral PFO along cluster c carrying energy e (the cluster remainder)."""
    f = cnt[C_F]
    scale = e / C[c, X_E]
    for k in range(4):
        F[f, k] = C[c, k] * scale
    F[f, PF_Q] = 0.0
    F[f, PF_TRK] = -1.0
    F[f, PF_CLU] = c
    F[f, PF_EMF] = C[c, CL_EMF]
    cnt[C_F] = f + 1
    return f


@kernel
def _add_charged_pfo(F, T, cnt, t):
    f = cnt[C_F]
    for k in range(4):
        F[f, k] = T[t, k]
    F[f, PF_Q] = T[t, TK_Q]
    F[f, PF_TRK] = t
    F[f, PF_CLU] = -1.0
    F[f, PF_EMF] = 0.0
    cnt[C_F] = f + 1
    return f


@kernel
def _had_sigma(e):
    return math.sqrt(0.25 / max(e / GeV, 0.05) + 0.05 ** 2)


@kernel
def _em_sigma(e):
    return math.sqrt(0.01 / max(e / GeV, 0.05) + 0.01 ** 2)


@kernel
def in_dead_box(dead, eta, phi):
    """True when (eta, phi) is in the active dead calorimeter box dead = (eta0, phi0, active)."""
    return (dead[2] > 0.0 and abs(eta - dead[0]) < DEAD_HALF_WIDTH
            and abs(wrap(phi - dead[1])) < DEAD_HALF_WIDTH)


@kernel
def _detect(st, ptype, q, pt, eta, phi, cphi, sphi, shf, chf, m, z_vtx, vtx, seed, d0, dz, lrt,
            dead, T, C, F, cnt, out):
    """Toy detector response of one particle: tracks, clusters and PFOs (indices -> out[0..5]).

    out = [track, cluster, cluster2, charged pfo, neutral pfo, neutral pfo 2], -1 if absent.
    (cphi, sphi, shf, chf) are cos phi, sin phi, sinh eta, cosh eta of the particle.
    Hadron tracks are subtracted from their cluster (eflow-like, remainder kept above 1.5
    sigma); lepton tracks (flag 1) are not: lepton deposits stay whole as neutral PFOs.
    Charged PFOs exist only for tracks of the hard-scatter vertex (CHS). A particle in the
    dead calorimeter box ``dead`` leaves no cluster (its random numbers are still drawn, so
    the rest of the event is unchanged).
    """
    for k in range(6):
        out[k] = -1
    if ptype == T_NU:
        return
    abseta = abs(eta)
    e = math.sqrt((pt * chf) ** 2 + m * m)
    in_tracker = abseta < TRK_ETA_MAX and pt > TRK_PT_MIN
    in_calo = abseta < CALO_ETA_MAX
    live = not in_dead_box(dead, eta, phi)
    if ptype == T_CH or ptype == T_NH:
        t = -1
        if ptype == T_CH and in_tracker and u01(st) < (0.9 if pt > 1 * GeV else 0.82):
            tv = vtx if u01(st) < 0.97 else -1.0
            t = _add_track(T, cnt, st, pt, eta, phi, cphi, sphi, shf, chf, q, m, z_vtx, tv, 0, seed, 0.0, 0.0)
            out[0] = t
            if T[t, TK_QUAL] > 0 and tv == 0:
                out[3] = _add_charged_pfo(F, T, cnt, t)
        if in_calo:
            dep = e * R_HAD * (1.0 + _had_sigma(e) * gauss(st))
            if dep > CLUSTER_E_MIN and live:
                c = add_cluster(C, cnt, dep, eta, phi, cphi, sphi, shf, chf, 0.35, seed)
                out[1] = c
                if t >= 0 and T[t, TK_QUAL] > 0:
                    expected = R_HAD * T[t, X_E]
                    rem = dep - expected
                    if rem > 1.5 * _had_sigma(T[t, X_E]) * expected:
                        out[4] = add_neutral_pfo(F, C, cnt, c, rem)
                else:
                    out[4] = add_neutral_pfo(F, C, cnt, c, dep)
    elif ptype == T_PH:
        if in_calo:
            dep = e * (1.0 + _em_sigma(e) * gauss(st))
            if dep > CLUSTER_E_MIN and live:
                c = add_cluster(C, cnt, dep, eta, phi, cphi, sphi, shf, chf, 0.95, seed)
                out[1] = c
                out[4] = add_neutral_pfo(F, C, cnt, c, dep)
    elif ptype == T_ELE or ptype == T_LRT_ELE:
        if in_tracker:
            if ptype == T_ELE and u01(st) < 0.97:
                t = _add_track(T, cnt, st, pt, eta, phi, cphi, sphi, shf, chf, q, m, z_vtx, vtx, 1, seed, 0.0, 0.0)
                out[0] = t
                if vtx == 0:
                    out[3] = _add_charged_pfo(F, T, cnt, t)
            elif ptype == T_LRT_ELE and lrt:
                out[0] = _add_track(T, cnt, st, pt, eta, phi, cphi, sphi, shf, chf, q, m, z_vtx, -1.0, 2, -1,
                                    d0, dz)
        if in_calo:
            dep = e * (1.0 + _em_sigma(e) * gauss(st))
            if dep > CLUSTER_E_MIN:
                if u01(st) < 0.3:
                    f = uniform(st, 0.1, 0.3)
                    if not live:
                        return
                    c = add_cluster(C, cnt, (1.0 - f) * dep, eta, phi, cphi, sphi, shf, chf, 1.0, seed)
                    c2 = _add_cluster_at(C, cnt, f * dep, eta, phi - q * 0.04, shf, chf, 1.0, seed)
                    out[1] = c
                    out[2] = c2
                    out[4] = add_neutral_pfo(F, C, cnt, c, C[c, X_E])
                    out[5] = add_neutral_pfo(F, C, cnt, c2, C[c2, X_E])
                elif live:
                    c = add_cluster(C, cnt, dep, eta, phi, cphi, sphi, shf, chf, 1.0, seed)
                    out[1] = c
                    out[4] = add_neutral_pfo(F, C, cnt, c, dep)
    elif ptype == T_MU or ptype == T_LRT_MU:
        if in_tracker:
            if ptype == T_MU and u01(st) < 0.99:
                t = _add_track(T, cnt, st, pt, eta, phi, cphi, sphi, shf, chf, q, m, z_vtx, vtx, 1, seed, 0.0, 0.0)
                out[0] = t
                if vtx == 0:
                    out[3] = _add_charged_pfo(F, T, cnt, t)
            elif ptype == T_LRT_MU and lrt:
                out[0] = _add_track(T, cnt, st, pt, eta, phi, cphi, sphi, shf, chf, q, m, z_vtx, -1.0, 2, -1,
                                    d0, dz)
        if in_calo:
            mip = min(1 * GeV + expo(st, 1.5 * GeV), 0.5 * e)
            if mip > CLUSTER_E_MIN and live:
                bend = phi + q * 0.02 * min(10 * GeV / pt, 3.0)
                c = _add_cluster_at(C, cnt, mip, eta, bend, shf, chf, 0.2, seed)
                out[1] = c
                out[4] = add_neutral_pfo(F, C, cnt, c, mip)


@kernel
def detect_particles(st, P, first, last, z_vtx, lrt, dead, T, C, F, cnt, out):
    for i in range(first, last):
        pt = P[i, P_PT]
        pz = P[i, P_PZ]
        chf = math.sqrt(pt * pt + pz * pz) / pt
        _detect(st, int(P[i, P_TYPE]), P[i, P_Q], pt, P[i, P_ETA], P[i, P_PHI],
                P[i, P_PX] / pt, P[i, P_PY] / pt, pz / pt, chf, P[i, P_M],
                z_vtx, P[i, P_VTX], P[i, P_SEED], P[i, P_D0], P[i, P_DZ], lrt, dead, T, C, F, cnt, out)
        for k in range(6):
            P[i, P_TRK + k] = out[k]


@kernel
def soft_detect(st, ptype, q, pt, eta_max, m, z_vtx, vgen, T, C, F, cnt, out):
    """A soft pileup particle, uniform in eta and phi, straight into the detector."""
    eta = uniform(st, -eta_max, eta_max)
    phi = uniform(st, -math.pi, math.pi)
    ex = math.exp(eta)
    _detect(st, ptype, q, pt, eta, phi, math.cos(phi), math.sin(phi), 0.5 * (ex - 1.0 / ex),
            0.5 * (ex + 1.0 / ex), m, z_vtx, vgen, -1.0, 0.0, 0.0, False, NO_DEAD_BOX, T, C, F, cnt, out)
