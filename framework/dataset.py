"""Distributed output directories: parts, the manifest that commits them, and the checks on read.

A Dask run writes `part-NNNNN.parquet` files, each through a hidden temporary (`.part-...`,
which `pyarrow.parquet.read_table(DIR)` ignores, as it ignores names starting with '.' or '_'),
and commits the run by renaming `_manifest.json` into place last. The manifest lists every part
with its event range, row count, size and sha256; each part also carries the run id and its
range in its Parquet key-value metadata. A re-run into the directory first removes the old
manifest, so a killed re-run leaves a directory without a manifest (refused on read), never an
old manifest beside new parts.

Every read (`read_manifest`) checks: the manifest's fields; part names (plain file names);
ranges contiguous and disjoint; the event total; each part a regular file of the listed size;
its footer's row count, run id and range; no other file that pyarrow would read as part of the
dataset; and each part's sha256 (`read_manifest(verify_checksums=True)` hashes every part at
once; `ParquetSource` hashes them on a background thread while it decodes and hands out no
block of a part before its digest matched; cost measured in README "Reliability").
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import stat
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from .errors import SourceError
from .paths import PathError

MANIFEST = "_manifest.json"
FORMAT = "metflow-dataset/1"
#: Parquet key-value metadata of a part: the run that wrote it and its event range
META_RUN, META_FIRST, META_EVENTS = "metflow.run_id", "metflow.first", "metflow.n_events"

_PART = re.compile(r"part-\d{5}\.parquet")
#: names a Dask run writes into its directory (parts, manifest, hidden temporaries)
_OURS = re.compile(r"(part-\d{5}\.parquet(\.partial)?|_manifest\.json|\.part-\d{5}\.parquet\.tmp-\d+|"
                   r"\._manifest\.json\.tmp-\d+)")
#: hidden temporaries of killed tasks, removed when a run commits
TEMPORARY = re.compile(r"\.part-\d{5}\.parquet\.tmp-\d+")


@dataclass(frozen=True)
class Part:
    path: str
    first: int
    n_events: int
    bytes: int
    sha256: str


def part_name(index: int) -> str:
    return f"part-{index:05d}.parquet"


def part_metadata(run_id: str, first: int, n_events: int) -> dict[str, str]:
    return {META_RUN: run_id, META_FIRST: str(first), META_EVENTS: str(n_events)}


#: bytes hashed per call: hashlib and readinto release the GIL for a whole chunk, so a thread
#: hashing beside busy job threads takes the GIL back rarely (1 MiB chunks ran at a fifth of
#: the speed: each one waited for the GIL)
HASH_CHUNK = 16 << 20


def sha256_of(path: str) -> str:
    digest = hashlib.sha256()
    buffer = bytearray(HASH_CHUNK)
    view = memoryview(buffer)
    with open(path, "rb", buffering=0) as f:
        while n := f.readinto(buffer):
            digest.update(view[:n])
    return digest.hexdigest()


def is_visible_to_pyarrow(name: str) -> bool:
    """pyarrow's dataset discovery skips names starting with '.' or '_'."""
    return not name.startswith((".", "_"))


def prepare_output_dir(path: str, overwrite: bool, inputs: Iterable[str] = ()) -> str:
    """Make `path` ready for a distributed run's parts (before anything is submitted): created
    when absent; when not empty, refused unless `overwrite`, and then only if it holds nothing
    but a metflow run's files (manifest removed first, then the parts). Returns its absolute path."""
    if os.path.lexists(path) and not os.path.isdir(path):
        raise PathError(f"--output {path} exists and is not a directory (a Dask run writes a "
                        f"directory of parts)")
    real = os.path.realpath(path)
    for source in inputs:
        if os.path.realpath(source) == real or \
                os.path.realpath(source).startswith(real.rstrip(os.sep) + os.sep):
            raise PathError(f"--output {path}: input {source} is inside it: refusing to replace "
                            f"an input")
    if not os.path.isdir(path):
        parent = os.path.dirname(os.path.abspath(path))
        if not os.path.isdir(parent):
            raise PathError(f"--output {path}: directory {parent!r} does not exist")
        os.mkdir(path)
        return os.path.abspath(path)
    entries = sorted(os.listdir(path))
    if entries and not overwrite:
        raise PathError(f"--output {path} is not empty ({len(entries)} entries, e.g. "
                        f"{entries[0]!r}): give --overwrite to replace a previous metflow output")
    foreign = [e for e in entries if not _OURS.fullmatch(e)]
    if foreign:
        raise PathError(f"--output {path} holds files a metflow run did not write "
                        f"({', '.join(foreign[:5])}): refusing to delete them, even with "
                        f"--overwrite")
    if not os.access(path, os.W_OK | os.X_OK):
        raise PathError(f"--output {path} is not writable")
    if MANIFEST in entries:   # first: from now on the directory reads as incomplete
        os.remove(os.path.join(path, MANIFEST))
    for name in entries:
        if name != MANIFEST:
            os.remove(os.path.join(path, name))
    return os.path.abspath(path)


def write_manifest(directory: str, manifest: dict[str, Any]) -> None:
    """Commit a run: the manifest is written to a hidden temporary and renamed into place."""
    tmp = os.path.join(directory, f".{MANIFEST}.tmp-{os.getpid()}")
    with open(tmp, "w") as f:
        json.dump({"format": FORMAT, **manifest}, f, indent=1)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, os.path.join(directory, MANIFEST))


def _field(entry: dict[str, Any], name: str, kind: type, where: str) -> Any:
    value = entry.get(name)
    if not isinstance(value, kind) or isinstance(value, bool):
        raise SourceError(f"{where}: field {name!r} is {value!r}, expected {kind.__name__}")
    return value


