"""Container: the objects of a block of events in flat columns cut by per-event offsets
(see :mod:`metflow.edm.containers` for the model), and the factories of containers."""

from __future__ import annotations

import dataclasses
from typing import Any, Iterator, Mapping, Sequence

import numpy as np

from metflow.edm.arrow_columns import _column_from_arrow, _extra_from_arrow, _require_awkward
from metflow.edm.errors import NonFiniteError, SchemaError
from metflow.edm.event_view import EventView
from metflow.edm.list_column import ListColumn, _as_column, _as_offsets, _first_nonfinite, _list_values
from metflow.edm.schema import LINK, LINKS, ORIGINAL_INDEX, Schema, _original_index


# ---------------------------------------------------------------------------------------------
# Container

class Container:
    """The objects of one collection for a block of events, columnar.

    ``Container(schema, offsets, columns, key=...)``: ``offsets`` int64[n_events+1]; ``columns``
    maps names to arrays of length ``offsets[-1]`` or :class:`ListColumn` for list links.
    Extra columns beyond the schema are kept. ``key`` only improves error messages.
    A shallow copy (see :meth:`shallow_copy`) also carries ``original_index`` and ``original``.
    """

    def __init__(self, schema: Schema, offsets: Any, columns: Mapping[str, Any], *,
                 key: str | None = None):
        if schema.per_event:
            raise SchemaError(f"schema {schema.name!r} is per-event: use EventRecord", key=key)
        self.schema = schema
        self.key = key
        self.offsets = _as_offsets(offsets, what="offsets", key=key)
        n = int(self.offsets[-1])
        missing = [name for name in schema.required if name not in columns]
        if missing:
            raise SchemaError(f"missing required column(s) {missing} for {schema.name}",
                              key=key, column=missing[0])
        cols: dict[str, np.ndarray | ListColumn] = {}
        for name, value in columns.items():
            f = schema.field(name)
            if isinstance(value, ListColumn) or (f is not None and f.kind == LINKS):
                if not isinstance(value, ListColumn):
                    if isinstance(value, (list, tuple)):
                        value = ListColumn.from_lists(value)
                    else:
                        raise SchemaError("list link column must be a ListColumn", key=key, column=name)
                if len(value) != n:
                    raise SchemaError(f"list column has {len(value)} lists, offsets say {n}",
                                      key=key, column=name)
                cols[name] = value
            else:
                dtype = f.dtype if f is not None else None
                if dtype is None:
                    arr = np.asarray(value)
                    if arr.dtype.kind not in "biuf":
                        raise SchemaError(f"extra column has unsupported dtype {arr.dtype}", key=key, column=name)
                    dtype = arr.dtype.name
                cols[name] = _as_column(value, dtype, name=name, key=key, n=n)
        self.columns = cols
        self.original: Container | None = None   # transient: root of a shallow-copy chain
        self._frozen = False
        self._event_of: np.ndarray | None = None

    # -- basic access ------------------------------------------------------------------------
    @property
    def n_events(self) -> int:
        return self.offsets.shape[0] - 1

    def __len__(self) -> int:
        return int(self.offsets[-1])

    def __getitem__(self, name: str):
        try:
            return self.columns[name]
        except KeyError:
            raise KeyError(f"{self.key or self.schema.name} has no column {name!r}; "
                           f"columns: {sorted(self.columns)}") from None

    def __contains__(self, name: str) -> bool:
        return name in self.columns

    def get(self, name: str, default=None):
        return self.columns.get(name, default)

    @property
    def frozen(self) -> bool:
        return self._frozen

    def counts(self) -> np.ndarray:
        """Objects per event."""
        return np.diff(self.offsets)

    def event_of_object(self) -> np.ndarray:
        """int64[len(self)]: the block-local event number of each object (cached)."""
        if self._event_of is None:
            ev = np.repeat(np.arange(self.n_events, dtype=np.int64), self.counts())
            ev.flags.writeable = False
            self._event_of = ev
        return self._event_of

    def local_index(self) -> np.ndarray:
        """int32[len(self)]: the event-local index of each object."""
        return (np.arange(len(self), dtype=np.int64) - self.offsets[self.event_of_object()]).astype(np.int32)

    def pt(self) -> np.ndarray:
        return np.hypot(self["px"], self["py"])

    def phi(self) -> np.ndarray:
        return np.arctan2(self["py"], self["px"])

    def eta(self) -> np.ndarray:
        pt = self.pt().astype(np.float64)
        return np.arcsinh(np.divide(self["pz"], pt, out=np.zeros_like(pt), where=pt > 0))

    # -- views -------------------------------------------------------------------------------
    def event(self, i: int) -> "EventView":
        n = self.n_events
        if i < 0:
            i += n
        if not 0 <= i < n:
            raise IndexError(f"event {i} out of range for a block of {n} events")
        return EventView(self, i)

    def events(self) -> Iterator["EventView"]:
        return (EventView(self, i) for i in range(self.n_events))

    @classmethod
    def from_kernel(cls, schema: Schema, offsets: np.ndarray, columns: dict[str, Any], *, key: str | None,
                    original: "Container | None" = None) -> "Container":
        """A frozen container from a kernel's output: the producers' per-block constructor.

        ``offsets`` (int64[n_events+1]) and ``columns`` (numpy arrays and :class:`ListColumn`,
        one entry per object, in the dtypes of ``schema``) are fresh and already consistent, as
        a kernel gathered them from a valid container; nothing is converted or re-checked. The
        container takes them over and makes them read-only (born frozen). ``original``: the
        root container of a shallow copy. Users build containers with the checking constructor."""
        out = cls.__new__(cls)
        out.schema = schema
        out.key = key
        out.offsets = offsets
        out.columns = columns
        out.original = original
        out._frozen = False
        out._event_of = None
        return out.freeze()

    # -- block operations --------------------------------------------------------------------
    def _derive(self, offsets, columns, schema=None) -> "Container":
        out = Container.__new__(Container)
        out.schema = schema or self.schema
        out.key = self.key
        out.offsets = offsets
        out.columns = columns
        out.original = self.original
        out._frozen = False
        out._event_of = None
        return out

    def slice(self, start: int, stop: int) -> "Container":
        """Events [start, stop) as a new container sharing the column memory."""
        if stop == start + 1 and self._frozen and 0 <= start:   # one event (batch size 1)
            split = self.__dict__.get("_split")
            if split is None:   # threads may both build it: the same read-only arrays
                split = self.__dict__["_split"] = _EventSplit(self)
            if start < split.n_events:
                return split.event(self, start)
        return self._slice(start, stop)

    def __getstate__(self) -> dict:
        """Pickled without the one-event split (a cache, rebuilt on demand)."""
        state = self.__dict__.copy()
        state.pop("_split", None)
        return state

    def _slice(self, start: int, stop: int) -> "Container":
        """The general slice: views of the columns, offsets and list offsets rebased."""
        n = self.offsets.shape[0] - 1
        if not (0 <= start <= stop <= n):   # the common case needs no normalisation
            start, stop, _ = slice(start, stop).indices(n)
            stop = max(start, stop)
        offsets = self.offsets[start:stop + 1]
        lo, hi = int(offsets[0]), int(offsets[-1])
        cols = {}
        for name, c in self.columns.items():
            if c.__class__ is np.ndarray:
                cols[name] = c[lo:hi]
            else:   # ListColumn.slice, inlined (this runs per column and block)
                sub = c.offsets[lo:hi + 1]
                first = sub[0]
                lists = ListColumn.__new__(ListColumn)
                lists.offsets = sub - first
                lists.values = c.values[first:sub[-1]]
                if self._frozen:
                    lists.offsets.setflags(write=False)
                cols[name] = lists
        out = Container.__new__(Container)
        out.schema = self.schema
        out.key = self.key
        out.offsets = offsets - lo
        out.columns = cols
        out.original = self.original
        out._event_of = None
        out._frozen = self._frozen
        if self._frozen:   # views of read-only arrays are read-only; only the offsets are new
            out.offsets.setflags(write=False)
        return out

    @classmethod
    def concatenate(cls, containers: Sequence["Container"]) -> "Container":
        """Blocks one after another; all must share the schema and column names."""
        if not containers:
            raise ValueError("concatenate needs at least one container")
        first = containers[0]
        for c in containers[1:]:
            if c.schema != first.schema or set(c.columns) != set(first.columns):
                raise SchemaError("cannot concatenate containers with different schemas/columns", key=first.key)
        shifts = np.cumsum([0] + [len(c) for c in containers[:-1]])
        offsets = np.concatenate([first.offsets[:1]] + [c.offsets[1:] + s for c, s in zip(containers, shifts)])
        cols = {}
        for name, col in first.columns.items():
            parts = [c.columns[name] for c in containers]
            cols[name] = ListColumn.concatenate(parts) if isinstance(col, ListColumn) else np.concatenate(parts)
        return first._derive(offsets, cols)

    def with_columns(self, **columns: Any) -> "Container":
        """A new container with some columns replaced or added (others shared)."""
        merged = dict(self.columns)
        merged.update(columns)
        out = Container(self.schema, self.offsets, merged, key=self.key)
        out.original = self.original
        return out

    def shallow_copy(self, overrides: Mapping[str, Any] | None = None, *,
                     select: Any = None, original_key: str | None = None,
                     key: str | None = None) -> "Container":
        """A copy that overrides some columns and links back to the object it copies.

        ``select`` (bool mask over objects) keeps a subset (a view container); overrides may then
        have one entry per kept object or per source object. The copy gets an
        ``original_index`` column (event-local index into the *root* original, so chains of
        copies resolve to the first container) whose link target is ``original_key``
        (default: the root's key).
        """
        if ORIGINAL_INDEX in self.columns:
            orig_index = self.columns[ORIGINAL_INDEX]
            root_field = self.schema.field(ORIGINAL_INDEX)
            root_key = root_field.target if root_field is not None else None
            root = self.original
        else:
            orig_index = self.local_index()
            root_key = self.key
            root = self
        if original_key is not None:
            root_key = original_key
        if select is None:
            offsets = self.offsets
            cols = dict(self.columns)
            cols[ORIGINAL_INDEX] = orig_index
        else:
            mask = np.asarray(select)
            if mask.dtype != np.bool_ or mask.shape != (len(self),):
                raise SchemaError(f"select must be a bool mask of {len(self)} objects", key=self.key)
            kept_per_event = np.bincount(self.event_of_object()[mask], minlength=self.n_events)
            offsets = np.zeros(self.n_events + 1, np.int64)
            np.cumsum(kept_per_event, out=offsets[1:])
            cols = {name: (c.take(mask) if isinstance(c, ListColumn) else c[mask]) for name, c in self.columns.items()}
            cols[ORIGINAL_INDEX] = orig_index[mask]
        n = int(offsets[-1])
        for name, value in (overrides or {}).items():
            if name == ORIGINAL_INDEX:
                raise SchemaError("original_index cannot be overridden", key=key or self.key)
            if select is not None and not isinstance(value, ListColumn) and np.shape(value)[:1] == (len(self),):
                value = np.asarray(value)[mask]   # override given for every object of the source
            cols[name] = value
        schema = self.schema.with_field(_original_index(root_key))
        out = Container(schema, offsets, cols, key=key)
        out.original = root
        if len(out) != n:  # defensive; Container checked every column against offsets
            raise SchemaError("shallow copy size mismatch", key=key)
        return out

    @property
    def original_index(self) -> np.ndarray | None:
        return self.columns.get(ORIGINAL_INDEX)

    @property
    def original_key(self) -> str | None:
        f = self.schema.field(ORIGINAL_INDEX)
        return f.target if f is not None and ORIGINAL_INDEX in self.columns else None

    def original_global_index(self) -> np.ndarray:
        """int64 index of each object's original in the root container's flat arrays.

        Objects that are not copies map to themselves. Requires the root to have the same
        event blocking (true for every copy made inside one event context).
        """
        if ORIGINAL_INDEX not in self.columns:
            return np.arange(len(self), dtype=np.int64)
        root_offsets = self.original.offsets if self.original is not None else None
        if root_offsets is None:
            raise SchemaError("original container unknown (copy read from disk); "
                              "use original_index with the original's offsets", key=self.key)
        return root_offsets[self.event_of_object()] + self.columns[ORIGINAL_INDEX]

    # -- lifecycle ---------------------------------------------------------------------------
    def freeze(self) -> "Container":
        """Make every array read-only (done by the store when the container is recorded)."""
        if self._frozen:
            return self
        self.offsets.setflags(write=False)
        for c in self.columns.values():
            if isinstance(c, ListColumn):
                c.freeze()
            else:
                c.setflags(write=False)
        self._frozen = True
        return self

    def validate(self, *, source: str | None = None, key: str | None = None,
                 check_finite: bool = True) -> "Container":
        """Schema, dtype, non-finite and link-lower-bound checks; raises SchemaError subclasses."""
        key = key or self.key
        try:
            for f in self.schema.fields:
                if f.name not in self.columns:
                    if f.required:
                        raise SchemaError(f"missing required column for {self.schema.name}", column=f.name)
                    continue
                col = self.columns[f.name]
                if f.kind == LINKS:
                    if not isinstance(col, ListColumn):
                        raise SchemaError("list link column must be a ListColumn", column=f.name)
                    neg = col.values < 0
                    if neg.any():
                        neg = np.flatnonzero(neg)
                        obj = int(np.searchsorted(col.offsets, neg[0], side="right") - 1)
                        ev = int(self.event_of_object()[obj])
                        raise SchemaError(f"negative index {int(col.values[neg[0]])} in list link to "
                                          f"{f.target}", column=f.name, event=ev)
                    continue
                if col.dtype != np.dtype(f.dtype):
                    raise SchemaError(f"wrong dtype: expected {f.dtype}, got {col.dtype}", column=f.name)
                if f.kind == LINK:
                    bad = col < -1
                    if bad.any():
                        bad = np.flatnonzero(bad)
                        raise SchemaError(f"link index {int(col[bad[0]])} < -1", column=f.name,
                                          event=int(self.event_of_object()[bad[0]]))
            if check_finite:
                for name, col in self.columns.items():
                    if isinstance(col, ListColumn):
                        continue
                    i = _first_nonfinite(col)
                    if i is not None:
                        raise NonFiniteError(f"non-finite value {col[i]} (object {i})", column=name,
                                             event=int(self.event_of_object()[i]))
        except SchemaError as exc:
            raise exc.with_context(source=source, key=key) from None
        return self

    # -- Arrow -------------------------------------------------------------------------------
    def to_arrow(self):
        """``list<struct>`` with one entry per event; numeric columns are not copied."""
        import pyarrow as pa
        children, fields = [], []
        for name, col in self.columns.items():
            f = self.schema.field(name)
            meta = {b"target": f.target.encode()} if f is not None and f.target else None
            arr = col.to_arrow() if isinstance(col, ListColumn) else pa.array(col)
            children.append(arr)
            fields.append(pa.field(name, arr.type, nullable=False, metadata=meta))
        struct = pa.StructArray.from_arrays(children, fields=fields) if fields else \
            pa.array([{}] * len(self), type=pa.struct([]))
        if self.offsets[-1] > np.iinfo(np.int32).max:
            return pa.LargeListArray.from_arrays(pa.array(self.offsets), struct)
        return pa.ListArray.from_arrays(pa.array(self.offsets.astype(np.int32)), struct)

    def __arrow_array__(self, type=None):
        return self.to_arrow()

    @classmethod
    def from_arrow(cls, array, schema: Schema, *, key: str | None = None,
                   source: str | None = None, validate: bool = True) -> "Container":
        """Container from a ``list<struct>`` Arrow array (or ChunkedArray); strict dtypes."""
        import pyarrow as pa
        try:
            if isinstance(array, pa.ChunkedArray):
                array = array.combine_chunks() if array.num_chunks != 1 else array.chunk(0)
            if not (pa.types.is_list(array.type) or pa.types.is_large_list(array.type)) or \
                    not pa.types.is_struct(array.type.value_type):
                raise SchemaError(f"wrong type: expected list<struct>, got {array.type}")
            if array.null_count:
                ev = int(np.argmax(~array.is_valid().to_numpy(zero_copy_only=False)))
                raise SchemaError("null entry instead of a (possibly empty) list", event=ev)
            raw_offsets = np.asarray(array.offsets.to_numpy(zero_copy_only=False), dtype=np.int64)
            offsets = _as_offsets(raw_offsets - raw_offsets[0], what="offsets", key=key)
            struct = _list_values(array, raw_offsets)
            if struct.null_count:
                raise SchemaError("null objects in list")
            arrow_fields = {f.name: f for f in struct.type}
            children = dict(zip(arrow_fields, struct.flatten()))
            columns: dict[str, Any] = {}
            schema_out = schema
            missing = [n for n in schema.required if n not in children]
            if missing:
                raise SchemaError(f"missing required column(s) {missing} for {schema.name}", column=missing[0])
            for name, child in children.items():
                f = schema.field(name)
                meta = arrow_fields[name].metadata or {}
                target = meta.get(b"target", b"").decode() or None
                if f is None:
                    if name == ORIGINAL_INDEX:
                        f = _original_index(target)
                        schema_out = schema_out.with_field(f)
                    else:
                        col = _extra_from_arrow(child)
                        if col is not None:
                            columns[name] = col
                        continue
                elif f.is_link and f.target is None and target:
                    schema_out = schema_out.with_field(dataclasses.replace(f, target=target))
                columns[name] = _column_from_arrow(child, f, offsets)
            out = cls(schema_out, offsets, columns, key=key)
            if validate:
                out.validate()
        except SchemaError as exc:
            raise exc.with_context(source=source, key=key) from None
        return out

    @classmethod
    def from_awkward(cls, array, schema: Schema, *, key: str | None = None,
                     source: str | None = None) -> "Container":
        """Container from an awkward ``var * {fields}`` array, through Arrow (same strict checks)."""
        ak = _require_awkward()
        return cls.from_arrow(ak.to_arrow(array, extensionarray=False, list_to32=True), schema,
                              key=key, source=source)

    def to_awkward(self):
        """Awkward view of the block (``var * {fields}``), through Arrow."""
        return _require_awkward().from_arrow(self.to_arrow())

    def equals(self, other: object) -> bool:
        """Bit-exact equality of schema, offsets and every column (NaN payloads included)."""
        if not isinstance(other, Container) or other.schema.names != self.schema.names:
            return False
        if not np.array_equal(self.offsets, other.offsets) or set(self.columns) != set(other.columns):
            return False
        for name, col in self.columns.items():
            o = other.columns[name]
            if isinstance(col, ListColumn):
                if not col.equals(o):
                    return False
            elif not (isinstance(o, np.ndarray) and col.dtype == o.dtype
                      and col.tobytes() == o.tobytes()):
                return False
        return True

    def __repr__(self) -> str:
        return (f"Container({self.key or self.schema.name}: {self.n_events} events, {len(self)} objects, "
                f"columns={list(self.columns)})")



