"""PHYSLITE throughput: metflow.analysis and physlite_met against a plain uproot read of the same
branches, per-file overhead and per-event cost reported separately.

Each example file is copied N times into a temporary directory and every measurement opens a
copy it has not opened before (uproot caches baskets per open file, so re-reading one file
would time its cache). Per format (Run-2 TTree, Run-3 RNTuple), on one thread:

- plain uproot: ``uproot.open`` + the tree (per-file), then every branch the PHYSLITE converter
  reads (89/90), as arrays: ``tree.arrays(names)`` for the TTree, field by field for the
  RNTuple (its ``arrays()`` scans every field name per call: ~4 s per file);
- API: ``PhysliteFile(path)`` (per-file), then ``open_physlite`` + ``default_selection`` +
  ``rebuild_met`` (the read split from the rebuild);
- physlite_met (``physlite.sizes=False``: no Parquet size study): ``configure_job`` over the N
  copies, which opens them (per-file = its time / N), then ``run_job`` (per-event = its time /
  events).

Per-event cost = time after opening / events, a whole file read as one chunk. Reading one entry
shows how much of it is fixed per chunk: these 100-event files hold one basket (page) per
branch, decompressed whole, so nearly all of it is (the plain read's too); no larger PHYSLITE
file is at hand to separate a per-event slope. The goal is API events/s >= 0.8x the plain
read's, per event.

    pytest tests/benchmarks/test_physlite_api_bench.py -s
    python tests/benchmarks/test_physlite_api_bench.py [--copies N]
"""

from __future__ import annotations

import shutil
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import pytest

DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "physlite"
FILES = {"Run-2 TTree": DATA / "PHYSLITE_Run2_Zee_example.root",
         "Run-3 RNTuple": DATA / "PHYSLITE_Run3_ttbar_rntuple.root"}
N_COPIES = 5
GOAL = 0.8


def converter_branches(path) -> tuple[list[str], str]:
    """The branch / field names metflow's PHYSLITE converter reads, and the file format."""
    from metflow.algorithms.physlite import PhysliteFile
    from metflow.analysis import open_physlite

    with PhysliteFile(path) as pfile:
        read, wanted = pfile.read, []

        def recording(variables, first, stop):
            wanted.extend(variables)
            return read(variables, first, stop)
        pfile.read = recording
        open_physlite(pfile)
        return sorted({pfile.branch_name(*cv) for cv in wanted}), pfile.format


class Copies:
    """Fresh copies of one file, handed out once each."""

    def __init__(self, source: Path, directory: Path, tag: str):
        self.source, self.directory, self.tag, self.n = source, directory, tag, 0

    def next(self) -> str:
        self.n += 1
        path = self.directory / f"{self.tag}_{self.n}_{self.source.name}"
        shutil.copyfile(self.source, path)
        return str(path)


def plain_open(path: str, fmt: str):
    import uproot
    handle = uproot.open(path)
    return handle, handle["CollectionTree" if fmt == "TTree" else "EventData"]


def plain_read(tree, names: list[str], fmt: str, stop: int | None) -> int:
    if fmt == "TTree":
        arrays = tree.arrays(names, entry_stop=stop, how=dict)
        return len(next(iter(arrays.values())))
    n = 0
    for name in names:
        top, _, sub = name.partition(".")
        n = len((tree[top][sub] if sub else tree[top]).array(entry_stop=stop))
    return n


def api_read(pfile, stop: int | None) -> tuple[int, float, float]:
    """(events, read seconds, rebuild seconds)."""
    from metflow.analysis import default_selection, open_physlite, rebuild_met

    t0 = time.perf_counter()
    events = open_physlite(pfile, 0, stop)
    t1 = time.perf_counter()
    met = rebuild_met(events, **default_selection(events))
    t2 = time.perf_counter()
    assert len(met) == events.n_events
    return events.n_events, t1 - t0, t2 - t1


