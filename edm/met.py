"""MissingET classes, named as in ATLAS xAODMissingET, columnar over a block of events.

- :class:`MissingETBase` ``.Source``: the 64-bit source bit patterns and their tests.
- :class:`MissingET`: one term (name, mpx, mpy, sumet, source) with ATLAS sign conventions.
- :class:`MissingETContainer`: the same term list for every event, arrays [n_events, n_terms].
- :class:`MissingETAssociationMap`: every association of a block in flat arrays (the field
  names are the contract of docs/internals.md); :class:`MissingETAssociation` is a view of one.
- :class:`MissingETAssociationHelper`: the per-invocation "object used" bitmasks; it is created
  per rebuild (per thread, per systematic), never stored, and never modifies the map.

The Python methods here are for readability and tests; kernels work on the public arrays.
"""

from __future__ import annotations

import enum
import json
import math
import threading
from dataclasses import dataclass
from typing import Any, Iterable, Iterator, Mapping, Sequence

import numpy as np

from metflow.edm.errors import (MapConsistencyError, NonFiniteError, SchemaError,
                                TooManyObjectsError)

MAX_OBJECTS_PER_ASSOCIATION = 64


class ObjectType(enum.IntEnum):
    """``xAOD::Type::ObjectType`` values used in obj_type and (as ``1 << type``) in ovl_type."""

    Other = 0
    CaloCluster = 1
    Jet = 2
    ParticleFlow = 3
    TrackParticle = 4
    NeutralParticle = 5
    Electron = 6
    Photon = 7
    Muon = 8
    Tau = 9


TRUTH_OVERLAP_BIT = 1  # truth-particle constituents mark overlaps with bit 0


class UsagePolicy(enum.IntEnum):
    """``MissingETBase::UsageHandler::Policy``: which shared constituent types count as overlap."""

    TrackCluster = 0
    OnlyCluster = 1
    OnlyTrack = 2
    ParticleFlow = 3
    TruthParticle = 4
    AllCalo = 5
    PhysicsObject = 6


def _bit(t: ObjectType) -> int:
    return 1 << int(t)


# Overlap-type bits that make hasOverlaps true, per policy (index = UsagePolicy value).
POLICY_OVERLAP_MASK = np.array([
    _bit(ObjectType.CaloCluster) | _bit(ObjectType.TrackParticle),   # TrackCluster
    _bit(ObjectType.CaloCluster),                                     # OnlyCluster
    _bit(ObjectType.TrackParticle),                                   # OnlyTrack
    _bit(ObjectType.ParticleFlow),                                    # ParticleFlow
    TRUTH_OVERLAP_BIT,                                                # TruthParticle
    0xFF & ~_bit(ObjectType.TrackParticle),                           # AllCalo
    0,                                                                # PhysicsObject: never
], dtype=np.uint8)
POLICY_OVERLAP_MASK.flags.writeable = False


class MissingETBase:
    """Namespace mirroring ``MissingETBase``: ``Source`` bits and ``UsageHandler.Policy``."""

    class Source:
        """Source bit patterns (uint64) of MissingET terms and pattern tests."""

        # type
        Electron = 0x1
        Photon = 0x2
        Tau = 0x4
        Muon = 0x8
        Jet = 0x10
        SoftEvent = 0x20
        Total = 0x40
        # region
        Unknown = 0x0
        FullAcceptance = 0x0
        Central = 0x100
        Endcap = 0x200
        Forward = 0x400
        # signal
        LCTopo = 0x1000
        EMTopo = 0x2000
        Track = 0x4000
        # category
        Refined = 0x10000
        Truth = 0x20000
        Calo = 0x40000
        ID = 0x80000
        # truth types (Truth bit included)
        NonInt = 0x21000
        Int = 0x22000
        IntOut = 0x24000
        TruthMuons = 0x28000
        # METMaker: term marked invisible, excluded from the total
        Invisible = 0x100000

        @staticmethod
        def electron(region: int = 0) -> int:
            return MissingETBase.Source.Refined | MissingETBase.Source.Electron | region

        @staticmethod
        def photon(region: int = 0) -> int:
            return MissingETBase.Source.Refined | MissingETBase.Source.Photon | region

        @staticmethod
        def tau(region: int = 0) -> int:
            return MissingETBase.Source.Refined | MissingETBase.Source.Tau | region

        @staticmethod
        def muon(region: int = 0) -> int:
            return MissingETBase.Source.Refined | MissingETBase.Source.Muon | region

        @staticmethod
        def jet(region: int = 0) -> int:
            return MissingETBase.Source.Refined | MissingETBase.Source.Jet | region

        @staticmethod
        def soft_event(region: int = 0) -> int:
            return MissingETBase.Source.Refined | MissingETBase.Source.SoftEvent | region

        @staticmethod
        def total(region: int = 0) -> int:
            return MissingETBase.Source.Refined | MissingETBase.Source.Total | region

        @staticmethod
        def signal(sig: int | None = None, region: int = 0) -> int:
            S = MissingETBase.Source
            return S.Refined | (S.LCTopo | S.Track if sig is None else sig) | region

        @staticmethod
        def track(region: int = 0) -> int:
            return MissingETBase.Source.Refined | MissingETBase.Source.Track | region

        @staticmethod
        def cluster_lc(region: int = 0) -> int:
            return MissingETBase.Source.Refined | MissingETBase.Source.LCTopo | region

        @staticmethod
        def cluster_em(region: int = 0) -> int:
            return MissingETBase.Source.Refined | MissingETBase.Source.EMTopo | region

        @staticmethod
        def cluster(region: int = 0) -> int:
            S = MissingETBase.Source
            return S.Refined | S.LCTopo | S.EMTopo | region

        @staticmethod
        def calo_lc_topo(region: int = 0) -> int:
            return MissingETBase.Source.Calo | MissingETBase.Source.LCTopo | region

        @staticmethod
        def calo_em_topo(region: int = 0) -> int:
            return MissingETBase.Source.Calo | MissingETBase.Source.EMTopo | region

        @staticmethod
        def id_track(region: int = 0) -> int:
            return MissingETBase.Source.ID | MissingETBase.Source.Track | region

        @staticmethod
        def truth(truth_type: int, region: int = 0) -> int:
            return MissingETBase.Source.Truth | truth_type | region

        @staticmethod
        def invisible() -> int:
            return MissingETBase.Source.Invisible

        @staticmethod
        def has_pattern(bits: int, mask: int) -> bool:
            """True iff every bit of ``mask`` is set in ``bits``."""
            bits, mask = int(bits), int(mask)
            return (bits & mask) == mask

        @staticmethod
        def is_electron_term(bits: int, region: int = 0) -> bool:
            return MissingETBase.Source.has_pattern(bits, MissingETBase.Source.electron(region))

        @staticmethod
        def is_photon_term(bits: int, region: int = 0) -> bool:
            return MissingETBase.Source.has_pattern(bits, MissingETBase.Source.photon(region))

        @staticmethod
        def is_tau_term(bits: int, region: int = 0) -> bool:
            return MissingETBase.Source.has_pattern(bits, MissingETBase.Source.tau(region))

        @staticmethod
        def is_muon_term(bits: int, region: int = 0) -> bool:
            return MissingETBase.Source.has_pattern(bits, MissingETBase.Source.muon(region))

        @staticmethod
        def is_jet_term(bits: int, region: int = 0) -> bool:
            return MissingETBase.Source.has_pattern(bits, MissingETBase.Source.jet(region))

        @staticmethod
        def is_soft_term(bits: int, region: int = 0) -> bool:
            return MissingETBase.Source.has_pattern(bits, MissingETBase.Source.soft_event(region))

        @staticmethod
        def is_track_term(bits: int, region: int = 0) -> bool:
            return MissingETBase.Source.has_pattern(bits, MissingETBase.Source.track(region))

        @staticmethod
        def is_total_term(bits: int, region: int = 0) -> bool:
            return MissingETBase.Source.has_pattern(bits, MissingETBase.Source.total(region))

        @staticmethod
        def is_invisible_term(bits: int) -> bool:
            return MissingETBase.Source.has_pattern(bits, MissingETBase.Source.Invisible)

    class UsageHandler:
        Policy = UsagePolicy


