"""`metflow bench`: throughput of the MET chains against a read-only pass of the same input.

One run generates a synthetic input once (Parquet, default ttbar at mu = 40) and measures on it,
each row the best of several repetitions (interleaved, so machine load hits all rows alike):

* the read-only pass (the floor: Parquet decode into EDM containers, nothing else), and the
  same pass without verifying the Parquet page checksums (the cost of the verification),
* the reco chain (met_reco algorithms, null sink), and with its Parquet output (I/O cost),
* METMaker rebuild (met_rebuild on the met_reco output) and the full chain (reco + rebuild),
* each of them for every `--threads` value, with the scaling efficiency,
* `--batch-size 1` against the default batch on the same events,
* the framework overhead per algorithm execution (a DAG of trivial algorithms) and the demo
  numba-kernel job's thread scaling.

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
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from metflow.framework import (Algorithm, Job, ParquetSink, ParquetSource, ReadHandleKey,
                               RunOptions, Sink, Source, WriteHandleKey, configure_job, run_job)
from metflow.framework.errors import ConfigurationError

#: goals from the issues (ratios are within one run)
GOAL_RECO_VS_READ = 1.5          # reco chain wall <= 1.5x read-only pass
GOAL_SCALING_RECO_2T = 1.8       # 2-thread speed-up of the reco chain
GOAL_SCALING_KERNEL_2T = 1.7     # 2-thread speed-up of the demo numba-kernel job
GOAL_BATCH1_VS_BATCHED = 0.2     # batch-size 1 throughput / batched throughput
GOAL_OVERHEAD_US = 20.0          # framework overhead per algorithm execution
GOAL_MAKER_PER_CORE = 100_000.0  # METMaker events/s/core (PFlow TST)
GOAL_CHECKSUM_READ_COST = 0.05   # page-checksum verification: read-only pass wall +5% at most

OVERHEAD_BLOCKS = 300
OVERHEAD_LAYERS, OVERHEAD_WIDTH = 4, 5


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


# ---------------------------------------------------------------------------------------------
# helpers

class NullSink(Sink):
    """Consumes keys (so the source decodes them and the graph needs them) and drops them."""

    def __init__(self, keys: Sequence[str], name: str = "null"):
        self._keys = list(dict.fromkeys(keys))
        self.name = name

    def keys(self) -> list[str]:
        return list(self._keys)

    def write(self, first: int, n: int, data: dict[str, Any]) -> None:
        pass


@dataclass
class Row:
    """One measured configuration (the best of `repeat` runs)."""

    name: str
    threads: int
    batch_size: int
    events: int
    wall_s: float = float("inf")
    cpu_s: float = 0.0
    runs_wall_s: list[float] = field(default_factory=list)
    stats: dict[str, tuple[int, int]] = field(default_factory=dict)
    ratio: float | None = None            # wall / wall of the reference row
    reference: str | None = None
    scaling: float | None = None          # speed-up over the 1-thread row of the same chain
    efficiency: float | None = None       # scaling / threads

    @property
    def events_per_s(self) -> float:
        return self.events / self.wall_s if self.wall_s > 0 else 0.0

    def as_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["events_per_s"] = self.events_per_s
        out["stats"] = {k: {"calls": c, "ns": ns} for k, (c, ns) in self.stats.items()}
        return out


@dataclass
class Case:
    """A row to measure: `make()` builds a fresh job (sources are closed after a run)."""

    row: Row
    make: Callable[[], Job]
    options: RunOptions


def _timed_run(case: Case) -> tuple[float, float, Any]:
    job = case.make()
    cpu = time.process_time()
    start = time.perf_counter()
    result = run_job(job, case.options)
    wall = time.perf_counter() - start
    return wall, time.process_time() - cpu, result


def _measure(cases: Sequence[Case], repeat: int, log: Callable[[str], None]) -> None:
    """Warm each case once, then `repeat` interleaved rounds; keep each row's best wall time."""
    for case in cases:
        _timed_run(case)
    for r in range(repeat):
        for case in cases:
            wall, cpu, result = _timed_run(case)
            row = case.row
            row.runs_wall_s.append(wall)
            if wall < row.wall_s:
                row.wall_s, row.cpu_s = wall, cpu
                row.stats = {k: (int(c), int(ns)) for k, (c, ns) in result.stats.items()}
        log(f"round {r + 1}/{repeat} done, load {_load()}")


