"""PNG figures of the validation report (matplotlib, the `plot` extra). Each function takes the
numbers `report.analyse` computed and writes one file; every axis has a label with its unit and
every figure a legend."""

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
    return plt


def _save(fig, folder: str, name: str) -> str:
    path = os.path.join(folder, PLOT_FILES[name])
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    pyplot().close(fig)
    return path


def plot_resolution(res: dict[str, Any], folder: str) -> str:
    """RMS of (MET - truth) x/y components vs reconstructed pileup vertices, with the sqrt(N) fits."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6.4, 4.6))
    for name, r in res["curves"].items():
        colour, marker = _STYLE[name]
        ax.errorbar(r["n_pu"], r["rms"], yerr=r["err"], fmt=marker, color=colour, ms=4,
                    label=f"{name}: k = {r['fit']['k']:.2f} GeV/vertex$^{{1/2}}$")
        n = np.linspace(0, max(r["n_pu"]) if len(r["n_pu"]) else 1, 100)
        fit = r["fit"]
        ax.plot(n, np.sqrt(fit["sigma0"] ** 2 + fit["k"] ** 2 * n), color=colour, lw=1)
    ax.set_xlabel("reconstructed pileup vertices $N_{PV} - 1$")
    ax.set_ylabel(r"RMS($E^{miss}_{x,y}$ - truth) [GeV]")
    ax.set_title(rf"{res['sample']}: fit $\sigma = \sqrt{{\sigma_0^2 + k^2 N}}$")
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
    """S distribution against chi2(2), and the p-value histograms (flat when calibrated)."""
    plt = pyplot()
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10.4, 4.4))
    edges = np.linspace(0, 20, 41)
    for label, s, colour in ((sig["ll_label"], sig["ll_s"], "tab:blue"),
                             (sig["nunu_label"], sig["nunu_s"], "tab:red")):
        ax1.hist(np.clip(s, 0, 19.999), bins=edges, density=True, histtype="step", color=colour, label=label)
    x = np.linspace(0, 20, 200)
    ax1.plot(x, 0.5 * np.exp(-x / 2), color="black", ls="--", label=r"$\chi^2$(2 dof)")
    ax1.set_yscale("log")
    ax1.set_xlabel(r"MET significance $S = p^T V^{-1} p$ (dimensionless)")
    ax1.set_ylabel("fraction of events per unit S")
    ax1.legend(frameon=False)
    pedges = np.linspace(0, 1, 21)
    for label, s, colour in ((sig["ll_label"], sig["ll_s"], "tab:blue"),
                             (sig["nunu_label"], sig["nunu_s"], "tab:red")):
        ax2.hist(np.exp(-np.asarray(s) / 2), bins=pedges, density=True, histtype="step", color=colour,
                 label=label)
    ax2.axhline(1.0, color="black", ls="--", label="uniform (calibrated)")
    ax2.set_xlabel(r"$\chi^2(2)$ p-value $e^{-S/2}$ (dimensionless)")
    ax2.set_ylabel("probability density")
    ax2.set_title(f"KS vs uniform on Z->ll: p = {sig['ks_p']:.2g} (N = {sig['n_ll']})", fontsize=9)
    ax2.legend(frameon=False, fontsize=8)
    return _save(fig, folder, "significance")


def plot_recoil(rec: dict[str, Any], folder: str) -> str:
    """Hadronic recoil response and resolution (parallel, perpendicular) vs Z pT."""
    plt = pyplot()
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10.4, 4.4))
    for name, c in rec["curves"].items():
        colour, marker = _STYLE[name]
        ax1.errorbar(c["ptz"], c["response"], yerr=c["response_err"], fmt=marker, color=colour, ms=4,
                     label=f"{name}")
        ax2.plot(c["ptz"], c["sigma_para"], marker=marker, color=colour, label=f"{name} parallel")
        ax2.plot(c["ptz"], c["sigma_perp"], marker=marker, color=colour, ls="--", mfc="none",
                 label=f"{name} perpendicular")
    ax1.axhline(1.0, color="grey", lw=0.8)
    ax1.set_xlabel(r"$p_T^{\mu\mu}$ [GeV]")
    ax1.set_ylabel(r"recoil response $-\langle u_\parallel\rangle / p_T^{\mu\mu}$")
    ax1.set_title(rec["title"], fontsize=9)
    ax1.legend(frameon=False)
    ax2.set_xlabel(r"$p_T^{\mu\mu}$ [GeV]")
    ax2.set_ylabel(r"RMS($u_\parallel + p_T^{\mu\mu}$), RMS($u_\perp$) [GeV]")
    ax2.legend(frameon=False, fontsize=8)
    return _save(fig, folder, "recoil")


def plot_invisible(inv: dict[str, Any], folder: str) -> str:
    """MET with the muons marked invisible against the dimuon pT."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6.0, 4.8))
    ptz, met = np.asarray(inv["ptz"]), np.asarray(inv["met"])
    top = 200.0
    h = ax.hist2d(np.clip(ptz, 0, top), np.clip(met, 0, top), bins=50, range=[[0, top], [0, top]],
                  cmap="Blues", cmin=1)
    fig.colorbar(h[3], ax=ax, label="events")
    ax.errorbar(inv["profile_ptz"], inv["profile_met"], yerr=inv["profile_err"], fmt="o", color="tab:red",
                ms=3, label=r"mean $E^{miss}_T$(muons invisible)")
    ax.plot([0, top], [0, top], color="black", ls="--", lw=1, label=r"$E^{miss}_T = p_T^{\mu\mu}$")
    ax.set_xlabel(r"$p_T^{\mu\mu}$ [GeV]")
    ax.set_ylabel(r"$E^{miss}_T$ (TST) with muons marked invisible [GeV]")
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
    ax.set_title(syst["title"], fontsize=9)
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
        ax.hist(np.clip(met, 0, 399.9), bins=edges, histtype="step", lw=1.4, label=label, **style)
    ax.set_yscale("log")
    ax.set_xlabel(r"$E^{miss}_T$ (TST) [GeV]")
    ax.set_ylabel("events / 10 GeV")
    ax.set_title(cl["title"], fontsize=9)
    ax.legend(frameon=False, fontsize=8)
    return _save(fig, folder, "cleaning")
