"""Arguments that used to be accepted silently (replaced by defaults, ignored, or processing
something else than asked) are refused with exit code 2, or reported when the input is short."""

from __future__ import annotations

import os

import pyarrow.parquet as pq
import pytest

from metflow.cli import main

from reliability_helpers import assert_clean_error, job


@pytest.mark.parametrize("args,needle", [
    (["--threads", "0"], "--threads must be an integer >= 1, got 0"),
    (["--threads", "-1"], "--threads must be an integer >= 1, got -1"),
    (["--slots", "0"], "--slots must be an integer >= 1"),
    (["--batch-size", "0"], "--batch-size must be an integer >= 1"),
    (["-n", "0"], "-n/--events must be an integer >= 1"),
    (["--skip", "-3"], "--skip must be an integer >= 0"),
    (["--skip", "40"], "--skip 40: the input has only 40 events"),
    (["--executor", "dask", "--workers", "0"], "--workers must be >= 1, got 0"),
    (["--executor", "dask", "--partitions", "0"], "--partitions must be >= 1, got 0"),
    (["--workers", "2"], "--workers is only used with --executor dask"),
    (["--partitions", "2"], "--partitions is only used with --executor dask"),
    (["--failed-events", "f.json"], "--failed-events is written only with --on-error skip"),
])
def test_invalid_run_arguments_exit_2(tmp_path, capsys, args, needle):
    marker = tmp_path / "started"
    code = main(["run", job("counting"), "-q", "--set", f"test.marker={marker}", "--output",
                 str(tmp_path / "out"), *args])
    assert code == 2
    assert_clean_error(capsys.readouterr().err, needle)
    assert not marker.exists() and not (tmp_path / "out").exists()


def test_more_events_than_the_input_says_how_many_ran(counting_input, tmp_path, capsys):
    out = tmp_path / "copy.parquet"
    assert main(["run", job("counting"), "--input", str(counting_input), "-n", "100",
                 "--skip", "10", "--output", str(out)]) == 0
    captured = capsys.readouterr()
    assert "-n 100 asked for more events than the input has after --skip 10: processing 30" \
        in captured.err
    assert "events: 30 (of 100 asked for)" in captured.out
    assert pq.read_metadata(out).num_rows == 30


@pytest.mark.parametrize("alias", ["same path", "hard link"])
def test_same_input_twice_is_refused(counting_input, tmp_path, capsys, alias):
    again = str(counting_input)
    if alias == "hard link":
        again = str(tmp_path / "again.parquet")
        os.link(counting_input, again)
    assert main(["run", job("counting"), "--input", str(counting_input), again, "-q",
                 "--output", str(tmp_path / "copy.parquet")]) == 2
    assert_clean_error(capsys.readouterr().err, "is given twice", "processed twice")


def test_synthetic_flags_with_input_are_refused(counting_input, tmp_path, capsys):
    assert main(["run", "met_reco", "--input", str(counting_input), "--set", "synthetic.mu=60",
                 "-q", "--output", str(tmp_path / "out.parquet")]) == 2
    assert_clean_error(capsys.readouterr().err, "synthetic.mu", "not used with --input")


def test_input_to_a_job_that_reads_none_is_refused(counting_input, capsys):
    assert main(["run", "demo", "--input", str(counting_input), "-q"]) == 2
    assert_clean_error(capsys.readouterr().err, "does not read --input files")
