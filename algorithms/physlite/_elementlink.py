"""Decoder for ``std::vector<ElementLink<...>>`` written member-wise in a TTree branch.

uproot reads such a branch as if each element were (key, index) pairs, which is wrong: ROOT
writes the vector member-wise. One entry is: a byte count (uint32, bit 0x40000000 set), the
vector's version (uint16, bit 0x4000 = member-wise), the element class version (int16) followed,
when that version is <= 0, by the element class checksum (uint32), the element count n (uint32),
then the n ``m_persKey`` values and then the n ``m_persIndex`` values (all uint32, big-endian).
"""

from __future__ import annotations

import numpy as np

from metflow.framework.jit import kernel

_BYTECOUNT_FLAG = 0x40000000
_MEMBERWISE_FLAG = 0x4000

# Error codes of the kernel (0 = fine).
_ERRORS = {
    1: "entry shorter than the member-wise header",
    2: "byte count flag (0x40000000) missing",
    3: "byte count disagrees with the entry size",
    4: "vector not written member-wise (version bit 0x4000 missing)",
    5: "element count disagrees with the entry size",
}


@kernel
def _u32(buf, pos):
    return (np.uint32(buf[pos]) << np.uint32(24)) | (np.uint32(buf[pos + 1]) << np.uint32(16)) \
        | (np.uint32(buf[pos + 2]) << np.uint32(8)) | np.uint32(buf[pos + 3])


@kernel
def _header(buf, start, end):
    """Return (error code, element count, position of the first key)."""
    if end - start < 12:
        return 1, 0, start
    bytecount = _u32(buf, start)
    if (bytecount & np.uint32(_BYTECOUNT_FLAG)) == 0:
        return 2, 0, start
    if np.int64(bytecount & np.uint32(~_BYTECOUNT_FLAG & 0xFFFFFFFF)) + 4 != end - start:
        return 3, 0, start
    version = (np.int64(buf[start + 4]) << 8) | np.int64(buf[start + 5])
    if (version & _MEMBERWISE_FLAG) == 0:
        return 4, 0, start
    element_version = np.int16((np.int64(buf[start + 6]) << 8) | np.int64(buf[start + 7]))
    pos = start + 8
    if element_version <= 0:
        pos += 4  # class checksum
    if pos + 4 > end:
        return 1, 0, start
    n = np.int64(_u32(buf, pos))
    pos += 4
    if pos + 8 * n != end:
        return 5, 0, start
    return 0, n, pos


@kernel
def _count(buf, entry_offsets, counts):
    for i in range(len(entry_offsets) - 1):
        err, n, _ = _header(buf, entry_offsets[i], entry_offsets[i + 1])
        if err != 0:
            return err, i
        counts[i] = n
    return 0, -1


@kernel
def _fill(buf, entry_offsets, link_offsets, keys, indices):
    for i in range(len(entry_offsets) - 1):
        _, n, pos = _header(buf, entry_offsets[i], entry_offsets[i + 1])
        out = link_offsets[i]
        for j in range(n):
            keys[out + j] = _u32(buf, pos + 4 * j)
            indices[out + j] = _u32(buf, pos + 4 * (n + j))


class MemberwiseDecodeError(ValueError):
    """An entry does not have the member-wise vector<ElementLink> layout."""

    def __init__(self, entry: int, reason: str):
        self.entry = entry
        self.reason = reason
        super().__init__(f"entry {entry}: {reason}")


def decode_memberwise_links(buf: np.ndarray, entry_offsets: np.ndarray):
    """Decode raw entry bytes into (link offsets int64[n_entries+1], keys uint32, indices uint32).

    ``buf`` holds the concatenated bytes of the entries, ``entry_offsets`` their boundaries.
    Raises :class:`MemberwiseDecodeError` naming the first bad entry (relative to the block).
    """
    buf = np.ascontiguousarray(buf, dtype=np.uint8)
    entry_offsets = np.ascontiguousarray(entry_offsets, dtype=np.int64)
    counts = np.zeros(len(entry_offsets) - 1, dtype=np.int64)
    err, entry = _count(buf, entry_offsets, counts)
    if err:
        raise MemberwiseDecodeError(int(entry), _ERRORS[int(err)])
    link_offsets = np.zeros(len(counts) + 1, dtype=np.int64)
    np.cumsum(counts, out=link_offsets[1:])
    keys = np.empty(link_offsets[-1], dtype=np.uint32)
    indices = np.empty(link_offsets[-1], dtype=np.uint32)
    _fill(buf, entry_offsets, link_offsets, keys, indices)
    return link_offsets, keys, indices


def encode_memberwise_links(link_offsets, keys, indices, checksum: int = 0xA706700B):
    """Inverse of :func:`decode_memberwise_links` (for tests): bytes and entry offsets."""
    chunks = []
    for i in range(len(link_offsets) - 1):
        k = np.asarray(keys[link_offsets[i]:link_offsets[i + 1]], dtype=">u4")
        x = np.asarray(indices[link_offsets[i]:link_offsets[i + 1]], dtype=">u4")
        body = (np.array([_MEMBERWISE_FLAG | 9, 0], dtype=">u2").tobytes()
                + np.array([checksum, len(k)], dtype=">u4").tobytes() + k.tobytes() + x.tobytes())
        chunks.append(np.array([_BYTECOUNT_FLAG | len(body)], dtype=">u4").tobytes() + body)
    sizes = np.array([len(c) for c in chunks], dtype=np.int64)
    offsets = np.zeros(len(chunks) + 1, dtype=np.int64)
    np.cumsum(sizes, out=offsets[1:])
    return np.frombuffer(b"".join(chunks), dtype=np.uint8), offsets
