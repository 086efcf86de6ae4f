"""MET terms: :class:`MissingET` (one term) and :class:`MissingETContainer` (the same terms for
every event of a block, arrays [n_events, n_terms]), with :class:`METTermView`."""

from __future__ import annotations

import math
from typing import Any, Iterable, Iterator, Sequence

import numpy as np

from metflow.edm.errors import NonFiniteError, SchemaError


class MissingET:
    """One MET term. Adding a particle subtracts its (px, py) and adds its pT to sumet."""

    __slots__ = ("name", "mpx", "mpy", "sumet", "source")

    def __init__(self, name: str = "", mpx: float = 0.0, mpy: float = 0.0, sumet: float = 0.0,
                 source: int = 0):
        self.name = name
        self.mpx = float(mpx)
        self.mpy = float(mpy)
        self.sumet = float(sumet)
        self.source = int(source)

    def add(self, px: float, py: float, pt: float, scale: float = 1.0) -> "MissingET":
        """Add a particle (px, py, pt), optionally scaled: mpx -= s px, mpy -= s py, sumet += s pt."""
        self.mpx -= scale * px
        self.mpy -= scale * py
        self.sumet += scale * pt
        return self

    def __iadd__(self, other: "MissingET") -> "MissingET":
        self.mpx += other.mpx
        self.mpy += other.mpy
        self.sumet += other.sumet
        return self

    def __isub__(self, other: "MissingET") -> "MissingET":
        self.mpx -= other.mpx
        self.mpy -= other.mpy
        self.sumet -= other.sumet
        return self

    @property
    def met(self) -> float:
        return math.hypot(self.mpx, self.mpy)

    @property
    def phi(self) -> float:
        return math.atan2(self.mpy, self.mpx)

    def __eq__(self, other: object) -> bool:
        return (isinstance(other, MissingET) and (self.name, self.mpx, self.mpy, self.sumet, self.source)
                == (other.name, other.mpx, other.mpy, other.sumet, other.source))

    def __repr__(self) -> str:
        return (f"MissingET({self.name!r}, mpx={self.mpx:.6g}, mpy={self.mpy:.6g}, "
                f"sumet={self.sumet:.6g}, source={self.source:#x})")


class METTermView:
    """One term of a MissingETContainer over the events of the block (arrays are views)."""

    __slots__ = ("container", "term")

    def __init__(self, container: "MissingETContainer", term: int):
        self.container = container
        self.term = term

    @property
    def name(self) -> str:
        return self.container.names[self.term]

    @property
    def source(self) -> int:
        return int(self.container.sources[self.term])

    @property
    def mpx(self) -> np.ndarray:
        return self.container.mpx[:, self.term]

    @property
    def mpy(self) -> np.ndarray:
        return self.container.mpy[:, self.term]

    @property
    def sumet(self) -> np.ndarray:
        return self.container.sumet[:, self.term]

    def met(self) -> np.ndarray:
        return np.hypot(self.mpx, self.mpy)

    def phi(self) -> np.ndarray:
        return np.arctan2(self.mpy, self.mpx)

    def __repr__(self) -> str:
        return f"<MET term {self.name!r} source={self.source:#x} over {self.container.n_events} events>"


_EMPTY_STRUCT_FIELD = "__no_terms"


