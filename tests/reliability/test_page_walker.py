"""metflow's Parquet page walker (framework/page_checksums.py) against files written by pyarrow:
it finds every page (dictionary pages, data pages v1 and v2, nulls, nested lists, several pages
and row groups), verifies each CRC32 on the bytes Arrow then decodes, and a flipped bit in a page
or its header never gives a silently changed value."""

from __future__ import annotations

import struct
import zlib

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from metflow.framework import page_checksums as P
from metflow.framework.errors import SourceError
from metflow.framework._page_walk import BODY, CRC, HAS_CRC, HEADER_AT, NUM_VALUES, PAGE_TYPE, SIZE
from metflow.framework.page_checksums import (ColumnChunk, PageChecksumError, column_chunks,
                                              open_verified, page_table, verify_chunk)
from metflow.framework.parquet_footer import _write_struct
from metflow.framework.parquet_source import ParquetSource

ROWS = 3000


def _table() -> pa.Table:
    """Columns of every shape the walker meets: plain and dictionary-encoded numbers, nulls,
    strings, lists (nested) and structs of lists."""
    rng = np.random.default_rng(5)
    ints = rng.integers(0, 1 << 40, ROWS)
    with_nulls = pa.array([None if i % 7 == 0 else float(i) * 0.5 for i in range(ROWS)])
    lists = pa.array([[float(j) for j in range(i % 5)] if i % 11 else None for i in range(ROWS)])
    nested = pa.array([[[i, j] for j in range(i % 3)] for i in range(ROWS)])
    return pa.table({
        "ints": ints, "labels": pa.array([f"run-{i % 4}" for i in range(ROWS)]),
        "with_nulls": with_nulls, "lists": lists, "nested": nested,
        "jets": pa.StructArray.from_arrays(
            [pa.array([[float(i)] * (i % 4) for i in range(ROWS)]),
             pa.array([i % 2 == 0 for i in range(ROWS)])], ["pt", "good"]),
    })


def _write(path, *, version="1.0", checksums=True, compression="zstd") -> pa.Table:
    table = _table()
    pq.write_table(table, path, row_group_size=1000, data_page_size=2048, write_batch_size=128,
                   data_page_version=version, write_page_checksum=checksums,
                   compression=compression, use_dictionary=["labels", "ints"])
    return table


def _walk(path) -> list[tuple[ColumnChunk, int, int]]:
    data = path.read_bytes()
    return [(chunk, *verify_chunk(data, chunk.start, chunk))
            for chunk in column_chunks(pq.read_metadata(path))]


def _page_offsets(data: bytes, chunk: ColumnChunk) -> list[tuple[int, int, int]]:
    """(header start, body start, body end) of every page of a chunk."""
    return [(row[HEADER_AT], row[BODY], row[BODY] + row[SIZE])
            for row in page_table(data, chunk.start, chunk).tolist()]


@pytest.mark.parametrize("version", ["1.0", "2.0"])
@pytest.mark.parametrize("compression", ["zstd", "none"])
def test_walker_finds_and_verifies_every_page(tmp_path, version, compression):
    path = tmp_path / "t.parquet"
    table = _write(path, version=version, compression=compression)
    walked = _walk(path)
    meta = pq.read_metadata(path)
    assert len(walked) == meta.num_row_groups * meta.num_columns == 3 * 7
    assert all(pages == verified for _, pages, verified in walked)   # every page has a CRC
    assert sum(pages for _, pages, _ in walked) > 2 * len(walked)     # several pages per chunk
    dictionary_chunks = [c for c, _, _ in walked if c.column in ("ints", "labels")]
    data = path.read_bytes()
    for chunk in dictionary_chunks:   # the walk starts at the dictionary page
        assert page_table(data, chunk.start, chunk)[0, PAGE_TYPE] == P.DICTIONARY_PAGE
    kinds = {row[PAGE_TYPE] for c, _, _ in walked
             for row in page_table(data, c.start, c).tolist()}
    assert kinds == {P.DICTIONARY_PAGE, P.DATA_PAGE if version == "1.0" else P.DATA_PAGE_V2}
    pf = open_verified(path)
    assert pf.read().equals(table)
    assert pf.reader is not None and pq.read_table(path).equals(table)


