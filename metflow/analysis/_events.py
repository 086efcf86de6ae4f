"""PHYSLITE events for analysts: a chunk of a file as awkward objects + association map + core.

:func:`open_physlite` reads entries ``[entry_start, entry_stop)`` of one file through the same
converter as ``PhysliteSource`` (so MET rebuilt from it equals the jobs'), :func:`iterate_physlite`
walks files in chunks opening each once, and :func:`from_coffea` reopens the chunk a coffea
processor was given (``events.metadata``: filename, treename, entrystart, entrystop) because
coffea cannot decode the map itself (README "Python API"). Files are given as ``--input`` takes
them (:mod:`metflow.framework.input_specs`: paths, directories, globs, file lists, coffea
filesets, URLs). Each chunk carries the events' identity (:data:`IDENTITY_FIELDS`), which
``rebuild_met`` puts in its result.
"""

from __future__ import annotations

import os
from functools import cached_property
from typing import Any, Iterator, Sequence

import numpy as np

from metflow.algorithms.physlite._deps import uproot_and_awkward
from metflow.algorithms.physlite.naming import ATLAS_EVENT_INFO, ATLAS_NAMING, ATLAS_TRUTH_MET
from metflow.algorithms.physlite.reader import RNTUPLE_NAME, TTREE_NAME, PhysliteFile
from metflow.algorithms.physlite.source import open_physlite_file, read_physlite_block
from metflow.framework.input_specs import expand_inputs, local_path
from metflow.edm.containers import Container, ListColumn
from metflow.edm.met import MissingETAssociationMap, MissingETContainer

from ._arrays import met_record, record_array

# Object kinds in METMaker's priority order, then the jets; each names its PHYSLITE container.
OBJECT_KINDS = ("electrons", "photons", "taus", "muons", "jets")
_CONTAINER_OF = {"electrons": ATLAS_NAMING.electrons, "photons": ATLAS_NAMING.photons,
                 "taus": ATLAS_NAMING.taus, "muons": ATLAS_NAMING.muons, "jets": ATLAS_NAMING.jets}
# Placeholder columns of the converted containers that carry no PHYSLITE information.
_NOT_EXPOSED = ("id_track",)
#: The event identity every chunk and rebuild_met result carries, with ATLAS's names and types:
#: runNumber (uint32), eventNumber (uint64), and where the file has them mcChannelNumber
#: (uint32) and mcEventWeight (float32, the first mcEventWeights entry).
IDENTITY_FIELDS = ("runNumber", "eventNumber", "mcChannelNumber", "mcEventWeight")


class PhysliteEvents:
    """Entries ``[entry_start, entry_stop)`` of one PHYSLITE file, converted once, read-only.

    ``electrons``, ``photons``, ``taus``, ``muons``, ``jets``: awkward ``var * {...}`` arrays of
    *every* object of the file's containers (AnalysisElectrons, ...), in container order, with
    ``pt, eta, phi, m`` (float32, of the converted four-momentum ``px, py, pz, e``, which they
    also carry) and the columns METMaker and the selections read (``id`` bits 0/1/2 =
    loose/medium/tight, ``isolated``, ``charge``, muon ``type``/``energy_loss``/``id_track_pt``,
    jet ``jvt`` (= NNJvtPass), ``detector_eta``, ``constit_*``, ...). Masks for
    :func:`~metflow.analysis.rebuild_met` have the same jagged shape (``ak.local_index``).
    ``assoc_map`` / ``core`` are the EDM ``METAssoc_AnalysisMET`` / ``MET_Core_AnalysisMET``;
    ``core_terms`` the core as an awkward record per event; ``identity`` the events' identity
    (:data:`IDENTITY_FIELDS`) to join results with other ntuples.
    """

    def __init__(self, data: dict[str, Any], *, path: str, entry_start: int, entry_stop: int,
                 file_format: str, identity: dict[str, np.ndarray] | None = None):
        self._data = data
        #: identity columns (numpy, one value per event), IDENTITY_FIELDS the file has
        self.identity_columns = dict(identity or {})
        self.path = path
        self.entry_start = int(entry_start)
        self.entry_stop = int(entry_stop)
        self.format = file_format

    @property
    def n_events(self) -> int:
        return self.entry_stop - self.entry_start

    def __len__(self) -> int:
        return self.n_events

    def __repr__(self) -> str:
        return (f"PhysliteEvents({self.path!r}, entries [{self.entry_start}, {self.entry_stop}), "
                f"{self.format})")

    # -- EDM (what METMaker reads) -----------------------------------------------------------
    def container(self, kind: str) -> Container:
        """The EDM container of an object kind (electrons, photons, taus, muons, jets)."""
        if kind not in _CONTAINER_OF:
            raise KeyError(f"unknown object kind {kind!r}; kinds: {list(OBJECT_KINDS)}")
        return self._data[_CONTAINER_OF[kind]]

    @property
    def assoc_map(self) -> MissingETAssociationMap:
        return self._data[ATLAS_NAMING.met_map]

    @property
    def core(self) -> MissingETContainer:
        return self._data[ATLAS_NAMING.met_core]

    # -- awkward views -----------------------------------------------------------------------
    @cached_property
    def electrons(self):
        return _objects_array(self.container("electrons"))

    @cached_property
    def photons(self):
        return _objects_array(self.container("photons"))

    @cached_property
    def taus(self):
        return _objects_array(self.container("taus"))

    @cached_property
    def muons(self):
        return _objects_array(self.container("muons"))

    @cached_property
    def jets(self):
        return _objects_array(self.container("jets"))

    @cached_property
    def core_terms(self):
        """``SoftClusCore`` and ``PVSoftTrkCore`` per event: {mpx, mpy, sumet, met, phi}."""
        return met_record(self.core)

    @cached_property
    def event_info(self):
        """run_number, event_number, mu (actual interactions), weight (first mcEventWeight)."""
        return record_array(self._data[ATLAS_NAMING.event_info].columns)

    @cached_property
    def identity(self):
        """runNumber, eventNumber, and where the file has them mcChannelNumber and mcEventWeight
        (the first mcEventWeights entry), one record per event (ATLAS names and types)."""
        return record_array(self.identity_columns)

    @cached_property
    def truth_met(self):
        """Truth ``NonInt`` MET (nonint_mpx, nonint_mpy, nonint_sumet); None for data."""
        record = self._data.get(ATLAS_NAMING.truth_met)
        return None if record is None else record_array(record.columns)


