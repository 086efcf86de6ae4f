"""Chain throughput benchmarks, the pytest-benchmark form of `metflow bench`.

One synthetic input (ttbar, mu = 40) is generated once per module; on it: the read-only pass
(the floor), the reco chain, METMaker rebuild on the met_reco output and the full chain, each
with 1 and 2 threads; `--batch-size 1` against the default; reco chain vs read-only in the same
run. Goals (from the issues) are recorded in extra_info and printed, never asserted: the machine
may be shared, so read the numbers (`-s`) together with the load average printed beside them.

    pytest tests/benchmarks/test_chain_bench.py -s
"""

from __future__ import annotations

import os
import time

import pytest

from metflow import bench
from metflow.framework import RunOptions, run_job

N_EVENTS = 2048
BATCH = 256
BATCH1_EVENTS = 1024   # one row group: a row group is decoded whole
ROUNDS = 3


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    """(raw input path, its keys, met_reco output path, its keys), written once."""
    folder = tmp_path_factory.mktemp("chain_bench")
    raw = str(folder / "input.parquet")
    keys = bench.generate_input(raw, events=N_EVENTS, process="ttbar", mu=40.0, seed=1,
                                row_group_size=1024)
    reco_out = str(folder / "met_reco.parquet")
    run_job(bench.reco_job(raw, keys, output=reco_out), _options(1))
    return raw, keys, reco_out, bench._parquet_source(reco_out).keys()


def _options(threads, batch=BATCH, events=None):
    return RunOptions(threads=threads, batch_size=batch, events=events, quiet=True, progress=False)


def _jobs(inputs):
    raw, keys, reco_out, reco_keys = inputs
    return {"read-only": lambda: bench.read_only_job(raw, keys),
            "reco": lambda: bench.reco_job(raw, keys),
            "reco+output": lambda: bench.reco_job(raw, keys, raw + ".reco_io.parquet"),
            "rebuild": lambda: bench.rebuild_job(reco_out, reco_keys),
            "full": lambda: bench.rebuild_job(raw, keys)}


def _run(make, options):
    return run_job(make(), options)


def _wall(make, options):
    start = time.perf_counter()
    _run(make, options)
    return time.perf_counter() - start


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("chain", ["read-only", "reco", "reco+output", "rebuild", "full"])
def test_chain_throughput(benchmark, inputs, chain, threads):
    make = _jobs(inputs)[chain]
    _run(make, _options(threads))   # numba caches, imports, page cache
    result = benchmark.pedantic(_run, args=(make, _options(threads)), rounds=ROUNDS, iterations=1)
    rate = N_EVENTS / benchmark.stats.stats.min
    benchmark.extra_info.update(events_per_s=rate, threads=threads, load=os.getloadavg())
    makers = {k: ns for k, (_, ns) in result.stats.items() if k.startswith("METMakerAlg")}
    if chain == "rebuild" and makers:
        per_core = N_EVENTS / (sum(makers.values()) / 1e9)
        benchmark.extra_info["maker_events_per_s_core"] = per_core
        benchmark.extra_info["maker_goal_events_per_s_core"] = bench.GOAL_MAKER_PER_CORE
    print(f"\n{chain} threads={threads}: {rate:,.0f} events/s (best of {ROUNDS}), load {os.getloadavg()}")


@pytest.mark.parametrize("threads", [1, 2])
def test_reco_vs_read_only_same_run(benchmark, inputs, threads):
    """Interleaved best-of-ROUNDS of both, so load changes hit both alike; goal ratio <= 1.5."""
    jobs = _jobs(inputs)
    reads, recos = [], []
    _run(jobs["reco"], _options(threads))

    def measure():
        reads.append(_wall(jobs["read-only"], _options(threads)))
        recos.append(_wall(jobs["reco"], _options(threads)))

    benchmark.pedantic(measure, rounds=ROUNDS, iterations=1)
    ratio = min(recos) / min(reads)
    benchmark.extra_info.update(ratio=ratio, goal=bench.GOAL_RECO_VS_READ, read_only_s=min(reads),
                                reco_s=min(recos), load=os.getloadavg())
    print(f"\nthreads={threads}: reco chain / read-only wall = {ratio:.2f} "
          f"(goal <= {bench.GOAL_RECO_VS_READ}), load {os.getloadavg()}")


def test_reco_thread_scaling(benchmark, inputs):
    """Reco chain events/s with 2 threads over 1 thread, interleaved; goal >= 1.8."""
    make = _jobs(inputs)["reco"]
    one, two = [], []
    _run(make, _options(2))

    def measure():
        one.append(_wall(make, _options(1)))
        two.append(_wall(make, _options(2)))

    benchmark.pedantic(measure, rounds=ROUNDS, iterations=1)
    scaling = min(one) / min(two)
    benchmark.extra_info.update(scaling=scaling, goal=bench.GOAL_SCALING_RECO_2T, load=os.getloadavg(),
                                cores=os.cpu_count())
    print(f"\nreco chain 2-thread speed-up {scaling:.2f}x (goal >= {bench.GOAL_SCALING_RECO_2T}), "
          f"{os.cpu_count()} cores, load {os.getloadavg()}")


def test_batch_size_one_vs_default(benchmark, inputs):
    """Reco chain events/s at --batch-size 1 over the default batch; goal >= 0.2."""
    make = _jobs(inputs)["reco"]
    _run(make, _options(1, 1, 8))
    batched = min(_wall(make, _options(1)) for _ in range(ROUNDS)) / N_EVENTS
    benchmark.pedantic(_run, args=(make, _options(1, 1, BATCH1_EVENTS)), rounds=ROUNDS, iterations=1)
    per_event = benchmark.stats.stats.min / BATCH1_EVENTS
    ratio = batched / per_event
    benchmark.extra_info.update(batch1_events_per_s=1 / per_event, batched_events_per_s=1 / batched,
                                ratio=ratio, goal=bench.GOAL_BATCH1_VS_BATCHED)
    print(f"\nbatch 1: {1 / per_event:,.0f} events/s, batch {BATCH}: {1 / batched:,.0f} events/s, "
          f"ratio {ratio:.3f} (goal >= {bench.GOAL_BATCH1_VS_BATCHED})")
