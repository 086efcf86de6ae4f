"""Clean stops on SIGTERM (what batch systems send) and SIGINT (Ctrl-C).

The first signal only sets `StopRequest.signum`: the scheduler starts no new block, the blocks
in flight finish and are written in order, the sinks close as after a failure (a Parquet sink
keeps the events written in OUTPUT.partial and leaves no temporary file), and the run raises
`Interrupted`, which the CLI reports as "interrupted by SIGTERM after N events" with exit code
128 + the signal number. Nothing is raised inside a running kernel, so a numba call is never
interrupted half way. A second signal stops at once (`Interrupted` raised where the main thread
is), still closing the sinks.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from .errors import MetflowError

HANDLED = (signal.SIGTERM, signal.SIGINT)


def signal_name(signum: int) -> str:
    try:
        return signal.Signals(signum).name
    except ValueError:
        return f"signal {signum}"


class StopRequest:
    """Set by a signal handler, read by the scheduler between blocks."""

    __slots__ = ("signum",)

    def __init__(self) -> None:
        self.signum: int | None = None

    def __bool__(self) -> bool:
        return self.signum is not None


class Interrupted(MetflowError):
    """The run stopped on a signal; `events` were processed and written before it stopped."""

    def __init__(self, signum: int, events: int, detail: str = ""):
        self.signum = signum
        self.events = max(0, events)
        self.exit_code = 128 + signum
        super().__init__(f"interrupted by {signal_name(signum)} after {self.events} events"
                         f"{detail}")


@contextmanager
def stop_on_signals(stop: StopRequest) -> Iterator[StopRequest]:
    """Route SIGTERM and SIGINT to `stop` while the block runs (main thread only; elsewhere
    signals keep their handlers); the previous handlers are restored afterwards."""
    if threading.current_thread() is not threading.main_thread():
        yield stop
        return

    def handler(signum: int, frame: object) -> None:
        if stop.signum is None:
            stop.signum = signum
            return
        raise Interrupted(stop.signum, 0, " (a second signal: stopped at once)")

    previous = {s: signal.signal(s, handler) for s in HANDLED}
    try:
        yield stop
    finally:
        for s, old in previous.items():
            signal.signal(s, old)
