"""The runner: configure a job from flags, validate its graph, run it, report.

`run_job` is what `metflow run` calls; it returns a `RunResult` with the per-algorithm timing
table, the failed blocks and (optionally) the timeline. Before the first event it checks the
options, the graph and every path the run will write (`framework.paths`). A stop request
(`framework.signals`) ends the run after the blocks in flight, keeping what was written, and
raises `Interrupted`. Exit codes (the CLI's): 0 success, 1 a failure during the run (an
algorithm, the source or a sink raised, or events were skipped), 2 the job could not start
(configuration, arguments, inputs, output paths), 128 + N stopped by signal N.
"""

from __future__ import annotations

import bisect
import itertools
import json
import numbers
import os
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, TextIO

from .errors import (AlgorithmError, ConfigurationError, FlagError, MetflowError, SinkError,
                     did_you_mean)
from .component import Property
from .flags import Flags, parse_value, split_assignment, standard_flags
from .graph import DataFlowGraph
from .job import Job, load_job_module, make_job
from .dataset import MANIFEST
from .input_specs import expand_inputs
from .paths import PathError, check_distinct_inputs, check_outputs, written_path
from .driver import drive
from .io import Source
from .scheduler import PREPARE, READ, Completion, FailedBlock, Scheduler
from .signals import Interrupted, StopRequest


#: threads a run may start (each is a Python thread running the scheduler)
MAX_THREADS = 1024


@dataclass
class RunOptions:
    """Execution settings (command-line flags of `metflow run`)."""

    events: int | None = None
    skip: int = 0
    threads: int = 1
    slots: int | None = None
    batch_size: int = 256
    on_error: str = "abort"
    timeline: str | None = None
    #: where the blocks skipped under on_error="skip" are listed (JSON), also after a failure
    failed_events: str | None = None
    progress: bool | None = None
    quiet: bool = False
    #: set by a signal handler to stop after the blocks in flight (see framework.signals)
    stop: StopRequest | None = None
    #: numba compile time is measured through it and kept out of the throughput
    compile_monitor: Any = None

    def check(self) -> None:
        """Refuse values that would otherwise silently become defaults or process nothing."""
        for name, value, low in (("--threads", self.threads, 1), ("--slots", self.slots, 1),
                                 ("--batch-size", self.batch_size, 1), ("--skip", self.skip, 0),
                                 ("-n/--events", self.events, 1)):
            if value is None:
                continue
            if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < low:
                raise ConfigurationError(f"{name} must be an integer >= {low}, got {value!r}")
        if self.threads > MAX_THREADS:
            raise ConfigurationError(f"--threads {self.threads}: at most {MAX_THREADS} (one "
                                     f"thread per core is the most that helps)")
        if self.on_error not in ("abort", "skip"):
            raise ConfigurationError(f"--on-error must be abort or skip, got {self.on_error!r}")


@dataclass
class RunResult:
    events: int
    wall_s: float
    stats: dict[str, tuple[int, int]]       # component -> (calls, total ns)
    failed: list[FailedBlock] = field(default_factory=list)
    timeline: list[Completion] = field(default_factory=list)
    sink_summaries: list[str] = field(default_factory=list)
    #: wall time spent compiling numba kernels during the run (first run only)
    compile_s: float = 0.0
    #: events asked for with -n, when the input had fewer
    requested: int | None = None

    @property
    def events_per_s(self) -> float:
        """Throughput without kernel compilation (a first run's compile is not throughput)."""
        wall = self.wall_s - self.compile_s
        return self.events / wall if wall > 0 else 0.0

    def table(self) -> str:
        width = max([len(n) for n in self.stats] + [20]) + 2
        rows = [f"{'component':<{width}} {'calls':>8} {'total [s]':>10} {'mean [ms]':>10}"]
        for name, (calls, total) in self.stats.items():
            if calls == 0:
                continue
            label = _LABELS.get(name, name)
            rows.append(f"{label:<{width}} {calls:>8d} {total / 1e9:>10.3f} "
                        f"{total / calls / 1e6:>10.3f}")
        return "\n".join(rows)

    def summary(self) -> str:
        asked = f" (of {self.requested} asked for)" if self.requested is not None else ""
        compiled = (f" ({self.compile_s:.1f} s compiling kernels, first run only)"
                    if self.compile_s >= 0.05 else "")
        without = " without compilation" if compiled else ""
        lines = [f"events: {self.events}{asked}   wall: {self.wall_s:.2f} s{compiled}   "
                 f"throughput: {self.events_per_s:.1f} events/s{without}"]
        if self.failed:
            lines.append(f"FAILED blocks: {len(self.failed)} "
                         f"({sum(f.n_events for f in self.failed)} events skipped)")
        lines.append(self.table())
        lines.extend(s for s in self.sink_summaries if s)
        return "\n".join(lines)


