"""METSystematicsTool semantics, deterministic per-event random numbers, the systematics
algorithm's MET copies, and object-scale variations rebuilt from shallow copies."""

from __future__ import annotations


import numpy as np
import pytest

from metflow.edm import keys as mk
from metflow.edm.containers import EVENT_INFO_SCHEMA, TRUTH_MET_SCHEMA, EventRecord
from metflow.edm.met import Source
from metflow.edm.units import GeV
from metflow.framework.errors import ConfigurationError

from metflow.algorithms.met import systematics as S
from metflow.algorithms.met.maker import METMaker, rebuild_event_met
from metflow.algorithms.met.selection import METObjectSelection


import test_maker_events  # noqa: E402

E = test_maker_events  # the shared event builder (a sibling module; tests/met is on sys.path)
TST = Source.soft_event() | Source.track()
CST = Source.soft_event() | Source.cluster_lc()


def _soft(n=200, seed=0):
    rng = np.random.default_rng(seed)
    term = np.stack([rng.normal(0, 10 * GeV, n), rng.normal(0, 10 * GeV, n),
                     rng.uniform(10, 200, n) * GeV], axis=1)
    hx, hy = rng.normal(0, 50 * GeV, n), rng.normal(0, 50 * GeV, n)
    g = S.event_normals(np.full(n, 1), np.arange(n), "x")
    return term, hx, hy, g


def _apply(name, term, source, hx, hy, g):
    out = term.copy()
    S.METSystematicsTool().apply_systematic_variation(name).apply_correction(out, source, hx, hy, g)
    return out


def test_event_normals_are_deterministic_standard_and_block_independent():
    run, evt = np.full(20000, 3), np.arange(20000) * 7 + 11
    g = S.event_normals(run, evt, "MET_SoftTrk_ResoPara")
    np.testing.assert_array_equal(g[100:200], S.event_normals(run[100:200], evt[100:200], "MET_SoftTrk_ResoPara"))
    assert not np.allclose(g, S.event_normals(run, evt, "MET_SoftTrk_ResoPerp"))
    assert abs(g.mean()) < 0.03 and abs(g.std() - 1) < 0.03
    assert abs(np.corrcoef(g[:, 0], g[:, 1])[0, 1]) < 0.03


def test_tst_scale_shifts_along_pthard_and_keeps_sumet():
    term, hx, hy, g = _soft()
    up = _apply("MET_SoftTrk_ScaleUp", term, TST, hx, hy, g)
    down = _apply("MET_SoftTrk_ScaleDown", term, TST, hx, hy, g)
    pth = np.hypot(hx, hy)
    shift = S.TST_SHIFT[0] + S.TST_SHIFT[1] * pth
    np.testing.assert_allclose(up[:, 0] - term[:, 0], shift * hx / pth, atol=1e-6)
    np.testing.assert_allclose(up[:, 1] - term[:, 1], shift * hy / pth, atol=1e-6)
    np.testing.assert_allclose(down[:, :2] - term[:, :2], -(up[:, :2] - term[:, :2]), atol=1e-6)
    np.testing.assert_array_equal(up[:, 2], term[:, 2])


def test_tst_resolution_para_perp_directions():
    term, hx, hy, g = _soft()
    pth = np.hypot(hx, hy)
    u = np.stack([hx / pth, hy / pth], axis=1)
    shift = (S.TST_SHIFT[0] + S.TST_SHIFT[1] * pth)[:, None] * u
    para = _apply("MET_SoftTrk_ResoPara", term, TST, hx, hy, g)[:, :2] - term[:, :2] - shift
    perp = _apply("MET_SoftTrk_ResoPerp", term, TST, hx, hy, g)[:, :2] - term[:, :2] - shift
    cross = lambda a: a[:, 0] * u[:, 1] - a[:, 1] * u[:, 0]  # noqa: E731
    np.testing.assert_allclose(cross(para), 0, atol=1e-6)
    np.testing.assert_allclose(np.sum(perp * u, axis=1), 0, atol=1e-6)
    np.testing.assert_allclose(np.abs(np.sum(para * u, axis=1)),
                               (S.TST_RESO_PARA[0] + S.TST_RESO_PARA[1] * pth) * np.abs(g[:, 0]), rtol=1e-9)
    np.testing.assert_allclose(np.abs(cross(perp)),
                               (S.TST_RESO_PERP[0] + S.TST_RESO_PERP[1] * pth) * np.abs(g[:, 1]), rtol=1e-9)


