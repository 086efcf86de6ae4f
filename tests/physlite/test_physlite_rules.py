"""METMaker's rules on real PHYSLITE events, checked jet by jet: DoRemoveMuonJets (Run-3 tt̄),
the NNJvt validity range (Run-2 Z->ee), forward jets beyond JetEtaMax (both files), and the
MuonEloss term. Each event was checked by hand against Athena's METMaker code; the test reads
the jet's classification and the change of the terms, with the rule on and off."""

from __future__ import annotations

import numpy as np
import pytest

from metflow.algorithms.met import _maker_kernels as K
from metflow.algorithms.met.maker import METBuilder, ObjectType
from metflow.edm import keys as mk
from metflow.edm.met import MissingETAssociationHelper
from metflow.edm.units import GeV
from metflow.framework.runner import configure_job

KINDS = (("electrons", ObjectType.Electron, mk.REF_ELE), ("photons", ObjectType.Photon, mk.REF_GAMMA),
         ("taus", ObjectType.Tau, mk.REF_TAU), ("muons", ObjectType.Muon, mk.MUONS_TERM))


def rebuild(path, event, sets=()):
    """(METBuilder, jet result, jets) of physlite_met's METMaker for one event of `path`."""
    job, _ = configure_job("physlite_met", sets=["physlite.sizes=False", *sets], inputs=[str(path)])
    selections = {alg.name.rsplit("_", 1)[-1]: alg for alg in job.algorithms[:-1]}
    maker_alg = job.algorithms[-1]
    maker_alg.initialize()
    maker = maker_alg.make_maker()
    block = job.source.read(event, 1)
    objects = {kind: selections[kind].compute(block[selections[kind].key("objects")])
               for kind, _, _ in KINDS}
    assoc = block[maker_alg.key("assoc_map")]
    helper = MissingETAssociationHelper(assoc)
    met = METBuilder(1)
    for kind, otype, term in KINDS:
        maker.rebuild_met(term, otype, objects[kind], helper, met)
    jets = block[maker_alg.key("jets")]
    result = maker.rebuild_jet_met(mk.REF_JET, mk.PV_SOFT_TRK, met, jets,
                                   block[maker_alg.key("core")], helper, muons=objects["muons"],
                                   electrons=objects["electrons"])
    return met, result, jets


def xy(met, term):
    return met.term(term)[0, :2]


def test_remove_muon_jets_rejects_the_muon_track_jet(run3_path):
    met, res, jets = rebuild(run3_path, 67)
    off, res_off, _ = rebuild(run3_path, 67, ["met.remove_muon_jets=False"])
    changed = np.flatnonzero(res.status != res_off.status)
    assert changed.size == 1
    j = int(changed[0])
    assert res.status[j] == K.JET_REJECTED and res_off.status[j] == K.JET_HARD
    # the jet carries the muon's ID track: pT ratio < 2, muon track > 80% of the jet's PV tracks
    assert jets["sumpt_trk_pt500"][j] > 0 and jets["n_trk_pt500"][j] < 5
    # rejected: its calibrated momentum leaves the jet term (it had no overlap: weight 1) ...
    np.testing.assert_allclose(xy(off, mk.REF_JET) - xy(met, mk.REF_JET),
                               -np.array([jets["px"][j], jets["py"][j]], np.float64), rtol=1e-5)
    # ... and its PV tracks not used by the muon join the track soft term
    assert not np.allclose(xy(off, mk.PV_SOFT_TRK), xy(met, mk.PV_SOFT_TRK))
    final = np.hypot(*(sum(xy(met, t) for t in (mk.MUONS_TERM, mk.REF_JET, mk.PV_SOFT_TRK))))
    final_off = np.hypot(*(sum(xy(off, t) for t in (mk.MUONS_TERM, mk.REF_JET, mk.PV_SOFT_TRK))))
    assert abs(final - final_off) > 10 * GeV


def test_nnjvt_range_uses_the_detector_eta(run2_path):
    met, res, jets = rebuild(run2_path, 93)
    # the jet the stored NNJvt decision fails inside the tool's range, beyond the R21 |eta| < 2.4
    pt = np.hypot(jets["px"], jets["py"])
    det = np.abs(jets["detector_eta"])
    inside = (jets["jvt"] < 0.5) & (pt >= 20 * GeV) & (pt <= 60 * GeV) & (det <= 2.5) & (det >= 2.4)
    (j,) = np.flatnonzero(inside)
    assert res.status[j] == K.JET_REJECTED
    fallback = METMakerR21(run2_path, 93)
    assert fallback.status[j] == K.JET_HARD


def METMakerR21(path, event):
    """The jet result with the R21 JVT fallback (|eta| < 2.4): what metflow did before."""
    from metflow.algorithms.met.maker import METMaker

    job, _ = configure_job("physlite_met", sets=["physlite.sizes=False"], inputs=[str(path)])
    block = job.source.read(event, 1)
    maker_alg = job.algorithms[-1]
    selections = {alg.name.rsplit("_", 1)[-1]: alg for alg in job.algorithms[:-1]}
    objects = {kind: selections[kind].compute(block[selections[kind].key("objects")])
               for kind, _, _ in KINDS}
    maker = METMaker(do_pflow=True, use_r21_jvt_fallback=True, jvt_cut=0.5)
    helper = MissingETAssociationHelper(block[maker_alg.key("assoc_map")])
    met = METBuilder(1)
    for kind, otype, term in KINDS:
        maker.rebuild_met(term, otype, objects[kind], helper, met)
    return maker.rebuild_jet_met(mk.REF_JET, mk.PV_SOFT_TRK, met, block[maker_alg.key("jets")],
                                 block[maker_alg.key("core")], helper, muons=objects["muons"])


@pytest.mark.parametrize("which, event", [("run2", 52), ("run3", 22)])
def test_forward_jets_beyond_eta_max_stay_hard_unless_vetoed(run2_path, run3_path, which, event):
    path = run2_path if which == "run2" else run3_path
    met, res, jets = rebuild(path, event)
    vetoed, res_veto, _ = rebuild(path, event, ["met.jet_eta_max_veto=True"])
    pt = np.hypot(jets["px"], jets["py"])
    eta = np.abs(np.arcsinh(jets["pz"] / pt))
    forward = np.flatnonzero((eta > 4.5) & (pt > 30 * GeV))
    assert forward.size >= 1
    for j in forward:   # out of the NNJvt range: accepted, so the JetEtaMax veto is overwritten
        assert res.status[j] == K.JET_HARD and res_veto.status[j] == K.JET_REJECTED
    np.testing.assert_allclose(xy(vetoed, mk.REF_JET) - xy(met, mk.REF_JET),
                               np.array([jets["px"][forward].sum(), jets["py"][forward].sum()],
                                        np.float64), rtol=1e-5)


def test_muon_eloss_term_exists_and_psfrac_keeps_the_fsr_rule_off(physlite_path):
    met, res, jets = rebuild(physlite_path, 0)
    assert mk.MUON_ELOSS in met.names
    assert met.names.index(mk.MUON_ELOSS) == met.names.index(mk.MUONS_TERM) + 1
    # PHYSLITE stores PSFrac, which METMaker compares with a 2.5 GeV energy: never above it
    assert "ps_frac" in jets and float(np.max(jets["ps_frac"], initial=0)) < 2.5 * GeV
    assert not (res.status == K.JET_MUON_FSR).any()
