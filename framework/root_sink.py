"""RootSink: blocks written in event order as flat branches of one ROOT TTree (with uproot).

The framework does not know what the objects are. Each key of a block becomes branches that
hold one number per event: a one-dimensional numeric numpy array is the branch `KEY`; an object
with `to_arrow()` (or an Arrow array) whose type is a struct of numbers and booleans, structs
nested to any depth, gives one branch per leaf, named `KEY_FIELD[_FIELD...]`. The job may
rename branches (`branch_names`). A key with lists (a variable number of values per event) or
strings has no flat form and is refused, naming the key. The write guarantees are
ParquetSink's: a hidden temporary beside the output, renamed onto it after a successful run;
after a failure or a signal, the events written so far are kept in OUTPUT.partial.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import numpy as np

from .errors import ConfigurationError, MissingKeyError, SinkError
from .io import Sink
from .paths import check_output, commit_output

#: the tree a RootSink writes, unless told otherwise
DEFAULT_TREE = "metflow"


def require_uproot(what: str) -> Any:
    """The uproot module, or a ConfigurationError naming `what` needs it and how to install it."""
    try:
        import uproot
    except ImportError:
        raise ConfigurationError(f"{what}: ROOT output is written with uproot, which is not "
                                 f"installed: pip install \"metflow[physlite]\"") from None
    return uproot


class RootSink(Sink):
    """Writes the given keys as flat branches of the TTree `tree`, one entry per event
    (temporary file, then rename).

    `prepare` (on the job threads, in parallel) turns a block into named numpy columns; `write`
    (event order) collects them and appends `basket_size` events at a time to the tree, so the
    baskets do not depend on the batch size. The branches and their types are fixed by the
    first block; a later block that differs is an error naming the branch.
    """

    def __init__(self, path: str, keys: Sequence[str], *, tree: str = DEFAULT_TREE,
                 branch_names: Mapping[str, str] | None = None, basket_size: int = 8192,
                 compression: Any = None):
        """`branch_names` maps a generated name (`KEY_FIELD`) to the branch's name;
        `compression`: an uproot compression (default: uproot's, ZLIB level 1)."""
        if basket_size < 1:
            raise ConfigurationError(f"RootSink({path}): basket_size must be >= 1")
        self.path = os.fspath(path)
        self.name = self.path
        self.tree = tree
        self.branch_names = dict(branch_names or {})
        self.basket_size = basket_size
        self.compression = compression
        self._keys = list(keys)
        self._target = self.path
        self._tmp = ""
        self._file: Any = None
        self._layout: dict[str, np.dtype] | None = None
        self._pending: list[_Columns] = []
        self._pending_rows = 0
        self.events_written = 0
        self.kept: str | None = None          # where a failed run's events went (.partial)

    def keys(self) -> list[str]:
        return list(self._keys)

    def output_paths(self) -> list[str]:
        return [self.path]

    def open(self) -> None:
        require_uproot(f"output {self.path}")
        self._target = check_output(self.path, f"output of sink {self.name}")
        directory, base = os.path.split(os.path.abspath(self._target))
        self._tmp = os.path.join(directory, f".{base}.tmp-{os.getpid()}")
        self.events_written = 0
        self.kept = None

    # -- conversion (job threads) ------------------------------------------------------------
    def _refuse(self, key: str, what: str) -> SinkError:
        return SinkError(f"{self.path}: cannot write key {key!r} as flat ROOT branches: {what} "
                         f"(a flat TTree holds one number per event in each branch); write "
                         f"{key!r} to a .parquet output")

    def _leaves(self, key: str, name: str, array: Any) -> Iterator[tuple[str, np.ndarray]]:
        """(branch, values) of every numeric leaf of an Arrow array, structs flattened."""
        import pyarrow as pa

        if isinstance(array, pa.ChunkedArray):
            array = array.combine_chunks()
        kind = array.type
        if array.null_count:
            raise SinkError(f"{self.path}: key {key!r}: {name} has null entries (event "
                            f"{int(np.argmax(~array.is_valid().to_numpy(zero_copy_only=False)))} "
                            f"of the block); a ROOT branch has a value for every event")
        if pa.types.is_struct(kind):
            for field, child in zip(kind, array.flatten()):
                yield from self._leaves(key, f"{name}_{field.name}", child)
        elif pa.types.is_integer(kind) or pa.types.is_boolean(kind) or \
                pa.types.is_float32(kind) or pa.types.is_float64(kind):
            yield name, array.to_numpy(zero_copy_only=False)
        else:
            raise self._refuse(key, f"{name} is {kind}")

    def _columns(self, key: str, obj: Any, n: int) -> Iterator[tuple[str, np.ndarray]]:
        import pyarrow as pa

        if hasattr(obj, "to_arrow"):
            leaves = self._leaves(key, key, obj.to_arrow())
        elif isinstance(obj, (pa.Array, pa.ChunkedArray)):
            leaves = self._leaves(key, key, obj)
        elif isinstance(obj, np.ndarray):
            if obj.ndim != 1 or obj.dtype.kind not in "biuf":
                raise self._refuse(key, f"a numpy array of shape {obj.shape} and dtype {obj.dtype}")
            leaves = iter([(key, obj)])
        else:
            raise SinkError(f"{self.path}: cannot write key {key!r}: object of type "
                            f"{type(obj).__name__} has no to_arrow()")
        for name, values in leaves:
            if len(values) != n:
                raise SinkError(f"{self.path}: key {key!r} has {len(values)} entries for a block "
                                f"of {n} events")
            yield self.branch_names.get(name, name), values

    def prepare(self, first: int, n: int, data: dict[str, Any]) -> "_Columns":
        """The block as {branch: values} (converted on the job thread, in parallel)."""
        out: dict[str, np.ndarray] = {}
        origin: dict[str, str] = {}
        for key in self._keys:
            if key not in data:
                raise MissingKeyError(key, f"RootSink({self.path})", data.keys())
            for branch, values in self._columns(key, data[key], n):
                if branch in out:
                    raise SinkError(f"{self.path}: branch {branch!r} of key {key!r} is also a "
                                    f"branch of key {origin[branch]!r}: branch names must differ")
                out[branch], origin[branch] = values, key
        return _Columns(out)

    # -- writing (event order) ---------------------------------------------------------------
    def write(self, first: int, n: int, data: Any) -> None:
        """Queue the block's columns (what `prepare` returned, or the dict it takes); append
        full baskets to the tree."""
        columns = data if isinstance(data, _Columns) else self.prepare(first, n, data)
        layout = {name: values.dtype for name, values in columns.items()}
        if self._layout is None:
            if not layout:
                raise SinkError(f"{self.path}: keys {self._keys} give no branch to write")
            self._layout = layout
        elif layout != self._layout:
            raise SinkError(f"{self.path}: events [{first}, {first + n}) have branches "
                            f"{_difference(layout, self._layout)} unlike the first events "
                            f"written: a TTree has the same branches for every event")
        self._pending.append(columns)
        self._pending_rows += n
        if self._pending_rows >= self.basket_size:
            self._flush()

    def _flush(self) -> None:
        """Append every pending event to the tree (the file is created by the first call)."""
        if not self._pending:
            return
        assert self._layout is not None
        columns = {name: np.concatenate([block[name] for block in self._pending])
                   if len(self._pending) > 1 else self._pending[0][name] for name in self._layout}
        rows = self._pending_rows
        self._pending, self._pending_rows = [], 0
        try:
            if self._file is None:
                uproot = require_uproot(f"output {self.path}")
                options = {} if self.compression is None else {"compression": self.compression}
                self._file = uproot.recreate(self._tmp, **options)
                self._file.mktree(self.tree, dict(self._layout), title="metflow output")
            self._file[self.tree].extend(columns)
        except Exception as exc:  # noqa: BLE001 - e.g. disk full
            raise SinkError(f"{self.path}: writing failed: {exc}") from exc
        self.events_written += rows

    def close(self, success: bool) -> None:
        """Commit the output (rename onto the path) after a successful run; after a failure,
        keep the events written so far in PATH.partial. No temporary file is left either way."""
        error: BaseException | None = None
        try:
            self._flush()   # on failure too: the events already processed are kept in .partial
        except SinkError as exc:
            error = exc
        finally:
            if self._file is not None:
                try:
                    self._file.close()
                except Exception as exc:  # noqa: BLE001 - e.g. disk full writing the header
                    error = error or SinkError(f"{self.path}: writing failed: {exc}")
                self._file = None
        self.kept, error = commit_output(self._tmp, self._target, self.path, success, error)
        if error is not None:
            raise error

    def summary(self) -> str:
        if self.kept is not None:
            return f"kept {self.events_written} events in {self.kept}"
        return f"wrote {self.events_written} events to {self.path} (TTree {self.tree!r})"


class _Columns(dict):
    """A block converted by `prepare`: {branch: one value per event}."""


def _difference(got: Mapping[str, np.dtype], want: Mapping[str, np.dtype]) -> str:
    """A short description of how a block's branches differ from the tree's."""
    extra = sorted(set(got) - set(want))
    missing = sorted(set(want) - set(got))
    retyped = sorted(n for n in set(got) & set(want) if got[n] != want[n])
    parts = ([f"new {extra[:5]}"] if extra else []) + \
        ([f"without {missing[:5]}"] if missing else []) + \
        ([f"other types for {[f'{n}: {got[n]} (was {want[n]})' for n in retyped[:5]]}"]
         if retyped else [])
    return "; ".join(parts)
