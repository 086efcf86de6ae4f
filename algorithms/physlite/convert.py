"""Conversion of a block of PHYSLITE events into metflow EDM objects.

Units: PHYSLITE stores MeV and radians like metflow, so momenta are converted only from
(pt, eta, phi, m) to (px, py, pz, e); computed in float64, stored as float32.
Identification and isolation bits come from the derivation decorations that exist in the file
(see the ``*_ID`` tables below); a decoration that is absent leaves its bit unset.
PHYSLITE keeps no constituents (clusters, PFOs, tracks), so every constituent link list is empty.
"""

from __future__ import annotations

import numpy as np

from metflow.edm.containers import (
    ELECTRON_SCHEMA, EVENT_INFO_SCHEMA, MUON_SCHEMA, PHOTON_SCHEMA, TAU_SCHEMA, TRUTH_MET_SCHEMA,
    Container, EventRecord, ListColumn, jet_schema,
)
from metflow.edm import keys
from metflow.edm.units import GeV, MeV

from ._columns import _np, _offsets, _split
from .errors import CorruptFileError
from .naming import (
    ATLAS_CORE, ATLAS_ELECTRONS, ATLAS_EVENT_INFO, ATLAS_JETS, ATLAS_MAP, ATLAS_MUONS,
    ATLAS_PHOTONS, ATLAS_TAUS, ATLAS_TRUTH_MET, PhysliteNaming,
)
from .met_rule_inputs import id_track_pt, jet_at_primary_vertex, presampler_energy
from .reader import PhysliteFile
from .sgkey import INVALID_INDEX, LinkKeyResolver, LinkTarget

MUON_MASS = 105.6583755 * MeV

# xAOD::Type::ObjectType values (xAODBase/ObjectType.h) of the object containers.
XAOD_TYPE = {"Jet": 2, "Electron": 6, "Photon": 7, "Muon": 8, "Tau": 9}

# id bit (0 loose, 1 medium, 2 tight) -> decorations tried in order (first one present wins).
ELECTRON_ID = {0: ("DFCommonElectronsLHLoose",), 1: ("DFCommonElectronsLHMedium",),
               2: ("DFCommonElectronsLHTight",)}
PHOTON_ID = {0: ("DFCommonPhotonsIsEMLoose",), 1: ("DFCommonPhotonsIsEMMedium",),
             2: ("DFCommonPhotonsIsEMTight",)}
TAU_ID = {0: ("GNTauL_v0prune", "JetDeepSetLoose", "JetRNNSigLoose"),
          1: ("GNTauM_v0prune", "JetDeepSetMedium", "JetRNNSigMedium"),
          2: ("GNTauT_v0prune", "JetDeepSetTight", "JetRNNSigTight")}
# The muon "quality" byte packs xAOD::Muon::Quality in bits 0-1 (0 Tight, 1 Medium, 2 Loose,
# 3 VeryLoose) and passesIDCuts in bit 3 (Muon_v1::quality / passesIDCuts).
MUON_QUALITY_MASK = 0x3
MUON_PASSES_ID_CUTS_BIT = 0x8
MUON_QUALITY_FOR_BIT = {0: 2, 1: 1, 2: 0}

# Isolation working points recomputed from the stored cone variables.
ELECTRON_ISO_VARS = ("topoetcone20", "ptvarcone30_Nonprompt_All_MaxWeightTTVALooseCone_pt1000")
PHOTON_ISO_VARS = ("topoetcone40", "ptcone20")

MAP_FIELDS = ("jetLink", "objectLinks", "overlapIndices", "overlapTypes", "isMisc",
              "calpx", "calpy", "calpz", "cale", "calsumpt", "calkey",
              "trkpx", "trkpy", "trkpz", "trke", "trksumpt", "trkkey",
              "jettrkpx", "jettrkpy", "jettrkpz", "jettrke", "jettrksumpt")
CORE_FIELDS = ("name", "mpx", "mpy", "sumet", "source")


def link_resolver(naming: PhysliteNaming) -> LinkKeyResolver:
    """Resolver of the PHYSLITE object containers the MET map links to."""
    return LinkKeyResolver([
        LinkTarget(ATLAS_ELECTRONS, "xAOD::ElectronContainer", naming.electrons, XAOD_TYPE["Electron"]),
        LinkTarget(ATLAS_PHOTONS, "xAOD::PhotonContainer", naming.photons, XAOD_TYPE["Photon"]),
        LinkTarget(ATLAS_MUONS, "xAOD::MuonContainer", naming.muons, XAOD_TYPE["Muon"]),
        LinkTarget(ATLAS_TAUS, "xAOD::TauJetContainer", naming.taus, XAOD_TYPE["Tau"]),
        LinkTarget(ATLAS_JETS, "xAOD::JetContainer", naming.jets, XAOD_TYPE["Jet"]),
    ])


