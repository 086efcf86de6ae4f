"""jobs/physlite_met.py on the two example PHYSLITE files: METMaker from the stored map and core,
the default selection, FinalTrk vs truth (Run-3 ttbar), the Z->ee balance (Run-2 Z->ee),
determinism across threads, the comparison table, and refusal of non-PHYSLITE input."""

from __future__ import annotations

import numpy as np
import pytest

from metflow.algorithms.physlite.analysis import (
    CRACK_ETA, DEFAULT_SELECTION, ZEE_MASS_WINDOW, PhysliteObjectSelection, recoil_components,
    slope_and_correlation, zee_candidates,
)
from metflow.edm import keys as K
from metflow.edm.containers import ELECTRON_SCHEMA, ORIGINAL_INDEX, container_from_events
from metflow.edm.met import Source
from metflow.edm.persistence import read_parquet
from metflow.edm.units import GeV
from metflow.framework.runner import RunOptions, configure_job, run_job

MET_KEY = "MET_AnalysisMET"
TERMS = (K.REF_ELE, K.REF_GAMMA, K.REF_TAU, K.MUONS_TERM, K.MUON_ELOSS, K.REF_JET, K.PV_SOFT_TRK,
         K.FINAL_TRK)


def run(inputs, output=None, sets=(), **options):
    """Run the job through the runner; returns (RunResult, comparison sink)."""
    job, _ = configure_job("physlite_met", sets=list(sets), inputs=[str(p) for p in inputs],
                           output=None if output is None else str(output))
    result = run_job(job, RunOptions(quiet=True, progress=False, **options))
    return result, job.sinks[0]


@pytest.fixture(scope="module")
def both(run2_path, run3_path, tmp_path_factory):
    """One run over both files (serial, default block size) with the MET written out."""
    out = tmp_path_factory.mktemp("physlite_met") / "met.parquet"
    result, sink = run([run2_path, run3_path], out)
    by_name = {r.path: r for r in sink.results()}
    return result, sink, by_name[str(run2_path)], by_name[str(run3_path)], out


def test_finaltrk_follows_truth_met_on_run3_ttbar(both):
    _, _, _, ttbar, _ = both
    assert ttbar.n_events == 100
    assert ttbar.truth_rms > 10 * GeV          # real neutrinos in ttbar
    assert ttbar.correlation > 0.5
    assert 0.7 < ttbar.slope < 1.3
    assert abs(ttbar.dx_mean) < ttbar.dx_rms and abs(ttbar.dy_mean) < ttbar.dy_rms


def test_met_small_compared_with_z_pt_on_run2_zee(both):
    _, _, zee, ttbar, _ = both
    assert zee.n_zee >= 5
    assert ZEE_MASS_WINDOW[0] < zee.mean_z_mass < ZEE_MASS_WINDOW[1]
    assert zee.mean_met_zee < zee.mean_z_pt
    # the hadronic recoil balances the Z: u_par points against pT(ee)
    assert zee.mean_u_par < 0
    assert zee.truth_rms < 1 * GeV            # no invisible particles in Z->ee
    assert ttbar.n_zee == 0 or ttbar.n_zee < zee.n_zee


def test_sizes_compare_with_atlas_branches(both):
    from metflow.algorithms.physlite import atlas_met_bytes, metflow_met_bytes
    _, _, zee, ttbar, _ = both
    for r in (zee, ttbar):
        assert r.atlas_bytes == pytest.approx(atlas_met_bytes(r.path).bytes_per_event)
        assert r.metflow_bytes == pytest.approx(metflow_met_bytes(r.path).bytes_per_event, rel=0.02)
    assert zee.metflow_bytes < zee.atlas_bytes


