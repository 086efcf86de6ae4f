"""Event cleaning criteria, the charged fraction kernel, and the report's statistics helpers."""

import math

import numpy as np
import pytest

from metflow.algorithms.generation.synthetic import SyntheticSource
from metflow.algorithms.validation import stats
from metflow.algorithms.validation.cleaning import (BAD_DEAD_CALO, BAD_NOISE, BAD_TRACK_CALO,
                                                    EventCleaningAlg, jet_charged_fraction,
                                                    jet_cleaning_flags)
from metflow.edm.met import MissingETContainer
from metflow.edm.units import GeV
from metflow.framework.errors import ConfigurationError

JETS = "AntiKt4EMPFlowJets"


def flags_of(pt, eta=0.0, emfrac=0.4, chf=0.5, dphi=2.0, met=10.0):
    return int(jet_cleaning_flags(np.array([pt * GeV]), np.array([eta]), np.array([dphi]), np.array([emfrac]),
                                  np.array([chf]), np.array([0.0]), np.array([met * GeV]))[0])


@pytest.mark.parametrize("kwargs, expected", [
    (dict(pt=60), 0),                                                  # an ordinary jet
    (dict(pt=60, emfrac=0.01, chf=0.0), BAD_NOISE),                    # noise: no EM, no tracks
    (dict(pt=60, eta=3.0, emfrac=0.01, chf=0.0), BAD_NOISE),           # forward: emfrac alone
    (dict(pt=15, emfrac=0.01, chf=0.0), 0),                            # below the jet threshold
    (dict(pt=40, emfrac=0.0, chf=0.97, dphi=0.1, met=50), BAD_DEAD_CALO),
    (dict(pt=40, emfrac=0.0, chf=0.97, dphi=2.5, met=50), 0),          # MET not along the jet
    (dict(pt=40, emfrac=0.0, chf=0.97, dphi=0.1, met=10), 0),          # MET small for the jet
    (dict(pt=30, chf=1.6, dphi=0.3), BAD_TRACK_CALO),
    (dict(pt=15, chf=1.6, dphi=0.3), BAD_TRACK_CALO),                  # charged pT 24 GeV: checked
    (dict(pt=30, chf=1.6, dphi=2.0), 0),
    (dict(pt=30, eta=2.6, chf=1.6, dphi=0.3), 0),                      # no tracks out there
])
def test_cleaning_criteria(kwargs, expected):
    assert flags_of(**kwargs) == expected


def test_charged_fraction_matches_a_python_loop_and_skips_lepton_tracks():
    block = SyntheticSource(seed=3, process="zmumu", mu=20, n_events=60).read(0, 60)
    jets, tracks, muons = block[JETS], block["InDetTracks"], block["Muons"]
    chf = jet_charged_fraction(jets, tracks, muons, block["Electrons"])
    lepton = set()
    for e in range(muons.n_events):
        for m in range(muons.offsets[e], muons.offsets[e + 1]):
            if muons["id_track"][m] >= 0:
                lepton.add(tracks.offsets[e] + muons["id_track"][m])
    electrons = block["Electrons"]
    for e in range(electrons.n_events):
        for k in range(electrons.offsets[e], electrons.offsets[e + 1]):
            lepton.update(tracks.offsets[e] + electrons["tracks"][k])
    tpt = np.hypot(tracks["px"].astype(float), tracks["py"])
    want = np.zeros(len(jets))
    for e in range(jets.n_events):
        for j in range(jets.offsets[e], jets.offsets[e + 1]):
            for t in tracks.offsets[e] + jets["ghost_tracks"][j]:
                if tracks["vertex"][t] == 0 and tracks["passes_quality"][t] and t not in lepton and tpt[t] > 500:
                    want[j] += tpt[t]
    np.testing.assert_allclose(chf, want / jets.pt(), rtol=1e-6)
    assert len(lepton) > 0


