"""Data never lost or clobbered: an output is never an input (by any path), never replaces a
non-regular file, a symlink writes its target, and every path a run writes is checked before
the first event."""

from __future__ import annotations

import os
import stat

import pyarrow.parquet as pq
import pytest

from metflow.cli import main

from reliability_helpers import PHYSLITE_DATA, assert_clean_error, job


def _output_aliases(tmp_path, source):
    """The input under another name: itself, a path with '..', a hard link, a symlink."""
    (tmp_path / "sub").mkdir()
    os.link(source, tmp_path / "hard.parquet")
    os.symlink(source, tmp_path / "soft.parquet")
    return {"same": str(source), "other path": str(tmp_path / "sub" / ".." / source.name),
            "hard link": str(tmp_path / "hard.parquet"), "symlink": str(tmp_path / "soft.parquet")}


@pytest.mark.parametrize("alias", ["same", "other path", "hard link", "symlink"])
def test_output_equal_to_input_is_refused(tmp_path, counting_input, capsys, alias):
    before = counting_input.read_bytes()
    output = _output_aliases(tmp_path, counting_input)[alias]
    code = main(["run", job("counting"), "--input", str(counting_input), "--output", output, "-q"])
    assert code == 2
    assert_clean_error(capsys.readouterr().err, "is an input of this run", "refusing to overwrite")
    assert counting_input.read_bytes() == before


@pytest.mark.parametrize("kind", ["/dev/null", "fifo", "directory"])
def test_non_regular_output_is_never_replaced(tmp_path, capsys, kind):
    target = {"/dev/null": "/dev/null", "fifo": str(tmp_path / "fifo"),
              "directory": str(tmp_path / "dir")}[kind]
    if kind == "fifo":
        os.mkfifo(target)
    elif kind == "directory":
        os.mkdir(target)
    mode = os.stat(target).st_mode
    code = main(["run", job("counting"), "--output", target, "-q"])
    assert code == 2
    assert_clean_error(capsys.readouterr().err, target, "refusing to replace it")
    assert os.stat(target).st_mode == mode and not stat.S_ISREG(mode)
    assert not os.path.exists(target + ".partial")


def test_symlink_output_writes_its_target(tmp_path, capsys):
    target, link = tmp_path / "data" / "real.parquet", tmp_path / "link.parquet"
    target.parent.mkdir()
    os.symlink(target, link)
    assert main(["run", job("counting"), "--output", str(link), "-q"]) == 0
    assert os.path.islink(link) and os.readlink(link) == str(target)
    assert pq.read_table(target).column("Numbers").to_pylist() == list(range(40))
    assert sorted(os.listdir(tmp_path / "data")) == ["real.parquet"]   # no temporary left


@pytest.mark.parametrize("option", ["--output", "--timeline", "--failed-events"])
def test_every_output_path_is_checked_before_the_first_event(tmp_path, capsys, option):
    marker = tmp_path / "started"
    paths = {"--output": str(tmp_path / "out.parquet"), "--timeline": str(tmp_path / "t.json"),
             "--failed-events": str(tmp_path / "failed.json")}
    paths[option] = str(tmp_path / "missing" / "x.json")
    args = ["run", job("counting"), "-q", "--set", f"test.marker={marker}", "--on-error", "skip"]
    for name, path in paths.items():
        args += [name, path]
    assert main(args) == 2
    assert_clean_error(capsys.readouterr().err, option.lstrip("-"), paths[option], "does not exist")
    assert not marker.exists()            # no event was processed
    assert os.listdir(tmp_path) == []     # and nothing was written


def test_two_outputs_of_one_run_must_differ(tmp_path, capsys):
    out = str(tmp_path / "out.parquet")
    assert main(["run", job("counting"), "-q", "--output", out, "--timeline", out]) == 2
    assert_clean_error(capsys.readouterr().err, "two outputs of one run cannot be the same file")


def _physlite_file():
    path = PHYSLITE_DATA / "PHYSLITE_Run2_Zee_example.root"
    if not path.exists():
        pytest.skip(f"{path} not present")
    pytest.importorskip("uproot")
    return path


def test_import_physlite_writes_into_the_working_directory(tmp_path, monkeypatch, capsys):
    source = _physlite_file()
    readonly = tmp_path / "readonly"
    readonly.mkdir()
    copy = readonly / source.name
    copy.write_bytes(source.read_bytes())
    readonly.chmod(0o555)
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    try:
        assert main(["import-physlite", str(copy), "-n", "5"]) == 0
    finally:
        readonly.chmod(0o755)
    assert sorted(os.listdir(readonly)) == [source.name]
    assert pq.read_metadata(work / (source.stem + ".parquet")).num_rows == 5


@pytest.mark.parametrize("alias", ["same", "hard link", "symlink"])
def test_import_physlite_never_overwrites_its_input(tmp_path, capsys, alias):
    source = _physlite_file()
    copy = tmp_path / "in.root"
    copy.write_bytes(source.read_bytes())
    output = {"same": copy, "hard link": tmp_path / "h.parquet", "symlink": tmp_path / "s.parquet"}[alias]
    if alias == "hard link":
        os.link(copy, output)
    elif alias == "symlink":
        os.symlink(copy, output)
    assert main(["import-physlite", str(copy), "-o", str(output)]) == 2
    assert_clean_error(capsys.readouterr().err, "is an input of this run")
    assert copy.read_bytes() == source.read_bytes()


def test_generate_never_replaces_a_device(capsys):
    code = main(["generate", "--process", "zmumu", "--events", "2", "--output", "/dev/null"])
    err = capsys.readouterr().err
    if "not available in this installation" in err:
        pytest.skip("metflow generate needs the gen extra")
    assert code == 2
    assert_clean_error(err, "/dev/null is a character device")
    assert stat.S_ISCHR(os.stat("/dev/null").st_mode)
