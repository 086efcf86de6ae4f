"""The two example PHYSLITE files (skipped cleanly when absent) and their chunks, read once."""

from __future__ import annotations

import pytest

from analysis_files import FILES, require


@pytest.fixture(scope="session", params=sorted(FILES))
def physlite_path(request):
    return require(FILES[request.param])


_EVENTS: dict = {}


@pytest.fixture(scope="session")
def events(physlite_path):
    """metflow.analysis.PhysliteEvents of every entry of the file."""
    from metflow.analysis import open_physlite
    if physlite_path not in _EVENTS:
        _EVENTS[physlite_path] = open_physlite(physlite_path)
    return _EVENTS[physlite_path]
