"""Bytes per event of the MET map + core terms: ATLAS's stored branches vs metflow's Parquet."""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass

from .naming import ATLAS_CORE, ATLAS_MAP
from .reader import PhysliteFile

MET_BRANCH_PREFIXES = (ATLAS_MAP, ATLAS_CORE)


@dataclass(frozen=True)
class MetSize:
    """Compressed bytes of the MET map and core terms in one file."""

    path: str
    format: str
    n_events: int
    branch_bytes: dict[str, int]

    @property
    def total_bytes(self) -> int:
        return sum(self.branch_bytes.values())

    @property
    def bytes_per_event(self) -> float:
        return self.total_bytes / self.n_events if self.n_events else 0.0


def atlas_met_bytes(path: str | os.PathLike) -> MetSize:
    """Compressed on-disk bytes of every ``METAssoc_AnalysisMET*`` and ``MET_Core_AnalysisMET*``
    branch (TTree baskets) or field (RNTuple pages, shared pages once) of a PHYSLITE file.
    File-level metadata (headers, footers, streamer info) is not included."""
    with PhysliteFile(path) as pfile:
        return MetSize(pfile.path, pfile.format, pfile.n_events,
                       pfile.compressed_bytes(MET_BRANCH_PREFIXES))


def metflow_met_bytes(path: str | os.PathLike, *, naming: str = "atlas") -> MetSize:
    """Compressed bytes of the converted map + core terms written with metflow's Parquet layout
    (all events of the file in one row group), measured from the Parquet column chunks."""
    from metflow.edm import persistence

    from .source import PhysliteSource

    source = PhysliteSource(path, naming=naming)
    try:
        keys = [source.naming.met_map, source.naming.met_core]
        source.select(keys)
        block = source.read(0, source.n_events())
    finally:
        source.close()
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "met.parquet")
        persistence.write_parquet(out, block)
        sizes = persistence.column_sizes(out)
    return MetSize(os.fspath(path), "Parquet", source.n_events(),
                   {k: sizes[k]["compressed"] for k in keys})


__all__ = ["MetSize", "atlas_met_bytes", "metflow_met_bytes", "MET_BRANCH_PREFIXES"]
