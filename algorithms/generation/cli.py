"""``metflow generate``: Pythia8 events through the toy detector into a schema-v1 Parquet file."""

from __future__ import annotations

import argparse
import sys

from metflow.algorithms.generation.pythia_gen import (
    DEFAULT_BLOCK_SIZE, DEFAULT_LIBRARY_SIZE, PROCESSES, GenerationConfig, MissingGeneratorDependency,
    default_cache_dir, generate, require_generator_dependencies)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``metflow generate``."""
    processes = ", ".join(f"{name} ({doc})" for name, (_, doc) in PROCESSES.items())
    parser.add_argument("--process", required=True, choices=sorted(PROCESSES), metavar="PROCESS",
                        help=f"hard process: {processes}")
    parser.add_argument("--events", type=int, required=True, metavar="N", help="number of events")
    parser.add_argument("--mu", type=float, default=0.0,
                        help="mean number of pileup interactions per crossing (Poisson), default 0")
    parser.add_argument("--seed", type=int, default=1, help="random seed; event i depends only on (seed, i)")
    parser.add_argument("--output", "-o", default="events.parquet", help="output Parquet file")
    parser.add_argument("--threads", type=int, default=1, metavar="T",
                        help="worker processes (each runs its own Pythia); the output does not depend on it")
    parser.add_argument("--block-size", type=int, default=DEFAULT_BLOCK_SIZE, metavar="B",
                        help="events per work unit and Parquet row group; the output does not depend on it")
    parser.add_argument("--cache-dir", default=None,
                        help=f"where the min-bias library is cached (default $METFLOW_CACHE or {default_cache_dir()})")
    parser.add_argument("--library-size", type=int, default=DEFAULT_LIBRARY_SIZE,
                        help="min-bias events in the pileup library (generated once per size)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar and no summary")


def run(args) -> int:
    """Run ``metflow generate``; returns the exit code."""
    try:
        require_generator_dependencies()
    except MissingGeneratorDependency as exc:
        print(f"metflow generate: {exc}", file=sys.stderr)
        return 2
    log = None if args.quiet else (lambda msg: print(f"metflow generate: {msg}", file=sys.stderr))
    try:
        config = GenerationConfig(process=args.process, n_events=args.events, mu=args.mu, seed=args.seed,
                                  library_size=args.library_size, cache_dir=args.cache_dir)
        report = generate(config, args.output, processes=args.threads, block_size=args.block_size,
                          progress=None if not args.quiet else False, log=log)
    except (ValueError, FileNotFoundError) as exc:
        print(f"metflow generate: error: {exc}", file=sys.stderr)
        return 2
    if not args.quiet:
        print(f"wrote {report.n_events} {args.process} events (mu = {args.mu:g}, seed = {args.seed}) to "
              f"{report.path}: {report.seconds:.1f} s, {report.events_per_second:.1f} events/s, "
              f"{report.bytes_per_event / 1024:.1f} kB/event")
    return 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="metflow generate", description=__doc__)
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
