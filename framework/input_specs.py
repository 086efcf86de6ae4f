"""Input specifications: what `--input` (and `metflow.analysis`) accept, expanded into the files
a source reads. One spec is, checked in this order:

- a URL `scheme://...`: a `file://` URL becomes its local path (then expanded as a path); any
  other scheme (`root://`, `https://`, `s3://`, ...) passes through unchanged to the reader
  (uproot opens it through fsspec), after checking that fsspec has the scheme's backend
  (else an error naming the URL and the package to install);
- a name ending in `.txt` or `.list`: a file list, one spec per line (a file, directory, glob or
  URL; `#` starts a comment; relative paths are relative to the list's directory);
- a name ending in `.json`, optionally `NAME.json#DATASET`: a coffea-style fileset
  `{"dataset": {"files": {"a.root": "CollectionTree", ...}}}` (or `"files": [...]`, or
  `{"dataset": ["a.root", ...]}`); every dataset in file order, or only DATASET; tree names are
  not used (the reader finds its tree); entries are expanded like a list's;
- an existing directory: a metflow distributed output (it holds `_manifest.json` or parts
  `part-NNNNN.parquet`) stays one input (its reader checks the parts against the manifest, and
  refuses parts without one); any other directory gives its data files (`*.root`, `*.root.N`,
  `*.parquet`; not recursive), sorted by name;
- an existing file: itself;
- a pattern with `*`, `?` or `[` (quote it in a shell): its matches, sorted (`**` recursive);
  a matching directory gives its data files.

Nothing is removed: the same file reached twice stays twice, and the run refuses it
(`framework.paths.check_distinct_inputs`). An empty directory, list, fileset or glob, a
missing path and an unknown dataset are `InputSpecError`s naming the spec.
"""

from __future__ import annotations

import glob
import json
import os
import re
from collections.abc import Iterable, Sequence
from urllib.parse import unquote, urlsplit

from . import dataset as _dataset
from .errors import ConfigurationError, did_you_mean

LIST_SUFFIXES = (".txt", ".list")
FILESET_SUFFIX = ".json"
#: names of the data files a directory contributes
DATA_FILE = re.compile(r".+\.(root(\.\d+)?|parquet)")
_URL = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://")
_GLOB_CHARS = re.compile(r"[*?\[]")


class InputSpecError(ConfigurationError, ValueError):
    """An input specification that gives no file (names the spec); a ValueError too, as the
    analysis API reports bad arguments."""


def is_url(spec: str) -> bool:
    """`scheme://...` (a Windows drive `C:\\` is not one)."""
    return bool(_URL.match(spec))


def is_remote(spec: str) -> bool:
    """A URL other than `file://`: opened through fsspec, never by a local path check."""
    return is_url(spec) and not spec.lower().startswith("file://")


def local_path(spec: str | os.PathLike) -> str:
    """A `file://` URL as its local path (`file:///a/b`, `file://localhost/a/b`, %-escapes
    decoded); anything else unchanged."""
    text = os.fspath(spec)
    if not text.lower().startswith("file://"):
        return text
    parts = urlsplit(text)
    if parts.netloc not in ("", "localhost"):
        raise InputSpecError(f"input {text}: a file:// URL names a local path, not host "
                             f"{parts.netloc!r}: write file:///absolute/path")
    if parts.query:
        raise InputSpecError(f"input {text}: a file:// URL takes no ?query")
    fragment = f"#{parts.fragment}" if parts.fragment else ""   # NAME.json#DATASET
    return unquote(parts.path) + fragment


def check_url_backend(url: str) -> None:
    """Fail clearly when fsspec cannot open `url`'s scheme: the error names the URL and the
    package that provides the backend (e.g. fsspec-xrootd for root://)."""
    scheme = url.split("://", 1)[0].lower()
    try:
        import fsspec
    except ImportError:
        raise InputSpecError(f"input {url}: reading {scheme}:// URLs needs fsspec "
                             f'(pip install fsspec, or pip install "metflow[physlite]")') from None
    try:
        fsspec.get_filesystem_class(scheme)
    except ImportError as exc:
        missing = getattr(exc.__cause__, "name", None) or _backend_module(scheme)
        package = (missing or "").split(".")[0].replace("_", "-")
        hint = f": pip install {package}" if package else ""
        raise InputSpecError(f"input {url}: no fsspec backend for {scheme}:// is installed "
                             f"({exc}){hint}") from None
    except ValueError:
        raise InputSpecError(f"input {url}: fsspec knows no {scheme}:// protocol (nor a "
                             f"package for it); use a local path, file://, root://, "
                             f"http(s):// or another fsspec protocol") from None


def _backend_module(scheme: str) -> str | None:
    """The module fsspec would import for a scheme (its first part names the package)."""
    from fsspec.registry import known_implementations

    return (known_implementations.get(scheme) or {}).get("class")


def expand_inputs(specs: Iterable[str | os.PathLike]) -> list[str]:
    """Every input file, in order, of the given specs (see the module docstring)."""
    files: list[str] = []
    for spec in specs:
        files.extend(_expand(os.fspath(spec), base=None, nested_in=None))
    return files