def test_chunk_of_many_pages(tmp_path):
    """More pages than the walker's first page table holds (it grows it)."""
    path = tmp_path / "many.parquet"
    table = pa.table({"x": np.arange(5000, dtype=np.float64)})
    pq.write_table(table, path, data_page_size=64, write_batch_size=16, write_page_checksum=True)
    (chunk,) = column_chunks(pq.read_metadata(path))
    pages, verified = verify_chunk(path.read_bytes(), chunk.start, chunk)
    assert pages == verified and pages >= 5000 // 16
    assert open_verified(path).read().equals(table)


def test_crc_is_over_the_page_bytes_as_stored(tmp_path):
    """The stored CRC is zlib's CRC32 of the bytes after the header (the walker's definition)."""
    path = tmp_path / "t.parquet"
    _write(path, version="2.0")
    data = path.read_bytes()
    chunk = column_chunks(pq.read_metadata(path))[0]
    for row in page_table(data, chunk.start, chunk).tolist():
        body, end = row[BODY], row[BODY] + row[SIZE]
        assert row[HAS_CRC] and zlib.crc32(data[body:end]) == row[CRC] & 0xFFFFFFFF


@pytest.mark.parametrize("version", ["1.0", "2.0"])
def test_flipped_bit_in_any_page_is_a_checksum_error(tmp_path, version):
    """Every page of every chunk: a flipped bit at its first, middle and last byte fails that
    chunk's walk naming the column, row group and page, and fails Arrow's read through
    open_verified."""
    path = tmp_path / "t.parquet"
    _write(path, version=version)
    original = path.read_bytes()
    meta = pq.read_metadata(path)
    for chunk in column_chunks(meta):
        for pos, body, end in _page_offsets(original, chunk):
            for offset in {body, (body + end) // 2, end - 1}:
                data = bytearray(original)
                data[offset] ^= 0x10
                with pytest.raises(PageChecksumError, match="CRC checksum verification failed") \
                        as caught:
                    verify_chunk(data, chunk.start, chunk)
                assert (caught.value.column, caught.value.row_group, caught.value.offset) == \
                    (chunk.column, chunk.row_group, pos)
    data = bytearray(original)
    chunk = column_chunks(meta)[-1]
    data[chunk.end - 1] ^= 0x01
    path.write_bytes(bytes(data))
    with pytest.raises(PageChecksumError, match=rf"{chunk.column!r}, row group 2.*CRC checksum"):
        open_verified(path).read()


@pytest.mark.parametrize("version", ["1.0", "2.0"])
def test_flipped_bit_in_a_page_header_never_changes_a_value_silently(tmp_path, version):
    """Every bit of the headers of a dictionary page and of the first and a later data page:
    the walk fails, or Arrow (not verifying) fails, or Arrow reads the same values."""
    path = tmp_path / "t.parquet"
    table = _write(path, version=version)
    original = path.read_bytes()
    chunks = {(c.column, c.row_group): c for c in column_chunks(pq.read_metadata(path))}
    dictionary, numbers = chunks[("ints", 1)], chunks[("with_nulls", 1)]
    data_pages = _page_offsets(original, numbers)
    assert len(data_pages) >= 3
    caught = harmless = 0
    for chunk, (pos, body, _) in [(dictionary, _page_offsets(original, dictionary)[0]),
                                  (numbers, data_pages[0]), (numbers, data_pages[-1])]:
        for offset in range(pos, body):
            for bit in range(8):
                data = bytearray(original)
                data[offset] ^= 1 << bit
                try:
                    verify_chunk(data, chunk.start, chunk)
                except PageChecksumError:
                    caught += 1
                    continue
                path.write_bytes(bytes(data))
                try:
                    got = pq.ParquetFile(path).read_row_group(1, columns=[chunk.column])
                except Exception:   # noqa: BLE001 - an error is not a silent change
                    continue
                expected = table.slice(1000, 1000).column(chunk.column)
                assert got.column(chunk.column).equals(expected), (chunk.column, offset - pos, bit)
                harmless += 1
    # caught: at least the bits of the type, sizes, CRC and value count (> 8 bytes a header);
    # harmless: statistics, encodings of levels, the uncompressed size's high bits
    assert caught > 3 * 8 * 8 and harmless > 0


def test_page_type_flip_that_arrow_verification_misses(tmp_path):
    """A data page whose type is flipped to INDEX_PAGE (bit 0 of the header's first value):
    Arrow, verifying checksums, skips the page and reads fewer values with no error; the walk
    counts the data pages' values against the footer and refuses the chunk."""
    path = tmp_path / "t.parquet"
    table = _write(path)
    data = bytearray(path.read_bytes())
    chunk = next(c for c in column_chunks(pq.read_metadata(path))
                 if c.column == "with_nulls" and c.row_group == 1)
    pos = _page_offsets(bytes(data), chunk)[0][0]
    assert data[pos] == 0x15 and data[pos + 1] == 2 * P.DATA_PAGE   # field 1, i32, zigzag(0)
    data[pos + 1] ^= 0x02   # zigzag(1): INDEX_PAGE
    path.write_bytes(bytes(data))
    expected = table.slice(1000, 1000).column("with_nulls")
    arrow = pq.ParquetFile(path, page_checksum_verification=True).read_row_group(
        1, columns=["with_nulls"])   # one column, as ParquetSource reads
    assert not arrow.column("with_nulls").equals(expected)   # Arrow: silently wrong
    with pytest.raises(PageChecksumError, match="data pages hold .* values, the footer says 1000"):
        open_verified(path).read_row_group(1, columns=["with_nulls"])


def test_file_without_checksums_is_accepted(tmp_path):
    """Pages without a CRC (another writer) are read as Arrow reads them: accepted unchecked."""
    path = tmp_path / "plain.parquet"
    table = _write(path, checksums=False)
    walked = _walk(path)
    assert all(pages > 0 and verified == 0 for _, pages, verified in walked)
    assert open_verified(path).read().equals(table)
    # what pyarrow's own verification does with such a file: accepts it too
    assert pq.ParquetFile(path, page_checksum_verification=True).read().equals(table)
    source = ParquetSource([str(path)])
    assert source.read(0, ROWS)["ints"].equals(table.column("ints").combine_chunks())
    source.close()


def test_empty_file_reads(tmp_path):
    """An empty row group (no values: its column chunks say data page offset 0) reads as
    before; it has nothing to verify, and Arrow decodes none of its pages."""
    path = tmp_path / "empty.parquet"
    table = _table().slice(0, 0)
    pq.write_table(table, path, write_page_checksum=True)
    assert pq.read_metadata(path).num_row_groups == 1 and column_chunks(pq.read_metadata(path)) == []
    assert open_verified(path).read().equals(table)


def test_chunk_that_disagrees_with_the_footer_is_an_error(tmp_path):
    path = tmp_path / "t.parquet"
    _write(path)
    data = path.read_bytes()
    chunk = column_chunks(pq.read_metadata(path))[3]
    with pytest.raises(PageChecksumError, match=f"data pages hold {chunk.num_values} values, "
                                                f"the footer says {chunk.num_values - 1}"):
        verify_chunk(data, chunk.start, chunk._replace(num_values=chunk.num_values - 1))
    with pytest.raises(PageChecksumError, match="runs past the end of the column chunk"):
        verify_chunk(data, chunk.start, chunk._replace(length=chunk.length - 1))
    with pytest.raises(PageChecksumError, match="past the end of the file"):
        verify_chunk(data[:chunk.end - 5], chunk.start, chunk)
    with pytest.raises(PageChecksumError, match="unreadable page header"):
        verify_chunk(b"\x15" + b"\xff" * 20, 0, ColumnChunk(0, 21, 0, "x", 1))


def test_unknown_header_fields_are_skipped():
    """A page header with fields a future writer might add (every Thrift compact type, a
    long-form field id, nested containers) before and after the known ones."""
    body = b"page bytes of some value encoding"
    crc = struct.unpack("<i", struct.pack("<I", zlib.crc32(body)))[0]
    header = bytearray()
    _write_struct(header, [
        [1, 5, P.DATA_PAGE], [2, 5, len(body)], [3, 5, len(body)], [4, 5, crc],
        [5, 12, [[1, 5, 42], [2, 5, 0], [9, 11, (8, 5, [(b"k", 1), (b"l", -2)])]]],
        [6, 1, None], [7, 2, None],   # booleans: no payload in a struct
        [20, 9, (12, [[[1, 6, -5], [2, 7, b"\0" * 8]]] * 16)],   # 16 structs: long list
        [40, 10, (1, [True, False])], [300, 3, 7], [301, 4, -300], [302, 8, b"x" * 200],
        [303, 11, (0, 0, [])],
    ])
    header.extend(body)
    (parsed,) = page_table(header, 0, ColumnChunk(0, len(header), 0, "x", 42)).tolist()
    assert (parsed[PAGE_TYPE], parsed[SIZE], parsed[NUM_VALUES]) == (P.DATA_PAGE, len(body), 42)
    assert bytes(header[parsed[BODY]:]) == body
    assert verify_chunk(header, 0, ColumnChunk(0, len(header), 0, "x", 42)) == (1, 1)
    header[-1] ^= 0x80
    with pytest.raises(PageChecksumError, match="CRC checksum verification failed"):
        verify_chunk(header, 0, ColumnChunk(0, len(header), 0, "x", 42))


def _page(body: bytes, values: int, crc: int | None) -> bytes:
    fields = [[1, 5, P.DATA_PAGE], [2, 5, len(body)], [3, 5, len(body)]]
    if crc is not None:
        fields.append([4, 5, struct.unpack("<i", struct.pack("<I", crc))[0]])
    fields.append([5, 12, [[1, 5, values], [2, 5, 0]]])
    header = bytearray()
    _write_struct(header, fields)
    return bytes(header) + body


@pytest.mark.parametrize("fast", [True, False])
def test_the_failing_page_is_named_after_pages_without_a_crc(monkeypatch, fast):
    """Pages without a CRC are accepted; the first page whose CRC fails is the one named, with
    its stored and computed CRC, whether ISA-L's CRC32 runs in the kernel or zlib's in Python."""
    if not fast:
        monkeypatch.setattr(P, "_crc32_address", None)
    good, bad = b"first page, no crc", b"second page, crc stored"
    chunk_bytes = (_page(good, 3, None) + _page(good, 4, zlib.crc32(good))
                   + _page(bad, 5, zlib.crc32(bad) ^ 0x1))
    third_at = len(_page(good, 3, None)) + len(_page(good, 4, zlib.crc32(good)))
    chunk = ColumnChunk(100, len(chunk_bytes), 2, "jets.pt", 12)
    data = b"\0" * 100 + chunk_bytes
    with pytest.raises(PageChecksumError, match=rf"'jets.pt', row group 2, page at byte "
                                                rf"{100 + third_at}: CRC checksum verification "
                                                rf"failed \(stored {zlib.crc32(bad) ^ 1:#010x}, "
                                                rf"computed {zlib.crc32(bad):#010x}\)") as err:
        verify_chunk(data, 100, chunk)
    assert err.value.offset == 100 + third_at
    fixed = b"\0" * 100 + _page(good, 3, None) + _page(good, 4, zlib.crc32(good)) + _page(
        bad, 5, zlib.crc32(bad))
    assert verify_chunk(fixed, 100, chunk) == (3, 2)


def test_parquet_source_names_file_key_and_events(tmp_path):
    """A flipped bit in a page read by ParquetSource: SourceError naming the file, key and the
    row group's events; no block of that row group is handed out."""
    path = tmp_path / "t.parquet"
    _write(path)
    data = bytearray(path.read_bytes())
    chunk = next(c for c in column_chunks(pq.read_metadata(path))
                 if c.column == "with_nulls" and c.row_group == 2)
    data[chunk.end - 3] ^= 0x02
    path.write_bytes(bytes(data))
    source = ParquetSource([str(path)])
    assert source.read(0, 2000)["with_nulls"].to_pylist() == \
        _table().column("with_nulls").to_pylist()[:2000]
    with pytest.raises(SourceError) as caught:
        source.read(2000, 10)
    source.close()
    for needle in (str(path), "key 'with_nulls'", "events [2000, 3000)",
                   "CRC checksum verification failed", "the file is corrupt"):
        assert needle in str(caught.value)


def test_flip_in_a_later_leaf_of_a_column(tmp_path):
    """A column of several leaf chunks (a struct of a list and a flag) is read and verified in
    one piece: a flipped bit in its last leaf fails the read of the column, naming that leaf;
    reading one leaf alone, or all columns through Arrow's thread pool, verifies as well."""
    path = tmp_path / "t.parquet"
    table = _write(path)
    leaves = [c for c in column_chunks(pq.read_metadata(path))
              if c.column.startswith("jets.") and c.row_group == 1]
    assert [c.column for c in leaves] == ["jets.pt.list.element", "jets.good"]
    got = open_verified(path).read_row_group(1, columns=["jets.good"]).column(0)
    assert got.combine_chunks().field("good").equals(
        table.slice(1000, 1000).column("jets").combine_chunks().field("good"))
    data = bytearray(path.read_bytes())
    data[leaves[1].end - 1] ^= 0x20
    path.write_bytes(bytes(data))
    with pytest.raises(PageChecksumError, match="'jets.good', row group 1.*CRC checksum") as caught:
        open_verified(path).read_row_group(1, columns=["jets"])
    assert caught.value.column == "jets.good"
    with pytest.raises(PageChecksumError, match="'jets.good', row group 1"):
        open_verified(path).read_row_group(1, columns=["jets.good"])
    with pytest.raises(PageChecksumError, match="'jets.good', row group 1"):
        open_verified(path).read(use_threads=True)
    assert open_verified(path).read_row_group(0).equals(table.slice(0, 1000))
    source = ParquetSource([str(path)])
    with pytest.raises(SourceError, match=r"key 'jets', row group 1 \(events \[1000, 2000\)\)"):
        source.read(1000, 10)
    source.close()


def test_without_isal_arrow_verifies(tmp_path, monkeypatch):
    """Without the fast CRC32, open_verified falls back to Arrow's verification: same result."""
    path = tmp_path / "t.parquet"
    table = _write(path)
    monkeypatch.setattr(P, "_crc32_address", None)
    assert P.verifier() == "pyarrow"
    assert open_verified(path).read().equals(table)
    chunk = column_chunks(pq.read_metadata(path))[5]
    pages, verified = verify_chunk(path.read_bytes(), chunk.start, chunk)   # zlib's CRC32
    assert pages == verified > 0
    data = bytearray(path.read_bytes())
    data[column_chunks(pq.read_metadata(path))[5].end - 1] ^= 0x01
    path.write_bytes(bytes(data))
    with pytest.raises(OSError, match="CRC checksum verification failed"):
        open_verified(path).read()


def test_several_chunks_verified_in_one_call(monkeypatch):
    """`verify_chunks` checks several column chunks of one buffer in one kernel call: a chunk
    of more pages than its page table re-walked on its own, the first bad chunk named."""
    from metflow.framework.page_checksums import verify_chunks

    good = b"some page bytes"
    a = _page(good, 2, zlib.crc32(good)) + _page(good, 3, None)
    b = b"".join(_page(good, 1, zlib.crc32(good)) for _ in range(300))   # > 256 pages
    c = _page(good, 4, zlib.crc32(good) ^ 0x10)
    data = b"\0" * 50 + a + b + c
    chunks = [ColumnChunk(50, len(a), 0, "x", 5), ColumnChunk(50 + len(a), len(b), 0, "y", 300),
              ColumnChunk(50 + len(a) + len(b), len(c), 0, "z", 4)]
    assert verify_chunks(data, 0, chunks[:2]) == 1 + 300
    with pytest.raises(PageChecksumError, match=r"column 'z', row group 0, page at byte "
                                                rf"{50 + len(a) + len(b)}: CRC"):
        verify_chunks(data, 0, chunks)
    with pytest.raises(PageChecksumError, match="'y'.*data pages hold 300 values, the footer "
                                                "says 299"):
        verify_chunks(data, 0, [chunks[0], chunks[1]._replace(num_values=299)])
    # a buffer read from byte 20 of the file: offsets are the file's
    assert verify_chunks(data[20:], 20, chunks[:1]) == 1
