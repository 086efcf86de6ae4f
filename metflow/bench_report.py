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
    """The time of the row's algorithms whose names start with `prefix`, each its least over
    the row's runs."""
    if row is None:
        return 0
    return sum(ns for k, ns in row.best_step_ns.items() if k.startswith(prefix))


def _paired(a: Row | None, b: Row | None, ratio: Any) -> float | None:
    """The median over rounds of `ratio(wall of a, wall of b)` for the two rows' runs of the
    same round (made moments apart): robust to the machine's speed drifting between rounds,
    which the best-of-N of each row on its own is not."""
    if a is None or b is None or not a.runs_wall_s or not b.runs_wall_s:
        return None
    if a.runs_round and b.runs_round:   # the rounds both rows ran in (extra rounds: see bench.py)
        b_of_round = dict(zip(b.runs_round, b.runs_wall_s))
        values = sorted(ratio(x, b_of_round[r]) for r, x in zip(a.runs_round, a.runs_wall_s)
                        if r in b_of_round)
    else:   # rows without round names: run i of each
        values = sorted(ratio(x, y) for x, y in zip(a.runs_wall_s, b.runs_wall_s))
    if not values:
        return None
    mid = len(values) // 2
    return values[mid] if len(values) % 2 else (values[mid - 1] + values[mid]) / 2


