"""Which store key each PHYSLITE container gets in metflow.

Default (:data:`ATLAS_NAMING`): the keys a PHYSLITE user already knows - ``AnalysisElectrons``,
``AnalysisPhotons``, ``AnalysisMuons``, ``AnalysisTauJets``, ``AnalysisJets`` - and the MET keys
built by :mod:`metflow.edm.keys` with the jet-collection suffix ``AnalysisMET``:
``met_assoc_key("AnalysisMET") == "METAssoc_AnalysisMET"`` and
``met_core_key("AnalysisMET") == "MET_Core_AnalysisMET"``, i.e. exactly the ATLAS names.
``EventInfo`` and ``TruthMET`` (the ``NonInt`` term of ``MET_Truth``) keep metflow's keys.
:data:`METFLOW_NAMING` maps the same data onto the keys of metflow's own reconstruction
(``Electrons``, ..., ``AntiKt4EMPFlowJets``, ``METAssoc_AntiKt4EMPFlow``): PHYSLITE's
``AnalysisJets`` are calibrated AntiKt4EMPFlow jets and its map was built for them, so jobs
written for metflow's reconstruction output also run on PHYSLITE input.
"""

from __future__ import annotations

from dataclasses import dataclass

from metflow.edm import keys

# ATLAS container names in a PHYSLITE file.
ATLAS_ELECTRONS = "AnalysisElectrons"
ATLAS_PHOTONS = "AnalysisPhotons"
ATLAS_MUONS = "AnalysisMuons"
ATLAS_TAUS = "AnalysisTauJets"
ATLAS_JETS = "AnalysisJets"
ATLAS_MET_SUFFIX = "AnalysisMET"
ATLAS_MAP = keys.met_assoc_key(ATLAS_MET_SUFFIX)     # "METAssoc_AnalysisMET"
ATLAS_CORE = keys.met_core_key(ATLAS_MET_SUFFIX)     # "MET_Core_AnalysisMET"
ATLAS_TRUTH_MET = "MET_Truth"
ATLAS_EVENT_INFO = "EventInfo"


@dataclass(frozen=True)
class PhysliteNaming:
    """Store keys for the converted containers; ``jet_collection`` names the MET keys."""

    electrons: str
    photons: str
    muons: str
    taus: str
    jets: str
    jet_collection: str
    event_info: str = keys.EVENT_INFO
    truth_met: str = keys.TRUTH_MET

    @property
    def met_map(self) -> str:
        return keys.met_assoc_key(self.jet_collection)

    @property
    def met_core(self) -> str:
        return keys.met_core_key(self.jet_collection)

    def all_keys(self) -> list[str]:
        """Every key a PHYSLITE source provides, in a stable order."""
        return [self.event_info, self.truth_met, self.electrons, self.photons, self.muons,
                self.taus, self.jets, self.met_map, self.met_core]


ATLAS_NAMING = PhysliteNaming(
    electrons=ATLAS_ELECTRONS, photons=ATLAS_PHOTONS, muons=ATLAS_MUONS, taus=ATLAS_TAUS,
    jets=ATLAS_JETS, jet_collection=ATLAS_MET_SUFFIX,
)

METFLOW_NAMING = PhysliteNaming(
    electrons=keys.ELECTRONS, photons=keys.PHOTONS, muons=keys.MUONS, taus=keys.TAUS,
    jets=keys.jet_container_key("AntiKt4EMPFlow"), jet_collection="AntiKt4EMPFlow",
)

NAMINGS = {"atlas": ATLAS_NAMING, "metflow": METFLOW_NAMING}


def naming_for(name: str | PhysliteNaming) -> PhysliteNaming:
    """A naming by name ("atlas", "metflow") or passed through."""
    if isinstance(name, PhysliteNaming):
        return name
    try:
        return NAMINGS[name]
    except KeyError:
        raise ValueError(f"unknown PHYSLITE naming {name!r}; choose one of {sorted(NAMINGS)}") from None


__all__ = [
    "PhysliteNaming", "ATLAS_NAMING", "METFLOW_NAMING", "NAMINGS", "naming_for",
    "ATLAS_ELECTRONS", "ATLAS_PHOTONS", "ATLAS_MUONS", "ATLAS_TAUS", "ATLAS_JETS",
    "ATLAS_MET_SUFFIX", "ATLAS_MAP", "ATLAS_CORE", "ATLAS_TRUTH_MET", "ATLAS_EVENT_INFO",
]
