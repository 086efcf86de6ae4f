"""Scheduler conformance: the same contract checked with one thread and with several (one
driver, `framework.driver.drive`), plus the state transitions of task and chain mode."""

import time

import numpy as np
import pytest

from metflow.framework import AlgorithmError, DataFlowGraph, Job, RunOptions, run_job
from metflow.framework.driver import drive
from metflow.framework.scheduler import (CHAIN, PREPARE, READ, TINY_TASK_NS, Scheduler,
                                         run_task)
from toy import (AddAll, AddConstant, ConcurrencyProbe, CountingSource, FailingPhase, Recorder,
                 UnsafeProbe)


def diamond():
    return [AddConstant(name="MakeA", result="A", value=1),
            AddConstant(name="MakeB", result="B", value=10),
            AddAll(parts=["A", "B"])]


def test_state_transitions_task_mode_one_slot():
    """Full state after each step on a tiny graph: read, then roots, then the join (a threaded
    run before anything is measured runs in task mode)."""
    source = CountingSource(4)
    graph = DataFlowGraph.build(diamond(), source.keys())
    sched = Scheduler(graph, source, [(0, 2), (2, 2)], [], n_slots=1, threads=2)
    sched.start_blocks()
    assert sched.next_block == 1 and sched.free_slots == [] and not sched.slots[0].chain
    tasks = sched.take_ready()
    assert [(t.block, t.component) for t in tasks] == [(0, READ)]
    assert sched.in_flight == 1
    sched.complete(run_task(tasks[0]))
    tasks = sched.take_ready()
    assert sorted(t.component for t in tasks) == ["MakeA", "MakeB"]
    sched.complete(run_task(tasks[0]))
    assert sched.take_ready() == []      # AddAll still waits for one producer
    sched.complete(run_task(tasks[1]))
    tasks = sched.take_ready()
    assert [t.component for t in tasks] == ["AddAll"]
    sched.complete(run_task(tasks[0]))
    assert [b for b, _ in sched.writable()] == [0]
    assert sched.free_slots == [0] and sched.in_flight == 0
    assert sched.recent_ns is not None and sched.stats["AddAll"][0] == 1
    sched.start_blocks()
    assert sched.next_block == 2


def test_state_transitions_with_prepare_task():
    """In task mode the sink preparation is the slot's last task, after every algorithm."""
    source = CountingSource(2)
    graph = DataFlowGraph.build(diamond(), source.keys())
    prepared = []
    sched = Scheduler(graph, source, [(0, 2)], [], n_slots=1, threads=2,
                      prepare=lambda ctx: prepared.append(ctx.first))
    sched.start_blocks()
    order = []
    while not sched.done:
        tasks = sched.take_ready()
        for t in tasks:
            order.append(t.component)
            sched.complete(run_task(t))
        sched.writable()
    assert order[0] == READ and order[-1] == PREPARE and prepared == [0]
    assert sched.stats[PREPARE][0] == 1


def test_state_transitions_chain_mode():
    """One thread (or tiny tasks): the slot's whole chain is one task; its steps are recorded
    per component, in topological order, and expand into one completion each."""
    source = CountingSource(4)
    graph = DataFlowGraph.build(diamond(), source.keys())
    sched = Scheduler(graph, source, [(0, 2), (2, 2)], [], n_slots=1, threads=1)
    sched.start_blocks()
    assert sched.slots[0].chain
    tasks = sched.take_ready()
    assert [(t.block, t.component) for t in tasks] == [(0, CHAIN)]
    done = run_task(tasks[0])
    assert [s[0] for s in done.chain.steps] == [READ, *graph.order]
    assert [p.task.component for p in done.parts()] == [READ, *graph.order]
    sched.complete(done)
    assert sched.stats["AddAll"] == [1, done.chain.steps[-1][2] - done.chain.steps[-1][1]]
    blocks = sched.writable()
    assert [b for b, _ in blocks] == [0]
    assert blocks[0][1].store.retrieve("Sum", "test").tolist() == [11, 13]


