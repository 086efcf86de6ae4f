"""PNG figures of the validation report (matplotlib + mplhep style, the `plot` extra). Each
function takes the numbers `report.analyse` computed and writes one file; every panel has a
title, axis labels with units and a legend; points carry error bars, fits their chi2/ndf, and
overflow is drawn in a labelled last bin."""

from __future__ import annotations

import os
from typing import Any

import numpy as np

__all__ = ["pyplot", "plot_resolution", "plot_linearity", "plot_significance", "plot_recoil",
           "plot_invisible", "plot_systematics", "plot_cleaning", "PLOT_FILES"]

#: figure name -> file written in the output folder
PLOT_FILES = {
    "resolution": "met_resolution_vs_pileup.png",
    "linearity": "met_linearity.png",
    "significance": "met_significance.png",
    "recoil": "hadronic_recoil.png",
    "invisible": "mark_invisible_muons.png",
    "systematics": "soft_term_systematics.png",
    "cleaning": "met_cleaning_tails.png",
}

_STYLE = {"TST": ("tab:blue", "o"), "CST": ("tab:red", "s"), "Track": ("tab:green", "^")}


def pyplot():
    """matplotlib.pyplot with the non-interactive Agg backend, or a clear install hint."""
    try:
        import matplotlib
    except ModuleNotFoundError:
        raise ModuleNotFoundError('metflow validate needs matplotlib: pip install "metflow[plot]"',
                                  name="matplotlib") from None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    try:
        import mplhep
    except ModuleNotFoundError:
        raise ModuleNotFoundError('metflow validate needs mplhep: pip install "metflow[plot]"',
                                  name="mplhep") from None
    plt.style.use(mplhep.style.ATLAS)
    plt.rcParams.update({"font.size": 11, "axes.titlesize": 11, "legend.fontsize": 8,
                         "figure.dpi": 100})
    return plt


def _overflow_stairs(ax, values, edges, **style):
    """Step histogram whose last bin also holds the overflow (shaded, labelled on the axis)."""
    values = np.asarray(values, np.float64)
    counts, _ = np.histogram(np.clip(values, edges[0], np.nextafter(edges[-1], -np.inf)), bins=edges)
    ax.stairs(counts, edges, **style)
    return counts


def _mark_overflow(ax, edges, unit=""):
    ax.axvspan(edges[-2], edges[-1], color="0.92", zorder=0)
    ax.annotate(f"overflow\n(≥ {edges[-2]:g}{unit})", xy=(edges[-2], 0.5), xycoords=("data", "axes fraction"),
                fontsize=7, ha="right", va="center", rotation=90, color="0.35")


def _save(fig, folder: str, name: str) -> str:
    path = os.path.join(folder, PLOT_FILES[name])
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    pyplot().close(fig)
    return path


