"""Errors, not tracebacks: bad ROOT files given to the MET jobs, a plugin whose constructor
raises, a ConfigurationError from initialize() (also under --dry-run), and one event-number
style everywhere (the absolute index, plus run and event number where the input has them)."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from metflow.cli import main

from reliability_helpers import PHYSLITE_DATA, assert_clean_error, job


@pytest.fixture(scope="module")
def bad_root_files(tmp_path_factory):
    uproot = pytest.importorskip("uproot")
    source = PHYSLITE_DATA / "PHYSLITE_Run2_Zee_example.root"
    if not source.exists():
        pytest.skip(f"{source} not present")
    folder = tmp_path_factory.mktemp("root")
    with uproot.recreate(folder / "not_physlite.root") as f:
        f["Events"] = {"x": np.arange(10)}
    data = source.read_bytes()
    (folder / "truncated.root").write_bytes(data[: len(data) // 2])
    return folder


@pytest.mark.parametrize("job_name", ["met_reco", "met_rebuild"])
@pytest.mark.parametrize("kind,needle", [("not_physlite", "not a PHYSLITE file"),
                                         ("truncated", "truncated ROOT file")])
def test_bad_root_file_is_a_clean_error(bad_root_files, capsys, job_name, kind, needle):
    path = str(bad_root_files / f"{kind}.root")
    assert main(["run", job_name, "--input", path, "-n", "5", "-q", "--output",
                 str(bad_root_files / "out.parquet")]) == 2
    assert_clean_error(capsys.readouterr().err, path, needle)


def test_plugin_constructor_that_raises_names_its_distribution(fake_plugins, capsys):
    assert main(["run", job("plugin_user"), "--set", "test.algorithm=BadInit", "-q"]) == 2
    assert_clean_error(capsys.readouterr().err, "BadInit.__init__", "plugin distribution 'badplug'",
                       "RuntimeError: calibration file missing")


@pytest.mark.parametrize("dry_run", [False, True])
def test_configuration_error_in_initialize_exits_2(tmp_path, capsys, dry_run):
    ran = tmp_path / "ran"
    code = main(["run", job("bad_initialize"), "-q", "--set", f"test.ran={ran}",
                 *(["--dry-run"] if dry_run else [])])
    assert code == 2
    assert_clean_error(capsys.readouterr().err, "NeedsCalibration", "initialize()",
                       "property 'calibration' is empty")
    assert not ran.exists()


def test_source_error_names_the_absolute_event_and_its_run_and_event_number(tmp_path, capsys):
    """A non-finite value in event 1235: the block is events [1024, 1280), and the decoder's
    index within the block (211) must not be what the user reads."""
    from metflow.bench import generate_input

    path = tmp_path / "events.parquet"
    generate_input(str(path), events=1300, process="zmumu", mu=10, seed=3, row_group_size=1300)
    table = pq.read_table(path)
    info = table.column("EventInfo").combine_chunks()
    mu = info.field("mu").to_numpy().copy()
    mu[1235] = np.nan
    fields = {f.name: info.field(f.name) for f in info.type}
    fields["mu"] = pa.array(mu, pa.float32())
    table = table.set_column(table.schema.get_field_index("EventInfo"), "EventInfo",
                             pa.StructArray.from_arrays(list(fields.values()), list(fields)))
    pq.write_table(table, path)
    run, event = (int(info.field(f)[1235].as_py()) for f in ("run_number", "event_number"))
    assert main(["run", "met_reco", "--input", str(path), "-q", "--output",
                 str(tmp_path / "out.parquet")]) == 1
    err = capsys.readouterr().err
    assert_clean_error(err, str(path), "'EventInfo'", "events [1024, 1280)",
                       f"event 1235 (run_number {run}, event_number {event})")
    assert "event 211" not in err


def test_algorithm_error_names_the_absolute_event(tmp_path, capsys):
    first, second = tmp_path / "a.parquet", tmp_path / "b.parquet"
    for path in (first, second):
        assert main(["run", job("counting"), "--output", str(path), "-q"]) == 0
    code = main(["run", job("counting"), "--input", str(first), str(second), "-q",
                 "--batch-size", "1", "--set", "test.fail_at=47"])
    assert code == 1
    assert_clean_error(capsys.readouterr().err, "event 47 of events [47, 48)",
                       "ValueError: injected failure (Numbers 7)",   # event 7 of the second file
                       algorithm_traceback=True)
