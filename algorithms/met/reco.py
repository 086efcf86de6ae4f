"""MET reconstruction: association maps and core soft terms, one scheduled algorithm per step.

For one jet collection the chain is (all keys from :mod:`metflow.edm.keys`)::

    METJetAssocTool        jets, signals, tracks, vertices -> met_jet_assoc_key(jet)   (JetAssociations)
    MET<X>Associator (xN)  objects, signals, tracks, jet assoc -> met_object_assoc_key(jet, objects)
    METAssocMapBuilder     jet assoc + [fragments], signals, tracks -> met_assoc_key(jet)
    METSoftAssociator      jet assoc + [fragments], signals, tracks -> met_core_key(jet)

The object associators only depend on the jet associations, so they run concurrently; the map
builder and the soft associator both read the same fragment list and also run concurrently.
A plugin associator is a subclass of :class:`METObjectAssociator`; adding its fragment key to the
builder's and soft associator's ``fragments`` list is all it takes (see ``config.met_reco_cfg``).

Signal basis (athena_met.md B.2-B.5 adapted to input schema v1):

* PFlow mode (``pflow=True``, AntiKt4EMPFlow): constituents are PFOs. A charged PFO (``track >= 0``)
  counts if its track passes the track selection and then contributes to the cal sums (PFO
  4-vector) *and* the trk sums (its track's 4-vector); a neutral PFO counts if E > 0 (cal only).
* Cluster mode (``pflow=False``, AntiKt4EMTopo): constituents are TopoClusters with E > 0 (cal)
  plus selected tracks (trk); a jet's tracks are its selected ghost tracks.

Track selection (``acceptTrack``): the event has a hard-scatter vertex at PrimaryVertices index 0,
the track is associated to it (``vertex == 0``), ``passes_quality``, pT > 0.5 GeV, |eta| < 2.5,
|(z0 - z_PV) sin(theta)| < 3 mm, |d0| < 2 mm. Without a hard-scatter vertex every track is
rejected. The E/p track cleaning (``isGoodEoverP``) needs isolation variables the input schema
does not have and is omitted.

Object constituents come from the objects' own link lists (electrons, photons, taus: ``clusters``,
``tracks``, ``pfos``; muons: ``id_track``, ``clusters``, ``pfos``); the egamma ΔR/energy cluster
matching and the tau ΔR < 0.2 cone of Athena are replaced by these links. Objects below ``min_pt``
(4 GeV; muons: none) are skipped; the others are inserted in descending pT.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from metflow.edm import keys as K
from metflow.edm.errors import LinkError, MapConsistencyError, SchemaError, TooManyObjectsError
from metflow.edm.met import MissingETAssociationMap, MissingETContainer, ObjectType, Source
from metflow.edm.units import GeV, mm
from metflow.framework.component import Algorithm, Property, ReadHandleKey, WriteHandleKey
from metflow.framework.io import Sink

from . import _reco_kernels as kern

DEFAULT_JET_COLLECTION = "AntiKt4EMPFlow"

# MissingETBase::Source patterns of the core terms (athena_met.md A.3).
SOURCE_SOFT_CLUS_CORE = Source.soft_event() | Source.cluster_lc()
SOURCE_PV_SOFT_TRK_CORE = Source.soft_event() | Source.track()



def _freeze_arrays(obj: Any, names: tuple[str, ...]) -> None:
    for name in names:
        getattr(obj, name).setflags(write=False)


def _frozen_new(cls: type, fields: dict[str, Any]) -> Any:
    """An instance of the frozen dataclass ``cls`` from its fields, marked frozen: the producers'
    per-block path, whose arrays are fresh and already set read-only (skips the dataclass
    ``__init__`` and a second freeze)."""
    out = object.__new__(cls)
    out.__dict__.update(fields)
    out.__dict__["_frozen"] = True
    return out


@dataclass(frozen=True, eq=False)
class JetAssociations:
    """Output of :class:`METJetAssocTool` for one block: associations and the constituent cache.

    Association indices are block-global: event ``i`` owns ``assoc_offsets[i]:assoc_offsets[i+1]``,
    one per jet in jet order, the misc association last. ``signal_assoc`` / ``track_assoc`` give,
    per signal (PFO or cluster) and per track of the block, the owning jet association or -1.
    """

    jet_collection: str
    pflow: bool
    signals_key: str
    assoc_offsets: np.ndarray  # int64[n_events+1]
    jet_index: np.ndarray  # int32[n_assoc], -1 for misc
    signal_assoc: np.ndarray  # int32[n_signals]
    track_assoc: np.ndarray  # int32[n_tracks]
    track_accepted: np.ndarray  # bool[n_tracks]
    jettrk: np.ndarray  # float64[5, n_assoc]: px, py, pz, e, sumpt of the jet's selected tracks

    _ARRAYS: ClassVar[tuple[str, ...]] = ("assoc_offsets", "jet_index", "signal_assoc", "track_assoc",
                                          "track_accepted", "jettrk")

    @property
    def n_events(self) -> int:
        return self.assoc_offsets.shape[0] - 1

    @property
    def n_assoc(self) -> int:
        return int(self.assoc_offsets[-1])

    @property
    def is_misc(self) -> np.ndarray:
        return self.jet_index < 0

    def freeze(self) -> "JetAssociations":
        if not self.__dict__.get("_frozen"):
            _freeze_arrays(self, self._ARRAYS)
            self.__dict__["_frozen"] = True
        return self


def _fragment_column(i: int, name: str) -> property:
    def column(self: "ObjectAssociations") -> np.ndarray:
        return self._columns()[i]
    column.__name__ = name
    return property(column, doc=f"{name} (int64 view of ``packed``)")


@dataclass(frozen=True, eq=False)
class ObjectAssociations:
    """Output of one object associator: its selected objects split into per-association pieces.

    Selected objects of event ``i`` are ``obj_offsets[i]:obj_offsets[i+1]`` (descending pT),
    ``obj_index`` event-local. Object ``s`` owns pieces ``piece_offsets[s]:piece_offsets[s+1]``,
    each going to association ``piece_assoc`` (block-global; increasing within an object) with
    constituents ``const_offsets[p]:const_offsets[p+1]`` of kind ``const_kind`` (0 signal, 1 track)
    and block-global ``const_index``. The columns are int64 views of one buffer, ``packed``
    (``_reco_kernels.pack_fragment`` layout): an associator returns and freezes one array, and the
    map builder and the soft associator hand all fragments to their kernel as one concatenation.
    """

    container_key: str
    object_type: int
    jet_collection: str
    pflow: bool
    packed: np.ndarray

    @classmethod
    def from_columns(cls, container_key: str, object_type: int, jet_collection: str, pflow: bool, *,
                     obj_offsets: Any, obj_index: Any, piece_offsets: Any, piece_assoc: Any,
                     const_offsets: Any, const_kind: Any, const_index: Any) -> "ObjectAssociations":
        """A fragment from its columns (see the class docstring)."""
        cols = [np.ascontiguousarray(c, dtype=np.int64) for c in (
            obj_offsets, obj_index, piece_offsets, piece_assoc, const_offsets, const_kind, const_index)]
        if cols[2].shape[0] != cols[1].shape[0] + 1 or cols[4].shape[0] != cols[3].shape[0] + 1 or \
                cols[5].shape[0] != cols[6].shape[0] or cols[0].shape[0] < 1 or \
                cols[0][-1] != cols[1].shape[0]:
            raise SchemaError(f"object associations of {container_key!r}: inconsistent column lengths",
                              key=container_key)
        return cls(container_key=container_key, object_type=int(object_type), jet_collection=jet_collection,
                   pflow=pflow, packed=kern.pack_fragment(int(object_type), *cols))

    def _columns(self) -> list[np.ndarray]:
        p = self.packed
        n_events, n_sel, n_piece, n_const = p[1:kern.FRAGMENT_HEADER].tolist()
        seg = kern.fragment_segments(n_events, n_sel, n_piece, n_const).tolist()
        return [p[seg[i]:seg[i + 1]] for i in range(7)]

    obj_offsets = _fragment_column(0, "obj_offsets")
    obj_index = _fragment_column(1, "obj_index")
    piece_offsets = _fragment_column(2, "piece_offsets")
    piece_assoc = _fragment_column(3, "piece_assoc")
    const_offsets = _fragment_column(4, "const_offsets")
    const_kind = _fragment_column(5, "const_kind")
    const_index = _fragment_column(6, "const_index")

    @property
    def n_events(self) -> int:
        return int(self.packed[1])

    @property
    def n_objects(self) -> int:
        return int(self.packed[2])

    def freeze(self) -> "ObjectAssociations":
        self.packed.setflags(write=False)
        return self

    @classmethod
    def _make(cls, container_key: str, object_type: int, jet_collection: str, pflow: bool,
              packed: np.ndarray) -> "ObjectAssociations":
        """A frozen fragment from a kernel's fresh ``packed`` buffer (the associators' per-block path)."""
        packed.setflags(write=False)
        out = object.__new__(cls)
        out.__dict__.update({"container_key": container_key, "object_type": object_type,
                             "jet_collection": jet_collection, "pflow": pflow, "packed": packed,
                             "_frozen": True})
        return out


# ---------------------------------------------------------------------------------------------
# helpers shared by the algorithms


def _event_number(ctx: Any, ev: int) -> int:
    return ev + (ctx.first if ctx is not None else 0)


def _list_column(container: Any, name: str, key: str):
    col = container.get(name) if hasattr(container, "get") else None
    if col is None:
        raise SchemaError(f"column {name!r} is required by the MET associators", key=key, column=name)
    if hasattr(col, "offsets") and hasattr(col, "values"):
        return np.asarray(col.offsets, dtype=np.int64), np.asarray(col.values, dtype=np.int32)
    # a single link column (int32, -1 = none) as a list of at most one entry
    links = np.asarray(col, dtype=np.int32)
    valid = links >= 0
    offsets = np.zeros(links.shape[0] + 1, dtype=np.int64)
    np.cumsum(valid, out=offsets[1:])
    return offsets, links[valid]


def _links(container: Any, name: str, key: str) -> tuple[np.ndarray, np.ndarray, bool]:
    """(offsets, values, single) of a link column: a list column, or with ``single`` one link per
    object (-1 = none) in ``values`` (the kernels expand it)."""
    col = container.get(name) if hasattr(container, "get") else None
    if col is None:
        raise SchemaError(f"column {name!r} is required by the MET associators", key=key, column=name)
    if hasattr(col, "offsets") and hasattr(col, "values"):
        return col.offsets, col.values, False
    return _NO_OFFSETS, np.asarray(col, dtype=np.int32), True


def _column(container: Any, name: str, key: str) -> np.ndarray:
    col = container.get(name)
    if col is None:
        raise SchemaError(f"column {name!r} is required by the MET associators", key=key, column=name)
    return col if type(col) is np.ndarray else np.asarray(col)


#: placeholders for inputs a kernel does not read in the current mode
_NO_LINKS = np.zeros(0, dtype=np.int32)
_NO_OFFSETS = np.zeros(1, dtype=np.int64)
_NO_LINKS.flags.writeable = False
_NO_OFFSETS.flags.writeable = False


def _signal_track(signals: Any, pflow: bool, key: str) -> np.ndarray:
    if pflow:
        if signals.get("track") is None:
            raise SchemaError("pflow=True needs PFO signals with a 'track' column; is this a "
                              "TopoCluster container? (set pflow=False for cluster jets)",
                              key=key, column="track")
        return np.asarray(signals["track"], dtype=np.int32)
    return np.full(len(signals), -1, dtype=np.int32)


def _signal_track_links(signals: Any, pflow: bool, key: str) -> np.ndarray:
    """The PFOs' track links (pflow), else an empty placeholder: the kernels read the links only in
    PFlow mode."""
    if pflow:
        return _signal_track(signals, pflow, key)
    return _NO_LINKS


def _check_same_block(owner: str, what: dict[str, int]) -> None:
    counts = set(what.values())
    if len(counts) > 1:
        detail = ", ".join(f"{k}: {v}" for k, v in what.items())
        raise SchemaError(f"{owner}: inputs cover different numbers of events ({detail})")


def _check_jet_assoc(owner: str, jet_assoc: JetAssociations, pflow: bool, signals: Any,
                     tracks: Any, signals_key: str, tracks_key: str) -> None:
    if not isinstance(jet_assoc, JetAssociations):
        raise TypeError(f"{owner}: jet_assoc must be a JetAssociations, got {type(jet_assoc).__name__}")
    if jet_assoc.pflow != pflow:
        raise SchemaError(f"{owner}: pflow={pflow} but the jet associations of "
                          f"{jet_assoc.jet_collection!r} were built with pflow={jet_assoc.pflow}")
    if jet_assoc.signal_assoc.shape[0] != len(signals):
        raise SchemaError(f"{owner}: {len(signals)} signals but the jet associations were built "
                          f"from {jet_assoc.signal_assoc.shape[0]} ({jet_assoc.signals_key!r})",
                          key=signals_key)
    if jet_assoc.track_assoc.shape[0] != len(tracks):
        raise SchemaError(f"{owner}: {len(tracks)} tracks but the jet associations were built "
                          f"from {jet_assoc.track_assoc.shape[0]}", key=tracks_key)


def _p4(container: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    return (np.asarray(container["px"]), np.asarray(container["py"]), np.asarray(container["pz"]),
            np.asarray(container["e"]))


# ---------------------------------------------------------------------------------------------
# algorithms


#: fragment container-key sequence -> (distinct container keys, container id per fragment)
_CONTAINER_IDS: dict[tuple[str, ...], tuple[tuple[str, ...], np.ndarray]] = {}


class _ResolvedConfig:
    """Mixin: per-configuration constants of compute() (keys, modes, cuts) resolved once in
    initialize(); compute() falls back to resolving them when called without initialize()."""

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

    def _config(self) -> tuple:
        return self.__dict__.get("_resolved") or self._resolve()


class METJetAssocTool(_ResolvedConfig, Algorithm):
    """One association per jet (constituent cache, jettrk sums) plus misc; also selects tracks."""

    jets = ReadHandleKey(K.jet_container_key(DEFAULT_JET_COLLECTION), doc="reference jets")
    signals = ReadHandleKey(K.PFOS, doc="jet constituents: PFOs (pflow) or TopoClusters")
    tracks = ReadHandleKey(K.TRACKS, doc="InDet tracks (ghost tracks, PFO tracks)")
    vertices = ReadHandleKey(K.PRIMARY_VERTICES, doc="primary vertices, index 0 the hard scatter")
    jet_assoc = WriteHandleKey(K.met_jet_assoc_key(DEFAULT_JET_COLLECTION),
                               doc="JetAssociations: associations, constituent cache, selected tracks")
    pflow = Property(bool, True, doc="constituents are PFOs (True) or TopoClusters (False)")
    track_min_pt = Property(float, 0.5 * GeV, doc="track selection: minimum pT", unit="MeV")
    track_max_abs_eta = Property(float, 2.5, doc="track selection: maximum |eta|")
    track_max_z0_sin_theta = Property(float, 3 * mm, doc="track selection: max |(z0 - z_PV) sin(theta)|",
                                      unit="mm")
    track_max_d0 = Property(float, 2 * mm, doc="track selection: maximum |d0|", unit="mm")

    def _resolve(self) -> tuple:
        """Per-configuration constants of compute(): keys, jet collection, mode, cuts."""
        jets_key = self.key("jets")
        return (jets_key, self.key("signals"), self.key("tracks"), self.key("vertices"),
                K.jet_collection_of(jets_key) if jets_key.endswith("Jets") else jets_key, self.pflow,
                self.track_min_pt, self.track_max_abs_eta, self.track_max_z0_sin_theta, self.track_max_d0)

    def compute(self, jets, signals, tracks, vertices, ctx=None):
        config = self._config()
        pflow = config[5]
        try:   # the common case: columns straight from the containers, sizes checked by the kernel
            jet_cols, trk_cols, pv_cols = jets.columns, tracks.columns, vertices.columns
            const, ghost = jet_cols["constituents"], jet_cols["ghost_tracks"]
            out = kern.jet_associations(
                jets.offsets, const.offsets, const.values, ghost.offsets, ghost.values, signals.offsets,
                signals.columns["track"] if pflow else _NO_LINKS, tracks.offsets, trk_cols["px"],
                trk_cols["py"], trk_cols["pz"], trk_cols["e"], trk_cols["z0"], trk_cols["d0"],
                trk_cols["vertex"], trk_cols["passes_quality"], vertices.offsets, pv_cols["z"],
                pv_cols["is_hard_scatter"], config[6], config[7], config[8], config[9], pflow)
        except (AttributeError, KeyError, TypeError):   # the checked path names the problem
            return self._compute_checked(jets, signals, tracks, vertices, ctx)
        if out[0] != kern.OK:
            return self._compute_checked(jets, signals, tracks, vertices, ctx)
        _, _, _, assoc_offsets, jet_index, sig_assoc, trk_assoc, accepted, jettrk = out
        assoc_offsets.setflags(write=False)
        jet_index.setflags(write=False)
        sig_assoc.setflags(write=False)
        trk_assoc.setflags(write=False)
        accepted.setflags(write=False)
        jettrk.setflags(write=False)
        return _frozen_new(JetAssociations, {
            "jet_collection": config[4], "pflow": pflow, "signals_key": config[1],
            "assoc_offsets": assoc_offsets, "jet_index": jet_index, "signal_assoc": sig_assoc,
            "track_assoc": trk_assoc, "track_accepted": accepted, "jettrk": jettrk})

    def _compute_checked(self, jets, signals, tracks, vertices, ctx):
        """compute() with every input checked in Python first, so that a failure names its cause."""
        (jets_key, signals_key, tracks_key, vertices_key, jet_collection, pflow, min_pt, max_abs_eta,
         max_z0_sin_theta, max_d0) = self._config()
        if not jets.n_events == signals.n_events == tracks.n_events == vertices.n_events:
            _check_same_block(self.name, {jets_key: jets.n_events, signals_key: signals.n_events,
                                          tracks_key: tracks.n_events, vertices_key: vertices.n_events})
        const_offsets, const_values = _list_column(jets, "constituents", jets_key)
        ghost_offsets, ghost_values = _list_column(jets, "ghost_tracks", jets_key)
        sig_track = _signal_track_links(signals, pflow, signals_key)
        status, ev, jet, assoc_offsets, jet_index, sig_assoc, trk_assoc, accepted, jettrk = \
            kern.jet_associations(
                jets.offsets, const_offsets, const_values, ghost_offsets, ghost_values, signals.offsets,
                sig_track, tracks.offsets, _column(tracks, "px", tracks_key), _column(tracks, "py", tracks_key),
                _column(tracks, "pz", tracks_key), _column(tracks, "e", tracks_key),
                _column(tracks, "z0", tracks_key), _column(tracks, "d0", tracks_key),
                _column(tracks, "vertex", tracks_key), _column(tracks, "passes_quality", tracks_key),
                vertices.offsets, _column(vertices, "z", vertices_key),
                _column(vertices, "is_hard_scatter", vertices_key),
                min_pt, max_abs_eta, max_z0_sin_theta, max_d0, pflow)
        if status == kern.ERR_LINK_RANGE:
            raise LinkError(f"{self.name}: jet {jet} has a constituent, ghost-track or PFO-track "
                            f"link out of range of {signals_key!r}/{tracks_key!r}",
                            key=jets_key, event=_event_number(ctx, ev))
        if status == kern.ERR_SHARED_CONSTITUENT:
            raise MapConsistencyError(f"{self.name}: jet {jet} shares a constituent or selected "
                                      f"ghost track with an earlier jet", key=jets_key,
                                      event=_event_number(ctx, ev))
        if status != kern.OK:
            raise SchemaError(f"{self.name}: inputs do not match (kernel status {status})", key=jets_key)
        return JetAssociations(jet_collection=jet_collection, pflow=pflow, signals_key=signals_key,
                               assoc_offsets=assoc_offsets, jet_index=jet_index, signal_assoc=sig_assoc,
                               track_assoc=trk_assoc, track_accepted=accepted, jettrk=jettrk)


class METObjectAssociator(_ResolvedConfig, Algorithm):
    """Generic object associator: constituents by link, grouped into jet associations or misc.

    Subclasses choose the object container and xAOD type (and the link fields when they differ);
    a plugin associator for a new object collection is such a subclass.
    """

    object_type: ClassVar[int] = int(ObjectType.Electron)
    cluster_links: ClassVar[str] = "clusters"  # -> TopoClusters (cluster mode)
    track_links: ClassVar[str] = "tracks"  # -> InDetTracks (cluster mode); list or single link
    pfo_links: ClassVar[str] = "pfos"  # -> PFOs (PFlow mode)

    objects = ReadHandleKey(K.ELECTRONS, doc="objects to associate")
    signals = ReadHandleKey(K.PFOS, doc="jet constituents: PFOs (pflow) or TopoClusters")
    tracks = ReadHandleKey(K.TRACKS, doc="InDet tracks")
    jet_assoc = ReadHandleKey(K.met_jet_assoc_key(DEFAULT_JET_COLLECTION), doc="JetAssociations")
    fragment = WriteHandleKey(K.met_object_assoc_key(DEFAULT_JET_COLLECTION, K.ELECTRONS),
                              doc="ObjectAssociations: this associator's part of the map")
    pflow = Property(bool, True, doc="constituents are PFOs (True) or TopoClusters (False)")
    min_pt = Property(float, 4 * GeV, doc="objects below this pT are not associated", unit="MeV")

    @classmethod
    def default_objects_key(cls) -> str:
        return cls.inputs_declared()["objects"].default

    def _resolve(self) -> tuple:
        pflow = self.pflow
        return (self.key("objects"), self.key("signals"), self.key("tracks"), pflow, self.min_pt,
                self.pfo_links if pflow else self.cluster_links, None if pflow else self.track_links,
                int(self.object_type))

    def compute(self, objects, signals, tracks, jet_assoc, ctx=None):
        config = self._config()
        pflow = config[3]
        try:   # the common case: columns straight from the containers, sizes checked by the kernel
            if jet_assoc.__class__ is not JetAssociations or jet_assoc.pflow != pflow:
                raise TypeError
            cols = objects.columns
            cal = cols[config[5]]
            if pflow:
                trk_offsets, trk_values, trk_single = _NO_OFFSETS, _NO_LINKS, False
            else:
                trk = cols[config[6]]
                if trk.__class__ is np.ndarray:
                    trk_offsets, trk_values, trk_single = _NO_OFFSETS, trk, True
                else:
                    trk_offsets, trk_values, trk_single = trk.offsets, trk.values, False
            sig_cols = signals.columns
            status, _, _, packed = kern.object_associations(
                objects.offsets, cols["px"], cols["py"], config[4], cal.offsets, cal.values, trk_offsets,
                trk_values, trk_single, signals.offsets, sig_cols["e"], sig_cols["track"] if pflow else _NO_LINKS,
                tracks.offsets, jet_assoc.track_accepted, jet_assoc.signal_assoc, jet_assoc.track_assoc,
                jet_assoc.assoc_offsets, pflow, config[7])
        except (AttributeError, KeyError, TypeError):   # the checked path names the problem
            return self._compute_checked(objects, signals, tracks, jet_assoc, ctx)
        if status != kern.OK:
            return self._compute_checked(objects, signals, tracks, jet_assoc, ctx)
        return ObjectAssociations._make(config[0], config[7], jet_assoc.jet_collection, pflow, packed)

    def _compute_checked(self, objects, signals, tracks, jet_assoc, ctx):
        """compute() with every input checked in Python first, so that a failure names its cause."""
        (objects_key, signals_key, tracks_key, pflow, min_pt, cal_links, trk_links,
         object_type) = self._config()
        if not objects.n_events == signals.n_events == tracks.n_events == jet_assoc.n_events:
            _check_same_block(self.name, {objects_key: objects.n_events, signals_key: signals.n_events,
                                          tracks_key: tracks.n_events, "jet associations": jet_assoc.n_events})
        _check_jet_assoc(self.name, jet_assoc, pflow, signals, tracks, signals_key, tracks_key)
        px, py = _column(objects, "px", objects_key), _column(objects, "py", objects_key)
        cal_offsets, cal_values, _ = _links(objects, cal_links, objects_key)
        if pflow:
            trk_offsets, trk_values, trk_single = _NO_OFFSETS, _NO_LINKS, False
        else:
            trk_offsets, trk_values, trk_single = _links(objects, trk_links, objects_key)
        if cal_offsets is _NO_OFFSETS:   # a single cluster / PFO link per object
            cal_offsets, cal_values = _list_column(objects, cal_links, objects_key)
        status, ev, obj, packed = kern.object_associations(
            objects.offsets, px, py, min_pt, cal_offsets, cal_values, trk_offsets, trk_values, trk_single,
            signals.offsets, _column(signals, "e", signals_key), _signal_track_links(signals, pflow, signals_key),
            tracks.offsets, jet_assoc.track_accepted, jet_assoc.signal_assoc, jet_assoc.track_assoc,
            jet_assoc.assoc_offsets, pflow, object_type)
        if status == kern.ERR_LINK_RANGE:
            raise LinkError(f"{self.name}: object {obj} has a constituent link out of range of "
                            f"{signals_key!r}/{tracks_key!r}", key=objects_key,
                            event=_event_number(ctx, ev))
        if status != kern.OK:
            raise SchemaError(f"{self.name}: inputs do not match (kernel status {status})", key=objects_key)
        return ObjectAssociations(container_key=objects_key, object_type=object_type,
                                  jet_collection=jet_assoc.jet_collection, pflow=pflow, packed=packed)


class METElectronAssociator(METObjectAssociator):
    """Associates electrons (clusters + tracks, or PFOs) to jets and misc."""

    object_type = ObjectType.Electron
    objects = ReadHandleKey(K.ELECTRONS, doc="electrons")
    fragment = WriteHandleKey(K.met_object_assoc_key(DEFAULT_JET_COLLECTION, K.ELECTRONS),
                              doc="ObjectAssociations of the electrons")


class METPhotonAssociator(METObjectAssociator):
    """Associates photons (clusters + conversion tracks, or PFOs) to jets and misc."""

    object_type = ObjectType.Photon
    objects = ReadHandleKey(K.PHOTONS, doc="photons")
    fragment = WriteHandleKey(K.met_object_assoc_key(DEFAULT_JET_COLLECTION, K.PHOTONS),
                              doc="ObjectAssociations of the photons")


class METTauAssociator(METObjectAssociator):
    """Associates hadronic taus (clusters + core tracks, or PFOs) to jets and misc."""

    object_type = ObjectType.Tau
    objects = ReadHandleKey(K.TAUS, doc="hadronic taus")
    fragment = WriteHandleKey(K.met_object_assoc_key(DEFAULT_JET_COLLECTION, K.TAUS),
                              doc="ObjectAssociations of the taus")


class METMuonAssociator(METObjectAssociator):
    """Associates muons (ID track + calorimeter MIP clusters, or PFOs); every muon, no pT cut."""

    object_type = ObjectType.Muon
    track_links = "id_track"
    objects = ReadHandleKey(K.MUONS, doc="muons")
    fragment = WriteHandleKey(K.met_object_assoc_key(DEFAULT_JET_COLLECTION, K.MUONS),
                              doc="ObjectAssociations of the muons")
    min_pt = Property(float, 0.0, doc="muons below this pT are not associated (default: all)",
                      unit="MeV")


# Default associator order (athena_met.md B.1): muons, electrons, photons, taus.
STANDARD_ASSOCIATORS: tuple[type[METObjectAssociator], ...] = (
    METMuonAssociator, METElectronAssociator, METPhotonAssociator, METTauAssociator)

_DEFAULT_FRAGMENTS = tuple(K.met_object_assoc_key(DEFAULT_JET_COLLECTION, cls.default_objects_key())
                           for cls in STANDARD_ASSOCIATORS)


def _check_fragments(owner: str, jet_assoc: JetAssociations, fragments: list,
                     fragment_keys: tuple[str, ...]) -> None:
    n_events, pflow = jet_assoc.n_events, jet_assoc.pflow
    for frag in fragments:
        if type(frag) is not ObjectAssociations or frag.packed[1] != n_events or frag.pflow != pflow:
            break
    else:
        return
    for key, frag in zip(fragment_keys, fragments):
        if not isinstance(frag, ObjectAssociations):
            raise TypeError(f"{owner}: fragment {key!r} must be an ObjectAssociations, "
                            f"got {type(frag).__name__}")
        if frag.n_events != jet_assoc.n_events or frag.pflow != jet_assoc.pflow:
            raise SchemaError(f"{owner}: fragment {key!r} ({frag.n_events} events, pflow={frag.pflow}) "
                              f"does not match the jet associations ({jet_assoc.n_events} events, "
                              f"pflow={jet_assoc.pflow})", key=key)


class METAssocMapBuilder(_ResolvedConfig, Algorithm):
    """Merges the jet associations and the object associators' fragments into METAssoc_<Jet>.

    Objects enter each association in fragment-list order, then in each associator's pT order;
    identifyOverlaps (keys, keyed cal/trk sums, overlap graph) runs in one kernel over the block.
    """

    jet_assoc = ReadHandleKey(K.met_jet_assoc_key(DEFAULT_JET_COLLECTION), doc="JetAssociations")
    fragments = ReadHandleKey(list(_DEFAULT_FRAGMENTS), doc="ObjectAssociations, in association order")
    jets = ReadHandleKey(K.jet_container_key(DEFAULT_JET_COLLECTION), doc="reference jets")
    signals = ReadHandleKey(K.PFOS, doc="jet constituents: PFOs (pflow) or TopoClusters")
    tracks = ReadHandleKey(K.TRACKS, doc="InDet tracks")
    assoc_map = WriteHandleKey(K.met_assoc_key(DEFAULT_JET_COLLECTION), doc="MissingETAssociationMap")

    def _resolve(self) -> tuple:
        fragment_keys = self.key("fragments")
        fragment_keys = (fragment_keys,) if isinstance(fragment_keys, str) else fragment_keys
        return (fragment_keys, self.key("jets"), self.key("signals"), self.key("tracks"),
                self.key("assoc_map"))

    def compute(self, jet_assoc, fragments, jets, signals, tracks, ctx=None):
        if fragments.__class__ is not list or jet_assoc.__class__ is not JetAssociations or \
                not _plain_fragments(fragments, jet_assoc.pflow):
            return self._compute_checked(jet_assoc, fragments, jets, signals, tracks, ctx)
        container_keys, container_ids = self._containers(fragments)
        pflow = jet_assoc.pflow
        try:   # the common case: sizes and counts checked by the kernel
            sig_cols, trk_cols = signals.columns, tracks.columns
            status, _, _, i64, i32, u8, u64, f32 = kern.association_map_packed(
                jet_assoc.assoc_offsets, jet_assoc.jet_index, jet_assoc.jettrk, jet_assoc.signal_assoc,
                jet_assoc.track_assoc, jets.offsets, _packed(fragments), container_ids, signals.offsets,
                sig_cols["px"], sig_cols["py"], sig_cols["pz"], sig_cols["e"],
                sig_cols["track"] if pflow else _NO_LINKS, _PFO_BIT if pflow else _CLUSTER_BIT,
                tracks.offsets, trk_cols["px"], trk_cols["py"], trk_cols["pz"], trk_cols["e"], _TRACK_BIT, pflow)
        except (AttributeError, KeyError, TypeError):   # the checked path names the problem
            return self._compute_checked(jet_assoc, fragments, jets, signals, tracks, ctx)
        if status != kern.OK:
            return self._compute_checked(jet_assoc, fragments, jets, signals, tracks, ctx)
        return _map_from_buffers(container_keys, jet_assoc, i64, i32, u8, u64, f32, self._config())

    @staticmethod
    def _containers(fragments: list) -> tuple[tuple[str, ...], np.ndarray]:
        """(container keys, container id per fragment), cached per fragment key sequence (the
        same for every block of a run; a module-level cache, not state on the algorithm)."""
        sig = tuple(f.container_key for f in fragments)
        cached = _CONTAINER_IDS.get(sig)
        if cached is not None:
            return cached
        keys: list[str] = []
        for key in sig:
            if key not in keys:
                keys.append(key)
        ids = np.array([keys.index(key) for key in sig], dtype=np.int64)
        ids.setflags(write=False)
        cached = _CONTAINER_IDS[sig] = (tuple(keys), ids)
        return cached

    def _compute_checked(self, jet_assoc, fragments, jets, signals, tracks, ctx):
        """compute() with every input checked in Python first, so that a failure names its cause."""
        fragment_keys, jets_key, signals_key, tracks_key, map_key = self._config()
        fragments = list(fragments) if isinstance(fragments, (list, tuple)) else [fragments]
        _check_jet_assoc(self.name, jet_assoc, jet_assoc.pflow, signals, tracks, signals_key, tracks_key)
        _check_fragments(self.name, jet_assoc, fragments, fragment_keys)
        if len(jets) + jets.n_events != jet_assoc.n_assoc:
            raise SchemaError(f"{self.name}: {len(jets)} jets in {jets.n_events} events do not match "
                              f"the {jet_assoc.n_assoc} jet associations", key=jets_key)
        container_keys, out = _map_arrays(jet_assoc, fragments, signals, tracks)
        if out[0] == kern.ERR_LINK_RANGE:
            _raise_piece_range(self.name, out, jet_assoc, fragments, fragment_keys)
        if out[0] == kern.ERR_TOO_MANY_OBJECTS:
            a = out[1]
            ev = int(np.searchsorted(jet_assoc.assoc_offsets, a, side="right") - 1)
            raise TooManyObjectsError(event=_event_number(ctx, ev), jet_index=int(jet_assoc.jet_index[a]),
                                      n_objects=int(out[2]), key=map_key)
        if out[0] != kern.OK:
            raise SchemaError(f"{self.name}: inputs do not match (kernel status {out[0]})", key=jets_key)
        (_, _, _, is_misc, obj_offsets, obj_container, obj_index, obj_type, ovl_offsets, ovl_index, ovl_type,
         cal_offsets, cal_key, cal, trk_offsets, trk_key, trk, jettrk) = out
        return MissingETAssociationMap(
            container_keys, jet_key=jets_key, key=map_key, assoc_offsets=jet_assoc.assoc_offsets,
            jet_index=jet_assoc.jet_index, is_misc=is_misc, obj_offsets=obj_offsets,
            obj_container=obj_container, obj_index=obj_index, obj_type=obj_type, ovl_offsets=ovl_offsets,
            ovl_index=ovl_index, ovl_type=ovl_type, cal_offsets=cal_offsets, cal_key=cal_key,
            cal_px=cal[0], cal_py=cal[1], cal_pz=cal[2], cal_e=cal[3], cal_sumpt=cal[4],
            trk_offsets=trk_offsets, trk_key=trk_key,
            trk_px=trk[0], trk_py=trk[1], trk_pz=trk[2], trk_e=trk[3], trk_sumpt=trk[4],
            jettrk_px=jettrk[0], jettrk_py=jettrk[1], jettrk_pz=jettrk[2], jettrk_e=jettrk[3],
            jettrk_sumpt=jettrk[4])


def _plain_fragments(fragments: list, pflow: bool) -> bool:
    """Whether every fragment is an ObjectAssociations of the jet associations' mode (the kernels
    check the rest)."""
    for frag in fragments:
        if frag.__class__ is not ObjectAssociations or frag.pflow != pflow:
            return False
    return True


def _frozen_map(container_keys: tuple[str, ...], jet_assoc: JetAssociations, out: tuple,
                config: tuple) -> MissingETAssociationMap:
    """The frozen association map from :func:`kern.association_map`'s result (fresh arrays, set
    read-only here; the float rows are views of read-only blocks)."""
    arrays = out[3:]
    for a in arrays:
        a.setflags(write=False)
    if not jet_assoc.__dict__.get("_frozen"):
        jet_assoc.freeze()
    (is_misc, obj_offsets, obj_container, obj_index, obj_type, ovl_offsets, ovl_index, ovl_type,
     cal_offsets, cal_key, cal, trk_offsets, trk_key, trk, jettrk) = arrays
    return MissingETAssociationMap._trusted(container_keys, (
        jet_assoc.assoc_offsets, jet_assoc.jet_index, is_misc, obj_offsets, obj_container, obj_index, obj_type,
        ovl_offsets, ovl_index, ovl_type, cal_offsets, cal_key, cal[0], cal[1], cal[2], cal[3], cal[4],
        trk_offsets, trk_key, trk[0], trk[1], trk[2], trk[3], trk[4],
        jettrk[0], jettrk[1], jettrk[2], jettrk[3], jettrk[4]), jet_key=config[1], key=config[4])


def _map_from_buffers(container_keys: tuple[str, ...], jet_assoc: JetAssociations, i64: np.ndarray,
                      i32: np.ndarray, u8: np.ndarray, u64: np.ndarray, f32: np.ndarray,
                      config: tuple) -> MissingETAssociationMap:
    """The frozen association map from :func:`kern.association_map_packed`'s fresh buffers: the
    buffers are set read-only and the fields are views of them."""
    for a in (i64, i32, u8, u64, f32):
        a.setflags(write=False)
    if not jet_assoc.__dict__.get("_frozen"):
        jet_assoc.freeze()
    n_assoc, n_obj, n_ovl, n_cal, n_trk = i64[:kern.MAP_HEADER].tolist()
    o1 = kern.MAP_HEADER + n_assoc + 1
    o2 = o1 + n_obj + 1
    o3 = o2 + n_assoc + 1
    u1 = n_assoc + n_obj
    u2 = u1 + n_obj
    t = 5 * n_cal
    j = t + 5 * n_trk
    return MissingETAssociationMap._trusted(container_keys, (
        jet_assoc.assoc_offsets, jet_assoc.jet_index, u8[:n_assoc].view(np.bool_), i64[kern.MAP_HEADER:o1],
        u8[n_assoc:u1], i32[:n_obj], u8[u1:u2], i64[o1:o2], i32[n_obj:], u8[u2:], i64[o2:o3], u64[:n_cal],
        f32[:n_cal], f32[n_cal:2 * n_cal], f32[2 * n_cal:3 * n_cal], f32[3 * n_cal:4 * n_cal], f32[4 * n_cal:t],
        i64[o3:], u64[n_cal:],
        f32[t:t + n_trk], f32[t + n_trk:t + 2 * n_trk], f32[t + 2 * n_trk:t + 3 * n_trk],
        f32[t + 3 * n_trk:t + 4 * n_trk], f32[t + 4 * n_trk:j],
        f32[j:j + n_assoc], f32[j + n_assoc:j + 2 * n_assoc], f32[j + 2 * n_assoc:j + 3 * n_assoc],
        f32[j + 3 * n_assoc:j + 4 * n_assoc], f32[j + 4 * n_assoc:]), jet_key=config[1], key=config[4])


def _raise_piece_range(owner: str, out: tuple, jet_assoc: JetAssociations, fragments: list,
                       fragment_keys: tuple[str, ...]) -> None:
    piece, assoc = int(out[1]), int(out[2])
    for key, frag in zip(fragment_keys, fragments):
        if piece < frag.piece_assoc.shape[0]:
            break
        piece -= frag.piece_assoc.shape[0]
    raise SchemaError(f"{owner}: fragment {key!r} piece {piece} goes to association {assoc}, outside the "
                      f"{jet_assoc.n_assoc} jet associations", key=key)


def _packed(fragments: list[ObjectAssociations]) -> np.ndarray:
    """The fragments' packed columns, concatenated (fragment order)."""
    if len(fragments) == 1:
        return fragments[0].packed
    if not fragments:
        return _NO_PACKED
    return np.concatenate([f.packed for f in fragments])


