"""Independent per-event re-implementation of Athena's METMaker on PHYSLITE (acceptance reference).

What this is
------------
A deliberately plain, event-by-event Python model of what the ATLAS analysis software does when
``MetAnalysisConfig`` (PhysicsAnalysis/Algorithms/MetAnalysisAlgorithms) runs on a PHYSLITE file:
``CP::MetMakerAlg`` calls ``met::METMaker::rebuildMET`` for electrons, photons, taus and muons,
then ``rebuildJetMET`` for the jets and the track soft term, and ``CP::MetBuilderAlg`` builds the
total with ``met::buildMETSum``.  It reads the two example files directly with uproot (the Run-2
TTree ``CollectionTree`` and the Run-3 RNTuple ``EventData``); it uses nothing of metflow's
PHYSLITE converter, source, selection or METMaker.  The only metflow import is the StoreGate key
hash (``metflow.algorithms.physlite.sgkey``) that maps an ElementLink's ``m_persKey`` to a
container name.

It is the acceptance check of issue 14: ``tests/physlite/test_athena_identical.py`` compares every
term that metflow's ``physlite_met`` job writes with the terms built here, for all events, within
1 MeV.  Script mode prints the per-event disagreements::

    python tests/physlite/athena_reference.py ../shared/data/physlite/PHYSLITE_Run3_ttbar_rntuple.root
    python tests/physlite/athena_reference.py FILE.root --metflow met.parquet   # an existing output
    python tests/physlite/athena_reference.py FILE.root --explain 67            # jet-by-jet trace

Sources (public ``ATLAS-experiment/athena``; re-implemented, not copied).  Each rule below names
the function it comes from; the code cites the rule number.

Object selection (what the analysis passes to METMaker; metflow's documented defaults,
docs/physlite.md "Default selection", applied to the stored PHYSLITE decorations)
  S1  electrons: pT > 10 GeV, |eta| < 2.47, not 1.37 < |eta| < 1.52, ``DFCommonElectronsLHMedium``,
      Loose_VarRad isolation = topoetcone20 < 0.20 pT and
      ptvarcone30_Nonprompt_All_MaxWeightTTVALooseCone_pt1000 < 0.15 pT.
  S2  photons: pT > 25 GeV, |eta| < 2.37, crack excluded, ``DFCommonPhotonsIsEMTight``,
      FixedCutTight = topoetcone40 < 0.022 pT + 2.45 GeV and ptcone20 < 0.05 pT.
  S3  taus: pT > 20 GeV, |eta| < 2.5, crack excluded, Medium = the first present of
      ``GNTauM_v0prune`` (Run 3), ``JetDeepSetMedium``, ``JetRNNSigMedium`` (Run 2).
  S4  muons: pT > 10 GeV, |eta| < 2.5, Medium = ``quality`` byte bits 0-1 <= 1 (Tight or Medium)
      and bit 3 (passesIDCuts) set (xAOD Muon_v1::quality / passesIDCuts).
  S5  within a kind, objects keep the PHYSLITE container order (MetMakerAlg builds a view of the
      selected objects in container order; that order is METMaker's within-type priority).

Configuration (MetAnalysisConfig.makeAlgs for PHYSLITE; METMaker constructor/initialize)
  C1  term order: ``RefEle``, ``RefGamma``, ``RefTau``, ``Muons`` (MetMakerAlg::execute);
      ``MuonEloss`` is created right after ``Muons`` (METMaker::rebuildMET, because
      DoSetMuonJetEMScale = true); then ``RefJet`` and ``PVSoftTrk`` (rebuildJetMET, softTermKey
      "PVSoftTrk", core term "PVSoftTrkCore"); ``FinalTrk`` last (MetBuilderAlg).
  C2  DoPFlow = true (metSuffix "AnalysisMET"), JetSelection "Tight" (20 GeV central, 30 GeV
      forward, JetEtaForw 2.5), JetEtaMax 4.5, doJetJVT = true with a CP::NNJvtSelectionTool,
      DoRemoveMuonJets = true, DoSetMuonJetEMScale = true, DoMuonEloss = false,
      DoRemoveElecTrks = true, DoRemoveElecTrksEM = false, ORCaloTaggedMuons = true,
      GreedyPhotons = VeryGreedyPhotons = false, UseGhostMuons = false, DoSimpleOR = false,
      JetMinEFrac 0, JetMinWeightedPt 20 GeV, JetConstitScaleMom "JetConstitScaleMomentum",
      CorrectJetPhi false, muon-jet knobs (JetTrkNMuOlap 5, JetWidthMuOlap 0.1, JetPsEMuOlap
      2.5 GeV, JetEmfMuOlap 0.9, JetTrkPtMuPt 0.8, muIDPTJetPtRatioMuOlap 2).

Association map (xAOD MissingETAssociation_v1, MissingETAssociationMap_v1, MissingETComposition,
MissingETAssociationHelper)
  M1  the map is read as stored: per association ``jetLink``, ``isMisc``, ``objectLinks``
      (ElementLinks; key -> container by the SG key hash, index into it), ``overlapIndices`` /
      ``overlapTypes``, cal/trk entries with their ``calkey`` / ``trkkey`` bit masks, ``jettrk*``.
  M2  getAssociations(obj): every association whose objectLinks contain obj (linear scan);
      getAssociation(jet): the non-misc association whose jetLink is the jet, else none.
  M3  helper: one selection bit mask per association, all zero at the start of the event;
      objSelected(obj) = obj's bit set in any of its associations.
  M4  hasOverlaps(helper, obj, policy): some object j in overlapIndices[obj] is selected and its
      overlapTypes entry has the policy's bit; ParticleFlow policy -> bit 1 << 3.
  M5  selectIfNoOverlaps: if any association has overlaps -> false, nothing flagged; otherwise
      obj's bit is set in every association containing it and the result is true.
  M6  overlapCalVec / overlapTrkVec: sum of the cal (trk) entries whose key intersects the
      selection mask, for a jet association; for the misc association the entries whose key has
      NO selected bit.  ConstVec arithmetic in float32 (ConstVec holds floats).
  M7  hasAlternateConstVec: the reference jet is itself among its association's objects; then
      getAlternateConstVec = sum of the cal entries containing the jet's bit (4-vector).

rebuildMET (METMaker::rebuildMET, three overloads)
  R1  policy: OnlyCluster; a muon collection -> OnlyTrack and removeOverlap = false; DoPFlow ->
      ParticleFlow (so ParticleFlow for every kind).
  R2  an object in no association: an electron is skipped (stays in the soft term); any other
      kind is processed normally (it then counts as non-overlapping).
  R3  an object already selected (objSelected) is skipped.
  R4  selected = selectIfNoOverlaps(policy) or not removeOverlap  (muons are always added, their
      bits set only when they have no ParticleFlow overlap with a selected object).
  R5  calo-tagged muons (muonType 3, ORCaloTaggedMuons, removeOverlap false): not added if an
      object in one of their overlapIndices lists is a selected electron.
  R6  a selected object adds its own 4-vector: term.add(pT cos(phi), pT sin(phi), pT)
      (MissingET_v1::add subtracts px, py and adds pt; mpx, mpy, sumet are float).

rebuildJetMET (METMaker::rebuildJetMET, the single-soft-term entry point, track soft term)
  J1  PVSoftTrk starts as the core term PVSoftTrkCore (term += core); no map (empty) -> the terms
      stay zero (early return).
  J2  jets in container order; a jet without its own association is skipped.
  J3  selected = (|eta| < 2.5 and pT > 20 GeV) or (|eta| >= 2.5 and pT > 30 GeV).
  J4  reject = |eta| > JetEtaMax (4.5); with doJetJVT the JVT decision OVERWRITES it:
      reject = not NNJvtSelectionTool.accept(jet) (J5), so a forward jet beyond 4.5 that is
      outside the JVT range is not rejected.
  J5  JvtSelectionToolBase::accept: outside the validity range -> accepted; range = 20 GeV <= pT
      <= 60 GeV and |DetectorEta| <= 2.5 (MinPtForJvt, MaxPtForJvt, MaxEtaForJvt defaults,
      JetEtaName "DetectorEta"); inside -> the decision stored in PHYSLITE, ``NNJvtPass``.
  J6  calvec = overlapCalVec(helper); caloverlap = calvec.E > 0.  constjet = the
      JetConstitScaleMomentum 4-vector; calvec *= constjet.E / A.E where A is the alternate
      constituent vector if the association has one, else constjet itself (factor 1).
      O = (constjet.px - calvec.px, constjet.py - calvec.py).
  J7  muons in jet: muon objects of the association that are selected (objSelected, any
      association) - only collected because DoRemoveMuonJets / DoSetMuonJetEMScale are on.
      Electrons in jet: electron objects selected in THIS association with pT > 90 GeV.
  J8  DoRemoveElecTrks: uniqueTrk = jettrksumpt - overlapTrkVec.sumpt (float);
      passJetForEl = cpt(sum of trkVec(electron)) > 1e-9 and uniqueTrk > 10 GeV.
  J9  per muon in jet, only while the jet is not rejected:
      DoRemoveMuonJets: mu_id_pt = pT of the muon's ID track (inDetTrackParticleLink into
        InDetTrackParticles, TrackParticle_v1::pt from float p = 1/|qOverP|, sin(theta), phi;
        0 without a track); T = jet SumPtTrkPt500[PV], N = NumTrkPt500[PV] (PV = first
        PrimaryVertices entry with vertexType 1; 0 without a PV); T += mu_id_pt if
        0.9999 mu_id_pt > T; reject if mu_id_pt > 1e-9, T > 1e-9, jet pT / mu_id_pt < 2,
        mu_id_pt / T > 0.8 (float) and N < 5.
      DoSetMuonJetEMScale (same muon, same not-rejected block, evaluated even if the previous
        check just rejected the jet): psE = PSFrac if the jet has it, else
        EnergyPerSampling[0] + [4]; "muon FSR jet" if T > 1e-9, N < 3, mu_id_pt / T > 0.8,
        EMFrac > 0.9, Width < 0.1 and psE > 2.5 GeV; then O *= (0 if Eloss >= constjet.E else
        1 - Eloss / constjet.E) with Eloss the muon's ``EnergyLoss``.
      Always: for energyLossType in {Parametrized, NotIsolated, MOP, Tail, FSRcandidate}
        (0..4) the muon's bit goes into the muon mask.
  J10 M = sum of the cal entries whose key intersects the muon mask (the muons' calorimeter
      deposits, handed back to the jet); O += M; opt = |O|;
      uniquefrac = 1 - (calvec.E - M.E) / constjet.E.
  J11 muon FSR jet: MuonEloss.add(O.x, O.y, opt); nothing to RefJet or PVSoftTrk.
  J12 otherwise, if selected and not rejected: no cal overlap -> hard, RefJet += jet
      (calibrated); overlap -> hard only if (uniquefrac > 0 or passJetForEl) and opt > 20 GeV,
      then RefJet.add(uniquefrac * (jet px, py, pT)).
  J13 a jet that is not hard (below threshold, rejected, or overlapping and failing J12):
      Tj = jettrk - overlapTrkVec (0 if jettrk.E <= 1e-9) is added to PVSoftTrk as
      (Tj.px, Tj.py, Tj.sumpt) if |eta| < 2.5 or the core term has no Central bit (the
      PVSoftTrkCore source has none, so always).
  J14 after the jets: PVSoftTrk += misc overlapTrkVec (tracks of misc objects that were not
      selected), as (px, py, sumpt).

buildMETSum (METHelpers.cxx, called by MetBuilderAlg with the soft term's source)
  B1  FinalTrk = sum (term += term, float) of every term except total terms and the invisible
      term; soft terms only if their source has all bits of the PVSoftTrk source.  MuonEloss
      (Muon|Calo, not a soft term) is included.

Arithmetic: term components are float32 (MissingET_v1 stores floats; add() takes floats), map
entries and ConstVec sums are float32, the METMaker intermediates (opx, opy, uniquefrac, jet
4-vectors) are double, as in the C++.
"""

