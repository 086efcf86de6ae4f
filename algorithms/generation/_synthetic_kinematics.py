"""Four-vector helpers of the synthetic generator (4-vectors as tuples px, py, pz, e; MeV)."""

import math

from metflow.framework.jit import kernel
from ._synthetic_random import uniform


@kernel
def wrap(phi):
    while phi > math.pi:
        phi -= math.tau
    while phi <= -math.pi:
        phi += math.tau
    return phi


@kernel
def dr2(eta1, phi1, eta2, phi2):
    dphi = wrap(phi1 - phi2)
    deta = eta1 - eta2
    return deta * deta + dphi * dphi


@kernel
def p4_ptetaphim(pt, eta, phi, m):
    px = pt * math.cos(phi)
    py = pt * math.sin(phi)
    pz = pt * math.sinh(eta)
    p2 = px * px + py * py + pz * pz
    return px, py, pz, math.sqrt(p2 + m * m)


@kernel
def p4_ptyphim(pt, y, phi, m):
    mt = math.sqrt(pt * pt + m * m)
    return pt * math.cos(phi), pt * math.sin(phi), mt * math.sinh(y), mt * math.cosh(y)


@kernel
def ptetaphi(px, py, pz):
    pt = math.sqrt(px * px + py * py)
    if pt <= 0.0:
        pt = 1e-6
    return pt, math.asinh(pz / pt), math.atan2(py, px)


@kernel
def _boost(px, py, pz, e, bx, by, bz):
    """Boost (px, py, pz, e) by velocity (bx, by, bz)."""
    b2 = bx * bx + by * by + bz * bz
    if b2 <= 0.0:
        return px, py, pz, e
    gamma = 1.0 / math.sqrt(1.0 - b2)
    bp = bx * px + by * py + bz * pz
    g2 = (gamma - 1.0) / b2
    f = g2 * bp + gamma * e
    return px + f * bx, py + f * by, pz + f * bz, gamma * (e + bp)


@kernel
def two_body(st, parent, m1, m2):
    """Isotropic two-body decay of a parent 4-vector; returns the two daughter 4-vectors."""
    ppx, ppy, ppz, pe = parent
    mp = math.sqrt(max(pe * pe - ppx * ppx - ppy * ppy - ppz * ppz, 1e-6))
    arg = (mp * mp - (m1 + m2) ** 2) * (mp * mp - (m1 - m2) ** 2)
    pstar = math.sqrt(max(arg, 0.0)) / (2.0 * mp)
    cost = uniform(st, -1.0, 1.0)
    sint = math.sqrt(max(1.0 - cost * cost, 0.0))
    phi = uniform(st, -math.pi, math.pi)
    dx, dy, dz = pstar * sint * math.cos(phi), pstar * sint * math.sin(phi), pstar * cost
    bx, by, bz = ppx / pe, ppy / pe, ppz / pe
    d1 = _boost(dx, dy, dz, math.sqrt(pstar * pstar + m1 * m1), bx, by, bz)
    d2 = _boost(-dx, -dy, -dz, math.sqrt(pstar * pstar + m2 * m2), bx, by, bz)
    return d1, d2


@kernel
def p4_from_e_eta_phi(e, eta, phi, m):
    ex = math.exp(eta)
    ch = 0.5 * (ex + 1.0 / ex)
    p = math.sqrt(max(e * e - m * m, 0.0))
    pt = p / ch
    return pt * math.cos(phi), pt * math.sin(phi), pt * 0.5 * (ex - 1.0 / ex), e
