"""Blocks cut [skip, skip + n) into batch_size events and never straddle two input files when
the source reports its files' event counts (PHYSLITE readers decode a file's baskets whole)."""

from __future__ import annotations

import pytest

from metflow.framework.runner import EventBlocks, event_blocks, source_file_events


def _covers(blocks, start, stop):
    firsts = [f for f, _ in blocks]
    assert firsts == sorted(firsts) and all(n > 0 for _, n in blocks)
    assert [e for f, n in blocks for e in range(f, f + n)] == list(range(start, stop))


@pytest.mark.parametrize("batch", [1, 7, 64, 256, 1000])
@pytest.mark.parametrize("skip,events", [(0, None), (150, 200), (99, 2), (0, 37)])
def test_blocks_stay_inside_files(batch, skip, events):
    counts = [100, 0, 35, 100, 265]
    starts = [0, 100, 100, 135, 235]
    blocks = event_blocks(sum(counts), skip, events, batch, counts)
    stop = sum(counts) if events is None else skip + events
    _covers(list(blocks), skip, stop)
    for first, n in blocks:
        file_start = max(s for s in starts if s <= first)
        file_stop = min([s for s in starts if s > first] + [sum(counts)])
        assert first + n <= file_stop and n <= batch, (first, n, file_start)
    assert len(blocks) == len(list(blocks)) and blocks[-1] == list(blocks)[-1]


def test_without_files_blocks_are_plain_batches():
    assert list(event_blocks(500, 10, None, 256)) == [(10, 256), (266, 234)]
    assert list(EventBlocks(0, 500, 256, boundaries=[0, 500])) == [(0, 256), (256, 244)]


def test_index_errors_and_slices():
    blocks = EventBlocks(0, 300, 64, boundaries=[100, 200])
    assert blocks[1:3] == [(64, 36), (100, 64)]
    with pytest.raises(IndexError):
        blocks[len(blocks)]


def test_source_file_events():
    class Files:
        def file_event_counts(self):
            return [3, 4]
    assert source_file_events(Files()) == [3, 4]
    assert source_file_events(object()) is None
