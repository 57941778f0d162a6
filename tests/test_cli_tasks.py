"""`selfplay tasks ...` and the original design's generator API, driven as a user would."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from actors.tasks import (
    CodeGenerationTaskGenerator,
    MathProblemGenerator,
    MCTSSearchTaskGenerator,
    MultiStepReasoningGenerator,
)
from actors.tasks.registry import FAMILIES
from cluster.cli import main
from tests.conftest import ray_test_env, write_token

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_sample_renders_verified_solutions(family, capsys):
    assert main(["tasks", "sample", "--family", family, "--difficulty", "0.3", "-n", "2", "--seed", "5"]) == 0
    out = capsys.readouterr().out
    assert out.count(f"# {family}/") == 2
    assert out.count("verified: yes") == 2


def test_sample_is_reproducible(capsys):
    argv = ["tasks", "sample", "--kind", "sudoku", "--param", "size=9", "--difficulty", "1", "--seed", "3"]
    main(argv)
    first = capsys.readouterr().out
    main(argv)
    assert capsys.readouterr().out == first


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--family", "chemistry"], "--family: expected one of: math, code, reasoning, search, got 'chemistry'"),
        (["--kind", "chess"], "--kind: expected one of:"),
        (["--family", "math", "--kind", "sudoku"], "--kind: sudoku is not in family math"),
        (["--kind", "sudoku", "--param", "size=5"], "size"),
        (["--kind", "sudoku", "--param", "colour=red"], "--param colour: unknown parameter of task kind sudoku"),
        (["--kind", "maze", "--difficulty", "1.5"], "--difficulty: expected a number in [0, 1], got '1.5'"),
        (["--kind", "maze", "-n", "0"], "-n: expected a positive integer, got '0'"),
    ],
)
def test_bad_arguments_give_one_line_and_exit_2(argv, message, capsys):
    with pytest.raises(SystemExit) as exit_info:
        code = main(["tasks", "sample", *argv])
        raise SystemExit(code)
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and message in err, err


def test_local_check_reports_every_difficulty_verified(capsys):
    argv = ["tasks", "check", "--local", "--json", "-n", "2", "--difficulties", "0,1", "--kind", "tictactoe"]
    assert main([*argv, "--kind", "sliding"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["ok"] and [k["kind"] for k in report["kinds"]] == ["tictactoe", "sliding"]
    for kind in report["kinds"]:
        assert [d["difficulty"] for d in kind["difficulties"]] == [0.0, 1.0]
        assert all(d["verified"] == d["generated"] == 2 for d in kind["difficulties"])


def test_check_runs_on_an_embedded_ray(tmp_path):
    """The README's main job: the self-check spread over Ray tasks on an embedded local Ray."""
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    env.update(ray_test_env(write_token(tmp_path)))
    argv = [sys.executable, "-m", "cluster", "tasks", "check", "--json", "-n", "1", "--difficulties", "0,1"]
    argv += ["--kind", "tictactoe", "--kind", "countdown", "--kind", "maze"]
    result = subprocess.run(argv, capture_output=True, text=True, cwd=REPO, env=env, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    report = json.loads(result.stdout)
    assert report["ok"] and {k["kind"] for k in report["kinds"]} == {"tictactoe", "countdown", "maze"}
    assert "embedded local Ray" in result.stderr and "[3/3]" in result.stderr


@pytest.mark.parametrize(
    ("generator", "family"),
    [
        (MathProblemGenerator, "math"),
        (CodeGenerationTaskGenerator, "code"),
        (MultiStepReasoningGenerator, "reasoning"),
        (MCTSSearchTaskGenerator, "search"),
    ],
)
def test_original_generator_names(generator, family):
    problems = generator(difficulty_range=(0.2, 0.4), seed=3).generate(4)
    assert len(problems) == 4 and {p.family for p in problems} == {family}
    assert all(0.2 <= p.difficulty <= 0.4 and p.text for p in problems)
    again = generator(difficulty_range=(0.2, 0.4), seed=3).generate(4)
    assert [p.seed for p in again] == [p.seed for p in problems]
    with pytest.raises(ValueError):
        generator(difficulty_range=(0.5, 0.1))


def test_models_info_json(capsys):
    assert main(["models", "info", "--arch", "trm", "--preset", "tiny", "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    entry = info["models"]["trm"]["tiny"]
    assert entry["params"] > 0 and entry["forward_per_s_b64"] > 0


def test_bench_search_json_uses_the_local_config_network(capsys):
    argv = ["bench", "search", "--json", "--batch-sizes", "4", "--moves", "1", "--simulations", "4"]
    assert main(argv) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["task"] == "tictactoe" and "configs/local.yaml" in result["network"]
    row = result["results"][0]
    assert row["batch_size"] == 4 and row["search_sims_per_s"] > 0 and row["network_sims_per_s"] > 0
    assert row["ratio"] == pytest.approx(row["search_sims_per_s"] / row["network_sims_per_s"])


def test_bench_replay_fills_the_buffer_the_asked_number_of_times(capsys):
    argv = ["bench", "replay", "--json", "--turnovers", "3", "--set", "replay.capacity=3000"]
    assert main(argv) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["capacity"] == 3000
    assert [row["turnover"] for row in result["turnovers"]] == [1, 2, 3]
    first = result["turnovers"][0]
    assert first["growth_bytes"] == 0 and first["segments"] > 0 and first["disk_bytes"] > 0
    for row in result["turnovers"]:
        assert row["growth_bytes"] == row["rss_bytes"] - first["rss_bytes"]