# ---------------------------------------------------------------------------------------------
# awkward helpers

def _four_momentum(pt, eta, phi, m):
    pt = np.asarray(pt, np.float64)
    eta = np.asarray(eta, np.float64)
    phi = np.asarray(phi, np.float64)
    m = np.asarray(m, np.float64)
    px, py, pz = pt * np.cos(phi), pt * np.sin(phi), pt * np.sinh(eta)
    e = np.sqrt(px * px + py * py + pz * pz + m * m)
    return {"px": px.astype(np.float32), "py": py.astype(np.float32),
            "pz": pz.astype(np.float32), "e": e.astype(np.float32)}


def _empty_lists(n: int) -> ListColumn:
    return ListColumn(np.zeros(n + 1, np.int64), np.zeros(0, np.int32))


class _Block:
    """Reads the variables of one container for one block of events, checking counts."""

    def __init__(self, pfile: PhysliteFile, container: str, first: int, stop: int):
        self.pfile, self.container, self.first, self.stop = pfile, container, first, stop
        self._cache: dict[str, object] = {}
        self.offsets: np.ndarray | None = None

    def has(self, var: str) -> bool:
        return self.pfile.has(self.container, var)

    def preload(self, variables) -> None:
        """Read the present ones of ``variables`` in one call (missing ones fail later, when used)."""
        want = [(self.container, v) for v in variables if v not in self._cache and self.has(v)]
        for (_, var), arr in self.pfile.read(want, self.first, self.stop).items():
            self._cache[var] = arr

    def jagged(self, var: str, dtype=np.float32) -> np.ndarray:
        """A per-object variable as a flat array; the object counts must agree across vars."""
        arr = self._cache.get(var)
        if arr is None:
            arr = self.pfile.read([(self.container, var)], self.first, self.stop)[(self.container, var)]
        (offsets,), flat = _split(arr, 1)
        if self.offsets is None:
            self.offsets = offsets
        elif not np.array_equal(offsets, self.offsets):
            bad = int(np.argmax(np.diff(offsets) != np.diff(self.offsets)))
            raise CorruptFileError(
                f"{self.pfile.path}: branch {self.pfile.branch_name(self.container, var)!r}, "
                f"event {self.first + bad}: {np.diff(offsets)[bad]} entries, but the other "
                f"{self.container} variables have {np.diff(self.offsets)[bad]}")
        return _np(flat, dtype)

    def flag(self, var: str) -> np.ndarray:
        return self.jagged(var, np.int64) != 0

    def id_bits(self, table: dict[int, tuple[str, ...]]) -> np.ndarray:
        out = None
        for bit, candidates in table.items():
            for var in candidates:
                if self.has(var):
                    value = self.flag(var).astype(np.uint8) << np.uint8(bit)
                    out = value if out is None else out | value
                    break
        n = len(self) if out is None else out.shape[0]
        return np.zeros(n, np.uint8) if out is None else out

    def __len__(self) -> int:
        return 0 if self.offsets is None else int(self.offsets[-1])


_P4 = ("pt", "eta", "phi", "m")


def _all(table: dict[int, tuple[str, ...]]) -> tuple[str, ...]:
    return tuple(v for names in table.values() for v in names)


def _p4_block(block: _Block, mass: float | None = None) -> dict[str, np.ndarray]:
    pt, eta, phi = (block.jagged(v) for v in ("pt", "eta", "phi"))
    m = np.full(pt.shape, mass) if mass is not None else block.jagged("m")
    return _four_momentum(pt, eta, phi, m)


def _charge(block: _Block) -> np.ndarray:
    return np.rint(block.jagged("charge")).astype(np.int8)


# ---------------------------------------------------------------------------------------------
# objects