from __future__ import annotations

import argparse
import math
import os
import struct
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

F32 = np.float32
GeV = 1000.0

# xAOD::Type::ObjectType values (xAODBase/ObjectType.h)
JET, ELECTRON, PHOTON, MUON, TAU = 2, 6, 7, 8, 9
PARTICLE_FLOW_BIT = 1 << 3            # overlapTypes bit of a shared ParticleFlow constituent (M4)

# MissingETBase::Source bits
SRC_ELECTRON, SRC_PHOTON, SRC_TAU, SRC_MUON, SRC_JET = 0x1, 0x2, 0x4, 0x8, 0x10
SRC_SOFT, SRC_TOTAL = 0x20, 0x40
SRC_CENTRAL = 0x100
SRC_REFINED, SRC_CALO = 0x10000, 0x40000
INVISIBLE_SOURCE = 0x100000

# xAOD::Muon enums
CALO_TAGGED = 3                               # MuonType
ELOSS_TYPES_IN_MASK = {0, 1, 2, 3, 4}         # Parametrized, NotIsolated, MOP, Tail, FSRcandidate

# METMaker configuration for PHYSLITE (C2)
CEN_JET_PT, FWD_JET_PT, JET_ETA_FORW, JET_ETA_MAX = 20e3, 30e3, 2.5, 4.5
JVT_MIN_PT, JVT_MAX_PT, JVT_MAX_ETA = F32(20e3), F32(60e3), F32(2.5)
JET_MIN_EFRAC, JET_MIN_WEIGHTED_PT = 0.0, 20e3
MU_JET_TRK_N, MU_JET_WIDTH, MU_JET_PSE, MU_JET_EMF = 5, 0.1, 2.5e3, 0.9
MU_JET_TRKPT_MUPT, MU_ID_PT_JET_PT_RATIO = 0.8, 2.0
ELEC_TRK_PT_MIN = 90e3

