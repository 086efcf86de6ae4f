"""awkward -> numpy helpers of the PHYSLITE readers: peel list levels into offsets, flat values."""

from __future__ import annotations

import numpy as np

from ._deps import uproot_and_awkward


def _offsets(counts) -> np.ndarray:
    counts = np.asarray(counts, dtype=np.int64)
    out = np.zeros(counts.shape[0] + 1, dtype=np.int64)
    np.cumsum(counts, out=out[1:])
    return out


def _split(array, depth: int):
    """Peel ``depth`` list levels: returns ([offsets level 1, ..., level depth], flat content)."""
    _, ak = uproot_and_awkward()
    offsets = []
    for _ in range(depth):
        offsets.append(_offsets(ak.num(array, axis=1)))
        array = ak.flatten(array, axis=1)
    return offsets, array


def _np(array, dtype) -> np.ndarray:
    _, ak = uproot_and_awkward()
    return np.asarray(ak.to_numpy(array), dtype=dtype)