def convert_electrons(pfile: PhysliteFile, first: int, stop: int, key: str) -> Container:
    """AnalysisElectrons: id bits from the LH decorations; ``isolated`` = Loose_VarRad
    (topoetcone20/pT < 0.20 and ptvarcone30_Nonprompt_All_MaxWeightTTVALooseCone_pt1000/pT
    < 0.15)."""
    b = _Block(pfile, ATLAS_ELECTRONS, first, stop)
    b.preload(_P4 + ("charge",) + _all(ELECTRON_ID) + ELECTRON_ISO_VARS)
    cols = _p4_block(b)
    pt = b.jagged("pt")
    n = pt.shape[0]
    cols["charge"] = _charge(b)
    cols["id"] = b.id_bits(ELECTRON_ID)
    if all(b.has(v) for v in ELECTRON_ISO_VARS):
        calo, track = (b.jagged(v) for v in ELECTRON_ISO_VARS)
        cols["isolated"] = (calo < 0.20 * pt) & (track < 0.15 * pt)
    else:
        cols["isolated"] = np.zeros(n, bool)
    for name in ("clusters", "tracks", "pfos"):
        cols[name] = _empty_lists(n)
    return Container(ELECTRON_SCHEMA, b.offsets, cols, key=key)


def convert_photons(pfile: PhysliteFile, first: int, stop: int, key: str) -> Container:
    """AnalysisPhotons: id bits from the IsEM decorations; ``isolated`` = FixedCutTight
    (topoetcone40 < 0.022 pT + 2.45 GeV and ptcone20/pT < 0.05)."""
    b = _Block(pfile, ATLAS_PHOTONS, first, stop)
    b.preload(_P4 + _all(PHOTON_ID) + PHOTON_ISO_VARS)
    cols = _p4_block(b)
    pt = b.jagged("pt")
    n = pt.shape[0]
    cols["charge"] = np.zeros(n, np.int8)
    cols["id"] = b.id_bits(PHOTON_ID)
    if all(b.has(v) for v in PHOTON_ISO_VARS):
        calo, track = (b.jagged(v) for v in PHOTON_ISO_VARS)
        cols["isolated"] = (calo < 0.022 * pt + 2.45 * GeV) & (track < 0.05 * pt)
    else:
        cols["isolated"] = np.zeros(n, bool)
    for name in ("clusters", "tracks", "pfos"):
        cols[name] = _empty_lists(n)
    return Container(PHOTON_SCHEMA, b.offsets, cols, key=key)


def convert_muons(pfile: PhysliteFile, first: int, stop: int, key: str) -> Container:
    """AnalysisMuons (no stored mass: the muon mass is used); ``type`` = xAOD muonType
    (4 = silicon-associated forward kept as is); id bits from the packed ``quality`` byte
    (loose: quality <= Loose, medium: <= Medium, tight: Tight), only for muons passing the ID
    track cuts."""
    b = _Block(pfile, ATLAS_MUONS, first, stop)
    b.preload(_P4 + ("charge", "muonType", "quality"))
    cols = _p4_block(b, mass=MUON_MASS)
    n = cols["px"].shape[0]
    cols["charge"] = _charge(b)
    cols["type"] = b.jagged("muonType", np.int64).astype(np.uint8)
    packed = b.jagged("quality", np.int64)
    quality = packed & MUON_QUALITY_MASK
    ident = np.zeros(n, np.uint8)
    for bit, worst_quality in MUON_QUALITY_FOR_BIT.items():
        ident |= (quality <= worst_quality).astype(np.uint8) << np.uint8(bit)
    ident = np.where(packed & MUON_PASSES_ID_CUTS_BIT, ident, 0).astype(np.uint8)
    cols["id"] = ident
    cols["id_track"] = np.full(n, -1, np.int32)
    for name in ("clusters", "pfos"):
        cols[name] = _empty_lists(n)
    if b.has("EnergyLoss"):
        cols["energy_loss"] = b.jagged("EnergyLoss")
    pt = id_track_pt(pfile, first, stop, b.offsets)
    if pt is not None:
        cols["id_track_pt"] = pt
    return Container(MUON_SCHEMA, b.offsets, cols, key=key)


def convert_taus(pfile: PhysliteFile, first: int, stop: int, key: str) -> Container:
    """AnalysisTauJets: id bits from the GNTau (Run 3) or DeepSet/RNN (Run 2) working points."""
    b = _Block(pfile, ATLAS_TAUS, first, stop)
    b.preload(_P4 + ("charge",) + _all(TAU_ID))
    cols = _p4_block(b)
    n = cols["px"].shape[0]
    cols["charge"] = _charge(b)
    cols["id"] = b.id_bits(TAU_ID)
    for name in ("tracks", "clusters", "pfos"):
        cols[name] = _empty_lists(n)
    return Container(TAU_SCHEMA, b.offsets, cols, key=key)