def test_terms_named_and_finaltrk_is_their_sum(both):
    _, _, _, _, out = both
    data = read_parquet(out)
    met = data[MET_KEY]
    assert met.names == TERMS
    assert met.n_events == 200 and data[K.TRUTH_MET].n_events == 200
    parts = [met.names.index(t) for t in TERMS[:-1]]
    final = met.names.index(K.FINAL_TRK)
    for comp in ("mpx", "mpy", "sumet"):
        values = getattr(met, comp).astype(np.float64)
        np.testing.assert_allclose(values[:, final], values[:, parts].sum(axis=1),
                                   rtol=1e-5, atol=1e-2, err_msg=comp)
    assert Source.is_total_term(int(met.sources[final]))
    assert Source.is_track_term(int(met.sources[met.names.index(K.PV_SOFT_TRK)]))
    # both files contribute objects to their terms
    assert np.any(met.mpx[:100, met.names.index(K.REF_ELE)] != 0)
    assert np.any(met.mpx[100:, met.names.index(K.MUONS_TERM)] != 0)


def test_threads_bit_identical(both, run2_path, run3_path, tmp_path):
    serial_result, serial_sink, *_, serial_out = both
    out = tmp_path / "par.parquet"
    result, sink = run([run2_path, run3_path], out, threads=2, slots=3, batch_size=7)
    assert result.events == serial_result.events == 200 and not result.failed
    a, b = read_parquet(serial_out)[MET_KEY], read_parquet(out)[MET_KEY]
    assert a.names == b.names
    for comp in ("mpx", "mpy", "sumet"):
        np.testing.assert_array_equal(getattr(a, comp), getattr(b, comp), err_msg=comp)
    assert sink.summary() == serial_sink.summary()


def test_cli_prints_the_table(run2_path, run3_path, capsys):
    from metflow.cli import main
    rc = main(["run", "physlite_met", "--input", str(run2_path), str(run3_path),
               "--set", "physlite.sizes=False"])
    text = capsys.readouterr().out
    assert rc == 0
    assert "PHYSLITE MET comparison" in text
    assert run2_path.name in text and run3_path.name in text
    for row in ("FinalTrk-truth x: mean / RMS [GeV]", "correlation reco vs truth", "Z->ee candidates",
                "mean pT(ee) [GeV]"):
        assert row in text
    assert "B/event" not in text                 # sizes switched off


@pytest.mark.parametrize("which", ["run2", "run3"])
def test_cli_runs_on_either_file(which, run2_path, run3_path, capsys):
    from metflow.cli import main
    path = run2_path if which == "run2" else run3_path
    rc = main(["run", "physlite_met", "--input", str(path), "-n", "20", "--threads", "2"])
    text = capsys.readouterr().out
    assert rc == 0
    assert path.name in text and "map+core ATLAS branches [B/event]" in text
    assert "note:" in text                      # ATLAS bytes over all 100 events, ours over 20


def test_selected_objects_pass_the_default_cuts(run2_path):
    from metflow.algorithms.physlite import PhysliteSource
    source = PhysliteSource(run2_path)
    block = source.read(0, source.n_events())
    cuts = DEFAULT_SELECTION["electrons"]
    electrons = block["AnalysisElectrons"]
    alg = PhysliteObjectSelection(name="sel", objects="AnalysisElectrons", selected="METSelEl",
                                  min_pt=cuts.min_pt, max_abs_eta=cuts.max_abs_eta,
                                  id_level=cuts.id_level, require_isolated=cuts.isolated,
                                  crack_veto=True)
    selected = alg.compute(electrons)
    assert 0 < len(selected) < len(electrons)
    eta = np.abs(selected.eta())
    assert np.all(selected.pt() > cuts.min_pt) and np.all(eta < cuts.max_abs_eta)
    assert not np.any((eta > CRACK_ETA[0]) & (eta < CRACK_ETA[1]))
    assert np.all((selected["id"] >> 1) & 1) and np.all(selected["isolated"])
    # original_index points into the PHYSLITE container, as METMaker needs
    root = electrons.offsets[selected.event_of_object()] + selected[ORIGINAL_INDEX]
    np.testing.assert_array_equal(electrons["px"][root], selected["px"])
    no_veto = PhysliteObjectSelection(name="sel2", objects="AnalysisElectrons", selected="X",
                                      min_pt=cuts.min_pt, max_abs_eta=cuts.max_abs_eta,
                                      id_level=cuts.id_level, require_isolated=cuts.isolated)
    assert len(no_veto.compute(electrons)) >= len(selected)


