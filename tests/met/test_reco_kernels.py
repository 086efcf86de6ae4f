"""The reconstruction kernels on their own against NumPy / plain-Python references: the track
selection (accept_tracks), the core soft terms (soft_core) and the fragment packing round trip."""

from __future__ import annotations

import numpy as np
import pytest

from metflow.algorithms.met import _map_kernels as mapk
from metflow.algorithms.met import _reco_kernels as kern


def _offsets(counts):
    out = np.zeros(len(counts) + 1, np.int64)
    np.cumsum(counts, out=out[1:])
    return out


@pytest.fixture(params=[0, 1, 2])
def tracks(request):
    rng = np.random.default_rng(request.param)
    n_events = 7
    counts = rng.integers(0, 12, n_events)
    n = int(counts.sum())
    f32 = np.float32
    t = dict(offsets=_offsets(counts),
             px=rng.normal(0, 2e3, n).astype(f32), py=rng.normal(0, 2e3, n).astype(f32),
             pz=rng.normal(0, 8e3, n).astype(f32), z0=rng.normal(0, 2.0, n).astype(f32),
             d0=rng.normal(0, 1.5, n).astype(f32), vertex=rng.integers(-1, 2, n).astype(np.int32),
             passes_quality=rng.random(n) < 0.8)
    pv_counts = rng.integers(0, 3, n_events)
    t["pv_offsets"] = _offsets(pv_counts)
    t["pv_z"] = rng.normal(0, 1.0, int(pv_counts.sum())).astype(f32)
    t["pv_hs"] = rng.random(int(pv_counts.sum())) < 0.8
    return t


def test_accept_tracks_equals_numpy(tracks):
    t = tracks
    cuts = (500.0, 2.5, 3.0, 2.0)
    got = kern.accept_tracks(t["offsets"], t["px"], t["py"], t["pz"], t["z0"], t["d0"], t["vertex"],
                             t["passes_quality"], t["pv_offsets"], t["pv_z"], t["pv_hs"], *cuts)
    # NumPy reference: per-track event, its hard-scatter vertex, then the cuts in float64
    event = np.repeat(np.arange(len(t["offsets"]) - 1), np.diff(t["offsets"]))
    has_pv = np.diff(t["pv_offsets"]) > 0
    first = t["pv_offsets"][:-1]
    hs = has_pv & t["pv_hs"][np.minimum(first, max(len(t["pv_hs"]) - 1, 0))] if len(t["pv_hs"]) else has_pv
    z_pv = t["pv_z"][np.minimum(first, max(len(t["pv_z"]) - 1, 0))].astype(np.float64) if len(t["pv_z"]) \
        else np.zeros(len(first))
    px, py, pz = (t[c].astype(np.float64) for c in ("px", "py", "pz"))
    pt = np.sqrt(px * px + py * py)
    p = np.sqrt(pt * pt + pz * pz)
    with np.errstate(invalid="ignore", divide="ignore"):
        want = (hs[event] & (t["vertex"] == 0) & t["passes_quality"] & (pt > cuts[0])
                & (np.abs(pz) < p * np.tanh(cuts[1]))
                & (np.abs((t["z0"].astype(np.float64) - z_pv[event]) * (pt / p)) < cuts[2])
                & (np.abs(t["d0"].astype(np.float64)) < cuts[3]))
    np.testing.assert_array_equal(got, want)
    assert want.any() and not want.all()


def _soft_reference(sig_offsets, sig_px, sig_py, sig_e, sig_track, trk_offsets, trk_px, trk_py,
                    accepted, sig_assoc, trk_assoc, pflow):
    """soft[n_events, 2, 3] (SoftClusCore, PVSoftTrkCore: -sum px, -sum py, sum pT) in plain Python."""
    n_events = len(sig_offsets) - 1
    soft = np.zeros((n_events, 2, 3))
    sig_soft = np.zeros(len(sig_px), bool)
    trk_soft = np.zeros(len(trk_px), bool)
    for ev in range(n_events):
        for c in range(sig_offsets[ev], sig_offsets[ev + 1]):
            if sig_assoc[c] >= 0:
                continue
            if pflow and sig_track[c] >= 0:
                tr = trk_offsets[ev] + sig_track[c]
                if not accepted[tr]:
                    continue
                trk_soft[tr] = True
            elif not sig_e[c] > 0:
                continue
            sig_soft[c] = True
        if not pflow:
            for tr in range(trk_offsets[ev], trk_offsets[ev + 1]):
                trk_soft[tr] = accepted[tr] and trk_assoc[tr] < 0
        for kind, mask, xs, ys, rng_ in ((0, sig_soft, sig_px, sig_py, range(sig_offsets[ev], sig_offsets[ev + 1])),
                                         (1, trk_soft, trk_px, trk_py, range(trk_offsets[ev], trk_offsets[ev + 1]))):
            for i in rng_:
                if mask[i]:
                    x, y = float(xs[i]), float(ys[i])
                    soft[ev, kind] += (-x, -y, np.hypot(x, y))
    return soft, sig_soft, trk_soft


