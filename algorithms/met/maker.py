"""METMaker: rebuild MET at analysis time from `METAssoc_<Jet>` and `MET_Core_<Jet>`.

The operations of ATLAS METMaker (athena_met.md C.2-C.6), block-wise. A rebuild is:

    helper = MissingETAssociationHelper(assoc_map)      # never stored (METMakerAlg: one per thread, reset per block)
    met = METBuilder(n_events)                           # per invocation
    maker.rebuild_met(REF_ELE, ObjectType.Electron, electrons, helper, met)
    maker.rebuild_met(REF_GAMMA, ObjectType.Photon, photons, helper, met)
    maker.rebuild_met(REF_TAU, ObjectType.Tau, taus, helper, met)
    maker.rebuild_met(MUONS_TERM, ObjectType.Muon, muons, helper, met)
    maker.rebuild_jet_met(REF_JET, (SOFT_CLUS, PV_SOFT_TRK), met, jets, core, helper)
    maker.build_met_sum(FINAL_TRK, met, MissingETBase.Source.track())
    container = met.to_container()

The caller's call order is the priority order between object types and the container order
is the priority within a type. All selection state is in `helper.selected` (one uint64 mask
per association); the map is only read. The work runs in numba nogil kernels over the whole
block (`_maker_kernels`), so the Python cost per call is a few microseconds.

Implemented as Athena's METMaker code behaves (docs/physlite.md has the rule-by-rule table):
overlap removal through the helper with the usage policies (OnlyCluster for e/γ/τ, OnlyTrack
without removal for muons, ParticleFlow with `do_pflow`), greedy / very greedy photons,
calo-tagged muon overlap with electrons, the jet working points (C.3); JVT either as the NNJvt
selection tool on a stored pass decision inside its range (20-60 GeV, |DetectorEta| <= 2.5; the
decision overwrites the JetEtaMax veto, as in METMaker) or as the R21 fallback (JVT moment cut,
JetEtaForw forced to 2.4, cut 0.5 for PFlow); `jet_eta_max_veto` keeps the |eta| > JetEtaMax
veto whatever JVT says. The jet overlap subtraction O = C − overlapCalVec (scaled to the
constituent scale through the alternate constituent vector), muon calorimeter deposits handed
back to jets (when a muon-jet rule is on), uniquefrac, JetMinEFrac / JetMinWeightedPt,
CorrectJetPhi, the high-pT electron-track rule (DoRemoveElecTrks), DoRemoveMuonJets (the jet's
SumPtTrkPt500/NumTrkPt500 at the PV and the muon's ID-track pT, in float32 as METMaker),
DoSetMuonJetEMScale (muon FSR jets, energy-loss corrected, go to the MuonEloss term, created
with the muon term), CST and TST with the Central-bit rule, misc soft contributions,
rebuild_track_met, mark_invisible and build_met_sum. An event whose map is empty (no primary
vertex) gets empty terms, as the reference returns early on an empty map.

Class defaults differ from Athena's in two places, because metflow's own events carry a JVT
moment and no jet width, presampler energy or muon energy loss: use_r21_jvt_fallback=True and
do_set_muon_jet_em_scale=False. physlite_met sets Athena's values.

Omitted: DoMuonEloss, UseGhostMuons, DoSimpleOR (nominal jets), DoRemoveElecTrksEM, truth
variants (DoSoftTruth, DoJetTruth) and retrieveOverlapRemovedConstituents. Every muon in a jet
counts as having an energy loss, as the reference's switch lists every energy-loss type.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from metflow.edm import keys as mk
from metflow.edm.containers import ORIGINAL_INDEX, Container
from metflow.edm.met import (POLICY_OVERLAP_MASK, MissingETAssociationHelper,
                              MissingETAssociationMap, MissingETContainer, ObjectType, Source,
                              UsagePolicy)
from metflow.edm.units import GeV

from . import _maker_kernels as K
from .met_builder import JetRebuildResult, METBuilder, RebuildError
from .rule_columns import NNJVT, REMOVE_MUON_JETS, SET_MUON_JET_EM_SCALE, read_rule_columns


_POLICY_ONLY_CLUSTER = int(POLICY_OVERLAP_MASK[UsagePolicy.OnlyCluster])
_POLICY_ONLY_TRACK = int(POLICY_OVERLAP_MASK[UsagePolicy.OnlyTrack])
_POLICY_PARTICLE_FLOW = int(POLICY_OVERLAP_MASK[UsagePolicy.ParticleFlow])

# Muon-jet overlap knobs of the reference (C.1): DoRemoveMuonJets, then DoSetMuonJetEMScale.
_MU_JET_PT_RATIO = 2.0      # muIDPTJetPtRatioMuOlap
_MU_TRK_FRAC = 0.8          # JetTrkPtMuPt
_MU_TRK_N = 5               # JetTrkNMuOlap
_FSR_TRK_N = 3
_FSR_EMF = 0.9              # JetEmfMuOlap
_FSR_WIDTH = 0.1            # JetWidthMuOlap
_FSR_PS_E = 2.5 * GeV       # JetPsEMuOlap
# JVT: the NNJvt selection tool's validity range (JvtSelectionToolBase defaults), the R21
# fallback's forced central/forward boundary, and the fallback cut for PFlow jets.
NNJVT_PT_RANGE = (20 * GeV, 60 * GeV)
NNJVT_DETECTOR_ETA_MAX = 2.5
R21_JET_ETA_FORW = 2.4
PFLOW_JVT_CUT = 0.5
_PFLOW_JVT_WPS = ("Loose", "Tight", "Tighter", "Tenacious")
_FALLBACK_ONLY = ("Tier0", "HRecoil")


@dataclass(frozen=True)
class JetWorkingPoint:
    """Jet pT thresholds and JVT rule of one METMaker JetSelection (athena_met.md C.3)."""

    central_pt: float
    forward_pt: float
    jvt_cut: float
    jvt_pt_max: float
    eta_max: float | None = None   # overrides JetEtaMax when set


JET_WORKING_POINTS: dict[str, JetWorkingPoint] = {
    "Loose": JetWorkingPoint(20 * GeV, 20 * GeV, 0.59, 60 * GeV),
    "Tight": JetWorkingPoint(20 * GeV, 30 * GeV, 0.59, 60 * GeV),
    "Tighter": JetWorkingPoint(20 * GeV, 35 * GeV, 0.59, 60 * GeV),
    "Tenacious": JetWorkingPoint(20 * GeV, 40 * GeV, 0.59, 60 * GeV),
    "Tier0": JetWorkingPoint(0.0, 0.0, -1.0, 0.0),
    "HRecoil": JetWorkingPoint(9999 * GeV, 9999 * GeV, 0.59, 60 * GeV, eta_max=5.0),
}


def map_arrays(assoc_map: MissingETAssociationMap) -> tuple:
    """The map's columns as the tuple the kernels take (layout in `_maker_kernels`)."""
    m = assoc_map
    return (m.assoc_offsets, m.jet_index, m.is_misc, m.obj_offsets, m.obj_container,
            m.obj_index, m.obj_type, m.ovl_offsets, m.ovl_index, m.ovl_type,
            m.cal_offsets, m.cal_key, m.cal_px, m.cal_py, m.cal_pz, m.cal_e, m.cal_sumpt,
            m.trk_offsets, m.trk_key, m.trk_px, m.trk_py, m.trk_pz, m.trk_e, m.trk_sumpt,
            m.jettrk_px, m.jettrk_py, m.jettrk_pz, m.jettrk_e, m.jettrk_sumpt)


