"""Validation numbers on small samples (loose, honest tolerances), the report files and the CLI."""

import argparse
import json
import math
import os

import numpy as np
import pytest

from metflow.algorithms.validation import cli, report, reproducibility, stats
from metflow.algorithms.validation.chain import Sample, run_sample
from metflow.edm.units import GeV

FAULTS = (("noisy_cell_rate", 0.05), ("dead_region_rate", 0.05), ("mismeasured_jet_rate", 0.05))


@pytest.fixture(scope="module")
def zmumu():
    return {mu: run_sample(Sample("zmumu", mu, 2500, seed=11)) for mu in (0.0, 60.0)}


def _z(d):
    return report.z_selected(d, "mm")


def test_tst_resolution_grows_with_pileup_more_slowly_than_cst(zmumu):
    def rms(d, prefix):
        sel = _z(d)
        dx = (d[prefix + "_x"] - d["truth_x"])[sel]
        dy = (d[prefix + "_y"] - d["truth_y"])[sel]
        return np.sqrt(np.mean(np.concatenate([dx, dy]) ** 2)) / GeV

    growth = {p: rms(zmumu[60.0], p) ** 2 - rms(zmumu[0.0], p) ** 2 for p in ("tst", "cst", "trk")}
    assert growth["cst"] > 0
    assert growth["tst"] < 0.5 * growth["cst"]
    assert abs(growth["trk"]) < growth["cst"]   # track MET: PV tracks only
    # the fit on both points says the same
    n_pu = np.array([np.mean(zmumu[mu]["n_pv"] - 1) for mu in (0.0, 60.0)])
    fits = {}
    for prefix in ("tst", "cst"):
        sig = np.array([rms(zmumu[mu], prefix) for mu in (0.0, 60.0)])
        fits[prefix] = stats.fit_sqrt_n(n_pu, sig, 0.02 * sig)
    assert fits["tst"].k < fits["cst"].k


def test_mark_invisible_muons_is_the_nominal_met_minus_the_muons(zmumu):
    d = zmumu[60.0]
    sel = _z(d)
    assert sel.mean() > 0.5
    dx = d["inv_x"] - (d["tst_x"] - d["muons_x"])
    dy = d["inv_y"] - (d["tst_y"] - d["muons_y"])
    assert np.max(np.hypot(dx, dy)[sel]) < 0.01 * GeV
    # and it follows the dimuon pT: recoil response between 0.7 and 1.1 above 50 GeV
    ptz = np.hypot(d["mm_px"], d["mm_py"])
    high = sel & (ptz > 50 * GeV)
    ratio = np.mean(np.hypot(d["inv_x"], d["inv_y"])[high] / ptz[high])
    assert 0.7 < ratio < 1.1


@pytest.mark.parametrize("mu", [0.0, 60.0])
def test_significance_p_values_on_z_to_ll_are_uniform(zmumu, mu):
    """Loose calibration check (about 1500 Z candidates per pileup point)."""
    s = zmumu[mu]["significance"][_z(zmumu[mu])]
    _, p = stats.ks_uniform(np.exp(-s / 2))
    assert p > 0.01, f"significance miscalibrated on Z->mumu at mu={mu}: KS p = {p:.3g}, mean S = {s.mean():.2f}"


def test_significance_separates_real_met():
    nunu = run_sample(Sample("znunu", 40.0, 1500, seed=11))
    ll = run_sample(Sample("zmumu", 40.0, 1500, seed=11))
    real = np.hypot(nunu["truth_x"], nunu["truth_y"]) > 60 * GeV
    assert np.median(nunu["significance"][real]) > 2 * np.median(ll["significance"][_z(ll)])


def test_cleaning_removes_the_injected_tails():
    faulty = run_sample(Sample("dijet", 40.0, 4000, seed=11, faults=FAULTS))
    nominal = run_sample(Sample("dijet", 40.0, 4000, seed=11))
    met_f = np.hypot(faulty["tst_x"], faulty["tst_y"])
    met_n = np.hypot(nominal["tst_x"], nominal["tst_y"])
    clean = faulty["is_clean"]
    tail = 80 * GeV
    before, after, reference = np.mean(met_f > tail), np.mean(met_f[clean] > tail), np.mean(met_n > tail)
    assert before > 3 * max(reference, 1e-3)
    assert after < 0.4 * before
    assert after < reference + 0.006
    injected = faulty["injected_faults"] > 0
    assert np.mean(~clean[injected & (met_f > tail)]) > 0.6
    assert np.mean(~nominal["is_clean"]) < 0.02      # false positives on fault-free events


