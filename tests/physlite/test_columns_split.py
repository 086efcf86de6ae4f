"""The PHYSLITE readers' list peeling (`_split`) equals ak.num + ak.flatten on every layout kind
uproot hands out: offsets not starting at 0, contiguous and scattered ListArrays, regular
arrays, option types, strings, two levels."""

from __future__ import annotations

import numpy as np
import pytest

ak = pytest.importorskip("awkward")

from metflow.algorithms.physlite._columns import _split  # noqa: E402


def _reference(array, depth):
    offsets = []
    for _ in range(depth):
        counts = np.asarray(ak.num(array, axis=1), dtype=np.int64)
        offsets.append(np.concatenate([[0], np.cumsum(counts)]))
        array = ak.flatten(array, axis=1)
    return offsets, array


def _layouts():
    values = ak.contents.NumpyArray(np.arange(10, dtype=np.float32))
    yield "offsets from 0", ak.Array([[1.0, 2.0], [], [3.0]])
    yield "offsets not from 0", ak.Array(ak.contents.ListOffsetArray(
        ak.index.Index64(np.array([3, 5, 5, 9])), values))
    yield "contiguous ListArray", ak.Array(ak.contents.ListArray(
        ak.index.Index64(np.array([2, 4, 4])), ak.index.Index64(np.array([4, 4, 7])), values))
    yield "scattered ListArray", ak.Array(ak.contents.ListArray(
        ak.index.Index64(np.array([6, 0, 3])), ak.index.Index64(np.array([9, 2, 3])), values))
    yield "regular", ak.to_regular(ak.Array(np.arange(12).reshape(4, 3)), axis=1)
    yield "sliced events", ak.Array([[1, 2], [3], [], [4, 5, 6]])[1:]
    yield "strings", ak.Array([["RefEle", "Muons"], [], ["FinalTrk"]])
    yield "option lists", ak.Array([[1, None], [2]])
    yield "empty", ak.Array(ak.contents.ListOffsetArray(ak.index.Index64(np.array([4])), values))


@pytest.mark.parametrize("name,array", list(_layouts()), ids=[n for n, _ in _layouts()])
def test_split_one_level_equals_num_and_flatten(name, array):
    (offsets,), flat = _split(array, 1)
    (ref_offsets,), ref_flat = _reference(array, 1)
    np.testing.assert_array_equal(offsets, ref_offsets)
    assert offsets.dtype == np.int64 and offsets[0] == 0
    assert ak.to_list(flat) == ak.to_list(ref_flat)


def test_split_two_levels_with_offsets_not_from_zero():
    inner = ak.contents.ListOffsetArray(ak.index.Index64(np.array([0, 1, 3, 3, 6, 7])),
                                        ak.contents.NumpyArray(np.arange(7, dtype=np.uint32)))
    outer = ak.Array(ak.contents.ListOffsetArray(ak.index.Index64(np.array([1, 3, 5])), inner))
    offsets, flat = _split(outer, 2)
    ref_offsets, ref_flat = _reference(outer, 2)
    for got, want in zip(offsets, ref_offsets):
        np.testing.assert_array_equal(got, want)
    assert ak.to_list(flat) == ak.to_list(ref_flat)
