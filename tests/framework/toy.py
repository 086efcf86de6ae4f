"""Small algorithms, sources and sinks for the framework tests."""

from __future__ import annotations

import threading
import time

import numpy as np

from metflow.framework import Algorithm, Property, ReadHandleKey, Sink, Source, WriteHandleKey


class CountingSource(Source):
    """Event i carries the value i (int64 array per block); can fail on a given event."""

    def __init__(self, n: int = 10, fail_at: int | None = None, key: str = "Numbers"):
        self._n, self.fail_at, self.key = n, fail_at, key
        self.name = f"counting({n})"

    def keys(self):
        return [self.key]

    def n_events(self):
        return self._n

    def read(self, first, n):
        if self.fail_at is not None and first <= self.fail_at < first + n:
            raise OSError(f"disk error at event {self.fail_at}")
        return {self.key: np.arange(first, first + n, dtype=np.int64)}


class AddConstant(Algorithm):
    """out = in + value (optionally sleeping a random, event-seeded time)."""

    source = ReadHandleKey("Numbers")
    result = WriteHandleKey("Plus")
    value = Property(int, 1)
    max_delay = Property(float, 0.0, doc="seconds, random per call")
    fail_on = Property(int, -1, doc="raise when this event is in the block")
    busy = Property(float, 0.0, doc="seconds of this thread's CPU time spent per call")
    busy_on = Property(list, [], doc="blocks (first events) that spin; every block if empty")

    def compute(self, source, ctx):
        if self.max_delay > 0:
            rng = np.random.default_rng(ctx.first * 31 + len(self.name))
            time.sleep(rng.uniform(0, self.max_delay))
        if self.busy > 0 and (not self.busy_on or ctx.first in self.busy_on):
            stop = time.thread_time() + self.busy
            while time.thread_time() < stop:
                pass
        if ctx.first <= self.fail_on < ctx.first + ctx.n_events:
            raise ValueError(f"injected failure at event {self.fail_on}")
        return source + self.value


class AddAll(Algorithm):
    """Sum of a list of inputs."""

    parts = ReadHandleKey(["A", "B"])
    result = WriteHandleKey("Sum")

    def compute(self, parts):
        return sum(parts[1:], parts[0].copy())


class Recorder(Sink):
    """Keeps every block it receives, to check ordering and content."""

    def __init__(self, keys, fail_at_block: int | None = None):
        self._keys = list(keys)
        self.blocks: list[tuple[int, int, dict]] = []
        self.closed_with = None
        self.fail_at_block = fail_at_block
        self.name = "recorder"

    def keys(self):
        return self._keys

    def write(self, first, n, data):
        if self.fail_at_block is not None and len(self.blocks) == self.fail_at_block:
            raise OSError("sink device full")
        self.blocks.append((first, n, {k: np.array(v) for k, v in data.items()}))

    def close(self, success):
        self.closed_with = success

    def values(self, key):
        return np.concatenate([b[2][key] for b in self.blocks]) if self.blocks else np.array([])


class ConcurrencyProbe(Algorithm):
    """Measures how many executions of probe algorithms overlap (shared counter per group)."""

    source = ReadHandleKey("Numbers")
    result = WriteHandleKey("Probe")
    hold = Property(float, 0.02, doc="seconds inside execute")
    groups: dict = {}

    def compute(self, source):
        group = type(self).groups.setdefault(type(self).__name__, {
            "lock": threading.Lock(), "now": 0, "max": 0})
        with group["lock"]:
            group["now"] += 1
            group["max"] = max(group["max"], group["now"])
        time.sleep(self.hold)
        with group["lock"]:
            group["now"] -= 1
        return source


class UnsafeProbe(ConcurrencyProbe):
    """Same probe, declared not thread-safe."""

    thread_safe = False


class FailingPhase(Algorithm):
    """Raises in the named lifecycle phase."""

    source = ReadHandleKey("Numbers")
    result = WriteHandleKey("Out")
    phase = Property(str, "execute", choices=["initialize", "execute", "finalize"])

    def initialize(self):
        if self.phase == "initialize":
            raise RuntimeError("injected initialize failure")

    def compute(self, source):
        if self.phase == "execute":
            raise RuntimeError("injected execute failure")
        return source

    def finalize(self):
        if self.phase == "finalize":
            raise RuntimeError("injected finalize failure")


class Sleeper(Algorithm):
    """Waits outside the GIL for `seconds` (as a long numba kernel or an I/O wait would) and
    passes its input on."""

    source = ReadHandleKey("C")
    result = WriteHandleKey("Slept")
    seconds = Property(float, 0.0002)

    def compute(self, source):
        time.sleep(self.seconds)
        return source
