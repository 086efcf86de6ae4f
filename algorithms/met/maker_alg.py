"""METMakerAlg: the scheduled METMaker (MET_<name> from the map, the core and the selected
objects), and rebuild_event_met, the standard rebuild sequence it runs."""

from __future__ import annotations

import inspect

import numpy as np

from metflow.edm import keys as mk
from metflow.edm.met import MissingETAssociationHelper, MissingETAssociationMap, ObjectType, Source
from metflow.edm.units import GeV
from metflow.framework.component import Algorithm, Property, ReadHandleKey, WriteHandleKey
from metflow.framework.errors import ConfigurationError

from .maker import JET_WORKING_POINTS, METMaker, RebuildError
from .met_builder import METBuilder
from .significance import METSignificance


# ---------------------------------------------------------------------------------------------
# algorithm

_KINDS = {"electrons": (ObjectType.Electron, mk.REF_ELE), "photons": (ObjectType.Photon, mk.REF_GAMMA),
          "taus": (ObjectType.Tau, mk.REF_TAU), "muons": (ObjectType.Muon, mk.MUONS_TERM)}
_DEFAULT_JET_COLL = "AntiKt4EMPFlow"


def _selected(container_key: str) -> str:
    from .selection import selected_key
    return selected_key(container_key)


class METMakerAlg(Algorithm):
    """Rebuilds MET_<name> from the association map, the core and the selected objects.

    Terms: RefEle, RefGamma, RefTau, Muons, RefJet, PVSoftTrk and/or SoftClus, FinalTrk and/or
    FinalClus (plus Invisibles with `invisible`). The selection state lives in one
    MissingETAssociationHelper per thread (`helper()`, in the thread scratch), reset per block.
    """

    assoc_map = ReadHandleKey(mk.met_assoc_key(_DEFAULT_JET_COLL), doc="association map")
    core = ReadHandleKey(mk.met_core_key(_DEFAULT_JET_COLL), doc="core soft terms")
    jets = ReadHandleKey(mk.jet_container_key(_DEFAULT_JET_COLL),
                         doc="calibrated jets, all of them: METMaker applies the working point")
    electrons = ReadHandleKey(_selected(mk.ELECTRONS), doc="selected electrons (None: no term)",
                              optional=True)
    photons = ReadHandleKey(_selected(mk.PHOTONS), doc="selected photons (None: no term)", optional=True)
    taus = ReadHandleKey(_selected(mk.TAUS), doc="selected taus (None: no term)", optional=True)
    muons = ReadHandleKey(_selected(mk.MUONS), doc="selected muons (None: no term)", optional=True)
    event_info = ReadHandleKey(None, doc="EventInfo (optional; the calibrated significance "
                               "takes pileup from the soft term's sumET, not mu)", optional=True)
    met = WriteHandleKey(mk.met_key(_DEFAULT_JET_COLL), doc="rebuilt MET container")
    significance = WriteHandleKey(None, doc="significance key (None: no significance written)",
                                  optional=True)
    jet_track_varied = WriteHandleKey([], doc="one key per jet_track_variations entry (track MET)")

    jet_selection = Property(str, "Tight", doc="jet working point",
                             choices=(*JET_WORKING_POINTS, "Expert"))
    do_jvt = Property(bool, True, doc="apply the JVT cut of the working point")
    do_pflow = Property(bool, True, doc="ParticleFlow overlap policy (PFlow maps)")
    soft_terms = Property(str, "both", doc="soft terms built: both, track (TST), cluster (CST)",
                          choices=("both", "track", "cluster"))
    invisible = Property(str, "", doc="object kind passed to markInvisible instead of its term",
                         choices=("", *_KINDS))
    jet_min_weighted_pt = Property(float, 20 * GeV, doc="JetMinWeightedPt", unit="MeV")
    jet_min_efrac = Property(float, 0.0, doc="JetMinEFrac")
    jet_eta_max = Property(float, 4.5, doc="JetEtaMax (<= 0 disables)")
    correct_jet_phi = Property(bool, False, doc="CorrectJetPhi")
    greedy_photons = Property(bool, False, doc="GreedyPhotons")
    very_greedy_photons = Property(bool, False, doc="VeryGreedyPhotons")
    or_calo_tagged_muons = Property(bool, True, doc="ORCaloTaggedMuons")
    do_remove_muon_jets = Property(bool, True, doc="DoRemoveMuonJets: reject a jet that is the "
                                   "muon's own ID track (jets' sumpt_trk_pt500, n_trk_pt500; "
                                   "muons' id_track_pt)")
    do_set_muon_jet_em_scale = Property(bool, False, doc="DoSetMuonJetEMScale (ATLAS default on; "
                                        "physlite_met sets it): a muon FSR jet goes to the "
                                        "MuonEloss term (jets' width, ps_frac or presampler_e, "
                                        "emfrac; muons' energy_loss)")
    use_r21_jvt_fallback = Property(bool, True, doc="UseR21JvtFallback: cut on the jets' JVT "
                                    "moment (|eta| < 2.4); False = NNJvt tool on a stored pass "
                                    "decision inside its range (PHYSLITE)")
    jet_eta_max_veto = Property(bool, False, doc="reject jets beyond JetEtaMax even when the JVT "
                                "decision passes them (Athena lets JVT overwrite the eta veto)")
    do_remove_elec_trks = Property(bool, True, doc="DoRemoveElecTrks")
    track_met = Property(bool, False, doc="rebuildTrackMET: hard jets enter the jet term with "
                         "their PV tracks (jet|track source); needs soft_terms='track'")
    jet_track_variations = Property(tuple, (), doc="MET_JetTrk_ScaleUp/Down of the track MET, "
                                    "written to jet_track_varied")
    soft_term_reso = Property(float, 0.0, doc="significance: constant soft-term resolution per "
                              "axis (ATLAS 'Random': 8.5 GeV); 0 = the calibrated model of "
                              "significance.py", unit="MeV")

    def initialize(self) -> None:
        self._maker = self.make_maker()
        self._significance = self._significance_config()
        sig = self.key("significance")
        if self.track_met and self.soft_terms != "track":
            raise ConfigurationError(f"{self.name}: track_met=True builds the track soft term only; "
                                     f"set soft_terms='track' (got {self.soft_terms!r})")
        if self.track_met and sig is not None:
            raise ConfigurationError(f"{self.name}: no object-based significance for a track MET "
                                     f"(jets enter with their tracks); drop significance={sig!r}")
        from .systematics import JET_TRK_VARIATIONS
        varied = self.key("jet_track_varied")
        if len(varied) != len(self.jet_track_variations):
            raise ConfigurationError(f"{self.name}: {len(self.jet_track_variations)} jet-track "
                                     f"variations but {len(varied)} jet_track_varied keys")
        bad = [v for v in self.jet_track_variations if v not in JET_TRK_VARIATIONS]
        if bad:
            raise ConfigurationError(f"{self.name}: unknown jet-track variations {bad}; known: "
                                     f"{list(JET_TRK_VARIATIONS)}")
        if self.jet_track_variations and not self.track_met:
            raise ConfigurationError(f"{self.name}: jet_track_variations vary the jet term of a "
                                     f"track MET; set track_met=True")

    def _significance_config(self) -> tuple:
        """(METSignificance, total term, hard terms -> object type) of this configuration."""
        total = mk.FINAL_TRK if self.soft_terms != "cluster" else mk.FINAL_CLUS
        hard = {term: t for t, term in _KINDS.values()}
        hard[mk.REF_JET] = ObjectType.Jet
        sig = METSignificance(soft_term_reso=self.soft_term_reso or None,
                              track_soft_term=total == mk.FINAL_TRK)
        return sig, total, hard

    def make_maker(self) -> METMaker:
        """The METMaker configured by name from this algorithm's properties: every METMaker
        option that is also a property of the algorithm (stateless, shared by threads)."""
        properties = self.properties_declared()
        options = inspect.signature(METMaker).parameters
        return METMaker(**{name: getattr(self, name) for name in options if name in properties})

    def helper(self, assoc_map: MissingETAssociationMap) -> MissingETAssociationHelper:
        """This thread's MissingETAssociationHelper (in the framework's thread scratch), reset
        for ``assoc_map``: one helper per thread and algorithm, reused block after block."""
        scratch = self.thread_scratch()
        helper = getattr(scratch, "helper", None)
        if helper is None:
            helper = scratch.helper = MissingETAssociationHelper(assoc_map)
            return helper
        return helper.reset(assoc_map)

    def compute(self, assoc_map, core, jets, electrons, photons, taus, muons, event_info=None):
        objects = {"electrons": electrons, "photons": photons, "taus": taus, "muons": muons}
        met, _ = rebuild_event_met(self._maker, assoc_map, core, jets, objects,
                                   soft_terms=self.soft_terms,
                                   do_jvt=self.do_jvt, invisible=self.invisible,
                                   owner=self.name, core_key=self.key("core"),
                                   track_met=self.track_met, helper=self.helper(assoc_map))
        out = {"met": met.to_container(key=self.key("met"))}
        if self.jet_track_variations:
            from .systematics import vary_jet_track_met
            out["jet_track_varied"] = [vary_jet_track_met(met, assoc_map, v, key=k) for v, k in
                                       zip(self.jet_track_variations, self.key("jet_track_varied"))]
        else:
            out["jet_track_varied"] = []
        sig_key = self.key("significance")
        out["significance"] = None
        if sig_key is not None:
            sig, total, hard = self.__dict__.get("_significance") or self._significance_config()
            mu = np.asarray(event_info["mu"], np.float64) if event_info is not None else None
            rec = sig.from_builder(met, total, hard, mu)
            rec.key = sig_key
            out["significance"] = rec
        return out


