"""The numba kernels that walk the page headers of a Parquet column chunk and verify its pages'
CRC32 (GIL released: one release per column chunk, however many pages it has).

A page header is a Thrift compact-protocol struct (parquet.thrift PageHeader): field 1 the page
type, 3 the size of the page's bytes as stored after the header, 4 their CRC32 (optional), 5/8
the data page header v1/v2 whose field 1 is the page's value count (7: dictionary page header).
Fields the walk does not need (statistics, encodings, fields of later format versions) are
skipped by type with an explicit stack, so any valid header is walked, and nothing is read
beyond the column chunk.
"""

from __future__ import annotations

import numpy as np

from .jit import kernel


def _crc32_at_intrinsic():
    """`crc32_at(address, pointer, length)`: zlib's CRC32 of `length` bytes at `pointer`,
    computed by the C function at `address`, which has ISA-L's signature
    `uint32 crc32_gzip_refl(uint32 init, const uint8 *buf, uint64 len)`. The address is an
    argument, not a constant, so the kernels that call it are cached like any other."""
    from llvmlite import ir
    from numba.core import types
    from numba.extending import intrinsic

    @intrinsic
    def crc32_at(typingctx, address, pointer, length):
        if not all(isinstance(t, types.Integer) and t.bitwidth == 64
                   for t in (address, pointer, length)):
            return None

        def codegen(context, builder, signature, args):
            bytes_ptr = ir.IntType(8).as_pointer()
            function = ir.FunctionType(ir.IntType(32), [ir.IntType(32), bytes_ptr, ir.IntType(64)])
            call = builder.inttoptr(args[0], function.as_pointer())
            return builder.call(call, [ir.Constant(ir.IntType(32), 0),
                                       builder.inttoptr(args[1], bytes_ptr), args[2]])

        return types.uint32(address, pointer, length), codegen

    return crc32_at


_crc32_at = _crc32_at_intrinsic()

#: columns of the page table `walk_pages` fills, one row per page
HEADER_AT, BODY, SIZE, CRC, HAS_CRC, PAGE_TYPE, NUM_VALUES = range(7)
#: status codes
OK, UNREADABLE, NO_TYPE_OR_SIZE, PAST_CHUNK, NO_VALUE_COUNT, TABLE_FULL, CRC_MISMATCH = range(7)
PROBLEMS = {UNREADABLE: "unreadable page header",
            NO_TYPE_OR_SIZE: "page header without a page type or size",
            PAST_CHUNK: "the page runs past the end of the column chunk",
            NO_VALUE_COUNT: "data page without its header or value count"}
#: PageType values the walk counts values of
_DATA_PAGE, _DATA_PAGE_V2 = 0, 3
#: Thrift compact protocol types
_TRUE, _FALSE, _BYTE, _I16, _I32, _I64, _DOUBLE, _BINARY, _LIST, _SET, _MAP, _STRUCT = range(1, 13)
_MAX_DEPTH = 16   # nesting of structs and containers in a page header (Parquet's is 3)


@kernel(inline="always")
def _varint(buf, pos, limit):
    """(unsigned varint at pos, position after it); position -1 when it runs past `limit` or
    is longer than 64 bits."""
    value = np.uint64(0)
    shift = 0
    while pos < limit and shift < 64:
        byte = np.uint64(buf[pos])
        pos += 1
        value |= (byte & np.uint64(0x7F)) << np.uint64(shift)
        if byte < 0x80:
            return value, pos
        shift += 7
    return value, -1


@kernel(inline="always")
def _zigzag(value):
    signed = np.int64(value >> np.uint64(1))
    return -signed - 1 if value & np.uint64(1) else signed


