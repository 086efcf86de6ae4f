"""Framework commands of the `metflow` CLI: run, graph, list, jobs."""

from __future__ import annotations

import argparse
import os
import sys
import traceback
from collections.abc import Sequence
from typing import Any

from .errors import AlgorithmError, ConfigurationError, MetflowError
from .jit import CompileMonitor
from .job import builtin_jobs, job_description, load_job_module
from .output import check_directory_output
from .registry import BrokenPlugin, discover
from .runner import RunOptions, configure_job, initialize, prepare, run_job
from .signals import Interrupted, StopRequest, stop_on_signals


def add_run_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("job", help="job file (jobs/x.py) or built-in job name (x)")
    parser.add_argument("--input", nargs="+", default=[], metavar="SPEC",
                        help="input files, directories, globs ('data/*.root', quoted), file lists "
                             "(.txt/.list), coffea filesets (NAME.json[#DATASET]) or URLs "
                             "(file://, root://, https://: fsspec)")
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
    parser.add_argument("--overwrite", action="store_true",
                        help="dask: replace the previous metflow output in a non-empty --output "
                             "directory")
    parser.add_argument("--dry-run", action="store_true",
                        help="configure and validate, print the graph, process nothing")
    parser.add_argument("--flags", action="store_true", help="print the job's flags and exit")
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress bar, no table")
    parser.add_argument("--debug", action="store_true", help="print full tracebacks")


#: exit codes of `metflow run` (README "Reliability")
EXIT_OK, EXIT_FAILED, EXIT_CONFIG = 0, 1, 2


def _print_error(exc: BaseException, debug: bool) -> None:
    """`metflow: error: ...`; causes as one line each, except an algorithm's own exception (a
    bug to fix), whose traceback is printed; --debug prints every traceback."""
    if debug:
        traceback.print_exception(exc)
        return
    print(f"metflow: error: {exc}", file=sys.stderr)
    cause = exc.__cause__
    if isinstance(exc, AlgorithmError) and cause is not None and \
            not isinstance(cause, (MetflowError, OSError)):
        print("  caused by:", file=sys.stderr)
        lines = traceback.format_exception(cause)
        sys.stderr.write("".join("    " + line for line in "".join(lines).splitlines(True)))
    else:
        chain = []
        while cause is not None and len(chain) < 8:
            chain.append(cause)
            cause = cause.__cause__
        shown = str(exc)
        for i, cause in enumerate(chain):   # the root cause with its type; others unless repeated
            text = f"{type(cause).__name__}: {cause}"
            if (text if i == len(chain) - 1 else str(cause)) not in shown:
                print(f"  caused by: {text}", file=sys.stderr)
                shown += text
    for note in getattr(exc, "__notes__", ()):
        print(f"metflow: note: {note}", file=sys.stderr)


def unexpected_error(exc: BaseException, debug: bool) -> int:
    """An exception metflow did not anticipate: one error line with where it was raised (the
    traceback with --debug or METFLOW_DEBUG=1)."""
    if debug or os.environ.get("METFLOW_DEBUG"):
        traceback.print_exception(exc)
        return EXIT_FAILED
    frames = traceback.extract_tb(exc.__traceback__)
    where = f" (at {frames[-1].filename}:{frames[-1].lineno} in {frames[-1].name})" if frames else ""
    print(f"metflow: error: unexpected {type(exc).__name__}: {exc}{where}; METFLOW_DEBUG=1 "
          f"prints the traceback", file=sys.stderr)
    return EXIT_FAILED


def check_run_arguments(args: argparse.Namespace) -> None:
    """Options that would otherwise be ignored or silently replaced by a default."""
    dask = args.executor == "dask"
    for flag, value in (("--workers", args.workers), ("--partitions", args.partitions),
                        ("--scheduler", args.scheduler)):
        if value is not None and not dask:
            raise ConfigurationError(f"{flag} is only used with --executor dask")
    if args.overwrite and not dask:
        raise ConfigurationError("--overwrite is only used with --executor dask (a local run "
                                 "replaces its output file when it succeeds)")
    for flag, value in (("--workers", args.workers), ("--partitions", args.partitions)):
        if value is not None and value < 1:
            raise ConfigurationError(f"{flag} must be >= 1, got {value}")
    if dask and args.workers is not None and args.scheduler:
        raise ConfigurationError("--workers starts a local cluster; with --scheduler the "
                                 "cluster's own workers run the tasks")
    if dask and args.output:
        check_directory_output(args.output)   # Parquet parts: a .root name is refused
    if dask:
        for flag, given in (("--timeline", args.timeline), ("--failed-events", args.failed_events),
                            ("--on-error skip", args.on_error == "skip")):
            if given:
                raise ConfigurationError(f"{flag} is not supported with --executor dask")
    if args.failed_events and args.on_error != "skip":
        raise ConfigurationError("--failed-events is written only with --on-error skip")


def _run_options(args: argparse.Namespace, stop: StopRequest, monitor: Any) -> RunOptions:
    failed = (args.failed_events or "failed_events.json") if args.on_error == "skip" else None
    return RunOptions(events=args.events, skip=args.skip, threads=args.threads, slots=args.slots,
                      batch_size=args.batch_size, on_error=args.on_error, timeline=args.timeline,
                      failed_events=failed, quiet=args.quiet, stop=stop,
                      compile_monitor=monitor)