CRACK = (1.37, 1.52)
TERMS = ("RefEle", "RefGamma", "RefTau", "Muons", "MuonEloss", "RefJet", "PVSoftTrk", "FinalTrk")

# PHYSLITE container names and the class IDs their ElementLink keys are hashed with
CONTAINERS = {"AnalysisElectrons": (ELECTRON, 1087532415), "AnalysisPhotons": (PHOTON, 1105575213),
              "AnalysisMuons": (MUON, 1178459224), "AnalysisTauJets": (TAU, 1177172564),
              "AnalysisJets": (JET, 1244316195)}
TRACKS = "InDetTrackParticles"
TRACK_CLID = 1287425431                       # xAOD::TrackParticleContainer
INVALID_INDEX = 0xFFFFFFFF


# =============================================================================================
# Reading the file (uproot only)

class PhysliteReader:
    """Reads ``container`` / ``variable`` for all entries of a PHYSLITE file.

    Naming (as in the files): TTree ``<C>AuxDyn.<v>`` or ``<C>Aux./<C>Aux.<v>``; RNTuple
    ``<C>AuxDyn:<v>`` or the record field ``<C>Aux:`` member ``<v>`` (``<C>Aux:.<v>``).
    """

    def __init__(self, path):
        import uproot

        self.path = os.fspath(path)
        self._file = uproot.open(self.path)
        classes = {k.split(";")[0]: c for k, c in self._file.classnames(recursive=False).items()}
        if classes.get("CollectionTree") == "TTree":
            self.format = "TTree"
            self._tree = self._file["CollectionTree"]
            self._names = set(self._tree.keys(recursive=True))
        elif classes.get("EventData") == "ROOT::RNTuple":
            self.format = "RNTuple"
            self._tree = self._file["EventData"]
            self._names = self._rntuple_names()
        else:
            raise ValueError(f"{self.path}: neither a TTree CollectionTree nor an RNTuple EventData")
        self.n_events = int(self._tree.num_entries)

    def _rntuple_names(self):
        records = self._tree.field_records
        full = {}

        def name(i):
            if i not in full:
                parent = records[i].parent_field_id
                full[i] = records[i].field_name if parent == i else f"{name(parent)}.{records[i].field_name}"
            return full[i]

        return {name(i) for i in range(len(records))}

    def _candidates(self, container, var):
        if self.format == "TTree":
            return [f"{container}AuxDyn.{var}", f"{container}Aux./{container}Aux.{var}"]
        return [f"{container}AuxDyn:{var}", f"{container}Aux:.{var}"]

    def has(self, container, var):
        return any(n in self._names for n in self._candidates(container, var))

    def read(self, container, var):
        """Awkward array over all entries; ElementLinks come back as {m_persKey, m_persIndex}."""
        import awkward as ak
        import uproot

        name = next((n for n in self._candidates(container, var) if n in self._names), None)
        if name is None:
            raise KeyError(f"{self.path}: no {container}.{var}")
        if self.format == "RNTuple":
            return self._tree[name].array()
        branch = self._tree[name]
        typename = branch.typename.replace(" ", "")
        if (typename.startswith("std::vector<ElementLink<") and typename.count("vector<") == 1
                and not branch.branches):
            # vector<ElementLink> streamed member-wise: decode the bytes ourselves
            raw = branch.array(uproot.AsJagged(uproot.AsDtype("u1")))
            return ak.Array([_decode_memberwise_links(bytes(np.asarray(e, np.uint8)))
                             for e in raw])
        arr = branch.array()
        if arr.fields and any(f.endswith("m_persKey") for f in arr.fields):
            # split ElementLink branch: fields named <branch>.m_persKey / .m_persIndex
            key = next(f for f in arr.fields if f.endswith("m_persKey"))
            idx = next(f for f in arr.fields if f.endswith("m_persIndex"))
            return ak.zip({"m_persKey": arr[key], "m_persIndex": arr[idx]})
        return arr


def _decode_memberwise_links(buf: bytes) -> list[dict]:
    """One entry of a member-wise ``std::vector<ElementLink<T>>``: byte count (with 0x40000000),
    version (with 0x4000), element class version (int16; <= 0 -> a 4-byte checksum follows),
    element count n, then n m_persKey and n m_persIndex (uint32, big-endian)."""
    count, version, elem_version = struct.unpack(">IHh", buf[:8])
    if not count & 0x40000000 or not version & 0x4000:
        raise ValueError("not a member-wise vector<ElementLink>")
    pos = 8 + (4 if elem_version <= 0 else 0)
    (n,) = struct.unpack(">I", buf[pos:pos + 4])
    pos += 4
    keys = struct.unpack(f">{n}I", buf[pos:pos + 4 * n])
    idx = struct.unpack(f">{n}I", buf[pos + 4 * n:pos + 8 * n])
    return [{"m_persKey": k, "m_persIndex": i} for k, i in zip(keys, idx)]


