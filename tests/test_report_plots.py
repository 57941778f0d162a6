"""`selfplay report RUN_DIR --out DIR`: PNG plots and report.md from synthetic run logs."""

from __future__ import annotations

import json
from pathlib import Path

from cluster.cli import main

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
PLOTS = ["strength.png", "difficulty.png", "throughput.png", "buffer.png", "losses.png", "resources.png"]
T0 = 1_800_000_000.0


def _write_jsonl(path: Path, records: list[dict]) -> None:
    path.write_text("".join(json.dumps(r) + "\n" for r in records))


def _gate(time: float, version: int, accepted: bool, solve: float, wins: int) -> dict:
    buckets = {"0.00-0.50": (solve + 0.1, solve), "0.50-1.00": (solve - 0.2, solve - 0.3)}
    return {
        "time": time,
        "kind": "gate",
        "version": version,
        "candidate_version": version,
        "best_version": version - 1,
        "accepted": accepted,
        "rss_bytes": 300 << 20,
        "tasks": {
            "search/tictactoe": {"type": "game", "games": 20, "wins": 8, "draws": 6, "losses": 6, "score": 0.55},
            "reasoning/sudoku": {
                "type": "puzzle",
                "instances": 32,
                "candidate_solve_rate": solve,
                "best_solve_rate": solve - 0.1,
                "by_difficulty": {
                    name: {"instances": 16, "candidate_solve_rate": c, "best_solve_rate": b}
                    for name, (c, b) in buckets.items()
                },
            },
        },
        "reference": {
            "tasks": {
                "search/tictactoe": {
                    "minimax": {"wins": 0, "draws": 20 - wins, "losses": wins},
                    "random": {"wins": 10 + wins, "draws": 10 - wins, "losses": 0},
                },
                "reasoning/sudoku": {"solve_rate": solve, "by_difficulty": {}},
            }
        },
    }


def _write_run(run: Path, loss_scale: float) -> None:
    run.mkdir()
    metrics: list[dict] = []
    step = 0
    for i in range(30):  # ten minutes, a report every 20 s
        t = T0 + 20 * i
        for worker in (0, 1):
            metrics.append(
                {
                    "time": t + worker,
                    "event": "selfplay",
                    "worker": worker,
                    "episodes": 40 + i,
                    "positions": 150 + 3 * i,
                    "seconds": 20.0,
                    "rss_bytes": (300 + i + 10 * worker) << 20,
                    "cpu_percent": 80.0 + worker * 5 + i % 3,
                }
            )
        step += 50
        metrics.append(
            {
                "time": t + 5,
                "event": "train",
                "step": step,
                "steps_this_call": 50,
                "samples_this_call": 6400,
                "inserted_total": 300 * (i + 1),
                "losses": {
                    "policy": loss_scale * (2.0 - i / 30),
                    "value": loss_scale * (0.8 - i / 60),
                    "halting": loss_scale * 0.5,
                    "total": loss_scale * (3.3 - i / 20),
                },
                "rss_bytes": (400 + 2 * i) << 20,
            }
        )
        if i % 2 == 0:
            for shard in (0, 1):
                metrics.append(
                    {
                        "time": t + 10 + shard,
                        "event": "replay",
                        "shard": shard,
                        "size": 150 * (i + 1),
                        "capacity": 10_000,
                        "sample_age_mean": 40.0 * i,
                        "rss_bytes": (100 + i) << 20,
                    }
                )
        metrics.append({"time": t + 15, "event": "interval", "note": "an event the plots do not know"})
    _write_jsonl(run / "metrics.jsonl", metrics)
    evaluations = [_gate(T0 + 240, 1, True, 0.6, 4), _gate(T0 + 560, 2, False, 0.7, 2)]
    _write_jsonl(run / "evaluations.jsonl", evaluations)


def test_report_out_writes_plots_and_markdown(tmp_path: Path, capsys) -> None:
    images: dict[float, dict[str, bytes]] = {}
    for scale in (1.0, 2.0):
        run, out = tmp_path / f"run{scale}", tmp_path / f"out{scale}"
        _write_run(run, scale)
        assert main(["report", str(run), "--out", str(out)]) == 0
        printed = capsys.readouterr().out
        assert "strength" in printed  # the text report is still printed
        images[scale] = {}
        for name in PLOTS:
            path = out / name
            assert path.is_file(), name
            data = path.read_bytes()
            assert data.startswith(PNG_MAGIC), name
            assert len(data) > 10_000, (name, len(data))
            assert str(path) in printed
            images[scale][name] = data
        markdown = (out / "report.md").read_text()
        assert str(out / "report.md") in printed
        for name in PLOTS:
            assert f"]({name})" in markdown, name
        assert "minutes logged" in markdown and "reasoning/sudoku" in markdown
    assert images[1.0]["losses.png"] != images[2.0]["losses.png"]
    assert images[1.0]["strength.png"] == images[2.0]["strength.png"]  # same evaluations: same picture


def test_report_out_skips_plots_without_data(tmp_path: Path, capsys) -> None:
    run, out = tmp_path / "run", tmp_path / "out"
    run.mkdir()
    _write_jsonl(run / "metrics.jsonl", [{"time": T0, "event": "selfplay", "worker": 0, "episodes": 1, "positions": 3}])
    assert main(["report", "--run-dir", str(run), "--out", str(out)]) == 0
    capsys.readouterr()
    assert sorted(p.name for p in out.glob("*.png")) == ["throughput.png"]
    assert "throughput.png" in (out / "report.md").read_text()
