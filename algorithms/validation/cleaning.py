"""Event cleaning (MET filters): flag events whose MET is faked by detector problems.

A fake MET comes from a jet the calorimeter got wrong (primer, "When the machine has ghosts of
its own"). `EventCleaningAlg` looks at every jet above `jet_min_pt` with reconstructed
quantities only: its EM fraction `emfrac`, its charged fraction

    chf = (scalar sum of the pT of the jet's ghost-associated tracks from the hard-scatter
           vertex, passing quality, pT > 500 MeV, not a reconstructed lepton's track) / jet pT

and the azimuthal distance between the jet and the MET. A jet is bad when it meets one of
(thresholds are properties; defaults below):

  BAD_NOISE        emfrac < 0.05 and (chf < 0.05 or |eta| >= 2.4)
                   calorimeter noise or non-collision background: energy with neither EM
                   shower nor tracks (the non-collision criteria of ATLAS BadLoose jet cleaning)
  BAD_DEAD_CALO    |eta| < 2.4, emfrac < 0.05, chf > 0.6, |dphi(jet, MET)| < 0.5 and MET > 0.5 pT
                   tracks but no neutral/EM calorimeter energy, a large MET along the jet: a
                   dead or masked calorimeter region (like the ATLAS dead-tile-module veto)
  BAD_TRACK_CALO   |eta| < 2.4, chf > 1.15 and |dphi(jet, MET)| < 1.0, checked for jets whose
                   pT or charged pT is above jet_min_pt: the jet's tracks carry 15% more pT
                   than the calibrated jet and MET points at it: a jet measured far below its
                   energy (punch-through, calibration fault)

An event is clean when no jet is bad. The output record has `is_clean` and `flags` (the OR
of the bits above over the event's jets). ATLAS uses more calorimeter variables (LAr pulse
quality, negative energy, HEC fraction, timing, fmax) that the input schema does not carry.
"""

from __future__ import annotations

import numba as nb
import numpy as np

from metflow.edm import keys as mk
from metflow.edm.containers import Container, EventRecord, Field, Schema, register_schema
from metflow.edm.units import GeV, MeV
from metflow.framework.component import Algorithm, Property, ReadHandleKey, WriteHandleKey
from metflow.framework.errors import ConfigurationError

__all__ = ["EventCleaningAlg", "CLEANING_SCHEMA", "cleaning_key", "jet_charged_fraction",
           "jet_cleaning_flags", "BAD_NOISE", "BAD_DEAD_CALO", "BAD_TRACK_CALO", "FLAG_NAMES"]

BAD_NOISE, BAD_DEAD_CALO, BAD_TRACK_CALO = 1, 2, 4
FLAG_NAMES = {BAD_NOISE: "noise", BAD_DEAD_CALO: "dead calorimeter", BAD_TRACK_CALO: "track-calo mismatch"}

CLEANING_SCHEMA = Schema("EventCleaning", (
    Field("is_clean", "bool", doc="no bad jet in the event"),
    Field("flags", "uint8", doc="OR over jets of BAD_NOISE=1, BAD_DEAD_CALO=2, BAD_TRACK_CALO=4"),
), per_event=True)


def cleaning_key(met_name: str) -> str:
    """Store key of the cleaning decision for MET_<met_name>, with its schema attached."""
    if not met_name:
        raise ValueError("MET name must be non-empty")
    key = "EventCleaning_" + met_name
    register_schema(key, CLEANING_SCHEMA)
    return key


