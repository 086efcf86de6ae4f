"""Schemas of the columnar EDM: :class:`Field`, :class:`Schema`, the input schema v1 and
:func:`schema_for` (the schema of a store key)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from metflow.edm import keys as _k
from metflow.edm.errors import UnknownKeyError


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
    Field("mc_channel_number", "uint32", required=False,
          doc="MC dataset ID (ATLAS mcChannelNumber); PHYSLITE: 0 for data; absent for metflow's "
              "own events"),
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
