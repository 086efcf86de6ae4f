"""Parquet page checksums: every page metflow writes carries a CRC32, and a flipped bit in a data
page stops the read with an error naming the file, key and events instead of a changed value."""

from __future__ import annotations

import pyarrow.parquet as pq
import pytest

from metflow.cli import main

from reliability_helpers import assert_clean_error, job


def _silent_flip(path, column, rg):
    """Flip one bit of `column`'s pages in row group `rg` such that a reader that does not
    verify checksums decodes different values without any error (what the checksums are for);
    returns the events of the row group."""
    meta = pq.ParquetFile(path).metadata
    names = [meta.schema.column(i).path for i in range(meta.num_columns)]
    chunk = meta.row_group(rg).column(names.index(column))
    start = chunk.dictionary_page_offset if chunk.has_dictionary_page else chunk.data_page_offset
    original = path.read_bytes()
    expected = pq.ParquetFile(path).read_row_group(rg).column(column).to_pylist()
    for offset in range(chunk.total_compressed_size // 2, chunk.total_compressed_size):
        data = bytearray(original)
        data[start + offset] ^= 0x04
        path.write_bytes(bytes(data))
        try:
            got = pq.ParquetFile(path, page_checksum_verification=False).read_row_group(rg)
        except Exception:   # noqa: BLE001 - this flip is caught by decoding anyway: try another
            continue
        if got.column(column).to_pylist() != expected:
            first = sum(meta.row_group(i).num_rows for i in range(rg))
            return first, first + meta.row_group(rg).num_rows
    raise AssertionError("no silent bit flip found")


def test_flipped_bit_in_a_data_page_is_an_error(tmp_path, capsys):
    source = tmp_path / "big.parquet"
    assert main(["run", job("counting"), "--output", str(source), "-q", "--set",
                 "test.events=6000", "--set", "test.row_group=2000"]) == 0
    first, last = _silent_flip(source, "Plus", 1)
    code = main(["run", job("counting"), "--input", str(source), "--output",
                 str(tmp_path / "copy.parquet"), "-q"])
    assert code == 1
    err = capsys.readouterr().err
    assert_clean_error(err, str(source), "key 'Plus'", f"events [{first}, {last})",
                       "CRC checksum verification failed")
    assert not (tmp_path / "copy.parquet").exists()


def test_every_page_written_by_metflow_carries_a_checksum(tmp_path):
    source = tmp_path / "small.parquet"
    assert main(["run", job("counting"), "--output", str(source), "-q"]) == 0
    # pyarrow does not expose page headers: a reader that verifies checksums finds one on
    # every page, so a flipped bit anywhere in any page fails (checked page by page)
    meta = pq.ParquetFile(source).metadata
    original = source.read_bytes()
    for rg in range(meta.num_row_groups):
        for c in range(meta.num_columns):
            chunk = meta.row_group(rg).column(c)
            data = bytearray(original)
            start = chunk.dictionary_page_offset if chunk.has_dictionary_page else \
                chunk.data_page_offset
            data[start + chunk.total_compressed_size - 1] ^= 0x01
            source.write_bytes(bytes(data))
            with pytest.raises(OSError, match="CRC"):
                pq.ParquetFile(source, page_checksum_verification=True).read_row_group(rg)
    source.write_bytes(original)


def test_edm_writer_and_reader_carry_and_verify_checksums(tmp_path):
    """write_parquet / ParquetStreamWriter (generate, import-physlite) write page checksums and
    read_parquet verifies them: a silent bit flip is an error naming the file."""
    import numpy as np

    from metflow.edm.containers import EVENT_INFO_SCHEMA, EventRecord
    from metflow.edm.errors import EDMError
    from metflow.edm.persistence import read_parquet, write_parquet

    n = 3000
    path = tmp_path / "edm.parquet"
    info = EventRecord(EVENT_INFO_SCHEMA, dict(
        run_number=np.full(n, 7), event_number=np.arange(n), mu=np.linspace(0, 60, n),
        weight=np.ones(n)), key="EventInfo")
    write_parquet(path, {"EventInfo": info})
    assert read_parquet(path)["EventInfo"].n_events == n
    meta = pq.ParquetFile(path).metadata
    names = [meta.schema.column(i).path for i in range(meta.num_columns)]
    chunk = meta.row_group(0).column(names.index("EventInfo.mu"))
    original = path.read_bytes()
    expected = pq.read_table(path).column("EventInfo").to_pylist()
    for offset in range(chunk.total_compressed_size // 2, chunk.total_compressed_size):
        data = bytearray(original)
        data[chunk.data_page_offset + offset] ^= 0x04
        path.write_bytes(bytes(data))
        try:
            got = pq.ParquetFile(path, page_checksum_verification=False).read().column("EventInfo")
        except Exception:   # noqa: BLE001 - caught by decoding anyway: try another bit
            continue
        if got.to_pylist() != expected:
            break
    else:
        raise AssertionError("no silent bit flip found")
    with pytest.raises(EDMError, match=r"CRC checksum verification failed.*edm\.parquet"):
        read_parquet(path)
