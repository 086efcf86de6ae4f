"""Parquet row groups encoded apart and joined into one file, in order.

`encode_row_group(table, schema, options)` encodes one row group as a standalone Parquet file in
memory (any thread; Arrow releases the GIL); `RowGroupJoiner` appends such row groups to one
output file in order, moving each row group's absolute file offsets, and writes the footer at
the end. The column chunks are position-independent (page headers hold no file offsets), so the
joined file holds the same pages as one writer would write; the footer is the first part's
FileMetaData with every row group's metadata and the total row count.

A row group may also be encoded as column slices (`column_slices`: contiguous top-level
columns, each encoded apart, so that several threads share one row group): each column chunk is
encoded on its own by Arrow, so the slices' chunks, appended in column order, are the bytes one
writer writes; the joiner then takes the file's FileMetaData (schema, key-value metadata) from a
`template` (the schema encoded with no rows) and sums the slices' row-group sizes.

The footer is Thrift compact protocol; `_decode`/`_encode` read and write it generically (field
ids, types and values, in order), so a round trip gives back the same bytes.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from typing import Any, BinaryIO

MAGIC = b"PAR1"
# Thrift compact types
_TRUE, _FALSE, _BYTE, _I16, _I32, _I64, _DOUBLE, _BINARY, _LIST, _SET, _MAP, _STRUCT = range(1, 13)
# FileMetaData, RowGroup, ColumnChunk and ColumnMetaData fields (parquet.thrift)
_FMD_NUM_ROWS, _FMD_ROW_GROUPS = 3, 4
_RG_COLUMNS, _RG_BYTES, _RG_FILE_OFFSET, _RG_COMPRESSED, _RG_ORDINAL = 1, 2, 5, 6, 7
_CC_FILE_OFFSET, _CC_META, _CC_OFFSET_INDEX, _CC_COLUMN_INDEX = 2, 3, 4, 6
_CMD_DATA_PAGE, _CMD_INDEX_PAGE, _CMD_DICT_PAGE, _CMD_BLOOM = 9, 10, 11, 14


class _Reader:
    def __init__(self, data: bytes):
        self.data, self.pos = data, 0

    def byte(self) -> int:
        value = self.data[self.pos]
        self.pos += 1
        return value

    def varint(self) -> int:
        shift = result = 0
        while True:
            b = self.byte()
            result |= (b & 0x7F) << shift
            if not b & 0x80:
                return result
            shift += 7

    def zigzag(self) -> int:
        n = self.varint()
        return (n >> 1) ^ -(n & 1)


def _read_value(r: _Reader, ttype: int) -> Any:
    if ttype in (_TRUE, _FALSE):   # in a list/set a boolean is one byte
        return r.byte() == 1
    if ttype == _BYTE:
        return r.byte()
    if ttype in (_I16, _I32, _I64):
        return r.zigzag()
    if ttype == _DOUBLE:
        value = r.data[r.pos:r.pos + 8]
        r.pos += 8
        return value
    if ttype == _BINARY:
        n = r.varint()
        value = r.data[r.pos:r.pos + n]
        r.pos += n
        return value
    if ttype in (_LIST, _SET):
        head = r.byte()
        size, etype = head >> 4, head & 0x0F
        if size == 15:
            size = r.varint()
        return (etype, [_read_value(r, etype) for _ in range(size)])
    if ttype == _MAP:
        size = r.varint()
        if size == 0:
            return (0, 0, [])
        kv = r.byte()
        ktype, vtype = kv >> 4, kv & 0x0F
        return (ktype, vtype, [(_read_value(r, ktype), _read_value(r, vtype))
                               for _ in range(size)])
    if ttype == _STRUCT:
        return _read_struct(r)
    raise ValueError(f"Parquet footer: unknown Thrift type {ttype}")


def _read_struct(r: _Reader) -> list[list[Any]]:
    """[[field id, type, value], ...] in order (booleans: type TRUE/FALSE, value None)."""
    fields: list[list[Any]] = []
    last = 0
    while True:
        head = r.byte()
        if head == 0:
            return fields
        ttype, delta = head & 0x0F, head >> 4
        fid = last + delta if delta else r.zigzag()
        value = None if ttype in (_TRUE, _FALSE) else _read_value(r, ttype)
        fields.append([fid, ttype, value])
        last = fid


def _varint(out: bytearray, n: int) -> None:
    while True:
        if n < 0x80:
            out.append(n)
            return
        out.append((n & 0x7F) | 0x80)
        n >>= 7


def _zigzag(out: bytearray, n: int) -> None:
    _varint(out, (n << 1) ^ (n >> 63))


def _write_value(out: bytearray, ttype: int, value: Any) -> None:
    if ttype in (_TRUE, _FALSE):
        out.append(1 if value else 2)
    elif ttype == _BYTE:
        out.append(value)
    elif ttype in (_I16, _I32, _I64):
        _zigzag(out, value)
    elif ttype == _DOUBLE:
        out += value
    elif ttype == _BINARY:
        _varint(out, len(value))
        out += value
    elif ttype in (_LIST, _SET):
        etype, items = value
        if len(items) < 15:
            out.append((len(items) << 4) | etype)
        else:
            out.append(0xF0 | etype)
            _varint(out, len(items))
        for item in items:
            _write_value(out, etype, item)
    elif ttype == _MAP:
        ktype, vtype, items = value
        _varint(out, len(items))
        if items:
            out.append((ktype << 4) | vtype)
            for k, v in items:
                _write_value(out, ktype, k)
                _write_value(out, vtype, v)
    elif ttype == _STRUCT:
        _write_struct(out, value)
    else:
        raise ValueError(f"Parquet footer: unknown Thrift type {ttype}")


def _write_struct(out: bytearray, fields: list[list[Any]]) -> None:
    last = 0
    for fid, ttype, value in fields:
        if 0 < fid - last <= 15:
            out.append(((fid - last) << 4) | ttype)
        else:
            out.append(ttype)
            _zigzag(out, fid)
        if ttype not in (_TRUE, _FALSE):
            _write_value(out, ttype, value)
        last = fid
    out.append(0)


def _field(fields: list[list[Any]], fid: int) -> list[Any] | None:
    return next((f for f in fields if f[0] == fid), None)


def _shift(fields: list[list[Any]], fids: tuple[int, ...], delta: int) -> None:
    """Move absolute file offsets by `delta`; 0 is "not set" (Arrow writes the deprecated
    ColumnChunk.file_offset as 0), never a position (the data starts after the magic)."""
    for f in fields:
        if f[0] in fids and f[2]:
            f[2] += delta


def _decode(data: bytes) -> list[list[Any]]:
    return _read_struct(_Reader(data))


def _encode(fields: list[list[Any]]) -> bytes:
    out = bytearray()
    _write_struct(out, fields)
    return bytes(out)


def split_file(buffer: bytes) -> tuple[bytes, list[list[Any]]]:
    """(the column chunk bytes, the decoded FileMetaData) of a one-file Parquet buffer."""
    if buffer[:4] != MAGIC or buffer[-4:] != MAGIC:
        raise ValueError("not a Parquet file")
    (length,) = struct.unpack("<I", buffer[-8:-4])
    start = len(buffer) - 8 - length
    return buffer[4:start], _decode(buffer[start:len(buffer) - 8])


def encode_row_group(table: Any, schema: Any, options: dict[str, Any], row_group_size: int) -> bytes:
    """`table` as a standalone in-memory Parquet file (one row group when it has at most
    `row_group_size` rows)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    sink = pa.BufferOutputStream()
    with pq.ParquetWriter(sink, schema, **options) as writer:
        writer.write_table(table, row_group_size=row_group_size)
    return sink.getvalue().to_pybytes()