def _objects_array(container: Container):
    """Awkward ``var * {pt, eta, phi, m, px, py, pz, e, ...}`` over the container's columns
    (zero-copy for the stored ones; constituent link lists, empty in PHYSLITE, left out)."""
    _, ak = uproot_and_awkward()
    px, py, pz, e = (container[c] for c in ("px", "py", "pz", "e"))
    p2 = (px.astype(np.float64) ** 2 + py.astype(np.float64) ** 2 + pz.astype(np.float64) ** 2)
    columns = {"pt": container.pt(), "eta": container.eta().astype(np.float32),
               "phi": container.phi(),
               "m": np.sqrt(np.maximum(e.astype(np.float64) ** 2 - p2, 0.0)).astype(np.float32)}
    for name, column in container.columns.items():
        if not isinstance(column, ListColumn) and name not in _NOT_EXPOSED:
            columns[name] = column
    content = ak.contents.RecordArray([ak.contents.NumpyArray(c) for c in columns.values()],
                                      list(columns))
    return ak.Array(ak.contents.ListOffsetArray(ak.index.Index64(container.offsets), content))


def _entry_range(pfile: PhysliteFile, entry_start: int | None,
                 entry_stop: int | None) -> tuple[int, int]:
    """uproot's convention: None = the file's start/end; a stop past the end is clamped."""
    start = 0 if entry_start is None else int(entry_start)
    stop = pfile.n_events if entry_stop is None else min(int(entry_stop), pfile.n_events)
    if start < 0 or stop < start:
        raise ValueError(f"{pfile.path}: entry range [{entry_start}, {entry_stop}) is not a "
                         f"range of the file's {pfile.n_events} entries")
    return start, stop


def _read(pfile: PhysliteFile, entry_start: int | None, entry_stop: int | None) -> PhysliteEvents:
    start, stop = _entry_range(pfile, entry_start, entry_stop)
    wanted = ATLAS_NAMING.all_keys()
    if not pfile.has(ATLAS_TRUTH_MET, "mpx"):   # data: no truth MET
        wanted.remove(ATLAS_NAMING.truth_met)
    data = read_physlite_block(pfile, start, stop - start, ATLAS_NAMING, wanted)
    return PhysliteEvents(data, path=pfile.path, entry_start=start, entry_stop=stop,
                          file_format=pfile.format, identity=_identity(pfile, data, start, stop))


def _identity(pfile: PhysliteFile, data: dict[str, Any], start: int,
              stop: int) -> dict[str, np.ndarray]:
    """IDENTITY_FIELDS from the converted EventInfo (the same values the jobs write), in the
    file's own types: the converter's int64 run/event numbers hold the uint32/uint64 values
    exactly; its weight is mcEventWeights[0]."""
    info = data[ATLAS_NAMING.event_info].columns
    identity = {"runNumber": info["run_number"].astype(np.uint32),
                "eventNumber": info["event_number"].astype(np.uint64)}
    if pfile.has(ATLAS_EVENT_INFO, "mcChannelNumber"):
        channel = info.get("mc_channel_number")
        if channel is None:   # a converter without the column: read it here
            read = pfile.read([(ATLAS_EVENT_INFO, "mcChannelNumber")], start, stop)
            channel = np.asarray(read[(ATLAS_EVENT_INFO, "mcChannelNumber")])
        identity["mcChannelNumber"] = np.asarray(channel, np.uint32)
    if pfile.has(ATLAS_EVENT_INFO, "mcEventWeights"):
        identity["mcEventWeight"] = np.asarray(info["weight"], np.float32)
    return identity


