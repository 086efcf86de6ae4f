"""Counting events through two algorithms into a Parquet output; can kill its worker once.
With --input (a file or a distributed output directory) it copies the input's columns."""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # tests/framework

from metflow.framework import (Algorithm, Job, ParquetSink, ParquetSource, Property,  # noqa: E402
                               ReadHandleKey, WriteHandleKey)
from toy import AddConstant, CountingSource  # noqa: E402

KEYS = ["Numbers", "Plus", "Checked"]


class KillOnce(Algorithm):
    """Ends its own process (like a lost worker) the first time it sees `at_event`."""

    source = ReadHandleKey("Plus")
    out = WriteHandleKey("Checked")
    marker = Property(str, "", doc="file created before the kill; no kill when it exists")
    at_event = Property(int, 0)

    def compute(self, source, ctx):
        if self.marker and ctx.first <= self.at_event < ctx.first + ctx.n_events \
                and not os.path.exists(self.marker):
            open(self.marker, "w").close()
            os._exit(17)
        return source * 2


def declare_flags(flags):
    flags.declare("test.events", int, 200, "events of the counting source")
    flags.declare("test.kill_marker", str, "", "kill the worker once (marker file path)")


def configure(flags):
    sinks = [ParquetSink(flags["output.file"], KEYS, row_group_size=32)] \
        if flags["output.file"] else []
    if flags["input.files"]:
        return Job(source=ParquetSource(flags["input.files"]), sinks=sinks)
    algs = [AddConstant(), KillOnce(marker=flags["test.kill_marker"], at_event=150)]
    return Job(source=CountingSource(flags["test.events"]), algorithms=algs, sinks=sinks)
