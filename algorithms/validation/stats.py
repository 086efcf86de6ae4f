"""Statistics of the validation report on well-kept libraries: boost-histogram for binned
means, RMS and profiles, scipy.optimize for the sqrt(N) pileup fit, scipy.stats for the
Kolmogorov-Smirnov and chi2 tests (all in the `plot` extra)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["mean_and_error", "fraction_and_error", "binned_rms", "profile", "SqrtNFit", "fit_sqrt_n", "ks_uniform", "Flatness",
           "flatness", "Verdict", "significance_verdict", "VERDICT_ALPHA"]

#: a p-value distribution is called compatible with uniform when both tests give p > VERDICT_ALPHA
VERDICT_ALPHA = 0.01


def _libs():
    try:
        import boost_histogram as bh
        from scipy import optimize, stats
    except ModuleNotFoundError as exc:
        raise ModuleNotFoundError(f'metflow validate needs {exc.name}: pip install "metflow[plot]"',
                                  name=exc.name) from None
    return bh, optimize, stats


def mean_and_error(x: np.ndarray) -> tuple[float, float]:
    """Mean and its statistical error std/sqrt(n)."""
    x = np.asarray(x, np.float64)
    return float(x.mean()), float(x.std(ddof=1) / np.sqrt(len(x))) if len(x) > 1 else float("nan")


def fraction_and_error(mask: np.ndarray) -> tuple[float, float]:
    """Fraction of True and its binomial error sqrt(f(1-f)/n) (at least 1/n where f is 0 or 1)."""
    mask = np.asarray(mask, bool)
    n = len(mask)
    f = float(mask.mean()) if n else float("nan")
    return f, float(max(np.sqrt(f * (1 - f) / n), 1.0 / n)) if n else float("nan")


def _mean_hist(x: np.ndarray, sample: np.ndarray, edges: np.ndarray):
    """boost-histogram with Mean storage: per bin count, mean and sample variance of `sample`."""
    bh, _, _ = _libs()
    h = bh.Histogram(bh.axis.Variable(np.asarray(edges, np.float64), underflow=False, overflow=False),
                     storage=bh.storage.Mean())
    h.fill(x, sample=sample)
    view = h.view()
    return view["count"], view["value"], view["_sum_of_deltas_squared"]


def binned_rms(x: np.ndarray, values: np.ndarray, edges: np.ndarray, min_entries: int = 20):
    """Per bin of x: (mean x, RMS of values, its error RMS/sqrt(2n), entries n); bins with fewer
    than min_entries are dropped. `values` may be 2-D (n, k): the k components are pooled."""
    x = np.asarray(x, np.float64)
    values = np.asarray(values, np.float64)
    if values.ndim == 1:
        values = values[:, None]
    k = values.shape[1]
    count, mean_sq, _ = _mean_hist(np.repeat(x, k), values.ravel() ** 2, edges)
    _, mean_x, _ = _mean_hist(x, x, edges)
    ok = count >= max(min_entries, 1)
    rms = np.sqrt(mean_sq[ok])
    n = count[ok]
    return mean_x[ok], rms, rms / np.sqrt(2.0 * n), n.astype(np.int64)


def profile(x: np.ndarray, y: np.ndarray, edges: np.ndarray, min_entries: int = 20):
    """Per bin of x: (mean x, mean y, error of the mean, standard deviation of y, entries)."""
    x = np.asarray(x, np.float64)
    y = np.asarray(y, np.float64)
    count, mean_y, ssq = _mean_hist(x, y, edges)
    _, mean_x, _ = _mean_hist(x, x, edges)
    ok = count >= max(min_entries, 2)
    n = count[ok]
    std = np.sqrt(ssq[ok] / (n - 1))
    return mean_x[ok], mean_y[ok], std / np.sqrt(n), std, n.astype(np.int64)


@dataclass(frozen=True)
class SqrtNFit:
    """sigma(N) = sqrt(sigma0^2 + k^2 N): stochastic pileup noise adds k^2 per vertex in variance."""

    sigma0: float
    k: float
    k_err: float
    chi2: float
    ndf: int
    sigma0_err: float = float("nan")

    def __call__(self, n: np.ndarray) -> np.ndarray:
        return np.sqrt(np.maximum(self.sigma0 ** 2 + self.k ** 2 * np.asarray(n, np.float64), 0.0))

    @property
    def variance_slope(self) -> float:
        """k^2: the variance added per pileup vertex."""
        return self.k ** 2

    @property
    def p_value(self) -> float:
        """chi2 probability of the fit (scipy.stats.chi2.sf)."""
        _, _, stats = _libs()
        return float(stats.chi2.sf(self.chi2, self.ndf)) if self.ndf > 0 else float("nan")


def fit_sqrt_n(n: np.ndarray, sigma: np.ndarray, sigma_err: np.ndarray) -> SqrtNFit:
    """Least-squares fit (scipy.optimize.curve_fit, absolute errors) of sigma(N) =
    sqrt(sigma0^2 + k^2 N) to the points (the primer's sqrt(N_PU) law); parameter errors are
    scaled by sqrt(chi2/ndf) when it exceeds 1."""
    _, optimize, _ = _libs()
    n = np.asarray(n, np.float64)
    sigma = np.asarray(sigma, np.float64)
    err = np.maximum(np.asarray(sigma_err, np.float64), 1e-12)
    if len(n) < 2:
        raise ValueError(f"the sqrt(N) fit needs at least 2 points, got {len(n)}")

    def model(x, s0, k):
        return np.sqrt(s0 * s0 + k * k * x)

    slope = max((sigma[-1] ** 2 - sigma[0] ** 2) / max(n[-1] - n[0], 1e-9), 1e-6)
    start = (float(np.sqrt(max(sigma[0] ** 2 - slope * n[0], 1e-6))), float(np.sqrt(slope)))
    (s0, k), cov = optimize.curve_fit(model, n, sigma, p0=start, sigma=err, absolute_sigma=True,
                                      bounds=([0.0, 0.0], [np.inf, np.inf]))
    chi2 = float(np.sum(((sigma - model(n, s0, k)) / err) ** 2))
    ndf = len(n) - 2
    # parameter errors scaled by sqrt(chi2/ndf) where that exceeds 1 (PDG): the points scatter
    # more than their statistical errors when sigma^2 is not exactly linear in N
    scale = float(np.sqrt(max(chi2 / ndf, 1.0))) if ndf > 0 else 1.0
    errs = np.sqrt(np.maximum(np.diag(cov), 0.0)) * scale
    return SqrtNFit(float(s0), float(k), float(errs[1]), chi2, ndf, float(errs[0]))


def ks_uniform(u: np.ndarray) -> tuple[float, float]:
    """(D, p-value) of the one-sample KS test of u against uniform on [0, 1] (scipy.stats.kstest)."""
    _, _, stats = _libs()
    u = np.asarray(u, np.float64)
    if len(u) == 0:
        raise ValueError("KS test needs at least one value")
    res = stats.kstest(u, "uniform")
    return float(res.statistic), float(res.pvalue)


@dataclass(frozen=True)
class Flatness:
    """Binned chi2 test of values in [0, 1] against a flat distribution."""

    counts: np.ndarray
    expected: float
    chi2: float
    ndf: int
    p_value: float

    @property
    def pulls(self) -> np.ndarray:
        """(count - expected)/sqrt(expected) per bin."""
        return (self.counts - self.expected) / np.sqrt(self.expected)

    @property
    def ratio(self) -> np.ndarray:
        return self.counts / self.expected


def flatness(u: np.ndarray, bins: int = 20) -> Flatness:
    """chi2 test (scipy.stats.chisquare, ndf = bins - 1) of u against uniform on [0, 1], bins
    filled with boost-histogram (u = 1 goes into the last bin)."""
    bh, _, stats = _libs()
    u = np.asarray(u, np.float64)
    if len(u) == 0:
        raise ValueError("flatness test needs at least one value")
    h = bh.Histogram(bh.axis.Regular(bins, 0.0, 1.0))
    h.fill(np.minimum(u, np.nextafter(1.0, 0.0)))
    counts = h.values()
    res = stats.chisquare(counts)
    return Flatness(counts, len(u) / bins, float(res.statistic), bins - 1, float(res.pvalue))


@dataclass(frozen=True)
class Verdict:
    """Calibration verdict on the whole sample: KS and binned chi2, both with the criterion p > alpha."""

    n: int
    ks_d: float
    ks_p: float
    flat: Flatness
    alpha: float = VERDICT_ALPHA

    @property
    def compatible(self) -> bool:
        return self.ks_p > self.alpha and self.flat.p_value > self.alpha

    @property
    def text(self) -> str:
        word = "compatible" if self.compatible else "NOT compatible"
        return (f"{word} with uniform (criterion: KS p and binned chi2 p both > {self.alpha:g}; "
                f"N = {self.n}: KS D = {self.ks_d:.4f}, p = {self.ks_p:.3g}; chi2/ndf = "
                f"{self.flat.chi2:.1f}/{self.flat.ndf}, p = {self.flat.p_value:.3g})")


def significance_verdict(s: np.ndarray, bins: int = 20, alpha: float = VERDICT_ALPHA) -> Verdict:
    """Verdict on the chi2(2) p-values exp(-S/2) of a whole sample without real MET."""
    u = np.exp(-np.asarray(s, np.float64) / 2)
    d, p = ks_uniform(u)
    return Verdict(len(u), d, p, flatness(u, bins), alpha)
