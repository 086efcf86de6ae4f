"""Awkward arrays built directly on metflow's numpy columns (no Arrow round trip, no copies
beyond making a MET term's column contiguous)."""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np

from metflow.algorithms.physlite._deps import uproot_and_awkward
from metflow.edm.met import MissingETContainer

# Fields of every MET term in the records rebuild_met returns.
TERM_FIELDS = ("mpx", "mpy", "sumet", "met", "phi")


def _record_layout(columns: Mapping[str, Any]):
    _, ak = uproot_and_awkward()
    contents = [c if isinstance(c, ak.contents.Content)
                else ak.contents.NumpyArray(np.ascontiguousarray(c)) for c in columns.values()]
    return ak.contents.RecordArray(contents, list(columns))


def record_array(columns: Mapping[str, Any]):
    """One record per event from equal-length 1-d columns."""
    _, ak = uproot_and_awkward()
    return ak.Array(_record_layout(columns))


def met_record(met: MissingETContainer, extra: Mapping[str, Mapping[str, Any]] | None = None,
               identity: Mapping[str, np.ndarray] | None = None):
    """Per event, one field per MET term (in the container's order) holding {mpx, mpy, sumet,
    met, phi}: float32 as stored, met = hypot(mpx, mpy) and phi = arctan2(mpy, mpx) as
    ``METTermView`` computes them. ``extra``: more sub-records (e.g. the significance);
    ``identity``: per-event columns put first (runNumber, eventNumber, ...)."""
    _, ak = uproot_and_awkward()
    terms: dict[str, Any] = {name: ak.contents.NumpyArray(np.ascontiguousarray(column))
                             for name, column in (identity or {}).items()}
    for term in met:
        mpx, mpy = np.ascontiguousarray(term.mpx), np.ascontiguousarray(term.mpy)
        terms[term.name] = _record_layout({"mpx": mpx, "mpy": mpy,
                                           "sumet": np.ascontiguousarray(term.sumet),
                                           "met": np.hypot(mpx, mpy),
                                           "phi": np.arctan2(mpy, mpx)})
    for name, columns in (extra or {}).items():
        terms[name] = _record_layout(columns)
    if not terms:   # a record array of no fields needs its length
        return ak.Array(ak.contents.RecordArray([], [], length=met.n_events))
    return ak.Array(ak.contents.RecordArray(list(terms.values()), list(terms)))


__all__ = ["TERM_FIELDS", "record_array", "met_record"]
