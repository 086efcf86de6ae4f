"""Reading the two example PHYSLITE files: counts, links, map consistency, core terms, objects."""

from __future__ import annotations

import numpy as np
import pytest

from metflow.algorithms.physlite import ATLAS_NAMING as N
from metflow.algorithms.physlite import sg_key
from metflow.algorithms.physlite.convert import _np, _split
from metflow.algorithms.physlite.sgkey import CLIDS, INVALID_INDEX


def _raw(pfile, container, var):
    return pfile.read([(container, var)], 0, pfile.n_events)[(container, var)]


def _flat(pfile, container, var, dtype=np.float64):
    (offsets,), flat = _split(_raw(pfile, container, var), 1)
    return offsets, _np(flat, dtype)


def _eta_phi(px, py, pz):
    pt = np.hypot(px, py)
    return np.arcsinh(pz / np.maximum(pt, 1e-9)), np.arctan2(py, px)


def _delta_r(a, b):
    dphi = np.angle(np.exp(1j * (a[1] - b[1])))
    return np.hypot(a[0] - b[0], dphi)


def test_event_counts(physlite_block):
    pfile, block = physlite_block
    assert pfile.n_events == 100
    for key, obj in block.items():
        assert obj.n_events == pfile.n_events, key
    for key, container in [(N.electrons, "AnalysisElectrons"), (N.jets, "AnalysisJets"),
                           (N.muons, "AnalysisMuons"), (N.taus, "AnalysisTauJets"),
                           (N.photons, "AnalysisPhotons")]:
        offsets, _ = _flat(pfile, container, "pt")
        np.testing.assert_array_equal(block[key].offsets, offsets)


def test_object_four_momenta_match_stored_kinematics(physlite_block):
    pfile, block = physlite_block
    for key, container, has_mass in [(N.electrons, "AnalysisElectrons", True),
                                     (N.photons, "AnalysisPhotons", True),
                                     (N.muons, "AnalysisMuons", False),
                                     (N.taus, "AnalysisTauJets", True),
                                     (N.jets, "AnalysisJets", True)]:
        c = block[key]
        px, py, pz, e = (c[v].astype(np.float64) for v in ("px", "py", "pz", "e"))
        pt = np.hypot(px, py)
        np.testing.assert_allclose(pt, _flat(pfile, container, "pt")[1], rtol=1e-5, err_msg=key)
        np.testing.assert_allclose(np.arctan2(py, px), _flat(pfile, container, "phi")[1], atol=1e-5)
        np.testing.assert_allclose(np.arcsinh(pz / pt), _flat(pfile, container, "eta")[1], atol=1e-5)
        # float32 cannot resolve a light mass from E and p: compare E with the float64 value
        stored_pt, stored_eta = _flat(pfile, container, "pt")[1], _flat(pfile, container, "eta")[1]
        m = _flat(pfile, container, "m")[1] if has_mass else 105.6583755
        expected_e = np.sqrt((stored_pt * np.cosh(stored_eta)) ** 2 + m**2)
        np.testing.assert_allclose(e, expected_e, rtol=1e-6, err_msg=key)
    jets = block[N.jets]
    constit_pt = np.hypot(jets["constit_px"], jets["constit_py"])
    np.testing.assert_allclose(constit_pt, _flat(pfile, "AnalysisJets", "JetConstitScaleMomentum_pt")[1],
                               rtol=1e-5)


def test_every_link_in_range(physlite_block):
    from metflow.edm.links import check_links
    pfile, block = physlite_block
    m = block[N.met_map]
    m.validate(source=pfile.path)
    m.check_keys(source=pfile.path)
    check_links(block, source=pfile.path)
    event = m.assoc_event()[m.obj_assoc()]
    for slot, key in enumerate(m.container_keys):
        sel = m.obj_container == slot
        assert np.all(m.obj_index[sel] >= 0)
        assert np.all(m.obj_index[sel] < block[key].counts()[event[sel]]), key
    jets = ~m.is_misc
    assert np.all(m.jet_index[jets] < block[N.jets].counts()[m.assoc_event()[jets]])
    assert np.all(m.jet_index[m.is_misc] == -1)
    # the map links to the object types the PHYSLITE map holds, nothing else
    assert set(np.unique(m.obj_type).tolist()) <= {6, 7, 8, 9}


def test_one_association_per_jet_in_jet_order(physlite_block):
    pfile, block = physlite_block
    m = block[N.met_map]
    n_assoc = np.diff(m.assoc_offsets)
    np.testing.assert_array_equal(n_assoc, block[N.jets].counts() + 1)
    position = np.arange(m.n_associations) - m.assoc_offsets[m.assoc_event()]
    np.testing.assert_array_equal(m.jet_index[~m.is_misc], position[~m.is_misc])
    np.testing.assert_array_equal(m.is_misc, position == n_assoc[m.assoc_event()] - 1)


def _jet_of_assoc(m, jets):
    sel = ~m.is_misc
    return sel, jets.offsets[m.assoc_event()[sel]] + m.jet_index[sel]


