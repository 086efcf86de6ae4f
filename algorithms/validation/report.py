"""The physics validation report: generate samples, run reco + rebuild, analyse, write
`report.md`, `results.json` and PNG plots.

Samples (synthetic source, `--events N` per sample, `<mu>` = mean pileup interactions):
Z->mumu at <mu> = 0, 10, ..., 60 (MET resolution vs pileup, recoil, markInvisible; at <mu> = 40
also every soft-term systematic), Z->ee at <mu> = 0, 20, 40, 60, Z->nunu and ttbar at <mu> = 40
(2N each: response/linearity, significance), dijet at <mu> = 40 with and without injected
detector faults (2N each: MET filters). `analyse` turns the per-event arrays into the report
numbers; `run_validation` does everything.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from metflow.edm.units import GeV

from .chain import Sample, run_sample
from .cleaning import BAD_DEAD_CALO, BAD_NOISE, BAD_TRACK_CALO
from . import stats

__all__ = ["default_samples", "analyse", "run_validation", "write_report", "MU_POINTS",
           "FAULT_RATES", "Z_MASS_WINDOW"]

MU_POINTS = (0.0, 10.0, 20.0, 30.0, 40.0, 50.0, 60.0)
ZEE_MU_POINTS = (0.0, 20.0, 40.0, 60.0)
REFERENCE_MU = 40.0
FAULT_RATES = (("noisy_cell_rate", 0.02), ("dead_region_rate", 0.02), ("mismeasured_jet_rate", 0.02))
Z_MASS_WINDOW = (66 * GeV, 116 * GeV)
TAIL_CUTS = (50 * GeV, 100 * GeV, 200 * GeV)
_MET_DEFINITIONS = (("TST", "tst"), ("CST", "cst"), ("Track", "trk"))
_FAULT_NAMES = {1: "noisy cell", 2: "dead region", 4: "mismeasured jet"}


def default_samples(events: int, seed: int = 1, significance_model: str = "synthetic") -> dict[str, Sample]:
    """The report's samples, keyed by label; `events` per sample (x2 for the single-<mu> ones).
    Sample k gets the generator seed 1000*seed + k: the synthetic hard scatter depends on the
    seed only (not on <mu>), so samples sharing a seed would repeat the same Z events and the
    merged sample's statistical errors would be wrong. The faulted dijet sample keeps the seed
    of the fault-free one (the same events plus their faults)."""
    specs = [("zmumu", mu, events, dict(systematics=mu == REFERENCE_MU)) for mu in MU_POINTS]
    specs += [("zee", mu, events, {}) for mu in ZEE_MU_POINTS]
    specs += [(p, REFERENCE_MU, 2 * events, {}) for p in ("znunu", "ttbar", "dijet")]
    samples = [Sample(p, mu, n, 1000 * seed + k, significance_model=significance_model, **kw)
               for k, (p, mu, n, kw) in enumerate(specs)]
    samples.append(Sample("dijet", REFERENCE_MU, 2 * events, samples[-1].seed, faults=FAULT_RATES,
                          significance_model=significance_model))
    return {s.label: s for s in samples}


def _merge(parts: list[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    keys = set.intersection(*(set(p) for p in parts))
    return {k: np.concatenate([p[k] for p in parts]) for k in keys}


def z_selected(d: dict[str, np.ndarray], flavour: str) -> np.ndarray:
    """Z candidates: exactly two selected opposite-charge leptons ("mm" or "ee"), 66 < m < 116 GeV."""
    lo, hi = Z_MASS_WINDOW
    return (d[f"{flavour}_n"] == 2) & d[f"{flavour}_opposite"] & (d[f"{flavour}_mass"] > lo) & \
        (d[f"{flavour}_mass"] < hi)


def _met(d, prefix):
    return np.hypot(d[prefix + "_x"], d[prefix + "_y"])


def _resolution(d: dict[str, np.ndarray], title: str, selection: tuple[int, float] | None = None) -> dict[str, Any]:
    """RMS of MET - truth vs pileup vertices and the sqrt(N) fit; parameter errors are the
    larger of the fit's and the jackknife over generator chunks (which sees the correlation
    between the pileup bins that one chunk fills). selection: (events generated, error of the
    selection efficiency)."""
    n_pu = d["n_pv"] - 1
    top = max(int(np.percentile(n_pu, 99.5)), 2)
    edges = np.arange(-0.5, top + 2.5, 2.0)
    curves = {}
    for name, prefix in _MET_DEFINITIONS:
        dx = (d[prefix + "_x"] - d["truth_x"]) / GeV
        dy = (d[prefix + "_y"] - d["truth_y"]) / GeV
        centres, rms, err, counts = stats.binned_rms(n_pu, np.stack([dx, dy], axis=1), edges, min_entries=40,
                                                     groups=d.get("chunk_seed"))
        fit = stats.fit_sqrt_n(centres, rms, err)
        jack = (float("nan"), float("nan"), 0)
        if "chunk_seed" in d:
            jack = stats.sqrt_n_fit_jackknife(n_pu, np.stack([dx, dy], axis=1), edges, d["chunk_seed"], 40)
            if np.isfinite(jack[0]):
                fit = fit.with_errors(jack[0], jack[1])
        curves[name] = {"n_pu": centres.tolist(), "rms": rms.tolist(), "err": err.tolist(),
                        "entries": counts.tolist(),
                        "fit": {"sigma0": fit.sigma0, "sigma0_err": fit.sigma0_err, "k": fit.k, "k_err": fit.k_err,
                                "variance_slope": fit.variance_slope, "variance_slope_err": fit.variance_slope_err,
                                "k_determined": fit.k_determined, "chi2": fit.chi2, "ndf": fit.ndf,
                                "k_text": fit.k_text, "jackknife_sigma0_err": jack[0],
                                "jackknife_variance_slope_err": jack[1], "chunks": jack[2]}}
    return {"sample": title, "n_events": int(len(n_pu)), "n_generated": selection[0] if selection else None,
            "efficiency_err": selection[1] if selection else None, "curves": curves}


def _linearity(d: dict[str, np.ndarray], title: str) -> dict[str, Any]:
    truth = np.hypot(d["truth_x"], d["truth_y"]) / GeV
    ux, uy = d["truth_x"] / GeV / np.maximum(truth, 1e-9), d["truth_y"] / GeV / np.maximum(truth, 1e-9)
    edges = np.array([20, 40, 60, 80, 100, 130, 160, 200, 250, 300, 400], float)
    curves = {}
    for name, prefix in _MET_DEFINITIONS:
        met = _met(d, prefix) / GeV
        proj = (d[prefix + "_x"] * ux + d[prefix + "_y"] * uy) / GeV
        ok = truth > 0
        groups = _sub(d.get("chunk_seed"), ok)
        lin = stats.profile_with_errors(truth[ok], (met[ok] - truth[ok]) / truth[ok], edges, groups)
        resp = stats.profile_with_errors(truth[ok], proj[ok] / truth[ok], edges, groups)
        curves[name] = {"truth": lin["x"].tolist(), "linearity": lin["mean"].tolist(), "err": lin["mean_err"].tolist(),
                        "response": resp["mean"].tolist(), "response_err": resp["mean_err"].tolist(),
                        "entries": lin["entries"].tolist()}
        curves[name]["averages"] = [_bin_average(truth[ok], (met[ok] - truth[ok]) / truth[ok], edges, lo, hi, groups,
                                                 curves[name]) for lo, hi in LINEARITY_RANGES]
    return {"title": title, "n_events": int(len(truth)), "curves": curves}


def _verdict_dict(s: np.ndarray, reference: tuple[int | None, float], chunks: np.ndarray | None = None) -> dict[str, Any]:
    """Verdict numbers of S; reference = (events, design effect) of the chi2(2) map's sample;
    chunks (per event, the generator chunk seed) make the errors of the mean and fractions
    include the spread between chunks."""
    v = stats.significance_verdict(s, reference_n=reference[0], design_effect=reference[1])
    p = np.exp(-s / 2)
    return {"n": v.n, "ks_d": v.ks_d, "ks_p": v.ks_p, "chi2": v.flat.chi2, "ndf": v.flat.ndf,
            "chi2_p": v.flat.p_value, "compatible": v.compatible, "text": v.text,
            "reference_n": reference[0], "n_eff": v.n_eff, "variance_scale": v.flat.variance_scale,
            "design_effect": v.design_effect, "pearson_chi2": v.flat.chi2 * v.flat.variance_scale,
            "ratio": v.flat.ratio.tolist(), "pulls": v.flat.pulls.tolist(),
            "mean_s": float(np.mean(s)), "mean_s_err": stats.mean_and_error(s, chunks)[1],
            "frac_p_below_0p05": float(np.mean(p < 0.05)),
            "frac_p_below_0p05_err": stats.fraction_and_error(p < 0.05, chunks)[1],
            "frac_s_above_8": float(np.mean(s > 8)), "frac_s_above_8_err": stats.fraction_and_error(s > 8, chunks)[1],
            **_ratio_errors(p, v.flat, chunks)}


def _ratio_errors(p: np.ndarray, flat: stats.Flatness, chunks: np.ndarray | None) -> dict[str, list[float]]:
    """Errors of observed/expected per p-value bin: "ratio_err_sample" from this sample alone
    (binomial, or the spread between generator chunks if larger), "ratio_err" with the
    calibration sample's error (common to every run that uses the same chi2(2) map) added."""
    bins = len(flat.counts)
    which = np.minimum((p * bins).astype(np.int64), bins - 1)
    sample = np.array([stats.fraction_and_error(which == i, chunks)[1] * bins for i in range(bins)])
    calibration = (flat.variance_scale - 1.0) / flat.expected
    return {"ratio_err_sample": sample.tolist(), "ratio_err": np.sqrt(sample ** 2 + calibration).tolist()}