def _chains(sched):
    """Record the blocks the scheduler starts as chain tasks."""
    chains, make = [], sched._chain_task
    sched._chain_task = lambda slot, block: (chains.append(block), make(slot, block))[1]
    return chains


def test_threaded_run_switches_to_chain_mode_for_tiny_tasks():
    """Before anything is measured a threaded run uses task mode; once a block's algorithms are
    measured tiny (under TINY_TASK_NS), the next blocks run as whole chains."""
    source = CountingSource(12)
    graph = DataFlowGraph.build(diamond(), source.keys())
    sched = Scheduler(graph, source, [(i, 1) for i in range(12)], [], n_slots=3)
    chains, seen = _chains(sched), []
    drive(sched, lambda block, ctx: seen.append(ctx.store.retrieve("Sum", "test").tolist()),
          threads=2)
    assert seen == [[2 * i + 11] for i in range(12)]
    assert sched.recent_ns is not None and sched.recent_ns < TINY_TASK_NS
    assert 0 not in chains and len(chains) >= 6
    assert sched.stats["AddAll"][0] == 12 and sched.stats[READ][0] == 12


def test_threaded_run_keeps_task_mode_for_large_tasks():
    source = CountingSource(6)
    graph = DataFlowGraph.build([AddConstant(busy=0.002)], source.keys())
    sched = Scheduler(graph, source, [(i, 1) for i in range(6)], [], n_slots=3)
    chains = _chains(sched)
    drive(sched, lambda block, ctx: None, threads=2)
    assert chains == [] and sched.recent_ns > TINY_TASK_NS


def test_tasks_are_sized_by_their_cpu_time_not_their_wall_time():
    """A tiny task that waits (here: sleeps; in a run, for the GIL behind another thread's
    task) is tiny: measured by wall time, task mode's own waits would keep a run of tiny
    algorithms in task mode. The blocks then run as chains, with the results unchanged."""
    source = CountingSource(8)
    graph = DataFlowGraph.build([AddConstant(max_delay=0.004)], source.keys())
    sched = Scheduler(graph, source, [(i, 1) for i in range(8)], [], n_slots=1)
    chains, seen = _chains(sched), []
    drive(sched, lambda block, ctx: seen.append(int(ctx.store.retrieve("Plus", "test")[0])),
          threads=2)
    assert seen == [i + 1 for i in range(8)]
    # (block 0 runs in task mode, unmeasured, and a first call may be slow); by wall time
    # (0-4 ms per call) nearly every block would run in task mode
    assert sched.recent_ns < TINY_TASK_NS and len(chains) >= 5


def test_one_slow_block_does_not_switch_to_task_mode():
    """The size is the smaller of the last two blocks' means: one block slowed (a pause, the
    host) keeps chain mode; two big blocks in a row switch to task mode."""
    source = CountingSource(10)
    graph = DataFlowGraph.build([AddConstant(busy=0.003, busy_on=[3, 6, 7])], source.keys())
    sched = Scheduler(graph, source, [(i, 1) for i in range(10)], [], n_slots=1)
    chains = _chains(sched)
    drive(sched, lambda block, ctx: None, threads=2)
    assert 4 in chains and 7 in chains and 8 not in chains


def test_chain_failure_aborts_or_skips_like_a_task():
    for policy, raises in (("abort", True), ("skip", False)):
        source = CountingSource(6)
        graph = DataFlowGraph.build([AddConstant(name="Adder", fail_on=3)], source.keys())
        sched = Scheduler(graph, source, [(i, 2) for i in range(0, 6, 2)], [], n_slots=2,
                          on_error=policy)
        seen = []
        if raises:
            with pytest.raises(AlgorithmError, match=r"Adder \(AddConstant\) failed on events \[2, 4\)"):
                drive(sched, lambda block, ctx: seen.append(block), threads=1)
            assert 1 not in seen
        else:
            drive(sched, lambda block, ctx: seen.append((block, ctx is None)), threads=1)
            assert seen == [(0, False), (1, True), (2, False)]
            assert [(f.first, f.component) for f in sched.failed] == [(2, "Adder")]


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


