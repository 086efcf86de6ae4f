"""SIGTERM (what batch systems send) and SIGINT stop a run cleanly: the blocks in flight finish,
OUTPUT.partial holds exactly the events processed, no temporary file is left, the exit code is
128 + the signal and the message says how many events were done; a Dask run cancels its tasks."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time

import pyarrow.parquet as pq
import pytest

from reliability_helpers import assert_clean_error, job


def _start(args, cwd):
    return subprocess.Popen([sys.executable, "-m", "metflow", *args], cwd=cwd, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def _wait_for(predicate, proc, timeout=60.0):
    deadline = time.monotonic() + timeout
    while not predicate():
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise AssertionError(f"run ended or hung before the signal: {proc.communicate()}")
        time.sleep(0.05)


def _hidden_temporaries(folder):
    return [n for n in os.listdir(folder) if ".tmp-" in n]


@pytest.mark.parametrize("signum,threads", [(signal.SIGTERM, 1), (signal.SIGTERM, 2),
                                            (signal.SIGINT, 2)])
def test_signal_keeps_the_events_done_in_partial(tmp_path, signum, threads):
    marker, out = tmp_path / "started", tmp_path / "out.parquet"
    proc = _start(["run", job("counting"), "--output", str(out), "-q", "--batch-size", "10",
                   "--threads", str(threads), "--set", "test.events=100000",
                   "--set", "test.sleep=0.02", "--set", f"test.marker={marker}",
                   "--set", "test.row_group=30"], tmp_path)
    _wait_for(marker.exists, proc)
    time.sleep(0.3)
    proc.send_signal(signum)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 128 + signum, err
    name = signal.Signals(signum).name
    assert_clean_error(err, f"interrupted by {name} after ", "out.parquet.partial")
    assert "SystemError" not in err
    done = int(re.search(rf"interrupted by {name} after (\d+) events", err).group(1))
    assert 0 < done < 100000
    table = pq.read_table(str(out) + ".partial")
    assert table.column("Numbers").to_pylist() == list(range(done))
    assert table.column("Plus").to_pylist() == list(range(1, done + 1))
    assert not out.exists() and _hidden_temporaries(tmp_path) == []


def test_sigint_during_numba_kernels_is_a_clean_stop(tmp_path):
    """The demo job runs numba kernels on the main thread: SIGINT used to surface as
    `SystemError: CPUDispatcher(...) returned a result with an exception set`."""
    out = tmp_path / "demo.parquet"
    proc = _start(["run", "demo", "-n", "5000000", "--output", str(out), "-q",
                   "--set", "demo.work=40"], tmp_path)
    _wait_for(lambda: _hidden_temporaries(tmp_path), proc)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert_clean_error(err, "interrupted by SIGINT after")
    # "algorithm" as a word: the first-run compile line names the algorithms/__pycache__ folder
    assert "SystemError" not in err and not re.search(r"\balgorithm\b", err), err
    done = int(re.search(r"after (\d+) events", err).group(1))
    assert pq.read_metadata(str(out) + ".partial").num_rows == done
    assert _hidden_temporaries(tmp_path) == []


def test_sigterm_cancels_a_dask_run(tmp_path):
    pytest.importorskip("dask.distributed")
    out = tmp_path / "dist"
    proc = _start(["run", job("counting"), "--executor", "dask", "--workers", "2",
                   "--partitions", "4", "--output", str(out), "-q", "--batch-size", "10",
                   "--set", "test.events=400", "--set", "test.sleep=0.5"], tmp_path)
    _wait_for(lambda: out.is_dir() and _hidden_temporaries(out), proc, timeout=90)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=90)
    assert proc.returncode == 143, err[-3000:]
    assert_clean_error(err, "interrupted by SIGTERM after", "tasks cancelled")
    assert not (out / "_manifest.json").exists() and _hidden_temporaries(out) == []
    assert "metflow: error:" in _start(["run", job("counting"), "--input", str(out), "--output",
                                        str(tmp_path / "copy.parquet"), "-q"],
                                       tmp_path).communicate(timeout=60)[1]


def test_signal_keeps_the_failed_events_list(tmp_path):
    marker, out, failed = tmp_path / "started", tmp_path / "out.parquet", tmp_path / "failed.json"
    proc = _start(["run", job("counting"), "--output", str(out), "-q", "--batch-size", "10",
                   "--on-error", "skip", "--failed-events", str(failed),
                   "--set", "test.events=100000", "--set", "test.fail_at=5",
                   "--set", "test.sleep=0.02", "--set", f"test.marker={marker}"], tmp_path)
    _wait_for(marker.exists, proc)
    time.sleep(0.3)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 143, err
    assert_clean_error(err, "interrupted by SIGTERM", f"1 failed blocks listed in {failed}")
    import json
    assert [(b["first"], b["n_events"]) for b in json.loads(failed.read_text())] == [(0, 10)]
    done = int(re.search(r"after (\d+) events", err).group(1))
    assert pq.read_table(str(out) + ".partial").column("Numbers").to_pylist() == \
        list(range(10, 10 + done))
