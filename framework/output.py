"""The sink of a job's output file, chosen by its extension: Parquet or a flat ROOT TTree.

`output_sink(path, keys)` gives a ParquetSink for `.parquet` / `.pq` and a RootSink for
`.root`; any other extension (or none) is refused before the run starts, naming the path and
the accepted extensions. The job says which of its keys have no flat form (`refuse_flat`), so
that a `.root` output of such a key is refused at configuration time too, not after the first
block. Physics-free: the job supplies branch names and refusal reasons.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from .io import ParquetSink, Sink
from .paths import PathError
from .root_sink import DEFAULT_TREE, RootSink, require_uproot

PARQUET_EXTENSIONS = (".parquet", ".pq")
ROOT_EXTENSIONS = (".root",)
ACCEPTED = ", ".join(PARQUET_EXTENSIONS) + " (Parquet), " + ", ".join(ROOT_EXTENSIONS) + \
    " (flat ROOT TTree)"


def output_format(path: str, what: str = "--output") -> str:
    """'parquet' or 'root' from the file name's extension (case-insensitive); a PathError
    naming the path and the accepted extensions otherwise."""
    extension = os.path.splitext(os.fspath(path))[1].lower()
    if extension in PARQUET_EXTENSIONS:
        return "parquet"
    if extension in ROOT_EXTENSIONS:
        return "root"
    said = f"unknown extension {extension!r}" if extension else "no extension"
    raise PathError(f"{what} {path}: {said}; the output format is chosen by the extension, "
                    f"accepted: {ACCEPTED}")


def output_sink(path: str, keys: Sequence[str], *, what: str = "--output",
                branch_names: Mapping[str, str] | None = None,
                refuse_flat: Callable[[str], str | None] | None = None, flat_hint: str = "",
                tree: str = DEFAULT_TREE, **parquet_options: Any) -> Sink:
    """The sink writing `keys` to `path`, in the format of its extension.

    Parquet: `ParquetSink(path, keys, **parquet_options)`. ROOT: `RootSink(path, keys,
    tree=tree, branch_names=branch_names)`; `refuse_flat(key)` says what kind of key it is
    when it has no flat form (e.g. 'lists of objects'), None when it can be written; such keys
    are a ConfigurationError (PathError) here, grouped by kind and followed by `flat_hint`
    (what the job's ROOT output holds), as is a missing uproot."""
    if output_format(path, what) == "parquet":
        return ParquetSink(path, keys, **parquet_options)
    require_uproot(f"{what} {path}")
    refused: dict[str, list[str]] = {}
    for key in keys:
        reason = refuse_flat(key) if refuse_flat is not None else None
        if reason:
            refused.setdefault(reason, []).append(repr(key))
    if refused:
        listed = "; ".join(f"{reason}: {', '.join(names[:3])}"
                           f"{f' and {len(names) - 3} more' if len(names) > 3 else ''}"
                           for reason, names in refused.items())
        raise PathError(f"{what} {path}: a ROOT output is a flat TTree (one number per event in "
                        f"each branch){'; ' + flat_hint if flat_hint else ''}; it cannot hold "
                        f"{listed}: use a {PARQUET_EXTENSIONS[0]} output for this job")
    return RootSink(path, keys, tree=tree, branch_names=branch_names)


def check_parquet_output(path: str, what: str = "--output", why: str = "") -> None:
    """For commands that write only Parquet (object containers): refuse any other extension,
    saying `why` a ROOT file is not offered."""
    if output_format(path, what) != "parquet":
        raise PathError(f"{what} {path}: this command writes Parquet "
                        f"({', '.join(PARQUET_EXTENSIONS)}){'; ' + why if why else ''}")


def check_directory_output(path: str, what: str = "--output") -> None:
    """A distributed (Dask) run writes a directory of Parquet parts: a `.root` name is refused
    (the user asked for one ROOT file and would get Parquet parts under that name)."""
    if os.path.splitext(os.fspath(path))[1].lower() in ROOT_EXTENSIONS:
        raise PathError(f"{what} {path}: a Dask run (--executor dask) writes a directory of "
                        f"Parquet parts, not a ROOT file; run without --executor dask for a "
                        f"ROOT output, or give a directory name")


__all__ = ["ACCEPTED", "PARQUET_EXTENSIONS", "ROOT_EXTENSIONS", "RootSink",
           "check_directory_output", "check_parquet_output", "output_format", "output_sink"]
