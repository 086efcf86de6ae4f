"""The object associators of MET reconstruction: one fragment of the association map per
object collection (see :mod:`metflow.algorithms.met.reco` for the chain and the signal basis).

:class:`METObjectAssociator` and its subclasses (muons, electrons, photons, taus, and plugins)
each associate one object collection. The map builder
(:class:`~metflow.algorithms.met.reco.METAssocMapBuilder`) runs the link-based ones itself, in
its own kernel call, as Athena's METAssociationTool runs its associator tools in turn: at batch
size 1 every algorithm execution costs about as much as the association itself. An associator
with its own compute runs as an algorithm of its own, and its fragment is an input of the map
builder. Both give the same fragments, through the same kernel (``object_associations_of``).
"""

from __future__ import annotations

from typing import Any, ClassVar, NamedTuple, Sequence

from metflow.edm import keys as K
from metflow.edm.met import ObjectType
from metflow.edm.units import GeV
from metflow.framework.component import Algorithm, Property, ReadHandleKey, WriteHandleKey
from metflow.framework.errors import ConfigurationError

from . import _reco_kernels as kern
from .associations import JetAssociations, ObjectAssociations
from .kernel_status import raise_for_status
from .reco_inputs import (_NO_LINKS, _NO_OFFSETS, _PXPY, DEFAULT_JET_COLLECTION, _check_jet_assoc,
                          _check_mode, _check_same_block, _column, _event_number, _gather, _links,
                          _list_column, _ResolvedConfig, _signal_track_links)


class _ObjectAssocConfig(NamedTuple):
    objects_key: str
    signals_key: str
    tracks_key: str
    pflow: bool
    min_pt: float
    cal_links: str
    trk_links: str | None
    object_type: int


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

    def _resolve(self) -> _ObjectAssocConfig:
        return _object_config(type(self), self.key("objects"), self.key("signals"), self.key("tracks"),
                              self.pflow, self.min_pt)

    def compute(self, objects, signals, tracks, jet_assoc, ctx=None):
        return associate((self._config(),), (self.name,), (objects,), signals, tracks, jet_assoc, ctx)[0]


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


def _object_config(cls: type[METObjectAssociator], objects_key: str, signals_key: str, tracks_key: str,
                   pflow: bool, min_pt: float) -> _ObjectAssocConfig:
    """One collection's association constants: the keys, the cut, and the link fields and xAOD
    type the associator class declares."""
    return _ObjectAssocConfig(objects_key, signals_key, tracks_key, pflow, float(min_pt),
                              cls.pfo_links if pflow else cls.cluster_links,
                              None if pflow else cls.track_links, int(cls.object_type))


def _collection(c: _ObjectAssocConfig, objects: Any) -> tuple:
    """The kernel's per-collection tuple (see :func:`kern.object_associations_of`)."""
    cal_offsets, cal_values = _list_column(objects, c.cal_links, c.objects_key)
    if c.pflow:
        trk = (_NO_OFFSETS, _NO_LINKS, False)
    else:
        trk = _links(objects, c.trk_links, c.objects_key)
    return (objects.offsets, *_gather(objects, _PXPY, c.objects_key), c.min_pt, cal_offsets, cal_values,
            *trk, c.object_type)


def associate(configs: Sequence[_ObjectAssocConfig], owners: Sequence[str], objects: Sequence[Any],
              signals: Any, tracks: Any, jet_assoc: JetAssociations, ctx: Any = None) -> list[ObjectAssociations]:
    """The fragments of one or more object collections of one jet collection, in one kernel call:
    ``configs[i]`` (owned by the algorithm named ``owners[i]``) associates ``objects[i]``. The
    fragments are read-only views of one buffer, in order. All configs share the mode, signals
    and tracks."""
    c0 = configs[0]
    pflow = c0.pflow
    _check_mode(owners[0], jet_assoc, pflow)
    status, bad, packed, bounds = kern.object_associations_of(
        collections_of(configs, objects), signals.offsets, _column(signals, "e", c0.signals_key),
        _signal_track_links(signals, pflow, c0.signals_key), tracks.offsets, jet_assoc.track_accepted,
        jet_assoc.signal_assoc, jet_assoc.track_assoc, jet_assoc.assoc_offsets, pflow)
    if status != kern.OK:
        raise_association_error(status, *bad.tolist(), configs, owners, objects, signals, tracks, jet_assoc, ctx)
    packed.setflags(write=False)   # before the fragments' views are taken: they are read-only too
    b = bounds.tolist()
    collection = jet_assoc.jet_collection
    return [ObjectAssociations.from_kernel(c.objects_key, c.object_type, collection, pflow, packed[b[i]:b[i + 1]])
            for i, c in enumerate(configs)]


def collections_of(configs: Sequence[_ObjectAssocConfig], objects: Sequence[Any]) -> tuple:
    """The kernels' per-collection tuples (see :func:`kern.object_associations_of`)."""
    return tuple(_collection(c, o) for c, o in zip(configs, objects))


