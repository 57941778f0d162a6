"""The learner without Ray: training on solver demonstrations, pacing, schedule, clipping, weights, checkpoints."""

from __future__ import annotations

import functools
import json
import math

import numpy as np
import pytest
import torch

from actors.replay import ReplayBuffer, ReplayConfig, Trajectory
from actors.tasks.sudoku import Sudoku
from actors.tasks.tictactoe import TicTacToe
from learner.checkpoint import load_model
from learner.config import LearnerConfig
from learner.learner import Learner, learning_rate
from learner.models import ModelConfig, build_model

TINY_TRM = ModelConfig(arch="trm", preset="tiny")
TINY_HRM = ModelConfig(arch="hrm", preset="tiny")
SUDOKU = Sudoku(size=4)


@functools.cache
def sudoku_demonstrations(count: int, seed: int = 0) -> tuple[Trajectory, ...]:
    """``count`` solved 4x4 Sudoku episodes: at each position the policy target is the solver's
    next placement (one-hot) and the value target 1.0 (every demonstration succeeds)."""
    episodes = []
    for i in range(count):
        state = SUDOKU.generate(seed + i, difficulty=1.0)
        tokens, legal, policy = [], [], []
        for action in SUDOKU.solve(state):
            tokens.append(SUDOKU.encode(state[None])[0])
            legal.append(SUDOKU.legal_mask(state[None])[0])
            target = np.zeros(SUDOKU.spec.num_actions, dtype=np.float32)
            target[action] = 1.0
            policy.append(target)
            state = SUDOKU.step(state[None], np.array([action]))[0]
        assert SUDOKU.outcome(state[None])[0] == 1.0
        episodes.append(
            Trajectory(
                tokens=np.array(tokens),
                legal=np.array(legal),
                policy=np.array(policy),
                value=np.ones(len(tokens), dtype=np.float32),
                task_id=0,
                family=SUDOKU.family,
                kind=SUDOKU.kind,
                difficulty=1.0,
                outcome=1.0,
                success=True,
            )
        )
    return tuple(episodes)


def filled_buffer(episodes: int = 60, min_positions: int = 32) -> ReplayBuffer:
    buffer = ReplayBuffer(ReplayConfig(capacity=10_000, min_positions_to_sample=min_positions), seed=0)
    buffer.add(list(sudoku_demonstrations(episodes)))
    return buffer


def learner_config(**overrides) -> LearnerConfig:
    # Two deep-supervision segments per batch: several optimizer steps per batch, at half the default's cost.
    defaults = dict(
        batch_size=32,
        warmup_steps=2,
        supervision_segments=2,
        candidate_every=1000,
        max_samples_per_insert=None,
        threads=1,
    )
    return LearnerConfig(**{**defaults, **overrides})


def make_learner(
    buffer, model: ModelConfig = TINY_TRM, seed: int = 0, send_priorities: bool = False, **overrides
) -> Learner:
    config = learner_config(**overrides)
    return Learner(model, config, [SUDOKU.spec], buffer, seed=seed, send_priorities=send_priorities)


def weights_equal(a: dict[str, np.ndarray], b: dict[str, np.ndarray]) -> bool:
    return a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)


# ----- configuration and schedule ------------------------------------------------------------------


@pytest.mark.parametrize(
    "bad",
    [
        {"batch_size": 0},
        {"lr": 0.0},
        {"schedule": "linear"},
        {"schedule": "cosine"},  # no total_steps
        {"schedule": "cosine", "warmup_steps": 10, "total_steps": 10},
        {"betas": (0.9, 1.0)},
        {"max_samples_per_insert": 0.0},
        {"device": "tpu"},
        {"prefetch": -1},
    ],
)
def test_config_rejects_bad_values(bad):
    with pytest.raises(ValueError, match="learner\\."):
        LearnerConfig(**bad)


