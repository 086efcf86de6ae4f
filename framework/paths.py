"""Checks of the files a run reads and writes, made before the first event.

An output is refused when it is an input (by any path, symlink or hard link), when it exists
and is not a regular file (a device, a FIFO, a directory: the final rename would replace it),
when its directory does not exist or is not writable, or when two outputs of one run are the
same file. A symlink output is followed: the run writes (and renames onto) its target. An input
given twice, by any path, is refused too: its events would be processed twice.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterable, Sequence

from .errors import ConfigurationError, SinkError


class PathError(ConfigurationError):
    """An input or output path is refused before the run starts (names the option and path)."""


def file_id(path: str) -> tuple[int, int] | None:
    """(device, inode) of an existing file (symlinks followed), None when it does not exist."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_dev, st.st_ino


def written_path(path: str) -> str:
    """The file a run writes for `path`: the target of a symlink (followed), else `path`."""
    return os.path.realpath(path) if os.path.islink(path) else path


def _kind(mode: int) -> str:
    for test, name in ((stat.S_ISDIR, "a directory"), (stat.S_ISCHR, "a character device"),
                       (stat.S_ISBLK, "a block device"), (stat.S_ISFIFO, "a FIFO"),
                       (stat.S_ISSOCK, "a socket")):
        if test(mode):
            return name
    return "not a regular file"


def check_output(path: str, what: str = "--output", inputs: Iterable[str] = ()) -> str:
    """Refuse an output that would destroy something; returns the file that will be written."""
    target = written_path(path)
    shown = path if target == path else f"{path} (a symlink to {target})"
    try:
        st = os.stat(target)
    except FileNotFoundError:
        st = None
    except OSError as exc:
        raise PathError(f"{what} {shown}: cannot be checked: {exc.strerror}") from None
    if st is not None and not stat.S_ISREG(st.st_mode):
        raise PathError(f"{what} {shown} is {_kind(st.st_mode)}: refusing to replace it "
                        f"(outputs are written to a temporary file and renamed over the path)")
    directory = os.path.dirname(os.path.abspath(target))
    if not os.path.isdir(directory):
        raise PathError(f"{what} {shown}: directory {directory!r} does not exist")
    if not os.access(directory, os.W_OK | os.X_OK):
        raise PathError(f"{what} {shown}: directory {directory!r} is not writable")
    if st is not None:
        here = (st.st_dev, st.st_ino)
        for source in inputs:
            if file_id(source) == here:
                same = "" if os.path.abspath(source) == os.path.abspath(path) else \
                    f" (the same file as input {source})"
                raise PathError(f"{what} {shown} is an input of this run{same}: refusing to "
                                f"overwrite it")
    partial = target + ".partial"
    if os.path.lexists(partial) and not os.path.isfile(partial):
        raise PathError(f"{what} {shown}: {partial!r} (where a failed run keeps its events) "
                        f"exists and is not a regular file")
    return target


def check_outputs(outputs: Sequence[tuple[str, str]], inputs: Iterable[str] = ()) -> None:
    """Check every (option, path) a run writes, and that no two of them are the same file."""
    inputs = list(inputs)
    seen: dict[str, str] = {}
    for what, path in outputs:
        target = os.path.abspath(check_output(path, what, inputs))
        if target in seen:
            raise PathError(f"{what} {path} is also {seen[target]}: two outputs of one run "
                            f"cannot be the same file")
        seen[target] = f"{what} {path}"


def check_distinct_inputs(paths: Sequence[str]) -> None:
    """Refuse an input file given twice (by the same or another path, or a hard link)."""
    seen: dict[tuple[int, int], str] = {}
    for path in paths:
        key = file_id(path)
        if key is None:
            continue
        if key in seen:
            also = "" if seen[key] == path else f" (also given as {seen[key]})"
            raise PathError(f"input {path} is given twice{also}: its events would be "
                            f"processed twice")
        seen[key] = path


def commit_output(tmp: str | None, target: str, shown: str, success: bool,
                  error: SinkError | None) -> tuple[str | None, SinkError | None]:
    """Put a sink's finished temporary in place: on success rename it to ``target``; after a
    failed run, a write error, or a target that became a non-regular file, keep its events in
    ``target.partial``. Returns (the .partial path or None, the error the sink must raise: none
    after a failed run, which reports its own)."""
    if not tmp or not os.path.exists(tmp):
        if success and error is None:
            return None, SinkError(f"{shown}: no events were written")
        return None, error if success else None
    partial = target + ".partial"
    if not success or error is not None:
        os.replace(tmp, partial)
        return partial, error if success else None
    if os.path.lexists(target) and not os.path.isfile(target):
        os.replace(tmp, partial)
        return partial, SinkError(f"{shown} became a non-regular file during the run: not "
                                  f"replaced; the events are in {partial}")
    os.replace(tmp, target)
    return None, None
