"""Pythia8 + toy-detector generator: schema, links, physics sanity, pileup, reproducibility, CLI."""

import argparse
import sys

import numpy as np
import pytest

pytest.importorskip("pythia8mc", reason="needs the gen extra: pip install \"metflow[gen]\"")
pytest.importorskip("fastjet", reason="needs the gen extra: pip install \"metflow[gen]\"")

import pyarrow.parquet as pq  # noqa: E402

from metflow.algorithms.generation import cli, pythia_gen  # noqa: E402
from metflow.algorithms.generation.pythia_gen import GenerationConfig, EventFactory, generate  # noqa: E402
from metflow.edm.containers import LINK, LINKS, schema_for  # noqa: E402
from metflow.edm.persistence import read_parquet  # noqa: E402
from metflow.edm.units import GeV  # noqa: E402

LIBRARY_SIZE = 40
SCHEMA_KEYS = ("EventInfo", "PrimaryVertices", "InDetTracks", "TopoClusters", "PFOs", "AntiKt4EMPFlowJets",
               "AntiKt4EMTopoJets", "Electrons", "Photons", "Muons", "TauJets", "TruthMET")


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory):
    return str(tmp_path_factory.mktemp("metflow-cache"))


def _config(process, n, mu, cache_dir, seed=7):
    return GenerationConfig(process, n, mu=mu, seed=seed, library_size=LIBRARY_SIZE, cache_dir=cache_dir)


@pytest.fixture(scope="module")
def ttbar_file(tmp_path_factory, cache_dir):
    path = tmp_path_factory.mktemp("gen") / "ttbar.parquet"
    report = generate(_config("ttbar", 8, 10, cache_dir), path, block_size=3, progress=False)
    assert report.n_events == 8 and report.bytes_written > 0
    return path


def test_file_has_exactly_schema_v1_and_reads_back(ttbar_file):
    pf = pq.ParquetFile(ttbar_file)
    assert tuple(pf.schema_arrow.names) == SCHEMA_KEYS
    for key in SCHEMA_KEYS:
        arrow_type = pf.schema_arrow.field(key).type
        struct = arrow_type if key in ("EventInfo", "TruthMET") else arrow_type.value_type
        names = {f.name for f in struct}
        schema = schema_for(key)
        assert set(schema.required) <= names <= set(schema.names), key
        if key.startswith("AntiKt4"):    # the PV track moments METMaker's muon-jet rule reads
            assert {"sumpt_trk_pt500", "n_trk_pt500"} <= names
        if key == "Muons":
            assert "id_track_pt" in names
    data = read_parquet(ttbar_file)     # strict decode: dtypes, finiteness, offsets, links
    assert data["EventInfo"].n_events == 8
    assert np.all(data["EventInfo"]["mu"] == np.float32(10))
    assert np.array_equal(data["EventInfo"]["event_number"], np.arange(1, 9))


def test_every_link_is_in_range(ttbar_file):
    data = read_parquet(ttbar_file, validate=False)
    n_checked = 0
    for key, obj in data.items():
        if not hasattr(obj, "offsets"):
            continue
        for f in obj.schema.fields:
            if f.kind not in (LINK, LINKS):
                continue
            target = data[f.target]
            col = obj[f.name]
            if f.kind == LINKS:
                owner = np.repeat(np.arange(len(obj)), col.counts())
                values, allow_invalid = col.values, False
            else:
                owner, values, allow_invalid = np.arange(len(obj)), col, True
            bound = target.counts()[obj.event_of_object()[owner]]
            low = -1 if allow_invalid else 0
            assert np.all((values >= low) & (values < bound)), f"{key}.{f.name} -> {f.target}"
            n_checked += values.size
    assert n_checked > 1000
    # the hard-scatter vertex is first, and every event has one
    pv = data["PrimaryVertices"]
    assert np.all(pv.counts() >= 1)
    assert np.all(pv["is_hard_scatter"][pv.offsets[:-1]])
    assert pv["is_hard_scatter"].sum() == pv.n_events


def test_jets_are_sums_of_their_constituents(ttbar_file):
    data = read_parquet(ttbar_file)
    for key, target in (("AntiKt4EMPFlowJets", "PFOs"), ("AntiKt4EMTopoJets", "TopoClusters")):
        jets, cons = data[key], data[target]
        assert len(jets) > 0
        cons_ev = cons.offsets[jets.event_of_object()]
        for j in range(len(jets)):
            idx = cons_ev[j] + jets["constituents"][j]
            np.testing.assert_allclose(cons["px"][idx].astype(np.float64).sum(), jets["constit_px"][j],
                                       rtol=1e-4, atol=5.0)
        assert np.all((jets["emfrac"] >= 0) & (jets["emfrac"] <= 1))
        assert np.all((jets["jvt"] == np.float32(-0.1)) | ((jets["jvt"] >= 0) & (jets["jvt"] <= 1)))
        central = np.abs(jets.eta()) < 2.4
        assert np.any(jets["ghost_tracks"].counts()[central] > 0)


def test_zee_has_two_electrons_at_the_z_mass(tmp_path, cache_dir):
    path = tmp_path / "zee.parquet"
    generate(_config("zee", 50, 0, cache_dir), path, progress=False)
    el = read_parquet(path, ["Electrons"])["Electrons"]
    masses = []
    for i in range(el.n_events):
        ev = el.event(i)
        if len(ev) != 2:
            continue
        p = np.array([ev["e"], ev["px"], ev["py"], ev["pz"]], np.float64).sum(axis=1)
        masses.append(np.sqrt(max(p[0] ** 2 - p[1] ** 2 - p[2] ** 2 - p[3] ** 2, 0.0)))
        assert ev["charge"].sum() == 0
    masses = np.array(masses)
    assert masses.size >= 10, f"only {masses.size} of 50 Z->ee events have two electrons"
    near = np.abs(masses - 91.19 * GeV) < 10 * GeV
    assert near.mean() > 0.8, masses / GeV
    assert abs(np.median(masses) - 91.19 * GeV) < 3 * GeV


