"""A coffea processor that rebuilds ATLAS MET with metflow for its own object selection.

Per chunk: the selection is written on coffea's collections (``events.Electrons.pt`` with
PHYSLITESchema on a Run-2 TTree; ``events["AnalysisElectronsAuxDyn:pt"]`` with BaseSchema on a
Run-3 RNTuple, where PHYSLITESchema fails); ``metflow.analysis.from_coffea`` reopens the same
entries (``events.metadata``) to read the association map, which coffea misreads; the masks,
over every object of the chunk, and a jet energy scale variation go to ``rebuild_met``.
"""

from __future__ import annotations

import hist
import numpy as np
from coffea import processor

from metflow.analysis import from_coffea, rebuild_met

GeV = 1000.0   # PHYSLITE stores MeV


def column(events, container: str, var: str):
    """One variable of a PHYSLITE container, whatever the schema: PHYSLITESchema's collection
    (``AnalysisElectrons`` -> ``events.Electrons``) or BaseSchema's raw branch / field
    (``AnalysisElectronsAuxDyn.pt`` in a TTree, ``AnalysisElectronsAuxDyn:pt`` in an RNTuple)."""
    collection = container.replace("Analysis", "")
    if collection in events.fields and var in events[collection].fields:
        return events[collection][var]
    for name in (f"{container}AuxDyn.{var}", f"{container}AuxDyn:{var}",
                 f"{container}Aux.{var}", f"{container}Aux:.{var}"):
        if name in events.fields:
            return events[name]
    raise KeyError(f"no {container} variable {var!r} in the events")


def select(events) -> dict:
    """The analysis selection as masks over every object of the chunk (ak.local_index shape):
    Medium electrons pT > 25 GeV, |eta| < 2.47; muons pT > 25 GeV, |eta| < 2.5; no photons or
    taus in the MET (their terms stay empty)."""
    el_pt, el_eta = column(events, "AnalysisElectrons", "pt"), column(events, "AnalysisElectrons", "eta")
    medium = column(events, "AnalysisElectrons", "DFCommonElectronsLHMedium") != 0
    mu_pt, mu_eta = column(events, "AnalysisMuons", "pt"), column(events, "AnalysisMuons", "eta")
    return {"electrons": (el_pt > 25 * GeV) & (abs(el_eta) < 2.47) & medium,
            "muons": (mu_pt > 25 * GeV) & (abs(mu_eta) < 2.5)}


def jes_varied_jets(events, scale: float) -> dict:
    """Jets with pT and mass scaled (a jet energy scale variation), as (pt, eta, phi, m)."""
    jets = {v: column(events, "AnalysisJets", v) for v in ("pt", "eta", "phi", "m")}
    return {"pt": jets["pt"] * scale, "eta": jets["eta"], "phi": jets["phi"], "m": jets["m"] * scale}


class RebuiltMETProcessor(processor.ProcessorABC):
    """FinalTrk MET (nominal and jets scaled by ``jes_scale``) for the selection of
    :func:`select`: a histogram per variation and, per chunk, the MET values (for checks)."""

    def __init__(self, jes_scale: float = 1.05):
        self.jes_scale = jes_scale

    def process(self, events):
        chunk = from_coffea(events)            # same file, same entries: map + core + objects
        masks = select(events)
        nominal = rebuild_met(chunk, **masks)
        varied = rebuild_met(chunk, **masks,
                             kinematics={"jets": jes_varied_jets(events, self.jes_scale)})
        h = hist.Hist(hist.axis.StrCategory(["nominal", "jes_up"], name="variation"),
                      hist.axis.Regular(50, 0, 250, name="met", label="FinalTrk MET [GeV]"))
        h.fill(variation="nominal", met=np.asarray(nominal.FinalTrk.met) / GeV)
        h.fill(variation="jes_up", met=np.asarray(varied.FinalTrk.met) / GeV)
        meta = events.metadata
        key = f"{meta['filename']}:{meta['entrystart']}"
        return {"met": h, "events": len(events),
                "chunks": {key: {"nominal": np.asarray(nominal.FinalTrk.met),
                                 "jes_up": np.asarray(varied.FinalTrk.met)}}}

    def postprocess(self, accumulator):
        return accumulator