def test_drive_threads_directly():
    source = CountingSource(10)
    graph = DataFlowGraph.build(diamond(), source.keys())
    sched = Scheduler(graph, source, [(i, 1) for i in range(10)], [], n_slots=4)
    seen = []
    drive(sched, lambda block, ctx: seen.append(block), threads=2)
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
    drive(sched, lambda block, ctx: seen.append(block), threads=3, max_unwritten=4)
    assert seen == list(range(40))
    marker = next(i for i, s in enumerate(started) if isinstance(s, tuple))
    assert 1 <= started[marker][1] <= 4 + 1   # finished-unwritten + the slot still in flight


def test_one_thread_is_the_same_driver():
    """Serial is the threaded driver with one thread: no worker thread is started, and every
    block is one chain task on the calling thread."""
    import threading

    source = CountingSource(6)
    graph = DataFlowGraph.build(diamond(), source.keys())
    sched = Scheduler(graph, source, [(i, 1) for i in range(6)], [], n_slots=2)
    seen, threads, completions = [], set(), []
    drive(sched, lambda block, ctx: (seen.append(block), threads.add(threading.current_thread())),
          completions.append, threads=1)
    assert seen == list(range(6)) and threads == {threading.current_thread()}
    assert [c.task.component for c in completions[:4]] == [READ, *graph.order]
    assert len(completions) == 6 * 4          # read + three algorithms per block


class _QueueingSink(Recorder):
    """A sink with deferred work: `end_of_input` queues `items` pieces; `work` does one."""

    def __init__(self, keys, items: int, barrier=None, fail: bool = False):
        super().__init__(keys)
        import threading

        self.items, self.barrier, self.fail = items, barrier, fail
        self.queue: list[int] = []
        self.lock = threading.Lock()
        self.done_by: list[str] = []
        self.ended = 0
        self.left_at_close = None

    def end_of_input(self):
        self.ended += 1
        assert len(self.blocks) > 0
        self.queue.extend(range(self.items))

    def work(self):
        import threading

        with self.lock:
            if not self.queue:
                return False
            item = self.queue.pop()
        if self.fail:
            raise OSError("encoding device gone")
        if self.barrier is not None and item < 2:
            self.barrier.wait(timeout=20)   # two threads must be in `work` at once
        with self.lock:
            self.done_by.append(threading.current_thread().name)
        return True

    def close(self, success):
        self.left_at_close = len(self.queue)
        super().close(success)


@pytest.mark.parametrize("threads", [1, 2, 3])
def test_threads_share_the_sinks_work_left_after_the_last_block(threads):
    """After the last block is written, `end_of_input` queues the sink's last work and every
    thread runs `work` until none is left, before the run ends (the last row group of a Parquet
    output is encoded by all threads, not by `close` alone)."""
    import threading

    barrier = threading.Barrier(2) if threads > 1 else None
    sink = _QueueingSink(["Plus"], items=12, barrier=barrier)
    job = Job(source=CountingSource(200), algorithms=[AddConstant()], sinks=[sink])
    run_job(job, RunOptions(threads=threads, batch_size=16, progress=False))
    assert sink.ended == 1 and sink.left_at_close == 0 and len(sink.done_by) == 12
    assert sink.values("Plus").size == 200
    if threads > 1:   # the barrier made two threads work at once
        assert len(set(sink.done_by)) >= 2


def test_a_failure_in_the_sinks_idle_work_fails_the_run():
    from metflow.framework import MetflowError

    sink = _QueueingSink(["Plus"], items=3, fail=True)
    job = Job(source=CountingSource(64), algorithms=[AddConstant()], sinks=[sink])
    with pytest.raises((OSError, MetflowError), match="encoding device gone"):
        run_job(job, RunOptions(threads=2, batch_size=16, progress=False))
    assert sink.closed_with is False
