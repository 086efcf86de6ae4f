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

    def compute(self, source):
        if self.sleep:
            time.sleep(self.sleep)
        if self.marker and not os.path.exists(self.marker):
            open(self.marker, "w").close()
        return source + 1


def declare_flags(flags):
    flags.declare("test.events", int, 40, "events of the counting source")
    flags.declare("test.sleep", float, 0.0, "seconds per block")
    flags.declare("test.marker", str, "", "file created once the first block is processed")
    flags.declare("test.row_group", int, 8, "rows per Parquet row group of the output")


def configure(flags):
    sinks = [ParquetSink(flags["output.file"], KEYS, row_group_size=flags["test.row_group"])] \
        if flags["output.file"] else []
    if flags["input.files"]:
        return Job(source=ParquetSource(flags["input.files"]), sinks=sinks, name="copy")
    alg = SlowPlusOne(sleep=flags["test.sleep"], marker=flags["test.marker"])
    return Job(source=Counting(flags["test.events"]), algorithms=[alg], sinks=sinks,
               name="counting")
