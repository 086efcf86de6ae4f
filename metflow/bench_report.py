"""The goals `metflow bench` checks (ratios within one run) and its printed table."""

from __future__ import annotations

from typing import Any

from metflow.framework import ParquetSource
from metflow.framework.page_checksums import verifier

from .bench_measure import Row

#: goals from the issues (ratios are within one run; issue 17's acceptance where it set one)
GOAL_RECO_VS_READ = 1.3          # reco chain wall <= 1.3x read-only pass
GOAL_SCALING_RECO_2T = 1.75      # 2-thread speed-up of the reco chain
GOAL_SCALING_KERNEL_2T = 1.7     # 2-thread speed-up of the demo numba-kernel job
GOAL_BATCH1_VS_BATCHED = 0.18    # batch-size 1 throughput / batched throughput
GOAL_OVERHEAD_US = 20.0          # framework overhead per algorithm execution
GOAL_MAKER_PER_CORE = 300_000.0  # METMaker events/s/core (PFlow TST)
GOAL_CHECKSUM_READ_COST = 0.05   # page-checksum verification: read-only pass wall +5% at most
GOAL_TRIVIAL_DAG_2T = 0.8        # trivial DAG events/s, 2 threads / 1 thread (tiny tasks)
GOAL_BATCH1_2T = 1.0             # batch-1 reco chain events/s, 2 threads / 1 thread
GOAL_SCALING_OUTPUT_2T = 1.6     # 2-thread speed-up of the reco chain + Parquet output


def _alg_ns(row: Row | None, prefix: str) -> int:
    if row is None:
        return 0
    return sum(ns for k, (_, ns) in row.stats.items() if k.startswith(prefix))


def _summary(by: dict, threads: list[int], bs: int, executions: int,
             maker_share: dict[str, Any] | None) -> dict[str, Any]:
    """The goal ratios, each with its goal and whether it is met."""
    out: dict[str, Any] = {}

    def goal(name: str, value: float | None, target: float, lower_is_better: bool, what: str) -> None:
        if value is None:
            return
        met = value <= target if lower_is_better else value >= target
        out[name] = {"value": value, "goal": target, "met": met, "what": what,
                     "direction": "<=" if lower_is_better else ">="}

    read1, reco1 = by.get(("read-only pass", 1, bs)), by.get(("reco chain", 1, bs))
    for t in threads:
        plain = by.get(("read-only pass, checksums unverified", t, bs))
        checked = by.get(("read-only pass", t, bs))
        if plain is not None and checked is not None:
            goal(f"checksum_read_cost_{t}t", checked.wall_s / plain.wall_s - 1,
                 GOAL_CHECKSUM_READ_COST, True,
                 f"page-checksum verification ({verifier()}), read-only pass wall +fraction "
                 f"({t} thread{'s' if t > 1 else ''})")
            if plain.cpu_s > 0:   # less sensitive than wall time to other jobs on the machine
                out[f"checksum_read_cost_{t}t"]["cpu"] = checked.cpu_s / plain.cpu_s - 1
    goal("reco_vs_read_only", reco1.wall_s / read1.wall_s if reco1 and read1 else None,
         GOAL_RECO_VS_READ, True, "reco chain wall / read-only pass wall (1 thread)")
    if 2 in threads:
        reco2 = by.get(("reco chain", 2, bs))
        goal("reco_vs_read_only_2t", reco2.wall_s / by[("read-only pass", 2, bs)].wall_s,
             GOAL_RECO_VS_READ, True, "reco chain wall / read-only pass wall (2 threads)")
        goal("reco_scaling_2t", reco2.scaling, GOAL_SCALING_RECO_2T, False,
             "reco chain events/s, 2 threads / 1 thread")
        goal("kernel_job_scaling_2t", by[("demo numba-kernel job", 2, 128)].scaling,
             GOAL_SCALING_KERNEL_2T, False, "demo numba-kernel job, 2 threads / 1 thread")
        output2 = by.get(("reco chain + Parquet output", 2, bs))
        goal("output_scaling_2t", output2.scaling if output2 else None, GOAL_SCALING_OUTPUT_2T,
             False, "reco chain + Parquet output events/s, 2 threads / 1 thread")
        dag2 = by.get(("framework overhead (trivial DAG)", 2, 1))
        goal("trivial_dag_2t", dag2.scaling if dag2 else None, GOAL_TRIVIAL_DAG_2T, False,
             "trivial DAG (tiny tasks) events/s, 2 threads / 1 thread")
        batch1_2 = by.get(("reco chain", 2, 1))
        goal("batch1_scaling_2t", batch1_2.scaling if batch1_2 else None, GOAL_BATCH1_2T, False,
             "reco chain at batch 1 events/s, 2 threads / 1 thread")
    b1, bb = by.get(("reco chain", 1, 1)), by.get(("reco chain", 1, bs))
    goal("batch1_vs_batched", b1.events_per_s / bb.events_per_s if b1 and bb else None,
         GOAL_BATCH1_VS_BATCHED, False, f"reco chain events/s, batch 1 / batch {bs}")
    ov = by.get(("framework overhead (trivial DAG)", 1, 1))
    if ov is not None:
        goal("overhead_us_per_execution", ov.wall_s / executions * 1e6, GOAL_OVERHEAD_US, True,
             "framework wall per trivial algorithm execution (1 thread, batch 1) [us]")
    reb = by.get(("METMaker rebuild", 1, bs))
    if reb is not None:
        maker_ns = _alg_ns(reb, "METMakerAlg")
        if maker_ns:
            goal("maker_events_per_s_core", reb.events / (maker_ns / 1e9), GOAL_MAKER_PER_CORE, False,
                 "METMakerAlg events/s on one core (algorithm time only)")
            if maker_share is not None:
                out["maker_events_per_s_core"]["kernel_share"] = maker_share["kernel_share"]
        out["rebuild_job_events_per_s"] = {"value": reb.events_per_s,
                                           "what": "met_rebuild job on met_reco output, 1 thread"}
    return out


