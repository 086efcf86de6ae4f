"""ParquetSink: blocks written in event order to one Parquet file, one row per event.

The framework does not know what the objects are: the sink writes any object that has
`to_arrow()` (one entry per event of the block), a one-dimensional numpy array of length
n_events, or an Arrow array. Outputs are written to a temporary file and renamed on success,
so a failed job never leaves a truncated output that looks complete.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from .errors import MissingKeyError, SinkError
from .io import Sink
from .paths import check_output


class ParquetSink(Sink):
    """Writes the given keys, one row per event, to a Parquet file (temp file, then rename).

    Blocks are converted to Arrow in `prepare`, on the job thread that finished them (several
    blocks at once); row groups are encoded and compressed in `write`, by the job thread whose
    turn it is to write (the others go on processing blocks meanwhile; Arrow releases the GIL).
    So `--threads T` uses T cores, and one thread uses one: there is no writer thread. Every data page
    carries a CRC32 checksum, which `ParquetSource` verifies on read. The temporary file is
    hidden (`.NAME.tmp-PID` beside the output, so a directory reader skips it); a symlink output
    writes its target; a path that exists and is not a regular file is never replaced.
    """

    def __init__(self, path: str, keys: Sequence[str], compression: str = "zstd",
                 row_group_size: int = 4096,
                 writer_options: Callable[[Any], dict[str, Any]] | None = None,
                 metadata: dict[str, str] | None = None):
        """`writer_options(arrow_schema)` may return ParquetWriter keywords (encodings etc.);
        `metadata`: key-value pairs stored in the file's footer."""
        self.path = os.fspath(path)
        self.writer_options = writer_options
        self.metadata = dict(metadata or {})
        self._keys = list(keys)
        self.name = self.path
        self.compression = compression
        self.row_group_size = row_group_size
        self._writer = None
        self._target = self.path
        self._tmp = ""
        self.events_written = 0
        self.kept: str | None = None          # where a failed run's events went (.partial)
        self._pending: list[Any] = []
        self._pending_rows = 0

    def keys(self) -> list[str]:
        return list(self._keys)

    def output_paths(self) -> list[str]:
        return [self.path]

    def open(self) -> None:
        self._target = check_output(self.path, f"output of sink {self.name}")
        directory, base = os.path.split(os.path.abspath(self._target))
        self._tmp = os.path.join(directory, f".{base}.tmp-{os.getpid()}")
        self.events_written = 0
        self.kept = None

    def _to_arrow(self, key: str, obj: Any, n: int) -> Any:
        import pyarrow as pa

        if hasattr(obj, "to_arrow"):
            array = obj.to_arrow()
        elif isinstance(obj, np.ndarray) and obj.ndim == 1:
            array = pa.array(obj)
        elif isinstance(obj, (pa.Array, pa.ChunkedArray)):   # a column read undecoded
            array = obj
        else:
            raise SinkError(f"{self.path}: cannot write key {key!r}: object of type "
                            f"{type(obj).__name__} has no to_arrow()")
        if len(array) != n:
            raise SinkError(f"{self.path}: key {key!r} has {len(array)} entries for a block of "
                            f"{n} events")
        return array

    def prepare(self, first: int, n: int, data: dict[str, Any]) -> Any:
        """The block as an Arrow table (converted on the job thread, in parallel)."""
        import pyarrow as pa

        columns = {}
        for key in self._keys:
            if key not in data:
                raise MissingKeyError(key, f"ParquetSink({self.path})", data.keys())
            columns[key] = self._to_arrow(key, data[key], n)
        return pa.table(columns)

    def write(self, first: int, n: int, data: Any) -> None:
        """Queue the block (a prepared table, or the dict `prepare` takes) for its row group."""
        table = self.prepare(first, n, data) if isinstance(data, dict) else data
        self._pending.append(table)
        self._pending_rows += n
        while self._pending_rows >= self.row_group_size:
            self._flush(self.row_group_size)

    def _flush(self, rows: int | None = None) -> None:
        """Write `rows` pending rows (all if None): row groups do not depend on the batch size."""
        import pyarrow as pa

        if not self._pending:
            return
        table = pa.concat_tables(self._pending) if len(self._pending) > 1 else self._pending[0]
        rows = table.num_rows if rows is None else rows
        head, rest = table.slice(0, rows), table.slice(rows)
        self._pending = [rest] if rest.num_rows else []
        self._pending_rows = rest.num_rows
        self._write(head)

    def _write(self, head: Any) -> None:
        import pyarrow.parquet as pq

        try:
            if self._writer is None:
                options = ({"compression": self.compression} if self.writer_options is None
                           else dict(self.writer_options(head.schema)))
                options["write_page_checksum"] = True
                schema = head.schema
                if self.metadata:
                    schema = schema.with_metadata({**(schema.metadata or {}), **{
                        k.encode(): v.encode() for k, v in self.metadata.items()}})
                self._writer = pq.ParquetWriter(self._tmp, schema, **options)
            self._writer.write_table(head, row_group_size=self.row_group_size)
        except Exception as exc:
            raise SinkError(f"{self.path}: writing failed: {exc}") from exc
        self.events_written += head.num_rows

    def close(self, success: bool) -> None:
        """Commit the output (rename onto the path) after a successful run; after a failure,
        keep the events written so far in PATH.partial. No temporary file is left either way."""
        error: BaseException | None = None
        try:
            self._flush()  # on failure too: the events already processed are kept in .partial
        except SinkError as exc:
            error = exc
        finally:
            if self._writer is not None:
                try:
                    self._writer.close()
                except Exception as exc:  # noqa: BLE001 - e.g. disk full writing the footer
                    error = error or SinkError(f"{self.path}: writing failed: {exc}")
                self._writer = None
        if not self._tmp or not os.path.exists(self._tmp):
            if success and error is None:
                raise SinkError(f"{self.path}: no events were written")
            if error is not None and success:
                raise error
            return
        if not success or error is not None:
            self.kept = self._target + ".partial"
            os.replace(self._tmp, self.kept)
            if error is not None and success:
                raise error
            return
        if os.path.lexists(self._target) and not os.path.isfile(self._target):
            self.kept = self._target + ".partial"
            os.replace(self._tmp, self.kept)
            raise SinkError(f"{self.path} became a non-regular file during the run: not "
                            f"replaced; the events are in {self.kept}")
        os.replace(self._tmp, self._target)

    def summary(self) -> str:
        if self.kept is not None:
            return f"kept {self.events_written} events in {self.kept}"
        return f"wrote {self.events_written} events to {self.path}"
