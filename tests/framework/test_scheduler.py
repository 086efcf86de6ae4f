"""Scheduler conformance: the same contract checked against the serial and threaded executors."""

import time

import numpy as np
import pytest

from metflow.framework import AlgorithmError, DataFlowGraph, Job, RunOptions, run_job
from metflow.framework.scheduler import (READ, Scheduler, SerialExecutor, ThreadPoolExecutor,
                                         drive)
from toy import (AddAll, AddConstant, ConcurrencyProbe, CountingSource, FailingPhase, Recorder,
                 UnsafeProbe)


def diamond():
    return [AddConstant(name="MakeA", result="A", value=1),
            AddConstant(name="MakeB", result="B", value=10),
            AddAll(parts=["A", "B"])]


def test_state_transitions_serial_one_slot():
    """Full state after each step on a tiny graph: read, then roots, then the join."""
    source = CountingSource(4)
    graph = DataFlowGraph.build(diamond(), source.keys())
    sched = Scheduler(graph, source, [(0, 2), (2, 2)], [], n_slots=1)
    sched.start_blocks()
    assert sched.next_block == 1 and sched.free_slots == []
    tasks = sched.take_ready()
    assert [(t.block, t.component) for t in tasks] == [(0, READ)]
    assert sched.in_flight == 1
    ex = SerialExecutor()
    ex.submit(tasks[0])
    sched.complete(ex.wait())
    tasks = sched.take_ready()
    assert sorted(t.component for t in tasks) == ["MakeA", "MakeB"]
    for t in tasks:
        ex.submit(t)
    sched.complete(ex.wait())
    assert sched.take_ready() == []      # AddAll still waits for one producer
    sched.complete(ex.wait())
    tasks = sched.take_ready()
    assert [t.component for t in tasks] == ["AddAll"]
    ex.submit(tasks[0])
    sched.complete(ex.wait())
    assert [b for b, _ in sched.writable()] == [0]
    assert sched.free_slots == [0] and sched.in_flight == 0
    sched.start_blocks()
    assert sched.next_block == 2


class SchedulerContract:
    """Behaviour every executor must show; subclasses choose threads."""

    threads = 1

    def run(self, algorithms, source, sinks=(), **options):
        job = Job(source=source, algorithms=algorithms, sinks=list(sinks))
        opts = RunOptions(threads=self.threads, progress=False, **options)
        return run_job(job, opts)

    @pytest.mark.parametrize("batch,slots", [(1, 1), (3, 2), (7, 5), (256, 3)])
    def test_results_in_event_order(self, batch, slots):
        sink = Recorder(["Sum"])
        result = self.run(diamond(), CountingSource(23), [sink], batch_size=batch, slots=slots)
        assert result.events == 23
        firsts = [b[0] for b in sink.blocks]
        assert firsts == sorted(firsts)
        np.testing.assert_array_equal(sink.values("Sum"), 2 * np.arange(23) + 11)
        assert sink.closed_with is True
        assert result.stats["AddAll"][0] == len(sink.blocks)

    def test_skip_and_events(self):
        sink = Recorder(["Plus"])
        self.run([AddConstant()], CountingSource(50), [sink], skip=5, events=7, batch_size=3)
        assert sink.values("Plus").tolist() == list(range(6, 13))

    def test_not_thread_safe_never_overlaps(self):
        ConcurrencyProbe.groups.clear()
        algs = [UnsafeProbe(hold=0.005)]
        self.run(algs, CountingSource(12), batch_size=1, slots=4)
        assert UnsafeProbe.groups["UnsafeProbe"]["max"] == 1

    def test_execute_failure_aborts_with_context(self):
        sink = Recorder(["Plus"])
        with pytest.raises(AlgorithmError) as info:
            self.run([AddConstant(name="Adder", fail_on=7)], CountingSource(20), [sink],
                     batch_size=5)
        err = info.value
        assert "Adder (AddConstant)" in str(err) and "[5, 10)" in str(err)
        assert "counting(20)" in str(err)
        assert isinstance(err.__cause__, ValueError) and err.__cause__.__traceback__ is not None
        assert sink.closed_with is False

    def test_skip_policy_drops_only_failed_block(self):
        sink = Recorder(["Plus"])
        result = self.run([AddConstant(fail_on=7)], CountingSource(20), [sink], batch_size=5,
                          on_error="skip")
        assert [(f.first, f.n_events, f.component) for f in result.failed] == [(5, 5, "AddConstant")]
        assert sink.values("Plus").tolist() == [i + 1 for i in range(20) if not 5 <= i < 10]
        assert result.events == 15

    @pytest.mark.parametrize("phase", ["initialize", "execute", "finalize"])
    def test_fault_injection_each_phase(self, phase):
        sink = Recorder(["Out"])
        with pytest.raises(AlgorithmError, match=f"Broken \\(FailingPhase\\).*injected {phase} failure"):
            self.run([FailingPhase(name="Broken", phase=phase)], CountingSource(6), [sink],
                     batch_size=2)
        assert sink.closed_with in (False, None)

    def test_source_failure(self):
        with pytest.raises(AlgorithmError, match=r"source counting\(9\) failed on events \[4, 6\).*disk error"):
            self.run([AddConstant()], CountingSource(9, fail_at=5), batch_size=2)

    def test_sink_failure(self):
        sink = Recorder(["Plus"], fail_at_block=1)
        with pytest.raises(Exception, match="sink recorder failed writing events \\[2, 4\\).*device full"):
            self.run([AddConstant()], CountingSource(9), [sink], batch_size=2)
        assert sink.closed_with is False