def _load() -> list[float]:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return []


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _versions() -> dict[str, str]:
    out = {"python": platform.python_version(), "numpy": np.__version__}
    for name in ("numba", "pyarrow"):
        try:
            out[name] = __import__(name).__version__
        except ImportError:
            out[name] = "missing"
    return out


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


# ---------------------------------------------------------------------------------------------
# the input

def generate_input(path: str, *, events: int, process: str, mu: float, seed: int,
                   row_group_size: int) -> list[str]:
    """Synthetic events written once to Parquet in the EDM layout; returns the keys."""
    from metflow.algorithms.generation.synthetic import SyntheticSource
    from metflow.edm.persistence import parquet_writer_options

    source = SyntheticSource(seed=seed, process=process, mu=mu, n_events=events)
    keys = source.keys()
    job = Job(source=source, sinks=[ParquetSink(path, keys, row_group_size=row_group_size,
                                                writer_options=parquet_writer_options)],
              name="bench-input")
    run_job(job, RunOptions(batch_size=min(2048, row_group_size), quiet=True, progress=False))
    return keys


def _parquet_source(path: str, verify_checksums: bool = True) -> ParquetSource:
    from metflow.edm.persistence import decode

    return ParquetSource([path], decode=decode, verify_checksums=verify_checksums)


# ---------------------------------------------------------------------------------------------
# jobs of the rows

def read_only_job(path: str, keys: Sequence[str], verify_checksums: bool = True) -> Job:
    return Job(source=_parquet_source(path, verify_checksums), sinks=[NullSink(keys, "read-only")],
               name="read-only")


def reco_job(path: str, keys: Sequence[str], output: str | None = None) -> Job:
    """met_reco on `path`; without `output` its Parquet sink is replaced by a null sink that
    consumes every input key and the maps (so it decodes what the read-only pass decodes)."""
    from metflow.edm import keys as K

    job, _ = configure_job("met_reco", inputs=[path], output=output)
    if output is None:
        made = [k for alg in job.algorithms for k in alg.output_keys()
                if K.is_met_assoc_key(k) or K.is_met_container_key(k)]
        job.sinks = [s for s in job.sinks if not isinstance(s, ParquetSink)]
        job.sinks.append(NullSink([*keys, *made]))
    return job


def rebuild_job(path: str, keys: Sequence[str]) -> Job:
    """met_rebuild (no output file): on met_reco output it is METMaker alone, on raw input it
    chains the reconstruction (the full chain). The null sink makes it decode every input key."""
    job, _ = configure_job("met_rebuild", inputs=[path])
    job.sinks.append(NullSink(keys))
    return job


class _BenchSource(Source):
    name = "bench-trivial"

    def __init__(self, n: int):
        self._n = n

    def keys(self) -> list[str]:
        return ["L0_0"]

    def n_events(self) -> int:
        return self._n

    def read(self, first: int, n: int) -> dict[str, Any]:
        return {"L0_0": np.arange(first, first + n, dtype=np.int64)}


class _Passthrough(Algorithm):
    """Trivial work: returns its first input (measures the framework alone)."""

    parts = ReadHandleKey(["L0_0"])
    out = WriteHandleKey("X")

    def compute(self, parts):
        return parts[0]


def overhead_job() -> Job:
    """OVERHEAD_LAYERS x OVERHEAD_WIDTH trivial algorithms, each layer reading two of the last."""
    algs = []
    for layer in range(1, OVERHEAD_LAYERS + 1):
        for w in range(OVERHEAD_WIDTH):
            parents = (["L0_0"] if layer == 1 else
                       [f"L{layer - 1}_{w}", f"L{layer - 1}_{(w + 1) % OVERHEAD_WIDTH}"])
            algs.append(_Passthrough(name=f"A{layer}_{w}", parts=parents, out=f"L{layer}_{w}"))
    return Job(source=_BenchSource(OVERHEAD_BLOCKS), algorithms=algs, name="overhead")


