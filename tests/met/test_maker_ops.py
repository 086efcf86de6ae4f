"""Focused tests of each METMaker operation on small hand-made events (MeV internally)."""

from __future__ import annotations


import numpy as np
import pytest

from metflow.edm import keys as mk
from metflow.edm.met import MissingETAssociationHelper, ObjectType, Source
from metflow.edm.units import GeV

from metflow.algorithms.met import _maker_kernels as K
from metflow.algorithms.met.maker import METBuilder, METMaker, RebuildError


import test_maker_events  # noqa: E402

E = test_maker_events  # the shared event builder (a sibling module; tests/met is on sys.path)
p4 = E.p4
SOFT_BOTH = (mk.SOFT_CLUS, mk.PV_SOFT_TRK)


def xy(vec):
    return np.array([vec[0], vec[1]])


def term(met, name, e=0):
    return met.term(name)[e]


def new(assoc_map):
    return MissingETAssociationHelper(assoc_map), METBuilder(assoc_map.n_events)


def jet_event(pfos, tracks, jet_pfos, jes=1.2, jvt=0.9, objects=None, trk_vertex=None):
    """One event: PFOs (4-vector, track index) and one jet made of `jet_pfos`."""
    ev = E.Event()
    ev.trk_p4 = list(tracks)
    ev.trk_vertex = list(trk_vertex or [0] * len(tracks))
    ev.pfo_p4 = [p for p, _ in pfos]
    ev.pfo_track = [t for _, t in pfos]
    if jet_pfos is not None:
        constit = np.sum([ev.pfo_p4[p] for p in jet_pfos], axis=0)
        ev.jets.append(dict(pfos=list(jet_pfos), constit=constit, p4=constit * jes, jvt=jvt))
    for kind, objs in (objects or {}).items():
        ev.objects[kind] = objs
    return ev


def test_overlapping_electron_inside_soft_jet_goes_to_cst_minus_electron():
    pf = [(p4(40, 0.5, 0.0), -1), (p4(8, 0.6, 0.1), -1), (p4(5, 0.4, 0.2), 0)]
    ele = dict(p4=pf[0][0] * 1.02, pfos=[0])
    ev = jet_event(pf, [pf[2][0]], [0, 1, 2], objects={"e": [ele]})
    conts, m, core = E.block([ev])
    maker = METMaker(do_pflow=True)
    helper, met = new(m)
    w = maker.rebuild_met(mk.REF_ELE, ObjectType.Electron, conts["e"], helper, met)
    res = maker.rebuild_jet_met(mk.REF_JET, SOFT_BOTH, met, conts["jets"], core, helper)
    assert w.tolist() == [1.0]
    np.testing.assert_allclose(term(met, mk.REF_ELE)[:2], -xy(ele["p4"]), rtol=1e-6)
    jet = ev.jets[0]
    o = xy(jet["constit"]) - xy(pf[0][0])       # O = C - calVec(electron)
    assert res.status.tolist() == [K.JET_SOFT]  # |O| < 20 GeV: not hard
    np.testing.assert_allclose(res.weight[0], 1 - pf[0][0][3] / jet["constit"][3], rtol=1e-5)
    np.testing.assert_allclose(term(met, mk.SOFT_CLUS), [-o[0], -o[1], np.hypot(*o)], rtol=1e-5)
    np.testing.assert_allclose(term(met, mk.PV_SOFT_TRK)[:2], -xy(pf[2][0]), rtol=1e-5)
    assert not term(met, mk.REF_JET).any()


def test_overlapping_electron_inside_hard_jet_scales_jet_by_uniquefrac():
    pf = [(p4(40, 0.5, 0.0), -1), (p4(60, 0.6, 0.1), -1), (p4(5, 0.4, 0.2), 0)]
    ele = dict(p4=pf[0][0], pfos=[0])
    ev = jet_event(pf, [pf[2][0]], [0, 1, 2], objects={"e": [ele]})
    conts, m, core = E.block([ev])
    maker = METMaker(do_pflow=True)
    helper, met = new(m)
    maker.rebuild_met(mk.REF_ELE, ObjectType.Electron, conts["e"], helper, met)
    res = maker.rebuild_jet_met(mk.REF_JET, SOFT_BOTH, met, conts["jets"], core, helper)
    jet = ev.jets[0]
    uf = 1 - pf[0][0][3] / jet["constit"][3]
    assert res.status.tolist() == [K.JET_HARD]
    pt = np.hypot(*xy(jet["p4"]))
    np.testing.assert_allclose(term(met, mk.REF_JET), [-uf * jet["p4"][0], -uf * jet["p4"][1], uf * pt],
                               rtol=1e-5)
    assert not term(met, mk.PV_SOFT_TRK).any() and not term(met, mk.SOFT_CLUS).any()


