"""Numba kernels of the synthetic event source: truth generation, toy detector, reconstruction.

Everything about one event is drawn from counter-based splitmix64 streams seeded by
(seed, event index, stream), so event i depends only on (seed, i): never on the block it is read
in. Three streams keep the hard scatter independent of pileup: HS (truth + its detector
response), PU (how many pileup vertices, which library entries, where), OBJ (object-level
decisions: identification, fakes). The hard scatter's tracks are thus identical for any mu.
Pileup vertices come from a library built once per seed (``build_pileup_library``, stream
LIB_STREAM, entry v depends on (seed, v)).

Per event, scratch tables (rows of float columns named by the P_/S_/TK_/CL_/PF_ constants;
schema columns first, then auxiliary ones) are filled and then appended to column-major block
buffers; links are collected in one (kind, object, target) table that ``split_links`` turns
into list columns. Internal units: MeV and mm, like the EDM.
"""

import math

import numba as nb
import numpy as np
from numba.core import cgutils
from numba.extending import intrinsic

from metflow.edm.units import GeV, MeV, mm

_jit = nb.njit(nogil=True, cache=True, error_model="numpy")


@intrinsic
def _borrow(typingctx, arr):
    """A view of ``arr`` that holds no reference (null meminfo): passing it to the per-particle
    helpers costs no atomic reference counting. Valid only while ``arr`` itself is alive."""
    def codegen(context, builder, signature, args):
        src = context.make_array(arr)(context, builder, value=args[0])
        view = context.make_array(arr)(context, builder)
        for field in ("nitems", "itemsize", "data", "shape", "strides"):
            setattr(view, field, getattr(src, field))
        view.meminfo = cgutils.get_null_value(view.meminfo.type)
        view.parent = cgutils.get_null_value(view.parent.type)
        return view._getvalue()
    return arr(arr), codegen

# ---------------------------------------------------------------------------------------------
# process codes (the Python side maps names to these)
ZEE, ZMUMU, ZNUNU, WENU, WMUNU, TTBAR, DIJET, LLP, MIX = 0, 1, 2, 3, 4, 5, 6, 7, 8
N_PROCESSES = 8
# mix: cumulative fractions of zee, zmumu, znunu, wenu, wmunu, ttbar, dijet, llp
MIX_CUMULATIVE = np.array([0.15, 0.30, 0.40, 0.55, 0.70, 0.85, 0.95, 1.0])

# particle types
T_CH, T_PH, T_NH, T_ELE, T_MU, T_NU, T_LRT_ELE, T_LRT_MU = 0, 1, 2, 3, 4, 5, 6, 7

# seed (truth-jet-like object) kinds
S_LIGHT, S_B, S_TAU_FAKE, S_TAU, S_ELE, S_PUJET, S_LRT_ELE = 0, 1, 2, 3, 4, 5, 6

# ---------------------------------------------------------------------------------------------
# physics constants
M_Z, W_Z = 91.1876 * GeV, 2.4952 * GeV
M_W, W_W = 80.379 * GeV, 2.085 * GeV
M_TOP, W_TOP = 172.5 * GeV, 1.4 * GeV
M_H, M_LLP = 125.0 * GeV, 30.0 * GeV
M_B = 4.8 * GeV
M_PI, M_E, M_MU, M_NH = 139.57 * MeV, 0.511 * MeV, 105.66 * MeV, 497.6 * MeV

# detector model
TRK_ETA_MAX, TRK_PT_MIN = 2.5, 500 * MeV
CALO_ETA_MAX, CLUSTER_E_MIN = 4.9, 300 * MeV
R_HAD = 0.85                       # cluster-scale response to hadrons
MU_SPEC_ETA_MAX, ELE_ETA_MAX = 2.7, 2.47
BEAM_SIGMA_Z, BEAM_SIGMA_XY = 45 * mm, 0.015 * mm
JET_R, JET_AREA = 0.4, 0.503
JET_PT_MIN = 20 * GeV
JES_TOPO, JES_PFLOW = 1.12, 1.03   # constituent-scale -> calibrated response corrections
RHO_ETA_MAX = 2.0

# pileup model (per pileup vertex)
PU_N_CHARGED, PU_N_NEUTRAL, PU_DIJET_PROB = 5.0, 3.0, 0.02
PU_MAX_PER_VERTEX = 30

# detector faults (all off by default; drawn from their own stream, FAULT_STREAM, so turning
# them on leaves every other part of an event unchanged). Bits of TruthMET.injected_faults:
FAULT_NOISY, FAULT_DEAD, FAULT_MISMEASURED = 1, 2, 4
FAULT_STREAM = 4
NOISY_ETA_MAX = 4.4                              # a noisy hadronic-calorimeter cell anywhere
NOISY_PT_MIN, NOISY_PT_MEAN = 50 * GeV, 100 * GeV  # its fake transverse energy: min + exponential
NOISY_EMF = 0.0                                  # all its energy in hadronic layers
DEAD_HALF_WIDTH = 0.4                            # dead box: |deta| and |dphi| below this
DEAD_SEED_ETA_MAX = 1.7                          # the box sits on a central jet (Tile-like module)
DEAD_CENTRE_JITTER = 0.1                         # box centre offset from the jet axis (uniform)
MISMEASURED_ETA_MAX, MISMEASURED_PT_MIN = 2.4, 40 * GeV   # which hard-scatter jet can be hit
MISMEASURED_SCALE = (0.1, 0.4)                   # its calibrated four-momentum x uniform(lo, hi)
NO_DEAD_BOX = np.zeros(3)                        # (eta0, phi0, active) of an inactive box

# scratch column layouts ------------------------------------------------------------------
# particles
P_PT, P_ETA, P_PHI, P_M, P_TYPE, P_Q, P_SEED, P_VTX = 0, 1, 2, 3, 4, 5, 6, 7
P_TRK, P_CLU, P_CLU2, P_CPFO, P_NPFO, P_NPFO2, P_D0, P_DZ = 8, 9, 10, 11, 12, 13, 14, 15
P_PX, P_PY, P_PZ = 16, 17, 18
NP = 19
# seeds
S_PT, S_ETA, S_PHI, S_KIND, S_ROOT, S_FIRST, S_LAST, S_VTX = 0, 1, 2, 3, 4, 5, 6, 7
NS = 8
# tracks: schema columns 0..8, then aux
X_PX, X_PY, X_PZ, X_E = 0, 1, 2, 3
TK_Q, TK_Z0, TK_D0, TK_VTX, TK_QUAL = 4, 5, 6, 7, 8
TK_PT, TK_ETA, TK_PHI, TK_SEED, TK_FLAG, TK_JET = 9, 10, 11, 12, 13, 14
NT_OUT, NT = 9, 15
# clusters
CL_PT, CL_ETA, CL_PHI, CL_SEED, CL_EMF, CL_JET = 4, 5, 6, 7, 8, 9
NC_OUT, NC = 4, 10
# pfos
PF_Q, PF_TRK, PF_CLU, PF_EMF = 4, 5, 6, 7
NF_OUT, NF = 7, 8
# vertices
NV_OUT = 5
# jets: px py pz e, constit px py pz e, jvt, emfrac | aux pt
NJ_OUT, NJ = 10, 11
# egamma: p4, charge, id, isolated; muons: p4, charge, id_track, type, id; taus: p4, charge, id
NEG_OUT, NMU_OUT, NTAU_OUT = 7, 8, 6

# output containers (block buffers / offsets columns)
O_TRK, O_CLU, O_PFO, O_VTX, O_JPF, O_JTP, O_ELE, O_PHO, O_MUO, O_TAU, O_LELE, O_LMUO = range(12)
N_OUT = 12
# link kinds: (container, list field)
(L_JPF_CONST, L_JPF_GHOST, L_JTP_CONST, L_JTP_GHOST, L_ELE_CLU, L_ELE_TRK, L_ELE_PFO,
 L_PHO_CLU, L_PHO_TRK, L_PHO_PFO, L_MUO_CLU, L_MUO_PFO, L_TAU_TRK, L_TAU_CLU, L_TAU_PFO,
 L_LELE_CLU, L_LELE_TRK, L_LELE_PFO, L_LMUO_CLU, L_LMUO_PFO) = range(20)