class EventBlocks(Sequence[tuple[int, int]]):
    """The blocks (first, n) cutting [start, stop) into batch_size events, computed on access:
    a run of 10^12 events costs no memory before it starts. ``boundaries`` (absolute first
    events of input files) also cut: a block never straddles two files, whose readers decode
    whole baskets or pages per file (a straddling block reads both files' pages twice)."""

    def __init__(self, start: int, stop: int, batch_size: int, boundaries: Sequence[int] = ()):
        edges = [start, *sorted({int(b) for b in boundaries if start < b < stop}), stop]
        self._segments = [(a, b) for a, b in zip(edges, edges[1:]) if b > a]
        self._ends = list(itertools.accumulate(-(-(b - a) // batch_size)
                                               for a, b in self._segments))
        self.start, self.stop, self.batch_size = start, stop, batch_size
        self.n_events = max(0, stop - start)
        self._len = self._ends[-1] if self._ends else 0   # asked several times per block

    def __len__(self) -> int:
        return self._len

    def __getitem__(self, index: Any) -> Any:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(self._len))]
        if index < 0:
            index += self._len
        if not 0 <= index < self._len:
            raise IndexError(f"block {index} of {self._len}")
        segment = bisect.bisect_right(self._ends, index)
        a, b = self._segments[segment]
        first = a + (index - (self._ends[segment - 1] if segment else 0)) * self.batch_size
        return first, min(self.batch_size, b - first)


def source_file_events(source: Any) -> list[int] | None:
    """Events of each file of a source that reads files whole per block (its optional
    ``file_event_counts()``, e.g. PHYSLITE), so blocks are cut at file starts; else None."""
    counts = getattr(source, "file_event_counts", None)
    return [int(c) for c in counts()] if callable(counts) else None


def event_blocks(total: int | None, skip: int, events: int | None,
                 batch_size: int, file_events: Sequence[int] | None = None) -> EventBlocks:
    """Cut [skip, skip + events) into blocks of batch_size, and at the starts of files when
    ``file_events`` (events of each input file, in order) is given."""
    if batch_size < 1:
        raise ConfigurationError(f"--batch-size must be >= 1, got {batch_size}")
    if skip < 0:
        raise ConfigurationError(f"--skip must be >= 0, got {skip}")
    if events is not None and events < 1:
        raise ConfigurationError(f"-n/--events must be >= 1, got {events}")
    if total is None and events is None:
        raise ConfigurationError("the source does not know its event count: give --events")
    if total is not None and total <= 0:
        raise ConfigurationError("the input has no events")
    if total is not None and skip >= total:
        raise ConfigurationError(f"--skip {skip}: the input has only {total} events")
    stop = skip + events if events is not None else total
    if total is not None:
        stop = min(stop, total) if stop is not None else total
    assert stop is not None
    starts = itertools.accumulate(file_events or (), initial=0)
    return EventBlocks(skip, stop, batch_size, boundaries=list(starts))


class _Progress:
    """A one-line events/s progress bar on a terminal."""

    def __init__(self, total: int, stream: TextIO, enabled: bool):
        self.total, self.stream, self.enabled = total, stream, enabled
        self.done = 0
        self.start = time.perf_counter()
        self.last = 0.0

    def update(self, n: int) -> None:
        self.done += n
        now = time.perf_counter()
        if self.enabled and (now - self.last > 0.2 or self.done == self.total):
            self.last = now
            rate = self.done / max(now - self.start, 1e-9)
            width = 30
            filled = int(width * self.done / max(self.total, 1))
            self.stream.write(f"\r[{'#' * filled}{'.' * (width - filled)}] "
                              f"{self.done}/{self.total} events  {rate:,.0f} events/s")
            self.stream.flush()

    def close(self) -> None:
        if self.enabled:
            self.stream.write("\n")


_LABELS = {READ: "source read", PREPARE: "sink preparation"}
_NS_PER_US = 1000.0  # trace timestamps are in microseconds


