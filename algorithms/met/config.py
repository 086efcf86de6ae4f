"""Configuration of the MET reconstruction chain for one jet collection (``met_reco_cfg``)."""

from __future__ import annotations

from collections.abc import Sequence

from metflow.edm import keys as K
from metflow.edm.jet_collection import jet_collection, jet_collection_of_key
from metflow.framework.errors import ConfigurationError

from .reco import (STANDARD_ASSOCIATORS, METAssocMapBuilder, METJetAssocTool, METObjectAssociator,
                   METSoftAssociator)

def is_pflow(jet_coll: str) -> bool:
    """True when the collection's constituents are PFOs (its :class:`JetCollection` record)."""
    return jet_collection(jet_coll).pflow


def _check_associator(cls: object) -> type[METObjectAssociator]:
    if not (isinstance(cls, type) and issubclass(cls, METObjectAssociator)):
        raise ConfigurationError(
            f"MET associator {cls!r} must be a subclass of "
            f"metflow.algorithms.met.reco.METObjectAssociator (got {type(cls).__name__})")
    return cls


def met_reco_cfg(jet_coll: str, *,
                 extra_associators: Sequence[type[METObjectAssociator]] = (),
                 associators: Sequence[type[METObjectAssociator]] = STANDARD_ASSOCIATORS,
                 signals: str | None = None, tracks: str = K.TRACKS,
                 vertices: str = K.PRIMARY_VERTICES, pflow: bool | None = None):
    """Algorithms building ``METAssoc_<jet_coll>`` and ``MET_Core_<jet_coll>``, in dependency order.

    ``associators`` (default muons, electrons, photons, taus) then ``extra_associators`` (e.g.
    plugin classes) each read their class's default object container; the map builder and the
    soft associator take all their fragments, in this order.
    """
    # the collection's JetCollection record gives the mode and the constituents; an unregistered
    # collection needs an explicit pflow (its constituents then default to the mode's)
    record = jet_collection_of_key(K.jet_container_key(jet_coll))
    if pflow is None:
        pflow = jet_collection(jet_coll).pflow
    if signals is None:
        signals = record.constituents if record is not None else (K.PFOS if pflow else K.CLUSTERS)
    jet_assoc_key = K.met_jet_assoc_key(jet_coll)
    common = {"signals": signals, "tracks": tracks}
    algs = [METJetAssocTool(name=f"METJetAssocTool_{jet_coll}", jets=K.jet_container_key(jet_coll),
                            vertices=vertices, jet_assoc=jet_assoc_key, pflow=pflow, **common)]
    fragment_keys: list[str] = []
    for cls in [*associators, *extra_associators]:
        cls = _check_associator(cls)
        objects = cls.default_objects_key()
        fragment = K.met_object_assoc_key(jet_coll, objects)
        if fragment in fragment_keys:
            raise ConfigurationError(f"two MET associators for {objects!r} in the {jet_coll} chain "
                                     f"(the second is {cls.__name__})")
        fragment_keys.append(fragment)
        algs.append(cls(name=f"{cls.__name__}_{jet_coll}", objects=objects, jet_assoc=jet_assoc_key,
                        fragment=fragment, pflow=pflow, **common))
    algs.append(METAssocMapBuilder(name=f"METAssocMapBuilder_{jet_coll}", jet_assoc=jet_assoc_key,
                                   fragments=fragment_keys, jets=K.jet_container_key(jet_coll),
                                   assoc_map=K.met_assoc_key(jet_coll), **common))
    algs.append(METSoftAssociator(name=f"METSoftAssociator_{jet_coll}", jet_assoc=jet_assoc_key,
                                  fragments=fragment_keys, core=K.met_core_key(jet_coll), **common))
    return algs


__all__ = ["met_reco_cfg", "is_pflow"]