def calibration_reference(model: str) -> tuple[int | None, float]:
    """(events, design effect) of the sample the TST chi2(2) map was measured on when `model`
    applies the map: the verdict is then a two-sample test against that sample; else (None, 1):
    a test against exact chi2(2)."""
    from metflow.algorithms.met.significance import (TST_CHI2_MAP, TST_CHI2_MAP_DESIGN_EFFECT,
                                                     TST_CHI2_MAP_EVENTS, soft_term_reso_for_model)

    if not soft_term_reso_for_model(model) and TST_CHI2_MAP[0] and TST_CHI2_MAP_EVENTS > 0:
        return TST_CHI2_MAP_EVENTS, TST_CHI2_MAP_DESIGN_EFFECT
    return None, 1.0


def _significance(selected: dict[str, np.ndarray], inclusive: np.ndarray, nunu: np.ndarray,
                  per_sample: dict[str, np.ndarray], model: str,
                  chunks: dict[str, np.ndarray | None] | None = None) -> dict[str, Any]:
    """Calibration of S where there is no real MET: the verdict on the whole Z-selected sample,
    the inclusive Z->ll sample (lost leptons are real MET: never chi2(2)) apart, per sample.
    chunks: per event chunk seeds of `selected`'s flavours and of nunu (errors between chunks)."""
    chunks = chunks or {}
    s_ll = np.concatenate(list(selected.values()))
    c_ll = None if any(chunks.get(k) is None for k in selected) else \
        np.concatenate([chunks[k] for k in selected])
    ref = calibration_reference(model)
    return {"ll_s": s_ll, "inclusive_s": inclusive, "nunu_s": nunu, "model": model,
            "selected": _verdict_dict(s_ll, ref, c_ll), "inclusive": _verdict_dict(inclusive, ref, chunks.get("inclusive")),
            "per_sample": {k: _verdict_dict(v, ref, chunks.get(k)) for k, v in per_sample.items()},
            "by_flavour": {k: _verdict_dict(v, ref, chunks.get(k)) for k, v in selected.items()},
            "mean_s_nunu": float(np.mean(nunu)), "mean_s_nunu_err": stats.mean_and_error(nunu, chunks.get("nunu"))[1],
            "frac_nunu_p_below_0p05": float(np.mean(np.exp(-nunu / 2) < 0.05)),
            "frac_nunu_p_below_0p05_err": stats.fraction_and_error(np.exp(-nunu / 2) < 0.05, chunks.get("nunu"))[1],
            "n_ll": int(len(s_ll)), "n_inclusive": int(len(inclusive)),
            "ll_label": r"Z$\to\ell\ell$ Z-selected", "inclusive_label": r"Z$\to\ell\ell$ inclusive",
            "nunu_label": r"Z$\to\nu\nu$"}


