"""Scheduler: a pool-independent state machine that runs algorithms over blocks of events.

Policy
------
* The event range is cut into blocks of `batch_size` events. Up to `n_slots` blocks are in
  flight, each in its own slot (an EventContext with its own store).
* Per slot, the source read is the first task; an algorithm becomes runnable when the read and
  all algorithms producing its inputs have finished in that slot. Runnable tasks of all slots
  are handed to the executor, oldest block first, so independent algorithms of one block run
  concurrently (intra-event) and several blocks are in flight (inter-event).
* An algorithm (or source) whose class says `thread_safe = False` never has two executions in
  flight; further ready executions wait in `deferred` until the running one completes.
* Finished blocks are handed to the sinks strictly in event order, by the driver thread.
* Errors: policy "abort" stops dispatching, waits for in-flight tasks and raises
  `AlgorithmError` chained to the original exception; policy "skip" drops the failed block
  (no sink sees it), records it in `failed` and goes on.

State fields of `Scheduler`: `blocks` (list of (first, n)), `next_block` (next block to start),
`slots` (per slot: context, block index, remaining-parent counters, tasks in flight),
`finished` (block index -> context, waiting for in-order write), `next_to_write`, `ready`
(tasks ready to submit), `deferred` (not-thread-safe tasks waiting for their component),
`running_unsafe` (components with an execution in flight), `in_flight`, `failed`.

Executors implement `submit(task)` and `wait() -> Completion`; `SerialExecutor` runs each task
on the driver thread when waited for, `ThreadPoolExecutor` on worker threads. Both drive the
same state machine, which is what the conformance tests check.
"""

from __future__ import annotations

import heapq
import queue
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from .errors import AlgorithmError, MetflowError, SourceError, UndeclaredAccessError
from .graph import DataFlowGraph
from .io import Sink, Source
from .store import EventContext

READ = "<read>"


@dataclass(slots=True)
class Task:
    """One unit of work: the source read of a slot, or one algorithm on a slot's block."""

    block: int
    slot: int
    component: str            # algorithm name, or READ
    run: Callable[[], None]


@dataclass(slots=True)
class Completion:
    task: Task
    error: BaseException | None
    start_ns: int
    stop_ns: int
    thread: str


@dataclass
class SlotState:
    ctx: EventContext | None = None
    block: int = -1
    remaining: dict[str, int] = field(default_factory=dict)
    pending: int = 0          # algorithms not yet completed in this slot
    in_flight: int = 0
    failed: bool = False


@dataclass
class FailedBlock:
    first: int
    n_events: int
    component: str
    message: str


class Scheduler:
    """The state machine; see the module docstring for the policy."""

    def __init__(self, graph: DataFlowGraph, source: Source, blocks: Sequence[tuple[int, int]],
                 sinks: Sequence[Sink], n_slots: int, on_error: str = "abort"):
        if on_error not in ("abort", "skip"):
            raise ValueError(f"on_error must be 'abort' or 'skip', got {on_error!r}")
        self.graph = graph
        self.source = source
        self.sinks = list(sinks)
        self.blocks = list(blocks)
        self.on_error = on_error
        self.algorithms = {alg.name: alg for alg in graph.algorithms}
        # roots wait for the source read; the others for their producers (which waited for it)
        self.n_parents = {name: len(graph.parents[name]) or 1 for name in self.algorithms}
        self.children = {name: sorted(graph.children.get(name, ())) for name in self.algorithms}
        self.roots = [n for n in graph.order if not graph.parents[n]]
        self.unsafe = {n for n, a in self.algorithms.items() if not type(a).thread_safe}
        # keys are fixed once the graph is built: not recomputed per execution
        self.output_keys = {n: tuple(a.output_keys()) for n, a in self.algorithms.items()}
        if not getattr(source, "thread_safe", True):
            self.unsafe.add(READ)
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
        self.stats: dict[str, list[int]] = {name: [0, 0] for name in [READ, *graph.order]}

    # task construction ----------------------------------------------------------------------
    def _push(self, task: Task) -> None:
        if self.error is not None:
            return
        self._seq += 1
        heapq.heappush(self.ready, (task.block, self._seq, task))

    def _read_task(self, slot: int, block: int, ctx: EventContext) -> Task:
        first, n = self.blocks[block]

        def run() -> None:
            try:
                data = self.source.read(first, n)
            except MetflowError:
                raise
            except Exception as exc:
                raise SourceError(f"source {self.source.name} failed to read events "
                                  f"[{first}, {first + n}): {exc}") from exc
            for key, obj in data.items():
                ctx.store.record(key, obj, "source")

        return Task(block, slot, READ, run)

    def _alg_task(self, slot: int, block: int, name: str) -> Task:
        alg = self.algorithms[name]
        ctx = self.slots[slot].ctx
        outputs = self.output_keys[name]

        def run() -> None:
            alg.execute(ctx)
            for key in outputs:
                if key not in ctx.store:
                    raise UndeclaredAccessError(
                        f"algorithm {alg.name} ({type(alg).__name__}) did not record its "
                        f"declared output {key!r}")

        return Task(block, slot, name, run)

    # state transitions ------------------------------------------------------------------
    def start_blocks(self) -> None:
        """Give free slots the next blocks and queue their source reads."""
        while self.free_slots and self.next_block < len(self.blocks) and self.error is None:
            slot = self.free_slots.pop()
            block = self.next_block
            self.next_block += 1
            first, n = self.blocks[block]
            state = self.slots[slot]
            state.ctx = EventContext(first, n, slot, getattr(self.source, "name", ""))
            state.block = block
            state.remaining = dict(self.n_parents)
            state.pending = len(self.n_parents)
            state.failed = False
            self._push(self._read_task(slot, block, state.ctx))

    def take_ready(self) -> list[Task]:
        """Tasks that may be submitted now (not-thread-safe ones one at a time)."""
        tasks = []
        while self.ready:
            _, _, task = heapq.heappop(self.ready)
            if task.component in self.unsafe:
                if task.component in self.running_unsafe:
                    self.deferred.setdefault(task.component, deque()).append(task)
                    continue
                self.running_unsafe.add(task.component)
            self.slots[task.slot].in_flight += 1
            self.in_flight += 1
            tasks.append(task)
        return tasks

    def complete(self, done: Completion) -> None:
        task = done.task
        state = self.slots[task.slot]
        state.in_flight -= 1
        self.in_flight -= 1
        stat = self.stats[task.component]
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
            names = self.roots if task.component == READ else self.children[task.component]
            for child in names:
                state.remaining[child] -= 1
                if state.remaining[child] == 0:
                    self._push(self._alg_task(task.slot, task.block, child))
            if task.component != READ:
                state.remaining[task.component] = -1
                state.pending -= 1
        if state.in_flight == 0 and (state.failed or state.pending == 0):
            self._finish_slot(task.slot)

    def _fail(self, task: Task, error: BaseException) -> None:
        state = self.slots[task.slot]
        ctx = state.ctx
        assert ctx is not None
        if task.component == READ:
            who = f"source {self.source.name}"
        else:
            alg = self.algorithms[task.component]
            who = f"algorithm {alg.name} ({type(alg).__name__})"
        message = (f"{who} failed on events {ctx.events} (slot {ctx.slot}, input "
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
                                               f"{type(error).__name__}: {error}"))
            state.failed = True
            self.ready = [t for t in self.ready if t[2].slot != task.slot]
            heapq.heapify(self.ready)
            for waiting in self.deferred.values():
                for t in [t for t in waiting if t.slot == task.slot]:
                    waiting.remove(t)

    def _finish_slot(self, slot: int) -> None:
        state = self.slots[slot]
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
        return self.next_to_write == len(self.blocks)


