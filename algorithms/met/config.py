"""Configuration of MET reconstruction and rebuilding as mergeable `JobConfig`s.

``met_reco_cfg(flags)`` builds ``METAssoc_<Jet>`` and ``MET_Core_<Jet>`` for each jet collection
in ``met.jet_collections`` (``met_assoc_cfg(jet)`` is one collection's chain);
``met_rebuild_cfg(flags)`` rebuilds ``MET_<met.name>`` from them with METMaker (selections,
METMakerAlg, systematic variations). Merged, they make one job that reconstructs and rebuilds
in one pass; an algorithm both add with the same configuration runs once.

    cfg = met_reco_cfg(flags).merge(met_rebuild_cfg(flags))
    Job(source, cfg.algorithms, [*cfg.summaries, output_sink(cfg.outputs)])
"""

from __future__ import annotations

from collections.abc import Collection, Sequence

from metflow.edm import keys as K
from metflow.edm.jet_collection import JetCollection, jet_collection, jet_collection_of_key
from metflow.framework.errors import ConfigurationError
from metflow.framework.job_config import JobConfig

from .maker_alg import METMakerAlg
from .rebuild_summary import METRebuildSummary
from .object_associators import (STANDARD_ASSOCIATORS, METObjectAssociator,
                                 find_associator, is_link_based)
from .reco import METAssocMapBuilder, METJetAssocTool
from .reco_summary import METRecoSummary
from .selection import METObjectSelection, declare_selection_flags, selected_key, selection_cfg
from .significance import significance_key
from .systematics import (JET_TRK_VARIATIONS, OBJECT_SCALE_VARIATIONS, SOFT_SYSTEMATICS,
                          SYSTEMATICS, METSystematicsAlg)

#: the object kinds METMakerAlg takes, in its term order, and their input containers
MAKER_OBJECTS = {"electrons": K.ELECTRONS, "photons": K.PHOTONS, "taus": K.TAUS, "muons": K.MUONS}
#: the input keys a metflow input (synthetic source, met_reco output) provides that
#: met_rebuild_cfg depends on
METFLOW_INPUT_KEYS = (K.EVENT_INFO, K.TRUTH_MET)


# -- flags ------------------------------------------------------------------------------------
def declare_met_reco_flags(flags) -> None:
    """The met.* flags met_reco_cfg reads."""
    flags.declare("met.jet_collections", list, list(K.JET_COLLECTIONS),
                  "jet collections to build maps for (AntiKt4EMPFlow: PFOs, AntiKt4EMTopo: clusters)")
    flags.declare("met.extra_associators", list, [],
                  "extra associator classes by name, e.g. plugins from the metflow.algorithms entry "
                  "points (['METLRTMuonAssociator']); appended after muons, electrons, photons, taus")


def declare_met_rebuild_flags(flags) -> None:
    """The met.* flags met_rebuild_cfg reads, the object selections' among them."""
    flags.declare("met.name", str, "", "MET name: output key MET_<name> ('' = the jet "
                  "collection's name, so the key says which map the MET comes from)")
    flags.declare("met.jet_collection", str, "AntiKt4EMPFlow", "jets and map: AntiKt4EMPFlow or AntiKt4EMTopo")
    flags.declare("met.jet_selection", str, "Tight", "METMaker jet working point (Loose, Tight, Tighter, "
                  "Tenacious, Tier0, HRecoil)")
    flags.declare("met.do_jvt", bool, True, "apply the working point's JVT cut")
    flags.declare("met.jvt", str, "auto", "JVT rule: 'nnjvt' (ATLAS's NNJvt tool on the jets' "
                  "stored pass decision, 20-60 GeV, |detector eta| <= 2.5: PHYSLITE), 'r21' (the "
                  "R21 fallback cut on the jets' JVT moment, |eta| < 2.4: metflow events), 'auto' "
                  "(nnjvt when the jets carry detector_eta, as PHYSLITE imports do)")
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
    declare_selection_flags(flags)