_NO_PACKED = np.zeros(0, dtype=np.int64)
_NO_PACKED.flags.writeable = False
_TRACK_BIT = np.uint8(1 << ObjectType.TrackParticle)
_PFO_BIT = np.uint8(1 << ObjectType.ParticleFlow)
_CLUSTER_BIT = np.uint8(1 << ObjectType.CaloCluster)


def _map_arrays(jet_assoc: JetAssociations, fragments: list[ObjectAssociations], signals: Any,
                tracks: Any) -> tuple[tuple[str, ...], tuple]:
    """(container keys, :func:`kern.association_map` result) for the jet associations + fragments."""
    container_keys: list[str] = []
    container_ids = []
    for frag in fragments:
        if frag.container_key not in container_keys:
            container_keys.append(frag.container_key)
        container_ids.append(container_keys.index(frag.container_key))
    pflow = jet_assoc.pflow
    # the jets are not an input here: offsets with the association counts pass the kernel's check
    jet_offsets = jet_assoc.assoc_offsets - np.arange(jet_assoc.assoc_offsets.shape[0], dtype=np.int64)
    out = kern.association_map(
        jet_assoc.assoc_offsets, jet_assoc.jet_index, jet_assoc.jettrk, jet_assoc.signal_assoc,
        jet_assoc.track_assoc, jet_offsets, _packed(fragments),
        np.array(container_ids, dtype=np.int64), signals.offsets, signals["px"], signals["py"],
        signals["pz"], signals["e"], _signal_track_links(signals, pflow, jet_assoc.signals_key),
        _PFO_BIT if pflow else _CLUSTER_BIT, tracks.offsets, tracks["px"], tracks["py"], tracks["pz"],
        tracks["e"], _TRACK_BIT, pflow)
    return tuple(container_keys), out


