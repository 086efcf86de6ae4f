"""MappedParquetFile (framework/mapped_parquet.py): every way of reading a Parquet file
verifies the pages it decodes, with or without the kernel's one-call page mapping, and a file
truncated while it is read is a clear error naming it, never a crash or a silent short read."""

from __future__ import annotations

import os

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from metflow.framework import mapped_parquet as V
from metflow.framework.errors import SourceError
from metflow.framework.page_checksums import (ColumnChunk, PageChecksumError, column_chunks,
                                              open_verified)
from metflow.framework.parquet_source import ParquetSource

ROWS = 40_000


def _write(path) -> pa.Table:
    rng = np.random.default_rng(3)
    table = pa.table({
        "a": rng.normal(size=ROWS),
        "b": pa.array([[float(j) for j in range(i % 4)] for i in range(ROWS)]),
        "s": pa.StructArray.from_arrays([pa.array(rng.integers(0, 9, ROWS)),
                                         pa.array(rng.normal(size=ROWS))], ["n", "x"]),
    })
    pq.write_table(table, path, row_group_size=10_000, data_page_size=8192, compression="zstd",
                   write_page_checksum=True)
    return table


def _flip_last_chunk_of(path, row_group: int, top: str) -> ColumnChunk:
    chunk = [c for c in column_chunks(pq.read_metadata(path))
             if c.row_group == row_group and c.column.split(".")[0] == top][-1]
    data = bytearray(path.read_bytes())
    data[chunk.end - 2] ^= 0x04
    path.write_bytes(bytes(data))
    return chunk


@pytest.fixture(params=[True, False], ids=["populate", "page-faults"])
def populate(request, monkeypatch):
    """Both ways of mapping the pages: one madvise call, and (a kernel older than 5.14) faults."""
    monkeypatch.setattr(V, "_can_populate", request.param)
    return request.param


def test_every_read_method_returns_what_arrow_reads(tmp_path, populate):
    path = tmp_path / "t.parquet"
    table = _write(path)
    pf = open_verified(path)
    assert isinstance(pf, pq.ParquetFile)
    assert pf.read().equals(table)
    assert pf.read(columns=["s"]).equals(table.select(["s"]))
    assert pf.read_row_group(2, columns=["b"]).equals(table.select(["b"]).slice(20_000, 10_000))
    assert pf.read_row_groups([1, 3]).equals(
        pa.concat_tables([table.slice(10_000, 10_000), table.slice(30_000, 10_000)]))
    batches = list(pf.iter_batches(batch_size=3000, row_groups=[0, 2], columns=["a"]))
    assert pa.Table.from_batches(batches).column("a").equals(
        pa.concat_tables([table.slice(0, 10_000), table.slice(20_000, 10_000)]).column("a"))
    assert pf.scan_contents() == ROWS
    assert pf.verified_pages > 0


@pytest.mark.parametrize("read", [
    lambda pf: pf.read(),
    lambda pf: pf.read(columns=["s.x"]),
    lambda pf: pf.read_row_group(2, columns=["s"]),
    lambda pf: pf.read_row_groups([0, 2], columns=["a", "s"]),
    lambda pf: list(pf.iter_batches(columns=["s"])),
    lambda pf: pf.scan_contents(columns=["s"]),
], ids=["read", "read-leaf", "row-group", "row-groups", "iter-batches", "scan"])
def test_every_read_method_verifies(tmp_path, populate, read):
    """A flipped bit in the last leaf of struct `s` in row group 2 fails each way of reading it,
    naming that leaf, whichever leaf of `s` is asked for; other row groups still read."""
    path = tmp_path / "t.parquet"
    table = _write(path)
    chunk = _flip_last_chunk_of(path, 2, "s")
    pf = open_verified(path)
    with pytest.raises(PageChecksumError, match=r"'s\.x', row group 2.*CRC checksum") as caught:
        read(pf)
    assert (caught.value.column, caught.value.row_group) == (chunk.column, 2)
    assert pf.read_row_group(1).equals(table.slice(10_000, 10_000))


def test_file_truncated_while_open_is_an_error_naming_it(tmp_path, populate):
    path = tmp_path / "t.parquet"
    table = _write(path)
    pf = open_verified(path)
    assert pf.read_row_group(0).equals(table.slice(0, 10_000))
    last = max(c.end for c in column_chunks(pf.metadata) if c.row_group == 0)
    os.truncate(path, last + 10)
    with pytest.raises(OSError, match=rf"{path}: bytes \[\d+, \d+\) are no longer in the file"):
        pf.read_row_group(3)
    assert pf.read_row_group(0).equals(table.slice(0, 10_000))   # what is left still reads