@nb.njit(nogil=True, cache=True)
def _charged_pt(jet_offsets, ghost_offsets, ghost_values, trk_offsets, trk_px, trk_py, trk_vertex,
                trk_quality, excluded, min_pt, out):
    """Sum of PV track pT ghost-associated to each jet (tracks flagged `excluded` skipped)."""
    n_events = jet_offsets.shape[0] - 1
    for e in range(n_events):
        t0 = trk_offsets[e]
        n_trk = trk_offsets[e + 1] - t0
        for j in range(jet_offsets[e], jet_offsets[e + 1]):
            total = 0.0
            for k in range(ghost_offsets[j], ghost_offsets[j + 1]):
                local = ghost_values[k]
                if local < 0 or local >= n_trk:
                    continue
                t = t0 + local
                if trk_vertex[t] != 0 or not trk_quality[t] or excluded[t]:
                    continue
                pt = np.hypot(np.float64(trk_px[t]), np.float64(trk_py[t]))
                if pt > min_pt:
                    total += pt
            out[j] = total


def _lepton_tracks(tracks: Container, muons: Container | None, electrons: Container | None) -> np.ndarray:
    """bool per track: the ID track of a muon or a track of an electron."""
    mask = np.zeros(len(tracks), np.bool_)
    if muons is not None and len(muons):
        idt = np.asarray(muons["id_track"], np.int64)
        ev = muons.event_of_object()
        ok = idt >= 0
        mask[tracks.offsets[ev[ok]] + idt[ok]] = True
    if electrons is not None and len(electrons):
        lists = electrons["tracks"]
        owner_event = np.repeat(electrons.event_of_object(), lists.counts())
        local = np.asarray(lists.values, np.int64)
        ok = local >= 0
        mask[tracks.offsets[owner_event[ok]] + local[ok]] = True
    return mask


def jet_charged_fraction(jets: Container, tracks: Container, muons: Container | None = None,
                         electrons: Container | None = None, track_min_pt: float = 500 * MeV) -> np.ndarray:
    """chf per jet: PV ghost-track pT (leptons' tracks excluded) over the calibrated jet pT."""
    if jets.n_events != tracks.n_events:
        raise ValueError(f"jets {jets.key!r} have {jets.n_events} events but tracks {tracks.key!r} "
                         f"have {tracks.n_events}")
    ghosts = jets["ghost_tracks"]
    charged = np.zeros(len(jets), np.float64)
    _charged_pt(jets.offsets, ghosts.offsets, ghosts.values, tracks.offsets, tracks["px"], tracks["py"],
                tracks["vertex"], tracks["passes_quality"], _lepton_tracks(tracks, muons, electrons),
                float(track_min_pt), charged)
    pt = jets.pt().astype(np.float64)
    return np.divide(charged, pt, out=np.zeros_like(pt), where=pt > 0)


def jet_cleaning_flags(pt, eta, phi, emfrac, chf, met_phi_per_jet, met_per_jet, *, jet_min_pt=20 * GeV,
                       emf_max=0.05, noise_chf_max=0.05, dead_chf_min=0.6, dead_dphi_max=0.5,
                       dead_met_over_pt_min=0.5, mismatch_chf_min=1.15, mismatch_dphi_max=1.0,
                       track_eta_max=2.4) -> np.ndarray:
    """uint8 flags per jet from the module's criteria (arrays over jets; MET phi and magnitude
    of each jet's event)."""
    pt, eta, emfrac, chf = (np.asarray(a, np.float64) for a in (pt, eta, emfrac, chf))
    dphi = np.abs(np.angle(np.exp(1j * (np.asarray(phi, np.float64) - met_phi_per_jet))))
    considered = pt > jet_min_pt
    central = np.abs(eta) < track_eta_max
    no_em = emfrac < emf_max
    flags = np.zeros(pt.shape, np.uint8)
    flags[considered & no_em & ((chf < noise_chf_max) | ~central)] |= BAD_NOISE
    large_met = np.asarray(met_per_jet, np.float64) > dead_met_over_pt_min * pt
    flags[considered & central & no_em & (chf > dead_chf_min) & (dphi < dead_dphi_max) & large_met] |= BAD_DEAD_CALO
    charged_considered = considered | (chf * pt > jet_min_pt)
    flags[charged_considered & central & (chf > mismatch_chf_min) & (dphi < mismatch_dphi_max)] |= BAD_TRACK_CALO
    return flags


