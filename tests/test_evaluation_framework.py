"""The evaluation framework of `selfplay evaluate`: raw-network and halting figures, Elo per reference opponent,
version 0 kept in the run directory and measured beside the best (real tiny networks, real run directories)."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from actors.evaluator import EvaluationConfig, Evaluator, elo_difference, format_reference
from actors.evaluator.matches import answer_greedily
from actors.inference import build_network
from actors.search import SearchConfig, uniform_network
from actors.tasks.config import TaskEntry, TasksConfig
from actors.tasks.registry import TaskMix
from cluster.cli import main
from cluster.config import load_config
from cluster.rundir import RunDir
from learner.models import ModelConfig

MAZE = TaskEntry("maze", difficulty=(0.3, 1.0), params={"size": 6})
TICTACTOE = TaskEntry("tictactoe")
SMALL = dict(puzzles_per_task=8, reference_games=4, difficulty_buckets=2)
CAP = 3  # the segment cap of the halting model below
HALTING_TRM = ModelConfig(
    arch="trm", preset="tiny", hidden_size=32, num_heads=2, inference_steps=CAP, inference_halting=True
)
TINY_TRM = ModelConfig(arch="trm", preset="tiny", hidden_size=32, num_heads=2)  # one segment, no halting


@pytest.fixture(autouse=True)
def one_torch_thread():
    """One torch thread, as the evaluator actor has (and `selfplay evaluate` sets it to, in this process)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def specs(entries: list[TaskEntry]) -> list:
    return [task.spec for task in TaskMix(TasksConfig(list(entries))).tasks]


def weights(model: ModelConfig, entries: list[TaskEntry], seed: int, halt_bias: float | None = None) -> dict:
    """A freshly built network's state dict (numpy); ``halt_bias`` sets its halting head's biases (weights 0):
    positive halts at the first segment, the initial -5 never halts."""
    state = {
        k: v.numpy().copy() for k, v in build_network(model, specs(entries), seed=seed).module.state_dict().items()
    }
    if halt_bias is not None:
        state["halt_head.weight"][:] = 0.0
        state["halt_head.bias"][:] = halt_bias
    return state


def evaluator(model: ModelConfig, entries: list[TaskEntry]) -> Evaluator:
    config = EvaluationConfig(**SMALL)
    return Evaluator(TasksConfig(list(entries)), model, SearchConfig(num_simulations=4), config, seed=3)


def assert_rate(value) -> None:
    assert isinstance(value, float) and 0.0 <= value <= 1.0, value


# ----- the run directory keeps version 0 -------------------------------------------------------


def test_save_weights_never_deletes_version_0_and_keeps_the_newest_others(tmp_path):
    run = RunDir(tmp_path)
    state = {"w": np.arange(3, dtype=np.float32)}
    for version in range(6):
        run.save_weights(version, {"w": state["w"] + version}, keep=2)
    assert sorted(p.name for p in run.weights_dir.iterdir()) == [
        "v000000.safetensors",
        "v000004.safetensors",
        "v000005.safetensors",
    ]
    np.testing.assert_array_equal(run.load_weights(0)["w"], state["w"])  # the starting network, unchanged
    run.save_weights(6, state, keep=1)
    assert sorted(p.name for p in run.weights_dir.iterdir()) == ["v000000.safetensors", "v000006.safetensors"]
    # A directory whose version 0 is gone (an older build) still keeps only the newest ``keep``.
    old = RunDir(tmp_path / "old")
    for version in (3, 4, 5):
        old.save_weights(version, state, keep=2)
    assert sorted(p.name for p in old.weights_dir.iterdir()) == ["v000004.safetensors", "v000005.safetensors"]


# ----- the raw network's halting ----------------------------------------------------------------