N_LINK_KINDS = 20
LINK_OWNER = np.array([O_JPF, O_JPF, O_JTP, O_JTP, O_ELE, O_ELE, O_ELE, O_PHO, O_PHO, O_PHO,
                       O_MUO, O_MUO, O_TAU, O_TAU, O_TAU, O_LELE, O_LELE, O_LELE, O_LMUO, O_LMUO])

# event-level record: run, event, mu, weight, nonint_mpx, nonint_mpy, nonint_sumet, process,
# injected fault bits
NE = 9
RUN_NUMBER = 284500

# counters in cnt[]
C_P, C_S, C_T, C_C, C_F, C_V, C_L = 0, 1, 2, 3, 4, 5, 6

_TWO_PI = 2.0 * math.pi

# ---------------------------------------------------------------------------------------------
# random numbers: splitmix64, one uint64 state per stream (st[0])

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)
_TO_UNIT = 1.0 / 9007199254740992.0


@_jit
def _mix64(z):
    z = (z ^ (z >> np.uint64(30))) * _MIX1
    z = (z ^ (z >> np.uint64(27))) * _MIX2
    return z ^ (z >> np.uint64(31))


@_jit
def stream_state(seed, event, stream):
    """Initial state of one stream of one event: a hash of (seed, event, stream)."""
    h = _mix64(np.uint64(seed) ^ _GOLDEN)
    h = _mix64(h ^ np.uint64(event))
    return _mix64(h + np.uint64(stream) * _GOLDEN)


@_jit
def _u01(st):
    """Uniform in the open interval (0, 1)."""
    st[0] += _GOLDEN
    return (np.float64(_mix64(st[0]) >> np.uint64(11)) + 0.5) * _TO_UNIT


@_jit
def _uniform(st, lo, hi):
    return lo + (hi - lo) * _u01(st)


@_jit
def _normal(st):
    return math.sqrt(-2.0 * math.log(_u01(st))) * math.cos(_TWO_PI * _u01(st))


@_jit
def _gauss(st):
    """Cheap unit Gaussian for detector smearing: Irwin-Hall sum of four uniforms (|x| < 3.5)."""
    return (_u01(st) + _u01(st) + _u01(st) + _u01(st) - 2.0) * 1.7320508075688772


@_jit
def _expo(st, mean):
    return -mean * math.log(_u01(st))


@_jit
def _poisson(st, mean, cap):
    """Poisson draw (Knuth below 30, rounded normal above), truncated at cap."""
    if mean <= 0.0:
        return 0
    if mean < 30.0:
        limit = math.exp(-mean)
        k = 0
        prod = _u01(st)
        while prod > limit and k < cap:
            k += 1
            prod *= _u01(st)
        return k
    k = int(math.floor(mean + math.sqrt(mean) * _normal(st) + 0.5))
    return min(max(k, 0), cap)


@_jit
def _breit_wigner(st, m0, width, lo, hi):
    """Non-relativistic Breit-Wigner truncated to [lo, hi] by inverse transform."""
    a = math.atan(2.0 * (lo - m0) / width)
    b = math.atan(2.0 * (hi - m0) / width)
    return m0 + 0.5 * width * math.tan(a + (b - a) * _u01(st))


@_jit
def _wrap(phi):
    while phi > math.pi:
        phi -= _TWO_PI
    while phi <= -math.pi:
        phi += _TWO_PI
    return phi


@_jit
def _dr2(eta1, phi1, eta2, phi2):
    dphi = _wrap(phi1 - phi2)
    deta = eta1 - eta2
    return deta * deta + dphi * dphi


# ---------------------------------------------------------------------------------------------
# kinematics helpers (4-vectors as tuples px, py, pz, e)

@_jit
def _p4_ptetaphim(pt, eta, phi, m):
    px = pt * math.cos(phi)
    py = pt * math.sin(phi)
    pz = pt * math.sinh(eta)
    p2 = px * px + py * py + pz * pz
    return px, py, pz, math.sqrt(p2 + m * m)


@_jit
def _p4_ptyphim(pt, y, phi, m):
    mt = math.sqrt(pt * pt + m * m)
    return pt * math.cos(phi), pt * math.sin(phi), mt * math.sinh(y), mt * math.cosh(y)


@_jit
def _ptetaphi(px, py, pz):
    pt = math.sqrt(px * px + py * py)
    if pt <= 0.0:
        pt = 1e-6
    return pt, math.asinh(pz / pt), math.atan2(py, px)


@_jit
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


@_jit
def _two_body(st, parent, m1, m2):
    """Isotropic two-body decay of a parent 4-vector; returns the two daughter 4-vectors."""
    ppx, ppy, ppz, pe = parent
    mp = math.sqrt(max(pe * pe - ppx * ppx - ppy * ppy - ppz * ppz, 1e-6))
    arg = (mp * mp - (m1 + m2) ** 2) * (mp * mp - (m1 - m2) ** 2)
    pstar = math.sqrt(max(arg, 0.0)) / (2.0 * mp)
    cost = _uniform(st, -1.0, 1.0)
    sint = math.sqrt(max(1.0 - cost * cost, 0.0))
    phi = _uniform(st, -math.pi, math.pi)
    dx, dy, dz = pstar * sint * math.cos(phi), pstar * sint * math.sin(phi), pstar * cost
    bx, by, bz = ppx / pe, ppy / pe, ppz / pe
    d1 = _boost(dx, dy, dz, math.sqrt(pstar * pstar + m1 * m1), bx, by, bz)
    d2 = _boost(-dx, -dy, -dz, math.sqrt(pstar * pstar + m2 * m2), bx, by, bz)
    return d1, d2


@_jit
def _boson_p4(st, mass, pt_soft, pt_hard, hard_frac):
    """A resonance with a two-component exponential pT spectrum and Gaussian rapidity."""
    if _u01(st) < hard_frac:
        pt = _expo(st, pt_hard)
    else:
        pt = _expo(st, pt_soft)
    pt = min(pt, 800 * GeV)
    y = min(max(_normal(st) * 1.6, -3.5), 3.5)
    return _p4_ptyphim(pt, y, _uniform(st, -math.pi, math.pi), mass)


# ---------------------------------------------------------------------------------------------
# truth: particles and seeds

@_jit
def _add_particle(P, cnt, p4, ptype, q, m, seed, vtx):
    i = cnt[C_P]
    pt, eta, phi = _ptetaphi(p4[0], p4[1], p4[2])
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


@_jit
def _add_seed(S, cnt, pt, eta, phi, kind, vtx):
    s = cnt[C_S]
    S[s, S_PT] = pt
    S[s, S_ETA] = eta
    S[s, S_PHI] = phi
    S[s, S_KIND] = kind
    S[s, S_ROOT] = s
    S[s, S_VTX] = vtx
    cnt[C_S] = s + 1
    return s


@_jit
def _fragment(st, P, S, cnt, p4, kind, vtx, wbuf):
    """A parton -> truth jet: charged, photon and neutral-hadron pieces summing exactly to p4."""
    pt, eta, phi = _ptetaphi(p4[0], p4[1], p4[2])
    s = _add_seed(S, cnt, pt, eta, phi, kind, vtx)
    if kind == S_TAU_FAKE or kind == S_TAU:
        n_ch = 1 if _u01(st) < 0.7 else 3
        n_ph = _poisson(st, 0.8, 3)
        n_nh = 0
        width = 0.02
    else:
        n_ch = 1 + _poisson(st, min(2.0 + pt / (8 * GeV), 30.0), 39)
        n_ph = _poisson(st, 1.0 + pt / (15 * GeV), 30)
        n_nh = _poisson(st, 0.5 + pt / (40 * GeV), 10)
        width = 0.05 + 0.1 * (30 * GeV) / (pt + 30 * GeV)
    semilep = kind == S_B and _u01(st) < 0.2
    n = n_ch + n_ph + n_nh + (2 if semilep else 0)
    total = 0.0
    for k in range(n):
        wbuf[k] = -math.log(_u01(st))
        total += wbuf[k]
    first = cnt[C_P]
    sx, sy, sz = 0.0, 0.0, 0.0
    for k in range(n):
        z = wbuf[k] / total
        wbuf[k] = z
        spread = width * (0.5 + 0.5 * math.sqrt(1.0 / (n * z)))
        deta = min(max(spread * _gauss(st), -0.38), 0.38)
        dphi = min(max(spread * _gauss(st), -0.38), 0.38)
        c = _p4_ptetaphim(z * pt, eta + deta, phi + dphi, 0.0)
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
            ptype, q, m = T_CH, (1.0 if _u01(st) < 0.5 else -1.0), M_PI
        elif k < n_ch + n_ph:
            ptype, q, m = T_PH, 0.0, 0.0
        elif k < n_ch + n_ph + n_nh:
            ptype, q, m = T_NH, 0.0, M_NH
        elif k == n - 2:
            ptype, q, m = T_MU, (1.0 if _u01(st) < 0.5 else -1.0), M_MU
        else:
            ptype, q, m = T_NU, 0.0, 0.0
        _add_particle(P, cnt, mom, ptype, q, m, s, vtx)
    S[s, S_FIRST] = first
    S[s, S_LAST] = cnt[C_P]
    return s