# -- reconstruction ---------------------------------------------------------------------------
def met_assoc_cfg(jet_coll: str, *,
                  extra_associators: Sequence[type[METObjectAssociator]] = (),
                  associators: Sequence[type[METObjectAssociator]] = STANDARD_ASSOCIATORS,
                  signals: str | None = None, tracks: str = K.TRACKS,
                  vertices: str = K.PRIMARY_VERTICES, pflow: bool | None = None) -> JobConfig:
    """The algorithms building ``METAssoc_<jet_coll>`` and ``MET_Core_<jet_coll>``, in
    dependency order (no outputs, no summary: met_reco_cfg adds those).

    ``associators`` (default muons, electrons, photons, taus) then ``extra_associators`` (e.g.
    plugin classes) each read their class's default object container, in this association
    order. The map builder runs the link-based ones itself, in its kernel call; from the first
    one with its own compute on, each runs as an algorithm of its own and its fragment is an
    input of the builder (so the order holds).
    """
    # the collection's JetCollection record gives the mode and the constituents; an unregistered
    # collection needs an explicit pflow (its constituents then default to the mode's)
    record = jet_collection_of_key(K.jet_container_key(jet_coll))
    if pflow is None:
        pflow = jet_collection(jet_coll).pflow
    if signals is None:
        signals = record.constituents if record is not None else (K.PFOS if pflow else K.CLUSTERS)
    jet_assoc_key = K.met_jet_assoc_key(jet_coll)
    common = {"signals": signals, "tracks": tracks}
    cfg = JobConfig([METJetAssocTool(name=f"METJetAssocTool_{jet_coll}",
                                     jets=K.jet_container_key(jet_coll), vertices=vertices,
                                     jet_assoc=jet_assoc_key, pflow=pflow, **common)])
    objects_keys: list[str] = []
    in_builder: list[type[METObjectAssociator]] = []
    fragment_keys: list[str] = []
    for cls in [*associators, *extra_associators]:
        cls = find_associator(cls, "MET associator")
        objects = cls.default_objects_key()
        if objects in objects_keys:
            raise ConfigurationError(f"two MET associators for {objects!r} in the {jet_coll} chain "
                                     f"(the second is {cls.__name__})")
        objects_keys.append(objects)
        if is_link_based(cls) and not fragment_keys:
            in_builder.append(cls)
            continue
        fragment = K.met_object_assoc_key(jet_coll, objects)
        fragment_keys.append(fragment)
        cfg.add_algorithm(cls(name=f"{cls.__name__}_{jet_coll}", objects=objects, jet_assoc=jet_assoc_key,
                              fragment=fragment, pflow=pflow, **common))
    cfg.add_algorithm(METAssocMapBuilder(
        name=f"METAssocMapBuilder_{jet_coll}", jet_assoc=jet_assoc_key, associators=tuple(in_builder),
        objects=objects_keys[:len(in_builder)], fragments=fragment_keys, jets=K.jet_container_key(jet_coll),
        assoc_map=K.met_assoc_key(jet_coll), core=K.met_core_key(jet_coll), **common))
    return cfg


def _extra_associators(names: Sequence[str]) -> list[type[METObjectAssociator]]:
    """Flag met.extra_associators: associator classes by name (built-in modules and plugins)."""
    return [find_associator(name, "met.extra_associators") for name in names]


def met_reco_cfg(flags) -> JobConfig:
    """Maps and core soft terms of every collection in met.jet_collections (with the
    met.extra_associators): the chains, their outputs and the METRecoSummary."""
    jets = list(flags["met.jet_collections"])
    unknown = [j for j in jets if j not in K.JET_COLLECTIONS]
    if unknown:
        raise ConfigurationError(f"met.jet_collections: unknown {unknown}; known: {list(K.JET_COLLECTIONS)}")
    extra = _extra_associators(flags["met.extra_associators"])
    cfg = JobConfig()
    for jet in jets:
        cfg.merge(met_assoc_cfg(jet, extra_associators=extra))
        cfg.add_outputs([K.met_assoc_key(jet), K.met_core_key(jet)])
    cfg.add_summary(METRecoSummary(jets))
    return cfg


# -- rebuilding -------------------------------------------------------------------------------
def rebuild_jet_collection(flags) -> JetCollection:
    """The JetCollection record of flag met.jet_collection (a ConfigurationError names the flag)."""
    jet_coll = flags["met.jet_collection"]
    if jet_coll not in K.JET_COLLECTIONS:
        raise ConfigurationError(f"met.jet_collection: unknown {jet_coll!r}; known: {list(K.JET_COLLECTIONS)}")
    return jet_collection(jet_coll)


JVT_RULES = ("auto", "nnjvt", "r21")


def uses_nnjvt(flags, jet_fields: Collection[str] | None) -> bool:
    """Flag met.jvt resolved: the NNJvt rule for 'nnjvt', or for 'auto' on jets that carry
    ``detector_eta`` (PHYSLITE imports: their ``jvt`` is the stored NNJvtPass decision)."""
    rule = flags["met.jvt"]
    if rule not in JVT_RULES:
        raise ConfigurationError(f"met.jvt: unknown {rule!r}; known: {list(JVT_RULES)}")
    return rule == "nnjvt" or (rule == "auto" and "detector_eta" in (jet_fields or ()))