def _summary(by: dict, threads: list[int], bs: int, executions: int,
             maker_share: dict[str, Any] | None) -> dict[str, Any]:
    """The goal ratios, each with its goal and whether it is met. A ratio of two rows is given
    twice: from each row's best run (`best`) and as the median of the per-round ratios
    (`value`, the verdict's: see `_paired`)."""
    out: dict[str, Any] = {}

    def goal(name: str, value: float | None, target: float, lower_is_better: bool, what: str,
             best: float | None = None) -> None:
        if value is None:
            return
        met = value <= target if lower_is_better else value >= target
        out[name] = {"value": value, "goal": target, "met": met, "what": what,
                     "direction": "<=" if lower_is_better else ">="}
        if best is not None:
            out[name]["best"] = best

    def ratio_goal(name: str, num: Row | None, den: Row | None, target: float,
                   lower_is_better: bool, what: str, per_event: bool = False) -> None:
        """`num` wall / `den` wall (per event when the rows differ in events)."""
        if num is None or den is None:
            return
        scale = den.events / num.events if per_event else 1.0
        goal(name, _paired(num, den, lambda x, y: x / y * scale), target, lower_is_better, what,
             num.wall_s / den.wall_s * scale)

    def speedup_goal(name: str, one: Row | None, many: Row | None, target: float, what: str,
                     per_event: bool = False) -> None:
        """events/s of `many` over events/s of `one`."""
        if one is None or many is None:
            return
        scale = many.events / one.events if per_event else 1.0
        goal(name, _paired(one, many, lambda x, y: x / y * scale), target, False, what,
             one.wall_s / many.wall_s * scale)

    for t in threads:
        plain = by.get(("read-only pass, checksums unverified", t, bs))
        checked = by.get(("read-only pass", t, bs))
        if plain is not None and checked is not None:
            name = f"checksum_read_cost_{t}t"
            goal(name, _paired(checked, plain, lambda x, y: x / y - 1), GOAL_CHECKSUM_READ_COST,
                 True, f"page-checksum verification ({verifier()}), read-only pass wall +fraction "
                       f"({t} thread{'s' if t > 1 else ''})", checked.wall_s / plain.wall_s - 1)
            if plain.cpu_s > 0:   # less sensitive than wall time to other jobs on the machine
                out[name]["cpu"] = checked.cpu_s / plain.cpu_s - 1
    ratio_goal("reco_vs_read_only", by.get(("reco chain", 1, bs)), by.get(("read-only pass", 1, bs)),
               GOAL_RECO_VS_READ, True, "reco chain wall / read-only pass wall (1 thread)")
    if 2 in threads:
        ratio_goal("reco_vs_read_only_2t", by.get(("reco chain", 2, bs)),
                   by.get(("read-only pass", 2, bs)), GOAL_RECO_VS_READ, True,
                   "reco chain wall / read-only pass wall (2 threads)")
        for name, row, batch, target, what in (
                ("reco_scaling_2t", "reco chain", bs, GOAL_SCALING_RECO_2T,
                 "reco chain events/s, 2 threads / 1 thread"),
                ("kernel_job_scaling_2t", "demo numba-kernel job", 128, GOAL_SCALING_KERNEL_2T,
                 "demo numba-kernel job, 2 threads / 1 thread"),
                ("output_scaling_2t", "reco chain + Parquet output", bs, GOAL_SCALING_OUTPUT_2T,
                 "reco chain + Parquet output events/s, 2 threads / 1 thread"),
                ("trivial_dag_2t", "framework overhead (trivial DAG)", 1, GOAL_TRIVIAL_DAG_2T,
                 "trivial DAG (tiny tasks) events/s, 2 threads / 1 thread"),
                ("batch1_scaling_2t", "reco chain", 1, GOAL_BATCH1_2T,
                 "reco chain at batch 1 events/s, 2 threads / 1 thread")):
            speedup_goal(name, by.get((row, 1, batch)), by.get((row, 2, batch)), target, what)
    speedup_goal("batch1_vs_batched", by.get(("reco chain", 1, bs)), by.get(("reco chain", 1, 1)),
                 GOAL_BATCH1_VS_BATCHED, f"reco chain events/s, batch 1 / batch {bs}",
                 per_event=True)
    ov = by.get(("framework overhead (trivial DAG)", 1, 1))
    if ov is not None:
        goal("overhead_us_per_execution", ov.wall_s / executions * 1e6, GOAL_OVERHEAD_US, True,
             "framework wall per trivial algorithm execution (1 thread, batch 1) [us]")
    reb = by.get(("METMaker rebuild", 1, bs))
    if reb is not None:
        maker_ns = _alg_ns(reb, "METMakerAlg")
        if maker_ns:
            goal("maker_events_per_s_core", reb.events / (maker_ns / 1e9), GOAL_MAKER_PER_CORE, False,
                 "METMakerAlg events/s on one core (algorithm time only, its best run)")
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
    lines.append("goal ratios: the median over rounds of the ratio of two rows' runs in the same "
                 "round (each row's best run in brackets)")
    lines.append("")
    lines.append("goals:")
    for name, g in report["summary"].items():
        if "goal" not in g:
            lines.append(f"  {g['what']}: {g['value']:,.0f}")
            continue
        value = g["value"]
        text = f"{value:,.0f}" if value >= 1000 else f"{value:.2f}"
        target = f"{g['goal']:g}"
        if "best" in g:
            text += f" (best runs: {g['best']:.2f})"
        if name.startswith("checksum_read_cost"):
            text, target = f"{100 * value:+.1f}%", f"+{100 * g['goal']:g}%"
            if "best" in g:
                text += f" (best runs: {100 * g['best']:+.1f}%)"
            if "cpu" in g:
                target += f"; process CPU time {100 * g['cpu']:+.1f}%"
        lines.append(f"  {'ok  ' if g['met'] else 'MISS'} {g['what']}: {text} (goal {g['direction']} "
                     f"{target})" + (f"; kernel share {100 * g['kernel_share']:.0f}%"
                                          if "kernel_share" in g else ""))
    verification = report.get("checksum_verification")
    if verification and verification["verify_s"] > 0:
        lines.append(f"  page-checksum verification timed directly (read-only pass, 1 thread): "
                     f"{1e3 * verification['verify_s']:.1f} ms of {1e3 * verification['wall_s']:.0f}"
                     f" ms ({100 * verification['share']:.1f}%)")
    for label, share in (("reco chain", report["reco_kernel_share"]),
                         ("METMaker rebuild", report["maker_kernel_share"])):
        if share:
            lines.append(f"  {label}: {100 * share['kernel_share']:.0f}% of algorithm time in numba "
                         f"kernels, {100 * share['python_share']:.0f}% Python/numpy orchestration")
    return "\n".join(lines)
