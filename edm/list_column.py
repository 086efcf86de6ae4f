"""ListColumn: a list-of-index link column (its own offsets + int32 values), and the offset and
column checks the containers share."""

from __future__ import annotations

from typing import Any, Iterable, Iterator, Sequence

import numpy as np

from metflow.edm.errors import SchemaError


# ---------------------------------------------------------------------------------------------
# helpers

def _as_offsets(offsets: Any, *, what: str, key: str | None, column: str | None = None) -> np.ndarray:
    """int64 offsets starting at 0 and non-decreasing; error names the first bad entry."""
    if type(offsets) is np.ndarray and offsets.dtype == np.int64 and offsets.ndim == 1 and \
            offsets.flags.c_contiguous and 0 < offsets.shape[0] <= 2 and offsets[0] == 0 and \
            offsets[-1] >= 0:   # one event: checked without the array operations below
        return offsets
    arr = np.asarray(offsets)
    if arr.ndim != 1 or arr.size == 0:
        raise SchemaError(f"{what} must be a 1-d array with at least one entry", key=key, column=column)
    if arr.dtype.kind not in "iu":
        raise SchemaError(f"{what} must be integers, got {arr.dtype}", key=key, column=column)
    arr = np.ascontiguousarray(arr, dtype=np.int64)
    if arr[0] != 0:
        raise SchemaError(f"{what} must start at 0, starts at {int(arr[0])}", key=key, column=column)
    decreasing = arr[1:] < arr[:-1]
    if decreasing.any():
        i = int(np.argmax(decreasing))
        raise SchemaError(
            f"{what} not monotonic: entry {i + 1} = {int(arr[i + 1])} < entry {i} = {int(arr[i])}",
            key=key, column=column, event=i if what == "offsets" else None)
    return arr


def _as_column(value: Any, dtype: str, *, name: str, key: str | None, n: int) -> np.ndarray:
    arr = np.asarray(value)
    target = np.dtype(dtype)
    if arr.dtype != target:
        if arr.size == 0 and arr.dtype == np.float64:
            arr = arr.astype(target)   # np.asarray([]) is float64
        elif target == np.bool_ and arr.dtype.kind in "iu":
            if arr.size and not np.isin(arr, (0, 1)).all():
                raise SchemaError(f"bool column holds values other than 0/1", key=key, column=name)
            arr = arr.astype(np.bool_)
        elif np.can_cast(arr.dtype, target, casting="same_kind") or (
                arr.dtype.kind in "iu" and target.kind in "iu"):
            if arr.dtype.kind in "iu" and target.kind in "iu" and arr.size:
                info = np.iinfo(target)
                lo, hi = arr.min(), arr.max()
                if lo < info.min or hi > info.max:
                    raise SchemaError(f"values [{lo}, {hi}] do not fit {dtype}", key=key, column=name)
            arr = arr.astype(target)
        else:
            raise SchemaError(f"wrong dtype: expected {dtype}, got {arr.dtype}", key=key, column=name)
    if arr.ndim != 1:
        raise SchemaError(f"column must be 1-d, got shape {arr.shape}", key=key, column=name)
    if arr.shape[0] != n:
        raise SchemaError(f"column has {arr.shape[0]} entries, offsets say {n}", key=key, column=name)
    return np.ascontiguousarray(arr)


def _first_nonfinite(arr: np.ndarray) -> int | None:
    if arr.dtype.kind != "f" or arr.size == 0:
        return None
    ok = np.isfinite(arr)
    if ok.all():
        return None
    return int(np.argmin(ok))


# ---------------------------------------------------------------------------------------------
# ListColumn