@_jit
def _jet_kind(st, pt, b_frac):
    if pt > 20 * GeV and _u01(st) < 0.05:
        return S_TAU_FAKE
    if _u01(st) < b_frac:
        return S_B
    return S_LIGHT


@_jit
def _soft_pair(st, P, cnt, vtx):
    """Two soft particles with opposite transverse momenta (underlying event)."""
    pt = 400 * MeV + _expo(st, 600 * MeV)
    phi = _uniform(st, -math.pi, math.pi)
    for k in range(2):
        eta = _uniform(st, -4.0, 4.0)
        r = _u01(st)
        if r < 0.6:
            ptype, q, m = T_CH, (1.0 if _u01(st) < 0.5 else -1.0), M_PI
        elif r < 0.85:
            ptype, q, m = T_PH, 0.0, 0.0
        else:
            ptype, q, m = T_NH, 0.0, M_NH
        _add_particle(P, cnt, _p4_ptetaphim(pt, eta, phi + k * math.pi, m), ptype, q, m, -1, vtx)


@_jit
def _recoil(st, P, S, cnt, rx, ry, wbuf):
    """ISR activity whose transverse momentum is exactly (rx, ry), plus a balanced UE."""
    r = math.hypot(rx, ry)
    rphi = math.atan2(ry, rx)
    if r > 25 * GeV:
        f = _uniform(st, 0.75, 1.0)
        phi1 = rphi + 0.25 * _normal(st)
        pt1 = f * r
        eta1 = min(max(1.6 * _normal(st), -4.4), 4.4)
        j1 = _p4_ptetaphim(pt1, eta1, phi1, 0.0)
        _fragment(st, P, S, cnt, j1, _jet_kind(st, pt1, 0.03), 0, wbuf)
        rx -= j1[0]
        ry -= j1[1]
        r = math.hypot(rx, ry)
        rphi = math.atan2(ry, rx)
    if r > 20 * GeV:
        eta2 = min(max(1.8 * _normal(st), -4.4), 4.4)
        _fragment(st, P, S, cnt, _p4_ptetaphim(r, eta2, rphi, 0.0), _jet_kind(st, r, 0.03), 0, wbuf)
    elif r > 0.0:
        for k in range(2):
            eta = _uniform(st, -3.0, 3.0)
            if k == 0:
                _add_particle(P, cnt, _p4_ptetaphim(0.5 * r, eta, rphi, M_PI), T_CH,
                              1.0 if _u01(st) < 0.5 else -1.0, M_PI, -1, 0)
            else:
                _add_particle(P, cnt, _p4_ptetaphim(0.5 * r, eta, rphi, 0.0), T_PH, 0.0, 0.0, -1, 0)
    if _u01(st) < 0.25:
        pt = 20 * GeV + _expo(st, 15 * GeV)
        phi = _uniform(st, -math.pi, math.pi)
        for k in range(2):
            eta = min(max(1.8 * _normal(st), -4.4), 4.4)
            _fragment(st, P, S, cnt, _p4_ptetaphim(pt, eta, phi + k * math.pi, 0.0),
                      _jet_kind(st, pt, 0.03), 0, wbuf)
    for k in range(_poisson(st, 6.0, 30)):
        _soft_pair(st, P, cnt, 0)


@_jit
def _lepton(P, S, cnt, p4, ptype, q, vtx):
    """A truth lepton (electrons also seed a jet: their EM deposit is clustered into jets)."""
    if ptype == T_ELE or ptype == T_LRT_ELE:
        pt, eta, phi = _ptetaphi(p4[0], p4[1], p4[2])
        s = _add_seed(S, cnt, pt, eta, phi, S_ELE if ptype == T_ELE else S_LRT_ELE, vtx)
        S[s, S_FIRST] = cnt[C_P]
        i = _add_particle(P, cnt, p4, ptype, q, M_E, s, vtx)
        S[s, S_LAST] = cnt[C_P]
        return i
    m = M_MU if (ptype == T_MU or ptype == T_LRT_MU) else 0.0
    return _add_particle(P, cnt, p4, ptype, q, m, -1, vtx)


@_jit
def _w_decay(st, P, S, cnt, w, wbuf, hadronic_ok):
    """W -> e nu, mu nu, tau(had) nu or (if hadronic_ok) two jets."""
    r = _u01(st)
    q = 1.0 if _u01(st) < 0.5 else -1.0
    if not hadronic_ok:
        r = r / 3.0
    if r < 2.0 / 9.0:
        ptype = T_ELE if r < 1.0 / 9.0 else T_MU
        ml = M_E if ptype == T_ELE else M_MU
        d1, d2 = _two_body(st, w, ml, 0.0)
        _lepton(P, S, cnt, d1, ptype, q, 0)
        _add_particle(P, cnt, d2, T_NU, 0.0, 0.0, -1, 0)
    elif r < 3.0 / 9.0:
        d1, d2 = _two_body(st, w, 0.0, 0.0)
        x = _uniform(st, 0.3, 0.9)
        vis = (x * d1[0], x * d1[1], x * d1[2], x * d1[3])
        nu = ((1 - x) * d1[0], (1 - x) * d1[1], (1 - x) * d1[2], (1 - x) * d1[3])
        _fragment(st, P, S, cnt, vis, S_TAU, 0, wbuf)
        _add_particle(P, cnt, nu, T_NU, 0.0, 0.0, -1, 0)
        _add_particle(P, cnt, d2, T_NU, 0.0, 0.0, -1, 0)
    else:
        d1, d2 = _two_body(st, w, 0.0, 0.0)
        pt1 = math.hypot(d1[0], d1[1])
        pt2 = math.hypot(d2[0], d2[1])
        _fragment(st, P, S, cnt, d1, _jet_kind(st, pt1, 0.0), 0, wbuf)
        _fragment(st, P, S, cnt, d2, _jet_kind(st, pt2, 0.0), 0, wbuf)


