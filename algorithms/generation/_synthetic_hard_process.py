"""Hard-process generators: Z, W, ttbar-like, dijet and long-lived-particle events, balanced in pT.

The process codes (ZEE ... LLP, and MIX with its cumulative fractions) are what
``SyntheticSource`` maps process names to. ``hard_scatter`` fills the truth tables of one
event's hard scatter, with ISR recoil and an underlying event that balance the transverse
momentum; all its random numbers come from the event's hard-scatter stream.
"""

import math

import numpy as np

from metflow.edm.units import GeV, mm
from metflow.framework.jit import kernel
from ._synthetic_layout import (C_P, M_E, M_MU, M_PI, P_D0, P_DZ, P_PHI, S_B, S_ELE, S_FIRST, S_LAST,
                                S_LRT_ELE, S_TAU, T_CH, T_ELE, T_LRT_ELE, T_LRT_MU, T_MU, T_NU, T_PH)
from ._synthetic_random import breit_wigner, expo, normal, poisson, u01, uniform
from ._synthetic_kinematics import p4_ptetaphim, p4_ptyphim, ptetaphi, two_body
from ._synthetic_truth import add_particle, add_seed, fragment, jet_kind, soft_pair

# process codes (the Python side maps names to these)
ZEE, ZMUMU, ZNUNU, WENU, WMUNU, TTBAR, DIJET, LLP, MIX = 0, 1, 2, 3, 4, 5, 6, 7, 8
N_PROCESSES = 8
# mix: cumulative fractions of zee, zmumu, znunu, wenu, wmunu, ttbar, dijet, llp
MIX_CUMULATIVE = np.array([0.15, 0.30, 0.40, 0.55, 0.70, 0.85, 0.95, 1.0])

# resonances: masses and widths
M_Z, W_Z = 91.1876 * GeV, 2.4952 * GeV
M_W, W_W = 80.379 * GeV, 2.085 * GeV
M_TOP, W_TOP = 172.5 * GeV, 1.4 * GeV
M_H, M_LLP = 125.0 * GeV, 30.0 * GeV
M_B = 4.8 * GeV


@kernel
def _boson_p4(st, mass, pt_soft, pt_hard, hard_frac):
    """A resonance with a two-component exponential pT spectrum and Gaussian rapidity."""
    if u01(st) < hard_frac:
        pt = expo(st, pt_hard)
    else:
        pt = expo(st, pt_soft)
    pt = min(pt, 800 * GeV)
    y = min(max(normal(st) * 1.6, -3.5), 3.5)
    return p4_ptyphim(pt, y, uniform(st, -math.pi, math.pi), mass)


@kernel
def _recoil(st, P, S, cnt, rx, ry, wbuf):
    """ISR activity whose transverse momentum is exactly (rx, ry), plus a balanced UE."""
    r = math.hypot(rx, ry)
    rphi = math.atan2(ry, rx)
    if r > 25 * GeV:
        f = uniform(st, 0.75, 1.0)
        phi1 = rphi + 0.25 * normal(st)
        pt1 = f * r
        eta1 = min(max(1.6 * normal(st), -4.4), 4.4)
        j1 = p4_ptetaphim(pt1, eta1, phi1, 0.0)
        fragment(st, P, S, cnt, j1, jet_kind(st, pt1, 0.03), 0, wbuf)
        rx -= j1[0]
        ry -= j1[1]
        r = math.hypot(rx, ry)
        rphi = math.atan2(ry, rx)
    if r > 20 * GeV:
        eta2 = min(max(1.8 * normal(st), -4.4), 4.4)
        fragment(st, P, S, cnt, p4_ptetaphim(r, eta2, rphi, 0.0), jet_kind(st, r, 0.03), 0, wbuf)
    elif r > 0.0:
        for k in range(2):
            eta = uniform(st, -3.0, 3.0)
            if k == 0:
                add_particle(P, cnt, p4_ptetaphim(0.5 * r, eta, rphi, M_PI), T_CH,
                             1.0 if u01(st) < 0.5 else -1.0, M_PI, -1, 0)
            else:
                add_particle(P, cnt, p4_ptetaphim(0.5 * r, eta, rphi, 0.0), T_PH, 0.0, 0.0, -1, 0)
    if u01(st) < 0.25:
        pt = 20 * GeV + expo(st, 15 * GeV)
        phi = uniform(st, -math.pi, math.pi)
        for k in range(2):
            eta = min(max(1.8 * normal(st), -4.4), 4.4)
            fragment(st, P, S, cnt, p4_ptetaphim(pt, eta, phi + k * math.pi, 0.0),
                     jet_kind(st, pt, 0.03), 0, wbuf)
    for k in range(poisson(st, 6.0, 30)):
        soft_pair(st, P, cnt, 0)