def _sg_keys():
    """m_persKey -> PHYSLITE container name (StoreGate key hash, metflow's sgkey module)."""
    from metflow.algorithms.physlite.sgkey import sg_key

    keys = {sg_key(name, clid): name for name, (_, clid) in CONTAINERS.items()}
    keys[sg_key(TRACKS, TRACK_CLID)] = TRACKS
    return keys


# =============================================================================================
# Event model

@dataclass
class Association:
    """One MissingETAssociation as stored (M1)."""
    index: int
    is_misc: bool
    jet_index: int | None
    objects: list                 # [(container name or None, index)]
    overlap_indices: list         # per object: [int]
    overlap_types: list           # per object: [int]
    cal: np.ndarray               # float32 [n_cal, 5]: px, py, pz, e, sumpt
    calkey: list
    trk: np.ndarray               # float32 [n_trk, 5]
    trkkey: list
    jettrk: np.ndarray            # float32 [5]

    def find_index(self, obj):
        for i, o in enumerate(self.objects):
            if o == obj:
                return i
        return None


@dataclass
class Event:
    number: int
    objects: dict                 # container -> {variable: list}
    assocs: list
    core: dict                    # name -> (mpx, mpy, sumet, source)
    pv_index: int | None
    track_pt: dict                # muon index -> float32 ID-track pT (0 without a track)
    jet_has: dict                 # variable -> bool (present in the file)


_VARS = {
    "AnalysisElectrons": ("pt", "eta", "phi", "DFCommonElectronsLHMedium", "topoetcone20",
                          "ptvarcone30_Nonprompt_All_MaxWeightTTVALooseCone_pt1000"),
    "AnalysisPhotons": ("pt", "eta", "phi", "DFCommonPhotonsIsEMTight", "topoetcone40", "ptcone20"),
    "AnalysisTauJets": ("pt", "eta", "phi"),
    "AnalysisMuons": ("pt", "eta", "phi", "quality", "muonType", "EnergyLoss", "energyLossType",
                      "inDetTrackParticleLink"),
    "AnalysisJets": ("pt", "eta", "phi", "m", "JetConstitScaleMomentum_pt",
                     "JetConstitScaleMomentum_eta", "JetConstitScaleMomentum_phi",
                     "JetConstitScaleMomentum_m", "DetectorEta", "NNJvtPass", "EMFrac", "Width",
                     "SumPtTrkPt500", "NumTrkPt500"),
}
TAU_MEDIUM = ("GNTauM_v0prune", "JetDeepSetMedium", "JetRNNSigMedium")
MAP_VARS = ("jetLink", "isMisc", "objectLinks", "overlapIndices", "overlapTypes",
            "calpx", "calpy", "calpz", "cale", "calsumpt", "calkey",
            "trkpx", "trkpy", "trkpz", "trke", "trksumpt", "trkkey",
            "jettrkpx", "jettrkpy", "jettrkpz", "jettrke", "jettrksumpt")


def track_pt(q_over_p, theta, phi) -> F32:
    """TrackParticle_v1::pt(): float p = 1/|qOverP| (10 TeV if 0), float px = p sin(theta)
    cos(phi), py likewise, pt = hypot(px, py) (double), stored by METMaker in a float (J9)."""
    q, th, ph = F32(q_over_p), F32(theta), F32(phi)
    p = F32(1.0) / F32(abs(q)) if abs(q) > 0 else F32(10e6)
    s = F32(np.sin(th))
    px = F32(F32(p * s) * F32(np.cos(ph)))
    py = F32(F32(p * s) * F32(np.sin(ph)))
    return F32(math.hypot(float(px), float(py)))


def read_events(path) -> list[Event]:
    """All events of a PHYSLITE file as :class:`Event` (plain Python lists per variable)."""
    import awkward as ak

    reader = PhysliteReader(path)
    keys = _sg_keys()
    tolist = ak.to_list
    objs = {}
    for container, variables in _VARS.items():
        objs[container] = {v: tolist(reader.read(container, v)) for v in variables}
    tau_id = next((v for v in TAU_MEDIUM if reader.has("AnalysisTauJets", v)), None)
    objs["AnalysisTauJets"]["medium"] = (tolist(reader.read("AnalysisTauJets", tau_id))
                                         if tau_id else None)
    jet_has = {v: reader.has("AnalysisJets", v) for v in ("PSFrac", "EnergyPerSampling")}
    for v, present in jet_has.items():
        if present:
            objs["AnalysisJets"][v] = tolist(reader.read("AnalysisJets", v))
    trk = {v: tolist(reader.read(TRACKS, v)) for v in ("qOverP", "theta", "phi")}
    vtx_type = tolist(reader.read("PrimaryVertices", "vertexType"))
    amap = {v: tolist(reader.read("METAssoc_AnalysisMET", v)) for v in MAP_VARS}
    core = {v: tolist(reader.read("MET_Core_AnalysisMET", v))
            for v in ("name", "mpx", "mpy", "sumet", "source")}

    events = []
    for i in range(reader.n_events):
        ev_objs = {c: {v: (vals[i] if vals is not None else None) for v, vals in d.items()}
                   for c, d in objs.items()}
        # muon ID-track pT (J9): a link into InDetTrackParticles, anything else -> no track
        tpt = {}
        for m, link in enumerate(ev_objs["AnalysisMuons"]["inDetTrackParticleLink"]):
            k, idx = link["m_persKey"], link["m_persIndex"]
            if keys.get(k) == TRACKS and idx != INVALID_INDEX and idx < len(trk["qOverP"][i]):
                tpt[m] = track_pt(trk["qOverP"][i][idx], trk["theta"][i][idx], trk["phi"][i][idx])
            else:
                tpt[m] = F32(0.0)
        pv = next((j for j, t in enumerate(vtx_type[i]) if t == 1), None)
        assocs = []
        for a in range(len(amap["isMisc"][i])):
            misc = bool(amap["isMisc"][i][a])
            jl = amap["jetLink"][i][a]
            jet_index = None
            if not misc and keys.get(jl["m_persKey"]) == "AnalysisJets" and jl["m_persIndex"] != INVALID_INDEX:
                jet_index = jl["m_persIndex"]
            objects = []
            for link in amap["objectLinks"][i][a]:
                name = keys.get(link["m_persKey"])
                objects.append((name, link["m_persIndex"]) if link["m_persIndex"] != INVALID_INDEX
                               else (None, None))
            if len(objects) > 31:
                # METMaker and the helper build masks with int shifts (1 << index)
                raise ValueError(f"event {i}: association {a} has {len(objects)} objects")

            def rows(prefix):
                cols = [amap[f"{prefix}{c}"][i][a] for c in ("px", "py", "pz", "e", "sumpt")]
                return np.array(cols, dtype=F32).T.reshape(-1, 5)

            assocs.append(Association(
                index=a, is_misc=misc, jet_index=jet_index, objects=objects,
                overlap_indices=[list(x) for x in amap["overlapIndices"][i][a]],
                overlap_types=[list(x) for x in amap["overlapTypes"][i][a]],
                cal=rows("cal"), calkey=[int(k) for k in amap["calkey"][i][a]],
                trk=rows("trk"), trkkey=[int(k) for k in amap["trkkey"][i][a]],
                jettrk=np.array([amap[f"jettrk{c}"][i][a] for c in ("px", "py", "pz", "e", "sumpt")], F32)))
        core_terms = {core["name"][i][t]: (F32(core["mpx"][i][t]), F32(core["mpy"][i][t]),
                                           F32(core["sumet"][i][t]), int(core["source"][i][t]))
                      for t in range(len(core["name"][i]))}
        events.append(Event(number=i, objects=ev_objs, assocs=assocs, core=core_terms,
                            pv_index=pv, track_pt=tpt, jet_has=jet_has))
    return events