Source = MissingETBase.Source


# ---------------------------------------------------------------------------------------------
# ConstVec and MissingET

@dataclass
class ConstVec:
    """The 5-vector of an association entry: (cpx, cpy, cpz, ce, sumpt), summed in float64."""

    cpx: float = 0.0
    cpy: float = 0.0
    cpz: float = 0.0
    ce: float = 0.0
    sumpt: float = 0.0

    def __iadd__(self, o: "ConstVec") -> "ConstVec":
        self.cpx += o.cpx; self.cpy += o.cpy; self.cpz += o.cpz; self.ce += o.ce; self.sumpt += o.sumpt
        return self

    def __isub__(self, o: "ConstVec") -> "ConstVec":
        self.cpx -= o.cpx; self.cpy -= o.cpy; self.cpz -= o.cpz; self.ce -= o.ce; self.sumpt -= o.sumpt
        return self

    def __add__(self, o: "ConstVec") -> "ConstVec":
        out = ConstVec(*self.as_tuple())
        out += o
        return out

    def __sub__(self, o: "ConstVec") -> "ConstVec":
        out = ConstVec(*self.as_tuple())
        out -= o
        return out

    def __mul__(self, s: float) -> "ConstVec":
        return ConstVec(*(s * v for v in self.as_tuple()))

    __rmul__ = __mul__

    def __truediv__(self, s: float) -> "ConstVec":
        if s < 1e-9:  # ATLAS: dividing by ~0 gives the null vector
            return ConstVec()
        return ConstVec(*(v / s for v in self.as_tuple()))

    def cpt(self) -> float:
        return math.hypot(self.cpx, self.cpy)

    def as_tuple(self) -> tuple[float, float, float, float, float]:
        return (self.cpx, self.cpy, self.cpz, self.ce, self.sumpt)

    def is_close(self, o: "ConstVec", tol: float = 1e-5) -> bool:
        return all(abs(a - b) <= tol for a, b in zip(self.as_tuple(), o.as_tuple()))


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


