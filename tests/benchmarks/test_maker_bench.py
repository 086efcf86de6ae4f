"""METMaker rebuild throughput: PFlow TST (e, γ, τ, μ, jets, FinalTrk) in blocks of 256 events.

Events are synthetic ttbar at μ = 40 (`SyntheticSource(process="ttbar")`); the association maps
and core soft terms are built once by the real reconstruction chain (`met_reco_cfg`) and the
objects selected with the default analysis cuts, so only the rebuild is timed. The run reports
events/s on one core and the share of time spent in Python (orchestration) rather than in the
numba kernels (measured by timing the kernel calls). Goal: ≥ 100k events/s/core.

    pytest tests/benchmarks/test_maker_bench.py -s
"""

from __future__ import annotations

import importlib.util
import pathlib
import sys
import time

import pytest

from metflow.algorithms.generation.synthetic import SyntheticSource
from metflow.algorithms.met import _maker_kernels as K
from metflow.algorithms.met import maker as maker_mod
from metflow.algorithms.met.maker import METMaker, rebuild_event_met
from metflow.algorithms.met.selection import OBJECT_KINDS, METObjectSelection
from metflow.edm import keys as mk

BLOCK = 256
N_BLOCKS = 4


def _end_to_end_module():
    name = "_metflow_tests_end_to_end"
    if name not in sys.modules:
        path = pathlib.Path(__file__).parents[1] / "met" / "test_end_to_end.py"
        spec = importlib.util.spec_from_file_location(name, path)
        mod = importlib.util.module_from_spec(spec)
        sys.modules[name] = mod
        spec.loader.exec_module(mod)
    return sys.modules[name]


@pytest.fixture(scope="module")
def blocks():
    run_reco = _end_to_end_module().run_reco
    source = SyntheticSource(seed=40, process="ttbar", mu=40.0, n_events=BLOCK * N_BLOCKS)
    jet_coll = "AntiKt4EMPFlow"
    out = []
    for b in range(N_BLOCKS):
        block = source.read(b * BLOCK, BLOCK)
        store = run_reco(block, jet_coll)
        objs = {kind: METObjectSelection(objects=key, selected=mk.met_selected_key(key), min_pt=pt,
                                         max_abs_eta=eta, id_level=idl,
                                         require_isolated=iso and kind in ("electrons", "photons"))
                .compute(block[key])
                for kind, (key, pt, eta, idl, iso) in OBJECT_KINDS.items() if kind != "jets"}
        out.append((store[mk.met_assoc_key(jet_coll)], store[mk.met_core_key(jet_coll)],
                    block[mk.jet_container_key(jet_coll)], objs))
    return out


def _rebuild_all(maker, blocks):
    for m, core, jets, objs in blocks:
        rebuild_event_met(maker, m, core, jets, objs, soft_terms="track")


class _KernelTimer:
    """Wraps the kernels the maker calls and accumulates the time spent inside them."""

    NAMES = ("rebuild_objects", "rebuild_jets")

    def __init__(self, monkeypatch):
        self.ns = 0
        for name in self.NAMES:
            kernel = getattr(K, name)
            monkeypatch.setattr(K, name, self._wrap(kernel))

    def _wrap(self, kernel):
        def timed(*args):
            t0 = time.perf_counter_ns()
            kernel(*args)
            self.ns += time.perf_counter_ns() - t0
        return timed


def test_rebuild_throughput_pflow_tst(benchmark, blocks, monkeypatch):
    maker = METMaker(do_pflow=True)
    _rebuild_all(maker, blocks)   # compile / load the cache outside the timing
    n_events = BLOCK * len(blocks)
    benchmark.pedantic(_rebuild_all, args=(maker, blocks), rounds=20, iterations=1, warmup_rounds=2)
    per_s = n_events / benchmark.stats.stats.min
    timer = _KernelTimer(monkeypatch)
    t0 = time.perf_counter_ns()
    rounds = 10
    for _ in range(rounds):
        _rebuild_all(maker, blocks)
    total_ns = time.perf_counter_ns() - t0
    python_share = 1 - timer.ns / total_ns
    n_jets = len(blocks[0][2]) / BLOCK
    n_assoc = blocks[0][0].n_associations / BLOCK
    benchmark.extra_info.update(events_per_s=per_s, python_share=python_share,
                                jets_per_event=n_jets, associations_per_event=n_assoc)
    print(f"\n[maker bench] {per_s:,.0f} events/s/core (best of 20, blocks of {BLOCK}); "
          f"Python share {100 * python_share:.0f}% (kernels {100 * (1 - python_share):.0f}%); "
          f"{n_jets:.1f} jets, {n_assoc:.1f} associations per event")
    assert per_s > 0
    assert maker_mod.K is K
