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
from .reco import (CORE_TERMS, _CLUSTER_BIT, _PFO_BIT, _TRACK_BIT, _packed, _raise_piece_range,
                   _signal_track, _signal_track_links)

__all__ = ["build_map_fields", "soft_core_terms", "make_association_map", "make_core_container"]


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


def make_core_container(soft: np.ndarray, *, key: str | None = None) -> MissingETContainer:
    """A MissingETContainer with the two core terms for every event of the block."""
    return MissingETContainer(key=key, names=tuple(name for name, _ in CORE_TERMS),
                              sources=np.array([src for _, src in CORE_TERMS], dtype=np.uint64),
                              mpx=soft[:, :, 0].astype(np.float32),
                              mpy=soft[:, :, 1].astype(np.float32),
                              sumet=soft[:, :, 2].astype(np.float32))