def test_config_constraints_are_read_by_the_project_loader():
    from cluster.config import ConfigError, build

    config = build(LearnerConfig, {"betas": [0.8, 0.99], "total_steps": None}, "x.yaml")
    assert config.betas == (0.8, 0.99)
    with pytest.raises(ConfigError, match="x.yaml: schedule: expected one of: constant, cosine"):
        build(LearnerConfig, {"schedule": "step"}, "x.yaml")
    with pytest.raises(ConfigError, match="max_samples_per_insert"):
        build(LearnerConfig, {"max_samples_per_insert": -1}, "x.yaml")


def test_learning_rate_warms_up_then_holds_or_follows_a_cosine():
    constant = LearnerConfig(lr=1e-3, warmup_steps=4)
    assert [learning_rate(constant, s) for s in range(6)] == pytest.approx([2.5e-4, 5e-4, 7.5e-4, 1e-3, 1e-3, 1e-3])

    cosine = LearnerConfig(lr=1e-3, warmup_steps=10, schedule="cosine", total_steps=110, final_lr_fraction=0.1)
    assert learning_rate(cosine, 9) == pytest.approx(1e-3)
    assert learning_rate(cosine, 10) == pytest.approx(1e-3)  # the cosine starts at the peak
    assert learning_rate(cosine, 60) == pytest.approx(1e-4 + 0.9e-3 * 0.5)  # half way
    assert learning_rate(cosine, 110) == pytest.approx(1e-4)
    assert learning_rate(cosine, 10_000) == pytest.approx(1e-4)  # the floor after total_steps
    rates = [learning_rate(cosine, s) for s in range(10, 111)]
    assert all(a >= b for a, b in zip(rates, rates[1:], strict=False))

    no_warmup = LearnerConfig(lr=1e-3, warmup_steps=0)
    assert learning_rate(no_warmup, 0) == 1e-3


# ----- training ------------------------------------------------------------------------------------


def test_training_on_demonstrations_reduces_the_loss():
    # One segment per batch: the policy loss leaves its first plateau (about step 35 to 45 here,
    # which finds the cell to fill) and falls far below it within a few seconds of CPU.
    learner = make_learner(filled_buffer(), lr=3e-3, batch_size=32, supervision_segments=1)
    first = learner.train(max_steps=5)
    learner.train(max_steps=60)
    last = learner.train(max_steps=5)
    assert last["step"] == 70 and last["samples_trained"] == 70 * 32
    assert last["losses"]["policy"] < 0.5 * first["losses"]["policy"]
    assert last["losses"]["total"] < first["losses"]["total"]
    assert last["optimizer_steps"] == last["step"]  # one segment: one optimizer step per batch
    json.dumps(last, allow_nan=False)  # the driver writes these stats as JSON lines


def test_a_candidate_is_offered_every_candidate_every_steps():
    learner = make_learner(filled_buffer(), candidate_every=3)
    stats = learner.train()
    assert (stats["step"], stats["candidate_ready"], stats["candidates_offered"]) == (3, True, 1)
    stats = learner.train(max_steps=2)
    assert (stats["step"], stats["candidate_ready"]) == (5, False)
    stats = learner.train()
    assert (stats["step"], stats["candidate_ready"], stats["candidates_offered"]) == (6, True, 2)


def test_the_replay_ratio_bound_waits_for_new_data_and_resumes_after_inserts():
    buffer = filled_buffer(episodes=10, min_positions=8)
    inserted = len(buffer)
    learner = make_learner(buffer, batch_size=16, max_samples_per_insert=2.0)
    stats = learner.train(max_steps=10_000)
    assert stats["waiting_for_data"] and stats["waiting_reason"] == "ratio"
    assert stats["samples_trained"] <= 2.0 * inserted < stats["samples_trained"] + 16
    assert learner.train()["steps_this_call"] == 0  # no new data: returns at once

    more = buffer.add(list(sudoku_demonstrations(20))[10:])["positions"]
    stats = learner.train(max_steps=10_000)
    assert stats["steps_this_call"] > 0 and stats["waiting_reason"] == "ratio"
    assert stats["samples_trained"] <= 2.0 * (inserted + more) < stats["samples_trained"] + 16
    assert stats["inserted_total"] == inserted + more