class MissingETContainer:
    """MET terms of a block: ``names``, ``sources`` uint64[n_terms], ``mpx, mpy, sumet``
    float32[n_events, n_terms]. ``len()`` is the number of terms, as for the ATLAS container."""

    def __init__(self, names: Sequence[str], sources: Any, mpx: Any, mpy: Any, sumet: Any, *,
                 key: str | None = None):
        self.key = key
        self.names = tuple(str(n) for n in names)
        if len(set(self.names)) != len(self.names):
            dup = sorted({n for n in self.names if self.names.count(n) > 1})
            raise SchemaError(f"duplicate MET term names {dup}", key=key)
        n_terms = len(self.names)
        src = np.asarray(sources)
        if src.size == 0:
            src = src.astype(np.uint64)
        if src.dtype.kind not in "iu" or src.shape != (n_terms,) or (src.size and src.min() < 0):
            raise SchemaError(f"sources must be {n_terms} non-negative integers, got {src!r}", key=key,
                              column="sources")
        self.sources = np.ascontiguousarray(src, dtype=np.uint64)
        arrays = []
        for col, a in (("mpx", mpx), ("mpy", mpy), ("sumet", sumet)):
            a = np.asarray(a)
            if a.ndim == 1 and n_terms == 0:
                a = a.reshape(a.shape[0], 0)
            if a.ndim != 2 or a.shape[1] != n_terms:
                raise SchemaError(f"{col} must have shape (n_events, {n_terms}), got {a.shape}", key=key, column=col)
            if a.dtype != np.float32:
                if a.dtype.kind not in "fiu" or (a.size == 0 and False):
                    raise SchemaError(f"wrong dtype: expected float32, got {a.dtype}", key=key, column=col)
                a = a.astype(np.float32)
            arrays.append(np.ascontiguousarray(a))
        if not arrays[0].shape == arrays[1].shape == arrays[2].shape:
            raise SchemaError("mpx, mpy, sumet shapes differ", key=key)
        self.mpx, self.mpy, self.sumet = arrays
        self._frozen = False

    @classmethod
    def from_kernel(cls, names: tuple[str, ...], sources: np.ndarray, mpx: np.ndarray, mpy: np.ndarray,
                    sumet: np.ndarray, *, key: str | None = None) -> "MissingETContainer":
        """A frozen container from a kernel's output: the producers' per-block constructor.

        The caller hands over *fresh* arrays already in the layout (unique ``names``; ``sources``
        uint64[n_terms]; C-contiguous float32 [n_events, n_terms] ``mpx``, ``mpy``, ``sumet``),
        as a kernel returns them; nothing is converted or re-checked. The container takes them
        over and makes them read-only (those that are not yet: e.g. views of a buffer set read-only
        before it was sliced), so it is born frozen (the store does not freeze it again).
        Users build containers with the checking constructor."""
        for a in (sources, mpx, mpy, sumet):
            if a.flags.writeable:   # views of a buffer the kernel's caller already froze are not
                a.setflags(write=False)
        out = cls.__new__(cls)
        out.key, out.names, out.sources = key, names, sources
        out.mpx, out.mpy, out.sumet = mpx, mpy, sumet
        out._frozen = True
        return out

    # -- construction ------------------------------------------------------------------------
    @classmethod
    def empty(cls, n_events: int, *, key: str | None = None) -> "MissingETContainer":
        z = np.zeros((n_events, 0), np.float32)
        return cls((), np.zeros(0, np.uint64), z, z.copy(), z.copy(), key=key)

    @classmethod
    def from_terms(cls, n_events: int, terms: Iterable[tuple[str, int, Any, Any, Any]], *,
                   key: str | None = None) -> "MissingETContainer":
        """From ``(name, source, mpx[n_events], mpy, sumet)`` tuples, in order."""
        terms = list(terms)
        shape = (n_events, len(terms))
        mpx, mpy, sumet = (np.zeros(shape, np.float32) for _ in range(3))
        for j, (_, _, x, y, s) in enumerate(terms):
            mpx[:, j], mpy[:, j], sumet[:, j] = x, y, s
        return cls([t[0] for t in terms], np.array([t[1] for t in terms], dtype=np.uint64),
                   mpx, mpy, sumet, key=key)

    @classmethod
    def from_events(cls, events: Sequence[Sequence[MissingET]], *, key: str | None = None) -> "MissingETContainer":
        """From per-event lists of MissingET with identical names and sources in each event."""
        if not events:
            return cls.empty(0, key=key)
        names = [t.name for t in events[0]]
        sources = [t.source for t in events[0]]
        for i, ev in enumerate(events):
            if [t.name for t in ev] != names or [t.source for t in ev] != sources:
                raise SchemaError("every event of a block must have the same terms", key=key, event=i)
        mpx = np.array([[t.mpx for t in ev] for ev in events], np.float32).reshape(len(events), len(names))
        mpy = np.array([[t.mpy for t in ev] for ev in events], np.float32).reshape(len(events), len(names))
        sumet = np.array([[t.sumet for t in ev] for ev in events], np.float32).reshape(len(events), len(names))
        return cls(names, np.array(sources, np.uint64), mpx, mpy, sumet, key=key)

    def with_term(self, name: str, source: int, mpx: Any, mpy: Any, sumet: Any) -> "MissingETContainer":
        """A new container with one more term appended; an existing name is an error (as fillMET)."""
        if name in self.names:
            raise SchemaError(f"term {name!r} already exists", key=self.key)
        col = lambda a, v: np.concatenate([a, np.broadcast_to(np.asarray(v, np.float32), (self.n_events,))[:, None]], axis=1)
        return MissingETContainer(self.names + (name,), np.append(self.sources, np.uint64(source)),
                                  col(self.mpx, mpx), col(self.mpy, mpy), col(self.sumet, sumet), key=self.key)

    # -- access ------------------------------------------------------------------------------
    @property
    def n_events(self) -> int:
        return self.mpx.shape[0]

    @property
    def n_terms(self) -> int:
        return len(self.names)

    def __len__(self) -> int:
        return len(self.names)

    def term_index(self, name: str) -> int:
        try:
            return self.names.index(name)
        except ValueError:
            import difflib
            close = difflib.get_close_matches(name, self.names, n=3)
            hint = f"; did you mean {close}?" if close else ""
            raise KeyError(f"{self.key or 'MissingETContainer'} has no term {name!r}; "
                           f"terms: {list(self.names)}{hint}") from None

    def __getitem__(self, name: str) -> METTermView:
        return METTermView(self, self.term_index(name))

    def __contains__(self, name: str) -> bool:
        return name in self.names

    def __iter__(self) -> Iterator[METTermView]:
        return (METTermView(self, j) for j in range(self.n_terms))

    def find(self, source: int) -> METTermView | None:
        """First term whose source equals ``source`` exactly, else None."""
        hits = np.flatnonzero(self.sources == np.uint64(source))
        return METTermView(self, int(hits[0])) if hits.size else None

    def event(self, i: int) -> list[MissingET]:
        if i < 0:
            i += self.n_events
        if not 0 <= i < self.n_events:
            raise IndexError(f"event {i} out of range for a block of {self.n_events} events")
        return [MissingET(n, float(self.mpx[i, j]), float(self.mpy[i, j]), float(self.sumet[i, j]),
                          int(self.sources[j])) for j, n in enumerate(self.names)]

    # -- block operations --------------------------------------------------------------------
    def slice(self, start: int, stop: int) -> "MissingETContainer":
        """Events [start, stop): row views (no re-validation of a valid container's rows)."""
        out = MissingETContainer.__new__(MissingETContainer)
        out.key, out.names, out.sources = self.key, self.names, self.sources
        out.mpx, out.mpy, out.sumet = self.mpx[start:stop], self.mpy[start:stop], self.sumet[start:stop]
        out._frozen = self._frozen   # views of read-only arrays are read-only
        return out

    @classmethod
    def concatenate(cls, conts: Sequence["MissingETContainer"]) -> "MissingETContainer":
        first = conts[0]
        for c in conts[1:]:
            if c.names != first.names or not np.array_equal(c.sources, first.sources):
                raise SchemaError("cannot concatenate MET containers with different terms", key=first.key)
        return cls(first.names, first.sources, *(np.concatenate([getattr(c, a) for c in conts])
                                                 for a in ("mpx", "mpy", "sumet")), key=first.key)

    def freeze(self) -> "MissingETContainer":
        if self._frozen:
            return self
        for a in (self.sources, self.mpx, self.mpy, self.sumet):
            a.setflags(write=False)
        self._frozen = True
        return self

    @property
    def frozen(self) -> bool:
        return self._frozen

    def validate(self, *, source: str | None = None, key: str | None = None) -> "MissingETContainer":
        for col in ("mpx", "mpy", "sumet"):
            a = getattr(self, col)
            bad = ~np.isfinite(a)
            if bad.any():
                ev, term = (int(x) for x in np.argwhere(bad)[0])
                raise NonFiniteError(f"non-finite {col} of term {self.names[term]!r}", source=source,
                                     key=key or self.key, column=col, event=ev)
        return self

    def equals(self, other: object) -> bool:
        return (isinstance(other, MissingETContainer) and self.names == other.names
                and np.array_equal(self.sources, other.sources)
                and all(getattr(self, a).tobytes() == getattr(other, a).tobytes()
                        and getattr(self, a).shape == getattr(other, a).shape for a in ("mpx", "mpy", "sumet")))

    # -- Arrow -------------------------------------------------------------------------------
    def to_arrow(self):
        """``struct<term: struct<mpx, mpy, sumet>>``, one row per event; source in field metadata."""
        import pyarrow as pa
        if not self.names:
            return pa.StructArray.from_arrays([pa.array(np.zeros(self.n_events, np.bool_))],
                                              fields=[pa.field(_EMPTY_STRUCT_FIELD, pa.bool_(), nullable=False)])
        term_type = pa.struct([pa.field(c, pa.float32(), nullable=False) for c in ("mpx", "mpy", "sumet")])
        children, fields = [], []
        for j, name in enumerate(self.names):
            children.append(pa.StructArray.from_arrays(
                [pa.array(np.ascontiguousarray(a[:, j])) for a in (self.mpx, self.mpy, self.sumet)],
                fields=list(term_type)))
            fields.append(pa.field(name, term_type, nullable=False,
                                   metadata={b"source": str(int(self.sources[j])).encode()}))
        return pa.StructArray.from_arrays(children, fields=fields)

    def __arrow_array__(self, type=None):
        return self.to_arrow()

    @classmethod
    def from_arrow(cls, array, *, key: str | None = None, source: str | None = None,
                   validate: bool = True) -> "MissingETContainer":
        import pyarrow as pa
        try:
            if isinstance(array, pa.ChunkedArray):
                array = array.combine_chunks() if array.num_chunks != 1 else array.chunk(0)
            if not pa.types.is_struct(array.type):
                raise SchemaError(f"wrong type: expected struct of MET terms, got {array.type}")
            if array.null_count:
                raise SchemaError("null entry instead of a MET record",
                                  event=int(np.argmax(~array.is_valid().to_numpy(zero_copy_only=False))))
            n = len(array)
            names, sources, cols = [], [], {"mpx": [], "mpy": [], "sumet": []}
            for f, child in zip(array.type, array.flatten()):
                if f.name == _EMPTY_STRUCT_FIELD:
                    continue
                meta = f.metadata or {}
                if b"source" not in meta:
                    raise SchemaError("MET term without source metadata", column=f.name)
                if not pa.types.is_struct(f.type):
                    raise SchemaError(f"wrong type: expected struct<mpx,mpy,sumet>, got {f.type}", column=f.name)
                parts = dict(zip([g.name for g in f.type], child.flatten()))
                for c in ("mpx", "mpy", "sumet"):
                    if c not in parts:
                        raise SchemaError(f"MET term misses {c!r}", column=f"{f.name}.{c}")
                    p = parts[c]
                    if p.type != pa.float32():
                        raise SchemaError(f"wrong dtype: expected float, got {p.type}", column=f"{f.name}.{c}")
                    if p.null_count:
                        raise SchemaError("null value", column=f"{f.name}.{c}")
                    cols[c].append(p.to_numpy(zero_copy_only=True))
                names.append(f.name)
                sources.append(int(meta[b"source"]))
            stack = lambda lst: np.stack(lst, axis=1) if lst else np.zeros((n, 0), np.float32)
            out = cls(names, np.array(sources, dtype=np.uint64), stack(cols["mpx"]), stack(cols["mpy"]),
                      stack(cols["sumet"]), key=key)
            if validate:
                out.validate()
        except SchemaError as exc:
            raise exc.with_context(source=source, key=key) from None
        return out

    def __repr__(self) -> str:
        return f"MissingETContainer({self.key or ''}: {self.n_events} events, terms={list(self.names)})"
