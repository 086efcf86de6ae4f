"""MET reconstruction: association maps and core soft terms, one scheduled algorithm per step.

For one jet collection the chain is (all keys from :mod:`metflow.edm.keys`)::

    METJetAssocTool     jets, signals, tracks, vertices -> met_jet_assoc_key(jet)  (JetAssociations)
    METAssocMapBuilder  jet assoc, [objects], [fragments], jets, signals, tracks
                        -> met_assoc_key(jet), met_core_key(jet)

The map builder runs the link-based object associators (MET<X>Associator,
:mod:`.object_associators`), the map and the core soft terms in one kernel call, as Athena's
METAssociationTool runs its associator tools and fills the map and the core container
(:class:`METSoftAssociator` computes the core terms alone, from fragments). At batch size 1 each
algorithm execution costs about as much Python and dispatch as a whole event's association.
Each algorithm has one path: it gathers its columns, calls one kernel (from
:mod:`._reco_kernels`, which re-exports the map kernels of :mod:`._map_kernels`), turns a failed
status into a named error (:func:`.kernel_status.raise_for_status`) and builds its output with
the type's ``from_kernel`` constructor (fresh, valid, read-only).
A plugin associator is a subclass of :class:`METObjectAssociator`: a link-based one joins the
builder's ``associators``; one with its own compute runs as an algorithm of its own and its
fragment key joins the builder's ``fragments`` (see ``config.met_assoc_cfg``).

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

from typing import Any, NamedTuple

import numpy as np

from metflow.edm import keys as K
from metflow.edm.errors import SchemaError
from metflow.edm.met import MissingETAssociationMap, MissingETContainer, ObjectType, Source
from metflow.edm.units import GeV, mm
from metflow.framework.component import Algorithm, Property, ReadHandleKey, WriteHandleKey

from . import _reco_kernels as kern
from .associations import JetAssociations, ObjectAssociations
from .kernel_status import raise_for_status
from .object_associators import (STANDARD_ASSOCIATORS, AssociatorsConfig, METElectronAssociator,
                                 METMuonAssociator, METObjectAssociator, METPhotonAssociator, METTauAssociator,
                                 associate, collections_of, raise_association_error, resolve_associators)
from .reco_inputs import (_P4, _PXPY, _PXPYE, _TRACK_COLUMNS, _VERTEX_COLUMNS, DEFAULT_JET_COLLECTION,
                          _check_jet_assoc, _check_mode, _check_same_block, _event_number, _gather,
                          _list_column, _ResolvedConfig, _signal_track_links)

# MissingETBase::Source patterns of the core terms (athena_met.md A.3).
SOURCE_SOFT_CLUS_CORE = Source.soft_event() | Source.cluster_lc()
SOURCE_PV_SOFT_TRK_CORE = Source.soft_event() | Source.track()


# ---------------------------------------------------------------------------------------------
# algorithms


class _JetAssocConfig(NamedTuple):
    jets_key: str
    signals_key: str
    tracks_key: str
    vertices_key: str
    jet_collection: str
    pflow: bool
    min_pt: float
    max_abs_eta: float
    max_z0_sin_theta: float
    max_d0: float


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

    def _resolve(self) -> _JetAssocConfig:
        jets_key = self.key("jets")
        return _JetAssocConfig(
            jets_key, self.key("signals"), self.key("tracks"), self.key("vertices"),
            K.jet_collection_of(jets_key) if jets_key.endswith("Jets") else jets_key, self.pflow,
            self.track_min_pt, self.track_max_abs_eta, self.track_max_z0_sin_theta, self.track_max_d0)

    def compute(self, jets, signals, tracks, vertices, ctx=None):
        c = self._config()
        const_offsets, const_values = _list_column(jets, "constituents", c.jets_key)
        ghost_offsets, ghost_values = _list_column(jets, "ghost_tracks", c.jets_key)
        status, ev, jet, *arrays = kern.jet_associations(
            jets.offsets, const_offsets, const_values, ghost_offsets, ghost_values, signals.offsets,
            _signal_track_links(signals, c.pflow, c.signals_key), tracks.offsets,
            *_gather(tracks, _TRACK_COLUMNS, c.tracks_key), vertices.offsets,
            *_gather(vertices, _VERTEX_COLUMNS, c.vertices_key),
            c.min_pt, c.max_abs_eta, c.max_z0_sin_theta, c.max_d0, c.pflow)
        if status != kern.OK:
            raise_for_status(
            status, self.name, key=c.jets_key, event=_event_number(ctx, ev),
            what=(f"jet {jet} has a constituent, ghost-track or PFO-track link out of range of "
                  f"{c.signals_key!r}/{c.tracks_key!r}" if status == kern.ERR_LINK_RANGE else
                  f"jet {jet} shares a constituent or selected ghost track with an earlier jet"),
            explain=lambda: _check_same_block(self.name, {
                c.jets_key: jets.n_events, c.signals_key: signals.n_events,
                c.tracks_key: tracks.n_events, c.vertices_key: vertices.n_events}))
        return JetAssociations.from_kernel(c.jet_collection, c.pflow, c.signals_key, *arrays)


_DEFAULT_FRAGMENTS = tuple(K.met_object_assoc_key(DEFAULT_JET_COLLECTION, cls.default_objects_key())
                           for cls in STANDARD_ASSOCIATORS)


def _check_fragments(owner: str, jet_assoc: JetAssociations, fragments: list,
                     fragment_keys: tuple[str, ...]) -> None:
    for key, frag in zip(fragment_keys, fragments):
        if not isinstance(frag, ObjectAssociations):
            raise TypeError(f"{owner}: fragment {key!r} must be an ObjectAssociations, "
                            f"got {type(frag).__name__}")
        if frag.n_events != jet_assoc.n_events or frag.pflow != jet_assoc.pflow:
            raise SchemaError(f"{owner}: fragment {key!r} ({frag.n_events} events, pflow={frag.pflow}) "
                              f"does not match the jet associations ({jet_assoc.n_events} events, "
                              f"pflow={jet_assoc.pflow})", key=key)


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


class _MapConfig(NamedTuple):
    associators: AssociatorsConfig
    fragment_keys: tuple[str, ...]
    jets_key: str
    signals_key: str
    tracks_key: str
    map_key: str
    core_key: str | None


class METAssocMapBuilder(_ResolvedConfig, Algorithm):
    """Builds METAssoc_<Jet> from the jet associations and the objects' fragments, and with
    ``core`` set also MET_Core_<Jet>, in one kernel call (as Athena's METAssociationTool runs its
    associator tools, fills the map and the core container).

    The ``associators`` (link-based METObjectAssociator classes, by class or name) associate
    ``objects`` inside that call; ``fragments`` are those of associators run as algorithms of
    their own (plugins with their own compute), which follow them in association order. Objects
    enter each association in that order, then in each associator's pT order; identifyOverlaps
    (keys, keyed cal/trk sums, overlap graph) runs over the block, then the soft terms
    (:class:`METSoftAssociator` computes the same terms alone).
    """

    jet_assoc = ReadHandleKey(K.met_jet_assoc_key(DEFAULT_JET_COLLECTION), doc="JetAssociations")
    objects = ReadHandleKey([cls.default_objects_key() for cls in STANDARD_ASSOCIATORS],
                            doc="each associator's objects, in the order of associators")
    fragments = ReadHandleKey((), doc="ObjectAssociations of associators run as algorithms of their own, "
                              "after the associators' in association order")
    jets = ReadHandleKey(K.jet_container_key(DEFAULT_JET_COLLECTION), doc="reference jets")
    signals = ReadHandleKey(K.PFOS, doc="jet constituents: PFOs (pflow) or TopoClusters")
    tracks = ReadHandleKey(K.TRACKS, doc="InDet tracks")
    assoc_map = WriteHandleKey(K.met_assoc_key(DEFAULT_JET_COLLECTION), doc="MissingETAssociationMap")
    core = WriteHandleKey(None, optional=True, doc="core soft terms (MET_Core_<Jet>), computed in the "
                          "same kernel call; None: not written")
    associators = Property(tuple, tuple(cls.__name__ for cls in STANDARD_ASSOCIATORS),
                           doc="link-based associator classes (or their names) run in this call, in "
                           "association order")
    min_pt = Property(tuple, (), doc="each associator's minimum object pT, in order (empty: the "
                      "associators' defaults: muons 0, the others 4 GeV)", unit="MeV")

    def _resolve(self) -> _MapConfig:
        return _MapConfig(
            resolve_associators(self.name, self.associators, _keys(self, "objects"), self.min_pt,
                                self.key("signals"), self.key("tracks")),
            _keys(self, "fragments"), self.key("jets"), self.key("signals"), self.key("tracks"),
            self.key("assoc_map"), self.key("core"))

    def compute(self, jet_assoc, objects, fragments, jets, signals, tracks, ctx=None):
        c = self._config()
        fragments = _fragment_list(self.name, jet_assoc, fragments, c.fragment_keys)
        pflow = jet_assoc.pflow
        configs = c.associators.configs[pflow]
        if not isinstance(objects, list):
            objects = [objects]
        container_keys, container_ids = _containers(
            (*c.associators.objects_keys, *(f.container_key for f in fragments)), self.name)
        shared = (jet_assoc.assoc_offsets, jet_assoc.jet_index, jet_assoc.jettrk, jet_assoc.signal_assoc,
                  jet_assoc.track_assoc, jets.offsets)
        inputs = (signals.offsets, *_gather(signals, _P4, c.signals_key),
                  _signal_track_links(signals, pflow, jet_assoc.signals_key), _PFO_BIT if pflow else _CLUSTER_BIT,
                  tracks.offsets, *_gather(tracks, _P4, c.tracks_key), _TRACK_BIT, pflow, jet_assoc.track_accepted)
        if configs:
            status, failed, bad, bad_count, i64, i32, u8, u64, f32, soft = kern.objects_map_and_core(
                collections_of(configs, objects), _packed(fragments), container_ids, *shared, *inputs)
        else:   # every fragment made by another algorithm
            failed = -1
            status, bad, bad_count, i64, i32, u8, u64, f32, soft = kern.association_map_and_core(
                *shared, _packed(fragments), container_ids, *inputs)
        if status != kern.OK:
            self._raise(status, failed, bad, bad_count, c, jet_assoc, objects, fragments, jets, signals, tracks,
                        ctx)
        return {"assoc_map": _map_from_buffers(container_keys, jet_assoc, i64, i32, u8, u64, f32,
                                               jet_key=c.jets_key, key=c.map_key),
                "core": None if c.core_key is None else _core_container(soft, c.core_key)}

    def associate(self, jet_assoc, objects, signals, tracks, ctx=None) -> list[ObjectAssociations]:
        """The fragments of this builder's own associators, as each alone makes it (what its
        kernel call associates; for errors and inspection)."""
        c = self._config()
        configs = c.associators.configs[jet_assoc.pflow]
        if not configs:
            return []
        return associate(configs, c.associators.owners, objects if isinstance(objects, list) else [objects],
                         signals, tracks, jet_assoc, ctx)

    def _raise(self, status, failed, bad, bad_count, c, jet_assoc, objects, fragments, jets, signals, tracks,
               ctx) -> None:
        """The named error of a failed kernel call: a collection's association (``failed``), else
        the map, explained with every fragment (this builder's made again, one kernel call)."""
        associators = c.associators
        if failed >= 0:
            raise_association_error(status, failed, bad, bad_count, associators.configs[jet_assoc.pflow],
                                    associators.owners, objects, signals, tracks, jet_assoc, ctx)
        fragments = [*self.associate(jet_assoc, objects, signals, tracks, ctx), *fragments]
        keys = (*associators.objects_keys, *c.fragment_keys)
        if status == kern.ERR_LINK_RANGE:
            _raise_piece_range(self.name, (status, bad, bad_count), jet_assoc, fragments, keys)
        raise_for_status(
            status, self.name, key=c.map_key if status == kern.ERR_TOO_MANY_OBJECTS else c.jets_key,
            event=_event_number(ctx, int(np.searchsorted(jet_assoc.assoc_offsets, bad, side="right") - 1)),
            jet_index=int(jet_assoc.jet_index[bad]) if status == kern.ERR_TOO_MANY_OBJECTS else None,
            n_objects=int(bad_count), explain=lambda: self._explain(jet_assoc, fragments, keys, jets, signals,
                                                                    tracks))

    def _explain(self, jet_assoc, fragments, keys, jets, signals, tracks) -> None:
        c = self._config()
        _explain_inputs(self.name, jet_assoc, fragments, keys, signals, tracks, c.signals_key, c.tracks_key)
        if len(jets) + jets.n_events != jet_assoc.n_assoc:
            raise SchemaError(f"{self.name}: {len(jets)} jets in {jets.n_events} events do not match "
                              f"the {jet_assoc.n_assoc} jet associations", key=c.jets_key)


def _keys(alg: Algorithm, attr: str) -> tuple[str, ...]:
    """The key or keys of a list input, as a tuple."""
    keys = alg.key(attr)
    return (keys,) if isinstance(keys, str) else tuple(keys)


def _fragment_list(owner: str, jet_assoc: JetAssociations, fragments: Any,
                   fragment_keys: tuple[str, ...]) -> list:
    """The fragments as a list, each an ObjectAssociations of the jet associations' mode (the
    kernels check that they cover the same block)."""
    if not isinstance(fragments, list):
        fragments = list(fragments) if isinstance(fragments, tuple) else [fragments]
    _check_mode(owner, jet_assoc, jet_assoc.pflow)
    pflow = jet_assoc.pflow
    for frag in fragments:
        if not isinstance(frag, ObjectAssociations) or frag.pflow != pflow:
            _check_fragments(owner, jet_assoc, fragments, fragment_keys)
    return fragments


def _explain_inputs(owner: str, jet_assoc: JetAssociations, fragments: list, fragment_keys: tuple[str, ...],
                    signals: Any, tracks: Any, signals_key: str, tracks_key: str) -> None:
    """Raise the error naming which input of the map builder or soft associator does not match."""
    _check_jet_assoc(owner, jet_assoc, jet_assoc.pflow, signals, tracks, signals_key, tracks_key)
    _check_fragments(owner, jet_assoc, fragments, fragment_keys)


#: fragment container-key sequence -> (the keys, container id per fragment)
_CONTAINER_IDS: dict[tuple[str, ...], tuple[tuple[str, ...], np.ndarray]] = {}


def _containers(keys: tuple[str, ...], owner: str) -> tuple[tuple[str, ...], np.ndarray]:
    """(container keys, container id per fragment) of fragments of these containers, cached per
    key sequence (the same for every block of a run; a module-level cache, not state on the
    algorithm). Two fragments of one container would enter its objects twice: an error."""
    cached = _CONTAINER_IDS.get(keys)
    if cached is not None:
        return cached
    if len(set(keys)) != len(keys):
        twice = sorted({k for k in keys if keys.count(k) > 1})
        raise SchemaError(f"{owner}: two fragments of {twice[0]!r} (fragments of {list(keys)}): each "
                          f"container is associated once", key=twice[0])
    ids = np.arange(len(keys), dtype=np.int64)
    ids.setflags(write=False)
    cached = _CONTAINER_IDS[keys] = (keys, ids)
    return cached


def _map_from_buffers(container_keys: tuple[str, ...], jet_assoc: JetAssociations, i64: np.ndarray,
                      i32: np.ndarray, u8: np.ndarray, u64: np.ndarray, f32: np.ndarray, *,
                      jet_key: str | None, key: str | None) -> MissingETAssociationMap:
    """The frozen association map from :func:`kern.association_map`'s fresh buffers: the
    fields are views of them (layout in the kernel's docstring), read-only from the start, and
    the jet associations' (frozen) offsets and jet indices."""
    for buffer in (i64, i32, u8, u64, f32):
        buffer.setflags(write=False)
    jet_assoc.freeze()   # a no-op for the store's (frozen) inputs
    n_assoc, n_obj, n_ovl, n_cal, n_trk = i64[:kern.MAP_HEADER].tolist()
    o1 = kern.MAP_HEADER + n_assoc + 1
    o2 = o1 + n_obj + 1
    o3 = o2 + n_assoc + 1
    u1 = n_assoc + n_obj
    u2 = u1 + n_obj
    t = 5 * n_cal
    j = t + 5 * n_trk
    return MissingETAssociationMap.from_kernel(container_keys, (
        jet_assoc.assoc_offsets, jet_assoc.jet_index, u8[:n_assoc].view(np.bool_), i64[kern.MAP_HEADER:o1],
        u8[n_assoc:u1], i32[:n_obj], u8[u1:u2], i64[o1:o2], i32[n_obj:], u8[u2:], i64[o2:o3], u64[:n_cal],
        f32[:n_cal], f32[n_cal:2 * n_cal], f32[2 * n_cal:3 * n_cal], f32[3 * n_cal:4 * n_cal], f32[4 * n_cal:t],
        i64[o3:], u64[n_cal:],
        f32[t:t + n_trk], f32[t + n_trk:t + 2 * n_trk], f32[t + 2 * n_trk:t + 3 * n_trk],
        f32[t + 3 * n_trk:t + 4 * n_trk], f32[t + 4 * n_trk:j],
        f32[j:j + n_assoc], f32[j + n_assoc:j + 2 * n_assoc], f32[j + 2 * n_assoc:j + 3 * n_assoc],
        f32[j + 3 * n_assoc:j + 4 * n_assoc], f32[j + 4 * n_assoc:]), jet_key=jet_key, key=key)


class _SoftConfig(NamedTuple):
    fragment_keys: tuple[str, ...]
    signals_key: str
    tracks_key: str
    core_key: str


class METSoftAssociator(_ResolvedConfig, Algorithm):
    """Core soft terms: signals and selected PV tracks in no association -> MET_Core_<Jet>.

    Reads the jet associations and the fragment list (not the map). The map builder writes the
    same terms in its own kernel call when its ``core`` is set, as ``met_assoc_cfg`` does; this
    algorithm computes them alone (a job that wants the core terms without the map, or from
    another fragment list). Terms: SoftClusCore (softEvent|clusterLC), PVSoftTrkCore
    (softEvent|track).
    """

    jet_assoc = ReadHandleKey(K.met_jet_assoc_key(DEFAULT_JET_COLLECTION), doc="JetAssociations")
    fragments = ReadHandleKey(list(_DEFAULT_FRAGMENTS), doc="ObjectAssociations of all associators")
    signals = ReadHandleKey(K.PFOS, doc="jet constituents: PFOs (pflow) or TopoClusters")
    tracks = ReadHandleKey(K.TRACKS, doc="InDet tracks")
    core = WriteHandleKey(K.met_core_key(DEFAULT_JET_COLLECTION), doc="core soft terms")

    def _resolve(self) -> _SoftConfig:
        return _SoftConfig(_keys(self, "fragments"), self.key("signals"), self.key("tracks"), self.key("core"))

    def compute(self, jet_assoc, fragments, signals, tracks):
        c = self._config()
        fragments = _fragment_list(self.name, jet_assoc, fragments, c.fragment_keys)
        pflow = jet_assoc.pflow
        ok, soft, _, _ = kern.soft_core(
            signals.offsets, *_gather(signals, _PXPYE, c.signals_key),
            _signal_track_links(signals, pflow, jet_assoc.signals_key), tracks.offsets,
            *_gather(tracks, _PXPY, c.tracks_key),
            jet_assoc.track_accepted, jet_assoc.signal_assoc, jet_assoc.track_assoc, jet_assoc.assoc_offsets,
            _packed(fragments), len(fragments), pflow)
        if not ok:
            raise_for_status(kern.ERR_INPUTS, self.name, key=c.core_key, explain=lambda: _explain_inputs(
                self.name, jet_assoc, fragments, c.fragment_keys, signals, tracks, c.signals_key, c.tracks_key))
        return _core_container(soft, c.core_key)


def _core_container(soft: np.ndarray, key: str) -> MissingETContainer:
    """The core terms from the kernel's fresh float32[3 (mpx, mpy, sumet), n_events, 2 terms]."""
    soft.setflags(write=False)   # before the term views are taken: they are read-only too
    return MissingETContainer.from_kernel(_CORE_NAMES, _CORE_SOURCES, soft[0], soft[1], soft[2], key=key)


CORE_TERMS = ((K.SOFT_CLUS_CORE, SOURCE_SOFT_CLUS_CORE), (K.PV_SOFT_TRK_CORE, SOURCE_PV_SOFT_TRK_CORE))
_CORE_NAMES = tuple(name for name, _ in CORE_TERMS)
_CORE_SOURCES = np.array([src for _, src in CORE_TERMS], dtype=np.uint64)
_CORE_SOURCES.flags.writeable = False


# The columnar helpers and the end-of-run summary live in their own modules; re-exported here,
# where they were first defined.
from .reco_columns import (build_map_fields, make_association_map, make_core_container,  # noqa: E402
                           soft_core_terms)
from .reco_summary import METRecoSummary  # noqa: E402

__all__ = ["JetAssociations", "ObjectAssociations", "METJetAssocTool", "METObjectAssociator",
           "METElectronAssociator", "METPhotonAssociator", "METTauAssociator", "METMuonAssociator",
           "METAssocMapBuilder", "METSoftAssociator", "STANDARD_ASSOCIATORS", "build_map_fields",
           "soft_core_terms", "make_association_map", "make_core_container",
           "SOURCE_SOFT_CLUS_CORE", "SOURCE_PV_SOFT_TRK_CORE", "CORE_TERMS", "METRecoSummary"]
