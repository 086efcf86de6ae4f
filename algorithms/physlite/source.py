"""A framework Source that serves PHYSLITE files (Run-2 TTree or Run-3 RNTuple) as metflow EDM.

Keys provided (default :data:`~.naming.ATLAS_NAMING`): ``EventInfo``, ``TruthMET``,
``AnalysisElectrons``, ``AnalysisPhotons``, ``AnalysisMuons``, ``AnalysisTauJets``,
``AnalysisJets``, ``METAssoc_AnalysisMET`` (MissingETAssociationMap) and
``MET_Core_AnalysisMET`` (MissingETContainer with SoftClusCore and PVSoftTrkCore).
Several files are read one after the other as one event sequence.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Sequence
from typing import Any

import numpy as np

from metflow.edm.errors import EDMError
from metflow.edm.map_checks import check_block
from metflow.edm.met import MissingETAssociationMap, MissingETContainer
from metflow.framework.errors import SourceError
from metflow.framework.input_specs import check_url_backend, is_remote, local_path
from metflow.framework.io import ParquetSource, Source
from metflow.framework.paths import check_distinct_inputs

from . import convert
from .errors import PhysliteError
from .naming import ATLAS_EVENT_INFO, PhysliteNaming, naming_for
from .reader import PhysliteFile


def make_association_map(columns: dict, *, key: str, jet_key: str) -> MissingETAssociationMap:
    """Build the EDM ``MissingETAssociationMap`` from its columnar fields."""
    arrays = dict(columns)
    container_keys = arrays.pop("container_keys")
    return MissingETAssociationMap(container_keys, jet_key=jet_key, key=key, **arrays)


def make_met_container(terms: dict, *, key: str) -> MissingETContainer:
    """Build the EDM ``MissingETContainer`` from names, sources and [n_events, n_terms] arrays."""
    return MissingETContainer(terms["names"], terms["sources"], terms["mpx"], terms["mpy"],
                              terms["sumet"], key=key)


def read_physlite_block(pfile: PhysliteFile, first: int, n: int,
                        naming: PhysliteNaming, wanted: Sequence[str] | None = None) -> dict[str, Any]:
    """Events ``[first, first+n)`` of one file converted to EDM objects, keyed by store key.

    ``wanted`` limits the keys produced (the map is range-checked against the object
    containers whenever they are read too).
    """
    stop = min(first + n, pfile.n_events)
    wanted = set(naming.all_keys() if wanted is None else wanted)
    out: dict[str, Any] = {}
    object_converters = {
        naming.electrons: convert.convert_electrons, naming.photons: convert.convert_photons,
        naming.muons: convert.convert_muons, naming.taus: convert.convert_taus,
        naming.jets: convert.convert_jets,
    }
    for key, fn in object_converters.items():
        if key in wanted:
            out[key] = fn(pfile, first, stop, key)
    if naming.event_info in wanted:
        out[naming.event_info] = convert.convert_event_info(pfile, first, stop, naming.event_info)
    if naming.truth_met in wanted:
        out[naming.truth_met] = convert.convert_truth_met(pfile, first, stop, naming.truth_met)
    if naming.met_core in wanted:
        out[naming.met_core] = make_met_container(convert.read_core_terms(pfile, first, stop),
                                                  key=naming.met_core)
    if naming.met_map in wanted:
        counts = {k: out[k].counts() for k in object_converters if k in out}
        columns = convert.read_map_columns(pfile, first, stop, naming, counts)
        out[naming.met_map] = make_association_map(columns, key=naming.met_map,
                                                   jet_key=naming.jets)
    return out


class PhysliteSource(Source):
    """Reads ATLAS PHYSLITE files with uproot and converts each block into metflow EDM objects.

    ``naming`` is "atlas" (PHYSLITE keys, default) or "metflow" (keys of metflow's own
    reconstruction); see :mod:`metflow.algorithms.physlite.naming`.
    """

    thread_safe = True

    def __init__(self, paths: str | os.PathLike | Sequence[str | os.PathLike], *,
                 naming: str | PhysliteNaming = "atlas"):
        if isinstance(paths, (str, os.PathLike)):
            paths = [paths]
        if not paths:
            raise ValueError("PhysliteSource needs at least one file")
        paths = [local_path(p) for p in paths]   # file:// URLs read as local files
        check_distinct_inputs(paths)
        self.naming = naming_for(naming)
        self.files = []
        try:
            for p in paths:
                self.files.append(open_physlite_file(p))
        except BaseException:
            self.close()
            raise
        self.name = ", ".join(f.path for f in self.files)
        counts = np.array([f.n_events for f in self.files], dtype=np.int64)
        self._starts = np.concatenate([[0], np.cumsum(counts)])
        self._selected: list[str] | None = None

    def keys(self) -> list[str]:
        return self.naming.all_keys()

    def n_events(self) -> int:
        return int(self._starts[-1])

    def select(self, keys: Sequence[str]) -> None:
        self._selected = [k for k in self.keys() if k in set(keys)]

    def input_paths(self) -> list[str]:
        return [f.path for f in self.files]

    def file_event_counts(self) -> list[int]:
        """Events of each file, in order (a Dask run's partitions never straddle two)."""
        return [f.n_events for f in self.files]

    def _file_of(self, event: int) -> tuple[int, int]:
        """(file index, entry in that file) of an absolute event index."""
        index = int(np.searchsorted(self._starts, event, side="right") - 1)
        return index, event - int(self._starts[index])

    def event_id(self, index: int) -> str:
        if not 0 <= index < self.n_events():
            return ""
        fi, local = self._file_of(index)
        pfile = self.files[fi]
        want = [(ATLAS_EVENT_INFO, "runNumber"), (ATLAS_EVENT_INFO, "eventNumber")]
        try:
            data = pfile.read(want, local, local + 1)
            run, event = (int(np.asarray(data[w])[0]) for w in want)
        except Exception:   # noqa: BLE001 - only describes another error; never raises its own
            return ""
        return f"run {run}, event {event}"

    def read(self, first: int, n: int) -> dict[str, Any]:
        total = self.n_events()
        if first < 0 or n < 0 or first + n > total:
            raise IndexError(f"{self.name}: events [{first}, {first + n}) outside [0, {total})")
        parts: list[dict[str, Any]] = []
        position = first
        while position < first + n:
            index, local = self._file_of(position)
            pfile = self.files[index]
            count = min(first + n - position, pfile.n_events - local)
            try:
                parts.append(read_physlite_block(pfile, local, count, self.naming, self._selected))
            except PhysliteError as exc:   # the same error, told where it is in the run
                exc.args = (f"{self._where(pfile, position, local, count)}: {exc}",)
                raise
            except Exception as exc:
                raise SourceError(f"{self._where(pfile, position, local, count)}: cannot convert: "
                                  f"{type(exc).__name__}: {exc}") from exc
            position += count
        if len(parts) == 1:
            return parts[0]
        return {key: type(parts[0][key]).concatenate([p[key] for p in parts]) for key in parts[0]}

    @staticmethod
    def _where(pfile: PhysliteFile, first: int, local: int, count: int) -> str:
        """The events of the run (absolute) and the entries of the file they are (the reader's
        own messages count entries in the file)."""
        return (f"{pfile.path}: events [{first}, {first + count}) of the input (entries "
                f"[{local}, {local + count}) of this file)")

    def close(self) -> None:
        for f in self.files:
            f.close()


def open_physlite_file(path: str) -> PhysliteFile:
    """A PhysliteFile of a path, a file:// URL (its local path) or a remote URL (root://,
    https://, ...: passed to the reader once fsspec has the scheme's backend)."""
    path = local_path(path)
    if is_remote(path):
        check_url_backend(path)
    return PhysliteFile(path)


def is_root_file(path: str | os.PathLike) -> bool:
    """True when the file starts with the ROOT magic bytes (whatever its extension). A file://
    URL is its local path; a remote URL is read through fsspec (a SourceError when it cannot
    be read, naming the URL)."""
    path = local_path(path)
    if is_remote(path):
        check_url_backend(path)
        import fsspec

        try:
            with fsspec.open(path, "rb") as stream:
                return stream.read(4) == b"root"
        except Exception as exc:   # noqa: BLE001 - every backend raises its own types
            raise SourceError(f"input {path}: cannot be read: {type(exc).__name__}: {exc}") \
                from exc
    try:
        with open(path, "rb") as stream:
            return stream.read(4) == b"root"
    except OSError:
        return False


class MapCheckedParquetSource(ParquetSource):
    """The framework's ParquetSource, whose blocks' association maps are checked against the
    object containers and jets read with them (:func:`metflow.edm.map_checks.check_block`)
    before any algorithm sees them: a link past a container's end fails the read instead of
    silently changing MET. Errors name the file and the absolute event. With metflow's
    ``decode``, maps are checked here, not again when decoded: once per row group when every
    column of it is decoded whole (its blocks are slices of it, and every check is per event),
    else, and for a row group that fails (so that the error concerns exactly the block holding
    the bad event), once per block."""

    def __init__(self, paths, decode=None, **kwargs):
        from metflow.edm import persistence
        if decode is persistence.decode:
            decode = functools.partial(persistence.decode, check_maps=False)
        if decode is not None:
            kwargs["decode"] = decode
        super().__init__(paths, **kwargs)

    def row_group_decoded(self, first: int, decoded: dict[str, Any], per_block: list[str]) -> bool:
        """Whether the row group's maps pass :func:`check_block` against its containers (False
        when a column is decoded per block: it may be a map whose whole decode failed)."""
        if per_block:
            return False
        try:
            check_block(decoded, first=first, event_info_key=None)
        except Exception:   # noqa: BLE001 - raised again by the per-block check, in the block
            return False    # holding the bad event (this may run on a read-ahead thread)
        return True

    def read(self, first: int, n: int) -> dict[str, Any]:
        data, checked = self.read_noted(first, n)
        if checked is True:   # slices of a row group whose maps passed
            return data
        try:   # EventInfo names run/event itself unless the framework's event_id does
            check_block(data, first=first,
                        event_info_key=None if getattr(self, "event_id_column", None) else "EventInfo")
        except EDMError as exc:
            raise exc.with_context(source=self._file_of(exc.event if exc.event is not None else first))
        return data

    def _file_of(self, event: int) -> str:
        """The file holding absolute event ``event`` (only called to describe an error)."""
        import pyarrow.parquet as pq
        start = 0
        for path in self.paths:
            start += pq.ParquetFile(path).metadata.num_rows
            if event < start:
                return path
        return self.paths[-1]


def input_source(paths: Sequence[str | os.PathLike], *, decode=None,
                 naming: str | PhysliteNaming = "metflow") -> Source:
    """The Source for a job's ``--input`` files: PHYSLITE ROOT files -> :class:`PhysliteSource`
    (metflow keys by default, so jobs written for metflow's own keys run unchanged), anything
    else -> :class:`MapCheckedParquetSource` with ``decode``. Mixing both kinds is an error.
    ``file://`` URLs are read as their local paths; remote URLs (root://, https://, ...) go to
    the PHYSLITE reader, Parquet is read from local files only."""
    paths = [local_path(p) for p in paths]
    for path in paths:
        if is_remote(path):
            check_url_backend(path)
            continue
        if not os.path.exists(path):
            raise SourceError(f"input file {os.fspath(path)!r} does not exist")
        if not (os.path.isfile(path) or os.path.isdir(path)):
            raise SourceError(f"input {os.fspath(path)!r} is not a regular file (nor a metflow "
                              f"output directory)")
    root = [is_root_file(p) for p in paths]
    if all(root):
        return PhysliteSource(paths, naming=naming)
    if any(root):
        mixed = ", ".join(f"{os.fspath(p)} ({'ROOT' if r else 'not ROOT'})" for p, r in zip(paths, root))
        raise ValueError(f"input files mix PHYSLITE ROOT and other files: {mixed}")
    remote = [p for p in paths if is_remote(p)]
    if remote:
        raise SourceError(f"input {remote[0]}: not a ROOT file, and Parquet inputs are read from "
                          f"local files only (copy it here, or give its path or a file:// URL)")
    from metflow.edm import keys as K

    ids = {"event_id_column": K.EVENT_INFO, "event_id_fields": ("run_number", "event_number")}
    return MapCheckedParquetSource(paths, decode=decode, **ids) if decode is not None \
        else MapCheckedParquetSource(paths, **ids)


__all__ = ["PhysliteSource", "MapCheckedParquetSource", "input_source", "is_root_file",
           "open_physlite_file", "read_physlite_block", "make_association_map", "make_met_container"]