# =============================================================================================
# Object selection (S1-S5)

def _outside_crack(eta):
    return not (CRACK[0] < abs(eta) < CRACK[1])


def select_objects(ev: Event) -> dict:
    """Indices of the selected objects per kind, container order (S5)."""
    out = {}
    e = ev.objects["AnalysisElectrons"]
    out["AnalysisElectrons"] = [
        i for i in range(len(e["pt"]))
        if e["pt"][i] > 10 * GeV and abs(e["eta"][i]) < 2.47 and _outside_crack(e["eta"][i])
        and e["DFCommonElectronsLHMedium"][i]
        and e["topoetcone20"][i] < 0.20 * e["pt"][i]
        and e["ptvarcone30_Nonprompt_All_MaxWeightTTVALooseCone_pt1000"][i] < 0.15 * e["pt"][i]]
    g = ev.objects["AnalysisPhotons"]
    out["AnalysisPhotons"] = [
        i for i in range(len(g["pt"]))
        if g["pt"][i] > 25 * GeV and abs(g["eta"][i]) < 2.37 and _outside_crack(g["eta"][i])
        and g["DFCommonPhotonsIsEMTight"][i]
        and g["topoetcone40"][i] < 0.022 * g["pt"][i] + 2.45 * GeV
        and g["ptcone20"][i] < 0.05 * g["pt"][i]]
    t = ev.objects["AnalysisTauJets"]
    medium = t["medium"]
    out["AnalysisTauJets"] = [
        i for i in range(len(t["pt"]))
        if t["pt"][i] > 20 * GeV and abs(t["eta"][i]) < 2.5 and _outside_crack(t["eta"][i])
        and medium is not None and medium[i]]
    m = ev.objects["AnalysisMuons"]
    out["AnalysisMuons"] = [
        i for i in range(len(m["pt"]))
        if m["pt"][i] > 10 * GeV and abs(m["eta"][i]) < 2.5
        and (m["quality"][i] & 0x3) <= 1 and (m["quality"][i] & 0x8)]
    return out


# =============================================================================================
# MET EDM pieces

class Term:
    """xAOD::MissingET: float mpx, mpy, sumet (R6, B1)."""

    def __init__(self, name, source):
        self.name, self.source = name, source
        self.mpx = self.mpy = self.sumet = F32(0.0)

    def add(self, px, py, pt):             # MissingET_v1::add(float, float, float)
        self.mpx = F32(self.mpx - F32(px))
        self.mpy = F32(self.mpy - F32(py))
        self.sumet = F32(self.sumet + F32(pt))

    def add_term(self, other):             # MissingET_v1::operator+=(const MissingET&)
        self.mpx = F32(self.mpx + other.mpx)
        self.mpy = F32(self.mpy + other.mpy)
        self.sumet = F32(self.sumet + other.sumet)

    def values(self):
        return float(self.mpx), float(self.mpy), float(self.sumet)


def _cvsum(rows) -> np.ndarray:
    """float32 ConstVec sum, entry by entry in key order (M6)."""
    out = np.zeros(5, F32)
    for r in rows:
        out = (out + r).astype(F32)
    return out


def _cpt(v) -> F32:
    return F32(np.sqrt(F32(v[0] * v[0]) + F32(v[1] * v[1])))


class Helper:
    """MissingETAssociationHelper (M3)."""

    def __init__(self, n):
        self.flags = [0] * n

    def set(self, assoc, idx):
        self.flags[assoc.index] |= 1 << idx

    def selected(self, assoc, idx):
        return idx is not None and bool(self.flags[assoc.index] >> idx & 1)

    def mask(self, assoc):
        return self.flags[assoc.index]


def get_associations(assocs, obj):                                           # M2
    return [a for a in assocs if a.find_index(obj) is not None]


def obj_selected(helper, assocs, obj):                                       # M3
    return any(helper.selected(a, a.find_index(obj)) for a in get_associations(assocs, obj))


def has_overlaps(helper, assoc, idx, policy_bit):                            # M4
    for j, t in zip(assoc.overlap_indices[idx], assoc.overlap_types[idx]):
        if helper.selected(assoc, j) and t & policy_bit:
            return True
    return False


def select_if_no_overlaps(helper, assocs, obj, policy_bit):                  # M5
    mine = get_associations(assocs, obj)
    if any(has_overlaps(helper, a, a.find_index(obj), policy_bit) for a in mine):
        return False
    for a in mine:
        helper.set(a, a.find_index(obj))
    return True


