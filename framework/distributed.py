"""Distributed runs on Dask: the same job over event partitions, one output part per partition.

The driver configures the job once (validating its graph before anything is submitted), cuts
the event range into partitions, and submits one task per partition. A task configures the job
again inside the worker, runs the multithreaded framework on its range and writes its part
through the job's Parquet sink (temporary file, then rename), so a part is either complete or
absent. Dask reschedules the tasks of a lost worker (`allowed_failures`), and a retried task
rewrites the same part name, so every event appears exactly once. The driver then writes
`_manifest.json` (parts, event ranges, counts, sha256) into the output directory; the directory
reads as one Parquet dataset (`pyarrow.parquet.read_table(OUTPUT)` or `metflow run --input
OUTPUT`).
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from .errors import ConfigurationError
from .io import MANIFEST
from .runner import RunOptions, configure_job, event_blocks, prepare, run_job



def _require_dask() -> Any:
    try:
        import dask.distributed as distributed
    except ImportError as exc:
        raise ConfigurationError('--executor dask needs dask: pip install "metflow[dask]"') from exc
    return distributed


@dataclass
class Partition:
    index: int
    first: int
    n_events: int

    @property
    def part_name(self) -> str:
        return f"part-{self.index:05d}.parquet"


def partitions_for(total: int, skip: int, events: int | None, n_partitions: int) -> list[Partition]:
    """Contiguous, non-overlapping event ranges covering [skip, skip + events)."""
    stop = min(total, skip + events) if events is not None else total
    count = max(0, stop - skip)
    n_partitions = max(1, min(n_partitions, count or 1))
    size = -(-count // n_partitions)
    return [Partition(i, first, min(size, stop - first))
            for i, first in enumerate(range(skip, stop, size))]


def _sha256(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def run_partition(job_spec: str, sets: Sequence[str], inputs: Sequence[str], out_dir: str,
                  partition: Partition, threads: int, slots: int | None,
                  batch_size: int) -> dict[str, Any]:
    """Worker side: run the job on one partition, writing its part atomically."""
    path = os.path.join(out_dir, partition.part_name)
    job, _ = configure_job(job_spec, sets, inputs, path, partition.n_events, partition.first)
    result = run_job(job, RunOptions(events=partition.n_events, skip=partition.first,
                                     threads=threads, slots=slots, batch_size=batch_size,
                                     progress=False, quiet=True))
    if not os.path.exists(path):
        raise ConfigurationError(f"job {job_spec!r} did not write its output to {path!r}: a "
                                 f"distributed job needs a Parquet sink on output.file")
    return {"part": partition.part_name, "first": partition.first,
            "n_events": partition.n_events, "events_written": result.events,
            "sha256": _sha256(path), "wall_s": result.wall_s, "worker_pid": os.getpid()}


def run_distributed(job_spec: str, sets: Sequence[str], inputs: Sequence[str], output: str,
                    events: int | None = None, skip: int = 0, workers: int | None = None,
                    scheduler: str | None = None, partitions: int | None = None,
                    threads: int = 1, slots: int | None = None, batch_size: int = 256,
                    retries: int = 3) -> dict[str, Any]:
    """Driver side: validate, submit one task per partition, gather, write the manifest."""
    distributed = _require_dask()
    if not output:
        raise ConfigurationError("--executor dask needs --output (a directory of parts)")
    job, _ = configure_job(job_spec, sets, inputs, os.path.join(output, "_validate.parquet"),
                           events, skip)
    prepare(job)
    total = job.source.n_events()
    if total is None:
        raise ConfigurationError("--executor dask needs a source that knows its event count")
    event_blocks(total, skip, events, batch_size)  # same argument checks as a local run
    os.makedirs(output, exist_ok=True)
    out_dir = os.path.abspath(output)
    start = time.perf_counter()
    cluster = None
    if scheduler:
        client = distributed.Client(scheduler)
    else:
        cluster = distributed.LocalCluster(n_workers=workers or 2, threads_per_worker=1,
                                           processes=True, dashboard_address=None)
        client = distributed.Client(cluster)
    try:
        n_workers = max(1, len(client.scheduler_info()["workers"]))
        parts = partitions_for(total, skip, events, partitions or 4 * n_workers)
        futures = [client.submit(run_partition, job_spec, list(sets), list(inputs), out_dir, p,
                                 threads, slots, batch_size, key=f"metflow-{p.part_name}-"
                                 f"{os.getpid()}-{time.time_ns()}", retries=retries, pure=False)
                   for p in parts]
        results = client.gather(futures)
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
    results.sort(key=lambda r: r["first"])
    expected = {p.part_name for p in parts}
    for name in os.listdir(out_dir):
        if name.startswith("part-") and name not in expected:
            os.remove(os.path.join(out_dir, name))  # stale parts of an earlier, larger run
    manifest = {"job": job_spec, "sets": list(sets), "inputs": list(inputs),
                "events": sum(r["n_events"] for r in results),
                "wall_s": time.perf_counter() - start, "parts": results}
    tmp = os.path.join(out_dir, MANIFEST + ".tmp")
    with open(tmp, "w") as f:
        json.dump(manifest, f, indent=1)
    os.replace(tmp, os.path.join(out_dir, MANIFEST))
    return manifest
