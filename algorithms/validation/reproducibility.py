"""Every number `metflow validate` reports as a measurement, with its error, and the pulls
between two runs (e.g. two seeds): |a - b| / sqrt(err_a^2 + err_b^2).

Usage: python -m metflow.algorithms.validation.reproducibility rep_seed1/results.json rep_seed2/results.json [...]

Not in the list, because they are not estimates of a quantity: test statistics and p-values
(KS, binned chi2, fit chi2/ndf, the verdict), which scatter between independent samples by
construction; the markInvisible closure (algebra, exact up to float rounding); timings; the
numbers of generated events (set by --events). The p-value bins are compared with this
sample's error alone: the chi2(2) map's error, which report.md adds, is the same in every run.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from typing import Any

from .report import LINEARITY_RANGES, linearity_average

__all__ = ["reported_numbers", "pulls", "pull_table", "consistency", "main"]


def _fit_numbers(prefix: str, curves: dict[str, Any]) -> dict[str, tuple[float, float]]:
    out = {}
    for name, c in curves.items():
        f = c["fit"]
        out[f"{prefix} {name} sigma0"] = (f["sigma0"], f["sigma0_err"])
        out[f"{prefix} {name} k^2"] = (f["variance_slope"], f["variance_slope_err"])
        if f["k_determined"]:
            out[f"{prefix} {name} k"] = (f["k"], f["k_err"])
    return out


def _efficiency(prefix: str, res: dict[str, Any]) -> dict[str, tuple[float, float]]:
    if not res.get("n_generated"):
        return {}
    return {f"{prefix} Z selection efficiency": (res["n_events"] / res["n_generated"], res["efficiency_err"])}


def reported_numbers(results: dict[str, Any]) -> dict[str, tuple[float, float]]:
    """name -> (value, error) of every measured number report.md prints (results as in results.json)."""
    out: dict[str, tuple[float, float]] = {}
    out.update(_fit_numbers("Z->mumu", results["resolution"]["curves"]))
    out.update(_efficiency("Z->mumu", results["resolution"]))
    out.update(_fit_numbers("Z->ee", results["resolution_zee"]["curves"]))
    out.update(_efficiency("Z->ee", results["resolution_zee"]))
    for process, lin in results["linearity"].items():
        for name, c in lin["curves"].items():
            for lo, hi in LINEARITY_RANGES:
                v = linearity_average(c, lo, hi)
                if v is not None:
                    out[f"linearity {process} {name} truth {lo:g}-{hi:g} GeV"] = v
    sig = results["significance"]
    for key, v in (("Z-selected", sig["selected"]), ("inclusive", sig["inclusive"]),
                   *((f"{k} alone", v) for k, v in sig["by_flavour"].items()),
                   *((f"sample {k}", v) for k, v in sig["per_sample"].items())):
        out[f"significance {key} mean S"] = (v["mean_s"], v["mean_s_err"])
        if key in ("Z-selected", "inclusive"):
            out[f"significance {key} fraction p < 0.05"] = (v["frac_p_below_0p05"], v["frac_p_below_0p05_err"])
    sel = sig["selected"]
    out["significance Z-selected fraction S > 8"] = (sel["frac_s_above_8"], sel["frac_s_above_8_err"])
    for i, (r, e) in enumerate(zip(sel["ratio"], sel["ratio_err_sample"])):    # the map's error is common
        out[f"significance p-value bin {i} obs/exp"] = (r, e)
    out["significance Z->nunu mean S"] = (sig["mean_s_nunu"], sig["mean_s_nunu_err"])
    out["significance Z->nunu fraction p < 0.05"] = (sig["frac_nunu_p_below_0p05"], sig["frac_nunu_p_below_0p05_err"])
    for name, c in results["recoil"]["curves"].items():
        for i in range(0, len(c["ptz"]), 3):    # the rows report.md prints
            for key in ("response", "sigma_para", "sigma_perp"):
                out[f"recoil {name} bin {i} {key}"] = (c[key][i], c[key + "_err"][i])
    inv = results["invisible"]
    out["markInvisible <MET/pT> pT > 50"] = (inv["mean_ratio_ptz_above_50"], inv["mean_ratio_err"])
    out["markInvisible correlation"] = (inv["corr"], inv["corr_err"])
    for name, v in results["systematics"]["variations"].items():
        for key in ("mean_shift", "rel_shift", "rms_delta"):
            out[f"systematics {name} {key}"] = (v[key], v[key + "_err"])
    cl = results["cleaning"]
    for sample, tails in cl["tails"].items():
        for cut, v in tails.items():
            out[f"cleaning {sample} MET {cut}"] = (v, cl["tail_errors"][sample][cut])
    for fault, e in cl["efficiency"].items():
        out[f"cleaning {fault} flagged"] = (e["flagged"], e["flagged_err"])
        out[f"cleaning {fault} flagged, MET > 50"] = (e["flagged_met_above_50"], e["flagged_met_above_50_err"])
    for sample, v in cl["false_positive"].items():
        out[f"cleaning false positives {sample}"] = (v, cl["false_positive_err"][sample])
    out["cleaning false positives, unfaulted events of the faulted sample"] = (
        cl["flagged_unfaulted_in_faulted_sample"], cl["flagged_unfaulted_in_faulted_sample_err"])
    return {k: (float(v), float(e)) for k, (v, e) in out.items()}


def pulls(a: dict[str, tuple[float, float]], b: dict[str, tuple[float, float]]) -> list[tuple[str, float, float, float, float, float]]:
    """(name, value a, error a, value b, error b, pull) for every name in both; the pull is
    |a - b| / sqrt(err_a^2 + err_b^2) (nan where the combined error is 0 or not finite)."""
    rows = []
    for name in a:
        if name not in b:
            continue
        (va, ea), (vb, eb) = a[name], b[name]
        combined = math.hypot(ea, eb)
        pull = abs(va - vb) / combined if combined > 0 and math.isfinite(combined) else float("nan")
        rows.append((name, va, ea, vb, eb, pull))
    return rows


def pull_table(rows: list[tuple[str, float, float, float, float, float]], largest: int | None = None) -> str:
    """Markdown table of the pulls, largest first (`largest`: only that many rows)."""
    ordered = sorted(rows, key=lambda r: -r[5] if math.isfinite(r[5]) else math.inf)     # no pull: last
    lines = ["| number | run A | run B | pull |", "|---|---|---|---|"]
    for name, va, ea, vb, eb, pull in ordered[:largest]:
        lines.append(f"| {name} | {va:.4g} ± {ea:.2g} | {vb:.4g} ± {eb:.2g} | {pull:.2f} |")
    return "\n".join(lines)


def consistency(runs: list[dict[str, tuple[float, float]]]) -> dict[str, tuple[float, int]]:
    """name -> (chi2, ndf) of the runs' values against their weighted mean (ndf = runs - 1):
    with honest errors its average over many numbers is about 1 per degree of freedom."""
    out = {}
    for name in runs[0]:
        vals = [r[name] for r in runs if name in r]
        if len(vals) < 2 or not all(e > 0 and math.isfinite(e) for _, e in vals):
            continue
        w = [1.0 / e ** 2 for _, e in vals]
        mean = sum(wi * v for wi, (v, _) in zip(w, vals)) / sum(w)
        out[name] = (sum(wi * (v - mean) ** 2 for wi, (v, _) in zip(w, vals)), len(vals) - 1)
    return out


def _summary(pull_values: list[float]) -> str:
    finite = [p for p in pull_values if math.isfinite(p)]
    return (f"{len(pull_values)} numbers; pulls > 2: {sum(p > 2 for p in finite)}, > 3: {sum(p > 3 for p in finite)}; "
            f"without a pull (no error): {len(pull_values) - len(finite)}; largest {max(finite):.2f}; "
            f"RMS {math.sqrt(sum(p * p for p in finite) / len(finite)):.2f}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="pulls between the reported numbers of validate runs")
    parser.add_argument("results", nargs="+", help="two or more results.json files")
    parser.add_argument("--largest", type=int, default=None, help="print only the N largest pulls per pair")
    args = parser.parse_args(argv)
    if len(args.results) < 2:
        parser.error("give at least two results.json files")
    numbers = []
    for path in args.results:
        with open(path) as f:
            numbers.append(reported_numbers(json.load(f)))
    for i in range(len(numbers)):
        for j in range(i + 1, len(numbers)):
            rows = pulls(numbers[i], numbers[j])
            print(f"## {args.results[i]} vs {args.results[j]}\n")
            print(pull_table(rows, args.largest))
            print("\n" + _summary([r[5] for r in rows]) + "\n")
    if len(numbers) > 2:
        chi2 = consistency(numbers)
        total, ndf = sum(c for c, _ in chi2.values()), sum(n for _, n in chi2.values())
        print(f"consistency of all {len(numbers)} runs: sum chi2/ndf = {total:.1f}/{ndf} = {total / ndf:.2f} "
              f"over {len(chi2)} numbers")
    return 0


if __name__ == "__main__":
    sys.exit(main())
