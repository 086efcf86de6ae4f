"""metflow.analysis equals the job path bit for bit on both example PHYSLITE files:
- the default selection gives every term of ``metflow run physlite_met --output`` (Parquet read
  back), MuonEloss included;
- a varied jet collection (scaled four-momenta, cartesian or pt/eta/phi/m) changes RefJet and
  FinalTrk exactly as METMaker run on the jets' shallow copy with those overrides;
- a jet mask is METMaker's JetRejectionDec (``rejected=``), invisible objects are markInvisible.
"""

from __future__ import annotations

import numpy as np
import pytest

from metflow.algorithms.met.maker import rebuild_event_met
from metflow.edm import keys as mk
from metflow.edm.persistence import read_parquet
from metflow.framework.runner import configure_job

from analysis_files import FILES, require, terms_of

MET_KEY = "MET_AnalysisMET"
KINDS = ("electrons", "photons", "taus", "muons")


def same_bits(a, b) -> bool:
    a, b = np.asarray(a), np.asarray(b)
    return a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()


def assert_terms_equal(api, met, terms=None):
    """Every term (mpx, mpy, sumet, and met/phi as METTermView computes them) bit for bit."""
    terms = met.names if terms is None else terms
    for term in terms:
        view = met[term]
        for field, expected in (("mpx", view.mpx), ("mpy", view.mpy), ("sumet", view.sumet),
                                ("met", view.met()), ("phi", view.phi())):
            got = np.asarray(api[term][field])
            assert same_bits(got, expected), (term, field, np.flatnonzero(got != expected)[:5])


@pytest.fixture(scope="module")
def job_output(tmp_path_factory):
    """`metflow run physlite_met --input RUN2 RUN3 --output met.parquet`, read back."""
    from metflow.cli import main

    paths = [require(FILES[name]) for name in sorted(FILES)]
    out = tmp_path_factory.mktemp("physlite_met") / "met.parquet"
    assert main(["run", "physlite_met", "--input", *map(str, paths), "--output", str(out),
                 "--quiet"]) == 0
    data = read_parquet(out)
    from metflow.algorithms.physlite import PhysliteFile

    met, start = {}, 0
    for path in paths:   # the output holds the files' events one after the other
        with PhysliteFile(path) as pfile:
            stop = start + pfile.n_events
        met[str(path)] = data[MET_KEY].slice(start, stop)
        start = stop
    assert start == data[MET_KEY].n_events
    return met


def test_default_selection_equals_physlite_met_bit_for_bit(events, job_output):
    from metflow.analysis import default_selection, rebuild_met

    expected = job_output[str(events.path)]
    api = rebuild_met(events, **default_selection(events))
    assert tuple(terms_of(api)) == expected.names
    assert mk.MUON_ELOSS in api.fields and mk.FINAL_TRK in api.fields
    assert len(api) == expected.n_events == events.n_events
    assert_terms_equal(api, expected)
    # the selection matters: no objects at all changes FinalTrk
    bare = rebuild_met(events)
    assert not same_bits(np.asarray(bare.FinalTrk.mpx), expected[mk.FINAL_TRK].mpx)


@pytest.fixture(scope="module")
def job_parts():
    """physlite_met's selections and METMaker (its configured algorithms), per file."""
    cache = {}

    def get(path):
        if path not in cache:
            job, _ = configure_job("physlite_met", sets=["physlite.sizes=False"], inputs=[str(path)])
            selections = {alg.name.rsplit("_", 1)[-1]: alg for alg in job.algorithms[:-1]}
            maker_alg = job.algorithms[-1]
            maker_alg.initialize()
            cache[path] = (selections, maker_alg.make_maker())
        return cache[path]
    return get


def reference(events, job_parts, jets, **options):
    """rebuild_event_met as METMakerAlg calls it, on the job's selected objects and `jets`."""
    selections, maker = job_parts(events.path)
    objects = {kind: selections[kind].compute(events.container(kind)) for kind in KINDS}
    met, _ = rebuild_event_met(maker, events.assoc_map, events.core, jets, objects,
                               soft_terms="track", **options)
    return met.to_container()


SCALE = np.float32(1.05)