def _recoil(d: dict[str, np.ndarray], title: str) -> dict[str, Any]:
    zx, zy = d["mm_px"] / GeV, d["mm_py"] / GeV
    ptz = np.hypot(zx, zy)
    ux_hat, uy_hat = zx / np.maximum(ptz, 1e-9), zy / np.maximum(ptz, 1e-9)
    edges = np.array([0, 5, 10, 15, 20, 30, 40, 50, 70, 100, 150, 250], float)
    curves = {}
    for name, prefix in (("TST", "tst"), ("CST", "cst")):
        rx = -d[prefix + "_x"] / GeV - zx      # u = -(MET + pT(mumu)): the hadronic recoil
        ry = -d[prefix + "_y"] / GeV - zy
        para = rx * ux_hat + ry * uy_hat
        perp = rx * uy_hat - ry * ux_hat
        ok = ptz > 0
        groups = _sub(d.get("chunk_seed"), ok)
        resp = stats.profile_with_errors(ptz[ok], -para[ok] / ptz[ok], edges, groups)
        s_para = stats.profile_with_errors(ptz[ok], para[ok] + ptz[ok], edges, groups)
        s_perp = stats.profile_with_errors(ptz[ok], perp[ok], edges, groups)
        curves[name] = {"ptz": resp["x"].tolist(), "response": resp["mean"].tolist(),
                        "response_err": resp["mean_err"].tolist(),
                        "sigma_para": s_para["std"].tolist(), "sigma_perp": s_perp["std"].tolist(),
                        "sigma_para_err": s_para["std_err"].tolist(), "sigma_perp_err": s_perp["std_err"].tolist(),
                        "entries": resp["entries"].tolist()}
    return {"title": title, "n_events": int(len(ptz)), "curves": curves}


def _invisible(d: dict[str, np.ndarray]) -> dict[str, Any]:
    zx, zy = d["mm_px"] / GeV, d["mm_py"] / GeV
    ptz = np.hypot(zx, zy)
    met = _met(d, "inv") / GeV
    edges = np.array([0, 10, 20, 30, 40, 60, 80, 100, 130, 160, 200], float)
    prof = stats.profile_with_errors(ptz, met, edges, d.get("chunk_seed"))
    t, m, err = prof["x"], prof["mean"], prof["mean_err"]
    # algebra: MET(muons invisible) = MET(nominal) - Muons term, when the same muons are used
    closure = np.hypot(d["inv_x"] - (d["tst_x"] - d["muons_x"]), d["inv_y"] - (d["tst_y"] - d["muons_y"])) / GeV
    high = ptz > 50
    chunks = d["chunk_seed"][high] if "chunk_seed" in d else None
    ratio, ratio_err = stats.mean_and_error(met[high] / ptz[high], chunks) if high.sum() > 1 else (float("nan"),) * 2
    corr, corr_err = stats.correlation_and_error(ptz, met, d.get("chunk_seed"))
    return {"ptz": ptz, "met": met, "profile_ptz": t.tolist(), "profile_met": m.tolist(),
            "profile_err": err.tolist(), "max_closure_gev": float(closure.max()) if len(closure) else 0.0,
            "mean_ratio_ptz_above_50": ratio, "mean_ratio_err": ratio_err, "n_events": int(len(ptz)),
            "corr": corr, "corr_err": corr_err}