# ---------------------------------------------------------------------------------------------
# MissingETContainer

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
        over and makes them read-only, so it is born frozen (the store does not freeze it again).
        Users build containers with the checking constructor."""
        for a in (sources, mpx, mpy, sumet):
            a.flags.writeable = False
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
            a.flags.writeable = False
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


# ---------------------------------------------------------------------------------------------
# MissingETAssociationMap

_VEC = ("px", "py", "pz", "e", "sumpt")

# (name, dtype, length: which count it follows)
_MAP_FIELDS: tuple[tuple[str, str, str], ...] = (
    ("assoc_offsets", "int64", "events+1"),
    ("jet_index", "int32", "assoc"),
    ("is_misc", "bool", "assoc"),
    ("obj_offsets", "int64", "assoc+1"),
    ("obj_container", "uint8", "obj"),
    ("obj_index", "int32", "obj"),
    ("obj_type", "uint8", "obj"),
    ("ovl_offsets", "int64", "obj+1"),
    ("ovl_index", "int32", "ovl"),
    ("ovl_type", "uint8", "ovl"),
    ("cal_offsets", "int64", "assoc+1"),
    ("cal_key", "uint64", "cal"),
    *((f"cal_{c}", "float32", "cal") for c in _VEC),
    ("trk_offsets", "int64", "assoc+1"),
    ("trk_key", "uint64", "trk"),
    *((f"trk_{c}", "float32", "trk") for c in _VEC),
    *((f"jettrk_{c}", "float32", "assoc") for c in _VEC),
)
MAP_ARRAY_NAMES = tuple(f[0] for f in _MAP_FIELDS)
# (name, unit of its range, is offsets) for MissingETAssociationMap.slice
_SLICE_PLAN = tuple((name, length[:-2] if length.endswith("+1") else length, length.endswith("+1"))
                    for name, _, length in _MAP_FIELDS)
# (name, unit its length follows, +1 for offsets) of every field but assoc_offsets
_LENGTH_PLAN = tuple((name, unit, int(plus)) for name, unit, plus in _SLICE_PLAN if name != "assoc_offsets")
_OFFSET_OF = {"assoc": "assoc_offsets", "obj": "obj_offsets", "ovl": "ovl_offsets",
              "cal": "cal_offsets", "trk": "trk_offsets"}
_MAP_NAME_SET = frozenset(MAP_ARRAY_NAMES)
_MAP_DTYPES = tuple((name, np.dtype(dtype)) for name, dtype, _ in _MAP_FIELDS)


def _offsets_ok(off):
    if off.shape[0] == 0 or off[0] != 0:
        return False
    for i in range(off.shape[0] - 1):
        if off[i + 1] < off[i]:
            return False
    return True


def _layout_ok(assoc_offsets, jet_index, is_misc, obj_offsets, obj_container, obj_index, obj_type,
               ovl_offsets, ovl_index, ovl_type, cal_offsets, cal_key, cal_px, cal_py, cal_pz, cal_e,
               cal_sumpt, trk_offsets, trk_key, trk_px, trk_py, trk_pz, trk_e, trk_sumpt,
               jettrk_px, jettrk_py, jettrk_pz, jettrk_e, jettrk_sumpt):
    """Whether the map's structure is valid: the checks of ``_check_structure`` in one pass (the
    arguments are the fields in ``MAP_ARRAY_NAMES`` order). Compiled by :func:`_layout_kernel`."""
    if not (_offsets_ok(assoc_offsets) and _offsets_ok(obj_offsets) and _offsets_ok(ovl_offsets)
            and _offsets_ok(cal_offsets) and _offsets_ok(trk_offsets)):
        return False
    n_assoc = assoc_offsets[assoc_offsets.shape[0] - 1]
    n_obj = obj_offsets[obj_offsets.shape[0] - 1]
    n_ovl = ovl_offsets[ovl_offsets.shape[0] - 1]
    n_cal = cal_offsets[cal_offsets.shape[0] - 1]
    n_trk = trk_offsets[trk_offsets.shape[0] - 1]
    if not (jet_index.shape[0] == n_assoc and is_misc.shape[0] == n_assoc
            and obj_offsets.shape[0] == n_assoc + 1 and cal_offsets.shape[0] == n_assoc + 1
            and trk_offsets.shape[0] == n_assoc + 1 and ovl_offsets.shape[0] == n_obj + 1
            and obj_container.shape[0] == n_obj and obj_index.shape[0] == n_obj
            and obj_type.shape[0] == n_obj and ovl_index.shape[0] == n_ovl and ovl_type.shape[0] == n_ovl
            and cal_key.shape[0] == n_cal and cal_px.shape[0] == n_cal and cal_py.shape[0] == n_cal
            and cal_pz.shape[0] == n_cal and cal_e.shape[0] == n_cal and cal_sumpt.shape[0] == n_cal
            and trk_key.shape[0] == n_trk and trk_px.shape[0] == n_trk and trk_py.shape[0] == n_trk
            and trk_pz.shape[0] == n_trk and trk_e.shape[0] == n_trk and trk_sumpt.shape[0] == n_trk
            and jettrk_px.shape[0] == n_assoc and jettrk_py.shape[0] == n_assoc
            and jettrk_pz.shape[0] == n_assoc and jettrk_e.shape[0] == n_assoc
            and jettrk_sumpt.shape[0] == n_assoc):
        return False
    for a in range(n_assoc):
        if obj_offsets[a + 1] - obj_offsets[a] > MAX_OBJECTS_PER_ASSOCIATION:
            return False
    return True


_LAYOUT_KERNEL: Any = None
_LAYOUT_LOCK = threading.Lock()


def _layout_kernel():
    """:func:`_layout_ok` as a numba kernel with one signature: every field a C-contiguous 1-d
    array of its dtype (read-only or not), so calling it with anything else raises TypeError.
    Compiled on first use, so that importing the EDM does not import numba."""
    global _LAYOUT_KERNEL, _offsets_ok
    if _LAYOUT_KERNEL is None:
        with _LAYOUT_LOCK:
            if _LAYOUT_KERNEL is None:
                import numba
                from numba import types

                _offsets_ok = numba.njit(nogil=True, cache=True)(_offsets_ok)
                sig = types.boolean(*(types.Array(numba.from_dtype(dtype), 1, "C", readonly=True)
                                      for _, dtype in _MAP_DTYPES))
                _LAYOUT_KERNEL = numba.njit([sig], nogil=True, cache=True)(_layout_ok)
    return _LAYOUT_KERNEL


def _cast(name: str, value: Any, dtype: str, key: str | None) -> np.ndarray:
    if type(value) is np.ndarray and value.dtype == dtype and value.ndim == 1 and \
            value.flags.c_contiguous:   # the common case, cheap for the small maps of small blocks
        return value
    a = np.asarray(value)
    target = np.dtype(dtype)
    if a.dtype != target:
        if a.size == 0 or (a.dtype.kind in "biu" and target.kind in "biu") or (
                a.dtype.kind in "iuf" and target.kind == "f"):
            if a.size and a.dtype.kind in "iu" and target.kind in "iu":
                info = np.iinfo(target)
                if a.min() < info.min or a.max() > info.max:
                    raise SchemaError(f"values do not fit {dtype}", key=key, column=name)
            a = a.astype(target)
        else:
            raise SchemaError(f"wrong dtype: expected {dtype}, got {a.dtype}", key=key, column=name)
    if a.ndim != 1:
        raise SchemaError(f"must be 1-d, got shape {a.shape}", key=key, column=name)
    return np.ascontiguousarray(a)


class MissingETAssociationMap:
    """All associations of a block of events, columnar (see docs/internals.md for the fields).

    Per event: one association per jet in jet order (``jet_index``), then the misc association
    (``is_misc``, ``jet_index = -1``). Object ``k`` of association ``a`` is
    ``obj_offsets[a] + k``; its bit in cal/trk keys is ``1 << k``. ``container_keys`` names the
    object containers indexed by ``obj_container``; ``jet_key`` the jets (for the alternate
    constituent vector, where the reference jet is an object of its own association).
    """

    def __init__(self, container_keys: Sequence[str], *, jet_key: str | None = None,
                 key: str | None = None, **arrays: Any):
        self.key = key
        self.jet_key = jet_key
        self.container_keys = tuple(container_keys)
        if len(self.container_keys) > 255:
            raise SchemaError("at most 255 object containers per map", key=key)
        if arrays.keys() != _MAP_NAME_SET:
            unknown = set(arrays) - set(MAP_ARRAY_NAMES)
            if unknown:
                raise SchemaError(f"unknown map arrays {sorted(unknown)}", key=key, column=sorted(unknown)[0])
            missing = [n for n in MAP_ARRAY_NAMES if n not in arrays]
            raise SchemaError(f"missing map arrays {missing}", key=key, column=missing[0])
        values = [arrays[name] for name in MAP_ARRAY_NAMES]
        layout_ok = _layout_kernel()
        try:   # typing the call checks every field is a C-contiguous 1-d array of its dtype
            ok = layout_ok(*values)
        except Exception:   # noqa: BLE001 - only the dispatch can fail (TypeError, ValueError): cast
            ok = None
        if ok is None:
            values = [_cast(name, arrays[name], dtype, key) for name, dtype in _MAP_DTYPES]
            ok = layout_ok(*values)
        self.__dict__.update(zip(MAP_ARRAY_NAMES, values))
        self._cache: dict[Any, Any] = {}   # transient derived arrays, never persisted
        self._frozen = False
        if not ok:   # the Python checks name the first problem
            self._check_structure()

    @classmethod
    def from_kernel(cls, container_keys: tuple[str, ...], values: Sequence[np.ndarray], *,
                    jet_key: str | None = None, key: str | None = None) -> "MissingETAssociationMap":
        """A frozen map from a kernel's output: the producers' per-block constructor.

        ``values`` are the fields in ``MAP_ARRAY_NAMES`` order, each a C-contiguous 1-d array of
        its dtype with a valid structure, fresh from a kernel (or views of fresh kernel buffers);
        nothing is converted or re-checked. The map takes them over and makes them read-only, so
        it is born frozen. Users build maps with the checking constructor."""
        out = cls.__new__(cls)
        attrs = out.__dict__
        for a in values:
            a.flags.writeable = False
        attrs.update(zip(MAP_ARRAY_NAMES, values))
        attrs["key"] = key
        attrs["jet_key"] = jet_key
        attrs["container_keys"] = container_keys
        attrs["_cache"] = {}
        attrs["_frozen"] = True
        return out

    # -- structure ---------------------------------------------------------------------------
    def _check_structure(self) -> None:
        from metflow.edm.containers import _as_offsets
        for off in ("assoc_offsets", "obj_offsets", "ovl_offsets", "cal_offsets", "trk_offsets"):
            _as_offsets(getattr(self, off), what="offsets" if off == "assoc_offsets" else f"{off}",
                        key=self.key, column=off)
        counts = {"events": self.assoc_offsets.shape[0] - 1}
        for unit, off in _OFFSET_OF.items():
            counts[unit] = int(getattr(self, off)[-1])
        for name, unit, plus in _LENGTH_PLAN:
            want = counts[unit] + plus
            got = getattr(self, name).shape[0]
            if got != want:
                raise SchemaError(f"has {got} entries, expected {want} ({unit} count{' + 1' if plus else ''})",
                                  key=self.key, column=name)
        oo = self.obj_offsets
        if oo.shape[0] > 1 and (oo[1:] - oo[:-1]).max() > MAX_OBJECTS_PER_ASSOCIATION:
            n_obj = np.diff(oo)
            over = np.flatnonzero(n_obj > MAX_OBJECTS_PER_ASSOCIATION)
            a = int(over[0])
            raise TooManyObjectsError(event=int(self.assoc_event()[a]), jet_index=int(self.jet_index[a]),
                                      n_objects=int(n_obj[a]), key=self.key)

    @property
    def n_events(self) -> int:
        return self.assoc_offsets.shape[0] - 1

    @property
    def n_associations(self) -> int:
        return int(self.assoc_offsets[-1])

    @property
    def n_objects(self) -> int:
        return int(self.obj_offsets[-1])

    def __len__(self) -> int:
        return self.n_associations

    def arrays(self) -> dict[str, np.ndarray]:
        """Every raw array by field name (kernels take these)."""
        return {n: getattr(self, n) for n in MAP_ARRAY_NAMES}

    def _derived(self, name: str, build):
        v = self._cache.get(name)
        if v is None:
            v = build()
            v.flags.writeable = False
            self._cache[name] = v
        return v

    def assoc_event(self) -> np.ndarray:
        """int64[n_assoc]: block-local event of each association."""
        return self._derived("assoc_event", lambda: np.repeat(
            np.arange(self.n_events, dtype=np.int64), np.diff(self.assoc_offsets)))

    def obj_assoc(self) -> np.ndarray:
        """int64[n_obj]: association of each object."""
        return self._derived("obj_assoc", lambda: np.repeat(
            np.arange(self.n_associations, dtype=np.int64), np.diff(self.obj_offsets)))

    def container_id(self, container: str | int) -> int:
        if isinstance(container, (int, np.integer)):
            return int(container)
        try:
            return self.container_keys.index(container)
        except ValueError:
            raise KeyError(f"container {container!r} is not in map {self.key or ''} "
                           f"(containers: {list(self.container_keys)})") from None

    # -- views and lookups -------------------------------------------------------------------
    def association(self, a: int) -> "MissingETAssociation":
        if not 0 <= a < self.n_associations:
            raise IndexError(f"association {a} out of range ({self.n_associations})")
        return MissingETAssociation(self, a)

    def event_associations(self, event: int) -> list["MissingETAssociation"]:
        self._check_event(event)
        return [MissingETAssociation(self, a)
                for a in range(int(self.assoc_offsets[event]), int(self.assoc_offsets[event + 1]))]

    event = event_associations

    def _check_event(self, event: int) -> None:
        if not 0 <= event < self.n_events:
            raise IndexError(f"event {event} out of range for a block of {self.n_events} events")

    def find_by_jet(self, event: int, jet_index: int) -> "MissingETAssociation | None":
        """The association of jet ``jet_index`` (event-local) in ``event``, or None."""
        self._check_event(event)
        lo, hi = int(self.assoc_offsets[event]), int(self.assoc_offsets[event + 1])
        guess = lo + jet_index
        if lo <= guess < hi and self.jet_index[guess] == jet_index and not self.is_misc[guess]:
            return MissingETAssociation(self, guess)
        hits = np.flatnonzero((self.jet_index[lo:hi] == jet_index) & ~self.is_misc[lo:hi])
        return MissingETAssociation(self, lo + int(hits[0])) if hits.size else None

    def misc_association(self, event: int) -> "MissingETAssociation | None":
        self._check_event(event)
        lo, hi = int(self.assoc_offsets[event]), int(self.assoc_offsets[event + 1])
        for a in range(hi - 1, lo - 1, -1):
            if self.is_misc[a]:
                return MissingETAssociation(self, a)
        return None

    def associations_of(self, event: int, container: str | int, index: int) -> list["MissingETAssociation"]:
        """Every association of ``event`` listing object (container, index)."""
        self._check_event(event)
        cid = self.container_id(container)
        lo = int(self.obj_offsets[self.assoc_offsets[event]])
        hi = int(self.obj_offsets[self.assoc_offsets[event + 1]])
        hits = np.flatnonzero((self.obj_container[lo:hi] == cid) & (self.obj_index[lo:hi] == index))
        assoc = self.obj_assoc()
        return [MissingETAssociation(self, int(assoc[lo + h])) for h in hits]

    def ref_jet(self, event: int, container: str | int, index: int) -> int:
        """Jet index of the first jet association containing the object, else -1."""
        for assoc in self.associations_of(event, container, index):
            if not assoc.is_misc:
                return assoc.jet_index
        return -1

    def constituent_association(self, jets, target, field: str = "constituents") -> np.ndarray:
        """Transient constituent -> association cache (built on demand, never persisted).

        Returns int64[len(target)]: for every object of ``target`` (e.g. PFOs) the global index
        of the association whose jet lists it in ``jets[field]``, -1 if in no jet. ``jets`` and
        ``target`` are Containers over the same block of events as this map.
        """
        entry = self._cache.get(("constituents", field))
        if entry is not None and entry[0] is jets and entry[1] is target:
            return entry[2]
        if jets.n_events != self.n_events or target.n_events != self.n_events:
            raise SchemaError("jets, target and map must cover the same events", key=self.key)
        lists = jets[field]
        out = np.full(len(target), -1, np.int64)
        jet_event = jets.event_of_object()
        jet_local = jets.local_index()
        # association of each jet: jets are listed in order, find by jet_index within the event
        non_misc = ~self.is_misc
        a_ev = self.assoc_event()
        key_a = a_ev[non_misc] * (2 ** 32) + self.jet_index[non_misc].astype(np.int64)
        a_idx = np.flatnonzero(non_misc)
        order = np.argsort(key_a, kind="stable")
        key_j = jet_event * (2 ** 32) + jet_local.astype(np.int64)
        pos = np.searchsorted(key_a[order], key_j)
        pos_ok = pos < key_a.size
        found = np.zeros(len(jets), bool)
        found[pos_ok] = key_a[order][pos[pos_ok]] == key_j[pos_ok]
        jet_assoc = np.full(len(jets), -1, np.int64)
        jet_assoc[found] = a_idx[order][pos[found]]
        counts = lists.counts()
        const_jet = np.repeat(np.arange(len(jets), dtype=np.int64), counts)
        const_global = target.offsets[jet_event[const_jet]] + lists.values
        out[const_global] = jet_assoc[const_jet]
        out.flags.writeable = False
        self._cache[("constituents", field)] = (jets, target, out)
        return out

    # -- checks ------------------------------------------------------------------------------
    def validate(self, *, source: str | None = None, key: str | None = None) -> "MissingETAssociationMap":
        """Layout (misc last, one per event, jets increasing), container ids, finite sums."""
        key = key or self.key
        ev = self.assoc_event()
        misc_count = np.bincount(ev[self.is_misc], minlength=self.n_events)
        bad = np.flatnonzero(misc_count != 1)
        if bad.size:
            raise MapConsistencyError(f"{int(misc_count[bad[0]])} misc associations, expected exactly 1",
                                      source=source, key=key, column="is_misc", event=int(bad[0]))
        last = self.assoc_offsets[1:] - 1
        bad = np.flatnonzero(~self.is_misc[last])
        if bad.size:
            raise MapConsistencyError("misc association is not the last one", source=source, key=key,
                                      column="is_misc", event=int(bad[0]))
        bad = np.flatnonzero(self.is_misc & (self.jet_index != -1) | ~self.is_misc & (self.jet_index < 0))
        if bad.size:
            raise MapConsistencyError(f"jet_index {int(self.jet_index[bad[0]])} inconsistent with is_misc",
                                      source=source, key=key, column="jet_index", event=int(ev[bad[0]]))
        same_event = ev[1:] == ev[:-1]
        both_jets = ~self.is_misc[1:] & ~self.is_misc[:-1]
        bad = np.flatnonzero(same_event & both_jets & (self.jet_index[1:] <= self.jet_index[:-1]))
        if bad.size:
            raise MapConsistencyError("jet associations not in increasing jet order", source=source, key=key,
                                      column="jet_index", event=int(ev[bad[0] + 1]))
        bad = np.flatnonzero(self.obj_container >= len(self.container_keys))
        if bad.size:
            raise MapConsistencyError(f"obj_container {int(self.obj_container[bad[0]])} but only "
                                      f"{len(self.container_keys)} containers", source=source, key=key,
                                      column="obj_container", event=int(ev[self.obj_assoc()[bad[0]]]))
        bad = np.flatnonzero(self.obj_index < 0)
        if bad.size:
            raise MapConsistencyError(f"negative obj_index {int(self.obj_index[bad[0]])}", source=source,
                                      key=key, column="obj_index", event=int(ev[self.obj_assoc()[bad[0]]]))
        for name, _, length in _MAP_FIELDS:
            a = getattr(self, name)
            if a.dtype.kind == "f":
                badf = np.flatnonzero(~np.isfinite(a))
                if badf.size:
                    i = int(badf[0])
                    if length == "assoc":
                        e = int(ev[i])
                    else:
                        off = getattr(self, _OFFSET_OF[length])
                        e = int(ev[np.searchsorted(off, i, side="right") - 1])
                    raise NonFiniteError(f"non-finite value {a[i]}", source=source, key=key, column=name, event=e)
        return self

    def check_keys(self, *, source: str | None = None) -> "MissingETAssociationMap":
        """Key invariants: non-zero keys, no bit >= n_objects, unique keys, symmetric overlaps."""
        n_obj = np.diff(self.obj_offsets).astype(np.uint64)
        ev = self.assoc_event()
        for kind in ("cal", "trk"):
            keys = getattr(self, f"{kind}_key")
            off = getattr(self, f"{kind}_offsets")
            owner = np.repeat(np.arange(self.n_associations), np.diff(off))
            zero = np.flatnonzero(keys == 0)
            if zero.size:
                a = int(owner[zero[0]])
                raise MapConsistencyError(f"{kind}_key is zero", source=source, key=self.key,
                                          column=f"{kind}_key", event=int(ev[a]))
            nb = n_obj[owner]
            allowed = np.where(nb >= 64, np.uint64(0xFFFFFFFFFFFFFFFF),
                               (np.uint64(1) << np.minimum(nb, np.uint64(63))) - np.uint64(1))
            bad = np.flatnonzero(keys & ~allowed)
            if bad.size:
                a = int(owner[bad[0]])
                raise MapConsistencyError(
                    f"{kind}_key {int(keys[bad[0]]):#x} has a bit beyond the {int(n_obj[a])} objects of "
                    f"association {a - int(self.assoc_offsets[ev[a]])} (jet {int(self.jet_index[a])})",
                    source=source, key=self.key, column=f"{kind}_key", event=int(ev[a]))
            order = np.lexsort((keys, owner))
            dup = (owner[order][1:] == owner[order][:-1]) & (keys[order][1:] == keys[order][:-1])
            if dup.any():
                a = int(owner[order][1:][dup][0])
                raise MapConsistencyError(f"duplicate {kind}_key in association of jet {int(self.jet_index[a])}",
                                          source=source, key=self.key, column=f"{kind}_key", event=int(ev[a]))
        # overlaps: in range, not self, symmetric with equal types
        obj_assoc = self.obj_assoc()
        ovl_owner = np.repeat(np.arange(self.n_objects, dtype=np.int64), np.diff(self.ovl_offsets))
        local_owner = ovl_owner - self.obj_offsets[obj_assoc[ovl_owner]]
        n_in_assoc = np.diff(self.obj_offsets)[obj_assoc[ovl_owner]]
        bad = np.flatnonzero((self.ovl_index < 0) | (self.ovl_index >= n_in_assoc) | (self.ovl_index == local_owner))
        if bad.size:
            i = int(bad[0])
            raise MapConsistencyError(f"overlap index {int(self.ovl_index[i])} of object {int(local_owner[i])} "
                                      f"invalid (self or out of range)", source=source, key=self.key,
                                      column="ovl_index", event=int(ev[obj_assoc[ovl_owner[i]]]))
        a_of = obj_assoc[ovl_owner]
        fwd = np.stack([a_of, local_owner, self.ovl_index.astype(np.int64), self.ovl_type.astype(np.int64)], axis=1)
        rev = np.stack([a_of, self.ovl_index.astype(np.int64), local_owner, self.ovl_type.astype(np.int64)], axis=1)
        fs = {tuple(r) for r in fwd.tolist()}
        rs = {tuple(r) for r in rev.tolist()}
        if fs != rs:
            a, i, j, t = min(fs ^ rs)
            raise MapConsistencyError(f"overlaps not symmetric: object {i} -> {j} (type bits {t:#x}) has no "
                                      f"mirror in association of jet {int(self.jet_index[a])}", source=source,
                                      key=self.key, column="ovl_index", event=int(ev[a]))
        return self

    # -- block operations --------------------------------------------------------------------
    def slice(self, start: int, stop: int) -> "MissingETAssociationMap":
        """Events [start, stop) (arrays are views where possible, offsets rebased)."""
        start, stop, _ = slice(start, stop).indices(self.n_events)
        stop = max(start, stop)
        a0, a1 = int(self.assoc_offsets[start]), int(self.assoc_offsets[stop])
        o0, o1 = int(self.obj_offsets[a0]), int(self.obj_offsets[a1])
        v0, v1 = int(self.ovl_offsets[o0]), int(self.ovl_offsets[o1])
        c0, c1 = int(self.cal_offsets[a0]), int(self.cal_offsets[a1])
        t0, t1 = int(self.trk_offsets[a0]), int(self.trk_offsets[a1])
        rng = {"events": (start, stop), "assoc": (a0, a1), "obj": (o0, o1), "ovl": (v0, v1),
               "cal": (c0, c1), "trk": (t0, t1)}
        # a sub-range of a valid map is valid: built without re-casting and re-checking
        out = MissingETAssociationMap.__new__(MissingETAssociationMap)
        out.key, out.jet_key, out.container_keys = self.key, self.jet_key, self.container_keys
        for name, lo_hi, rebase in _SLICE_PLAN:
            lo, hi = rng[lo_hi]
            a = getattr(self, name)
            if rebase:
                a = a[lo:hi + 1] - a[lo]
                if self._frozen:   # the other arrays are views of read-only arrays
                    a.flags.writeable = False
                setattr(out, name, a)
            else:
                setattr(out, name, a[lo:hi])
        out._cache = {}
        out._frozen = self._frozen
        return out

    @classmethod
    def concatenate(cls, maps: Sequence["MissingETAssociationMap"]) -> "MissingETAssociationMap":
        """Blocks one after another; container keys are merged (ids remapped)."""
        if not maps:
            raise ValueError("concatenate needs at least one map")
        keys = list(maps[0].container_keys)
        for m in maps[1:]:
            keys += [k for k in m.container_keys if k not in keys]
        out: dict[str, list[np.ndarray]] = {n: [] for n in MAP_ARRAY_NAMES}
        for m in maps:
            remap = np.array([keys.index(k) for k in m.container_keys] or [0], dtype=np.uint8)
            for name, _, length in _MAP_FIELDS:
                a = getattr(m, name)
                if length.endswith("+1"):
                    prev = out[name]
                    shift = prev[-1][-1] if prev else 0
                    out[name].append(a[(1 if prev else 0):] + shift)
                elif name == "obj_container":
                    out[name].append(remap[a] if a.size else a)
                else:
                    out[name].append(a)
        jet_keys = {m.jet_key for m in maps}
        if len(jet_keys) > 1:
            raise SchemaError(f"cannot concatenate maps of different jets {sorted(map(str, jet_keys))}")
        return cls(tuple(keys), jet_key=maps[0].jet_key, key=maps[0].key,
                   **{n: np.concatenate(v) for n, v in out.items()})

    @classmethod
    def empty(cls, n_events: int, container_keys: Sequence[str] = (), *, jet_key: str | None = None,
              key: str | None = None, with_misc: bool = True) -> "MissingETAssociationMap":
        """Each event with only a misc association (or nothing) and no objects."""
        events = [[{"jet_index": -1, "objects": []}] if with_misc else [] for _ in range(n_events)]
        return cls.from_events(events, container_keys, jet_key=jet_key, key=key)

    @classmethod
    def from_events(cls, events: Sequence[Any], container_keys: Sequence[str] | None = None, *,
                    jet_key: str | None = None, key: str | None = None) -> "MissingETAssociationMap":
        """Build from Python lists (tests, small producers).

        ``events[i]`` is a list of association dicts (or ``{"associations": [...]}``)::

            {"jet_index": 0,                      # -1 (or is_misc=True) for the misc association
             "objects": [("Electrons", 0, ObjectType.Electron), ...],
             "overlaps": [[(j, type_bits), ...] per object],      # optional
             "cal": [(key, px, py, pz, e, sumpt), ...], "trk": [...],   # optional
             "jettrk": (px, py, pz, e, sumpt)}                     # optional, default zeros

        ``container_keys`` fixes the container order (default: order of first appearance).
        More than 64 objects in one association raises :class:`TooManyObjectsError`.
        """
        keys = list(container_keys or [])
        fixed = container_keys is not None
        cols: dict[str, list] = {n: [] for n in MAP_ARRAY_NAMES if not n.endswith("offsets")}
        counts: dict[str, list[int]] = {"assoc": [], "obj": [], "ovl": [], "cal": [], "trk": []}
        for ie, ev in enumerate(events):
            assocs = ev["associations"] if isinstance(ev, Mapping) else ev
            counts["assoc"].append(len(assocs))
            for ad in assocs:
                jet = ad.get("jet_index", -1)
                jet = -1 if jet is None else int(jet)
                misc = bool(ad.get("is_misc", jet < 0))
                objects = list(ad.get("objects", ()))
                if len(objects) > MAX_OBJECTS_PER_ASSOCIATION:
                    raise TooManyObjectsError(event=ie, jet_index=jet, n_objects=len(objects), key=key)
                cols["jet_index"].append(jet)
                cols["is_misc"].append(misc)
                counts["obj"].append(len(objects))
                overlaps = ad.get("overlaps") or [[] for _ in objects]
                if len(overlaps) != len(objects):
                    raise SchemaError(f"{len(overlaps)} overlap lists for {len(objects)} objects",
                                      key=key, column="ovl_index", event=ie)
                for obj, ovl in zip(objects, overlaps):
                    cont, idx, typ = obj
                    if isinstance(cont, str):
                        if cont not in keys:
                            if fixed:
                                raise SchemaError(f"object container {cont!r} not in {keys}", key=key,
                                                  column="obj_container", event=ie)
                            keys.append(cont)
                        cont = keys.index(cont)
                    cols["obj_container"].append(int(cont))
                    cols["obj_index"].append(int(idx))
                    cols["obj_type"].append(int(typ))
                    counts["ovl"].append(len(ovl))
                    for j, t in ovl:
                        cols["ovl_index"].append(int(j))
                        cols["ovl_type"].append(int(t))
                for kind in ("cal", "trk"):
                    entries = list(ad.get(kind, ()))
                    counts[kind].append(len(entries))
                    for entry in entries:
                        k, *vec = entry
                        if len(vec) != 5:
                            raise SchemaError(f"{kind} entry needs (key, px, py, pz, e, sumpt)", key=key,
                                              column=f"{kind}_key", event=ie)
                        cols[f"{kind}_key"].append(int(k))
                        for c, v in zip(_VEC, vec):
                            cols[f"{kind}_{c}"].append(v)
                jt = ad.get("jettrk") or (0.0,) * 5
                for c, v in zip(_VEC, jt):
                    cols[f"jettrk_{c}"].append(v)

        def offsets(c: list[int]) -> np.ndarray:
            o = np.zeros(len(c) + 1, np.int64)
            np.cumsum(c, out=o[1:])
            return o

        arrays: dict[str, np.ndarray] = {}
        for name, dtype, _ in _MAP_FIELDS:
            if name.endswith("offsets"):
                unit = {"assoc_offsets": "assoc", "obj_offsets": "obj", "ovl_offsets": "ovl",
                        "cal_offsets": "cal", "trk_offsets": "trk"}[name]
                arrays[name] = offsets(counts[unit])
            else:
                arrays[name] = np.array(cols[name], dtype=dtype)
        return cls(tuple(keys), jet_key=jet_key, key=key, **arrays)

    def to_events(self) -> list[list[dict]]:
        """Inverse of :meth:`from_events` (container keys as strings)."""
        return [[a.to_dict() for a in self.event_associations(i)] for i in range(self.n_events)]

    # -- lifecycle ---------------------------------------------------------------------------
    def freeze(self) -> "MissingETAssociationMap":
        if self._frozen:
            return self
        attrs = self.__dict__
        for n in MAP_ARRAY_NAMES:
            attrs[n].setflags(write=False)
        self._frozen = True
        return self

    @property
    def frozen(self) -> bool:
        return self._frozen

    def equals(self, other: object) -> bool:
        """Bit-exact equality of every persistent field (the transient cache is ignored)."""
        if not isinstance(other, MissingETAssociationMap):
            return False
        if self.container_keys != other.container_keys or self.jet_key != other.jet_key:
            return False
        return all(getattr(self, n).dtype == getattr(other, n).dtype
                   and getattr(self, n).tobytes() == getattr(other, n).tobytes() for n in MAP_ARRAY_NAMES)

    def to_arrow(self):
        from metflow.edm import persistence
        return persistence.map_to_arrow(self)

    def __arrow_array__(self, type=None):
        return self.to_arrow()

    @classmethod
    def from_arrow(cls, array, *, key: str | None = None, source: str | None = None,
                   validate: bool = True) -> "MissingETAssociationMap":
        from metflow.edm import persistence
        return persistence.map_from_arrow(array, key=key, source=source, validate=validate)

    def __repr__(self) -> str:
        return (f"MissingETAssociationMap({self.key or ''}: {self.n_events} events, "
                f"{self.n_associations} associations, {self.n_objects} objects, "
                f"containers={list(self.container_keys)})")


# ---------------------------------------------------------------------------------------------
# MissingETAssociation view

def _key_has_bit(keys: np.ndarray, bit: int) -> np.ndarray:
    return (keys >> np.uint64(bit)) & np.uint64(1) == np.uint64(1)


class MissingETAssociation:
    """View of association ``index`` of a map (global index within the block)."""

    __slots__ = ("map", "index")

    def __init__(self, map: MissingETAssociationMap, index: int):
        self.map = map
        self.index = index

    # -- fields ------------------------------------------------------------------------------
    @property
    def event(self) -> int:
        return int(self.map.assoc_event()[self.index])

    @property
    def jet_index(self) -> int:
        return int(self.map.jet_index[self.index])

    @property
    def is_misc(self) -> bool:
        return bool(self.map.is_misc[self.index])

    @property
    def _obj_range(self) -> tuple[int, int]:
        return int(self.map.obj_offsets[self.index]), int(self.map.obj_offsets[self.index + 1])

    @property
    def n_objects(self) -> int:
        lo, hi = self._obj_range
        return hi - lo

    def objects(self) -> list[tuple[str, int, ObjectType]]:
        lo, hi = self._obj_range
        m = self.map
        return [(m.container_keys[m.obj_container[i]], int(m.obj_index[i]), ObjectType(int(m.obj_type[i])))
                for i in range(lo, hi)]

    def overlap_indices(self, obj_i: int) -> np.ndarray:
        g = self._obj(obj_i)
        return self.map.ovl_index[self.map.ovl_offsets[g]:self.map.ovl_offsets[g + 1]]

    def overlap_types(self, obj_i: int) -> np.ndarray:
        g = self._obj(obj_i)
        return self.map.ovl_type[self.map.ovl_offsets[g]:self.map.ovl_offsets[g + 1]]

    def _obj(self, obj_i: int) -> int:
        lo, hi = self._obj_range
        if not 0 <= obj_i < hi - lo:
            raise IndexError(f"object {obj_i} out of range: association has {hi - lo} objects")
        return lo + obj_i

    def _entries(self, kind: str) -> tuple[np.ndarray, np.ndarray]:
        off = getattr(self.map, f"{kind}_offsets")
        lo, hi = int(off[self.index]), int(off[self.index + 1])
        keys = getattr(self.map, f"{kind}_key")[lo:hi]
        vecs = np.stack([getattr(self.map, f"{kind}_{c}")[lo:hi] for c in _VEC], axis=1)
        return keys, vecs

    @property
    def cal_key(self) -> np.ndarray:
        return self._entries("cal")[0]

    @property
    def trk_key(self) -> np.ndarray:
        return self._entries("trk")[0]

    def cal_entry(self, k: int) -> ConstVec:
        """Cal entry ``k``; an invalid index gives the ATLAS sentinel (-9999999 everywhere)."""
        return self._entry("cal", k)

    def trk_entry(self, k: int) -> ConstVec:
        return self._entry("trk", k)

    def _entry(self, kind: str, k: int) -> ConstVec:
        keys, vecs = self._entries(kind)
        if not 0 <= k < keys.shape[0]:
            return ConstVec(*(-9999999.0,) * 5)
        return ConstVec(*(float(v) for v in vecs[k]))

    # -- derived queries ---------------------------------------------------------------------
    def find_index(self, container: str | int, index: int) -> int:
        """Position of object (container, index) among this association's objects, else -1."""
        lo, hi = self._obj_range
        try:
            cid = self.map.container_id(container)
        except KeyError:
            return -1
        hits = np.flatnonzero((self.map.obj_container[lo:hi] == cid) & (self.map.obj_index[lo:hi] == index))
        return int(hits[0]) if hits.size else -1

    def _sum(self, kind: str, select: np.ndarray) -> ConstVec:
        _, vecs = self._entries(kind)
        s = vecs[select].astype(np.float64).sum(axis=0) if select.any() else np.zeros(5)
        return ConstVec(*(float(v) for v in s))

    def cal_vec(self, obj_i: int) -> ConstVec:
        """Sum of cal entries whose key contains object ``obj_i`` (shared pieces included)."""
        self._obj(obj_i)
        return self._sum("cal", _key_has_bit(self.cal_key, obj_i))

    def trk_vec(self, obj_i: int) -> ConstVec:
        self._obj(obj_i)
        return self._sum("trk", _key_has_bit(self.trk_key, obj_i))

    def jet_trk_vec(self) -> ConstVec:
        m, a = self.map, self.index
        return ConstVec(*(float(getattr(m, f"jettrk_{c}")[a]) for c in _VEC))

    def _overlap_select(self, kind: str, helper: "MissingETAssociationHelper") -> np.ndarray:
        keys = getattr(self, f"{kind}_key")
        used = (keys & np.uint64(helper.get_obj_selection_flags(self.index))) != 0
        return ~used if self.is_misc else used

    def overlap_cal_vec(self, helper: "MissingETAssociationHelper") -> ConstVec:
        """Jet: cal entries claimed by selected objects. Misc: entries of no selected object."""
        return self._sum("cal", self._overlap_select("cal", helper))

    def overlap_trk_vec(self, helper: "MissingETAssociationHelper") -> ConstVec:
        return self._sum("trk", self._overlap_select("trk", helper))

    def has_overlaps(self, helper: "MissingETAssociationHelper", obj_i: int,
                     policy: UsagePolicy = UsagePolicy.OnlyCluster) -> bool:
        """True iff an already-selected object shares constituents of a policy type with obj_i."""
        mask = int(POLICY_OVERLAP_MASK[int(policy)])
        if mask == 0:
            return False
        flags = helper.get_obj_selection_flags(self.index)
        for j, t in zip(self.overlap_indices(obj_i).tolist(), self.overlap_types(obj_i).tolist()):
            if (flags >> j) & 1 and t & mask:
                return True
        return False

    def _jet_obj(self) -> int:
        if self.is_misc or self.map.jet_key is None or self.map.jet_key not in self.map.container_keys:
            return -1
        return self.find_index(self.map.jet_key, self.jet_index)

    def has_alternate_const_vec(self) -> bool:
        """True when the reference jet is an object of its own association (mismatched signals)."""
        return self._jet_obj() >= 0

    def get_alternate_const_vec(self) -> ConstVec:
        """Sum of the cal entries that contain the reference jet's bit."""
        j = self._jet_obj()
        if j < 0:
            return ConstVec()
        return self.cal_vec(j)

    def to_dict(self) -> dict[str, Any]:
        keys_c, vc = self._entries("cal")
        keys_t, vt = self._entries("trk")
        return {
            "jet_index": self.jet_index, "is_misc": self.is_misc,
            "objects": [(c, i, int(t)) for c, i, t in self.objects()],
            "overlaps": [list(zip(self.overlap_indices(k).tolist(), self.overlap_types(k).tolist()))
                         for k in range(self.n_objects)],
            "cal": [(int(k), *map(float, v)) for k, v in zip(keys_c, vc)],
            "trk": [(int(k), *map(float, v)) for k, v in zip(keys_t, vt)],
            "jettrk": self.jet_trk_vec().as_tuple(),
        }

    def __repr__(self) -> str:
        what = "misc" if self.is_misc else f"jet {self.jet_index}"
        return f"<MissingETAssociation event {self.event} {what}: {self.n_objects} objects>"