def column_slices(table: Any, slices: int) -> list[tuple[int, int]]:
    """At most `slices` contiguous ranges [start, stop) of `table`'s top-level columns, of about
    equal in-memory size (a column is never split: its leaves are one field's)."""
    sizes = [column.nbytes for column in table.columns]
    total = sum(sizes)
    if slices <= 1 or len(sizes) <= 1 or total == 0:
        return [(0, len(sizes))]
    target = total / slices
    ranges, start, filled = [], 0, 0
    for i, size in enumerate(sizes):
        filled += size
        if filled >= target * (len(ranges) + 1) and i + 1 < len(sizes) and len(ranges) + 1 < slices:
            ranges.append((start, i + 1))
            start = i + 1
    ranges.append((start, len(sizes)))
    return ranges


def encode_column_slice(table: Any, schema: Any, options: dict[str, Any], columns: tuple[int, int],
                        row_group_size: int) -> bytes:
    """Columns [start, stop) of `table` (one row group) as a standalone Parquet file, for
    `RowGroupJoiner.append` with the other slices of the same row group."""
    import pyarrow as pa

    start, stop = columns
    if (start, stop) == (0, table.num_columns):
        return encode_row_group(table, schema, options, row_group_size)
    fields = [schema.field(i) for i in range(start, stop)]
    return encode_row_group(table.select(list(range(start, stop))),
                            pa.schema(fields, metadata=schema.metadata), options, row_group_size)