@kernel
def _lepton(P, S, cnt, p4, ptype, q, vtx):
    """A truth lepton (electrons also seed a jet: their EM deposit is clustered into jets)."""
    if ptype == T_ELE or ptype == T_LRT_ELE:
        pt, eta, phi = ptetaphi(p4[0], p4[1], p4[2])
        s = add_seed(S, cnt, pt, eta, phi, S_ELE if ptype == T_ELE else S_LRT_ELE, vtx)
        S[s, S_FIRST] = cnt[C_P]
        i = add_particle(P, cnt, p4, ptype, q, M_E, s, vtx)
        S[s, S_LAST] = cnt[C_P]
        return i
    m = M_MU if (ptype == T_MU or ptype == T_LRT_MU) else 0.0
    return add_particle(P, cnt, p4, ptype, q, m, -1, vtx)


@kernel
def _w_decay(st, P, S, cnt, w, wbuf, hadronic_ok):
    """W -> e nu, mu nu, tau(had) nu or (if hadronic_ok) two jets."""
    r = u01(st)
    q = 1.0 if u01(st) < 0.5 else -1.0
    if not hadronic_ok:
        r = r / 3.0
    if r < 2.0 / 9.0:
        ptype = T_ELE if r < 1.0 / 9.0 else T_MU
        ml = M_E if ptype == T_ELE else M_MU
        d1, d2 = two_body(st, w, ml, 0.0)
        _lepton(P, S, cnt, d1, ptype, q, 0)
        add_particle(P, cnt, d2, T_NU, 0.0, 0.0, -1, 0)
    elif r < 3.0 / 9.0:
        d1, d2 = two_body(st, w, 0.0, 0.0)
        x = uniform(st, 0.3, 0.9)
        vis = (x * d1[0], x * d1[1], x * d1[2], x * d1[3])
        nu = ((1 - x) * d1[0], (1 - x) * d1[1], (1 - x) * d1[2], (1 - x) * d1[3])
        fragment(st, P, S, cnt, vis, S_TAU, 0, wbuf)
        add_particle(P, cnt, nu, T_NU, 0.0, 0.0, -1, 0)
        add_particle(P, cnt, d2, T_NU, 0.0, 0.0, -1, 0)
    else:
        d1, d2 = two_body(st, w, 0.0, 0.0)
        pt1 = math.hypot(d1[0], d1[1])
        pt2 = math.hypot(d2[0], d2[1])
        fragment(st, P, S, cnt, d1, jet_kind(st, pt1, 0.0), 0, wbuf)
        fragment(st, P, S, cnt, d2, jet_kind(st, pt2, 0.0), 0, wbuf)


