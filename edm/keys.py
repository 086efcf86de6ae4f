"""Store keys and MissingET term names, built in exactly one place.

Algorithms and jobs never concatenate MET key strings themselves: they call these functions,
so a renamed key changes here and nowhere else.
"""

# Jet collections a MET association map can be built for.
JET_COLLECTIONS = ("AntiKt4EMPFlow", "AntiKt4EMTopo")

# Input object containers (schema v1).
EVENT_INFO = "EventInfo"
PRIMARY_VERTICES = "PrimaryVertices"
TRACKS = "InDetTracks"
CLUSTERS = "TopoClusters"
PFOS = "PFOs"
ELECTRONS = "Electrons"
PHOTONS = "Photons"
MUONS = "Muons"
TAUS = "TauJets"
TRUTH_MET = "TruthMET"
# Large-radius-tracking (displaced) leptons, same schemas as Electrons / Muons.
LRT_ELECTRONS = "LRTElectrons"
LRT_MUONS = "MuonsLRT"

# MissingET term names (analysis output MET_<name>).
REF_ELE = "RefEle"
REF_GAMMA = "RefGamma"
REF_TAU = "RefTau"
MUONS_TERM = "Muons"
REF_JET = "RefJet"
PV_SOFT_TRK = "PVSoftTrk"
SOFT_CLUS = "SoftClus"
FINAL_TRK = "FinalTrk"
FINAL_CLUS = "FinalClus"
INVISIBLES = "Invisibles"
MUON_ELOSS = "MuonEloss"
# Core soft terms (MET_Core_<Jet>).
SOFT_CLUS_CORE = "SoftClusCore"
PV_SOFT_TRK_CORE = "PVSoftTrkCore"
SOFT_CLUS_EM_CORE = "SoftClusEMCore"

_JET_SUFFIX = "Jets"
_ASSOC_PREFIX = "METAssoc_"
_CORE_PREFIX = "MET_Core_"
_MET_PREFIX = "MET_"


def _check_jet_coll(jet_coll: str) -> str:
    if not isinstance(jet_coll, str) or not jet_coll:
        raise ValueError(f"jet collection must be a non-empty string, got {jet_coll!r}")
    if jet_coll.endswith(_JET_SUFFIX):
        raise ValueError(
            f"jet collection {jet_coll!r} should be given without the '{_JET_SUFFIX}' suffix "
            f"(e.g. {jet_coll[: -len(_JET_SUFFIX)]!r})"
        )
    return jet_coll


def jet_container_key(jet_coll: str) -> str:
    """Store key of the jets of a collection: "AntiKt4EMPFlow" -> "AntiKt4EMPFlowJets"."""
    return _check_jet_coll(jet_coll) + _JET_SUFFIX


def jet_collection_of(jet_key: str) -> str:
    """Inverse of :func:`jet_container_key`: "AntiKt4EMPFlowJets" -> "AntiKt4EMPFlow"."""
    if not jet_key.endswith(_JET_SUFFIX) or len(jet_key) == len(_JET_SUFFIX):
        raise ValueError(f"{jet_key!r} is not a jet container key (expected '<Coll>{_JET_SUFFIX}')")
    return jet_key[: -len(_JET_SUFFIX)]


def met_assoc_key(jet_coll: str) -> str:
    """Association map key: "AntiKt4EMPFlow" -> "METAssoc_AntiKt4EMPFlow"."""
    return _ASSOC_PREFIX + _check_jet_coll(jet_coll)


def met_core_key(jet_coll: str) -> str:
    """Core soft-term container key: "AntiKt4EMPFlow" -> "MET_Core_AntiKt4EMPFlow"."""
    return _CORE_PREFIX + _check_jet_coll(jet_coll)


def met_key(name: str) -> str:
    """Analysis MET container key: "AnalysisMET" -> "MET_AnalysisMET"."""
    if not name:
        raise ValueError("MET name must be non-empty")
    return _MET_PREFIX + name


def met_syst_key(name: str, syst: str) -> str:
    """Key of a systematically varied MET container: "MET_<name>_<syst>"."""
    if not syst:
        raise ValueError("systematic name must be non-empty")
    return met_key(name) + "_" + syst


def met_jet_assoc_key(jet_coll: str) -> str:
    """Intermediate key of the jet associations: "METAssoc_<Jet>_JetAssoc"."""
    return met_assoc_key(jet_coll) + "_JetAssoc"


def met_object_assoc_key(jet_coll: str, object_container: str) -> str:
    """Intermediate key of one object associator's output: "METAssoc_<Jet>_<objects>"."""
    if not object_container:
        raise ValueError("object container key must be non-empty")
    return met_assoc_key(jet_coll) + "_" + object_container


MET_SIGNIFICANCE_PREFIX = "METSignificance_"


def met_significance_key(name: str) -> str:
    """Key of the object-based significance of MET_<name>: "METSignificance_<name>"."""
    if not name:
        raise ValueError("MET name must be non-empty")
    return MET_SIGNIFICANCE_PREFIX + name


def met_selected_key(container_key: str, variation: str = "") -> str:
    """Key of the METMaker input selection of a container: "Electrons" -> "METSelectedElectrons";
    a variation gets its own key ("METSelectedElectrons_EG_SCALE__1up")."""
    if not container_key:
        raise ValueError("container key must be non-empty")
    key = "METSelected" + container_key
    return f"{key}_{variation}" if variation else key


def is_met_assoc_key(key: str) -> bool:
    """True for a final association-map key "METAssoc_<Jet>" (not the intermediate ones)."""
    return key.startswith(_ASSOC_PREFIX) and "_" not in key[len(_ASSOC_PREFIX):]


def is_met_assoc_fragment_key(key: str) -> bool:
    """True for any "METAssoc_..." key, final or intermediate."""
    return key.startswith(_ASSOC_PREFIX)


def is_met_container_key(key: str) -> bool:
    """True for a MissingETContainer key ("MET_..." including "MET_Core_...")."""
    return key.startswith(_MET_PREFIX)


__all__ = [
    "JET_COLLECTIONS", "EVENT_INFO", "PRIMARY_VERTICES", "TRACKS", "CLUSTERS", "PFOS",
    "ELECTRONS", "PHOTONS", "MUONS", "TAUS", "TRUTH_MET", "LRT_ELECTRONS", "LRT_MUONS",
    "REF_ELE", "REF_GAMMA", "REF_TAU", "MUONS_TERM", "REF_JET", "PV_SOFT_TRK", "SOFT_CLUS",
    "FINAL_TRK", "FINAL_CLUS", "INVISIBLES", "MUON_ELOSS", "SOFT_CLUS_CORE",
    "PV_SOFT_TRK_CORE", "SOFT_CLUS_EM_CORE",
    "jet_container_key", "jet_collection_of", "met_assoc_key", "met_core_key", "met_key",
    "met_syst_key", "MET_SIGNIFICANCE_PREFIX", "met_significance_key", "met_selected_key", "met_jet_assoc_key", "met_object_assoc_key", "is_met_assoc_key",
    "is_met_assoc_fragment_key", "is_met_container_key",
]