def _with_read_ahead(make: Callable[[], Job], read_ahead: int | None,
                     arrow_pool: bool = False) -> Callable[[], Job]:
    """`make` with its Parquet source reading `read_ahead` row groups ahead (None: default)
    and decoding on Arrow's thread pool or not."""
    if read_ahead is None and not arrow_pool:
        return make

    def made() -> Job:
        job = make()
        if isinstance(job.source, ParquetSource):
            if read_ahead is not None:
                job.source.read_ahead = read_ahead
            job.source.arrow_threads = arrow_pool
        return job
    return made


def demo_job(events: int) -> Job:
    job, _ = configure_job("demo", sets=["demo.work=40", "demo.branches=2"], events=events)
    return job


# ---------------------------------------------------------------------------------------------
# kernel share

def _dispatchers(module: Any) -> dict[str, Any]:
    try:
        from numba.core.registry import CPUDispatcher
    except ImportError:
        return {}
    return {name: obj for name, obj in vars(module).items() if isinstance(obj, CPUDispatcher)}


def kernel_share(modules: Sequence[str], make: Callable[[], Job], options: RunOptions) -> dict[str, Any]:
    """Run a job once on one thread with every numba kernel of `modules` timed: the share of the
    algorithm time spent inside kernels (the rest is Python orchestration and numpy)."""
    import importlib

    spent = [0]
    patched: list[tuple[Any, str, Any]] = []

    def wrap(kernel: Any) -> Callable[..., Any]:
        def timed(*args: Any, **kwargs: Any) -> Any:
            t0 = time.perf_counter_ns()
            try:
                return kernel(*args, **kwargs)
            finally:
                spent[0] += time.perf_counter_ns() - t0
        return timed

    for name in modules:
        try:
            module = importlib.import_module(name)
        except ImportError:
            continue
        for attr, kernel in _dispatchers(module).items():
            patched.append((module, attr, kernel))
            setattr(module, attr, wrap(kernel))
    try:
        result = run_job(make(), RunOptions(**{**asdict(options), "threads": 1, "slots": 1}))
    finally:
        for module, attr, kernel in patched:
            setattr(module, attr, kernel)
    from metflow.framework.scheduler import READ

    alg_ns = sum(ns for k, (_, ns) in result.stats.items() if k != READ)
    return {"algorithm_s": alg_ns / 1e9, "kernel_s": spent[0] / 1e9,
            "kernel_share": spent[0] / alg_ns if alg_ns else 0.0,
            "python_share": 1 - spent[0] / alg_ns if alg_ns else 0.0, "kernels": len(patched)}