def overlap_vec(assoc, helper, which):                                       # M6
    rows, keys = (assoc.cal, assoc.calkey) if which == "cal" else (assoc.trk, assoc.trkkey)
    mask = helper.mask(assoc)
    pick = [r for r, k in zip(rows, keys) if (bool(mask & k) != assoc.is_misc)]
    return _cvsum(pick)


def alternate_const_vec(assoc):                                              # M7
    if assoc.is_misc or assoc.jet_index is None:
        return None
    idx = assoc.find_index(("AnalysisJets", assoc.jet_index))
    if idx is None:
        return None
    return _cvsum([r for r, k in zip(assoc.cal, assoc.calkey) if k >> idx & 1])


# =============================================================================================
# METMaker

def _p4(pt, eta, phi, m):
    """(px, py, pt, E) of a PtEtaPhiM 4-vector, double precision."""
    pt, eta, phi, m = float(pt), float(eta), float(phi), float(m)
    pz = pt * math.sinh(eta)
    return pt * math.cos(phi), pt * math.sin(phi), pt, math.sqrt(pt * pt + pz * pz + m * m)


def jvt_accept(pt, detector_eta, nnjvt_pass) -> bool:                        # J5
    # float properties compared with the double pT / the float DetectorEta, both exact here
    if float(pt) < float(JVT_MIN_PT) or float(pt) > float(JVT_MAX_PT):
        return True
    if float(abs(F32(detector_eta))) > float(JVT_MAX_ETA):
        return True
    return bool(nnjvt_pass)


def rebuild_met(term, kind, selected, ev, helper, trace=None):               # R1-R6
    obj_vars = ev.objects[kind]
    is_muon = kind == "AnalysisMuons"
    remove_overlap = not (is_muon and selected)           # R1: decided by the first object
    policy = PARTICLE_FLOW_BIT                            # R1: DoPFlow
    for i in selected:
        obj = (kind, i)
        assocs = get_associations(ev.assocs, obj)
        if not assocs and kind == "AnalysisElectrons":    # R2
            _log(trace, f"{kind}[{i}] not in the map: skipped")
            continue
        if obj_selected(helper, ev.assocs, obj):          # R3
            continue
        sel = select_if_no_overlaps(helper, ev.assocs, obj, policy) or not remove_overlap  # R4
        if is_muon and not remove_overlap and obj_vars["muonType"][i] == CALO_TAGGED:     # R5
            for a in assocs:
                for j in a.overlap_indices[a.find_index(obj)]:
                    other = a.objects[j]
                    if other[0] == "AnalysisElectrons" and helper.selected(a, j):
                        sel = False
                        break
        if sel:                                           # R6
            pt, phi = float(obj_vars["pt"][i]), float(obj_vars["phi"][i])
            term.add(pt * math.cos(phi), pt * math.sin(phi), pt)
        _log(trace, f"{kind}[{i}] pt {float(obj_vars['pt'][i]) / GeV:.2f} GeV: "
                    f"{'added' if sel else 'overlapping, not added'}")