def test_cleaning_algorithm_refuses_a_met_without_the_term():
    block = SyntheticSource(seed=3, process="dijet", mu=0, n_events=4).read(0, 4)
    met = MissingETContainer(("FinalClus",), np.array([1], np.uint64), np.zeros((4, 1)), np.zeros((4, 1)),
                             np.zeros((4, 1)), key="MET_X")
    alg = EventCleaningAlg(name="Clean", met="MET_X")
    with pytest.raises(ConfigurationError, match=r"Clean.*'MET_X'.*'FinalTrk'"):
        alg.compute(block[JETS], block["InDetTracks"], met, [block["Muons"]], [block["Electrons"]])
    wrong = MissingETContainer(("FinalTrk",), np.array([1], np.uint64), np.zeros((3, 1)), np.zeros((3, 1)),
                               np.zeros((3, 1)), key="MET_X")
    with pytest.raises(ValueError, match="3 events but jets"):
        alg.compute(block[JETS], block["InDetTracks"], wrong, [], [])


# ---------------------------------------------------------------------------------------------
# statistics

def test_ks_uniform_accepts_uniform_and_rejects_a_skewed_sample():
    rng = np.random.default_rng(1)
    _, p = stats.ks_uniform(rng.uniform(size=3000))
    assert p > 0.01
    _, p_skewed = stats.ks_uniform(rng.uniform(size=3000) ** 1.3)
    assert p_skewed < 1e-4
    with pytest.raises(ValueError):
        stats.ks_uniform([])


def test_flatness_chi2_and_verdict_on_uniform_and_non_uniform_p_values():
    rng = np.random.default_rng(3)
    flat = stats.flatness(rng.uniform(size=20000), bins=20)
    assert flat.ndf == 19 and flat.counts.sum() == 20000 and flat.p_value > 1e-3
    assert stats.flatness(np.ones(10), bins=5).counts[-1] == 10      # p = 1 in the last bin
    chi2 = rng.chisquare(2, size=20000)
    assert stats.significance_verdict(chi2).compatible
    bad = stats.significance_verdict(chi2 * 1.1)                     # 10 % too large
    assert not bad.compatible and "NOT compatible" in bad.text and "chi2/ndf" in bad.text


def test_verdict_against_a_measured_map_is_a_two_sample_test():
    """S mapped onto chi2(2) with a map measured on m reference events: p = 1 - F_ref(S), so
    a fresh sample of n events is uniform only up to the reference's own fluctuations. With
    reference_n the false-rejection rate is the nominal one; the exact-uniform test rejects
    far too often when n is comparable with m."""
    from metflow.algorithms.met.significance import chi2_calibrate
    from metflow.algorithms.validation.significance_calibration import chi2_map

    rng = np.random.default_rng(7)
    n = m = 4000
    naive, two_sample, binned = [], [], []
    for _ in range(150):
        reference = rng.gamma(1.5, 2.0, size=m)          # any continuous raw S distribution
        knots, targets = chi2_map(reference, n_knots=400)
        s = chi2_calibrate(rng.gamma(1.5, 2.0, size=n), (tuple(knots), tuple(targets)))
        naive.append(stats.significance_verdict(s).ks_p)
        v = stats.significance_verdict(s, reference_n=m)
        two_sample.append(v.ks_p)
        binned.append(v.flat.p_value)
        assert v.n_eff == pytest.approx(n * m / (n + m)) and v.flat.variance_scale == pytest.approx(2.0)
        assert "N_eff = 2000" in v.text
    assert np.mean(np.array(naive) < 0.05) > 0.15
    assert 0.01 < np.mean(np.array(two_sample) < 0.05) < 0.11
    assert 0.01 < np.mean(np.array(binned) < 0.05) < 0.11


def test_design_effect_is_one_for_independent_events_and_grows_with_shared_shifts():
    rng = np.random.default_rng(11)
    groups = np.repeat(np.arange(200), 500)
    independent = rng.uniform(size=len(groups))
    assert stats.ecdf_design_effect(independent, groups) == pytest.approx(1.0, abs=0.2)
    shifted = np.clip(independent + np.repeat(rng.normal(0, 0.02, 200), 500), 0, 1)   # per-group shift
    # expected 1 + 0.02^2 * 500 / (t (1 - t)) averaged over t = 0.25, 0.5, 0.75: 1.98
    assert 1.5 < stats.ecdf_design_effect(shifted, groups) < 2.5
    assert stats.ecdf_design_effect(independent, np.zeros(len(groups))) == 1.0          # no dof: 1
    with pytest.raises(ValueError, match="design_effect"):
        stats.significance_verdict(rng.chisquare(2, 100), design_effect=0.5)


