"""The jobs `metflow bench` measures: the generated input, the read-only pass, the MET chains,
the trivial DAG of the framework-overhead rows and the demo numba-kernel job."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from metflow.framework import (Algorithm, Job, ParquetSink, ParquetSource, ReadHandleKey,
                               RunOptions, Sink, Source, WriteHandleKey, configure_job, run_job)

#: the trivial DAG of the framework-overhead rows: blocks of one event, layers x width algorithms
OVERHEAD_BLOCKS = 300
OVERHEAD_LAYERS, OVERHEAD_WIDTH = 4, 5


class NullSink(Sink):
    """Consumes keys (so the source decodes them and the graph needs them) and drops them."""

    def __init__(self, keys: Sequence[str], name: str = "null"):
        self._keys = list(dict.fromkeys(keys))
        self.name = name

    def keys(self) -> list[str]:
        return list(self._keys)

    def write(self, first: int, n: int, data: dict[str, Any]) -> None:
        pass


def generate_input(path: str, *, events: int, process: str, mu: float, seed: int,
                   row_group_size: int) -> list[str]:
    """Synthetic events written once to Parquet in the EDM layout; returns the keys."""
    from metflow.algorithms.generation.synthetic import SyntheticSource
    from metflow.edm.persistence import parquet_writer_options

    source = SyntheticSource(seed=seed, process=process, mu=mu, n_events=events)
    keys = source.keys()
    job = Job(source=source, sinks=[ParquetSink(path, keys, row_group_size=row_group_size,
                                                writer_options=parquet_writer_options)],
              name="bench-input")
    run_job(job, RunOptions(batch_size=min(2048, row_group_size), quiet=True, progress=False))
    return keys


def _parquet_source(path: str, verify_checksums: bool = True) -> ParquetSource:
    from metflow.edm.persistence import decode

    return ParquetSource([path], decode=decode, verify_checksums=verify_checksums)


def read_only_job(path: str, keys: Sequence[str], verify_checksums: bool = True) -> Job:
    return Job(source=_parquet_source(path, verify_checksums), sinks=[NullSink(keys, "read-only")],
               name="read-only")


def reco_job(path: str, keys: Sequence[str], output: str | None = None) -> Job:
    """met_reco on `path`; without `output` its Parquet sink is replaced by a null sink that
    consumes every input key and the maps (so it decodes what the read-only pass decodes)."""
    from metflow.edm import keys as K

    job, _ = configure_job("met_reco", inputs=[path], output=output)
    if output is None:
        made = [k for alg in job.algorithms for k in alg.output_keys()
                if K.is_met_assoc_key(k) or K.is_met_container_key(k)]
        job.sinks = [s for s in job.sinks if not isinstance(s, ParquetSink)]
        job.sinks.append(NullSink([*keys, *made]))
    return job


def rebuild_job(path: str, keys: Sequence[str]) -> Job:
    """met_rebuild (no output file): on met_reco output it is METMaker alone, on raw input it
    chains the reconstruction (the full chain). The null sink makes it decode every input key."""
    job, _ = configure_job("met_rebuild", inputs=[path])
    job.sinks.append(NullSink(keys))
    return job


class _BenchSource(Source):
    name = "bench-trivial"

    def __init__(self, n: int):
        self._n = n

    def keys(self) -> list[str]:
        return ["L0_0"]

    def n_events(self) -> int:
        return self._n

    def read(self, first: int, n: int) -> dict[str, Any]:
        return {"L0_0": np.arange(first, first + n, dtype=np.int64)}


class _Passthrough(Algorithm):
    """Trivial work: returns its first input (measures the framework alone)."""

    parts = ReadHandleKey(["L0_0"])
    out = WriteHandleKey("X")

    def compute(self, parts):
        return parts[0]


def overhead_job() -> Job:
    """OVERHEAD_LAYERS x OVERHEAD_WIDTH trivial algorithms, each layer reading two of the last."""
    algs = []
    for layer in range(1, OVERHEAD_LAYERS + 1):
        for w in range(OVERHEAD_WIDTH):
            parents = (["L0_0"] if layer == 1 else
                       [f"L{layer - 1}_{w}", f"L{layer - 1}_{(w + 1) % OVERHEAD_WIDTH}"])
            algs.append(_Passthrough(name=f"A{layer}_{w}", parts=parents, out=f"L{layer}_{w}"))
    return Job(source=_BenchSource(OVERHEAD_BLOCKS), algorithms=algs, name="overhead")


def _with_read_ahead(make: Callable[[], Job], read_ahead: int | None,
                     arrow_pool: bool = False) -> Callable[[], Job]:
    """`make` with its Parquet source reading `read_ahead` row groups ahead (None: default)
    and decoding on Arrow's thread pool or not."""
    if read_ahead is None and not arrow_pool:
        return make

    def made() -> Job:
        job = make()
        if isinstance(job.source, ParquetSource):
            if read_ahead is not None:
                job.source.read_ahead = read_ahead
            job.source.arrow_threads = arrow_pool
        return job
    return made


def demo_job(events: int) -> Job:
    job, _ = configure_job("demo", sets=["demo.work=40", "demo.branches=2"], events=events)
    return job
