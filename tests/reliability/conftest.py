"""Helpers of the reliability tests: the small job files in jobs/, a subprocess runner, an input
file maker and a fake plugin distribution."""

from __future__ import annotations

import importlib
import os
import pathlib
import subprocess
import sys

import pytest

HERE = pathlib.Path(__file__).resolve().parent
JOBS = HERE / "jobs"
REPO_ROOT = HERE.parents[1]
PHYSLITE_DATA = REPO_ROOT.parent / "shared" / "data" / "physlite"
sys.path.insert(0, str(JOBS))


def job(name: str) -> str:
    return str(JOBS / f"{name}.py")


def metflow(*args: str, cwd: str | os.PathLike | None = None, env: dict | None = None,
            timeout: float = 120) -> subprocess.CompletedProcess:
    """`python -m metflow ARGS` in a subprocess (what a user or a batch system runs)."""
    return subprocess.run([sys.executable, "-m", "metflow", *args], capture_output=True,
                          text=True, cwd=cwd, timeout=timeout, env={**os.environ, **(env or {})})


def assert_clean_error(err: str, *needles: str, algorithm_traceback: bool = False) -> None:
    """A `metflow: error:` line naming what went wrong, and no raw traceback (an algorithm's
    own exception, a bug to fix, is followed by its traceback, indented under "caused by")."""
    assert "metflow: error:" in err, err
    if algorithm_traceback:
        assert err.index("metflow: error:") < err.index("  caused by:\n    Traceback"), err
    else:
        assert "Traceback (most recent call last)" not in err, err
    for needle in needles:
        assert needle in err, (needle, err)


@pytest.fixture
def counting_input(tmp_path):
    """A 40-event Parquet file (Numbers = event index, Plus = index + 1) written by metflow."""
    from metflow.cli import main

    path = tmp_path / "input.parquet"
    assert main(["run", job("counting"), "--output", str(path), "-q",
                 "--set", "test.events=40"]) == 0
    return path


@pytest.fixture
def fake_plugins(tmp_path, monkeypatch):
    """A distribution `badplug` declaring metflow.algorithms entry points, as pip would."""
    site = tmp_path / "site"
    (site / "badplug").mkdir(parents=True)
    (site / "badplug" / "__init__.py").write_text(
        "from metflow.framework import Algorithm, ReadHandleKey, WriteHandleKey\n"
        "class BadInit(Algorithm):\n"
        "    source = ReadHandleKey('Numbers')\n"
        "    out = WriteHandleKey('Plus')\n"
        "    def __init__(self, **kw):\n"
        "        raise RuntimeError('calibration file missing')\n"
        "    def compute(self, source):\n"
        "        return source\n"
        "class Shadow(BadInit):\n"
        "    def __init__(self, **kw):\n"
        "        Algorithm.__init__(self, **kw)\n"
        "class Override(Shadow):\n"
        "    overrides_builtin = True\n")
    dist = site / "badplug-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: badplug\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text(
        "[metflow.algorithms]\n"
        "BadInit = badplug:BadInit\n"
        "CalibrateHits = badplug:Shadow\n"
        "SumHits = badplug:Override\n"
        "Missing = badplug.nowhere:Missing\n")
    monkeypatch.syspath_prepend(str(site))
    importlib.invalidate_caches()
    yield site
    sys.modules.pop("badplug", None)