def convert_jets(pfile: PhysliteFile, first: int, stop: int, key: str) -> Container:
    """AnalysisJets (calibrated AntiKt4EMPFlow). PHYSLITE stores no JVT value, only the
    NNJvt decision: ``jvt`` is 1.0 for NNJvtPass jets and 0.0 otherwise, so any threshold in
    (0, 1) applies the stored decision."""
    b = _Block(pfile, ATLAS_JETS, first, stop)
    b.preload(_P4 + tuple(f"JetConstitScaleMomentum_{v}" for v in _P4) + ("NNJvtPass", "EMFrac"))
    cols = _p4_block(b)
    constit = _four_momentum(*(b.jagged(f"JetConstitScaleMomentum_{v}") for v in ("pt", "eta", "phi", "m")))
    n = cols["px"].shape[0]
    for c in ("px", "py", "pz", "e"):
        cols[f"constit_{c}"] = constit[c]
    cols["jvt"] = b.flag("NNJvtPass").astype(np.float32)
    cols["emfrac"] = b.jagged("EMFrac")
    cols["constituents"] = _empty_lists(n)
    cols["ghost_tracks"] = _empty_lists(n)
    for column, var in (("width", "Width"), ("ps_frac", "PSFrac"), ("detector_eta", "DetectorEta")):
        if b.has(var):
            cols[column] = b.jagged(var)
    if b.has("SumPtTrkPt500") and b.has("NumTrkPt500"):
        cols["sumpt_trk_pt500"], cols["n_trk_pt500"] = jet_at_primary_vertex(
            pfile, first, stop, b.offsets, ("SumPtTrkPt500", "NumTrkPt500"), (np.float32, np.int32))
    if b.has("EnergyPerSampling"):
        cols["presampler_e"] = presampler_energy(pfile, first, stop, b.offsets)
    return Container(jet_schema(keys.PFOS), b.offsets, cols, key=key)


def convert_event_info(pfile: PhysliteFile, first: int, stop: int, key: str) -> EventRecord:
    """EventInfo: run/event number, actual mu, weight = mcEventWeights[0] (1 for data) and
    mc_channel_number = mcChannelNumber (0 where the file has none: data, as ATLAS writes it)."""
    want = [(ATLAS_EVENT_INFO, v) for v in ("runNumber", "eventNumber", "actualInteractionsPerCrossing")]
    has_weights = pfile.has(ATLAS_EVENT_INFO, "mcEventWeights")
    if has_weights:
        want.append((ATLAS_EVENT_INFO, "mcEventWeights"))
    has_channel = pfile.has(ATLAS_EVENT_INFO, "mcChannelNumber")
    if has_channel:
        want.append((ATLAS_EVENT_INFO, "mcChannelNumber"))
    data = pfile.read(want, first, stop)
    cols = {
        "run_number": _np(data[want[0]], np.int64),
        "event_number": _np(data[want[1]], np.int64),
        "mu": _np(data[want[2]], np.float32),
    }
    n = cols["run_number"].shape[0]
    weight = np.ones(n, np.float32)
    if has_weights:
        (offsets,), flat = _split(data[want[3]], 1)
        flat = _np(flat, np.float32)
        nonempty = np.diff(offsets) > 0
        weight[nonempty] = flat[offsets[:-1][nonempty]]
    cols["weight"] = weight
    cols["mc_channel_number"] = (_np(data[want[-1]], np.uint32) if has_channel
                                 else np.zeros(n, np.uint32))
    return EventRecord(EVENT_INFO_SCHEMA, cols, key=key, n_events=n)


def _read_met_terms(pfile: PhysliteFile, container: str, first: int, stop: int):
    data = pfile.read([(container, v) for v in CORE_FIELDS], first, stop)
    (offsets,), names = _split(data[(container, "name")], 1)
    names = [str(s) for s in names.tolist()]
    out = {"offsets": offsets, "name": names}
    for var, dtype in (("mpx", np.float32), ("mpy", np.float32), ("sumet", np.float32),
                       ("source", np.uint64)):
        (off,), flat = _split(data[(container, var)], 1)
        if not np.array_equal(off, offsets):
            raise CorruptFileError(f"{pfile.path}: branch {pfile.branch_name(container, var)!r}: "
                                   f"term counts disagree with {container} names")
        out[var] = _np(flat, dtype)
    return out


