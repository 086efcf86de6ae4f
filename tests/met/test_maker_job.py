"""jobs/met_rebuild.py through the runner: chained reco vs. reco output, thread safety
(--threads 2 --slots 4 bit-identical to serial), systematics and significance outputs, errors."""

from __future__ import annotations

import numpy as np
import pytest

from metflow.edm import keys as K
from metflow.edm.containers import EVENT_INFO_SCHEMA, TRUTH_MET_SCHEMA, EventRecord
from metflow.edm.persistence import read_parquet, write_parquet
from metflow.edm.units import GeV
from metflow.framework.errors import ConfigurationError
from metflow.framework.runner import RunOptions, configure_job, run_job

from test_reco_support import make_block, random_event

N_EVENTS = 37
SYST = ["MET_SoftTrk_ResoPara", "MET_SoftTrk_ScaleUp", "MET_SoftCalo_Reso", "JET_JES__1up",
        "EG_SCALE__1down"]


@pytest.fixture(scope="module")
def raw_input(tmp_path_factory):
    rng = np.random.default_rng(21)
    block = make_block([random_event(rng, with_pv=(i % 9 != 4)) for i in range(N_EVENTS)])
    block[K.EVENT_INFO] = EventRecord(EVENT_INFO_SCHEMA, dict(
        run_number=np.full(N_EVENTS, 7), event_number=np.arange(N_EVENTS) + 100,
        mu=np.full(N_EVENTS, 40.0), weight=np.ones(N_EVENTS)))
    block[K.TRUTH_MET] = EventRecord(TRUTH_MET_SCHEMA, dict(
        nonint_mpx=rng.normal(0, 5 * GeV, N_EVENTS), nonint_mpy=rng.normal(0, 5 * GeV, N_EVENTS),
        nonint_sumet=np.full(N_EVENTS, 10 * GeV)))
    path = tmp_path_factory.mktemp("rebuild") / "raw.parquet"
    write_parquet(path, block)
    return str(path)


def run(job, inputs, output, sets=(), **options):
    job, _ = configure_job(job, sets=list(sets), inputs=list(inputs), output=str(output))
    return run_job(job, RunOptions(quiet=True, progress=False, **options))


def _sets(extra=()):
    return [f"met.systematics={SYST!r}", "met.jet_selection='Loose'", *extra]


def test_threads_and_slots_are_bit_identical_to_serial(raw_input, tmp_path):
    serial = run("met_rebuild", [raw_input], tmp_path / "serial.parquet", _sets(), batch_size=8)
    assert serial.events == N_EVENTS and not serial.failed
    par = run("met_rebuild", [raw_input], tmp_path / "par.parquet", _sets(), threads=2, slots=4,
              batch_size=3)
    assert not par.failed
    a, b = read_parquet(tmp_path / "serial.parquet"), read_parquet(tmp_path / "par.parquet")
    assert set(a) == set(b)
    met_keys = [k for k in a if k.startswith("MET_")]
    assert K.met_key("AntiKt4EMPFlow") in met_keys and len(met_keys) == 1 + len(SYST)
    for key in met_keys:
        assert a[key].names == b[key].names
        for col in ("mpx", "mpy", "sumet"):
            np.testing.assert_array_equal(getattr(a[key], col), getattr(b[key], col), err_msg=key)
    sig = [k for k in a if "Significance" in k]
    assert sig
    np.testing.assert_array_equal(a[sig[0]]["s"], b[sig[0]]["s"])
    summary = "\n".join(serial.sink_summaries)
    assert "FinalTrk" in summary and "mean significance" in summary and "JET_JES__1up" in summary


def _compare_outputs(a: dict, b: dict, n_met: int) -> None:
    assert set(a) == set(b)
    met_keys = [k for k in a if k.startswith("MET_")]
    assert len(met_keys) == n_met
    for key in met_keys:
        assert a[key].names == b[key].names
        for col in ("mpx", "mpy", "sumet"):
            np.testing.assert_array_equal(getattr(a[key], col), getattr(b[key], col), err_msg=key)
    for key in (k for k in a if "Significance" in k):
        for col in ("s", "sqrt_s", "var_l", "var_t", "rho"):
            np.testing.assert_array_equal(a[key][col], b[key][col], err_msg=f"{key}.{col}")


