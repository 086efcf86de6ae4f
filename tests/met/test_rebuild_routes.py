"""The two README routes give one answer: `met_reco --output r.parquet` then `met_rebuild --input
r.parquet` equals the chained `met_rebuild` bit for bit; a rule the input cannot feed stops the
job at configure time; the MET output is named after the map it comes from."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from metflow.edm import keys as K
from metflow.framework.errors import ConfigurationError
from metflow.framework.runner import RunOptions, configure_job, run_job

N_EVENTS = 300


def run(job, output, inputs=(), sets=()):
    job, _ = configure_job(job, sets=list(sets), inputs=list(inputs), output=str(output),
                           events=N_EVENTS)
    return run_job(job, RunOptions(quiet=True, progress=False, events=N_EVENTS))


@pytest.fixture(scope="module")
def reco_file(tmp_path_factory):
    out = tmp_path_factory.mktemp("routes") / "reco.parquet"
    run("met_reco", out, sets=["synthetic.process='ttbar'"])
    return out


@pytest.mark.parametrize("jet_coll", ["AntiKt4EMPFlow", "AntiKt4EMTopo"])
def test_file_route_equals_chained_route(reco_file, tmp_path, jet_coll):
    sets = [f"met.jet_collection='{jet_coll}'"]
    run("met_rebuild", tmp_path / "file.parquet", inputs=[str(reco_file)], sets=sets)
    run("met_rebuild", tmp_path / "chained.parquet", sets=[*sets, "synthetic.process='ttbar'"])
    file_route = pq.read_table(tmp_path / "file.parquet")
    chained = pq.read_table(tmp_path / "chained.parquet")
    key = K.met_key(jet_coll)
    assert key in file_route.column_names      # named after the collection it was rebuilt from
    assert file_route.column_names == chained.column_names
    for name in file_route.column_names:
        assert file_route.column(name).equals(chained.column(name)), name


def _drop_jet_column(src, dst, column):
    table = pq.read_table(src)
    jets = table.column(K.jet_container_key("AntiKt4EMPFlow")).combine_chunks()
    struct = jets.values
    keep = [i for i in range(struct.type.num_fields) if struct.type.field(i).name != column]
    new_struct = pa.StructArray.from_arrays([struct.field(i) for i in keep],
                                            fields=[struct.type.field(i) for i in keep])
    new_jets = pa.ListArray.from_arrays(jets.offsets, new_struct)
    index = table.column_names.index(K.jet_container_key("AntiKt4EMPFlow"))
    pq.write_table(table.set_column(index, K.jet_container_key("AntiKt4EMPFlow"), new_jets), dst)


def test_missing_rule_input_is_a_configure_time_error(reco_file, tmp_path):
    old = tmp_path / "old.parquet"
    _drop_jet_column(reco_file, old, "sumpt_trk_pt500")
    with pytest.raises(ConfigurationError, match=r"DoRemoveMuonJets needs column 'sumpt_trk_pt500' "
                                                 r"of 'AntiKt4EMPFlowJets'.*old\.parquet.*"
                                                 r"met\.remove_muon_jets=False"):
        configure_job("met_rebuild", inputs=[str(old)], output=str(tmp_path / "x.parquet"))
    # with the rule off the job runs
    run("met_rebuild", tmp_path / "off.parquet", inputs=[str(old)], sets=["met.remove_muon_jets=False"])
    # DoSetMuonJetEMScale needs a jet width metflow's toy detector does not make
    with pytest.raises(ConfigurationError, match=r"DoSetMuonJetEMScale needs column 'width'"):
        configure_job("met_rebuild", inputs=[str(reco_file)], sets=["met.set_muon_jet_em_scale=True"])


def test_met_name_follows_the_jet_collection_unless_given(reco_file, tmp_path):
    run("met_rebuild", tmp_path / "topo.parquet", inputs=[str(reco_file)],
        sets=["met.jet_collection='AntiKt4EMTopo'", "met.significance=False"])
    assert pq.read_table(tmp_path / "topo.parquet").column_names == [K.EVENT_INFO, K.met_key("AntiKt4EMTopo")]
    run("met_rebuild", tmp_path / "named.parquet", inputs=[str(reco_file)],
        sets=["met.jet_collection='AntiKt4EMTopo'", "met.name='MyTopo'", "met.significance=False"])
    assert pq.read_table(tmp_path / "named.parquet").column_names == [K.EVENT_INFO, K.met_key("MyTopo")]