def write_timeline(path: str, completions: Sequence[Completion],
                   scheduler: Scheduler) -> None:
    """Chrome/Perfetto trace: one track per thread, one slice per execution."""
    threads: dict[str, int] = {}
    origin = min((c.start_ns for c in completions), default=0)
    events: list[dict[str, Any]] = []
    for c in completions:
        tid = threads.setdefault(c.thread, len(threads))
        first, n = scheduler.blocks[c.task.block]
        events.append({"name": _LABELS.get(c.task.component, c.task.component),
                       "cat": "algorithm", "ph": "X", "pid": 1, "tid": tid,
                       "ts": (c.start_ns - origin) / _NS_PER_US,
                       "dur": (c.stop_ns - c.start_ns) / _NS_PER_US,
                       "args": {"slot": c.task.slot, "events": f"[{first}, {first + n})",
                                "failed": c.error is not None}})
    for name, tid in threads.items():
        events.append({"name": "thread_name", "ph": "M", "pid": 1, "tid": tid,
                       "args": {"name": name}})
    directory, base = os.path.split(os.path.abspath(written_path(path)))
    tmp = os.path.join(directory, f".{base}.tmp-{os.getpid()}")
    with open(tmp, "w") as f:
        json.dump({"traceEvents": events, "displayTimeUnit": "ms"}, f)
    os.replace(tmp, os.path.join(directory, base))


def _initialize(job: Job) -> None:
    """Initialize every algorithm (and lock it); a ConfigurationError stays one (exit code 2),
    anything else becomes an AlgorithmError naming the algorithm."""
    for alg in job.algorithms:
        try:
            alg.initialize()
        except ConfigurationError as exc:
            raise ConfigurationError(f"algorithm {alg.name} ({type(alg).__name__}), "
                                     f"initialize(): {exc}") from exc
        except Exception as exc:
            raise AlgorithmError(f"algorithm {alg.name} ({type(alg).__name__}) failed in "
                                 f"initialize(): {type(exc).__name__}: {exc}",
                                 algorithm=alg.name) from exc
        alg.lock()


def _finalize(job: Job, errors: list[BaseException]) -> None:
    for alg in job.algorithms:
        try:
            alg.finalize()
        except Exception as exc:
            wrapped = AlgorithmError(f"algorithm {alg.name} ({type(alg).__name__}) failed in "
                                     f"finalize(): {type(exc).__name__}: {exc}",
                                     algorithm=alg.name)
            wrapped.__cause__ = exc
            errors.append(wrapped)


def prepare(job: Job) -> DataFlowGraph:
    """Tell the source what is consumed and validate the graph (before event 1)."""
    consumed = {k for alg in job.algorithms for k in alg.input_keys()}
    consumed |= {k for sink in job.sinks for k in sink.keys()}
    job.source.select(sorted(consumed))
    return DataFlowGraph.build(job.algorithms, job.source.keys(), job.sinks)


def check_paths(job: Job, options: RunOptions) -> None:
    """Every file the run will write, checked against each other and the inputs (event 0)."""
    outputs = [("output", path) for sink in job.sinks for path in sink.output_paths()]
    if options.timeline:
        outputs.append(("--timeline", options.timeline))
    if options.failed_events and options.on_error == "skip":
        outputs.append(("--failed-events", options.failed_events))
    inputs = job.source.input_paths()
    check_distinct_inputs([p for p in inputs if not os.path.isdir(p)])
    check_outputs(outputs, inputs)
    datasets = {os.path.realpath(os.path.dirname(p)) for p in inputs
                if os.path.basename(p) == MANIFEST}
    for what, path in outputs:
        folder = os.path.realpath(os.path.dirname(os.path.abspath(written_path(path))))
        if folder in datasets:
            raise PathError(f"{what} {path} is inside the input directory {folder}: a reader of "
                            f"that directory would find a file its manifest does not list")


def initialize(job: Job, options: RunOptions | None = None,
               output_paths: bool = True) -> DataFlowGraph:
    """Everything a run does before its first event: the options, the graph, the paths it will
    write (unless `output_paths` is False: a Dask output is a directory, checked by the driver)
    and every algorithm's initialize() (what `--dry-run` runs)."""
    options = options or RunOptions()
    options.check()
    graph = prepare(job)
    if output_paths:
        check_paths(job, options)
    _initialize(job)
    return graph