def rebuild_event_met(maker: METMaker, assoc_map, core, jets, objects: dict, *,
                      soft_terms: str = "both", do_jvt: bool = True, invisible: str = "",
                      owner: str = "METMaker", core_key: str = "core", track_met: bool = False,
                      helper: MissingETAssociationHelper | None = None):
    """The standard rebuild sequence (e, γ, τ, μ, jets, totals) into a new METBuilder.

    `track_met`: jets through rebuild_track_met (needs soft_terms="track"). `helper`: a helper
    already reset for `assoc_map` (METMakerAlg's per-thread one); default a new one.
    Returns (builder, jet result). Used by METMakerAlg and the benchmarks.
    """
    n = assoc_map.n_events
    if core.n_events != n:
        raise RebuildError(f"{owner}: core {core_key!r} has {core.n_events} events but the "
                           f"association map has {n}")
    if helper is None:
        helper = MissingETAssociationHelper(assoc_map)
    met = METBuilder(n)
    if invisible and objects.get(invisible) is not None:
        maker.mark_invisible(_KINDS[invisible][0], objects[invisible], helper, met)
    for kind, (obj_type, term) in _KINDS.items():
        objs = objects.get(kind)
        if objs is None or kind == invisible:
            continue
        maker.rebuild_met(term, obj_type, objs, helper, met)
    names = {"both": (mk.SOFT_CLUS, mk.PV_SOFT_TRK), "track": (mk.PV_SOFT_TRK,),
             "cluster": (mk.SOFT_CLUS,)}[soft_terms]
    if track_met and soft_terms != "track":
        raise RebuildError(f"{owner}: a track MET has only the track soft term; got soft_terms={soft_terms!r}")
    rebuild_jets = maker.rebuild_track_met if track_met else maker.rebuild_jet_met
    result = rebuild_jets(mk.REF_JET, names if not track_met else names[0], met, jets, core, helper,
                          do_jvt=do_jvt, muons=objects.get("muons"),
                          electrons=objects.get("electrons"))
    if mk.PV_SOFT_TRK in names:
        maker.build_met_sum(mk.FINAL_TRK, met, Source.track())
    if mk.SOFT_CLUS in names:
        maker.build_met_sum(mk.FINAL_CLUS, met, Source.cluster_lc())
    return met, result
