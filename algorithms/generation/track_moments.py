"""Jet track moments and muon ID-track pT, computed where events are made (as ATLAS reconstruction
decorates jets with SumPtTrkPt500/NumTrkPt500 and muons keep their inner-detector track).

METMaker's DoRemoveMuonJets reads these columns, so every event file carries them and an
analysis file written without the tracks still has what the rule needs.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from metflow.framework.jit import kernel
from metflow.edm import keys as _k
from metflow.edm.units import MeV

TRACK_MOMENT_MIN_PT = 500 * MeV
PRIMARY_VERTEX = 0   # index of the hard-scatter vertex in PrimaryVertices
JET_MOMENT_COLUMNS = ("sumpt_trk_pt500", "n_trk_pt500")   # added to every jet collection
MUON_TRACK_COLUMNS = ("id_track_pt",)                       # added to every muon collection


@kernel
def jet_track_moments(jet_offsets, ghost_offsets, ghost_values, trk_offsets, trk_px, trk_py,
                      trk_vertex, vertex, min_pt):
    """(SumPtTrkPt500, NumTrkPt500) of every jet at `vertex`: its ghost tracks from that vertex
    above `min_pt`, as float32 sum and int32 count."""
    n_events = jet_offsets.shape[0] - 1
    n_jets = jet_offsets[-1]
    sumpt = np.zeros(n_jets, np.float32)
    count = np.zeros(n_jets, np.int32)
    for e in range(n_events):
        t0 = trk_offsets[e]
        for j in range(jet_offsets[e], jet_offsets[e + 1]):
            s = 0.0
            c = 0
            for g in range(ghost_offsets[j], ghost_offsets[j + 1]):
                t = t0 + ghost_values[g]
                if trk_vertex[t] != vertex:
                    continue
                pt = np.hypot(np.float64(trk_px[t]), np.float64(trk_py[t]))
                if pt > min_pt:
                    s += pt
                    c += 1
            sumpt[j] = s
            count[j] = c
    return sumpt, count


@kernel
def linked_track_pt(obj_offsets, track_link, trk_offsets, trk_px, trk_py):
    """float32 pT of each object's linked track (0 where the link is -1)."""
    n_events = obj_offsets.shape[0] - 1
    out = np.zeros(obj_offsets[-1], np.float32)
    for e in range(n_events):
        t0 = trk_offsets[e]
        for i in range(obj_offsets[e], obj_offsets[e + 1]):
            t = track_link[i]
            if t >= 0:
                out[i] = np.hypot(np.float64(trk_px[t0 + t]), np.float64(trk_py[t0 + t]))
    return out


def with_track_moments(containers: dict[str, Any], tracks) -> dict[str, Any]:
    """`containers` with jets gaining `sumpt_trk_pt500`/`n_trk_pt500` and muons `id_track_pt`
    (computed from `tracks`, the block's InDetTracks); other entries unchanged."""
    out = dict(containers)
    px, py = tracks["px"], tracks["py"]
    vertex = np.asarray(tracks["vertex"], np.int32)
    for key, obj in containers.items():
        if key.endswith("Jets") and "ghost_tracks" in obj and "sumpt_trk_pt500" not in obj:
            ghosts = obj["ghost_tracks"]
            sumpt, count = jet_track_moments(obj.offsets, ghosts.offsets, ghosts.values,
                                             tracks.offsets, px, py, vertex, PRIMARY_VERTEX,
                                             TRACK_MOMENT_MIN_PT)
            out[key] = obj.with_columns(sumpt_trk_pt500=sumpt, n_trk_pt500=count)
        elif key.startswith(_k.MUONS) and "id_track" in obj and "id_track_pt" not in obj:
            pt = linked_track_pt(obj.offsets, np.asarray(obj["id_track"], np.int32),
                                 tracks.offsets, px, py)
            out[key] = obj.with_columns(id_track_pt=pt)
    return out
