"""Object-based MET significance (ATLAS METSignificance, athena_met.md C.8).

Each hard object of a rebuilt MET (the objects METMaker added, hard jets with their
uniquefrac weight) contributes a pT uncertainty along its direction; the soft term an
isotropic one. With V the 2×2 covariance of the MET vector p, the significance is
S = pᵀV⁻¹p, computed as in the reference in the frame of the MET (VarL, VarT, ρ; when
|ρ| ≥ 0.9, S = MET²/VarL). For Gaussian mismeasurement S follows χ² with 2 degrees of freedom
(p-value exp(−S/2)); `sqrt_s` is the quoted "MET significance".

The calibration tools that give ATLAS its per-object resolutions are not available, so the
relative pT resolutions are documented parameterisations (pT in GeV):

  jets        σ/pT = √((N/pT)² + S²/pT + C²), N = 3 GeV, S = 0.75 √GeV, C = 0.05
  e, γ        σ/pT = √(0.1²/pT + 0.007²)
  muons       σ/pT = √(0.02² + (2·10⁻⁴ · pT)²)
  taus        σ/pT = 0.1
  soft term   8.5 GeV per axis, isotropic (SoftTermReso of the newest reference)

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
           "JET_RESO", "EGAMMA_RESO", "MUON_RESO", "TAU_RESO", "SOFT_TERM_RESO"]

JET_RESO = (3.0, 0.75, 0.05)        # noise [GeV], stochastic [sqrt(GeV)], constant
EGAMMA_RESO = (0.1, 0.007)          # stochastic [sqrt(GeV)], constant
MUON_RESO = (0.02, 2e-4)            # constant, slope [1/GeV]
TAU_RESO = 0.1
SOFT_TERM_RESO = 8.5 * GeV
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


def relative_pt_resolution(obj_type: ObjectType, pt: np.ndarray) -> np.ndarray:
    """σ(pT)/pT of objects of one type (pt in MeV), per the module's parameterisations."""
    x = np.maximum(np.asarray(pt, np.float64) / GeV, 1e-3)
    if obj_type == ObjectType.Jet:
        n, s, c = JET_RESO
        return np.sqrt((n / x) ** 2 + s * s / x + c * c)
    if obj_type in (ObjectType.Electron, ObjectType.Photon):
        s, c = EGAMMA_RESO
        return np.sqrt(s * s / x + c * c)
    if obj_type == ObjectType.Muon:
        c, k = MUON_RESO
        return np.sqrt(c * c + (k * x) ** 2)
    if obj_type == ObjectType.Tau:
        return np.full_like(x, TAU_RESO)
    raise ValueError(f"no pT resolution for object type {obj_type!r}")


@dataclass(frozen=True)
class METSignificance:
    """Significance calculator; `soft_term_reso` per axis in MeV."""

    soft_term_reso: float = SOFT_TERM_RESO

    def covariance(self, n_events: int, terms: list[tuple[ObjectType, Any, np.ndarray]]):
        """(Vxx, Vyy, Vxy) per event from (type, objects container, weight) of hard terms;
        objects with weight 0 are not in the MET and contribute nothing."""
        vxx = np.full(n_events, self.soft_term_reso ** 2)
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
            sigma2 = (relative_pt_resolution(ObjectType(obj_type), pt) * pt) ** 2
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

    def from_builder(self, met: Any, total: str, hard_terms: dict[str, ObjectType]) -> EventRecord:
        """Significance of term `total` of a METBuilder, from the objects of `hard_terms`
        (term name -> object type) recorded in its links."""
        terms = [(t, *met.links[name]) for name, t in hard_terms.items() if name in met.links]
        vxx, vyy, vxy = self.covariance(met.n_events, terms)
        tot = met.term(total)
        return self.significance(tot[:, 0], tot[:, 1], vxx, vyy, vxy)
