"""The two example PHYSLITE files (skipped cleanly when absent) and their chunks, read once."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
DATA = REPO_ROOT.parent / "shared" / "data" / "physlite"
FILES = {"run2_ttree": DATA / "PHYSLITE_Run2_Zee_example.root",
         "run3_rntuple": DATA / "PHYSLITE_Run3_ttbar_rntuple.root"}


def require(path: Path) -> Path:
    pytest.importorskip("uproot")
    pytest.importorskip("awkward")
    if not path.exists():
        pytest.skip(f"example file {path} not present")
    return path


@pytest.fixture(scope="session", params=sorted(FILES))
def physlite_path(request) -> Path:
    return require(FILES[request.param])


_EVENTS: dict = {}


@pytest.fixture(scope="session")
def events(physlite_path):
    """metflow.analysis.PhysliteEvents of every entry of the file."""
    from metflow.analysis import open_physlite
    if physlite_path not in _EVENTS:
        _EVENTS[physlite_path] = open_physlite(physlite_path)
    return _EVENTS[physlite_path]
