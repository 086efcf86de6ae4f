"""MET reconstruction: the association map and core soft terms against a plain-Python reference,
and focused hand-made events (athena_met.md B)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from metflow.algorithms.met import reco
from metflow.algorithms.met.config import met_assoc_cfg
from metflow.edm import keys as K
from metflow.edm.errors import LinkError, MapConsistencyError, SchemaError
from metflow.edm.units import GeV

from test_reco_support import OBJECT_KEYS, inputs_of, make_block, p4, random_event, record_outputs, reference

JETS = ("AntiKt4EMPFlow", "AntiKt4EMTopo")


def run_chain(block: dict, jet_coll: str, **cfg) -> dict:
    """Run the configured chain in order, resolving declared keys like the framework does.
    Adds every fragment under its met_object_assoc_key (those the map builder makes itself too),
    "fragment_keys" (all, in association order), "fields" (the map's arrays) and "soft"
    (soft_core_terms: sums and soft masks)."""
    store = dict(block)
    for alg in met_assoc_cfg(jet_coll, **cfg).algorithms:
        inputs = inputs_of(alg, store)
        if isinstance(alg, reco.METAssocMapBuilder):
            own = alg.associate(inputs["jet_assoc"], inputs["objects"], inputs["signals"], inputs["tracks"])
            keys = [K.met_object_assoc_key(jet_coll, key) for key in alg.key("objects")]
            store.update(zip(keys, own))
            store["fragment_keys"] = [*keys, *alg.key("fragments")]
            store["soft"] = reco.soft_core_terms(inputs["jet_assoc"], [*own, *inputs["fragments"]],
                                                 inputs["signals"], inputs["tracks"])
        record_outputs(alg, store, alg.compute(**inputs))
    amap = store[K.met_assoc_key(jet_coll)]
    store["fields"] = dict(amap.arrays(), container_keys=amap.container_keys)
    return store


def fields_of_event(fields: dict, ev: int) -> list[dict]:
    """Associations of one event, in the reference's dict form."""
    out = []
    keys = fields["container_keys"]
    for a in range(fields["assoc_offsets"][ev], fields["assoc_offsets"][ev + 1]):
        o0, o1 = fields["obj_offsets"][a], fields["obj_offsets"][a + 1]
        objects = [(keys[fields["obj_container"][o]], int(fields["obj_index"][o]), int(fields["obj_type"][o]))
                   for o in range(o0, o1)]
        ovl = [[(int(fields["ovl_index"][k]), int(fields["ovl_type"][k]))
                for k in range(fields["ovl_offsets"][o], fields["ovl_offsets"][o + 1])] for o in range(o0, o1)]
        sums = {}
        for kind in ("cal", "trk"):
            sums[kind] = {int(fields[f"{kind}_key"][k]): [float(fields[f"{kind}_{c}"][k])
                                                           for c in ("px", "py", "pz", "e", "sumpt")]
                          for k in range(fields[f"{kind}_offsets"][a], fields[f"{kind}_offsets"][a + 1])}
            assert list(sums[kind]) == sorted(sums[kind]), "keys must be in increasing order"
        out.append({"jet": int(fields["jet_index"][a]), "misc": bool(fields["is_misc"][a]),
                    "objects": objects, "ovl": ovl, **sums,
                    "jettrk": [float(fields[f"jettrk_{c}"][a]) for c in ("px", "py", "pz", "e", "sumpt")]})
    return out


def assert_vec_close(a, b, what):
    np.testing.assert_allclose(np.asarray(a, dtype=float), np.asarray(b, dtype=float), rtol=1e-5, atol=1e-2,
                               err_msg=what)


def compare_with_reference(events: list[dict], jet_coll: str):
    store = run_chain(make_block(events), jet_coll)
    fields = store["fields"]
    soft, _, _ = store["soft"]
    core = store[K.met_core_key(jet_coll)]
    np.testing.assert_array_equal(core.mpx, soft[:, :, 0].astype(np.float32))
    np.testing.assert_array_equal(core.sumet, soft[:, :, 2].astype(np.float32))
    assert core.names == (K.SOFT_CLUS_CORE, K.PV_SOFT_TRK_CORE)
    assert list(core.sources) == [0x11020, 0x14020]
    store[K.met_assoc_key(jet_coll)].validate().check_keys()
    for ev, event in enumerate(events):
        ref_assocs, ref_soft = reference(event, jet_coll)
        got = fields_of_event(fields, ev)
        assert len(got) == len(ref_assocs)
        for a, (g, r) in enumerate(zip(got, ref_assocs)):
            where = f"event {ev} assoc {a}"
            assert g["jet"] == r["jet"] and g["misc"] == (r["jet"] < 0), where
            assert g["objects"] == r["objects"], where
            assert g["ovl"] == r["ovl"], where
            for kind in ("cal", "trk"):
                assert list(g[kind]) == list(r[kind]), f"{where} {kind} keys"
                for m in r[kind]:
                    assert_vec_close(g[kind][m], r[kind][m], f"{where} {kind}[{m}]")
            assert_vec_close(g["jettrk"], r["jettrk"], f"{where} jettrk")
        assert_vec_close(soft[ev, 0], ref_soft["SoftClusCore"], f"event {ev} SoftClusCore")
        assert_vec_close(soft[ev, 1], ref_soft["PVSoftTrkCore"], f"event {ev} PVSoftTrkCore")
    return store


@pytest.mark.parametrize("jet_coll", JETS)
def test_map_matches_reference_on_random_events(jet_coll):
    rng = np.random.default_rng(7)
    events = [random_event(rng) for _ in range(12)] + [random_event(rng, with_pv=False)]
    compare_with_reference(events, jet_coll)


@pytest.mark.parametrize("jet_coll", JETS)
def test_empty_events_and_event_without_objects(jet_coll):
    rng = np.random.default_rng(3)
    empty = {key: [] for key in OBJECT_KEYS}
    events = [dict(empty), random_event(rng, n_jets=0), dict(empty)]
    store = compare_with_reference(events, jet_coll)
    fields = store["fields"]
    # one (misc) association per event without jets
    assert list(np.diff(fields["assoc_offsets"])) == [1, 1, 1]
    assert fields["is_misc"].all()


# ---------------------------------------------------------------------------------------------
# focused hand-made events


def _base_event():
    """A hard-scatter vertex, four accepted tracks, six clusters; PFOs: 4 charged + 6 neutral."""
    ev = {K.PRIMARY_VERTICES: [{"z": 1.0, "is_hard_scatter": True}]}
    ev[K.TRACKS] = [dict(p4(pt * GeV, eta, phi), vertex=0, passes_quality=True, z0=1.0)
                    for pt, eta, phi in ((40, 0.1, 0.2), (10, 1.0, 2.0), (5, -0.5, -1.0), (30, 0.3, 1.5))]
    ev[K.CLUSTERS] = [p4(pt * GeV, eta, phi) for pt, eta, phi in
                      ((38, 0.1, 0.2), (12, 1.0, 2.0), (3, 1.1, 2.1), (1.5, -2.0, 0.0), (2.0, 0.3, 1.5),
                       (4.0, 3.0, -2.0))]
    ev[K.PFOS] = ([dict(t, track=i) for i, t in enumerate(ev[K.TRACKS])]
                  + [dict(c, cluster=i) for i, c in enumerate(ev[K.CLUSTERS])])
    return ev


def test_electron_cluster_inside_jet_goes_to_that_jet_and_misc_gets_the_rest():
    ev = _base_event()
    # EMTopo jet 0 has clusters 0, 1, 2 and ghost track 1; the electron has cluster 0 (in the jet),
    # cluster 4 (in no jet) and track 0 (not a ghost track of any jet -> misc).
    ev[K.jet_container_key("AntiKt4EMTopo")] = [dict(p4(60 * GeV, 0.5, 1.0), constituents=[0, 1, 2],
                                                     ghost_tracks=[1])]
    ev[K.ELECTRONS] = [dict(p4(40 * GeV, 0.1, 0.2), clusters=[0, 4], tracks=[0])]
    store = run_chain(make_block([ev]), "AntiKt4EMTopo")
    jet, misc = fields_of_event(store["fields"], 0)
    assert jet["objects"] == [(K.ELECTRONS, 0, 6)] and misc["objects"] == [(K.ELECTRONS, 0, 6)]
    c0, c4, t0, t1 = ev[K.CLUSTERS][0], ev[K.CLUSTERS][4], ev[K.TRACKS][0], ev[K.TRACKS][1]
    assert list(jet["cal"]) == [1] and jet["trk"] == {}
    assert_vec_close(jet["cal"][1][:4], [c0["px"], c0["py"], c0["pz"], c0["e"]], "jet cal")
    assert_vec_close(misc["cal"][1][:4], [c4["px"], c4["py"], c4["pz"], c4["e"]], "misc cal")
    assert_vec_close(misc["trk"][1][:4], [t0["px"], t0["py"], t0["pz"], t0["e"]], "misc trk")
    assert_vec_close(jet["jettrk"][:2], [t1["px"], t1["py"]], "jettrk = the accepted ghost track")
    assert jet["jettrk"][4] == pytest.approx(10 * GeV, rel=1e-6)


def test_muon_with_mip_cluster_and_electron_sharing_it_overlap():
    ev = _base_event()
    ev[K.jet_container_key("AntiKt4EMTopo")] = [dict(p4(60 * GeV, 0.3, 1.5), constituents=[4, 1],
                                                     ghost_tracks=[3])]
    # muon: ID track 3 (a ghost track of the jet) and MIP cluster 4 (in the jet);
    # electron shares cluster 4 with the muon.
    ev[K.MUONS] = [dict(p4(30 * GeV, 0.3, 1.5), id_track=3, clusters=[4])]
    ev[K.ELECTRONS] = [dict(p4(12 * GeV, 1.0, 2.0), clusters=[1, 4], tracks=[])]
    store = run_chain(make_block([ev]), "AntiKt4EMTopo")
    jet, misc = fields_of_event(store["fields"], 0)
    # muons are associated first, then electrons
    assert jet["objects"] == [(K.MUONS, 0, 8), (K.ELECTRONS, 0, 6)]
    assert misc["objects"] == []
    assert list(jet["cal"]) == [0b10, 0b11]  # cluster 1: electron only; cluster 4: both
    assert list(jet["trk"]) == [0b01]  # the muon's ID track
    assert jet["ovl"] == [[(1, 1 << 1)], [(0, 1 << 1)]]  # shared CaloCluster
    soft, sig_soft, trk_soft = store["soft"]
    assert not sig_soft[[1, 4]].any() and not trk_soft[3]


def test_object_without_constituents_goes_to_misc_and_low_pt_objects_are_skipped():
    ev = _base_event()
    ev[K.jet_container_key("AntiKt4EMPFlow")] = []
    ev[K.MUONS] = [dict(p4(2 * GeV, 0.0, 0.0), pfos=[])]  # low-pT muon: still associated
    ev[K.PHOTONS] = [dict(p4(3 * GeV, 0.0, 0.0), pfos=[5]), dict(p4(20 * GeV, 0.0, 1.0), pfos=[])]
    store = run_chain(make_block([ev]), "AntiKt4EMPFlow")
    (misc,) = fields_of_event(store["fields"], 0)
    assert misc["objects"] == [(K.MUONS, 0, 8), (K.PHOTONS, 1, 7)]
    assert misc["cal"] == {} and misc["trk"] == {}
    soft, sig_soft, _ = store["soft"]
    assert sig_soft[5]  # the 3 GeV photon is not associated, its PFO stays soft


def test_unassociated_pfos_form_the_soft_core():
    ev = _base_event()
    # PFlow jet with charged PFO 0 and neutral PFO 4 (cluster 0); electron with charged PFO 1
    ev[K.jet_container_key("AntiKt4EMPFlow")] = [dict(p4(50 * GeV, 0.1, 0.2), constituents=[0, 4])]
    ev[K.ELECTRONS] = [dict(p4(10 * GeV, 1.0, 2.0), pfos=[1])]
    store = run_chain(make_block([ev]), "AntiKt4EMPFlow")
    soft, sig_soft, trk_soft = store["soft"]
    assert sorted(np.flatnonzero(sig_soft)) == [2, 3, 5, 6, 7, 8, 9]
    assert sorted(np.flatnonzero(trk_soft)) == [2, 3]
    expected = [ev[K.PFOS][i] for i in (2, 3, 5, 6, 7, 8, 9)]
    assert soft[0, 0, 0] == pytest.approx(-sum(p["px"] for p in expected), rel=1e-5)
    assert soft[0, 0, 2] == pytest.approx(sum(math.hypot(p["px"], p["py"]) for p in expected), rel=1e-5)
    assert soft[0, 1, 1] == pytest.approx(-sum(ev[K.TRACKS][i]["py"] for i in (2, 3)), rel=1e-5)
    jet, misc = fields_of_event(store["fields"], 0)
    # charged PFO in an object: cal (PFO) and trk (its track) under the same key
    assert list(misc["cal"]) == [1] and list(misc["trk"]) == [1]
    assert jet["jettrk"][4] == pytest.approx(40 * GeV, rel=1e-6)


def test_no_primary_vertex_rejects_all_tracks():
    ev = _base_event()
    ev[K.PRIMARY_VERTICES] = []
    ev[K.jet_container_key("AntiKt4EMTopo")] = [dict(p4(50 * GeV, 0.1, 0.2), constituents=[0],
                                                     ghost_tracks=[0])]
    store = run_chain(make_block([ev]), "AntiKt4EMTopo")
    soft, _, trk_soft = store["soft"]
    assert not trk_soft.any() and soft[0, 1, 2] == 0
    assert store["fields"]["trk_key"].size == 0 and store["fields"]["jettrk_sumpt"][0] == 0


def test_objects_are_inserted_in_descending_pt():
    ev = _base_event()
    ev[K.jet_container_key("AntiKt4EMTopo")] = []
    ev[K.ELECTRONS] = [dict(p4(pt * GeV, 0, 0), clusters=[c]) for pt, c in ((10, 0), (30, 1), (20, 2))]
    store = run_chain(make_block([ev]), "AntiKt4EMTopo")
    (misc,) = fields_of_event(store["fields"], 0)
    assert [i for _, i, _ in misc["objects"]] == [1, 2, 0]


# ---------------------------------------------------------------------------------------------
# bad input


def test_constituent_link_out_of_range_names_event_and_key():
    ev = _base_event()
    ev[K.jet_container_key("AntiKt4EMTopo")] = [dict(p4(50 * GeV, 0, 0), constituents=[0, 99])]
    with pytest.raises(LinkError, match="out of range") as err:
        run_chain(make_block([_base_event(), ev]), "AntiKt4EMTopo")
    assert err.value.event == 1 and err.value.key == "AntiKt4EMTopoJets"


def test_object_link_out_of_range_names_object_and_key():
    ev = _base_event()
    ev[K.TAUS] = [dict(p4(50 * GeV, 0, 0), pfos=[42])]
    with pytest.raises(LinkError, match="object 0") as err:
        run_chain(make_block([ev]), "AntiKt4EMPFlow")
    assert err.value.key == K.TAUS and err.value.event == 0


def test_constituent_in_two_jets_is_an_error():
    ev = _base_event()
    ev[K.jet_container_key("AntiKt4EMPFlow")] = [dict(p4(50 * GeV, 0, 0), constituents=[0, 1]),
                                                 dict(p4(40 * GeV, 0, 0), constituents=[1])]
    with pytest.raises(MapConsistencyError, match="jet 1 shares"):
        run_chain(make_block([ev]), "AntiKt4EMPFlow")


def test_pflow_chain_on_clusters_is_refused_with_the_key():
    ev = _base_event()
    with pytest.raises(SchemaError, match="track") as err:
        run_chain(make_block([ev]), "AntiKt4EMPFlow", signals=K.CLUSTERS)
    assert err.value.key == K.CLUSTERS


def test_mismatched_blocks_are_refused():
    rng = np.random.default_rng(1)
    block = make_block([random_event(rng), random_event(rng)])
    other = make_block([random_event(rng)])
    block[K.ELECTRONS] = other[K.ELECTRONS]
    with pytest.raises(SchemaError, match="different numbers of events"):
        run_chain(block, "AntiKt4EMPFlow")


def test_more_than_64_objects_in_one_association_is_an_error():
    from metflow.edm.errors import TooManyObjectsError
    ev = _base_event()
    ev[K.jet_container_key("AntiKt4EMPFlow")] = []
    ev[K.MUONS] = [dict(p4(5 * GeV, 0, 0)) for _ in range(65)]
    block = make_block([ev])
    algs = met_assoc_cfg("AntiKt4EMPFlow").algorithms
    store = dict(block)
    for alg in algs:
        inputs = inputs_of(alg, store)
        if isinstance(alg, reco.METAssocMapBuilder):
            with pytest.raises(TooManyObjectsError) as err:
                alg.compute(**inputs)
            assert err.value.n_objects == 65 and err.value.jet_index == -1
            return
        record_outputs(alg, store, alg.compute(**inputs))
    pytest.fail("map builder not reached")


@pytest.mark.parametrize("jet_coll", ["AntiKt4EMPFlow", "AntiKt4EMTopo"])
def test_every_input_from_another_block_is_refused_with_a_named_error(jet_coll):
    """Each algorithm's fast path checks event/object counts inside its kernel: swapping any one
    container input for a block with a different event count (or a fragment of another block)
    raises SchemaError, never a crash or a silently wrong map."""
    rng = np.random.default_rng(1)
    block = make_block([random_event(rng), random_event(rng)])
    other = make_block([random_event(rng)])
    store = dict(block)
    checked = 0
    chain = met_assoc_cfg(jet_coll).algorithms
    builder = chain[-1]
    soft_alone = reco.METSoftAssociator(jet_assoc=builder.key("jet_assoc"), fragments=builder.key("fragments"),
                                        signals=builder.key("signals"), core="SoftAlone")
    for alg in [*chain, soft_alone]:
        inputs = inputs_of(alg, store)
        for attr in alg.inputs_declared():
            key = alg.key(attr)
            if isinstance(key, str) and key in other:
                with pytest.raises(SchemaError):
                    alg.compute(**{**inputs, attr: other[key]})
                checked += 1
            elif not isinstance(key, str):   # a list input: each of its containers in turn
                for j, k in enumerate(key):
                    if k in other:
                        swapped = [*inputs[attr][:j], other[k], *inputs[attr][j + 1:]]
                        with pytest.raises(SchemaError, match=k):
                            alg.compute(**{**inputs, attr: swapped})
                        checked += 1
        if isinstance(alg, (reco.METAssocMapBuilder, reco.METSoftAssociator)):
            empty = reco.ObjectAssociations.from_columns(
                K.ELECTRONS, 2, jet_coll, inputs["jet_assoc"].pflow, obj_offsets=[0, 0], obj_index=[],
                piece_offsets=[0], piece_assoc=[], const_offsets=[0], const_kind=[], const_index=[])
            with pytest.raises(SchemaError):
                alg.compute(**{**inputs, "fragments": inputs["fragments"][:1] + [empty]})
            checked += 1
        record_outputs(alg, store, alg.compute(**inputs))
    assert checked >= 15   # every container input of every algorithm (4 + 7 + 2), each fragment list


@pytest.mark.parametrize("jet_coll", JETS)
def test_map_from_packed_buffers_equals_the_unpacked_kernel_fields(jet_coll):
    """The builder's fast path (five dtype buffers sliced into the fields) gives the same fields,
    dtypes and lengths as build_map_fields, each read-only."""
    rng = np.random.default_rng(11)
    events = [random_event(rng) for _ in range(9)] + [random_event(rng, with_pv=False)]
    store = run_chain(make_block(events), jet_coll)
    amap = store[K.met_assoc_key(jet_coll)]
    builder = [a for a in met_assoc_cfg(jet_coll).algorithms if isinstance(a, reco.METAssocMapBuilder)][0]
    fragments = [store[k] for k in store["fragment_keys"]]
    fields = reco.build_map_fields(store[K.met_jet_assoc_key(jet_coll)], fragments,
                                   store[builder.key("signals")], store[builder.key("tracks")])
    assert amap.n_objects > 0 and amap.cal_key.shape[0] > 0
    for name, got in amap.arrays().items():
        want = np.asarray(fields[name])
        assert got.dtype == want.dtype and got.ndim == 1, name
        np.testing.assert_array_equal(got, want, err_msg=name)
        assert not got.flags.writeable, name
    assert amap.container_keys == fields["container_keys"]


@pytest.mark.parametrize("jet_coll", JETS)
def test_the_map_builders_core_terms_equal_the_soft_associator_alone(jet_coll):
    """The chain's map builder writes MET_Core in its own kernel call; METSoftAssociator on the
    same inputs gives the same terms, bit for bit."""
    rng = np.random.default_rng(21)
    store = run_chain(make_block([random_event(rng) for _ in range(7)]), jet_coll)
    builder = met_assoc_cfg(jet_coll).algorithms[-1]
    assert isinstance(builder, reco.METAssocMapBuilder) and builder.key("core") == K.met_core_key(jet_coll)
    alone = reco.METSoftAssociator(jet_assoc=builder.key("jet_assoc"), fragments=store["fragment_keys"],
                                   signals=builder.key("signals"), core="SoftAlone")
    want = alone.compute(**inputs_of(alone, store))
    got = store[K.met_core_key(jet_coll)]
    assert got.names == want.names and got.sources.tolist() == want.sources.tolist()
    for what in ("mpx", "mpy", "sumet"):
        assert getattr(got, what).tobytes() == getattr(want, what).tobytes()
        assert not getattr(got, what).flags.writeable
    assert got.key == K.met_core_key(jet_coll)
