"""Scheduler: a pool-independent state machine that runs algorithms over blocks of events.

Policy
------
* The event range is cut into blocks of `batch_size` events. Up to `n_slots` blocks are in
  flight, each in its own slot (an EventContext with its own store).
* A slot runs in one of two granularities, chosen when its block starts:
  - **task mode**: the source read is the first task; an algorithm becomes runnable when the
    read and all algorithms producing its inputs have finished in that slot. Runnable tasks of
    all slots are taken oldest block first, so independent algorithms of one block run
    concurrently (intra-event) and several blocks are in flight (inter-event).
  - **chain mode**: the slot's whole chain (read, every algorithm in topological order, sink
    preparation) is one task, run by one thread; blocks still run concurrently (inter-event).
  A block runs as a chain when the run has one thread (nothing to gain from finer tasks), or
  when the algorithms are tiny (`recent_ns` under `TINY_TASK_NS`) and every component is
  thread-safe: handing a tiny task to another thread costs more than the task. `recent_ns` is
  an algorithm execution's mean CPU time (the thread's, not the wall clock: a tiny task that
  waits for the GIL behind another thread's must not look big, or the run would stay in task
  mode because task mode is slow), the smaller of the last two finished blocks' (one block
  slowed by a pause does not switch modes). The first blocks of a threaded run, before
  anything is measured, run in task mode. How many chains run at once is measured and chosen
  during the run (`framework.chain_concurrency`): GIL-bound chains run one at a time.
* An algorithm (or source) whose class says `thread_safe = False` never has two executions in
  flight; further ready executions wait in `deferred` until the running one completes.
* `prepare(ctx)`, if given, runs last in each slot, on the job thread that finished the block
  (the runner converts the block for the sinks there, in parallel across blocks).
* Finished blocks are handed to the sinks strictly in event order, by the driver
  (`framework.driver`).
* A stop request (`StopRequest`, set by SIGTERM/SIGINT) starts no new block; the blocks in
  flight finish and are written in order, and the run is then done.
* Errors: policy "abort" stops dispatching, waits for in-flight tasks and raises
  `AlgorithmError` chained to the original exception; policy "skip" drops the failed block
  (no sink sees it), records it in `failed` and goes on.

State fields of `Scheduler`: `blocks` (list of (first, n)), `next_block` (next block to start),
`slots` (per slot: context, block index, mode, remaining-parent counters, tasks in flight),
`finished` (block index -> context, waiting for in-order write), `next_to_write`, `ready`
(tasks ready to take, a heap by block), `deferred` (not-thread-safe tasks waiting for their
component), `running_unsafe` (components with an execution in flight), `in_flight`, `failed`,
`threads` (threads of the driver), `recent_ns` and `last_block_ns` (the last finished block's
mean; see chain mode), `concurrency` (the limit on
chains at once) and `chains_running`, `stats` (component -> calls,
total ns); fixed at construction: `chain_names` (the components of a chain, in order) and
`chain_stats` (their `stats` entries).

The state machine runs no task itself: `take_one()` hands out the oldest runnable task,
`run_task(task)` runs one on the calling thread and `complete(completion)` records it. The one
driver, `framework.driver.drive`, calls them from each of its threads; one thread is the serial
case of the same loop.
"""

from __future__ import annotations

import heapq
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from .chain_concurrency import ChainConcurrency
from .errors import AlgorithmError, MetflowError, SourceError, UndeclaredAccessError
from .graph import DataFlowGraph
from .io import Sink, Source
from .signals import StopRequest
from .store import EventContext

READ = "<read>"
#: the slot's whole chain as one task (chain mode)
CHAIN = "<chain>"
#: the sink preparation of a finished block (`prepare`), run on a job thread
PREPARE = "<prepare>"
#: mean algorithm execution time under which a threaded run uses chain mode (measured:
#: a hand-off to another thread costs about 50-100 us of wake-ups and GIL transfers)
TINY_TASK_NS = 200_000


@dataclass(slots=True)
class Task:
    """One unit of work: the source read of a slot, or one algorithm on a slot's block."""

    block: int
    slot: int
    component: str            # algorithm name, or READ
    run: Callable[[], None]