def _shared_egamma_event(extra_electron_pfo=False):
    pf = [(p4(30, 1.0, 1.0), -1), (p4(6, 1.1, 1.1), -1)]
    ele = dict(p4=p4(31, 1.0, 1.0), pfos=[0, 1] if extra_electron_pfo else [0])
    pho = dict(p4=p4(29, 1.0, 1.0), pfos=[0])
    return jet_event(pf, [], None, objects={"e": [ele], "g": [pho]})


@pytest.mark.parametrize("first", ["e", "g"])
def test_photon_electron_priority_follows_call_order(first):
    ev = _shared_egamma_event()
    conts, m, core = E.block([ev])
    maker = METMaker(do_pflow=True)
    helper, met = new(m)
    calls = {"e": (mk.REF_ELE, ObjectType.Electron), "g": (mk.REF_GAMMA, ObjectType.Photon)}
    order = [first, "g" if first == "e" else "e"]
    weights = {k: maker.rebuild_met(calls[k][0], calls[k][1], conts[k], helper, met) for k in order}
    assert weights[order[0]].tolist() == [1.0]
    assert weights[order[1]].tolist() == [0.0]
    assert not term(met, calls[order[1]][0]).any()
    np.testing.assert_allclose(term(met, calls[first][0])[:2], -xy(ev.objects[first][0]["p4"]), rtol=1e-6)


@pytest.mark.parametrize("greedy", [False, True])
def test_greedy_photons_flag_overlapping_electrons(greedy):
    ev = _shared_egamma_event(extra_electron_pfo=True)
    conts, m, core = E.block([ev])
    maker = METMaker(do_pflow=True, greedy_photons=greedy)
    helper, met = new(m)
    maker.rebuild_met(mk.REF_GAMMA, ObjectType.Photon, conts["g"], helper, met)
    w = maker.rebuild_met(mk.REF_ELE, ObjectType.Electron, conts["e"], helper, met)
    maker.rebuild_jet_met(mk.REF_JET, mk.SOFT_CLUS, met, conts["jets"], core, helper)
    assert w.tolist() == [0.0]
    # the electron's own PFO stays in the soft term unless a greedy photon claimed the electron
    soft = term(met, mk.SOFT_CLUS)
    if greedy:
        assert not soft.any()
    else:
        np.testing.assert_allclose(soft[:2], -xy(ev.pfo_p4[1]), rtol=1e-6)


def test_muon_calo_deposit_is_handed_back_to_the_jet_and_its_track_leaves_tst():
    trk = [p4(30, 0.2, -1.0, 105.7), p4(4, 0.3, -0.9)]
    pf = [(trk[0], 0), (p4(3, 0.2, -1.0), -1), (trk[1] * 1.05, 1), (p4(9, 0.25, -1.1), -1)]
    mu = dict(p4=trk[0], pfos=[0, 1], id_track=0, type=0)
    ev = jet_event(pf, trk, [0, 1, 2, 3], objects={"m": [mu]})
    conts, m, core = E.block([ev])
    maker = METMaker(do_pflow=True)
    helper, met = new(m)
    maker.rebuild_met(mk.MUONS_TERM, ObjectType.Muon, conts["m"], helper, met)
    res = maker.rebuild_jet_met(mk.REF_JET, SOFT_BOTH, met, conts["jets"], core, helper)
    jet = ev.jets[0]
    np.testing.assert_allclose(term(met, mk.MUONS_TERM)[:2], -xy(trk[0]), rtol=1e-6)
    # O = C - calvec + M = C: the muon's calorimeter energy stays with the jet; uniquefrac 1
    assert res.weight[0] == pytest.approx(1.0)
    assert res.status[0] == K.JET_HARD  # |C| > 20 GeV, jet has only a muon overlap
    np.testing.assert_allclose(term(met, mk.REF_JET)[:2], -xy(jet["p4"]), rtol=1e-5)
    # soft jet version: CST gets the whole constituent jet, TST only the non-muon track
    maker_hi = METMaker(do_pflow=True, jet_selection="HRecoil")
    helper, met = new(m)
    maker_hi.rebuild_met(mk.MUONS_TERM, ObjectType.Muon, conts["m"], helper, met)
    maker_hi.rebuild_jet_met(mk.REF_JET, SOFT_BOTH, met, conts["jets"], core, helper)
    np.testing.assert_allclose(term(met, mk.SOFT_CLUS)[:2], -xy(jet["constit"]), rtol=1e-5)
    np.testing.assert_allclose(term(met, mk.PV_SOFT_TRK)[:2], -xy(trk[1]), rtol=1e-5)