def _expand(spec: str, base: str | None, nested_in: str | None) -> list[str]:
    """The files of one spec; `base`: the directory relative paths start from (a list's or
    fileset's own); `nested_in`: the list or fileset this spec came from (lists do not nest)."""
    shown = spec if nested_in is None else f"{spec} (in {nested_in})"
    if is_remote(spec):
        check_url_backend(spec)
        return [spec]
    path = local_path(spec)
    if base is not None and not os.path.isabs(path):
        path = os.path.join(base, path)
    name, dataset = path, ""
    marker = path.lower().rfind(FILESET_SUFFIX + "#")
    if marker >= 0:   # NAME.json#DATASET
        name, dataset = path[:marker + len(FILESET_SUFFIX)], path[marker + len(FILESET_SUFFIX) + 1:]
        if not dataset:
            raise InputSpecError(f"input {shown}: '#' without a dataset name (NAME.json#DATASET)")
    lowered = name.lower()
    if lowered.endswith((*LIST_SUFFIXES, FILESET_SUFFIX)) and not os.path.isdir(name):
        if nested_in is not None:
            raise InputSpecError(f"input {shown}: a file list or fileset cannot list another one")
        if not os.path.isfile(name):
            raise InputSpecError(f"input {spec}: {_missing(name)}")
        if lowered.endswith(FILESET_SUFFIX):
            return _fileset(name, dataset, spec)
        return _file_list(name, spec)
    if os.path.isdir(path):
        return _directory(path, shown)
    if os.path.exists(path):
        return [path]
    if _GLOB_CHARS.search(path):
        matches = sorted(glob.glob(path, recursive=True))
        if not matches:
            raise InputSpecError(f"input {shown}: the pattern matches no file")
        files: list[str] = []
        for match in matches:
            files.extend(_directory(match, f"{match} (matched by {shown})")
                         if os.path.isdir(match) else [match])
        return files
    raise InputSpecError(f"input {shown}: {_missing(path)}")


def _missing(path: str) -> str:
    parent = os.path.dirname(os.path.abspath(path))
    where = "" if os.path.isdir(parent) else f" (nor does its directory {parent})"
    return f"{path!r} does not exist{where}"


def _directory(path: str, shown: str) -> list[str]:
    """A metflow distributed output stays itself (also one without its manifest, which its
    reader then refuses as incomplete); another directory gives its data files."""
    try:
        names = sorted(os.listdir(path))
    except OSError as exc:
        raise InputSpecError(f"input {shown}: directory cannot be listed: {exc.strerror}") from None
    if any(n == _dataset.MANIFEST or _dataset._OURS.fullmatch(n) for n in names):
        return [path]
    files = [os.path.join(path, n) for n in names
             if DATA_FILE.fullmatch(n) and not n.startswith(".")
             and os.path.isfile(os.path.join(path, n))]
    if not files:
        others = f" (it holds {len(names)} other entries, e.g. {names[0]!r})" if names else \
            " (it is empty)"
        raise InputSpecError(f"input {shown}: directory has no data files (*.root, *.root.N, "
                             f"*.parquet){others}")
    return files


def _file_list(path: str, spec: str) -> list[str]:
    """One spec per line; '#' comments; relative to the list's directory."""
    try:
        with open(path, encoding="utf-8") as f:
            lines = f.read().splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise InputSpecError(f"input {spec}: file list cannot be read: {exc}") from None
    base = os.path.dirname(os.path.abspath(path))
    files: list[str] = []
    for number, line in enumerate(lines, 1):
        entry = _strip_comment(line)
        if entry:
            files.extend(_expand(entry, base, f"{spec} line {number}"))
    if not files:
        raise InputSpecError(f"input {spec}: file list names no file (one path or URL per line, "
                             f"'#' comments)")
    return files


def _strip_comment(line: str) -> str:
    """A line without its comment: '#' at the start or after a blank (a URL may hold '#')."""
    stripped = line.strip()
    if stripped.startswith("#"):
        return ""
    return re.split(r"\s#", stripped, maxsplit=1)[0].strip()


def _fileset(path: str, dataset: str, spec: str) -> list[str]:
    """A coffea-style fileset: {dataset: {"files": {path: tree} | [paths]} | [paths]}."""
    try:
        with open(path, encoding="utf-8") as f:
            content = json.load(f)
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise InputSpecError(f"input {spec}: fileset cannot be read as JSON: {exc}") from None
    if not isinstance(content, dict) or not content:
        raise InputSpecError(f"input {spec}: a fileset is a JSON object of datasets, "
                             f'{{"name": {{"files": {{"a.root": "CollectionTree"}}}}}}, got '
                             f"{type(content).__name__ if content else 'an empty one'}")
    if dataset:
        if dataset not in content:
            raise InputSpecError(f"input {spec}: no dataset {dataset!r}"
                                 f"{did_you_mean(dataset, list(content))}; datasets: "
                                 f"{list(content)}")
        chosen = {dataset: content[dataset]}
    else:
        chosen = content
    base = os.path.dirname(os.path.abspath(path))
    files: list[str] = []
    for name, value in chosen.items():
        where = f"{spec} dataset {name!r}"
        entries = _dataset_entries(value, where)
        if not entries:
            raise InputSpecError(f"input {where}: lists no file")
        for entry in entries:
            files.extend(_expand(entry, base, where))
    return files


def _dataset_entries(value: object, where: str) -> Sequence[str]:
    if isinstance(value, dict):
        if "files" not in value:
            raise InputSpecError(f"input {where}: a dataset object needs 'files' (found keys "
                                 f"{sorted(value)})")
        value = value["files"]
    if isinstance(value, dict):
        value = list(value)
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise InputSpecError(f"input {where}: files must be a list of paths or an object "
                             f"{{path: tree name}}, got {value!r:.80}")
    return value


__all__ = ["InputSpecError", "expand_inputs", "is_url", "is_remote", "local_path",
           "check_url_backend", "DATA_FILE", "LIST_SUFFIXES", "FILESET_SUFFIX"]
