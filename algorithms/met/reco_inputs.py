"""What the MET reconstruction algorithms share (private): the columns they gather for their
kernels, the checks behind their error messages and the resolved-configuration mixin."""

from __future__ import annotations

from operator import itemgetter
from typing import Any, Callable

import numpy as np

from metflow.edm.containers import Container, ListColumn
from metflow.edm.errors import SchemaError

from .associations import JetAssociations

DEFAULT_JET_COLLECTION = "AntiKt4EMPFlow"


# ---------------------------------------------------------------------------------------------
# helpers shared by the algorithms


def _event_number(ctx: Any, ev: int) -> int:
    return ev + (ctx.first if ctx is not None else 0)


def _column(container: Container, name: str, key: str) -> Any:
    """Column ``name`` of ``container`` (a Container holds every column in its schema's dtype),
    or a SchemaError naming it."""
    col = container.columns.get(name)
    if col is None:
        raise SchemaError(f"column {name!r} is required by the MET associators", key=key, column=name)
    return col


def _columns(*names: str) -> Callable[[dict], tuple]:
    """A getter of several columns at once (for :func:`_gather`)."""
    return itemgetter(*names)


def _gather(container: Container, columns: Callable[[dict], tuple], key: str) -> tuple:
    """The columns ``columns`` picks from ``container``, or a SchemaError naming the missing one."""
    try:
        return columns(container.columns)
    except KeyError as exc:
        name = exc.args[0]
        raise SchemaError(f"column {name!r} is required by the MET associators", key=key, column=name) from None


def _list_column(container: Container, name: str, key: str) -> tuple[np.ndarray, np.ndarray]:
    """(offsets, values) of a link column: a list column, or a single link per object (int32,
    -1 = none) as lists of at most one entry."""
    col = _column(container, name, key)
    if isinstance(col, ListColumn):
        return col.offsets, col.values
    links = np.asarray(col, dtype=np.int32)
    valid = links >= 0
    offsets = np.zeros(links.shape[0] + 1, dtype=np.int64)
    np.cumsum(valid, out=offsets[1:])
    return offsets, links[valid]


def _links(container: Container, name: str, key: str) -> tuple[np.ndarray, np.ndarray, bool]:
    """(offsets, values, single) of a link column: a list column, or with ``single`` one link per
    object (-1 = none) in ``values`` (the kernels expand it)."""
    col = _column(container, name, key)
    if isinstance(col, ListColumn):
        return col.offsets, col.values, False
    return _NO_OFFSETS, np.asarray(col, dtype=np.int32), True


#: placeholders for inputs a kernel does not read in the current mode
_NO_LINKS = np.zeros(0, dtype=np.int32)
_NO_OFFSETS = np.zeros(1, dtype=np.int64)
_NO_LINKS.flags.writeable = False
_NO_OFFSETS.flags.writeable = False


def _signal_track_links(signals: Container, pflow: bool, key: str) -> np.ndarray:
    """The PFOs' track links (pflow), else an empty placeholder: the kernels read the links only in
    PFlow mode."""
    if not pflow:
        return _NO_LINKS
    track = signals.columns.get("track")
    if track is None:
        raise SchemaError("pflow=True needs PFO signals with a 'track' column; is this a "
                          "TopoCluster container? (set pflow=False for cluster jets)", key=key, column="track")
    return track


def _check_same_block(owner: str, what: dict[str, int]) -> None:
    counts = set(what.values())
    if len(counts) > 1:
        detail = ", ".join(f"{k}: {v}" for k, v in what.items())
        raise SchemaError(f"{owner}: inputs cover different numbers of events ({detail})")


def _check_mode(owner: str, jet_assoc: JetAssociations, pflow: bool) -> None:
    if not isinstance(jet_assoc, JetAssociations):
        raise TypeError(f"{owner}: jet_assoc must be a JetAssociations, got {type(jet_assoc).__name__}")
    if jet_assoc.pflow != pflow:
        raise SchemaError(f"{owner}: pflow={pflow} but the jet associations of "
                          f"{jet_assoc.jet_collection!r} were built with pflow={jet_assoc.pflow}")


def _check_jet_assoc(owner: str, jet_assoc: JetAssociations, pflow: bool, signals: Any,
                     tracks: Any, signals_key: str, tracks_key: str) -> None:
    _check_mode(owner, jet_assoc, pflow)
    if jet_assoc.signal_assoc.shape[0] != len(signals):
        raise SchemaError(f"{owner}: {len(signals)} signals but the jet associations were built "
                          f"from {jet_assoc.signal_assoc.shape[0]} ({jet_assoc.signals_key!r})",
                          key=signals_key)
    if jet_assoc.track_assoc.shape[0] != len(tracks):
        raise SchemaError(f"{owner}: {len(tracks)} tracks but the jet associations were built "
                          f"from {jet_assoc.track_assoc.shape[0]}", key=tracks_key)


class _ResolvedConfig:
    """Mixin: the per-configuration constants of compute() (keys, modes, cuts) as a named record,
    resolved once in initialize(); compute() resolves them when called without initialize()."""

    def initialize(self) -> None:
        super().initialize()
        resolved = self._resolve()
        try:
            self._resolved = resolved
        except AttributeError:   # initialized again after the framework locked it: keep the first
            pass

    def override(self, attr: str, value: Any) -> None:
        super().override(attr, value)
        self.__dict__.pop("_resolved", None)

    def _config(self) -> Any:
        return self.__dict__.get("_resolved") or self._resolve()


_TRACK_COLUMNS = _columns("px", "py", "pz", "e", "z0", "d0", "vertex", "passes_quality")
_VERTEX_COLUMNS = _columns("z", "is_hard_scatter")
_PXPY = _columns("px", "py")
_PXPYE = _columns("px", "py", "e")
_P4 = _columns("px", "py", "pz", "e")
