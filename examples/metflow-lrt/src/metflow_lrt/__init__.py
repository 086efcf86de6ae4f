"""Example metflow plugin: MET associators for large-radius-tracking (LRT) leptons."""

from metflow_lrt.associators import METLRTElectronAssociator, METLRTMuonAssociator

__all__ = ["METLRTElectronAssociator", "METLRTMuonAssociator"]
