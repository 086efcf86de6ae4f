"""Dask partitions follow files: no partition straddles two input files, each file gets one at
least, --partitions is the total when larger (the extras to the files with the largest
partitions); the output equals a local run over the same (expanded) inputs."""

from __future__ import annotations

import json
import os

import pyarrow.parquet as pq
import pytest

from metflow.cli import main
from metflow.framework.distributed import partitions_for
from metflow.framework.errors import ConfigurationError

JOB = os.path.join(os.path.dirname(__file__), "jobs", "partitioned.py")


def ranges(parts):
    assert [p.index for p in parts] == list(range(len(parts)))
    return [(p.first, p.n_events) for p in parts]


def test_one_file_is_cut_into_equal_partitions():
    assert ranges(partitions_for(200, 0, None, 8)) == [(25 * i, 25) for i in range(8)]
    assert ranges(partitions_for(10, 0, None, 4)) == [(0, 3), (3, 3), (6, 2), (8, 2)]
    assert ranges(partitions_for(3, 0, None, 10)) == [(0, 1), (1, 1), (2, 1)]


def test_partitions_never_straddle_files():
    # fewer partitions asked than files: one per file
    assert ranges(partitions_for(100, 0, None, 1, [30, 70])) == [(0, 30), (30, 70)]
    # more: the extras go to the file whose partitions are largest
    assert ranges(partitions_for(100, 0, None, 4, [30, 70])) == [(0, 30), (30, 24), (54, 23),
                                                                 (77, 23)]
    # --skip and -n: only the files (and parts of files) in the range
    assert ranges(partitions_for(100, 20, 50, 5, [30, 1, 69])) == [(20, 10), (30, 1), (31, 13),
                                                                   (44, 13), (57, 13)]
    assert ranges(partitions_for(100, 40, None, 2, [30, 70])) == [(40, 30), (70, 30)]


def test_file_counts_must_add_up():
    with pytest.raises(ConfigurationError, match="files hold 90 events, it says 100"):
        partitions_for(100, 0, None, 2, [30, 60])


@pytest.fixture
def three_files(tmp_path):
    """in/{a,b,c}.parquet with 30, 100 and 70 events of the counting job."""
    pytest.importorskip("dask.distributed")
    folder = tmp_path / "in"
    folder.mkdir()
    for name, n in (("a", 30), ("b", 100), ("c", 70)):
        assert main(["run", JOB, "--output", str(folder / f"{name}.parquet"), "-q",
                     "--set", f"test.events={n}"]) == 0
    return folder


def test_dask_parts_follow_the_input_files(three_files, tmp_path):
    local, dist = tmp_path / "local.parquet", tmp_path / "dist"
    spec = f"file://{three_files}/*.parquet"
    assert main(["run", JOB, "--input", spec, "--output", str(local), "-q"]) == 0
    assert main(["run", JOB, "--input", spec, "--executor", "dask", "--workers", "2",
                 "--partitions", "5", "--output", str(dist), "-q", "--batch-size", "16"]) == 0
    manifest = json.load(open(dist / "_manifest.json"))
    got = [(p["first"], p["n_events"]) for p in manifest["parts"]]
    # files [0, 30), [30, 130), [130, 200): 5 partitions, b and c split, none across a boundary
    assert got == [(0, 30), (30, 50), (80, 50), (130, 35), (165, 35)]
    assert manifest["inputs"] == [str(three_files / f"{n}.parquet") for n in "abc"]
    assert pq.read_table(local).to_pydict() == pq.read_table(dist).to_pydict()
