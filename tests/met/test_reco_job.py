"""The met_reco job through the framework runner: output content, determinism over
threads/slots/batch size, configuration errors."""

from __future__ import annotations

import numpy as np
import pyarrow.parquet as pq
import pytest

from metflow.edm import keys as K
from metflow.edm.persistence import read_parquet, write_parquet
from metflow.edm.units import GeV
from metflow.framework.errors import ConfigurationError
from metflow.framework.runner import RunOptions, configure_job, run_job

from test_reco import run_chain
from test_reco_support import make_block, random_event

N_EVENTS = 23


@pytest.fixture(scope="module")
def events():
    rng = np.random.default_rng(11)
    return [random_event(rng, with_pv=(i % 7 != 3)) for i in range(N_EVENTS)]


@pytest.fixture(scope="module")
def input_file(events, tmp_path_factory):
    path = tmp_path_factory.mktemp("reco") / "input.parquet"
    write_parquet(path, make_block(events))
    return str(path)


def run_reco(input_file, output, sets=(), **options):
    job, _ = configure_job("met_reco", sets=list(sets), inputs=[input_file], output=str(output))
    return run_job(job, RunOptions(quiet=True, progress=False, **options))


def test_job_output_equals_the_direct_chain(events, input_file, tmp_path):
    result = run_reco(input_file, tmp_path / "out.parquet", batch_size=8)
    assert result.events == N_EVENTS and not result.failed
    out = read_parquet(tmp_path / "out.parquet")
    for jet in K.JET_COLLECTIONS:
        direct = run_chain(make_block(events), jet)
        got, want = out[K.met_assoc_key(jet)], direct[K.met_assoc_key(jet)]
        assert got.container_keys == want.container_keys
        for name, arr in want.arrays().items():
            np.testing.assert_array_equal(getattr(got, name), arr, err_msg=f"{jet} {name}")
        np.testing.assert_array_equal(out[K.met_core_key(jet)].mpx, direct[K.met_core_key(jet)].mpx)
        np.testing.assert_array_equal(out[K.met_core_key(jet)].sumet, direct[K.met_core_key(jet)].sumet)
    # objects are written, constituents are not
    columns = set(pq.ParquetFile(tmp_path / "out.parquet").schema_arrow.names)
    assert {K.ELECTRONS, K.MUONS, "AntiKt4EMPFlowJets"} <= columns
    assert not columns & {K.PFOS, K.CLUSTERS, K.TRACKS}
    summary = "\n".join(result.sink_summaries)
    assert "SoftClusCore" in summary and "AntiKt4EMTopo" in summary


@pytest.mark.parametrize("options", [dict(threads=2, slots=3, batch_size=1),
                                     dict(threads=2, slots=1, batch_size=256),
                                     dict(threads=1, slots=3, batch_size=5)])
def test_output_is_bit_identical_for_threads_slots_and_batch_size(input_file, tmp_path, options):
    run_reco(input_file, tmp_path / "ref.parquet", threads=1, slots=1, batch_size=256)
    run_reco(input_file, tmp_path / "other.parquet", **options)
    ref = pq.read_table(tmp_path / "ref.parquet")
    other = pq.read_table(tmp_path / "other.parquet")
    assert ref.column_names == other.column_names
    for name in ref.column_names:
        assert ref.column(name).combine_chunks().equals(other.column(name).combine_chunks()), name


def test_single_jet_collection_and_no_objects(input_file, tmp_path):
    run_reco(input_file, tmp_path / "out.parquet",
             sets=["met.jet_collections=['AntiKt4EMTopo']", "met.write_objects=False"])
    names = set(pq.ParquetFile(tmp_path / "out.parquet").schema_arrow.names)
    assert names == {K.met_assoc_key("AntiKt4EMTopo"), K.met_core_key("AntiKt4EMTopo")}


def test_unknown_jet_collection_and_associator_are_configuration_errors(input_file, tmp_path):
    with pytest.raises(ConfigurationError, match="AntiKt4LCTopo"):
        configure_job("met_reco", sets=["met.jet_collections=['AntiKt4LCTopo']"], inputs=[input_file])
    with pytest.raises(ConfigurationError, match="METMuonAssociatr"):
        configure_job("met_reco", sets=["met.extra_associators=['METMuonAssociatr']"], inputs=[input_file])
    with pytest.raises(ConfigurationError, match="not a MET object associator"):
        configure_job("met_reco", sets=["met.extra_associators=['METSoftAssociator']"], inputs=[input_file])


def test_summary_means_equal_the_written_core_terms(input_file, tmp_path, monkeypatch):
    """The end-of-run summary (blocks held and reduced in groups) equals means computed from the
    written MET_Core containers, whatever the batch size and reduction interval."""
    from metflow.algorithms.met.reco import METRecoSummary

    texts = []
    for batch, every in ((1, 5), (8, 1024)):
        monkeypatch.setattr(METRecoSummary, "REDUCE_EVERY", every)
        out = tmp_path / f"out_{batch}.parquet"
        result = run_reco(input_file, out, batch_size=batch)
        texts.append(result.sink_summaries[0])
    assert texts[0] == texts[1]
    data = read_parquet(out)
    line = next(ln for ln in texts[0].splitlines() if ln.strip().startswith("AntiKt4EMPFlow"))
    core = data[K.met_core_key("AntiKt4EMPFlow")]
    term = core.names.index(K.SOFT_CLUS_CORE)
    mean_soft = np.hypot(core.mpx[:, term].astype(np.float64), core.mpy[:, term]).mean()
    amap = data[K.met_assoc_key("AntiKt4EMPFlow")]
    assert f"{mean_soft / GeV:.2f}" == line.split()[1]        # two decimals, as printed
    assert f"{amap.n_associations / N_EVENTS:.2f}" == line.split()[-3]
