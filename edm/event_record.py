"""EventRecord: one value per event of a block (EventInfo, TruthMET, significance)."""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np

from metflow.edm.arrow_columns import _column_from_arrow, _extra_from_arrow
from metflow.edm.errors import NonFiniteError, SchemaError
from metflow.edm.list_column import _as_column, _first_nonfinite
from metflow.edm.schema import Schema


# ---------------------------------------------------------------------------------------------
# EventRecord

class EventRecord:
    """One value per event for each field (EventInfo, TruthMET)."""

    def __init__(self, schema: Schema, columns: Mapping[str, Any], *, key: str | None = None,
                 n_events: int | None = None):
        if not schema.per_event:
            raise SchemaError(f"schema {schema.name!r} is per-object: use Container", key=key)
        self.schema = schema
        self.key = key
        missing = [n for n in schema.required if n not in columns]
        if missing:
            raise SchemaError(f"missing required column(s) {missing} for {schema.name}", key=key, column=missing[0])
        if n_events is None:
            n_events = len(np.asarray(next(iter(columns.values())))) if columns else 0
        cols = {}
        for name, value in columns.items():
            f = schema.field(name)
            dtype = f.dtype if f is not None else np.asarray(value).dtype.name
            cols[name] = _as_column(value, dtype, name=name, key=key, n=n_events)
        self.columns = cols
        self._n = n_events
        self._frozen = False

    @property
    def n_events(self) -> int:
        return self._n

    def __len__(self) -> int:
        return self._n

    def __getitem__(self, name: str) -> np.ndarray:
        try:
            return self.columns[name]
        except KeyError:
            raise KeyError(f"{self.key or self.schema.name} has no column {name!r}; "
                           f"columns: {sorted(self.columns)}") from None

    def __contains__(self, name: str) -> bool:
        return name in self.columns

    def event(self, i: int) -> dict[str, Any]:
        if i < 0:
            i += self._n
        if not 0 <= i < self._n:
            raise IndexError(f"event {i} out of range for a block of {self._n} events")
        return {name: col[i].item() for name, col in self.columns.items()}

    @classmethod
    def from_kernel(cls, schema: Schema, columns: dict[str, np.ndarray], n_events: int, *,
                    key: str | None = None) -> "EventRecord":
        """A frozen record from a kernel's fresh columns (one value per event, in the schema's
        dtypes): taken over unchecked and made read-only (born frozen). Users use the constructor."""
        out = cls.__new__(cls)
        out.schema = schema
        out.key = key
        out.columns = columns
        out._n = n_events
        out._frozen = False
        return out.freeze()

    def slice(self, start: int, stop: int) -> "EventRecord":
        """Events [start, stop): column views (no re-validation of the sliced columns)."""
        start, stop, _ = slice(start, stop).indices(self._n)
        stop = max(start, stop)
        out = EventRecord.__new__(EventRecord)
        out.schema = self.schema
        out.key = self.key
        out.columns = {n: c[start:stop] for n, c in self.columns.items()}
        out._n = stop - start
        out._frozen = self._frozen   # views of read-only columns are read-only
        return out

    @classmethod
    def concatenate(cls, records: Sequence["EventRecord"]) -> "EventRecord":
        first = records[0]
        return cls(first.schema, {n: np.concatenate([r.columns[n] for r in records]) for n in first.columns},
                   key=first.key, n_events=sum(r.n_events for r in records))

    def freeze(self) -> "EventRecord":
        if self._frozen:
            return self
        for c in self.columns.values():
            c.setflags(write=False)
        self._frozen = True
        return self

    @property
    def frozen(self) -> bool:
        return self._frozen

    def validate(self, *, source: str | None = None, key: str | None = None,
                 check_finite: bool = True) -> "EventRecord":
        key = key or self.key
        for f in self.schema.fields:
            if f.name not in self.columns:
                if f.required:
                    raise SchemaError("missing required column", source=source, key=key, column=f.name)
                continue
            if self.columns[f.name].dtype != np.dtype(f.dtype):
                raise SchemaError(f"wrong dtype: expected {f.dtype}, got {self.columns[f.name].dtype}",
                                  source=source, key=key, column=f.name)
        if check_finite:
            for name, col in self.columns.items():
                i = _first_nonfinite(col)
                if i is not None:
                    raise NonFiniteError(f"non-finite value {col[i]}", source=source, key=key, column=name, event=i)
        return self

    def to_arrow(self):
        import pyarrow as pa
        names = list(self.columns)
        if not names:
            return pa.array([{}] * self._n, type=pa.struct([]))
        return pa.StructArray.from_arrays([pa.array(self.columns[n]) for n in names],
                                          fields=[pa.field(n, pa.from_numpy_dtype(self.columns[n].dtype),
                                                           nullable=False) for n in names])

    def __arrow_array__(self, type=None):
        return self.to_arrow()

    @classmethod
    def from_arrow(cls, array, schema: Schema, *, key: str | None = None,
                   source: str | None = None, validate: bool = True) -> "EventRecord":
        import pyarrow as pa
        try:
            if isinstance(array, pa.ChunkedArray):
                array = array.combine_chunks() if array.num_chunks != 1 else array.chunk(0)
            if not pa.types.is_struct(array.type):
                raise SchemaError(f"wrong type: expected struct, got {array.type}")
            if array.null_count:
                ev = int(np.argmax(~array.is_valid().to_numpy(zero_copy_only=False)))
                raise SchemaError("null entry instead of a record", event=ev)
            children = dict(zip([f.name for f in array.type], array.flatten()))
            missing = [n for n in schema.required if n not in children]
            if missing:
                raise SchemaError(f"missing required column(s) {missing} for {schema.name}", column=missing[0])
            columns = {}
            evs = np.arange(len(array) + 1, dtype=np.int64)
            for name, child in children.items():
                f = schema.field(name)
                if f is None:
                    col = _extra_from_arrow(child)
                    if isinstance(col, np.ndarray):
                        columns[name] = col
                    continue
                columns[name] = _column_from_arrow(child, f, evs)
            out = cls(schema, columns, key=key, n_events=len(array))
            if validate:
                out.validate()
        except SchemaError as exc:
            raise exc.with_context(source=source, key=key) from None
        return out

    def equals(self, other: object) -> bool:
        if not isinstance(other, EventRecord) or set(self.columns) != set(other.columns):
            return False
        return all(c.dtype == other.columns[n].dtype and c.tobytes() == other.columns[n].tobytes()
                   for n, c in self.columns.items())

    def __repr__(self) -> str:
        return f"EventRecord({self.key or self.schema.name}: {self._n} events, columns={list(self.columns)})"
