"""Which jet and muon columns each METMaker rule reads, written once.

`RULE_COLUMNS` drives both the configure-time check that an input carries them
(`rule_inputs.check_rule_inputs`) and the run-time read in `METMaker.rebuild_jet_met`
(`read_rule_columns`), so the two cannot disagree; both name a missing column the same way.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .met_builder import RebuildError

NNJVT = "NNJvt selection tool (use_r21_jvt_fallback=False)"
REMOVE_MUON_JETS = "DoRemoveMuonJets"
SET_MUON_JET_EM_SCALE = "DoSetMuonJetEMScale"


@dataclass(frozen=True)
class RuleColumn:
    """One column a rule reads: from ``container`` ('jets' or 'muons'), fed to the kernel as
    ``role``; ``names`` are the accepted column names, the first one present is read."""

    container: str
    role: str
    names: tuple[str, ...]

    def describe(self) -> str:
        """'width', or 'ps_frac or presampler_e' for a column with alternatives."""
        return " or ".join(self.names)


def _column(container: str, role: str, *names: str) -> RuleColumn:
    return RuleColumn(container, role, names)


# DoRemoveMuonJets compares the jet's PV track moments with the muon's ID track; DoSetMuonJetEMScale
# reads the same plus the jet's EM fraction, width and presampler energy (METMaker reads PSFrac
# when stored, else the presampler samplings) and the muon's energy loss.
_MUON_JET_TRACKS = (_column("jets", "sumpt_trk", "sumpt_trk_pt500"),
                    _column("jets", "n_trk", "n_trk_pt500"),
                    _column("muons", "id_track_pt", "id_track_pt"))

RULE_COLUMNS: dict[str, tuple[RuleColumn, ...]] = {
    NNJVT: (_column("jets", "detector_eta", "detector_eta"),),
    REMOVE_MUON_JETS: _MUON_JET_TRACKS,
    SET_MUON_JET_EM_SCALE: _MUON_JET_TRACKS + (
        _column("jets", "emfrac", "emfrac"), _column("jets", "width", "width"),
        _column("jets", "presampler", "ps_frac", "presampler_e"),
        _column("muons", "energy_loss", "energy_loss")),
}


def missing_column_message(rule: str, column: RuleColumn, key: str | None) -> str:
    """The one wording of 'rule needs a column the input lacks' (configure time and run time)."""
    return f"METMaker {rule} needs column {column.describe()!r} of {key!r}"


def read_rule_columns(rules: tuple[str, ...], containers: dict) -> dict[str, np.ndarray]:
    """{role: float32 column} of every column the ``rules`` read from ``containers`` ({'jets':
    Container, 'muons': Container}); a missing one is a RebuildError naming rule, column and key."""
    out: dict[str, np.ndarray] = {}
    for rule in rules:
        for column in RULE_COLUMNS[rule]:
            if column.role in out:
                continue
            container = containers[column.container]
            for name in column.names:
                if name in container:
                    out[column.role] = np.asarray(container[name], np.float32)
                    break
            else:
                raise RebuildError(missing_column_message(rule, column, container.key)
                                   + ", which the input does not have")
    return out


__all__ = ["NNJVT", "REMOVE_MUON_JETS", "RULE_COLUMNS", "RuleColumn", "SET_MUON_JET_EM_SCALE",
           "missing_column_message", "read_rule_columns"]
