"""Columnar helpers of MET reconstruction outside the scheduled algorithms.

:func:`build_map_fields` and :func:`soft_core_terms` compute the association map's fields and
the core soft terms (with the soft masks) as plain arrays from the jet associations and the
fragments (tests compare them with the algorithms' outputs); :func:`make_association_map` and
:func:`make_core_container` build the EDM objects from such arrays (e.g. the PHYSLITE importer).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from metflow.edm.errors import SchemaError
from metflow.edm.met import MissingETAssociationMap, MissingETContainer

from . import _reco_kernels as kern
from .associations import JetAssociations, ObjectAssociations
from .reco import (CORE_TERMS, _CLUSTER_BIT, _PFO_BIT, _TRACK_BIT, _containers, _map_from_buffers, _packed,
                   _raise_piece_range, _signal_track_links)

__all__ = ["build_map_fields", "soft_core_terms", "make_association_map", "make_core_container"]


def build_map_fields(jet_assoc: JetAssociations, fragments: list[ObjectAssociations],
                     signals: Any, tracks: Any) -> dict[str, Any]:
    """The columnar fields of the association map (internals.md) from jet associations + fragments,
    computed by the map builder's kernel (the jets are not an input: offsets with the association
    counts stand in for theirs). With more than 64 objects in an association, only ``status``,
    ``bad_assoc`` and ``bad_count`` are returned."""
    container_keys, container_ids = _containers(tuple(f.container_key for f in fragments), "build_map_fields")
    pflow = jet_assoc.pflow
    jet_offsets = jet_assoc.assoc_offsets - np.arange(jet_assoc.assoc_offsets.shape[0], dtype=np.int64)
    status, bad, bad_count, i64, i32, u8, u64, f32 = kern.association_map(
        jet_assoc.assoc_offsets, jet_assoc.jet_index, jet_assoc.jettrk, jet_assoc.signal_assoc,
        jet_assoc.track_assoc, jet_offsets, _packed(fragments), container_ids, signals.offsets,
        np.asarray(signals["px"]), np.asarray(signals["py"]), np.asarray(signals["pz"]),
        np.asarray(signals["e"]), _signal_track_links(signals, pflow, jet_assoc.signals_key),
        _PFO_BIT if pflow else _CLUSTER_BIT, tracks.offsets, np.asarray(tracks["px"]),
        np.asarray(tracks["py"]), np.asarray(tracks["pz"]), np.asarray(tracks["e"]), _TRACK_BIT, pflow)
    if status == kern.ERR_LINK_RANGE:
        _raise_piece_range("build_map_fields", (status, bad, bad_count), jet_assoc, fragments,
                           tuple(f.container_key for f in fragments))
    if status == kern.ERR_TOO_MANY_OBJECTS:
        return {"status": kern.ERR_TOO_MANY_OBJECTS, "bad_assoc": int(bad), "bad_count": int(bad_count)}
    if status != kern.OK:
        raise SchemaError("build_map_fields: the jet associations, fragments, signals and tracks "
                          "do not match")
    amap = _map_from_buffers(container_keys, jet_assoc, i64, i32, u8, u64, f32, jet_key=None, key=None)
    return {"status": status, "bad_assoc": -1, "bad_count": 0, "container_keys": container_keys,
            **amap.arrays()}


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


def soft_core_terms(jet_assoc: JetAssociations, fragments: list[ObjectAssociations], signals: Any,
                    tracks: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(soft float32[n_events, 2, 3] as (mpx, mpy, sumet) of SoftClusCore, PVSoftTrkCore; soft
    signal mask; soft track mask), from the soft associator's kernel."""
    pflow = jet_assoc.pflow
    ok, soft, sig_soft, trk_soft = kern.soft_core(
        signals.offsets, np.asarray(signals["px"]), np.asarray(signals["py"]), np.asarray(signals["e"]),
        _signal_track_links(signals, pflow, jet_assoc.signals_key), tracks.offsets,
        np.asarray(tracks["px"]), np.asarray(tracks["py"]), jet_assoc.track_accepted, jet_assoc.signal_assoc,
        jet_assoc.track_assoc, jet_assoc.assoc_offsets, _packed(fragments), len(fragments), pflow)
    if not ok:
        raise SchemaError("soft_core_terms: the jet associations, fragments, signals and tracks do not match")
    return np.moveaxis(soft, 0, 2), sig_soft, trk_soft


def make_core_container(soft: np.ndarray, *, key: str | None = None) -> MissingETContainer:
    """A MissingETContainer with the two core terms for every event of the block."""
    return MissingETContainer(key=key, names=tuple(name for name, _ in CORE_TERMS),
                              sources=np.array([src for _, src in CORE_TERMS], dtype=np.uint64),
                              mpx=soft[:, :, 0].astype(np.float32),
                              mpy=soft[:, :, 1].astype(np.float32),
                              sumet=soft[:, :, 2].astype(np.float32))