def format_table(report: dict[str, Any]) -> str:
    m, inp = report["machine"], report["input"]
    lines = [
        f"metflow bench: {inp['events']} {inp['process']} events, mu={inp['mu']:g}, "
        f"{inp['bytes_per_event'] / 1e3:.1f} kB/event on disk, batch {report['batch_size']}, "
        f"best of {report['repeat']}",
        f"machine: {m['cpu']}, {m['cores']} cores; load avg {m['load_start']} (start) "
        f"{m['load_end']} (end); python {m['python']}, numba {m['numba']}, pyarrow {m['pyarrow']} "
        f"({report['arrow_threads']} Arrow threads); Parquet read-ahead "
        f"{report.get('read_ahead', ParquetSource.DEFAULT_READ_AHEAD)} row groups"
        + (", columns decoded on Arrow's pool" if report.get("arrow_pool") else
           ", decoded on the job threads (no Arrow pool)"),
        "",
        f"{'row':<34} {'thr':>3} {'batch':>5} {'events':>6} {'events/s':>10} {'wall [s]':>9} "
        f"{'cpu [s]':>8} {'ratio':>6} {'speed-up':>8} {'eff.':>5}",
    ]
    for r in report["rows"]:
        ratio = f"{r['ratio']:.2f}" if r["ratio"] is not None else ""
        scal = f"{r['scaling']:.2f}x" if r["scaling"] is not None else ""
        eff = f"{100 * r['efficiency']:.0f}%" if r["efficiency"] is not None else ""
        lines.append(f"{r['name']:<34} {r['threads']:>3} {r['batch_size']:>5} {r['events']:>6} "
                     f"{r['events_per_s']:>10,.0f} {r['wall_s']:>9.3f} {r['cpu_s']:>8.2f} {ratio:>6} "
                     f"{scal:>8} {eff:>5}")
    lines.append("ratio: wall / wall of the read-only pass of the same input and threads (METMaker: "
                 "of the met_reco output; batch-1 row: time per event / batched time per event)")
    lines.append("cpu: process CPU time (all threads, Arrow's decode threads included)")
    lines.append("")
    lines.append("goals:")
    for name, g in report["summary"].items():
        if "goal" not in g:
            lines.append(f"  {g['what']}: {g['value']:,.0f}")
            continue
        value = g["value"]
        text = f"{value:,.0f}" if value >= 1000 else f"{value:.2f}"
        target = f"{g['goal']:g}"
        if name.startswith("checksum_read_cost"):
            text, target = f"{100 * value:+.1f}%", f"+{100 * g['goal']:g}%"
            if "cpu" in g:
                target += f"; process CPU time {100 * g['cpu']:+.1f}%"
        lines.append(f"  {'ok  ' if g['met'] else 'MISS'} {g['what']}: {text} (goal {g['direction']} "
                     f"{target})" + (f"; kernel share {100 * g['kernel_share']:.0f}%"
                                          if "kernel_share" in g else ""))
    for label, share in (("reco chain", report["reco_kernel_share"]),
                         ("METMaker rebuild", report["maker_kernel_share"])):
        if share:
            lines.append(f"  {label}: {100 * share['kernel_share']:.0f}% of algorithm time in numba "
                         f"kernels, {100 * share['python_share']:.0f}% Python/numpy orchestration")
    return "\n".join(lines)