def test_muon_overlapping_electron_is_added_unless_calo_tagged():
    pf = [(p4(20, 0.0, 2.0), 0)]
    trk = [p4(20, 0.0, 2.0)]
    ele = dict(p4=p4(21, 0.0, 2.0), pfos=[0])
    muons = [dict(p4=p4(20, 0.0, 2.0), pfos=[0], id_track=0, type=t) for t in (0, 3)]
    ev = jet_event(pf, trk, None, objects={"e": [ele], "m": muons})
    conts, m, core = E.block([ev])
    maker = METMaker(do_pflow=True)
    helper, met = new(m)
    maker.rebuild_met(mk.REF_ELE, ObjectType.Electron, conts["e"], helper, met)
    w = maker.rebuild_met(mk.MUONS_TERM, ObjectType.Muon, conts["m"], helper, met)
    assert w.tolist() == [1.0, 0.0]   # combined muon kept, calo-tagged muon dropped


def test_jet_failing_jvt_gives_its_tracks_to_tst_and_nothing_else():
    trk = [p4(12, 0.5, 0.3), p4(9, 0.6, 0.2), p4(3, 0.4, 0.4)]
    pf = [(trk[0], 0), (trk[1], 1), (trk[2], 2), (p4(10, 0.5, 0.3), -1)]
    ev = jet_event(pf, trk, [0, 1, 2, 3], jes=1.1, jvt=0.1, trk_vertex=[0, 0, 2])
    conts, m, core = E.block([ev])
    jet = ev.jets[0]
    assert 20 * GeV < np.hypot(*xy(jet["p4"])) < 60 * GeV
    maker = METMaker(do_pflow=True)
    helper, met = new(m)
    res = maker.rebuild_jet_met(mk.REF_JET, SOFT_BOTH, met, conts["jets"], core, helper)
    assert res.status.tolist() == [K.JET_REJECTED]
    assert not term(met, mk.REF_JET).any() and not term(met, mk.SOFT_CLUS).any()
    pv = trk[0] + trk[1]   # the pileup track (vertex 2) is not a jet track
    np.testing.assert_allclose(term(met, mk.PV_SOFT_TRK)[:2], -xy(pv), rtol=1e-5)
    helper, met = new(m)
    res = maker.rebuild_jet_met(mk.REF_JET, SOFT_BOTH, met, conts["jets"], core, helper, do_jvt=False)
    assert res.status.tolist() == [K.JET_HARD]
    assert not term(met, mk.PV_SOFT_TRK).any()


def _zmumu_event():
    trk = [p4(45, 0.3, 0.0, 105.7), p4(35, -0.5, 0.6, 105.7), p4(2, 0.1, 2.5), p4(3, 1.1, 2.9)]
    zx = trk[0][0] + trk[1][0]
    zy = trk[0][1] + trk[1][1]
    recoil_phi = np.arctan2(-zy, -zx)
    recoil_pt = np.hypot(zx, zy) / GeV
    jet_core = p4(recoil_pt, 0.2, recoil_phi) - trk[2]  # jet of one neutral PFO + one charged
    pf = [(trk[0], 0), (trk[1], 1), (jet_core, -1), (trk[2], 2), (trk[3], 3)]
    muons = [dict(p4=trk[0], pfos=[0], id_track=0, type=0), dict(p4=trk[1], pfos=[1], id_track=1, type=0)]
    return jet_event(pf, trk, [2, 3], jes=1.0, objects={"m": muons}), trk


