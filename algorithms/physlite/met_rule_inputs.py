"""PHYSLITE decorations that METMaker's muon-in-jet rules read: the muons' ID-track pT and the
jets' per-vertex track moments at the primary vertex, and the jets' presampler energy."""

from __future__ import annotations

import numpy as np

from ._columns import _np, _split
from .errors import CorruptFileError
from .naming import ATLAS_JETS, ATLAS_MUONS
from .reader import PhysliteFile
from .sgkey import sg_key

ATLAS_ID_TRACKS = "InDetTrackParticles"
ATLAS_VERTICES = "PrimaryVertices"
ID_TRACK_LINK = "inDetTrackParticleLink"
TRACK_PARTICLE_CLID = 1287425431   # xAOD::TrackParticleContainer
VERTEX_TYPE_PRIMARY = 1            # xAOD::VxType::PriVtx


def id_track_pt(pfile: PhysliteFile, first: int, stop: int, muon_offsets: np.ndarray) -> np.ndarray | None:
    """pT = |sin(theta)/qOverP| of each muon's inner-detector track (float32, as
    TrackParticle::pt() read into a float by METMaker); 0 when the link is null or points to a
    container the file does not store (e.g. InDetForwardTrackParticles). None when the file
    lacks the link or the tracks."""
    if not (pfile.has(ATLAS_MUONS, ID_TRACK_LINK) and pfile.has(ATLAS_ID_TRACKS, "qOverP")
            and pfile.has(ATLAS_ID_TRACKS, "theta")):
        return None
    arr = pfile.read([(ATLAS_MUONS, ID_TRACK_LINK)], first, stop)[(ATLAS_MUONS, ID_TRACK_LINK)]
    fields = {f.rsplit(".", 1)[-1]: f for f in arr.fields}
    (offsets,), keys = _split(arr[fields["m_persKey"]], 1)
    _, index = _split(arr[fields["m_persIndex"]], 1)
    keys, index = _np(keys, np.int64), _np(index, np.int64)
    if not np.array_equal(offsets, muon_offsets):
        raise CorruptFileError(f"{pfile.path}: {ATLAS_MUONS}.{ID_TRACK_LINK} has other muon "
                               f"counts than the muon kinematics")
    trk = pfile.read([(ATLAS_ID_TRACKS, "qOverP"), (ATLAS_ID_TRACKS, "theta")], first, stop)
    (trk_offsets,), qop = _split(trk[(ATLAS_ID_TRACKS, "qOverP")], 1)
    _, theta = _split(trk[(ATLAS_ID_TRACKS, "theta")], 1)
    qop, theta = _np(qop, np.float64), _np(theta, np.float64)
    event = np.repeat(np.arange(offsets.shape[0] - 1), np.diff(offsets))
    n_trk = np.diff(trk_offsets)[event]
    valid = (keys == sg_key(ATLAS_ID_TRACKS, TRACK_PARTICLE_CLID)) & (index >= 0) & (index < n_trk)
    glob = np.where(valid, trk_offsets[event] + np.where(valid, index, 0), 0)
    pt = np.zeros(keys.shape[0], np.float64)
    if qop.size:
        q = qop[glob]
        ok = valid & (q != 0)
        pt[ok] = np.abs(np.sin(theta[glob][ok]) / q[ok])
    return pt.astype(np.float32)


def primary_vertex_index(pfile: PhysliteFile, first: int, stop: int) -> np.ndarray:
    """Per event, the index of the first PrimaryVertices entry of type PriVtx (-1 if none):
    the vertex METMaker reads the jets' track moments at."""
    n = stop - first
    out = np.full(n, -1, np.int64)
    if not pfile.has(ATLAS_VERTICES, "vertexType"):
        return out
    arr = pfile.read([(ATLAS_VERTICES, "vertexType")], first, stop)[(ATLAS_VERTICES, "vertexType")]
    (offsets,), flat = _split(arr, 1)
    pv = np.flatnonzero(_np(flat, np.int64) == VERTEX_TYPE_PRIMARY)
    event = np.searchsorted(offsets, pv, side="right") - 1
    events, first_pv = np.unique(event, return_index=True)
    out[events] = pv[first_pv] - offsets[events]
    return out


def _per_jet_vectors(pfile: PhysliteFile, first: int, stop: int, var: str,
                     jet_offsets: np.ndarray, dtype) -> tuple[np.ndarray, np.ndarray]:
    """A per-jet vector decoration as (offsets of each jet's vector, flat values), checked to
    hold one vector per jet."""
    data = pfile.read([(ATLAS_JETS, var)], first, stop)[(ATLAS_JETS, var)]
    (offsets, inner), flat = _split(data, 2)
    if not np.array_equal(offsets, jet_offsets):
        raise CorruptFileError(f"{pfile.path}: {ATLAS_JETS}.{var} has other jet counts than "
                               f"the jet kinematics")
    return inner, _np(flat, dtype)


def jet_at_primary_vertex(pfile: PhysliteFile, first: int, stop: int, jet_offsets: np.ndarray,
                          variables: tuple[str, ...], dtypes: tuple) -> list[np.ndarray]:
    """Per-jet, per-vertex vector decorations (SumPtTrkPt500, NumTrkPt500) at each event's
    primary vertex (0 where the event has none or the vector is shorter)."""
    vertex = primary_vertex_index(pfile, first, stop)
    event = np.repeat(np.arange(jet_offsets.shape[0] - 1), np.diff(jet_offsets))
    v = vertex[event]
    out = []
    for var, dtype in zip(variables, dtypes):
        inner, flat = _per_jet_vectors(pfile, first, stop, var, jet_offsets, np.float64)
        ok = (v >= 0) & (v < np.diff(inner))
        values = np.zeros(event.shape[0], np.float64)
        values[ok] = flat[inner[:-1][ok] + v[ok]]
        out.append(values.astype(dtype))
    return out


def presampler_energy(pfile: PhysliteFile, first: int, stop: int, jet_offsets: np.ndarray) -> np.ndarray:
    """EnergyPerSampling[PreSamplerB] + [PreSamplerE] (samplings 0 and 4) per jet, float32."""
    inner, flat = _per_jet_vectors(pfile, first, stop, "EnergyPerSampling", jet_offsets, np.float32)
    start = inner[:-1]
    out = np.zeros(start.shape[0], np.float32)
    ok = np.diff(inner) > 4
    out[ok] = flat[start[ok]] + flat[start[ok] + 4]
    return out