class ChainRun:
    """What a chain task ran: `times[i]` and `times[i + 1]` bound step i, whose component is
    `names[i]`; `error` is the last step's error, if it failed (the chain stopped there);
    `cpu_ns` the thread's CPU time in its algorithm steps (0 when not measured: one thread)."""

    __slots__ = ("names", "times", "error", "cpu_ns")

    def __init__(self, names: list[str], times: list[int], error: BaseException | None,
                 cpu_ns: int = 0):
        self.names, self.times, self.error, self.cpu_ns = names, times, error, cpu_ns

    @property
    def steps(self) -> list[tuple[str, int, int, BaseException | None]]:
        """(component, start ns, stop ns, error or None) per step, in the order they ran."""
        t, n = self.times, len(self.times) - 1
        return [(self.names[i], t[i], t[i + 1], self.error if i == n - 1 else None)
                for i in range(n)]


@dataclass(slots=True)
class Completion:
    task: Task
    error: BaseException | None
    start_ns: int
    stop_ns: int
    thread: str
    #: what a chain task ran (None for a single task)
    chain: ChainRun | None = None
    #: the thread's CPU time in a single task (0 for a chain: see `ChainRun.cpu_ns`)
    cpu_ns: int = 0

    def parts(self) -> list["Completion"]:
        """One completion per component execution (a chain task's steps expanded)."""
        if self.chain is None:
            return [self]
        task = self.task
        return [Completion(Task(task.block, task.slot, name, _no_run), error, start, stop,
                           self.thread) for name, start, stop, error in self.chain.steps]


@dataclass
class SlotState:
    ctx: EventContext | None = None
    block: int = -1
    remaining: dict[str, int] = field(default_factory=dict)
    pending: int = 0          # algorithms (and the preparation) not yet completed
    in_flight: int = 0
    failed: bool = False
    chain: bool = False       # the block runs as one chain task
    alg_ns: int = 0           # algorithm CPU time of the block so far (for `recent_ns`)
    alg_calls: int = 0


@dataclass
class FailedBlock:
    first: int
    n_events: int
    component: str
    message: str
    event: int | None = None      # absolute index of the event at fault, when known
    event_id: str = ""            # how the input names it (e.g. run and event number)


def event_at_fault(error: BaseException, first: int, n: int) -> int | None:
    """The absolute event an error (or its cause) names through an `event` attribute, if it
    lies in the block [first, first + n); the only event of a one-event block otherwise."""
    seen = 0
    exc: BaseException | None = error
    while exc is not None and seen < 8:
        event = getattr(exc, "event", None)
        if isinstance(event, int) and not isinstance(event, bool) and first <= event < first + n:
            return event
        exc, seen = exc.__cause__, seen + 1
    return first if n == 1 else None