@pytest.mark.parametrize("pflow", [True, False])
@pytest.mark.parametrize("seed", [3, 4])
def test_soft_core_equals_python_reference(pflow, seed):
    rng = np.random.default_rng(seed)
    n_events = 6
    sig_counts, trk_counts = rng.integers(0, 15, n_events), rng.integers(0, 10, n_events)
    sig_offsets, trk_offsets = _offsets(sig_counts), _offsets(trk_counts)
    n_sig, n_trk = int(sig_counts.sum()), int(trk_counts.sum())
    f32 = np.float32
    sig_px, sig_py = rng.normal(0, 3e3, n_sig).astype(f32), rng.normal(0, 3e3, n_sig).astype(f32)
    sig_e = rng.normal(1e3, 2e3, n_sig).astype(f32)
    trk_px, trk_py = rng.normal(0, 2e3, n_trk).astype(f32), rng.normal(0, 2e3, n_trk).astype(f32)
    # a PFO's track link is event-local and unique within its event
    sig_track = np.full(n_sig, -1, np.int32)
    for ev in range(n_events):
        n_t = trk_counts[ev]
        sigs = np.arange(sig_offsets[ev], sig_offsets[ev + 1])
        charged = sigs[rng.random(len(sigs)) < 0.5][:n_t]
        sig_track[charged] = rng.permutation(n_t)[:len(charged)]
    accepted = rng.random(n_trk) < 0.7
    sig_assoc = np.where(rng.random(n_sig) < 0.4, 0, -1).astype(np.int32)
    trk_assoc = np.where(rng.random(n_trk) < 0.4, 0, -1).astype(np.int32)
    assoc_offsets = np.arange(n_events + 1, dtype=np.int64)   # one (misc) association per event
    ok, got, sig_soft, trk_soft = mapk.soft_core(
        sig_offsets, sig_px, sig_py, sig_e, sig_track if pflow else np.zeros(0, np.int32), trk_offsets,
        trk_px, trk_py, accepted, sig_assoc, trk_assoc, assoc_offsets, np.zeros(0, np.int64), 0, pflow)
    assert ok
    soft, want_sig, want_trk = _soft_reference(sig_offsets, sig_px, sig_py, sig_e, sig_track, trk_offsets,
                                               trk_px, trk_py, accepted, sig_assoc, trk_assoc, pflow)
    np.testing.assert_array_equal(sig_soft, want_sig)
    np.testing.assert_array_equal(trk_soft, want_trk)
    np.testing.assert_allclose(got, np.moveaxis(soft, 2, 0).astype(np.float32), rtol=1e-6, atol=1e-3)
    # inputs of another block: not ok, empty arrays
    ok, *_ = mapk.soft_core(sig_offsets[:-1], sig_px, sig_py, sig_e, sig_track, trk_offsets, trk_px, trk_py,
                            accepted, sig_assoc, trk_assoc, assoc_offsets, np.zeros(0, np.int64), 0, pflow)
    assert not ok


def test_pack_fragment_round_trip():
    rng = np.random.default_rng(9)
    cols = [np.array([0, 2, 3], np.int64), np.array([1, 0, 0], np.int64), np.array([0, 1, 3, 4], np.int64),
            np.array([0, 1, 2, 2], np.int64), np.array([0, 2, 2, 5, 6], np.int64),
            rng.integers(0, 2, 6).astype(np.int64), rng.integers(0, 9, 6).astype(np.int64)]
    packed = kern.pack_fragment(3, *cols)
    n_events, n_sel, n_piece, n_const = packed[1:kern.FRAGMENT_HEADER].tolist()
    assert (packed[0], n_events, n_sel, n_piece, n_const) == (3, 2, 3, 4, 6)
    seg = kern.fragment_segments(n_events, n_sel, n_piece, n_const)
    for i, col in enumerate(cols):
        np.testing.assert_array_equal(packed[seg[i]:seg[i + 1]], col)
