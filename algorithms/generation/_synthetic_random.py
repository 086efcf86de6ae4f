"""Counter-based random numbers of the synthetic generator: splitmix64 streams and distributions.

Every stream of an event starts from ``stream_state(seed, event, stream)``, a hash, so event i
depends only on (seed, i), never on the block it is read in. A stream's state is one uint64
in a length-1 array ``st``, advanced in place by each draw.
"""

import math

import numpy as np

from metflow.framework.jit import kernel

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)
_TO_UNIT = 1.0 / 9007199254740992.0


@kernel
def _mix64(z):
    z = (z ^ (z >> np.uint64(30))) * _MIX1
    z = (z ^ (z >> np.uint64(27))) * _MIX2
    return z ^ (z >> np.uint64(31))


@kernel
def stream_state(seed, event, stream):
    """Initial state of one stream of one event: a hash of (seed, event, stream)."""
    h = _mix64(np.uint64(seed) ^ _GOLDEN)
    h = _mix64(h ^ np.uint64(event))
    return _mix64(h + np.uint64(stream) * _GOLDEN)


@kernel
def u01(st):
    """Uniform in the open interval (0, 1)."""
    st[0] += _GOLDEN
    return (np.float64(_mix64(st[0]) >> np.uint64(11)) + 0.5) * _TO_UNIT


@kernel
def uniform(st, lo, hi):
    return lo + (hi - lo) * u01(st)


@kernel
def normal(st):
    return math.sqrt(-2.0 * math.log(u01(st))) * math.cos(math.tau * u01(st))


@kernel
def gauss(st):
    """Cheap unit Gaussian for detector smearing: Irwin-Hall sum of four uniforms (|x| < 3.5)."""
    return (u01(st) + u01(st) + u01(st) + u01(st) - 2.0) * 1.7320508075688772


@kernel
def expo(st, mean):
    return -mean * math.log(u01(st))


@kernel
def poisson(st, mean, cap):
    """Poisson draw (Knuth below 30, rounded normal above), truncated at cap."""
    if mean <= 0.0:
        return 0
    if mean < 30.0:
        limit = math.exp(-mean)
        k = 0
        prod = u01(st)
        while prod > limit and k < cap:
            k += 1
            prod *= u01(st)
        return k
    k = int(math.floor(mean + math.sqrt(mean) * normal(st) + 0.5))
    return min(max(k, 0), cap)


@kernel
def breit_wigner(st, m0, width, lo, hi):
    """Non-relativistic Breit-Wigner truncated to [lo, hi] by inverse transform."""
    a = math.atan(2.0 * (lo - m0) / width)
    b = math.atan(2.0 * (hi - m0) / width)
    return m0 + 0.5 * width * math.tan(a + (b - a) * u01(st))