def convert_truth_met(pfile: PhysliteFile, first: int, stop: int, key: str) -> EventRecord:
    """TruthMET from the ``NonInt`` term of MET_Truth (neutrinos and other invisibles)."""
    terms = _read_met_terms(pfile, ATLAS_TRUTH_MET, first, stop)
    offsets, names = terms["offsets"], terms["name"]
    n = offsets.shape[0] - 1
    pick = np.empty(n, np.int64)
    for i in range(n):
        event_names = names[offsets[i]:offsets[i + 1]]
        if "NonInt" not in event_names:
            raise CorruptFileError(f"{pfile.path}: {ATLAS_TRUTH_MET}, event {first + i}: no "
                                   f"'NonInt' term (terms: {event_names})")
        pick[i] = offsets[i] + event_names.index("NonInt")
    return EventRecord(TRUTH_MET_SCHEMA, {
        "nonint_mpx": terms["mpx"][pick], "nonint_mpy": terms["mpy"][pick],
        "nonint_sumet": terms["sumet"][pick]}, key=key, n_events=n)


def read_core_terms(pfile: PhysliteFile, first: int, stop: int) -> dict:
    """MET_Core_AnalysisMET as stored: names (same list in every event), sources, and
    float32 [n_events, n_terms] mpx, mpy, sumet."""
    terms = _read_met_terms(pfile, ATLAS_CORE, first, stop)
    offsets, names = terms["offsets"], terms["name"]
    n = offsets.shape[0] - 1
    counts = np.diff(offsets)
    if n == 0:
        return {"names": (), "sources": np.zeros(0, np.uint64),
                **{v: np.zeros((0, 0), np.float32) for v in ("mpx", "mpy", "sumet")}}
    ref_names = tuple(names[offsets[0]:offsets[1]])
    ref_sources = terms["source"][offsets[0]:offsets[1]]
    for i in range(n):
        if (counts[i] != len(ref_names) or tuple(names[offsets[i]:offsets[i + 1]]) != ref_names
                or not np.array_equal(terms["source"][offsets[i]:offsets[i + 1]], ref_sources)):
            raise CorruptFileError(
                f"{pfile.path}: {ATLAS_CORE}, event {first + i}: terms "
                f"{names[offsets[i]:offsets[i + 1]]} differ from event {first}'s {list(ref_names)}")
    shape = (n, len(ref_names))
    return {"names": ref_names, "sources": ref_sources.copy(),
            **{v: terms[v].reshape(shape) for v in ("mpx", "mpy", "sumet")}}


# ---------------------------------------------------------------------------------------------
# association map

