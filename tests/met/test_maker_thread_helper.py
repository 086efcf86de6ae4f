"""METMakerAlg keeps its selection state in one MissingETAssociationHelper per thread (the
framework's thread scratch), reset for each block: two threads never share one, one thread
reuses its own, and the results equal those of a new helper per call."""

from __future__ import annotations

import threading

import numpy as np

from metflow.algorithms.met.maker import METMakerAlg, rebuild_event_met

import test_maker_events

E = test_maker_events


def _blocks(n_blocks: int):
    rng = np.random.default_rng(21)
    # blocks of different sizes, so that a reused helper shrinks and grows
    return [E.block([E.random_event(rng) for _ in range(n)]) for n in (7, 2, 11, 1, 5, 9)[:n_blocks]]


def _per_call(alg: METMakerAlg, conts, m, core):
    met, _ = rebuild_event_met(alg.make_maker(), m, core, conts["jets"],
                               {"electrons": conts["e"], "photons": conts["g"], "taus": None,
                                "muons": conts["m"]}, soft_terms=alg.soft_terms, owner=alg.name,
                               core_key=alg.key("core"))
    return met.to_container(key=alg.key("met"))


def test_one_helper_per_thread_reset_per_block_equals_per_call():
    blocks = _blocks(6)
    alg = METMakerAlg()
    alg.initialize()
    expected = [_per_call(alg, *b) for b in blocks]
    start = threading.Barrier(2)
    helpers: dict[int, set[int]] = {0: set(), 1: set()}
    results: dict[int, list] = {0: [], 1: []}
    errors: list[BaseException] = []

    def work(t: int) -> None:
        try:
            start.wait()
            for _ in range(3):
                for conts, m, core in blocks:
                    out = alg.compute(m, core, conts["jets"], conts["e"], conts["g"], None, conts["m"])
                    results[t].append(out["met"])
                    helper = alg.thread_scratch().helper
                    assert helper.map is m and helper.selected.shape == (m.n_associations,)
                    helpers[t].add(id(helper))
            start.wait()   # both threads alive until both are done: ids cannot be recycled
        except BaseException as exc:   # noqa: BLE001 - reported below
            errors.append(exc)
            start.abort()

    threads = [threading.Thread(target=work, args=(t,)) for t in (0, 1)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert not errors, errors
    assert len(helpers[0]) == 1 and len(helpers[1]) == 1   # one helper per thread, reused
    assert helpers[0] != helpers[1]                         # never shared between threads
    for t in (0, 1):
        for got, want in zip(results[t], expected * 3):
            assert got.equals(want)


def test_helper_reset_clears_flags_and_rebinds():
    from metflow.edm.met import MissingETAssociationHelper
    (c1, m1, _), (c2, m2, _) = _blocks(2)
    helper = MissingETAssociationHelper(m1)
    helper.selected[:] = 7
    assert helper.reset(m2) is helper
    assert helper.map is m2 and helper.selected.shape == (m2.n_associations,)
    assert not helper.selected.any()
    helper.selected[:] = 3
    helper.reset(m1)
    assert helper.map is m1 and not helper.selected.any()
