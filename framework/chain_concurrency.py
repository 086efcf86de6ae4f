"""How many chain tasks run at once: measured and chosen while the run goes, not guessed.

In chain mode (tiny algorithms, see `framework.scheduler`) each block's chain is one task. Two
chains on two threads run in parallel only where they leave the GIL (numba kernels, Arrow
decoding); chains of tiny Python-bound steps hand the GIL back and forth at every kernel call
instead, and two of them run slower than one (measured: batch-1 reco at 2 threads took 0.5-0.8x
the 1-thread rate). So the run measures both: first one chain at a time (serial), then every
thread allowed (parallel), each for at least `PROBE_BLOCKS` chains and `PROBE_MIN_NS`; it
compares the events per second of the two and keeps the faster (parallel only when
`PARALLEL_MARGIN` faster) for `hold_ns` (first `HOLD_FIRST_NS`, 1 s); then it measures again.
A choice confirmed by the next probe is held `HOLD_GROWTH` times as long (up to `HOLD_MAX_NS`),
so a steady run spends little time in the slower setting. A parallel phase slower than
serial after its `PROBE_BLOCKS` chains ends there (the choice is serial, which a wrong reading
costs least). Parallel is held only once two
probes in a row chose it: a probe is a few tens of milliseconds, and one that happened to
include a stall of the serial chains (a row group read on demand) must not commit a short run
to the slower setting for a second. The confirming probe measures parallel first, then serial:
a host whose speed drifts during both probes (it does, by tens of percent within a second)
favours whichever phase comes second, so probes in the same order could confirm a drift, and
probes in opposite orders cannot both. Serial comes first otherwise, so that a run too short to
finish a probe runs as one thread would (never slower), and the time bound keeps a probe of
very small chains from being decided by a millisecond of noise. The other threads wait (without
the GIL) while one chain at a time runs, and still take any other work (sink encoding, tasks of
blocks in task mode).

State: `limit` (chains allowed at once), `phase` (SERIAL / PARALLEL probe, or HOLD), `skip`
(completions still ignored after a switch: chains started before it), `blocks`, `events`,
`start_ns` (the phase's count and start), `rates` (events per ns of the phases of the current
probe measured so far, by limit),
`hold_ns` (how long the current choice is held), `chosen` (the last choice), `candidate` (a
switch to parallel that the next probe must confirm), `choices` (the history, for tests:
(chains completed, limit) pairs).
"""

from __future__ import annotations

import time
from collections.abc import Callable

PARALLEL, SERIAL, HOLD = "parallel", "serial", "hold"


class ChainConcurrency:
    """The limit on chains running at once, for a run of `threads` threads (see module)."""

    #: chains measured per probe phase at least (after the chains started before the switch)
    PROBE_BLOCKS = 16
    #: and wall time per probe phase at least
    PROBE_MIN_NS = 20_000_000
    #: parallel is kept only when this much faster than serial (ties go to one thread: less
    #: CPU, no hand-offs)
    PARALLEL_MARGIN = 1.10
    HOLD_FIRST_NS = 1_000_000_000
    HOLD_GROWTH = 4
    HOLD_MAX_NS = 64_000_000_000

    def __init__(self, threads: int, clock: Callable[[], int] = time.perf_counter_ns):
        self.threads = max(1, threads)
        self.clock = clock
        self.phase = SERIAL if self.threads > 1 else HOLD
        self.hold_ns = self.HOLD_FIRST_NS
        self.chosen: int | None = None
        self.candidate: int | None = None
        self.rates: dict[int, float] = {}
        self.completed = 0
        self.choices: list[tuple[int, int]] = []
        self._begin(1)

    def _probe(self, first: str) -> None:
        """Start a probe with its `first` phase (SERIAL or PARALLEL)."""
        self.rates = {}
        self._measure(first)

    def _measure(self, phase: str) -> None:
        """Start measuring probe phase `phase` at its limit (one chain, or every thread)."""
        self.phase = phase
        self._begin(1 if phase == SERIAL else self.threads)

    def _begin(self, limit: int) -> None:
        self.limit = limit
        self.skip = self.threads   # chains started under the previous limit
        self.blocks = self.events = 0
        self.start_ns = self.clock()

    def chain_done(self, events: int) -> None:
        """A chain of `events` events finished (called under the scheduler's lock)."""
        self.completed += 1
        if self.threads == 1:
            return
        if self.skip:
            self.skip -= 1
            if not self.skip:
                self.start_ns = self.clock()
            return
        self.blocks += 1
        self.events += events
        if self.phase == HOLD:
            if self.clock() - self.start_ns >= self.hold_ns:
                self._probe(SERIAL)
            return
        if self.blocks < self.PROBE_BLOCKS:
            return
        elapsed = self.clock() - self.start_ns
        rate = self.events / max(elapsed, 1)
        serial_rate = self.rates.get(1)
        losing = self.phase == PARALLEL and serial_rate is not None and rate < serial_rate
        if elapsed < self.PROBE_MIN_NS and not losing:
            return   # (a parallel phase already slower than serial is not measured to the end)
        self.rates[self.limit] = rate
        if len(self.rates) < 2:   # the probe's other phase
            self._measure(PARALLEL if self.phase == SERIAL else SERIAL)
            return
        choice = self.threads if self.rates[self.threads] > self.rates[1] * self.PARALLEL_MARGIN else 1
        if choice > 1 and self.chosen != choice and self.candidate != choice:
            self.candidate = choice   # a switch to parallel: held only if the next probe agrees
            self._probe(PARALLEL)
            return
        self.candidate = None
        self.hold_ns = (min(self.hold_ns * self.HOLD_GROWTH, self.HOLD_MAX_NS)
                        if choice == self.chosen else self.HOLD_FIRST_NS)
        self.chosen = choice
        self.choices.append((self.completed, choice))
        self.phase = HOLD
        self._begin(choice)


__all__ = ["ChainConcurrency"]