def read_map_columns(pfile: PhysliteFile, first: int, stop: int, naming: PhysliteNaming,
                     object_counts: dict[str, np.ndarray] | None = None) -> dict:
    """METAssoc_AnalysisMET as the columnar fields of ``MissingETAssociationMap``.

    ``object_counts`` (metflow key -> objects per event) enables the link range check.
    Errors name the file, branch and event.
    """
    where = pfile.path
    data = pfile.read([(ATLAS_MAP, v) for v in MAP_FIELDS], first, stop)
    branch = {v: pfile.branch_name(ATLAS_MAP, v) for v in MAP_FIELDS}
    resolver = link_resolver(naming)
    jets_key = resolver.key_of(ATLAS_JETS)

    def fail(var: str, event: int | None, message: str):
        at = f", event {first + event}" if event is not None else ""
        raise CorruptFileError(f"{where}: branch {branch[var]!r}{at}: {message}")

    (assoc_offsets,), is_misc = _split(data[(ATLAS_MAP, "isMisc")], 1)
    is_misc = _np(is_misc, np.int64) != 0
    n_events = assoc_offsets.shape[0] - 1
    n_assoc = int(assoc_offsets[-1])
    event_of_assoc = np.repeat(np.arange(n_events), np.diff(assoc_offsets))

    def per_assoc(var: str, depth: int):
        offsets, flat = _split(data[(ATLAS_MAP, var)], depth)
        if not np.array_equal(offsets[0], assoc_offsets):
            bad = int(np.argmax(np.diff(offsets[0]) != np.diff(assoc_offsets)))
            fail(var, bad, f"{np.diff(offsets[0])[bad]} associations, isMisc has "
                           f"{np.diff(assoc_offsets)[bad]}")
        return offsets[1:], flat

    # misc association: exactly one per event, the last one
    misc_count = np.add.reduceat(is_misc.astype(np.int64), assoc_offsets[:-1]) if n_assoc else np.zeros(n_events, np.int64)
    for i in range(n_events):
        lo, hi = assoc_offsets[i], assoc_offsets[i + 1]
        if hi == lo or misc_count[i] != 1 or not is_misc[hi - 1]:
            fail("isMisc", i, "expected exactly one misc association, placed last")

    # jetLink
    _, jet_links = per_assoc("jetLink", 1)
    jet_keys = _np(jet_links["m_persKey"], np.int64)
    jet_idx = _np(jet_links["m_persIndex"], np.int64)
    jet_index = np.full(n_assoc, -1, np.int32)
    valid = jet_idx != INVALID_INDEX
    bad = np.flatnonzero(is_misc & valid)
    if bad.size:
        fail("jetLink", int(event_of_assoc[bad[0]]), "the misc association links to a jet")
    bad = np.flatnonzero(~is_misc & (~valid | (jet_keys != jets_key)))
    if bad.size:
        k = int(bad[0])
        if valid[k]:
            resolver.resolve(jet_keys[k], where=f"{where}: branch {branch['jetLink']!r}, "
                                                 f"event {first + int(event_of_assoc[k])}")
        fail("jetLink", int(event_of_assoc[k]),
             f"jet association {k - assoc_offsets[event_of_assoc[k]]} has no valid jet link "
             f"(key {jet_keys[k]:#x}, index {jet_idx[k]})")
    jet_index[~is_misc] = jet_idx[~is_misc].astype(np.int32)

    # objectLinks
    (obj_offsets,), obj_links = per_assoc("objectLinks", 2)
    obj_keys = _np(obj_links["m_persKey"], np.int64)
    obj_idx = _np(obj_links["m_persIndex"], np.int64)
    n_obj = obj_keys.shape[0]
    assoc_of_obj = np.repeat(np.arange(n_assoc), np.diff(obj_offsets))
    container_keys = tuple(t.metflow_key for t in resolver.targets)
    key_to_slot, key_to_type = {}, {}
    for k in np.unique(obj_keys):
        event = int(event_of_assoc[assoc_of_obj[np.argmax(obj_keys == k)]])
        target = resolver.resolve(k, where=f"{where}: branch {branch['objectLinks']!r}, "
                                           f"event {first + event}")
        key_to_slot[int(k)] = container_keys.index(target.metflow_key)
        key_to_type[int(k)] = target.xaod_type
    obj_container = np.zeros(n_obj, np.uint8)
    obj_type = np.zeros(n_obj, np.uint8)
    for k, slot in key_to_slot.items():
        sel = obj_keys == k
        obj_container[sel] = slot
        obj_type[sel] = key_to_type[k]
    bad = np.flatnonzero(obj_idx == INVALID_INDEX)
    if bad.size:
        fail("objectLinks", int(event_of_assoc[assoc_of_obj[bad[0]]]), "invalid (null) object link")
    obj_index = obj_idx.astype(np.int32)
    if int(np.diff(obj_offsets).max(initial=0)) > 64:
        k = int(np.argmax(np.diff(obj_offsets)))
        fail("objectLinks", int(event_of_assoc[k]), "more than 64 objects in one association")

    # overlaps: one list per object
    ovl = {}
    for var, dtype in (("overlapIndices", np.int64), ("overlapTypes", np.uint8)):
        (per_obj_offsets, ovl_offsets), flat = per_assoc(var, 3)
        if not np.array_equal(per_obj_offsets, obj_offsets):
            bad = int(np.argmax(np.diff(per_obj_offsets) != np.diff(obj_offsets)))
            fail(var, int(event_of_assoc[bad]), "one list per object expected, counts differ "
                                                 "from objectLinks")
        ovl[var] = (ovl_offsets, _np(flat, dtype))
    ovl_offsets, ovl_index = ovl["overlapIndices"]
    if not np.array_equal(ovl["overlapTypes"][0], ovl_offsets):
        fail("overlapTypes", None, "entry counts differ from overlapIndices")
    bad = np.flatnonzero((ovl_index < np.iinfo(np.int32).min) | (ovl_index > np.iinfo(np.int32).max))
    if bad.size:
        owner = int(np.searchsorted(ovl_offsets, bad[0], side="right") - 1)
        fail("overlapIndices", int(event_of_assoc[assoc_of_obj[owner]]),
             f"overlap index {ovl_index[bad[0]]} beyond the association's objects")

    cols = {
        "container_keys": container_keys,
        "assoc_offsets": assoc_offsets, "jet_index": jet_index, "is_misc": is_misc,
        "obj_offsets": obj_offsets, "obj_container": obj_container, "obj_index": obj_index,
        "obj_type": obj_type,
        "ovl_offsets": ovl_offsets, "ovl_index": ovl_index.astype(np.int32),
        "ovl_type": ovl["overlapTypes"][1],
    }
    for prefix in ("cal", "trk"):
        key_offsets, flat = per_assoc(f"{prefix}key", 2)
        cols[f"{prefix}_offsets"] = key_offsets[0]
        cols[f"{prefix}_key"] = _np(flat, np.uint64)
        for comp in ("px", "py", "pz", "e", "sumpt"):
            var = f"{prefix}{comp}"
            (offsets,), values = per_assoc(var, 2)
            if not np.array_equal(offsets, key_offsets[0]):
                bad = int(np.argmax(np.diff(offsets) != np.diff(key_offsets[0])))
                fail(var, int(event_of_assoc[bad]), f"entry counts differ from {prefix}key")
            cols[f"{prefix}_{comp}"] = _np(values, np.float32)
    for comp in ("px", "py", "pz", "e", "sumpt"):
        _, values = per_assoc(f"jettrk{comp}", 1)
        cols[f"jettrk_{comp}"] = _np(values, np.float32)
    _check_map(pfile, first, cols, naming.jets, object_counts, branch)
    return cols