# executors -------------------------------------------------------------------------------
def _run_task(task: Task) -> Completion:
    start = time.perf_counter_ns()
    error = None
    try:
        task.run()
    except BaseException as exc:  # noqa: BLE001 - handed to the scheduler with its traceback
        error = exc
    return Completion(task, error, start, time.perf_counter_ns(), threading.current_thread().name)


class SerialExecutor:
    """Runs each task on the driver thread, in submission order."""

    n_threads = 1

    def __init__(self) -> None:
        self._queue: deque[Task] = deque()

    def submit(self, task: Task) -> None:
        self._queue.append(task)

    def wait(self) -> Completion:
        return _run_task(self._queue.popleft())

    def shutdown(self) -> None:
        self._queue.clear()


class ThreadPoolExecutor:
    """`n_threads` threads running tasks: `n_threads - 1` workers and the driver thread itself.

    Workers take tasks from one queue and report completions to another. When the driver waits
    for a completion while tasks are queued, it runs one itself: one Python thread less than
    workers + driver, so fewer GIL hand-offs per task (each costs tens of microseconds).
    """

    def __init__(self, n_threads: int):
        self.n_threads = n_threads
        self._tasks: queue.SimpleQueue[Task | None] = queue.SimpleQueue()
        self._done: queue.SimpleQueue[Completion] = queue.SimpleQueue()
        self._threads = [threading.Thread(target=self._work, name=f"worker-{i}", daemon=True)
                         for i in range(1, max(1, n_threads))]
        for thread in self._threads:
            thread.start()

    def _work(self) -> None:
        tasks, done = self._tasks, self._done
        while True:
            task = tasks.get()
            if task is None:
                return
            done.put(_run_task(task))

    def submit(self, task: Task) -> None:
        self._tasks.put(task)

    def wait(self) -> Completion:
        try:
            return self._done.get_nowait()
        except queue.Empty:
            pass
        try:
            task = self._tasks.get_nowait()   # nothing finished yet: the driver lends a hand
        except queue.Empty:
            return self._done.get()
        return _run_task(task)

    def shutdown(self) -> None:
        for _ in self._threads:
            self._tasks.put(None)
        for thread in self._threads:
            thread.join()


def drive(scheduler: Scheduler, executor: Any,
          on_block: Callable[[int, EventContext | None], None],
          on_completion: Callable[[Completion], None] | None = None) -> None:
    """Run the state machine to the end with `executor`; `on_block` gets blocks in order."""
    scheduler.start_blocks()
    while not scheduler.done:
        for task in scheduler.take_ready():
            executor.submit(task)
        if scheduler.in_flight == 0:
            if scheduler.done:
                break
            raise RuntimeError("scheduler stalled: nothing in flight and blocks remain")
        completion = executor.wait()
        scheduler.complete(completion)
        if on_completion is not None:
            on_completion(completion)
        if scheduler.error is None:
            for block, ctx in scheduler.writable():
                on_block(block, ctx)
            scheduler.start_blocks()
    if scheduler.error is not None:
        raise scheduler.error
