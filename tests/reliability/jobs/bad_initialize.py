"""An algorithm whose initialize() finds its configuration invalid (a ConfigurationError)."""

from metflow.framework import Algorithm, Job, Property, ReadHandleKey, WriteHandleKey
from metflow.framework.errors import ConfigurationError

from counting import Counting


class NeedsCalibration(Algorithm):
    source = ReadHandleKey("Numbers")
    result = WriteHandleKey("Plus")
    calibration = Property(str, "", doc="calibration file")
    ran = Property(str, "", doc="file created when execute runs")

    def initialize(self):
        if not self.calibration:
            raise ConfigurationError("property 'calibration' is empty: no calibration file")

    def compute(self, source):
        open(self.ran, "w").close()
        return source


def declare_flags(flags):
    flags.declare("test.ran", str, "", "file created when an event is processed")


def configure(flags):
    return Job(source=Counting(10), algorithms=[NeedsCalibration(ran=flags["test.ran"])])