def _check_block(what: str, container: Container, n_events: int) -> None:
    if container.n_events != n_events:
        raise RebuildError(f"{what} {container.key!r} has {container.n_events} events but the "
                           f"association map has {n_events}")


def _mask(select: Any, n: int, what: str) -> np.ndarray:
    """Caller's selection as a bool mask over objects (None: all; bool mask; or indices)."""
    if select is None:
        return np.ones(n, np.bool_)
    arr = np.asarray(select)
    if arr.dtype == np.bool_:
        if arr.shape != (n,):
            raise RebuildError(f"selection mask for {what} has shape {arr.shape}, expected ({n},)")
        return arr
    if arr.dtype.kind not in "iu":
        raise RebuildError(f"selection for {what} must be a bool mask or integer indices, "
                           f"got dtype {arr.dtype}")
    mask = np.zeros(n, np.bool_)
    if arr.size and (arr.min() < 0 or arr.max() >= n):
        raise RebuildError(f"selection index out of range for {what} ({n} objects)")
    mask[arr] = True
    return mask


def _orig_index(container: Container) -> np.ndarray:
    orig = container.get(ORIGINAL_INDEX)
    return orig if orig is not None else container.local_index()


def _container_id(assoc_map: MissingETAssociationMap, container: Container, what: str, required: bool = True) -> int:
    """Index in the map's container_keys of the (root) container the objects come from."""
    key = container.original_key or container.key
    keys = tuple(assoc_map.container_keys)
    if key in keys:
        return keys.index(key)
    if not required:
        return -1
    raise RebuildError(f"{what} container {key!r} is not one of the association map's object "
                       f"containers {list(keys)}; a shallow copy must keep original_index "
                       f"pointing to the mapped container")