def build_map_fields(jet_assoc: JetAssociations, fragments: list[ObjectAssociations],
                     signals: Any, tracks: Any) -> dict[str, Any]:
    """The columnar fields of the association map (internals.md) from jet associations + fragments."""
    container_keys, out = _map_arrays(jet_assoc, fragments, signals, tracks)
    if out[0] == kern.ERR_LINK_RANGE:
        _raise_piece_range("build_map_fields", out, jet_assoc, fragments,
                           tuple(f.container_key for f in fragments))
    if out[0] == kern.ERR_TOO_MANY_OBJECTS:
        return {"status": kern.ERR_TOO_MANY_OBJECTS, "bad_assoc": int(out[1]), "bad_count": int(out[2])}
    if out[0] != kern.OK:
        raise SchemaError("build_map_fields: the jet associations, fragments, signals and tracks "
                          "do not match")
    (status, bad, _, is_misc, obj_offsets, obj_container, obj_index, obj_type, ovl_offsets, ovl_index,
     ovl_type, cal_offsets, cal_key, cal, trk_offsets, trk_key, trk, jettrk) = out
    fields: dict[str, Any] = {"status": status, "bad_assoc": bad, "bad_count": 0,
                              "container_keys": container_keys,
                              "assoc_offsets": jet_assoc.assoc_offsets,
                              "jet_index": jet_assoc.jet_index, "is_misc": is_misc,
                              "obj_offsets": obj_offsets, "obj_container": obj_container,
                              "obj_index": obj_index, "obj_type": obj_type,
                              "ovl_offsets": ovl_offsets, "ovl_index": ovl_index, "ovl_type": ovl_type,
                              "cal_offsets": cal_offsets, "cal_key": cal_key,
                              "trk_offsets": trk_offsets, "trk_key": trk_key}
    for w, comp in enumerate(("px", "py", "pz", "e", "sumpt")):
        fields[f"cal_{comp}"] = cal[w]
        fields[f"trk_{comp}"] = trk[w]
        fields[f"jettrk_{comp}"] = jettrk[w]
    return fields


