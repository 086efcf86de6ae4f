"""Datasets and event identity on the real PHYSLITE files:
- metflow.analysis reads globs, directories, file lists, filesets and file:// URLs as the plain
  files; remote URLs reach the reader (never "does not exist");
- chunks and rebuild_met results carry runNumber, eventNumber, mcChannelNumber and
  mcEventWeight equal to uproot's reads of EventInfo (types included);
- physlite_met on a directory, a file:// glob, a file list and a fileset writes what it writes
  for the plain files.
The files are reached through symlinks and lists in tmp dirs, never copied into the repo."""

from __future__ import annotations

import json

import numpy as np
import pyarrow.parquet as pq
import pytest

from analysis_files import FILES, require, terms_of

PATHS = [FILES[name] for name in sorted(FILES)]   # Run-2 TTree, then Run-3 RNTuple


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    """tmp/data/ with a symlink to each example file, a file list and a fileset beside it."""
    for path in PATHS:
        require(path)
    root = tmp_path_factory.mktemp("dataset")
    folder = root / "data"
    folder.mkdir()
    for path in PATHS:
        (folder / path.name).symlink_to(path)
    (root / "files.txt").write_text("# the two examples\n" + "".join(
        f"data/{p.name}\n" for p in PATHS))
    (root / "fileset.json").write_text(json.dumps({
        "zee": {"files": {f"data/{PATHS[0].name}": "CollectionTree"}},
        "ttbar": [f"file://{folder / PATHS[1].name}"]}))
    return root


def final_trk(chunks):
    from metflow.analysis import default_selection, rebuild_met

    met = [rebuild_met(c, **default_selection(c)) for c in chunks]
    return [(c.path.rsplit("/", 1)[-1], c.entry_start, np.asarray(m.FinalTrk.mpx).tobytes(),
             np.asarray(m.eventNumber).tobytes()) for c, m in zip(chunks, met)]


def test_iterate_physlite_over_dataset_specs_equals_the_files(dataset):
    from metflow.analysis import iterate_physlite

    expected = final_trk(list(iterate_physlite([str(p) for p in PATHS], step_size=100)))
    assert len(expected) == 2
    for spec in (str(dataset / "data"), f"file://{dataset}/data/PHYSLITE_*",
                 str(dataset / "files.txt"), str(dataset / "fileset.json")):
        assert final_trk(list(iterate_physlite(spec, step_size=100))) == expected, spec
    zee = list(iterate_physlite(str(dataset / "fileset.json") + "#zee", step_size=100))
    assert final_trk(zee) == expected[:1]


def test_open_physlite_takes_a_file_url_and_refuses_several_files(dataset):
    from metflow.analysis import open_physlite

    plain = open_physlite(PATHS[1], entry_start=10, entry_stop=30)
    url = open_physlite(f"file://{PATHS[1]}", entry_start=10, entry_stop=30)
    assert final_trk([url]) == final_trk([plain])
    with pytest.raises(ValueError, match="names 2 files.*use iterate_physlite"):
        open_physlite(str(dataset / "data"))
    with pytest.raises(ValueError, match="matches no file"):
        open_physlite(str(dataset / "data" / "*.nothing"))


def uproot_event_info(path):
    """runNumber, eventNumber, mcChannelNumber, mcEventWeights[0] read by uproot itself."""
    import uproot

    with uproot.open(path) as f:
        if "CollectionTree" in f:
            tree, sep = f["CollectionTree"], "."
        else:
            tree, sep = f["EventData"], ":"
        read = {v: tree[f"EventInfoAuxDyn{sep}{v}"].array(library="np" if sep == "." else "ak")
                for v in ("runNumber", "eventNumber", "mcChannelNumber", "mcEventWeights")}
    out = {v: np.asarray(read[v]) for v in ("runNumber", "eventNumber", "mcChannelNumber")}
    out["mcEventWeight"] = np.array([w[0] for w in read["mcEventWeights"]], np.float32)
    return out


@pytest.mark.parametrize("name", sorted(FILES))
def test_identity_equals_uproot_event_info(name):
    from metflow.analysis import IDENTITY_FIELDS, default_selection, iterate_physlite, rebuild_met

    path = require(FILES[name])
    expected = uproot_event_info(path)
    chunks = list(iterate_physlite(path, step_size=40))
    met = [rebuild_met(c, **default_selection(c), soft_term="both") for c in chunks]
    for field in IDENTITY_FIELDS:
        for got in (np.concatenate([np.asarray(c.identity[field]) for c in chunks]),
                    np.concatenate([np.asarray(m[field]) for m in met])):
            assert got.dtype == expected[field].dtype, (field, got.dtype)
            assert got.tobytes() == expected[field].tobytes(), field
    assert list(met[0].fields[:4]) == list(IDENTITY_FIELDS)
    assert terms_of(met[0])[-1] == "FinalClus" and "runNumber" not in terms_of(met[0])
    assert len(np.unique(expected["eventNumber"])) == len(expected["eventNumber"])


def test_remote_url_reaches_the_reader(dataset):
    """A memory:// URL (fsspec, in this process) is passed to the PHYSLITE reader: it reads the
    file, or says that it reads local files only; never 'does not exist'."""
    import fsspec

    from metflow.analysis import open_physlite
    from metflow.framework.errors import SourceError

    memory = fsspec.filesystem("memory")
    memory.pipe("/metflow-test/zee.root", PATHS[0].read_bytes())
    url = "memory://metflow-test/zee.root"
    try:
        try:
            chunk = open_physlite(url, entry_stop=20)
        except SourceError as exc:
            assert url in str(exc) and "local files only" in str(exc)
            assert "does not exist" not in str(exc)
        else:
            assert final_trk([chunk])[0][1:] == final_trk([open_physlite(PATHS[0],
                                                                         entry_stop=20)])[0][1:]
    finally:
        memory.rm("/metflow-test", recursive=True)


@pytest.fixture(scope="module")
def plain_run(tmp_path_factory):
    """`metflow run physlite_met --input RUN2 RUN3 --output plain.parquet`."""
    from metflow.cli import main

    for path in PATHS:
        require(path)
    out = tmp_path_factory.mktemp("plain") / "plain.parquet"
    assert main(["run", "physlite_met", "--input", *map(str, PATHS), "--output", str(out),
                 "-q"]) == 0
    return pq.read_table(out)


@pytest.mark.parametrize("spec", ["data", "file://{root}/data/*.root", "files.txt",
                                  "fileset.json"])
def test_physlite_met_on_a_dataset_equals_the_plain_files(dataset, plain_run, tmp_path, spec):
    from metflow.cli import main

    given = spec.format(root=dataset) if "{root}" in spec else str(dataset / spec)
    out = tmp_path / "met.parquet"
    assert main(["run", "physlite_met", "--input", given, "--output", str(out), "-q"]) == 0
    assert pq.read_table(out).equals(plain_run)
