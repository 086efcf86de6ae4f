"""The driver: `threads` threads run the scheduler's state machine to the end.

There is one driver. Each of its threads (`threads - 1` workers and the calling thread) runs
the same loop: under one lock, record its last completion in the state machine
(`Scheduler.complete`), then take the oldest runnable task (`Scheduler.take_one`); run that task
outside the lock (`run_task`). With one thread this loop is the serial run: it never waits,
and the scheduler runs each block as one chain task (see `framework.scheduler`).

No thread dispatches for the others, so a long task (a row-group decode) never leaves the other
threads idle waiting for their next task. Finished blocks go to `on_block` in event order, one
thread writing at a time; at most `max_unwritten` finished blocks wait for an earlier block
(default: `UNWRITTEN_PER_SLOT` per slot) before no new block is started. The bound is generous
because a thread that reads a column of the next row group while waiting holds its (earliest)
block meanwhile; with a tight bound the other threads would stall. A thread that finds no task
runs `idle_work` (the sinks' queued encoding, then the source's read-ahead) before it waits,
and at the end every thread runs it until none is left: the last row group of an output is
encoded by all threads. A waiting thread is woken for idle work that appears without a write
queuing it when `idle_ready()` says so after a write (the source's next row group, while the
blocks run one chain at a time: the chain thread then finds it decoded).

State fields of `Driver`: `scheduler`, `cond` (the one lock, with its condition), `unwritten`
(finished blocks in order, not yet claimed for writing), `writing` (blocks the thread now
writing has claimed; 0 when none), `failure` (an error of a sink or of the driver itself),
`solo` (one thread: no thread ever waits, so none is notified), `idle_work`, `idle_ready`,
`waiting` (threads waiting on `cond`), `writes` (`_write` calls so far) and `idle_empty_at` (the
`writes` count at which idle work last found nothing; -1 when `idle_ready` woke a thread).
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable

from .scheduler import Completion, Scheduler, run_task
from .store import EventContext

OnBlock = Callable[[int, "EventContext | None"], None]


def drive(scheduler: Scheduler, on_block: OnBlock,
          on_completion: Callable[[Completion], None] | None = None, *, threads: int = 1,
          max_unwritten: int | None = None, idle_work: Callable[[], bool] | None = None,
          idle_ready: Callable[[], bool] | None = None) -> None:
    """Run the state machine to the end on `threads` threads (the caller's among them);
    `on_block(block, ctx)` gets finished blocks in event order (ctx None: a skipped block),
    `on_completion` every component execution (for the timeline); `idle_work()` is called by a
    thread that has no task (e.g. the sinks' queued encoding, the source's read-ahead),
    returning False when there is nothing to do; at the end every thread calls it until it
    returns False. `idle_ready()`, checked after each write, says that idle work is there now:
    a waiting thread is then woken for it (e.g. the next row group to read ahead while the
    blocks run one chain at a time)."""
    threads = max(1, threads)
    if scheduler.threads != threads:
        scheduler.set_threads(threads)
    run = Driver(scheduler, on_block, on_completion,
                 max_unwritten or Driver.UNWRITTEN_PER_SLOT * len(scheduler.slots), idle_work,
                 idle_ready)
    workers = [threading.Thread(target=run.loop, name=f"worker-{i}", daemon=True)
               for i in range(1, threads)]
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


class Driver:
    """The state of one run: the scheduler plus the queue of blocks to write."""

    UNWRITTEN_PER_SLOT = 6

    def __init__(self, scheduler: Scheduler, on_block: OnBlock,
                 on_completion: Callable[[Completion], None] | None, max_unwritten: int,
                 idle_work: Callable[[], bool] | None = None,
                 idle_ready: Callable[[], bool] | None = None):
        self.scheduler = scheduler
        self.idle_work = idle_work
        self.idle_ready = idle_ready
        #: threads waiting on `cond` (only they need a notify)
        self.waiting = 0
        #: `_write` calls so far, and the count at which idle_work last found
        #: nothing: only a write queues more, so until the next one idle threads wait
        self.writes = 0
        self.idle_empty_at = -1
        self.on_block = on_block
        self.on_completion = on_completion
        self.max_unwritten = max_unwritten
        self.cond = threading.Condition(threading.Lock())
        self.unwritten: deque[tuple[int, EventContext | None]] = deque()
        self.writing = 0
        self.failure: BaseException | None = None
        #: one thread: nobody ever waits, so nobody is notified
        self.solo = scheduler.threads == 1
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
                            for part in completion.parts():
                                self.on_completion(part)
                    except BaseException as exc:  # noqa: BLE001 - a bug here must stop the run
                        self.failure = self.failure or exc
                    completion = None
                    if not self._stopping():
                        self.unwritten.extend(sched.writable())
                        self._start_blocks()
                idle: int | None = None
                while True:
                    task = None if self._stopping() else sched.take_one()
                    if task is not None:
                        break
                    to_write = self._claim_writes()
                    if to_write:
                        break
                    if (self.idle_work is not None and self.idle_empty_at != self.writes
                            and not self._stopping()):
                        idle = self.writes
                        break
                    if sched.in_flight == 0 and not self.writing:
                        if self._stopping() or sched.done:
                            cond.notify_all()
                            return
                        self.failure = RuntimeError("scheduler stalled: nothing in flight and "
                                                    "blocks remain")
                        cond.notify_all()
                        return
                    self.waiting += 1
                    cond.wait()
                    self.waiting -= 1
                takeable = sched.takeable() if not self.solo else 0
                if takeable:   # more than this thread takes: wake one waiter per task
                    cond.notify(takeable)
                if task is not None:
                    to_write = self._claim_writes()
            if to_write:
                self._write(to_write)
            if task is not None:
                completion = run_task(task, thread)
            elif idle is not None:
                self._idle(idle)

    def _idle(self, writes: int) -> None:
        """Run one piece of idle work outside the lock (`writes`: the write count when it was
        taken); when there was none, remember it until the next write (which may queue more),
        so that idle threads wait instead of polling."""
        try:
            did = self.idle_work()
        except BaseException as exc:  # noqa: BLE001 - a sink's failure stops the run
            did = False
            with self.cond:
                self.failure = self.failure or exc
                self.cond.notify_all()
        if not did:
            with self.cond:
                self.idle_empty_at = max(self.idle_empty_at, writes)

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
            self.writes += 1
            if error is not None and self.failure is None:
                self.failure = error
            self._start_blocks()
            if not self.solo:
                self._wake()

    def _wake(self) -> None:
        """After a write: wake waiting threads, one per ready task, or all when the run may end
        (caller holds the lock); waking threads that find nothing to do costs GIL hand-offs."""
        sched = self.scheduler
        if self._stopping() or sched.done or (sched.in_flight == 0 and not self.writing):
            self.cond.notify_all()
        else:
            takeable = sched.takeable()
            if takeable:
                self.cond.notify(takeable)
            elif self.waiting and self.idle_ready is not None and self.idle_ready():
                self.idle_empty_at = -1   # new idle work, although no write queued it
                self.cond.notify(1)

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