# ---------------------------------------------------------------------------------------------
# the run

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

    cases: list[Case] = []
    for t in threads:
        cases.append(Case(Row("read-only pass", t, bs, n), lambda: read_only_job(raw, keys), opts(t)))
        cases.append(Case(Row("read-only pass, checksums unverified", t, bs, n),
                          lambda: read_only_job(raw, keys, verify_checksums=False), opts(t)))
        cases.append(Case(Row("reco chain", t, bs, n), lambda: reco_job(raw, keys), opts(t)))
        cases.append(Case(Row("reco chain + Parquet output", t, bs, n),
                          lambda: reco_job(raw, keys, os.path.join(workdir, "reco_io.parquet")), opts(t)))
        if not args.skip_rebuild:
            cases.append(Case(Row("read-only pass (met_reco output)", t, bs, n),
                              lambda: read_only_job(reco_out, reco_keys), opts(t)))
            cases.append(Case(Row("METMaker rebuild", t, bs, n),
                              lambda: rebuild_job(reco_out, reco_keys), opts(t)))
            cases.append(Case(Row("full chain (reco + rebuild)", t, bs, n),
                              lambda: rebuild_job(raw, keys), opts(t)))
    rg = args.row_group_size
    n1 = min(-(-args.batch1_events // rg) * rg, n)   # whole row groups
    cases.append(Case(Row("reco chain", 1, 1, n1), lambda: reco_job(raw, keys), opts(1, 1, n1)))
    executions = OVERHEAD_BLOCKS * OVERHEAD_LAYERS * OVERHEAD_WIDTH
    for t in threads:
        cases.append(Case(Row("framework overhead (trivial DAG)", t, 1, OVERHEAD_BLOCKS), overhead_job,
                          RunOptions(threads=t, batch_size=1, quiet=True, progress=False)))
    demo_events = args.demo_events
    for t in threads:
        cases.append(Case(Row("demo numba-kernel job", t, 128, demo_events), lambda: demo_job(demo_events),
                          RunOptions(threads=t, batch_size=128, events=demo_events, quiet=True,
                                     progress=False)))
    read_ahead = getattr(args, "read_ahead", None)
    arrow_pool = getattr(args, "arrow_pool", False)
    for case in cases:
        case.make = _with_read_ahead(case.make, read_ahead, arrow_pool)
    _measure(cases, args.repeat, log)

    rows = [c.row for c in cases]
    by = {(r.name, r.threads, r.batch_size): r for r in rows}
    for r in rows:
        ref = None
        if r.name in ("reco chain", "reco chain + Parquet output", "full chain (reco + rebuild)",
                      "read-only pass, checksums unverified"):
            ref = by.get(("read-only pass", r.threads, bs))
        elif r.name == "METMaker rebuild":
            ref = by.get(("read-only pass (met_reco output)", r.threads, bs))
        if r.name == "reco chain" and r.batch_size == 1:
            ref = by.get(("reco chain", 1, bs))   # per event: the batch-1 row has fewer events
            r.ratio = (r.wall_s / r.events) / (ref.wall_s / ref.events)
            r.reference = f"{ref.name} (1 thread, batch {bs}), per event"
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
        "summary": summary,
    }


def _alg_ns(row: Row | None, prefix: str) -> int:
    if row is None:
        return 0
    return sum(ns for k, (_, ns) in row.stats.items() if k.startswith(prefix))


def _summary(by: dict, threads: list[int], bs: int, executions: int,
             maker_share: dict[str, Any] | None) -> dict[str, Any]:
    """The goal ratios, each with its goal and whether it is met."""
    out: dict[str, Any] = {}

    def goal(name: str, value: float | None, target: float, lower_is_better: bool, what: str) -> None:
        if value is None:
            return
        met = value <= target if lower_is_better else value >= target
        out[name] = {"value": value, "goal": target, "met": met, "what": what,
                     "direction": "<=" if lower_is_better else ">="}

    read1, reco1 = by.get(("read-only pass", 1, bs)), by.get(("reco chain", 1, bs))
    for t in threads:
        plain = by.get(("read-only pass, checksums unverified", t, bs))
        checked = by.get(("read-only pass", t, bs))
        if plain is not None and checked is not None:
            goal(f"checksum_read_cost_{t}t", checked.wall_s / plain.wall_s - 1,
                 GOAL_CHECKSUM_READ_COST, True,
                 f"page-checksum verification, read-only pass wall +fraction ({t} thread"
                 f"{'s' if t > 1 else ''})")
            if plain.cpu_s > 0:   # less sensitive than wall time to other jobs on the machine
                out[f"checksum_read_cost_{t}t"]["cpu"] = checked.cpu_s / plain.cpu_s - 1
    goal("reco_vs_read_only", reco1.wall_s / read1.wall_s if reco1 and read1 else None,
         GOAL_RECO_VS_READ, True, "reco chain wall / read-only pass wall (1 thread)")
    if 2 in threads:
        reco2 = by.get(("reco chain", 2, bs))
        goal("reco_vs_read_only_2t", reco2.wall_s / by[("read-only pass", 2, bs)].wall_s,
             GOAL_RECO_VS_READ, True, "reco chain wall / read-only pass wall (2 threads)")
        goal("reco_scaling_2t", reco2.scaling, GOAL_SCALING_RECO_2T, False,
             "reco chain events/s, 2 threads / 1 thread")
        goal("kernel_job_scaling_2t", by[("demo numba-kernel job", 2, 128)].scaling,
             GOAL_SCALING_KERNEL_2T, False, "demo numba-kernel job, 2 threads / 1 thread")
    b1, bb = by.get(("reco chain", 1, 1)), by.get(("reco chain", 1, bs))
    goal("batch1_vs_batched", b1.events_per_s / bb.events_per_s if b1 and bb else None,
         GOAL_BATCH1_VS_BATCHED, False, f"reco chain events/s, batch 1 / batch {bs}")
    ov = by.get(("framework overhead (trivial DAG)", 1, 1))
    if ov is not None:
        goal("overhead_us_per_execution", ov.wall_s / executions * 1e6, GOAL_OVERHEAD_US, True,
             "framework wall per trivial algorithm execution (1 thread, batch 1) [us]")
    reb = by.get(("METMaker rebuild", 1, bs))
    if reb is not None:
        maker_ns = _alg_ns(reb, "METMakerAlg")
        if maker_ns:
            goal("maker_events_per_s_core", reb.events / (maker_ns / 1e9), GOAL_MAKER_PER_CORE, False,
                 "METMakerAlg events/s on one core (algorithm time only)")
            if maker_share is not None:
                out["maker_events_per_s_core"]["kernel_share"] = maker_share["kernel_share"]
        out["rebuild_job_events_per_s"] = {"value": reb.events_per_s,
                                           "what": "met_rebuild job on met_reco output, 1 thread"}
    return out


# ---------------------------------------------------------------------------------------------
# output

def format_table(report: dict[str, Any]) -> str:
    m, inp = report["machine"], report["input"]
    lines = [
        f"metflow bench: {inp['events']} {inp['process']} events, mu={inp['mu']:g}, "
        f"{inp['bytes_per_event'] / 1e3:.1f} kB/event on disk, batch {report['batch_size']}, "
        f"best of {report['repeat']}",
        f"machine: {m['cpu']}, {m['cores']} cores; load avg {m['load_start']} (start) "
        f"{m['load_end']} (end); python {m['python']}, numba {m['numba']}, pyarrow {m['pyarrow']} "
        f"({report['arrow_threads']} Arrow threads); Parquet read-ahead "
        f"{report.get('read_ahead', ParquetSource.DEFAULT_READ_AHEAD)} row groups"
        + (", columns decoded on Arrow's pool" if report.get("arrow_pool") else
           ", decoded on the job threads (no Arrow pool)"),
        "",
        f"{'row':<34} {'thr':>3} {'batch':>5} {'events':>6} {'events/s':>10} {'wall [s]':>9} "
        f"{'cpu [s]':>8} {'ratio':>6} {'speed-up':>8} {'eff.':>5}",
    ]
    for r in report["rows"]:
        ratio = f"{r['ratio']:.2f}" if r["ratio"] is not None else ""
        scal = f"{r['scaling']:.2f}x" if r["scaling"] is not None else ""
        eff = f"{100 * r['efficiency']:.0f}%" if r["efficiency"] is not None else ""
        lines.append(f"{r['name']:<34} {r['threads']:>3} {r['batch_size']:>5} {r['events']:>6} "
                     f"{r['events_per_s']:>10,.0f} {r['wall_s']:>9.3f} {r['cpu_s']:>8.2f} {ratio:>6} "
                     f"{scal:>8} {eff:>5}")
    lines.append("ratio: wall / wall of the read-only pass of the same input and threads (METMaker: "
                 "of the met_reco output; batch-1 row: time per event / batched time per event)")
    lines.append("cpu: process CPU time (all threads, Arrow's decode threads included)")
    lines.append("")
    lines.append("goals:")
    for name, g in report["summary"].items():
        if "goal" not in g:
            lines.append(f"  {g['what']}: {g['value']:,.0f}")
            continue
        value = g["value"]
        text = f"{value:,.0f}" if value >= 1000 else f"{value:.2f}"
        target = f"{g['goal']:g}"
        if name.startswith("checksum_read_cost"):
            text, target = f"{100 * value:+.1f}%", f"+{100 * g['goal']:g}%"
            if "cpu" in g:
                target += f"; process CPU time {100 * g['cpu']:+.1f}%"
        lines.append(f"  {'ok  ' if g['met'] else 'MISS'} {g['what']}: {text} (goal {g['direction']} "
                     f"{target})" + (f"; kernel share {100 * g['kernel_share']:.0f}%"
                                          if "kernel_share" in g else ""))
    for label, share in (("reco chain", report["reco_kernel_share"]),
                         ("METMaker rebuild", report["maker_kernel_share"])):
        if share:
            lines.append(f"  {label}: {100 * share['kernel_share']:.0f}% of algorithm time in numba "
                         f"kernels, {100 * share['python_share']:.0f}% Python/numpy orchestration")
    return "\n".join(lines)


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
