"""awkward -> numpy helpers of the PHYSLITE readers: peel list levels into offsets, flat values."""

from __future__ import annotations

import numpy as np

from ._deps import uproot_and_awkward


def _offsets(counts) -> np.ndarray:
    counts = np.asarray(counts, dtype=np.int64)
    out = np.zeros(counts.shape[0] + 1, dtype=np.int64)
    np.cumsum(counts, out=out[1:])
    return out


def _peel(layout):
    """(offsets from 0, content) of one list level of an awkward layout, or None when the level
    is not a plain list (option, indexed, union: those go through ``ak.num``/``ak.flatten``)."""
    _, ak = uproot_and_awkward()
    if isinstance(layout, ak.contents.ListOffsetArray):
        offsets = np.asarray(layout.offsets, dtype=np.int64)
        begin, end = int(offsets[0]), int(offsets[-1])
        return offsets - begin, layout.content[begin:end]
    if isinstance(layout, ak.contents.ListArray) and layout.length > 0:
        starts = np.asarray(layout.starts, dtype=np.int64)
        stops = np.asarray(layout.stops, dtype=np.int64)
        if np.array_equal(starts[1:], stops[:-1]):   # contiguous lists: offsets in disguise
            begin, end = int(starts[0]), int(stops[-1])
            return np.concatenate([starts[:1], stops]) - begin, layout.content[begin:end]
    if isinstance(layout, ak.contents.RegularArray):
        counts = np.full(layout.length, layout.size, dtype=np.int64)
        return _offsets(counts), layout.content[: layout.length * layout.size]
    return None


def _split(array, depth: int):
    """Peel ``depth`` list levels: returns ([offsets level 1, ..., level depth], flat content).

    Plain list levels are read from the layout's offsets (no copy of the content); anything else
    falls back to ``ak.num`` + ``ak.flatten``, which give the same result, slower."""
    _, ak = uproot_and_awkward()
    offsets = []
    layout = ak.to_layout(array)
    for _ in range(depth):
        peeled = _peel(layout)
        if peeled is None:
            array = ak.Array(layout)
            offsets.append(_offsets(ak.num(array, axis=1)))
            layout = ak.to_layout(ak.flatten(array, axis=1))
        else:
            level, layout = peeled
            offsets.append(level)
    return offsets, ak.Array(layout)


def _np(array, dtype) -> np.ndarray:
    _, ak = uproot_and_awkward()
    return np.asarray(ak.to_numpy(array), dtype=dtype)
