"""Runs the algorithm named by `test.algorithm` (built-in or plugin) on counting events."""

from metflow.framework import Job
from metflow.framework.registry import find_algorithm

from counting import Counting


def declare_flags(flags):
    flags.declare("test.algorithm", str, "BadInit", "algorithm class name")


def configure(flags):
    from metflow.cli import available_algorithm_modules

    cls = find_algorithm(flags["test.algorithm"], available_algorithm_modules())
    return Job(source=Counting(10), algorithms=[cls(name="UnderTest")])
