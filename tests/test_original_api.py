"""The original design's API, config and commands, run as its users wrote them, on the real loop.

- the README's quick start, extracted and run as written in a fresh process (its own embedded Ray);
- `SelfPlayTrainer` in this process: every key of an iteration with sane values, weights that change,
  self-play episodes with their search traces, examples and a torch dataset, evaluation, checkpoints;
- the original config dict and a ``self_play:`` YAML section: translated, and a misspelt key refused
  in one line; the `self-play` command prints the original's per-iteration line.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from cluster.config import config_from_dict, load_config
from cluster.errors import ConfigError
from tests.clusters import FAST, REPO, overrides
from tests.conftest import ray_test_env, write_token

# The original dict's keys, small: the trainer's own runs in this file take seconds per iteration.
ORIGINAL = {
    "games_per_iteration": 24,
    "parallel_batch_size": 16,
    "batch_size": 32,
    "max_buffer_size": 5000,
    "mcts": {"num_simulations": 8, "c_puct": 1.5, "temperature_init": 1.0, "temperature_final": 0.1},
    "task_generators": {
        "reasoning": {"enabled": True, "difficulty_range": [0.0, 0.5], "num_per_iteration": 2},
        "mcts": {"enabled": True, "num_per_iteration": 1},
        "math": {"enabled": False},
    },
    "training": {"success_weight": 1.0, "failure_weight": 0.5},
    "checkpointing": {"enabled": True, "save_every": 1, "keep_best": 2},
}
# Our own sections beside it: a short learner call, a small buffer minimum, small held-out sets.
OURS = {
    "replay": {"min_positions_to_sample": 64},
    "selfplay": {"play_seconds": 1.0, "push_positions": 64},
    "evaluation": {"gating": "always", "puzzles_per_task": 8, "games_per_task": 4, "reference_games": 4},
    "run": {"train_seconds": 1.0, "progress_every_seconds": 5.0},
}


def run_python(args: list[str], tmp_path: Path, cwd: Path = REPO, timeout: float = 600) -> subprocess.CompletedProcess:
    """``python ARGS`` in a fresh process with its own embedded Ray (token auth on) and the checkout importable."""
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    env.update(ray_test_env(write_token(tmp_path)))
    env["PYTHONPATH"] = str(REPO)
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, cwd=cwd, env=env, timeout=timeout)


# ----- configuration (no Ray) --------------------------------------------------------------------


def test_the_original_dict_maps_onto_our_configuration():
    config = config_from_dict({**ORIGINAL, "training": {**ORIGINAL["training"], "alternating_interval": 3}}, "config")
    assert config.run.episodes_per_iteration == 24 and config.selfplay.episodes_per_worker == 16
    assert config.learner.batch_size == 32 and config.replay.capacity == 5000
    assert (config.search.num_simulations, config.search.c_puct) == (8, 1.5)
    assert config.search.temperature_final == 0.1
    assert [(e.kind, e.weight, e.difficulty) for e in config.tasks.mix] == [
        ("sudoku", 2.0, (0.0, 0.5)),
        ("tictactoe", 1.0, (0.0, 1.0)),
    ]
    assert (config.replay.success_weight, config.replay.failure_weight) == (1.0, 0.5)
    assert config.supervised.refine_every == 3
    assert (config.run.save_every_iterations, config.run.keep_best) == (1, 2)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (
            {"mcts": {"num_simulatons": 3}},
            "config: mcts.num_simulatons: unknown key (expected one of: num_simulations, c_puct, "
            "temperature_init, temperature_final)",
        ),
        ({"games_per_iteration": 0}, "config: games_per_iteration: expected a positive integer, got 0"),
        (
            {"task_generators": {"math": {"difficulty_range": [0.5, 0.1]}}},
            "config: task_generators.math.difficulty_range: expected a pair [low, high] with low <= high, "
            "both in [0.0, 1.0], got [0.5, 0.1]",
        ),
        ({"checkpointing": {"enabled": False}}, "config: checkpointing.enabled: expected true"),
    ],
)
def test_a_bad_original_key_is_one_line(data, message):
    from cluster.trainer import SelfPlayTrainer

    with pytest.raises(ConfigError) as error:
        SelfPlayTrainer(config=data)
    assert str(error.value).startswith(message) and "\n" not in str(error.value)


def test_a_self_play_yaml_section_works_with_the_command(tmp_path):
    good = tmp_path / "original.yaml"
    good.write_text("self_play:\n  games_per_iteration: 10\n  mcts: {num_simulations: 12}\nseed: 3\n")
    config = load_config(good)
    assert (config.run.episodes_per_iteration, config.search.num_simulations, config.seed) == (10, 12, 3)

    bad = tmp_path / "typo.yaml"
    bad.write_text("self_play:\n  mcts: {num_simulatons: 12}\n")
    result = subprocess.run(
        [sys.executable, "-m", "cluster", "config", "show", "--config", str(bad)],
        capture_output=True,
        text=True,
        cwd=REPO,
    )
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"selfplay: {bad}: self_play.mcts.num_simulatons: unknown key "
        "(expected one of: num_simulations, c_puct, temperature_init, temperature_final)"
    ]


# ----- episodes, examples and datasets on their own (no Ray) ---------------------------------------


def test_the_episode_generator_plays_the_generators_problems_with_search():
    import asyncio

    from cluster import (
        MathProblemGenerator,
        MCTSSearchTaskGenerator,
        SelfPlayDataset,
        SelfPlayEpisodeGenerator,
        TrainingDataExtractor,
    )

    problems = MathProblemGenerator(difficulty_range=(0.0, 0.2), seed=1).generate(3)
    problems += MCTSSearchTaskGenerator(seed=2, kinds=["tictactoe"]).generate(2)
    generator = SelfPlayEpisodeGenerator(device="cpu")
    episode = asyncio.run(generator.generate_episode(problems[0], max_steps=50))
    assert episode.problem is problems[0] and episode.episode_length == len(episode.steps) >= 1
    assert episode.total_reward == episode.outcome and not episode.truncated
    first = episode.steps[0]
    # At least one visit: a root proven at once (a move that reaches the target) stops its search early.
    assert first.visit_counts[first.action] >= 1 and abs(first.policy.sum() - 1) < 1e-4
    assert np.array_equal(first.state, problems[0].state)

    episodes = asyncio.run(generator.generate_episodes(problems))
    games = [e for e in episodes if e.two_player]
    assert len(games) == 2 and all(e.outcome in (-1.0, 0.0, 1.0) for e in games)
    truncated = asyncio.run(generator.generate_episode(problems[3], max_steps=2))
    assert truncated.episode_length == 2 and truncated.truncated and truncated.outcome == 0.0

    examples = TrainingDataExtractor(success_weight=2.0, failure_weight=0.5).extract_examples(episodes)
    assert len(examples["value"]) == sum(e.episode_length for e in episodes)
    policy = SelfPlayDataset(examples, "policy")
    import torch

    assert isinstance(policy, torch.utils.data.Dataset)
    assert len(policy) == len(examples["policy"]) and {x.weight for x in examples["policy"]} <= {2.0}
    for task_id in policy.task_ids:
        batch = next(iter(torch.utils.data.DataLoader(policy.subset(task_id), batch_size=4)))
        assert batch["tokens"].dtype == torch.int64 and batch["target"].shape[0] == batch["tokens"].shape[0]
    with pytest.raises(ValueError, match="kind: expected one of"):
        SelfPlayDataset(examples, "positive")


# ----- the quick start, as the README gives it -----------------------------------------------------


def test_the_readme_quick_start_runs_as_written_and_trains(tmp_path):
    readme = (REPO / "README.md").read_text()
    section = readme[readme.index("## The original design's API") :]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    (tmp_path / "quickstart.py").write_text(code)
    result = run_python(["quickstart.py"], tmp_path, cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    lines = result.stdout.splitlines()
    for i in range(2):
        assert any(re.fullmatch(rf"Iteration {i}: \d+\.\d\d% success", line) for line in lines), result.stdout
    assert "the agent holds weights version 2" in result.stdout  # both gates promoted (the local preset's gating)

    from common.tensorfile import read_tensors

    weights = sorted((tmp_path / "checkpoints" / "self_play" / "weights").glob("v*.safetensors"))
    first, last = read_tensors(weights[0], "np")[0], read_tensors(weights[-1], "np")[0]
    assert weights[0].name == "v000000.safetensors" and len(weights) >= 2
    assert any(not np.array_equal(first[name], last[name]) for name in first), "training changed the weights"


# ----- the trainer in this process ---------------------------------------------------------------


@pytest.fixture(scope="module")
def trainer(local_ray, tmp_path_factory):
    from cluster.trainer import SelfPlayTrainer
    from learner.agents import create_trm_agent

    agent = create_trm_agent("tiny")
    run = tmp_path_factory.mktemp("api") / "run"
    trainer = SelfPlayTrainer(trm_agent=agent, config={**ORIGINAL, **OURS}, checkpoint_dir=run)
    yield trainer
    trainer.close()


def test_an_iteration_returns_every_figure(trainer):
    import asyncio

    first = asyncio.run(trainer.iteration(0))
    second = asyncio.run(trainer.iteration(1))
    for metrics, i in ((first, 0), (second, 1)):
        assert metrics["iteration"] == i
        assert metrics["num_episodes"] >= 24  # games_per_iteration
        for key in ("success_rate", "eval_success_rate", "best_model_metric"):
            assert 0.0 <= metrics[key] <= 1.0, key
        assert metrics["policy_loss"] > 0 and metrics["value_loss"] >= 0
        assert metrics["elapsed_time"] > 0 and metrics["accepted"]
        assert set(metrics["tasks"]) == {"reasoning/sudoku", "search/tictactoe"}
    assert (first["version"], second["version"]) == (1, 2)
    assert second["learner_step"] > first["learner_step"] > 0
    assert trainer.agents[0].version == 2, "the agent holds the best weights"

    quality = trainer.get_quality_metrics()
    assert quality["iterations"] == 2 and quality["total_episodes_generated"] >= 48
    assert quality["avg_episode_length"] > 1
    assert min(first["success_rate"], second["success_rate"]) <= quality["best_success_rate"] <= 1.0
    usage = trainer.get_resource_usage()
    assert usage["memory_used_gb"] > 0.1 and {"driver", "learner", "selfplay0"} <= set(usage["memory_by_actor_gb"])
    assert 0.0 <= usage["cpu_percent"] <= 100.0


def test_self_play_episodes_carry_their_search_and_become_examples(trainer):
    import asyncio

    from actors.selfplay.examples import SelfPlayDataset, TrainingDataExtractor

    positions = trainer.driver.counters.positions
    episodes = asyncio.run(trainer.run_self_play(12))
    assert len(episodes) == 12 and {e.problem.kind for e in episodes} <= {"sudoku", "tictactoe"}
    for episode in episodes:
        assert episode.episode_length == len(episode.steps) >= 1 and not episode.truncated
        assert episode.total_reward == episode.outcome
        for step in episode.steps:
            assert step.visit_counts.sum() >= 1 and step.visit_counts[step.action] > 0
            assert abs(step.policy.sum() - 1.0) < 1e-4
    assert trainer.driver.counters.positions == positions + sum(e.episode_length for e in episodes)

    examples = TrainingDataExtractor(success_weight=1.0, failure_weight=0.25).extract_examples(episodes)
    assert len(examples["value"]) == sum(e.episode_length for e in episodes)
    assert len(examples["policy"]) + len(examples["negative"]) == len(examples["value"])
    assert {x.weight for x in examples["negative"]} <= {0.25}
    dataset = SelfPlayDataset(examples, "value")
    item = dataset[0]
    assert item["tokens"].dtype.is_floating_point is False and item["legal_mask"].shape == item["target"].shape


def test_evaluation_and_checkpoints(trainer, tmp_path):
    import asyncio

    from cluster.trainer import SelfPlayTrainer

    record = asyncio.run(trainer.evaluate_models(8))
    assert 0.0 <= record["eval_success_rate"] <= 1.0 and "reasoning/sudoku" in record["tasks"]
    weights = trainer._save_checkpoint(2, best=True)
    assert weights.name == f"v{trainer.driver.counters.version:06d}.safetensors" and weights.is_file()

    other = SelfPlayTrainer(config={**ORIGINAL, **OURS}, checkpoint_dir=tmp_path / "from-weights")
    other.load_checkpoint(weights)
    with pytest.raises(ConfigError, match="no such run directory or weights file"):
        other.load_checkpoint(tmp_path / "missing.safetensors")
    other._save_checkpoint(0)  # starts the run: version 0 is the loaded weights
    try:
        from common.tensorfile import read_tensors

        start = read_tensors(other.driver.run_dir.weights_path(0), "np")[0]
        given = read_tensors(weights, "np")[0]
        assert all(np.array_equal(start[name], given[name]) for name in given)
    finally:
        other.close()


# ----- the original commands ---------------------------------------------------------------------


def test_the_self_play_command_prints_the_original_lines(tmp_path):
    run = tmp_path / "cli"
    argv = ["self-play", "--iterations", "1", "--games", "16", "--checkpoint-dir", str(run), *overrides(FAST)]
    result = run_python(["-m", "cluster", *argv], tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    assert re.search(r"^Iteration 0: \d+\.\d\d% success \(eval ", result.stdout, re.M), result.stdout
    assert (run / "weights" / "v000001.safetensors").is_file()


# ----- supervised pre-training, integrated training, curriculum ------------------------------------

INTEGRATED = """\
# The original design's section, with our own keys beside it.
self_play:
  games_per_iteration: 32
  parallel_batch_size: 16
  batch_size: 32
  mcts: {num_simulations: 8}
  training: {success_weight: 1.0, failure_weight: 0.5, alternating_interval: 2}