@kernel
def hard_scatter(st, process, P, S, cnt, wbuf):
    """Truth particles of the hard scatter, balanced in transverse momentum."""
    if process == ZEE or process == ZMUMU or process == ZNUNU or process == WENU or process == WMUNU:
        is_z = process <= ZNUNU
        m = breit_wigner(st, M_Z if is_z else M_W, W_Z if is_z else W_W, 50 * GeV, 150 * GeV)
        v = _boson_p4(st, m, 6 * GeV, 25 * GeV, 0.35)
        q = 1.0 if u01(st) < 0.5 else -1.0
        if process == ZEE or process == WENU:
            t1 = T_ELE
        elif process == ZMUMU or process == WMUNU:
            t1 = T_MU
        else:
            t1 = T_NU
        ml = M_E if t1 == T_ELE else (M_MU if t1 == T_MU else 0.0)
        d1, d2 = two_body(st, v, ml, ml if is_z else 0.0)
        if t1 == T_NU:
            add_particle(P, cnt, d1, T_NU, 0.0, 0.0, -1, 0)
        else:
            _lepton(P, S, cnt, d1, t1, q, 0)
        if is_z and t1 != T_NU:
            _lepton(P, S, cnt, d2, t1, -q, 0)
        else:
            add_particle(P, cnt, d2, T_NU, 0.0, 0.0, -1, 0)
        _recoil(st, P, S, cnt, -v[0], -v[1], wbuf)
    elif process == TTBAR:
        pt = expo(st, 80 * GeV)
        phi = uniform(st, -math.pi, math.pi)
        for k in range(2):
            mt = breit_wigner(st, M_TOP, W_TOP, 150 * GeV, 195 * GeV)
            top = p4_ptyphim(pt, 1.2 * normal(st), phi + k * math.pi, mt)
            mw = breit_wigner(st, M_W, W_W, 60 * GeV, 100 * GeV)
            b, w = two_body(st, top, M_B, mw)
            fragment(st, P, S, cnt, b, S_B, 0, wbuf)
            _w_decay(st, P, S, cnt, w, wbuf, True)
        _recoil(st, P, S, cnt, 0.0, 0.0, wbuf)
    elif process == DIJET:
        pt = 30 * GeV + expo(st, 40 * GeV)
        phi = uniform(st, -math.pi, math.pi)
        j1 = p4_ptetaphim(pt, min(max(1.8 * normal(st), -4.4), 4.4), phi, 0.0)
        eta2 = min(max(1.8 * normal(st), -4.4), 4.4)
        if u01(st) < 0.3:
            z = uniform(st, 0.2, 0.5)
            dphi = 0.6 + 0.8 * u01(st)
            ja = p4_ptetaphim(z * pt, eta2 + 0.5 * normal(st), phi + math.pi + dphi, 0.0)
            jbx, jby = -j1[0] - ja[0], -j1[1] - ja[1]
            jb = p4_ptetaphim(math.hypot(jbx, jby), eta2, math.atan2(jby, jbx), 0.0)
            fragment(st, P, S, cnt, ja, jet_kind(st, z * pt, 0.1), 0, wbuf)
            fragment(st, P, S, cnt, jb, jet_kind(st, math.hypot(jbx, jby), 0.1), 0, wbuf)
        else:
            j2 = p4_ptetaphim(pt, eta2, phi + math.pi, 0.0)
            fragment(st, P, S, cnt, j2, jet_kind(st, pt, 0.1), 0, wbuf)
        fragment(st, P, S, cnt, j1, jet_kind(st, pt, 0.1), 0, wbuf)
        for k in range(poisson(st, 6.0, 30)):
            soft_pair(st, P, cnt, 0)
    else:  # LLP: H -> s s, each s -> l+ l- at a displaced vertex
        h = _boson_p4(st, M_H, 10 * GeV, 40 * GeV, 0.4)
        s1, s2 = two_body(st, h, M_LLP, M_LLP)
        for k in range(2):
            sv = s1 if k == 0 else s2
            spt, seta, sphi = ptetaphi(sv[0], sv[1], sv[2])
            radius = 20 * mm * math.exp(math.log(20.0) * u01(st))   # 20-400 mm
            is_e = u01(st) < 0.5
            ptype = T_LRT_ELE if is_e else T_LRT_MU
            ml = M_E if is_e else M_MU
            d1, d2 = two_body(st, sv, ml, ml)
            for j in range(2):
                d = d1 if j == 0 else d2
                i = _lepton(P, S, cnt, d, ptype, 1.0 if j == 0 else -1.0, 0)
                d0 = radius * math.sin(P[i, P_PHI] - sphi)
                mag = min(max(abs(d0), 3 * mm), 300 * mm)
                P[i, P_D0] = mag if d0 >= 0 else -mag
                P[i, P_DZ] = radius * math.sinh(seta)
        _recoil(st, P, S, cnt, -h[0], -h[1], wbuf)
