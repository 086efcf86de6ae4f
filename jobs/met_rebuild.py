"""MET rebuilding (METMaker): MET_<name> from METAssoc_<Jet> + MET_Core_<Jet> for the selected objects.

Input: the output of `met_reco` (--input); input without association maps (raw events, or the
embedded synthetic source when no --input is given) gets the reconstruction chained in the job.
Adds the object selections (flags met.<kind>.*), METMakerAlg, the significance and the requested
systematic variations, and prints a MET summary. The jet-track variations (MET_JetTrk_*) vary a
track MET (rebuildTrackMET), rebuilt as MET_<met.track_met> (default '<met.name>Track').

    metflow run jobs/met_rebuild.py --input met_reco.parquet --threads 2
    metflow run jobs/met_rebuild.py -n 1000 --set met.systematics="['MET_SoftTrk_ResoPara','JET_JES__1up']"
    metflow run jobs/met_rebuild.py -n 1000 --set met.systematics="['MET_JetTrk_ScaleUp']"
"""

from metflow.algorithms.met.maker import METMakerAlg, METRebuildSummary
from metflow.algorithms.met.selection import (METObjectSelection, declare_selection_flags,
                                              selected_key, selection_cfg)
from metflow.algorithms.met.significance import significance_key
from metflow.algorithms.met.systematics import (JET_TRK_VARIATIONS, OBJECT_SCALE_VARIATIONS,
                                                SOFT_SYSTEMATICS, SYSTEMATICS, METSystematicsAlg)
from metflow.edm import keys as K
from metflow.edm.jet_collection import JetCollection, jet_collection
from metflow.algorithms.inputs import declare_input_flags, open_input
from metflow.algorithms.outputs import met_output_sink, with_event_info
from metflow.framework import Job
from metflow.framework.errors import ConfigurationError

_KINDS = ("electrons", "photons", "taus", "muons")


def declare_flags(flags):
    flags.declare("met.name", str, "", "MET name: output key MET_<name> ('' = the jet "
                  "collection's name, so the key says which map the MET comes from)")
    flags.declare("met.jet_collection", str, "AntiKt4EMPFlow", "jets and map: AntiKt4EMPFlow or AntiKt4EMTopo")
    flags.declare("met.jet_selection", str, "Tight", "METMaker jet working point (Loose, Tight, Tighter, "
                  "Tenacious, Tier0, HRecoil)")
    flags.declare("met.do_jvt", bool, True, "apply the working point's JVT cut")
    flags.declare("met.remove_muon_jets", bool, True, "METMaker DoRemoveMuonJets (jets' track "
                  "moments, muons' ID-track pT)")
    flags.declare("met.set_muon_jet_em_scale", bool, False, "METMaker DoSetMuonJetEMScale "
                  "(ATLAS default on; off here: metflow's toy detector makes no jet width, "
                  "presampler energy or muon energy loss)")
    flags.declare("met.jet_eta_max_veto", bool, False, "reject jets beyond |eta| 4.5 even when "
                  "the JVT decision passes them (Athena lets JVT overwrite the eta veto)")
    flags.declare("met.soft_terms", str, "both", "soft terms: both, track (TST), cluster (CST)")
    flags.declare("met.invisible", str, "", "object kind treated with markInvisible (e.g. 'muons')")
    flags.declare("met.significance", bool, True, "write the object-based MET significance")
    flags.declare("met.systematics", list, [], f"variations: soft-term {list(SOFT_SYSTEMATICS)}, "
                  f"jet-track {list(JET_TRK_VARIATIONS)} (of the track MET) and object-scale "
                  f"{list(OBJECT_SCALE_VARIATIONS)}")
    flags.declare("met.track_met", str, "", "also rebuild the track MET (rebuildTrackMET) as "
                  "MET_<value>; '' = only when MET_JetTrk_* are requested, then '<met.name>Track'")
    declare_input_flags(flags)
    declare_selection_flags(flags)


