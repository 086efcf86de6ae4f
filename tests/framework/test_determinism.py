"""Bit-identical Parquet output for any threads / slots / batch size, with random delays."""

import hashlib

import pyarrow.parquet as pq
import pytest

from metflow.framework import Job, ParquetSink, RunOptions, run_job
from toy import AddAll, AddConstant, CountingSource


def six_algorithm_job(path):
    delay = 0.002
    algs = [
        AddConstant(name="A1", result="A", value=1, max_delay=delay),
        AddConstant(name="B1", result="B", value=2, max_delay=delay),
        AddConstant(name="C1", source="A", result="C", value=3, max_delay=delay),
        AddConstant(name="D1", source="B", result="D", value=4, max_delay=delay),
        AddAll(name="E1", parts=["C", "D"], result="E"),
        AddAll(name="F1", parts=["A", "B", "E"], result="F"),
    ]
    return Job(source=CountingSource(40), algorithms=algs,
               sinks=[ParquetSink(path, ["A", "B", "C", "D", "E", "F"], row_group_size=16)])


def digest(path):
    with open(path, "rb") as f:
        file_hash = hashlib.sha256(f.read()).hexdigest()
    return file_hash, pq.read_table(path).num_rows


@pytest.mark.parametrize("threads", [1, 2, 4])
def test_identical_output(tmp_path, threads):
    reference = None
    for slots in (1, 3, 8):
        for batch in (1, 7, 256):
            path = str(tmp_path / f"out_{threads}_{slots}_{batch}.parquet")
            run_job(six_algorithm_job(path), RunOptions(threads=threads, slots=slots,
                                                        batch_size=batch, progress=False))
            result = digest(path)
            assert result[1] == 40
            if reference is None:
                reference = result
            assert result == reference, (threads, slots, batch)
