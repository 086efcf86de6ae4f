"""Object-based MET significance (ATLAS METSignificance, athena_met.md C.8).

Each hard object of a rebuilt MET (the objects METMaker added, hard jets with their
uniquefrac weight) contributes a pT uncertainty along its direction; the soft term an
isotropic one. With V the 2×2 covariance of the MET vector p, the significance is
S = pᵀV⁻¹p, computed as in the reference in the frame of the MET (VarL, VarT, ρ; when
|ρ| ≥ 0.9, S = MET²/VarL). For Gaussian mismeasurement S follows χ² with 2 degrees of freedom
(p-value exp(−S/2)); `sqrt_s` is the quoted "MET significance".

The calibration tools that give ATLAS its per-object resolutions are not available. Leptons
follow the synthetic detector's smearing (algorithms/generation/_synthetic_kernels.py); the soft
term and the jets are a documented calibration: a maximum-likelihood fit of this covariance model
to the rebuilt MET of synthetic Z→μμ and Z→ee events (no real MET; 8000 events each at μ = 20,
40, 60, seed 3; default object selection, PFlow, Tight jets), separately for the cluster (CST,
FinalClus) and the track (TST, FinalTrk) soft term. pT and E in GeV:

  e, γ        σ/E  = √(0.1²/E + 0.01²)            (detector: 10 %/√E ⊕ 1 % on the cluster energy)
  muons       σ/pT = √(0.02² + (2·10⁻⁴·pT)²)       combined/tagged (ID track); 0.08 standalone
  taus        σ/pT = 0.1                           (not calibrated: no taus in Z→ℓℓ)
  jets        σ/pT = √((N/pT)² + S²/pT + C²), fit: N = S = 0, C = 0.33 — the fit puts the whole
              jet term in a constant: it absorbs pileup jets passing JVT and the JES/ρA bias of the
              toy calibration, not a calorimeter resolution
  soft term   σ² = a² + b²·μ per axis, isotropic; CST: a = 7.9 GeV, b = 1.88 GeV (pileup neutrals
              grow the CST variance ∝ μ); TST: a = 9.6 GeV, b = 0.23 GeV (μ-independent: PV tracks;
              dominated by the soft recoil's neutral half, which the TST never sees)

With these numbers the mean of S on Z→ℓℓ is ≈ 2 but the χ²(2) shape is not reached (heavy tails
from pileup jets and the non-Gaussian soft recoil); docs/metmaker.md quotes the KS p-values.
`METSignificance(soft_term_reso=8.5 * GeV)` restores ATLAS's constant "Random" soft term.
No φ resolution (DoPhiReso is false by default) and no scalar bias (ApplyBias false).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from metflow.edm.containers import EventRecord, Field, Schema, register_schema
from metflow.edm.keys import met_significance_key
from metflow.edm.met import ObjectType
from metflow.edm.units import GeV

__all__ = ["METSignificance", "SIGNIFICANCE_SCHEMA", "significance_key", "relative_pt_resolution",
           "JET_RESO", "EGAMMA_RESO", "MUON_RESO", "MUON_STANDALONE_RESO", "TAU_RESO",
           "SOFT_TERM_RESO", "SOFT_RESO_CST", "SOFT_RESO_TST", "soft_term_sigma"]

JET_RESO = (0.0, 0.0, 0.33)         # noise [GeV], stochastic [sqrt(GeV)], constant (fit)
EGAMMA_RESO = (0.1, 0.01)           # stochastic [sqrt(GeV)] on E, constant
MUON_RESO = (0.02, 2e-4)            # constant, slope [1/GeV]
MUON_STANDALONE_RESO = 0.08
MUON_STANDALONE = 1                 # Muons.type of a standalone (MS-only) muon
TAU_RESO = 0.1
SOFT_RESO_CST = (7.9 * GeV, 1.88 * GeV)   # a, b of sigma^2 = a^2 + b^2 mu (cluster soft term)
SOFT_RESO_TST = (9.6 * GeV, 0.23 * GeV)   # same for the track soft term
SOFT_TERM_RESO = 8.5 * GeV          # ATLAS's constant "Random" soft-term resolution
_DEFAULT_MU = 40.0
_RHO_MAX = 0.9

SIGNIFICANCE_SCHEMA = Schema("METSignificance", (
    Field("s", "float32", doc="S = p^T V^-1 p (chi2 with 2 dof for Gaussian mismeasurement)"),
    Field("sqrt_s", "float32", doc="MET significance sqrt(S) (ATLAS GetSignificance); -1 if S <= 0"),
    Field("met", "float32", doc="MET of the total term [MeV]"),
    Field("var_l", "float32", doc="variance along the MET [MeV^2]"),
    Field("var_t", "float32", doc="variance perpendicular to the MET [MeV^2]"),
    Field("rho", "float32", doc="correlation of the L and T components"),
), per_event=True)

def significance_key(met_name: str) -> str:
    """Store key of the significance of MET_<met_name> (from edm.keys), with its schema attached."""
    key = met_significance_key(met_name)
    register_schema(key, SIGNIFICANCE_SCHEMA)
    return key


def soft_term_sigma(mu: Any, track: bool) -> np.ndarray:
    """Per-axis soft-term resolution [MeV] at pileup `mu` (TST if `track`, else CST)."""
    a, b = SOFT_RESO_TST if track else SOFT_RESO_CST
    return np.sqrt(a * a + b * b * np.asarray(mu, np.float64))


def relative_pt_resolution(obj_type: ObjectType, pt: np.ndarray, e: np.ndarray | None = None,
                           muon_type: np.ndarray | None = None) -> np.ndarray:
    """σ(pT)/pT of objects of one type (pt, e in MeV), per the module's parameterisations;
    e/γ use the energy `e` when given (else pT), muons `muon_type` (standalone: 8 %)."""
    x = np.maximum(np.asarray(pt, np.float64) / GeV, 1e-3)
    if obj_type == ObjectType.Jet:
        n, s, c = JET_RESO
        return np.sqrt((n / x) ** 2 + s * s / x + c * c)
    if obj_type in (ObjectType.Electron, ObjectType.Photon):
        s, c = EGAMMA_RESO
        energy = x if e is None else np.maximum(np.asarray(e, np.float64) / GeV, 1e-3)
        return np.sqrt(s * s / energy + c * c)
    if obj_type == ObjectType.Muon:
        c, k = MUON_RESO
        reso = np.sqrt(c * c + (k * x) ** 2)
        if muon_type is not None:
            reso = np.where(np.asarray(muon_type) == MUON_STANDALONE, MUON_STANDALONE_RESO, reso)
        return reso
    if obj_type == ObjectType.Tau:
        return np.full_like(x, TAU_RESO)
    raise ValueError(f"no pT resolution for object type {obj_type!r}")


@dataclass(frozen=True)
class METSignificance:
    """Significance calculator. The soft term: `soft_term_reso` (per axis, MeV) if given, else
    the calibrated σ(μ) of the TST (`track_soft_term`) or the CST."""

    soft_term_reso: float | None = None
    track_soft_term: bool = False

    def soft_sigma(self, n_events: int, mu: Any = None) -> np.ndarray:
        """Per-axis soft-term resolution per event [MeV] (μ defaults to 40 when unknown)."""
        if self.soft_term_reso is not None:
            return np.full(n_events, float(self.soft_term_reso))
        mu = np.full(n_events, _DEFAULT_MU) if mu is None else np.broadcast_to(mu, (n_events,))
        return soft_term_sigma(mu, self.track_soft_term)

    def covariance(self, n_events: int, terms: list[tuple[ObjectType, Any, np.ndarray]],
                   mu: Any = None):
        """(Vxx, Vyy, Vxy) per event from (type, objects container, weight) of hard terms;
        objects with weight 0 are not in the MET and contribute nothing. `mu`: pileup per event."""
        vxx = self.soft_sigma(n_events, mu) ** 2
        vyy = vxx.copy()
        vxy = np.zeros(n_events)
        for obj_type, objects, weight in terms:
            used = np.asarray(weight) > 0
            if not used.any():
                continue
            w = np.asarray(weight, np.float64)[used]
            px = objects["px"][used].astype(np.float64) * w
            py = objects["py"][used].astype(np.float64) * w
            pt = np.hypot(px, py)
            energy = objects["e"][used].astype(np.float64) * w if "e" in objects else None
            mtype = objects["type"][used] if (obj_type == ObjectType.Muon and "type" in objects) else None
            sigma2 = (relative_pt_resolution(ObjectType(obj_type), pt, energy, mtype) * pt) ** 2
            cos = np.divide(px, pt, out=np.ones_like(pt), where=pt > 0)
            sin = np.divide(py, pt, out=np.zeros_like(pt), where=pt > 0)
            ev = objects.event_of_object()[used]
            vxx += np.bincount(ev, sigma2 * cos * cos, minlength=n_events)
            vyy += np.bincount(ev, sigma2 * sin * sin, minlength=n_events)
            vxy += np.bincount(ev, sigma2 * sin * cos, minlength=n_events)
        return vxx, vyy, vxy

    def significance(self, mpx: np.ndarray, mpy: np.ndarray, vxx: np.ndarray, vyy: np.ndarray,
                     vxy: np.ndarray) -> EventRecord:
        """S per event from the MET vector and its covariance, in the MET frame (reference)."""
        mpx = np.asarray(mpx, np.float64)
        mpy = np.asarray(mpy, np.float64)
        met = np.hypot(mpx, mpy)
        phi = np.arctan2(mpy, mpx)
        c, s = np.cos(phi), np.sin(phi)
        var_l = c * c * vxx + 2 * s * c * vxy + s * s * vyy
        var_t = s * s * vxx - 2 * s * c * vxy + c * c * vyy
        cv_lt = (c * c - s * s) * vxy + s * c * (vyy - vxx)
        rho = cv_lt / np.sqrt(var_l * var_t)
        denom = np.where(np.abs(rho) >= _RHO_MAX, var_l, var_l * (1 - rho * rho))
        sig = met * met / denom
        sqrt_s = np.where(sig > 0, np.sqrt(np.maximum(sig, 0)), -1.0)
        return EventRecord(SIGNIFICANCE_SCHEMA, dict(s=sig, sqrt_s=sqrt_s, met=met, var_l=var_l,
                                                     var_t=var_t, rho=rho), n_events=len(met))

    def from_builder(self, met: Any, total: str, hard_terms: dict[str, ObjectType],
                     mu: Any = None) -> EventRecord:
        """Significance of term `total` of a METBuilder, from the objects of `hard_terms`
        (term name -> object type) recorded in its links; `mu` per event (EventInfo.mu)."""
        terms = [(t, *met.links[name]) for name, t in hard_terms.items() if name in met.links]
        vxx, vyy, vxy = self.covariance(met.n_events, terms, mu)
        tot = met.term(total)
        return self.significance(tot[:, 0], tot[:, 1], vxx, vyy, vxy)