class TestSerial(SchedulerContract):
    threads = 1


class TestThreaded(SchedulerContract):
    threads = 3

    def test_intra_event_parallelism(self):
        """Two independent algorithms of the same single block overlap in time."""
        ConcurrencyProbe.groups.clear()

        class ProbeA(ConcurrencyProbe):
            pass

        ProbeA.groups = ConcurrencyProbe.groups
        algs = [ProbeA(name="P1", result="R1", hold=0.1), ProbeA(name="P2", result="R2", hold=0.1)]
        self.run(algs, CountingSource(1), batch_size=1, slots=1)
        assert ConcurrencyProbe.groups["ProbeA"]["max"] == 2


def test_drive_with_thread_pool_directly():
    source = CountingSource(10)
    graph = DataFlowGraph.build(diamond(), source.keys())
    sched = Scheduler(graph, source, [(i, 1) for i in range(10)], [], n_slots=4)
    seen = []
    pool = ThreadPoolExecutor(2)
    try:
        drive(sched, pool, lambda block, ctx: seen.append(block))
    finally:
        pool.shutdown()
    assert seen == list(range(10))


def test_thread_pool_bounds_blocks_waiting_for_an_earlier_one():
    """A slow first block: the other threads go on, but at most `max_unwritten` finished blocks
    wait for it (memory stays bounded); afterwards every block is written, in order."""
    started = []

    class SlowFirst(AddConstant):
        def compute(self, source, ctx):
            if ctx.first == 0:
                time.sleep(0.3)
                started.append(("first done", len(started)))
            else:
                started.append(ctx.first)
            return source + 1

    source = CountingSource(40)
    graph = DataFlowGraph.build([SlowFirst()], source.keys())
    sched = Scheduler(graph, source, [(i, 1) for i in range(40)], [], n_slots=2)
    seen = []
    drive(sched, ThreadPoolExecutor(3, max_unwritten=4), lambda block, ctx: seen.append(block))
    assert seen == list(range(40))
    marker = next(i for i, s in enumerate(started) if isinstance(s, tuple))
    assert 1 <= started[marker][1] <= 4 + 1   # finished-unwritten + the slot still in flight


def test_drive_with_an_executor_that_only_submits_and_waits():
    """Executors without their own `drive` are driven by `submit`/`wait` (the generic loop)."""

    class QueueOnly:
        def __init__(self):
            self.inner = SerialExecutor()
            self.submitted = 0

        def submit(self, task):
            self.submitted += 1
            self.inner.submit(task)

        def wait(self):
            return self.inner.wait()

    source = CountingSource(6)
    graph = DataFlowGraph.build(diamond(), source.keys())
    sched = Scheduler(graph, source, [(i, 1) for i in range(6)], [], n_slots=2)
    seen, executor = [], QueueOnly()
    drive(sched, executor, lambda block, ctx: seen.append((block, ctx.store.retrieve("Sum", "test").tolist())))
    assert seen == [(i, [2 * i + 11]) for i in range(6)]
    assert executor.submitted == 6 * 4          # read + three algorithms per block
