"""--input specs (framework.input_specs): directories, globs, file lists, coffea filesets and
URLs expand to the files a source reads; empty, missing and unknown specs are errors naming
the spec; the run's checks (same file twice, output equal to an input) see the expanded files."""

from __future__ import annotations

import json
import os

import pyarrow.parquet as pq
import pytest

from metflow.cli import main
from metflow.framework.input_specs import (InputSpecError, check_url_backend, expand_inputs,
                                           is_remote, local_path)

JOB = os.path.join(os.path.dirname(__file__), "jobs", "partitioned.py")


def touch(path, text="x"):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return str(path)


@pytest.fixture
def data(tmp_path):
    """data/{b.root, a.root, c.parquet, d.root.1, notes.txt, .hidden.root, sub/e.root}"""
    d = tmp_path / "data"
    for name in ("b.root", "a.root", "c.parquet", "d.root.1", ".hidden.root", "sub/e.root"):
        touch(d / name)
    touch(d / "notes.md")
    return d


def test_plain_files_stay_in_order(data):
    files = [str(data / "b.root"), str(data / "a.root")]
    assert expand_inputs(files) == files


def test_directory_gives_its_data_files_sorted(data):
    assert expand_inputs([str(data)]) == [str(data / n) for n in
                                          ("a.root", "b.root", "c.parquet", "d.root.1")]


@pytest.mark.parametrize("names", [("_manifest.json", "part-00000.parquet"),
                                   ("part-00000.parquet", "part-00001.parquet")])
def test_metflow_output_directory_stays_one_input(tmp_path, names):
    """With its manifest or without (a run that did not finish: its reader refuses it)."""
    for name in names:
        touch(tmp_path / "out" / name)
    assert expand_inputs([str(tmp_path / "out")]) == [str(tmp_path / "out")]


@pytest.mark.parametrize("content", [(), ("readme.md",)])
def test_directory_without_data_files_is_an_error(tmp_path, content):
    (tmp_path / "empty").mkdir()
    for name in content:
        touch(tmp_path / "empty" / name)
    with pytest.raises(InputSpecError, match=r"empty.*has no data files") as err:
        expand_inputs([str(tmp_path / "empty")])
    assert ("readme.md" in str(err.value)) == bool(content)


def test_glob_matches_sorted_and_recursive(data):
    assert expand_inputs([str(data / "*.root")]) == [str(data / "a.root"), str(data / "b.root")]
    assert expand_inputs([str(data / "**" / "e.root")]) == [str(data / "sub" / "e.root")]
    # a matching directory gives its data files
    assert expand_inputs([str(data / "su?")]) == [str(data / "sub" / "e.root")]


def test_glob_matching_nothing_is_an_error(data):
    with pytest.raises(InputSpecError, match=r"\*\.nothing: the pattern matches no file"):
        expand_inputs([str(data / "*.nothing")])


def test_file_list_comments_and_relative_entries(data, tmp_path):
    listing = touch(data / "files.list", "# my dataset\n\nb.root   # first\n"
                    f"{data / 'a.root'}\nsub\n*.parquet\n")
    assert expand_inputs([listing]) == [str(data / "b.root"), str(data / "a.root"),
                                        str(data / "sub" / "e.root"), str(data / "c.parquet")]
    txt = touch(tmp_path / "files.txt", f"file://{data / 'a.root'}\n")
    assert expand_inputs([txt]) == [str(data / "a.root")]


@pytest.mark.parametrize("text,needle", [
    ("# only comments\n\n", "file list names no file"),
    ("missing.root\n", r"missing\.root \(in .*files\.txt line 1\).*does not exist"),
    ("other.txt\n", "cannot list another one"),
])
def test_file_list_errors(tmp_path, text, needle):
    listing = touch(tmp_path / "files.txt", text)
    touch(tmp_path / "other.txt", "a.root\n")
    with pytest.raises(InputSpecError, match=needle):
        expand_inputs([listing])


def test_missing_list_is_an_error_naming_it(tmp_path):
    with pytest.raises(InputSpecError, match=r"nope\.txt.*does not exist"):
        expand_inputs([str(tmp_path / "nope.txt")])


def fileset(tmp_path, content, name="fileset.json"):
    return touch(tmp_path / name, json.dumps(content))


def test_fileset_forms_and_datasets(data, tmp_path):
    a, b, c = (str(data / n) for n in ("a.root", "b.root", "c.parquet"))
    spec = fileset(tmp_path, {
        "zee": {"files": {a: "CollectionTree", "data/b.root": {"object_path": "CollectionTree"}},
                "metadata": {"xsec": 1.0}},
        "ttbar": [c],
        "more": {"files": ["data/*.root"]},
    })
    assert expand_inputs([spec]) == [a, b, c, a, b]   # every dataset, in file order
    assert expand_inputs([spec + "#ttbar"]) == [c]
    assert expand_inputs([f"file://{spec}#zee"]) == [a, b]


@pytest.mark.parametrize("content,suffix,needle", [
    ({"zee": ["a.root"]}, "#ttbar", r"no dataset 'ttbar'.*datasets: \['zee'\]"),
    ({"zee": ["a.root"]}, "#", "without a dataset name"),
    ({"zee": []}, "", "dataset 'zee'.*lists no file"),
    ({"zee": {"files": {}}}, "", "dataset 'zee'.*lists no file"),
    ({"zee": {"metadata": {}}}, "", "needs 'files'"),
    ({"zee": {"files": 3}}, "", "files must be a list of paths"),
    ({}, "", "a fileset is a JSON object of datasets"),
    (["a.root"], "", "a fileset is a JSON object of datasets"),
    ({"zee": ["missing.root"]}, "", r"missing\.root \(in .*dataset 'zee'\).*does not exist"),
])
def test_fileset_errors(tmp_path, content, suffix, needle):
    touch(tmp_path / "a.root")
    spec = fileset(tmp_path, content)
    with pytest.raises(InputSpecError, match=needle):
        expand_inputs([spec + suffix])


