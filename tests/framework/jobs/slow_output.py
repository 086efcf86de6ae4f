"""Events 0..N-1 through one slow algorithm into the output chosen by --output's extension
(framework.output_sink): signals land mid-run, or the algorithm fails at an event."""

import os
import time

from metflow.framework import Algorithm, Job, Property, ReadHandleKey, WriteHandleKey, output_sink
from toy import CountingSource


class SlowPlusOne(Algorithm):
    """Plus = Numbers + 1; sleeps per block, touches `marker` after its first block, raises on
    the block holding event `fail_at`."""

    source = ReadHandleKey("Numbers")
    result = WriteHandleKey("Plus")
    sleep = Property(float, 0.0, doc="seconds per block")
    marker = Property(str, "", doc="file created once a block is done")
    fail_at = Property(int, -1, doc="raise on the block holding this event")

    def compute(self, source, ctx):
        if ctx.first <= self.fail_at < ctx.first + ctx.n_events:
            raise ValueError(f"injected failure at event {self.fail_at}")
        if self.sleep:
            time.sleep(self.sleep)
        if self.marker and not os.path.exists(self.marker):
            open(self.marker, "w").close()
        return source + 1


def declare_flags(flags):
    flags.declare("test.events", int, 40, "events of the counting source")
    flags.declare("test.sleep", float, 0.0, "seconds per block")
    flags.declare("test.marker", str, "", "file created once the first block is processed")
    flags.declare("test.fail_at", int, -1, "the algorithm raises on the block holding this event")


def configure(flags):
    alg = SlowPlusOne(sleep=flags["test.sleep"], marker=flags["test.marker"],
                      fail_at=flags["test.fail_at"])
    sinks = [output_sink(flags["output.file"], ["Numbers", "Plus"])] if flags["output.file"] else []
    return Job(source=CountingSource(flags["test.events"]), algorithms=[alg], sinks=sinks,
               name="slow_output")