def file_template(schema: Any, options: dict[str, Any]) -> bytes:
    """`schema` encoded with no rows: the FileMetaData (schema, key-value metadata, column
    orders) of a file whose row groups are appended as column slices."""
    return encode_row_group(schema.empty_table(), schema, options, 1)


class RowGroupJoiner:
    """Appends encoded row groups (from `encode_row_group`, or column slices from
    `encode_column_slice`) to `out` in order; `close` writes the footer."""

    def __init__(self, out: BinaryIO, template: bytes | None = None):
        """`template` (`file_template`): needed when row groups come as column slices; without
        it the footer is the first part's."""
        self.out = out
        self.pos = 0
        self.meta: list[list[Any]] | None = split_file(template)[1] if template else None
        self.row_groups: list[Any] = []
        self.rows = 0

    def append(self, part: bytes | Sequence[bytes]) -> None:
        """Append one row group: a whole part, or the column slices of one row group in column
        order (all of the same rows)."""
        parts = [part] if isinstance(part, (bytes, bytearray, memoryview)) else list(part)
        if len(parts) > 1 and self.meta is None:
            raise ValueError("a row group in column slices needs the file template")
        if not self.row_groups and self.pos == 0:
            self.out.write(MAGIC)
            self.pos = len(MAGIC)
        rows = 0
        merged: list[list[Any]] | None = None
        for piece in parts:
            chunks, meta = split_file(piece)
            if self.meta is None:
                self.meta = meta
            delta = self.pos - len(MAGIC)
            groups = _field(meta, _FMD_ROW_GROUPS)
            for group in (groups[2][1] if groups else []):
                _shift(group, (_RG_FILE_OFFSET,), delta)
                for column in _field(group, _RG_COLUMNS)[2][1]:
                    _shift(column, (_CC_FILE_OFFSET, _CC_OFFSET_INDEX, _CC_COLUMN_INDEX), delta)
                    cmd = _field(column, _CC_META)
                    if cmd is not None:
                        _shift(cmd[2], (_CMD_DATA_PAGE, _CMD_INDEX_PAGE, _CMD_DICT_PAGE, _CMD_BLOOM),
                               delta)
                if len(parts) == 1:
                    ordinal = _field(group, _RG_ORDINAL)
                    if ordinal is not None:
                        ordinal[2] = len(self.row_groups)
                    self.row_groups.append(group)
                elif merged is None:
                    merged = group
                else:
                    _field(merged, _RG_COLUMNS)[2][1].extend(_field(group, _RG_COLUMNS)[2][1])
                    for fid in (_RG_BYTES, _RG_COMPRESSED):
                        total, more = _field(merged, fid), _field(group, fid)
                        if total is not None and more is not None:
                            total[2] += more[2]
            if piece is parts[0]:
                rows = _field(meta, _FMD_NUM_ROWS)[2]
            self.out.write(chunks)
            self.pos += len(chunks)
        if merged is not None:
            ordinal = _field(merged, _RG_ORDINAL)
            if ordinal is not None:
                ordinal[2] = len(self.row_groups)
            self.row_groups.append(merged)
        self.rows += rows

    def close(self) -> None:
        """Write the footer (the template's or the first part's, with every row group and the
        total rows)."""
        if self.meta is None or self.pos == 0:
            return
        meta = [list(f) for f in self.meta]
        _field(meta, _FMD_NUM_ROWS)[2] = self.rows
        groups = _field(meta, _FMD_ROW_GROUPS)
        groups[2] = (_STRUCT, self.row_groups)
        footer = _encode(meta)
        self.out.write(footer)
        self.out.write(struct.pack("<I", len(footer)))
        self.out.write(MAGIC)
