"""The learner as a Ray actor on a real local Ray: prefetching from the replay-buffer actor, weights by
reference, checkpoints, and the resources it declares."""

from __future__ import annotations

import numpy as np
import pytest

from actors.replay import ReplayConfig, create_replay_actor
from learner.config import LearnerConfig
from learner.learner import _is_not_ready, create_learner, learner_actor_options
from tests.test_learner import SUDOKU, TINY_TRM, sudoku_demonstrations

ray = pytest.importorskip("ray")

REPLAY = ReplayConfig(capacity=10_000, segment_positions=256, min_positions_to_sample=32)
TIMEOUT_S = 120


def learner_config(**overrides) -> LearnerConfig:
    defaults = dict(
        batch_size=32, supervision_segments=2, candidate_every=4, max_samples_per_insert=None, prefetch=2, threads=1
    )
    return LearnerConfig(**{**defaults, **overrides})


@pytest.fixture
def filled_buffer_actor(local_ray, tmp_path):
    buffer = create_replay_actor(REPLAY, tmp_path / "run", max_restarts=0)
    ray.get(buffer.add.remote(list(sudoku_demonstrations(40))), timeout=TIMEOUT_S)
    yield buffer
    ray.kill(buffer)


def test_the_learner_actor_trains_with_prefetch_and_offers_a_candidate(filled_buffer_actor, tmp_path):
    learner = create_learner(TINY_TRM, learner_config(), [SUDOKU.spec], filled_buffer_actor, seed=0)
    try:
        stats = ray.get(learner.train.remote(max_steps=100), timeout=TIMEOUT_S)
        assert (stats["step"], stats["candidate_ready"], stats["waiting_for_data"]) == (4, True, False)
        assert stats["samples_trained"] == 4 * 32 and stats["sample_wait_s"] >= 0
        inserted = ray.get(filled_buffer_actor.stats.remote(), timeout=TIMEOUT_S)["inserted_total"]
        assert stats["inserted_total"] == inserted

        weights_ref = learner.get_weights.remote()  # what the driver passes around: one object per version
        weights = ray.get(weights_ref, timeout=TIMEOUT_S)
        assert weights and all(isinstance(v, np.ndarray) for v in weights.values())

        saved = ray.get(learner.save_checkpoint.remote(str(tmp_path / "ckpt")), timeout=TIMEOUT_S)
        assert saved["step"] == 4 and (tmp_path / "ckpt" / "learner.json").is_file()
        stats = ray.get(learner.train.remote(max_steps=2), timeout=TIMEOUT_S)
        assert stats["step"] == 6
        assert ray.get(learner.load_checkpoint.remote(str(tmp_path / "ckpt")), timeout=TIMEOUT_S)["step"] == 4
    finally:
        ray.kill(learner)


def test_the_learner_actor_waits_for_a_buffer_that_is_not_ready(local_ray, tmp_path):
    buffer = create_replay_actor(REPLAY, tmp_path / "run", max_restarts=0)
    learner = create_learner(TINY_TRM, learner_config(), [SUDOKU.spec], buffer, seed=0)
    try:
        stats = ray.get(learner.train.remote(max_steps=3), timeout=TIMEOUT_S)
        assert stats["waiting_for_data"] and stats["waiting_reason"] == "not_ready" and stats["step"] == 0
        # A sample call that fails anyway (e.g. in flight while the buffer restarts) is recognised too.
        with pytest.raises(Exception) as raised:
            ray.get(buffer.sample.remote(8), timeout=TIMEOUT_S)
        assert _is_not_ready(raised.value)
    finally:
        ray.kill(learner)
        ray.kill(buffer)


def test_a_learner_that_needs_a_gpu_is_not_placed_on_a_cluster_without_one(local_ray):
    config = learner_config(num_gpus=1, num_cpus=0.5)
    assert learner_actor_options(config) == {"num_cpus": 0.5, "num_gpus": 1, "max_restarts": 0, "max_task_retries": 0}
    assert not ray.cluster_resources().get("GPU")  # the shared test cluster declares none
    learner = create_learner(TINY_TRM, config, [SUDOKU.spec], buffer=None, seed=0)
    try:
        ready, _ = ray.wait([learner.__ray_ready__.remote()], timeout=2.0)
        assert not ready  # pending: Ray holds it until a node with a GPU joins
    finally:
        ray.kill(learner)