def _systematics(d: dict[str, np.ndarray], title: str) -> dict[str, Any]:
    out = {}
    names = sorted({k[5:-2] for k in d if k.startswith("syst:")})
    for name in names:
        nominal = "cst" if "SoftCalo" in name else "tst"
        vx, vy = d[f"syst:{name}_x"], d[f"syst:{name}_y"]
        nom = _met(d, nominal)
        var = np.hypot(vx, vy)
        delta = np.hypot(vx - d[nominal + "_x"], vy - d[nominal + "_y"])
        chunks = d.get("chunk_seed")
        shift, shift_err = stats.mean_and_error((var - nom) / GeV, chunks)
        rel, rel_err = stats.ratio_and_error(var - nom, nom, chunks)
        rms, rms_err = stats.rms_and_error(delta / GeV, chunks)
        out[name] = {"nominal": "FinalClus" if nominal == "cst" else "FinalTrk",
                     "mean_shift": shift, "mean_shift_err": shift_err, "rel_shift": rel, "rel_shift_err": rel_err,
                     "rms_delta": rms, "rms_delta_err": rms_err}
    return {"title": title, "variations": out, "n_events": int(len(d["tst_x"]))}


def _tails(met: np.ndarray) -> dict[str, float]:
    return {f">{cut / GeV:g} GeV": float(np.mean(met > cut)) for cut in TAIL_CUTS}


def _tail_errors(met: np.ndarray, chunks: np.ndarray | None) -> dict[str, float]:
    """Errors of the tail fractions: binomial, or the spread between generator chunks if larger."""
    return {f">{cut / GeV:g} GeV": stats.fraction_and_error(met > cut, chunks)[1] for cut in TAIL_CUTS}


def _sub(values: np.ndarray | None, mask: np.ndarray) -> np.ndarray | None:
    return None if values is None else values[mask]


def _cleaning(nominal: dict[str, np.ndarray], faulted: dict[str, np.ndarray],
              others: dict[str, dict[str, np.ndarray]]) -> dict[str, Any]:
    met_f, met_n = _met(faulted, "tst"), _met(nominal, "tst")
    clean_f = faulted["is_clean"].astype(bool)
    clean_n = nominal["is_clean"].astype(bool)
    ch_f, ch_n = faulted.get("chunk_seed"), nominal.get("chunk_seed")
    bits = faulted["injected_faults"].astype(np.int64)
    flags = faulted["clean_flags"].astype(np.int64)
    efficiency = {}
    for bit, name in _FAULT_NAMES.items():
        hit = (bits & bit) > 0
        big = hit & (met_f > 50 * GeV)
        flagged, flagged_err = stats.fraction_and_error(~clean_f[hit], _sub(ch_f, hit)) if hit.any() else (0.0, 1.0)
        flagged_big, flagged_big_err = stats.fraction_and_error(~clean_f[big], _sub(ch_f, big)) if big.any() else (0.0, 1.0)
        efficiency[name] = {"injected": int(hit.sum()), "flagged": flagged, "flagged_err": flagged_err,
                            "injected_met_above_50": int(big.sum()),
                            "flagged_met_above_50": flagged_big, "flagged_met_above_50_err": flagged_big_err}
    false_positive, false_positive_err = {}, {}
    for k, v in {"dijet (no faults)": nominal, **others}.items():
        false_positive[k], false_positive_err[k] = stats.fraction_and_error(~v["is_clean"].astype(bool),
                                                                            v.get("chunk_seed"))
    unfaulted = bits == 0
    by_flag = {name: float(np.mean((flags & bit) > 0)) for bit, name in
               ((BAD_NOISE, "BAD_NOISE"), (BAD_DEAD_CALO, "BAD_DEAD_CALO"), (BAD_TRACK_CALO, "BAD_TRACK_CALO"))}
    return {"met_faults": met_f / GeV, "met_faults_clean": met_f[clean_f] / GeV, "met_nominal": met_n / GeV,
            "tails": {"no faults": _tails(met_n), "faults, before cleaning": _tails(met_f),
                      "faults, after cleaning": _tails(met_f[clean_f]),
                      "no faults, after cleaning": _tails(met_n[nominal["is_clean"].astype(bool)])},
            "tail_errors": {"no faults": _tail_errors(met_n, ch_n), "faults, before cleaning": _tail_errors(met_f, ch_f),
                            "faults, after cleaning": _tail_errors(met_f[clean_f], _sub(ch_f, clean_f)),
                            "no faults, after cleaning": _tail_errors(met_n[clean_n], _sub(ch_n, clean_n))},
            "efficiency": efficiency, "false_positive": false_positive, "false_positive_err": false_positive_err,
            "flag_rates_faulted": by_flag,
            **dict(zip(("flagged_unfaulted_in_faulted_sample", "flagged_unfaulted_in_faulted_sample_err"),
                       stats.fraction_and_error(~clean_f[unfaulted], _sub(ch_f, unfaulted)))),
            "n_events": int(len(met_f)), "n_faulted": int(np.count_nonzero(bits)),
            "title": "dijet, <mu> = 40, each fault rate 2%",
            "labels": {"faults": "faults injected, before cleaning", "faults_clean": "faults injected, after cleaning",
                       "nominal": "no faults"}}