def test_greedy_answers_count_the_segments_and_halts_the_model_reports():
    """Against the model itself: each instance's segments are the sum of ``steps`` over its forward passes."""
    network = build_network(HALTING_TRM, specs([MAZE]), seed=1)
    ev = evaluator(HALTING_TRM, [MAZE])
    task, states = ev.tasks[0], ev.held_out(0, 8).states
    model = network.module
    # A halting head centred on these instances' first answers: some passes halt at once, others run on.
    with torch.no_grad():
        enc = model.encode(torch.from_numpy(task.encode(states)), torch.zeros(len(states), dtype=torch.int64))
        first, _ = model.segment(model.initial_carry(len(states), enc.x.shape[1]), enc)
        direction = 10.0 * torch.randn(model.hp.hidden_size, generator=torch.Generator().manual_seed(0))
        model.halt_head.weight[0] = direction
        model.halt_head.bias[0] = -(first.answer[:, 0].mean(0) @ direction)
    answers = answer_greedily(task, 0, states, network)
    segments, passes = np.zeros(len(states), dtype=np.int64), np.zeros(len(states), dtype=np.int64)
    halted_all = np.ones(len(states), dtype=bool)
    replay = states.copy()
    for _ in range(task.spec.max_steps):
        rows = np.flatnonzero(~task.is_terminal(replay))
        if len(rows) == 0:
            break
        tokens = torch.from_numpy(task.encode(replay[rows]))
        with torch.inference_mode():
            out = network.module(tokens, torch.zeros(len(rows), dtype=torch.int64), steps=CAP, halting=True)
        segments[rows] += out.steps.numpy()
        passes[rows] += 1
        # Halted on its own: before the cap, or the head (TRM: halt logit > 0) said so at the cap.
        halted_all[rows] &= (out.steps.numpy() < CAP) | (out.halt_logits.numpy() > 0)
        logits = np.where(task.legal_mask(replay[rows]), out.policy_logits.numpy()[:, : task.spec.num_actions], -np.inf)
        replay[rows] = task.step(replay[rows], logits.argmax(axis=1))
    np.testing.assert_array_equal(answers.passes, passes)
    np.testing.assert_array_equal(answers.segments, segments)
    np.testing.assert_array_equal(answers.all_halted, halted_all)
    np.testing.assert_array_equal(answers.solved, task.outcome(replay) >= 1.0)
    assert 1 < segments.sum() / passes.sum() < CAP, "the head halts some passes early and lets others run on"
    assert answers.mean_segments() == pytest.approx(segments.sum() / passes.sum())
    plain = answer_greedily(task, 0, states, uniform_network(task.spec.num_actions))  # reports no segments
    assert plain.segments is None and plain.all_halted is None and plain.mean_segments() is None


@pytest.mark.parametrize(("halt_bias", "steps"), [(5.0, 1.0), (-5.0, float(CAP))])
def test_reference_record_of_a_halting_network(halt_bias, steps):
    """A head that always halts uses one segment per pass and converges wherever the answer verifies;
    one that never halts runs to the cap every time and never converges."""
    entries = [MAZE, TICTACTOE]
    ev = evaluator(HALTING_TRM, entries)
    record = ev.reference(2, weights(HALTING_TRM, entries, seed=5, halt_bias=halt_bias))
    json.dumps(record, allow_nan=False)
    maze = record["tasks"]["reasoning/maze"]
    for key in ("solve_rate", "greedy_solve_rate", "accuracy", "convergence_rate"):
        assert_rate(maze[key])
    assert maze["accuracy"] == maze["greedy_solve_rate"]  # one figure under both names
    assert maze["halting_cap"] == CAP and maze["mean_halting_steps"] == steps and "halting_note" not in maze
    assert maze["convergence_rate"] == (maze["accuracy"] if halt_bias > 0 else 0.0)
    buckets = maze["by_difficulty"].values()
    assert sum(b["instances"] for b in buckets) == maze["instances"] == SMALL["puzzles_per_task"]
    assert len(buckets) == SMALL["difficulty_buckets"]
    for bucket in buckets:
        assert_rate(bucket["convergence_rate"])
        assert_rate(bucket["greedy_solve_rate"])
        assert bucket["mean_halting_steps"] == steps
    # One puzzle task: the pooled figures are its own.
    assert record["hrm"] == {"accuracy": maze["accuracy"], "instances": maze["instances"], "arch": "trm"}
    trm = record["trm"]
    assert trm["convergence_rate"] == maze["convergence_rate"] and trm["mean_halting_steps"] == steps
    assert trm["halting_cap"] == CAP and trm["arch"] == "trm" and "note" not in trm
    # Games: W/D/L per reference opponent, and beside them the Elo those results imply.
    games = record["tasks"]["search/tictactoe"]
    assert set(games) == set(record["elo"]["search/tictactoe"]) == {"minimax", "random"}
    for name, result in games.items():
        elo = record["elo"]["search/tictactoe"][name]
        expected = elo_difference(result["wins"], result["draws"], result["losses"])
        assert elo["elo"] == expected.elo and elo["elo_interval"] == [expected.low, expected.high]
        assert elo["elo_interval"][0] <= elo["elo"] <= elo["elo_interval"][1]
        assert elo["games"] == SMALL["reference_games"] and all(math.isfinite(x) for x in elo["elo_interval"])
    assert record["elo"]["search/tictactoe"]["minimax"]["elo"] <= 0.0  # balanced openings: perfect play never loses


