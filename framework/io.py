"""Sources and sinks: the protocols a job's input and outputs implement.

A `Source` provides the same keys for every block of events; a `Sink` receives blocks in event
order (after `prepare`, which runs on the job threads in any order). The generic Parquet
implementations live in `framework.parquet_source` and `framework.parquet_sink` and are
re-exported here.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from .dataset import read_manifest


def dataset_files(path: str, verify_checksums: bool = True) -> list[str]:
    """The part files of a distributed output directory, in event order, each checked against
    its manifest (see `framework.dataset`)."""
    return [part.path for part in read_manifest(path, verify_checksums)]


class Source:
    """Provides the same set of keys for every block of events."""

    name: str = "source"
    thread_safe: bool = True

    def keys(self) -> list[str]:
        raise NotImplementedError

    def n_events(self) -> int | None:
        return None

    def select(self, keys: Sequence[str]) -> None:
        """Told before the run which of its keys the job consumes (sources may read fewer)."""

    def read(self, first: int, n: int) -> dict[str, Any]:
        raise NotImplementedError

    def select_events(self, first: int, stop: int) -> None:
        """Told before the run that it reads events [first, stop) (what `work` may read ahead)."""

    def work(self) -> bool:
        """Do one piece of work ahead of need (e.g. read a column of the next row group) on the
        calling job thread, which has no task; False when there is none. Must be thread-safe."""
        return False

    def work_ready(self) -> bool:
        """Whether `work` has something to do now: a cheap check, made after every block
        written, that decides whether an idle job thread is woken for it."""
        return False

    def input_paths(self) -> list[str]:
        """Files the source reads (an output of the run must be none of them)."""
        return []

    def event_id(self, index: int) -> str:
        """How the input itself names event `index` (e.g. run and event number); '' if unknown.
        Called only to describe an error, never per event."""
        return ""

    def close(self) -> None:
        """Release files; called once at the end of the run."""


class Sink:
    """Receives blocks in event order."""

    name: str = "sink"

    def keys(self) -> list[str]:
        raise NotImplementedError

    def output_paths(self) -> list[str]:
        """Files the sink will write (checked before the first event)."""
        return []

    def open(self) -> None:
        pass

    def prepare(self, first: int, n: int, data: dict[str, Any]) -> Any:
        """Called on a job thread as soon as a block is processed, for several blocks at once
        and in any order: work that needs no ordering (e.g. conversion). Returns what `write`
        gets for the block; by default `data` itself."""
        return data

    def write(self, first: int, n: int, data: Any) -> None:
        """Called in event order, one block at a time, with what `prepare` returned."""
        raise NotImplementedError

    def end_of_input(self) -> None:
        """Called after the last block was written, while the job threads still run: queue the
        work left (e.g. a last row group) for `work`, so that every thread can share it."""

    def work(self) -> bool:
        """Do one piece of queued work (e.g. encode part of a row group) on the calling job
        thread, which has no task; False when there is none. Must be thread-safe."""
        return False

    def close(self, success: bool) -> None:
        pass

    def summary(self) -> str:
        return ""



# the Parquet implementations (imported last: they subclass the protocols above)
from .parquet_sink import ParquetSink  # noqa: E402
from .parquet_source import ParquetSource  # noqa: E402

__all__ = ["ParquetSink", "ParquetSource", "Sink", "Source", "dataset_files"]