def analyse(data: dict[str, dict[str, np.ndarray]], samples: dict[str, Sample]) -> dict[str, Any]:
    """Report numbers (and plot inputs) from the per-event arrays of every sample."""
    by_process: dict[str, list[str]] = {}
    for label, s in samples.items():
        if not s.faults:
            by_process.setdefault(s.process, []).append(label)
    zmm = _merge([data[k] for k in by_process["zmumu"]])
    sel_zmm = (len(zmm["n_pv"]), stats.fraction_and_error(z_selected(zmm, "mm"), zmm.get("chunk_seed"))[1])
    zmm = {k: v[z_selected(zmm, "mm")] for k, v in zmm.items()}
    zee = _merge([data[k] for k in by_process["zee"]])
    sel_zee = (len(zee["n_pv"]), stats.fraction_and_error(z_selected(zee, "ee"), zee.get("chunk_seed"))[1])
    zee = {k: v[z_selected(zee, "ee")] for k, v in zee.items()}
    ll_labels = [k for p in ("zmumu", "zee") for k in by_process[p]]
    chunks = {"Z->mumu": zmm.get("chunk_seed"), "Z->ee": zee.get("chunk_seed"),
              "nunu": data[by_process["znunu"][0]].get("chunk_seed"),
              "inclusive": None if any("chunk_seed" not in data[k] for k in ll_labels) else
              np.concatenate([data[k]["chunk_seed"] for k in ll_labels])}
    chunks.update({k: data[k]["chunk_seed"][z_selected(data[k], "mm" if samples[k].process == "zmumu" else "ee")]
                   for k in ll_labels if "chunk_seed" in data[k]})
    ref = next(k for k in by_process["zmumu"] if samples[k].systematics)
    zmm_ref = {k: v[z_selected(data[ref], "mm")] for k, v in data[ref].items()}
    mu_range = f"<mu> = {min(MU_POINTS):g}-{max(MU_POINTS):g}"
    results = {
        "resolution": _resolution(zmm, f"Z->mumu, {mu_range}", sel_zmm),
        "resolution_zee": _resolution(zee, f"Z->ee, <mu> = {min(ZEE_MU_POINTS):g}-{max(ZEE_MU_POINTS):g}", sel_zee),
        "linearity": {p: _linearity(data[by_process[p][0]], t) for p, t in
                      (("znunu", r"Z$\to\nu\nu$, <mu> = 40"), ("ttbar", r"$t\bar{t}$, <mu> = 40"))},
        "significance": _significance(
            {"Z->mumu": zmm["significance"], "Z->ee": zee["significance"]},
            np.concatenate([data[k]["significance"] for p in ("zmumu", "zee") for k in by_process[p]]),
            data[by_process["znunu"][0]]["significance"],
            {k: data[k]["significance"][z_selected(data[k], "mm" if samples[k].process == "zmumu" else "ee")]
             for p in ("zmumu", "zee") for k in by_process[p]},
            next(iter(samples.values())).significance_model, chunks),
        "recoil": _recoil(zmm, f"Z->mumu, {mu_range}"),
        "invisible": _invisible(zmm),
        "systematics": _systematics(zmm_ref, f"Z->mumu, <mu> = {REFERENCE_MU:g}: soft-term variations"),
        "cleaning": _cleaning(data[by_process["dijet"][0]],
                              data[next(k for k, s in samples.items() if s.faults)],
                              {"Z->mumu": zmm, "Z->ee": zee, "Z->nunu": data[by_process["znunu"][0]],
                               "ttbar": data[by_process["ttbar"][0]]}),
    }
    return results


LINEARITY_RANGES = ((40.0, 60.0), (100.0, np.inf))


def linearity_average(curve: dict[str, Any], lo: float, hi: float) -> tuple[float, float] | None:
    """Mean of the linearity of the bins with lo < truth MET < hi [GeV] and its error: from
    `averages` (bins correlated through the generator chunks) where _linearity stored it, else
    with the bins taken as independent."""
    for (a, b), avg in zip(LINEARITY_RANGES, curve.get("averages", ())):
        if (a, b) == (lo, hi):
            return None if avg is None else (avg[0], avg[1])
    t, lin, err = (np.array(curve[k]) for k in ("truth", "linearity", "err"))
    sel = (t > lo) & (t < hi)
    if not sel.any():
        return None
    return float(lin[sel].mean()), float(np.sqrt(np.sum(err[sel] ** 2)) / sel.sum())