class _EventSplit:
    """A frozen container cut into its events once, for slices of one event (batch size 1):
    each event's offsets ``[0, n]`` and each list column's rebased offsets are views of arrays
    computed here in one pass, so a one-event slice only takes views (no per-slice arithmetic
    or freezing). The views equal what the general slice computes."""

    def __init__(self, container: "Container"):
        offsets = container.offsets
        counts = np.diff(offsets)
        self.n_events = counts.shape[0]
        self.bounds = offsets.tolist()
        event_offsets = np.zeros((self.n_events, 2), np.int64)
        event_offsets[:, 1] = counts
        event_offsets.setflags(write=False)
        self.event_offsets = event_offsets
        # list column: event e's rebased offsets sit at [lo + e, hi + e + 1) of one array
        event_of_entry = entry_object = None   # made for the first list column (as long as the objects)
        # (name, array) of a plain column; (name, None, rebased, first value per event, values)
        # of a list column, in column order
        self.columns: list[tuple] = []
        for name, col in container.columns.items():
            if col.__class__ is np.ndarray:
                self.columns.append((name, col))
            else:
                if event_of_entry is None:
                    event_of_entry = np.repeat(np.arange(self.n_events), counts + 1)
                    entry_object = np.arange(event_of_entry.shape[0]) - event_of_entry
                first_value = col.offsets[offsets]
                rebased = col.offsets[entry_object] - first_value[event_of_entry]
                rebased.setflags(write=False)
                self.columns.append((name, None, rebased, first_value.tolist(), col.values))

    def event(self, container: "Container", i: int) -> "Container":
        lo, hi = self.bounds[i], self.bounds[i + 1]
        cols = {}
        for entry in self.columns:
            if entry[1] is not None:
                cols[entry[0]] = entry[1][lo:hi]
            else:
                name, _, rebased, first_value, values = entry
                sub = ListColumn.__new__(ListColumn)
                sub.offsets = rebased[lo + i:hi + i + 1]
                sub.values = values[first_value[i]:first_value[i + 1]]
                cols[name] = sub
        out = Container.__new__(Container)
        out.schema = container.schema
        out.key = container.key
        out.offsets = self.event_offsets[i]
        out.columns = cols
        out.original = container.original
        out._event_of = None
        out._frozen = True
        return out