class EventCleaningAlg(Algorithm):
    """Flags events with a bad jet (noise, dead calorimeter, track-calorimeter mismatch)."""

    jets = ReadHandleKey(mk.jet_container_key("AntiKt4EMPFlow"), doc="calibrated jets (emfrac, ghost tracks)")
    tracks = ReadHandleKey(mk.TRACKS, doc="inner-detector tracks (for the charged fraction)")
    met = ReadHandleKey(mk.met_key("AntiKt4EMPFlow"), doc="rebuilt MET (direction for the dphi criteria)")
    muons = ReadHandleKey([mk.MUONS], doc="muons whose ID tracks leave the charged fraction ([] for none)")
    electrons = ReadHandleKey([mk.ELECTRONS], doc="electrons whose tracks leave the charged fraction")
    cleaning = WriteHandleKey(cleaning_key("AntiKt4EMPFlow"), doc="per-event is_clean and flags")

    met_term = Property(str, mk.FINAL_TRK, doc="MET term giving the MET direction")
    jet_min_pt = Property(float, 20 * GeV, doc="jets below this pT are not checked", unit="MeV")
    emf_max = Property(float, 0.05, doc="emfrac below this: no EM energy (noise, dead calo)")
    noise_chf_max = Property(float, 0.05, doc="BAD_NOISE: charged fraction below this")
    dead_chf_min = Property(float, 0.6, doc="BAD_DEAD_CALO: charged fraction above this")
    dead_dphi_max = Property(float, 0.5, doc="BAD_DEAD_CALO: |dphi(jet, MET)| below this")
    dead_met_over_pt_min = Property(float, 0.5, doc="BAD_DEAD_CALO: MET above this fraction of the jet pT")
    mismatch_chf_min = Property(float, 1.15, doc="BAD_TRACK_CALO: charged fraction above this")
    mismatch_dphi_max = Property(float, 1.0, doc="BAD_TRACK_CALO: |dphi(jet, MET)| below this")
    track_eta_max = Property(float, 2.4, doc="tracker acceptance for the charged fraction")
    track_min_pt = Property(float, 500 * MeV, doc="minimum pT of the tracks counted in chf", unit="MeV")

    def compute(self, jets, tracks, met, muons, electrons):
        if self.met_term not in met.names:
            raise ConfigurationError(f"{self.name}: MET container {self.key('met')!r} has no term "
                                     f"{self.met_term!r}; terms: {list(met.names)}")
        if met.n_events != jets.n_events:
            raise ValueError(f"{self.name}: MET {self.key('met')!r} has {met.n_events} events but jets "
                             f"{self.key('jets')!r} have {jets.n_events}")
        chf = jet_charged_fraction(jets, tracks, muons[0] if muons else None,
                                   electrons[0] if electrons else None, self.track_min_pt)
        i = met.term_index(self.met_term)
        mpx, mpy = met.mpx[:, i].astype(np.float64), met.mpy[:, i].astype(np.float64)
        event = jets.event_of_object()
        jet_flags = jet_cleaning_flags(
            jets.pt(), jets.eta(), jets.phi(), jets["emfrac"], chf, np.arctan2(mpy, mpx)[event],
            np.hypot(mpx, mpy)[event],
            jet_min_pt=self.jet_min_pt, emf_max=self.emf_max, noise_chf_max=self.noise_chf_max,
            dead_chf_min=self.dead_chf_min, dead_met_over_pt_min=self.dead_met_over_pt_min, dead_dphi_max=self.dead_dphi_max,
            mismatch_chf_min=self.mismatch_chf_min, mismatch_dphi_max=self.mismatch_dphi_max,
            track_eta_max=self.track_eta_max)
        flags = np.zeros(jets.n_events, np.uint8)
        np.bitwise_or.at(flags, event, jet_flags)
        return EventRecord(CLEANING_SCHEMA, {"is_clean": flags == 0, "flags": flags},
                           key=self.key("cleaning"), n_events=jets.n_events)
