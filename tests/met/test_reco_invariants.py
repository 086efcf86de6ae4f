"""Map invariants of the MET reconstruction (issue acceptance, athena_met.md E.4/E.5), checked
per constituent on random events and on generated events (synthetic source, Pythia8 + toy detector)."""

from __future__ import annotations

import numpy as np
import pytest

from metflow.edm import keys as K
from metflow.edm.jet_collection import jet_collection

from test_reco import run_chain
from test_reco_support import make_block, random_event

JETS = ("AntiKt4EMPFlow", "AntiKt4EMTopo")
OBJECT_KEYS = (K.MUONS, K.ELECTRONS, K.PHOTONS, K.TAUS)


def _random_block():
    rng = np.random.default_rng(2024)
    return make_block([random_event(rng, with_pv=(i != 4)) for i in range(15)])


def _synthetic_block():
    synthetic = pytest.importorskip("metflow.algorithms.generation.synthetic",
                                    reason="synthetic source not available")
    source = synthetic.SyntheticSource(seed=5, mu=30.0, n_events=12)
    return source.read(0, 12)


def _pythia_block():
    """A few Pythia8 ttbar events with pileup through the toy detector (gen extra)."""
    pytest.importorskip("pythia8mc", reason="pythia8mc not installed (metflow[gen])")
    pytest.importorskip("fastjet", reason="fastjet not installed (metflow[gen])")
    import tempfile

    from metflow.algorithms.generation import pythia_gen

    cache = tempfile.mkdtemp(prefix="metflow-minbias-")
    library, _ = pythia_gen.load_or_generate_library(cache, 40)
    config = pythia_gen.GenerationConfig("ttbar", 6, mu=8.0, seed=11, library_size=40,
                                         cache_dir=cache)
    return pythia_gen.block_to_edm(pythia_gen.EventFactory(config, library).block(0, 6))


BLOCKS = {"random": _random_block, "synthetic": _synthetic_block, "pythia": _pythia_block}


_BLOCK_CACHE: dict = {}


@pytest.fixture(scope="module", params=[(b, j) for b in BLOCKS for j in JETS], ids=lambda p: f"{p[0]}-{p[1]}")
def reco(request):
    block_name, jet = request.param
    if block_name not in _BLOCK_CACHE:  # generate once for both jet collections
        _BLOCK_CACHE[block_name] = BLOCKS[block_name]()
    block = _BLOCK_CACHE[block_name]
    return block, jet, run_chain(block, jet)


def _constituent_view(block, jet, store):
    """Per-constituent bookkeeping from the raw inputs (independent of the kernels)."""
    record = jet_collection(jet)
    pflow = record.pflow
    signals = block[record.constituents]
    tracks = block[K.TRACKS]
    jet_assoc = store[K.met_jet_assoc_key(jet)]
    accepted = jet_assoc.track_accepted
    sig_track = (np.where(signals["track"] >= 0, signals["track"] + tracks.offsets[signals.event_of_object()], -1)
                 if pflow else np.full(len(signals), -1))
    charged = sig_track >= 0
    sig_eligible = np.where(charged, accepted[np.maximum(sig_track, 0)], signals["e"] > 0)
    return pflow, signals, tracks, jet_assoc, accepted, sig_track, sig_eligible


def _fragments(store, jet):
    return [store[K.met_object_assoc_key(jet, key)] for key in OBJECT_KEYS]


def test_every_object_constituent_is_accounted_once_in_the_right_association(reco):
    block, jet, store = reco
    pflow, signals, tracks, jet_assoc, accepted, sig_track, sig_eligible = _constituent_view(block, jet, store)
    for key, frag in zip(OBJECT_KEYS, _fragments(store, jet)):
        objects = block[key]
        for s in range(frag.n_objects):
            ev = int(np.searchsorted(frag.obj_offsets, s, side="right") - 1)
            o = int(objects.offsets[ev] + frag.obj_index[s])
            # expected constituents straight from the link lists
            expected = set()
            if pflow:
                for c in objects["pfos"][o]:
                    g = int(signals.offsets[ev] + c)
                    if sig_eligible[g]:
                        expected.add((0, g))
            else:
                for c in objects["clusters"][o]:
                    g = int(signals.offsets[ev] + c)
                    if sig_eligible[g]:
                        expected.add((0, g))
                links = objects["tracks"][o] if "tracks" in objects else [objects["id_track"][o]]
                for t in links:
                    if t >= 0 and accepted[tracks.offsets[ev] + t]:
                        expected.add((1, int(tracks.offsets[ev] + t)))
            seen = []
            misc = jet_assoc.assoc_offsets[ev + 1] - 1
            for p in range(frag.piece_offsets[s], frag.piece_offsets[s + 1]):
                a = frag.piece_assoc[p]
                assert jet_assoc.assoc_offsets[ev] <= a <= misc
                for k in range(frag.const_offsets[p], frag.const_offsets[p + 1]):
                    kind, c = int(frag.const_kind[k]), int(frag.const_index[k])
                    owner = (jet_assoc.signal_assoc if kind == 0 else jet_assoc.track_assoc)[c]
                    assert a == (owner if owner >= 0 else misc), f"{key} {s}: constituent in wrong association"
                    seen.append((kind, c))
            assert len(seen) == len(set(seen)), f"{key} object {s}: constituent counted twice"
            assert set(seen) == expected, f"{key} object {s}: constituents differ from its links"
            if not expected:
                assert [frag.piece_assoc[p] for p in range(frag.piece_offsets[s], frag.piece_offsets[s + 1])] == [misc]