def test_a_buffer_that_is_not_ready_makes_the_learner_wait():
    empty = ReplayBuffer(ReplayConfig(capacity=1000, min_positions_to_sample=64))
    learner = make_learner(empty)
    stats = learner.train(max_steps=5)
    assert stats["waiting_for_data"] and stats["waiting_reason"] == "not_ready"
    assert stats["step"] == 0 and stats["losses"] == {}
    empty.add(list(sudoku_demonstrations(10)))  # enough positions now
    assert learner.train(max_steps=2)["step"] == 2


def test_gradient_clipping_bounds_the_gradient_the_optimizer_applies():
    learner = make_learner(filled_buffer(), grad_clip_norm=1e-3)
    applied = []
    adamw_step = learner.optimizer.step

    def recording_step(*args, **kwargs):
        grads = [p.grad for p in learner.model.parameters() if p.grad is not None]
        applied.append(float(torch.nn.utils.get_total_norm(grads)))
        return adamw_step(*args, **kwargs)

    learner.optimizer.step = recording_step
    stats = learner.train(max_steps=3)
    assert len(applied) == stats["optimizer_steps"] >= 3
    assert max(applied) <= 1e-3 * (1 + 1e-4)
    assert stats["grad_norm_max"] > 1e-3  # the recorded norm is the one before clipping


def test_max_seconds_bounds_a_call():
    learner = make_learner(filled_buffer())
    stats = learner.train(max_seconds=0.0)
    assert stats["steps_this_call"] == 0 and not stats["waiting_for_data"] and not stats["candidate_ready"]
    assert learner.train(max_seconds=1e-9)["steps_this_call"] == 1  # a started call trains at least one batch


# ----- weights -------------------------------------------------------------------------------------


def test_get_weights_loads_into_a_fresh_model_with_identical_outputs():
    learner = make_learner(filled_buffer())
    learner.train(max_steps=3)
    sample = filled_buffer().sample(16, seed=1)
    tokens, task_ids = torch.from_numpy(sample["tokens"]), torch.zeros(16, dtype=torch.int64)
    for use_ema, module in ((True, learner.ema.model), (False, learner.model)):
        weights = learner.get_weights(ema=use_ema)
        assert all(isinstance(v, np.ndarray) and v.flags.c_contiguous for v in weights.values())
        fresh = build_model(TINY_TRM, [SUDOKU.spec]).eval()
        fresh.load_state_dict({name: torch.from_numpy(value) for name, value in weights.items()})
        with torch.no_grad():
            expected, got = module.eval()(tokens, task_ids), fresh(tokens, task_ids)
        assert torch.equal(expected.policy_logits, got.policy_logits) and torch.equal(expected.value, got.value)
    assert not weights_equal(learner.get_weights(ema=True), learner.get_weights(ema=False))


def test_set_weights_replaces_the_network_and_its_ema():
    source, target = make_learner(filled_buffer(), seed=1), make_learner(filled_buffer(), seed=2)
    source.train(max_steps=2)
    target.set_weights(source.get_weights(ema=False))
    assert weights_equal(target.get_weights(ema=False), source.get_weights(ema=False))
    assert weights_equal(target.get_weights(ema=True), source.get_weights(ema=False))
    incomplete = source.get_weights()
    del incomplete["token_embedding.weight"]
    with pytest.raises(ValueError, match="set_weights: tensor 'token_embedding.weight' is missing"):
        target.set_weights(incomplete)


# ----- checkpoints ---------------------------------------------------------------------------------


