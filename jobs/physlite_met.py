"""MET rebuilt on ATLAS PHYSLITE files (Run-2 TTree or Run-3 RNTuple) with METMaker, vs truth.

Reads the stored association map METAssoc_AnalysisMET and core MET_Core_AnalysisMET, selects
electrons, photons, taus and muons with the default analysis selection (docs/physlite.md), and
rebuilds MET_AnalysisMET with the terms RefEle, RefGamma, RefTau, Muons, MuonEloss, RefJet,
PVSoftTrk and FinalTrk, with METMaker configured as ATLAS configures it for PHYSLITE ("Tight"
jets, the stored NNJvtPass inside the NNJvt tool's range, DoRemoveMuonJets, DoSetMuonJetEMScale).
At the end it prints, per input file, FinalTrk vs the truth NonInt MET, the Z->ee recoil and the
map+core bytes/event.

    metflow run physlite_met --input PHYSLITE_Run3_ttbar_rntuple.root
    metflow run physlite_met --input Zee.root ttbar.root --set met.jet_selection='Tighter'
"""

import os

from metflow.algorithms.met.maker import JET_WORKING_POINTS, METMakerAlg
from metflow.edm import keys as K
from metflow.algorithms.outputs import met_output_sink, with_event_info
from metflow.framework import Job
from metflow.framework.errors import ConfigurationError

_KINDS = ("electrons", "photons", "taus", "muons")   # METMaker priority order


def declare_flags(flags):
    from metflow.algorithms.physlite.analysis import (ZEE_MASS_WINDOW, ZEE_MIN_PT,
                                                      declare_physlite_selection_flags)

    flags.declare("physlite.naming", str, "atlas", "store keys: 'atlas' (AnalysisElectrons, "
                  "METAssoc_AnalysisMET, ...) or 'metflow' (Electrons, METAssoc_AntiKt4EMPFlow, ...)")
    flags.declare("physlite.sizes", bool, True, "measure the map+core bytes/event (metflow "
                  "Parquet vs ATLAS branches) for the table")
    flags.declare("met.jet_selection", str, "Tight", f"METMaker jet working point "
                  f"({', '.join(JET_WORKING_POINTS)})")
    flags.declare("met.do_jvt", bool, True, "apply the NNJvt decision (stored NNJvtPass) inside "
                  "the NNJvt tool's range: 20-60 GeV, |DetectorEta| <= 2.5")
    flags.declare("met.remove_muon_jets", bool, True, "METMaker DoRemoveMuonJets (ATLAS default)")
    flags.declare("met.set_muon_jet_em_scale", bool, True, "METMaker DoSetMuonJetEMScale and its "
                  "MuonEloss term (ATLAS PHYSLITE default)")
    flags.declare("met.jet_eta_max_veto", bool, False, "reject jets beyond |eta| 4.5 even when "
                  "the NNJvt decision passes them (Athena lets JVT overwrite the eta veto)")
    flags.declare("zee.min_pt", float, ZEE_MIN_PT, "Z->ee candidate electrons: minimum pT [MeV]")
    flags.declare("zee.mass_window", tuple, ZEE_MASS_WINDOW, "Z->ee candidate: m(ee) window [MeV]")
    declare_physlite_selection_flags(flags)


def _physlite_source(paths, naming):
    """PhysliteSource over the --input files; anything that is not PHYSLITE is refused by name."""
    from metflow.algorithms.physlite import PhysliteError, PhysliteSource, is_root_file
    from metflow.framework.input_specs import is_remote, local_path

    if not paths:
        raise ConfigurationError("physlite_met needs PHYSLITE files: metflow run physlite_met "
                                 "--input FILE.root [FILE2.root ...]")
    paths = [local_path(p) for p in paths]   # file:// URLs are local files; remote URLs go to
    for path in paths:                       # the reader (is_root_file reads them via fsspec)
        if not is_remote(path) and not os.path.exists(path):
            raise ConfigurationError(f"physlite_met: input file {path!r} does not exist")
        if not is_root_file(path):
            raise ConfigurationError(f"physlite_met: input file {path!r} is not a ROOT file; this "
                                     f"job reads PHYSLITE .root files (for metflow Parquet use "
                                     f"the met_rebuild job)")
    try:
        return PhysliteSource(paths, naming=naming)
    except PhysliteError as exc:
        raise ConfigurationError(f"physlite_met: cannot read the input as PHYSLITE: {exc}") from None


def configure(flags):
    from metflow.algorithms.physlite.analysis import PhysliteMETComparison, physlite_selection_cfg
    from metflow.edm.persistence import parquet_writer_options

    if flags["met.jet_selection"] not in JET_WORKING_POINTS:
        raise ConfigurationError(f"met.jet_selection: unknown {flags['met.jet_selection']!r}; "
                                 f"known: {list(JET_WORKING_POINTS)}")
    window = tuple(flags["zee.mass_window"])
    if len(window) != 2 or not window[0] < window[1]:
        raise ConfigurationError(f"zee.mass_window must be (low, high) with low < high, got {window}")
    source = _physlite_source(list(flags["input.files"]), flags["physlite.naming"])
    naming = source.naming
    selections = [physlite_selection_cfg(flags, kind, naming) for kind in _KINDS]
    met_key = K.met_key(naming.jet_collection)
    maker = METMakerAlg(
        name="METMakerAlg_PHYSLITE", assoc_map=naming.met_map, core=naming.met_core,
        jets=naming.jets, met=met_key, significance=None,
        jet_selection=flags["met.jet_selection"], do_jvt=flags["met.do_jvt"], do_pflow=True,
        soft_terms="track", use_r21_jvt_fallback=False,
        do_remove_muon_jets=flags["met.remove_muon_jets"],
        do_set_muon_jet_em_scale=flags["met.set_muon_jet_em_scale"],
        jet_eta_max_veto=flags["met.jet_eta_max_veto"],
        **{kind: sel.key("selected") for kind, sel in zip(_KINDS, selections)})
    sizes = flags["physlite.sizes"]
    comparison = PhysliteMETComparison(
        met=met_key, truth=naming.truth_met, electrons=selections[0].key("selected"),
        files=[(f.path, f.n_events) for f in source.files],
        assoc_map=naming.met_map if sizes else None, core=naming.met_core if sizes else None,
        zee_min_pt=flags["zee.min_pt"], zee_mass_window=window)
    sinks = [comparison]
    if flags["output.file"]:
        sinks.append(met_output_sink(flags["output.file"], with_event_info(
            [met_key, naming.truth_met], source.keys()), writer_options=parquet_writer_options))
    return Job(source=source, algorithms=[*selections, maker], sinks=sinks, name="physlite_met")


if __name__ == "__main__":
    from metflow.framework.cli import run_standalone

    run_standalone(__file__)