_MAP_FIELDS = ("container_keys", "assoc_offsets", "jet_index", "is_misc", "obj_offsets", "obj_container",
               "obj_index", "obj_type", "ovl_offsets", "ovl_index", "ovl_type", "cal_offsets", "cal_key",
               "cal_px", "cal_py", "cal_pz", "cal_e", "cal_sumpt", "trk_offsets", "trk_key", "trk_px",
               "trk_py", "trk_pz", "trk_e", "trk_sumpt", "jettrk_px", "jettrk_py", "jettrk_pz",
               "jettrk_e", "jettrk_sumpt")


def make_association_map(fields: dict[str, Any], *, jet_key: str | None = None,
                         key: str | None = None) -> MissingETAssociationMap:
    """A MissingETAssociationMap from the columnar fields of :func:`build_map_fields`."""
    return MissingETAssociationMap(fields["container_keys"], jet_key=jet_key, key=key,
                                   **{name: fields[name] for name in _MAP_FIELDS[1:]})


class METSoftAssociator(_ResolvedConfig, Algorithm):
    """Core soft terms: signals and selected PV tracks in no association -> MET_Core_<Jet>.

    Reads the jet associations and the same fragment list as the map builder (not the map), so
    it runs concurrently with it. Terms: SoftClusCore (softEvent|clusterLC), PVSoftTrkCore
    (softEvent|track).
    """

    jet_assoc = ReadHandleKey(K.met_jet_assoc_key(DEFAULT_JET_COLLECTION), doc="JetAssociations")
    fragments = ReadHandleKey(list(_DEFAULT_FRAGMENTS), doc="ObjectAssociations of all associators")
    signals = ReadHandleKey(K.PFOS, doc="jet constituents: PFOs (pflow) or TopoClusters")
    tracks = ReadHandleKey(K.TRACKS, doc="InDet tracks")
    core = WriteHandleKey(K.met_core_key(DEFAULT_JET_COLLECTION), doc="core soft terms")

    def _resolve(self) -> tuple:
        fragment_keys = self.key("fragments")
        fragment_keys = (fragment_keys,) if isinstance(fragment_keys, str) else fragment_keys
        return fragment_keys, self.key("signals"), self.key("tracks"), self.key("core")

    def compute(self, jet_assoc, fragments, signals, tracks):
        if fragments.__class__ is not list or jet_assoc.__class__ is not JetAssociations or \
                not _plain_fragments(fragments, jet_assoc.pflow):
            return self._compute_checked(jet_assoc, fragments, signals, tracks)
        pflow = jet_assoc.pflow
        try:   # the common case: sizes and counts checked by the kernel
            sig_cols, trk_cols = signals.columns, tracks.columns
            soft = kern.soft_core_f32(
                signals.offsets, sig_cols["px"], sig_cols["py"], sig_cols["e"],
                sig_cols["track"] if pflow else _NO_LINKS, tracks.offsets, trk_cols["px"], trk_cols["py"],
                jet_assoc.track_accepted, jet_assoc.signal_assoc, jet_assoc.track_assoc, jet_assoc.assoc_offsets,
                _packed(fragments), len(fragments), pflow)
        except (AttributeError, KeyError, TypeError):   # the checked path names the problem
            return self._compute_checked(jet_assoc, fragments, signals, tracks)
        if soft is None:
            return self._compute_checked(jet_assoc, fragments, signals, tracks)
        return _core_container(soft, self._config()[3])

    def _compute_checked(self, jet_assoc, fragments, signals, tracks):
        """compute() with every input checked in Python first, so that a failure names its cause."""
        fragment_keys, signals_key, tracks_key, core_key = self._config()
        fragments = list(fragments) if isinstance(fragments, (list, tuple)) else [fragments]
        _check_jet_assoc(self.name, jet_assoc, jet_assoc.pflow, signals, tracks, signals_key, tracks_key)
        _check_fragments(self.name, jet_assoc, fragments, fragment_keys)
        pflow = jet_assoc.pflow
        soft = kern.soft_core_f32(
            signals.offsets, signals["px"], signals["py"], signals["e"],
            _signal_track_links(signals, pflow, jet_assoc.signals_key), tracks.offsets, tracks["px"],
            tracks["py"], jet_assoc.track_accepted, jet_assoc.signal_assoc, jet_assoc.track_assoc,
            jet_assoc.assoc_offsets, _packed(fragments), len(fragments), pflow)
        if soft is None:
            raise SchemaError(f"{self.name}: inputs do not match", key=core_key)
        return _core_container(soft, core_key)


