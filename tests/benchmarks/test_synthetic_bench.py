"""Synthetic source throughput: events/s of SyntheticSource.read on one thread.

Goal: >= 20k events/s at mu = 40 (mix), so that throughput jobs are not generation-bound.
Run: pytest tests/benchmarks/test_synthetic_bench.py --benchmark-enable -s
The events/s of each case is printed and stored in the benchmark's extra_info.
"""

from __future__ import annotations

import time

import numpy as np
import pytest

from metflow.algorithms.generation import _synthetic_kernels as kern
from metflow.algorithms.generation.synthetic import PROCESSES, SyntheticSource, pileup_library

BLOCK = 256
N_BLOCKS = 8
GOAL_EVENTS_PER_S = 20_000


def _reader(source):
    counter = iter(range(10**9))

    def read_blocks():
        base = next(counter) * N_BLOCKS
        for b in range(N_BLOCKS):
            source.read(((base + b) * BLOCK) % (source.n_events() - BLOCK), BLOCK)
    return read_blocks


@pytest.mark.parametrize("process, mu", [("mix", 40.0), ("mix", 0.0), ("mix", 60.0), ("ttbar", 40.0)])
def test_read_throughput(benchmark, process, mu):
    source = SyntheticSource(seed=1, process=process, mu=mu, n_events=10**7)
    source.read(0, 8)   # compile / load the kernels and build the pileup library
    benchmark.pedantic(_reader(source), rounds=5, iterations=1, warmup_rounds=1)
    rate = BLOCK * N_BLOCKS / benchmark.stats.stats.min
    benchmark.extra_info["events_per_s"] = rate
    print(f"\nsynthetic {process} mu={mu:g}: {rate:,.0f} events/s (block {BLOCK}, best round)")
    if process == "mix" and mu == 40.0:
        benchmark.extra_info["goal_events_per_s"] = GOAL_EVENTS_PER_S


def test_kernel_throughput_cpu_time(benchmark):
    """Generation kernel alone, timed in process CPU time (robust on a shared machine)."""
    lib = pileup_library(1)
    kern.generate_block(np.uint64(1), 0, 8, PROCESSES["mix"], 40.0, False, lib, *kern.allocate_outputs(8, 40.0))

    def run():
        t0 = time.process_time()
        kern.generate_block(np.uint64(1), 0, 2048, PROCESSES["mix"], 40.0, False, lib,
                            *kern.allocate_outputs(2048, 40.0))
        return time.process_time() - t0

    cpu = benchmark.pedantic(run, rounds=3, iterations=1)   # CPU seconds of the last round
    rate = 2048 / max(cpu, 1e-9)
    benchmark.extra_info["events_per_s_cpu"] = rate
    print(f"\nsynthetic kernel mix mu=40: {rate:,.0f} events/s (CPU time)")
