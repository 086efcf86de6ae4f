"""`metflow validate --input FILES`: what of the validation applies to user files (PHYSLITE
.root or metflow schema-v1 Parquet): MET response and resolution vs truth MET (simulation only),
hadronic recoil vs Z pT (Z->ee / Z->mumu candidates), and the significance distribution.

PHYSLITE runs the `physlite_met` job (stored map and core, TST) and Parquet the `met_rebuild`
job (reconstruction chained on the events); both with METMakerAlg writing the significance of
FinalTrk with the chosen resolution model (`--significance-model`, default: `atlas-random` for
PHYSLITE, `synthetic` for Parquet). Output: report.md, results.json and input_summary.png.
"""

from __future__ import annotations

import json
import os
from typing import Any

import numpy as np

from metflow.edm import keys as mk
from metflow.edm.units import GeV
from metflow.framework import Sink

from . import stats
from .chain import _lepton_pair
from .report import Z_MASS_WINDOW

__all__ = ["InputCollector", "input_job", "analyse_input", "run_input_validation", "is_physlite"]


def is_physlite(path: str) -> bool:
    return path.endswith(".root")


class InputCollector(Sink):
    """Per-event FinalTrk MET, significance, truth MET (if any) and lepton pairs of user input."""

    def __init__(self, met: str, significance: str, truth: str | None, electrons: str, muons: str):
        self.name = "InputCollector"
        self._keys = dict(met=met, significance=significance, truth=truth, electrons=electrons, muons=muons)
        self._parts: dict[str, list[np.ndarray]] = {}
        self.data: dict[str, np.ndarray] = {}

    def keys(self) -> list[str]:
        return [k for k in self._keys.values() if k]

    def _add(self, name: str, values: Any) -> None:
        self._parts.setdefault(name, []).append(np.asarray(values))

    def write(self, first: int, n: int, data: dict[str, Any]) -> None:
        met = data[self._keys["met"]]
        i = met.term_index(mk.FINAL_TRK)
        self._add("met_x", met.mpx[:, i].astype(np.float64))
        self._add("met_y", met.mpy[:, i].astype(np.float64))
        self._add("significance", np.asarray(data[self._keys["significance"]]["s"], np.float64))
        if self._keys["truth"]:
            truth = data[self._keys["truth"]]
            self._add("truth_x", np.asarray(truth["nonint_mpx"], np.float64))
            self._add("truth_y", np.asarray(truth["nonint_mpy"], np.float64))
        for prefix, key in (("ee", "electrons"), ("mm", "muons")):
            for name, values in _lepton_pair(data[self._keys[key]]).items():
                self._add(f"{prefix}_{name}", values)

    def close(self, success: bool) -> None:
        self.data = {k: np.concatenate(v) for k, v in self._parts.items()} if success else {}
        self._parts = {}


def _set_significance(job, model: str):
    """The nominal METMakerAlg of `job` writing its significance with resolution model `model`."""
    from metflow.algorithms.met.maker import METMakerAlg
    from metflow.algorithms.met.significance import significance_key, soft_term_reso_for_model

    maker = next(a for a in job.algorithms if isinstance(a, METMakerAlg) and not a.key("met").count("_MET_"))
    met_key = maker.key("met")
    sig_key = significance_key(met_key.partition("_")[2])     # MET_<name> -> METSignificance_<name>
    maker.override("significance", sig_key)
    maker.override("soft_term_reso", soft_term_reso_for_model(model))
    return maker, met_key, sig_key


def input_job(files: list[str], model: str):
    """(job, collector) for PHYSLITE or metflow Parquet input files."""
    from metflow.framework.flags import standard_flags

    flags = standard_flags()
    if all(is_physlite(f) for f in files):
        from metflow.jobs import physlite_met as job_module
        job_module.declare_flags(flags)
        flags.set("physlite.sizes", False)
    elif any(is_physlite(f) for f in files):
        raise ValueError("--input: PHYSLITE (.root) and Parquet files cannot be mixed in one report")
    else:
        from metflow.jobs import met_rebuild as job_module
        job_module.declare_flags(flags)
        flags.set("met.soft_terms", "track")
    flags.set("input.files", list(files))
    flags.lock()
    job = job_module.configure(flags)
    maker, met_key, sig_key = _set_significance(job, model)
    available = set(job.source.keys()) if hasattr(job.source, "keys") else set()
    truth = next((k for k in (getattr(getattr(job.source, "naming", None), "truth_met", None), mk.TRUTH_MET)
                  if k and (not available or k in available)), None)
    collector = InputCollector(met_key, sig_key, truth, maker.key("electrons"), maker.key("muons"))
    job.sinks = [collector]
    job.name = "validate_input"
    return job, collector


