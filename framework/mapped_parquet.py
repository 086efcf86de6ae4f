"""MappedParquetFile: a `pyarrow.parquet.ParquetFile` that Arrow reads natively from a memory map,
and that verifies the page checksums of every column chunk a read touches before Arrow decodes it.

The file is memory-mapped once. A read first maps the page-table entries of the chunks it needs
in one system call (`MADV_POPULATE_READ`: no page fault per 4 KiB page), verifies their pages in
one numba kernel call (`page_checksums.verify_chunks`, GIL released), then lets Arrow decode the
very same mapped bytes through a `pyarrow.BufferReader`: no Python callback and no GIL inside
Arrow's decode, so another job thread never waits on it, and no copy of the file's bytes. The
page-table entries are dropped after the read (`MADV_DONTNEED`: the process's resident size
stays one read's worth). `verify=False` reads the same way without the checksums.
`open_mapped` falls back to Arrow's own reader (and its own, slower, verification) for a file
that its file system does not let map.

Columns are matched by their top-level name, so reading one leaf of a struct verifies all its
leaves; a name that matches nothing makes the whole row group verified. Verifying more than Arrow
decodes is safe, less never happens.

A file truncated after it was opened makes the read fail with an OSError naming the file and the
byte range, not a crash (SIGBUS), unless it is truncated between that check and Arrow's decode of
a column. A file rewritten in place (not replaced by a rename, as every metflow writer does) while
it is read could change between the check and the decode.
"""

from __future__ import annotations

import ctypes
import errno
import mmap
import os
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from .page_checksums import ColumnChunk, _corrupt, column_chunks, verify_chunks

_MADV_POPULATE_READ = 22   # Linux >= 5.14; older kernels answer EINVAL: pages then fault in
_libc = ctypes.CDLL(None, use_errno=True)
_libc.madvise.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
_libc.madvise.restype = ctypes.c_int
_PAGE = mmap.PAGESIZE
_can_populate = True


#: mmap errors of a file system that cannot map files (the file is then read by Arrow)
_CANNOT_MAP = (errno.ENODEV, errno.EACCES, errno.EPERM, errno.EINVAL, errno.ENOTSUP)


class MappingUnsupported(OSError):
    """The file cannot be memory-mapped (its file system does not allow it)."""


def open_mapped(path: str | os.PathLike, metadata: Any = None,
                chunks: Sequence[ColumnChunk] | None = None, *, verify: bool = True,
                **options: Any) -> pq.ParquetFile:
    """`MappedParquetFile`, or where the file cannot be memory-mapped Arrow's own reader (with
    Arrow's page-checksum verification when `verify`): the same tables, more slowly."""
    try:
        return MappedParquetFile(path, metadata, chunks, verify=verify, **options)
    except MappingUnsupported:
        return pq.ParquetFile(os.fspath(path), metadata=metadata,
                              page_checksum_verification=verify, **options)