class ListColumn:
    """A list-of-index column: ``offsets`` int64[n_objects+1] into ``values`` int32."""

    __slots__ = ("offsets", "values")

    def __init__(self, offsets: Any, values: Any, *, key: str | None = None, column: str | None = None):
        self.offsets = _as_offsets(offsets, what="list offsets", key=key, column=column)
        vals = np.asarray(values)
        if vals.size == 0:
            vals = vals.astype(np.int32)
        if vals.dtype != np.int32:
            if vals.dtype.kind not in "iu":
                raise SchemaError(f"list values must be int32, got {vals.dtype}", key=key, column=column)
            if vals.size and (vals.min() < np.iinfo(np.int32).min or vals.max() > np.iinfo(np.int32).max):
                raise SchemaError("list values do not fit int32", key=key, column=column)
            vals = vals.astype(np.int32)
        if vals.ndim != 1 or vals.shape[0] != self.offsets[-1]:
            raise SchemaError(
                f"list values have {vals.shape[0] if vals.ndim == 1 else vals.shape} entries, "
                f"offsets say {int(self.offsets[-1])}", key=key, column=column)
        self.values = np.ascontiguousarray(vals)

    @classmethod
    def from_lists(cls, lists: Iterable[Sequence[int]]) -> "ListColumn":
        lists = [list(x) for x in lists]
        counts = np.fromiter((len(x) for x in lists), dtype=np.int64, count=len(lists))
        offsets = np.zeros(len(lists) + 1, np.int64)
        np.cumsum(counts, out=offsets[1:])
        values = np.fromiter((v for x in lists for v in x), dtype=np.int64, count=int(offsets[-1]))
        return cls(offsets, values)

    def __len__(self) -> int:
        return self.offsets.shape[0] - 1

    def __getitem__(self, i: int) -> np.ndarray:
        n = len(self)
        if i < 0:
            i += n
        if not 0 <= i < n:
            raise IndexError(f"list index {i} out of range for {n} lists")
        return self.values[self.offsets[i]:self.offsets[i + 1]]

    def __iter__(self) -> Iterator[np.ndarray]:
        return (self[i] for i in range(len(self)))

    def counts(self) -> np.ndarray:
        return np.diff(self.offsets)

    def tolist(self) -> list[list[int]]:
        return [self[i].tolist() for i in range(len(self))]

    @classmethod
    def from_kernel(cls, offsets: np.ndarray, values: np.ndarray) -> "ListColumn":
        """A frozen list column from a kernel's fresh ``offsets`` (int64[n+1], valid) and
        ``values`` (int32): taken over as they are (nothing converted or re-checked) and made
        read-only. Users build list columns with the checking constructor."""
        out = cls.__new__(cls)
        out.offsets = offsets
        out.values = values
        return out.freeze()

    def slice(self, start: int, stop: int) -> "ListColumn":
        """Lists [start, stop): values are a view, offsets rebased (no re-validation: a
        sub-range of valid offsets is valid)."""
        offsets = self.offsets[start:stop + 1]
        lo = offsets[0]
        out = ListColumn.__new__(ListColumn)
        out.offsets = offsets - lo
        out.values = self.values[lo:offsets[-1]]
        if not self.offsets.flags.writeable:   # a frozen column's slices are frozen
            out.offsets.setflags(write=False)
        return out

    def take(self, index: np.ndarray) -> "ListColumn":
        """Lists selected by an integer index array or a boolean mask (copies)."""
        index = np.asarray(index)
        if index.dtype == np.bool_:
            index = np.flatnonzero(index)
        starts, stops = self.offsets[index], self.offsets[index + 1]
        counts = stops - starts
        offsets = np.zeros(index.shape[0] + 1, np.int64)
        np.cumsum(counts, out=offsets[1:])
        pos = np.repeat(starts - offsets[:-1], counts) + np.arange(offsets[-1], dtype=np.int64)
        return ListColumn(offsets, self.values[pos])

    @staticmethod
    def concatenate(columns: Sequence["ListColumn"]) -> "ListColumn":
        if not columns:
            return ListColumn(np.zeros(1, np.int64), np.zeros(0, np.int32))
        shifts = np.cumsum([0] + [int(c.offsets[-1]) for c in columns[:-1]])
        offsets = np.concatenate([columns[0].offsets[:1]] + [c.offsets[1:] + s for c, s in zip(columns, shifts)])
        return ListColumn(offsets, np.concatenate([c.values for c in columns]))

    def freeze(self) -> "ListColumn":
        self.offsets.setflags(write=False)
        self.values.setflags(write=False)
        return self

    def equals(self, other: object) -> bool:
        return (isinstance(other, ListColumn) and np.array_equal(self.offsets, other.offsets)
                and np.array_equal(self.values, other.values))

    def to_arrow(self):
        import pyarrow as pa
        return pa.ListArray.from_arrays(pa.array(self.offsets.astype(np.int32)), pa.array(self.values))

    @classmethod
    def from_arrow(cls, array, *, key: str | None = None, column: str | None = None) -> "ListColumn":
        import pyarrow as pa
        if not (pa.types.is_list(array.type) or pa.types.is_large_list(array.type)):
            raise SchemaError(f"wrong type: expected list<int32>, got {array.type}", key=key, column=column)
        if array.null_count:
            raise SchemaError("null list entries", key=key, column=column)
        if array.type.value_type != pa.int32():
            raise SchemaError(f"wrong type: expected list<int32>, got {array.type}", key=key, column=column)
        offsets = np.asarray(array.offsets.to_numpy(zero_copy_only=False), dtype=np.int64)
        values = _list_values(array, offsets)
        if values.null_count:
            raise SchemaError("null values inside lists", key=key, column=column)
        return cls(offsets - offsets[0], values.to_numpy(zero_copy_only=True), key=key, column=column)

    def __repr__(self) -> str:
        return f"ListColumn(n_lists={len(self)}, n_values={self.values.shape[0]})"


def _list_values(array, offsets: np.ndarray):
    """The values of a null-free list array's lists (``array.flatten()`` without the compute
    function call, which dominates the decode of small blocks)."""
    return array.values.slice(int(offsets[0]), int(offsets[-1] - offsets[0]))