def cmd_run(args: argparse.Namespace) -> int:
    """`metflow run`: SIGTERM/SIGINT stop the run cleanly, numba compilation is announced."""
    stop = StopRequest()
    with stop_on_signals(stop), CompileMonitor(sys.stderr) as monitor:
        try:
            return _cmd_run(args, stop, monitor)
        except Interrupted as exc:
            print(f"metflow: error: {exc}", file=sys.stderr)
            return exc.exit_code


def _cmd_run(args: argparse.Namespace, stop: StopRequest, monitor: Any) -> int:
    try:  # until the first event: anything wrong is a configuration error (exit 2)
        check_run_arguments(args)
        options = _run_options(args, stop, monitor)
        options.check()
        if args.executor == "dask" and not (args.dry_run or args.flags):
            return _run_dask(args, stop)
        job, flags = configure_job(args.job, args.set, args.input, args.output, args.events,
                                   args.skip)
        if args.flags:
            print(flags.describe())
            return EXIT_OK
        if args.dry_run:
            try:
                graph = initialize(job, options, output_paths=args.executor != "dask")
            finally:
                job.source.close()
            print(graph.render("text"))
            checked = "" if args.executor == "dask" else "output paths checked, "
            print(f"dry run: graph valid, {checked}initialize() passed "
                  f"({len(job.algorithms)} algorithms, {len(job.sinks)} sinks); no events "
                  f"processed")
            return EXIT_OK
    except Interrupted:
        raise
    except AlgorithmError as exc:   # initialize() of --dry-run raised
        _print_error(exc, args.debug)
        return EXIT_FAILED
    except (MetflowError, KeyError, OSError) as exc:
        _print_error(exc, args.debug)
        return EXIT_CONFIG
    except Exception as exc:  # noqa: BLE001 - never a raw traceback
        return unexpected_error(exc, args.debug)
    if stop:
        raise Interrupted(stop.signum or 0, 0, "; nothing was written")
    try:
        result = run_job(job, options)
    except Interrupted:
        raise
    except Exception as exc:  # noqa: BLE001 - never a raw traceback
        return _run_failure(exc, args.debug)
    if not args.quiet:
        print(result.summary())
    if result.failed:
        print(f"metflow: error: {len(result.failed)} blocks failed and were skipped; "
              f"list in {options.failed_events}", file=sys.stderr)
        return EXIT_FAILED
    return EXIT_OK


def _run_failure(exc: Exception, debug: bool) -> int:
    """Exit code of a run (local or Dask) that raised: a configuration problem found late 2, a
    failure during the run 1, anything else reported as unexpected."""
    if isinstance(exc, ConfigurationError):
        _print_error(exc, debug)
        return EXIT_CONFIG
    if isinstance(exc, (MetflowError, KeyError, OSError)):
        _print_error(exc, debug)
        return EXIT_FAILED
    return unexpected_error(exc, debug)


def _run_dask(args: argparse.Namespace, stop: StopRequest) -> int:
    """A Dask run: configuration problems exit 2, a failed task 1, a signal 128 + N."""
    from .distributed import run_distributed

    try:
        manifest = run_distributed(args.job, args.set, args.input, args.output, args.events,
                                   args.skip, args.workers, args.scheduler, args.partitions,
                                   args.threads, args.slots, args.batch_size,
                                   overwrite=args.overwrite, stop=stop)
    except Interrupted:
        raise
    except Exception as exc:  # noqa: BLE001 - never a raw traceback
        return _run_failure(exc, args.debug)
    if not args.quiet:
        print(f"events: {manifest['events']}   wall: {manifest['wall_s']:.2f} s   "
              f"throughput: {manifest['events'] / max(manifest['wall_s'], 1e-9):.1f} events/s")
        print(f"wrote {len(manifest['parts'])} parts and _manifest.json to {args.output}")
    return EXIT_OK


def cmd_graph(args: argparse.Namespace) -> int:
    try:
        job, _ = configure_job(args.job, args.set, getattr(args, "input", ()))
        print(prepare(job).render(args.format))
    except (MetflowError, KeyError, OSError) as exc:
        _print_error(exc, False)
        return EXIT_CONFIG
    except Exception as exc:  # noqa: BLE001 - never a raw traceback
        return unexpected_error(exc, False)
    return EXIT_OK


def cmd_list(args: argparse.Namespace, builtin_modules: Sequence[str]) -> int:
    """Every algorithm and job; a plugin that cannot be used is listed as broken (with why), the
    others still are."""
    broken: list[BrokenPlugin] = []
    try:
        found = discover(builtin_modules, broken)
    except MetflowError as exc:
        _print_error(exc, False)
        return EXIT_CONFIG
    print("Algorithms:")
    for name in sorted(found):
        cls, origin = found[name]
        text = cls.describe().splitlines()
        print(f"  {name}  [{origin}]" + ("  [not thread-safe]" if not cls.thread_safe else ""))
        for line in text[1:]:
            print("  " + line)
    for plugin in broken:
        print(f"  {plugin.name}  [plugin {plugin.distribution}]  [BROKEN]\n"
              f"      {plugin.error}")
        print(f"metflow: warning: plugin {plugin.name!r} from distribution "
              f"{plugin.distribution!r} is broken and was left out: {plugin.error}",
              file=sys.stderr)
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