def test_errors_between_groups_count_correlated_events():
    """Events sharing a group (a generator chunk with one pileup library) are correlated: the
    batch-means error sees it, the binomial / Gaussian one does not; independent groups leave
    the usual error."""
    rng = np.random.default_rng(5)
    groups = np.repeat(np.arange(40), 1000)
    rate = np.repeat(rng.uniform(0.0, 0.02, 40), 1000)            # per-group tail rate
    tail = rng.uniform(size=len(groups)) < rate
    f, err_binomial = stats.fraction_and_error(tail)
    _, err_groups = stats.fraction_and_error(tail, groups)
    assert err_groups > 2 * err_binomial
    x = rng.normal(size=len(groups))
    assert stats.mean_and_error(x, groups)[1] == pytest.approx(stats.mean_and_error(x)[1], rel=0.35)
    assert stats.mean_and_error(x + np.repeat(rng.normal(0, 0.2, 40), 1000), groups)[1] > \
        3 * stats.mean_and_error(x)[1]
    width = np.repeat(rng.uniform(0.5, 1.5, 40), 1000)              # per-group resolution
    n_pu = rng.integers(0, 10, size=len(groups)).astype(float)
    _, _, err_plain, _ = stats.binned_rms(n_pu, x * width, np.arange(-0.5, 10.5))
    _, _, err_grouped, _ = stats.binned_rms(n_pu, x * width, np.arange(-0.5, 10.5), groups=groups)
    assert np.all(err_grouped >= err_plain) and np.median(err_grouped / err_plain) > 2


def test_sqrt_n_fit_of_a_flat_curve_gives_k2_with_an_error_and_no_k():
    """k^2 is free in sign: a curve that does not grow gives k^2 near 0 with a symmetric error
    (not k = 0 on a bound without one), and k is not quoted."""
    n = np.arange(0, 40, 2, dtype=float)
    flat = stats.fit_sqrt_n(n, np.full(len(n), 10.0) - 0.01 * n, np.full(len(n), 0.1))   # falls: k^2 < 0
    assert flat.variance_slope < 0 and flat.variance_slope_err > 0 and not flat.k_determined
    assert flat.k_text.startswith("not determined (k^2 = -")
    rising = stats.fit_sqrt_n(n, np.sqrt(25 + 0.5 * n), np.full(len(n), 0.05))
    assert rising.k_determined and rising.k_text.startswith(f"{rising.k:.3f} ± ")
    assert rising.variance_slope == pytest.approx(0.5, rel=1e-4)
    assert rising.k_err == pytest.approx(rising.variance_slope_err / (2 * rising.k))
    wider = rising.with_errors(1.0, 0.2)
    assert wider.sigma0_err == 1.0 and wider.variance_slope_err == 0.2 and wider.k == rising.k


def test_sqrt_n_jackknife_sees_chunks_that_move_every_pileup_bin():
    """A chunk whose resolution is scaled as a whole moves all its pileup bins together: the
    per-point errors miss that, the jackknife over chunks does not; independent chunks give
    about the fit's own error."""
    rng = np.random.default_rng(7)
    groups = np.repeat(np.arange(60), 2000)
    n_pu = rng.integers(0, 30, size=len(groups)).astype(float)
    width = np.sqrt(25 + 0.5 * n_pu)
    edges = np.arange(-0.5, 31, 2.0)
    results = {}
    for name, scale in (("independent", np.ones(len(groups))), ("correlated", np.repeat(rng.normal(1, 0.05, 60), 2000))):
        values = rng.normal(size=(len(groups), 2)) * (width * scale)[:, None]
        centres, rms, err, _ = stats.binned_rms(n_pu, values, edges, groups=groups)
        fit = stats.fit_sqrt_n(centres, rms, err)
        s0_err, slope_err, chunks = stats.sqrt_n_fit_jackknife(n_pu, values, edges, groups)
        assert chunks == 60
        results[name] = (fit, s0_err, slope_err)
    fit, s0_err, slope_err = results["independent"]
    assert 0.5 < slope_err / fit.variance_slope_err < 1.7 and 0.5 < s0_err / fit.sigma0_err < 1.7
    fit, s0_err, _ = results["correlated"]
    assert s0_err > 1.2 * fit.sigma0_err     # even with per-point errors that include the groups
    assert np.isnan(stats.sqrt_n_fit_jackknife(n_pu, width, edges, groups % 2)[0])   # 2 chunks: no error