def _bin_average(x: np.ndarray, y: np.ndarray, edges: np.ndarray, lo: float, hi: float, groups: np.ndarray | None,
                 curve: dict[str, Any]) -> list[float] | None:
    """[mean over the profile bins with lo < <x> < hi of the bin means of y, its error]: the
    larger of the bins-independent error and the batch-means error of this linear estimator
    (sum over events of (y - bin mean) / (bins * bin entries)) between generator chunks."""
    plain = linearity_average({k: v for k, v in curve.items() if k != "averages"}, lo, hi)
    if plain is None or groups is None:
        return None if plain is None else list(plain)
    centres = np.array(curve["truth"])
    which = np.digitize(x, edges) - 1
    kept = [b for b in range(len(edges) - 1) if np.count_nonzero(which == b) >= 20]
    chosen = [b for b, c in zip(kept, centres) if lo < c < hi]
    contribution = np.zeros(len(x))
    for b in chosen:
        inside = which == b
        contribution[inside] = (y[inside] - y[inside].mean()) / (len(chosen) * inside.sum())
    ids, g = np.unique(np.asarray(groups), return_inverse=True)
    if len(ids) < 2:
        return list(plain)
    per_group = np.bincount(g, weights=contribution, minlength=len(ids))
    batch = float(np.sqrt(len(ids) / (len(ids) - 1) * np.sum(per_group ** 2)))
    return [plain[0], max(plain[1], batch)]


def _pm(value: float, err: float) -> str:
    """value ± error with the error to two significant digits (small fractions keep their error visible)."""
    digits = max(0, 1 - int(np.floor(np.log10(err)))) if err > 0 and np.isfinite(err) else 4
    return f"{value:.{digits}f} ± {err:.{digits}f}"


def _count_text(res: dict[str, Any]) -> str:
    """Selected events, with the selection efficiency and its binomial error when the generated count is known."""
    n, total = res["n_events"], res.get("n_generated")
    if not total:
        return f"{n} events"
    return f"{n} of {total} events, efficiency {n / total:.4f} ± {res['efficiency_err']:.4f}"


def _fit_table(fits: dict[str, dict[str, Any]]) -> list[str]:
    lines = ["| MET | sigma0 [GeV] | k [GeV/sqrt(vertex)] | k^2 [GeV^2/vertex] | chi2/ndf |", "|---|---|---|---|---|"]
    for name, f in fits.items():
        k = f"{f['k']:.3f} ± {f['k_err']:.3f}" if f["k_determined"] else "not determined"
        lines.append(f"| {name} | {f['sigma0']:.2f} ± {f['sigma0_err']:.2f} | {k} | "
                     f"{f['variance_slope']:.3f} ± {f['variance_slope_err']:.3f} | {f['chi2']:.1f}/{f['ndf']} |")
    return lines