def measure_format(label: str, source: Path, workdir: Path, n_copies: int) -> dict:
    """Medians over n_copies fresh copies: open, 1-entry chunk and whole-file chunk, per mode."""
    from metflow.algorithms.physlite import PhysliteFile
    from metflow.framework.runner import RunOptions, configure_job, run_job

    names, fmt = converter_branches(source)
    copies = Copies(source, workdir, label.split()[0])
    with PhysliteFile(copies.next()) as warm:   # numba cache, imports: outside the timing
        api_read(warm, None)
    out: dict = {"format": fmt, "branches": len(names)}
    rows = {mode: {"open": [], "chunk1": [], "file": [], "read": [], "rebuild": []}
            for mode in ("uproot", "api")}
    for stop in (1, None):
        for _ in range(n_copies):
            for mode in ("uproot", "api"):   # interleaved: load drifts hit both alike
                path = copies.next()
                t0 = time.perf_counter()
                handle = plain_open(path, fmt) if mode == "uproot" else PhysliteFile(path)
                t1 = time.perf_counter()
                if mode == "uproot":
                    n = plain_read(handle[1], names, fmt, stop)
                    read, rebuild = time.perf_counter() - t1, 0.0
                else:
                    n, read, rebuild = api_read(handle, stop)
                t2 = time.perf_counter()
                (handle[0] if mode == "uproot" else handle).close()
                rows[mode]["open"].append(t1 - t0)
                if stop == 1:
                    rows[mode]["chunk1"].append(t2 - t1)
                else:
                    rows[mode]["file"].append(t2 - t1)
                    rows[mode]["read"].append(read)
                    rows[mode]["rebuild"].append(rebuild)
                    out["events"] = n
    for mode, values in rows.items():
        out[mode] = {k: statistics.median(v) for k, v in values.items() if v}
    paths = [copies.next() for _ in range(n_copies)]
    t0 = time.perf_counter()
    job, _ = configure_job("physlite_met", sets=["physlite.sizes=False"], inputs=paths)
    t1 = time.perf_counter()
    result = run_job(job, RunOptions(quiet=True, progress=False, threads=1))
    t2 = time.perf_counter()
    n_job = out["events"] * n_copies
    assert result.events == n_job
    out["physlite_met"] = {"open": (t1 - t0) / n_copies, "file": (t2 - t1) / n_copies}
    for mode in ("uproot", "api", "physlite_met"):
        row = out[mode]
        row["per_event"] = row["file"] / out["events"]
        row["events_per_s"] = 1.0 / row["per_event"]
    for mode in ("api", "physlite_met"):
        out[mode]["ratio"] = out["uproot"]["per_event"] / out[mode]["per_event"]
    return out


def format_table(results: dict) -> str:
    lines = ["| file | mode | per-file overhead | 1-entry chunk | per event (whole file) | "
             "events/s | ratio to plain |", "|---|---|---|---|---|---|---|"]
    for label, r in results.items():
        for mode, name in (("uproot", "plain uproot read"), ("api", "metflow.analysis"),
                           ("physlite_met", "physlite_met job")):
            row = r[mode]
            chunk1 = f"{row['chunk1'] * 1e3:.0f} ms" if "chunk1" in row else "-"
            ratio = f"{row['ratio']:.2f}x" if "ratio" in row else "1"
            lines.append(f"| {label} | {name} | {row['open'] * 1e3:.0f} ms | {chunk1} | "
                         f"{row['per_event'] * 1e3:.2f} ms | {row['events_per_s']:,.0f} | {ratio} |")
        api = r["api"]
        lines.append(f"| {label} | API: read / rebuild per event | | | "
                     f"{api['read'] / r['events'] * 1e3:.2f} / {api['rebuild'] / r['events'] * 1e3:.3f} ms"
                     f" | | |")
    return "\n".join(lines)


def run_all(n_copies: int = N_COPIES) -> dict:
    results = {}
    with tempfile.TemporaryDirectory(prefix="metflow-physlite-bench-") as tmp, \
            warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for label, source in FILES.items():
            results[label] = measure_format(label, source, Path(tmp), n_copies)
    return results


def test_physlite_api_throughput(benchmark):
    pytest.importorskip("uproot")
    missing = [str(p) for p in FILES.values() if not p.exists()]
    if missing:
        pytest.skip(f"example files not present: {missing}")
    results = benchmark.pedantic(run_all, rounds=1, iterations=1)
    for label, r in results.items():
        benchmark.extra_info[label] = {m: {k: v for k, v in r[m].items()}
                                       for m in ("uproot", "api", "physlite_met")}
        assert r["events"] == 100
        for mode in ("uproot", "api", "physlite_met"):
            assert np.isfinite(r[mode]["per_event"]) and r[mode]["per_event"] > 0
    print("\n" + format_table(results))
    print(f"goal: API events/s >= {GOAL}x plain per event: " + ", ".join(
        f"{label} {r['api']['ratio']:.2f}x {'met' if r['api']['ratio'] >= GOAL else 'NOT met'}"
        for label, r in results.items()))


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--copies", type=int, default=N_COPIES)
    print(format_table(run_all(parser.parse_args().copies)))
    sys.exit(0)