@_jit
def _hard_scatter(st, process, P, S, cnt, wbuf):
    """Truth particles of the hard scatter, balanced in transverse momentum."""
    if process == ZEE or process == ZMUMU or process == ZNUNU or process == WENU or process == WMUNU:
        is_z = process <= ZNUNU
        m = _breit_wigner(st, M_Z if is_z else M_W, W_Z if is_z else W_W, 50 * GeV, 150 * GeV)
        v = _boson_p4(st, m, 6 * GeV, 25 * GeV, 0.35)
        q = 1.0 if _u01(st) < 0.5 else -1.0
        if process == ZEE or process == WENU:
            t1 = T_ELE
        elif process == ZMUMU or process == WMUNU:
            t1 = T_MU
        else:
            t1 = T_NU
        ml = M_E if t1 == T_ELE else (M_MU if t1 == T_MU else 0.0)
        d1, d2 = _two_body(st, v, ml, ml if is_z else 0.0)
        if t1 == T_NU:
            _add_particle(P, cnt, d1, T_NU, 0.0, 0.0, -1, 0)
        else:
            _lepton(P, S, cnt, d1, t1, q, 0)
        if is_z and t1 != T_NU:
            _lepton(P, S, cnt, d2, t1, -q, 0)
        else:
            _add_particle(P, cnt, d2, T_NU, 0.0, 0.0, -1, 0)
        _recoil(st, P, S, cnt, -v[0], -v[1], wbuf)
    elif process == TTBAR:
        pt = _expo(st, 80 * GeV)
        phi = _uniform(st, -math.pi, math.pi)
        for k in range(2):
            mt = _breit_wigner(st, M_TOP, W_TOP, 150 * GeV, 195 * GeV)
            top = _p4_ptyphim(pt, 1.2 * _normal(st), phi + k * math.pi, mt)
            mw = _breit_wigner(st, M_W, W_W, 60 * GeV, 100 * GeV)
            b, w = _two_body(st, top, M_B, mw)
            _fragment(st, P, S, cnt, b, S_B, 0, wbuf)
            _w_decay(st, P, S, cnt, w, wbuf, True)
        _recoil(st, P, S, cnt, 0.0, 0.0, wbuf)
    elif process == DIJET:
        pt = 30 * GeV + _expo(st, 40 * GeV)
        phi = _uniform(st, -math.pi, math.pi)
        j1 = _p4_ptetaphim(pt, min(max(1.8 * _normal(st), -4.4), 4.4), phi, 0.0)
        eta2 = min(max(1.8 * _normal(st), -4.4), 4.4)
        if _u01(st) < 0.3:
            z = _uniform(st, 0.2, 0.5)
            dphi = 0.6 + 0.8 * _u01(st)
            ja = _p4_ptetaphim(z * pt, eta2 + 0.5 * _normal(st), phi + math.pi + dphi, 0.0)
            jbx, jby = -j1[0] - ja[0], -j1[1] - ja[1]
            jb = _p4_ptetaphim(math.hypot(jbx, jby), eta2, math.atan2(jby, jbx), 0.0)
            _fragment(st, P, S, cnt, ja, _jet_kind(st, z * pt, 0.1), 0, wbuf)
            _fragment(st, P, S, cnt, jb, _jet_kind(st, math.hypot(jbx, jby), 0.1), 0, wbuf)
        else:
            j2 = _p4_ptetaphim(pt, eta2, phi + math.pi, 0.0)
            _fragment(st, P, S, cnt, j2, _jet_kind(st, pt, 0.1), 0, wbuf)
        _fragment(st, P, S, cnt, j1, _jet_kind(st, pt, 0.1), 0, wbuf)
        for k in range(_poisson(st, 6.0, 30)):
            _soft_pair(st, P, cnt, 0)
    else:  # LLP: H -> s s, each s -> l+ l- at a displaced vertex
        h = _boson_p4(st, M_H, 10 * GeV, 40 * GeV, 0.4)
        s1, s2 = _two_body(st, h, M_LLP, M_LLP)
        for k in range(2):
            sv = s1 if k == 0 else s2
            spt, seta, sphi = _ptetaphi(sv[0], sv[1], sv[2])
            radius = 20 * mm * math.exp(math.log(20.0) * _u01(st))   # 20-400 mm
            is_e = _u01(st) < 0.5
            ptype = T_LRT_ELE if is_e else T_LRT_MU
            ml = M_E if is_e else M_MU
            d1, d2 = _two_body(st, sv, ml, ml)
            for j in range(2):
                d = d1 if j == 0 else d2
                i = _lepton(P, S, cnt, d, ptype, 1.0 if j == 0 else -1.0, 0)
                d0 = radius * math.sin(P[i, P_PHI] - sphi)
                mag = min(max(abs(d0), 3 * mm), 300 * mm)
                P[i, P_D0] = mag if d0 >= 0 else -mag
                P[i, P_DZ] = radius * math.sinh(seta)
        _recoil(st, P, S, cnt, -h[0], -h[1], wbuf)


# ---------------------------------------------------------------------------------------------
# detector

@_jit
def _add_track(T, cnt, st, pt, eta, phi, cphi, sphi, shf, chf, q, m, z_vtx, vtx, flag, seed, d0, dz):
    """Smeared track; vertex is the generation vertex id (remapped later) or -1."""
    t = cnt[C_T]
    sigma = math.sqrt(0.012 ** 2 + (0.0004 * pt / GeV) ** 2)
    tpt = pt * max(1.0 + sigma * _gauss(st), 0.05)
    T[t, X_PX] = tpt * cphi
    T[t, X_PY] = tpt * sphi
    T[t, X_PZ] = tpt * shf
    p = tpt * chf
    T[t, X_E] = math.sqrt(p * p + m * m)
    T[t, TK_Q] = q
    sig_ip = 0.02 * mm + 0.08 * mm * GeV / tpt
    T[t, TK_Z0] = z_vtx + dz + 2.0 * sig_ip * _gauss(st)
    T[t, TK_D0] = d0 + 0.5 * sig_ip * _gauss(st)
    T[t, TK_VTX] = vtx
    T[t, TK_QUAL] = 1.0 if (flag > 0 or _u01(st) < 0.97) else 0.0
    T[t, TK_PT] = tpt
    T[t, TK_ETA] = eta
    T[t, TK_PHI] = phi
    T[t, TK_SEED] = seed
    T[t, TK_FLAG] = flag
    T[t, TK_JET] = -1.0
    cnt[C_T] = t + 1
    return t


@_jit
def _add_cluster(C, cnt, e, eta, phi, cphi, sphi, shf, chf, emf, seed):
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


@_jit
def _add_cluster_at(C, cnt, e, eta, phi, shf, chf, emf, seed):
    """A cluster displaced in phi from its particle (brem, muon bending)."""
    phi = _wrap(phi)
    return _add_cluster(C, cnt, e, eta, phi, math.cos(phi), math.sin(phi), shf, chf, emf, seed)


@_jit
def _add_neutral_pfo(F, C, cnt, c, e):
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


@_jit
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


@_jit
def _had_sigma(e):
    return math.sqrt(0.25 / max(e / GeV, 0.05) + 0.05 ** 2)


@_jit
def _em_sigma(e):
    return math.sqrt(0.01 / max(e / GeV, 0.05) + 0.01 ** 2)


@_jit
def _in_dead_box(dead, eta, phi):
    """True when (eta, phi) is in the active dead calorimeter box dead = (eta0, phi0, active)."""
    return (dead[2] > 0.0 and abs(eta - dead[0]) < DEAD_HALF_WIDTH
            and abs(_wrap(phi - dead[1])) < DEAD_HALF_WIDTH)