class MappedParquetFile(pq.ParquetFile):
    """`pyarrow.parquet.ParquetFile(path)` read from a memory map, with every page CRC32 checked
    before it is decoded unless `verify` is False (`chunks`: the file's `column_chunks`, for a
    caller that opens it on several threads; `options`: more ParquetFile arguments). A failing
    page raises `PageChecksumError`."""

    def __init__(self, path: str | os.PathLike, metadata: Any = None,
                 chunks: Sequence[ColumnChunk] | None = None, *, verify: bool = True,
                 **options: Any):
        self.path = os.fspath(path)
        self.verify = verify
        fd = os.open(self.path, os.O_RDONLY)
        try:
            size = os.fstat(fd).st_size
            # an empty file cannot be mapped; Arrow reports it as not Parquet
            self._map = mmap.mmap(fd, size, access=mmap.ACCESS_READ) if size else b""
        except OSError as exc:
            if exc.errno in _CANNOT_MAP:
                raise MappingUnsupported(f"{self.path}: cannot be memory-mapped: {exc}") from exc
            raise
        finally:
            os.close(fd)
        self._bytes = np.frombuffer(self._map, np.uint8)
        self._base = self._bytes.ctypes.data if size else 0
        super().__init__(pa.BufferReader(pa.py_buffer(self._map)), metadata=metadata,
                         page_checksum_verification=False, **options)   # reads a footer not given
        chunks = column_chunks(self.metadata) if chunks is None else chunks
        self._by_group: dict[int, list[tuple[str, ColumnChunk]]] = {}
        for chunk in chunks:
            self._by_group.setdefault(chunk.row_group, []).append(
                (chunk.column.split(".")[0], chunk))
        self.verified_pages = 0

    # -- reads: verify, decode, release ----------------------------------------------------------
    def read_row_group(self, i: int, columns: Iterable[str] | None = None, use_threads: bool = True,
                       use_pandas_metadata: bool = False) -> Any:
        spans = self._prepare([i], columns, use_pandas_metadata)
        try:
            return super().read_row_group(i, columns=columns, use_threads=use_threads,
                                          use_pandas_metadata=use_pandas_metadata)
        finally:
            self._release(spans)

    def read_row_groups(self, row_groups: Sequence[int], columns: Iterable[str] | None = None,
                        use_threads: bool = True, use_pandas_metadata: bool = False) -> Any:
        spans = self._prepare(row_groups, columns, use_pandas_metadata)
        try:
            return super().read_row_groups(row_groups, columns=columns, use_threads=use_threads,
                                           use_pandas_metadata=use_pandas_metadata)
        finally:
            self._release(spans)

    def read(self, columns: Iterable[str] | None = None, use_threads: bool = True,
             use_pandas_metadata: bool = False) -> Any:
        spans = self._prepare(range(self.num_row_groups), columns, use_pandas_metadata)
        try:
            return super().read(columns=columns, use_threads=use_threads,
                                use_pandas_metadata=use_pandas_metadata)
        finally:
            self._release(spans)

    def iter_batches(self, batch_size: int = 65536, row_groups: Sequence[int] | None = None,
                     columns: Iterable[str] | None = None, use_threads: bool = True,
                     use_pandas_metadata: bool = False) -> Any:
        """Arrow's batches, each row group verified just before its first batch is decoded."""
        for group in (range(self.num_row_groups) if row_groups is None else row_groups):
            spans = self._prepare([group], columns, use_pandas_metadata)
            try:
                yield from super().iter_batches(batch_size, row_groups=[group], columns=columns,
                                                use_threads=use_threads,
                                                use_pandas_metadata=use_pandas_metadata)
            finally:
                self._release(spans)

    def scan_contents(self, columns: Iterable[str] | None = None, batch_size: int = 65536) -> int:
        spans = self._prepare(range(self.num_row_groups), columns, False)
        try:
            return super().scan_contents(columns=columns, batch_size=batch_size)
        finally:
            self._release(spans)

    # -- helpers ------------------------------------------------------------------------------------
    def _prepare(self, row_groups: Iterable[int], columns: Iterable[str] | None,
                every_column: bool) -> list[tuple[int, int]]:
        """Map (and verify) the chunks of `columns` (top-level names; None or `every_column`: all)
        in `row_groups`; returns the byte spans mapped, for `_release`."""
        tops = None if columns is None or every_column else {str(c).split(".")[0] for c in columns}
        chosen: list[ColumnChunk] = []
        for group in row_groups:
            chunks = self._by_group.get(group, ())
            picked = [c for top, c in chunks if tops is None or top in tops]
            chosen.extend(picked if picked else [c for _, c in chunks])
        if not chosen:
            return []
        size = len(self._bytes)
        for chunk in chosen:   # a corrupt footer: named, never a read outside the mapping
            if chunk.start < 0 or chunk.length < 0 or chunk.end > size:
                raise _corrupt(chunk, None, f"the footer puts the column chunk at bytes "
                                            f"[{chunk.start}, {chunk.end}), outside the file "
                                            f"({size} bytes)")
        spans = _spans(chosen, size)
        for low, high in spans:
            self._populate(low, high)
        if self.verify:
            self.verified_pages += verify_chunks(self._bytes, 0, chosen)
        return spans

    def _populate(self, low: int, high: int) -> None:
        """Map the page-table entries of bytes [low, high) in one call (no fault per page); bytes
        no longer in the file (truncated since it was opened) are an OSError, not a SIGBUS."""
        global _can_populate
        if high <= low:
            return
        if _can_populate:
            if _libc.madvise(self._base + low, high - low, _MADV_POPULATE_READ) == 0:
                return
            code = ctypes.get_errno()
            if code not in (errno.EINVAL, errno.ENOSYS):
                raise self._truncated(low, high)
            _can_populate = False   # a kernel older than 5.14: pages fault in one by one
        if self._map.size() < high:   # the file's size now
            raise self._truncated(low, high)

    def _truncated(self, low: int, high: int) -> OSError:
        return OSError(f"{self.path}: bytes [{low}, {high}) are no longer in the file (was it "
                       f"truncated while being read?)")

    def _release(self, spans: list[tuple[int, int]]) -> None:
        """Drop the page-table entries of the spans read (the file's pages stay cached; a later
        access maps them again)."""
        for low, high in spans:
            _libc.madvise(self._base + low, high - low, mmap.MADV_DONTNEED)


def _spans(chunks: Sequence[ColumnChunk], size: int) -> list[tuple[int, int]]:
    """The contiguous byte ranges covering `chunks`, widened to whole memory pages and cut at the
    file's `size`."""
    spans: list[list[int]] = []
    for chunk in sorted(chunks):
        low = chunk.start - chunk.start % _PAGE
        high = min(chunk.end, size)
        if spans and low <= spans[-1][1]:
            spans[-1][1] = max(spans[-1][1], high)
        else:
            spans.append([low, high])
    return [(low, high) for low, high in spans if high > low]


__all__ = ["MappedParquetFile", "MappingUnsupported", "open_mapped"]
