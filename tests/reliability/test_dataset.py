"""Dask output directories: committed by a manifest written last, a non-empty directory refused
without --overwrite, temporaries pyarrow ignores, and every read checks the parts against the
manifest (ranges, counts, run, size, sha256)."""

from __future__ import annotations

import json
import os
import shutil

import pyarrow.parquet as pq
import pytest

from metflow.cli import main
from metflow.framework.dataset import MANIFEST, prepare_output_dir, read_manifest
from metflow.framework.errors import SourceError

from reliability_helpers import REPO_ROOT, assert_clean_error, job

pytest.importorskip("dask.distributed")

PARTITIONED = str(REPO_ROOT / "tests" / "framework" / "jobs" / "partitioned.py")


@pytest.fixture(scope="module")
def dask_output(tmp_path_factory):
    """One Dask run (2 workers, 4 partitions of 50 events), copied by each test."""
    out = tmp_path_factory.mktemp("dask") / "out"
    assert main(["run", PARTITIONED, "--executor", "dask", "--workers", "2", "--partitions", "4",
                 "--output", str(out), "-q", "--batch-size", "16"]) == 0
    return out


@pytest.fixture
def dataset(dask_output, tmp_path):
    copy = tmp_path / "out"
    shutil.copytree(dask_output, copy)
    return copy


def _read(path, tmp_path, capsys, *args):
    """Copy the directory with metflow; (exit code, stderr)."""
    code = main(["run", PARTITIONED, "--input", str(path), "--output",
                 str(tmp_path / "copy.parquet"), "-q", *args])
    return code, capsys.readouterr().err


def test_complete_directory_reads_back_every_event_once(dataset, tmp_path, capsys):
    code, err = _read(dataset, tmp_path, capsys)
    assert code == 0, err
    assert pq.read_table(tmp_path / "copy.parquet").column("Numbers").to_pylist() == list(range(200))
    manifest = json.loads((dataset / MANIFEST).read_text())
    assert [(p["first"], p["n_events"]) for p in manifest["parts"]] == \
        [(0, 50), (50, 50), (100, 50), (150, 50)]
    assert all(len(p["sha256"]) == 64 and p["bytes"] > 0 for p in manifest["parts"])


def test_part_replaced_by_a_copy_of_another_is_refused(dataset, tmp_path, capsys):
    shutil.copyfile(dataset / "part-00000.parquet", dataset / "part-00002.parquet")
    code, err = _read(dataset, tmp_path, capsys)
    assert code == 2
    assert_clean_error(err, "part-00002.parquet", "events [100, 150)", "a copy of another part")


@pytest.mark.parametrize("change,needle", [
    ("missing part", "is missing"),
    ("stray part", "not listed in _manifest.json"),
    ("overlap", "overlap"),
    ("gap", "leave a gap"),
    ("count", "the parts hold"),
    ("other run", "parts of two runs are mixed"),
    ("no manifest", "without _manifest.json"),
])
def test_directory_that_disagrees_with_its_manifest_is_refused(dataset, tmp_path, capsys,
                                                               change, needle):
    manifest_path = dataset / MANIFEST
    manifest = json.loads(manifest_path.read_text())
    if change == "missing part":
        os.remove(dataset / "part-00001.parquet")
    elif change == "stray part":
        shutil.copyfile(dataset / "part-00001.parquet", dataset / "part-00009.parquet")
    elif change == "overlap":
        manifest["parts"][1]["first"] = 40
    elif change == "gap":
        manifest["parts"][1]["first"] = 60
    elif change == "count":
        manifest["events"] = 250
    elif change == "other run":
        manifest["run_id"] = "0" * 32
    elif change == "no manifest":
        os.remove(manifest_path)
    if manifest_path.exists():
        manifest_path.write_text(json.dumps(manifest))
    code, err = _read(dataset, tmp_path, capsys)
    assert code == 2
    assert_clean_error(err, needle)


def test_changed_byte_fails_the_sha256_check(dataset, tmp_path, capsys):
    """Parts are hashed while the run decodes: no block of the changed part reaches an
    algorithm or the output, the run fails (exit 1) and keeps the parts before it."""
    part = dataset / "part-00003.parquet"
    data = bytearray(part.read_bytes())
    footer = int.from_bytes(data[-8:-4], "little") + 8
    data[-footer - 20] ^= 0x01         # a byte of the last page, not of the footer
    part.write_bytes(bytes(data))
    code, err = _read(dataset, tmp_path, capsys, "--batch-size", "10")
    assert code == 1
    assert_clean_error(err, "part-00003.parquet", "events [150, 200)", "sha256")
    kept = pq.read_table(tmp_path / "copy.parquet.partial").column("Numbers").to_pylist()
    assert kept == list(range(150))
    with pytest.raises(SourceError, match="sha256"):
        read_manifest(str(dataset))


def test_temporaries_of_killed_tasks_are_invisible(dataset, tmp_path, capsys):
    (dataset / ".part-00001.parquet.tmp-4242").write_bytes(b"PAR1 half a row group")
    assert pq.read_table(dataset).num_rows == 200   # pyarrow skips the hidden name
    code, err = _read(dataset, tmp_path, capsys)
    assert code == 0, err


def test_non_empty_directory_needs_overwrite(dataset, tmp_path, capsys):
    before = (dataset / MANIFEST).read_text()
    code = main(["run", PARTITIONED, "--executor", "dask", "--workers", "1", "--output",
                 str(dataset), "-q"])
    assert code == 2
    assert_clean_error(capsys.readouterr().err, "is not empty", "--overwrite")
    assert (dataset / MANIFEST).read_text() == before


def test_overwrite_removes_the_old_manifest_first(dataset, tmp_path):
    """A re-run killed after this point leaves no manifest: never an old manifest beside new
    parts; and a directory with files metflow did not write is never emptied."""
    prepare_output_dir(str(dataset), overwrite=True)
    assert os.listdir(dataset) == []
    with pytest.raises(SourceError, match="without _manifest.json"):
        read_manifest(str(dataset))
    (dataset / "thesis.tex").write_text("years of work")
    with pytest.raises(Exception, match="did not write"):
        prepare_output_dir(str(dataset), overwrite=True)
    assert (dataset / "thesis.tex").exists()


def test_output_directory_holding_the_input_is_refused(dataset, tmp_path, capsys):
    code = main(["run", PARTITIONED, "--executor", "dask", "--workers", "1", "--input",
                 str(dataset), "--output", str(dataset), "--overwrite", "-q"])
    assert code == 2
    assert_clean_error(capsys.readouterr().err, "is inside it")
    assert len(read_manifest(str(dataset))) == 4


def test_local_output_into_the_input_directory_is_refused(dataset, tmp_path, capsys):
    code = main(["run", PARTITIONED, "--input", str(dataset), "--output",
                 str(dataset / "copy.parquet"), "-q"])
    assert code == 2
    assert_clean_error(capsys.readouterr().err, "is inside the input directory")
    assert len(read_manifest(str(dataset))) == 4