def test_projection_is_an_involution_with_zero_shift_and_smear(monkeypatch):
    monkeypatch.setattr(S, "TST_SHIFT", (0.0, 0.0))
    monkeypatch.setattr(S, "TST_RESO_PARA", (0.0, 0.0))
    term, hx, hy, g = _soft()
    for name in ("MET_SoftTrk_ScaleUp", "MET_SoftTrk_ResoPara"):
        np.testing.assert_allclose(_apply(name, term, TST, hx, hy, g), term, atol=1e-6)


def test_cst_variations_and_irrelevant_ones():
    term, hx, hy, g = _soft()
    up = _apply("MET_SoftCalo_ScaleUp", term, CST, hx, hy, g)
    np.testing.assert_allclose(up[:, :2], term[:, :2] * (1 + S.CST_SCALE))
    reso = _apply("MET_SoftCalo_Reso", term, CST, hx, hy, g)
    np.testing.assert_array_equal(reso[:, 2], term[:, 2])
    np.testing.assert_allclose(np.arctan2(reso[:, 1], reso[:, 0]) % np.pi,
                               np.arctan2(term[:, 1], term[:, 0]) % np.pi, atol=1e-9)
    np.testing.assert_array_equal(_apply("MET_SoftCalo_ScaleUp", term, TST, hx, hy, g), term)
    np.testing.assert_array_equal(_apply("MET_SoftTrk_ScaleUp", term, CST, hx, hy, g), term)
    np.testing.assert_array_equal(_apply("", term, TST, hx, hy, g), term)


def test_tool_errors():
    tool = S.METSystematicsTool()
    with pytest.raises(S.SystematicsError, match="did you mean 'MET_SoftTrk_ScaleUp'"):
        tool.apply_systematic_variation("MET_SoftTrk_ScaleUP")
    with pytest.raises(S.SystematicsError, match="only one"):
        tool.apply_systematic_variation(["MET_SoftTrk_ScaleUp", "MET_SoftTrk_ResoPara"])
    term, hx, hy, g = _soft(5)
    tool.apply_systematic_variation("MET_SoftTrk_ScaleUp")
    with pytest.raises(S.SystematicsError, match="simulation only"):
        tool.apply_correction(term, TST, hx, hy, g, is_data=True)
    with pytest.raises(S.SystematicsError, match="needs a soft term"):
        tool.apply_correction(term, Source.jet(), hx, hy, g)


def test_pt_hard_uses_truth_and_hard_terms_only():
    one = np.ones(3)
    terms = [(Source.electron(), -10 * one, 0 * one, 10 * one), (TST, 99 * one, 99 * one, 99 * one),
             (Source.total(), 5 * one, 5 * one, 5 * one), (Source.jet(), 0 * one, -20 * one, 20 * one)]
    x, y = S.pt_hard(terms, 3 * one, 4 * one, 5 * one)
    np.testing.assert_allclose(x, 13)
    np.testing.assert_allclose(y, 24)
    x, y = S.pt_hard(terms, one, one, -100 * one)   # negative sumet: zero vector (then tiny)
    np.testing.assert_allclose(np.hypot(x, y), 1e-6)


def _rebuilt(seed=4, n=30, scale_e=1.0):
    rng = np.random.default_rng(seed)
    conts, m, core = E.block([E.random_event(rng) for _ in range(n)])
    maker = METMaker(do_pflow=True)
    objs = {"electrons": conts["e"], "photons": conts["g"], "taus": conts["t"], "muons": conts["m"]}
    if scale_e != 1.0:
        sel = METObjectSelection(objects=mk.ELECTRONS, selected="ScaledElectrons", min_pt=0.0,
                                 max_abs_eta=1e9, scale=scale_e)
        objs["electrons"] = sel.compute(conts["e"])
    met, _ = rebuild_event_met(maker, m, core, conts["jets"], objs)
    return met.to_container(key=mk.met_key("AntiKt4EMPFlow"))


