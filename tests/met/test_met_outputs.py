"""The MET jobs' outputs carry the input's event identity, and `--output x.root` writes a flat
TTree equal, value for value, to the Parquet output of the same run (issue 16, deliverable 4):
met_rebuild on metflow events, physlite_met on both example PHYSLITE files (identity checked
against uproot's own read of EventInfo); object keys in a .root output and unknown extensions
are refused before the run."""

from __future__ import annotations

import os
import pathlib

import numpy as np
import pyarrow.parquet as pq
import pytest

from metflow.cli import main
from metflow.edm import keys as K
from metflow.edm.event_record import EventRecord
from metflow.edm.met import MissingETContainer
from metflow.edm.persistence import read_parquet

uproot = pytest.importorskip("uproot")

PHYSLITE = pathlib.Path(__file__).resolve().parents[3] / "shared" / "data" / "physlite"
RUN2, RUN3 = (PHYSLITE / "PHYSLITE_Run2_Zee_example.root",
              PHYSLITE / "PHYSLITE_Run3_ttbar_rntuple.root")
#: EventInfo fields and the ROOT branches they are written to
IDENTITY = {"run_number": "runNumber", "event_number": "eventNumber",
            "mc_channel_number": "mcChannelNumber", "weight": "mcEventWeight",
            "mu": "actualInteractionsPerCrossing"}


def _tree(path):
    with uproot.open(path) as f:
        return f["metflow"].arrays(library="np")


def assert_root_equals_parquet(root, parquet):
    """Every MET term component, per-event record field and identity field of the Parquet
    output is a branch of the TTree with the same values and dtype, and nothing else is."""
    tree, objects = _tree(root), read_parquet(parquet)
    expected = {}
    for key, obj in objects.items():
        if isinstance(obj, MissingETContainer):
            assert obj.n_terms > 0
            for term in obj:
                for c in ("mpx", "mpy", "sumet"):
                    expected[f"{key}_{term.name}_{c}"] = getattr(term, c)
        else:
            assert isinstance(obj, EventRecord), key
            for name, values in obj.columns.items():
                branch = IDENTITY[name] if key == K.EVENT_INFO else f"{key}_{name}"
                expected[branch] = values
    assert sorted(tree) == sorted(expected)
    for branch, values in expected.items():
        assert tree[branch].dtype == values.dtype, branch
        assert tree[branch].tobytes() == values.tobytes(), branch   # bit for bit
    return tree, objects


@pytest.fixture(scope="module")
def rebuilt(tmp_path_factory):
    """met_reco output (the input), then met_rebuild on it to .parquet and .root."""
    tmp = tmp_path_factory.mktemp("rebuild")
    reco = tmp / "reco.parquet"
    assert main(["run", "met_reco", "-n", "150", "--output", str(reco), "-q",
                 "--set", "synthetic.process='zmumu'"]) == 0
    sets = ["--set", "met.systematics=['MET_SoftTrk_ResoPara','MUON_SCALE__1up',"
                     "'MET_JetTrk_ScaleUp']"]
    for name in ("met.parquet", "met.root"):
        assert main(["run", "met_rebuild", "--input", str(reco), "--output", str(tmp / name),
                     "-q", "--batch-size", "40", *sets]) == 0
    return reco, tmp / "met.parquet", tmp / "met.root"


def test_met_rebuild_root_equals_its_parquet_output(rebuilt):
    _, parquet, root = rebuilt
    tree, objects = assert_root_equals_parquet(root, parquet)
    assert list(objects)[0] == K.EVENT_INFO
    assert "MET_AntiKt4EMPFlow_FinalTrk_mpx" in tree and "METSignificance_AntiKt4EMPFlow_sqrt_s" \
        in tree and "MET_AntiKt4EMPFlow_MUON_SCALE__1up_FinalTrk_sumet" in tree
    assert len(tree["runNumber"]) == 150
    assert "mcChannelNumber" not in tree    # metflow's own events belong to no MC dataset


def test_met_rebuild_identity_equals_the_input(rebuilt):
    reco, parquet, _ = rebuilt
    got = pq.read_table(parquet).column(K.EVENT_INFO)
    assert got.equals(pq.read_table(reco).column(K.EVENT_INFO))
    assert got.to_pylist()[0].keys() == {"run_number", "event_number", "mu", "weight"}


def test_met_rebuild_on_the_synthetic_source_writes_its_event_info(tmp_path):
    out = tmp_path / "met.parquet"
    assert main(["run", "met_rebuild", "-n", "20", "--skip", "5", "--output", str(out),
                 "-q"]) == 0
    from metflow.algorithms.generation.synthetic import SyntheticSource

    info = read_parquet(out, [K.EVENT_INFO])[K.EVENT_INFO]
    assert info.equals(SyntheticSource(n_events=25).read(5, 20)[K.EVENT_INFO])


def _physlite_identity(path):
    """run, event, channel number and first MC weight as uproot reads them (no metflow code)."""
    with uproot.open(path) as f:
        rntuple = "EventData" in f
        tree = f["EventData" if rntuple else "CollectionTree"]
        sep = ":" if rntuple else "."
        names = [f"EventInfoAuxDyn{sep}{v}" for v in
                 ("runNumber", "eventNumber", "mcChannelNumber", "mcEventWeights")]
        data = tree.arrays(names)
    return [np.asarray(data[n]) for n in names[:3]] + \
        [np.asarray([w[0] for w in data[names[3]].tolist()], np.float32)]