# ---------------------------------------------------------------------------------------------
# builders for tests and small producers

def container_from_events(schema: Schema, events: Sequence[Mapping[str, Sequence]], *,
                          key: str | None = None) -> Container:
    """Build a Container from per-event dicts ``{field: [value per object]}`` (tests, examples)."""
    counts = []
    for i, ev in enumerate(events):
        lens = {len(v) for v in ev.values()}
        if len(lens) > 1:
            raise SchemaError(f"fields have different object counts {sorted(lens)}", key=key, event=i)
        counts.append(lens.pop() if lens else 0)
    offsets = np.zeros(len(events) + 1, np.int64)
    np.cumsum(counts, out=offsets[1:])
    names = list(dict.fromkeys(n for ev in events for n in ev)) or list(schema.required)
    columns: dict[str, Any] = {}
    for name in names:
        f = schema.field(name)
        values = [v for ev in events for v in ev.get(name, [])]
        if f is not None and f.kind == LINKS:
            columns[name] = ListColumn.from_lists(values)
        else:
            dtype = f.dtype if f is not None else None
            columns[name] = np.asarray(values, dtype=dtype) if values or dtype else np.zeros(0, np.float32)
    return Container(schema, offsets, columns, key=key)


def empty_container(schema: Schema, n_events: int, *, key: str | None = None) -> Container:
    """A container of ``n_events`` events with no objects and every schema column present."""
    cols = {f.name: (ListColumn(np.zeros(1, np.int64), np.zeros(0, np.int32)) if f.kind == LINKS
                     else np.zeros(0, f.dtype)) for f in schema.fields if f.required}
    return Container(schema, np.zeros(n_events + 1, np.int64), cols, key=key)
