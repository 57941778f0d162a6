"""The learner as a Ray actor on a real local Ray: prefetching from the replay-buffer actor, weights by
reference, checkpoints, priority updates, and the resources it declares."""

from __future__ import annotations

import asyncio
import dataclasses
import time

import numpy as np
import pytest

from actors.replay import ReplayBuffer, ReplayConfig, create_replay_actor
from learner.config import LearnerConfig
from learner.learner import create_learner, learner_actor_options
from learner.replay_client import is_not_ready
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
        assert stats["samples_trained"] == 4 * 32 and stats["sample_wait_s"] <= stats["seconds"]
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
        assert stats["waiting_for_data"] and stats["waiting_reason"] == "not_ready"
        assert (stats["step"], stats["steps_this_call"], stats["losses"]) == (0, 0, {})
        # A sample call that fails anyway (e.g. in flight while the buffer restarts) is recognised too.
        with pytest.raises(Exception) as raised:
            ray.get(buffer.sample.remote(8), timeout=TIMEOUT_S)
        assert is_not_ready(raised.value)

        ray.get(buffer.add.remote(list(sudoku_demonstrations(40))), timeout=TIMEOUT_S)
        stats = ray.get(learner.train.remote(max_steps=3), timeout=TIMEOUT_S)  # the same learner, now with data
        assert (stats["step"], stats["steps_this_call"], stats["waiting_for_data"]) == (3, 3, False)
    finally:
        ray.kill(learner)
        ray.kill(buffer)


def test_a_learner_that_needs_a_gpu_is_not_placed_on_a_cluster_without_one(local_ray):
    config = learner_config(num_gpus=1, num_cpus=0.5)
    assert learner_actor_options(config) == {"num_cpus": 0.5, "num_gpus": 1, "max_restarts": 0, "max_task_retries": 0}
    assert not ray.cluster_resources().get("GPU")  # the shared test cluster declares none
    learner = create_learner(TINY_TRM, config, [SUDOKU.spec], buffer=None, seed=0)
    try:
        # Pending: Ray holds it as a demand for {GPU: 1, CPU: 0.5}, which the autoscaler sees, until a
        # node with a GPU joins. (The demand is reported periodically: wait until it shows up.)
        assert wait_for(lambda: {"GPU": 1.0, "CPU": 0.5} in pending_demands()), "no pending GPU demand reported"
    finally:
        ray.kill(learner)


def pending_demands() -> list[dict[str, float]]:
    """The resource bundles of tasks and actors Ray cannot place now, as the autoscaler sees them."""
    from ray.autoscaler.v2.sdk import get_cluster_status

    status = get_cluster_status(ray.get_runtime_context().gcs_address)
    return [
        request.bundle
        for demand in status.resource_demands.ray_task_actor_demand
        for request in demand.bundles_by_count
    ]


def wait_for(condition, timeout: float = TIMEOUT_S) -> bool:
    """Whether ``condition()`` becomes true within ``timeout`` seconds (checked every 0.1 s)."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True


# ----- priority updates ---------------------------------------------------------------------------


@ray.remote
class GatedPriorityBuffer:
    """A prioritized `ReplayBuffer` as an async actor whose ``update_priorities`` calls each wait for a
    permit from the test, counting how many are running at once."""

    def __init__(self, trajectories) -> None:
        self.buffer = ReplayBuffer(dataclasses.replace(REPLAY, sampling="prioritized"), seed=0)
        self.buffer.add(trajectories)
        self.permits = asyncio.Semaphore(0)
        self.calls = self.running = self.most = self.applied = 0

    async def ready(self, task_id=None):
        return self.buffer.ready(task_id)

    async def stats(self):
        return self.buffer.stats()

    async def sample(self, *args):
        return self.buffer.sample(*args)

    async def update_priorities(self, indices, priorities):
        self.calls += 1
        self.running += 1
        self.most = max(self.most, self.running)
        await self.permits.acquire()
        self.running -= 1
        self.applied += 1
        return self.buffer.update_priorities(indices, priorities)

    async def release(self, count: int) -> None:
        for _ in range(count):
            self.permits.release()

    async def drain(self, expected: int) -> int:
        """Let every update through until ``expected`` were applied; returns how many ran at most at once."""
        while self.applied < expected:
            self.permits.release()
            await asyncio.sleep(0.01)
        return self.most

    async def counts(self) -> dict[str, int]:
        return {"calls": self.calls, "running": self.running}


def test_priority_updates_to_a_buffer_actor_stay_within_two_in_flight(local_ray):
    buffer = GatedPriorityBuffer.remote(list(sudoku_demonstrations(40)))
    config = learner_config(candidate_every=1000)
    learner = create_learner(TINY_TRM, config, [SUDOKU.spec], buffer, seed=0, send_priorities=True)
    try:
        training = learner.train.remote(max_steps=6)
        # No update finishes until two are running: then the learner, at its limit, waits for the oldest.
        while not ray.wait([training], timeout=0.05)[0]:
            counts = ray.get(buffer.counts.remote(), timeout=TIMEOUT_S)
            assert counts["running"] <= 2
            if counts["running"] == 2:
                ray.get(buffer.release.remote(1), timeout=TIMEOUT_S)
        stats = ray.get(training, timeout=TIMEOUT_S)
        assert stats["steps_this_call"] == 6 and stats["priority_updates_lost"] == 0
        assert ray.get(buffer.drain.remote(6), timeout=TIMEOUT_S) == 2  # two at once, never more
        assert ray.get(buffer.counts.remote(), timeout=TIMEOUT_S) == {"calls": 6, "running": 0}
        weights = ray.get(buffer.sample.remote(1024, None, 7), timeout=TIMEOUT_S)["weight"]
        assert not np.all(weights == 1.0)  # the priorities arrived
    finally:
        ray.kill(learner)
        ray.kill(buffer)
