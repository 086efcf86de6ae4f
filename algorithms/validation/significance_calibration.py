"""chi2(2) calibration of the track-soft-term (TST) MET significance on synthetic Z->ll.

The Gaussian resolution model of `algorithms/met/significance.py` cannot make S follow chi2(2)
on the synthetic detector: there the soft recoil of a Z below ~20 GeV is one charged pion plus
one photon, so the TST sees either the charged half of the recoil or nothing of it (two modes
of MET along pthard), and 2-3 % of Z events have no soft track at all (MET = -pT(ll) exactly,
mapped by the bias + recoil term onto the single value S = ((1 - beta)/k)^2 = 0.71). The model's
S is kept as the ordering statistic and a monotone map S -> F^-1_chi2(2)(F_Zll(S)) makes it
chi2(2)-distributed on Z-selected Z->ll (no real MET), where F_Zll is its cumulative
distribution measured here on samples independent of the validation samples (base seeds
900000 + k; the validation uses 1000*seed + k; run_sample gives each chunk of 2500 events its
own seed). The map is tied to the reconstruction: regenerate it when METMaker, the object
selection or the synthetic detector change (the report's per-sample table shows a stale map).

    python -m metflow.algorithms.validation.significance_calibration [--events 60000]

writes the knots into `algorithms/met/_significance_chi2_map.py` (read by significance.py as
TST_CHI2_MAP), with the number of events (N_EVENTS) and the design effect of their chunks
(DESIGN_EFFECT): the validation report checks the flatness of exp(-S/2) on other seeds as a
two-sample comparison with this sample.
"""

from __future__ import annotations

import argparse
import sys

import numpy as np

from .chain import Sample, run_sample

__all__ = ["CALIBRATION_SAMPLES", "CALIBRATION_SEED", "raw_significance", "chi2_map", "design_effect", "main"]

CALIBRATION_SEED = 900000
#: the Z->ll mix of the validation report (Z->mumu at <mu> 0-60 in steps of 10, Z->ee at 0-60 in
#: steps of 20, equal events per sample): the map is calibrated on the population it is judged on
CALIBRATION_SAMPLES = tuple([("zmumu", float(mu)) for mu in range(0, 61, 10)]
                            + [("zee", float(mu)) for mu in range(0, 61, 20)])
_TAIL_QUANTILES = (0.995, 0.998, 0.999, 0.9995)


def raw_significance(events: int, seed: int = CALIBRATION_SEED, threads: int = 2) -> tuple[np.ndarray, np.ndarray]:
    """The model's S before the chi2 map on Z-selected events of every calibration sample
    (sample k generated with seed + k, so no two samples share a hard scatter), and each
    event's generator chunk seed."""
    from metflow.algorithms.met.significance import chi2_uncalibrate

    from .report import z_selected

    parts, chunks = [], []
    for k, (process, mu) in enumerate(CALIBRATION_SAMPLES):
        d = run_sample(Sample(process, mu, events, seed + k), threads=threads)
        selected = z_selected(d, "mm" if process == "zmumu" else "ee")
        parts.append(chi2_uncalibrate(d["significance"][selected]))
        chunks.append(d["chunk_seed"][selected])
    return np.concatenate(parts), np.concatenate(chunks)


def design_effect(s_raw: np.ndarray, chunk_seed: np.ndarray, knots: np.ndarray, targets: np.ndarray) -> float:
    """Variance inflation of the mapped p-values' empirical CDF by the events' chunks (events of
    one chunk share a pileup library), measured on the calibration sample: the verdict's KS
    test divides its effective number of events by it (stats.significance_verdict)."""
    from metflow.algorithms.met.significance import chi2_calibrate

    from .stats import ecdf_design_effect

    u = np.exp(-chi2_calibrate(s_raw, (tuple(knots), tuple(targets))) / 2)
    return ecdf_design_effect(u, chunk_seed, np.asarray(chunk_seed) // 1000)


def chi2_map(s_raw: np.ndarray, n_knots: int = 100) -> tuple[np.ndarray, np.ndarray]:
    """(knots of the raw S, chi2(2) quantiles they map to): raw S at n_knots-1 equally spaced
    quantiles plus tail quantiles the sample resolves (>= 50 events above each)."""
    from scipy import stats

    s_raw = np.asarray(s_raw, np.float64)
    q = list(np.arange(1, n_knots) / n_knots)
    q += [t for t in _TAIL_QUANTILES if t > q[-1] and (1 - t) * len(s_raw) >= 50]
    q = np.array(q)
    knots = np.quantile(s_raw, q)
    keep = np.concatenate([[True], np.diff(knots) > 0])   # strictly increasing
    return knots[keep], stats.chi2.ppf(q[keep], 2)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=60000, help="generated events per sample")
    parser.add_argument("--seed", type=int, default=CALIBRATION_SEED)
    parser.add_argument("--knots", type=int, default=400)
    parser.add_argument("--output", default=None, help="module file to write (default: print)")
    args = parser.parse_args(argv)
    s, chunks = raw_significance(args.events, args.seed)
    knots, targets = chi2_map(s, args.knots)
    text = _module_text(knots, targets, len(s), design_effect(s, chunks, knots, targets), args)
    if args.output:
        with open(args.output, "w") as f:
            f.write(text)
    else:
        print(text)
    print(f"{len(s)} Z-selected events, {len(knots)} knots", file=sys.stderr)
    return 0


def _numbers(values: np.ndarray) -> str:
    items = [f"{x:.6g}," for x in values]
    lines, line = [], "    "
    for item in items:
        if len(line) + len(item) > 99:
            lines.append(line.rstrip())
            line = "    "
        line += item + " "
    lines.append(line.rstrip())
    return "\n".join(lines)


def _module_text(knots: np.ndarray, targets: np.ndarray, n: int, design: float, args) -> str:
    samples = ", ".join(f"{p} mu={mu:g}" for p, mu in CALIBRATION_SAMPLES)
    return (f'''"""Generated by `python -m metflow.algorithms.validation.significance_calibration --events
{args.events} --seed {args.seed} --knots {args.knots} --output <this file>`: the chi2(2) map of the TST
significance (significance.TST_CHI2_MAP), from {n} Z-selected events of {samples}
(sample k with seed {args.seed} + k). Do not edit by hand."""

N_EVENTS = {n}
DESIGN_EFFECT = {design:.4f}
KNOTS = (
{_numbers(knots)}
)
CHI2_QUANTILES = (
{_numbers(targets)}
)
''')


if __name__ == "__main__":
    raise SystemExit(main())