def test_scaled_jets_change_refjet_as_the_jets_shallow_copy(events, job_parts):
    from metflow.analysis import default_selection, rebuild_met

    jets = events.jets
    masks = default_selection(events)
    varied = {c: jets[c] * SCALE for c in ("px", "py", "pz", "e")}
    api = rebuild_met(events, **masks, kinematics={"jets": varied})
    container = events.container("jets")
    copy = container.shallow_copy({c: container[c] * SCALE for c in ("px", "py", "pz", "e")})
    expected = reference(events, job_parts, copy)
    assert_terms_equal(api, expected)
    nominal = rebuild_met(events, **masks)
    changed = np.asarray(api.RefJet.mpx) != np.asarray(nominal.RefJet.mpx)
    assert changed.sum() > events.n_events // 2
    assert (np.asarray(api.FinalTrk.mpx) != np.asarray(nominal.FinalTrk.mpx)).sum() > 0
    assert same_bits(np.asarray(api.RefEle.mpx), np.asarray(nominal.RefEle.mpx))


def test_polar_jet_kinematics_convert_as_the_reader(events, job_parts):
    """(pt, eta, phi, m) in: px = pt cos(phi), ..., e = sqrt(p^2 + m^2) in float64, then
    float32, as the PHYSLITE reader converts the stored jets."""
    from metflow.analysis import default_selection, rebuild_met

    jets = events.jets
    varied = {"pt": jets.pt * 1.1, "eta": jets.eta, "phi": jets.phi, "mass": jets.m * 1.1}
    pt, eta, phi, m = (np.asarray(ak_flat(varied[c]), np.float64) for c in ("pt", "eta", "phi", "mass"))
    px, py, pz = pt * np.cos(phi), pt * np.sin(phi), pt * np.sinh(eta)
    e = np.sqrt(px * px + py * py + pz * pz + m * m)
    container = events.container("jets")
    copy = container.shallow_copy({"px": px.astype(np.float32), "py": py.astype(np.float32),
                                   "pz": pz.astype(np.float32), "e": e.astype(np.float32)})
    api = rebuild_met(events, **default_selection(events), kinematics={"jets": varied})
    assert_terms_equal(api, reference(events, job_parts, copy))


def ak_flat(array):
    import awkward as ak
    return ak.to_numpy(ak.flatten(array, axis=1))


def test_jet_mask_is_jet_rejection(events, job_parts):
    """Jets left out of the mask are METMaker-rejected: no RefJet, tracks still in the TST."""
    import awkward as ak

    from metflow.analysis import default_selection, rebuild_met
    from metflow.algorithms.met.maker import METBuilder
    from metflow.edm.met import MissingETAssociationHelper, ObjectType, Source

    masks = default_selection(events)
    keep = events.jets.pt > 40e3
    api = rebuild_met(events, **masks, jets=keep)
    selections, maker = job_parts(events.path)
    objects = {kind: selections[kind].compute(events.container(kind)) for kind in KINDS}
    helper = MissingETAssociationHelper(events.assoc_map)
    met = METBuilder(events.n_events)
    for kind, otype, term in zip(KINDS, (ObjectType.Electron, ObjectType.Photon, ObjectType.Tau,
                                          ObjectType.Muon),
                                 (mk.REF_ELE, mk.REF_GAMMA, mk.REF_TAU, mk.MUONS_TERM)):
        maker.rebuild_met(term, otype, objects[kind], helper, met)
    maker.rebuild_jet_met(mk.REF_JET, mk.PV_SOFT_TRK, met, events.container("jets"), events.core,
                          helper, rejected=~ak_flat(keep), muons=objects["muons"],
                          electrons=objects["electrons"])
    maker.build_met_sum(mk.FINAL_TRK, met, Source.track())
    assert_terms_equal(api, met.to_container())
    every = rebuild_met(events, **masks, jets=ak.ones_like(keep, dtype=bool))
    nominal = rebuild_met(events, **masks)
    for term in terms_of(nominal):
        assert same_bits(np.asarray(every[term].mpx), np.asarray(nominal[term].mpx)), term
    assert not same_bits(np.asarray(api.PVSoftTrk.mpx), np.asarray(nominal.PVSoftTrk.mpx))


def test_invisible_electrons_as_mark_invisible(events, job_parts):
    """invisible={'electrons': mask} with no visible electrons is met.invisible='electrons'."""
    from metflow.analysis import default_selection, rebuild_met

    masks = default_selection(events)
    electrons = masks.pop("electrons")
    api = rebuild_met(events, **masks, invisible={"electrons": electrons})
    expected = reference(events, job_parts, events.container("jets"), invisible="electrons")
    assert mk.INVISIBLES in api.fields and expected.names[0] == mk.INVISIBLES
    assert_terms_equal(api, expected)
    assert np.all(np.asarray(api.RefEle.sumet) == 0)
