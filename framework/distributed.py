"""Distributed runs on Dask: the same job over event partitions, one output part per partition.

The driver configures the job once (validating its graph and paths before anything is
submitted), prepares the output directory (`framework.dataset.prepare_output_dir`: a non-empty
directory only with `overwrite`, its old manifest removed first), cuts the event range into
partitions and submits one task per partition. A task configures the job again inside the
worker, runs the multithreaded framework on its range and writes its part through the job's
Parquet sink (hidden temporary file, then rename; the run id and range in the part's footer),
so a part is either complete or absent. Dask reschedules the tasks of a lost worker
(`allowed_failures`), and a retried task rewrites the same part name, so every event appears
exactly once. The driver then commits the run by writing `_manifest.json` (parts, event ranges,
counts, sizes, sha256) last; every read checks the parts against it. A stop request
(SIGTERM/SIGINT) cancels the tasks and writes no manifest.

Partitions follow files: the driver expands the input specs once (`framework.input_specs`),
every task gets the same file list, and no partition straddles two input files. Each file
(its events inside the run's range) gets at least one partition; `--partitions N` (default 4
per worker) is the total when there are more than the files, the extra partitions going one by
one to the file whose partitions are largest. A source tells its files' event counts with
`file_event_counts()` (the framework's ParquetSource: its files' row counts); a source that
does not is one range.
"""

from __future__ import annotations

import heapq
import os
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from .dataset import (TEMPORARY, part_metadata, part_name, prepare_output_dir, sha256_of,
                      write_manifest)
from .errors import ConfigurationError
from .input_specs import expand_inputs
from .io import ParquetSink, ParquetSource, Source
from .runner import (RunOptions, configure_job, event_blocks, prepare, run_job,
                     source_file_events)
from .signals import Interrupted, StopRequest


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
        return part_name(self.index)


