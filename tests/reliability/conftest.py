"""Fixtures of the reliability tests: an input file made by metflow and a fake plugin
distribution (helpers are in reliability_helpers.py)."""

from __future__ import annotations

import importlib
import sys

import pytest

from reliability_helpers import job


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
