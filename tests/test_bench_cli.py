"""`metflow bench` end to end with tiny event counts: the table is printed and the JSON report
has every row and goal (no timing assertions: timing goals live in tests/benchmarks/)."""

from __future__ import annotations

import json

import pytest

from metflow.bench import (CHECKSUM_EXTRA_ROUNDS, MAKER_EXTRA_ROUNDS, OUTPUT_EXTRA_ROUNDS, RECO_EXTRA_ROUNDS,
                           TRIVIAL_DAG_EXTRA_ROUNDS, parse_threads)
from metflow.cli import main

EXPECTED_ROWS = {"read-only pass", "read-only pass, checksums unverified", "reco chain", "reco chain + Parquet output",
                 "read-only pass (met_reco output)", "METMaker rebuild", "full chain (reco + rebuild)",
                 "framework overhead (trivial DAG)", "demo numba-kernel job"}


def test_bench_prints_table_and_writes_json(tmp_path, capsys):
    out = tmp_path / "bench.json"
    rc = main(["bench", "--events", "48", "--threads", "1,2", "--batch-size", "16", "--row-group-size", "32",
               "--batch1-events", "3", "--demo-events", "64", "--repeat", "1", "--quiet",
               "--json", str(out)])
    assert rc == 0
    text = capsys.readouterr().out
    for row in EXPECTED_ROWS:
        assert row in text
    assert "goals:" in text and "load avg" in text
    report = json.loads(out.read_text())
    assert report["input"]["events"] == 48 and report["threads"] == [1, 2]
    assert report["machine"]["cores"] >= 1 and len(report["machine"]["load_start"]) in (0, 3)
    rows = {(r["name"], r["threads"], r["batch_size"]): r for r in report["rows"]}
    assert {name for name, _, _ in rows} == EXPECTED_ROWS
    for threads in (1, 2):
        for name in EXPECTED_ROWS - {"framework overhead (trivial DAG)", "demo numba-kernel job"}:
            row = rows[(name, threads, 16)]
            assert row["events"] == 48 and row["wall_s"] > 0 and row["cpu_s"] >= 0
            assert row["events_per_s"] == pytest.approx(48 / row["wall_s"])
            # more rounds per --repeat: the page-checksum pair CHECKSUM_EXTRA_ROUNDS, the
            # read-only pass and the reco chain RECO_EXTRA_ROUNDS, the reco chain + Parquet
            # output OUTPUT_EXTRA_ROUNDS, METMaker rebuild at 1 thread MAKER_EXTRA_ROUNDS
            extra = {"checksum": CHECKSUM_EXTRA_ROUNDS if name.startswith("read-only pass")
                     and "met_reco" not in name else 0,
                     "reco": RECO_EXTRA_ROUNDS if name in ("read-only pass", "reco chain") else 0,
                     "output": OUTPUT_EXTRA_ROUNDS if name == "reco chain + Parquet output" else 0,
                     "maker": MAKER_EXTRA_ROUNDS if (name, threads) == ("METMaker rebuild", 1) else 0}
            assert row["runs_round"] == ["main 1"] + [f"{group} {i}" for group, n in extra.items()
                                                      for i in range(1, n + 1)]
            assert len(row["runs_wall_s"]) == len(row["runs_round"])
            for step, ns in row["best_step_ns"].items():   # each step's least time over the runs
                assert 0 <= ns <= row["stats"][step]["ns"]
    reco1, read1 = rows[("reco chain", 1, 16)], rows[("read-only pass", 1, 16)]
    assert reco1["ratio"] == pytest.approx(reco1["wall_s"] / read1["wall_s"])
    assert rows[("reco chain", 2, 16)]["scaling"] == pytest.approx(
        rows[("reco chain", 2, 16)]["events_per_s"] / reco1["events_per_s"])
    # the per-algorithm table of the best run is kept: every block of every chain algorithm ran
    assert reco1["stats"]["METAssocMapBuilder_AntiKt4EMPFlow"]["calls"] == 3
    batch1 = rows[("reco chain", 1, 1)]   # --batch1-events 3 is rounded up to one row group
    assert batch1["events"] == 32 and batch1["stats"]["METAssocMapBuilder_AntiKt4EMPFlow"]["calls"] == 32
    batch1_2 = rows[("reco chain", 2, 1)]   # batch 1 at every thread count, with its speed-up
    assert batch1_2["scaling"] == pytest.approx(batch1_2["events_per_s"] / batch1["events_per_s"])
    # the batch-1 goals: the median of the same-round ratios over every round of their rows
    assert batch1["runs_round"] == batch1_2["runs_round"] == ["main 1"] + [
        f"reco {i}" for i in range(1, RECO_EXTRA_ROUNDS + 1)]
    trivial = [rows[("framework overhead (trivial DAG)", t, 1)] for t in (1, 2)]
    assert [len(r["runs_wall_s"]) for r in trivial] == [1 + TRIVIAL_DAG_EXTRA_ROUNDS] * 2
    per_round = sorted(a / b * 32 / 48 for a, b in zip(reco1["runs_wall_s"], batch1["runs_wall_s"]))
    assert summary_value(report, "batch1_vs_batched") == pytest.approx(
        (per_round[0] + per_round[1]) / 2 if len(per_round) == 2 else per_round[len(per_round) // 2])
    summary = report["summary"]
    plain = rows[("read-only pass, checksums unverified", 1, 16)]
    # the rounds both rows ran in: the main ones and the page-checksum pair's (not the reco group's)
    plain_of = dict(zip(plain["runs_round"], plain["runs_wall_s"]))
    same_round = sorted(x / plain_of[r] - 1 for r, x in zip(read1["runs_round"], read1["runs_wall_s"])
                        if r in plain_of)
    assert len(same_round) == 1 + CHECKSUM_EXTRA_ROUNDS
    assert summary_value(report, "checksum_read_cost_1t") == pytest.approx(same_round[len(same_round) // 2])
    assert report["summary"]["checksum_read_cost_1t"]["best"] == pytest.approx(
        read1["wall_s"] / plain["wall_s"] - 1)
    for goal in ("reco_vs_read_only", "reco_scaling_2t", "kernel_job_scaling_2t", "batch1_vs_batched",
                 "overhead_us_per_execution", "maker_events_per_s_core", "checksum_read_cost_1t",
                 "checksum_read_cost_2t", "output_scaling_2t", "trivial_dag_2t", "batch1_scaling_2t"):
        assert set(summary[goal]) >= {"value", "goal", "met"}
        assert summary[goal]["met"] == (summary[goal]["value"] <= summary[goal]["goal"]
                                        if summary[goal]["direction"] == "<=" else
                                        summary[goal]["value"] >= summary[goal]["goal"])
    # METMakerAlg's speed: its least time over the rebuild runs at 1 thread
    rebuild = rows[("METMaker rebuild", 1, 16)]
    maker_ns = sum(ns for step, ns in rebuild["best_step_ns"].items() if step.startswith("METMakerAlg"))
    assert summary_value(report, "maker_events_per_s_core") == pytest.approx(48 / (maker_ns / 1e9))
    assert 0 <= report["reco_kernel_share"]["kernel_share"] <= 1
    assert report["reco_kernel_share"]["kernels"] > 0
    # the verification's own time, measured directly in a 1-thread read-only pass
    verification = report["checksum_verification"]
    assert 0 < verification["verify_s"] < verification["wall_s"]
    assert verification["share"] == pytest.approx(verification["verify_s"] / verification["wall_s"])
    assert "page-checksum verification timed directly" in text


def summary_value(report, goal):
    return report["summary"][goal]["value"]


def test_bench_rejects_bad_threads(capsys):
    assert main(["bench", "--threads", "1,x", "--quiet"]) == 2
    assert "--threads" in capsys.readouterr().err
    assert main(["bench", "--events", "0", "--quiet"]) == 2
    assert "--events must be >= 1" in capsys.readouterr().err


def test_parse_threads():
    assert parse_threads("2,1,2") == [1, 2]
    assert parse_threads("4") == [1, 4]          # scaling needs the 1-thread reference
    assert parse_threads(None)[0] == 1


def test_bench_source_options_are_reported(tmp_path, capsys):
    out = tmp_path / "bench.json"
    rc = main(["bench", "--events", "40", "--threads", "1,2", "--batch-size", "8", "--row-group-size", "16",
               "--batch1-events", "4", "--demo-events", "32", "--repeat", "1", "--quiet", "--skip-rebuild",
               "--read-ahead", "0", "--json", str(out)])
    assert rc == 0
    text = capsys.readouterr().out
    assert "Parquet read-ahead 0 row groups, decoded on the job threads" in text
    report = json.loads(out.read_text())
    assert report["read_ahead"] == 0 and report["arrow_pool"] is False
    assert report["input"]["row_group_size"] == 16
    rows = {(r["name"], r["threads"], r["batch_size"]): r for r in report["rows"]}
    assert rows[("reco chain", 2, 8)]["stats"]["METAssocMapBuilder_AntiKt4EMPFlow"]["calls"] == 5


def test_bench_rejects_negative_read_ahead(capsys):
    assert main(["bench", "--events", "8", "--read-ahead", "-1", "--quiet"]) == 2
    assert "--read-ahead" in capsys.readouterr().err


def test_goal_ratios_are_medians_of_the_same_rounds_ratios():
    """A goal ratio compares the two rows' runs of the same round (median over rounds); the
    ratio of each row's best run is kept beside it. Here the machine is twice as slow in the
    middle round: the best runs pair round 1 of one row with round 3 of the other."""
    from metflow.bench_measure import Row
    from metflow.bench_report import _paired, _summary

    def row(name, threads, walls, events=100, batch=16):
        r = Row(name, threads, batch, events, wall_s=min(walls), runs_wall_s=list(walls))
        return r

    one = row("reco chain", 1, [1.00, 2.00, 0.90])
    two = row("reco chain", 2, [0.60, 1.20, 0.40])
    assert _paired(one, two, lambda x, y: x / y) == pytest.approx(1.0 / 0.6)
    # a row measured in more rounds pairs its first rounds with the other's
    assert _paired(one, row("x", 1, [0.5]), lambda x, y: x / y) == pytest.approx(2.0)
    assert _paired(one, Row("x", 1, 16, 100), lambda x, y: x / y) is None
    # rows with named rounds pair the rounds both ran in, whatever their position
    named = Row("reco chain", 1, 16, 100, runs_wall_s=[1.0, 9.0, 3.0],
                runs_round=["main 1", "checksum 1", "reco 1"])
    other = Row("reco chain", 2, 16, 100, runs_wall_s=[0.5, 1.0], runs_round=["main 1", "reco 1"])
    assert _paired(named, other, lambda x, y: x / y) == pytest.approx(2.5)   # 2 and 3 (not 9)
    alone = Row("x", 1, 16, 100, runs_wall_s=[1.0], runs_round=["trivial 1"])
    assert _paired(named, alone, lambda x, y: x / y) is None
    by = {(r.name, r.threads, r.batch_size): r for r in (one, two)}
    summary = _summary(by, [1, 2], 16, 100, None)
    assert summary["reco_scaling_2t"]["value"] == pytest.approx(1.0 / 0.6)
    assert summary["reco_scaling_2t"]["best"] == pytest.approx(0.9 / 0.4)
    assert summary["reco_scaling_2t"]["met"] is False   # 1.67 < 1.75, though the best runs say 2.25
