"""examples/coffea_met on the two example PHYSLITE files (skipped without coffea): coffea's Runner
in chunks gives, per event, the MET metflow.analysis rebuilds for the same masks on the whole
file, nominal and JES-varied; and the reasons README gives for coffea not feeding METMaker hold."""

from __future__ import annotations

import importlib.util
import sys
import warnings

import numpy as np
import pytest

from analysis_files import FILES, REPO_ROOT, require

EXAMPLE = REPO_ROOT / "examples" / "coffea_met"


@pytest.fixture(scope="module")
def example():
    pytest.importorskip("coffea")
    sys.path.insert(0, str(EXAMPLE))
    try:
        spec = importlib.util.spec_from_file_location("coffea_met_run", EXAMPLE / "run.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        import met_processor
    finally:
        sys.path.remove(str(EXAMPLE))
    return module, met_processor


def whole_file_events(path, tree, schema):
    from coffea.nanoevents import NanoEventsFactory
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return NanoEventsFactory.from_root({str(path): tree}, schemaclass=schema,
                                           mode="eager").events()


@pytest.mark.parametrize("name", sorted(FILES))
def test_processor_chunks_equal_the_api_on_the_whole_file(example, name):
    from metflow.analysis import open_physlite, rebuild_met

    run, met_processor = example
    path = require(FILES[name])
    out = run.run([str(path)], chunksize=40)
    chunks = sorted(out["chunks"].items(), key=lambda kv: int(kv[0].rsplit(":", 1)[1]))
    assert len(chunks) >= 2 and out["events"] == 100
    got = {v: np.concatenate([c[v] for _, c in chunks]) for v in ("nominal", "jes_up")}
    tree, schema = run.tree_and_schema(str(path))
    events = whole_file_events(path, tree, schema)
    masks = met_processor.select(events)
    whole = open_physlite(path)
    nominal = rebuild_met(whole, **masks)
    varied = rebuild_met(whole, **masks,
                         kinematics={"jets": met_processor.jes_varied_jets(events, 1.05)})
    assert got["nominal"].tobytes() == np.asarray(nominal.FinalTrk.met).tobytes()
    assert got["jes_up"].tobytes() == np.asarray(varied.FinalTrk.met).tobytes()
    assert not np.array_equal(got["nominal"], got["jes_up"])
    assert out["met"]["nominal", :].sum(flow=True) == 100


def test_coffea_physlite_schema_fails_on_the_run3_rntuple(example):
    """README: PHYSLITESchema groups branches by '.', RNTuple fields are 'AnalysisMuonsAuxDyn:pt',
    so the muon collection has no 'pt' when the schema adds the muon mass."""
    from coffea.nanoevents import PHYSLITESchema

    path = require(FILES["run3_rntuple"])
    with pytest.raises(KeyError, match="pt"):
        whole_file_events(path, "EventData", PHYSLITESchema)


def test_coffea_misreads_the_run2_member_wise_jet_links(example):
    """README: coffea reads METAssoc_AnalysisMETAux.jetLink (member-wise vector<ElementLink>)
    as if object-wise: its indices are not the jets' (metflow decodes the branch itself)."""
    import awkward as ak
    from coffea.nanoevents import PHYSLITESchema

    from metflow.analysis import open_physlite

    path = require(FILES["run2_ttree"])
    links = whole_file_events(path, "CollectionTree", PHYSLITESchema).METAssoc_MET.jetLink
    decoded = open_physlite(path).assoc_map
    assert ak.to_numpy(ak.num(links)).sum() == decoded.jet_index.shape[0]   # right counts...
    coffea_index = ak.to_numpy(ak.flatten(links.m_persIndex)).astype(np.int64)
    jets = ~decoded.is_misc
    assert not np.array_equal(coffea_index[jets], decoded.jet_index[jets])  # ...wrong values
    assert coffea_index[jets].max() > 10_000    # header bytes read as indices