def test_mark_invisible_zmumu_met_is_minus_recoil():
    ev, trk = _zmumu_event()
    conts, m, core = E.block([ev])
    maker = METMaker(do_pflow=True)
    helper, met = new(m)
    maker.mark_invisible(ObjectType.Muon, conts["m"], helper, met)
    maker.rebuild_jet_met(mk.REF_JET, mk.PV_SOFT_TRK, met, conts["jets"], core, helper)
    total = maker.build_met_sum(mk.FINAL_TRK, met, Source.track())[0]
    assert Source.is_invisible_term(met.source(mk.INVISIBLES))
    recoil = -(term(met, mk.REF_JET) + term(met, mk.PV_SOFT_TRK))   # +sum p of what was seen
    np.testing.assert_allclose(total[:2], -recoil[:2], rtol=1e-6)
    # the muons' tracks are flagged: no muon track in the soft term; MET ~ pT(Z) vector
    z = xy(trk[0] + trk[1])
    soft_only = xy(trk[3])
    np.testing.assert_allclose(total[:2], z - soft_only, rtol=1e-4)
    # without markInvisible the muon tracks would be in the soft track term
    helper, met = new(m)
    maker.rebuild_jet_met(mk.REF_JET, mk.PV_SOFT_TRK, met, conts["jets"], core, helper)
    np.testing.assert_allclose(term(met, mk.PV_SOFT_TRK)[:2], -(z + soft_only), rtol=1e-4)


def test_track_met_closure_without_objects_is_minus_all_pv_tracks():
    rng = np.random.default_rng(5)
    events = [E.random_event(rng) for _ in range(30)]
    for ev in events:
        ev.objects = {k: [] for k in "egtm"}
    conts, m, core = E.block(events)
    maker = METMaker(do_pflow=True, jet_selection="Tier0")
    helper, met = new(m)
    maker.rebuild_track_met(mk.REF_JET, mk.PV_SOFT_TRK, met, conts["jets"], core, helper)
    assert Source.is_track_term(met.source(mk.REF_JET)) and Source.is_jet_term(met.source(mk.REF_JET))
    total = maker.build_met_sum(mk.FINAL_TRK, met)
    for e, ev in enumerate(events):
        pv = [t for p, t in enumerate(ev.pfo_track) if t >= 0 and ev.trk_vertex[t] == 0]
        want = -np.sum([xy(ev.trk_p4[t]) for t in pv], axis=0) if pv else np.zeros(2)
        np.testing.assert_allclose(total[e, :2], want, atol=0.05)


def test_remove_muon_jets_rejects_a_jet_made_of_the_muon_track():
    trk = [p4(25, 0.5, 1.0, 105.7)]
    pf = [(trk[0], 0), (p4(2, 0.5, 1.0), -1)]
    mu = dict(p4=trk[0], pfos=[0], id_track=0, type=0)
    ev = jet_event(pf, trk, [0, 1], jes=1.0, objects={"m": [mu]})
    conts, m, core = E.block([ev])
    maker = METMaker(do_pflow=True)
    for kwargs, status in ((dict(muons=conts["m"]), K.JET_REJECTED), ({}, K.JET_HARD)):
        helper, met = new(m)
        maker.rebuild_met(mk.MUONS_TERM, ObjectType.Muon, conts["m"], helper, met)
        res = maker.rebuild_jet_met(mk.REF_JET, mk.SOFT_CLUS, met, conts["jets"], core, helper, **kwargs)
        assert res.status.tolist() == [status]


def test_shallow_copy_subset_equals_mask_selection_and_helpers_are_independent():
    rng = np.random.default_rng(11)
    events = [E.random_event(rng) for _ in range(40)]
    conts, m, core = E.block(events)
    before = {k: v.copy() for k, v in m.arrays().items()}
    maker = METMaker(do_pflow=True)
    mask = rng.random(len(conts["e"])) < 0.5
    copy = conts["e"].shallow_copy(select=mask, key="CalibElectrons")
    outs = []
    for objs, sel in ((conts["e"], mask), (copy, None), (conts["e"], mask)):
        helper, met = new(m)
        maker.rebuild_met(mk.REF_ELE, ObjectType.Electron, objs, helper, met, select=sel)
        maker.rebuild_met(mk.MUONS_TERM, ObjectType.Muon, conts["m"], helper, met)
        maker.rebuild_jet_met(mk.REF_JET, SOFT_BOTH, met, conts["jets"], core, helper)
        outs.append(met.to_container())
    for o in outs[1:]:
        assert o.equals(outs[0])
    for k, v in m.arrays().items():
        np.testing.assert_array_equal(v, before[k])