def test_selected_objects_sorted_by_pt_and_thresholds(reco):
    block, jet, store = reco
    for key, frag in zip(OBJECT_KEYS, _fragments(store, jet)):
        objects = block[key]
        pt = np.hypot(objects["px"].astype(np.float64), objects["py"])
        min_pt = 0.0 if key == K.MUONS else 4000.0
        for ev in range(objects.n_events):
            sel = frag.obj_index[frag.obj_offsets[ev]:frag.obj_offsets[ev + 1]]
            ev_pt = pt[objects.offsets[ev]:objects.offsets[ev + 1]]
            assert sorted(sel.tolist()) == np.flatnonzero(ev_pt >= min_pt).tolist()
            assert np.all(np.diff(ev_pt[sel]) <= 0)


def test_association_sums_equal_their_constituents_and_nothing_is_counted_twice(reco):
    block, jet, store = reco
    pflow, signals, tracks, jet_assoc, *_ = _constituent_view(block, jet, store)
    amap = store[K.met_assoc_key(jet)]
    frags = _fragments(store, jet)
    consts = {}  # assoc -> set of (kind, index)
    for frag in frags:
        for p in range(frag.piece_assoc.shape[0]):
            cs = consts.setdefault(int(frag.piece_assoc[p]), set())
            cs.update(zip(frag.const_kind[frag.const_offsets[p]:frag.const_offsets[p + 1]].tolist(),
                          frag.const_index[frag.const_offsets[p]:frag.const_offsets[p + 1]].tolist()))
    sig = np.stack([signals[c].astype(np.float64) for c in ("px", "py", "pz", "e")], axis=1)
    trk = np.stack([tracks[c].astype(np.float64) for c in ("px", "py", "pz", "e")], axis=1)
    for a in range(amap.n_associations):
        cal_expected, trk_expected = np.zeros(5), np.zeros(5)
        for kind, c in consts.get(a, ()):
            if kind == 0:
                cal_expected += np.r_[sig[c], np.hypot(*sig[c, :2])]
                t = signals["track"][c] + tracks.offsets[signals.event_of_object()[c]] if pflow else -1
                if pflow and signals["track"][c] >= 0:
                    trk_expected += np.r_[trk[t], np.hypot(*trk[t, :2])]
            else:
                trk_expected += np.r_[trk[c], np.hypot(*trk[c, :2])]
        # the keyed sums of an association add up to its distinct constituents (each exactly once)
        for kind, expected in (("cal", cal_expected), ("trk", trk_expected)):
            off = getattr(amap, f"{kind}_offsets")
            got = np.array([getattr(amap, f"{kind}_{c}")[off[a]:off[a + 1]].astype(np.float64).sum()
                            for c in ("px", "py", "pz", "e", "sumpt")])
            np.testing.assert_allclose(got, expected, rtol=1e-5, atol=0.05, err_msg=f"assoc {a} {kind}")
        # a jet association only holds that jet's constituents
        if not amap.is_misc[a]:
            for kind, c in consts.get(a, ()):
                owner = (jet_assoc.signal_assoc if kind == 0 else jet_assoc.track_assoc)[c]
                assert owner == a


