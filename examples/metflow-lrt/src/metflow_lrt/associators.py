"""LRT lepton associators: metflow's generic associators pointed at the LRT containers."""

from metflow.algorithms.met.reco import METElectronAssociator, METMuonAssociator
from metflow.edm import keys as K
from metflow.framework import ReadHandleKey, WriteHandleKey

MUONS_LRT = K.LRT_MUONS
LRT_ELECTRONS = K.LRT_ELECTRONS


class METLRTMuonAssociator(METMuonAssociator):
    """Associates LRT muons (MuonsLRT): calorimeter deposit and PFOs; all muons, no pT cut."""

    objects = ReadHandleKey(MUONS_LRT, doc="muons from large-radius tracking")
    fragment = WriteHandleKey(K.met_object_assoc_key("AntiKt4EMPFlow", MUONS_LRT),
                              doc="ObjectAssociations of the LRT muons")


class METLRTElectronAssociator(METElectronAssociator):
    """Associates LRT electrons (LRTElectrons): clusters and PFOs above 4 GeV."""

    objects = ReadHandleKey(LRT_ELECTRONS, doc="electrons with a large-radius-tracking track")
    fragment = WriteHandleKey(K.met_object_assoc_key("AntiKt4EMPFlow", LRT_ELECTRONS),
                              doc="ObjectAssociations of the LRT electrons")
