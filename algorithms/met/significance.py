"""Object-based MET significance (ATLAS METSignificance, athena_met.md C.8).

Each hard object of a rebuilt MET (the objects METMaker added, hard jets with their uniquefrac
weight) contributes a pT uncertainty along its direction; the soft term an isotropic one plus a
component along the hard recoil. With V the 2x2 covariance of the MET vector p and b its
expected bias, S = (p - b)^T V^-1 (p - b), computed as in the reference in the frame of the MET
(VarL, VarT, rho; when |rho| >= 0.9, S = |p - b|^2/VarL). For Gaussian mismeasurement S follows
chi2 with 2 degrees of freedom (p-value exp(-S/2)); `sqrt_s` is the quoted "MET significance".

The calibration tools that give ATLAS its per-object resolutions are not available. Leptons
follow the synthetic detector's smearing; everything else is a calibration on synthetic
Z->mumu and Z->ee events passing a Z selection (exactly two selected same-flavour leptons of
opposite charge, 66 < m_ll < 116 GeV; events with a lepton outside the acceptance carry real,
undetectable momentum and are not "no MET" events), seed 3, mu = 20, 40, 60 (8000 generated
events each), default object selection, PFlow, Tight jets: the parameters minimise the summed
Kolmogorov-Smirnov distance of exp(-S/2) to U(0, 1) (started from a Gaussian maximum-likelihood
fit), separately for the cluster (CST, FinalClus) and track (TST, FinalTrk) soft term. pT, E,
sumET in GeV; "pthard" = vector sum of the hard objects, u = min(|pthard|, cap):

  e, gamma    sigma/E  = sqrt(0.1^2/E + 0.01^2)          (detector: 10 %/sqrt(E) + 1 %)
  muons       sigma/pT = sqrt(0.02^2 + (2e-4 pT)^2)      combined; 0.08 standalone
  taus        sigma/pT = 0.1                             (not calibrated: no taus in Z->ll)
  hard jets   sigma/pT = sqrt(S^2/pT + C^2), plus P_PU in quadrature for |eta| > 2.4, where no
              JVT protects against pileup jets (ATLAS TreatPUJets; no fJVT here, so a constant)
  soft jets   jets with |eta| > 2.4 that METMaker did not make hard (below the forward pT cut)
              add (f_rej pT)^2 along their direction: a hard-scatter jet lost to the soft term
              (the TST has no tracks there) or a pileup jet counted in the CST
  soft term   sigma^2 = b^2 * sumET(soft term) per axis, isotropic (pileup and UE: the CST
              sumET grows with mu, so its variance does)
  recoil      (k u)^2 along pthard and an expected MET b = -beta u pthard/|pthard| (ATLAS
              pThard-based soft term and ApplyBias): the soft recoil of the hard objects is
              partly unmeasured (neutral particles for the TST, hadron response for the CST),
              so under "no real MET" the MET points against pthard; recoil above the jet
              threshold forms jets, hence the cap

                S [sqrt GeV]  C      P_PU   f_rej   b [sqrt GeV]  k      cap [GeV]  beta
  CST FinalClus   0.315     0.149  0.123  0.643   0.832         0.079  32.5       0.624
  TST FinalTrk    0.074     0.010  0.223  0.014   0.505         0.228  33.5       0.808

The bias and the pthard term lower S where visible objects are unbalanced by less than ~30
GeV: a soft recoil and a small real MET look alike to the TST.

chi2(2) map (TST only): on the synthetic detector the soft recoil of a Z below ~20 GeV is one
charged pion and one photon, so the TST measures either half of it or none (two modes along
pthard) and 2-3 % of Z events have no soft track at all: MET = -pthard exactly, which the
Gaussian bias + recoil term maps onto one value S = ((1 - beta)/k)^2 = 0.71 (p = 0.70: the
spike), while low-pthard events whose untracked neutral underlying event dominates form the
tail. No Gaussian covariance makes such a distribution chi2(2); S of the TST model is therefore
passed through a monotone map onto chi2(2) quantiles (TST_CHI2_MAP, measured on 595k
independent Z-selected events by `metflow.algorithms.validation.significance_calibration`;
docs/validation.md shows the flatness on other seeds). The CST keeps the Gaussian model alone.

Resolution models (RESOLUTION_MODELS, `metflow validate --significance-model`): "synthetic"
(all of the above; valid only for the synthetic detector it was calibrated on) and
"atlas-random" = `METSignificance(soft_term_reso=8.5 * GeV)`: ATLAS's constant "Random" soft
term (isotropic, no recoil term, no bias, no map), jets with the CST fit's resolution. That is
the model for PHYSLITE; its object resolutions are not ATLAS's calibration tools (JER, egamma,
muon), so S there ranks events but its p-values are not calibrated. No phi resolution
(DoPhiReso false).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from metflow.edm.containers import MET_SIGNIFICANCE_SCHEMA, EventRecord
from metflow.edm import keys as mk
from metflow.edm.keys import met_significance_key
from metflow.edm.met import ObjectType
from metflow.edm.units import GeV

from . import _maker_kernels as kern
from . import _significance_chi2_map as _chi2_map
from ._maker_kernels import JET_HARD

__all__ = ["METSignificance", "SIGNIFICANCE_SCHEMA", "significance_key", "relative_pt_resolution",
           "SignificanceModel", "CST_MODEL", "TST_MODEL", "EGAMMA_RESO", "MUON_RESO",
           "MUON_STANDALONE_RESO", "TAU_RESO", "SOFT_TERM_RESO", "FORWARD_ETA", "TST_CHI2_MAP",
           "TST_CHI2_MAP_EVENTS", "TST_CHI2_MAP_DESIGN_EFFECT",
           "chi2_calibrate", "chi2_uncalibrate", "RESOLUTION_MODELS", "significance_for_model",
           "soft_term_reso_for_model"]

EGAMMA_RESO = (0.1, 0.01)           # stochastic [sqrt(GeV)] on E, constant
MUON_RESO = (0.02, 2e-4)            # constant, slope [1/GeV]
MUON_STANDALONE_RESO = 0.08
MUON_STANDALONE = 1                 # Muons.type of a standalone (MS-only) muon
TAU_RESO = 0.1
SOFT_TERM_RESO = 8.5 * GeV          # ATLAS's constant "Random" soft-term resolution
FORWARD_ETA = 2.4                   # no JVT beyond (METMaker's JVT range), no tracks beyond 2.5
_RHO_MAX = 0.9


@dataclass(frozen=True)
class SignificanceModel:
    """Calibrated resolution model of one soft-term flavour (module docstring; GeV units)."""

    jet_stochastic: float       # S of sigma/pT = sqrt(S^2/pT + C^2) [sqrt(GeV)]
    jet_constant: float         # C
    pileup_forward: float       # P_PU of hard jets with |eta| > FORWARD_ETA
    rejected_forward: float     # f_rej of non-hard jets with |eta| > FORWARD_ETA
    soft_sumet: float           # b of sigma^2 = b^2 sumET per axis [sqrt(GeV)]
    recoil_k: float             # k of the (k u)^2 variance along pthard
    recoil_cap: float           # cap of u = min(|pthard|, cap) [GeV]
    recoil_bias: float          # beta of the expected MET -beta u along pthard


CST_MODEL = SignificanceModel(0.315, 0.149, 0.123, 0.643, 0.832, 0.079, 32.5, 0.624)
TST_MODEL = SignificanceModel(0.074, 0.010, 0.223, 0.014, 0.505, 0.228, 33.5, 0.808)

#: Monotone map of the TST model's S onto chi2(2) quantiles (knots of S, chi2(2) quantiles),
#: measured on Z-selected synthetic Z->ll by `metflow.algorithms.validation.significance_calibration`
#: (docs/validation.md): the Gaussian model alone leaves a spike at S = ((1-beta)/k)^2 and a
#: tail (the synthetic TST soft recoil has two modes). Identity below the first and offset
#: beyond the last knot. Empty: no map.
TST_CHI2_MAP: tuple[tuple[float, ...], tuple[float, ...]] = (_chi2_map.KNOTS, _chi2_map.CHI2_QUANTILES)
#: Z-selected events the map was measured on, and the design effect of their chunks (variance of
#: the empirical CDF over binomial): the validation's verdict is a two-sample test against that
#: sample, so its statistical error is part of the comparison
TST_CHI2_MAP_EVENTS: int = _chi2_map.N_EVENTS
TST_CHI2_MAP_DESIGN_EFFECT: float = _chi2_map.DESIGN_EFFECT

SIGNIFICANCE_SCHEMA = MET_SIGNIFICANCE_SCHEMA  # defined in the EDM, so files read back without this module

def _map_arrays(table) -> tuple[np.ndarray, np.ndarray]:
    """The map's knots and targets as float64 arrays from 0 (TST_CHI2_MAP's made once: the
    conversion of its 400-entry tuples cost some 24 us per block)."""
    if table is TST_CHI2_MAP:
        return _TST_CHI2_ARRAYS
    knots, targets = table
    return (np.concatenate([[0.0], np.asarray(knots, np.float64)]),
            np.concatenate([[0.0], np.asarray(targets, np.float64)]))


_TST_CHI2_ARRAYS = _map_arrays((_chi2_map.KNOTS, _chi2_map.CHI2_QUANTILES))
for _array in _TST_CHI2_ARRAYS:
    _array.setflags(write=False)


def chi2_calibrate(s: np.ndarray, table=None) -> np.ndarray:
    """S of the Gaussian TST model -> its chi2(2)-calibrated value (TST_CHI2_MAP; float64):
    piecewise linear between knots, S shifted by a constant beyond the last knot."""
    table = TST_CHI2_MAP if table is None else table
    s = np.asarray(s, np.float64)
    if not table[0]:
        return s.copy()
    x, y = _map_arrays(table)
    return np.where(s > x[-1], s - x[-1] + y[-1], np.interp(s, x, y))


def chi2_uncalibrate(s: np.ndarray, table=None) -> np.ndarray:
    """Inverse of chi2_calibrate (the model's S from a calibrated one)."""
    table = TST_CHI2_MAP if table is None else table
    s = np.asarray(s, np.float64)
    if not table[0]:
        return s.copy()
    x, y = _map_arrays(table)
    return np.where(s > y[-1], s - y[-1] + x[-1], np.interp(s, y, x))


def _calibrate_columns(columns: dict[str, np.ndarray]) -> None:
    """S and sqrt(S) of a record's columns through TST_CHI2_MAP (same arithmetic on both paths)."""
    if not TST_CHI2_MAP[0]:
        return
    s = chi2_calibrate(columns["s"])
    dtype = columns["s"].dtype
    columns["s"] = s.astype(dtype)
    columns["sqrt_s"] = np.where(s > 0, np.sqrt(np.maximum(s, 0.0)), -1.0).astype(columns["sqrt_s"].dtype)


def _calibrated_record(rec: EventRecord) -> EventRecord:
    """The record with S and sqrt(S) through TST_CHI2_MAP."""
    _calibrate_columns(rec.columns)
    return rec


def significance_key(met_name: str) -> str:
    """Store key of the significance of MET_<met_name> (from edm.keys)."""
    return met_significance_key(met_name)


def relative_pt_resolution(obj_type: ObjectType, pt: np.ndarray, e: np.ndarray | None = None,
                           muon_type: np.ndarray | None = None, eta: np.ndarray | None = None,
                           model: SignificanceModel = CST_MODEL) -> np.ndarray:
    """sigma(pT)/pT of objects of one type (pt, e in MeV), per the module's parameterisations;
    e/gamma use the energy `e` when given (else pT), muons `muon_type` (standalone: 8 %), jets
    the `model`'s resolution plus its forward pileup term where `eta` is given."""
    x = np.maximum(np.asarray(pt, np.float64) / GeV, 1e-3)
    if obj_type == ObjectType.Jet:
        reso2 = model.jet_stochastic ** 2 / x + model.jet_constant ** 2
        if eta is not None:
            forward = np.abs(np.asarray(eta, np.float64)) > FORWARD_ETA
            reso2 = reso2 + np.where(forward, model.pileup_forward ** 2, 0.0)
        return np.sqrt(reso2)
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


def _add_along(cov: list[np.ndarray], event: np.ndarray, sigma2: np.ndarray, px: np.ndarray,
               py: np.ndarray) -> None:
    """Accumulate variances sigma2 along the directions (px, py) into per-event (Vxx, Vyy, Vxy)."""
    pt = np.hypot(px, py)
    cos = np.divide(px, pt, out=np.ones_like(pt), where=pt > 0)
    sin = np.divide(py, pt, out=np.zeros_like(pt), where=pt > 0)
    n = len(cov[0])
    cov[0] += np.bincount(event, sigma2 * cos * cos, minlength=n)
    cov[1] += np.bincount(event, sigma2 * sin * sin, minlength=n)
    cov[2] += np.bincount(event, sigma2 * sin * cos, minlength=n)


def _eta(objects, used: np.ndarray, pt: np.ndarray) -> np.ndarray | None:
    if "pz" not in objects:
        return None
    pz = objects["pz"][used].astype(np.float64)
    return np.arcsinh(np.divide(pz, pt, out=np.zeros_like(pz), where=pt > 0))


@dataclass(frozen=True)
class METSignificance:
    """Significance calculator: the calibrated model of the TST (`track_soft_term`) or the CST;
    `soft_term_reso` (per axis, MeV) instead gives ATLAS's "Random" soft term: isotropic
    constant, no recoil term, no bias, no soft-jet term."""

    soft_term_reso: float | None = None
    track_soft_term: bool = False

    @property
    def chi2_mapped(self) -> bool:
        """True where S goes through TST_CHI2_MAP (the calibrated TST model)."""
        return self.soft_term_reso is None and self.track_soft_term and bool(TST_CHI2_MAP[0])

    @property
    def model(self) -> SignificanceModel:
        """TST_MODEL for the calibrated track soft term; CST_MODEL otherwise, also for the jets
        of the "Random" soft term (the TST fit moved the jets' spread into its recoil term)."""
        return TST_MODEL if self.track_soft_term and self.soft_term_reso is None else CST_MODEL

    def covariance(self, n_events: int, terms: list[tuple[ObjectType, Any, np.ndarray]],
                   soft: np.ndarray | None = None, soft_jets: tuple[Any, np.ndarray] | None = None):
        """(Vxx, Vyy, Vxy, bias_x, bias_y) per event [MeV^2, MeV] from (type, objects
        container, weight) of the hard terms (weight 0: not in the MET, no contribution), the
        soft term's (mpx, mpy, sumet) rows `soft` and `soft_jets` = (jets, bool mask) of jets
        METMaker did not make hard."""
        model = self.model
        cov = [np.zeros(n_events), np.zeros(n_events), np.zeros(n_events)]
        hard_x, hard_y = np.zeros(n_events), np.zeros(n_events)
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
            eta = _eta(objects, used, pt) if obj_type == ObjectType.Jet else None
            reso = relative_pt_resolution(ObjectType(obj_type), pt, energy, mtype, eta, model)
            ev = objects.event_of_object()[used]
            _add_along(cov, ev, (reso * pt) ** 2, px, py)
            hard_x += np.bincount(ev, px, minlength=n_events)
            hard_y += np.bincount(ev, py, minlength=n_events)
        bias_x, bias_y = np.zeros(n_events), np.zeros(n_events)
        if self.soft_term_reso is not None:
            cov[0] += float(self.soft_term_reso) ** 2
            cov[1] += float(self.soft_term_reso) ** 2
            return (*cov, bias_x, bias_y)
        if soft is not None:
            var = model.soft_sumet ** 2 * np.maximum(np.asarray(soft, np.float64)[:, 2], 0.0) * GeV
            cov[0] += var
            cov[1] += var
        if soft_jets is not None:
            jets, mask = soft_jets
            mask = np.asarray(mask, bool)
            px = jets["px"][mask].astype(np.float64)
            py = jets["py"][mask].astype(np.float64)
            pt = np.hypot(px, py)
            eta = _eta(jets, mask, pt)
            forward = np.abs(eta) > FORWARD_ETA if eta is not None else np.zeros(len(pt), bool)
            _add_along(cov, jets.event_of_object()[mask][forward],
                       (model.rejected_forward * pt[forward]) ** 2, px[forward], py[forward])
        pthard = np.hypot(hard_x, hard_y)
        u = np.minimum(pthard, model.recoil_cap * GeV)
        _add_along(cov, np.arange(n_events), (model.recoil_k * u) ** 2, hard_x, hard_y)
        scale = np.divide(model.recoil_bias * u, pthard, out=np.zeros(n_events), where=pthard > 0)
        return (*cov, -scale * hard_x, -scale * hard_y)

    def significance(self, mpx: np.ndarray, mpy: np.ndarray, vxx: np.ndarray, vyy: np.ndarray,
                     vxy: np.ndarray, bias_x: Any = 0.0, bias_y: Any = 0.0) -> EventRecord:
        """S per event from the MET vector minus its expected bias and the covariance, in the
        frame of that vector (reference); S = 0 where the variance along it is 0."""
        mpx = np.asarray(mpx, np.float64)
        mpy = np.asarray(mpy, np.float64)
        met = np.hypot(mpx, mpy)
        lx, ly = mpx - bias_x, mpy - bias_y
        phi = np.arctan2(ly, lx)
        c, s = np.cos(phi), np.sin(phi)
        var_l = c * c * vxx + 2 * s * c * vxy + s * s * vyy
        var_t = s * s * vxx - 2 * s * c * vxy + c * c * vyy
        cv_lt = (c * c - s * s) * vxy + s * c * (vyy - vxx)
        prod = var_l * var_t
        rho = np.divide(cv_lt, np.sqrt(np.maximum(prod, 0.0)), out=np.zeros_like(cv_lt), where=prod > 0)
        denom = np.where(np.abs(rho) >= _RHO_MAX, var_l, var_l * (1 - rho * rho))
        sig = np.divide(lx * lx + ly * ly, denom, out=np.zeros_like(denom), where=denom > 0)
        sqrt_s = np.where(sig > 0, np.sqrt(np.maximum(sig, 0)), -1.0)
        return EventRecord(SIGNIFICANCE_SCHEMA, dict(s=sig, sqrt_s=sqrt_s, met=met, var_l=var_l,
                                                     var_t=var_t, rho=rho), n_events=len(met))

    def from_builder(self, met: Any, total: str, hard_terms: dict[str, ObjectType],
                     mu: Any = None, soft_term: str | None = None,
                     jet_term: str = mk.REF_JET) -> EventRecord:
        """Significance of term `total` of a METBuilder, from the objects of `hard_terms`
        (term name -> object type) recorded in its links, the soft term `soft_term` (default
        PVSoftTrk for the TST model, SoftClus for the CST) and the non-hard jets of `jet_term`.
        `mu` is accepted for compatibility; the model uses the soft term's sumET instead.

        The calibrated model runs in numba kernels (`_maker_kernels.significance_*`, the same
        arithmetic in the same order; arctan2, cos and sin stay in numpy); the numpy code
        (`covariance`, `significance`) serves the rest and every input the kernels do not take."""
        if self.soft_term_reso is None:
            rec = self._from_builder_kernels(met, total, hard_terms, soft_term, jet_term)
            if rec is not None:
                return rec
        return self._from_builder_numpy(met, total, hard_terms, soft_term, jet_term)

    def _from_builder_kernels(self, met: Any, total: str, hard_terms: dict[str, ObjectType],
                              soft_term: str | None, jet_term: str) -> EventRecord | None:
        """from_builder through the kernels; None where they cannot decide (numpy then): an
        object type without a kernel model, or links whose arrays do not match the builder."""
        model = self.model
        params = _kernel_params(model)
        n_events = met.n_events
        cov = np.zeros((3, n_events))
        hard = np.zeros((2, n_events))
        links = met.links
        for name, obj_type in hard_terms.items():
            if name not in links:
                continue
            objects, weight = links[name]
            kind = _SIG_KINDS.get(obj_type)
            if kind is None:
                return None
            cols = objects.columns
            px = objects["px"]   # a missing column: a KeyError naming the container
            if weight.shape != px.shape or objects.offsets[-1] != px.shape[0] or \
                    objects.n_events != n_events:
                return None
            energy = cols.get("e")
            muon_type = cols.get("type") if kind == kern.SIG_MUON else None
            status = kern.significance_term(
                kind, objects.offsets, px, objects["py"], objects["pz"] if kind == kern.SIG_JET else px,
                energy if energy is not None else px, energy is not None, weight,
                muon_type if muon_type is not None else _NO_TYPE, params[kind], params[4],
                params[5], cov, hard)
            if status != 0:
                return None
        soft_name = soft_term or (mk.PV_SOFT_TRK if self.track_soft_term else mk.SOFT_CLUS)
        soft = met.term(soft_name)[:, 2] if soft_name in met else _NO_VALUES
        has_jets = jet_term in links and jet_term in met.jet_status
        if has_jets:
            jets = links[jet_term][0]
            jet_cols = jets.columns
            jet_status = met.jet_status[jet_term]
            if jets.n_events != n_events or jet_status.shape != jet_cols["px"].shape:
                return None
            has_pz = "pz" in jet_cols
            jet_args = (jets.offsets, jet_cols["px"], jet_cols["py"],
                        jet_cols["pz"] if has_pz else jet_cols["px"], has_pz, jet_status)
        else:
            jet_args = (_NO_OFFSETS, _NO_F32, _NO_F32, _NO_F32, False, _NO_STATUS)
        tot = met.term(total)
        met_x, met_y = tot[:, 0], tot[:, 1]
        lxy = kern.significance_soft(
            cov, hard, soft, soft_name in met, model.soft_sumet ** 2, *jet_args, JET_HARD,
            has_jets, model.rejected_forward, params[4], params[5], model.recoil_k,
            model.recoil_cap * GeV, model.recoil_bias, met_x, met_y)
        if lxy is None:
            return None
        lx, ly = lxy
        phi = np.arctan2(ly, lx)
        cols = kern.significance_record(met_x, met_y, lx, ly, np.cos(phi), np.sin(phi), cov,
                                        _RHO_MAX)
        columns = dict(zip(_RECORD_COLUMNS, cols))
        if self.chi2_mapped:
            _calibrate_columns(columns)
        return EventRecord.from_kernel(SIGNIFICANCE_SCHEMA, columns, n_events)

    def _from_builder_numpy(self, met: Any, total: str, hard_terms: dict[str, ObjectType],
                            soft_term: str | None, jet_term: str) -> EventRecord:
        """from_builder in numpy (covariance + significance)."""
        terms = [(t, *met.links[name]) for name, t in hard_terms.items() if name in met.links]
        soft_name = soft_term or (mk.PV_SOFT_TRK if self.track_soft_term else mk.SOFT_CLUS)
        soft = met.term(soft_name) if soft_name in met else None
        soft_jets = None
        if jet_term in met.links and jet_term in met.jet_status:
            jets, _ = met.links[jet_term]
            soft_jets = (jets, np.asarray(met.jet_status[jet_term]) != JET_HARD)
        cov = self.covariance(met.n_events, terms, soft, soft_jets)
        tot = met.term(total)
        rec = self.significance(tot[:, 0], tot[:, 1], *cov)
        return _calibrated_record(rec) if self.chi2_mapped else rec


#: resolution models of the significance, by the name `metflow validate --significance-model` takes
RESOLUTION_MODELS = {
    "synthetic": "objects, soft term, recoil bias and the TST chi2 map calibrated on metflow's "
                 "synthetic detector (Z-selected Z->ll); for SyntheticSource / metflow-generated input",
    "atlas-random": "ATLAS's constant 'Random' soft term (8.5 GeV per axis, no bias, no map) with "
                    "the object resolutions of this module; the choice for PHYSLITE (real ATLAS "
                    "objects: the synthetic calibration does not apply)",
}


def soft_term_reso_for_model(name: str) -> float:
    """METMakerAlg.soft_term_reso (MeV) of a resolution model: 0 (calibrated) or 8.5 GeV."""
    if name not in RESOLUTION_MODELS:
        raise ValueError(f"unknown significance resolution model {name!r}; known: {list(RESOLUTION_MODELS)}")
    return 0.0 if name == "synthetic" else SOFT_TERM_RESO


def significance_for_model(name: str, track_soft_term: bool = True) -> METSignificance:
    """The METSignificance of a resolution model (RESOLUTION_MODELS)."""
    reso = soft_term_reso_for_model(name)
    return METSignificance(soft_term_reso=reso or None, track_soft_term=track_soft_term)


_RECORD_COLUMNS = ("s", "sqrt_s", "met", "var_l", "var_t", "rho")
_SIG_KINDS = {ObjectType.Electron: kern.SIG_ELECTRON_PHOTON, ObjectType.Photon: kern.SIG_ELECTRON_PHOTON,
              ObjectType.Muon: kern.SIG_MUON, ObjectType.Tau: kern.SIG_TAU, ObjectType.Jet: kern.SIG_JET}
_NO_TYPE = np.zeros(0, np.uint8)
_NO_VALUES = np.zeros(0)
_NO_F32 = np.zeros(0, np.float32)
_NO_OFFSETS = np.zeros(1, np.int64)
_NO_STATUS = np.zeros(0, np.int8)
_KERNEL_PARAMS: dict[SignificanceModel, tuple] = {}


def _kernel_params(model: SignificanceModel) -> tuple:
    """Per-kind parameter arrays of `significance_term` (squares taken as numpy's code takes
    them) and the |pz/pT| bracket of FORWARD_ETA."""
    params = _KERNEL_PARAMS.get(model)
    if params is None:
        s, c = EGAMMA_RESO
        mc, mk_ = MUON_RESO
        by_kind = {kern.SIG_ELECTRON_PHOTON: np.array([s * s, c * c]),
                   kern.SIG_MUON: np.array([mc * mc, mk_, MUON_STANDALONE, MUON_STANDALONE_RESO]),
                   kern.SIG_TAU: np.array([TAU_RESO]),
                   kern.SIG_JET: np.array([model.jet_stochastic ** 2, model.jet_constant ** 2,
                                           model.pileup_forward ** 2])}
        sinh = np.sinh(FORWARD_ETA)
        params = tuple(by_kind[k] for k in range(4)) + (sinh * (1 - 1e-9), sinh * (1 + 1e-9))
        _KERNEL_PARAMS[model] = params
    return params