def test_without_halting_inference_the_halting_figures_are_null_and_say_why():
    entries = [MAZE]
    record = evaluator(TINY_TRM, entries).reference(0, weights(TINY_TRM, entries, seed=2))
    maze = record["tasks"]["reasoning/maze"]
    assert maze["convergence_rate"] is None and maze["mean_halting_steps"] is None and maze["halting_cap"] is None
    assert "model.inference_halting is off" in maze["halting_note"]
    assert all("convergence_rate" not in bucket for bucket in maze["by_difficulty"].values())
    assert record["trm"]["convergence_rate"] is None and record["trm"]["note"] == maze["halting_note"]
    assert record["hrm"]["accuracy"] == maze["accuracy"] == maze["greedy_solve_rate"]
    assert record["elo"] == {}
    text = format_reference(record)
    assert "trm: no halting at inference" in text and "hrm.accuracy" in text and "halting:" not in text
    # An HRM infers with one segment only: nothing could halt before the cap.
    hrm_model = ModelConfig(arch="hrm", preset="tiny", hidden_size=32, num_heads=2, inference_halting=True)
    hrm = evaluator(hrm_model, entries).reference(0, weights(hrm_model, entries, seed=2))
    assert hrm["hrm"]["arch"] == "hrm" and "inference_steps is 1" in hrm["trm"]["note"]


# ----- selfplay evaluate: the best beside version 0 ---------------------------------------------


@pytest.fixture
def run_dir(tmp_path):
    """A run directory with version 0 (never halts) and version 3 (halts at once), as a run leaves it."""
    overrides = [
        "tasks.mix=[{kind: maze, difficulty: [0.3, 1.0], params: {size: 6}}, {kind: tictactoe}]",
        "model.hidden_size=32",
        "model.num_heads=2",
        f"model.inference_steps={CAP}",
        "model.inference_halting=true",
        "search.num_simulations=4",
        "evaluation.puzzles_per_task=8",
        "evaluation.reference_games=4",
        "evaluation.difficulty_buckets=2",
    ]
    config = load_config(None, overrides)
    run = RunDir(tmp_path / "run")
    run.create(config)
    for version, seed, bias in ((0, 0, None), (1, 1, None), (2, 2, None), (3, 3, 5.0)):
        run.save_weights(version, weights(config.model, config.tasks.mix, seed, halt_bias=bias), keep=1)
    run.save_state({"counters": {"version": 3}})
    assert sorted(p.name for p in run.weights_dir.iterdir()) == ["v000000.safetensors", "v000003.safetensors"]
    return run