def partitions_for(total: int, skip: int, events: int | None, n_partitions: int,
                   file_events: Sequence[int] | None = None) -> list[Partition]:
    """Contiguous, non-overlapping event ranges covering [skip, skip + events), none straddling
    two files (`file_events`: each input file's event count, in order; None: one file). Every
    file in the range gets one partition at least; `n_partitions` is the total when larger, the
    extras going to the files whose partitions are then largest; a file's partitions differ by
    one event at most."""
    if n_partitions < 1:
        raise ConfigurationError(f"--partitions must be >= 1, got {n_partitions}")
    stop = min(total, skip + events) if events is not None else total
    counts = list(file_events) if file_events else [total]
    if sum(counts) != total:
        raise ConfigurationError(f"the source's files hold {sum(counts)} events, it says {total}")
    segments: list[tuple[int, int]] = []   # (first, n) of each file inside [skip, stop)
    start = 0
    for count in counts:
        first, last = max(start, skip), min(start + count, stop)
        if last > first:
            segments.append((first, last - first))
        start += count
    shares = [1] * len(segments)
    # max-heap of (-events per partition, segment): the next extra partition splits the largest
    heap = [(-n, i) for i, (_, n) in enumerate(segments) if n > 1]
    heapq.heapify(heap)
    for _ in range(n_partitions - len(segments)):
        if not heap:
            break
        _, i = heapq.heappop(heap)
        shares[i] += 1
        n = segments[i][1]
        if shares[i] < n:
            heapq.heappush(heap, (-n // shares[i], i))   # -ceil(n / shares)
    partitions: list[Partition] = []
    for (first, n), k in zip(segments, shares):
        for j in range(k):
            size = n // k + (1 if j < n % k else 0)
            partitions.append(Partition(len(partitions), first, size))
            first += size
    return partitions


def file_event_counts(source: Source) -> list[int] | None:
    """Events of each file a source reads, in order (None: not known, one range)."""
    counts = source_file_events(source)
    if counts is not None:
        return counts
    if isinstance(source, ParquetSource):
        import pyarrow.parquet as pq

        return [pq.ParquetFile(p).metadata.num_rows for p in source.paths]
    return None


def _remove_temporaries(out_dir: str) -> None:
    """Hidden part temporaries of killed or cancelled tasks."""
    for name in os.listdir(out_dir):
        if TEMPORARY.fullmatch(name):
            os.remove(os.path.join(out_dir, name))


def run_partition(job_spec: str, sets: Sequence[str], inputs: Sequence[str], out_dir: str,
                  partition: Partition, threads: int, slots: int | None,
                  batch_size: int, run_id: str = "") -> dict[str, Any]:
    """Worker side: run the job on one partition, writing its part atomically (a failed attempt
    leaves nothing a reader of the directory would see)."""
    path = os.path.join(out_dir, partition.part_name)
    job, _ = configure_job(job_spec, sets, inputs, path, partition.n_events, partition.first)
    sinks = [s for s in job.sinks if isinstance(s, ParquetSink) and s.path == path]
    if not sinks:
        raise ConfigurationError(f"job {job_spec!r} did not write its output to {path!r}: a "
                                 f"distributed job needs a Parquet sink on output.file")
    sinks[0].metadata.update(part_metadata(run_id, partition.first, partition.n_events))
    try:
        result = run_job(job, RunOptions(events=partition.n_events, skip=partition.first,
                                         threads=threads, slots=slots, batch_size=batch_size,
                                         progress=False, quiet=True))
    finally:
        partial = path + ".partial"
        if os.path.exists(partial):   # a retry rewrites the whole part
            os.remove(partial)
    return {"part": partition.part_name, "first": partition.first,
            "n_events": partition.n_events, "events_written": result.events,
            "bytes": os.path.getsize(path), "sha256": sha256_of(path),
            "wall_s": result.wall_s, "worker_pid": os.getpid()}


def run_distributed(job_spec: str, sets: Sequence[str], inputs: Sequence[str], output: str,
                    events: int | None = None, skip: int = 0, workers: int | None = None,
                    scheduler: str | None = None, partitions: int | None = None,
                    threads: int = 1, slots: int | None = None, batch_size: int = 256,
                    retries: int = 3, overwrite: bool = False,
                    stop: StopRequest | None = None) -> dict[str, Any]:
    """Driver side: validate, submit one task per partition, gather, write the manifest."""
    distributed = _require_dask()
    stop = stop if stop is not None else StopRequest()
    if not output:
        raise ConfigurationError("--executor dask needs --output (a directory of parts)")
    for flag, value in (("--workers", workers), ("--partitions", partitions)):
        if value is not None and value < 1:
            raise ConfigurationError(f"{flag} must be >= 1, got {value}")
    RunOptions(events=events, skip=skip, threads=threads, slots=slots,
               batch_size=batch_size).check()
    inputs = expand_inputs(inputs) if inputs else []   # once: every task reads the same files
    job, _ = configure_job(job_spec, sets, inputs, os.path.join(output, "_validate.parquet"),
                           events, skip)
    try:
        prepare(job)
        total = job.source.n_events()
        if total is None:
            raise ConfigurationError("--executor dask needs a source that knows its event count")
        event_blocks(total, skip, events, batch_size)  # same argument checks as a local run
        input_paths = job.source.input_paths()
        file_events = file_event_counts(job.source)
    finally:
        job.source.close()
    out_dir = prepare_output_dir(output, overwrite, input_paths)
    run_id = uuid.uuid4().hex
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
        parts = partitions_for(total, skip, events, partitions or 4 * n_workers, file_events)
        futures = [client.submit(run_partition, job_spec, list(sets), list(inputs), out_dir, p,
                                 threads, slots, batch_size, run_id,
                                 key=f"metflow-{p.part_name}-{run_id}", retries=retries,
                                 pure=False)
                   for p in parts]
        pending = list(futures)
        while pending and stop.signum is None:   # polled, so that a signal is seen at once
            time.sleep(0.05)
            for future in [f for f in pending if f.done()]:
                if future.status == "error":
                    client.cancel(futures)
                    future.result()   # raises the task's error
                pending.remove(future)
        if stop.signum is not None:
            client.cancel(futures)
            finished = sum(p.n_events for p, f in zip(parts, futures)
                           if f.status == "finished")
            raise Interrupted(stop.signum, finished, f"; tasks cancelled, {out_dir} has no "
                              f"manifest (incomplete: a reader refuses it)")
        results = client.gather(futures)
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
        if stop.signum is not None:
            _remove_temporaries(out_dir)
    results.sort(key=lambda r: r["first"])
    _remove_temporaries(out_dir)
    manifest = {"run_id": run_id, "job": job_spec, "sets": list(sets), "inputs": list(inputs),
                "events": sum(r["n_events"] for r in results),
                "wall_s": time.perf_counter() - start, "parts": results}
    write_manifest(out_dir, manifest)
    return manifest
