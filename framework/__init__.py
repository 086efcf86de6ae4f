"""Physics-free event-processing framework: components, store, scheduler, runner.

See docs/internals.md for the contract and DESIGN.md for the architecture.
"""

from .component import Algorithm, Property, ReadHandleKey, WriteHandleKey
from .errors import (AlgorithmError, ConfigurationError, DuplicateKeyError, FlagError,
                     GraphError, MetflowError, MissingKeyError, SinkError, SourceError,
                     UndeclaredAccessError)
from .flags import Flags
from .graph import DataFlowGraph
from .io import ParquetSink, ParquetSource, Sink, Source
from .job import Job
from .output import output_sink
from .root_sink import RootSink
from .runner import RunOptions, RunResult, configure_job, run_job
from .store import EventContext, EventStore

__all__ = [
    "Algorithm", "AlgorithmError", "ConfigurationError", "DataFlowGraph", "DuplicateKeyError",
    "EventContext", "EventStore", "FlagError", "Flags", "GraphError", "Job", "MetflowError",
    "MissingKeyError", "ParquetSink", "ParquetSource", "Property", "ReadHandleKey", "RunOptions",
    "RootSink", "RunResult", "SinkError", "Sink", "Source", "SourceError", "UndeclaredAccessError",
    "WriteHandleKey", "configure_job", "output_sink", "run_job",
]