@_jit
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
    live = not _in_dead_box(dead, eta, phi)
    if ptype == T_CH or ptype == T_NH:
        t = -1
        if ptype == T_CH and in_tracker and _u01(st) < (0.9 if pt > 1 * GeV else 0.82):
            tv = vtx if _u01(st) < 0.97 else -1.0
            t = _add_track(T, cnt, st, pt, eta, phi, cphi, sphi, shf, chf, q, m, z_vtx, tv, 0, seed, 0.0, 0.0)
            out[0] = t
            if T[t, TK_QUAL] > 0 and tv == 0:
                out[3] = _add_charged_pfo(F, T, cnt, t)
        if in_calo:
            dep = e * R_HAD * (1.0 + _had_sigma(e) * _gauss(st))
            if dep > CLUSTER_E_MIN and live:
                c = _add_cluster(C, cnt, dep, eta, phi, cphi, sphi, shf, chf, 0.35, seed)
                out[1] = c
                if t >= 0 and T[t, TK_QUAL] > 0:
                    expected = R_HAD * T[t, X_E]
                    rem = dep - expected
                    if rem > 1.5 * _had_sigma(T[t, X_E]) * expected:
                        out[4] = _add_neutral_pfo(F, C, cnt, c, rem)
                else:
                    out[4] = _add_neutral_pfo(F, C, cnt, c, dep)
    elif ptype == T_PH:
        if in_calo:
            dep = e * (1.0 + _em_sigma(e) * _gauss(st))
            if dep > CLUSTER_E_MIN and live:
                c = _add_cluster(C, cnt, dep, eta, phi, cphi, sphi, shf, chf, 0.95, seed)
                out[1] = c
                out[4] = _add_neutral_pfo(F, C, cnt, c, dep)
    elif ptype == T_ELE or ptype == T_LRT_ELE:
        if in_tracker:
            if ptype == T_ELE and _u01(st) < 0.97:
                t = _add_track(T, cnt, st, pt, eta, phi, cphi, sphi, shf, chf, q, m, z_vtx, vtx, 1, seed, 0.0, 0.0)
                out[0] = t
                if vtx == 0:
                    out[3] = _add_charged_pfo(F, T, cnt, t)
            elif ptype == T_LRT_ELE and lrt:
                out[0] = _add_track(T, cnt, st, pt, eta, phi, cphi, sphi, shf, chf, q, m, z_vtx, -1.0, 2, -1,
                                    d0, dz)
        if in_calo:
            dep = e * (1.0 + _em_sigma(e) * _gauss(st))
            if dep > CLUSTER_E_MIN:
                if _u01(st) < 0.3:
                    f = _uniform(st, 0.1, 0.3)
                    if not live:
                        return
                    c = _add_cluster(C, cnt, (1.0 - f) * dep, eta, phi, cphi, sphi, shf, chf, 1.0, seed)
                    c2 = _add_cluster_at(C, cnt, f * dep, eta, phi - q * 0.04, shf, chf, 1.0, seed)
                    out[1] = c
                    out[2] = c2
                    out[4] = _add_neutral_pfo(F, C, cnt, c, C[c, X_E])
                    out[5] = _add_neutral_pfo(F, C, cnt, c2, C[c2, X_E])
                elif live:
                    c = _add_cluster(C, cnt, dep, eta, phi, cphi, sphi, shf, chf, 1.0, seed)
                    out[1] = c
                    out[4] = _add_neutral_pfo(F, C, cnt, c, dep)
    elif ptype == T_MU or ptype == T_LRT_MU:
        if in_tracker:
            if ptype == T_MU and _u01(st) < 0.99:
                t = _add_track(T, cnt, st, pt, eta, phi, cphi, sphi, shf, chf, q, m, z_vtx, vtx, 1, seed, 0.0, 0.0)
                out[0] = t
                if vtx == 0:
                    out[3] = _add_charged_pfo(F, T, cnt, t)
            elif ptype == T_LRT_MU and lrt:
                out[0] = _add_track(T, cnt, st, pt, eta, phi, cphi, sphi, shf, chf, q, m, z_vtx, -1.0, 2, -1,
                                    d0, dz)
        if in_calo:
            mip = min(1 * GeV + _expo(st, 1.5 * GeV), 0.5 * e)
            if mip > CLUSTER_E_MIN and live:
                bend = phi + q * 0.02 * min(10 * GeV / pt, 3.0)
                c = _add_cluster_at(C, cnt, mip, eta, bend, shf, chf, 0.2, seed)
                out[1] = c
                out[4] = _add_neutral_pfo(F, C, cnt, c, mip)


@_jit
def _detect_particles(st, P, first, last, z_vtx, lrt, dead, T, C, F, cnt, out):
    for i in range(first, last):
        pt = P[i, P_PT]
        pz = P[i, P_PZ]
        chf = math.sqrt(pt * pt + pz * pz) / pt
        _detect(st, int(P[i, P_TYPE]), P[i, P_Q], pt, P[i, P_ETA], P[i, P_PHI],
                P[i, P_PX] / pt, P[i, P_PY] / pt, pz / pt, chf, P[i, P_M],
                z_vtx, P[i, P_VTX], P[i, P_SEED], P[i, P_D0], P[i, P_DZ], lrt, dead, T, C, F, cnt, out)
        for k in range(6):
            P[i, P_TRK + k] = out[k]


@_jit
def _soft_detect(st, ptype, q, pt, eta_max, m, z_vtx, vgen, T, C, F, cnt, out):
    """A soft pileup particle, uniform in eta and phi, straight into the detector."""
    eta = _uniform(st, -eta_max, eta_max)
    phi = _uniform(st, -math.pi, math.pi)
    ex = math.exp(eta)
    _detect(st, ptype, q, pt, eta, phi, math.cos(phi), math.sin(phi), 0.5 * (ex - 1.0 / ex),
            0.5 * (ex + 1.0 / ex), m, z_vtx, vgen, -1.0, 0.0, 0.0, False, NO_DEAD_BOX, T, C, F, cnt, out)


@_jit
def _pileup_vertex(st, vgen, z_vtx, P, S, T, C, F, cnt, out, wbuf):
    """Soft charged and neutral particles of one pileup interaction, sometimes a soft dijet."""
    for k in range(_poisson(st, PU_N_CHARGED, PU_MAX_PER_VERTEX)):
        pt = 450 * MeV + _expo(st, 550 * MeV)
        q = 1.0 if _u01(st) < 0.5 else -1.0
        _soft_detect(st, T_CH, q, pt, TRK_ETA_MAX, M_PI, z_vtx, vgen, T, C, F, cnt, out)
    for k in range(_poisson(st, PU_N_NEUTRAL, PU_MAX_PER_VERTEX)):
        pt = 200 * MeV + _expo(st, 800 * MeV)
        if _u01(st) < 0.5:
            _soft_detect(st, T_PH, 0.0, pt, 4.5, 0.0, z_vtx, vgen, T, C, F, cnt, out)
        else:
            _soft_detect(st, T_NH, 0.0, pt, 4.5, M_NH, z_vtx, vgen, T, C, F, cnt, out)
    if _u01(st) < PU_DIJET_PROB and cnt[C_S] < S.shape[0] - 2:
        pt = 12 * GeV + _expo(st, 8 * GeV)
        phi = _uniform(st, -math.pi, math.pi)
        first = cnt[C_P]
        for k in range(2):
            p4 = _p4_ptetaphim(pt, _uniform(st, -4.0, 4.0), phi + k * math.pi, 0.0)
            _fragment(st, P, S, cnt, p4, S_PUJET, vgen, wbuf)
        _detect_particles(st, P, first, cnt[C_P], z_vtx, False, NO_DEAD_BOX, T, C, F, cnt, out)


# ---------------------------------------------------------------------------------------------
# pileup overlay library
#
# Pileup vertices are simulated once per seed into a library (at z = 0, phi as drawn) and each
# event overlays Poisson(mu) of them, each with its own library entry, z position, azimuthal
# rotation and eta reflection, as ATLAS overlays pre-simulated minimum-bias events. Library
# entry v depends only on (seed, v), so events still depend only on (seed, event index).

LIB_STREAM = 3
LIB_SIZE = 2048


@_jit
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
        LT = _append(LT, o[0], T, cnt[C_T], NT)
        LC = _append(LC, o[1], C, cnt[C_C], NC)
        LF = _append(LF, o[2], F, cnt[C_F], NF)
        LS = _append(LS, o[3], S, cnt[C_S], NS)
        off[v + 1, 0] = o[0] + cnt[C_T]
        off[v + 1, 1] = o[1] + cnt[C_C]
        off[v + 1, 2] = o[2] + cnt[C_F]
        off[v + 1, 3] = o[3] + cnt[C_S]
    return off, LT, LC, LF, LS, n_assoc


@_jit
def _rotate(px, py, c, s):
    return c * px - s * py, s * px + c * py


@_jit
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
        S[s, S_PHI] = _wrap(LS[i, S_PHI] + dphi)
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
        T[t, TK_PHI] = _wrap(LT[i, TK_PHI] + dphi)
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
            if _in_dead_box(dead, sgn * LC[i, CL_ETA], LC[i, CL_PHI] + dphi):
                remap[i - off[entry, 1]] = -1
                continue
            remap[i - off[entry, 1]] = c
        C[c, X_PX], C[c, X_PY] = _rotate(LC[i, X_PX], LC[i, X_PY], cdp, sdp)
        C[c, X_PZ] = sgn * LC[i, X_PZ]
        C[c, X_E] = LC[i, X_E]
        C[c, CL_PT] = LC[i, CL_PT]
        C[c, CL_ETA] = sgn * LC[i, CL_ETA]
        C[c, CL_PHI] = _wrap(LC[i, CL_PHI] + dphi)
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


# ---------------------------------------------------------------------------------------------
# reconstruction

@_jit
def _root(S, s):
    while S[s, S_ROOT] != s:
        s = int(S[s, S_ROOT])
    return s


