"""Dask executor: same output as a local run; a killed worker loses no event and doubles none."""

import json
import os
import subprocess
import sys

import pyarrow.parquet as pq
import pytest

pytest.importorskip("dask.distributed")

from metflow.cli import main  # noqa: E402

JOB = os.path.join(os.path.dirname(__file__), "jobs", "partitioned.py")


def test_two_workers_equal_local_run(tmp_path, capsys):
    local, dist = tmp_path / "local.parquet", tmp_path / "dist"
    assert main(["run", JOB, "--output", str(local), "-q", "--batch-size", "16"]) == 0
    assert main(["run", JOB, "--executor", "dask", "--workers", "2", "--output", str(dist),
                 "-q", "--batch-size", "16", "--threads", "2"]) == 0
    manifest = json.load(open(dist / "_manifest.json"))
    assert manifest["events"] == 200 and len(manifest["parts"]) == 8
    assert [p["first"] for p in manifest["parts"]] == sorted(p["first"] for p in manifest["parts"])
    assert pq.read_table(local).to_pydict() == pq.read_table(dist).to_pydict()
    # the directory is a metflow input too
    again = tmp_path / "again.parquet"
    assert main(["run", JOB, "--input", str(dist), "--output", str(again), "-q"]) == 0


def test_killed_worker_keeps_every_event_exactly_once(tmp_path):
    out, marker = tmp_path / "dist", tmp_path / "killed"
    result = subprocess.run(
        [sys.executable, "-m", "metflow", "run", JOB, "--executor", "dask", "--workers", "2",
         "--output", str(out), "-q", "--batch-size", "10", "--set", f"test.kill_marker={marker}"],
        capture_output=True, text=True, timeout=180)
    assert result.returncode == 0, result.stderr[-3000:]
    assert marker.exists()  # a worker really died
    numbers = pq.read_table(out).column("Numbers").to_pylist()
    assert sorted(numbers) == list(range(200)) and numbers == list(range(200))