def test_build_met_sum_skips_invisible_totals_and_other_soft_terms():
    rng = np.random.default_rng(3)
    conts, m, core = E.block([E.random_event(rng) for _ in range(10)])
    maker = METMaker(do_pflow=True)
    helper, met = new(m)
    maker.mark_invisible(ObjectType.Muon, conts["m"], helper, met)
    maker.rebuild_met(mk.REF_ELE, ObjectType.Electron, conts["e"], helper, met)
    maker.rebuild_jet_met(mk.REF_JET, SOFT_BOTH, met, conts["jets"], core, helper)
    trk = maker.build_met_sum(mk.FINAL_TRK, met, Source.track())
    clus = maker.build_met_sum(mk.FINAL_CLUS, met, Source.cluster_lc())
    hard = term(met, mk.REF_ELE, slice(None)) + term(met, mk.REF_JET, slice(None))
    np.testing.assert_allclose(trk, hard + met.term(mk.PV_SOFT_TRK))
    np.testing.assert_allclose(clus, hard + met.term(mk.SOFT_CLUS))
    assert Source.is_total_term(met.source(mk.FINAL_TRK))


def test_errors_name_the_problem():
    rng = np.random.default_rng(1)
    conts, m, core = E.block([E.random_event(rng) for _ in range(4)])
    maker = METMaker(do_pflow=True)
    helper, met = new(m)
    maker.rebuild_met(mk.REF_ELE, ObjectType.Electron, conts["e"], helper, met)
    with pytest.raises(RebuildError, match="RefEle.*already exists"):
        maker.rebuild_met(mk.REF_ELE, ObjectType.Electron, conts["e"], helper, met)
    with pytest.raises(RebuildError, match="use rebuild_jet_met"):
        maker.rebuild_met("J", ObjectType.Jet, conts["jets"], helper, met)
    with pytest.raises(RebuildError, match="3 events but the association map has 4"):
        maker.rebuild_met(mk.REF_GAMMA, ObjectType.Photon, conts["g"].slice(0, 3), helper, met)
    stray = conts["m"].with_columns()
    stray.key = "MuonsLRT"
    with pytest.raises(RebuildError, match="'MuonsLRT' is not one of the association map"):
        maker.rebuild_met(mk.MUONS_TERM, ObjectType.Muon, stray, helper, met)
    with pytest.raises(RebuildError, match="'SoftTrkCore' not found"):
        maker.rebuild_jet_met(mk.REF_JET, "SoftTrk", met, conts["jets"], core, helper)
    with pytest.raises(RebuildError, match="selection mask for RefTau has shape"):
        maker.rebuild_met(mk.REF_TAU, ObjectType.Tau, conts["t"], helper, met, select=np.ones(999, bool))
    with pytest.raises(ValueError, match="did you mean 'Tight'"):
        METMaker(jet_selection="Tigth")


def test_object_selection_cuts_and_original_index():
    from metflow.algorithms.met.selection import METObjectSelection
    from metflow.edm.containers import ELECTRON_SCHEMA, container_from_events
    from metflow.framework.errors import ConfigurationError

    rows = [dict(px=[30 * GeV, 5 * GeV, 40 * GeV], py=[0.0, 0.0, 0.0], pz=[0.0, 0.0, 200 * GeV],
                 e=[30 * GeV, 5 * GeV, 204 * GeV],
                 charge=[1, 1, -1], clusters=[[], [], []], tracks=[[], [], []], pfos=[[], [], []],
                 id=[0b111, 0b111, 0b001], isolated=[True, True, True])]
    ele = container_from_events(ELECTRON_SCHEMA, rows, key=mk.ELECTRONS)
    sel = METObjectSelection(objects=mk.ELECTRONS, selected="SelEle", min_pt=10 * GeV,
                             max_abs_eta=2.47, id_level="medium", require_isolated=True)
    out = sel.compute(ele)
    assert out["original_index"].tolist() == [0] and out.original_key == mk.ELECTRONS
    loose = METObjectSelection(objects=mk.ELECTRONS, selected="SelEle", min_pt=1 * GeV,
                               max_abs_eta=5.0, id_level="loose", scale=1.02).compute(ele)
    assert loose["original_index"].tolist() == [0, 1, 2]
    np.testing.assert_allclose(loose["px"], np.asarray(ele["px"]) * 1.02, rtol=1e-6)
    no_id = ele.with_columns()
    del no_id.columns["id"]
    with pytest.raises(ConfigurationError, match="has no 'id' column"):
        sel.compute(no_id)
    with pytest.raises(ConfigurationError, match="id_level"):
        METObjectSelection(id_level="superb")