def plot_resolution(res: dict[str, Any], folder: str) -> str:
    """RMS of (MET - truth) x/y components vs reconstructed pileup vertices, with the sqrt(N) fits."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6.4, 4.6))
    for name, r in res["curves"].items():
        colour, marker = _STYLE[name]
        fit = r["fit"]
        ax.errorbar(r["n_pu"], r["rms"], yerr=r["err"], fmt=marker, color=colour, ms=4,
                    label=(f"{name}: k = {fit['k']:.3f} ± {fit['k_err']:.3f} GeV/vertex$^{{1/2}}$, "
                           if fit["k_determined"] else
                           f"{name}: $k^2$ = {fit['variance_slope']:.3f} ± {fit['variance_slope_err']:.3f} GeV$^2$/vertex, ")
                          + f"$\\chi^2$/ndf = {fit['chi2']:.0f}/{fit['ndf']}")
        n = np.linspace(0, max(r["n_pu"]) if len(r["n_pu"]) else 1, 100)
        fit = r["fit"]
        ax.plot(n, np.sqrt(np.maximum(fit["sigma0"] ** 2 + fit["variance_slope"] * n, 0)), color=colour, lw=1)
    ax.set_xlabel("reconstructed pileup vertices $N_{PV} - 1$")
    ax.set_ylabel(r"RMS($E^{miss}_{x,y}$ - truth) [GeV]")
    ax.set_title(rf"{res['sample']} ({res['n_events']} Z candidates): fit $\sigma = (\sigma_0^2 + k^2 N)^{{1/2}}$")
    ax.set_ylim(bottom=0)
    ax.legend(frameon=False)
    return _save(fig, folder, "resolution")


def plot_linearity(lin: dict[str, Any], folder: str) -> str:
    """Linearity (<MET> - truth)/truth vs truth MET per sample and MET definition."""
    plt = pyplot()
    samples = list(lin)
    fig, axes = plt.subplots(1, len(samples), figsize=(5.2 * len(samples), 4.4), squeeze=False)
    for ax, sample in zip(axes[0], samples):
        for name, c in lin[sample]["curves"].items():
            colour, marker = _STYLE[name]
            ax.errorbar(c["truth"], c["linearity"], yerr=c["err"], fmt=marker, color=colour, ms=4,
                        label=f"{name} linearity")
            ax.plot(c["truth"], np.asarray(c["response"]) - 1.0, ls="--", color=colour, lw=1,
                    label=f"{name} projected response - 1")
        ax.axhline(0.0, color="grey", lw=0.8)
        ax.set_xlabel(r"truth $E^{miss}_T$ [GeV]")
        ax.set_ylabel(r"$(\langle E^{miss}_T\rangle - E^{miss,truth}_T)/E^{miss,truth}_T$")
        ax.set_title(lin[sample]["title"])
        ax.legend(frameon=False, fontsize=7)
    return _save(fig, folder, "linearity")


def plot_significance(sig: dict[str, Any], folder: str) -> str:
    """S against chi2(2) (overflow labelled) and the p-value histogram of the Z-selected sample
    with Poisson errors, chi2/ndf and KS p; inclusive Z->ll and Z->nunu for comparison."""
    plt = pyplot()
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(12.0, 4.8))
    edges = np.linspace(0, 20, 41)
    width = edges[1] - edges[0]
    for label, s, style in ((sig["ll_label"], sig["ll_s"], dict(color="tab:blue", lw=1.6)),
                            (sig["inclusive_label"], sig["inclusive_s"], dict(color="tab:green", ls=":")),
                            (sig["nunu_label"], sig["nunu_s"], dict(color="tab:red"))):
        s = np.asarray(s, np.float64)
        counts, _ = np.histogram(np.clip(s, 0, np.nextafter(20.0, 0)), bins=edges)
        ax1.stairs(counts / (len(s) * width), edges, label=f"{label} (N = {len(s)})", **style)
    x = np.linspace(0, 19.5, 200)
    ax1.plot(x, 0.5 * np.exp(-x / 2), color="black", ls="--", label=r"$\chi^2$(2 dof)")
    ax1.set_yscale("log")
    _mark_overflow(ax1, edges)
    ax1.set_xlabel(r"$S = (\vec p - \vec b)^T V^{-1} (\vec p - \vec b)$, $\chi^2(2)$-calibrated")
    ax1.set_ylabel("fraction of events per unit S")
    ax1.set_title(f"MET significance of FinalTrk (model: {sig['model']})")
    ax1.legend(frameon=False, loc="upper right")
    sel = sig["selected"]
    pedges = np.linspace(0, 1, len(sel["ratio"]) + 1)
    n = sel["n"]
    expected = n / (len(pedges) - 1)
    counts = np.asarray(sel["ratio"]) * expected
    centres = 0.5 * (pedges[1:] + pedges[:-1])
    # error per bin: the sample's Poisson error and that of the calibration sample behind the map
    scale = sel.get("variance_scale", 1.0)
    ax2.errorbar(centres, counts / expected, yerr=np.sqrt(scale * expected) / expected, fmt="o", ms=4,
                 color="tab:blue", label=f"{sig['ll_label']} (N = {n})")
    ax2.axhline(1.0, color="black", ls="--", label="uniform (calibrated)")
    ax2.set_ylim(0.85, 1.2)
    ax2.annotate("inclusive Z→ℓℓ (lost leptons = real MET) is not χ²(2): left panel and report.md",
                 xy=(0.02, 0.03), xycoords="axes fraction", fontsize=7, color="0.35")
    ax2.set_xlabel(r"$\chi^2(2)$ p-value $e^{-S/2}$")
    ax2.set_ylabel("observed / expected per bin")
    against = (f"\ntwo-sample vs the map's {sel['reference_n']} events (KS N_eff = {sel['n_eff']:.0f})"
               if sel.get("reference_n") else "")
    ax2.set_title(f"Z-selected: $\\chi^2$/ndf = {sel['chi2']:.1f}/{sel['ndf']} (p = {sel['chi2_p']:.2g}), "
                  f"KS p = {sel['ks_p']:.2g}{against}")
    ax2.legend(frameon=False, loc="upper left")
    return _save(fig, folder, "significance")


def plot_recoil(rec: dict[str, Any], folder: str) -> str:
    """Hadronic recoil response and resolution (parallel, perpendicular) vs Z pT, with errors
    and the number of events per bin."""
    plt = pyplot()
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(12.0, 4.8))
    for name, c in rec["curves"].items():
        colour, marker = _STYLE[name]
        ax1.errorbar(c["ptz"], c["response"], yerr=c["response_err"], fmt=marker, color=colour, ms=4,
                     label=f"{name}")
        ax2.errorbar(c["ptz"], c["sigma_para"], yerr=c["sigma_para_err"], fmt=marker + "-", color=colour,
                     ms=4, lw=1, label=f"{name} parallel")
        ax2.errorbar(c["ptz"], c["sigma_perp"], yerr=c["sigma_perp_err"], fmt=marker + "--", color=colour,
                     mfc="none", ms=4, lw=1, label=f"{name} perpendicular")
    first = next(iter(rec["curves"].values()))
    for x, n in zip(first["ptz"], first["entries"]):
        ax1.annotate(f"{n}", xy=(x, 0.02), xycoords=("data", "axes fraction"), fontsize=6, ha="center",
                     rotation=90, color="0.4")
    ax1.axhline(1.0, color="grey", lw=0.8)
    ax1.set_xlabel(r"$p_T^{\mu\mu}$ [GeV]")
    ax1.set_ylabel(r"recoil response $-\langle u_\parallel\rangle / p_T^{\mu\mu}$")
    ax1.set_title(f"Recoil response, {rec['title']} (events per bin at the bottom)")
    ax1.legend(frameon=False)
    ax2.set_xlabel(r"$p_T^{\mu\mu}$ [GeV]")
    ax2.set_ylabel(r"RMS($u_\parallel + p_T^{\mu\mu}$), RMS($u_\perp$) [GeV]")
    ax2.set_title(f"Recoil resolution, {rec['n_events']} Z candidates")
    ax2.legend(frameon=False)
    return _save(fig, folder, "recoil")


def plot_invisible(inv: dict[str, Any], folder: str) -> str:
    """MET with the muons marked invisible against the dimuon pT."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(8.0, 6.4))
    ptz, met = np.asarray(inv["ptz"]), np.asarray(inv["met"])
    top = 200.0
    from matplotlib.colors import LogNorm
    h = ax.hist2d(np.clip(ptz, 0, top - 1e-6), np.clip(met, 0, top - 1e-6), bins=50,
                  range=[[0, top], [0, top]], cmap="Blues", norm=LogNorm(), cmin=1)
    fig.colorbar(h[3], ax=ax, label="events per bin (log scale)")
    n_over = int(np.sum((ptz >= top) | (met >= top)))
    ax.set_title(f"markInvisible(muons): {inv['n_events']} Z->mumu candidates\n"
                 f"({n_over} beyond {top:g} GeV drawn in the last row/column)")
    ax.errorbar(inv["profile_ptz"], inv["profile_met"], yerr=inv["profile_err"], fmt="o", color="tab:red",
                ms=3, label=r"mean $E^{miss}_T$(muons invisible)")
    ax.plot([0, top], [0, top], color="black", ls="--", lw=1, label=r"$E^{miss}_T = p_T^{\mu\mu}$")
    ax.set_xlabel(r"$p_T^{\mu\mu}$ [GeV]")
    ax.set_ylabel(r"$E^{miss}_T$ (TST), muons invisible [GeV]")
    ax.legend(frameon=False, loc="upper left")
    return _save(fig, folder, "invisible")