def test_fileset_that_is_not_json(tmp_path):
    spec = touch(tmp_path / "fileset.json", "{not json")
    with pytest.raises(InputSpecError, match="fileset cannot be read as JSON"):
        expand_inputs([spec])


def test_file_urls_are_local_paths(data):
    a = str(data / "a.root")
    assert local_path(f"file://{a}") == a
    assert local_path(f"file://localhost{a}") == a
    assert expand_inputs([f"file://{a}", f"file://{data}/*.parquet"]) == \
        [a, str(data / "c.parquet")]
    spaced = touch(data / "with space.root")
    assert expand_inputs([f"file://{str(data)}/with%20space.root"]) == [spaced]
    with pytest.raises(InputSpecError, match="not host 'data'"):
        expand_inputs(["file://data/a.root"])
    assert not is_remote(f"file://{a}") and is_remote("root://host//a.root")


def test_remote_urls_pass_through_unchanged():
    urls = ["memory://bucket/a.root", "https://example.org/data/a.root?x=1#y"]
    assert expand_inputs(urls) == urls


def test_missing_fsspec_backend_names_url_and_package(monkeypatch):
    from fsspec.registry import known_implementations

    monkeypatch.setitem(known_implementations, "metflowtest",
                        {"class": "metflow_no_such_backend.FileSystem",
                         "err": "Install metflow-no-such-backend to read metflowtest://"})
    with pytest.raises(InputSpecError) as err:
        expand_inputs(["metflowtest://server//store/a.root"])
    message = str(err.value)
    assert "metflowtest://server//store/a.root" in message
    assert "pip install metflow-no-such-backend" in message
    assert "does not exist" not in message


def test_root_url_without_xrootd_says_what_to_install():
    try:
        import fsspec_xrootd  # noqa: F401
        pytest.skip("fsspec-xrootd is installed: root:// URLs pass through")
    except ImportError:
        pass
    with pytest.raises(InputSpecError, match=r"root://eos\.example//a\.root.*pip install "
                                             r"fsspec-xrootd"):
        check_url_backend("root://eos.example//a.root")


def test_unknown_scheme_is_an_error():
    with pytest.raises(InputSpecError, match="fsspec knows no nosuchscheme:// protocol"):
        expand_inputs(["nosuchscheme://x/a.root"])


def test_missing_path_is_an_error_naming_it(tmp_path):
    with pytest.raises(InputSpecError, match=r"input .*nothere\.root: .* does not exist"):
        expand_inputs([str(tmp_path / "nothere.root")])


# -- the run: a job on expanded inputs ------------------------------------------------------

@pytest.fixture
def parquet_inputs(tmp_path):
    """in/{a,b}.parquet: 70 and 130 events of the counting job."""
    folder = tmp_path / "in"
    folder.mkdir()
    for name, n in (("a", 70), ("b", 130)):
        assert main(["run", JOB, "--output", str(folder / f"{name}.parquet"), "-q",
                     "--set", f"test.events={n}"]) == 0
    return folder


def test_run_on_a_directory_glob_list_and_url_equals_the_files(parquet_inputs, tmp_path):
    files = [str(parquet_inputs / "a.parquet"), str(parquet_inputs / "b.parquet")]
    expected = tmp_path / "files.parquet"
    assert main(["run", JOB, "--input", *files, "--output", str(expected), "-q"]) == 0
    listing = touch(tmp_path / "inputs.txt", "# both\nin/a.parquet\nin/b.parquet\n")
    sets = fileset(tmp_path, {"counts": {"files": {"in/a.parquet": "", f"file://{files[1]}": ""}}})
    for i, specs in enumerate([[str(parquet_inputs)], [str(parquet_inputs / "*.parquet")],
                               [listing], [sets + "#counts"], [f"file://{files[0]}", files[1]]]):
        out = tmp_path / f"out{i}.parquet"
        assert main(["run", JOB, "--input", *specs, "--output", str(out), "-q"]) == 0, specs
        assert pq.read_table(out).equals(pq.read_table(expected)), specs


def test_same_file_twice_after_expansion_is_refused(parquet_inputs, tmp_path, capsys):
    assert main(["run", JOB, "--input", str(parquet_inputs), str(parquet_inputs / "a.parquet"),
                 "-q", "--output", str(tmp_path / "out.parquet")]) == 2
    err = capsys.readouterr().err
    assert "is given twice" in err and "processed twice" in err


def test_output_equal_to_an_expanded_input_is_refused(parquet_inputs, capsys):
    target = parquet_inputs / "b.parquet"
    before = target.read_bytes()
    assert main(["run", JOB, "--input", f"file://{parquet_inputs}/*.parquet", "-q",
                 "--output", str(target)]) == 2
    assert "is an input of this run" in capsys.readouterr().err
    assert target.read_bytes() == before


@pytest.mark.parametrize("spec,needle", [
    ("empty", "has no data files"), ("*.nothing", "matches no file"),
    ("nothere.root", "does not exist"), ("list.txt", "names no file"),
])
def test_run_with_an_empty_spec_exits_2(tmp_path, capsys, spec, needle):
    (tmp_path / "empty").mkdir()
    touch(tmp_path / "list.txt", "# nothing\n")
    assert main(["run", JOB, "--input", str(tmp_path / spec), "-q",
                 "--output", str(tmp_path / "out.parquet")]) == 2
    err = capsys.readouterr().err
    assert needle in err and str(tmp_path / spec) in err and "Traceback" not in err
    assert not (tmp_path / "out.parquet").exists()
