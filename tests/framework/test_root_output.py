"""The output format follows the extension (framework.output): .parquet/.pq write Parquet, .root
a flat TTree with uproot (RootSink), anything else is refused before the run. RootSink keeps
ParquetSink's write guarantees: hidden temporary, rename on success, OUTPUT.partial with the
events done after a failure or a signal, never an input or a non-regular file replaced."""

from __future__ import annotations

import os
import pathlib
import re
import signal
import subprocess
import sys
import time

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from metflow.cli import main
from metflow.framework import (ConfigurationError, Job, ParquetSink, RootSink, RunOptions,
                               SinkError, output_sink, run_job)
from metflow.framework.output import check_directory_output, output_format
from toy import AddConstant, CountingSource

uproot = pytest.importorskip("uproot")

JOB = str(pathlib.Path(__file__).resolve().parent / "jobs" / "slow_output.py")


def _tree(path, name="metflow"):
    with uproot.open(path) as f:
        return {k: v for k, v in f[name].arrays(library="np").items()}


def _run(sink, n=10, batch_size=3, threads=1, source=None, algorithms=None):
    job = Job(source=source or CountingSource(n), algorithms=algorithms or [AddConstant()],
              sinks=[sink])
    return run_job(job, RunOptions(batch_size=batch_size, threads=threads, progress=False,
                                   quiet=True))


@pytest.mark.parametrize("name,kind", [("out.parquet", ParquetSink), ("out.pq", ParquetSink),
                                       ("OUT.PARQUET", ParquetSink), ("out.root", RootSink)])
def test_the_extension_chooses_the_sink(tmp_path, name, kind):
    sink = output_sink(str(tmp_path / name), ["Numbers"])
    assert type(sink) is kind
    assert output_format(name) == ("root" if kind is RootSink else "parquet")


@pytest.mark.parametrize("name,said", [("met.csv", "unknown extension '.csv'"),
                                       ("met", "no extension"),
                                       ("met.root.txt", "unknown extension '.txt'")])
def test_an_unknown_extension_is_refused_naming_path_and_accepted(tmp_path, name, said):
    path = str(tmp_path / name)
    with pytest.raises(ConfigurationError) as info:
        output_sink(path, ["Numbers"])
    message = str(info.value)
    assert path in message and said in message
    for extension in (".parquet", ".pq", ".root"):
        assert extension in message


def test_unknown_extension_exits_2_before_the_first_event(tmp_path, capsys):
    marker = tmp_path / "started"
    code = main(["run", JOB, "--output", str(tmp_path / "out.csv"), "-q",
                 "--set", f"test.marker={marker}"])
    err = capsys.readouterr().err
    assert code == 2 and "metflow: error:" in err and "out.csv" in err and ".root" in err
    assert not marker.exists() and os.listdir(tmp_path) == []


def test_root_output_equals_the_parquet_output(tmp_path):
    """The same run written both ways: every branch equals its Parquet column."""
    for threads, batch in ((1, 3), (2, 7)):
        root, parquet = tmp_path / f"o{threads}.root", tmp_path / f"o{threads}.parquet"
        for path in (root, parquet):
            _run(output_sink(str(path), ["Numbers", "Plus"]), n=50, batch_size=batch,
                 threads=threads)
        tree, table = _tree(root), pq.read_table(parquet)
        assert list(tree) == ["Numbers", "Plus"]
        for name in tree:
            assert tree[name].dtype == np.int64
            assert np.array_equal(tree[name], table.column(name).to_numpy())
    assert sorted(os.listdir(tmp_path)) == ["o1.parquet", "o1.root", "o2.parquet", "o2.root"]


class Record:
    """A per-event record with nested fields, persisted as an Arrow struct (as the EDM does)."""

    def __init__(self, values):
        self.values = values

    def to_arrow(self):
        v = self.values
        inner = pa.StructArray.from_arrays([pa.array(v.astype(np.float32)), pa.array(v % 2 == 0)],
                                           names=["x", "even"])
        return pa.StructArray.from_arrays([pa.array(v.astype(np.uint32)), inner],
                                          names=["id", "term"])


class Lists:
    """A variable number of values per event."""

    def __init__(self, values):
        self.values = values

    def to_arrow(self):
        return pa.array([[int(x)] * (int(x) % 3) for x in self.values], pa.list_(pa.int64()))


def _producer(cls):
    from metflow.framework import Algorithm, ReadHandleKey, WriteHandleKey

    class Produce(Algorithm):
        source = ReadHandleKey("Numbers")
        result = WriteHandleKey("Obj")

        def compute(self, source):
            return cls(source)

    return Produce()


def test_structs_become_one_branch_per_leaf_and_can_be_renamed(tmp_path):
    path = tmp_path / "rec.root"
    sink = RootSink(str(path), ["Numbers", "Obj"], tree="events",
                    branch_names={"Obj_id": "objectId"}, basket_size=4)
    _run(sink, n=11, algorithms=[_producer(Record)])
    tree = _tree(path, "events")
    assert list(tree) == ["Numbers", "objectId", "Obj_term_x", "Obj_term_even"]
    n = np.arange(11)
    assert tree["objectId"].dtype == np.uint32 and np.array_equal(tree["objectId"], n)
    assert tree["Obj_term_x"].dtype == np.float32 and np.array_equal(tree["Obj_term_x"], n)
    assert np.array_equal(tree["Obj_term_even"], n % 2 == 0)
    assert sink.summary() == f"wrote 11 events to {path} (TTree 'events')"


