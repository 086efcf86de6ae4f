"""Truth particles and truth-jet seeds: the tables they live in, parton fragmentation, the underlying event.

``add_particle`` and ``add_seed`` append a row to the particle table P and the seed table S
(columns in ``_synthetic_layout``). ``fragment`` turns a parton into a seed plus charged,
photon and neutral-hadron pieces whose momenta add up exactly to the parton's.
"""

import math

from metflow.edm.units import GeV, MeV
from metflow.framework.jit import kernel
from ._synthetic_layout import (C_P, C_S, M_MU, M_NH, M_PI, P_D0, P_DZ, P_ETA, P_M, P_NPFO2, P_PHI, P_PT,
                                P_PX, P_PY, P_PZ, P_Q, P_SEED, P_TRK, P_TYPE, P_VTX, S_B, S_ETA, S_FIRST,
                                S_KIND, S_LAST, S_LIGHT, S_PHI, S_PT, S_ROOT, S_TAU, S_TAU_FAKE, S_VTX, T_CH,
                                T_MU, T_NH, T_NU, T_PH)
from ._synthetic_random import expo, gauss, poisson, u01, uniform
from ._synthetic_kinematics import p4_ptetaphim, ptetaphi


@kernel
def add_particle(P, cnt, p4, ptype, q, m, seed, vtx):
    i = cnt[C_P]
    pt, eta, phi = ptetaphi(p4[0], p4[1], p4[2])
    P[i, P_PX] = p4[0]
    P[i, P_PY] = p4[1]
    P[i, P_PZ] = p4[2]
    P[i, P_PT] = pt
    P[i, P_ETA] = eta
    P[i, P_PHI] = phi
    P[i, P_M] = m
    P[i, P_TYPE] = ptype
    P[i, P_Q] = q
    P[i, P_SEED] = seed
    P[i, P_VTX] = vtx
    for c in range(P_TRK, P_NPFO2 + 1):
        P[i, c] = -1.0
    P[i, P_D0] = 0.0
    P[i, P_DZ] = 0.0
    cnt[C_P] = i + 1
    return i


@kernel
def add_seed(S, cnt, pt, eta, phi, kind, vtx):
    s = cnt[C_S]
    S[s, S_PT] = pt
    S[s, S_ETA] = eta
    S[s, S_PHI] = phi
    S[s, S_KIND] = kind
    S[s, S_ROOT] = s
    S[s, S_VTX] = vtx
    cnt[C_S] = s + 1
    return s


@kernel
def fragment(st, P, S, cnt, p4, kind, vtx, wbuf):
    """A parton -> truth jet: charged, photon and neutral-hadron pieces summing exactly to p4."""
    pt, eta, phi = ptetaphi(p4[0], p4[1], p4[2])
    s = add_seed(S, cnt, pt, eta, phi, kind, vtx)
    if kind == S_TAU_FAKE or kind == S_TAU:
        n_ch = 1 if u01(st) < 0.7 else 3
        n_ph = poisson(st, 0.8, 3)
        n_nh = 0
        width = 0.02
    else:
        n_ch = 1 + poisson(st, min(2.0 + pt / (8 * GeV), 30.0), 39)
        n_ph = poisson(st, 1.0 + pt / (15 * GeV), 30)
        n_nh = poisson(st, 0.5 + pt / (40 * GeV), 10)
        width = 0.05 + 0.1 * (30 * GeV) / (pt + 30 * GeV)
    semilep = kind == S_B and u01(st) < 0.2
    n = n_ch + n_ph + n_nh + (2 if semilep else 0)
    total = 0.0
    for k in range(n):
        wbuf[k] = -math.log(u01(st))
        total += wbuf[k]
    first = cnt[C_P]
    sx, sy, sz = 0.0, 0.0, 0.0
    for k in range(n):
        z = wbuf[k] / total
        wbuf[k] = z
        spread = width * (0.5 + 0.5 * math.sqrt(1.0 / (n * z)))
        deta = min(max(spread * gauss(st), -0.38), 0.38)
        dphi = min(max(spread * gauss(st), -0.38), 0.38)
        c = p4_ptetaphim(z * pt, eta + deta, phi + dphi, 0.0)
        wbuf[n + 3 * k] = c[0]
        wbuf[n + 3 * k + 1] = c[1]
        wbuf[n + 3 * k + 2] = c[2]
        sx += c[0]
        sy += c[1]
        sz += c[2]
    # distribute the momentum mismatch in proportion to z so the pieces sum to p4 exactly
    dx, dy, dz = p4[0] - sx, p4[1] - sy, p4[2] - sz
    for k in range(n):
        z = wbuf[k]
        mom = (wbuf[n + 3 * k] + z * dx, wbuf[n + 3 * k + 1] + z * dy, wbuf[n + 3 * k + 2] + z * dz, 0.0)
        if k < n_ch:
            ptype, q, m = T_CH, (1.0 if u01(st) < 0.5 else -1.0), M_PI
        elif k < n_ch + n_ph:
            ptype, q, m = T_PH, 0.0, 0.0
        elif k < n_ch + n_ph + n_nh:
            ptype, q, m = T_NH, 0.0, M_NH
        elif k == n - 2:
            ptype, q, m = T_MU, (1.0 if u01(st) < 0.5 else -1.0), M_MU
        else:
            ptype, q, m = T_NU, 0.0, 0.0
        add_particle(P, cnt, mom, ptype, q, m, s, vtx)
    S[s, S_FIRST] = first
    S[s, S_LAST] = cnt[C_P]
    return s


@kernel
def jet_kind(st, pt, b_frac):
    if pt > 20 * GeV and u01(st) < 0.05:
        return S_TAU_FAKE
    if u01(st) < b_frac:
        return S_B
    return S_LIGHT


@kernel
def soft_pair(st, P, cnt, vtx):
    """Two soft particles with opposite transverse momenta (underlying event)."""
    pt = 400 * MeV + expo(st, 600 * MeV)
    phi = uniform(st, -math.pi, math.pi)
    for k in range(2):
        eta = uniform(st, -4.0, 4.0)
        r = u01(st)
        if r < 0.6:
            ptype, q, m = T_CH, (1.0 if u01(st) < 0.5 else -1.0), M_PI
        elif r < 0.85:
            ptype, q, m = T_PH, 0.0, 0.0
        else:
            ptype, q, m = T_NH, 0.0, M_NH
        add_particle(P, cnt, p4_ptetaphim(pt, eta, phi + k * math.pi, m), ptype, q, m, -1, vtx)
