"""Detector-fault injection of the synthetic generator (noisy cell, dead region, mismeasured jet).

All faults are off by default. Their random numbers come from their own stream (FAULT_STREAM),
drawn up front, so turning a fault on leaves every other part of an event unchanged. The bits
are those of ``TruthMET.injected_faults``.
"""

from metflow.edm.units import GeV
from ._jit import kernel
from ._synthetic_layout import S_B, S_ETA, S_KIND, S_LIGHT, S_PT, S_ROOT

# detector faults (all off by default; drawn from their own stream, FAULT_STREAM, so turning
# them on leaves every other part of an event unchanged). Bits of TruthMET.injected_faults:
FAULT_NOISY, FAULT_DEAD, FAULT_MISMEASURED = 1, 2, 4
FAULT_STREAM = 4
NOISY_ETA_MAX = 4.4                              # a noisy hadronic-calorimeter cell anywhere
NOISY_PT_MIN, NOISY_PT_MEAN = 50 * GeV, 100 * GeV  # its fake transverse energy: min + exponential
NOISY_EMF = 0.0                                  # all its energy in hadronic layers

DEAD_SEED_ETA_MAX = 1.7                          # the box sits on a central jet (Tile-like module)
DEAD_CENTRE_JITTER = 0.1                         # box centre offset from the jet axis (uniform)
MISMEASURED_ETA_MAX, MISMEASURED_PT_MIN = 2.4, 40 * GeV   # which hard-scatter jet can be hit
MISMEASURED_SCALE = (0.1, 0.4)                   # its calibrated four-momentum x uniform(lo, hi)


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