@_jit
def _nearest_root(R, n_roots, eta, phi):
    """Index of the closest root seed within the jet radius (R rows: eta, phi, seed), or -1."""
    best, best_dr2 = -1, JET_R * JET_R
    for k in range(n_roots):
        deta = R[k, 0] - eta
        if abs(deta) > JET_R:
            continue
        dphi = abs(R[k, 1] - phi)
        if dphi > math.pi:
            dphi = _TWO_PI - dphi
        d = deta * deta + dphi * dphi
        if d < best_dr2:
            best, best_dr2 = int(R[k, 2]), d
    return best


@_jit
def _add_link(Lk, cnt, kind, obj, target):
    n = cnt[C_L]
    Lk[n, 0] = kind
    Lk[n, 1] = obj
    Lk[n, 2] = target
    cnt[C_L] = n + 1


@_jit
def _p4_from_e_eta_phi(e, eta, phi, m):
    ex = math.exp(eta)
    ch = 0.5 * (ex + 1.0 / ex)
    p = math.sqrt(max(e * e - m * m, 0.0))
    pt = p / ch
    return pt * math.cos(phi), pt * math.sin(phi), pt * 0.5 * (ex - 1.0 / ex), e


@_jit
def _id_bits(st, p_loose, p_medium, p_tight):
    u = _u01(st)
    if u < p_tight:
        return 7
    if u < p_medium:
        return 3
    if u < p_loose:
        return 1
    return 0


@_jit
def _emit_grouped(Lk, cnt, kind, obj_jet, n_obj, nj, start):
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