def raise_association_error(status: int, i: int, ev: int, obj: int, configs: Sequence[_ObjectAssocConfig],
                            owners: Sequence[str], objects: Sequence[Any], signals: Any, tracks: Any,
                            jet_assoc: JetAssociations, ctx: Any) -> None:
    """The error of collection ``i``'s failed association (kernel ``status``, event ``ev`` of the
    block, object ``obj``), naming its associator and container."""
    c = configs[i]
    raise_for_status(
        status, owners[i], key=c.objects_key, event=_event_number(ctx, ev),
        what=f"object {obj} has a constituent link out of range of {c.signals_key!r}/{c.tracks_key!r}",
        explain=lambda: _explain(owners[i], c, objects[i], signals, tracks, jet_assoc))


def _explain(owner: str, c: _ObjectAssocConfig, objects: Any, signals: Any, tracks: Any,
             jet_assoc: JetAssociations) -> None:
    """Raise the error naming which input of one collection's association does not match."""
    _check_same_block(owner, {c.objects_key: objects.n_events, c.signals_key: signals.n_events,
                              c.tracks_key: tracks.n_events, "jet associations": jet_assoc.n_events})
    _check_jet_assoc(owner, jet_assoc, c.pflow, signals, tracks, c.signals_key, c.tracks_key)


class AssociatorsConfig(NamedTuple):
    """The associators a map builder runs itself, resolved: per mode (pflow True / False) their
    configurations, the names errors give them, and their object containers."""
    configs: dict[bool, tuple[_ObjectAssocConfig, ...]]
    owners: tuple[str, ...]
    objects_keys: tuple[str, ...]


def resolve_associators(owner: str, associators: Sequence[Any], objects: tuple[str, ...], min_pt: tuple,
                        signals_key: str, tracks_key: str) -> AssociatorsConfig:
    """Associator classes (or their names) with their object containers and cuts (empty: each
    class's default), checked: one container each, none twice."""
    classes = [associator_class(a, f"{owner}: associators") for a in associators]
    cuts = tuple(min_pt) or tuple(cls.properties_declared()["min_pt"].default for cls in classes)
    for what, values in (("objects", objects), ("min_pt", cuts)):
        if len(values) != len(classes):
            raise ConfigurationError(f"{owner}: {len(classes)} associators but {len(values)} "
                                     f"{what} ({list(values)}): one each, in the same order")
    if len(set(objects)) != len(objects):
        raise ConfigurationError(f"{owner}: two associators for one container in {list(objects)}")
    return AssociatorsConfig(
        {pflow: tuple(_object_config(cls, key, signals_key, tracks_key, pflow, cut)
                      for cls, key, cut in zip(classes, objects, cuts)) for pflow in (True, False)},
        tuple(f"{owner} ({cls.__name__})" for cls in classes), tuple(objects))


def find_associator(value: Any, owner: str = "MET associators") -> type[METObjectAssociator]:
    """A METObjectAssociator subclass, given as the class or by name (built-in or plugin, with
    "did you mean"); anything else is a ConfigurationError naming ``owner``."""
    shown = repr(value)
    if isinstance(value, str):
        from metflow.cli import available_algorithm_modules
        from metflow.framework.registry import find_algorithm

        value = find_algorithm(value, available_algorithm_modules())
        shown += f" ({value.__module__})"
    if not (isinstance(value, type) and issubclass(value, METObjectAssociator)):
        raise ConfigurationError(f"{owner}: {shown} is not a MET object associator (a subclass of "
                                 f"metflow.algorithms.met.reco.METObjectAssociator)")
    return value


def associator_class(value: Any, owner: str = "MET associators") -> type[METObjectAssociator]:
    """An associator class that the map builder can run itself: :func:`find_associator`'s,
    keeping the generic association (an own ``compute`` runs as an algorithm of its own)."""
    value = find_associator(value, owner)
    if not is_link_based(value):
        raise ConfigurationError(f"{owner}: {value.__name__} has its own compute() or _resolve(); it "
                                 f"runs as an algorithm of its own, its fragment an input of the map builder")
    return value


def is_link_based(cls: type[METObjectAssociator]) -> bool:
    """Whether the class uses the generic link-based association (so the map builder can run
    it in its own kernel call): it declares its container, type, link fields and cut, and
    overrides neither compute() nor how they are resolved."""
    return cls.compute is METObjectAssociator.compute and cls._resolve is METObjectAssociator._resolve


__all__ = ["METObjectAssociator", "METElectronAssociator", "METPhotonAssociator", "METTauAssociator",
           "METMuonAssociator", "STANDARD_ASSOCIATORS", "AssociatorsConfig", "associate", "associator_class",
           "collections_of", "find_associator", "is_link_based", "raise_association_error",
           "resolve_associators"]