def test_met_maker_alg_checks_blocks_and_writes_significance():
    from metflow.algorithms.met.maker import METMakerAlg
    from metflow.algorithms.met.significance import significance_key
    rng = np.random.default_rng(8)
    conts, m, core = E.block([E.random_event(rng) for _ in range(6)])
    alg = METMakerAlg(significance=significance_key("T"))
    alg.initialize()
    out = alg.compute(m, core, conts["jets"], conts["e"], conts["g"], None, conts["m"])
    met, sig = out["met"], out["significance"]
    assert met.key == mk.met_key("AntiKt4EMPFlow") and mk.FINAL_TRK in met.names
    assert mk.REF_TAU not in met.names
    assert sig.n_events == 6 and (sig["s"] >= 0).all()
    with pytest.raises(RebuildError, match="core 'MET_Core_AntiKt4EMPFlow' has 5 events"):
        alg.compute(m, core.slice(0, 5), conts["jets"], conts["e"], None, None, None, None)


def test_event_with_empty_map_gets_empty_terms():
    rng = np.random.default_rng(9)
    events = [E.random_event(rng) for _ in range(3)]
    conts, m, core = E.block(events)
    # drop every association of event 1 (as for an event without a primary vertex)
    from metflow.edm.met import MissingETAssociationMap
    keep = m.assoc_event() != 1
    arrays = m.arrays()
    n_assoc = np.diff(m.assoc_offsets).copy()
    n_assoc[1] = 0

    def cut(offsets, values_mask):
        counts = np.diff(offsets)[values_mask]
        out = np.zeros(len(counts) + 1, np.int64)
        np.cumsum(counts, out=out[1:])
        return out

    obj_keep = np.repeat(keep, np.diff(m.obj_offsets))
    cal_keep = np.repeat(keep, np.diff(m.cal_offsets))
    trk_keep = np.repeat(keep, np.diff(m.trk_offsets))
    ovl_keep = np.repeat(obj_keep, np.diff(m.ovl_offsets))
    new = {k: v for k, v in arrays.items() if not k.endswith("offsets")}
    for k in list(new):
        prefix = k.split("_")[0]
        mask = {"obj": obj_keep, "ovl": ovl_keep, "cal": cal_keep, "trk": trk_keep}.get(prefix, keep)
        new[k] = new[k][mask]
    assoc_offsets = np.zeros(4, np.int64)
    np.cumsum(n_assoc, out=assoc_offsets[1:])
    empty = MissingETAssociationMap(m.container_keys, jet_key=m.jet_key, assoc_offsets=assoc_offsets,
                                    obj_offsets=cut(m.obj_offsets, keep), ovl_offsets=cut(m.ovl_offsets, obj_keep),
                                    cal_offsets=cut(m.cal_offsets, keep), trk_offsets=cut(m.trk_offsets, keep), **new)
    maker = METMaker(do_pflow=True)
    totals = []
    for amap, expect_empty in ((m, False), (empty, True)):
        helper, met = MissingETAssociationHelper(amap), METBuilder(3)
        for kind, otype, name in (("e", ObjectType.Electron, mk.REF_ELE), ("m", ObjectType.Muon, mk.MUONS_TERM)):
            maker.rebuild_met(name, otype, conts[kind], helper, met)
        maker.rebuild_jet_met(mk.REF_JET, SOFT_BOTH, met, conts["jets"], core, helper)
        total = maker.build_met_sum(mk.FINAL_TRK, met, Source.track())
        assert (not total[1].any()) == expect_empty
        totals.append(total)
    np.testing.assert_array_equal(totals[0][[0, 2]], totals[1][[0, 2]])  # other events unchanged


def _fsr_jet_block(width=0.05, ps_e=3 * GeV, emfrac=0.95, eloss=3 * GeV):
    """A muon (40 GeV ID track) with a 1-track jet around it: the muon-FSR (EM-scale) jet
    when the jet's width, presampler energy and EM fraction say so."""
    trk = [p4(40, 0.3, 0.5, 105.7)]
    pf = [(trk[0], 0), (p4(2, 0.3, 0.5), -1), (p4(12, 0.32, 0.52), -1)]
    mu = dict(p4=trk[0], pfos=[0, 1], id_track=0, type=0)
    ev = jet_event(pf, trk, [0, 1, 2], jes=1.0, objects={"m": [mu]})
    conts, m, core = E.block([ev])
    n = len(conts["jets"])
    conts["jets"] = conts["jets"].with_columns(
        width=np.full(n, width, np.float32), presampler_e=np.full(n, ps_e, np.float32),
        emfrac=np.full(n, emfrac, np.float32))
    conts["m"] = conts["m"].with_columns(energy_loss=np.full(len(conts["m"]), eloss, np.float32))
    return ev, conts, m, core