def test_lists_are_refused_naming_the_key_and_leave_only_partial(tmp_path):
    path = tmp_path / "lists.root"
    with pytest.raises(SinkError, match=r"cannot write key 'Obj' as flat ROOT branches.*"
                                        r"\.parquet"):
        _run(RootSink(str(path), ["Numbers", "Obj"]), algorithms=[_producer(Lists)])
    assert not path.exists() and not [n for n in os.listdir(tmp_path) if ".tmp-" in n]


def test_refuse_flat_rejects_keys_at_configuration(tmp_path):
    path = str(tmp_path / "out.root")
    with pytest.raises(ConfigurationError, match=r"out\.root.*flat TTree.*it holds numbers; it "
                                                 r"cannot hold lists: 'Obj', 'Other'.*\.parquet"):
        output_sink(path, ["Numbers", "Obj", "Other"], flat_hint="it holds numbers",
                    refuse_flat=lambda key: "lists" if key != "Numbers" else None)
    assert os.listdir(tmp_path) == []


def test_duplicate_branch_names_are_refused(tmp_path):
    sink = RootSink(str(tmp_path / "dup.root"), ["Numbers", "Plus"],
                    branch_names={"Plus": "Numbers"})
    with pytest.raises(SinkError, match="branch 'Numbers' of key 'Plus' is also a branch of key "
                                        "'Numbers'"):
        _run(sink)


def test_a_failing_run_leaves_no_target_only_partial_with_the_events_done(tmp_path, capsys):
    out = tmp_path / "out.root"
    code = main(["run", JOB, "--output", str(out), "-q", "--batch-size", "5",
                 "--set", "test.fail_at=23"])
    err = capsys.readouterr().err
    assert code == 1 and "injected failure at event 23" in err and "out.root.partial" in err
    assert not out.exists()
    assert sorted(os.listdir(tmp_path)) == ["out.root.partial"]
    tree = _tree(str(out) + ".partial")
    assert tree["Numbers"].tolist() == list(range(20))
    assert tree["Plus"].tolist() == list(range(1, 21))


def test_success_replaces_an_old_output_atomically(tmp_path):
    out = tmp_path / "out.root"
    out.write_bytes(b"old")
    assert main(["run", JOB, "--output", str(out), "-q", "--set", "test.events=7"]) == 0
    assert _tree(out)["Plus"].tolist() == list(range(1, 8))
    assert os.listdir(tmp_path) == ["out.root"]


def test_root_output_refuses_a_directory_and_an_input(tmp_path, capsys):
    directory = tmp_path / "dir.root"
    directory.mkdir()
    assert main(["run", JOB, "--output", str(directory), "-q"]) == 2
    assert "is a directory: refusing to replace it" in capsys.readouterr().err
    assert directory.is_dir() and os.listdir(directory) == []
    sink = RootSink(str(tmp_path / "in.root"), ["Numbers"])
    (tmp_path / "in.root").write_bytes(b"input")

    class FileSource(CountingSource):
        def input_paths(self):
            return [str(tmp_path / "in.root")]

    with pytest.raises(ConfigurationError, match="is an input of this run"):
        _run(sink, source=FileSource(5))
    assert (tmp_path / "in.root").read_bytes() == b"input"


def test_missing_uproot_names_the_extra(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "uproot", None)
    with pytest.raises(ConfigurationError, match=r'uproot.*pip install "metflow\[physlite\]"'):
        output_sink(str(tmp_path / "out.root"), ["Numbers"])


def test_dask_output_directory_named_root_is_refused(tmp_path, capsys):
    with pytest.raises(ConfigurationError, match=r"d\.root.*directory of Parquet parts"):
        check_directory_output("d.root")
    check_directory_output("out_dir")
    assert main(["run", JOB, "--executor", "dask", "--workers", "1",
                 "--output", str(tmp_path / "d.root")]) == 2
    assert "directory of Parquet parts" in capsys.readouterr().err
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize("threads", [1, 2])
def test_sigterm_keeps_the_events_done_in_partial(tmp_path, threads):
    marker, out = tmp_path / "started", tmp_path / "out.root"
    proc = subprocess.Popen(
        [sys.executable, "-m", "metflow", "run", JOB, "--output", str(out), "-q",
         "--batch-size", "10", "--threads", str(threads), "--set", "test.events=100000",
         "--set", "test.sleep=0.02", "--set", f"test.marker={marker}"],
        cwd=tmp_path, text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(
            [str(pathlib.Path(__file__).resolve().parent), os.environ.get("PYTHONPATH", "")])})
    deadline = time.monotonic() + 60
    while not marker.exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise AssertionError(f"run ended or hung before the signal: {proc.communicate()}")
        time.sleep(0.05)
    time.sleep(0.3)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 143, err
    assert "interrupted by SIGTERM after" in err and "out.root.partial" in err
    done = int(re.search(r"after (\d+) events", err).group(1))
    assert 0 < done < 100000
    tree = _tree(str(out) + ".partial")
    assert tree["Numbers"].tolist() == list(range(done))
    assert tree["Plus"].tolist() == list(range(1, done + 1))
    assert not out.exists() and sorted(os.listdir(tmp_path)) == ["out.root.partial", "started"]
