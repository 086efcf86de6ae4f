"""Bad input, the Source, the import-physlite command and the size measurement."""

from __future__ import annotations


import numpy as np
import pytest

from metflow.algorithms.physlite import (
    ATLAS_NAMING, METFLOW_NAMING, CorruptFileError, MissingBranchError, NotPhysliteError,
    PhysliteError, PhysliteSource, atlas_met_bytes, metflow_met_bytes)
from metflow.algorithms.physlite import cli


@pytest.fixture
def uproot():
    return pytest.importorskip("uproot")


def test_root_file_without_physlite_tree(tmp_path, uproot):
    path = tmp_path / "ntuple.root"
    with uproot.recreate(path) as f:
        f["Events"] = {"x": np.arange(3.0)}
    with pytest.raises(NotPhysliteError, match=r"ntuple\.root.*CollectionTree.*EventData.*Events"):
        PhysliteSource(path)


def test_file_that_is_not_root(tmp_path):
    path = tmp_path / "notes.root"
    path.write_text("hello\n")
    with pytest.raises(NotPhysliteError, match=r"notes\.root: not a ROOT file"):
        PhysliteSource(path)


def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="nothere.root"):
        PhysliteSource(tmp_path / "nothere.root")


def _partial_physlite(path, uproot, fmt):
    """A file with the PHYSLITE tree name but only the jet pT."""
    import awkward as ak
    pt = ak.Array([[30e3, 20e3], [40e3]])
    with uproot.recreate(path) as f:
        if fmt == "TTree":
            tree = f.mktree("CollectionTree", {"AnalysisJetsAuxDyn.pt": "var * float32"})
            tree.extend({"AnalysisJetsAuxDyn.pt": pt})
        else:
            f["EventData"] = {"AnalysisJetsAuxDyn:pt": pt}
    return path


@pytest.mark.parametrize("fmt, sep", [("TTree", "."), ("RNTuple", ":")])
def test_missing_branch_names_file_and_branch(tmp_path, uproot, fmt, sep):
    source = PhysliteSource(_partial_physlite(tmp_path / "partial.root", uproot, fmt))
    assert source.files[0].format == fmt and source.n_events() == 2
    source.select([ATLAS_NAMING.jets])
    with pytest.raises(MissingBranchError, match=rf"partial\.root: branch 'AnalysisJetsAuxDyn{sep}eta'"):
        source.read(0, 2)
    source.select([ATLAS_NAMING.met_map])
    with pytest.raises(MissingBranchError, match=rf"partial\.root: branch 'METAssoc_AnalysisMETAuxDyn"
                                                 rf"{sep}jetLink' \(nor 'METAssoc_AnalysisMETAux"):
        source.read(0, 2)


@pytest.mark.parametrize("fraction", [0.3, 0.995])
def test_truncated_file(tmp_path, physlite_path, fraction):
    data = physlite_path.read_bytes()
    path = tmp_path / "cut.root"
    path.write_bytes(data[:int(len(data) * fraction)])
    with pytest.raises(CorruptFileError, match=r"cut\.root: truncated ROOT file"):
        PhysliteSource(path)


def test_source_keys_select_and_namings(run2_path, run3_path):
    source = PhysliteSource([run2_path, run3_path], naming="metflow")
    assert source.keys() == METFLOW_NAMING.all_keys()
    assert "METAssoc_AntiKt4EMPFlow" in source.keys() and "AntiKt4EMPFlowJets" in source.keys()
    assert source.n_events() == 200
    source.select([METFLOW_NAMING.jets, METFLOW_NAMING.met_core])
    block = source.read(95, 10)       # crosses the file boundary
    assert sorted(block) == sorted([METFLOW_NAMING.jets, METFLOW_NAMING.met_core])
    assert block[METFLOW_NAMING.jets].n_events == 10
    one = PhysliteSource(run3_path, naming="metflow")
    one.select([METFLOW_NAMING.met_core])
    np.testing.assert_array_equal(block[METFLOW_NAMING.met_core].mpx[5:], one.read(0, 5)[METFLOW_NAMING.met_core].mpx)
    with pytest.raises(IndexError, match="outside"):
        source.read(195, 10)
    with pytest.raises(ValueError, match="unknown PHYSLITE naming"):
        PhysliteSource(run2_path, naming="cms")


def test_source_is_a_framework_source(run2_path):
    from metflow.framework.io import Source
    assert isinstance(PhysliteSource(run2_path), Source)


