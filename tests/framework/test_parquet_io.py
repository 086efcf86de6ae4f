import re

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from metflow.framework import Job, ParquetSink, ParquetSource, RunOptions, SourceError, run_job
from toy import AddConstant, CountingSource, Recorder, Sleeper


def write(path, values, row_group_size):
    pq.write_table(pa.table({"Numbers": pa.array(values, pa.int64())}), path,
                   row_group_size=row_group_size)


def test_source_reads_blocks_across_files_and_row_groups(tmp_path):
    a, b = str(tmp_path / "a.parquet"), str(tmp_path / "b.parquet")
    write(a, np.arange(0, 13), 4)
    write(b, np.arange(13, 20), 3)
    source = ParquetSource([a, b], decode=lambda key, arr: arr.to_numpy())
    assert source.n_events() == 20 and source.keys() == ["Numbers"]
    sink = Recorder(["Plus"])
    run_job(Job(source=source, algorithms=[AddConstant()], sinks=[sink]),
            RunOptions(batch_size=5, threads=2, progress=False))
    assert sink.values("Plus").tolist() == list(range(1, 21))
    assert source.read(11, 4)["Numbers"].tolist() == [11, 12, 13, 14]


def test_source_errors_name_the_file(tmp_path):
    with pytest.raises(SourceError, match="does not exist"):
        ParquetSource([str(tmp_path / "missing.parquet")])
    bad = tmp_path / "bad.parquet"
    bad.write_bytes(b"PAR1 this is not parquet")
    with pytest.raises(SourceError, match="bad.parquet"):
        ParquetSource([str(bad)])
    good = str(tmp_path / "good.parquet")
    write(good, np.arange(100), 10)
    data = open(good, "rb").read()
    truncated = tmp_path / "truncated.parquet"
    truncated.write_bytes(data[: len(data) // 2])
    with pytest.raises(SourceError, match="truncated.parquet"):
        ParquetSource([str(truncated)])


def test_sink_writes_atomically(tmp_path):
    path = str(tmp_path / "out.parquet")
    run_job(Job(source=CountingSource(10), algorithms=[AddConstant()],
                sinks=[ParquetSink(path, ["Numbers", "Plus"])]),
            RunOptions(batch_size=3, progress=False))
    table = pq.read_table(path)
    assert table.column("Plus").to_pylist() == list(range(1, 11))
    assert not any(p.name.startswith("out.parquet.tmp") for p in tmp_path.iterdir())


class Sliceable:
    """A decoded column with the generic protocol the source slices by (n_events, slice, freeze);
    counts how often the source decoded rows."""

    decoded_rows: list[int] = []

    def __init__(self, values):
        self.values = values
        self.n_events = len(values)

    def slice(self, start, stop):
        return Sliceable(self.values[start:stop])

    def freeze(self):
        self.values.flags.writeable = False
        return self

    def __array__(self, dtype=None, copy=None):
        return self.values

    def __add__(self, other):
        return self.values + other


def sliceable_decode(key, array):
    values = array.to_numpy()
    if (values < 0).any():
        raise ValueError(f"negative value at row {int(np.argmax(values < 0))}")
    Sliceable.decoded_rows.append(len(values))
    return Sliceable(values)


@pytest.mark.parametrize("read_ahead", [0, 1, 2])
@pytest.mark.parametrize("threads", [1, 2])
def test_row_groups_decoded_once_and_sliced(tmp_path, read_ahead, threads):
    a, b = str(tmp_path / "a.parquet"), str(tmp_path / "b.parquet")
    write(a, np.arange(0, 40), 16)
    write(b, np.arange(40, 50), 10)
    Sliceable.decoded_rows = []
    source = ParquetSource([a, b], decode=sliceable_decode, read_ahead=read_ahead)
    sink = Recorder(["Numbers"])
    run_job(Job(source=source, sinks=[sink]), RunOptions(batch_size=4, threads=threads, progress=False))
    assert sink.values("Numbers").tolist() == list(range(50))
    # each row group decoded once, whole (batch 4 divides every row group but the last of a.parquet)
    assert sorted(Sliceable.decoded_rows) == [8, 10, 16, 16]
    # a block across row groups (and files) is decoded from its own rows; served blocks are read-only
    Sliceable.decoded_rows = []
    block = source.read(30, 14)["Numbers"]
    assert block.values.tolist() == list(range(30, 44)) and not block.values.flags.writeable
    assert 14 in Sliceable.decoded_rows
    single = source.read(17, 1)["Numbers"]
    assert single.values.tolist() == [17] and not single.values.flags.writeable
    source.close()


def test_a_row_group_served_out_is_never_read_again_ahead_of_need(tmp_path):
    """A thread waiting for row group 0 helps with the next ones, and read-ahead queues the
    next ones: neither reads row group 1 again once all its rows were handed out (another thread
    was ahead), which made "decoded once" fail now and then with 2 threads and read-ahead."""
    path = str(tmp_path / "a.parquet")
    write(path, np.arange(0, 48), 16)
    Sliceable.decoded_rows = []
    source = ParquetSource([path], decode=sliceable_decode, read_ahead=0)
    source.read(16, 16)   # row group 1, all of it
    assert Sliceable.decoded_rows == [16]
    with source._cache_lock:
        waiting = source._new_entry((0, 0))
    source.read_ahead = 1
    with source._cache_lock:
        source._queue_ahead((0, 0))   # the row group after 0 is served out: nothing queued
    assert source._ahead_queue.empty()
    source._help((0, 0), waiting)   # helps with row group 2 only
    assert sorted(Sliceable.decoded_rows) == [16, 16] and (0, 1) not in source._cache
    source.close()


def test_decode_error_concerns_only_the_block_with_the_bad_event(tmp_path):
    path = str(tmp_path / "bad_value.parquet")
    values = np.arange(32)
    values[13] = -5
    write(path, values, 32)
    source = ParquetSource([path], decode=sliceable_decode, read_ahead=0)
    sink = Recorder(["Numbers"])
    result = run_job(Job(source=source, sinks=[sink]),
                     RunOptions(batch_size=8, on_error="skip", progress=False))
    assert [(f.first, f.n_events) for f in result.failed] == [(8, 8)]
    assert "bad_value.parquet" in result.failed[0].message
    assert "'Numbers' for events [8, 16): negative value at row 5" in result.failed[0].message
    assert sink.values("Numbers").tolist() == [*range(8), *range(16, 32)]
    with pytest.raises(SourceError, match=r"'Numbers' for events \[12, 14\).*negative value at row 1"):
        ParquetSource([path], decode=sliceable_decode).read(12, 2)


def test_read_ahead_must_be_a_non_negative_integer(tmp_path):
    path = str(tmp_path / "n.parquet")
    write(path, np.arange(4), 4)
    with pytest.raises(SourceError, match="read_ahead"):
        ParquetSource([path], read_ahead=-1)


def corrupt_row_group(path, rg_index, column_index):
    """Overwrite the data page bytes of one column chunk of one row group with garbage."""
    meta = pq.ParquetFile(path).metadata
    chunk = meta.row_group(rg_index).column(column_index)
    start = chunk.data_page_offset + 8
    data = bytearray(open(path, "rb").read())
    data[start:start + 40] = b"\xff" * 40
    open(path, "wb").write(bytes(data))


@pytest.mark.parametrize("threads", [1, 2, 3])
def test_corrupt_row_group_names_file_column_and_row_group(tmp_path, threads):
    """A damaged column chunk fails the blocks of its row group (no hang with waiting threads);
    with on_error='skip' every event of the other row groups is still delivered, in order."""
    path = str(tmp_path / "damaged.parquet")
    n = 4000
    table = pa.table({"Numbers": pa.array(np.arange(n), pa.int64()),
                      "Other": pa.array(np.random.default_rng(1).normal(size=n))})
    pq.write_table(table, path, row_group_size=1000, compression="zstd")
    corrupt_row_group(path, 2, 0)
    source = ParquetSource([path], decode=lambda key, arr: arr.to_numpy())
    with pytest.raises(Exception, match=r"damaged.parquet") as info:
        run_job(Job(source=source, sinks=[Recorder(["Numbers"])]),
                RunOptions(batch_size=250, threads=threads, progress=False))
    text = str(info.value) + str(info.value.__cause__)
    assert "'Numbers'" in text and "row group 2" in text
    assert re.search(r"events \[2[0-9]{3}, 2[0-9]{3}\)", text)   # a block of row group 2
    sink = Recorder(["Numbers", "Other"])
    result = run_job(Job(source=ParquetSource([path], decode=lambda key, arr: arr.to_numpy()),
                         sinks=[sink]),
                     RunOptions(batch_size=250, threads=threads, on_error="skip", progress=False))
    assert sorted((f.first, f.n_events) for f in result.failed) == [(2000 + 250 * i, 250) for i in range(4)]
    assert sink.values("Numbers").tolist() == [*range(2000), *range(3000, 4000)]


def test_threads_waiting_for_a_row_group_decode_its_other_columns(tmp_path):
    """Column-parallel decoding on the job's threads: the thread that needs a row group and the
    threads waiting for it each take unread columns (no background threads)."""
    import threading
    import time

    path = str(tmp_path / "wide.parquet")
    columns = {f"C{i}": pa.array(np.arange(64) * (i + 1), pa.int64()) for i in range(4)}
    pq.write_table(pa.table(columns), path, row_group_size=64)
    decoded_by = {}

    def slow_decode(key, array):   # sliceable: each column is decoded once, for the row group
        time.sleep(0.3)
        decoded_by.setdefault(key, []).append(threading.current_thread().name)
        return Sliceable(array.to_numpy())

    before = threading.active_count()
    source = ParquetSource([path], decode=slow_decode)
    assert source.read_ahead == 0 and not source.arrow_threads
    sink = Recorder(list(columns))
    run_job(Job(source=source, sinks=[sink]), RunOptions(batch_size=32, threads=2, progress=False))
    for i, key in enumerate(columns):
        assert np.concatenate([b[2][key] for b in sink.blocks]).tolist() == (np.arange(64) * (i + 1)).tolist()
    assert all(len(threads) == 1 for threads in decoded_by.values())   # each column once
    assert len({t for threads in decoded_by.values() for t in threads}) == 2   # by both threads
    assert threading.active_count() == before              # nothing left running


def test_row_groups_encoded_apart_and_joined_equal_one_writer(tmp_path):
    """ParquetSink encodes row groups as standalone parts (in parallel) and joins them: the file
    is byte for byte what one ParquetWriter writes (offsets moved, ordinals and row count set)."""
    import io

    import pyarrow as pa
    import pyarrow.parquet as pq

    from metflow.framework.parquet_footer import RowGroupJoiner, encode_row_group

    rng = np.random.default_rng(3)
    n = 1000
    counts = rng.integers(0, 5, n)
    table = pa.table({
        "x": pa.array(rng.normal(size=n).astype(np.float32)),
        "ids": pa.ListArray.from_arrays(np.concatenate([[0], np.cumsum(counts)]).astype(np.int32),
                                        pa.array(rng.integers(0, 9, counts.sum()).astype(np.int32))),
        "flag": pa.array(rng.integers(0, 2, n).astype(bool)),
    }).replace_schema_metadata({"origin": "test"})
    options = {"compression": "zstd", "use_dictionary": ["ids.list.element"],
               "write_page_checksum": True}
    for rows in (128, 300, 1000):
        one = io.BytesIO()
        with pq.ParquetWriter(one, table.schema, **options) as writer:
            writer.write_table(table, row_group_size=rows)
        joined = io.BytesIO()
        joiner = RowGroupJoiner(joined)
        for start in range(0, n, rows):
            joiner.append(encode_row_group(table.slice(start, rows), table.schema, options, rows))
        joiner.close()
        assert joined.getvalue() == one.getvalue()
        assert pq.read_table(io.BytesIO(joined.getvalue())).equals(table)


def test_row_groups_encoded_as_column_slices_equal_one_writer():
    """A row group encoded as column slices (several threads share it) and joined with the file
    template is byte for byte what one ParquetWriter writes, for every way of slicing."""
    import io

    import pyarrow as pa
    import pyarrow.parquet as pq

    from metflow.framework.parquet_footer import (RowGroupJoiner, column_slices,
                                                  encode_column_slice, file_template)

    rng = np.random.default_rng(5)
    n = 900
    counts = rng.integers(0, 4, n)
    offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int32)
    inner = pa.StructArray.from_arrays(
        [pa.array(rng.normal(size=counts.sum())), pa.array(rng.integers(0, 7, counts.sum()))],
        ["pt", "id"])
    table = pa.table({
        "run": pa.array(np.full(n, 7, np.uint32)),
        "jets": pa.ListArray.from_arrays(offsets, inner),
        "x": pa.array(rng.normal(size=n).astype(np.float32)),
        "flag": pa.array(rng.integers(0, 2, n).astype(bool)),
        "ids": pa.ListArray.from_arrays(offsets, pa.array(rng.integers(0, 9, counts.sum()))),
    }).replace_schema_metadata({"origin": "test"})
    options = {"compression": "zstd", "compression_level": 9, "write_page_checksum": True,
               "use_dictionary": ["ids.list.element"]}
    rows = 400
    one = io.BytesIO()
    with pq.ParquetWriter(one, table.schema, **options) as writer:
        writer.write_table(table, row_group_size=rows)
    template = file_template(table.schema, options)
    for slices in (1, 2, 3, 5, 9):
        joined = io.BytesIO()
        joiner = RowGroupJoiner(joined, template)
        for start in range(0, n, rows):
            group = table.slice(start, rows)
            ranges = column_slices(group, slices)
            assert ranges[0][0] == 0 and ranges[-1][1] == table.num_columns
            assert all(a[1] == b[0] for a, b in zip(ranges, ranges[1:]))
            assert len(ranges) <= max(slices, 1)
            joiner.append([encode_column_slice(group, table.schema, options, r, rows)
                           for r in ranges])
        joiner.close()
        assert joined.getvalue() == one.getvalue(), slices
    assert len(column_slices(table, 3)) == 3


def test_sink_output_bytes_do_not_depend_on_threads(tmp_path):
    """Row groups encoded by several job threads are appended in order: same bytes as 1 thread."""
    digests = set()
    for threads in (1, 3):
        out = tmp_path / f"out{threads}.parquet"
        job = Job(source=CountingSource(5000), algorithms=[AddConstant()],
                  sinks=[ParquetSink(str(out), ["Plus", "Numbers"], row_group_size=700)])
        run_job(job, RunOptions(threads=threads, batch_size=64, progress=False))
        digests.add(out.read_bytes())
    assert len(digests) == 1


@pytest.mark.parametrize("threads", [1, 2])
def test_encoding_failure_on_a_job_thread_fails_the_run(tmp_path, threads):
    """A row group that cannot be encoded (here: an unknown codec) is an error of the sink,
    raised in order by a later write or by close, whichever thread encoded it; no output and no
    temporary file are left."""
    from metflow.framework import SinkError

    out = tmp_path / "out.parquet"
    sink = ParquetSink(str(out), ["Plus"], row_group_size=8,
                       writer_options=lambda schema: {"compression": "no-such-codec"})
    job = Job(source=CountingSource(64), algorithms=[AddConstant()], sinks=[sink])
    with pytest.raises(SinkError, match="writing failed"):
        run_job(job, RunOptions(threads=threads, batch_size=4, progress=False))
    assert not out.exists()
    assert [p.name for p in tmp_path.iterdir() if ".tmp-" in p.name] == []


def test_sorting_columns_survive_column_slices(tmp_path):
    """`sorting_columns` number the whole schema's columns; a row group encoded in column slices
    keeps them as one ParquetWriter writes them (the bytes are equal)."""
    def options(schema):
        return {"compression": "zstd", "sorting_columns": [pq.SortingColumn(1)]}

    out = tmp_path / "sorted.parquet"
    job = Job(source=CountingSource(300), algorithms=[AddConstant()],
              sinks=[ParquetSink(str(out), ["Numbers", "Plus"], row_group_size=100,
                                 writer_options=options)])
    run_job(job, RunOptions(threads=2, batch_size=32, progress=False))
    table = pq.read_table(out)
    assert pq.ParquetFile(out).metadata.row_group(2).sorting_columns == (pq.SortingColumn(1),)
    one = tmp_path / "one.parquet"
    with pq.ParquetWriter(one, table.schema, compression="zstd", write_page_checksum=True,
                          sorting_columns=[pq.SortingColumn(1)]) as writer:
        writer.write_table(table, row_group_size=100)
    assert out.read_bytes() == one.read_bytes()


def test_idle_work_reads_the_next_row_group_within_the_run_only(tmp_path):
    """`work()` (a job thread with no task) reads the row group after the one being served, one
    column per call, never one after the run's last event, and only while the cache has room."""
    path = str(tmp_path / "four.parquet")
    pq.write_table(pa.table({"A": pa.array(np.arange(64), pa.int64()),
                             "B": pa.array(np.arange(64) * 2, pa.int64())}), path, row_group_size=16)
    Sliceable.decoded_rows = []
    source = ParquetSource([path], decode=sliceable_decode)
    source.select_events(0, 40)   # row groups 0-2 (event 32-39 is in row group 2)
    assert not source.work_ready() and not source.work()   # nothing served yet
    assert source.read(0, 1)["A"].values.tolist() == [0]
    assert source.work_ready()
    assert source.work() and source.work()   # row group 1, one column each
    assert not source.work() and not source.work_ready()   # both read: nothing left
    assert (0, 1) in source._cache and source._cache[(0, 1)].ready.is_set()
    decoded = len(Sliceable.decoded_rows)
    source.read(16, 16)   # all of row group 1: served from the cache, and row group 2 is next
    assert len(Sliceable.decoded_rows) == decoded
    while source.work():
        pass
    assert (0, 2) in source._cache
    source.read(32, 1)    # row group 2's first rows: row group 3 would be next, but the run ends
    assert not source.work() and (0, 3) not in source._cache and not source.work_ready()
    source.close()


def test_one_event_blocks_have_their_slicing_prepared_by_the_decoding_thread(tmp_path):
    """With blocks of one event, a column decoded whole is sliced once (events [0, 1)) by the
    thread that decodes it, so that a container's one-time preparation of one-event slices runs
    there (in parallel across columns, or on an idle thread reading ahead), not on the thread
    that runs the first block. Larger blocks prepare nothing."""
    import threading

    path = str(tmp_path / "two.parquet")
    pq.write_table(pa.table({"A": pa.array(np.arange(32), pa.int64())}), path, row_group_size=16)
    slicers: list[tuple[tuple[int, int], str]] = []

    class Recording(Sliceable):
        def slice(self, start, stop):
            slicers.append(((start, stop), threading.current_thread().name))
            return Recording(self.values[start:stop])

    source = ParquetSource([path], decode=lambda key, array: Recording(array.to_numpy()))
    assert source.read(0, 1)["A"].values.tolist() == [0]
    assert slicers == [((0, 1), "MainThread")] * 2   # prepared while decoding, then the block
    slicers.clear()
    reader = threading.Thread(target=source.work, name="idle")   # row group 1, read ahead
    reader.start()
    reader.join()
    assert slicers == [((0, 1), "idle")]
    assert source.read(16, 1)["A"].values.tolist() == [16]
    source.close()
    slicers.clear()
    source = ParquetSource([path], decode=lambda key, array: Recording(array.to_numpy()))
    source.read(0, 4)
    assert slicers == [((0, 4), "MainThread")]   # the block's own slice only
    source.close()


def test_a_failing_one_event_slice_fails_its_block_and_never_hangs_the_row_group(tmp_path):
    """The slice the decoding thread takes for one-event blocks may fail: the row group is still
    marked read, so a later read (or a thread waiting for it) goes on, and each block's own
    slice raises."""
    import threading

    path = str(tmp_path / "one.parquet")
    write(path, np.arange(8), 8)

    class Broken(Sliceable):
        def slice(self, start, stop):
            raise ValueError("this container cannot be sliced")

    source = ParquetSource([path], decode=lambda key, array: Broken(array.to_numpy()))
    errors = []

    def read_twice():
        for first in (0, 1):
            try:
                source.read(first, 1)
            except ValueError as exc:
                errors.append(str(exc))

    reader = threading.Thread(target=read_twice, daemon=True)
    reader.start()
    reader.join(30)
    assert not reader.is_alive(), "the second read waits forever for the row group"
    assert errors == ["this container cannot be sliced"] * 2


def test_a_waiting_thread_helps_with_row_groups_of_the_run_only(tmp_path):
    path = str(tmp_path / "a.parquet")
    write(path, np.arange(0, 48), 16)
    Sliceable.decoded_rows = []
    source = ParquetSource([path], decode=sliceable_decode)
    source.select_events(0, 16)
    with source._cache_lock:
        waiting = source._new_entry((0, 0))
    source._help((0, 0), waiting)   # row groups 1 and 2 are not read by this run
    assert Sliceable.decoded_rows == [] and list(source._cache) == [(0, 0)]
    source.close()


class _Tracing(ParquetSource):
    """Records (row group, thread, inside work()) for every column read."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.readers = []

    def _load_column(self, key, entry, column):
        import threading

        self.readers.append((key, threading.current_thread().name, getattr(self._local, "in_work", False)))
        super()._load_column(key, entry, column)

    def work(self):
        self._local.in_work = True
        try:
            return super().work()
        finally:
            self._local.in_work = False


def test_an_idle_thread_reads_ahead_while_chains_run_one_at_a_time(tmp_path):
    """Batch size 1 on two threads, one chain at a time: the other thread, woken when a row
    group starts being served, reads the next one (past the row groups that a thread waiting
    for the first one reads), so the chain thread finds it decoded."""
    from metflow.framework import DataFlowGraph
    from metflow.framework.driver import drive
    from metflow.framework.scheduler import Scheduler

    path = str(tmp_path / "rows.parquet")
    write(path, np.arange(0, 1200), 100)   # more row groups than the cache holds
    source = _Tracing([path], decode=sliceable_decode)
    source.select_events(0, 1200)
    # the sleeper leaves the GIL for a while, as the numba kernels of a chain do
    graph = DataFlowGraph.build([AddConstant(source="Numbers"), Sleeper(source="Plus", seconds=0.0001)],
                                source.keys())
    sched = Scheduler(graph, source, [(i, 1) for i in range(1200)], [], n_slots=3, threads=2)
    sched.concurrency.PARALLEL_MARGIN = float("inf")   # one chain at a time throughout
    seen = []
    drive(sched, lambda block, ctx: seen.append(block), threads=2, idle_work=source.work,
          idle_ready=source.work_ready)
    assert seen == list(range(1200))
    assert sorted(key for key, _, _ in source.readers) == [(0, i) for i in range(12)]   # each once
    ahead = [key for key, _, in_work in source.readers if in_work and key[1] >= ParquetSource.CACHED_ROW_GROUPS]
    assert len(ahead) >= 4, source.readers


@pytest.mark.parametrize("batch_size", [1, 7])
def test_output_with_idle_read_ahead_equals_one_thread(tmp_path, batch_size):
    path = str(tmp_path / "rows.parquet")
    write(path, np.arange(0, 1200), 100)
    outputs = []
    for threads in (1, 2):
        source = _Tracing([path], decode=sliceable_decode)
        sink = Recorder(["Plus"])
        run_job(Job(source=source, algorithms=[AddConstant(source="Numbers")], sinks=[sink]),
                RunOptions(batch_size=batch_size, threads=threads, events=1000, progress=False))
        outputs.append(sink.values("Plus").tolist())
        # each row group of the run read once; none after its last event
        assert sorted(key for key, _, _ in source.readers) == [(0, i) for i in range(10)]
    assert outputs[0] == outputs[1] == list(range(1, 1001))
