"""Framework commands of the `metflow` CLI: run, graph, list, jobs."""

from __future__ import annotations

import argparse
import sys
import traceback
from collections.abc import Sequence

from .errors import ConfigurationError, MetflowError
from .job import builtin_jobs, job_description, load_job_module
from .registry import discover
from .runner import RunOptions, configure_job, prepare, run_job, write_failed_events


def add_run_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("job", help="job file (jobs/x.py) or built-in job name (x)")
    parser.add_argument("--input", nargs="+", default=[], metavar="PATH", help="input files")
    parser.add_argument("--output", help="output file")
    parser.add_argument("-n", "--events", type=int, help="number of events to process")
    parser.add_argument("--skip", type=int, default=0, help="events to skip at the start")
    parser.add_argument("--threads", type=int, default=1, help="worker threads")
    parser.add_argument("--slots", type=int, help="concurrent event contexts (default threads+1)")
    parser.add_argument("--batch-size", type=int, default=256, help="events per context")
    parser.add_argument("--set", action="append", default=[], metavar="FLAG=VALUE",
                        help="override a job flag (value: a Python literal)")
    parser.add_argument("--timeline", metavar="TRACE.json", help="write a Perfetto/Chrome trace")
    parser.add_argument("--on-error", choices=["abort", "skip"], default="abort")
    parser.add_argument("--failed-events", metavar="FILE.json",
                        help="where --on-error skip lists failed events (default failed_events.json)")
    parser.add_argument("--executor", choices=["local", "dask"], default="local",
                        help="local threads, or Dask over event partitions (--output is a directory)")
    parser.add_argument("--scheduler", metavar="ADDRESS", help="dask scheduler address")
    parser.add_argument("--workers", type=int, help="dask LocalCluster workers (default 2)")
    parser.add_argument("--partitions", type=int, help="dask partitions (default 4 per worker)")
    parser.add_argument("--dry-run", action="store_true",
                        help="configure and validate, print the graph, process nothing")
    parser.add_argument("--flags", action="store_true", help="print the job's flags and exit")
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress bar, no table")
    parser.add_argument("--debug", action="store_true", help="print full tracebacks")


def _print_error(exc: BaseException, debug: bool) -> None:
    if debug:
        traceback.print_exception(exc)
        return
    print(f"metflow: error: {exc}", file=sys.stderr)
    cause = exc.__cause__
    if cause is not None:
        print("  caused by:", file=sys.stderr)
        lines = traceback.format_exception(cause)
        sys.stderr.write("".join("    " + line for line in "".join(lines).splitlines(True)))


def cmd_run(args: argparse.Namespace) -> int:
    try:
        if args.executor == "dask" and not (args.dry_run or args.flags):
            return _run_dask(args)
        job, flags = configure_job(args.job, args.set, args.input, args.output, args.events,
                                   args.skip)
        if args.flags:
            print(flags.describe())
            return 0
        if args.dry_run:
            graph = prepare(job)
            print(graph.render("text"))
            print(f"dry run: graph valid ({len(job.algorithms)} algorithms, "
                  f"{len(job.sinks)} sinks); no events processed")
            return 0
        options = RunOptions(events=args.events, skip=args.skip, threads=args.threads,
                             slots=args.slots, batch_size=args.batch_size,
                             on_error=args.on_error, timeline=args.timeline, quiet=args.quiet)
        result = run_job(job, options)
    except ConfigurationError as exc:
        _print_error(exc, args.debug)
        return 2
    except (MetflowError, KeyError, OSError) as exc:
        _print_error(exc, args.debug)
        return 1
    if not args.quiet:
        print(result.summary())
    if result.failed:
        path = args.failed_events or "failed_events.json"
        write_failed_events(path, result.failed)
        print(f"metflow: error: {len(result.failed)} blocks failed and were skipped; "
              f"list in {path}", file=sys.stderr)
        return 1
    return 0


def _run_dask(args: argparse.Namespace) -> int:
    from .distributed import run_distributed

    manifest = run_distributed(args.job, args.set, args.input, args.output, args.events,
                               args.skip, args.workers, args.scheduler, args.partitions,
                               args.threads, args.slots, args.batch_size)
    if not args.quiet:
        print(f"events: {manifest['events']}   wall: {manifest['wall_s']:.2f} s   "
              f"throughput: {manifest['events'] / max(manifest['wall_s'], 1e-9):.1f} events/s")
        print(f"wrote {len(manifest['parts'])} parts and _manifest.json to {args.output}")
    return 0


def cmd_graph(args: argparse.Namespace) -> int:
    try:
        job, _ = configure_job(args.job, args.set, getattr(args, "input", ()))
        print(prepare(job).render(args.format))
    except MetflowError as exc:
        _print_error(exc, False)
        return 2
    return 0


def cmd_list(args: argparse.Namespace, builtin_modules: Sequence[str]) -> int:
    try:
        found = discover(builtin_modules)
    except MetflowError as exc:
        _print_error(exc, False)
        return 2
    print("Algorithms:")
    for name in sorted(found):
        cls, origin = found[name]
        text = cls.describe().splitlines()
        print(f"  {name}  [{origin}]" + ("  [not thread-safe]" if not cls.thread_safe else ""))
        for line in text[1:]:
            print("  " + line)
    print("\nJobs:")
    for name in builtin_jobs():
        try:
            desc = job_description(load_job_module(name))
        except Exception as exc:  # a broken job file must not hide the others
            desc = f"(cannot load: {exc})"
        print(f"  {name:<16} {desc}")
    return 0


def run_standalone(job_file: str, argv: Sequence[str] | None = None) -> None:
    """`python jobs/x.py [run options]`: run a job file on its own, exit with its status."""
    parser = argparse.ArgumentParser(prog=job_file)
    add_run_arguments(parser)
    args = parser.parse_args([job_file, *(sys.argv[1:] if argv is None else argv)])
    sys.exit(cmd_run(args))