def _electrons(events):
    """Electrons from per-event lists of (px, py, pz, charge), massless."""
    rows = []
    for event in events:
        px, py, pz, q = (list(v) for v in zip(*event)) if event else ([], [], [], [])
        e = [float(np.sqrt(a * a + b * b + c * c)) for a, b, c in zip(px, py, pz)]
        n = len(px)
        rows.append(dict(px=px, py=py, pz=pz, e=e, charge=q, clusters=[[]] * n, tracks=[[]] * n,
                         pfos=[[]] * n, id=[7] * n, isolated=[True] * n))
    return container_from_events(ELECTRON_SCHEMA, rows, key="Electrons")


def test_zee_candidates_pick_leading_opposite_charge_pair_in_window():
    g = GeV
    electrons = _electrons([
        [(45 * g, 0, 0, -1), (-45 * g, 0, 0, 1)],                        # m = 90: a Z
        [(45 * g, 0, 0, 1), (-45 * g, 0, 0, 1)],                          # same charge
        [(10 * g, 0, 0, -1), (-10 * g, 0, 0, 1)],                         # below 25 GeV
        [(100 * g, 0, 0, -1), (-100 * g, 0, 0, 1)],                       # m = 200: outside
        [(30 * g, 5 * g, 0, 1), (50 * g, 0, 0, -1), (-40 * g, 0, 0, 1)],  # leading two: 50, 40
        [],
    ])
    z = zee_candidates(electrons)
    np.testing.assert_array_equal(z.found, [True, False, False, False, True, False])
    assert z.mass[0] == pytest.approx(90 * g)
    assert z.mass[4] == pytest.approx(np.sqrt(8000) * g) and z.px[4] == pytest.approx(10 * g)
    assert z.px[1] == 0 and z.py[1] == 0


def test_recoil_and_fit_helpers():
    # Z along +x with 50 GeV, MET 10 GeV along +y: u = (-50, -10) -> u_par -50, u_perp -10
    u_par, u_perp = recoil_components([0.0], [10.0], [50.0], [0.0])
    assert u_par[0] == pytest.approx(-50.0) and u_perp[0] == pytest.approx(-10.0)
    truth = np.linspace(-100, 100, 41)
    slope, corr = slope_and_correlation(2 * truth + 3, truth)
    assert slope == pytest.approx(2.0) and corr == pytest.approx(1.0)
    assert np.isnan(slope_and_correlation(truth, np.zeros_like(truth))[0])


def test_non_root_input_is_refused_naming_the_file(tmp_path, capsys):
    from metflow.cli import main
    bad = tmp_path / "not_physlite.root"
    bad.write_text("this is not a ROOT file\n")
    rc = main(["run", "physlite_met", "--input", str(bad)])
    assert rc != 0
    assert str(bad) in capsys.readouterr().err


def test_root_file_without_physlite_is_refused_naming_the_file(tmp_path, capsys):
    uproot = pytest.importorskip("uproot")
    bad = tmp_path / "plain_tree.root"
    with uproot.recreate(bad) as f:
        f["events"] = {"x": np.arange(5, dtype=np.float64)}
    from metflow.cli import main
    rc = main(["run", "physlite_met", "--input", str(bad)])
    assert rc != 0
    assert str(bad) in capsys.readouterr().err


def test_missing_input_and_bad_flags_are_configuration_errors(tmp_path, run3_path, capsys):
    from metflow.cli import main
    missing = tmp_path / "absent.root"
    assert main(["run", "physlite_met", "--input", str(missing)]) == 2
    assert str(missing) in capsys.readouterr().err
    assert main(["run", "physlite_met"]) == 2
    assert "--input" in capsys.readouterr().err
    assert main(["run", "physlite_met", "--input", str(run3_path),
                 "--set", "met.muons.isolated=True"]) == 2
    assert "isolation" in capsys.readouterr().err