def _one_file(source: str | os.PathLike) -> str:
    """The single file a spec names (open_physlite reads one file)."""
    files = expand_inputs([source])
    if len(files) != 1:
        raise ValueError(f"open_physlite: {os.fspath(source)!r} names {len(files)} files "
                         f"({files[0]}, ...); it reads one file: use iterate_physlite for several")
    return files[0]


def open_physlite(source: str | os.PathLike | PhysliteFile, entry_start: int | None = None,
                  entry_stop: int | None = None) -> PhysliteEvents:
    """Entries ``[entry_start, entry_stop)`` of a PHYSLITE file (Run-2 TTree or Run-3 RNTuple).

    ``source``: a path or URL (``file://``, or what uproot opens through fsspec), or a
    directory, glob or list naming exactly one file (opened and closed here); or an open
    :class:`~metflow.algorithms.physlite.PhysliteFile` (kept open: open it once to read many
    chunks; it serialises its reads, so threads may share it).
    """
    if isinstance(source, PhysliteFile):
        return _read(source, entry_start, entry_stop)
    with open_physlite_file(_one_file(source)) as pfile:
        return _read(pfile, entry_start, entry_stop)


def iterate_physlite(paths: str | os.PathLike | Sequence[str | os.PathLike], *,
                     step_size: int = 10_000) -> Iterator[PhysliteEvents]:
    """Chunks of at most ``step_size`` entries of each file in turn (each file opened once),
    as ``uproot.iterate`` walks files. ``paths``: one or several specs as ``--input`` takes
    them (files, directories, globs, .txt/.list file lists, coffea filesets
    ``NAME.json[#DATASET]``, URLs), expanded before the first chunk."""
    if step_size < 1:
        raise ValueError(f"step_size must be >= 1, got {step_size}")
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    for path in expand_inputs(paths):
        with open_physlite_file(path) as pfile:
            for start in range(0, pfile.n_events, step_size):
                yield _read(pfile, start, start + step_size)


def from_coffea(events: Any, *, file: PhysliteFile | None = None) -> PhysliteEvents:
    """The PHYSLITE chunk a coffea processor received, read by metflow from the same file and
    entries (``events.metadata``: filename, treename, entrystart, entrystop).

    coffea's own arrays cannot feed METMaker: its PHYSLITESchema misreads the Run-2 map's
    member-wise ``jetLink`` and fails on the Run-3 RNTuple. ``events`` must be the unfiltered
    chunk (one row per entry); masks built on its collections then line up with this chunk's
    objects. ``file``: an open PhysliteFile of that filename to reuse across chunks.
    """
    metadata = getattr(events, "metadata", None) or {}
    missing = [k for k in ("filename", "entrystart", "entrystop") if k not in metadata]
    if missing:
        raise ValueError(f"from_coffea needs the chunk's events.metadata with filename, "
                         f"entrystart and entrystop (coffea's Runner sets them); missing: "
                         f"{missing}")
    filename = local_path(os.fspath(metadata["filename"]))
    start, stop = int(metadata["entrystart"]), int(metadata["entrystop"])
    if len(events) != stop - start:
        raise ValueError(f"from_coffea: the events have {len(events)} rows but their metadata "
                         f"says entries [{start}, {stop}) of {filename}: pass the unfiltered "
                         f"chunk (masks refer to every object of every entry)")
    if file is not None and os.path.realpath(file.path) != os.path.realpath(filename):
        raise ValueError(f"from_coffea: file {file.path!r} is not the chunk's {filename!r}")
    treename = metadata.get("treename")

    def read(pfile: PhysliteFile) -> PhysliteEvents:
        expected = TTREE_NAME if pfile.format == "TTree" else RNTUPLE_NAME
        if treename is not None and treename != expected:
            raise ValueError(f"from_coffea: {filename} has its PHYSLITE events in {expected!r}, "
                             f"the chunk says {treename!r}")
        return _read(pfile, start, stop)

    if file is not None:
        return read(file)
    with open_physlite_file(filename) as pfile:
        return read(pfile)


__all__ = ["PhysliteEvents", "open_physlite", "iterate_physlite", "from_coffea", "OBJECT_KINDS",
           "IDENTITY_FIELDS"]