def test_association_sums_consistent_with_their_jet(physlite_block):
    """Cal entries are sums of jet constituents: their energy cannot exceed the jet's
    constituent-scale energy and each lies inside the jet cone (R = 0.4)."""
    pfile, block = physlite_block
    m, jets = block[N.met_map], block[N.jets]
    sel, gjet = _jet_of_assoc(m, jets)
    cal_owner = np.repeat(np.arange(m.n_associations), np.diff(m.cal_offsets))
    cal_e = np.bincount(cal_owner, weights=m.cal_e, minlength=m.n_associations)
    assert np.all(cal_e[sel] <= jets["constit_e"][gjet] * (1 + 1e-5) + 1e-3)
    axis = _eta_phi(jets["constit_px"], jets["constit_py"], jets["constit_pz"])
    in_jet = sel[cal_owner]
    jet_of_entry = np.full(m.n_associations, -1)
    jet_of_entry[sel] = gjet
    j = jet_of_entry[cal_owner[in_jet]]
    entry = _eta_phi(m.cal_px[in_jet], m.cal_py[in_jet], m.cal_pz[in_jet])
    assert np.all(_delta_r(entry, (axis[0][j], axis[1][j])) < 0.4)
    # jet tracks: inside the cone, and a subset of the jet's PV0 charged PFOs
    has_trk = sel & (m.jettrk_sumpt > 0)
    j = jet_of_entry[has_trk]
    trk = _eta_phi(m.jettrk_px[has_trk], m.jettrk_py[has_trk], m.jettrk_pz[has_trk])
    assert has_trk.sum() > 50
    assert np.all(_delta_r(trk, (axis[0][j], axis[1][j])) < 0.4)
    (_, pv_offsets), pfo_sumpt = _split(_raw(pfile, "AnalysisJets", "SumPtChargedPFOPt500"), 2)
    pv0 = _np(pfo_sumpt, np.float64)[pv_offsets[:-1]]
    assert np.all(m.jettrk_sumpt[sel] <= pv0[gjet] * (1 + 1e-5) + 1e-3)
    assert np.all(m.jettrk_sumpt[m.is_misc] == 0)
    # every sum: scalar pT sum >= |vector pT|, E >= |p|
    for kind in ("cal", "trk", "jettrk"):
        px, py, pz, e, sumpt = (getattr(m, f"{kind}_{c}").astype(np.float64)
                                for c in ("px", "py", "pz", "e", "sumpt"))
        assert np.all(sumpt >= np.hypot(px, py) * (1 - 1e-5) - 1e-2), kind
        assert np.all(e >= np.sqrt(px**2 + py**2 + pz**2) * (1 - 1e-5) - 1e-1), kind


def test_objects_of_jet_associations_lie_in_the_jet(physlite_block):
    pfile, block = physlite_block
    m, jets = block[N.met_map], block[N.jets]
    axis = _eta_phi(jets["constit_px"], jets["constit_py"], jets["constit_pz"])
    obj_assoc = m.obj_assoc()
    event = m.assoc_event()[obj_assoc]
    in_jet = ~m.is_misc[obj_assoc]
    gjet = jets.offsets[event] + m.jet_index[obj_assoc]
    checked = 0
    for slot, key in enumerate(m.container_keys):
        sel = in_jet & (m.obj_container == slot)
        if not sel.any():
            continue
        c = block[key]
        g = c.offsets[event[sel]] + m.obj_index[sel]
        obj = _eta_phi(c["px"][g], c["py"][g], c["pz"][g])
        assert np.all(_delta_r(obj, (axis[0][gjet[sel]], axis[1][gjet[sel]])) < 0.4), key
        checked += sel.sum()
    assert checked > 50


def test_core_terms_read_exactly_as_stored(physlite_block):
    pfile, block = physlite_block
    core = block[N.met_core]
    offsets, names = _split(_raw(pfile, "MET_Core_AnalysisMET", "name"), 1)
    names = names.tolist()
    for i in range(core.n_events):
        assert list(core.names) == names[offsets[0][i]:offsets[0][i + 1]]
    assert set(core.names) == {"SoftClusCore", "PVSoftTrkCore"}
    for var, dtype in (("mpx", np.float32), ("mpy", np.float32), ("sumet", np.float32)):
        _, stored = _flat(pfile, "MET_Core_AnalysisMET", var, dtype)
        np.testing.assert_array_equal(getattr(core, var).ravel(), stored)
    _, sources = _flat(pfile, "MET_Core_AnalysisMET", "source", np.uint64)
    np.testing.assert_array_equal(np.tile(core.sources, core.n_events), sources)


