import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from metflow.framework import Job, ParquetSink, ParquetSource, RunOptions, SourceError, run_job
from toy import AddConstant, CountingSource, Recorder


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
