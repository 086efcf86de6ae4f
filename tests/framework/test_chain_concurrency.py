"""The number of chains run at once is measured and chosen (framework.chain_concurrency)."""



import pytest

from metflow.framework import DataFlowGraph
from metflow.framework.chain_concurrency import HOLD, PARALLEL, SERIAL, ChainConcurrency
from metflow.framework.driver import drive
from metflow.framework.scheduler import Scheduler
from toy import AddConstant, CountingSource, Sleeper


class FakeClock:
    def __init__(self):
        self.now = 0

    def __call__(self):
        return self.now


def _feed(policy, clock, ns_per_chain, blocks):
    """`blocks` chains of 10 events each finishing `ns_per_chain` apart."""
    for _ in range(blocks):
        clock.now += ns_per_chain
        policy.chain_done(10)


def _probe(policy, clock, parallel_ns, serial_ns, then=HOLD, first=SERIAL):
    """Run one probe: the serial phase at `serial_ns` per chain and the parallel one, `first`
    first; `then`: the phase after it (PARALLEL: a switch to parallel, probed again, parallel
    first, before it is held)."""
    phases = [(SERIAL, serial_ns, 1), (PARALLEL, parallel_ns, policy.threads)]
    if first == PARALLEL:
        phases.reverse()
    assert policy.phase == first and policy.limit == phases[0][2]
    for i, (phase, ns, _) in enumerate(phases):
        fed = 0
        while policy.phase == phase and len(policy.rates) == i:   # (rates: the phases measured)
            _feed(policy, clock, ns, 1)
            fed += 1
        # the phase lasted its chains and its time, no more
        assert fed == policy.threads + max(policy.PROBE_BLOCKS,
                                           -(-policy.PROBE_MIN_NS // int(ns)))
        if i == 0:
            assert policy.phase == phases[1][0] and policy.limit == phases[1][2]
    assert policy.phase == then


MS = 2_000_000   # ns per chain


def _hold(policy, clock, ns):
    """Run the hold phase to its end: its time, counted from the first chain after the skip."""
    assert policy.phase == HOLD
    _feed(policy, clock, ns, policy.skip + -(-policy.hold_ns // ns))
    assert policy.phase == SERIAL


def test_slow_parallel_chains_run_one_at_a_time_and_a_confirmed_choice_is_held_longer():
    clock = FakeClock()
    policy = ChainConcurrency(2, clock)
    _probe(policy, clock, parallel_ns=int(1.2 * MS), serial_ns=MS)   # GIL-bound: parallel slower
    assert policy.limit == 1 and policy.hold_ns == ChainConcurrency.HOLD_FIRST_NS
    _hold(policy, clock, MS)
    _probe(policy, clock, parallel_ns=int(1.1 * MS), serial_ns=MS)
    assert policy.limit == 1 and policy.hold_ns == (ChainConcurrency.HOLD_GROWTH
                                                    * ChainConcurrency.HOLD_FIRST_NS)
    assert [choice for _, choice in policy.choices] == [1, 1]


def test_parallel_chains_that_gain_keep_every_thread_and_a_change_resets_the_hold():
    clock = FakeClock()
    policy = ChainConcurrency(4, clock)
    _probe(policy, clock, parallel_ns=int(0.3 * MS), serial_ns=MS, then=PARALLEL)   # chains leave the GIL
    assert policy.candidate == 4 and policy.choices == []   # probed again first, parallel first
    _probe(policy, clock, parallel_ns=int(0.3 * MS), serial_ns=MS, first=PARALLEL)
    assert policy.limit == 4 and policy.hold_ns == ChainConcurrency.HOLD_FIRST_NS
    _hold(policy, clock, int(0.3 * MS))
    _probe(policy, clock, parallel_ns=int(0.3 * MS), serial_ns=MS)
    assert policy.hold_ns == ChainConcurrency.HOLD_GROWTH * ChainConcurrency.HOLD_FIRST_NS
    _hold(policy, clock, int(0.3 * MS))
    _probe(policy, clock, parallel_ns=MS, serial_ns=int(0.99 * MS))   # the load changed: serial
    assert policy.limit == 1 and policy.hold_ns == ChainConcurrency.HOLD_FIRST_NS


def test_a_host_speeding_up_cannot_confirm_parallel_chains():
    """Chains that gain nothing from parallelism, on a host getting 15 % faster per probe phase:
    the first probe (serial, then parallel) sees parallel 18 % faster, a candidate; probed again
    in the same order it would see the same and hold parallel. The confirming probe measures
    parallel first, so the drift now favours serial: serial is held."""
    clock = FakeClock()
    policy = ChainConcurrency(2, clock)
    _probe(policy, clock, parallel_ns=int(0.85 * MS), serial_ns=MS, then=PARALLEL)
    assert policy.candidate == 2
    _probe(policy, clock, parallel_ns=int(0.85 ** 2 * MS), serial_ns=int(0.85 ** 3 * MS),
           first=PARALLEL)
    assert policy.limit == 1 and [choice for _, choice in policy.choices] == [1]


def test_a_gain_within_the_margin_is_a_tie_and_goes_to_one_thread():
    clock = FakeClock()
    policy = ChainConcurrency(2, clock)
    _probe(policy, clock, parallel_ns=int(0.95 * MS), serial_ns=MS)   # 5 % faster: not worth it
    assert policy.limit == 1


def test_a_probe_phase_lasts_its_minimum_time_and_a_short_run_stays_serial():
    """Tiny chains: 16 of them take far less than PROBE_MIN_NS; the serial phase goes on until
    the time is up, so a run shorter than that runs one chain at a time throughout."""
    clock = FakeClock()
    policy = ChainConcurrency(2, clock)
    _feed(policy, clock, 50_000, 300)   # 300 chains of 50 us: 15 ms
    assert policy.phase == SERIAL and policy.limit == 1 and policy.choices == []
    _feed(policy, clock, 50_000, 200)   # past 20 ms: the parallel phase starts
    assert policy.phase == PARALLEL and policy.limit == 2


def test_one_thread_never_probes():
    policy = ChainConcurrency(1, FakeClock())
    for _ in range(1000):
        policy.chain_done(5)
    assert policy.limit == 1 and policy.choices == [] and policy.phase == HOLD


def _chain_intervals(blocks, threads, margin, probe_blocks=4):
    """Run `blocks` one-event blocks of a tiny two-algorithm chain on `threads` threads with
    the policy's margin set to `margin`; the wall interval of each chain, in block order."""
    source = CountingSource(blocks)
    algs = [AddConstant(name="A", result="A", value=1),
            AddConstant(name="B", source="A", result="B", value=1),
            AddConstant(name="C", source="B", result="C", value=1), Sleeper()]
    graph = DataFlowGraph.build(algs, source.keys())
    sched = Scheduler(graph, source, [(i, 1) for i in range(blocks)], [], n_slots=threads + 1,
                      threads=threads)
    sched.concurrency.PARALLEL_MARGIN = margin
    sched.concurrency.PROBE_BLOCKS = probe_blocks
    sched.concurrency.PROBE_MIN_NS = 2_000_000
    spans: dict[int, list[int]] = {}
    chains, make = set(), sched._chain_task
    sched._chain_task = lambda slot, block: (chains.add(block), make(slot, block))[1]

    def record(part):
        span = spans.setdefault(part.task.block, [part.start_ns, part.stop_ns])
        span[0], span[1] = min(span[0], part.start_ns), max(span[1], part.stop_ns)

    seen = []
    drive(sched, lambda block, ctx: seen.append(block), record, threads=threads)
    assert seen == list(range(blocks))
    return sched, {block: span for block, span in spans.items() if block in chains}


@pytest.mark.parametrize("threads", [2, 3])
def test_once_one_chain_at_a_time_is_chosen_no_two_chains_overlap(threads):
    sched, spans = _chain_intervals(120, threads, margin=float("inf"))
    first_choice = sched.concurrency.choices[0][0]
    assert [c for _, c in sched.concurrency.choices] == [1]
    chained = sorted((start, stop) for block, (start, stop) in spans.items()
                     if block >= first_choice + 2 * threads + 4)
    assert len(chained) > 50
    assert all(a[1] <= b[0] for a, b in zip(chained, chained[1:]))


def test_chains_that_sleep_outside_the_gil_run_in_parallel():
    """Chains waiting outside the GIL (here: sleeping) gain from threads: measured, kept."""
    sched, spans = _chain_intervals(150, 2, margin=1.10, probe_blocks=12)
    assert sched.concurrency.choices and sched.concurrency.choices[0][1] == 2


def test_a_parallel_phase_already_slower_than_serial_ends_after_its_chains():
    """Tiny GIL-bound chains: the parallel phase is not measured for its whole minimum time
    once its chains run slower than serial ones; serial is chosen then."""
    clock = FakeClock()
    policy = ChainConcurrency(2, clock)
    _feed(policy, clock, 50_000, policy.threads + 400)   # serial: 50 us per chain, past 20 ms
    assert policy.phase == PARALLEL
    _feed(policy, clock, 90_000, policy.threads + policy.PROBE_BLOCKS)   # 16 chains, 1.4 ms
    assert policy.phase == HOLD and policy.limit == 1 and [c for _, c in policy.choices] == [1]
    # a faster parallel phase is measured to its end, and probed twice before it is held
    policy = ChainConcurrency(2, clock)
    _feed(policy, clock, 50_000, policy.threads + 400)
    _feed(policy, clock, 20_000, policy.threads + policy.PROBE_BLOCKS)
    assert policy.phase == PARALLEL