def test_soft_core_and_associations_partition_all_constituents(reco):
    block, jet, store = reco
    pflow, signals, tracks, jet_assoc, accepted, sig_track, sig_eligible = _constituent_view(block, jet, store)
    _, sig_soft, trk_soft = store["soft"]
    in_misc_sig = np.zeros(len(signals), dtype=int)
    in_misc_trk = np.zeros(len(tracks), dtype=int)
    is_misc = jet_assoc.is_misc
    for frag in _fragments(store, jet):
        piece_of_const = np.repeat(np.arange(frag.piece_assoc.shape[0]), np.diff(frag.const_offsets))
        misc_const = is_misc[frag.piece_assoc[piece_of_const]] if piece_of_const.size else np.zeros(0, bool)
        for kind, arr in ((0, in_misc_sig), (1, in_misc_trk)):
            sel = misc_const & (frag.const_kind == kind)
            np.add.at(arr, frag.const_index[sel], 1)
    in_misc_sig = np.minimum(in_misc_sig, 1)  # several misc objects may share a constituent
    in_misc_trk = np.minimum(in_misc_trk, 1)
    in_jet_sig = (jet_assoc.signal_assoc >= 0).astype(int)
    in_jet_trk = (jet_assoc.track_assoc >= 0).astype(int)
    # a constituent of a jet is never also in misc
    assert not np.any(in_jet_sig & in_misc_sig) and not np.any(in_jet_trk & in_misc_trk)
    sig_count = in_jet_sig + in_misc_sig + sig_soft
    # every soft-eligible signal (cluster/neutral PFO with E > 0, charged PFO with a selected
    # track) is counted exactly once; other signals at most once (as jet constituents)
    assert np.all(sig_count[sig_eligible] == 1)
    assert np.all(sig_count[~sig_eligible] <= 1) and not sig_soft[~sig_eligible].any()
    if pflow:
        # selected tracks enter through their charged PFOs: jet, misc or soft, once each
        charged = sig_track >= 0
        assert np.all(trk_soft[sig_track[charged & sig_soft]])
        assert trk_soft.sum() == np.count_nonzero(charged & sig_soft)
    else:
        trk_count = in_jet_trk + in_misc_trk + trk_soft
        assert np.all(trk_count[accepted] == 1) and np.all(trk_count[~accepted] == 0)
    # the core sums are the sums of the soft constituents
    core = store[K.met_core_key(jet)]
    ev_sig = signals.event_of_object()
    want = -np.bincount(ev_sig[sig_soft], weights=signals["px"][sig_soft].astype(np.float64),
                        minlength=signals.n_events)
    np.testing.assert_allclose(core[K.SOFT_CLUS_CORE].mpx, want, rtol=1e-5, atol=0.05)
    ev_trk = tracks.event_of_object()
    want = np.bincount(ev_trk[trk_soft], weights=np.hypot(tracks["px"], tracks["py"])[trk_soft].astype(np.float64),
                       minlength=tracks.n_events)
    np.testing.assert_allclose(core[K.PV_SOFT_TRK_CORE].sumet, want, rtol=1e-5, atol=0.05)


def test_keys_and_object_lists_are_consistent(reco):
    block, jet, store = reco
    amap = store[K.met_assoc_key(jet)]
    amap.validate().check_keys()
    assert amap.container_keys == OBJECT_KEYS
    types = {K.MUONS: 8, K.ELECTRONS: 6, K.PHOTONS: 7, K.TAUS: 9}
    ev_of_obj = amap.assoc_event()[amap.obj_assoc()]
    for cid, key in enumerate(amap.container_keys):
        sel = amap.obj_container == cid
        assert np.all(amap.obj_type[sel] == types[key])
        counts = block[key].counts()[ev_of_obj[sel]]
        assert np.all((amap.obj_index[sel] >= 0) & (amap.obj_index[sel] < counts))
    # an object appears at most once per association, and every selected object in >= 1
    triples = set(zip(amap.obj_assoc().tolist(), amap.obj_container.tolist(), amap.obj_index.tolist()))
    assert len(triples) == amap.n_objects
    for cid, (key, frag) in enumerate(zip(OBJECT_KEYS, _fragments(store, jet))):
        sel_ev = np.repeat(np.arange(frag.n_events), np.diff(frag.obj_offsets))
        in_map = set(zip(ev_of_obj[amap.obj_container == cid].tolist(),
                         amap.obj_index[amap.obj_container == cid].tolist()))
        assert in_map == set(zip(sel_ev.tolist(), frag.obj_index.tolist()))
    # jet associations in jet order, misc last; jettrk is zero for misc
    assert np.all(amap.jettrk_sumpt[amap.is_misc] == 0)
    jets = block[K.jet_container_key(jet)]
    assert np.array_equal(np.diff(amap.assoc_offsets), jets.counts() + 1)