def test_profile_ratio_rms_and_correlation_errors_count_the_groups():
    rng = np.random.default_rng(3)
    groups = np.repeat(np.arange(40), 500)
    x = rng.uniform(0, 10, size=len(groups))
    shift = np.repeat(rng.normal(0, 0.3, 40), 500)
    y = rng.normal(size=len(groups)) + shift
    plain = stats.profile_with_errors(x, y, np.arange(0, 11, 2.0))
    grouped = stats.profile_with_errors(x, y, np.arange(0, 11, 2.0), groups)
    np.testing.assert_allclose(plain["mean"], grouped["mean"])
    assert np.all(grouped["mean_err"] >= plain["mean_err"]) and np.median(grouped["mean_err"] / plain["mean_err"]) > 2
    assert np.all(grouped["std_err"] >= plain["std_err"])
    den = rng.uniform(1, 2, size=len(groups))
    r, err = stats.ratio_and_error(den * (1 + 0.1 * y), den)
    assert r == pytest.approx(1 + 0.1 * np.sum(den * y) / den.sum())
    assert stats.ratio_and_error(den * (1 + 0.1 * y), den, groups)[1] > 2 * err
    rms, rms_err = stats.rms_and_error(rng.normal(0, 2, 100000))
    assert rms == pytest.approx(2, rel=0.01) and rms_err == pytest.approx(2 / np.sqrt(2 * 100000), rel=0.05)
    corr, corr_err = stats.correlation_and_error(x, x + rng.normal(size=len(x)))
    assert corr_err == pytest.approx((1 - corr ** 2) / np.sqrt(len(x) - 3))
    assert stats.correlation_and_error(x, x + shift * 10, groups)[1] > stats.correlation_and_error(x, x + shift * 10)[1]


def test_ks_p_values_of_uniform_samples_are_roughly_uniform():
    rng = np.random.default_rng(2)
    ps = np.array([stats.ks_uniform(rng.uniform(size=200))[1] for _ in range(300)])
    assert 0.03 < np.mean(ps < 0.1) < 0.18


def test_sqrt_n_fit_recovers_the_parameters():
    n = np.arange(0, 60, 3, dtype=float)
    sigma = np.sqrt(6.0 ** 2 + 1.5 ** 2 * n)
    fit = stats.fit_sqrt_n(n, sigma, 0.01 * sigma)
    assert fit.sigma0 == pytest.approx(6.0, rel=1e-5)
    assert fit.k == pytest.approx(1.5, rel=1e-5)
    assert fit.chi2 < 1e-6 and fit.ndf == len(n) - 2 and fit.k_err > 0
    assert fit(np.array([16.0]))[0] == pytest.approx(math.hypot(6.0, 6.0))
    with pytest.raises(ValueError, match="at least 2 points"):
        stats.fit_sqrt_n(n[:1], sigma[:1], sigma[:1])


def test_binned_rms_pools_components_and_drops_sparse_bins():
    x = np.repeat([0.5, 1.5, 2.5], [100, 100, 3])
    values = np.stack([np.full(203, 2.0), np.full(203, -2.0)], axis=1)
    centres, rms, err, counts = stats.binned_rms(x, values, np.array([0, 1, 2, 3]), min_entries=20)
    np.testing.assert_allclose(centres, [0.5, 1.5])
    np.testing.assert_allclose(rms, [2.0, 2.0])
    np.testing.assert_array_equal(counts, [200, 200])