def test_truth_met_and_event_info(physlite_block):
    pfile, block = physlite_block
    offsets, names = _split(_raw(pfile, "MET_Truth", "name"), 1)
    names = np.array(names.tolist())
    _, mpx = _flat(pfile, "MET_Truth", "mpx", np.float32)
    nonint = mpx[names == "NonInt"]
    assert nonint.shape == (pfile.n_events,)
    np.testing.assert_array_equal(block[N.truth_met]["nonint_mpx"], nonint)
    info = block[N.event_info]
    events = _np(_raw(pfile, "EventInfo", "eventNumber"), np.int64)
    np.testing.assert_array_equal(info["event_number"], events)
    assert len(np.unique(info["event_number"])) == pfile.n_events


def test_run2_jetlink_decoded_member_wise(run2_path):
    """uproot's own reading of the Run-2 jetLink is wrong; ours gives key = hash("AnalysisJets")
    and index = association position, misc last with a null link."""
    import uproot
    from metflow.algorithms.physlite import PhysliteFile
    pfile = PhysliteFile(run2_path)
    name = pfile.branch_name("METAssoc_AnalysisMET", "jetLink")
    assert pfile.format == "TTree" and name.endswith("jetLink")
    links = _raw(pfile, "METAssoc_AnalysisMET", "jetLink")
    (offsets,), flat = _split(links, 1)
    keys, index = _np(flat["m_persKey"], np.int64), _np(flat["m_persIndex"], np.int64)
    (misc_offsets,), misc = _split(_raw(pfile, "METAssoc_AnalysisMET", "isMisc"), 1)
    np.testing.assert_array_equal(offsets, misc_offsets)
    misc = _np(misc, np.int64) != 0
    position = np.arange(offsets[-1]) - np.repeat(offsets[:-1], np.diff(offsets))
    jets_key = sg_key("AnalysisJets", CLIDS["xAOD::JetContainer"])
    assert np.all(keys[~misc] == jets_key)
    np.testing.assert_array_equal(index[~misc], position[~misc])
    assert np.all(index[misc] == INVALID_INDEX)
    naive = uproot.open(run2_path)["CollectionTree"][name].array(entry_stop=1)
    assert naive[0].m_persIndex.tolist() != index[:offsets[1]].tolist()


def test_link_keys_are_storegate_hashes(physlite_block):
    """Every object link key in the file is the hash of one PHYSLITE container + its CLID."""
    pfile, _ = physlite_block
    expected = {sg_key(name, CLIDS[clid]) for name, clid in [
        ("AnalysisElectrons", "xAOD::ElectronContainer"), ("AnalysisPhotons", "xAOD::PhotonContainer"),
        ("AnalysisMuons", "xAOD::MuonContainer"), ("AnalysisTauJets", "xAOD::TauJetContainer")]}
    _, links = _split(_raw(pfile, "METAssoc_AnalysisMET", "objectLinks"), 2)
    found = set(np.unique(_np(links["m_persKey"], np.int64)).tolist())
    assert found and found <= expected


def test_rntuple_missing_field_is_an_error(run3_path):
    from metflow.algorithms.physlite import MissingBranchError, PhysliteFile
    pfile = PhysliteFile(run3_path)
    with pytest.raises(MissingBranchError, match=r"PHYSLITE_Run3.*'AnalysisJetsAuxDyn:nope'"):
        pfile.read([("AnalysisJets", "nope")], 0, 1)


def test_identification_bits_follow_decorations(physlite_block):
    pfile, block = physlite_block
    _, tight = _flat(pfile, "AnalysisElectrons", "DFCommonElectronsLHTight", np.int64)
    _, loose = _flat(pfile, "AnalysisElectrons", "DFCommonElectronsLHLoose", np.int64)
    ident = block[N.electrons]["id"]
    np.testing.assert_array_equal((ident & 4) != 0, tight != 0)
    np.testing.assert_array_equal((ident & 1) != 0, loose != 0)
    _, quality = _flat(pfile, "AnalysisMuons", "quality", np.int64)
    muon_id = block[N.muons]["id"]
    medium = ((quality & 3) <= 1) & ((quality & 8) != 0)
    np.testing.assert_array_equal((muon_id & 2) != 0, medium)


def test_unknown_link_key_fails_naming_file_branch_event(run3_path, monkeypatch):
    """A map linking to a container the reader does not know (here: muons removed from the
    resolver) is refused, naming the file, the objectLinks branch, the event and the key."""
    from metflow.algorithms.physlite import PhysliteFile, UnknownLinkKeyError, convert
    from metflow.algorithms.physlite.sgkey import LinkKeyResolver
    full = convert.link_resolver(N)
    without_muons = LinkKeyResolver([t for t in full.targets if t.atlas_name != "AnalysisMuons"])
    monkeypatch.setattr(convert, "link_resolver", lambda naming: without_muons)
    muon_key = full.key_of("AnalysisMuons")
    with pytest.raises(UnknownLinkKeyError,
                       match=rf"PHYSLITE_Run3_ttbar_rntuple\.root: branch 'METAssoc_AnalysisMETAux:\.objectLinks', "
                             rf"event \d+: ElementLink persistent key {muon_key:#x}"):
        convert.read_map_columns(PhysliteFile(run3_path), 0, 100, N)