def test_evaluate_reports_the_best_beside_version_0(run_dir, capsys):
    assert main(["evaluate", "--run-dir", str(run_dir.path), "--json"]) == 0
    captured = capsys.readouterr()
    record = json.loads(captured.out)
    # Without a terminal the progress is one line per task measured, for each of the two versions.
    steps = 2 * len(run_dir.load_config().tasks.mix)
    progress = [line for line in captured.err.splitlines() if "selfplay evaluate:" in line]
    assert len(progress) == steps and progress[-1].startswith(f"[{steps}/{steps} ")
    assert "v3 reasoning/maze done" in captured.err and "v0 reasoning/maze done" in captured.err
    baseline = record["baseline"]
    assert record["version"] == 3 and baseline["version"] == 0
    for version in (record, baseline):
        assert_rate(version["hrm"]["accuracy"])
        assert_rate(version["trm"]["convergence_rate"])
        assert 1.0 <= version["trm"]["mean_halting_steps"] <= CAP
        assert version["tasks"]["reasoning/maze"]["by_difficulty"] and version["elo"]["search/tictactoe"]
    assert record["trm"]["mean_halting_steps"] == 1.0 and baseline["trm"]["mean_halting_steps"] == CAP
    assert baseline["trm"]["convergence_rate"] == 0.0  # version 0's head never halts
    logged = [json.loads(line) for line in run_dir.evaluations_path.read_text().splitlines()]
    assert [(e["kind"], e["version"], e["baseline"]["version"]) for e in logged] == [("reference", 3, 0)]

    assert main(["evaluate", "--run-dir", str(run_dir.path)]) == 0
    text = capsys.readouterr().out
    assert text.splitlines()[0].startswith("version 3 (") and "beside its baseline, version 0 (" in text
    header = next(line for line in text.splitlines() if line.startswith("reasoning/maze"))
    assert header.split()[-2:] == ["v0", "v3"]
    steps = next(line for line in text.splitlines() if "mean halting steps" in line)
    assert steps.split()[-2:] == [f"{CAP:.2f}", "1.00"]  # a column per version, the baseline's first
    assert "search v0" in text and "search v3" in text  # the table by difficulty
    assert "trm.convergence_rate" in text and "vs minimax: Elo [95%]" in text


def test_evaluate_without_version_0_says_so_and_measures_the_best_only(run_dir, capsys):
    assert main(["evaluate", "--run-dir", str(run_dir.path), "--no-baseline", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["baseline"] is None
    run_dir.weights_path(0).unlink()  # as a build that pruned version 0 left the directory
    assert main(["evaluate", "--run-dir", str(run_dir.path)]) == 0
    text = capsys.readouterr().out
    notes = [line for line in text.splitlines() if line.startswith("baseline:")]
    assert len(notes) == 1 and "version 0 is not in" in notes[0] and "pruned" in notes[0]
    assert text.splitlines()[0].startswith("version 3 (") and "beside its baseline" not in text
    header = next(line for line in text.splitlines() if line.startswith("reasoning/maze"))
    assert header.split()[-2:] == ["instances)", "v3"]  # one column: the best's
    assert main(["evaluate", "--run-dir", str(run_dir.path), "--baseline", "7"]) == 2
    assert (
        capsys.readouterr().err.strip()
        == f"selfplay: --baseline 7: no weights of that version in {run_dir.weights_dir}"
    )


def test_evaluate_segment_sweep_reports_every_segment_count(run_dir, capsys):
    assert main(["evaluate", "--run-dir", str(run_dir.path), "--no-baseline", "--segment-sweep", "--json"]) == 0
    record = json.loads(capsys.readouterr().out)
    sweep = record["tasks"]["reasoning/maze"]["segment_sweep"]
    counts = ["1", "2", "4", "8", "16"]
    assert sweep["segments"] == [1, 2, 4, 8, 16] and sorted(sweep["solve_rate"], key=int) == counts
    assert sweep["instances"] == record["tasks"]["reasoning/maze"]["instances"]
    # With the carry reset, k segments compute what one does: every k gives the one-segment rate.
    assert set(sweep["solve_rate_reset"].values()) == {sweep["solve_rate"]["1"]}
    assert 1.0 <= sweep["halting"]["mean_halting_steps"] <= 16
    assert main(["evaluate", "--run-dir", str(run_dir.path), "--no-baseline", "--segment-sweep"]) == 0
    assert "greedy at 16 segments: carry kept / reset" in capsys.readouterr().out
