"""A job with a typo in a key: must fail before event 1."""

from metflow.framework import Job
from toy import AddConstant, CountingSource


def configure(flags):
    return Job(source=CountingSource(10),
               algorithms=[AddConstant(name="Adder"), AddConstant(name="Reader", source="Plsu", result="Q")])