def test_report_writes_markdown_json_and_png_plots(tmp_path):
    out = tmp_path / "rep"
    results = report.run_validation(str(out), events=400, threads=2, seed=5, log=lambda line: None)
    files = sorted(os.listdir(out))
    assert "report.md" in files and "results.json" in files
    from metflow.algorithms.validation.plots import PLOT_FILES
    for name in PLOT_FILES.values():
        data = (out / name).read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 10000, name
    text = (out / "report.md").read_text()
    fits = results["resolution"]["curves"]
    for name in ("TST", "CST"):
        f = fits[name]["fit"]
        assert f"{f['variance_slope']:.3f} ± {f['variance_slope_err']:.3f}" in text
    # every measured number the report prints has a finite, positive error, and those errors are in report.md
    numbers = reproducibility.reported_numbers(json.loads((out / "results.json").read_text()))
    assert len(numbers) > 100
    bad = {k: v for k, v in numbers.items() if not (np.isfinite(v[0]) and np.isfinite(v[1]) and v[1] > 0)}
    assert not bad, bad
    inv = results["invisible"]
    assert f"{inv['corr']:.3f} ± {inv['corr_err']:.3f}" in text
    zee = results["resolution_zee"]["curves"]["TST"]["fit"]
    assert f"| TST | {zee['sigma0']:.2f} ± {zee['sigma0_err']:.2f} |" in text
    assert all(f["chunks"] >= 3 for r in ("resolution", "resolution_zee") for f in
               (c["fit"] for c in results[r]["curves"].values()))     # the jackknife over chunks ran
    assert "criterion: KS p" in text and "![cleaning](met_cleaning_tails.png)" in text
    sig = results["significance"]
    assert sig["selected"]["n"] + 0 < sig["inclusive"]["n"]           # Z-selected and inclusive apart
    assert f"{sig['selected']['chi2']:.1f}/{sig['selected']['ndf']}" in text
    assert set(results["systematics"]["variations"]) >= {"MET_SoftTrk_ScaleUp", "MET_SoftCalo_Reso"}
    up = results["systematics"]["variations"]["MET_SoftCalo_ScaleUp"]["rel_shift"]
    down = results["systematics"]["variations"]["MET_SoftCalo_ScaleDown"]["rel_shift"]
    assert up > 0 > down


def test_cli_refuses_too_few_events(tmp_path, capsys):
    parser = argparse.ArgumentParser()
    cli.add_arguments(parser)
    args = parser.parse_args(["--events", "50", "--output", str(tmp_path / "r")])
    assert cli.run(args) == 2
    assert "--events must be at least 200" in capsys.readouterr().err
    args = parser.parse_args(["--threads", "0"])
    assert cli.run(args) == 2


def test_pulls_between_two_runs():
    a = {"x": (1.0, 0.3), "y": (2.0, 0.0), "only a": (5.0, 1.0)}
    b = {"x": (1.5, 0.4), "y": (2.5, 0.0)}
    rows = {r[0]: r for r in reproducibility.pulls(a, b)}
    assert set(rows) == {"x", "y"}
    assert rows["x"][5] == pytest.approx(0.5 / 0.5)
    assert math.isnan(rows["y"][5])                    # no error: no pull, never a silent 0
    table = reproducibility.pull_table(list(rows.values()))
    assert table.splitlines()[2].startswith("| x |") and "1.00" in table


def test_pull_cli_reads_two_results_files(tmp_path, capsys):
    results = {"x": (1.0, 0.1)}
    import unittest.mock as mock
    paths = []
    for i in range(2):
        path = tmp_path / f"r{i}.json"
        path.write_text("{}")
        paths.append(str(path))
    with mock.patch.object(reproducibility, "reported_numbers", side_effect=[results, {"x": (1.3, 0.1)}]):
        assert reproducibility.main(paths) == 0
    out = capsys.readouterr().out
    assert "| x | 1 ± 0.1 | 1.3 ± 0.1 | 2.12 |" in out and "pulls > 2: 1" in out
