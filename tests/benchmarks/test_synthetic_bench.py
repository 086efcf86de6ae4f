"""Synthetic source throughput: events/s of SyntheticSource.read on one thread.

Goal: >= 20k events/s at mu = 40 (mix), so that throughput jobs are not generation-bound.
Rates are in process CPU time (robust on a shared machine), best round, and are computed from
our own timings, so they are printed (and stored in extra_info) also under --benchmark-disable.
Run: pytest tests/benchmarks/test_synthetic_bench.py --benchmark-enable -s
"""

from __future__ import annotations

import time

import numpy as np
import pytest

from metflow.algorithms.generation._synthetic_block import generate_block
from metflow.algorithms.generation._synthetic_buffers import allocate_outputs
from metflow.algorithms.generation.synthetic import PROCESSES, SyntheticSource, pileup_library

BLOCK = 256
N_BLOCKS = 8
ROUNDS = 5
GOAL_EVENTS_PER_S = 20_000


def _timed_rounds(benchmark, work, rounds=ROUNDS):
    """Run ``work(round)`` under the benchmark fixture; the CPU seconds of each round."""
    cpu: list[float] = []
    counter = iter(range(10**9))

    def one_round():
        t0 = time.process_time()
        work(next(counter))
        cpu.append(time.process_time() - t0)

    benchmark.pedantic(one_round, rounds=rounds, iterations=1, warmup_rounds=1)
    assert cpu, "the benchmark fixture ran no round"
    return cpu


@pytest.mark.parametrize("process, mu", [("mix", 40.0), ("mix", 0.0), ("mix", 60.0), ("ttbar", 40.0)])
def test_read_throughput(benchmark, process, mu):
    source = SyntheticSource(seed=1, process=process, mu=mu, n_events=10**7)
    source.read(0, 8)   # compile / load the kernels and build the pileup library

    def read_blocks(r):
        for b in range(N_BLOCKS):
            source.read(((r * N_BLOCKS + b) * BLOCK) % (source.n_events() - BLOCK), BLOCK)

    cpu = _timed_rounds(benchmark, read_blocks)
    rate = BLOCK * N_BLOCKS / max(min(cpu), 1e-9)
    assert rate > 0
    benchmark.extra_info["events_per_s_cpu"] = rate
    print(f"\nsynthetic {process} mu={mu:g}: {rate:,.0f} events/s (CPU time, block {BLOCK}, best of {len(cpu)})")
    if process == "mix" and mu == 40.0:
        benchmark.extra_info["goal_events_per_s"] = GOAL_EVENTS_PER_S
        benchmark.extra_info["goal_met"] = rate >= GOAL_EVENTS_PER_S


def test_kernel_throughput_cpu_time(benchmark):
    """Generation kernel alone (no EDM containers), same blocks as test_read_throughput."""
    lib = pileup_library(1)
    generate_block(np.uint64(1), 0, 8, PROCESSES["mix"], 40.0, False, lib, *allocate_outputs(8, 40.0))

    def generate(r):
        for b in range(N_BLOCKS):
            generate_block(np.uint64(1), (r * N_BLOCKS + b) * BLOCK, BLOCK, PROCESSES["mix"], 40.0, False,
                                lib, *allocate_outputs(BLOCK, 40.0))

    cpu = _timed_rounds(benchmark, generate)
    rate = BLOCK * N_BLOCKS / max(min(cpu), 1e-9)
    assert rate > 0
    benchmark.extra_info["events_per_s_cpu"] = rate
    print(f"\nsynthetic kernel mix mu=40: {rate:,.0f} events/s (CPU time, best of {len(cpu)})")