@_jit
def _build_jets(S, n_seeds, T, C, F, cnt, J, acc, topo, Lk, kind_const, kind_ghost, n_pu_tracks,
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
    rho = rho_sum / max(2.0 * RHO_ETA_MAX * _TWO_PI - n_roots * JET_AREA, 1.0)
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
    _emit_grouped(Lk, cnt, kind_const, obj_root, n_obj, nj, start)
    for t in range(n_trk):
        r = int(T[t, TK_JET])
        trk_jet[t] = jet_of[r] if r >= 0 else -1
    _emit_grouped(Lk, cnt, kind_ghost, trk_jet, n_trk, nj, start)
    return nj


@_jit
def _link_particle(Lk, cnt, P, i, obj, k_clu, k_trk, k_pfo, with_track, with_cpfo):
    if k_clu >= 0:
        for c in (P_CLU, P_CLU2):
            if P[i, c] >= 0:
                _add_link(Lk, cnt, k_clu, obj, int(P[i, c]))
    if with_track and P[i, P_TRK] >= 0:
        _add_link(Lk, cnt, k_trk, obj, int(P[i, P_TRK]))
    if k_pfo >= 0:
        if with_cpfo and P[i, P_CPFO] >= 0:
            _add_link(Lk, cnt, k_pfo, obj, int(P[i, P_CPFO]))
        for c in (P_NPFO, P_NPFO2):
            if P[i, c] >= 0:
                _add_link(Lk, cnt, k_pfo, obj, int(P[i, c]))


@_jit
def _particle_cluster_energy(P, C, i):
    e = 0.0
    for c in (P_CLU, P_CLU2):
        if P[i, c] >= 0:
            e += C[int(P[i, c]), X_E]
    return e


@_jit
def _is_isolated(S, n_seeds, s):
    """A seed is isolated when no other seed was merged with it or into its group."""
    r = _root(S, s)
    for k in range(n_seeds):
        if k != s and _root(S, k) == r:
            return False
    return True


@_jit
def _egamma_row(E, n, p4, q, ident, iso):
    for k in range(4):
        E[n, k] = p4[k]
    E[n, 4] = q
    E[n, 5] = ident
    E[n, 6] = 1.0 if iso else 0.0


@_jit
def _reco_objects(st, lrt, P, S, T, C, F, cnt, ELE, PHO, MUO, TAU, LELE, LMUO, nobj, Lk):
    """Electrons, photons, muons, taus (and LRT leptons) from truth + detector tables."""
    n_seeds = cnt[C_S]
    for k in range(6):
        nobj[k] = 0
    for i in range(cnt[C_P]):
        ptype = int(P[i, P_TYPE])
        pt, eta, phi, q = P[i, P_PT], P[i, P_ETA], P[i, P_PHI], P[i, P_Q]
        if ptype == T_ELE or ptype == T_LRT_ELE:
            if abs(eta) > ELE_ETA_MAX or pt < 4.5 * GeV or P[i, P_CLU] < 0 or _u01(st) > 0.95:
                continue
            e = _particle_cluster_energy(P, C, i)
            s = int(P[i, P_SEED])
            iso = _is_isolated(S, n_seeds, s)
            iso = (_u01(st) < 0.97) if iso else (_u01(st) < 0.1)
            tr = int(P[i, P_TRK])
            if tr >= 0:
                p4 = _p4_from_e_eta_phi(e, T[tr, TK_ETA], T[tr, TK_PHI], M_E)
            else:
                p4 = _p4_from_e_eta_phi(e, eta, phi, 0.0)
            if ptype == T_LRT_ELE:
                if tr >= 0:
                    n = nobj[4]
                    _egamma_row(LELE, n, p4, q, _id_bits(st, 0.9, 0.8, 0.65), iso)
                    _link_particle(Lk, cnt, P, i, n, L_LELE_CLU, L_LELE_TRK, L_LELE_PFO, True, False)
                    nobj[4] = n + 1
                continue
            if tr >= 0:
                n = nobj[0]
                _egamma_row(ELE, n, p4, q, _id_bits(st, 0.95, 0.88, 0.78), iso)
                _link_particle(Lk, cnt, P, i, n, L_ELE_CLU, L_ELE_TRK, L_ELE_PFO, True, True)
                nobj[0] = n + 1
                ambiguous = _u01(st) < 0.08
            else:
                ambiguous = True
            if ambiguous:
                n = nobj[1]
                _egamma_row(PHO, n, p4, 0.0, _id_bits(st, 0.5, 0.2, 0.05), iso)
                _link_particle(Lk, cnt, P, i, n, L_PHO_CLU, L_PHO_TRK, L_PHO_PFO, False, False)
                nobj[1] = n + 1
        elif ptype == T_MU or ptype == T_LRT_MU:
            if abs(eta) > MU_SPEC_ETA_MAX or pt < 3 * GeV or _u01(st) > 0.97:
                continue
            tr = int(P[i, P_TRK])
            lrt_mu = ptype == T_LRT_MU and tr >= 0
            if tr >= 0:
                mtype = 0
                if pt < 6 * GeV and _u01(st) < 0.3:
                    mtype = 2
                elif abs(eta) < 0.1 and _u01(st) < 0.5:
                    mtype = 3
                sigma = math.sqrt(0.02 ** 2 + (0.0002 * pt / GeV) ** 2)
            else:
                mtype = 1
                sigma = 0.08
            mpt = pt * max(1.0 + sigma * _normal(st), 0.1)
            p4 = _p4_ptetaphim(mpt, eta, phi, M_MU)
            ident = 1 if mtype == 3 else _id_bits(st, 0.99, 0.96, 0.9)
            if lrt_mu:
                M, n, kc, kp = LMUO, nobj[5], L_LMUO_CLU, L_LMUO_PFO
            else:
                M, n, kc, kp = MUO, nobj[2], L_MUO_CLU, L_MUO_PFO
            for k in range(4):
                M[n, k] = p4[k]
            M[n, 4] = q
            M[n, 5] = tr
            M[n, 6] = mtype
            M[n, 7] = ident
            _link_particle(Lk, cnt, P, i, n, kc, -1, kp, False, True)
            if lrt_mu:
                nobj[5] = n + 1
            else:
                nobj[2] = n + 1
    # fakes from jets and hadronic taus
    for s in range(n_seeds):
        kind = int(S[s, S_KIND])
        first, last = int(S[s, S_FIRST]), int(S[s, S_LAST])
        if kind == S_TAU or kind == S_TAU_FAKE:
            px, py, pz, e, charge = 0.0, 0.0, 0.0, 0.0, 0.0
            for i in range(first, last):
                for c in (P_CPFO, P_NPFO, P_NPFO2):
                    if P[i, c] >= 0:
                        f = int(P[i, c])
                        px += F[f, X_PX]
                        py += F[f, X_PY]
                        pz += F[f, X_PZ]
                        e += F[f, X_E]
                if P[i, P_TRK] >= 0:
                    charge += T[int(P[i, P_TRK]), TK_Q]
            if math.hypot(px, py) < 20 * GeV or abs(S[s, S_ETA]) > 2.5 or _u01(st) > 0.8:
                continue
            n = nobj[3]
            TAU[n, 0], TAU[n, 1], TAU[n, 2], TAU[n, 3] = px, py, pz, e
            TAU[n, 4] = max(min(charge, 3.0), -3.0)
            TAU[n, 5] = _id_bits(st, 0.8, 0.6, 0.45) if kind == S_TAU else _id_bits(st, 0.3, 0.1, 0.03)
            for i in range(first, last):
                if P[i, P_TRK] >= 0:
                    _add_link(Lk, cnt, L_TAU_TRK, n, int(P[i, P_TRK]))
            for i in range(first, last):
                for c in (P_CLU, P_CLU2):
                    if P[i, c] >= 0:
                        _add_link(Lk, cnt, L_TAU_CLU, n, int(P[i, c]))
            for i in range(first, last):
                for c in (P_CPFO, P_NPFO, P_NPFO2):
                    if P[i, c] >= 0:
                        _add_link(Lk, cnt, L_TAU_PFO, n, int(P[i, c]))
            nobj[3] = n + 1
        elif (kind == S_LIGHT or kind == S_B or kind == S_PUJET) and S[s, S_PT] > 20 * GeV:
            lead_ph, lead_ch = -1, -1
            for i in range(first, last):
                if P[i, P_TYPE] == T_PH and P[i, P_CLU] >= 0:
                    if lead_ph < 0 or P[i, P_PT] > P[lead_ph, P_PT]:
                        lead_ph = i
                elif P[i, P_TYPE] == T_CH and P[i, P_TRK] >= 0:
                    if lead_ch < 0 or P[i, P_PT] > P[lead_ch, P_PT]:
                        lead_ch = i
            if lead_ph < 0:
                continue
            u = _u01(st)
            cl = int(P[lead_ph, P_CLU])
            if u < 0.03 and lead_ch >= 0:
                tr = int(P[lead_ch, P_TRK])
                e = C[cl, X_E] + _particle_cluster_energy(P, C, lead_ch)
                p4 = _p4_from_e_eta_phi(e, T[tr, TK_ETA], T[tr, TK_PHI], M_E)
                n = nobj[0]
                _egamma_row(ELE, n, p4, T[tr, TK_Q], _id_bits(st, 0.5, 0.15, 0.03), _u01(st) < 0.05)
                _add_link(Lk, cnt, L_ELE_CLU, n, cl)
                if P[lead_ch, P_CLU] >= 0:
                    _add_link(Lk, cnt, L_ELE_CLU, n, int(P[lead_ch, P_CLU]))
                _add_link(Lk, cnt, L_ELE_TRK, n, tr)
                for c in (P_CPFO, P_NPFO):
                    if P[lead_ch, c] >= 0:
                        _add_link(Lk, cnt, L_ELE_PFO, n, int(P[lead_ch, c]))
                if P[lead_ph, P_NPFO] >= 0:
                    _add_link(Lk, cnt, L_ELE_PFO, n, int(P[lead_ph, P_NPFO]))
                nobj[0] = n + 1
            elif u < 0.07 and C[cl, CL_PT] > 5 * GeV:
                n = nobj[1]
                p4 = (C[cl, X_PX], C[cl, X_PY], C[cl, X_PZ], C[cl, X_E])
                _egamma_row(PHO, n, p4, 0.0, _id_bits(st, 0.4, 0.1, 0.02), _u01(st) < 0.1)
                _add_link(Lk, cnt, L_PHO_CLU, n, cl)
                if P[lead_ph, P_NPFO] >= 0:
                    _add_link(Lk, cnt, L_PHO_PFO, n, int(P[lead_ph, P_NPFO]))
                nobj[1] = n + 1


# ---------------------------------------------------------------------------------------------
# one event and the block loop

@_jit
def _room(buf, need):
    if need <= buf.shape[0]:
        return buf
    new = np.empty((max(2 * buf.shape[0], need), buf.shape[1]), buf.dtype)
    new[:buf.shape[0]] = buf
    return new


@_jit
def _append(dst, n_dst, src, n_src, ncols):
    dst = _room(dst, n_dst + n_src)
    for i in range(n_src):
        for k in range(ncols):
            dst[n_dst + i, k] = src[i, k]
    return dst


@_jit
def _append_columns(dst, n_dst, src, n_src):
    """Append rows of src (first dst.shape[0] columns) to the column-major block buffer dst."""
    ncols = dst.shape[0]
    if n_dst + n_src > dst.shape[1]:
        new = np.empty((ncols, max(2 * dst.shape[1], n_dst + n_src)), dst.dtype)
        new[:, :n_dst] = dst[:, :n_dst]
        dst = new
    for k in range(ncols):
        for i in range(n_src):
            dst[k, n_dst + i] = src[i, k]
    return dst


@_jit
def _leading_hs_seed(S, n_hs_seeds, eta_max, pt_min, roots_only):
    """The highest-pT hard-scatter quark/gluon seed with |eta| < eta_max and pT > pt_min, or -1."""
    best = -1
    for s in range(n_hs_seeds):
        kind = S[s, S_KIND]
        if kind != S_LIGHT and kind != S_B:
            continue
        if roots_only and S[s, S_ROOT] != s:
            continue
        if abs(S[s, S_ETA]) < eta_max and S[s, S_PT] > pt_min and (best < 0 or S[s, S_PT] > S[best, S_PT]):
            best = s
    return best


@_jit
def _generate_event(seed, event, process, mu, lrt, lib, scratch, cnt, V, J_PF, J_TP, acc, nobj,
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
        u = _u01(st)
        process = N_PROCESSES - 1
        for k in range(N_PROCESSES):
            if u < MIX_CUMULATIVE[k]:
                process = k
                break
    # hard scatter
    hs_z = BEAM_SIGMA_Z * _normal(st)
    V[0, 0] = BEAM_SIGMA_XY * _normal(st)
    V[0, 1] = BEAM_SIGMA_XY * _normal(st)
    V[0, 2] = hs_z + 0.02 * mm * _normal(st)
    V[0, 3] = 0.0
    V[0, 4] = 1.0
    cnt[C_V] = 1
    _hard_scatter(st, process, P, S, cnt, wbuf)
    n_hs = cnt[C_P]
    n_hs_seeds = cnt[C_S]
    # detector faults: every number drawn up front, so each fault is independent of the others
    st_f[0] = stream_state(seed, event, FAULT_STREAM)
    u_noisy, u_dead, u_mis = _u01(st_f), _u01(st_f), _u01(st_f)
    dead_deta = _uniform(st_f, -DEAD_CENTRE_JITTER, DEAD_CENTRE_JITTER)
    dead_dphi = _uniform(st_f, -DEAD_CENTRE_JITTER, DEAD_CENTRE_JITTER)
    noisy_pt = NOISY_PT_MIN + _expo(st_f, NOISY_PT_MEAN)
    noisy_eta = _uniform(st_f, -NOISY_ETA_MAX, NOISY_ETA_MAX)
    noisy_phi = _uniform(st_f, -math.pi, math.pi)
    mis_scale = _uniform(st_f, MISMEASURED_SCALE[0], MISMEASURED_SCALE[1])
    fault_bits = 0
    dead[2] = 0.0
    if u_dead < faults[1]:
        lead = _leading_hs_seed(S, n_hs_seeds, DEAD_SEED_ETA_MAX, 0.0, False)
        if lead >= 0:
            dead[0] = S[lead, S_ETA] + dead_deta
            dead[1] = _wrap(S[lead, S_PHI] + dead_dphi)
            dead[2] = 1.0
            fault_bits |= FAULT_DEAD
    _detect_particles(st, P, 0, n_hs, hs_z, lrt, dead, T, C, F, cnt, out)
    # pileup
    n_pu = _poisson(st_pu, mu, (V.shape[0] - 1))
    n_pu_tracks = 0
    lib_n = lib[0].shape[0] - 1
    lib_assoc = lib[5]
    for j in range(n_pu):
        entry = min(int(_u01(st_pu) * lib_n), lib_n - 1)
        z = BEAM_SIGMA_Z * _gauss(st_pu)
        dphi = _uniform(st_pu, -math.pi, math.pi)
        flip = _u01(st_pu) < 0.5
        new_index = -1.0
        if lib_assoc[entry] >= 2:
            v = cnt[C_V]
            V[v, 0] = BEAM_SIGMA_XY * _gauss(st_pu)
            V[v, 1] = BEAM_SIGMA_XY * _gauss(st_pu)
            V[v, 2] = z + 0.05 * mm * _gauss(st_pu)
            V[v, 3] = 0.0
            V[v, 4] = 0.0
            cnt[C_V] = v + 1
            n_pu_tracks += lib_assoc[entry]
            new_index = float(v)
        _overlay_vertex(lib, entry, z, new_index, math.cos(dphi), math.sin(dphi), dphi, flip,
                        T, C, F, S, cnt, dead, remap)
    if u_noisy < faults[0] and cnt[C_S] < S.shape[0]:
        # a noisy hadronic-calorimeter cell: one huge cluster (and neutral PFO), no tracks
        ex = math.exp(noisy_eta)
        shf, chf = 0.5 * (ex - 1.0 / ex), 0.5 * (ex + 1.0 / ex)
        s = _add_seed(S, cnt, noisy_pt, noisy_eta, noisy_phi, S_LIGHT, 0)
        S[s, S_FIRST] = cnt[C_P]
        S[s, S_LAST] = cnt[C_P]
        c = _add_cluster(C, cnt, noisy_pt * chf, noisy_eta, noisy_phi, math.cos(noisy_phi),
                         math.sin(noisy_phi), shf, chf, NOISY_EMF, s)
        _add_neutral_pfo(F, C, cnt, c, C[c, X_E])
        fault_bits |= FAULT_NOISY
    # merge seeds closer than the jet radius (harder seed wins), then assign constituents
    n_seeds = cnt[C_S]
    for s in range(n_seeds):
        best = -1
        for k in range(n_seeds):
            if k == s or S[k, S_PT] < S[s, S_PT] or (S[k, S_PT] == S[s, S_PT] and k > s):
                continue
            if _dr2(S[s, S_ETA], S[s, S_PHI], S[k, S_ETA], S[k, S_PHI]) < JET_R * JET_R:
                if best < 0 or S[k, S_PT] > S[best, S_PT]:
                    best = k
        S[s, S_ROOT] = best if best >= 0 else s
    for s in range(n_seeds):
        S[s, S_ROOT] = _root(S, s)
    n_roots = 0
    for s in range(n_seeds):
        if S[s, S_ROOT] == s:
            R[n_roots, 0] = S[s, S_ETA]
            R[n_roots, 1] = S[s, S_PHI]
            R[n_roots, 2] = s
            n_roots += 1
    for c in range(cnt[C_C]):
        sd = int(C[c, CL_SEED])
        C[c, CL_JET] = S[sd, S_ROOT] if sd >= 0 else _nearest_root(R, n_roots, C[c, CL_ETA], C[c, CL_PHI])
    for t in range(cnt[C_T]):
        if T[t, TK_FLAG] == 2:
            continue   # LRT tracks are never ghost-associated
        sd = int(T[t, TK_SEED])
        T[t, TK_JET] = S[sd, S_ROOT] if sd >= 0 else _nearest_root(R, n_roots, T[t, TK_ETA], T[t, TK_PHI])
    mis_seed = -1
    if u_mis < faults[2]:
        mis_seed = _leading_hs_seed(S, n_hs_seeds, MISMEASURED_ETA_MAX, MISMEASURED_PT_MIN, True)
        if mis_seed >= 0:
            fault_bits |= FAULT_MISMEASURED
    nj_pf = _build_jets(S, n_seeds, T, C, F, cnt, J_PF, acc, False, Lk, L_JPF_CONST, L_JPF_GHOST, n_pu_tracks,
                        mis_seed, mis_scale, tmp)
    nj_tp = _build_jets(S, n_seeds, T, C, F, cnt, J_TP, acc, True, Lk, L_JTP_CONST, L_JTP_GHOST, n_pu_tracks,
                        mis_seed, mis_scale, tmp)
    _reco_objects(st_obj, lrt, P, S, T, C, F, cnt, ELE, PHO, MUO, TAU, LELE, LMUO, nobj, Lk)
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


OUT_COLUMNS = (NT_OUT, NC_OUT, NF_OUT, NV_OUT, NJ_OUT, NJ_OUT, NEG_OUT, NEG_OUT, NMU_OUT, NTAU_OUT,
               NEG_OUT, NMU_OUT)


def allocate_outputs(n, mu):
    """Initial block buffers for n events at pileup mu, all views of one numpy allocation.

    One allocation per block lets the allocator hand the same memory back block after block
    (instead of fresh, page-faulting memory for each of 13 buffers).
    """
    guess, per_mu = max(n, 1), int(mu) + 1
    rows = (guess * (64 + 5 * per_mu), guess * (96 + 10 * per_mu), guess * (96 + 6 * per_mu),
            guess * (2 + per_mu), guess * 8, guess * 8, guess * 2, guess, guess * 2, guess,
            4 + guess // 8, 4 + guess // 8)
    n_links = guess * 256
    sizes = [c * r for c, r in zip(OUT_COLUMNS, rows)]
    arena = np.empty(sum(sizes) + 3 * n_links, np.float32)
    bufs, start = [], 0
    for c, r, size in zip(OUT_COLUMNS, rows, sizes):
        bufs.append(arena[start:start + size].reshape(c, r))
        start += size
    return tuple(bufs), arena[start:].view(np.int32).reshape(n_links, 3)


@_jit
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


@_jit
def _max_entry_clusters(lib):
    off = lib[0]
    most = 0
    for v in range(off.shape[0] - 1):
        most = max(most, off[v + 1, 1] - off[v, 1])
    return most


@_jit
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


@_jit
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


@_jit
def _generate_into(seed, first, n, process, mu, lrt, lib, out_bufs, links, faults, work):
    """The block loop of :func:`generate_block`; ``lib`` and ``work`` (the scratch tables) are
    alive for the whole call, so the loop uses reference-free views of them."""
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
        nj_pf, nj_tp = _generate_event(seed, event, process, mu, lrt, lib, scratch, cnt, V, J_PF, J_TP,
                                       acc, nobj, ELE, PHO, MUO, TAU, LELE, LMUO, evrec, out, wbuf,
                                       faults, dead, streams, tmp)
        o = offsets[e]
        counts = (cnt[C_T], cnt[C_C], cnt[C_F], cnt[C_V], nj_pf, nj_tp,
                  nobj[0], nobj[1], nobj[2], nobj[3], nobj[4], nobj[5])
        bufs_trk = _append_columns(bufs_trk, o[O_TRK], T, counts[O_TRK])
        bufs_clu = _append_columns(bufs_clu, o[O_CLU], C, counts[O_CLU])
        bufs_pfo = _append_columns(bufs_pfo, o[O_PFO], F, counts[O_PFO])
        bufs_vtx = _append_columns(bufs_vtx, o[O_VTX], V, counts[O_VTX])
        bufs_jpf = _append_columns(bufs_jpf, o[O_JPF], J_PF, counts[O_JPF])
        bufs_jtp = _append_columns(bufs_jtp, o[O_JTP], J_TP, counts[O_JTP])
        bufs_ele = _append_columns(bufs_ele, o[O_ELE], ELE, counts[O_ELE])
        bufs_pho = _append_columns(bufs_pho, o[O_PHO], PHO, counts[O_PHO])
        bufs_muo = _append_columns(bufs_muo, o[O_MUO], MUO, counts[O_MUO])
        bufs_tau = _append_columns(bufs_tau, o[O_TAU], TAU, counts[O_TAU])
        bufs_lele = _append_columns(bufs_lele, o[O_LELE], LELE, counts[O_LELE])
        bufs_lmuo = _append_columns(bufs_lmuo, o[O_LMUO], LMUO, counts[O_LMUO])
        for k in range(N_OUT):
            offsets[e + 1, k] = o[k] + counts[k]
        nl = cnt[C_L]
        links = _room(links, n_links + nl)
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


@_jit
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
