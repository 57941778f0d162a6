"""Self-play workers as Ray actors on a real local Ray: a real replay buffer, weights by reference, backpressure."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from actors.replay import ReplayConfig, create_replay_actor
from actors.search import SearchConfig
from actors.selfplay import SelfPlayConfig, create_selfplay_workers
from tests.test_selfplay import MIX, TICTACTOE, TINY, state_dict_of_seed

ray = pytest.importorskip("ray")

SEARCH = SearchConfig(num_simulations=8)
WAIT_S = 60.0  # upper bound of every wait on an actor; the tests never measure time


@ray.remote(num_cpus=0, max_concurrency=8)
class GatedBuffer:
    """A buffer whose ``add`` blocks until `release`; it counts the calls it has received."""

    def __init__(self) -> None:
        self.gate = threading.Event()
        self.lock = threading.Lock()
        self.calls = 0
        self.positions = 0

    def add(self, trajectories: list) -> dict:
        with self.lock:
            self.calls += 1
        self.gate.wait()
        positions = sum(t.num_positions for t in trajectories)
        with self.lock:
            self.positions += positions
        return {"positions": positions}

    def release(self) -> None:
        self.gate.set()

    def received(self) -> tuple[int, int]:
        with self.lock:
            return self.calls, self.positions


def test_workers_fill_a_real_buffer_and_load_each_weights_version_once(local_ray, tmp_path):
    buffer = create_replay_actor(ReplayConfig(capacity=100_000, min_positions_to_sample=1), tmp_path, max_restarts=0)
    config = SelfPlayConfig(num_workers=2, episodes_per_worker=8, push_positions=32)
    workers = create_selfplay_workers(MIX, TINY, SEARCH, config, 0, buffer)
    assert len(workers) == 2
    versions = {1: ray.put(state_dict_of_seed(MIX, 11)), 2: ray.put(state_dict_of_seed(MIX, 22))}

    def play_all(version: int) -> list[dict]:
        calls = [w.play.remote(version, [versions[version]], 600.0, rounds=12) for w in workers]
        return ray.get(calls, timeout=WAIT_S)

    first = play_all(1)
    assert [s["worker"] for s in first] == [0, 1]
    assert all(s["weights_version"] == 1 and s["weights_loads"] == 1 for s in first)
    assert all(s["weights_loads"] == 1 for s in play_all(1))  # the same version is not fetched again
    assert all(s["weights_version"] == 2 and s["weights_loads"] == 2 for s in play_all(2))
    for s in first:
        assert s["episodes"] > 0 and s["pushes_in_flight"] <= config.max_pending_pushes

    ray.get([w.flush.remote() for w in workers], timeout=WAIT_S)
    totals = ray.get([w.stats.remote() for w in workers], timeout=WAIT_S)
    positions = sum(t["positions"] for t in totals)
    assert all(t["pushes_in_flight"] == 0 and t["queued_positions"] == 0 for t in totals)
    assert sum(t["acked_positions"] for t in totals) == positions > 0
    stats = ray.get(buffer.stats.remote(), timeout=WAIT_S)
    assert stats["size"] == stats["disk_positions"] == positions
    assert stats["trajectories_total"] == sum(t["episodes"] for t in totals)
    stored = [ray.get(buffer.positions.remote(task_id), timeout=WAIT_S) for task_id in stats["sizes"]]
    assert set(np.concatenate([s["weights_version"] for s in stored]).tolist()) == {1, 2}
    for worker in workers:
        ray.kill(worker)
    ray.kill(buffer)


def test_a_stalled_buffer_stalls_self_play_within_the_bounds(local_ray):
    buffer = GatedBuffer.remote()
    config = SelfPlayConfig(episodes_per_worker=8, push_positions=8, max_pending_pushes=2)
    (worker,) = create_selfplay_workers(TICTACTOE, TINY, SEARCH, config, 0, buffer)
    call = worker.play.remote(0, None, 600.0, rounds=40)  # needs many more than 2 pushes

    deadline = time.monotonic() + WAIT_S
    while ray.get(buffer.received.remote(), timeout=WAIT_S)[0] < config.max_pending_pushes:
        assert time.monotonic() < deadline, "the worker never pushed"
        time.sleep(0.05)
    ready, _ = ray.wait([call], timeout=2.0)
    assert not ready  # blocked on the oldest push ...
    assert ray.get(buffer.received.remote(), timeout=WAIT_S)[0] == config.max_pending_pushes  # ... issuing no third

    ray.get(buffer.release.remote(), timeout=WAIT_S)
    stats = ray.get(call, timeout=WAIT_S)
    assert stats["max_pushes_in_flight"] <= config.max_pending_pushes
    assert stats["pushes_in_flight"] <= config.max_pending_pushes
    assert stats["max_queued_positions"] <= config.push_positions - 1 + 8 * 9  # see SelfPlayWorker.queue_bound
    assert stats["push_wait_seconds"] > 0
    ray.get(worker.flush.remote(), timeout=WAIT_S)
    totals = ray.get(worker.stats.remote(), timeout=WAIT_S)
    assert totals["pushes_in_flight"] == 0
    calls, positions = ray.get(buffer.received.remote(), timeout=WAIT_S)
    assert calls == totals["pushes"] and positions == totals["positions"] == totals["acked_positions"]
    ray.kill(worker)
    ray.kill(buffer)