def run_job(job: Job, options: RunOptions, stream: TextIO | None = None) -> RunResult:
    """Run a configured job; raises on abort, returns the result otherwise."""
    stream = stream or sys.stderr
    try:
        options.check()
        graph = prepare(job)
        blocks = event_blocks(job.source.n_events(), options.skip, options.events,
                              options.batch_size, source_file_events(job.source))
        job.source.select_events(blocks.start, blocks.stop)
        check_paths(job, options)
    except BaseException:
        job.source.close()   # e.g. stops the hashing of a distributed input's parts
        raise
    n_events = blocks.n_events
    requested = options.events if options.events is not None and options.events > n_events \
        else None
    if requested is not None:
        stream.write(f"metflow: warning: -n {requested} asked for more events than the input "
                     f"has after --skip {options.skip}: processing {n_events}\n")
    threads = options.threads
    slots = options.slots if options.slots is not None else threads + 1
    slots = min(slots, max(1, len(blocks)))   # more slots than blocks would stay empty
    stop = options.stop if options.stop is not None else StopRequest()
    sink_keys = [(sink, sink.keys(), f"sink {sink.name}") for sink in job.sinks]

    def prepare_block(ctx: Any) -> None:
        """On the job thread that finished the block, in any order: each sink's `prepare`
        (e.g. the conversion to Arrow). An error is kept and raised when the block's turn to be
        written comes, as if `write` had raised it."""
        prepared = []
        store = ctx.store
        view = store.view
        for sink, keys, requester in sink_keys:
            try:
                try:   # the store's mapping at C speed; a missing key is named by retrieve()
                    data = {key: view[key] for key in keys}
                except KeyError:
                    data = {key: store.retrieve(key, requester) for key in keys}
                prepared.append((sink, sink.prepare(ctx.first, ctx.n_events, data), None))
            except BaseException as exc:  # noqa: BLE001 - raised in order by write_block
                prepared.append((sink, None, exc))
                break
        ctx.prepared = prepared

    scheduler = Scheduler(graph, job.source, blocks, job.sinks, slots, options.on_error, stop,
                          prepare=prepare_block if job.sinks else None, threads=threads)
    show = options.progress if options.progress is not None else (
        not options.quiet and stream.isatty())
    progress = _Progress(n_events, stream, show)
    completions: list[Completion] = []
    record = completions.append if options.timeline else None
    errors: list[BaseException] = []
    opened: list[Any] = []
    written = [0]
    monitor = options.compile_monitor
    compiled_before = monitor.seconds() if monitor is not None else 0.0
    start = time.perf_counter()
    try:
        _initialize(job)
        for sink in job.sinks:
            sink.open()
            opened.append(sink)

        last_block = len(blocks) - 1

        def write_block(block: int, ctx: Any) -> None:
            if ctx is not None:
                first, n = ctx.first, ctx.n_events
                for sink, payload, error in ctx.prepared or ():
                    try:
                        if error is not None:
                            raise error
                        sink.write(first, n, payload)
                    except MetflowError:
                        raise
                    except Exception as exc:
                        raise SinkError(f"sink {sink.name} failed writing events "
                                        f"[{first}, {first + n}): {exc}") from exc
                ctx.prepared = None
                written[0] += n
            else:   # a skipped block
                first, n = blocks[block]
            progress.update(n)
            if block == last_block:
                for sink in job.sinks:
                    try:
                        sink.end_of_input()
                    except MetflowError:
                        raise
                    except Exception as exc:
                        raise SinkError(f"sink {sink.name} failed after the last block: "
                                        f"{exc}") from exc

        def idle_work() -> bool:
            """The sinks' queued encoding first (it frees memory), then the source's read-ahead."""
            return any(sink.work() for sink in job.sinks) or job.source.work()

        # a source without read-ahead and no sink: no idle work, and no thread woken for it
        reads_ahead = type(job.source).work is not Source.work
        drive(scheduler, write_block, record, threads=threads,
              idle_work=idle_work if job.sinks or reads_ahead else None,
              idle_ready=job.source.work_ready if reads_ahead else None)
    except BaseException as exc:
        errors.append(exc)
    finally:
        progress.close()
    _finalize(job, errors)
    wall = time.perf_counter() - start
    compile_s = monitor.seconds() - compiled_before if monitor is not None else 0.0
    interrupted = stop.signum   # a signal after this point finds the run complete: it stands
    success = not errors and interrupted is None
    for sink in opened:
        try:
            sink.close(success)
        except Exception as exc:
            errors.append(exc)
    try:
        job.source.close()
    except Exception as exc:
        errors.append(exc)
    if options.timeline:
        try:
            write_timeline(options.timeline, completions, scheduler)
        except OSError as exc:
            errors.append(SinkError(f"--timeline {options.timeline}: cannot write: {exc}"))
    kept = [s.summary() for s in opened if getattr(s, "kept", None)]
    if scheduler.failed and options.failed_events:   # kept whatever else happened
        try:
            write_failed_events(options.failed_events, scheduler.failed)
            kept.append(f"{len(scheduler.failed)} failed blocks listed in {options.failed_events}")
        except OSError as exc:
            errors.append(SinkError(f"--failed-events {options.failed_events}: cannot write: "
                                    f"{exc}"))
    if interrupted is not None:
        detail = "".join(f"; {k}" for k in kept) or "; nothing was written"
        cause = next((e for e in errors if not isinstance(e, Interrupted)), None)
        raise Interrupted(interrupted, written[0], detail) from cause
    if errors:
        for k in kept:
            errors[0].add_note(k)
        raise errors[0]
    result = RunResult(events=n_events - sum(f.n_events for f in scheduler.failed), wall_s=wall,
                       stats={k: (v[0], v[1]) for k, v in scheduler.stats.items()},
                       failed=scheduler.failed, timeline=completions,
                       sink_summaries=[s.summary() for s in job.sinks], compile_s=compile_s,
                       requested=requested)
    if job.summary is not None:
        result.sink_summaries.append(job.summary())
    return result


