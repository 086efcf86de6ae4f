"""MapCheckedParquetSource checks the association maps once per decoded row group (issue 17,
batch 1): blocks sliced from a row group whose maps passed are not checked again, while a bad
map still fails the read of exactly the block that holds the bad event, naming the file and
the absolute event, at batch 1 as at a large batch."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import metflow.algorithms.physlite.source as source_module
from metflow.algorithms.physlite.source import MapCheckedParquetSource
from metflow.cli import main
from metflow.edm import keys as K
from metflow.edm import persistence
from metflow.edm.errors import LinkError
from metflow.edm.met import MissingETAssociationMap

N_EVENTS = 90
ROW_GROUP = 30
MAP = K.met_assoc_key("AntiKt4EMPFlow")


@pytest.fixture(scope="module")
def reco_file(tmp_path_factory):
    """A met_reco output rewritten in row groups of 30 events (3 row groups)."""
    folder = tmp_path_factory.mktemp("map_rg")
    path = folder / "met_reco.parquet"
    assert main(["run", "met_reco", "-n", str(N_EVENTS), "--output", str(path), "-q"]) == 0
    grouped = folder / "grouped.parquet"
    pq.write_table(pq.read_table(path), grouped, row_group_size=ROW_GROUP)
    assert pq.ParquetFile(grouped).metadata.num_row_groups == N_EVENTS // ROW_GROUP
    return grouped


def _count_checks(monkeypatch) -> list[int]:
    """The `first` of every check_block call made by the source module."""
    calls: list[int] = []
    real = source_module.check_block

    def counting(block, **kwargs):
        calls.append(kwargs.get("first", 0))
        return real(block, **kwargs)

    monkeypatch.setattr(source_module, "check_block", counting)
    return calls


def _source(path) -> MapCheckedParquetSource:
    return MapCheckedParquetSource([str(path)], decode=persistence.decode)


def test_maps_checked_once_per_row_group_at_batch_1(reco_file, monkeypatch):
    calls = _count_checks(monkeypatch)
    src = _source(reco_file)
    blocks = [src.read(i, 1) for i in range(N_EVENTS)]
    assert calls == [0, ROW_GROUP, 2 * ROW_GROUP]   # one per row group, none per block
    assert all(isinstance(b[MAP], MissingETAssociationMap) for b in blocks)


def test_block_across_row_groups_is_checked_per_block(reco_file, monkeypatch):
    calls = _count_checks(monkeypatch)
    src = _source(reco_file)
    src.read(ROW_GROUP - 5, 10)   # events 25..34: two row groups, decoded from its own rows
    assert ROW_GROUP - 5 in calls


def test_a_column_decoded_per_block_keeps_the_per_block_check(reco_file, monkeypatch):
    """A column whose whole-row-group decode fails is decoded per block (it could be a map), so
    the row group's blocks are checked one by one."""
    calls = _count_checks(monkeypatch)

    def decode(key, array, **kwargs):
        if key == K.MUONS and len(array) == ROW_GROUP:
            raise ValueError("refused whole")
        return persistence.decode(key, array, **kwargs)

    src = MapCheckedParquetSource([str(reco_file)], decode=decode)
    for i in range(3):
        src.read(i, 1)
    assert calls == [0, 1, 2]


def _corrupt_muon_link(src_path, dst_path, event):
    """A copy with one Muons link of `event` moved past the end of that event's muons."""
    table = pq.read_table(src_path)
    reference = persistence.read_parquet(src_path)
    m = reference[MAP]
    muons = m.container_keys.index(K.MUONS)
    events = m.assoc_event()[m.obj_assoc()]
    candidates = np.flatnonzero((m.obj_container == muons) & (events == event))
    assert candidates.size, f"event {event} has no muon in the map"
    obj = int(candidates[0])
    n_muons = int(reference[K.MUONS].counts()[event])
    col = table.column(MAP).combine_chunks()
    fields = list(col.type)
    children = dict(zip([f.name for f in fields], col.flatten()))
    lst = children["obj_index"]
    values = lst.values.to_numpy(zero_copy_only=False).copy()
    values[obj] = n_muons
    children["obj_index"] = pa.ListArray.from_arrays(lst.offsets, pa.array(values, lst.type.value_type),
                                                     type=lst.type)
    new = pa.StructArray.from_arrays([children[f.name] for f in fields], fields=fields)
    index = table.schema.get_field_index(MAP)
    table = table.set_column(index, pa.field(MAP, new.type, nullable=table.schema.field(MAP).nullable), new)
    pq.write_table(table, dst_path, row_group_size=ROW_GROUP)
    return dst_path


def _event_with_muon(path, lo, hi) -> int:
    m = persistence.read_parquet(path)[MAP]
    muons = m.container_keys.index(K.MUONS)
    events = m.assoc_event()[m.obj_assoc()][m.obj_container == muons]
    return int(events[(events >= lo) & (events < hi)][0])


@pytest.mark.parametrize("batch,read_ahead", [(1, 0), (7, 0), (64, 0), (1, 2)])
def test_bad_link_fails_exactly_its_block_naming_file_and_absolute_event(reco_file, tmp_path, batch,
                                                                         read_ahead):
    """Also with row groups decoded (and checked) ahead on background threads."""
    event = _event_with_muon(reco_file, ROW_GROUP + 1, 2 * ROW_GROUP)   # in the second row group
    bad = _corrupt_muon_link(reco_file, tmp_path / "bad.parquet", event)
    src = MapCheckedParquetSource([str(bad)], decode=persistence.decode, read_ahead=read_ahead)
    failed = []
    for first in range(0, N_EVENTS, batch):
        n = min(batch, N_EVENTS - first)
        try:
            src.read(first, n)
        except LinkError as exc:
            failed.append((first, n, exc))
    assert len(failed) == 1, [(f, n) for f, n, _ in failed]
    first, n, exc = failed[0]
    assert first <= event < first + n
    assert exc.event == event and exc.source == str(bad)
    assert "points past the end of 'Muons'" in str(exc)
    src.close()
