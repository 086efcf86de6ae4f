"""Detector-fault injection of the synthetic generator (noisy cell, dead region, mismeasured jet).

All faults are off by default; each has a per-event rate. Their random numbers come from their
own stream (FAULT_STREAM) and are all drawn up front (``draw_faults``), so turning a fault on
leaves every other part of an event unchanged and each fault is independent of the others. The
bits are those of ``TruthMET.injected_faults``. The dead box itself, (eta0, phi0, active), is
applied by the detector response (``_synthetic_detector.in_dead_box``) and the pileup overlay.
"""

import math
from collections import namedtuple

from metflow.edm.units import GeV
from metflow.framework.jit import kernel
from ._synthetic_layout import C_P, S_B, S_ETA, S_FIRST, S_KIND, S_LAST, S_LIGHT, S_PHI, S_PT, S_ROOT, X_E
from ._synthetic_random import expo, stream_state, u01, uniform
from ._synthetic_kinematics import wrap
from ._synthetic_truth import add_seed
from ._synthetic_detector import add_cluster, add_neutral_pfo

FAULT_NOISY, FAULT_DEAD, FAULT_MISMEASURED = 1, 2, 4
FAULT_STREAM = 4
NOISY_ETA_MAX = 4.4                              # a noisy hadronic-calorimeter cell anywhere
NOISY_PT_MIN, NOISY_PT_MEAN = 50 * GeV, 100 * GeV  # its fake transverse energy: min + exponential
NOISY_EMF = 0.0                                  # all its energy in hadronic layers
DEAD_SEED_ETA_MAX = 1.7                          # the box sits on a central jet (Tile-like module)
DEAD_CENTRE_JITTER = 0.1                         # box centre offset from the jet axis (uniform)
MISMEASURED_ETA_MAX, MISMEASURED_PT_MIN = 2.4, 40 * GeV   # which hard-scatter jet can be hit
MISMEASURED_SCALE = (0.1, 0.4)                   # its calibrated four-momentum x uniform(lo, hi)

FaultDraws = namedtuple("FaultDraws", ["u_noisy", "u_dead", "u_mismeasured", "dead_deta", "dead_dphi",
                                       "noisy_pt", "noisy_eta", "noisy_phi", "mismeasured_scale"])
"""One event's fault random numbers: the three uniforms compared with the rates, then each
fault's parameters."""


@kernel
def draw_faults(seed, event, st_f):
    """Every random number of the event's faults, from its fault stream ``st_f``."""
    st_f[0] = stream_state(seed, event, FAULT_STREAM)
    u_noisy, u_dead, u_mis = u01(st_f), u01(st_f), u01(st_f)
    dead_deta = uniform(st_f, -DEAD_CENTRE_JITTER, DEAD_CENTRE_JITTER)
    dead_dphi = uniform(st_f, -DEAD_CENTRE_JITTER, DEAD_CENTRE_JITTER)
    noisy_pt = NOISY_PT_MIN + expo(st_f, NOISY_PT_MEAN)
    noisy_eta = uniform(st_f, -NOISY_ETA_MAX, NOISY_ETA_MAX)
    noisy_phi = uniform(st_f, -math.pi, math.pi)
    mis_scale = uniform(st_f, MISMEASURED_SCALE[0], MISMEASURED_SCALE[1])
    return FaultDraws(u_noisy, u_dead, u_mis, dead_deta, dead_dphi, noisy_pt, noisy_eta, noisy_phi, mis_scale)


@kernel
def leading_hs_seed(S, n_hs_seeds, eta_max, pt_min, roots_only):
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


@kernel
def place_dead_box(dead, S, n_hs_seeds, draws):
    """Activate the dead box ``dead`` = (eta0, phi0, active) on the leading central hard-scatter
    seed (before the detector response); False, and the box stays off, when there is none."""
    lead = leading_hs_seed(S, n_hs_seeds, DEAD_SEED_ETA_MAX, 0.0, False)
    if lead < 0:
        return False
    dead[0] = S[lead, S_ETA] + draws.dead_deta
    dead[1] = wrap(S[lead, S_PHI] + draws.dead_dphi)
    dead[2] = 1.0
    return True


@kernel
def add_noisy_cell(S, C, F, cnt, draws):
    """A noisy hadronic-calorimeter cell: one huge cluster (and its neutral PFO), no tracks, with
    a seed of its own so that it forms a jet."""
    pt, eta, phi = draws.noisy_pt, draws.noisy_eta, draws.noisy_phi
    ex = math.exp(eta)
    shf, chf = 0.5 * (ex - 1.0 / ex), 0.5 * (ex + 1.0 / ex)
    s = add_seed(S, cnt, pt, eta, phi, S_LIGHT, 0)
    S[s, S_FIRST] = cnt[C_P]
    S[s, S_LAST] = cnt[C_P]
    c = add_cluster(C, cnt, pt * chf, eta, phi, math.cos(phi), math.sin(phi), shf, chf, NOISY_EMF, s)
    add_neutral_pfo(F, C, cnt, c, C[c, X_E])


@kernel
def mismeasured_seed(S, n_hs_seeds):
    """The seed (a root, after merging) of the jet to mismeasure, or -1."""
    return leading_hs_seed(S, n_hs_seeds, MISMEASURED_ETA_MAX, MISMEASURED_PT_MIN, True)