def write_report(results: dict[str, Any], samples: dict[str, Sample], folder: str, plots: dict[str, str],
                 timing: dict[str, float]) -> str:
    """report.md in `folder` (plots referenced by file name); returns its path."""
    res, sig, rec, inv = results["resolution"], results["significance"], results["recoil"], results["invisible"]
    fits = {n: c["fit"] for n, c in res["curves"].items()}
    tst, cst = fits["TST"], fits["CST"]
    lines = ["# metflow physics validation report", "",
             f"Synthetic events (`SyntheticSource`), reconstruction (`met_reco_cfg`) and rebuild (`met_rebuild` job: "
             f"METMaker, Tight jets, PFlow) run by the framework. {sum(s.n_events for s in samples.values())} events in "
             f"{len(samples)} samples, {timing['total_s']:.0f} s. MET definitions: **TST** = FinalTrk (track soft term), "
             f"**CST** = FinalClus (cluster soft term), **Track** = track-only MET (rebuildTrackMET).", "",
             "| sample | <mu> | events |", "|---|---|---|"]
    lines += [f"| {s.process}{' + faults' if s.faults else ''} | {s.mu:g} | {s.n_events} |" for s in samples.values()]
    lines += ["", "## MET resolution vs pileup", "",
              f"RMS of the x and y components of (MET - truth MET) in bins of reconstructed pileup vertices, "
              f"{res['sample']}, Z candidates ({_count_text(res)}). Fit "
              f"sigma(N) = sqrt(sigma0^2 + k^2 N) (variance linear in N, the primer's sqrt(N_PU) law) with k^2 "
              f"free in sign. Errors: the fit's (x sqrt(chi2/ndf) where > 1) or, if larger, the jackknife over "
              f"the generator chunks; k is quoted where k^2 is more than 2 sigma above 0.", ""]
    lines += _fit_table(fits)
    verdict = "grows more slowly than" if tst["variance_slope"] < cst["variance_slope"] else \
        "does NOT grow more slowly than"
    lines += ["", f"TST resolution {verdict} CST: k^2(TST) = {tst['variance_slope']:.3f} ± {tst['variance_slope_err']:.3f} "
              f"vs k^2(CST) = {cst['variance_slope']:.3f} ± {cst['variance_slope_err']:.3f} GeV^2/vertex.", ""]
    zee = results["resolution_zee"]
    lines += [f"Z->ee cross-check, {zee['sample']}, Z candidates ({_count_text(zee)}), the same fit:", ""]
    lines += _fit_table({n: c["fit"] for n, c in zee["curves"].items()})
    lines += ["", f"![resolution]({plots['resolution']})", "", "## MET response and linearity", "",
              "Linearity = <(MET - truth)/truth> and projected response = <MET . u_truth>/truth, in bins of truth MET.", "",
              "| sample | MET | linearity (truth 40-60 GeV) | linearity (truth > 100 GeV) |", "|---|---|---|---|"]
    for p, lin in results["linearity"].items():
        for name, c in lin["curves"].items():
            cells = [linearity_average(c, lo, hi) for lo, hi in LINEARITY_RANGES]
            lines.append(f"| {p} | {name} | " + " | ".join("-" if v is None else f"{v[0]:.3f} ± {v[1]:.3f}"
                                                        for v in cells) + " |")
    sel, inc = sig["selected"], sig["inclusive"]
    lines += ["", f"![linearity]({plots['linearity']})", "", "## MET significance", "",
              f"Object-based significance S of FinalTrk (METMakerAlg, resolution model `{sig['model']}`, "
              f"docs/validation.md). Without real MET a calibrated S follows chi2(2), so its p-value "
              f"exp(-S/2) is uniform. Verdict on the whole Z-selected sample (Z->mumu and Z->ee, all <mu>), "
              f"criterion: KS p > 0.01 and binned chi2 (20 bins) p > 0.01"
              + (f", both as two-sample tests against the {sel['reference_n']} events the chi2(2) map was "
                 f"measured on (chi2 divided by 1 + N/{sel['reference_n']}; KS at N_eff = N {sel['reference_n']}/"
                 f"(N + {sel['reference_n']}) / {sel['design_effect']:.3f}, the design effect of the generator's "
                 f"chunks; docs/validation.md)" if sel["reference_n"] else "") + ".", "",
              f"* **Z-selected Z->ll: {sel['text']}**",
              f"* mean S {sel['mean_s']:.3f} ± {sel['mean_s_err']:.3f} (chi2(2): 2), fraction with p < 0.05: "
              f"{sel['frac_p_below_0p05']:.4f} ± {sel['frac_p_below_0p05_err']:.4f} (0.05), with S > 8: "
              f"{sel['frac_s_above_8']:.4f} ± {sel['frac_s_above_8_err']:.4f} (chi2(2): {np.exp(-4):.4f})",
              f"* inclusive Z->ll (no Z selection: events with a lost lepton have real MET, so this is "
              f"never chi2(2)): N = {inc['n']}, mean S {inc['mean_s']:.2f} ± {inc['mean_s_err']:.2f}, fraction with "
              f"p < 0.05: {inc['frac_p_below_0p05']:.3f} ± {inc['frac_p_below_0p05_err']:.3f}",
              f"* Z->nunu: mean S {sig['mean_s_nunu']:.2f} ± {sig['mean_s_nunu_err']:.2f}, fraction with p < 0.05: "
              f"{sig['frac_nunu_p_below_0p05']:.3f} ± {sig['frac_nunu_p_below_0p05_err']:.3f}",
              *[f"* {name} alone: {v['text']}; mean S {v['mean_s']:.3f} ± {v['mean_s_err']:.3f}"
                for name, v in sig["by_flavour"].items()],
              "", "| Z-selected sample | N | mean S | KS p | chi2/ndf | chi2 p |", "|---|---|---|---|---|---|"]
    for name, v in sig["per_sample"].items():
        lines.append(f"| {name} | {v['n']} | {v['mean_s']:.3f} ± {v['mean_s_err']:.3f} | {v['ks_p']:.3g} | "
                     f"{v['chi2']:.1f}/{v['ndf']} | {v['chi2_p']:.3g} |")
    lines += ["", "p-value histogram of the whole Z-selected sample, observed/expected per bin of 0.05 (error: this "
              "sample's, with the spread between chunks, and the calibration sample's): "
              + ", ".join(f"{r:.3f} ± {e:.3f}" for r, e in zip(sel["ratio"], sel["ratio_err"])),
              "", f"![significance]({plots['significance']})", "", "## Hadronic recoil in Z->mumu", "",
              f"u = -(MET + pT(mumu)), projected on the dimuon direction (parallel) and perpendicular to it; "
              f"{rec['title']}, {rec['n_events']} Z candidates.", "",
              "| MET | pT(mumu) [GeV] | response -<u_par>/pT | RMS(u_par + pT) [GeV] | RMS(u_perp) [GeV] |",
              "|---|---|---|---|---|"]
    for name, c in rec["curves"].items():
        for i in range(0, len(c["ptz"]), 3):
            lines.append(f"| {name} | {c['ptz'][i]:.0f} | {c['response'][i]:.3f} ± {c['response_err'][i]:.3f} | "
                         f"{c['sigma_para'][i]:.2f} ± {c['sigma_para_err'][i]:.2f} | "
                         f"{c['sigma_perp'][i]:.2f} ± {c['sigma_perp_err'][i]:.2f} |")
    lines += ["", f"![recoil]({plots['recoil']})", "", "### markInvisible of the muons", "",
              f"A second METMakerAlg marks the selected muons invisible: its MET (TST) is the hadronic recoil "
              f"alone and follows pT(mumu): <MET/pT(mumu)> = {inv['mean_ratio_ptz_above_50']:.3f} ± {inv['mean_ratio_err']:.3f} for pT(mumu) > 50 GeV, "
              f"correlation {inv['corr']:.3f} ± {inv['corr_err']:.3f}. Closure MET(invisible) = MET(nominal) - Muons term: largest deviation "
              f"{inv['max_closure_gev']:.2g} GeV over {inv['n_events']} events.", "",
              f"![invisible]({plots['invisible']})", "", "## Soft-term systematics", "",
              f"{results['systematics']['title']} ({results['systematics']['n_events']} Z candidates); "
              "TST variations act on FinalTrk, CST variations on FinalClus.", "",
              "| variation | on | <MET> shift [GeV] | relative | RMS abs(varied - nominal) [GeV] |", "|---|---|---|---|---|"]
    for name, v in results["systematics"]["variations"].items():
        lines.append(f"| {name} | {v['nominal']} | {v['mean_shift']:+.3f} ± {v['mean_shift_err']:.3f} | "
                     f"{v['rel_shift']:+.4f} ± {v['rel_shift_err']:.4f} | {v['rms_delta']:.3f} ± {v['rms_delta_err']:.3f} |")
    cl = results["cleaning"]
    lines += ["", f"![systematics]({plots['systematics']})", "", "## MET filters: fake MET and event cleaning", "",
              f"Dijet events at <mu> = 40 with injected detector faults (SyntheticSource: noisy calorimeter cell, dead "
              f"calorimeter region, mismeasured jet; 2% each: {cl['n_faulted']} of {cl['n_events']} events), cleaned by "
              "`EventCleaningAlg` (criteria in docs/validation.md). Fraction of events with MET (TST) above a cut:", "",
              "| sample | " + " | ".join(_tails(np.zeros(1)).keys()) + " |", "|---|---|---|---|"]
    for name, t in cl["tails"].items():
        errs = cl["tail_errors"][name]
        lines.append(f"| {name} | " + " | ".join(_pm(v, errs[k]) for k, v in t.items()) + " |")
    lines += ["", "| injected fault | events | flagged | events with MET > 50 GeV | of those flagged |", "|---|---|---|---|---|"]
    for name, e in cl["efficiency"].items():
        lines.append(f"| {name} | {e['injected']} | {e['flagged']:.3f} ± {e['flagged_err']:.3f} | "
                     f"{e['injected_met_above_50']} | {e['flagged_met_above_50']:.3f} ± {e['flagged_met_above_50_err']:.3f} |")
    lines += ["", "Events flagged without an injected fault (false positives):", ""]
    lines += [f"* {name}: {_pm(v, cl['false_positive_err'][name])}" for name, v in cl["false_positive"].items()]
    lines += ["* unfaulted events of the faulted dijet sample: " + _pm(cl["flagged_unfaulted_in_faulted_sample"],
                                                                    cl["flagged_unfaulted_in_faulted_sample_err"]), "",
              f"![cleaning]({plots['cleaning']})", "",
              "Timing: " + ", ".join(f"{k} {v:.1f} s" for k, v in timing.items()), ""]
    path = os.path.join(folder, "report.md")
    with open(path, "w") as f:
        f.write("\n".join(lines))
    return path