def rebuild_jet_met(jet_term, soft_term, eloss_term, core_term, ev, helper, trace=None):
    if not ev.assocs:                                     # J1: empty map, early return
        return
    soft_term.add_term(core_term)                         # J1
    jets = ev.objects["AnalysisJets"]
    pv = ev.pv_index
    for ij in range(len(jets["pt"])):
        assoc = next((a for a in ev.assocs if not a.is_misc and a.jet_index == ij), None)
        if assoc is None:                                 # J2
            _log(trace, f"jet {ij}: no association, skipped")
            continue
        pt, eta = float(jets["pt"][ij]), float(jets["eta"][ij])
        jpx_cal, jpy_cal, _, _ = _p4(pt, eta, jets["phi"][ij], jets["m"][ij])
        selected = (abs(eta) < JET_ETA_FORW and pt > CEN_JET_PT) or \
                   (abs(eta) >= JET_ETA_FORW and pt > FWD_JET_PT)          # J3
        reject = JET_ETA_MAX > 0 and abs(eta) > JET_ETA_MAX                  # J4 ...
        # ... overwritten by the JVT decision (doJetJVT is true for PHYSLITE)
        reject = not jvt_accept(pt, jets["DetectorEta"][ij], jets["NNJvtPass"][ij])  # J5
        why = "JVT" if reject else ""

        calvec = overlap_vec(assoc, helper, "cal")                          # J6
        caloverlap = calvec[3] > 0
        cpx, cpy, _, ce = _p4(jets["JetConstitScaleMomentum_pt"][ij],
                                 jets["JetConstitScaleMomentum_eta"][ij],
                                 jets["JetConstitScaleMomentum_phi"][ij],
                                 jets["JetConstitScaleMomentum_m"][ij])
        alt = alternate_const_vec(assoc)
        denom = float(alt[3]) if alt is not None else ce
        const_sf = ce / denom if denom > 1e-9 else 0.0
        calvec = (calvec * F32(const_sf)).astype(F32)
        opx, opy = cpx - float(calvec[0]), cpy - float(calvec[1])

        # J7: muons and high-pT electrons in the jet
        muons_in_jet, electrons_in_jet = [], []
        for k, obj in enumerate(assoc.objects):
            if obj[0] == "AnalysisMuons":
                if obj_selected(helper, ev.assocs, obj):
                    muons_in_jet.append(obj)
            elif obj[0] == "AnalysisElectrons":
                if helper.selected(assoc, k) and \
                        ev.objects["AnalysisElectrons"]["pt"][obj[1]] > ELEC_TRK_PT_MIN:
                    electrons_in_jet.append(obj)

        # J8: electron-track rule
        jet_unique_trk = F32(assoc.jettrk[4] - overlap_vec(assoc, helper, "trk")[4])
        el_trk = np.zeros(5, F32)
        for obj in electrons_in_jet:
            b = assoc.find_index(obj)
            el_trk = (el_trk + _cvsum([r for r, k in zip(assoc.trk, assoc.trkkey) if k >> b & 1])).astype(F32)
        pass_jet_for_el = float(_cpt(el_trk)) > 1e-9 and float(jet_unique_trk) > 10e3

        # J9: muons in the jet
        muon_mask = 0
        is_mu_fsr = False
        mu_vars = ev.objects["AnalysisMuons"]
        for obj in muons_in_jet:
            m = obj[1]
            eloss = F32(mu_vars["EnergyLoss"][m])
            if not reject:
                mu_id_pt = ev.track_pt[m]
                trk_sumpt, trk_n = _jet_pv_tracks(jets, ij, pv)
                if 0.9999 * float(mu_id_pt) > float(trk_sumpt):
                    trk_sumpt = F32(trk_sumpt + mu_id_pt)
                ratio = F32(mu_id_pt / trk_sumpt) if trk_sumpt > 1e-9 else F32(0.0)
                # DoRemoveMuonJets
                from_muon = (float(mu_id_pt) > 1e-9 and float(trk_sumpt) > 1e-9
                             and pt / float(mu_id_pt) < MU_ID_PT_JET_PT_RATIO
                             and float(ratio) > MU_JET_TRKPT_MUPT and trk_n < MU_JET_TRK_N)
                _log(trace, f"jet {ij}: muon {m} ID pT {float(mu_id_pt) / GeV:.3f} GeV, jet trk "
                            f"sum {float(trk_sumpt) / GeV:.3f} GeV, N {trk_n}, jet/mu "
                            f"{pt / float(mu_id_pt) if mu_id_pt > 0 else float('inf'):.3f}, "
                            f"mu/trk {float(ratio):.3f} -> {'REMOVED (muon jet)' if from_muon else 'kept'}")
                if from_muon:
                    reject, why = True, "DoRemoveMuonJets"
                # DoSetMuonJetEMScale
                if ev.jet_has["PSFrac"]:
                    ps_e = F32(jets["PSFrac"][ij])
                elif ev.jet_has["EnergyPerSampling"]:
                    samp = jets["EnergyPerSampling"][ij]
                    ps_e = F32(F32(samp[0]) + F32(samp[4]))
                else:
                    raise ValueError("DoSetMuonJetEMScale needs PSFrac or EnergyPerSampling")
                fsr = (float(trk_sumpt) > 1e-9 and trk_n < 3 and float(ratio) > MU_JET_TRKPT_MUPT
                       and float(F32(jets["EMFrac"][ij])) > MU_JET_EMF
                       and float(F32(jets["Width"][ij])) < MU_JET_WIDTH
                       and float(ps_e) > MU_JET_PSE)
                if fsr:
                    corr = F32(0.0) if float(eloss) >= ce else F32(1.0 - float(eloss) / ce)
                    opx *= float(corr)
                    opy *= float(corr)
                    is_mu_fsr = True
                    _log(trace, f"jet {ij}: muon {m}: muon FSR jet (EM scale), eloss factor {float(corr):.4f}")
            if mu_vars["energyLossType"][m] in ELOSS_TYPES_IN_MASK:
                muon_mask |= 1 << assoc.find_index(obj)

        # J10: the muons' calorimeter deposits go back to the jet
        mu_calo = _cvsum([r for r, k in zip(assoc.cal, assoc.calkey) if muon_mask & k])
        opx += float(mu_calo[0])
        opy += float(mu_calo[1])
        opt = math.sqrt(opx * opx + opy * opy)
        uniquefrac = 1.0 - (float(calvec[3]) - float(mu_calo[3])) / ce

        if is_mu_fsr:                                                        # J11
            eloss_term.add(opx, opy, opt)
            _log(trace, f"jet {ij}: -> MuonEloss")
            continue
        hard = False
        if selected and not reject:                                          # J12
            if not caloverlap:
                hard = True
                jet_term.add(jpx_cal, jpy_cal, pt)
            elif (uniquefrac > JET_MIN_EFRAC or pass_jet_for_el) and opt > JET_MIN_WEIGHTED_PT:
                hard = True
                jet_term.add(uniquefrac * jpx_cal, uniquefrac * jpy_cal, uniquefrac * pt)
        if not hard:                                                         # J13
            jettrk = assoc.jettrk
            if float(jettrk[3]) > 1e-9:
                tj = (jettrk - overlap_vec(assoc, helper, "trk")).astype(F32)
                tx, ty, tsum = float(tj[0]), float(tj[1]), float(tj[4])
            else:
                tx = ty = tsum = 0.0
            if abs(eta) < 2.5 or not (core_term.source & SRC_CENTRAL):
                soft_term.add(tx, ty, tsum)
        _log(trace, f"jet {ij}: pt {pt / GeV:.2f} GeV eta {eta:+.3f} detEta "
                    f"{float(jets['DetectorEta'][ij]):+.3f} NNJvtPass {int(jets['NNJvtPass'][ij])} "
                    f"selected {selected} rejected {reject}{' (' + why + ')' if why else ''} "
                    f"caloverlap {bool(caloverlap)} uniquefrac {uniquefrac:.4f} opt {opt / GeV:.2f} GeV "
                    f"-> {'HARD' if hard else 'soft'}")

    misc = next((a for a in reversed(ev.assocs) if a.is_misc), None)        # J14
    if misc is not None:
        v = overlap_vec(misc, helper, "trk")
        soft_term.add(float(v[0]), float(v[1]), float(v[4]))


def _jet_pv_tracks(jets, ij, pv):
    """(SumPtTrkPt500[PV] as float, NumTrkPt500[PV] as float); zeros without a PV (J9)."""
    if pv is None:
        return F32(0.0), 0.0
    sums, nums = jets["SumPtTrkPt500"][ij], jets["NumTrkPt500"][ij]
    if pv >= len(sums) or pv >= len(nums):
        return F32(0.0), 0.0
    return F32(sums[pv]), float(nums[pv])


def _log(trace, text):
    if trace is not None:
        trace.append(text)