def test_threads_and_slots_bit_identical_on_the_synthetic_default_input(tmp_path):
    """No --input: the embedded synthetic source (mix, mu = 40) with the reconstruction chained."""
    sets = ["met.systematics=['MET_SoftTrk_ResoPerp', 'MET_JetTrk_ScaleUp', 'JET_JES__1down']"]
    n = 48

    def run_synthetic(name, **options):
        job, _ = configure_job("met_rebuild", sets=sets, output=str(tmp_path / name), events=n)
        return run_job(job, RunOptions(quiet=True, progress=False, **options))

    serial = run_synthetic("serial.parquet", batch_size=16)
    par = run_synthetic("par.parquet", threads=2, slots=4, batch_size=5)
    assert serial.events == par.events == n and not serial.failed and not par.failed
    a, b = read_parquet(tmp_path / "serial.parquet"), read_parquet(tmp_path / "par.parquet")
    _compare_outputs(a, b, n_met=5)   # nominal, track MET, and one per variation
    met = a[K.met_key("AntiKt4EMPFlow")]
    assert np.abs(met[K.FINAL_TRK].mpx).max() > 10 * GeV   # real events, not empty terms
    track = a[K.met_key("AntiKt4EMPFlowTrack")]
    assert track.names == (K.REF_ELE, K.REF_GAMMA, K.REF_TAU, K.MUONS_TERM, K.REF_JET,
                           K.PV_SOFT_TRK, K.FINAL_TRK)
    up = a[K.met_syst_key("AntiKt4EMPFlowTrack", "MET_JetTrk_ScaleUp")]
    shift = up[K.REF_JET].sumet.astype(np.float64) - track[K.REF_JET].sumet
    assert (shift >= 0).all() and shift.max() > 0
    np.testing.assert_allclose(up[K.FINAL_TRK].sumet - track[K.FINAL_TRK].sumet, shift, atol=0.1)
    summary = "\n".join(serial.sink_summaries)
    assert "MET_AntiKt4EMPFlowTrack_MET_JetTrk_ScaleUp" in summary


def test_rebuild_on_reco_output_equals_chained_reco(raw_input, tmp_path):
    reco = run("met_reco", [raw_input], tmp_path / "reco.parquet")
    assert not reco.failed
    from_reco = run("met_rebuild", [tmp_path / "reco.parquet"], tmp_path / "a.parquet",
                    ["met.systematics=['MET_SoftTrk_ScaleDown']", "met.significance=False"])
    chained = run("met_rebuild", [raw_input], tmp_path / "b.parquet",
                  ["met.systematics=['MET_SoftTrk_ScaleDown']", "met.significance=False"])
    assert not from_reco.failed and not chained.failed
    a, b = read_parquet(tmp_path / "a.parquet"), read_parquet(tmp_path / "b.parquet")
    key = K.met_key("AntiKt4EMPFlow")
    # reco output has no InDetTracks, so DoRemoveMuonJets is skipped there: compare the object
    # terms, then check the soft-term variation (TST varied, sumet and CST untouched)
    for name in (K.REF_ELE, K.REF_GAMMA, K.REF_TAU, K.MUONS_TERM):
        np.testing.assert_array_equal(a[key][name].mpx, b[key][name].mpx, err_msg=name)
    varied = a[K.met_syst_key("AntiKt4EMPFlow", "MET_SoftTrk_ScaleDown")]
    np.testing.assert_array_equal(varied[K.PV_SOFT_TRK].sumet, a[key][K.PV_SOFT_TRK].sumet)
    assert not np.array_equal(varied[K.PV_SOFT_TRK].mpx, a[key][K.PV_SOFT_TRK].mpx)
    np.testing.assert_array_equal(varied[K.SOFT_CLUS].mpx, a[key][K.SOFT_CLUS].mpx)


def test_configuration_errors_name_the_flag(raw_input, tmp_path):
    with pytest.raises(ConfigurationError, match="met.systematics: unknown.*MET_SoftTrk_Scale"):
        configure_job("met_rebuild", sets=["met.systematics=['MET_SoftTrk_Scale']"],
                      inputs=[raw_input], output=str(tmp_path / "x.parquet"))
    with pytest.raises(ConfigurationError, match="met.jet_collection"):
        configure_job("met_rebuild", sets=["met.jet_collection='AntiKt4LCTopo'"],
                      inputs=[raw_input], output=str(tmp_path / "x.parquet"))


def test_emtopo_rebuild_runs_with_cluster_policies(raw_input, tmp_path):
    result = run("met_rebuild", [raw_input], tmp_path / "topo.parquet",
                 ["met.jet_collection='AntiKt4EMTopo'", "met.name='Topo'", "met.soft_terms='cluster'"])
    assert not result.failed
    out = read_parquet(tmp_path / "topo.parquet")
    met = out[K.met_key("Topo")]
    assert K.FINAL_CLUS in met.names and K.FINAL_TRK not in met.names
    assert np.abs(met[K.FINAL_CLUS].mpx).max() > 0