def test_import_physlite_round_trip(tmp_path, physlite_path, capsys):
    from metflow.edm import persistence
    out = tmp_path / "out.parquet"
    assert cli.main([str(physlite_path), "--output", str(out), "--batch-size", "40"]) == 0
    assert "converted 100 events" in capsys.readouterr().out
    data = persistence.read_parquet(out)
    assert sorted(data) == sorted(ATLAS_NAMING.all_keys())
    direct = PhysliteSource(physlite_path).read(0, 100)
    m, m2 = data[ATLAS_NAMING.met_map], direct[ATLAS_NAMING.met_map]
    for name, array in m.arrays().items():
        np.testing.assert_array_equal(array, getattr(m2, name), err_msg=name)
    np.testing.assert_array_equal(data[ATLAS_NAMING.jets]["px"], direct[ATLAS_NAMING.jets]["px"])


def test_import_physlite_bad_input_exit_code(tmp_path, capsys):
    bad = tmp_path / "bad.root"
    bad.write_bytes(b"not root at all")
    out = tmp_path / "out.parquet"
    assert cli.main([str(bad), "-o", str(out)]) == 1
    err = capsys.readouterr().err
    assert "bad.root" in err and "not a ROOT file" in err
    assert not out.exists() and not list(tmp_path.glob("out.parquet*"))


def test_import_physlite_failure_leaves_no_output(tmp_path, run2_path, uproot):
    partial = _partial_physlite(tmp_path / "partial.root", uproot, "TTree")
    out = tmp_path / "out.parquet"
    assert cli.main([str(run2_path), str(partial), "-o", str(out), "--batch-size", "60"]) == 1
    assert not list(tmp_path.glob("out.parquet*"))


def test_met_bytes_per_event(physlite_path):
    atlas = atlas_met_bytes(physlite_path)
    assert atlas.n_events == 100
    assert atlas.total_bytes == sum(atlas.branch_bytes.values())
    map_bytes = sum(v for k, v in atlas.branch_bytes.items() if k.startswith("METAssoc_AnalysisMET"))
    core_bytes = sum(v for k, v in atlas.branch_bytes.items() if k.startswith("MET_Core_AnalysisMET"))
    assert map_bytes > core_bytes > 0
    ours = metflow_met_bytes(physlite_path)
    assert set(ours.branch_bytes) == {ATLAS_NAMING.met_map, ATLAS_NAMING.met_core}
    assert 0 < ours.bytes_per_event < 10 * atlas.bytes_per_event
    print(f"{physlite_path.name}: ATLAS {atlas.format} {atlas.bytes_per_event:.0f} B/event, "
          f"metflow Parquet {ours.bytes_per_event:.0f} B/event")


def test_errors_share_a_base_class():
    for cls in (NotPhysliteError, CorruptFileError, MissingBranchError):
        assert issubclass(cls, PhysliteError)
    assert issubclass(MissingBranchError, KeyError)


def test_input_source_picks_by_content(tmp_path, run2_path):
    from metflow.algorithms.physlite import input_source
    from metflow.edm import persistence
    from metflow.framework.io import ParquetSource
    source = input_source([run2_path])
    assert isinstance(source, PhysliteSource) and source.naming == METFLOW_NAMING
    out = tmp_path / "x.parquet"
    assert cli.main([str(run2_path), "-o", str(out), "--naming", "metflow"]) == 0
    assert isinstance(input_source([out], decode=persistence.decode), ParquetSource)
    with pytest.raises(ValueError, match="mix PHYSLITE ROOT"):
        input_source([run2_path, out], decode=persistence.decode)


def test_import_physlite_takes_input_specs(tmp_path, run2_path, run3_path, capsys):
    """import-physlite expands directories, globs, file lists and file:// URLs as --input does;
    the result equals the plain-file conversion, and an empty spec is exit 2 naming it."""
    import pyarrow.parquet as pq
    data = tmp_path / "data"
    data.mkdir()
    (data / "a_run2.root").symlink_to(run2_path)
    (data / "b_run3.root").symlink_to(run3_path)
    (tmp_path / "files.txt").write_text(f"# two files\n{data / 'a_run2.root'}\n{data / 'b_run3.root'}\n")
    plain = tmp_path / "plain.parquet"
    assert cli.main([str(run2_path), str(run3_path), "-o", str(plain)]) == 0
    for i, spec in enumerate([str(data), str(data / "*.root"), str(tmp_path / "files.txt"),
                              f"file://{data / 'a_run2.root'}"]):
        out = tmp_path / f"spec{i}.parquet"
        assert cli.main([spec, *([f"file://{data / 'b_run3.root'}"] if "file://" in spec else []),
                         "-o", str(out)]) == 0, spec
        assert "converted 200 events from 2 file(s)" in capsys.readouterr().out
        assert pq.read_table(out).equals(pq.read_table(plain)), spec
    empty = tmp_path / "empty"
    empty.mkdir()
    assert cli.main([str(empty), "-o", str(tmp_path / "none.parquet")]) == 2
    assert "empty" in capsys.readouterr().err
