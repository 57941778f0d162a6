"""`cluster.report` on hand-written logs: torn lines, the buffer-full point, memory growth per actor."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cluster.cli import main
from cluster.report import build_report, format_report

MIB = 1 << 20


def write_logs(run: Path, torn: bool) -> None:
    metrics = []
    for second in range(0, 600, 10):
        size = min(100 * second, 30_000)
        metrics.append(
            {
                "time": 1000.0 + second,
                "event": "replay",
                "size": size,
                "capacity": 30_000,
                "rss_bytes": (100 + size // 1000) * MIB,
            }
        )
        metrics.append({"time": 1001.0 + second, "event": "selfplay", "worker": 0, "rss_bytes": 300 * MIB})
        metrics.append(
            {
                "time": 1002.0 + second,
                "event": "train",
                "step": second,
                "inserted_total": 100 * second,
                "rss_bytes": (400 + second // 100) * MIB,
            }
        )
    lines = [json.dumps(m) for m in metrics]
    if torn:
        lines.append('{"time": 2000.0, "event": "sel')  # a crash cut the last line short
    (run / "metrics.jsonl").write_text("\n".join(lines))
    gate = {
        "time": 1295.0,
        "kind": "gate",
        "version": 3,
        "rss_bytes": 310 * MIB,
        "reference": {
            "tasks": {
                "search/tictactoe": {"minimax": {"wins": 0, "draws": 19, "losses": 1}},
                "reasoning/sudoku": {"solve_rate": 0.75},
            }
        },
    }
    (run / "evaluations.jsonl").write_text(json.dumps(gate) + "\n")


def test_report_reads_the_logs_and_measures_growth_from_a_full_buffer(tmp_path):
    write_logs(tmp_path, torn=True)
    report = build_report(tmp_path)
    [row] = report["strength"]
    assert row["minutes"] == pytest.approx(295 / 60) and row["version"] == 3
    assert row["learner_step"] == 290 and row["positions"] == 29_000  # the last train report before the gate
    assert row["tasks"] == {"search/tictactoe": {"minimax": [0, 19, 1]}, "reasoning/sudoku": 0.75}
    growth = report["memory_growth"]
    assert growth["full_at_minutes"] == pytest.approx(5.0)  # size 30,000 reached at second 300
    actors = growth["actors"]
    assert actors["selfplay0"]["growth_bytes"] == 0 and actors["replay"]["growth_bytes"] == 0
    assert actors["learner"]["growth_bytes"] == 2 * MIB  # 403 -> 405 MiB over seconds 300..590
    assert "evaluator" not in actors  # its only report came before the buffer was full
    assert len(report["memory"]) == 10  # one row per minute
    text = format_report(report)
    assert "minimax 0/19/1" in text and "since the buffer filled at minute 5.0" in text


def test_report_of_a_directory_without_logs_is_one_line(tmp_path, capsys):
    assert main(["report", "--run-dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "not a run directory" in err[0]