tasks:
  mix:
    - {kind: sudoku, params: {size: 4}, difficulty: [0.0, 1.0],
       curriculum: {mode: adaptive, min_episodes: 16, raise_above: 0.5, lower_below: 0.1}}
    - {kind: countdown, params: {max_numbers: 3}, difficulty: [0.0, 0.1]}
supervised: {generate: 120, steps: 60, refine_steps: 10}
ray: {num_cpus: 4}
replay: {min_positions_to_sample: 64}
selfplay: {play_seconds: 1.0, push_positions: 64}
evaluation: {gating: always, puzzles_per_task: 8}
run: {train_seconds: 1.0}
"""


def test_integrated_training_pretrains_refines_and_resumes(tmp_path):
    (tmp_path / "integrated.yaml").write_text(INTEGRATED)
    run = tmp_path / "run"
    argv = ["integrated-training", "--config", str(tmp_path / "integrated.yaml"), "--checkpoint-dir", str(run)]

    def integrated(iterations: int) -> subprocess.CompletedProcess:
        return run_python(["-m", "cluster", *argv, "--iterations", str(iterations)], tmp_path)

    first = integrated(2)
    assert first.returncode == 0, first.stderr[-3000:]
    assert "pre-training: 60 learner steps on demonstrations" in first.stderr
    assert "supervised refinement after gate 2: 10 learner steps" in first.stderr
    assert re.search(r"^Iteration 1: ", first.stdout, re.M), first.stdout
    assert len((run / "demos.jsonl").read_text().splitlines()) == 120  # what a resume trains on

    from tests.clusters import read_jsonl

    metrics = read_jsonl(run / "metrics.jsonl")
    phases = [m["phase"] for m in metrics if m["event"] == "supervised"]
    assert phases == ["pre-training", "refinement"]
    levels = [m["curriculum"]["reasoning/sudoku"]["level"] for m in metrics if m["event"] == "selfplay"]
    assert levels and all(0.0 <= level <= 1.0 for level in levels)

    second = integrated(1)  # a resume: no second pre-training, the same demonstrations
    assert second.returncode == 0, second.stderr[-3000:]
    assert "resumed" in second.stderr and "pre-training:" not in second.stderr
    import json

    counters = json.loads((run / "state.json").read_text())["counters"]
    assert counters["pretrained"] and counters["supervised_steps"] >= 70 and counters["iteration"] == 3


def test_a_malformed_demonstrations_line_is_reported_with_its_number(tmp_path):
    demos = tmp_path / "demos.jsonl"
    demos.write_text('{"kind": "sudoku", "params": {"size": 4}, "state": [1, 2], "actions": [0]}\nnot json\n')
    argv = ["pretrain", "--config", "configs/local.yaml", "--demos", str(demos), "--run-dir", str(tmp_path / "run")]
    result = run_python(["-m", "cluster", *argv], tmp_path, timeout=120)
    assert result.returncode == 2
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith(f"selfplay: {demos}: line 1: ") and "state" in line


# ----- HRM and TRM side by side ------------------------------------------------------------------


def test_two_models_are_configured_side_by_side(tmp_path):
    both = "model: [{arch: hrm, preset: tiny}, {arch: trm, preset: tiny}]\nselfplay: {num_workers: 2}\n"
    (tmp_path / "both.yaml").write_text(both)
    config = load_config(tmp_path / "both.yaml")
    assert [m.arch for m in config.models] == ["hrm", "trm"] and config.selfplay.shares(2) == [0.5, 0.5]
    for extra, message in [
        ("", "selfplay.num_workers: expected at least one self-play worker per model (2), got 1"),
        ("replay: {sampling: prioritized}\n", "replay.sampling: prioritized needs one model"),
        ("inference: {servers: 1}\n", "inference.servers: an inference server holds one model"),
        ("selfplay: {num_workers: 2, agent_share: [1.0]}\n", "selfplay.agent_share: expected one share per model"),
    ]:
        text = both.replace("selfplay: {num_workers: 2}\n", "") + extra
        if "num_workers" not in extra and "per model" not in message:
            text += "selfplay: {num_workers: 2}\n"
        (tmp_path / "bad.yaml").write_text(text)
        with pytest.raises(ConfigError, match=re.escape(message)):
            load_config(tmp_path / "bad.yaml")


def test_hrm_and_trm_train_on_the_same_self_play_data(local_ray, trainer, tmp_path):
    import asyncio

    from cluster.trainer import SelfPlayTrainer
    from learner.agents import create_hrm_agent, create_trm_agent
    from tests.clusters import read_jsonl

    hrm, trm = create_hrm_agent("tiny"), create_trm_agent("tiny")
    config = {**ORIGINAL, **OURS, "selfplay": {**OURS["selfplay"], "num_workers": 2}}
    run = tmp_path / "both"
    both = SelfPlayTrainer(hrm_agent=hrm, trm_agent=trm, config=config, checkpoint_dir=run)
    try:
        metrics = asyncio.run(both.iteration(0))
        evaluation = asyncio.run(both.evaluate_models(4))
    finally:
        both.close()
    assert set(metrics["models"]) == {"hrm", "trm"}
    for name, figures in metrics["models"].items():
        # An iteration runs until every model has gated once more; the faster may gate twice meanwhile.
        assert figures["version"] >= 1 and figures["learner_step"] > 0, name
        assert 0.0 <= figures["eval_success_rate"] <= 1.0 and figures["policy_loss"] > 0, name
        assert 0.0 <= figures["success_rate"] <= 1.0, name  # its own workers' share of self-play
    assert metrics["eval_success_rate"] == metrics["models"]["hrm"]["eval_success_rate"]  # the first agent's
    assert set(evaluation["models"]) == {"hrm", "trm"}
    assert hrm.version >= 1 and trm.version >= 1 and hrm.network is not trm.network

    assert (run / "weights" / "v000001.safetensors").is_file() and (run / "weights-1" / "v000001.safetensors").is_file()
    assert (run / "checkpoints" / "learner-1").is_dir()
    metrics_log = read_jsonl(run / "metrics.jsonl")
    assert {m["model"] for m in metrics_log if m["event"] == "selfplay"} == {"hrm", "trm"}
    trains = [m for m in metrics_log if m["event"] == "train"]
    assert {m["model"] for m in trains} == {"hrm", "trm"}  # one learner each, sampling the one buffer
    gates = [r for r in read_jsonl(run / "evaluations.jsonl") if r["kind"] == "gate"]
    assert sorted(set(r["model"] for r in gates)) == ["hrm", "trm"]


def test_pretrain_on_the_local_preset_then_evaluate_beside_version_0(tmp_path):
    # The local preset's actors hold most of this machine's CPUs: the solvers' Ray tasks run before them.
    run = tmp_path / "pre"
    small = ["--set", "evaluation.puzzles_per_task=8", "--set", "evaluation.reference_games=4"]
    argv = ["pretrain", "--config", "configs/local.yaml", "--generate", "40", "--steps", "20", "--run-dir", str(run)]
    result = run_python(["-m", "cluster", *argv, *small], tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "pre-trained: version 1, 20 supervised steps" in result.stdout
    assert f"selfplay train --resume {run}" in result.stdout

    import json

    evaluated = run_python(["-m", "cluster", "evaluate", "--run-dir", str(run), "--json", *small], tmp_path)
    assert evaluated.returncode == 0, evaluated.stderr[-3000:]
    record = json.loads(evaluated.stdout)
    assert record["version"] == 1 and record["baseline"]["version"] == 0
    for key in ("hrm", "trm"):
        assert key in record and key in record["baseline"]
    assert 0.0 <= record["hrm"]["accuracy"] <= 1.0


def test_the_counters_of_several_models_round_trip_through_json():
    import json

    from cluster.driver import Counters, ModelCounters

    counters = Counters(version=3, episodes=10, others=[ModelCounters(version=5, history=[{"version": 5}])])
    again = Counters(**json.loads(json.dumps(counters.to_dict())))  # as state.json and `selfplay train` print them
    assert again == counters and again.of(1).version == 5 and again.of(0) is again