@pytest.fixture(scope="module")
def physlite_outputs(tmp_path_factory):
    for path in (RUN2, RUN3):
        if not path.exists():
            pytest.skip(f"{path} not present")
    pytest.importorskip("awkward")
    tmp = tmp_path_factory.mktemp("physlite")
    for name in ("met.parquet", "met.root"):
        assert main(["run", "physlite_met", "--input", str(RUN2), str(RUN3), "--output",
                     str(tmp / name), "-q", "--set", "physlite.sizes=False",
                     "--batch-size", "64"]) == 0
    return tmp / "met.parquet", tmp / "met.root"


def test_physlite_met_root_equals_its_parquet_output(physlite_outputs):
    parquet, root = physlite_outputs
    tree, objects = assert_root_equals_parquet(root, parquet)
    assert list(objects) == [K.EVENT_INFO, "MET_AnalysisMET", K.TRUTH_MET]
    assert "MET_AnalysisMET_MuonEloss_mpx" in tree and "TruthMET_nonint_mpx" in tree


def test_physlite_met_identity_equals_the_files_event_info(physlite_outputs):
    parquet, root = physlite_outputs
    run, event, channel, weight = (np.concatenate(parts) for parts in
                                   zip(*(_physlite_identity(p) for p in (RUN2, RUN3))))
    assert set(channel) == {700322, 601229}     # Z->ee and ttbar: one dataset per file
    info = read_parquet(parquet, [K.EVENT_INFO])[K.EVENT_INFO]
    tree = _tree(root)
    for source in (info.columns, {f: tree[b] for f, b in IDENTITY.items()}):
        assert np.array_equal(source["run_number"], run)
        assert np.array_equal(source["event_number"], event)
        assert np.array_equal(source["mc_channel_number"], channel)
        assert source["mc_channel_number"].dtype == np.uint32
        assert np.array_equal(source["weight"], weight)


def test_physlite_data_files_have_channel_number_zero_and_weight_one(monkeypatch):
    """A data file has no mcChannelNumber/mcEventWeights (or 0): channel 0, weight 1."""
    if not RUN2.exists():
        pytest.skip(f"{RUN2} not present")
    from metflow.algorithms.physlite import convert
    from metflow.algorithms.physlite.reader import PhysliteFile

    pfile = PhysliteFile(str(RUN2))
    real_has = pfile.has
    monkeypatch.setattr(pfile, "has", lambda container, var: var not in (
        "mcChannelNumber", "mcEventWeights") and real_has(container, var))
    info = convert.convert_event_info(pfile, 3, 10, K.EVENT_INFO)
    assert info["mc_channel_number"].tolist() == [0] * 7
    assert info["mc_channel_number"].dtype == np.uint32
    assert info["weight"].tolist() == [1.0] * 7
    assert info["run_number"].tolist() == [300000] * 7


@pytest.mark.parametrize("job,output,needles", [
    ("met_rebuild", "met.csv", ["met.csv", "unknown extension '.csv'", ".parquet", ".root"]),
    ("met_rebuild", "met", ["no extension", ".pq"]),
    ("met_reco", "reco.root", ["reco.root", "cannot hold", "METAssoc_AntiKt4EMPFlow",
                               "'AntiKt4EMPFlowJets'", "use a .parquet output"]),
])
def test_bad_outputs_are_refused_before_the_first_event(tmp_path, capsys, job, output, needles):
    assert main(["run", job, "-n", "5", "--output", str(tmp_path / output), "-q"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("metflow: error:") and "Traceback" not in err
    for needle in needles:
        assert needle in err, (needle, err)
    assert os.listdir(tmp_path) == []


def test_event_file_tools_refuse_a_root_output(tmp_path, capsys):
    """import-physlite and generate write object containers: Parquet only."""
    if RUN2.exists():
        assert main(["import-physlite", str(RUN2), "-o", str(tmp_path / "x.root"), "-n", "2"]) == 2
        assert "this command writes Parquet" in capsys.readouterr().err
    code = main(["generate", "--process", "zmumu", "--events", "2", "--output",
                 str(tmp_path / "x.root")])
    err = capsys.readouterr().err
    if "not available in this installation" not in err:
        assert code == 2 and "x.root: this command writes Parquet" in err
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize("job,sets", [("met_reco", ["met.write_objects=False"]),
                                      ("met_rebuild", [])])
def test_every_met_output_starts_with_event_info(tmp_path, job, sets):
    """Also a Dask part (a run_partition configures the job on the part's path) and met_reco
    without its objects."""
    from metflow.framework import ParquetSink, RootSink
    from metflow.framework.runner import configure_job

    for name, kind in (("part-00000.parquet", ParquetSink), ("met.root", RootSink)):
        if job == "met_reco" and kind is RootSink:
            continue
        configured, _ = configure_job(job, sets=sets, output=str(tmp_path / name), events=4)
        sink = next(s for s in configured.sinks if isinstance(s, kind))
        assert sink.keys()[0] == K.EVENT_INFO and sink.keys().count(K.EVENT_INFO) == 1
        configured.source.close()
