"""The two example PHYSLITE files of tests/analysis (helpers shared by its modules; a name of its
own, since several test folders have a conftest module)."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
DATA = REPO_ROOT.parent / "shared" / "data" / "physlite"
FILES = {"run2_ttree": DATA / "PHYSLITE_Run2_Zee_example.root",
         "run3_rntuple": DATA / "PHYSLITE_Run3_ttbar_rntuple.root"}


def require(path: Path) -> Path:
    """``path``, or skip when uproot/awkward or the file are absent."""
    pytest.importorskip("uproot")
    pytest.importorskip("awkward")
    if not path.exists():
        pytest.skip(f"example file {path} not present")
    return path


def terms_of(met) -> list[str]:
    """The MET terms of a rebuild_met result, in order (its event identity fields left out)."""
    from metflow.analysis import IDENTITY_FIELDS

    return [f for f in met.fields if f not in IDENTITY_FIELDS]
