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
* A stop request (`StopRequest`, set by SIGTERM/SIGINT) starts no new block; the blocks in
  flight finish and are written in order, and the run is then done.
* Errors: policy "abort" stops dispatching, waits for in-flight tasks and raises
  `AlgorithmError` chained to the original exception; policy "skip" drops the failed block
  (no sink sees it), records it in `failed` and goes on.

State fields of `Scheduler`: `blocks` (list of (first, n)), `next_block` (next block to start),
`slots` (per slot: context, block index, remaining-parent counters, tasks in flight),
`finished` (block index -> context, waiting for in-order write), `next_to_write`, `ready`
(tasks ready to submit), `deferred` (not-thread-safe tasks waiting for their component),
`running_unsafe` (components with an execution in flight), `in_flight`, `failed`.

`SerialExecutor` implements `submit(task)` and `wait() -> Completion` and runs each task on the
driver thread; `ThreadPoolExecutor` has every one of its threads drive the state machine under
one lock (see its docstring). Both drive the same state machine, which is what the conformance
tests check.
"""

from __future__ import annotations

import heapq
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from .component import Algorithm
from .errors import AlgorithmError, MetflowError, SourceError, UndeclaredAccessError
from .graph import DataFlowGraph
from .io import Sink, Source
from .signals import StopRequest
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
                 stop: StopRequest | None = None):
        if on_error not in ("abort", "skip"):
            raise ValueError(f"on_error must be 'abort' or 'skip', got {on_error!r}")
        self.graph = graph
        self.source = source
        self.sinks = list(sinks)
        self.blocks = blocks if isinstance(blocks, Sequence) else list(blocks)
        self.on_error = on_error
        self.stop = stop if stop is not None else StopRequest()
        self.algorithms = {alg.name: alg for alg in graph.algorithms}
        # roots wait for the source read; the others for their producers (which waited for it)
        self.n_parents = {name: len(graph.parents[name]) or 1 for name in self.algorithms}
        self.children = {name: sorted(graph.children.get(name, ())) for name in self.algorithms}
        self.roots = [n for n in graph.order if not graph.parents[n]]
        self.unsafe = {n for n, a in self.algorithms.items() if not type(a).thread_safe}
        # keys are fixed once the graph is built: not recomputed per execution
        self.output_keys = {n: tuple(a.output_keys()) for n, a in self.algorithms.items()}
        # algorithms with their own execute(ctx) are checked for recording every output
        self.own_execute = {n for n, a in self.algorithms.items()
                            if getattr(type(a), "execute", None) is not getattr(Algorithm, "execute")}
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
        record = ctx.store.record
        for key, obj in data.items():
            record(key, obj, "source")

    def _alg_task(self, slot: int, block: int, name: str) -> Task:
        alg = self.algorithms[name]
        ctx = self.slots[slot].ctx
        if name not in self.own_execute:   # the default execute records every declared output
            return Task(block, slot, name, lambda: alg.execute(ctx))

        def run() -> None:
            alg.execute(ctx)
            self._check_outputs(alg, ctx)

        return Task(block, slot, name, run)

    # state transitions ------------------------------------------------------------------
    def start_blocks(self) -> None:
        """Give free slots the next blocks and queue their source reads."""
        while (self.free_slots and self.next_block < len(self.blocks) and self.error is None
               and self.stop.signum is None):
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
        task = self.take_one()
        while task is not None:
            tasks.append(task)
            task = self.take_one()
        return tasks

    def take_one(self) -> Task | None:
        """The oldest task that may run now, counted as in flight (None if there is none)."""
        while self.ready:
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

    def run_in_order(self, on_block: Callable[[int, EventContext | None], None],
                     on_completion: Callable[[Completion], None] | None = None,
                     thread: str = "") -> None:
        """Serial execution without per-task bookkeeping: each block is read, its algorithms run
        in topological order and it is written before the next block starts. This is the order
        the state machine gives one thread (oldest block first), with the same errors, skipped
        blocks, statistics and completions, minus the ready queue and readiness counters that
        only concurrent execution needs."""
        clock = time.perf_counter_ns
        state = self.slots[0]
        source_name = getattr(self.source, "name", "")
        steps = [(READ, None, False)] + [(name, self.algorithms[name], name in self.own_execute)
                                        for name in self.graph.order]
        request = self.stop
        for block, (first, n) in enumerate(self.blocks):
            if request.signum is not None:
                return
            ctx = state.ctx = EventContext(first, n, 0, source_name)
            state.block, state.failed = block, False
            for name, alg, check_outputs in steps:
                error = None
                start = clock()
                try:
                    if alg is None:
                        self._read(ctx)
                    else:
                        alg.execute(ctx)
                        if check_outputs:
                            self._check_outputs(alg, ctx)
                except BaseException as exc:  # noqa: BLE001 - handled as the state machine does
                    error = exc
                stop = clock()
                stat = self.stats[name]
                stat[0] += 1
                stat[1] += stop - start
                if on_completion is not None or error is not None:
                    task = Task(block, 0, name, _no_run)
                    if on_completion is not None:
                        on_completion(Completion(task, error, start, stop, thread))
                    if error is not None:
                        self._fail(task, error)
                        break
            if self.error is not None:
                raise self.error
            self.next_block = self.next_to_write = block + 1
            state.ctx = None
            on_block(block, None if state.failed else ctx)

    def _check_outputs(self, alg: Any, ctx: EventContext) -> None:
        for key in self.output_keys[alg.name]:
            if key not in ctx.store:
                raise UndeclaredAccessError(f"algorithm {alg.name} ({type(alg).__name__}) did "
                                            f"not record its declared output {key!r}")

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
        if self.stop.signum is not None:   # every started block written
            return self.next_to_write == self.next_block
        return self.next_to_write == len(self.blocks)


# executors -------------------------------------------------------------------------------
def _no_run() -> None:
    """The run of a task record made after the fact (serial in-order execution)."""

def _run_task(task: Task, thread: str | None = None) -> Completion:
    start = time.perf_counter_ns()
    error = None
    try:
        task.run()
    except BaseException as exc:  # noqa: BLE001 - handed to the scheduler with its traceback
        error = exc
    return Completion(task, error, start, time.perf_counter_ns(),
                      thread or threading.current_thread().name)


class SerialExecutor:
    """Runs each task on the driver thread: `submit`/`wait` in submission order, or `drive`,
    which runs the blocks one after the other (`Scheduler.run_in_order`)."""

    n_threads = 1

    def __init__(self) -> None:
        self._queue: deque[Task] = deque()

    def submit(self, task: Task) -> None:
        self._queue.append(task)

    def wait(self) -> Completion:
        return _run_task(self._queue.popleft())

    def drive(self, scheduler: Scheduler,
              on_block: Callable[[int, EventContext | None], None],
              on_completion: Callable[[Completion], None] | None = None) -> None:
        scheduler.run_in_order(on_block, on_completion, threading.current_thread().name)

    def shutdown(self) -> None:
        self._queue.clear()


class ThreadPoolExecutor:
    """`n_threads` threads in all (`n_threads - 1` workers and the calling thread), each running
    the same loop: under one lock, record its last completion in the state machine and take the
    oldest ready task; then run that task outside the lock.

    No thread dispatches for the others, so a long task (a row-group decode) never leaves the
    other threads idle waiting for their next task. Finished blocks go to `on_block` in event
    order, one thread writing at a time; at most `max_unwritten` finished blocks wait for an
    earlier block (default: `UNWRITTEN_PER_SLOT` per slot) before no new block is started. The
    bound is generous because a thread that reads a column of the next row group while waiting
    holds its (earliest) block meanwhile; with a tight bound the other threads would stall.
    """

    UNWRITTEN_PER_SLOT = 6

    def __init__(self, n_threads: int, max_unwritten: int | None = None):
        self.n_threads = max(1, n_threads)
        self.max_unwritten = max_unwritten

    def drive(self, scheduler: Scheduler,
              on_block: Callable[[int, EventContext | None], None],
              on_completion: Callable[[Completion], None] | None = None) -> None:
        run = _SharedDrive(scheduler, on_block, on_completion,
                           self.max_unwritten or self.UNWRITTEN_PER_SLOT * len(scheduler.slots))
        workers = [threading.Thread(target=run.loop, name=f"worker-{i}", daemon=True)
                   for i in range(1, self.n_threads)]
        for thread in workers:
            thread.start()
        try:
            run.loop()
        except BaseException as exc:  # noqa: BLE001 - e.g. KeyboardInterrupt: stop the workers
            run.abort(exc)
            raise
        finally:
            for thread in workers:
                thread.join()
        run.finish()

    def shutdown(self) -> None:
        """Threads live for one `drive`; nothing to release."""


class _SharedDrive:
    """The state of one threaded run: the scheduler plus the queue of blocks to write."""

    def __init__(self, scheduler: Scheduler, on_block: Callable[[int, EventContext | None], None],
                 on_completion: Callable[[Completion], None] | None, max_unwritten: int):
        self.scheduler = scheduler
        self.on_block = on_block
        self.on_completion = on_completion
        self.max_unwritten = max_unwritten
        self.cond = threading.Condition(threading.Lock())
        self.unwritten: deque[tuple[int, EventContext | None]] = deque()
        self.writing = 0              # blocks taken by the thread now writing
        self.failure: BaseException | None = None
        scheduler.start_blocks()

    def _start_blocks(self) -> None:
        sched = self.scheduler
        if (sched.error is None and self.failure is None
                and len(self.unwritten) + self.writing + len(sched.finished) < self.max_unwritten):
            sched.start_blocks()

    def _stopping(self) -> bool:
        return self.failure is not None or self.scheduler.error is not None

    def loop(self) -> None:
        """Record the last completion, take a task, run it; until the run is done or stopped."""
        sched, cond = self.scheduler, self.cond
        thread = threading.current_thread().name
        completion: Completion | None = None
        while True:
            to_write: list[tuple[int, EventContext | None]] = []
            with cond:
                if completion is not None:
                    try:
                        sched.complete(completion)
                        if self.on_completion is not None:
                            self.on_completion(completion)
                    except BaseException as exc:  # noqa: BLE001 - a bug here must stop the run
                        self.failure = self.failure or exc
                    completion = None
                    if not self._stopping():
                        self.unwritten.extend(sched.writable())
                        self._start_blocks()
                while True:
                    task = None if self._stopping() else sched.take_one()
                    if task is not None:
                        break
                    to_write = self._claim_writes()
                    if to_write:
                        break
                    if sched.in_flight == 0 and not self.writing:
                        if self._stopping() or sched.done:
                            cond.notify_all()
                            return
                        self.failure = RuntimeError("scheduler stalled: nothing in flight and "
                                                    "blocks remain")
                        cond.notify_all()
                        return
                    cond.wait()
                if sched.ready:   # more than this thread takes: wake one waiter per task
                    cond.notify(len(sched.ready))
                if task is not None:
                    to_write = self._claim_writes()
            if to_write:
                self._write(to_write)
            if task is not None:
                completion = _run_task(task, thread)

    def _claim_writes(self) -> list[tuple[int, EventContext | None]]:
        """The blocks waiting to be written, unless another thread is writing (caller holds the
        lock); blocks finished before an algorithm failed are still written, not after a sink
        failed."""
        if self.writing or not self.unwritten or self.failure is not None:
            return []
        blocks = list(self.unwritten)
        self.unwritten.clear()
        self.writing = len(blocks)
        return blocks

    def _write(self, blocks: list[tuple[int, EventContext | None]]) -> None:
        """Hand blocks to `on_block` in order (only one thread at a time gets here)."""
        error = None
        try:
            for block, ctx in blocks:
                self.on_block(block, ctx)
        except BaseException as exc:  # noqa: BLE001 - re-raised by finish()
            error = exc
        with self.cond:
            self.writing = 0
            if error is not None and self.failure is None:
                self.failure = error
            self._start_blocks()
            self._wake()

    def _wake(self) -> None:
        """After a write: wake waiting threads, one per ready task, or all when the run may end
        (caller holds the lock); waking threads that find nothing to do costs GIL hand-offs."""
        sched = self.scheduler
        if self._stopping() or sched.done or (sched.in_flight == 0 and not self.writing):
            self.cond.notify_all()
        elif sched.ready:
            self.cond.notify(len(sched.ready))

    def abort(self, exc: BaseException) -> None:
        with self.cond:
            if self.failure is None:
                self.failure = exc
            self.cond.notify_all()

    def finish(self) -> None:
        """After all threads stopped: write what is left (blocks finished before an algorithm
        failed are kept), then raise the run's error if any."""
        if self.failure is None and self.unwritten:
            blocks = list(self.unwritten)
            self.unwritten.clear()
            self._write(blocks)
        if self.failure is not None:
            raise self.failure
        if self.scheduler.error is not None:
            raise self.scheduler.error


def drive(scheduler: Scheduler, executor: Any,
          on_block: Callable[[int, EventContext | None], None],
          on_completion: Callable[[Completion], None] | None = None) -> None:
    """Run the state machine to the end with `executor`; `on_block` gets blocks in order.
    Executors with their own `drive` (the thread pool) run it; others are driven here with
    `submit` and `wait`."""
    own = getattr(executor, "drive", None)
    if own is not None:
        own(scheduler, on_block, on_completion)
        return
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