@kernel
def walk_pages(buf, start, end, table):
    """Walk the pages in buf[start:end] (one column chunk), one row of `table` (int64, 7
    columns) per page. Returns (pages, status, offset of the failing header or of the end,
    the data pages' total value count)."""
    kinds = np.zeros(_MAX_DEPTH, np.int64)      # _STRUCT, _LIST or _MAP
    left = np.zeros(_MAX_DEPTH, np.int64)       # elements still to read (maps: keys + values)
    types = np.zeros(_MAX_DEPTH, np.int64)      # element type (maps: key << 4 | value)
    last_field = np.zeros(_MAX_DEPTH, np.int64)
    counts_values = np.zeros(_MAX_DEPTH, np.bool_)   # the struct is a data page header
    pages = 0
    values = 0
    pos = start
    while pos < end:
        if pages == table.shape[0]:
            return pages, TABLE_FULL, pos, values
        header_at = pos
        page_type = -1
        size = -1
        crc = 0
        has_crc = 0
        num_values = -1
        depth = 0
        kinds[0] = _STRUCT
        last_field[0] = 0
        counts_values[0] = False
        while depth >= 0:
            if pos >= end:
                return pages, UNREADABLE, header_at, values
            kind = kinds[depth]
            field = -1
            in_container = True
            if kind == _STRUCT:
                head = np.int64(buf[pos])
                pos += 1
                if head == 0:
                    depth -= 1
                    continue
                ttype = head & 0x0F
                if head >> 4:
                    field = last_field[depth] + (head >> 4)
                else:
                    raw, pos = _varint(buf, pos, end)
                    if pos < 0:
                        return pages, UNREADABLE, header_at, values
                    field = _zigzag(raw)
                last_field[depth] = field
                in_container = False
            elif left[depth] == 0:
                depth -= 1
                continue
            else:
                left[depth] -= 1
                ttype = types[depth]
                if kind == _MAP:   # keys at odd counts left, values at even
                    ttype = ttype >> 4 if left[depth] % 2 == 1 else ttype & 0x0F
            if ttype == _TRUE or ttype == _FALSE:
                if in_container:
                    pos += 1
            elif ttype == _BYTE:
                pos += 1
            elif ttype == _I16 or ttype == _I32 or ttype == _I64:
                raw, pos = _varint(buf, pos, end)
                if pos < 0:
                    return pages, UNREADABLE, header_at, values
                if ttype == _I32 and not in_container:
                    if depth == 0:
                        if field == 1:
                            page_type = _zigzag(raw)
                        elif field == 3:
                            size = _zigzag(raw)
                        elif field == 4:
                            crc = _zigzag(raw)
                            has_crc = 1
                    elif depth == 1 and counts_values[1] and field == 1:
                        num_values = _zigzag(raw)
            elif ttype == _DOUBLE:
                pos += 8
            elif ttype == _BINARY:
                length, pos = _varint(buf, pos, end)
                if pos < 0 or length > np.uint64(end - pos):
                    return pages, UNREADABLE, header_at, values
                pos += np.int64(length)
            elif ttype == _LIST or ttype == _SET or ttype == _MAP or ttype == _STRUCT:
                if depth + 1 >= _MAX_DEPTH or pos >= end:
                    return pages, UNREADABLE, header_at, values
                depth += 1
                kinds[depth] = _STRUCT if ttype == _STRUCT else (_MAP if ttype == _MAP else _LIST)
                last_field[depth] = 0
                counts_values[depth] = ttype == _STRUCT and depth == 1 and (field == 5 or
                                                                            field == 8)
                if ttype == _LIST or ttype == _SET:
                    head = np.int64(buf[pos])
                    pos += 1
                    types[depth] = head & 0x0F
                    left[depth] = head >> 4
                    if left[depth] == 15:
                        raw, pos = _varint(buf, pos, end)
                        if pos < 0 or raw > np.uint64(end - pos):   # >= a byte per element
                            return pages, UNREADABLE, header_at, values
                        left[depth] = np.int64(raw)
                elif ttype == _MAP:
                    raw, pos = _varint(buf, pos, end)
                    if pos < 0 or raw > np.uint64(end - pos):
                        return pages, UNREADABLE, header_at, values
                    left[depth] = 2 * np.int64(raw)
                    if raw:
                        if pos >= end:
                            return pages, UNREADABLE, header_at, values
                        types[depth] = np.int64(buf[pos])
                        pos += 1
            else:
                return pages, UNREADABLE, header_at, values
        if page_type < 0 or size < 0:
            return pages, NO_TYPE_OR_SIZE, header_at, values
        if pos > end or size > end - pos:
            return pages, PAST_CHUNK, header_at, values
        if page_type == _DATA_PAGE or page_type == _DATA_PAGE_V2:
            if num_values < 0:
                return pages, NO_VALUE_COUNT, header_at, values
            values += num_values
        table[pages, HEADER_AT] = header_at
        table[pages, BODY] = pos
        table[pages, SIZE] = size
        table[pages, CRC] = crc
        table[pages, HAS_CRC] = has_crc
        table[pages, PAGE_TYPE] = page_type
        table[pages, NUM_VALUES] = num_values
        pages += 1
        pos += size
    return pages, OK, pos, values


@kernel
def walk_and_verify(buf, start, end, table, crc32_address):
    """`walk_pages`, then each page's CRC32 where it has one, computed by the C function at
    `crc32_address` (see `_crc32_at`). Returns (pages, status, offset, value count, pages
    verified, 0); with status CRC_MISMATCH the offset is the failing page's header's and the
    last two are the page's row in `table` and its computed CRC."""
    pages, status, where, values = walk_pages(buf, start, end, table)
    if status != OK:
        return pages, status, where, values, 0, np.int64(0)
    base = np.int64(buf.ctypes.data)
    verified = 0
    for i in range(pages):
        if table[i, HAS_CRC]:
            actual = np.int64(_crc32_at(np.int64(crc32_address), base + table[i, BODY],
                                        np.int64(table[i, SIZE])))
            if actual != (table[i, CRC] & 0xFFFFFFFF):
                return pages, CRC_MISMATCH, table[i, HEADER_AT], values, i, actual
            verified += 1
    return pages, OK, where, values, verified, np.int64(0)


@kernel
def verify_chunks(buf, starts, ends, values_expected, table, crc32_address):
    """`walk_and_verify` over several column chunks of one buffer ([starts[i], ends[i])) in one
    call, so the GIL is released once for all of them. Returns (the index of the first chunk
    that fails, or whose page table is too small, or whose data pages do not hold
    `values_expected[i]` values; -1 when none), pages verified before it)."""
    verified = 0
    for i in range(starts.shape[0]):
        pages, status, where, values, done, actual = walk_and_verify(
            buf, starts[i], ends[i], table, crc32_address)
        if status != OK or values != values_expected[i]:
            return i, verified
        verified += done
    return -1, verified
