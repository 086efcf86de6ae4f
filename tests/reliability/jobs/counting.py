"""Events 0..N-1 through one algorithm into a Parquet output; with --input, a copy of the
input's columns. Flags slow it down (signals land mid-run) or make it fail at an event."""

from __future__ import annotations

import os
import time

from metflow.framework import (Algorithm, Job, ParquetSink, ParquetSource, Property, ReadHandleKey,
                               Source, WriteHandleKey)

import numpy as np

KEYS = ["Numbers", "Plus"]


class Counting(Source):
    name = "counting"

    def __init__(self, n: int):
        self._n = n

    def keys(self):
        return ["Numbers"]

    def n_events(self):
        return self._n

    def read(self, first, n):
        return {"Numbers": np.arange(first, first + n, dtype=np.int64)}


class SlowPlusOne(Algorithm):
    """Plus = Numbers + 1; sleeps per block; touches `marker` after its first block."""

    source = ReadHandleKey("Numbers")
    result = WriteHandleKey("Plus")
    sleep = Property(float, 0.0, doc="seconds per block")
    marker = Property(str, "", doc="file created once a block is done")
    fail_at = Property(int, -1, doc="raise on the block holding this event")

    def compute(self, source, ctx):
        if ctx.first <= self.fail_at < ctx.first + ctx.n_events:
            raise ValueError(f"injected failure (Numbers {source[self.fail_at - ctx.first]})")
        if self.sleep:
            time.sleep(self.sleep)
        if self.marker and not os.path.exists(self.marker):
            open(self.marker, "w").close()
        return source + 1


class _Only(Source):
    """One column of another source (the others would clash with the algorithm's output)."""

    def __init__(self, inner, key):
        self.inner, self.key, self.name = inner, key, inner.name

    def keys(self):
        return [self.key]

    def n_events(self):
        return self.inner.n_events()

    def input_paths(self):
        return self.inner.input_paths()

    def read(self, first, n):
        return {self.key: np.asarray(self.inner.read(first, n)[self.key])}

    def close(self):
        self.inner.close()


def declare_flags(flags):
    flags.declare("test.events", int, 40, "events of the counting source")
    flags.declare("test.sleep", float, 0.0, "seconds per block")
    flags.declare("test.marker", str, "", "file created once the first block is processed")
    flags.declare("test.row_group", int, 8, "rows per Parquet row group of the output")
    flags.declare("test.fail_at", int, -1, "the algorithm raises on the block holding this event")


def configure(flags):
    sinks = [ParquetSink(flags["output.file"], KEYS, row_group_size=flags["test.row_group"])] \
        if flags["output.file"] else []
    if flags["input.files"] and flags["test.fail_at"] < 0:
        return Job(source=ParquetSource(flags["input.files"]), sinks=sinks, name="copy")
    alg = SlowPlusOne(sleep=flags["test.sleep"], marker=flags["test.marker"],
                      fail_at=flags["test.fail_at"])
    if flags["input.files"]:   # Numbers of the input files, through the algorithm
        source = ParquetSource(flags["input.files"])
        source.select(["Numbers"])
        return Job(source=_Only(source, "Numbers"), algorithms=[alg], sinks=sinks)
    return Job(source=Counting(flags["test.events"]), algorithms=[alg], sinks=sinks,
               name="counting")
