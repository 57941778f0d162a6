"""The replay buffer as a Ray actor on a real local Ray: batched adds and samples, and surviving a kill."""

from __future__ import annotations

import os
import signal
import time

import numpy as np
import pytest

from actors.replay import ReplayConfig, create_replay_actor
from tests.test_replay import Episodes

ray = pytest.importorskip("ray")

CONFIG = ReplayConfig(capacity=500, segment_positions=64, min_positions_to_sample=1)
RESTART_DEADLINE_S = 60.0


def add_batches(actor, episodes: Episodes, count: int) -> list[dict]:
    """``count`` acknowledged batches of three episodes over two task ids."""
    acks = []
    for i in range(count):
        batch = [episodes.make(0, 7, version=i), episodes.make(1, 4), episodes.make(0, 5, success=False)]
        acks.append(ray.get(actor.add.remote(batch), timeout=60))
    return acks


def wait_for_new_process(actor, old_pid: int) -> dict:
    """The actor's stats once it answers from a process other than ``old_pid`` (bounded wait)."""
    deadline = time.monotonic() + RESTART_DEADLINE_S
    while time.monotonic() < deadline:
        try:
            stats = ray.get(actor.stats.remote(), timeout=30)
        except (ray.exceptions.ActorUnavailableError, ray.exceptions.GetTimeoutError):
            stats = None
        if stats is not None and stats["pid"] != old_pid:
            return stats
        time.sleep(0.2)
    raise AssertionError(f"the actor did not come back within {RESTART_DEADLINE_S} s")


def acknowledged_ids(acks: list[dict]) -> list[int]:
    return [i for ack in acks for i in range(ack["first_index"], ack["end_index"])]


def held_ids(actor) -> list[int]:
    sizes = ray.get(actor.stats.remote(), timeout=30)["sizes"]
    ids = []
    for task_id in sizes:
        ids += ray.get(actor.positions.remote(task_id), timeout=30)["tokens"][:, 0].tolist()
    return sorted(ids)


def test_actor_takes_batched_adds_and_gives_samples(local_ray, tmp_path):
    actor = create_replay_actor(CONFIG, tmp_path, max_restarts=0)
    episodes = Episodes()
    acks = add_batches(actor, episodes, 5)
    assert [a["positions"] for a in acks] == [16] * 5 and all(a["durable"] for a in acks)
    batch = ray.get(actor.sample.remote(64, task_id=1, seed=0), timeout=30)
    assert batch["task_id"] == 1 and batch["tokens"].shape == (64, 5) and batch["legal"].shape == (64, 9)
    assert np.array_equal(batch["tokens"][:, 0], batch["index"])
    batch = ray.get(actor.sample.remote(32), timeout=30)
    assert batch["tokens"].shape[0] == 32
    stats = ray.get(actor.stats.remote(), timeout=30)
    assert stats["size"] == 80 and stats["samples_total"] == 96
    # Every acknowledged position is on disk, in the files the actor counts.
    assert stats["disk_positions"] == 80 and stats["segments"] == len(list((tmp_path / "replay").glob("*.npz")))
    ray.kill(actor)


@pytest.mark.parametrize("how", ["ray.kill", "SIGKILL"])
def test_a_restarted_actor_has_every_acknowledged_position(local_ray, tmp_path, how):
    actor = create_replay_actor(CONFIG, tmp_path, max_restarts=1)
    episodes = Episodes()
    acks = add_batches(actor, episodes, 12)  # 192 positions, some segments compacted
    before = ray.get(actor.stats.remote(), timeout=30)
    if how == "ray.kill":
        ray.kill(actor, no_restart=False)
    else:
        os.kill(before["pid"], signal.SIGKILL)
    after = wait_for_new_process(actor, before["pid"])
    assert held_ids(actor) == acknowledged_ids(acks) == list(range(192))
    for name in ("size", "sizes", "inserted_total", "adds_total", "trajectories_total"):
        assert after[name] == before[name], name
    # It carries on where it stopped.
    more = add_batches(actor, episodes, 1)
    assert more[0]["first_index"] == 192
    ray.kill(actor)
