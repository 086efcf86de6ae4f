"""How `metflow bench` measures: rows (the best of interleaved repetitions), machine facts and
the numba-kernel share of the algorithm time."""

from __future__ import annotations

import os
import platform
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from metflow.framework import Job, RunOptions, run_job


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
    #: the round of each run ("main 1", ... or an extra group's "<group> 1", ...): goal ratios
    #: pair two rows' runs of the same round
    runs_round: list[str] = field(default_factory=list)
    stats: dict[str, tuple[int, int]] = field(default_factory=dict)
    #: each step's least time over the runs (a step's own speed: noise only adds time)
    best_step_ns: dict[str, int] = field(default_factory=dict)
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


def _measure(cases: Sequence[Case], repeat: int, log: Callable[[str], None],
             warm: bool = True, group: str = "main") -> None:
    """Warm each case once, then `repeat` interleaved rounds, every other one in reverse order
    (so that a steady drift of the machine's speed hits both rows of a pair alike); keep each
    row's best wall time and every run's with its round (`runs_round`: "<group> <i>"), and each
    step's best."""
    if warm:
        for case in cases:
            _timed_run(case)
    for r in range(repeat):
        for case in (cases if r % 2 == 0 else cases[::-1]):
            wall, cpu, result = _timed_run(case)
            row = case.row
            row.runs_wall_s.append(wall)
            row.runs_round.append(f"{group} {r + 1}")
            if wall < row.wall_s:
                row.wall_s, row.cpu_s = wall, cpu
                row.stats = {k: (int(c), int(ns)) for k, (c, ns) in result.stats.items()}
            for k, (_, ns) in result.stats.items():
                row.best_step_ns[k] = min(int(ns), row.best_step_ns.get(k, int(ns)))
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

    patched: list[tuple[Any, str]] = []
    for name in modules:
        try:
            module = importlib.import_module(name)
        except ImportError:
            continue
        patched.extend((module, attr) for attr in _dispatchers(module))
    result, spent_ns, _ = _run_timing(patched, make, options)
    from metflow.framework.scheduler import PREPARE, READ

    alg_ns = sum(ns for k, (_, ns) in result.stats.items() if k not in (READ, PREPARE))
    return {"algorithm_s": alg_ns / 1e9, "kernel_s": spent_ns / 1e9,
            "kernel_share": spent_ns / alg_ns if alg_ns else 0.0,
            "python_share": 1 - spent_ns / alg_ns if alg_ns else 0.0, "kernels": len(patched)}


def _run_timing(functions: Sequence[tuple[Any, str]], make: Callable[[], Job],
                options: RunOptions) -> tuple[Any, int, float]:
    """Run a job once on one thread with each `module.attr` of `functions` wrapped in a timer:
    (the run's result, ns spent inside those functions, the run's wall time in s)."""
    spent = [0]

    def wrap(function: Any) -> Callable[..., Any]:
        def timed(*args: Any, **kwargs: Any) -> Any:
            t0 = time.perf_counter_ns()
            try:
                return function(*args, **kwargs)
            finally:
                spent[0] += time.perf_counter_ns() - t0
        return timed

    originals = [(module, attr, getattr(module, attr)) for module, attr in functions]
    for module, attr, function in originals:
        setattr(module, attr, wrap(function))
    try:
        start = time.perf_counter()
        result = run_job(make(), RunOptions(**{**asdict(options), "threads": 1, "slots": 1}))
        wall = time.perf_counter() - start
    finally:
        for module, attr, function in originals:
            setattr(module, attr, function)
    return result, spent[0], wall


def verification_share(make: Callable[[], Job], options: RunOptions) -> dict[str, Any]:
    """Run a job once on one thread with the page-checksum verification of its Parquet reads
    timed (`mapped_parquet.verify_chunks`: the page walk and the CRC32, all that reading with
    checksums adds): its time and share of the run's wall time. A direct measurement, beside the
    A/B of two rows, which the machine's noise moves by more than the effect."""
    from metflow.framework import mapped_parquet

    _, spent_ns, wall = _run_timing([(mapped_parquet, "verify_chunks")], make, options)
    return {"verify_s": spent_ns / 1e9, "wall_s": wall, "share": spent_ns / 1e9 / wall}