def _jsonable(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {k: _jsonable(v) for k, v in obj.items() if not isinstance(v, np.ndarray)}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, (np.floating, np.integer)):
        return obj.item()
    return obj


def run_validation(folder: str, events: int = 20000, *, threads: int = 2, seed: int = 1,
                   significance_model: str = "synthetic",
                   log: Callable[[str], None] = print) -> dict[str, Any]:
    """Generate and process every sample, then write plots, report.md and results.json in `folder`."""
    from . import plots as P

    if events < 200:
        raise ValueError(f"--events must be at least 200 per sample for meaningful fits, got {events}")
    P.pyplot()   # fail early, before minutes of processing, when matplotlib is missing
    os.makedirs(folder, exist_ok=True)
    samples = default_samples(events, seed, significance_model)
    data, timing = {}, {}
    start = time.perf_counter()
    for label, sample in samples.items():
        t0 = time.perf_counter()
        data[label] = run_sample(sample, threads=threads)
        log(f"  {label:<24} {sample.n_events:>7} events  {time.perf_counter() - t0:6.1f} s")
    timing["processing_s"] = time.perf_counter() - start
    t0 = time.perf_counter()
    results = analyse(data, samples)
    plots = {
        "resolution": P.plot_resolution(results["resolution"], folder),
        "linearity": P.plot_linearity(results["linearity"], folder),
        "significance": P.plot_significance(results["significance"], folder),
        "recoil": P.plot_recoil(results["recoil"], folder),
        "invisible": P.plot_invisible(results["invisible"], folder),
        "systematics": P.plot_systematics(results["systematics"], folder),
        "cleaning": P.plot_cleaning(results["cleaning"], folder),
    }
    timing["analysis_and_plots_s"] = time.perf_counter() - t0
    timing["total_s"] = time.perf_counter() - start
    names = {k: os.path.basename(v) for k, v in plots.items()}
    report = write_report(results, samples, folder, names, timing)
    with open(os.path.join(folder, "results.json"), "w") as f:
        json.dump(_jsonable({"events_per_sample": events, "seed": seed, "significance_model": significance_model,
                            "timing": timing, **results}), f, indent=1)
    results["files"] = {"report": report, "plots": plots}
    results["timing"] = timing
    return results