@pytest.mark.parametrize("model", [TINY_TRM, TINY_HRM], ids=["trm", "hrm"])
def test_a_checkpoint_resumes_training_identically(tmp_path, model):
    buffer = filled_buffer()
    original = make_learner(buffer, model=model, warmup_steps=3)
    original.train(max_steps=2)
    saved = original.save_checkpoint(tmp_path)
    assert saved["step"] == 2
    assert {p.suffix for p in tmp_path.iterdir()} == {".json", ".safetensors"}  # no pickles
    original.train(max_steps=3)

    resumed = make_learner(buffer, model=model, seed=123, warmup_steps=3)  # another seed: all of it is restored
    assert resumed.load_checkpoint(tmp_path)["step"] == 2
    resumed.train(max_steps=3)
    for ema in (False, True):
        assert weights_equal(resumed.get_weights(ema=ema), original.get_weights(ema=ema))
    assert resumed.step == original.step == 5
    assert resumed.samples_trained == original.samples_trained
    assert resumed.optimizer_steps == original.optimizer_steps
    assert torch.equal(resumed.exploration.get_state(), original.exploration.get_state())


def test_a_new_checkpoint_keeps_the_previous_one_and_removes_older_ones(tmp_path):
    learner = make_learner(filled_buffer())
    first = learner.save_checkpoint(tmp_path)
    learner.train(max_steps=1)
    second = learner.save_checkpoint(tmp_path)
    # The model files come with the .json description learner.checkpoint writes beside them.
    kept = [*first["files"], *second["files"]]  # the previous checkpoint stays as the fallback
    descriptions = [name.replace(".safetensors", ".json") for name in kept if not name.startswith("state")]
    manifests = ["learner.json", "learner.previous.json"]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([*manifests, *kept, *descriptions])
    assert not set(first["files"]) & set(second["files"])
    manifest = json.loads((tmp_path / "learner.json").read_text())
    assert manifest["counters"]["step"] == 1 and sorted(manifest["files"].values()) == second["files"]

    # The EMA file is an ordinary model checkpoint: evaluation can load it without a learner.
    ema_model = load_model(tmp_path / manifest["files"]["ema"])
    assert weights_equal(learner.get_weights(ema=True), {k: v.numpy() for k, v in ema_model.state_dict().items()})

    learner.train(max_steps=1)
    third = learner.save_checkpoint(tmp_path)
    names = {p.name for p in tmp_path.iterdir()}
    assert not names & set(first["files"]) and set(second["files"]) | set(third["files"]) <= names


def test_a_checkpoint_of_another_network_is_refused_naming_file_and_tensor(tmp_path):
    make_learner(filled_buffer()).save_checkpoint(tmp_path)
    wider = make_learner(filled_buffer(), model=ModelConfig(arch="trm", preset="tiny", hidden_size=32, num_heads=2))
    before = wider.get_weights(ema=False)
    with pytest.raises(ValueError, match=r"model-\d+-\w+\.safetensors: .*tensor '[\w.]+' has shape \[\d+(, \d+)*\]"):
        wider.load_checkpoint(tmp_path)
    assert weights_equal(wider.get_weights(ema=False), before)  # nothing was changed
    tictactoe = Learner(TINY_TRM, learner_config(), [TicTacToe().spec], filled_buffer(), seed=0)
    with pytest.raises(
        ValueError,
        match=r"safetensors: .*tensor 'token_embedding\.weight' has shape \[6, (\d+)\], the model expects \[4, \1\]",
    ):
        tictactoe.load_checkpoint(tmp_path)


def test_loading_without_a_checkpoint_raises_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError):
        make_learner(filled_buffer()).load_checkpoint(tmp_path / "nothing")


def test_stats_report_pacing_and_memory():
    stats = make_learner(filled_buffer(), prefetch=0).train(max_steps=2)
    assert stats["samples_this_call"] == 64 and stats["samples_per_s"] > 0
    assert stats["sample_wait_s"] <= stats["seconds"] and stats["rss_bytes"] > 0
    assert math.isfinite(stats["grad_norm"]) and stats["lr"] == pytest.approx(1e-3)
