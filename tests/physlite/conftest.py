"""Shared fixtures: the two example PHYSLITE files, read once per test session."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
DATA = REPO_ROOT.parent / "shared" / "data" / "physlite"
RUN2 = DATA / "PHYSLITE_Run2_Zee_example.root"
RUN3 = DATA / "PHYSLITE_Run3_ttbar_rntuple.root"
FILES = {"run2_ttree": RUN2, "run3_rntuple": RUN3}


def _require(path: Path) -> Path:
    pytest.importorskip("uproot")
    pytest.importorskip("awkward")
    if not path.exists():
        pytest.skip(f"example file {path} not present")
    return path


@pytest.fixture(scope="session", params=sorted(FILES))
def physlite_path(request) -> Path:
    return _require(FILES[request.param])


@pytest.fixture(scope="session")
def run2_path() -> Path:
    return _require(RUN2)


@pytest.fixture(scope="session")
def run3_path() -> Path:
    return _require(RUN3)


_BLOCKS: dict = {}


@pytest.fixture(scope="session")
def physlite_block(physlite_path):
    """(PhysliteFile, {key: EDM object}) for all events of the file, ATLAS naming."""
    from metflow.algorithms.physlite import PhysliteFile, PhysliteSource
    if physlite_path not in _BLOCKS:
        source = PhysliteSource(physlite_path)
        _BLOCKS[physlite_path] = (PhysliteFile(physlite_path), source.read(0, source.n_events()))
    return _BLOCKS[physlite_path]
