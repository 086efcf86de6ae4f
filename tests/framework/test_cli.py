"""The metflow CLI as a user runs it (in-process through main(), plus packaging checks)."""

import json
import os
import subprocess
import sys
import tomllib

import pyarrow.parquet as pq
import pytest

from metflow.cli import main

HERE = os.path.dirname(__file__)
ROOT = os.path.dirname(os.path.dirname(HERE))
JOBS = os.path.join(HERE, "jobs")


def test_list_shows_algorithms_and_jobs(capsys):
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    assert "CalibrateHits" in out and "inputs:" in out and "demo" in out


def test_graph_dot_and_dry_run(capsys):
    assert main(["graph", "demo", "--format", "dot"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("digraph") and '"Calibrate0" -> "Sum0"' in out
    assert main(["run", "demo", "--dry-run"]) == 0
    assert "dry run: graph valid" in capsys.readouterr().out


def test_run_by_path_and_name_with_timeline(tmp_path, capsys):
    trace = tmp_path / "t.json"
    code = main(["run", os.path.join(ROOT, "jobs", "demo.py"), "-n", "600", "--threads", "2",
                 "--batch-size", "50", "--timeline", str(trace), "--set", "demo.work=20"])
    assert code == 0
    out = capsys.readouterr().out
    assert "events: 600" in out and "Calibrate0" in out and "mean TotalSum" in out
    events = json.load(open(trace))["traceEvents"]
    tracks = {e["tid"] for e in events if e["ph"] == "X"}
    assert len(tracks) >= 2
    slices = [e for e in events if e["ph"] == "X" and e["name"] == "Sum0"]
    assert len(slices) == 12 and all("slot" in e["args"] and "events" in e["args"] for e in slices)


def test_typo_key_fails_before_event_one(capsys):
    assert main(["run", os.path.join(JOBS, "typo_key.py")]) == 2
    err = capsys.readouterr().err
    assert "'Reader'" in err and "'Plsu'" in err and "did you mean 'Plus'" in err
    assert "events:" not in err


def test_unknown_flag_and_injection_rejected(capsys):
    assert main(["run", "demo", "--set", "demo.brances=3"]) == 2
    assert "did you mean 'demo.branches'" in capsys.readouterr().err
    assert main(["run", "demo", "--set", "demo.work=__import__('os').system('true')"]) == 2
    assert "not a Python literal" in capsys.readouterr().err


@pytest.mark.parametrize("where,needle", [
    ("initialize", "Phase (FailingPhase) failed in initialize()"),
    ("execute", "Adder (AddConstant) failed on events [4, 6)"),
    ("finalize", "Phase (FailingPhase) failed in finalize()"),
    ("source", "source counting(20) failed on events [4, 6)"),
    ("sink", "sink recorder failed writing events [2, 4)"),
])
def test_faults_exit_nonzero_with_context(tmp_path, capsys, where, needle):
    out = tmp_path / "o.parquet"
    code = main(["run", os.path.join(JOBS, "faulty.py"), "--batch-size", "2", "-q",
                 "--set", f"fault.where={where}", "--output", str(out)])
    assert code == 1
    err = capsys.readouterr().err
    assert needle in err and "caused by" in err
    assert not out.exists()  # never a complete-looking output after a failure


def test_failed_job_keeps_processed_events_in_partial(tmp_path, capsys):
    out = tmp_path / "o.parquet"
    main(["run", os.path.join(JOBS, "faulty.py"), "--batch-size", "2", "-q", "--set",
          "fault.where=execute", "--set", "fault.event=9", "--output", str(out)])
    partial = pq.read_table(str(out) + ".partial")
    assert partial.column("Plus").to_pylist() == list(range(1, 9))


def test_skip_policy_writes_failed_list_and_exits_nonzero(tmp_path, capsys):
    out, failed = tmp_path / "o.parquet", tmp_path / "failed.json"
    code = main(["run", os.path.join(JOBS, "faulty.py"), "--batch-size", "2", "-q",
                 "--set", "fault.where=execute", "--on-error", "skip", "--output", str(out),
                 "--failed-events", str(failed)])
    assert code == 1
    assert json.load(open(failed))[0]["first"] == 4
    assert pq.read_table(out).num_rows == 18


def test_job_file_runs_standalone(tmp_path):
    result = subprocess.run([sys.executable, os.path.join(ROOT, "jobs", "demo.py"), "-n", "100", "-q"],
                            capture_output=True, text=True, cwd=tmp_path)
    assert result.returncode == 0, result.stderr


def test_packaging_lists_every_package_and_no_generic_top_level():
    config = tomllib.load(open(os.path.join(ROOT, "pyproject.toml"), "rb"))["tool"]["setuptools"]
    listed = set(config["packages"])
    mapping = config["package-dir"]
    found = set()
    for package, folder in mapping.items():
        for dirpath, _, files in os.walk(os.path.join(ROOT, folder)):
            if "__init__.py" in files:
                rel = os.path.relpath(dirpath, os.path.join(ROOT, folder))
                found.add(package if rel == "." else package + "." + rel.replace(os.sep, "."))
    assert found == listed
    code = ("import importlib.util, sys; sys.path = [p for p in sys.path if p not in ('', '.')]; "
            "print([m for m in ('framework', 'edm', 'algorithms', 'jobs') "
            "if importlib.util.find_spec(m)])")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd="/")
    assert result.stdout.strip() == "[]", result.stdout + result.stderr


def test_set_algorithm_option_by_instance_name(tmp_path, capsys):
    out = tmp_path / "o.parquet"
    assert main(["run", "demo", "-n", "20", "-q", "--output", str(out), "--set", "Sum0.threshold=1e9"]) == 0
    table = pq.read_table(out)
    assert table.column("HitSum0").to_pylist() == [0.0] * 20
    assert all(v > 0 for v in table.column("HitSum1").to_pylist())
    assert main(["run", "demo", "-n", "20", "-q", "--set", "Sum0.treshold=1"]) == 2
    assert "did you mean 'threshold'" in capsys.readouterr().err
    assert main(["run", "demo", "-n", "20", "-q", "--set", "Sun0.threshold=1"]) == 2
    assert "did you mean 'Sum0.threshold'" in capsys.readouterr().err