# ---------------------------------------------------------------------------------------------
# MissingETAssociationHelper

class MissingETAssociationHelper:
    """Selection flags of one rebuild, one uint64 per association; never stored, map untouched.

    Either per invocation (``MissingETAssociationHelper(map)``) or one per thread, rebound to
    each block's map with :meth:`reset` (METMakerAlg keeps one in its thread scratch): the
    flag buffer is reused and only grows."""

    __slots__ = ("map", "selected", "_buffer")

    def __init__(self, map: MissingETAssociationMap):
        self.map = map
        self.selected = self._buffer = np.zeros(map.n_associations, np.uint64)

    def reset(self, map: MissingETAssociationMap) -> "MissingETAssociationHelper":
        """Bind to ``map`` with every flag cleared (the next block of this thread)."""
        n = map.n_associations
        buffer = self._buffer
        if buffer.shape[0] < n:
            buffer = self._buffer = np.zeros(max(n, 2 * buffer.shape[0]), np.uint64)
        else:
            buffer[:n] = 0
        self.selected = buffer[:n]
        self.map = map
        return self

    def reset_obj_selection_flags(self) -> None:
        self.selected[:] = 0

    def get_obj_selection_flags(self, assoc: int) -> int:
        return int(self.selected[assoc])

    def set_obj_selection_flag(self, assoc: int, obj_i: int, flag: bool = True) -> None:
        n = int(self.map.obj_offsets[assoc + 1] - self.map.obj_offsets[assoc])
        if not 0 <= obj_i < n:
            raise IndexError(f"object {obj_i} out of range: association {assoc} has {n} objects")
        bit = np.uint64(1) << np.uint64(obj_i)
        if flag:
            self.selected[assoc] |= bit
        else:
            self.selected[assoc] &= ~bit

    def obj_selected(self, assoc: int, obj_i: int) -> bool:
        return bool((int(self.selected[assoc]) >> obj_i) & 1)

    def obj_selected_any(self, event: int, container: str | int, index: int) -> bool:
        """True if the object is flagged in any association of the event."""
        for assoc in self.map.associations_of(event, container, index):
            if self.obj_selected(assoc.index, assoc.find_index(container, index)):
                return True
        return False

    def select_if_no_overlaps(self, event: int, container: str | int, index: int,
                              policy: UsagePolicy = UsagePolicy.OnlyCluster) -> bool:
        """Flag the object in every association containing it unless an overlap with an
        already-selected object exists in any of them (then change nothing, return False)."""
        found = [(a, a.find_index(container, index)) for a in self.map.associations_of(event, container, index)]
        for assoc, obj_i in found:
            if assoc.has_overlaps(self, obj_i, policy):
                return False
        for assoc, obj_i in found:
            self.set_obj_selection_flag(assoc.index, obj_i, True)
        return True

    def __reduce__(self):
        raise TypeError("MissingETAssociationHelper is per-invocation state and must not be stored or pickled")


__all__ = [
    "ObjectType", "UsagePolicy", "POLICY_OVERLAP_MASK", "TRUTH_OVERLAP_BIT", "MissingETBase", "Source",
    "ConstVec", "MissingET", "METTermView", "MissingETContainer", "MissingETAssociationMap",
    "MissingETAssociation", "MissingETAssociationHelper", "MAX_OBJECTS_PER_ASSOCIATION", "MAP_ARRAY_NAMES",
]
