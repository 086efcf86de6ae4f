"""Columnar containers for a block of events, their schemas and the input schema v1.

A :class:`Container` holds the objects of ``n_events`` consecutive events: ``offsets``
(int64[n_events+1]) cut the flat columns into events; each column is a numpy array with one
entry per object, or a :class:`ListColumn` (its own offsets + int32 values) for list-of-index
links. An :class:`EventRecord` holds one value per event (EventInfo, TruthMET).
Both convert zero-copy to/from Arrow (``list<struct>`` resp. ``struct``, one entry per event)
for numeric columns; bool columns are bit-packed by Arrow, so they are copied.

Links are event-local int32 indices into a target container named by the schema field
(``-1`` = invalid for single links; list links hold valid indices only). Range checks against
the target live in :mod:`metflow.edm.links`.

Constructors cast numeric columns to the schema dtype when the cast is of the same kind
(float64 -> float32, int64 -> int32); readers (:meth:`Container.from_arrow`) are strict and
reject any other Arrow type. NaN/inf in a float column is always an error
(:class:`~metflow.edm.errors.NonFiniteError`) in :meth:`validate` and in every reader.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Iterable, Iterator, Mapping, Sequence

import numpy as np

from metflow.edm import keys as _k
from metflow.edm.errors import NonFiniteError, SchemaError, UnknownKeyError

# ---------------------------------------------------------------------------------------------
# schemas

VALUE, LINK, LINKS = "value", "link", "links"
_ALLOWED_DTYPES = ("float32", "float64", "int8", "uint8", "int16", "uint16", "int32", "uint32",
                   "int64", "uint64", "bool")


@dataclass(frozen=True)
class Field:
    """One column of a schema: name, numpy dtype, kind (value/link/links) and link target."""

    name: str
    dtype: str
    kind: str = VALUE
    target: str | None = None
    required: bool = True
    doc: str = ""

    def __post_init__(self):
        if self.dtype not in _ALLOWED_DTYPES:
            raise ValueError(f"field {self.name!r}: unsupported dtype {self.dtype!r}")
        if self.kind not in (VALUE, LINK, LINKS):
            raise ValueError(f"field {self.name!r}: kind must be value, link or links")
        if self.kind != VALUE and self.dtype != "int32":
            raise ValueError(f"link field {self.name!r} must be int32")

    @property
    def is_link(self) -> bool:
        return self.kind in (LINK, LINKS)


@dataclass(frozen=True)
class Schema:
    """Declared columns of a container type; ``per_event`` marks EventRecord schemas."""

    name: str
    fields: tuple[Field, ...]
    per_event: bool = False

    def __post_init__(self):
        names = [f.name for f in self.fields]
        if len(set(names)) != len(names):
            raise ValueError(f"schema {self.name!r} has duplicate field names")
        if self.per_event and any(f.kind == LINKS for f in self.fields):
            raise ValueError(f"per-event schema {self.name!r} cannot have list links")
        # lookups done per column of every decoded block: precomputed (the schema is frozen)
        object.__setattr__(self, "_by_name", {f.name: f for f in self.fields})
        object.__setattr__(self, "_required", tuple(f.name for f in self.fields if f.required))

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.fields)

    @property
    def required(self) -> tuple[str, ...]:
        return self._required

    @property
    def links(self) -> tuple[Field, ...]:
        return tuple(f for f in self.fields if f.is_link)

    def field(self, name: str) -> Field | None:
        return self._by_name.get(name)

    def __contains__(self, name: str) -> bool:
        return self.field(name) is not None

    def with_field(self, field: Field) -> "Schema":
        """A copy with ``field`` added, or replacing the field of the same name."""
        fields = [f for f in self.fields if f.name != field.name] + [field]
        return dataclasses.replace(self, fields=tuple(fields))

    def with_targets(self, **targets: str) -> "Schema":
        """A copy whose link fields point to other keys (e.g. a jet collection on TopoClusters)."""
        fields = []
        for f in self.fields:
            if f.name in targets:
                if not f.is_link:
                    raise ValueError(f"{self.name}.{f.name} is not a link field")
                f = dataclasses.replace(f, target=targets[f.name])
            fields.append(f)
        unknown = set(targets) - set(self.names)
        if unknown:
            raise ValueError(f"schema {self.name!r} has no fields {sorted(unknown)}")
        return dataclasses.replace(self, fields=tuple(fields))


def _p4(doc: str = "") -> list[Field]:
    return [Field(c, "float32", doc=f"{c} [MeV]{' ' + doc if doc else ''}") for c in ("px", "py", "pz", "e")]


def _link(name: str, target: str, doc: str = "") -> Field:
    return Field(name, "int32", LINK, target, doc=doc or f"index into {target}, -1 if none")


def _links(name: str, target: str, doc: str = "") -> Field:
    return Field(name, "int32", LINKS, target, doc=doc or f"indices into {target}")


ORIGINAL_INDEX = "original_index"


def _original_index(target: str | None) -> Field:
    return Field(ORIGINAL_INDEX, "int32", LINK, target, required=False,
                 doc="shallow copies: index of the copied object in the original container")


def original_index_field(target: str | None) -> Field:
    """The ``original_index`` link field of a shallow copy of ``target`` (the root container's key)."""
    return _original_index(target)


EVENT_INFO_SCHEMA = Schema("EventInfo", (
    Field("run_number", "int64"), Field("event_number", "int64"),
    Field("mu", "float32", doc="actual interactions per crossing"), Field("weight", "float32"),
), per_event=True)

TRUTH_MET_SCHEMA = Schema("TruthMET", (
    Field("nonint_mpx", "float32", doc="+sum px of non-interacting particles (points along the true MET, as ATLAS MET_Truth NonInt) [MeV]"),
    Field("nonint_mpy", "float32", doc="+sum py of non-interacting particles [MeV]"),
    Field("nonint_sumet", "float32", doc="sum pT of non-interacting particles [MeV]"),
), per_event=True)

VERTEX_SCHEMA = Schema("Vertex", (
    Field("x", "float32", doc="[mm]"), Field("y", "float32", doc="[mm]"), Field("z", "float32", doc="[mm]"),
    Field("sumpt2", "float32", doc="sum of track pT^2 [MeV^2]"),
    Field("is_hard_scatter", "bool", doc="index 0 is the hard scatter"),
))

TRACK_SCHEMA = Schema("TrackParticle", (
    *_p4(), Field("charge", "int8"), Field("z0", "float32", doc="[mm]"), Field("d0", "float32", doc="[mm]"),
    _link("vertex", _k.PRIMARY_VERTICES), Field("passes_quality", "bool"),
))

CLUSTER_SCHEMA = Schema("CaloCluster", tuple(_p4("(calibrated scale)")))

PFO_SCHEMA = Schema("ParticleFlow", (
    *_p4(), Field("charge", "int8"),
    _link("track", _k.TRACKS, "index into InDetTracks, -1 for neutral PFOs"),
    _link("cluster", _k.CLUSTERS),
))


# Jet moments read by METMaker's muon-in-jet rules and the NNJvt range (ATLAS names in docs).
JET_MOMENT_FIELDS = (
    Field("sumpt_trk_pt500", "float32", required=False,
          doc="SumPtTrkPt500 at the primary vertex: scalar pT sum of PV tracks above 500 MeV [MeV]"),
    Field("n_trk_pt500", "int32", required=False, doc="NumTrkPt500 at the primary vertex"),
    Field("width", "float32", required=False, doc="jet Width (pT-weighted dR of the constituents)"),
    Field("ps_frac", "float32", required=False, doc="PSFrac: presampler energy fraction"),
    Field("presampler_e", "float32", required=False,
          doc="EnergyPerSampling[PreSamplerB] + [PreSamplerE] [MeV]"),
    Field("detector_eta", "float32", required=False, doc="DetectorEta (eta of the jet at the EM scale)"),
)


def jet_schema(constituent_target: str) -> Schema:
    """Jet schema whose ``constituents`` link to ``constituent_target`` (PFOs or TopoClusters)."""
    return Schema("Jet", (
        *_p4("(calibrated)"),
        *(Field(f"constit_{c}", "float32", doc=f"{c} at constituent scale [MeV]") for c in ("px", "py", "pz", "e")),
        _links("constituents", constituent_target),
        _links("ghost_tracks", _k.TRACKS, "ghost-associated tracks"),
        Field("jvt", "float32", doc="JVT discriminant, or 1/0 for a stored pass decision (PHYSLITE NNJvtPass)"),
        Field("emfrac", "float32"),
        *JET_MOMENT_FIELDS,
    ))


def _egamma(name: str) -> Schema:
    return Schema(name, (
        *_p4(), Field("charge", "int8"),
        _links("clusters", _k.CLUSTERS), _links("tracks", _k.TRACKS), _links("pfos", _k.PFOS),
        Field("id", "uint8", doc="bit 0 loose, 1 medium, 2 tight"), Field("isolated", "bool"),
    ))


ELECTRON_SCHEMA = _egamma("Electron")
PHOTON_SCHEMA = _egamma("Photon")

MUON_SCHEMA = Schema("Muon", (
    *_p4(), Field("charge", "int8"), _link("id_track", _k.TRACKS),
    _links("clusters", _k.CLUSTERS), _links("pfos", _k.PFOS),
    Field("type", "uint8", doc="0 combined, 1 standalone, 2 segment-tagged, 3 calo-tagged"),
    Field("id", "uint8"),
    Field("id_track_pt", "float32", required=False, doc="pT of the inner-detector track [MeV], 0 if none"),
    Field("energy_loss", "float32", required=False, doc="EnergyLoss: expected calorimeter energy loss [MeV]"),
))

TAU_SCHEMA = Schema("Tau", (
    *_p4(), Field("charge", "int8"),
    _links("tracks", _k.TRACKS), _links("clusters", _k.CLUSTERS), _links("pfos", _k.PFOS),
    Field("id", "uint8"),
))

MET_SIGNIFICANCE_SCHEMA = Schema("METSignificance", (
    Field("s", "float32", doc="S = p^T V^-1 p (chi2 with 2 dof for Gaussian mismeasurement)"),
    Field("sqrt_s", "float32", doc="MET significance sqrt(S) (ATLAS GetSignificance); -1 if S <= 0"),
    Field("met", "float32", doc="MET of the total term [MeV]"),
    Field("var_l", "float32", doc="variance along the MET [MeV^2]"),
    Field("var_t", "float32", doc="variance perpendicular to the MET [MeV^2]"),
    Field("rho", "float32", doc="correlation of the L and T components"),
), per_event=True)

_SCHEMAS: dict[str, Schema] = {
    _k.MET_SIGNIFICANCE_PREFIX: MET_SIGNIFICANCE_SCHEMA,  # any METSignificance_<name> (prefix match)
    _k.EVENT_INFO: EVENT_INFO_SCHEMA,
    _k.TRUTH_MET: TRUTH_MET_SCHEMA,
    _k.PRIMARY_VERTICES: VERTEX_SCHEMA,
    _k.TRACKS: TRACK_SCHEMA,
    _k.CLUSTERS: CLUSTER_SCHEMA,
    _k.PFOS: PFO_SCHEMA,
    _k.jet_container_key("AntiKt4EMPFlow"): jet_schema(_k.PFOS),
    _k.jet_container_key("AntiKt4EMTopo"): jet_schema(_k.CLUSTERS),
    _k.ELECTRONS: ELECTRON_SCHEMA,
    _k.PHOTONS: PHOTON_SCHEMA,
    _k.MUONS: MUON_SCHEMA,
    _k.TAUS: TAU_SCHEMA,
}


def register_schema(key: str, schema: Schema, *, replace: bool = False) -> None:
    """Attach ``schema`` to a store key (e.g. a calibrated shallow copy "MyJets")."""
    if not replace and key in _SCHEMAS and _SCHEMAS[key] != schema:
        raise ValueError(f"a different schema is already registered for {key!r}; pass replace=True")
    _SCHEMAS[key] = schema


def registered_keys() -> list[str]:
    return sorted(_SCHEMAS)


def schema_for(key: str) -> Schema:
    """Schema of a store key.

    Exact registered keys first; otherwise a variant of a registered key is recognised by
    prefix or suffix (``"AntiKt4EMPFlowJets_Calib"``, ``"CalibratedElectrons"``,
    ``"MuonsLRT"``: the longest match wins); any other ``...Jets`` key (except taus) gets a jet
    schema with the constituents of its registered :class:`JetCollection` (PFOs or
    TopoClusters; TopoClusters for an unregistered collection).
    Raises :class:`UnknownKeyError` with close matches otherwise.
    """
    if key in _SCHEMAS:
        return _SCHEMAS[key]
    if not key.startswith(("MET_", "METAssoc_")):
        matches = [k for k in _SCHEMAS if k != key and (key.startswith(k) or key.endswith(k))]
        if matches:
            return _SCHEMAS[max(matches, key=len)]
        if "Jets" in key and "Tau" not in key:
            # a jet container: constituents from its JetCollection record; an unregistered
            # collection (e.g. PHYSLITE's AnalysisJets) gets the TopoCluster default
            from metflow.edm.jet_collection import jet_collection_of_key
            record = jet_collection_of_key(key)
            return jet_schema(record.constituents if record is not None else _k.CLUSTERS)
    raise UnknownKeyError(key, list(_SCHEMAS), what="schema")


# ---------------------------------------------------------------------------------------------
# helpers

def _as_offsets(offsets: Any, *, what: str, key: str | None, column: str | None = None) -> np.ndarray:
    """int64 offsets starting at 0 and non-decreasing; error names the first bad entry."""
    if type(offsets) is np.ndarray and offsets.dtype == np.int64 and offsets.ndim == 1 and \
            offsets.flags.c_contiguous and 0 < offsets.shape[0] <= 2 and offsets[0] == 0 and \
            offsets[-1] >= 0:   # one event: checked without the array operations below
        return offsets
    arr = np.asarray(offsets)
    if arr.ndim != 1 or arr.size == 0:
        raise SchemaError(f"{what} must be a 1-d array with at least one entry", key=key, column=column)
    if arr.dtype.kind not in "iu":
        raise SchemaError(f"{what} must be integers, got {arr.dtype}", key=key, column=column)
    arr = np.ascontiguousarray(arr, dtype=np.int64)
    if arr[0] != 0:
        raise SchemaError(f"{what} must start at 0, starts at {int(arr[0])}", key=key, column=column)
    decreasing = arr[1:] < arr[:-1]
    if decreasing.any():
        i = int(np.argmax(decreasing))
        raise SchemaError(
            f"{what} not monotonic: entry {i + 1} = {int(arr[i + 1])} < entry {i} = {int(arr[i])}",
            key=key, column=column, event=i if what == "offsets" else None)
    return arr


def _as_column(value: Any, dtype: str, *, name: str, key: str | None, n: int) -> np.ndarray:
    arr = np.asarray(value)
    target = np.dtype(dtype)
    if arr.dtype != target:
        if arr.size == 0 and arr.dtype == np.float64:
            arr = arr.astype(target)   # np.asarray([]) is float64
        elif target == np.bool_ and arr.dtype.kind in "iu":
            if arr.size and not np.isin(arr, (0, 1)).all():
                raise SchemaError(f"bool column holds values other than 0/1", key=key, column=name)
            arr = arr.astype(np.bool_)
        elif np.can_cast(arr.dtype, target, casting="same_kind") or (
                arr.dtype.kind in "iu" and target.kind in "iu"):
            if arr.dtype.kind in "iu" and target.kind in "iu" and arr.size:
                info = np.iinfo(target)
                lo, hi = arr.min(), arr.max()
                if lo < info.min or hi > info.max:
                    raise SchemaError(f"values [{lo}, {hi}] do not fit {dtype}", key=key, column=name)
            arr = arr.astype(target)
        else:
            raise SchemaError(f"wrong dtype: expected {dtype}, got {arr.dtype}", key=key, column=name)
    if arr.ndim != 1:
        raise SchemaError(f"column must be 1-d, got shape {arr.shape}", key=key, column=name)
    if arr.shape[0] != n:
        raise SchemaError(f"column has {arr.shape[0]} entries, offsets say {n}", key=key, column=name)
    return np.ascontiguousarray(arr)


def _first_nonfinite(arr: np.ndarray) -> int | None:
    if arr.dtype.kind != "f" or arr.size == 0:
        return None
    ok = np.isfinite(arr)
    if ok.all():
        return None
    return int(np.argmin(ok))


# ---------------------------------------------------------------------------------------------
# ListColumn

class ListColumn:
    """A list-of-index column: ``offsets`` int64[n_objects+1] into ``values`` int32."""

    __slots__ = ("offsets", "values")

    def __init__(self, offsets: Any, values: Any, *, key: str | None = None, column: str | None = None):
        self.offsets = _as_offsets(offsets, what="list offsets", key=key, column=column)
        vals = np.asarray(values)
        if vals.size == 0:
            vals = vals.astype(np.int32)
        if vals.dtype != np.int32:
            if vals.dtype.kind not in "iu":
                raise SchemaError(f"list values must be int32, got {vals.dtype}", key=key, column=column)
            if vals.size and (vals.min() < np.iinfo(np.int32).min or vals.max() > np.iinfo(np.int32).max):
                raise SchemaError("list values do not fit int32", key=key, column=column)
            vals = vals.astype(np.int32)
        if vals.ndim != 1 or vals.shape[0] != self.offsets[-1]:
            raise SchemaError(
                f"list values have {vals.shape[0] if vals.ndim == 1 else vals.shape} entries, "
                f"offsets say {int(self.offsets[-1])}", key=key, column=column)
        self.values = np.ascontiguousarray(vals)

    @classmethod
    def from_lists(cls, lists: Iterable[Sequence[int]]) -> "ListColumn":
        lists = [list(x) for x in lists]
        counts = np.fromiter((len(x) for x in lists), dtype=np.int64, count=len(lists))
        offsets = np.zeros(len(lists) + 1, np.int64)
        np.cumsum(counts, out=offsets[1:])
        values = np.fromiter((v for x in lists for v in x), dtype=np.int64, count=int(offsets[-1]))
        return cls(offsets, values)

    def __len__(self) -> int:
        return self.offsets.shape[0] - 1

    def __getitem__(self, i: int) -> np.ndarray:
        n = len(self)
        if i < 0:
            i += n
        if not 0 <= i < n:
            raise IndexError(f"list index {i} out of range for {n} lists")
        return self.values[self.offsets[i]:self.offsets[i + 1]]

    def __iter__(self) -> Iterator[np.ndarray]:
        return (self[i] for i in range(len(self)))

    def counts(self) -> np.ndarray:
        return np.diff(self.offsets)

    def tolist(self) -> list[list[int]]:
        return [self[i].tolist() for i in range(len(self))]

    @classmethod
    def from_kernel(cls, offsets: np.ndarray, values: np.ndarray) -> "ListColumn":
        """A frozen list column from a kernel's fresh ``offsets`` (int64[n+1], valid) and
        ``values`` (int32): taken over as they are (nothing converted or re-checked) and made
        read-only. Users build list columns with the checking constructor."""
        out = cls.__new__(cls)
        out.offsets = offsets
        out.values = values
        return out.freeze()

    def slice(self, start: int, stop: int) -> "ListColumn":
        """Lists [start, stop): values are a view, offsets rebased (no re-validation: a
        sub-range of valid offsets is valid)."""
        offsets = self.offsets[start:stop + 1]
        lo = offsets[0]
        out = ListColumn.__new__(ListColumn)
        out.offsets = offsets - lo
        out.values = self.values[lo:offsets[-1]]
        if not self.offsets.flags.writeable:   # a frozen column's slices are frozen
            out.offsets.flags.writeable = False
        return out

    def take(self, index: np.ndarray) -> "ListColumn":
        """Lists selected by an integer index array or a boolean mask (copies)."""
        index = np.asarray(index)
        if index.dtype == np.bool_:
            index = np.flatnonzero(index)
        starts, stops = self.offsets[index], self.offsets[index + 1]
        counts = stops - starts
        offsets = np.zeros(index.shape[0] + 1, np.int64)
        np.cumsum(counts, out=offsets[1:])
        pos = np.repeat(starts - offsets[:-1], counts) + np.arange(offsets[-1], dtype=np.int64)
        return ListColumn(offsets, self.values[pos])

    @staticmethod
    def concatenate(columns: Sequence["ListColumn"]) -> "ListColumn":
        if not columns:
            return ListColumn(np.zeros(1, np.int64), np.zeros(0, np.int32))
        shifts = np.cumsum([0] + [int(c.offsets[-1]) for c in columns[:-1]])
        offsets = np.concatenate([columns[0].offsets[:1]] + [c.offsets[1:] + s for c, s in zip(columns, shifts)])
        return ListColumn(offsets, np.concatenate([c.values for c in columns]))

    def freeze(self) -> "ListColumn":
        self.offsets.flags.writeable = False
        self.values.flags.writeable = False
        return self

    def equals(self, other: object) -> bool:
        return (isinstance(other, ListColumn) and np.array_equal(self.offsets, other.offsets)
                and np.array_equal(self.values, other.values))

    def to_arrow(self):
        import pyarrow as pa
        return pa.ListArray.from_arrays(pa.array(self.offsets.astype(np.int32)), pa.array(self.values))

    @classmethod
    def from_arrow(cls, array, *, key: str | None = None, column: str | None = None) -> "ListColumn":
        import pyarrow as pa
        if not (pa.types.is_list(array.type) or pa.types.is_large_list(array.type)):
            raise SchemaError(f"wrong type: expected list<int32>, got {array.type}", key=key, column=column)
        if array.null_count:
            raise SchemaError("null list entries", key=key, column=column)
        if array.type.value_type != pa.int32():
            raise SchemaError(f"wrong type: expected list<int32>, got {array.type}", key=key, column=column)
        offsets = np.asarray(array.offsets.to_numpy(zero_copy_only=False), dtype=np.int64)
        values = _list_values(array, offsets)
        if values.null_count:
            raise SchemaError("null values inside lists", key=key, column=column)
        return cls(offsets - offsets[0], values.to_numpy(zero_copy_only=True), key=key, column=column)

    def __repr__(self) -> str:
        return f"ListColumn(n_lists={len(self)}, n_values={self.values.shape[0]})"


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
                    lists.offsets.flags.writeable = False
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
            out.offsets.flags.writeable = False
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
        self.offsets.flags.writeable = False
        for c in self.columns.values():
            if isinstance(c, ListColumn):
                c.freeze()
            else:
                c.flags.writeable = False
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


def _require_awkward():
    try:
        import awkward
    except ImportError:
        raise ImportError('awkward is needed for this conversion: pip install "metflow[physlite]"') from None
    return awkward


def _list_values(array, offsets: np.ndarray):
    """The values of a null-free list array's lists (``array.flatten()`` without the compute
    function call, which dominates the decode of small blocks)."""
    return array.values.slice(int(offsets[0]), int(offsets[-1] - offsets[0]))


def _column_from_arrow(child, f: Field, offsets: np.ndarray):
    import pyarrow as pa
    if child.null_count:
        obj = int(np.argmax(~child.is_valid().to_numpy(zero_copy_only=False)))
        ev = int(np.searchsorted(offsets, obj, side="right") - 1)
        raise SchemaError("null value", column=f.name, event=ev)
    if f.kind == LINKS:
        try:
            return ListColumn.from_arrow(child, column=f.name)
        except SchemaError:
            raise
    expected = _ARROW_TYPES[f.dtype]()
    if child.type != expected:
        raise SchemaError(f"wrong dtype: expected {expected}, got {child.type}", column=f.name)
    if pa.types.is_boolean(child.type):
        return child.to_numpy(zero_copy_only=False)
    return child.to_numpy(zero_copy_only=True)


def _extra_from_arrow(child):
    """Numeric or list<int32> extra fields are kept; anything else is ignored (tolerated)."""
    import pyarrow as pa
    if child.null_count:
        return None
    t = child.type
    if pa.types.is_boolean(t):
        return child.to_numpy(zero_copy_only=False)
    if pa.types.is_integer(t) or pa.types.is_floating(t) and not pa.types.is_float16(t):
        return child.to_numpy(zero_copy_only=True)
    if (pa.types.is_list(t) or pa.types.is_large_list(t)) and t.value_type == pa.int32():
        return ListColumn.from_arrow(child)
    return None


def _arrow_types():
    import pyarrow as pa
    return {"float32": pa.float32, "float64": pa.float64, "int8": pa.int8, "uint8": pa.uint8,
            "int16": pa.int16, "uint16": pa.uint16, "int32": pa.int32, "uint32": pa.uint32,
            "int64": pa.int64, "uint64": pa.uint64, "bool": pa.bool_}


class _LazyTypes(dict):
    def __missing__(self, k):
        self.update(_arrow_types())
        return dict.__getitem__(self, k)


_ARROW_TYPES = _LazyTypes()


# ---------------------------------------------------------------------------------------------
# views

class EventView:
    """The objects of one event of a container (read-only convenience, not for hot loops)."""

    __slots__ = ("container", "index", "_lo", "_hi")

    def __init__(self, container: Container, index: int):
        self.container = container
        self.index = index
        self._lo = int(container.offsets[index])
        self._hi = int(container.offsets[index + 1])

    def __len__(self) -> int:
        return self._hi - self._lo

    def __getitem__(self, item):
        if isinstance(item, str):
            col = self.container[item]
            if isinstance(col, ListColumn):
                return [col[j] for j in range(self._lo, self._hi)]
            return col[self._lo:self._hi]
        n = len(self)
        if item < 0:
            item += n
        if not 0 <= item < n:
            raise IndexError(f"object {item} out of range: event {self.index} has {n} objects")
        return ObjectView(self.container, self._lo + item, item)

    def __iter__(self) -> Iterator["ObjectView"]:
        return (ObjectView(self.container, self._lo + j, j) for j in range(len(self)))

    def __repr__(self) -> str:
        return f"<event {self.index} of {self.container.key or self.container.schema.name}: {len(self)} objects>"


class ObjectView:
    """One object: attribute access to its columns (``obj.px``, ``obj.constituents``)."""

    __slots__ = ("container", "global_index", "index")

    def __init__(self, container: Container, global_index: int, index: int):
        self.container = container
        self.global_index = global_index
        self.index = index

    def __getitem__(self, name: str):
        col = self.container[name]
        return col[self.global_index]

    def __getattr__(self, name: str):
        if name.startswith("__"):
            raise AttributeError(name)
        try:
            return self[name]
        except KeyError as exc:
            raise AttributeError(str(exc)) from None

    @property
    def pt(self) -> float:
        return float(np.hypot(self["px"], self["py"]))

    @property
    def phi(self) -> float:
        return float(np.arctan2(self["py"], self["px"]))

    @property
    def eta(self) -> float:
        pt = self.pt
        return float(np.arcsinh(self["pz"] / pt)) if pt > 0 else 0.0

    def to_dict(self) -> dict[str, Any]:
        out = {}
        for name, col in self.container.columns.items():
            v = col[self.global_index]
            out[name] = v.tolist() if isinstance(v, np.ndarray) else v.item()
        return out

    def __repr__(self) -> str:
        return f"<{self.container.schema.name} {self.index}: {self.to_dict()}>"


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
            c.flags.writeable = False
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


__all__ = [
    "Field", "Schema", "ListColumn", "Container", "EventRecord", "EventView", "ObjectView",
    "schema_for", "register_schema", "registered_keys", "jet_schema", "container_from_events",
    "empty_container", "ORIGINAL_INDEX", "original_index_field", "VALUE", "LINK", "LINKS",
    "EVENT_INFO_SCHEMA", "TRUTH_MET_SCHEMA", "VERTEX_SCHEMA", "TRACK_SCHEMA", "CLUSTER_SCHEMA",
    "PFO_SCHEMA", "ELECTRON_SCHEMA", "PHOTON_SCHEMA", "MUON_SCHEMA", "TAU_SCHEMA",
]
