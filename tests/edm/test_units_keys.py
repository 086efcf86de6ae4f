import pytest

from metflow.edm import keys, units


def test_units_relations():
    assert units.MeV == 1.0
    assert units.GeV == 1000 * units.MeV
    assert units.TeV == 1000 * units.GeV
    assert units.mm == 1.0 and units.rad == 1.0
    assert 20 * units.GeV / units.GeV == pytest.approx(20)


def test_met_keys_built_in_one_place():
    assert keys.jet_container_key("AntiKt4EMPFlow") == "AntiKt4EMPFlowJets"
    assert keys.jet_collection_of("AntiKt4EMTopoJets") == "AntiKt4EMTopo"
    assert keys.met_assoc_key("AntiKt4EMPFlow") == "METAssoc_AntiKt4EMPFlow"
    assert keys.met_core_key("AntiKt4EMTopo") == "MET_Core_AntiKt4EMTopo"
    assert keys.met_key("AnalysisMET") == "MET_AnalysisMET"
    assert keys.met_syst_key("Reference", "MET_SoftTrk_ScaleUp") == "MET_Reference_MET_SoftTrk_ScaleUp"
    assert keys.met_jet_assoc_key("AntiKt4EMPFlow") == "METAssoc_AntiKt4EMPFlow_JetAssoc"
    assert keys.met_object_assoc_key("AntiKt4EMPFlow", "Electrons") == "METAssoc_AntiKt4EMPFlow_Electrons"
    assert keys.JET_COLLECTIONS == ("AntiKt4EMPFlow", "AntiKt4EMTopo")
    assert keys.is_met_assoc_key(keys.met_assoc_key("AntiKt4EMTopo"))
    assert not keys.is_met_assoc_key(keys.met_jet_assoc_key("AntiKt4EMTopo"))
    assert keys.is_met_container_key(keys.met_core_key("AntiKt4EMTopo"))


def test_term_names():
    names = [keys.REF_ELE, keys.REF_GAMMA, keys.REF_TAU, keys.MUONS_TERM, keys.REF_JET, keys.PV_SOFT_TRK,
             keys.SOFT_CLUS, keys.FINAL_TRK, keys.FINAL_CLUS, keys.SOFT_CLUS_CORE, keys.PV_SOFT_TRK_CORE,
             keys.INVISIBLES, keys.MUON_ELOSS]
    assert names == ["RefEle", "RefGamma", "RefTau", "Muons", "RefJet", "PVSoftTrk", "SoftClus", "FinalTrk",
                     "FinalClus", "SoftClusCore", "PVSoftTrkCore", "Invisibles", "MuonEloss"]


@pytest.mark.parametrize("bad", ["", "AntiKt4EMPFlowJets"])
def test_bad_jet_collection_names(bad):
    with pytest.raises(ValueError):
        keys.met_assoc_key(bad)


def test_no_raw_unit_literals_in_edm():
    import pathlib
    import re
    root = pathlib.Path(__file__).resolve().parents[2] / "edm"
    for path in root.glob("*.py"):
        if path.name == "units.py":
            continue
        text = path.read_text()
        assert not re.search(r"(?<![\w.])(1e3|1000\.0|1e6)(?![\w.])", text), path
