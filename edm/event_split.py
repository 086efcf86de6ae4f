"""One-event slices of a frozen container (batch size 1): the container is cut into its events
once (:class:`EventSplit`), and each one-event slice (:class:`EventContainer`) takes a view of
a column only when the column is first read. An algorithm that reads 2 of a container's 14
columns takes 2 views per event, not 14."""

from __future__ import annotations

import copyreg
from typing import Any

import numpy as np

from metflow.edm.container import Container
from metflow.edm.list_column import ListColumn


class EventSplit:
    """A frozen container cut into its events once: each event's offsets ``[0, n]`` and each
    list column's rebased offsets are views of arrays computed here in one pass, so a column of
    one event is one or two views (no per-slice arithmetic or freezing). The views equal what
    the general slice (:meth:`Container._slice`) computes."""

    def __init__(self, container: Container):
        offsets = container.offsets
        counts = np.diff(offsets)
        self.n_events = counts.shape[0]
        self.bounds = offsets.tolist()
        event_offsets = np.zeros((self.n_events, 2), np.int64)
        event_offsets[:, 1] = counts
        event_offsets.setflags(write=False)
        self.event_offsets = event_offsets
        # list column: event e's rebased offsets sit at [lo + e, hi + e + 1) of one array
        event_of_entry = np.repeat(np.arange(self.n_events), counts + 1)
        entry_object = np.arange(event_of_entry.shape[0]) - event_of_entry
        # (name, array) of a plain column; (name, None, rebased, first value per event, values)
        # of a list column, in column order
        self.columns: list[tuple] = []
        for name, col in container.columns.items():
            if col.__class__ is np.ndarray:
                self.columns.append((name, col))
            else:
                first_value = col.offsets[offsets]
                rebased = col.offsets[entry_object] - first_value[event_of_entry]
                rebased.setflags(write=False)
                self.columns.append((name, None, rebased, first_value.tolist(), col.values))
        self.index = {entry[0]: entry for entry in self.columns}

    def cut(self, entry: tuple, i: int) -> Any:
        """Column ``entry`` (of :attr:`columns`) of event ``i``: a view, or a ListColumn of views."""
        lo, hi = self.bounds[i], self.bounds[i + 1]
        if len(entry) == 2:
            return entry[1][lo:hi]
        _, _, rebased, first_value, values = entry
        sub = ListColumn.__new__(ListColumn)
        sub.offsets = rebased[lo + i:hi + i + 1]
        sub.values = values[first_value[i]:first_value[i + 1]]
        return sub

    def event(self, container: Container, i: int) -> "EventContainer":
        """Event ``i`` of ``container`` (the container this split was made from)."""
        out = EventContainer.__new__(EventContainer)
        out.schema = container.schema
        out.key = container.key
        out.offsets = self.event_offsets[i]
        out.original = container.original
        out._event_of = None
        out._frozen = True
        out._event_split = self
        out._event = i
        out._cut = {}
        return out


class EventContainer(Container):
    """One event of a frozen container, its columns cut on first use: :meth:`column` cuts one,
    and the first use of ``columns`` (the mapping of all) cuts the rest. Equal in every
    column, offset and flag to the general one-event slice; pickled and copied as a plain
    :class:`Container`."""

    def __getattr__(self, name: str) -> Any:
        # only called for attributes not set: `columns` until its first use
        if name != "columns":
            raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")
        split, i, cut = self._event_split, self._event, self._cut
        columns = {}
        for entry in split.columns:
            col = cut.get(entry[0])
            columns[entry[0]] = split.cut(entry, i) if col is None else col
        self.columns = self._cut = columns
        return columns

    def column(self, name: str, default: Any = None) -> Any:
        col = self._cut.get(name)
        if col is None:
            entry = self._event_split.index.get(name)
            if entry is None:
                return default
            col = self._cut.setdefault(name, self._event_split.cut(entry, self._event))
        return col

    def __reduce_ex__(self, protocol: Any) -> Any:
        state = {name: value for name, value in self.__dict__.items()
                 if name not in ("_event_split", "_event", "_cut")}
        state["columns"] = self.columns
        return copyreg._reconstructor, (Container, object, None), state
