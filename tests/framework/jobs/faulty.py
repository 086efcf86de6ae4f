"""A job whose components fail where the flag `fault.where` says."""

from metflow.framework import Job, ParquetSink
from toy import AddConstant, CountingSource, FailingPhase, Recorder


def declare_flags(flags):
    flags.declare("fault.where", str, "none", "initialize, execute, finalize, source, sink or none")
    flags.declare("fault.event", int, 5, "event at which execute/source faults happen")


def configure(flags):
    where = flags["fault.where"]
    source = CountingSource(20, fail_at=flags["fault.event"] if where == "source" else None)
    algs = [AddConstant(name="Adder", fail_on=flags["fault.event"] if where == "execute" else -1)]
    if where in ("initialize", "finalize"):
        algs.append(FailingPhase(name="Phase", phase=where))
    sinks = [Recorder(["Plus"], fail_at_block=1 if where == "sink" else None)]
    if flags["output.file"]:
        sinks.append(ParquetSink(flags["output.file"], ["Plus"], row_group_size=4))
    return Job(source=source, algorithms=algs, sinks=sinks)