class Scheduler:
    """The state machine; see the module docstring for the policy."""

    def __init__(self, graph: DataFlowGraph, source: Source, blocks: Sequence[tuple[int, int]],
                 sinks: Sequence[Sink], n_slots: int, on_error: str = "abort",
                 stop: StopRequest | None = None,
                 prepare: Callable[[EventContext], None] | None = None, threads: int = 1):
        if on_error not in ("abort", "skip"):
            raise ValueError(f"on_error must be 'abort' or 'skip', got {on_error!r}")
        self.graph = graph
        self.source = source
        self.sinks = list(sinks)
        self.blocks = blocks if isinstance(blocks, Sequence) else list(blocks)
        self.n_blocks = len(self.blocks)   # asked per block; a block sequence may compute it
        self.source_name = getattr(source, "name", "")
        self.on_error = on_error
        self.stop = stop if stop is not None else StopRequest()
        self.prepare = prepare
        self.threads = max(1, threads)
        self.algorithms = {alg.name: alg for alg in graph.algorithms}
        # roots wait for the source read; the others for their producers (which waited for it)
        self.n_parents = {name: len(graph.parents[name]) or 1 for name in self.algorithms}
        self.children = {name: sorted(graph.children.get(name, ())) for name in self.algorithms}
        self.roots = [n for n in graph.order if not graph.parents[n]]
        self.unsafe = {n for n, a in self.algorithms.items() if not type(a).thread_safe}
        # keys are fixed once the graph is built: not recomputed per execution
        self.output_keys = {n: tuple(a.output_keys()) for n, a in self.algorithms.items()}
        # algorithms with their own execute(ctx) are checked for recording every output
        self.own_execute = {n for n, a in self.algorithms.items() if type(a).owns_execute()}
        if not getattr(source, "thread_safe", True):
            self.unsafe.add(READ)
        self.chain_algs = [(self.algorithms[name], name in self.own_execute)
                           for name in graph.order]
        self.chain_names = [READ, *graph.order] + ([PREPARE] if prepare is not None else [])
        self.recent_ns: float | None = None
        self.last_block_ns: float | None = None
        self.concurrency = ChainConcurrency(self.threads)
        self.chains_running = 0
        self.slots = [SlotState() for _ in range(max(1, n_slots))]
        self.free_slots = list(range(len(self.slots)))[::-1]
        self.next_block = 0
        self.finished: dict[int, EventContext | None] = {}
        self.next_to_write = 0
        self.ready: list[tuple[int, int, Task]] = []   # heap ordered by (block, sequence)
        self._seq = 0
        self.deferred: dict[str, deque[Task]] = {}
        self.running_unsafe: set[str] = set()
        self.in_flight = 0
        self.failed: list[FailedBlock] = []
        self.error: BaseException | None = None
        self.events_done = 0
        self.stats: dict[str, list[int]] = {name: [0, 0] for name in self.chain_names}
        self.chain_stats = [self.stats[name] for name in self.chain_names]

    def set_threads(self, threads: int) -> None:
        """The number of threads that will drive the run (before it starts)."""
        self.threads = max(1, threads)
        self.concurrency = ChainConcurrency(self.threads)

    # task construction ----------------------------------------------------------------------
    def _push(self, task: Task) -> None:
        if self.error is not None:
            return
        self._seq += 1
        heapq.heappush(self.ready, (task.block, self._seq, task))

    def _read_task(self, slot: int, block: int, ctx: EventContext) -> Task:
        return Task(block, slot, READ, lambda: self._read(ctx))

    def _read(self, ctx: EventContext) -> None:
        """The source read of a block into its store; other errors become SourceError."""
        first, n = ctx.first, ctx.n_events
        try:
            data = self.source.read(first, n)
        except MetflowError:
            raise
        except Exception as exc:
            raise SourceError(f"source {self.source.name} failed to read events "
                              f"[{first}, {first + n}): {exc}") from exc
        ctx.store.record_all(data, "source")

    def _alg_task(self, slot: int, block: int, name: str) -> Task:
        alg = self.algorithms[name]
        ctx = self.slots[slot].ctx
        if name not in self.own_execute:   # the default execute records every declared output
            return Task(block, slot, name, lambda: alg.execute(ctx))

        def run() -> None:
            alg.execute(ctx)
            self._check_outputs(alg, ctx)

        return Task(block, slot, name, run)

    def _prepare_task(self, slot: int, block: int) -> Task:
        ctx, prepare = self.slots[slot].ctx, self.prepare
        assert ctx is not None and prepare is not None
        return Task(block, slot, PREPARE, lambda: prepare(ctx))

    def _chain_task(self, slot: int, block: int) -> Task:
        ctx = self.slots[slot].ctx
        assert ctx is not None
        return Task(block, slot, CHAIN, lambda: self._run_chain(ctx))

    def _run_chain(self, ctx: EventContext) -> ChainRun:
        """Read, every algorithm in topological order, then the preparation, on this thread;
        stops at the first error. One clock reading per step boundary, and (threaded runs)
        the thread's CPU time around the algorithm steps."""
        clock = time.perf_counter_ns
        cpu = time.thread_time_ns if self.threads > 1 else _no_cpu
        times = [clock()]
        mark = times.append
        try:
            self._read(ctx)
            mark(clock())
            cpu_ns = cpu()
            for alg, check_outputs in self.chain_algs:
                alg.execute(ctx)
                if check_outputs:
                    self._check_outputs(alg, ctx)
                mark(clock())
            cpu_ns = cpu() - cpu_ns
            if self.prepare is not None:
                self.prepare(ctx)
                mark(clock())
        except BaseException as exc:  # noqa: BLE001 - the failed step's error
            mark(clock())
            return ChainRun(self.chain_names, times, exc)
        return ChainRun(self.chain_names, times, None, cpu_ns)

    # state transitions ------------------------------------------------------------------
    def start_blocks(self) -> None:
        """Give free slots the next blocks and queue their source reads."""
        while (self.free_slots and self.next_block < self.n_blocks and self.error is None
               and self.stop.signum is None):
            slot = self.free_slots.pop()
            block = self.next_block
            self.next_block += 1
            first, n = self.blocks[block]
            state = self.slots[slot]
            state.ctx = EventContext(first, n, slot, self.source_name)
            state.block = block
            state.failed = False
            state.alg_ns = state.alg_calls = 0
            state.chain = self._whole_chain()
            if state.chain:
                self._push(self._chain_task(slot, block))
                continue
            state.remaining = dict(self.n_parents)
            state.pending = len(self.n_parents) + (self.prepare is not None)
            self._push(self._read_task(slot, block, state.ctx))

    def _whole_chain(self) -> bool:
        """Whether the next block runs as one chain task (see the policy)."""
        if self.threads == 1:
            return True
        return (not self.unsafe and self.recent_ns is not None
                and self.recent_ns < TINY_TASK_NS)

    def take_ready(self) -> list[Task]:
        """Tasks that may be submitted now (not-thread-safe ones one at a time)."""
        tasks = []
        task = self.take_one()
        while task is not None:
            tasks.append(task)
            task = self.take_one()
        return tasks

    def takeable(self) -> int:
        """How many ready tasks threads may take now (chains: within the concurrency limit)."""
        if self.ready and self.ready[0][2].component == CHAIN:
            return max(0, min(len(self.ready), self.concurrency.limit - self.chains_running))
        return len(self.ready)

    def take_one(self) -> Task | None:
        """The oldest task that may run now, counted as in flight (None if there is none)."""
        while self.ready:
            if self.ready[0][2].component == CHAIN:
                if self.chains_running >= self.concurrency.limit:
                    return None
                self.chains_running += 1
            _, _, task = heapq.heappop(self.ready)
            if task.component in self.unsafe:
                if task.component in self.running_unsafe:
                    self.deferred.setdefault(task.component, deque()).append(task)
                    continue
                self.running_unsafe.add(task.component)
            self.slots[task.slot].in_flight += 1
            self.in_flight += 1
            return task
        return None

    def complete(self, done: Completion) -> None:
        """Record a finished task: statistics, readiness of the slot's next tasks, errors."""
        task = done.task
        state = self.slots[task.slot]
        state.in_flight -= 1
        self.in_flight -= 1
        if done.chain is not None or task.component == CHAIN:
            self.chains_running -= 1
            self.concurrency.chain_done(state.ctx.n_events)
        if done.chain is not None:
            self._complete_chain(task, done.chain)
            return
        stat = self.stats.setdefault(task.component, [0, 0])   # CHAIN only if its run broke
        stat[0] += 1
        stat[1] += done.stop_ns - done.start_ns
        if task.component in self.running_unsafe:
            self.running_unsafe.discard(task.component)
            waiting = self.deferred.get(task.component)
            if waiting:
                self._push(waiting.popleft())
        if done.error is not None:
            self._fail(task, done.error)
        elif not state.failed:
            if task.component == READ:
                names = self.roots
                if state.pending == 1 and self.prepare is not None:   # no algorithm
                    self._push(self._prepare_task(task.slot, task.block))
            elif task.component == PREPARE:
                names = []
                state.pending -= 1
            else:
                names = self.children[task.component]
                state.remaining[task.component] = -1
                state.pending -= 1
                state.alg_ns += done.cpu_ns
                state.alg_calls += 1
                if state.pending == 1 and self.prepare is not None:
                    self._push(self._prepare_task(task.slot, task.block))
            for child in names:
                state.remaining[child] -= 1
                if state.remaining[child] == 0:
                    self._push(self._alg_task(task.slot, task.block, child))
        if state.in_flight == 0 and (state.failed or state.pending == 0):
            self._finish_slot(task.slot)

    def _complete_chain(self, task: Task, run: ChainRun) -> None:
        """The steps of a chain task, as if each had completed as a task of its own."""
        state = self.slots[task.slot]
        times = run.times
        n = len(times) - 1
        stats = self.chain_stats
        for i in range(n):
            stat = stats[i]
            stat[0] += 1
            stat[1] += times[i + 1] - times[i]
        last_alg = min(n, len(self.chain_algs) + 1)   # steps 1 .. last_alg - 1 are algorithms
        if last_alg > 1:
            state.alg_ns += run.cpu_ns
            state.alg_calls += last_alg - 1
        if run.error is not None:
            self._fail(Task(task.block, task.slot, run.names[n - 1], _no_run), run.error)
            if self.on_error == "abort":   # as in task mode: the slot is never finished
                return
        state.pending = 0
        self._finish_slot(task.slot)

    def _fail(self, task: Task, error: BaseException) -> None:
        state = self.slots[task.slot]
        ctx = state.ctx
        assert ctx is not None
        if task.component == READ:
            who = f"source {self.source.name}"
        elif task.component == PREPARE:
            who = "the sinks' preparation of the block"
        elif task.component == CHAIN:
            who = "the framework running the block's chain"
        else:
            alg = self.algorithms[task.component]
            who = f"algorithm {alg.name} ({type(alg).__name__})"
        event = event_at_fault(error, ctx.first, ctx.n_events)
        event_id = ""
        if event is not None:
            try:
                event_id = self.source.event_id(event)
            except Exception:   # noqa: BLE001 - only describes the error being reported
                event_id = ""
        where = f"event {event}" + (f" ({event_id})" if event_id else "") + " of " \
            if event is not None else ""
        message = (f"{who} failed on {where}events {ctx.events} (slot {ctx.slot}, input "
                   f"{ctx.source_name or '-'}): {type(error).__name__}: {error}")
        if self.on_error == "abort":
            if self.error is None:
                wrapped = AlgorithmError(message, algorithm=task.component,
                                         events=(ctx.first, ctx.first + ctx.n_events),
                                         source=ctx.source_name)
                wrapped.__cause__ = error
                self.error = wrapped
            self.ready.clear()
            self.deferred.clear()
        else:
            if not state.failed:
                self.failed.append(FailedBlock(ctx.first, ctx.n_events, task.component,
                                               f"{type(error).__name__}: {error}", event,
                                               event_id))
            state.failed = True
            self.ready = [t for t in self.ready if t[2].slot != task.slot]
            heapq.heapify(self.ready)
            for waiting in self.deferred.values():
                for t in [t for t in waiting if t.slot == task.slot]:
                    waiting.remove(t)

    def _check_outputs(self, alg: Any, ctx: EventContext) -> None:
        for key in self.output_keys[alg.name]:
            if key not in ctx.store:
                raise UndeclaredAccessError(f"algorithm {alg.name} ({type(alg).__name__}) did "
                                            f"not record its declared output {key!r}")

    def _finish_slot(self, slot: int) -> None:
        state = self.slots[slot]
        if not state.failed:
            # no algorithm: nothing to run in parallel within a block
            block_ns = state.alg_ns / state.alg_calls if state.alg_calls else 0.0
            last, self.last_block_ns = self.last_block_ns, block_ns
            self.recent_ns = block_ns if last is None else min(block_ns, last)
        self.finished[state.block] = None if state.failed else state.ctx
        state.ctx = None
        state.block = -1
        self.free_slots.append(slot)

    def writable(self) -> list[tuple[int, EventContext | None]]:
        """Finished blocks that are next in event order (None for a skipped block)."""
        out = []
        while self.next_to_write in self.finished:
            out.append((self.next_to_write, self.finished.pop(self.next_to_write)))
            self.next_to_write += 1
        return out

    @property
    def done(self) -> bool:
        if self.error is not None:
            return self.in_flight == 0
        if self.stop.signum is not None:   # every started block written
            return self.next_to_write == self.next_block
        return self.next_to_write == self.n_blocks




def _no_run() -> None:
    """The run of a task record made after the fact (a step of a chain task)."""


def _no_cpu() -> int:
    """The CPU clock of a run with one thread, where nothing reads it (no system call)."""
    return 0


def run_task(task: Task, thread: str | None = None) -> Completion:
    """Run one task on the calling thread; its error, if any, is kept in the completion, and
    so is the thread's CPU time in it (a chain measures its own: `ChainRun.cpu_ns`)."""
    start = time.perf_counter_ns()
    error = None
    chain = None
    single = task.component != CHAIN
    cpu_start = time.thread_time_ns() if single else 0
    try:
        if single:
            task.run()
        else:
            chain = task.run()
    except BaseException as exc:  # noqa: BLE001 - handed to the scheduler with its traceback
        error = exc
    stop = time.perf_counter_ns()
    cpu_ns = time.thread_time_ns() - cpu_start if single else 0
    return Completion(task, error, start, stop, thread or threading.current_thread().name,
                      chain, cpu_ns)
