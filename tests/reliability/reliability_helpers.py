"""Helpers of the reliability tests: the small job files in jobs/, a subprocess runner and the
check of a clean error (a module of its own: `conftest` is a name every test folder uses)."""

from __future__ import annotations

import os
import pathlib
import subprocess
import sys


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