# map column (edm.map_checks) -> PHYSLITE branch variable it comes from
_MAP_BRANCH_OF = {"assoc_offsets": "isMisc", "is_misc": "isMisc", "jet_index": "jetLink",
                  "obj_offsets": "objectLinks", "obj_container": "objectLinks",
                  "obj_index": "objectLinks", "obj_type": "objectLinks",
                  "ovl_offsets": "overlapIndices", "ovl_index": "overlapIndices",
                  "cal_offsets": "calkey", "cal_key": "calkey", "trk_offsets": "trkkey",
                  "trk_key": "trkkey"}


def _check_map(pfile: PhysliteFile, first: int, cols: dict, jets_key: str,
               object_counts: dict[str, np.ndarray] | None, branch: dict[str, str]) -> None:
    """Links (against ``object_counts``, metflow key -> objects per event, where given), keys,
    overlaps and bookkeeping of the map read (:func:`metflow.edm.map_checks.check_map`); a
    violation is a CorruptFileError naming file, branch, event, run and event number."""
    from metflow.edm.errors import EDMError
    from metflow.edm.map_checks import check_map
    from metflow.edm.met import MissingETAssociationMap

    arrays = {k: v for k, v in cols.items() if k != "container_keys"}
    try:
        m = MissingETAssociationMap(cols["container_keys"], jet_key=jets_key, key=ATLAS_MAP, **arrays)
        check_map(m, {k: _offsets(c) for k, c in (object_counts or {}).items()})
    except EDMError as exc:
        var = _MAP_BRANCH_OF.get((exc.column or "").split("[")[0])
        at = ""
        if exc.event is not None:
            at = f", event {first + exc.event}{_event_numbers(pfile, first + exc.event)}"
        where = f"branch {branch[var]!r}" if var in branch else ATLAS_MAP
        raise CorruptFileError(f"{pfile.path}: {where}{at}: {exc.reason}") from None


def _event_numbers(pfile: PhysliteFile, event: int) -> str:
    """' (run R, event number E)' of one event of the file, '' if unreadable (errors only)."""
    try:
        want = [(ATLAS_EVENT_INFO, "runNumber"), (ATLAS_EVENT_INFO, "eventNumber")]
        data = pfile.read(want, event, event + 1)
        return f" (run {int(_np(data[want[0]], np.int64)[0])}, event number {int(_np(data[want[1]], np.int64)[0])})"
    except Exception:   # noqa: BLE001 - only describes another error
        return ""


__all__ = [
    "convert_electrons", "convert_photons", "convert_muons", "convert_taus", "convert_jets",
    "convert_event_info", "convert_truth_met", "read_core_terms", "read_map_columns",
    "link_resolver", "XAOD_TYPE", "MUON_MASS",
]
