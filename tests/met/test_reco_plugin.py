"""The example plugin examples/metflow-lrt: found through its entry points (a distribution made
from its pyproject.toml on a temporary path), listed by `metflow list`, and included in the
association map by configuration alone."""

from __future__ import annotations

import importlib
import pathlib
import sys
import tomllib

import numpy as np
import pyarrow.parquet as pq
import pytest

from metflow.edm import keys as K
from metflow.edm.persistence import read_parquet, write_parquet
from metflow.framework.registry import ENTRY_POINT_GROUP, discover
from metflow.framework.runner import RunOptions, configure_job, run_job

from test_reco import run_chain
from test_reco_support import make_block, random_event

EXAMPLE = pathlib.Path(__file__).resolve().parents[2] / "examples" / "metflow-lrt"
LRT_KEYS = ("MuonsLRT", "LRTElectrons")


@pytest.fixture
def lrt_plugin(tmp_path, monkeypatch):
    """Make metflow-lrt importable and its entry points visible, as `pip install` would."""
    project = tomllib.loads((EXAMPLE / "pyproject.toml").read_text())["project"]
    entry_points = project["entry-points"][ENTRY_POINT_GROUP]
    dist_info = tmp_path / "site" / f"metflow_lrt-{project['version']}.dist-info"
    dist_info.mkdir(parents=True)
    (dist_info / "METADATA").write_text(
        f"Metadata-Version: 2.1\nName: {project['name']}\nVersion: {project['version']}\n")
    (dist_info / "entry_points.txt").write_text(
        f"[{ENTRY_POINT_GROUP}]\n" + "".join(f"{k} = {v}\n" for k, v in entry_points.items()))
    monkeypatch.syspath_prepend(str(EXAMPLE / "src"))
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    importlib.invalidate_caches()
    yield entry_points
    for name in [m for m in sys.modules if m == "metflow_lrt" or m.startswith("metflow_lrt.")]:
        del sys.modules[name]


@pytest.fixture(scope="module")
def lrt_events():
    rng = np.random.default_rng(99)
    return [random_event(rng, extra_keys=LRT_KEYS) for _ in range(10)]


def test_plugin_is_discovered_and_listed(lrt_plugin, capsys):
    from metflow.cli import available_algorithm_modules, main
    from metflow.algorithms.met.reco import METObjectAssociator

    found = discover(available_algorithm_modules())
    for name in lrt_plugin:
        cls, origin = found[name]
        assert issubclass(cls, METObjectAssociator) and origin == "plugin metflow-lrt"
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    assert "METLRTMuonAssociator  [plugin metflow-lrt]" in out
    assert "MuonsLRT" in out


def test_map_gains_the_plugin_objects(lrt_plugin, lrt_events):
    from metflow_lrt import METLRTElectronAssociator, METLRTMuonAssociator

    block = make_block(lrt_events, extra_keys=LRT_KEYS)
    for jet in K.JET_COLLECTIONS:
        base = run_chain(block, jet)
        store = run_chain(block, jet, extra_associators=[METLRTMuonAssociator, METLRTElectronAssociator])
        amap = store[K.met_assoc_key(jet)]
        amap.validate().check_keys()
        assert amap.container_keys == (K.MUONS, K.ELECTRONS, K.PHOTONS, K.TAUS, *LRT_KEYS)
        lrt_mu = amap.obj_container == 4
        assert np.all(amap.obj_type[lrt_mu] == 8)
        # every LRT muon (no pT cut) is in the map
        ev_of_obj = amap.assoc_event()[amap.obj_assoc()]
        assert set(zip(ev_of_obj[lrt_mu].tolist(), amap.obj_index[lrt_mu].tolist())) == {
            (ev, i) for ev in range(len(lrt_events)) for i in range(len(lrt_events[ev]["MuonsLRT"]))}
        # the standard objects keep their places (plugin objects come after them in each
        # association), and the LRT constituents left the soft core
        base_map = base[K.met_assoc_key(jet)]

        def placed(m, std_only):
            slot = np.arange(m.n_objects) - m.obj_offsets[m.obj_assoc()]
            keep = m.obj_container < 4 if std_only else np.ones(m.n_objects, bool)
            return set(zip(m.obj_assoc()[keep].tolist(), slot[keep].tolist(), m.obj_container[keep].tolist(),
                           m.obj_index[keep].tolist()))

        assert placed(amap, True) == placed(base_map, False)
        assert amap.n_objects > base_map.n_objects
        _, soft_signals_base, _ = base["soft"]
        _, soft_signals_lrt, _ = store["soft"]
        assert np.all(soft_signals_lrt <= soft_signals_base)
        assert soft_signals_lrt.sum() < soft_signals_base.sum()


def test_met_reco_job_with_extra_associators(lrt_plugin, lrt_events, tmp_path):
    path = tmp_path / "lrt_input.parquet"
    write_parquet(path, make_block(lrt_events, extra_keys=LRT_KEYS))
    sets = ["met.extra_associators=['METLRTMuonAssociator', 'METLRTElectronAssociator']"]
    job, _ = configure_job("met_reco", sets=sets, inputs=[str(path)], output=str(tmp_path / "out.parquet"))
    result = run_job(job, RunOptions(quiet=True, progress=False, threads=2, batch_size=4))
    assert result.events == len(lrt_events) and not result.failed
    out = read_parquet(tmp_path / "out.parquet")
    for jet in K.JET_COLLECTIONS:
        assert out[K.met_assoc_key(jet)].container_keys[-2:] == LRT_KEYS
    assert set(LRT_KEYS) <= set(pq.ParquetFile(tmp_path / "out.parquet").schema_arrow.names)