@pytest.mark.parametrize("fsr", [True, False])
def test_set_muon_jet_em_scale_moves_an_fsr_jet_to_the_muon_eloss_term(fsr):
    ev, conts, m, core = _fsr_jet_block(width=0.05 if fsr else 0.2)
    maker = METMaker(do_pflow=True, do_remove_muon_jets=False, do_set_muon_jet_em_scale=True)
    helper, met = new(m)
    maker.rebuild_met(mk.MUONS_TERM, ObjectType.Muon, conts["m"], helper, met)
    assert met.names == [mk.MUONS_TERM, mk.MUON_ELOSS]   # created with the muon term
    assert met.source(mk.MUON_ELOSS) == Source.Muon | Source.Calo
    res = maker.rebuild_jet_met(mk.REF_JET, SOFT_BOTH, met, conts["jets"], core, helper,
                                muons=conts["m"])
    jet = ev.jets[0]
    constit = jet["constit"]
    pfo = np.array(ev.pfo_p4)
    # O = C - calvec (the muon's PFOs) scaled by 1 - Eloss/E_C, then the muon's map entries
    # (its charged and neutral PFO in a PFlow map) handed back
    corr = np.float32(1 - 3 * GeV / constit[3])
    o = (constit[:2] - pfo[0, :2] - pfo[1, :2]) * corr + pfo[0, :2] + pfo[1, :2]
    if fsr:
        assert res.status.tolist() == [K.JET_MUON_FSR]
        np.testing.assert_allclose(term(met, mk.MUON_ELOSS)[:2], -o, rtol=1e-5)
        assert term(met, mk.MUON_ELOSS)[2] == pytest.approx(np.hypot(*o), rel=1e-5)
        assert not term(met, mk.REF_JET).any()
        # the jet contributes nothing to the soft terms either: they equal the core
        assert not term(met, mk.PV_SOFT_TRK).any() and not term(met, mk.SOFT_CLUS).any()
    else:
        assert res.status.tolist() != [K.JET_MUON_FSR]
        assert not term(met, mk.MUON_ELOSS).any()
    maker.build_met_sum(mk.FINAL_TRK, met, Source.track())
    parts = sum(term(met, t) for t in (mk.MUONS_TERM, mk.MUON_ELOSS, mk.REF_JET, mk.PV_SOFT_TRK))
    np.testing.assert_allclose(term(met, mk.FINAL_TRK), parts, rtol=1e-12)


def test_set_muon_jet_em_scale_needs_the_jet_columns_and_names_them():
    _, conts, m, core = _fsr_jet_block()
    from metflow.edm.containers import Container
    jets = conts["jets"]
    cols = {k: v for k, v in jets.columns.items() if k != "width"}
    no_width = Container(jets.schema, jets.offsets, cols, key=jets.key)
    maker = METMaker(do_pflow=True, do_set_muon_jet_em_scale=True)
    helper, met = new(m)
    maker.rebuild_met(mk.MUONS_TERM, ObjectType.Muon, conts["m"], helper, met)
    with pytest.raises(RebuildError, match=r"DoSetMuonJetEMScale needs column 'width' of 'AntiKt4EMPFlowJets'"):
        maker.rebuild_jet_met(mk.REF_JET, SOFT_BOTH, met, no_width, core, helper, muons=conts["m"])


def _one_jet_block(pt_gev, eta, jvt, detector_eta=None):
    pf = [(p4(pt_gev, eta, 0.3), -1)]
    ev = jet_event(pf, [], [0], jes=1.0, jvt=jvt)
    conts, m, core = E.block([ev])
    n = len(conts["jets"])
    conts["jets"] = conts["jets"].with_columns(
        detector_eta=np.full(n, eta if detector_eta is None else detector_eta, np.float32))
    return conts, m, core