def plot_systematics(syst: dict[str, Any], folder: str) -> str:
    """Mean shift and RMS change of the total MET per soft-term variation."""
    plt = pyplot()
    names = list(syst["variations"])
    shift = [syst["variations"][n]["mean_shift"] for n in names]
    spread = [syst["variations"][n]["rms_delta"] for n in names]
    y = np.arange(len(names))
    fig, ax = plt.subplots(figsize=(7.2, 0.45 * len(names) + 1.6))
    ax.barh(y - 0.2, shift, height=0.4, color="tab:blue", label=r"$\langle E^{miss}_T\rangle$ shift")
    ax.barh(y + 0.2, spread, height=0.4, color="tab:orange",
            label=r"RMS of $|\Delta \vec{E}^{miss}_T|$ (varied - nominal)")
    ax.set_yticks(y, [n.replace("MET_", "") for n in names], fontsize=8)
    ax.axvline(0.0, color="grey", lw=0.8)
    ax.set_xlabel("[GeV]")
    ax.set_title(syst["title"])
    ax.legend(frameon=False, fontsize=8)
    return _save(fig, folder, "systematics")


def plot_cleaning(cl: dict[str, Any], folder: str) -> str:
    """MET tails of a sample with injected faults before and after cleaning, and without faults."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6.6, 4.6))
    edges = np.linspace(0, 400, 41)
    for label, met, style in ((cl["labels"]["faults"], cl["met_faults"], dict(color="tab:red")),
                              (cl["labels"]["faults_clean"], cl["met_faults_clean"], dict(color="tab:blue")),
                              (cl["labels"]["nominal"], cl["met_nominal"], dict(color="black", ls="--"))):
        _overflow_stairs(ax, met, edges, lw=1.4, label=f"{label} (N = {len(met)})", **style)
    ax.set_yscale("log")
    _mark_overflow(ax, edges, " GeV")
    ax.set_xlabel(r"$E^{miss}_T$ (TST) [GeV]")
    ax.set_ylabel("events / 10 GeV")
    ax.set_title(cl["title"])
    ax.legend(frameon=False, fontsize=8)
    return _save(fig, folder, "cleaning")
