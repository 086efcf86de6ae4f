"""A toy workload for the framework: random hits per event and a few numba kernels over them.

Used by the `demo` job, the framework tests and the scheduler benchmarks; no physics meaning.
Event i's hits depend only on (seed, i), so any block size gives the same content.
"""

from __future__ import annotations

import numpy as np

from metflow.framework import Algorithm, Property, ReadHandleKey, Sink, Source, WriteHandleKey
from metflow.framework.jit import kernel


@kernel
def _splitmix(state: np.uint64) -> np.uint64:
    z = state + np.uint64(0x9E3779B97F4A7C15)
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


@kernel
def _hit_counts(seed: int, first: int, n: int, mean_hits: int) -> np.ndarray:
    counts = np.empty(n, np.int64)
    for i in range(n):
        r = _splitmix(np.uint64(seed) * np.uint64(1000003) + np.uint64(first + i))
        counts[i] = mean_hits // 2 + np.int64(r % np.uint64(mean_hits + 1))
    return counts


@kernel
def _hit_values(seed: int, first: int, offsets: np.ndarray) -> np.ndarray:
    values = np.empty(offsets[-1], np.float32)
    for i in range(offsets.size - 1):
        state = _splitmix(np.uint64(seed) * np.uint64(7919) + np.uint64(first + i))
        for j in range(offsets[i], offsets[i + 1]):
            state = _splitmix(state)
            values[j] = np.float32((state >> np.uint64(40)) / float(1 << 24)) * np.float32(100.0)
    return values


class Hits:
    """Jagged float32 values per event (offsets + values), writable to Arrow."""

    def __init__(self, offsets: np.ndarray, values: np.ndarray):
        self.offsets = offsets
        self.values = values

    @property
    def n_events(self) -> int:
        return self.offsets.size - 1

    def freeze(self) -> None:
        self.offsets.flags.writeable = False
        self.values.flags.writeable = False

    def to_arrow(self):
        import pyarrow as pa

        return pa.ListArray.from_arrays(pa.array(self.offsets.astype(np.int32)),
                                        pa.array(self.values))


class DemoSource(Source):
    """Random hits; event i depends only on (seed, i)."""

    def __init__(self, n_events: int = 10000, seed: int = 1, mean_hits: int = 200):
        self._n = n_events
        self.seed = seed
        self.mean_hits = mean_hits
        self.name = f"demo(seed={seed})"

    def keys(self) -> list[str]:
        return ["Hits"]

    def n_events(self) -> int:
        return self._n

    def read(self, first: int, n: int) -> dict:
        offsets = np.zeros(n + 1, np.int64)
        np.cumsum(_hit_counts(self.seed, first, n, self.mean_hits), out=offsets[1:])
        return {"Hits": Hits(offsets, _hit_values(self.seed, first, offsets))}


@kernel
def _calibrate(values: np.ndarray, scale: float, repeat: int) -> np.ndarray:
    out = np.empty_like(values)
    for j in range(values.size):
        v = values[j]
        for _ in range(repeat):
            v = np.float32(np.sqrt(v * v + np.float32(1.0)) * np.float32(scale))
        out[j] = v
    return out


@kernel
def _sum_per_event(offsets: np.ndarray, values: np.ndarray, threshold: float) -> np.ndarray:
    out = np.zeros(offsets.size - 1, np.float64)
    for i in range(offsets.size - 1):
        for j in range(offsets[i], offsets[i + 1]):
            if values[j] > threshold:
                out[i] += values[j]
    return out


class CalibrateHits(Algorithm):
    """Applies a toy calibration to every hit (`work` repeats the kernel for benchmarks)."""

    hits = ReadHandleKey("Hits", doc="input hits")
    calibrated = WriteHandleKey("CalibratedHits", doc="calibrated hits")
    scale = Property(float, 1.0, doc="calibration scale")
    work = Property(int, 1, doc="kernel repetitions per hit (load for benchmarks)")

    def compute(self, hits):
        return Hits(hits.offsets, _calibrate(hits.values, self.scale, self.work))


class SumHits(Algorithm):
    """Sum of the hits above a threshold, per event."""

    hits = ReadHandleKey("CalibratedHits", doc="hits to sum")
    total = WriteHandleKey("HitSum", doc="per-event sum (float64)")
    threshold = Property(float, 0.0, doc="minimum hit value")

    def compute(self, hits):
        return _sum_per_event(hits.offsets, hits.values, self.threshold)


class CombineSums(Algorithm):
    """Adds several per-event sums: an algorithm with a list of inputs."""

    sums = ReadHandleKey(["HitSum"], doc="per-event sums to add")
    total = WriteHandleKey("TotalSum", doc="their sum")

    def compute(self, sums):
        out = np.zeros_like(sums[0])
        for s in sums:
            out = out + s
        return out


class SummarySink(Sink):
    """Accumulates the mean of one per-event float key for the end-of-run summary."""

    def __init__(self, key: str):
        self.key = key
        self.name = f"summary({key})"
        self.n = 0
        self.total = 0.0

    def keys(self) -> list[str]:
        return [self.key]

    def write(self, first: int, n: int, data: dict) -> None:
        self.n += n
        self.total += float(np.sum(data[self.key]))

    def summary(self) -> str:
        mean = self.total / self.n if self.n else float("nan")
        return f"mean {self.key}: {mean:.4f} over {self.n} events"