def met_rebuild_cfg(flags, available_keys, source=None):
    """Selections, METMakerAlg (nominal and object-scale variations) and the soft-term
    systematics for MET_<met.name>; returns (algorithms, output keys, summary sink)."""
    jet_coll = _jet_collection(flags).name
    name = flags["met.name"] or jet_coll
    jets_key = K.jet_container_key(jet_coll)
    syst = list(flags["met.systematics"])
    unknown = [s for s in syst if s not in SYSTEMATICS and s not in OBJECT_SCALE_VARIATIONS]
    if unknown:
        raise ConfigurationError(f"met.systematics: unknown {unknown}; known: "
                                 f"{list(SYSTEMATICS) + list(OBJECT_SCALE_VARIATIONS)}")
    algorithms = [selection_cfg(flags, kind) for kind in _KINDS]
    common = dict(assoc_map=K.met_assoc_key(jet_coll), core=K.met_core_key(jet_coll),
                  jet_selection=flags["met.jet_selection"], do_jvt=flags["met.do_jvt"],
                  do_pflow=_jet_collection(flags).pflow, soft_terms=flags["met.soft_terms"],
                  invisible=flags["met.invisible"],
                  do_remove_muon_jets=flags["met.remove_muon_jets"],
                  do_set_muon_jet_em_scale=flags["met.set_muon_jet_em_scale"],
                  jet_eta_max_veto=flags["met.jet_eta_max_veto"])
    if source is not None:
        from metflow.algorithms.met.rule_inputs import check_rule_inputs

        probe = METMakerAlg(name="METMakerAlg_probe", jets=jets_key, **common)
        check_rule_inputs(probe.make_maker(), source, jets_key, K.MUONS, "met_rebuild")
    met_key = K.met_key(name)
    sig_key = significance_key(name) if flags["met.significance"] else None
    algorithms.append(METMakerAlg(
        name=f"METMakerAlg_{name}", jets=jets_key, met=met_key,
        significance=[sig_key] if sig_key else [],
        event_info=K.EVENT_INFO if sig_key and K.EVENT_INFO in available_keys else None,
        **{kind: selected_key(K_in) for kind, K_in in
           zip(_KINDS, (K.ELECTRONS, K.PHOTONS, K.TAUS, K.MUONS))}, **common))
    outputs = [met_key] + ([sig_key] if sig_key else [])
    variation_keys = []
    nominal_of: dict[str, str] = {}
    for var in (s for s in syst if s in OBJECT_SCALE_VARIATIONS):
        kinds, scale = OBJECT_SCALE_VARIATIONS[var]
        inputs = {kind: selected_key(src) for kind, src in
                  zip(_KINDS, (K.ELECTRONS, K.PHOTONS, K.TAUS, K.MUONS))}
        jets = jets_key
        for kind in kinds:
            if kind == "jets":
                jets = selected_key(jets_key, var)
                algorithms.append(METObjectSelection(
                    name=f"METObjectSelection_jets_{var}", objects=jets_key, selected=jets,
                    min_pt=0.0, max_abs_eta=1e9, scale=scale))
            else:
                sel = selection_cfg(flags, kind, variation=var, scale=scale)
                algorithms.append(sel)
                inputs[kind] = sel.key("selected")
        key = K.met_syst_key(name, var)
        algorithms.append(METMakerAlg(name=f"METMakerAlg_{name}_{var}", jets=jets, met=key,
                                      **inputs, **common))
        variation_keys.append(key)
    track_name = flags["met.track_met"]
    jet_trk = [s for s in syst if s in JET_TRK_VARIATIONS]
    if jet_trk and not track_name:
        track_name = name + "Track"
    if track_name:
        track_key = K.met_key(track_name)
        keys = [K.met_syst_key(track_name, s) for s in jet_trk]
        algorithms.append(METMakerAlg(
            name=f"METMakerAlg_{track_name}", jets=jets_key, met=track_key, track_met=True,
            jet_track_variations=tuple(jet_trk), jet_track_varied=keys,
            **{kind: selected_key(K_in) for kind, K_in in
               zip(_KINDS, (K.ELECTRONS, K.PHOTONS, K.TAUS, K.MUONS))},
            **dict(common, soft_terms="track", invisible=flags["met.invisible"])))
        outputs.append(track_key)
        variation_keys += keys
        nominal_of.update({k: track_key for k in keys})
    soft = [s for s in syst if s in SOFT_SYSTEMATICS]
    if soft:
        if K.TRUTH_MET not in available_keys:
            raise ConfigurationError(f"met.systematics {soft} need simulation: the input has no "
                                     f"{K.TRUTH_MET!r} (keys: {sorted(available_keys)})")
        keys = [K.met_syst_key(name, s) for s in soft]
        algorithms.append(METSystematicsAlg(name=f"METSystematicsAlg_{name}", met=met_key,
                                            varied=keys, variations=tuple(soft)))
        variation_keys += keys
    outputs += variation_keys
    return algorithms, outputs, METRebuildSummary(met_key, sig_key, variation_keys, nominal_of)


def _refuse_atlas_named_import(available, flags):
    """`metflow import-physlite` writes ATLAS names by default (AnalysisJets,
    METAssoc_AnalysisMET); this job reads metflow's: say which command gives them, instead of
    chaining a reconstruction the input cannot feed (a graph error naming PFOs and tracks)."""
    from metflow.algorithms.physlite.naming import ATLAS_JETS, ATLAS_MAP

    found = [k for k in (ATLAS_MAP, ATLAS_JETS) if k in available]
    if found and K.met_assoc_key(flags["met.jet_collection"]) not in available:
        inputs = " ".join(flags["input.files"])
        raise ConfigurationError(
            f"met_rebuild: {inputs} is a PHYSLITE import with ATLAS names ({', '.join(found)}); "
            f"met_rebuild reads metflow names: re-import with `metflow import-physlite FILE "
            f"--naming metflow -o out.parquet` and run met_rebuild --input out.parquet (or run "
            f"physlite_met on the PHYSLITE FILE itself)")


def _jet_collection(flags) -> JetCollection:
    """The JetCollection record of flag met.jet_collection (a ConfigurationError names the flag)."""
    jet_coll = flags["met.jet_collection"]
    if jet_coll not in K.JET_COLLECTIONS:
        raise ConfigurationError(f"met.jet_collection: unknown {jet_coll!r}; known: {list(K.JET_COLLECTIONS)}")
    return jet_collection(jet_coll)


def configure(flags):
    source = open_input(flags)
    algorithms = []
    available = set(source.keys())
    _refuse_atlas_named_import(available, flags)
    jet_coll = _jet_collection(flags).name
    if K.met_assoc_key(jet_coll) not in available:   # raw events: chain the reconstruction
        from metflow.algorithms.met.config import met_reco_cfg

        reco = met_reco_cfg(jet_coll)
        algorithms += reco
        available |= {k for alg in reco for k in alg.output_keys()}
    rebuild, outputs, summary = met_rebuild_cfg(flags, available, source)
    algorithms += rebuild
    sinks = [summary]
    if flags["output.file"]:
        sinks.append(met_output_sink(flags["output.file"], with_event_info(outputs, available)))
    return Job(source=source, algorithms=algorithms, sinks=sinks, name="met_rebuild")


if __name__ == "__main__":
    from metflow.framework.cli import run_standalone

    run_standalone(__file__)