def read_manifest(directory: str, verify_checksums: bool = True) -> list[Part]:
    """The parts of a distributed output directory in event order, each checked against the
    manifest (see the module docstring); any mismatch is a SourceError naming part and events."""
    manifest_path = os.path.join(directory, MANIFEST)
    if not os.path.isfile(manifest_path):
        raise SourceError(f"input {directory!r} is a directory without {MANIFEST}: not a complete "
                          f"metflow distributed output (a run that did not finish, or not metflow's)")
    try:
        with open(manifest_path) as f:
            manifest = json.load(f)
    except (OSError, ValueError) as exc:
        raise SourceError(f"{manifest_path}: cannot be read as JSON: {exc}") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        found = manifest.get("format") if isinstance(manifest, dict) else None
        raise SourceError(f"{manifest_path}: format {found!r}, expected {FORMAT!r} (written by "
                          f"another metflow version: run the job again)")
    run_id = _field(manifest, "run_id", str, manifest_path)
    entries = manifest.get("parts")
    if not isinstance(entries, list) or not entries:
        raise SourceError(f"{manifest_path}: no parts listed")
    parts: list[Part] = []
    for i, entry in enumerate(entries):
        where = f"{manifest_path}: part {i}"
        if not isinstance(entry, dict):
            raise SourceError(f"{where}: not an object")
        name = _field(entry, "part", str, where)
        if not _PART.fullmatch(name):
            raise SourceError(f"{where}: part name {name!r} is not a part file of this directory")
        first = _field(entry, "first", int, where)
        n = _field(entry, "n_events", int, where)
        size = _field(entry, "bytes", int, where)
        digest = _field(entry, "sha256", str, where)
        if first < 0 or n < 1:
            raise SourceError(f"{where} ({name}): invalid range first={first}, n_events={n}")
        if parts and first != parts[-1].first + parts[-1].n_events:
            prev = parts[-1]
            how = "overlap" if first < prev.first + prev.n_events else "leave a gap between them"
            raise SourceError(f"{manifest_path}: parts {os.path.basename(prev.path)} (events "
                              f"[{prev.first}, {prev.first + prev.n_events})) and {name} (events "
                              f"[{first}, {first + n})) {how}: ranges must be contiguous and "
                              f"disjoint")
        parts.append(Part(os.path.join(directory, name), first, n, size, digest))
    total = _field(manifest, "events", int, manifest_path)
    if total != sum(p.n_events for p in parts):
        raise SourceError(f"{manifest_path}: events {total} but the parts hold "
                          f"{sum(p.n_events for p in parts)}")
    listed = {os.path.basename(p.path) for p in parts}
    stray = [e for e in sorted(os.listdir(directory)) if is_visible_to_pyarrow(e) and e not in listed]
    if stray:
        raise SourceError(f"{directory}: {', '.join(stray[:5])} not listed in {MANIFEST} (a "
                          f"reader of the directory would take it as part of the data)")
    for part in parts:
        _check_part(part, run_id)
    if verify_checksums:
        _check_digests(parts)
    return parts


def _events(part: Part) -> str:
    return f"{part.path} (events [{part.first}, {part.first + part.n_events}))"


def _check_part(part: Part, run_id: str) -> None:
    import pyarrow.parquet as pq

    try:
        st = os.lstat(part.path)
    except FileNotFoundError:
        raise SourceError(f"part {_events(part)} listed in {MANIFEST} is missing") from None
    if not stat.S_ISREG(st.st_mode):
        raise SourceError(f"part {_events(part)} is not a regular file")
    try:
        meta = pq.ParquetFile(part.path).metadata
    except Exception as exc:
        raise SourceError(f"part {_events(part)} is not a readable Parquet file: {exc}") from exc
    if meta.num_rows != part.n_events:
        raise SourceError(f"part {_events(part)} has {meta.num_rows} events, {MANIFEST} says "
                          f"{part.n_events}")
    kv = {k.decode(errors="replace"): v.decode(errors="replace")
          for k, v in (meta.metadata or {}).items()}
    found = (kv.get(META_RUN), kv.get(META_FIRST), kv.get(META_EVENTS))
    if found[0] != run_id:
        raise SourceError(f"part {_events(part)} was written by run {found[0]!r}, not by the run "
                          f"{run_id!r} of {MANIFEST}: parts of two runs are mixed")
    if found[1:] != (str(part.first), str(part.n_events)):
        try:
            held = f"events [{found[1]}, {int(found[1] or 0) + int(found[2] or 0)})"
        except ValueError:
            held = f"first={found[1]!r}, n_events={found[2]!r}"
        raise SourceError(f"part {_events(part)} holds {held} according to its own metadata: "
                          f"a copy of another part")
    if st.st_size != part.bytes:
        raise SourceError(f"part {_events(part)} has {st.st_size} bytes, {MANIFEST} says "
                          f"{part.bytes}")


def digest_mismatch(part: Part, digest: str) -> SourceError:
    return SourceError(f"part {_events(part)}: sha256 {digest[:16]}... differs from {MANIFEST} "
                       f"({part.sha256[:16]}...): the file changed after the run")


def _check_digests(parts: Sequence[Part]) -> None:
    """sha256 of every part, hashed on several threads (hashlib releases the GIL)."""
    workers = max(1, min(len(parts), os.cpu_count() or 1))
    with ThreadPoolExecutor(workers, thread_name_prefix="manifest-sha256") as pool:
        digests = list(pool.map(lambda p: sha256_of(p.path), parts))
    for part, digest in zip(parts, digests):
        if digest != part.sha256:
            raise digest_mismatch(part, digest)