def _records(n):
    info = EventRecord(EVENT_INFO_SCHEMA, dict(run_number=np.full(n, 1), event_number=np.arange(n),
                                               mu=np.full(n, 40.0), weight=np.ones(n)))
    truth = EventRecord(TRUTH_MET_SCHEMA, dict(nonint_mpx=np.zeros(n), nonint_mpy=np.zeros(n),
                                               nonint_sumet=np.zeros(n)))
    return info, truth


def test_vary_met_recomputes_totals_and_alg_writes_one_met_per_variation():
    met = _rebuilt()
    info, truth = _records(met.n_events)
    alg = S.METSystematicsAlg(variations=("MET_SoftTrk_ResoPerp", "MET_SoftCalo_ScaleDown"),
                              varied=[mk.met_syst_key("X", "a"), mk.met_syst_key("X", "b")])
    alg.initialize()
    trk, calo = alg.compute(met, truth, info)["varied"]
    assert trk.key == "MET_X_a" and trk.names == met.names
    d_soft = trk[mk.PV_SOFT_TRK].mpx.astype(np.float64) - met[mk.PV_SOFT_TRK].mpx
    d_total = trk[mk.FINAL_TRK].mpx.astype(np.float64) - met[mk.FINAL_TRK].mpx
    assert np.abs(d_soft).max() > 0
    np.testing.assert_allclose(d_total, d_soft, atol=0.05)
    np.testing.assert_allclose(trk[mk.FINAL_CLUS].mpx, met[mk.FINAL_CLUS].mpx, atol=0.05)
    np.testing.assert_allclose(calo[mk.SOFT_CLUS].mpx, met[mk.SOFT_CLUS].mpx * (1 - S.CST_SCALE), rtol=1e-5,
                               atol=0.05)
    bad = S.METSystematicsAlg(variations=("MET_SoftTrk_ResoPerp",), varied=[])
    with pytest.raises(ConfigurationError, match="1 variations but 0 output keys"):
        bad.initialize()


def test_object_scale_variation_from_shallow_copy_rebuilds_without_reco():
    nominal = _rebuilt()
    varied = _rebuilt(scale_e=1.01)
    np.testing.assert_allclose(varied[mk.REF_ELE].mpx, nominal[mk.REF_ELE].mpx * 1.01, rtol=1e-5, atol=0.05)
    np.testing.assert_array_equal(varied[mk.SOFT_CLUS].mpx, nominal[mk.SOFT_CLUS].mpx)
    assert not np.array_equal(varied[mk.FINAL_TRK].mpx, nominal[mk.FINAL_TRK].mpx)


# ---------------------------------------------------------------------------------------------
# jet-track scale of track MET (MET_JetTrk_ScaleUp/Down)

def test_jet_track_relative_uncertainty_table_lookup_clamps():
    r = S.jet_track_relative_uncertainty
    np.testing.assert_allclose(r(np.array([10 * GeV, 30 * GeV]), np.array([0.5, 0.5])),
                               S.JET_TRK_REL_UNCERTAINTY[0, 0])          # underflow -> first bin
    assert r(np.array([5000 * GeV]), np.array([2.3]))[0] == S.JET_TRK_REL_UNCERTAINTY[-1, -1]
    assert r(np.array([150 * GeV]), np.array([1.2]))[0] == S.JET_TRK_REL_UNCERTAINTY[2, 1]


def _track_met(seed=5, n=40):
    rng = np.random.default_rng(seed)
    conts, m, core = E.block([E.random_event(rng, max_jets=8) for _ in range(n)])
    objs = {"electrons": conts["e"], "photons": conts["g"], "taus": conts["t"], "muons": conts["m"]}
    met, result = rebuild_event_met(METMaker(do_pflow=True, jet_selection="Loose"), m, core,
                                    conts["jets"], objs, soft_terms="track", track_met=True)
    return met, result, m, conts["jets"]


