"""The TST significance's chi2 map and the cause of the spike it fixes, independent validation
samples, and `metflow validate --input` on PHYSLITE and metflow Parquet (skipped without the
shared PHYSLITE files)."""

import argparse
import os

import numpy as np
import pytest

from metflow.algorithms.met.significance import (TST_CHI2_MAP, TST_MODEL, METSignificance,
                                                 chi2_calibrate, chi2_uncalibrate,
                                                 significance_for_model, soft_term_reso_for_model)
from metflow.algorithms.validation import cli, report
from metflow.edm.units import GeV

PHYSLITE = "/work/shared/data/physlite"
TTBAR = os.path.join(PHYSLITE, "PHYSLITE_Run3_ttbar_rntuple.root")
ZEE = os.path.join(PHYSLITE, "PHYSLITE_Run2_Zee_example.root")
needs_physlite = pytest.mark.skipif(not (os.path.exists(TTBAR) and os.path.exists(ZEE)),
                                    reason="shared PHYSLITE example files not present")


def test_chi2_map_is_monotone_and_inverts():
    knots, targets = (np.asarray(a) for a in TST_CHI2_MAP)
    assert len(knots) > 100 and np.all(np.diff(knots) > 0) and np.all(np.diff(targets) > 0)
    s = np.concatenate([np.linspace(0, 60, 601), [200.0]])
    cal = chi2_calibrate(s)
    assert np.all(np.diff(cal) >= 0)
    np.testing.assert_allclose(chi2_uncalibrate(cal), s, rtol=1e-9, atol=1e-9)
    assert cal[-1] - cal[-2] == pytest.approx(200.0 - 60.0)           # offset beyond the last knot
    # the map's arrays, made once for TST_CHI2_MAP, equal those made from an equal table
    copy = (tuple(TST_CHI2_MAP[0]), tuple(TST_CHI2_MAP[1]))
    assert copy is not TST_CHI2_MAP and chi2_calibrate(s, copy).tobytes() == cal.tobytes()
    assert chi2_uncalibrate(cal, copy).tobytes() == chi2_uncalibrate(cal).tobytes()


def test_spike_cause_empty_soft_term_gives_one_s_value():
    """No soft track and no jet: MET = -pthard exactly; the Gaussian TST model (bias -beta*u,
    variance (k*u)^2 along pthard) then gives S = ((1 - beta)/k)^2 whatever pthard (< cap):
    the spike at p = exp(-S/2) = 0.70 before the chi2 map."""
    sig = METSignificance(track_soft_term=True)
    m = TST_MODEL
    pthard = np.array([3.0, 8.0, 15.0, 25.0]) * GeV
    u = np.minimum(pthard, m.recoil_cap * GeV)
    var_along = (m.recoil_k * u) ** 2 + 1e-6           # leptons negligible
    rec = sig.significance(-pthard, np.zeros(4), var_along, np.full(4, 1e-6), np.zeros(4),
                           -m.recoil_bias * u, 0.0)
    expected = ((1 - m.recoil_bias) / m.recoil_k) ** 2
    np.testing.assert_allclose(rec["s"], expected, rtol=1e-4)
    assert np.exp(-expected / 2) == pytest.approx(0.70, abs=0.01)


def test_resolution_models_and_flag_values():
    assert soft_term_reso_for_model("synthetic") == 0.0
    assert soft_term_reso_for_model("atlas-random") == pytest.approx(8.5 * GeV)
    assert significance_for_model("synthetic").chi2_mapped
    assert not significance_for_model("atlas-random").chi2_mapped
    with pytest.raises(ValueError, match="unknown significance resolution model"):
        soft_term_reso_for_model("atlas")


def test_validation_samples_have_their_own_hard_scatters():
    samples = report.default_samples(200, seed=3)
    seeds = [s.seed for s in samples.values() if not s.faults]
    assert len(set(seeds)) == len(seeds)
    faulted = next(s for s in samples.values() if s.faults)
    assert faulted.seed == samples["dijet_mu40"].seed                 # same events plus faults
    assert {s.seed for s in report.default_samples(200, seed=4).values()}.isdisjoint(seeds)


def _parse(argv):
    parser = argparse.ArgumentParser()
    cli.add_arguments(parser)
    return parser.parse_args(argv)


def test_cli_input_refuses_missing_files(tmp_path, capsys):
    assert cli.run(_parse(["--input", str(tmp_path / "none.root"), "--output", str(tmp_path / "r")])) == 2
    assert "does not exist" in capsys.readouterr().err


@needs_physlite
def test_validate_input_physlite_ttbar(tmp_path, capsys):
    out = tmp_path / "tt"
    assert cli.run(_parse(["--input", TTBAR, "--output", str(out)])) == 0
    text = (out / "report.md").read_text()
    assert "atlas-random" in text and "truth (NonInt) MET" in text
    assert (out / "input_summary.png").read_bytes()[:4] == b"\x89PNG"
    import json
    res = json.loads((out / "results.json").read_text())
    assert res["n_events"] == 100 and res["model"] == "atlas-random"
    assert 0.8 < res["truth"]["response"]["mean"] < 1.2 and res["truth"]["resolution_rms"] < 60


@needs_physlite
def test_validate_input_metflow_parquet(tmp_path):
    from metflow.cli import main

    parquet = tmp_path / "zee.parquet"
    assert main(["import-physlite", ZEE, "--naming", "metflow", "--output", str(parquet)]) == 0
    out = tmp_path / "pq"
    assert cli.run(_parse(["--input", str(parquet), "--output", str(out),
                           "--significance-model", "atlas-random"])) == 0
    text = (out / "report.md").read_text()
    assert "Z candidates" in text and "recoil: mean pT(ll)" in text and "atlas-random" in text
