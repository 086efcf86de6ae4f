"""MET reconstruction benchmarks: the reco chain on one block (kernels), and the met_reco job
against a read-only pass over the same Parquet input in the same run (goal: reco wall time
<= 1.5x the read-only wall time).

Run: pytest tests/benchmarks/test_reco_bench.py --benchmark-enable -s
Numbers are in each benchmark's extra_info and printed.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np
import pytest

from metflow.edm import keys as K
from metflow.edm.persistence import decode, write_parquet
from metflow.framework import Job, ParquetSource, RunOptions, Sink, configure_job, run_job

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "met"))
from test_reco import run_chain  # noqa: E402
from test_reco_support import make_block, random_event  # noqa: E402

N_EVENTS = 512
READ_ONLY_GOAL = 1.5


def _input_block(n_events):
    """Synthetic-source events when available, otherwise random events of similar size."""
    try:
        from metflow.algorithms.generation.synthetic import SyntheticSource
    except ImportError:
        rng = np.random.default_rng(1)
        return make_block([random_event(rng, n_clusters=300, n_tracks=150, n_jets=8) for _ in range(n_events)])
    return SyntheticSource(seed=1, mu=40.0, n_events=n_events).read(0, n_events)


@pytest.fixture(scope="module")
def block():
    return _input_block(N_EVENTS)


@pytest.fixture(scope="module")
def input_file(block, tmp_path_factory):
    path = tmp_path_factory.mktemp("reco_bench") / "input.parquet"
    write_parquet(path, block)
    return str(path)


@pytest.mark.parametrize("jet", K.JET_COLLECTIONS)
def test_reco_chain_on_a_block(benchmark, block, jet):
    run_chain(block, jet)  # compile / warm the caches
    benchmark.pedantic(run_chain, args=(block, jet), rounds=5, iterations=1)
    eps = N_EVENTS / benchmark.stats.stats.median
    benchmark.extra_info["events_per_s"] = eps
    print(f"\n{jet}: reco chain on a {N_EVENTS}-event block: {eps:.0f} events/s")


class _ReadAll(Sink):
    """Consumes every input key, so the read-only pass decodes what the reco job decodes."""

    name = "read-only"

    def __init__(self, keys):
        self._keys = list(keys)

    def keys(self):
        return self._keys

    def write(self, first, n, data):
        pass


def _read_only(path, keys, threads):
    job = Job(source=ParquetSource([path], decode=decode), sinks=[_ReadAll(keys)], name="read-only")
    return run_job(job, RunOptions(threads=threads, quiet=True, progress=False))


def _reco(path, out, threads, keys=None):
    """The met_reco job; with ``keys``, its Parquet output is replaced by a sink that consumes
    the inputs and the maps (the reco chain alone on top of the read-only pass)."""
    job, _ = configure_job("met_reco", inputs=[path], output=out)
    if keys is not None:
        outputs = [k for jet in K.JET_COLLECTIONS for k in (K.met_assoc_key(jet), K.met_core_key(jet))]
        job.sinks = [_ReadAll([*keys, *outputs])]
    return run_job(job, RunOptions(threads=threads, quiet=True, progress=False))


@pytest.mark.parametrize("write_output", [False, True], ids=["chain", "with-parquet-output"])
@pytest.mark.parametrize("threads", [1, 2])
def test_reco_job_vs_read_only_pass(benchmark, input_file, tmp_path, threads, write_output):
    keys = ParquetSource([input_file], decode=decode).keys()
    out = str(tmp_path / "out.parquet")
    sink_keys = None if write_output else keys
    _reco(input_file, out, threads, sink_keys)  # warm-up (numba caches, imports)
    # interleaved, best of 3 each: the machine's load changes between runs
    read_times, reco_times = [], []
    for _ in range(3):
        read_times.append(_timed(lambda: _read_only(input_file, keys, threads)))
        reco_times.append(_timed(lambda: _reco(input_file, out, threads, sink_keys)))
    result = benchmark.pedantic(_reco, args=(input_file, out, threads, sink_keys), rounds=1, iterations=1)
    read_wall, reco_wall = min(read_times), min(reco_times)
    ratio = reco_wall / read_wall
    benchmark.extra_info.update(read_only_s=read_wall, reco_s=reco_wall, ratio=ratio,
                                reco_events_per_s=result.events / reco_wall,
                                read_events_per_s=N_EVENTS / read_wall, goal=READ_ONLY_GOAL)
    print(f"\nthreads={threads} output={write_output}: read-only {N_EVENTS / read_wall:.0f} events/s, "
          f"met_reco {N_EVENTS / reco_wall:.0f} events/s, ratio {ratio:.2f} (goal <= {READ_ONLY_GOAL})")


def _timed(fn):
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start