@pytest.mark.parametrize("pt, eta, det_eta, jvt, status", [
    (25, 2.45, 2.45, 0.0, K.JET_REJECTED),  # inside the NNJvt range: the stored decision applies
    (25, 2.45, 2.45, 1.0, K.JET_HARD),      # passes (central for the NNJvt tool: |eta| < 2.5)
    (25, 2.45, 2.55, 0.0, K.JET_HARD),      # |DetectorEta| > 2.5: out of range, accepted
    (65, 2.45, 2.45, 0.0, K.JET_HARD),      # above 60 GeV: out of range, accepted
    (19, 1.00, 1.00, 0.0, K.JET_SOFT),      # below 20 GeV: accepted (and soft: below threshold)
])
def test_nnjvt_decision_applies_inside_the_tool_range(pt, eta, det_eta, jvt, status):
    conts, m, core = _one_jet_block(pt, eta, jvt, det_eta)
    maker = METMaker(do_pflow=True, use_r21_jvt_fallback=False)
    helper, met = new(m)
    res = maker.rebuild_jet_met(mk.REF_JET, SOFT_BOTH, met, conts["jets"], core, helper)
    assert res.status.tolist() == [status]


def test_nnjvt_mode_overwrites_the_eta_max_veto_unless_asked():
    conts, m, core = _one_jet_block(50, 4.7, 0.0)
    for veto, status in ((False, K.JET_HARD), (True, K.JET_REJECTED)):
        maker = METMaker(do_pflow=True, use_r21_jvt_fallback=False, jet_eta_max_veto=veto)
        helper, met = new(m)
        res = maker.rebuild_jet_met(mk.REF_JET, SOFT_BOTH, met, conts["jets"], core, helper)
        assert res.status.tolist() == [status]
    # without JVT the eta veto stands, as in METMaker
    maker = METMaker(do_pflow=True, use_r21_jvt_fallback=False)
    helper, met = new(m)
    res = maker.rebuild_jet_met(mk.REF_JET, SOFT_BOTH, met, conts["jets"], core, helper, do_jvt=False)
    assert res.status.tolist() == [K.JET_REJECTED]


def test_r21_fallback_forces_jet_eta_forw_and_the_pflow_cut():
    maker = METMaker(do_pflow=True)
    assert (maker.jet_eta_forw, maker.jvt_cut) == (2.4, 0.5)
    assert (METMaker(do_pflow=False).jvt_cut, METMaker(use_r21_jvt_fallback=False).jet_eta_forw) == (0.59, 2.5)
    # a 25 GeV jet at |eta| 2.45 is forward for the fallback: below the 30 GeV Tight threshold
    conts, m, core = _one_jet_block(25, 2.45, 1.0)
    helper, met = new(m)
    res = maker.rebuild_jet_met(mk.REF_JET, SOFT_BOTH, met, conts["jets"], core, helper)
    assert res.status.tolist() == [K.JET_SOFT]


@pytest.mark.parametrize("very_greedy", [False, True])
def test_very_greedy_photons_count_an_overlapping_photon_jet_as_hard(very_greedy):
    # a photon taking part of a jet that stays below JetMinWeightedPt after the overlap removal
    pf = [(p4(30, 0.5, 0.0), -1), (p4(6, 0.6, 0.1), -1), (p4(5, 0.4, 0.2), 0)]
    gam = dict(p4=pf[0][0] * 1.02, pfos=[0])
    ev = jet_event(pf, [pf[2][0]], [0, 1, 2], objects={"g": [gam]})
    conts, m, core = E.block([ev])
    maker = METMaker(do_pflow=True, very_greedy_photons=very_greedy)
    helper, met = new(m)
    maker.rebuild_met(mk.REF_GAMMA, ObjectType.Photon, conts["g"], helper, met)
    res = maker.rebuild_jet_met(mk.REF_JET, SOFT_BOTH, met, conts["jets"], core, helper)
    assert not term(met, mk.REF_JET).any()      # |O| < 20 GeV: never added to the jet term
    if very_greedy:   # counted as hard: nothing of the jet goes to the soft terms
        assert res.status.tolist() == [K.JET_HARD]
        assert not term(met, mk.SOFT_CLUS).any() and not term(met, mk.PV_SOFT_TRK).any()
    else:
        assert res.status.tolist() == [K.JET_SOFT]
        assert term(met, mk.SOFT_CLUS).any() and term(met, mk.PV_SOFT_TRK).any()