def _core_container(soft: np.ndarray, key: str) -> MissingETContainer:
    """The frozen core-term container from :func:`kern.soft_core_f32`'s fresh [3, n_events, 2] block."""
    soft.setflags(write=False)
    return MissingETContainer._trusted(_CORE_NAMES, _CORE_SOURCES, soft[0], soft[1], soft[2], key=key,
                                       frozen=True)


def soft_core_terms(jet_assoc: JetAssociations, fragments: list[ObjectAssociations], signals: Any,
                    tracks: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(soft[n_events, 2, 3] as (mpx, mpy, sumet) of SoftClusCore, PVSoftTrkCore; soft signal mask;
    soft track mask)."""
    kinds = [f.const_kind for f in fragments]
    index = [f.const_index for f in fragments]
    misc_kind = np.concatenate(kinds) if kinds else np.zeros(0, dtype=np.uint8)
    misc_index = np.concatenate(index) if index else np.zeros(0, dtype=np.int32)
    pflow = jet_assoc.pflow
    return kern.soft_core(signals.offsets, np.asarray(signals["px"]), np.asarray(signals["py"]),
                          np.asarray(signals["e"]), _signal_track(signals, pflow, jet_assoc.signals_key),
                          tracks.offsets, np.asarray(tracks["px"]), np.asarray(tracks["py"]),
                          jet_assoc.track_accepted, jet_assoc.signal_assoc, jet_assoc.track_assoc,
                          misc_kind, misc_index, pflow)


CORE_TERMS = ((K.SOFT_CLUS_CORE, SOURCE_SOFT_CLUS_CORE), (K.PV_SOFT_TRK_CORE, SOURCE_PV_SOFT_TRK_CORE))
_CORE_NAMES = tuple(name for name, _ in CORE_TERMS)
_CORE_SOURCES = np.array([src for _, src in CORE_TERMS], dtype=np.uint64)
_CORE_SOURCES.flags.writeable = False


def make_core_container(soft: np.ndarray, *, key: str | None = None) -> MissingETContainer:
    """A MissingETContainer with the two core terms for every event of the block."""
    return MissingETContainer(key=key, names=tuple(name for name, _ in CORE_TERMS),
                              sources=np.array([src for _, src in CORE_TERMS], dtype=np.uint64),
                              mpx=soft[:, :, 0].astype(np.float32),
                              mpy=soft[:, :, 1].astype(np.float32),
                              sumet=soft[:, :, 2].astype(np.float32))


__all__ = ["JetAssociations", "ObjectAssociations", "METJetAssocTool", "METObjectAssociator",
           "METElectronAssociator", "METPhotonAssociator", "METTauAssociator", "METMuonAssociator",
           "METAssocMapBuilder", "METSoftAssociator", "STANDARD_ASSOCIATORS", "build_map_fields",
           "soft_core_terms", "make_association_map", "make_core_container",
           "SOURCE_SOFT_CLUS_CORE", "SOURCE_PV_SOFT_TRK_CORE", "CORE_TERMS", "METRecoSummary"]


class METRecoSummary(Sink):
    """End-of-run summary sink: mean core soft terms and map sizes per jet collection.

    A block costs no numpy work (it matters at batch size 1): the map sizes are counted, the
    core-term arrays kept and reduced every `REDUCE_EVERY` blocks.
    """

    REDUCE_EVERY = 1024

    def __init__(self, jet_collections):
        self.name = "METRecoSummary"
        self.jet_collections = tuple(jet_collections)
        self.n_events = 0
        self.totals = {jet: np.zeros(7) for jet in self.jet_collections}
        self._keys = tuple((K.met_core_key(jet), K.met_assoc_key(jet)) for jet in self.jet_collections)
        self._cores: list[list] = [[] for _ in self.jet_collections]
        self._sizes = [[0, 0, 0] for _ in self.jet_collections]   # associations, objects, keyed sums

    def keys(self) -> list[str]:
        return [k for jet in self.jet_collections for k in (K.met_assoc_key(jet), K.met_core_key(jet))]

    def write(self, first: int, n: int, data: dict) -> None:
        self.n_events += n
        for j, (core_key, map_key) in enumerate(self._keys):
            self._cores[j].append(data[core_key])
            amap, sizes = data[map_key], self._sizes[j]
            sizes[0] += len(amap.jet_index)
            sizes[1] += len(amap.obj_index)
            sizes[2] += len(amap.cal_key) + len(amap.trk_key)
        if len(self._cores[0]) >= self.REDUCE_EVERY:
            self._reduce()

    def _reduce(self) -> None:
        for j, jet in enumerate(self.jet_collections):
            cores, self._cores[j] = self._cores[j], []
            t = self.totals[jet]
            t[4:7] += self._sizes[j]
            self._sizes[j] = [0, 0, 0]
            if not cores:
                continue
            names = cores[0].names
            same = all(c.names == names for c in cores)
            columns = {}
            for what in ("mpx", "mpy", "sumet"):
                if same:   # one concatenation of the [events, terms] arrays, then the columns
                    whole = np.concatenate([getattr(c, what) for c in cores])
                    columns[what] = [whole[:, names.index(name)] for name, _ in CORE_TERMS]
                else:
                    columns[what] = [np.concatenate([getattr(c, what)[:, c.names.index(name)] for c in cores])
                                     for name, _ in CORE_TERMS]
            for i in range(len(CORE_TERMS)):
                t[2 * i] += np.hypot(columns["mpx"][i].astype(np.float64), columns["mpy"][i]).sum()
                t[2 * i + 1] += columns["sumet"][i].astype(np.float64).sum()

    def summary(self) -> str:
        self._reduce()
        n = max(self.n_events, 1)
        lines = [f"MET reconstruction over {self.n_events} events (means per event):",
                 f"  {'jets':<16}{'SoftClusCore':>14}{'sumet':>10}{'PVSoftTrkCore':>15}{'sumet':>10}"
                 f"{'assocs':>8}{'objects':>9}{'keyed sums':>12}"]
        for jet in self.jet_collections:
            t = self.totals[jet] / n
            lines.append(f"  {jet:<16}{t[0] / GeV:>10.2f} GeV{t[1] / GeV:>10.1f}{t[2] / GeV:>11.2f} GeV"
                         f"{t[3] / GeV:>10.1f}{t[4]:>8.2f}{t[5]:>9.2f}{t[6]:>12.2f}")
        return "\n".join(lines)
