"""Statistics of the validation report on well-kept libraries: boost-histogram for binned
means, RMS and profiles, scipy.optimize for the sqrt(N) pileup fit, scipy.stats for the
Kolmogorov-Smirnov and chi2 tests (all in the `plot` extra)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["mean_and_error", "fraction_and_error", "binned_rms", "profile", "profile_with_errors", "ratio_and_error",
           "rms_and_error", "correlation_and_error", "SqrtNFit", "fit_sqrt_n", "sqrt_n_fit_jackknife", "ks_uniform",
           "Flatness", "flatness", "ecdf_design_effect", "Verdict", "significance_verdict", "VERDICT_ALPHA"]

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


def mean_and_error(x: np.ndarray, groups: np.ndarray | None = None) -> tuple[float, float]:
    """Mean and its statistical error std/sqrt(n); with `groups` (per event), the larger of that
    and the batch-means error from the spread between groups."""
    x = np.asarray(x, np.float64)
    err = float(x.std(ddof=1) / np.sqrt(len(x))) if len(x) > 1 else float("nan")
    if groups is not None and len(x) > 1:
        batch = _batch_variance(x, groups)
        if np.isfinite(batch):
            err = max(err, float(np.sqrt(batch)))
    return float(x.mean()), err


def _batch_variance(values: np.ndarray, groups: np.ndarray, weights: np.ndarray | None = None) -> float:
    """Variance of the ratio sum(values)/sum(weights) from the spread between groups (batch
    means): events of a group (a generator chunk sharing one pileup library) may be correlated,
    whole groups are independent. nan with fewer than 2 groups."""
    ids, g = np.unique(np.asarray(groups), return_inverse=True)
    if len(ids) < 2:
        return float("nan")
    w = np.ones(len(values)) if weights is None else np.asarray(weights, np.float64)
    s = np.bincount(g, weights=np.asarray(values, np.float64), minlength=len(ids))
    n = np.bincount(g, weights=w, minlength=len(ids))
    ratio = s.sum() / n.sum()
    return float(len(ids) / (len(ids) - 1) * np.sum((s - ratio * n) ** 2) / n.sum() ** 2)


def fraction_and_error(mask: np.ndarray, groups: np.ndarray | None = None) -> tuple[float, float]:
    """Fraction of True and its binomial error sqrt(f(1-f)/n) (at least 1/n where f is 0 or 1).
    With `groups` (per event, e.g. the generator chunk), the error is the larger of that and
    the spread between the groups (batch means), so correlations inside a group count."""
    mask = np.asarray(mask, bool)
    n = len(mask)
    f = float(mask.mean()) if n else float("nan")
    err = float(max(np.sqrt(f * (1 - f) / n), 1.0 / n)) if n else float("nan")
    if groups is not None and n:
        batch = _batch_variance(mask.astype(np.float64), groups)
        if np.isfinite(batch):
            err = max(err, float(np.sqrt(batch)))
    return f, err


def _mean_hist(x: np.ndarray, sample: np.ndarray, edges: np.ndarray):
    """boost-histogram with Mean storage: per bin count, mean and sample variance of `sample`."""
    bh, _, _ = _libs()
    h = bh.Histogram(bh.axis.Variable(np.asarray(edges, np.float64), underflow=False, overflow=False),
                     storage=bh.storage.Mean())
    h.fill(x, sample=sample)
    view = h.view()
    return view["count"], view["value"], view["_sum_of_deltas_squared"]


def binned_rms(x: np.ndarray, values: np.ndarray, edges: np.ndarray, min_entries: int = 20,
               groups: np.ndarray | None = None):
    """Per bin of x: (mean x, RMS of values, its error, entries n); bins with fewer than
    min_entries are dropped. `values` may be 2-D (n, k): the k components are pooled. The
    error is RMS/sqrt(2n) (Gaussian), or with `groups` (per event) the larger of that and the
    batch-means error from the spread between groups."""
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
    err = rms / np.sqrt(2.0 * n)
    if groups is not None:
        which = np.digitize(x, edges) - 1
        sq = np.sum(values ** 2, axis=1)
        for j, b in enumerate(np.flatnonzero(ok)):
            inside = which == b
            var = _batch_variance(sq[inside], np.asarray(groups)[inside], np.full(inside.sum(), float(k)))
            if np.isfinite(var) and rms[j] > 0:
                err[j] = max(err[j], np.sqrt(var) / (2.0 * rms[j]))      # d(RMS) = d(mean square) / 2 RMS
    return mean_x[ok], rms, err, n.astype(np.int64)


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
    """sigma(N) = sqrt(sigma0^2 + k^2 N): stochastic pileup noise adds k^2 per vertex in variance.
    The fit parameter is the variance slope k^2 (free in sign, so a slope near 0 keeps a
    symmetric error instead of sitting on the bound k = 0); k = sqrt(k^2) is derived."""

    sigma0: float
    k: float
    k_err: float
    chi2: float
    ndf: int
    sigma0_err: float = float("nan")
    variance_slope: float = float("nan")
    variance_slope_err: float = float("nan")

    def __call__(self, n: np.ndarray) -> np.ndarray:
        return np.sqrt(np.maximum(self.sigma0 ** 2 + self.variance_slope * np.asarray(n, np.float64), 0.0))

    @property
    def k_determined(self) -> bool:
        """k is quoted only where k^2 is more than 2 sigma above 0 (else its error is not Gaussian)."""
        return self.variance_slope > 2.0 * self.variance_slope_err

    @property
    def k_text(self) -> str:
        """k with its error, or the variance slope with its error when k is not determined."""
        if self.k_determined:
            return f"{self.k:.3f} ± {self.k_err:.3f}"
        return f"not determined (k^2 = {self.variance_slope:.3f} ± {self.variance_slope_err:.3f})"

    @property
    def p_value(self) -> float:
        """chi2 probability of the fit (scipy.stats.chi2.sf)."""
        _, _, stats = _libs()
        return float(stats.chi2.sf(self.chi2, self.ndf)) if self.ndf > 0 else float("nan")

    def with_errors(self, sigma0_err: float, variance_slope_err: float) -> "SqrtNFit":
        """The same fit with (larger) parameter errors, e.g. from the spread between chunks."""
        s_err = max(self.variance_slope_err, variance_slope_err)
        return SqrtNFit(self.sigma0, self.k, _k_error(self.variance_slope, s_err), self.chi2, self.ndf,
                        max(self.sigma0_err, sigma0_err), self.variance_slope, s_err)


def _k_error(slope: float, slope_err: float) -> float:
    return slope_err / (2.0 * np.sqrt(slope)) if slope > 0 else float("nan")


def _sqrt_n_model(x, s0, slope):
    return np.sqrt(np.maximum(s0 * s0 + slope * x, 1e-12))


def _fit_sqrt_n_parameters(n: np.ndarray, sigma: np.ndarray, err: np.ndarray):
    """(sigma0, k^2), covariance and chi2 of the least-squares fit; sigma0 >= 0, k^2 free."""
    _, optimize, _ = _libs()
    slope = (sigma[-1] ** 2 - sigma[0] ** 2) / max(n[-1] - n[0], 1e-9)
    start = (float(np.sqrt(max(sigma[0] ** 2 - slope * n[0], 1e-6))), float(slope))
    par, cov = optimize.curve_fit(_sqrt_n_model, n, sigma, p0=start, sigma=err, absolute_sigma=True,
                                  bounds=([0.0, -np.inf], [np.inf, np.inf]))
    chi2 = float(np.sum(((sigma - _sqrt_n_model(n, *par)) / err) ** 2))
    return par, cov, chi2


def fit_sqrt_n(n: np.ndarray, sigma: np.ndarray, sigma_err: np.ndarray) -> SqrtNFit:
    """Least-squares fit (scipy.optimize.curve_fit, absolute errors) of sigma(N) =
    sqrt(sigma0^2 + k^2 N) to the points (the primer's sqrt(N_PU) law), k^2 free in sign;
    parameter errors are scaled by sqrt(chi2/ndf) when it exceeds 1."""
    n = np.asarray(n, np.float64)
    sigma = np.asarray(sigma, np.float64)
    err = np.maximum(np.asarray(sigma_err, np.float64), 1e-12)
    if len(n) < 2:
        raise ValueError(f"the sqrt(N) fit needs at least 2 points, got {len(n)}")
    (s0, slope), cov, chi2 = _fit_sqrt_n_parameters(n, sigma, err)
    ndf = len(n) - 2
    # parameter errors scaled by sqrt(chi2/ndf) where that exceeds 1 (PDG): the points scatter
    # more than their statistical errors when sigma^2 is not exactly linear in N
    scale = float(np.sqrt(max(chi2 / ndf, 1.0))) if ndf > 0 else 1.0
    errs = np.sqrt(np.maximum(np.diag(cov), 0.0)) * scale
    k = float(np.sqrt(max(slope, 0.0)))
    return SqrtNFit(float(s0), k, _k_error(slope, errs[1]), chi2, ndf, float(errs[0]), float(slope), float(errs[1]))


def _per_group_bins(x, values, edges, groups):
    """Per (group, bin) sums: entries (components counted), sum of squares, events, sum of x."""
    values = np.asarray(values, np.float64)
    values = values[:, None] if values.ndim == 1 else values
    nb = len(edges) - 1
    which = np.digitize(x, edges) - 1
    ok = (which >= 0) & (which < nb)
    ids, g = np.unique(np.asarray(groups)[ok], return_inverse=True)
    cell = g * nb + which[ok]
    size = len(ids) * nb

    def total(w):
        return np.bincount(cell, weights=w, minlength=size).reshape(len(ids), nb)
    return (total(np.full(ok.sum(), float(values.shape[1]))), total(np.sum(values[ok] ** 2, axis=1)),
            total(np.ones(ok.sum())), total(np.asarray(x, np.float64)[ok]))


def sqrt_n_fit_jackknife(x: np.ndarray, values: np.ndarray, edges: np.ndarray, groups: np.ndarray,
                         min_entries: int = 20) -> tuple[float, float, int]:
    """Delete-one-group jackknife errors of (sigma0, k^2) of the sqrt(N) fit to the binned RMS.
    Events of a generator chunk share a pileup library, so a chunk moves every pileup bin it
    fills together; per-point errors (even with the spread between chunks) miss that
    correlation between the points, the jackknife over chunks does not. Returns (sigma0 error,
    k^2 error, groups); nan errors with fewer than 3 groups."""
    x = np.asarray(x, np.float64)
    entries, sq, events, sum_x = _per_group_bins(x, values, edges, groups)
    n_groups = entries.shape[0]
    if n_groups < 3:
        return float("nan"), float("nan"), n_groups
    pars = []
    for j in range(n_groups):
        e = entries.sum(0) - entries[j]
        ok = (events.sum(0) - events[j]) >= max(min_entries, 1)
        if ok.sum() < 3:
            continue
        rms = np.sqrt((sq.sum(0) - sq[j])[ok] / e[ok])
        centres = (sum_x.sum(0) - sum_x[j])[ok] / (events.sum(0) - events[j])[ok]
        par, _, _ = _fit_sqrt_n_parameters(centres, rms, np.maximum(rms / np.sqrt(2.0 * e[ok]), 1e-12))
        pars.append(par)
    pars = np.array(pars)
    if len(pars) < 3:
        return float("nan"), float("nan"), n_groups
    spread = np.sqrt((len(pars) - 1) / len(pars) * np.sum((pars - pars.mean(0)) ** 2, axis=0))
    return float(spread[0]), float(spread[1]), n_groups


def profile_with_errors(x: np.ndarray, y: np.ndarray, edges: np.ndarray, groups: np.ndarray | None = None,
                        min_entries: int = 20) -> dict[str, np.ndarray]:
    """Per bin of x: mean x, mean y and its error, standard deviation of y and its error,
    entries. Errors are Gaussian (std/sqrt(n), std/sqrt(2(n-1))), or with `groups` (per event)
    the larger of that and the batch-means error from the spread between groups."""
    x = np.asarray(x, np.float64)
    y = np.asarray(y, np.float64)
    centres, mean, mean_err, std, n = profile(x, y, edges, min_entries)
    std_err = std / np.sqrt(2.0 * np.maximum(n - 1, 1))
    if groups is not None:
        which = np.digitize(x, edges) - 1
        kept = np.flatnonzero(np.bincount(which[(which >= 0) & (which < len(edges) - 1)],
                                          minlength=len(edges) - 1) >= max(min_entries, 2))
        groups = np.asarray(groups)
        for j, b in enumerate(kept):
            inside = which == b
            var_mean = _batch_variance(y[inside], groups[inside])
            var_sq = _batch_variance((y[inside] - mean[j]) ** 2, groups[inside])
            if np.isfinite(var_mean):
                mean_err[j] = max(mean_err[j], np.sqrt(var_mean))
            if np.isfinite(var_sq) and std[j] > 0:
                std_err[j] = max(std_err[j], np.sqrt(var_sq) / (2.0 * std[j]))
    return {"x": centres, "mean": mean, "mean_err": mean_err, "std": std, "std_err": std_err, "entries": n}


def ratio_and_error(num: np.ndarray, den: np.ndarray, groups: np.ndarray | None = None) -> tuple[float, float]:
    """sum(num)/sum(den) and its error: delta method on independent events, or with `groups`
    the larger of that and the batch-means error from the spread between groups."""
    num = np.asarray(num, np.float64)
    den = np.asarray(den, np.float64)
    r = float(num.sum() / den.sum())
    err = float(np.sqrt(np.sum((num - r * den) ** 2)) / abs(den.sum()))
    if groups is not None:
        batch = _batch_variance(num, groups, den)
        if np.isfinite(batch):
            err = max(err, float(np.sqrt(batch)))
    return r, err


def rms_and_error(x: np.ndarray, groups: np.ndarray | None = None) -> tuple[float, float]:
    """sqrt(<x^2>) and its error (from the error of <x^2>, with the spread between groups)."""
    mean_sq, err_sq = mean_and_error(np.asarray(x, np.float64) ** 2, groups)
    rms = float(np.sqrt(mean_sq))
    return rms, (err_sq / (2.0 * rms) if rms > 0 else float("nan"))


def correlation_and_error(x: np.ndarray, y: np.ndarray, groups: np.ndarray | None = None) -> tuple[float, float]:
    """Pearson correlation and its error: (1 - r^2)/sqrt(n - 3) (Fisher), or with `groups` the
    larger of that and the delete-one-group jackknife error."""
    x = np.asarray(x, np.float64)
    y = np.asarray(y, np.float64)
    n = len(x)
    if n < 4:
        return float("nan"), float("nan")
    r = float(np.corrcoef(x, y)[0, 1])
    err = (1.0 - r * r) / np.sqrt(n - 3)
    if groups is not None:
        ids, g = np.unique(np.asarray(groups), return_inverse=True)
        if len(ids) >= 3:
            sums = np.stack([np.bincount(g, weights=w, minlength=len(ids))
                             for w in (np.ones(n), x, y, x * x, y * y, x * y)])
            rest = sums.sum(1, keepdims=True) - sums
            c, sx, sy, sxx, syy, sxy = rest
            cov = sxy / c - sx * sy / c ** 2
            jack = cov / np.sqrt((sxx / c - (sx / c) ** 2) * (syy / c - (sy / c) ** 2))
            err = max(err, float(np.sqrt((len(ids) - 1) / len(ids) * np.sum((jack - jack.mean()) ** 2))))
    return r, float(err)


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
    """Binned chi2 test of values in [0, 1] against a flat distribution. With a reference sample
    of `reference_n` events behind the expectation (the chi2(2) map), each bin's variance is
    (1 + n/reference_n) times the multinomial one: chi2 and pulls are divided by that."""

    counts: np.ndarray
    expected: float
    chi2: float
    ndf: int
    p_value: float
    variance_scale: float = 1.0

    @property
    def pulls(self) -> np.ndarray:
        """(count - expected)/error per bin, error = sqrt(expected * variance_scale)."""
        return (self.counts - self.expected) / np.sqrt(self.expected * self.variance_scale)

    @property
    def ratio(self) -> np.ndarray:
        return self.counts / self.expected

    @property
    def ratio_err(self) -> np.ndarray:
        """Error of ratio per bin (the sample's and the reference's Poisson errors)."""
        return np.sqrt(self.variance_scale / self.expected) * np.ones_like(self.ratio)


def _variance_scale(n: int, reference_n: int | None) -> float:
    return 1.0 + n / reference_n if reference_n else 1.0


def flatness(u: np.ndarray, bins: int = 20, reference_n: int | None = None) -> Flatness:
    """chi2 test (scipy.stats.chisquare, ndf = bins - 1) of u against uniform on [0, 1], bins
    filled with boost-histogram (u = 1 goes into the last bin). `reference_n`: size of the
    sample that defines "uniform" (see significance_verdict); the Pearson chi2 divided by
    1 + n/reference_n is then chi2(bins - 1) distributed (two-sample homogeneity test)."""
    bh, _, stats = _libs()
    u = np.asarray(u, np.float64)
    if len(u) == 0:
        raise ValueError("flatness test needs at least one value")
    h = bh.Histogram(bh.axis.Regular(bins, 0.0, 1.0))
    h.fill(np.minimum(u, np.nextafter(1.0, 0.0)))
    counts = h.values()
    scale = _variance_scale(len(u), reference_n)
    chi2 = float(stats.chisquare(counts).statistic) / scale
    return Flatness(counts, len(u) / bins, chi2, bins - 1, float(stats.chi2.sf(chi2, bins - 1)), scale)


def ecdf_design_effect(u: np.ndarray, groups: np.ndarray, strata: np.ndarray | None = None,
                       points: tuple[float, ...] = (0.25, 0.5, 0.75), min_ndf: int = 10) -> float:
    """Variance of the fraction of u below t between groups of events (generator chunks that
    share a pileup library), relative to the binomial variance, averaged over `points`: the
    factor by which correlated events inflate the variance of the empirical CDF (the design
    effect, >= 1). Expected fractions are taken per stratum (sample). 1 with fewer than
    `min_ndf` degrees of freedom."""
    u = np.asarray(u, np.float64)
    ids, group = np.unique(np.asarray(groups), return_inverse=True)
    stratum = np.zeros(len(ids), np.int64) if strata is None else \
        np.unique(np.asarray(strata)[np.unique(group, return_index=True)[1]], return_inverse=True)[1]
    n = np.bincount(group).astype(np.float64)
    ratios = []
    for t in points:
        k = np.bincount(group, weights=(u < t).astype(np.float64), minlength=len(ids))
        chi2, ndf = 0.0, 0
        for s in np.unique(stratum):
            sel = stratum == s
            f = k[sel].sum() / n[sel].sum()
            if sel.sum() < 2 or f <= 0.0 or f >= 1.0:
                continue
            chi2 += float(np.sum((k[sel] - n[sel] * f) ** 2 / (n[sel] * f * (1 - f))))
            ndf += int(sel.sum()) - 1
        if ndf >= min_ndf:
            ratios.append(chi2 / ndf)
    return max(float(np.mean(ratios)), 1.0) if ratios else 1.0


@dataclass(frozen=True)
class Verdict:
    """Calibration verdict on the whole sample: KS and binned chi2, both with the criterion p > alpha."""

    n: int
    ks_d: float
    ks_p: float
    flat: Flatness
    alpha: float = VERDICT_ALPHA
    reference_n: int | None = None
    design_effect: float = 1.0

    @property
    def n_eff(self) -> float:
        """Effective events of the KS test: n m / (n + m) against a reference of m events,
        divided by the design effect of correlated events."""
        n = self.n * self.reference_n / (self.n + self.reference_n) if self.reference_n else float(self.n)
        return n / self.design_effect

    @property
    def compatible(self) -> bool:
        return self.ks_p > self.alpha and self.flat.p_value > self.alpha

    @property
    def text(self) -> str:
        word = "compatible" if self.compatible else "NOT compatible"
        against = (f"against the calibration sample of {self.reference_n} events" if self.reference_n
                   else "against exact uniform") + f", KS with N_eff = {self.n_eff:.0f}"
        if self.design_effect > 1.0:
            against += f" (design effect {self.design_effect:.2f})"
        return (f"{word} with uniform (criterion: KS p and binned chi2 p both > {self.alpha:g}, {against}; "
                f"N = {self.n}: KS D = {self.ks_d:.4f}, p = {self.ks_p:.3g}; chi2/ndf = "
                f"{self.flat.chi2:.1f}/{self.flat.ndf}, p = {self.flat.p_value:.3g})")


def significance_verdict(s: np.ndarray, bins: int = 20, alpha: float = VERDICT_ALPHA,
                         reference_n: int | None = None, design_effect: float = 1.0) -> Verdict:
    """Verdict on the chi2(2) p-values exp(-S/2) of a whole sample without real MET.

    `reference_n`: when S went through a chi2(2) map measured on a reference sample of that many
    events, p = 1 - F_ref(S_raw) with F_ref that sample's empirical distribution, so testing p
    against uniform is a two-sample test of the sample against the reference: KS with
    N_eff = n m / (n + m) (scipy.stats.kstwo at N_eff), binned chi2 divided by 1 + n/m.
    None: S is compared with the exact chi2(2) (scipy.stats.kstest). `design_effect`: the
    variance inflation of the empirical CDF by correlated events (ecdf_design_effect), dividing
    the KS N_eff; the binned chi2 is not scaled by it (in bins of 0.05 of p the chunk-to-chunk
    variance is within a few per cent of binomial)."""
    _, _, stats = _libs()
    u = np.exp(-np.asarray(s, np.float64) / 2)
    d, p = ks_uniform(u)
    if design_effect < 1.0:
        raise ValueError(f"design_effect must be >= 1, got {design_effect}")
    verdict = Verdict(len(u), d, p, flatness(u, bins, reference_n), alpha, reference_n, design_effect)
    if reference_n or design_effect > 1.0:
        p = float(stats.kstwo.sf(d, max(int(round(verdict.n_eff)), 1)))
        verdict = Verdict(len(u), d, p, verdict.flat, alpha, reference_n, design_effect)
    return verdict