def configure_job(spec: str, sets: Sequence[str] = (), inputs: Sequence[str] = (),
                  output: str | None = None, events: int | None = None,
                  skip: int = 0) -> tuple[Job, Flags]:
    """Load a job file, declare and override its flags, lock them and call configure()."""
    module = load_job_module(spec)
    flags = standard_flags()
    declare = getattr(module, "declare_flags", None)
    if declare is not None:
        declare(flags)
    if inputs:   # directories, globs, file lists, filesets, URLs -> files (framework.input_specs)
        flags.set("input.files", expand_inputs(inputs))
    if output:
        flags.set("output.file", output)
    if events is not None:
        flags.set("input.events", events + skip)
    algorithm_sets = []
    for assignment in sets:
        name, _ = split_assignment(assignment)
        if name not in flags and "." in name and name.split(".", 1)[0] not in flags.namespaces():
            algorithm_sets.append(assignment)  # Alg.option=value, applied once the job exists
        else:
            flags.set_from_string(assignment)
    flags.lock()
    job = make_job(module, flags)
    if inputs and not job.source.input_paths():
        job.source.close()
        raise ConfigurationError(f"job {spec!r} does not read --input files (its source "
                                 f"{job.source.name!r} reads none): --input would be ignored")
    if job.name == "job":
        job.name = spec
    for assignment in algorithm_sets:
        _override_algorithm_option(job, flags, assignment)
    return job, flags


def _override_algorithm_option(job: Job, flags: Flags, assignment: str) -> None:
    """`--set AlgName.option=value`: set a property or key of one algorithm instance."""
    name, text = split_assignment(assignment)
    alg_name, attr = name.rsplit(".", 1)
    algs = {alg.name: alg for alg in job.algorithms}
    alg = algs.get(alg_name)
    if alg is None:
        known = [n for n, _ in flags.items()] + [f"{a}.{o}" for a, x in algs.items()
                                                  for o in x.options()]
        raise FlagError(f"--set {name}: no flag and no algorithm named {alg_name!r}"
                        f"{did_you_mean(name, known)}")
    decl = type(alg)._declarations.get(attr)
    wants_str = decl is not None and (not isinstance(decl, Property) or decl.type is str)
    alg.override(attr, parse_value(name, text, wants_str))


def write_failed_events(path: str, failed: Sequence[FailedBlock]) -> None:
    """The skipped blocks as JSON (hidden temporary file, then rename)."""
    directory, base = os.path.split(os.path.abspath(written_path(path)))
    tmp = os.path.join(directory, f".{base}.tmp-{os.getpid()}")
    with open(tmp, "w") as f:
        json.dump([{"first": b.first, "n_events": b.n_events, "component": b.component,
                    "event": b.event, "event_id": b.event_id, "error": b.message}
                   for b in failed], f, indent=1)
    os.replace(tmp, os.path.join(directory, base))