def _z(d: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    lo, hi = Z_MASS_WINDOW
    zx, zy = np.zeros(len(d["met_x"])), np.zeros(len(d["met_x"]))
    sel = np.zeros(len(zx), bool)
    for fl in ("ee", "mm"):
        ok = (d[f"{fl}_n"] == 2) & d[f"{fl}_opposite"] & (d[f"{fl}_mass"] > lo) & (d[f"{fl}_mass"] < hi) & ~sel
        zx[ok], zy[ok] = d[f"{fl}_px"][ok], d[f"{fl}_py"][ok]
        sel |= ok
    return sel, zx, zy


def analyse_input(d: dict[str, np.ndarray], model: str) -> dict[str, Any]:
    """Numbers of the input report (GeV)."""
    met_x, met_y = d["met_x"] / GeV, d["met_y"] / GeV
    met = np.hypot(met_x, met_y)
    s = d["significance"]
    out: dict[str, Any] = {"n_events": int(len(met)), "mean_met": float(met.mean()), "model": model}
    if "truth_x" in d:
        tx, ty = d["truth_x"] / GeV, d["truth_y"] / GeV
        truth = np.hypot(tx, ty)
        res = np.concatenate([met_x - tx, met_y - ty])
        out["truth"] = {"mean_truth_met": float(truth.mean()), "resolution_rms": float(np.sqrt(np.mean(res ** 2))),
                        "resolution_rms_err": float(np.sqrt(np.mean(res ** 2)) / np.sqrt(2 * len(res))),
                        "bias_xy": [float(np.mean(met_x - tx)), float(np.mean(met_y - ty))]}
        real = truth > 20
        if real.sum() >= 5:
            ux, uy = tx / np.maximum(truth, 1e-9), ty / np.maximum(truth, 1e-9)
            proj = met_x * ux + met_y * uy
            t, resp, err, _, n = stats.profile(truth[real], proj[real] / truth[real],
                                               np.array([20, 50, 100, 150, 250, 1000.0]), min_entries=3)
            out["truth"]["response"] = {"truth": t.tolist(), "response": resp.tolist(), "err": err.tolist(),
                                        "entries": n.tolist(),
                                        "mean": float(np.mean(proj[real] / truth[real])), "n": int(real.sum())}
    zsel, zx, zy = _z(d)
    out["n_z"] = int(zsel.sum())
    if zsel.sum() >= 3:
        ptz = np.hypot(zx, zy)[zsel] / GeV
        hx, hy = zx[zsel] / GeV / np.maximum(ptz, 1e-9), zy[zsel] / GeV / np.maximum(ptz, 1e-9)
        rx, ry = -met_x[zsel] - zx[zsel] / GeV, -met_y[zsel] - zy[zsel] / GeV
        para, perp = rx * hx + ry * hy, rx * hy - ry * hx
        out["recoil"] = {"ptz": ptz.tolist(), "u_para": para.tolist(), "u_perp": perp.tolist(),
                         "mean_ptz": float(ptz.mean()), "response": float(-np.mean(para) / np.mean(ptz)),
                         "rms_perp": float(np.sqrt(np.mean(perp ** 2)))}
        out["significance_z"] = {"n": int(zsel.sum()), "mean_s": float(np.mean(s[zsel])),
                                 "median_s": float(np.median(s[zsel]))}
        if zsel.sum() >= 20:
            v = stats.significance_verdict(s[zsel], bins=5)
            out["significance_z"]["verdict"] = v.text
    out["significance"] = {"s": s, "mean_s": float(np.mean(s)), "median_s": float(np.median(s)),
                           "frac_s_above_10": float(np.mean(s > 10)), "zsel": zsel}
    return out


def _plot(res: dict[str, Any], d: dict[str, np.ndarray], folder: str, title: str) -> str:
    from .plots import pyplot

    plt = pyplot()
    fig, axes = plt.subplots(2, 2, figsize=(11.0, 9.0))
    (a1, a2), (a3, a4) = axes
    met_x, met_y = d["met_x"] / GeV, d["met_y"] / GeV
    if "truth" in res and "response" not in res["truth"]:
        a1.text(0.5, 0.5, "truth MET below 20 GeV in (almost) every event:\nno real MET, response not applicable",
                ha="center", va="center", transform=a1.transAxes)
        a1.set_title("MET response vs truth: not applicable")
    if "truth" in res and "response" in res["truth"]:
        truth = np.hypot(d["truth_x"], d["truth_y"]) / GeV
        a1.scatter(truth, np.hypot(met_x, met_y), s=8, color="tab:blue", label=f"events (N = {res['n_events']})")
        top = max(float(truth.max()), float(np.hypot(met_x, met_y).max()), 1.0) * 1.05
        a1.plot([0, top], [0, top], ls="--", color="black", lw=1, label="reco = truth")
        a1.set_xlabel(r"truth $E_T^{miss}$ (NonInt) [GeV]")
        a1.set_ylabel(r"FinalTrk $E_T^{miss}$ [GeV]")
        a1.set_title("MET response vs truth")
        a1.legend(frameon=False)
    if "truth" in res:
        diff = np.concatenate([met_x - d["truth_x"] / GeV, met_y - d["truth_y"] / GeV])
        edges = np.linspace(-100, 100, 41)
        counts, _ = np.histogram(np.clip(diff, -100, np.nextafter(100, 0)), bins=edges)
        a2.errorbar(0.5 * (edges[1:] + edges[:-1]), counts, yerr=np.sqrt(counts), fmt="o", ms=3,
                    label=f"x and y pooled (N = {len(diff)}), RMS = {res['truth']['resolution_rms']:.1f} "
                          f"± {res['truth']['resolution_rms_err']:.1f} GeV")
        a2.set_xlabel(r"$E_{x,y}^{miss}$ - truth [GeV] (last bins: overflow)")
        a2.set_ylabel("entries / 5 GeV")
        a2.set_ylim(bottom=0)
        a2.set_title("MET resolution vs truth")
        a2.legend(frameon=False)
    else:
        for ax in (a1, a2):
            ax.text(0.5, 0.5, "no truth MET in the input", ha="center", va="center", transform=ax.transAxes)
            ax.set_title("MET vs truth: not applicable")
    if "recoil" in res:
        r = res["recoil"]
        a3.scatter(r["ptz"], r["u_para"], s=12, color="tab:blue", label=r"$u_\parallel$")
        a3.scatter(r["ptz"], r["u_perp"], s=12, color="tab:red", marker="s", label=r"$u_\perp$")
        x = np.linspace(0, max(r["ptz"]) * 1.05, 10)
        a3.plot(x, -x, ls="--", color="black", lw=1, label=r"$u_\parallel = -p_T^{\ell\ell}$")
        a3.set_xlabel(r"$p_T^{\ell\ell}$ [GeV]")
        a3.set_ylabel("recoil component [GeV]")
        a3.legend(frameon=False)
    else:
        a3.text(0.5, 0.5, f"{res['n_z']} Z candidates: recoil not applicable", ha="center", va="center",
                transform=a3.transAxes)
    a3.set_title(f"Hadronic recoil, {res['n_z']} Z candidates")
    s = res["significance"]["s"]
    edges = np.linspace(0, 40, 21)
    for label, vals, colour in ((f"all events (N = {len(s)})", s, "tab:blue"),
                                (f"Z candidates (N = {int(res['significance']['zsel'].sum())})",
                                 s[res["significance"]["zsel"]], "tab:green")):
        if len(vals):
            counts, _ = np.histogram(np.clip(vals, 0, np.nextafter(40, 0)), bins=edges)
            a4.stairs(counts / (len(vals) * 2.0), edges, color=colour, label=label)
    x = np.linspace(0, 39, 100)
    a4.plot(x, 0.5 * np.exp(-x / 2), ls="--", color="black", label=r"$\chi^2$(2)")
    a4.set_yscale("log")
    a4.set_ylim(0.25 / (2.0 * max(len(s), 1)), 1.0)
    a4.axvspan(38, 40, color="0.92", zorder=0)
    a4.set_xlabel(r"$S = (\vec p - \vec b)^T V^{-1} (\vec p - \vec b)$ (last bin: overflow)")
    a4.set_ylabel("fraction per unit S")
    a4.set_title(f"Significance, model {res['model']}")
    a4.legend(frameon=False)
    fig.suptitle(title)
    path = os.path.join(folder, "input_summary.png")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def run_input_validation(files: list[str], folder: str, model: str | None = None, threads: int = 2,
                         log=print) -> dict[str, Any]:
    """Run, analyse and write report.md, results.json and input_summary.png for user files."""
    from metflow.framework import RunOptions, run_job

    from .plots import pyplot

    for f in files:
        if not os.path.exists(f):
            raise ValueError(f"--input: file {f!r} does not exist")
    pyplot()
    model = model or ("atlas-random" if all(is_physlite(f) for f in files) else "synthetic")
    os.makedirs(folder, exist_ok=True)
    job, collector = input_job(list(files), model)
    run_job(job, RunOptions(threads=threads, quiet=True, progress=False))
    res = analyse_input(collector.data, model)
    title = ", ".join(os.path.basename(f) for f in files)
    plot = _plot(res, collector.data, folder, title)
    lines = [f"# metflow validate --input: {title}", "",
             f"{res['n_events']} events; FinalTrk (track soft term) rebuilt by METMaker; significance "
             f"resolution model `{model}`.", "",
             f"* mean FinalTrk MET: {res['mean_met']:.1f} GeV"]
    if "truth" in res:
        t = res["truth"]
        lines.append(f"* truth (NonInt) MET: mean {t['mean_truth_met']:.1f} GeV; resolution RMS(MET_x,y - truth) = "
                     f"{t['resolution_rms']:.1f} ± {t['resolution_rms_err']:.1f} GeV; mean bias x/y "
                     f"{t['bias_xy'][0]:+.1f}/{t['bias_xy'][1]:+.1f} GeV")
        if "response" in t:
            lines.append(f"* projected response <MET . truth_hat>/truth for truth MET > 20 GeV: {t['response']['mean']:.3f} "
                         f"({t['response']['n']} events)")
    else:
        lines.append("* no truth MET in the input: response and resolution vs truth not applicable")
    lines.append(f"* Z candidates (two opposite-charge selected leptons, 66 < m < 116 GeV): {res['n_z']}")
    if "recoil" in res:
        r = res["recoil"]
        lines.append(f"* recoil: mean pT(ll) {r['mean_ptz']:.1f} GeV, response -<u_par>/<pT(ll)> = {r['response']:.3f}, "
                     f"RMS(u_perp) = {r['rms_perp']:.1f} GeV")
    sg = res["significance"]
    lines.append(f"* significance S: mean {sg['mean_s']:.2f}, median {sg['median_s']:.2f}, fraction S > 10: "
                 f"{sg['frac_s_above_10']:.2f}")
    if "significance_z" in res:
        z = res["significance_z"]
        lines.append(f"* significance on the Z candidates: mean {z['mean_s']:.2f}, median {z['median_s']:.2f}"
                     + (f"; {z['verdict']}" if "verdict" in z else " (too few for a calibration test)"))
    lines += ["", f"![summary]({os.path.basename(plot)})", ""]
    with open(os.path.join(folder, "report.md"), "w") as f:
        f.write("\n".join(lines))

    def clean(o):
        if isinstance(o, dict):
            return {k: clean(v) for k, v in o.items() if not isinstance(v, np.ndarray)}
        return o
    with open(os.path.join(folder, "results.json"), "w") as f:
        json.dump(clean(res), f, indent=1)
    res["files"] = {"report": os.path.join(folder, "report.md"), "plot": plot}
    return res
