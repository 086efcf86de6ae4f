"""`metflow bench`: throughput of the MET chains against a read-only pass of the same input.

One run generates a synthetic input once (Parquet, default ttbar at mu = 40) and measures on it,
each row the best of several repetitions (interleaved, so machine load hits all rows alike):

* the read-only pass (the floor: Parquet decode into EDM containers, nothing else), and the
  same pass without verifying the Parquet page checksums (the cost of the verification),
* the reco chain (met_reco algorithms, null sink), and with its Parquet output (I/O cost),
* METMaker rebuild (met_rebuild on the met_reco output) and the full chain (reco + rebuild),
* each of them for every `--threads` value, with the scaling efficiency,
* `--batch-size 1` against the default batch on the same events, for every `--threads` value,
* the framework overhead per algorithm execution (a DAG of trivial algorithms, also its thread
  scaling: tiny tasks must not get slower with threads) and the demo numba-kernel job's thread
  scaling (the control: it shows how many cores the machine gave the run).

The jobs of the rows are in `bench_jobs`, the measuring in `bench_measure`, the goals and the
table in `bench_report`.

Wall time and process CPU time are reported per row, with the load average of the machine.
Ratios are computed within the run. `--json out.json` writes every number.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from typing import Any

from metflow.framework import Job, ParquetSource, RunOptions, run_job
from metflow.framework.errors import ConfigurationError

from .bench_jobs import (OVERHEAD_BLOCKS, OVERHEAD_LAYERS, OVERHEAD_WIDTH, NullSink,
                         _parquet_source, _with_read_ahead, demo_job, generate_input,
                         overhead_job, read_only_job, rebuild_job, reco_job)
from .bench_measure import (Case, Row, _cpu_model, _load, _measure, _versions, kernel_share,
                            verification_share)
from .bench_report import (GOAL_BATCH1_2T, GOAL_BATCH1_VS_BATCHED, GOAL_CHECKSUM_READ_COST,
                           GOAL_MAKER_PER_CORE, GOAL_OVERHEAD_US, GOAL_RECO_VS_READ,
                           GOAL_SCALING_KERNEL_2T, GOAL_SCALING_OUTPUT_2T, GOAL_SCALING_RECO_2T,
                           GOAL_TRIVIAL_DAG_2T, _summary, format_table)

__all__ = ["GOAL_BATCH1_2T", "GOAL_BATCH1_VS_BATCHED", "GOAL_CHECKSUM_READ_COST",
           "GOAL_MAKER_PER_CORE", "GOAL_OVERHEAD_US", "GOAL_RECO_VS_READ",
           "GOAL_SCALING_KERNEL_2T", "GOAL_SCALING_OUTPUT_2T", "GOAL_SCALING_RECO_2T",
           "GOAL_TRIVIAL_DAG_2T", "NullSink", "add_arguments", "demo_job", "format_table",
           "generate_input", "main", "overhead_job", "parse_threads", "read_only_job",
           "rebuild_job", "reco_job", "run", "run_bench"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--events", "-n", type=int, default=4096,
                        help="events in the generated input (default 4096)")
    parser.add_argument("--threads", default=None,
                        help="comma-separated thread counts (default 1..number of cores)")
    parser.add_argument("--batch-size", type=int, default=256, help="default batch size (256)")
    parser.add_argument("--batch1-events", type=int, default=None,
                        help="events for the --batch-size 1 comparison (default: one row group; "
                             "rounded up to whole row groups, as a row group is decoded whole)")
    parser.add_argument("--demo-events", type=int, default=4096,
                        help="events of the demo numba-kernel job scaling rows (default 4096)")
    parser.add_argument("--repeat", type=int, default=3,
                        help="repetitions per row; the best is reported (default 3)")
    parser.add_argument("--process", default="ttbar", help="synthetic process (default ttbar)")
    parser.add_argument("--mu", type=float, default=40.0, help="pileup <mu> (default 40)")
    parser.add_argument("--seed", type=int, default=1, help="synthetic seed")
    parser.add_argument("--row-group-size", type=int, default=2048,
                        help="Parquet row group of the generated input (default 2048: Parquet "
                             "decoding costs 47 us/event at 1024, 44 at 2048 and 4096, 57 at 256)")
    parser.add_argument("--json", dest="json_path", metavar="OUT.json", default=None,
                        help="write every measured number to this JSON file")
    parser.add_argument("--workdir", default=None,
                        help="keep the generated files here (default: a temporary folder)")
    parser.add_argument("--skip-rebuild", action="store_true",
                        help="only the read-only pass and the reco chain")
    parser.add_argument("--arrow-threads", type=int, default=None,
                        help="pin Arrow's CPU thread pool (Parquet decode) to this many threads; "
                             "default: Arrow's own (all cores), so 1-thread rows may use more than a core")
    parser.add_argument("--read-ahead", type=int, default=None,
                        help="row groups the Parquet source reads ahead on background threads "
                             f"(default {ParquetSource.DEFAULT_READ_AHEAD}: decoding only on the "
                             "job's threads, so every row uses exactly its job threads)")
    parser.add_argument("--arrow-pool", action="store_true",
                        help="the Parquet source decodes each column on Arrow's thread pool "
                             "(1-thread rows then use more than one core)")
    parser.add_argument("--quiet", action="store_true", help="no progress lines on stderr")


def parse_threads(text: str | None) -> list[int]:
    """'1,2,4' -> [1, 2, 4]; default 1..cpu_count (at least 1, 2)."""
    if text is None:
        return list(range(1, max(2, os.cpu_count() or 1) + 1))
    try:
        values = sorted({int(t) for t in text.split(",") if t.strip()})
    except ValueError:
        raise ConfigurationError(f"--threads: expected comma-separated integers, got {text!r}") from None
    if not values or values[0] < 1:
        raise ConfigurationError(f"--threads: thread counts must be >= 1, got {text!r}")
    if values[0] != 1:
        values.insert(0, 1)   # scaling is relative to one thread
    return values


#: extra rounds of the read-only pair that measures the page-checksum cost, per `--repeat`
CHECKSUM_EXTRA_ROUNDS = 2
#: extra rounds, per `--repeat`, of the read-only pass, the reco chain and its batch-1 rows
#: (every thread count): the batch-1 goals move most with a loaded machine (the Python-bound
#: batch-1 chain slows more than the numba-bound batched one), and the 2-thread goals with a
#: second core that another job shares, so their medians take more rounds
RECO_EXTRA_ROUNDS = 1
#: extra rounds, per `--repeat`, of the reco chain + Parquet output's rows (its 2 / 1 threads)
OUTPUT_EXTRA_ROUNDS = 1
#: extra rounds, per `--repeat`, of the trivial DAG's rows: a run of it lasts some 30 ms, and
#: one slow moment of the machine moves its 2 / 1 threads ratio by tens of percent
TRIVIAL_DAG_EXTRA_ROUNDS = 4
#: extra rounds, per `--repeat`, of METMaker rebuild at 1 thread: its goal is METMakerAlg's
#: own speed (its least time over the runs), which a loaded moment slows by tens of percent
MAKER_EXTRA_ROUNDS = 2


def run_bench(args: argparse.Namespace, log: Callable[[str], None]) -> dict[str, Any]:
    threads = parse_threads(args.threads)
    if args.batch1_events is None:
        args.batch1_events = args.row_group_size
    for option in ("events", "batch_size", "batch1_events", "demo_events", "repeat", "row_group_size"):
        if getattr(args, option) < 1:
            raise ConfigurationError(f"--{option.replace('_', '-')} must be >= 1, got "
                                     f"{getattr(args, option)}")
    if getattr(args, "read_ahead", None) is not None and args.read_ahead < 0:
        raise ConfigurationError(f"--read-ahead must be >= 0, got {args.read_ahead}")
    workdir = args.workdir or tempfile.mkdtemp(prefix="metflow-bench-")
    os.makedirs(workdir, exist_ok=True)
    try:
        return _run_in(workdir, args, threads, log)
    finally:
        if args.workdir is None:
            shutil.rmtree(workdir, ignore_errors=True)


def _rows(cases: list[Case], name: str, batch: int,
          threads: Callable[[int], bool] = lambda t: True) -> list[Case]:
    """The cases of one row name and batch size (those of `threads`), by thread count."""
    return sorted((c for c in cases if (c.row.name, c.row.batch_size) == (name, batch) and threads(c.row.threads)),
                  key=lambda c: c.row.threads)


def _run_order(cases: list[Case], bs: int) -> list[Case]:
    """The order of a round's runs. The host's speed drifts by tens of percent over seconds, so
    each goal's pair of runs (see `_measure`: a ratio of runs of the same round) should run
    back to back. With threads 1 and 2: read-only 2, unverified 2, unverified 1, read-only 1,
    reco 1, reco 2, reco batch-1 1, reco batch-1 2, then every other row with its thread
    variants back to back. So the page-checksum pairs, reco / read-only at 1 thread, the reco
    chain's 2 / 1 threads and batch-1's 2 / 1 threads are neighbours; batch 1 / batched at one
    thread and reco / read-only at 2 threads a run or a few apart (the extra rounds of
    `RECO_EXTRA_ROUNDS` have their own order, in `_run_in`)."""
    def pick(name: str, batch: int, threads: Callable[[int], bool], descending: bool = False) -> list[Case]:
        return _rows(cases, name, batch, threads)[::-1 if descending else 1]

    def one(t: int) -> bool:
        return t == 1

    def many(t: int) -> bool:
        return t > 1

    read, unverified = "read-only pass", "read-only pass, checksums unverified"
    head = [*pick(read, bs, many, True), *pick(unverified, bs, many), *pick(unverified, bs, one),
            *pick(read, bs, one), *pick("reco chain", bs, one), *pick("reco chain", bs, many),
            *pick("reco chain", 1, lambda t: True)]
    taken = {id(c) for c in head}
    return head + [c for c in cases if id(c) not in taken]


def _run_in(workdir: str, args: argparse.Namespace, threads: list[int],
            log: Callable[[str], None]) -> dict[str, Any]:
    load_start = _load()
    arrow_threads = None
    if args.arrow_threads is not None:
        import pyarrow as pa

        if args.arrow_threads < 1:
            raise ConfigurationError(f"--arrow-threads must be >= 1, got {args.arrow_threads}")
        pa.set_cpu_count(args.arrow_threads)
    try:
        import pyarrow as pa

        arrow_threads = pa.cpu_count()
    except ImportError:
        pass
    raw = os.path.join(workdir, "input.parquet")
    reco_out = os.path.join(workdir, "met_reco.parquet")
    t0 = time.perf_counter()
    keys = generate_input(raw, events=args.events, process=args.process, mu=args.mu, seed=args.seed,
                          row_group_size=args.row_group_size)
    log(f"generated {args.events} {args.process} events at mu={args.mu:g} in "
        f"{time.perf_counter() - t0:.1f} s ({os.path.getsize(raw) / args.events / 1e3:.1f} kB/event)")
    # the met_reco output (the rebuild's input) is written once, outside the timing
    run_job(reco_job(raw, keys, output=reco_out), RunOptions(batch_size=args.batch_size, quiet=True,
                                                             progress=False))
    reco_keys = _parquet_source(reco_out).keys()
    n, bs = args.events, args.batch_size

    def opts(t: int, batch: int = bs, events: int | None = None) -> RunOptions:
        return RunOptions(threads=t, batch_size=batch, events=events, quiet=True, progress=False)

    rg = args.row_group_size
    n1 = min(-(-args.batch1_events // rg) * rg, n)   # whole row groups
    kinds: list[tuple[str, int, int, Callable[[], Job], Callable[[int], RunOptions]]] = [
        ("read-only pass", bs, n, lambda: read_only_job(raw, keys), opts),
        ("read-only pass, checksums unverified", bs, n,
         lambda: read_only_job(raw, keys, verify_checksums=False), opts),
        ("reco chain", bs, n, lambda: reco_job(raw, keys), opts),
        ("reco chain", 1, n1, lambda: reco_job(raw, keys), lambda t: opts(t, 1, n1)),
        ("reco chain + Parquet output", bs, n,
         lambda: reco_job(raw, keys, os.path.join(workdir, "reco_io.parquet")), opts),
    ]
    if not args.skip_rebuild:
        kinds += [
            ("read-only pass (met_reco output)", bs, n, lambda: read_only_job(reco_out, reco_keys), opts),
            ("METMaker rebuild", bs, n, lambda: rebuild_job(reco_out, reco_keys), opts),
            ("full chain (reco + rebuild)", bs, n, lambda: rebuild_job(raw, keys), opts),
        ]
    executions = OVERHEAD_BLOCKS * OVERHEAD_LAYERS * OVERHEAD_WIDTH
    demo_events = args.demo_events
    kinds += [
        ("framework overhead (trivial DAG)", 1, OVERHEAD_BLOCKS, overhead_job,
         lambda t: RunOptions(threads=t, batch_size=1, quiet=True, progress=False)),
        ("demo numba-kernel job", 128, demo_events, lambda: demo_job(demo_events),
         lambda t: RunOptions(threads=t, batch_size=128, events=demo_events, quiet=True,
                              progress=False)),
    ]
    cases = [Case(Row(name, t, batch, events), make, options(t))
             for name, batch, events, make, options in kinds for t in threads]
    display = [c.row for c in cases]
    cases = _run_order(cases, bs)
    read_ahead = getattr(args, "read_ahead", None)
    arrow_pool = getattr(args, "arrow_pool", False)
    for case in cases:
        case.make = _with_read_ahead(case.make, read_ahead, arrow_pool)
    _measure(cases, args.repeat, log)
    # goals that move most with the machine get more rounds of their rows, each goal's rows
    # back to back (the constants say why); a goal needs its pair of rows (METMaker: its one).
    # The reco group, each goal's pair adjacent: read-only and reco at each thread count > 1
    # (descending: reco / read-only), reco then read-only at 1 thread (reco 2 / 1 threads, reco /
    # read-only), batch 1 at 1, 2, ... threads (batch 1 / batched two runs after the batched
    # chain at 1 thread, batch-1 2 / 1 threads)
    read, reco = _rows(cases, "read-only pass", bs), _rows(cases, "reco chain", bs)
    reco_group = ([c for pair in zip(read[:0:-1], reco[:0:-1]) for c in pair] + [reco[0], read[0]]
                  + _rows(cases, "reco chain", 1))
    for group, rounds, what, rows_needed, chosen in (
            ("checksum", CHECKSUM_EXTRA_ROUNDS, "the page-checksum pair", 2,
             sorted(read + _rows(cases, "read-only pass, checksums unverified", bs),
                    key=lambda c: (c.row.threads, c.row.name))),   # each thread count's two rows adjacent
            ("reco", RECO_EXTRA_ROUNDS, "the read-only pass, the reco chain and its batch-1 rows", 2,
             reco_group),
            ("output", OUTPUT_EXTRA_ROUNDS, "the reco chain + Parquet output", 2,
             _rows(cases, "reco chain + Parquet output", bs)),
            ("maker", MAKER_EXTRA_ROUNDS, "METMaker rebuild at 1 thread", 1,
             _rows(cases, "METMaker rebuild", bs, lambda t: t == 1)),
            ("trivial", TRIVIAL_DAG_EXTRA_ROUNDS, "the trivial DAG", 2,
             _rows(cases, "framework overhead (trivial DAG)", 1))):
        extra = rounds * args.repeat
        if extra and len(chosen) >= rows_needed:
            log(f"{extra} more rounds of {what}")
            _measure(chosen, extra, log, warm=False, group=group)

    rows = display
    by = {(r.name, r.threads, r.batch_size): r for r in rows}
    for r in rows:
        ref = None
        if r.name in ("reco chain", "reco chain + Parquet output", "full chain (reco + rebuild)",
                      "read-only pass, checksums unverified"):
            ref = by.get(("read-only pass", r.threads, bs))
        elif r.name == "METMaker rebuild":
            ref = by.get(("read-only pass (met_reco output)", r.threads, bs))
        if r.name == "reco chain" and r.batch_size == 1:
            ref = by.get(("reco chain", r.threads, bs))   # per event: fewer events at batch 1
            r.ratio = (r.wall_s / r.events) / (ref.wall_s / ref.events)
            r.reference = f"{ref.name} ({r.threads} threads, batch {bs}), per event"
        elif ref is not None:
            r.ratio, r.reference = r.wall_s / ref.wall_s, f"{ref.name} ({ref.threads} threads, batch {ref.batch_size})"
        one = by.get((r.name, 1, r.batch_size))
        if one is not None and r.threads > 1:
            r.scaling = r.events_per_s / one.events_per_s
            r.efficiency = r.scaling / r.threads

    reco_share = kernel_share(["metflow.algorithms.met._reco_kernels"],
                              _with_read_ahead(lambda: reco_job(raw, keys), read_ahead, arrow_pool), opts(1))
    maker_share = None
    if not args.skip_rebuild:
        maker_share = kernel_share(["metflow.algorithms.met._maker_kernels"],
                                   _with_read_ahead(lambda: rebuild_job(reco_out, reco_keys), read_ahead, arrow_pool),
                                   opts(1))

    verification = verification_share(lambda: read_only_job(raw, keys), opts(1))
    summary = _summary(by, threads, bs, executions, maker_share)
    return {
        "argv": sys.argv[1:],
        "machine": {"cpu": _cpu_model(), "cores": os.cpu_count(), "platform": platform.platform(),
                    "load_start": load_start, "load_end": _load(), **_versions()},
        "input": {"events": n, "process": args.process, "mu": args.mu, "seed": args.seed,
                  "row_group_size": args.row_group_size, "bytes": os.path.getsize(raw),
                  "bytes_per_event": os.path.getsize(raw) / n, "keys": list(keys),
                  "met_reco_output_bytes_per_event": os.path.getsize(reco_out) / n},
        "batch_size": bs, "repeat": args.repeat, "threads": threads, "arrow_threads": arrow_threads,
        "read_ahead": ParquetSource.DEFAULT_READ_AHEAD if read_ahead is None else read_ahead,
        "arrow_pool": arrow_pool,
        "rows": [r.as_json() for r in rows],
        "reco_kernel_share": reco_share, "maker_kernel_share": maker_share,
        "checksum_verification": verification,
        "summary": summary,
    }


def run(args: argparse.Namespace) -> int:
    log = (lambda msg: None) if args.quiet else (lambda msg: print(f"[bench] {msg}", file=sys.stderr))
    try:
        report = run_bench(args, log)
    except ConfigurationError as exc:
        print(f"metflow bench: {exc}", file=sys.stderr)
        return 2
    print(format_table(report))
    if args.json_path:
        tmp = args.json_path + ".tmp"
        with open(tmp, "w") as f:
            json.dump(report, f, indent=1)
        os.replace(tmp, args.json_path)
        print(f"wrote {args.json_path}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="metflow bench", description=__doc__.splitlines()[0])
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