def test_jet_track_scale_follows_the_reference_formula():
    met, result, m, jets = _track_met()
    assert Source.is_track_term(met.source(mk.REF_JET)) and Source.is_jet_term(met.source(mk.REF_JET))
    hard = result.hard
    assert hard.sum() > 5
    # U by hand: hard jets with |eta| <= 2.5, the jettrk sumpt of their association
    want = np.zeros(m.n_events)
    ev = jets.event_of_object()
    for i in np.flatnonzero(hard):
        a = m.assoc_offsets[ev[i]] + jets.local_index()[i]
        eta = abs(float(jets.eta()[i]))
        if eta <= 2.5:
            u = float(m.jettrk_sumpt[a]) * S.jet_track_relative_uncertainty(
                np.array([float(jets.pt()[i])]), np.array([eta]))[0]
            want[ev[i]] += u * u
    want = np.sqrt(want)
    u = S.jet_track_uncertainty(m, jets, hard)
    np.testing.assert_allclose(u, want, rtol=1e-9)
    assert (u > 0).sum() > 5
    nominal = met.to_container()
    up = S.vary_jet_track_met(met, m, "MET_JetTrk_ScaleUp")
    down = S.vary_jet_track_met(met, m, "MET_JetTrk_ScaleDown")
    jet = met.term(mk.REF_JET)
    for c, col in ((0, "mpx"), (1, "mpy")):
        delta = np.sign(jet[:, c]) * u / np.sqrt(2)
        np.testing.assert_allclose(getattr(up[mk.REF_JET], col), jet[:, c] + delta, rtol=1e-6, atol=0.05)
        np.testing.assert_allclose(getattr(down[mk.REF_JET], col), jet[:, c] - delta, rtol=1e-6, atol=0.05)
        np.testing.assert_allclose(getattr(up[mk.FINAL_TRK], col),
                                   getattr(nominal[mk.FINAL_TRK], col) + delta, rtol=1e-6, atol=0.05)
    np.testing.assert_allclose(up[mk.REF_JET].sumet, jet[:, 2] + u, rtol=1e-6, atol=0.05)
    np.testing.assert_array_equal(up[mk.PV_SOFT_TRK].mpx, nominal[mk.PV_SOFT_TRK].mpx)


def test_jet_track_scale_leaves_calo_jet_terms_and_zero_components_alone():
    tool = S.METSystematicsTool().apply_systematic_variation("MET_JetTrk_ScaleUp")
    term = np.array([[0.0, -10 * GeV, 50 * GeV], [3 * GeV, 4 * GeV, 5 * GeV]])
    u = np.array([2 * GeV, 0.0])
    calo = term.copy()
    tool.apply_jet_track_correction(calo, Source.jet(), u)
    np.testing.assert_array_equal(calo, term)
    trk = term.copy()
    tool.apply_jet_track_correction(trk, Source.jet() | Source.track(), u)
    assert trk[0, 0] == 0.0 and trk[0, 1] == pytest.approx(-10 * GeV - 2 * GeV / np.sqrt(2))
    np.testing.assert_array_equal(trk[1], term[1])
    soft_tool = S.METSystematicsTool().apply_systematic_variation("MET_SoftTrk_ScaleUp")
    untouched = term.copy()
    soft_tool.apply_jet_track_correction(untouched, Source.jet() | Source.track(), u)
    np.testing.assert_array_equal(untouched, term)
    with pytest.raises(S.SystematicsError, match="needs a jet term"):
        tool.apply_jet_track_correction(term.copy(), TST, u)
    with pytest.raises(S.SystematicsError, match="simulation only"):
        tool.apply_jet_track_correction(term.copy(), Source.jet() | Source.track(), u, is_data=True)


def test_jet_track_configuration_errors():
    from metflow.algorithms.met.maker import METMakerAlg
    met, _, m, _ = _track_met(n=3)
    with pytest.raises(S.SystematicsError, match="not a jet-track variation"):
        S.vary_jet_track_met(met, m, "MET_SoftTrk_ScaleUp")
    alg = S.METSystematicsAlg(variations=("MET_JetTrk_ScaleUp",), varied=["MET_X_up"])
    with pytest.raises(ConfigurationError, match="not a soft-term variation"):
        alg.initialize()
    for options, match in (
            (dict(jet_track_variations=("MET_JetTrk_ScaleUp",), jet_track_varied=["k"]), "track_met=True"),
            (dict(track_met=True), "soft_terms='track'"),
            (dict(track_met=True, soft_terms="track", jet_track_variations=("MET_JetTrk_Up",),
                  jet_track_varied=["k"]), "unknown jet-track variations"),
            (dict(track_met=True, soft_terms="track", jet_track_variations=("MET_JetTrk_ScaleUp",)),
             "1 jet-track variations but 0")):
        with pytest.raises(ConfigurationError, match=match):
            METMakerAlg(**options).initialize()
