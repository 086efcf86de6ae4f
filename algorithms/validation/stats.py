"""Small statistics for the validation report (numpy only): binned RMS, profiles, the sqrt(N)
pileup fit, the Kolmogorov-Smirnov test against a uniform distribution."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["binned_rms", "profile", "SqrtNFit", "fit_sqrt_n", "ks_uniform", "kolmogorov_sf"]


def binned_rms(x: np.ndarray, values: np.ndarray, edges: np.ndarray, min_entries: int = 20):
    """Per bin of x: (centre = mean x, RMS of values, its error, entries); bins with fewer
    than min_entries are dropped. `values` may be 2-D (n, k): all k components are pooled."""
    x = np.asarray(x, np.float64)
    values = np.asarray(values, np.float64)
    if values.ndim == 1:
        values = values[:, None]
    centres, rms, err, counts = [], [], [], []
    index = np.digitize(x, edges) - 1
    for b in range(len(edges) - 1):
        sel = index == b
        n = int(sel.sum()) * values.shape[1]
        if n < min_entries:
            continue
        v = values[sel].ravel()
        r = float(np.sqrt(np.mean(v * v)))
        centres.append(float(x[sel].mean()))
        rms.append(r)
        err.append(r / np.sqrt(2.0 * n))
        counts.append(n)
    return np.array(centres), np.array(rms), np.array(err), np.array(counts)


def profile(x: np.ndarray, y: np.ndarray, edges: np.ndarray, min_entries: int = 20):
    """Per bin of x: (mean x, mean y, error of the mean, RMS of y, entries)."""
    x = np.asarray(x, np.float64)
    y = np.asarray(y, np.float64)
    index = np.digitize(x, edges) - 1
    rows = []
    for b in range(len(edges) - 1):
        sel = index == b
        n = int(sel.sum())
        if n < min_entries:
            continue
        yy = y[sel]
        rows.append((x[sel].mean(), yy.mean(), yy.std(ddof=1) / np.sqrt(n), yy.std(ddof=1), n))
    if not rows:
        return tuple(np.zeros(0) for _ in range(5))
    return tuple(np.array(c) for c in zip(*rows))


@dataclass(frozen=True)
class SqrtNFit:
    """sigma(N) = sqrt(sigma0^2 + k^2 N): stochastic pileup noise adds k^2 per vertex in variance."""

    sigma0: float
    k: float
    k_err: float
    chi2: float
    ndf: int

    def __call__(self, n: np.ndarray) -> np.ndarray:
        return np.sqrt(np.maximum(self.sigma0 ** 2 + self.k ** 2 * np.asarray(n, np.float64), 0.0))

    @property
    def variance_slope(self) -> float:
        """k^2: the variance added per pileup vertex."""
        return self.k ** 2


def fit_sqrt_n(n: np.ndarray, sigma: np.ndarray, sigma_err: np.ndarray) -> SqrtNFit:
    """Weighted linear least squares of sigma^2 = a + b N (the primer's sqrt(N_PU) law)."""
    n = np.asarray(n, np.float64)
    var = np.asarray(sigma, np.float64) ** 2
    var_err = 2.0 * np.asarray(sigma, np.float64) * np.asarray(sigma_err, np.float64)
    if len(n) < 2:
        raise ValueError(f"the sqrt(N) fit needs at least 2 points, got {len(n)}")
    w = 1.0 / np.maximum(var_err, 1e-12) ** 2
    design = np.stack([np.ones_like(n), n], axis=1)
    cov = np.linalg.inv(design.T @ (design * w[:, None]))
    a, b = cov @ (design.T @ (w * var))
    chi2 = float(np.sum(w * (var - a - b * n) ** 2))
    k = float(np.sqrt(max(b, 0.0)))
    k_err = float(np.sqrt(cov[1, 1]) / (2.0 * k)) if k > 0 else float("nan")
    return SqrtNFit(float(np.sqrt(max(a, 0.0))), k, k_err, chi2, len(n) - 2)


def kolmogorov_sf(d: float, n: int) -> float:
    """P(D_n >= d) for the one-sample KS statistic (Stephens' finite-n correction of the
    asymptotic Kolmogorov series; accurate to a few 1e-3 for n >= 20)."""
    if n <= 0:
        raise ValueError("KS test needs at least one value")
    t = (np.sqrt(n) + 0.12 + 0.11 / np.sqrt(n)) * d
    if t < 0.2:
        return 1.0
    k = np.arange(1, 101)
    p = 2.0 * np.sum((-1.0) ** (k - 1) * np.exp(-2.0 * (k * t) ** 2))
    return float(min(max(p, 0.0), 1.0))


def ks_uniform(u: np.ndarray) -> tuple[float, float]:
    """(D, p-value) of the one-sample KS test of values u against uniform on [0, 1]."""
    u = np.sort(np.asarray(u, np.float64))
    n = len(u)
    if n == 0:
        raise ValueError("KS test needs at least one value")
    i = np.arange(1, n + 1)
    d = float(max(np.max(i / n - u), np.max(u - (i - 1) / n)))
    return d, kolmogorov_sf(d, n)
