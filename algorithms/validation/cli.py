"""`metflow validate`: the physics validation report (plots + report.md) from synthetic samples,
or (`--input FILES`) the part of it that applies to PHYSLITE or metflow Parquet files."""

from __future__ import annotations

import argparse
import sys

DEFAULT_EVENTS = 20000
DEFAULT_OUTPUT = "report"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.description = ("Generate Z->mumu, Z->ee, Z->nunu, ttbar and dijet samples (<mu> 0-60, dijet also with "
                          "injected detector faults), run MET reconstruction + rebuild, and write PNG plots, "
                          "report.md and results.json: resolution vs pileup (TST, CST, track MET), response, "
                          "significance calibration, recoil, markInvisible, soft-term systematics, MET filters.")
    parser.add_argument("-n", "--events", type=int, default=DEFAULT_EVENTS,
                        help=f"events per sample (default {DEFAULT_EVENTS}; single-<mu> samples get twice as many)")
    parser.add_argument("-o", "--output", default=DEFAULT_OUTPUT, help=f"output folder (default {DEFAULT_OUTPUT}/)")
    parser.add_argument("--threads", type=int, default=2, help="worker threads (default 2)")
    parser.add_argument("--seed", type=int, default=1, help="seed of the synthetic samples (sample k: 1000*seed + k)")
    parser.add_argument("--input", nargs="+", metavar="SPEC", default=None,
                        help="validate these files instead (PHYSLITE .root or metflow schema-v1 Parquet; "
                             "directories, globs, lists, filesets, URLs as metflow run): MET "
                             "response/resolution vs truth (simulation), recoil vs Z pT, significance")
    parser.add_argument("--significance-model", choices=("synthetic", "atlas-random"), default=None,
                        help="significance resolution model: 'synthetic' (calibrated on the synthetic detector; "
                             "default for generated samples and Parquet) or 'atlas-random' (ATLAS constant "
                             "8.5 GeV soft term; default for PHYSLITE). See docs/validation.md")


def run(args: argparse.Namespace) -> int:
    from .report import run_validation

    if args.threads < 1:
        print(f"metflow validate: --threads must be >= 1, got {args.threads}", file=sys.stderr)
        return 2
    if args.input:
        return _run_input(args)
    try:
        print(f"metflow validate: {args.events} events per sample -> {args.output}/", file=sys.stderr)
        results = run_validation(args.output, args.events, threads=args.threads, seed=args.seed,
                                 significance_model=args.significance_model or "synthetic",
                                 log=lambda line: print(line, file=sys.stderr))
    except (ValueError, ModuleNotFoundError) as exc:
        print(f"metflow validate: error: {exc}", file=sys.stderr)
        return 2
    res, sig = results["resolution"]["curves"], results["significance"]
    print(f"report: {results['files']['report']}  ({results['timing']['total_s']:.0f} s)")
    print("resolution slope k [GeV/sqrt(vertex)]: " + ", ".join(f"{name} {c['fit']['k_text']}" for name, c in res.items()))
    print(f"significance on Z-selected Z->ll: {sig['selected']['text']}; mean S {sig['selected']['mean_s']:.3f} ± "
          f"{sig['selected']['mean_s_err']:.3f}")
    return 0


def _run_input(args: argparse.Namespace) -> int:
    from metflow.framework.errors import ConfigurationError
    from metflow.framework.input_specs import expand_inputs

    from .user_input import run_input_validation

    try:   # directories, globs, lists, filesets, URLs as `metflow run --input` takes them
        res = run_input_validation(expand_inputs(args.input), args.output, args.significance_model,
                                   threads=args.threads)
    except (ValueError, ModuleNotFoundError, ConfigurationError) as exc:
        print(f"metflow validate: error: {exc}", file=sys.stderr)
        return 2
    print(f"report: {res['files']['report']}  ({res['n_events']} events, significance model {res['model']})")
    if "truth" in res:
        print(f"MET resolution vs truth: RMS {res['truth']['resolution_rms']:.1f} GeV per axis")
    print(f"Z candidates: {res['n_z']}; mean significance {res['significance']['mean_s']:.2f}")
    return 0