class METMaker:
    """ATLAS METMaker, configured once; every call takes its own helper and METBuilder."""

    def __init__(self, *, jet_selection: str = "Tight", jet_eta_max: float = 4.5,
                 jet_eta_forw: float = 2.5, use_r21_jvt_fallback: bool = True,
                 jvt_cut: float | None = None,
                 custom_central_jet_pt: float = 20 * GeV, custom_forward_jet_pt: float = 20 * GeV,
                 custom_jvt_cut: float = 0.59, custom_jvt_pt_max: float = 60 * GeV,
                 jet_min_efrac: float = 0.0, jet_min_weighted_pt: float = 20 * GeV,
                 correct_jet_phi: bool = False, do_pflow: bool = False,
                 or_calo_tagged_muons: bool = True, greedy_photons: bool = False,
                 very_greedy_photons: bool = False, do_remove_muon_jets: bool = True,
                 do_set_muon_jet_em_scale: bool = False, do_remove_elec_trks: bool = True,
                 jet_eta_max_veto: bool = False):
        if jet_selection == "Expert":
            wp = JetWorkingPoint(custom_central_jet_pt, custom_forward_jet_pt, custom_jvt_cut,
                                 custom_jvt_pt_max)
        elif jet_selection in JET_WORKING_POINTS:
            wp = JET_WORKING_POINTS[jet_selection]
        else:
            import difflib
            close = difflib.get_close_matches(jet_selection, [*JET_WORKING_POINTS, "Expert"], n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise ValueError(f"unknown METMaker jet_selection {jet_selection!r}{hint} "
                             f"(known: {[*JET_WORKING_POINTS, 'Expert']})")
        if jet_selection in _FALLBACK_ONLY:
            use_r21_jvt_fallback = True
        if use_r21_jvt_fallback:   # METMaker::initialize: the R21 cuts come with their 2.4 boundary
            jet_eta_forw = R21_JET_ETA_FORW
        self.jet_selection = jet_selection
        self.working_point = wp
        self.use_r21_jvt_fallback = bool(use_r21_jvt_fallback)
        self.do_pflow = bool(do_pflow)
        self.or_calo_tagged_muons = bool(or_calo_tagged_muons)
        self.greedy_photons = bool(greedy_photons)
        self.very_greedy_photons = bool(very_greedy_photons)
        eta_max = wp.eta_max if wp.eta_max is not None else jet_eta_max
        if jvt_cut is None:
            jvt_cut = wp.jvt_cut
            if self.do_pflow and jet_selection in _PFLOW_JVT_WPS:
                jvt_cut = PFLOW_JVT_CUT
        par = np.zeros(K.N_FLOAT_PARAMS)
        par[K.P_CEN_PT] = wp.central_pt
        par[K.P_FWD_PT] = wp.forward_pt
        par[K.P_ETA_FORW] = jet_eta_forw
        par[K.P_ETA_MAX] = eta_max
        par[K.P_JVT_CUT] = jvt_cut
        if self.use_r21_jvt_fallback:
            par[K.P_JVT_PT_MIN] = 0.0
            par[K.P_JVT_PT_MAX] = wp.jvt_pt_max
            par[K.P_JVT_ETA_MAX] = jet_eta_forw
        else:
            par[K.P_JVT_PT_MIN] = NNJVT_PT_RANGE[0]
            par[K.P_JVT_PT_MAX] = NNJVT_PT_RANGE[1]
            par[K.P_JVT_ETA_MAX] = NNJVT_DETECTOR_ETA_MAX
        par[K.P_MIN_EFRAC] = jet_min_efrac
        par[K.P_MIN_WEIGHTED_PT] = jet_min_weighted_pt
        par[K.P_MU_JET_PT_RATIO] = _MU_JET_PT_RATIO
        par[K.P_MU_TRK_FRAC] = _MU_TRK_FRAC
        par[K.P_MU_TRK_N] = _MU_TRK_N
        par[K.P_FSR_TRK_N] = _FSR_TRK_N
        par[K.P_FSR_EMF] = _FSR_EMF
        par[K.P_FSR_WIDTH] = _FSR_WIDTH
        par[K.P_FSR_PS_E] = _FSR_PS_E
        par.flags.writeable = False
        self._par = par
        self._correct_phi = bool(correct_jet_phi)
        self._remove_muon_jets = bool(do_remove_muon_jets)
        self._muon_jet_em_scale = bool(do_set_muon_jet_em_scale)
        self._remove_elec_trks = bool(do_remove_elec_trks)
        self._eta_max_veto = bool(jet_eta_max_veto)
        self._muon_rules = ((REMOVE_MUON_JETS,) if self._remove_muon_jets else ()) + \
            ((SET_MUON_JET_EM_SCALE,) if self._muon_jet_em_scale else ())

    @property
    def jvt_cut(self) -> float:
        """The JVT cut the R21 fallback applies (0.5 for PFlow at the standard working points)."""
        return float(self._par[K.P_JVT_CUT])

    @property
    def jet_eta_forw(self) -> float:
        """Central/forward |eta| boundary of the jet pT thresholds (2.4 with the R21 fallback)."""
        return float(self._par[K.P_ETA_FORW])

    @property
    def muon_eloss_term(self) -> bool:
        """True when the muon term comes with a MuonEloss term (DoSetMuonJetEMScale)."""
        return self._muon_jet_em_scale

    def column_rules(self) -> tuple[str, ...]:
        """The configured rules that read jet and muon columns (keys of `RULE_COLUMNS`, which
        lists the columns); the jobs check an input has them at configure time."""
        rules = (NNJVT,) if not self.use_r21_jvt_fallback else ()
        return rules + self._muon_rules

    # -- C.2 ----------------------------------------------------------------------------------
    def rebuild_met(self, term: str, obj_type: ObjectType, objects: Container, helper: MissingETAssociationHelper,
                    met: METBuilder, *, select: Any = None, constituent_scale: bool = False,
                    source: int | None = None) -> np.ndarray:
        """Add the caller's objects of one type to term `term`, with overlap removal.

        `objects` are calibrated objects (shallow copies with original_index allowed);
        `select` is a bool mask or index list over them (None: all, in container order).
        Returns float32 weights per object (1 = added to the term).
        """
        obj_type = ObjectType(obj_type)
        src = Source
        sources = {ObjectType.Electron: src.electron(), ObjectType.Photon: src.photon(),
                   ObjectType.Tau: src.tau(), ObjectType.Muon: src.muon()}
        if obj_type == ObjectType.Jet:
            raise RebuildError("rebuild_met does not take jets: use rebuild_jet_met")
        if obj_type not in sources:
            raise RebuildError(f"rebuild_met: unsupported object type {obj_type.name} for term "
                               f"{term!r} (electrons, photons, taus, muons)")
        out = met.new_term(term, sources[obj_type] if source is None else source)
        if obj_type == ObjectType.Muon and source is None and self._muon_jet_em_scale \
                and mk.MUON_ELOSS not in met:
            met.new_term(mk.MUON_ELOSS, Source.Muon | Source.Calo)
        weight = np.zeros(len(objects), np.float32)
        met.links[term] = (objects, weight)
        assoc_map = helper.map
        n_events = assoc_map.assoc_offsets.shape[0] - 1
        _check_block(f"objects for term {term!r}", objects, n_events)
        if len(objects) == 0 or assoc_map.assoc_offsets[-1] == 0:
            return weight
        is_muon = obj_type == ObjectType.Muon
        policy = _POLICY_ONLY_TRACK if is_muon else _POLICY_ONLY_CLUSTER
        if self.do_pflow:
            policy = _POLICY_PARTICLE_FLOW
        greedy = 0
        if obj_type == ObjectType.Photon:
            greedy = 2 if self.very_greedy_photons else (1 if self.greedy_photons else 0)
        muon_type = (np.asarray(objects["type"], np.uint8) if is_muon and "type" in objects
                     else np.zeros(0, np.uint8))
        K.rebuild_objects(
            map_arrays(assoc_map), helper.selected,
            _container_id(assoc_map, objects, f"objects for term {term!r}"),
            objects.offsets, objects["px"], objects["py"], _orig_index(objects),
            _mask(select, len(objects), term), muon_type, policy, not is_muon,
            obj_type == ObjectType.Electron, greedy, self.or_calo_tagged_muons,
            bool(constituent_scale), is_muon and not self.do_pflow, out, weight)
        return weight

    # -- C.4 ----------------------------------------------------------------------------------
    def rebuild_jet_met(self, jet_term: str, soft_terms: str | Sequence[str], met: METBuilder,
                        jets: Container, core: MissingETContainer, helper: MissingETAssociationHelper, *, do_jvt: bool = True,
                        select: Any = None, rejected: Any = None, muons: Container | None = None,
                        electrons: Container | None = None,
                        _tracks_for_hard_jets: bool = False,
                        _jet_source: int | None = None) -> JetRebuildResult:
        """Jet term and soft term(s) from the jets and the unused parts of the map.

        `soft_terms`: one name (the core term `<name>Core` decides TST or CST) or several
        (e.g. (SoftClus, PVSoftTrk): both built in one pass). `rejected`: bool mask of jets
        to reject (JetRejectionDec). `muons`: the muons given to rebuild_met (their
        `id_track_pt`, `energy_loss`) for DoRemoveMuonJets / DoSetMuonJetEMScale, which also
        read the jets' track moments, width and presampler energy (`RULE_COLUMNS`);
        without `muons` the rules cannot fire (selected muons' calorimeter deposits still go
        back to their jets). `electrons` enable the electron-track rule.
        """
        src = Source
        names = (soft_terms,) if isinstance(soft_terms, str) else tuple(soft_terms)
        cst_name = trk_name = None
        core_rows: dict[str, int] = {}
        for name in names:
            core_name = name + "Core"
            if core_name not in core.names:
                raise RebuildError(f"core soft term {core_name!r} not found in the MET core "
                                   f"container; it has {list(core.names)}")
            row = list(core.names).index(core_name)
            core_rows[name] = row
            if src.is_track_term(int(core.sources[row])):
                if trk_name is not None:
                    raise RebuildError(f"two track soft terms requested: {trk_name!r}, {name!r}")
                trk_name = name
            else:
                if cst_name is not None:
                    raise RebuildError(f"two cluster soft terms requested: {cst_name!r}, {name!r}")
                cst_name = name
        if _tracks_for_hard_jets:
            if cst_name is not None or trk_name is None:
                raise RebuildError("rebuild_track_met needs exactly one track soft term")
        assoc_map = helper.map
        n_events = assoc_map.assoc_offsets.shape[0] - 1
        _check_block("jets", jets, n_events)
        jet_out = met.new_term(jet_term, src.jet() if _jet_source is None else _jet_source)
        central = src.Central
        out = np.zeros((n_events, K.N_OUT), np.float64)
        flags = np.zeros(K.N_FLAGS, np.int64)
        for name, col, flag, central_flag in ((cst_name, K.O_CST, K.F_DO_CST, K.F_CST_CENTRAL_ONLY),
                                              (trk_name, K.O_TST, K.F_DO_TST, K.F_TST_CENTRAL_ONLY)):
            if name is None:
                continue
            row = core_rows[name]
            out[:, col] = core.mpx[:, row]
            out[:, col + 1] = core.mpy[:, row]
            out[:, col + 2] = core.sumet[:, row]
            flags[flag] = 1
            flags[central_flag] = int(bool(int(core.sources[row]) & int(central)))
        flags[K.F_DO_JVT] = int(bool(do_jvt) and (not self.use_r21_jvt_fallback
                                                  or self.working_point.jvt_pt_max > 0))
        flags[K.F_JVT_MODE] = K.JVT_R21_FALLBACK if self.use_r21_jvt_fallback else K.JVT_NNJVT
        flags[K.F_ETA_MAX_VETO] = int(self._eta_max_veto)
        flags[K.F_VERY_GREEDY_PHOTONS] = int(self.very_greedy_photons)
        flags[K.F_CORRECT_PHI] = int(self._correct_phi)
        flags[K.F_TRACKS_FOR_HARD_JETS] = int(_tracks_for_hard_jets)
        flags[K.F_JET_CONTAINER] = _container_id(assoc_map, jets, "jets", required=False)
        n_jets = len(jets)
        weight = np.zeros(n_jets, np.float32)
        status = np.zeros(n_jets, np.int8)
        empty_f = np.zeros(0, np.float64)
        empty_f32 = np.zeros(0, np.float32)
        empty_i = np.zeros(0, np.int32)
        no_event_offsets = np.zeros(n_events + 1, np.int64)
        zeros_f32 = np.zeros(n_jets, np.float32)
        # the column-reading rules that run on this call, their columns read from one table
        rules = (NNJVT,) if flags[K.F_DO_JVT] and not self.use_r21_jvt_fallback else ()
        # with either muon rule on, selected muons' calorimeter deposits go back to their jets;
        # the rules themselves read the muons' properties, so they fire only for `muons` given
        flags[K.F_REMOVE_MUON_JETS] = int(self._remove_muon_jets)
        flags[K.F_MUON_JET_EM_SCALE] = int(self._muon_jet_em_scale)
        if muons is not None:
            rules += self._muon_rules
        cols = read_rule_columns(rules, {"jets": jets, "muons": muons}) if rules else {}
        det_eta = cols.get("detector_eta", zeros_f32)
        jet_cols = [cols.get(role, zeros_f32) for role in
                    ("sumpt_trk", "n_trk", "emfrac", "width", "presampler")]
        if "id_track_pt" in cols:
            _check_block("muons", muons, n_events)
            flags[K.F_MUON_CONTAINER] = _container_id(assoc_map, muons, "muons", required=False)
            mu_offsets, mu_orig, mu_id_pt = muons.offsets, _orig_index(muons), cols["id_track_pt"]
            mu_eloss = cols.get("energy_loss", empty_f32)
            if len(mu_eloss) != len(muons):
                mu_eloss = np.zeros(len(muons), np.float32)
        else:
            flags[K.F_MUON_CONTAINER] = -1
            mu_offsets, mu_orig, mu_id_pt, mu_eloss = no_event_offsets, empty_i, empty_f32, empty_f32
        if electrons is not None and self._remove_elec_trks:
            _check_block("electrons", electrons, n_events)
            flags[K.F_REMOVE_ELEC_TRKS] = 1
            flags[K.F_ELE_CONTAINER] = _container_id(assoc_map, electrons, "electrons",
                                                     required=False)
            el_offsets, el_orig = electrons.offsets, _orig_index(electrons)
            el_pt = np.hypot(electrons["px"].astype(np.float64), electrons["py"])
        else:
            flags[K.F_ELE_CONTAINER] = -1
            el_offsets, el_orig, el_pt = no_event_offsets, empty_i, empty_f
        rejected_mask = (np.zeros(n_jets, np.bool_) if rejected is None
                         else _mask(rejected, n_jets, "rejected jets"))
        if n_jets or assoc_map.assoc_offsets[-1]:
            K.rebuild_jets(
                map_arrays(assoc_map), helper.selected, self._par, flags, jets.offsets,
                jets["px"], jets["py"], jets["pz"], jets["constit_px"], jets["constit_py"],
                jets["constit_pz"], jets["constit_e"], jets["jvt"], det_eta, _orig_index(jets),
                _mask(select, n_jets, jet_term), rejected_mask, *jet_cols,
                mu_offsets, mu_orig, mu_id_pt, mu_eloss, el_offsets, el_orig, el_pt, out,
                weight, status)
        jet_out += out[:, K.O_JET:K.O_JET + 3]
        if self._muon_jet_em_scale:
            if mk.MUON_ELOSS not in met:
                met.new_term(mk.MUON_ELOSS, src.Muon | src.Calo)
            met.term(mk.MUON_ELOSS)[:] += out[:, K.O_MUON_ELOSS:K.O_MUON_ELOSS + 3]
        for name, col in ((cst_name, K.O_CST), (trk_name, K.O_TST)):
            if name is not None:
                soft = met.new_term(name, int(core.sources[core_rows[name]]))
                soft += out[:, col:col + 3]
        hard_weight = np.where(status == K.JET_HARD, weight, 0).astype(np.float32)
        met.links[jet_term] = (jets, hard_weight)
        met.jet_status[jet_term] = status
        return JetRebuildResult(weight, status)

    # -- C.5 ----------------------------------------------------------------------------------
    def rebuild_track_met(self, jet_term: str, soft_term: str, met: METBuilder, jets: Container,
                          core: MissingETContainer, helper: MissingETAssociationHelper, **options: Any) -> JetRebuildResult:
        """Track MET: hard jets enter with their overlap-removed PV tracks (source jet|track)."""
        src = Source
        return self.rebuild_jet_met(jet_term, soft_term, met, jets, core, helper,
                                    _tracks_for_hard_jets=True,
                                    _jet_source=src.jet() | src.track(), **options)

    def mark_invisible(self, obj_type: ObjectType, objects: Container, helper: MissingETAssociationHelper,
                       met: METBuilder, *, select: Any = None) -> np.ndarray:
        """Flag objects as used (their overlaps leave jets and soft terms) in the `Invisibles`
        term, which build_met_sum skips: MET as if they were not seen."""
        return self.rebuild_met(mk.INVISIBLES, obj_type, objects, helper, met, select=select,
                                source=Source.invisible())

    # -- C.6 ----------------------------------------------------------------------------------
    def build_met_sum(self, total: str, met: METBuilder, soft_source: int = 0) -> np.ndarray:
        """Total term: sum of every term except totals, invisibles and soft terms not
        matching `soft_source` (0: all soft terms)."""
        out = met.new_term(total, Source.total())
        soft_source = int(soft_source)
        for source, values in zip(met.sources, met.values):
            if values is not out and _in_met_sum(source, soft_source):
                out += values
        return out


@functools.lru_cache(maxsize=256)
def _in_met_sum(source: int, soft_source: int) -> bool:
    """build_met_sum's rule: not a total or invisible term, and a soft term only when it has
    the `soft_source` pattern (0: every soft term)."""
    src = Source
    if src.is_total_term(source) or src.is_invisible_term(source):
        return False
    return not (soft_source and src.is_soft_term(source) and not src.has_pattern(source, soft_source))


# The block builder (met_builder), the scheduled algorithm (maker_alg) and the end-of-run
# summary (rebuild_summary) live in modules named after them; this module re-exports them (the
# public import path). maker_alg imports this module, so its names are loaded on first use.
from .rebuild_summary import METRebuildSummary  # noqa: E402

_LAZY = {"METMakerAlg": "maker_alg", "rebuild_event_met": "maker_alg"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib
        return getattr(importlib.import_module(f".{_LAZY[name]}", __package__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