def rebuild_event(ev: Event, trace=None) -> dict:
    """All terms of one event: {name: (mpx, mpy, sumet)} in MeV, container order (C1)."""
    selected = select_objects(ev)
    helper = Helper(len(ev.assocs))
    terms = []
    for name, kind, source in (("RefEle", "AnalysisElectrons", SRC_REFINED | SRC_ELECTRON),
                               ("RefGamma", "AnalysisPhotons", SRC_REFINED | SRC_PHOTON),
                               ("RefTau", "AnalysisTauJets", SRC_REFINED | SRC_TAU),
                               ("Muons", "AnalysisMuons", SRC_REFINED | SRC_MUON)):
        term = Term(name, source)
        terms.append(term)
        if kind == "AnalysisMuons":                                          # C1: MuonEloss
            eloss = Term("MuonEloss", SRC_MUON | SRC_CALO)
            terms.append(eloss)
        if ev.assocs:                                                        # empty map: R early exit
            rebuild_met(term, kind, selected[kind], ev, helper, trace)
    core = ev.core["PVSoftTrkCore"]
    core_term = Term("PVSoftTrkCore", core[3])
    core_term.mpx, core_term.mpy, core_term.sumet = core[0], core[1], core[2]
    jet_term = Term("RefJet", SRC_REFINED | SRC_JET)
    soft_term = Term("PVSoftTrk", core[3])
    terms += [jet_term, soft_term]
    rebuild_jet_met(jet_term, soft_term, eloss, core_term, ev, helper, trace)
    final = Term("FinalTrk", SRC_REFINED | SRC_TOTAL)                        # B1
    for t in terms:
        if _has_pattern(t.source, SRC_REFINED | SRC_TOTAL):                 # isTotalTerm
            continue
        if t.source == INVISIBLE_SOURCE:
            continue
        if _has_pattern(t.source, SRC_REFINED | SRC_SOFT) and not _has_pattern(t.source, soft_term.source):
            continue
        final.add_term(t)
    terms.append(final)
    return {t.name: t.values() for t in terms}


def _has_pattern(bits, mask):
    """MissingETBase::Source::hasPattern: every bit of ``mask`` is set in ``bits``."""
    return (bits & mask) == mask


def reference_met(path) -> list[dict]:
    """Reference terms for every event of a PHYSLITE file."""
    return [rebuild_event(ev) for ev in read_events(path)]


# =============================================================================================
# metflow's output and the comparison

def run_metflow(path, output, repo_root=None) -> None:
    """``metflow run physlite_met --input PATH --output OUTPUT`` in a subprocess."""
    repo_root = Path(repo_root or Path(__file__).resolve().parents[2])
    cmd = [sys.executable, "-m", "metflow", "run", "physlite_met", "--input", os.fspath(path),
           "--output", os.fspath(output)]
    done = subprocess.run(cmd, cwd=repo_root, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")


def read_metflow_terms(parquet, key="MET_AnalysisMET") -> dict:
    """{term: float64 array [n_events, 3] (mpx, mpy, sumet)} from metflow's Parquet output."""
    import pyarrow.parquet as pq

    column = pq.read_table(parquet, columns=[key]).column(key).combine_chunks()
    out = {}
    for i in range(column.type.num_fields):
        name = column.type.field(i).name
        sub = column.field(i)
        out[name] = np.stack([sub.field(c).to_numpy(zero_copy_only=False).astype(np.float64)
                              for c in ("mpx", "mpy", "sumet")], axis=1)
    return out


def compare(reference: list[dict], metflow: dict, tolerance=1.0) -> list[tuple]:
    """Disagreements (event, term, reference (mpx, mpy, sumet), metflow's or None) beyond
    ``tolerance`` MeV in any component; a term missing from metflow's output counts as a
    disagreement wherever the reference has it (zero included)."""
    bad = []
    for i, terms in enumerate(reference):
        for name, ref in terms.items():
            got = metflow.get(name)
            if got is None:
                bad.append((i, name, ref, None))
                continue
            if i >= got.shape[0] or np.any(np.abs(np.asarray(ref) - got[i]) > tolerance):
                bad.append((i, name, ref, tuple(got[i]) if i < got.shape[0] else None))
    return bad


def format_disagreements(bad, n_events) -> str:
    lines = [f"{len({b[0] for b in bad})} of {n_events} events disagree beyond 1 MeV "
             f"({len(bad)} event-terms)"]
    missing = sorted({b[1] for b in bad if b[3] is None})
    for name in missing:
        events = [b[0] for b in bad if b[1] == name and b[3] is None]
        nonzero = [b[0] for b in bad if b[1] == name and b[3] is None and any(abs(x) > 1.0 for x in b[2])]
        lines.append(f"  term {name} missing from metflow's output ({len(events)} events; "
                     f"reference non-zero in {len(nonzero)}: {nonzero[:20]})")
    for ev, name, ref, got in bad:
        if got is None:
            continue
        lines.append(f"  event {ev:3d} {name:10s} reference mpx {ref[0] / GeV:10.4f} mpy "
                     f"{ref[1] / GeV:10.4f} sumet {ref[2] / GeV:10.4f} GeV | metflow mpx "
                     f"{got[0] / GeV:10.4f} mpy {got[1] / GeV:10.4f} sumet {got[2] / GeV:10.4f} GeV")
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("file", help="PHYSLITE ROOT file")
    parser.add_argument("--metflow", help="metflow physlite_met Parquet output of FILE (default: "
                                          "run the job into a temporary file)")
    parser.add_argument("--explain", type=int, action="append", default=[],
                        help="print the reference's decisions for this event (repeatable)")
    parser.add_argument("--reference-only", action="store_true",
                        help="print the reference terms of every event, compare nothing")
    args = parser.parse_args(argv)
    events = read_events(args.file)
    reference = [rebuild_event(ev) for ev in events]
    for n in args.explain:
        trace = []
        terms = rebuild_event(events[n], trace)
        print(f"event {n}:")
        for line in trace:
            print("   ", line)
        for name, v in terms.items():
            print(f"    {name:10s} mpx {v[0] / GeV:10.4f} mpy {v[1] / GeV:10.4f} sumet {v[2] / GeV:10.4f} GeV")
    if args.reference_only:
        for n, terms in enumerate(reference):
            print(f"event {n:3d} " + "  ".join(f"{name} ({v[0]:.3f}, {v[1]:.3f}, {v[2]:.3f})"
                                               for name, v in terms.items()))
        return 0
    if args.metflow:
        got = read_metflow_terms(args.metflow)
    else:
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp) / "met.parquet"
            run_metflow(args.file, out)
            got = read_metflow_terms(out)
    bad = compare(reference, got)
    print(f"{args.file}: reference terms {', '.join(TERMS)}; metflow terms {', '.join(got)}")
    print(format_disagreements(bad, len(reference)))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