def test_znunu_truth_met_is_the_z_pt(cache_dir):
    factory = EventFactory(_config("znunu", 12, 0, cache_dir), None)
    agree = 0
    for i in range(12):
        out = factory.event(i)
        z = factory.generator.last_copy_p4(23)
        met = np.hypot(out["TruthMET"]["nonint_mpx"], out["TruthMET"]["nonint_mpy"])
        z_pt = np.hypot(z[0], z[1])
        assert z_pt > 20 * GeV
        agree += abs(met - z_pt) < 0.05 * z_pt + 2 * GeV
        # same direction: the invisible momentum is the Z momentum
        assert out["TruthMET"]["nonint_mpx"] * z[0] + out["TruthMET"]["nonint_mpy"] * z[1] > 0
    assert agree >= 11


def test_pileup_adds_tracks_and_clusters_but_not_hard_scatter_tracks(cache_dir):
    counts = {}
    for mu in (0, 60):
        factory = EventFactory(_config("ttbar", 3, mu, cache_dir), None)
        counts[mu] = [factory.event(i) for i in range(3)]
    for quiet, busy in zip(counts[0], counts[60]):
        assert np.count_nonzero(quiet["InDetTracks"]["vertex"] == 0) == \
            np.count_nonzero(busy["InDetTracks"]["vertex"] == 0)
        assert len(busy["InDetTracks"]["px"]) > len(quiet["InDetTracks"]["px"]) + 100
        assert len(busy["TopoClusters"]["px"]) > len(quiet["TopoClusters"]["px"])
        assert len(busy["PrimaryVertices"]["x"]) > 10 and len(quiet["PrimaryVertices"]["x"]) == 1
        assert np.array_equal(quiet["PrimaryVertices"]["z"][:1], busy["PrimaryVertices"]["z"][:1])


def test_same_seed_same_output_for_any_block_size_and_process_count(tmp_path, cache_dir):
    cfg = _config("zmumu", 6, 5, cache_dir, seed=11)
    a, b, c = tmp_path / "a.parquet", tmp_path / "b.parquet", tmp_path / "c.parquet"
    generate(cfg, a, block_size=6, processes=1, progress=False)
    generate(cfg, b, block_size=2, processes=2, progress=False)
    generate(GenerationConfig("zmumu", 6, mu=5, seed=12, library_size=LIBRARY_SIZE, cache_dir=cache_dir), c,
             progress=False)
    ta, tb, tc = (pq.read_table(p) for p in (a, b, c))
    assert ta.equals(tb)
    assert not ta.column("InDetTracks").equals(tc.column("InDetTracks"))


def test_min_bias_library_is_cached(cache_dir):
    lib, path = pythia_gen.load_or_generate_library(cache_dir, LIBRARY_SIZE)
    again, path2 = pythia_gen.load_or_generate_library(cache_dir, LIBRARY_SIZE, log=pytest.fail)
    assert path == path2 and lib.n_events == LIBRARY_SIZE
    assert np.array_equal(lib.particles.px, again.particles.px)


def test_zero_events_gives_a_valid_empty_file(tmp_path, cache_dir):
    path = tmp_path / "empty.parquet"
    generate(_config("dijet", 0, 0, cache_dir), path, progress=False)
    assert pq.ParquetFile(path).metadata.num_rows == 0
    assert tuple(pq.ParquetFile(path).schema_arrow.names) == SCHEMA_KEYS


@pytest.mark.parametrize("kwargs, message", [
    (dict(process="tbar"), "did you mean 'ttbar'"),
    (dict(n_events=-1), "--events"),
    (dict(mu=-1.0), "--mu"),
    (dict(mu=float("nan")), "--mu"),
])
def test_bad_configuration_is_rejected(kwargs, message):
    args = dict(process="ttbar", n_events=1, mu=0.0, seed=1) | kwargs
    with pytest.raises(ValueError, match=message):
        GenerationConfig(**args)


def test_missing_output_directory_is_named(tmp_path, cache_dir):
    missing = tmp_path / "no" / "such" / "dir" / "out.parquet"
    with pytest.raises(FileNotFoundError, match="no/such/dir"):
        generate(_config("zee", 1, 0, cache_dir), missing, progress=False)


def _args(*argv):
    parser = argparse.ArgumentParser()
    cli.add_arguments(parser)
    return parser.parse_args(list(argv))


def test_cli_writes_a_file_and_reports(tmp_path, cache_dir, capsys):
    out = tmp_path / "cli.parquet"
    rc = cli.run(_args("--process", "wenu", "--events", "3", "--mu", "2", "--seed", "5", "--output", str(out),
                       "--cache-dir", cache_dir, "--library-size", str(LIBRARY_SIZE)))
    assert rc == 0
    assert pq.ParquetFile(out).metadata.num_rows == 3
    assert "events/s" in capsys.readouterr().out


def test_cli_names_the_extra_when_pythia_is_missing(monkeypatch, capsys, tmp_path):
    monkeypatch.setitem(sys.modules, "pythia8mc", None)   # makes `import pythia8mc` fail
    rc = cli.run(_args("--process", "ttbar", "--events", "1", "--output", str(tmp_path / "x.parquet")))
    err = capsys.readouterr().err
    assert rc == 2
    assert 'pip install "metflow[gen]"' in err and "pythia8mc" in err
    assert not (tmp_path / "x.parquet").exists()