def met_rebuild_cfg(flags, *, input_keys: Collection[str] = METFLOW_INPUT_KEYS,
                    jet_fields: Collection[str] | None = None) -> JobConfig:
    """Selections, METMakerAlg (nominal and object-scale variations), the track MET and the
    soft-term systematics for MET_<met.name>, their outputs and the METRebuildSummary.

    ``input_keys``: what the job's input provides (Athena's Input.Collections): EventInfo there
    feeds the significance, TruthMET is needed by the soft-term systematics. The default is a
    metflow input (EventInfo and TruthMET present). The maps and cores are read, not built:
    merge ``met_reco_cfg`` (or ``met_assoc_cfg``) for input without them. ``jet_fields``: the
    input jets' columns, which decide flag met.jvt='auto' (None: not known, the R21 rule).
    """
    jets_record = rebuild_jet_collection(flags)
    jet_coll = jets_record.name
    name = flags["met.name"] or jet_coll
    jets_key = K.jet_container_key(jet_coll)
    syst = list(flags["met.systematics"])
    unknown = [s for s in syst if s not in SYSTEMATICS and s not in OBJECT_SCALE_VARIATIONS]
    if unknown:
        raise ConfigurationError(f"met.systematics: unknown {unknown}; known: "
                                 f"{list(SYSTEMATICS) + list(OBJECT_SCALE_VARIATIONS)}")
    cfg = JobConfig(selection_cfg(flags, kind) for kind in MAKER_OBJECTS)
    selected = {kind: selected_key(objects) for kind, objects in MAKER_OBJECTS.items()}
    common = dict(assoc_map=K.met_assoc_key(jet_coll), core=K.met_core_key(jet_coll),
                  jet_selection=flags["met.jet_selection"], do_jvt=flags["met.do_jvt"],
                  do_pflow=jets_record.pflow, soft_terms=flags["met.soft_terms"],
                  invisible=flags["met.invisible"],
                  do_remove_muon_jets=flags["met.remove_muon_jets"],
                  do_set_muon_jet_em_scale=flags["met.set_muon_jet_em_scale"],
                  jet_eta_max_veto=flags["met.jet_eta_max_veto"],
                  use_r21_jvt_fallback=not uses_nnjvt(flags, jet_fields))
    met_key = K.met_key(name)
    sig_key = significance_key(name) if flags["met.significance"] else None
    cfg.add_algorithm(METMakerAlg(
        name=f"METMakerAlg_{name}", jets=jets_key, met=met_key,
        significance=sig_key or None,
        event_info=K.EVENT_INFO if sig_key and K.EVENT_INFO in input_keys else None,
        **selected, **common))
    outputs = [met_key] + ([sig_key] if sig_key else [])
    variation_keys: list[str] = []
    nominal_of: dict[str, str] = {}
    for var in (s for s in syst if s in OBJECT_SCALE_VARIATIONS):
        kinds, scale = OBJECT_SCALE_VARIATIONS[var]
        inputs = dict(selected)
        jets = jets_key
        for kind in kinds:
            if kind == "jets":
                jets = selected_key(jets_key, var)
                cfg.add_algorithm(METObjectSelection(
                    name=f"METObjectSelection_jets_{var}", objects=jets_key, selected=jets,
                    min_pt=0.0, max_abs_eta=1e9, scale=scale))
            else:
                sel = cfg.add_algorithm(selection_cfg(flags, kind, variation=var, scale=scale))
                inputs[kind] = sel.key("selected")
        key = K.met_syst_key(name, var)
        cfg.add_algorithm(METMakerAlg(name=f"METMakerAlg_{name}_{var}", jets=jets, met=key,
                                      **inputs, **common))
        variation_keys.append(key)
    track_name = flags["met.track_met"]
    jet_trk = [s for s in syst if s in JET_TRK_VARIATIONS]
    if jet_trk and not track_name:
        track_name = name + "Track"
    if track_name:
        track_key = K.met_key(track_name)
        keys = [K.met_syst_key(track_name, s) for s in jet_trk]
        cfg.add_algorithm(METMakerAlg(
            name=f"METMakerAlg_{track_name}", jets=jets_key, met=track_key, track_met=True,
            jet_track_variations=tuple(jet_trk), jet_track_varied=keys, **selected,
            **dict(common, soft_terms="track")))
        outputs.append(track_key)
        variation_keys += keys
        nominal_of.update({k: track_key for k in keys})
    soft = [s for s in syst if s in SOFT_SYSTEMATICS]
    if soft:
        if K.TRUTH_MET not in input_keys:
            raise ConfigurationError(f"met.systematics {soft} need simulation: the input has no "
                                     f"{K.TRUTH_MET!r} (keys: {sorted(input_keys)})")
        keys = [K.met_syst_key(name, s) for s in soft]
        cfg.add_algorithm(METSystematicsAlg(name=f"METSystematicsAlg_{name}", met=met_key,
                                            varied=keys, variations=tuple(soft)))
        variation_keys += keys
    cfg.add_outputs(outputs + variation_keys)
    cfg.add_summary(METRebuildSummary(met_key, sig_key, variation_keys, nominal_of))
    return cfg


def met_makers(cfg: JobConfig) -> list[METMakerAlg]:
    """The METMakerAlgs of a configuration (e.g. to check their rule inputs against a source)."""
    return [alg for alg in cfg.algorithms if isinstance(alg, METMakerAlg)]


__all__ = ["MAKER_OBJECTS", "METFLOW_INPUT_KEYS", "declare_met_rebuild_flags",
           "declare_met_reco_flags", "met_assoc_cfg", "met_makers", "met_rebuild_cfg",
           "met_reco_cfg", "rebuild_jet_collection"]