def test_parquet_source_reports_a_truncation_naming_file_key_and_events(tmp_path):
    path = tmp_path / "t.parquet"
    _write(path)
    source = ParquetSource([str(path)])
    assert len(source.read(0, 100)["a"]) == 100
    first_of_last = min(c.start for c in column_chunks(pq.read_metadata(path))
                        if c.row_group == 3)
    os.truncate(path, first_of_last + 100)
    with pytest.raises(SourceError, match=rf"{path}: cannot read key '\w+', row group 3 "
                                          r"\(events \[30000, 40000\)\).*no longer in the file"):
        source.read(30_000, 100)
    source.close()


def test_spans_cover_chunks_in_whole_pages_and_stop_at_the_file_end():
    page = V._PAGE
    chunks = [ColumnChunk(page + 10, 100, 0, "a", 1), ColumnChunk(page + 110, 50, 0, "b", 1),
              ColumnChunk(5 * page + 3, 3 * page, 0, "c", 1)]
    assert V._spans(chunks, 10 * page) == [(page, page + 160), (5 * page, 8 * page + 3)]
    assert V._spans(chunks, 6 * page) == [(page, page + 160), (5 * page, 6 * page)]
    assert V._spans(chunks, page) == []


def test_unverified_reads_the_same_way_without_the_checksums(tmp_path):
    """`verify=False` (ParquetSource(verify_checksums=False), the bench's baseline) reads through
    the same mapping and reports truncation the same way; it only skips the page walk."""
    path = tmp_path / "t.parquet"
    table = _write(path)
    pf = V.MappedParquetFile(path, verify=False)
    assert pf.read().equals(table) and pf.verified_pages == 0
    assert open_verified(path).read().equals(table)
    _flip_last_chunk_of(path, 2, "s")
    assert V.MappedParquetFile(path, verify=False).read_row_group(1).equals(
        table.slice(10_000, 10_000))
    os.truncate(path, 1000)
    with pytest.raises(OSError, match="no longer in the file"):
        pf.read_row_group(3)


@pytest.mark.parametrize("verify", [True, False])
def test_more_input_files_than_file_descriptors(tmp_path, verify):
    """A run over more files than `ulimit -n` allows open at once: each thread keeps at most
    `OPEN_FILES_PER_THREAD` inputs open, so every event is read (it failed with EMFILE)."""
    resource = pytest.importorskip("resource")
    paths = []
    for i in range(150):
        path = tmp_path / f"part{i}.parquet"
        pq.write_table(pa.table({"x": np.full(3, float(i))}), path, write_page_checksum=True)
        paths.append(str(path))
    source = ParquetSource(paths, verify_checksums=verify)
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    open_now = len(os.listdir("/proc/self/fd")) if os.path.isdir("/proc/self/fd") else 64
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(open_now + 60, hard), hard))
    try:
        values = [source.read(first, 3)["x"].to_pylist() for first in range(0, 450, 3)]
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
        source.close()
    assert values == [[float(i)] * 3 for i in range(150)]


def test_a_file_that_cannot_be_mapped_is_read_and_verified_by_arrow(tmp_path, monkeypatch):
    """On a file system that refuses mmap (ENODEV), Arrow reads the file and verifies its
    pages itself: the same table, and a flipped bit is still an error."""
    import errno
    import mmap

    def refuse(*args, **kwargs):
        raise OSError(errno.ENODEV, "No such device")

    monkeypatch.setattr(mmap, "mmap", refuse)
    path = tmp_path / "t.parquet"
    table = _write(path)
    pf = open_verified(path)
    assert not isinstance(pf, V.MappedParquetFile) and pf.read().equals(table)
    source = ParquetSource([str(path)], verify_checksums=False)
    assert source.read(0, 5)["a"].to_pylist() == table.column("a").to_pylist()[:5]
    source.close()
    _flip_last_chunk_of(path, 2, "s")
    with pytest.raises(OSError, match="(?i)checksum"):
        open_verified(path).read()


@pytest.mark.parametrize("start,length", [(-4096, 100), (100, -1), (10**9, 100)])
@pytest.mark.parametrize("verify", [True, False])
def test_a_footer_placing_a_chunk_outside_the_file_is_named(tmp_path, start, length, verify):
    """Column-chunk offsets from a corrupt footer are checked against the file before anything
    is mapped or walked: an error naming the column and row group, never a read outside it."""
    path = tmp_path / "t.parquet"
    _write(path)
    chunks = column_chunks(pq.read_metadata(path))
    bad = [c._replace(start=start, length=length) if (c.row_group, c.column) == (1, "a") else c
           for c in chunks]
    pf = V.MappedParquetFile(path, chunks=bad, verify=verify)
    could_populate = V._can_populate
    with pytest.raises(PageChecksumError, match=r"column 'a', row group 1: .*outside the file"):
        pf.read_row_group(1, columns=["a"])
    assert V._can_populate == could_populate   # a bad range never turns the mapping call off
