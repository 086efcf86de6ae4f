"""Numba kernels of METSignificance (private): the numpy code's arithmetic, operation for operation."""

from __future__ import annotations

import numpy as np

from metflow.edm.units import GeV
from metflow.framework.jit import kernel


# ---------------------------------------------------------------------------------------------
# significance (METSignificance): the numpy code's arithmetic, operation for operation

SIG_ELECTRON_PHOTON, SIG_MUON, SIG_TAU, SIG_JET = 0, 1, 2, 3
SIG_UNDECIDED = -1   # a jet |eta| within rounding of FORWARD_ETA: the caller uses numpy


@kernel(inline="always")
def _add_along_one(part, e, sigma2, px, py):
    pt = np.hypot(px, py)
    if pt > 0:
        cos = px / pt
        sin = py / pt
    else:
        cos = 1.0
        sin = 0.0
    part[0, e] += sigma2 * cos * cos
    part[1, e] += sigma2 * sin * sin
    part[2, e] += sigma2 * sin * cos


@kernel
def significance_term(kind, offsets, px, py, pz, energy, has_energy, weight, muon_type, par,
                      fwd_lo, fwd_hi, cov, hard):
    """Add one hard term's objects (weight > 0, scaled by it) to cov[3, n_events] (Vxx, Vyy,
    Vxy) and hard[2, n_events] (vector sum). par: (S^2, C^2, P_PU^2) of jets, (s^2, c^2) of
    e/gamma, (c^2, k, standalone type, standalone reso) of muons, (reso,) of taus. Jet |eta| >
    FORWARD_ETA is decided on |pz/pT| against fwd_lo/fwd_hi (bracket of sinh). Returns 0, or
    SIG_UNDECIDED with cov and hard untouched."""
    n_events = offsets.shape[0] - 1
    part = np.zeros((5, n_events))
    for e in range(n_events):
        for i in range(offsets[e], offsets[e + 1]):
            if not weight[i] > 0:
                continue
            w = np.float64(weight[i])
            opx = np.float64(px[i]) * w
            opy = np.float64(py[i]) * w
            pt = np.hypot(opx, opy)
            x = max(pt / GeV, 1e-3)
            if kind == SIG_JET:
                reso2 = par[0] / x + par[1]
                t = np.abs(np.float64(pz[i]) / pt) if pt > 0 else 0.0
                if t > fwd_hi:
                    reso2 = reso2 + par[2]
                elif not t < fwd_lo:
                    return SIG_UNDECIDED
                else:
                    reso2 = reso2 + 0.0
                reso = np.sqrt(reso2)
            elif kind == SIG_ELECTRON_PHOTON:
                en = max(np.float64(energy[i]) * w / GeV, 1e-3) if has_energy else x
                reso = np.sqrt(par[0] / en + par[1])
            elif kind == SIG_MUON:
                kx = par[1] * x
                reso = np.sqrt(par[0] + kx * kx)
                if muon_type.shape[0] > 0 and muon_type[i] == par[2]:
                    reso = par[3]
            else:
                reso = par[0]
            r = reso * pt
            _add_along_one(part, e, r * r, opx, opy)
            part[3, e] += opx
            part[4, e] += opy
    for e in range(n_events):
        for c in range(3):
            cov[c, e] += part[c, e]
        hard[0, e] += part[3, e]
        hard[1, e] += part[4, e]
    return 0


@kernel
def significance_soft(cov, hard, soft_sumet, has_soft, soft_b2, jet_offsets, jet_px, jet_py,
                      jet_pz, has_pz, jet_status, hard_status, has_jets, f_rej, fwd_lo, fwd_hi,
                      recoil_k, recoil_cap, recoil_bias, met_x, met_y):
    """Soft-term variance, forward soft jets and the recoil term into cov (in place); returns
    (lx, ly) = MET minus its expected bias, float64[n_events] each, or None when a soft jet's
    |eta| is within rounding of FORWARD_ETA (cov is then partly updated: discard it)."""
    n_events = cov.shape[1]
    if has_soft:
        for e in range(n_events):
            var = soft_b2 * max(soft_sumet[e], 0.0) * GeV
            cov[0, e] += var
            cov[1, e] += var
    if has_jets:
        part = np.zeros((3, n_events))
        for e in range(n_events):
            for j in range(jet_offsets[e], jet_offsets[e + 1]):
                if jet_status[j] == hard_status or not has_pz:
                    continue
                px = np.float64(jet_px[j])
                py = np.float64(jet_py[j])
                pt = np.hypot(px, py)
                t = np.abs(np.float64(jet_pz[j]) / pt) if pt > 0 else 0.0
                if not t > fwd_hi:
                    if t < fwd_lo:
                        continue
                    return None
                r = f_rej * pt
                _add_along_one(part, e, r * r, px, py)
        for e in range(n_events):
            for c in range(3):
                cov[c, e] += part[c, e]
    lx = np.empty(n_events)
    ly = np.empty(n_events)
    one = np.zeros((3, 1))
    for e in range(n_events):
        hx = hard[0, e]
        hy = hard[1, e]
        pthard = np.hypot(hx, hy)
        u = min(pthard, recoil_cap)
        ku = recoil_k * u
        one[:, 0] = 0.0
        _add_along_one(one, 0, ku * ku, hx, hy)
        for c in range(3):
            cov[c, e] += one[c, 0]
        scale = recoil_bias * u / pthard if pthard > 0 else 0.0
        lx[e] = met_x[e] - (-scale) * hx
        ly[e] = met_y[e] - (-scale) * hy
    return lx, ly


@kernel
def significance_record(met_x, met_y, lx, ly, c, s, cov, rho_max):
    """float32[6, n_events]: S, sqrt(S), MET, VarL, VarT, rho in the frame of (lx, ly) whose
    direction has cosine c and sine s (numpy's cos/sin of arctan2(ly, lx))."""
    n_events = lx.shape[0]
    out = np.empty((6, n_events), np.float32)
    for e in range(n_events):
        vxx = cov[0, e]
        vyy = cov[1, e]
        vxy = cov[2, e]
        ce = c[e]
        se = s[e]
        var_l = ce * ce * vxx + 2 * se * ce * vxy + se * se * vyy
        var_t = se * se * vxx - 2 * se * ce * vxy + ce * ce * vyy
        cv_lt = (ce * ce - se * se) * vxy + se * ce * (vyy - vxx)
        prod = var_l * var_t
        rho = cv_lt / np.sqrt(max(prod, 0.0)) if prod > 0 else 0.0
        if np.abs(rho) >= rho_max:
            denom = var_l
        else:
            denom = var_l * (1 - rho * rho)
        sig = (lx[e] * lx[e] + ly[e] * ly[e]) / denom if denom > 0 else 0.0
        sqrt_s = np.sqrt(max(sig, 0.0)) if sig > 0 else -1.0
        out[0, e] = sig
        out[1, e] = sqrt_s
        out[2, e] = np.hypot(met_x[e], met_y[e])
        out[3, e] = var_l
        out[4, e] = var_t
        out[5, e] = rho
    return out
