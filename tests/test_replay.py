"""The replay buffer without Ray: shapes, eviction, sampling rules, bounded memory and disk, durability."""

from __future__ import annotations

import logging
import os
import shutil
import threading
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from actors.replay import (
    POSITION_FIELDS,
    ReplayBuffer,
    ReplayConfig,
    ReplayNotReadyError,
    Trajectory,
)
from actors.replay import store as replay_store

# Two task ids with different shapes, as two task kinds would have.
SHAPES = {0: (16, 64), 1: (5, 9)}


class Episodes:
    """Makes trajectories whose positions carry their own insert number in ``tokens[:, 0]`` and ``value``."""

    def __init__(self) -> None:
        self.next_id = 0

    def make(self, task_id: int, length: int, success: bool = True, version: int = 0) -> Trajectory:
        obs_length, num_actions = SHAPES[task_id]
        ids = np.arange(self.next_id, self.next_id + length)
        self.next_id += length
        tokens = np.zeros((length, obs_length), dtype=np.int64)
        tokens[:, 0] = ids
        legal = np.zeros((length, num_actions), dtype=np.int8)
        legal[:, : num_actions // 2] = 1
        policy = np.zeros((length, num_actions), dtype=np.float32)
        policy[:, 0] = 1.0
        return Trajectory(
            tokens=tokens,
            legal=legal,
            policy=policy,
            value=ids.astype(np.float32),
            task_id=task_id,
            family="search" if task_id == 0 else "reasoning",
            kind=f"kind{task_id}",
            difficulty=0.25,
            outcome=1.0 if success else -1.0,
            success=success,
            weights_version=version,
        )


def config(**overrides) -> ReplayConfig:
    defaults = {"capacity": 100, "segment_positions": 32, "min_positions_to_sample": 1}
    return ReplayConfig(**{**defaults, **overrides})


def ids_of(buffer: ReplayBuffer, task_id: int) -> list[int]:
    return buffer.positions(task_id)["tokens"][:, 0].tolist()


def all_ids(buffer: ReplayBuffer) -> list[int]:
    return sorted(i for tid in buffer.sizes() for i in ids_of(buffer, tid))


def segment_files(run_dir: Path) -> list[Path]:
    return sorted((run_dir / "replay").glob("*.npz"))


# ----- configuration -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "bad",
    [
        {"capacity": 0},
        {"sampling": "random"},
        {"priority_beta": 1.5},
        {"priority_epsilon": 0.0},
        {"success_weight": -1.0},
        {"success_weight": 0.0, "failure_weight": 0.0},
        {"segment_positions": 0},
        {"min_positions_to_sample": 101},
    ],
)
def test_config_rejects_bad_values(bad):
    with pytest.raises(ValueError, match="replay"):
        config(**bad)


def test_config_constraints_are_read_by_the_project_loader():
    from cluster.config import ConfigError, build

    assert build(ReplayConfig, {"capacity": 10, "min_positions_to_sample": 5}, "x.yaml").capacity == 10
    with pytest.raises(ConfigError, match="capacity: expected a positive integer, got 0"):
        build(ReplayConfig, {"capacity": 0}, "x.yaml")
    with pytest.raises(ConfigError, match="sampling: expected one of: uniform, prioritized"):
        build(ReplayConfig, {"sampling": "lifo"}, "x.yaml")


# ----- inserting and sampling ----------------------------------------------------------------------


def test_add_and_sample_shapes():
    episodes, buffer = Episodes(), ReplayBuffer(config(), seed=0)
    ack = buffer.add([episodes.make(0, 6), episodes.make(1, 4, version=3), episodes.make(0, 5)])
    assert ack == {
        "trajectories": 3,
        "positions": 15,
        "first_index": 0,
        "end_index": 15,
        "segment": -1,
        "durable": False,
        "size": 15,
    }
    assert buffer.sizes() == {0: 11, 1: 4}
    for task_id, (obs_length, num_actions) in SHAPES.items():
        batch = buffer.sample(32, task_id=task_id, seed=1)
        assert batch["task_id"] == task_id
        expected = {
            "tokens": (np.int64, (32, obs_length)),
            "legal": (np.bool_, (32, num_actions)),
            "policy": (np.float32, (32, num_actions)),
            "value": (np.float32, (32,)),
            "weight": (np.float32, (32,)),
            "age": (np.int64, (32,)),
            "index": (np.int64, (32,)),
            "success": (np.bool_, (32,)),
            "weights_version": (np.int64, (32,)),
        }
        for name, (dtype, shape) in expected.items():
            assert batch[name].dtype == dtype and batch[name].shape == shape, name
        # The test's ids equal the global indices; age counts the positions inserted since.
        assert np.array_equal(batch["tokens"][:, 0], batch["index"])
        assert np.array_equal(batch["value"], batch["index"].astype(np.float32))
        assert np.array_equal(batch["age"], 14 - batch["index"])
        assert np.all(batch["legal"].sum(axis=1) == num_actions // 2)
        assert np.all(batch["weight"] == 1.0)
    assert set(buffer.sample(64, task_id=1, seed=2)["weights_version"]) == {3}


def test_bad_batch_is_rejected_whole():
    episodes, buffer = Episodes(), ReplayBuffer(config())
    buffer.add([episodes.make(0, 3)])
    wrong_shape = episodes.make(1, 2)
    wrong_shape.task_id = 0  # task 0 has L=16, this trajectory L=5
    with pytest.raises(ValueError, match="trajectory 1 .*task 0"):
        buffer.add([episodes.make(1, 2), wrong_shape])
    inconsistent = episodes.make(0, 4)
    inconsistent.value = inconsistent.value[:3]
    with pytest.raises(ValueError, match="inconsistent shapes"):
        buffer.add([inconsistent])
    assert buffer.sizes() == {0: 3} and buffer.stats()["inserted_total"] == 3


def test_sample_before_ready_raises():
    episodes, buffer = Episodes(), ReplayBuffer(config(min_positions_to_sample=10))
    buffer.add([episodes.make(0, 9)])
    assert not buffer.ready()
    with pytest.raises(ReplayNotReadyError):
        buffer.sample(4)
    buffer.add([episodes.make(0, 1)])
    assert buffer.ready() and not buffer.ready(task_id=1)
    with pytest.raises(ReplayNotReadyError, match="task 1"):
        buffer.sample(4, task_id=1)


def test_oldest_first_eviction_across_tasks():
    episodes, buffer = Episodes(), ReplayBuffer(config(capacity=50))
    for i in range(30):
        buffer.add([episodes.make(i % 2, 3 + i % 4)])
    total = episodes.next_id
    assert len(buffer) == 50
    assert all_ids(buffer) == list(range(total - 50, total))
    for task_id in SHAPES:  # each store keeps insert order
        assert ids_of(buffer, task_id) == sorted(ids_of(buffer, task_id))


def test_a_batch_larger_than_capacity_keeps_its_newest_positions():
    episodes, buffer = Episodes(), ReplayBuffer(config(capacity=10))
    ack = buffer.add([episodes.make(0, 8), episodes.make(1, 7)])
    assert ack["positions"] == 15 and ack["size"] == 10
    assert all_ids(buffer) == list(range(5, 15))


@settings(max_examples=40, deadline=None)
@given(
    st.integers(1, 40),
    st.lists(st.lists(st.tuples(st.sampled_from([0, 1]), st.integers(0, 12)), max_size=4), max_size=25),
)
def test_buffer_always_holds_the_newest_capacity_positions(capacity, batches):
    episodes, buffer = Episodes(), ReplayBuffer(config(capacity=capacity, min_positions_to_sample=1))
    for batch in batches:
        buffer.add([episodes.make(task_id, length) for task_id, length in batch])
        total = episodes.next_id
        assert all_ids(buffer) == list(range(max(0, total - capacity), total))


def test_uniform_sampling_covers_the_buffer():
    episodes, buffer = Episodes(), ReplayBuffer(config(capacity=100))
    buffer.add([episodes.make(0, 10) for _ in range(15)])  # ids 50..149 remain
    counts = np.bincount(buffer.sample(20_000, task_id=0, seed=3)["index"] - 50, minlength=100)
    assert len(counts) == 100 and counts.min() > 120 and counts.max() < 290  # expected 200 each


def test_task_is_drawn_in_proportion_to_its_positions():
    episodes, buffer = Episodes(), ReplayBuffer(config(capacity=400), seed=4)
    buffer.add([episodes.make(0, 300), episodes.make(1, 100)])
    drawn = [buffer.sample(1)["task_id"] for _ in range(2000)]
    assert 0.70 < drawn.count(0) / 2000 < 0.80  # 0.75 expected


def test_prioritized_sampling_prefers_high_priorities_with_correct_importance_weights():
    cfg = config(capacity=200, sampling="prioritized", priority_alpha=1.0, priority_beta=0.5)
    episodes, buffer = Episodes(), ReplayBuffer(cfg, seed=5)
    buffer.add([episodes.make(0, 100)])
    high = np.arange(10)
    assert buffer.update_priorities(np.arange(100), np.where(np.arange(100) < 10, 10.0, 1.0)) == 100
    batch = buffer.sample(20_000, task_id=0, seed=6)
    is_high = np.isin(batch["index"], high)
    # P(high) = 10 * 10 / (10 * 10 + 90 * 1) = 0.526; uniform would give 0.1.
    assert 0.50 < is_high.mean() < 0.55
    # w = (min p^a / p_i^a)^beta: 1 for priority 1, (1/10)^0.5 for priority 10.
    assert np.allclose(batch["weight"][~is_high], 1.0)
    assert np.allclose(batch["weight"][is_high], 10**-0.5)
    # New positions get the largest priority seen so far (10): as likely as the high ten.
    buffer.add([episodes.make(0, 10)])
    batch = buffer.sample(20_000, task_id=0, seed=7)
    new, old_high = batch["index"] >= 100, np.isin(batch["index"], high)
    assert abs(new.mean() - old_high.mean()) < 0.02


def test_update_priorities_skips_evicted_positions():
    episodes, buffer = Episodes(), ReplayBuffer(config(capacity=20, sampling="prioritized"))
    buffer.add([episodes.make(0, 15), episodes.make(1, 15)])  # ids 0..9 evicted
    assert buffer.update_priorities(np.array([3, 12, 25, 29]), np.array([5.0, 5.0, 5.0, 5.0])) == 3
    with pytest.raises(ValueError):
        buffer.update_priorities(np.array([12]), np.array([np.nan]))


@pytest.mark.parametrize("sampling", ["uniform", "prioritized"])
def test_outcome_weights_shift_the_sample_mix(sampling):
    cfg = config(capacity=200, sampling=sampling, success_weight=3.0, failure_weight=1.0)
    episodes, buffer = Episodes(), ReplayBuffer(cfg, seed=8)
    buffer.add([episodes.make(0, 50, success=True), episodes.make(0, 50, success=False)])
    batch = buffer.sample(20_000, task_id=0, seed=9)
    # Sampling probability is multiplied by the outcome weight: 3 * 50 / (3 * 50 + 1 * 50) = 0.75.
    assert 0.73 < batch["success"].mean() < 0.77
    # The loss weight undoes only priorities (all equal here), never the outcome weights.
    assert np.all(batch["weight"] == 1.0)
    # The task share counts positions with their outcome weights too: 200 against 100.
    buffer.add([episodes.make(1, 100, success=False)])
    drawn = [buffer.sample(1, seed=s)["task_id"] for s in range(1500)]
    assert 0.62 < drawn.count(0) / 1500 < 0.72


def test_zero_failure_weight_never_samples_failures():
    cfg = config(success_weight=1.0, failure_weight=0.0)
    episodes, buffer = Episodes(), ReplayBuffer(cfg)
    buffer.add([episodes.make(0, 10, success=False), episodes.make(0, 5, success=True)])
    buffer.add([episodes.make(1, 10, success=False)])
    assert buffer.sample(5000, task_id=0, seed=1)["success"].all()
    assert not buffer.ready(task_id=1)
    assert {buffer.sample(1, seed=s)["task_id"] for s in range(200)} == {0}


# ----- bounded memory and disk ---------------------------------------------------------------------


def test_memory_and_disk_stay_flat_once_full(tmp_path):
    cfg = config(capacity=3000, segment_positions=256)
    episodes, buffer = Episodes(), ReplayBuffer(cfg, run_dir=tmp_path)

    def add_round() -> None:
        buffer.add([episodes.make(0, 40), episodes.make(1, 20), episodes.make(0, 30, success=False)])

    while episodes.next_id < 4 * cfg.capacity:  # fill, and let the ring arrays settle
        add_round()
    full_bytes = buffer.memory_bytes()
    for _ in range(200):
        add_round()
        stats = buffer.stats()
        assert buffer.memory_bytes() == full_bytes
        assert stats["size"] == cfg.capacity
        # Disk: the live positions plus at most one segment of evicted ones, in a bounded number of files.
        assert cfg.capacity <= stats["disk_positions"] <= cfg.capacity + cfg.segment_positions
        assert stats["segments"] <= cfg.capacity // 180 + 256 // 90 + 2
        assert stats["segments"] == len(segment_files(tmp_path))
    assert stats["disk_bytes"] == sum(p.stat().st_size for p in segment_files(tmp_path))
    assert {p.name for p in (tmp_path / "replay").iterdir() if not p.name.endswith(".npz")} == {".lock"}


def test_stats_report_counters_rates_and_ages(monkeypatch):
    clock = [1000.0]  # the rate window's clock, moved by hand
    monkeypatch.setattr(replay_store, "time", SimpleNamespace(monotonic=lambda: clock[0]))
    episodes, buffer = Episodes(), ReplayBuffer(config())
    buffer.add([episodes.make(0, 10), episodes.make(1, 10)])  # the window's first snapshot: 20 inserted
    clock[0] += 2.0
    batch = buffer.sample(50, task_id=0, seed=0)
    clock[0] += 2.0
    buffer.add([episodes.make(1, 10)])
    clock[0] += 1.0
    stats = buffer.stats()
    assert stats["size"] == 30 and stats["sizes"] == {0: 10, 1: 20}
    assert stats["inserted_total"] == 30 and stats["adds_total"] == 2 and stats["trajectories_total"] == 3
    assert stats["samples_total"] == 50 and stats["sample_batches_total"] == 1
    # Rates count from the oldest snapshot in the window, 5 s ago: 10 more positions, 50 samples.
    assert stats["inserts_per_s"] == pytest.approx(10 / 5) and stats["samples_per_s"] == pytest.approx(50 / 5)
    assert stats["sample_age_mean"] == pytest.approx(batch["age"].mean())
    assert stats["memory_bytes"] == buffer.memory_bytes() > 0
    assert stats["segments"] == 0 and stats["disk_bytes"] == 0 and stats["disk_positions"] == 0
    # A minute later the window has moved past the sample: only the last add's 10 positions count.
    clock[0] += 95.0
    buffer.add([episodes.make(0, 10)])
    stats = buffer.stats()
    assert stats["inserts_per_s"] == pytest.approx(10 / 96)
    assert stats["samples_per_s"] == 0.0 and stats["sample_age_mean"] == 0.0


# ----- durability ----------------------------------------------------------------------------------


def assert_same_contents(a: ReplayBuffer, b: ReplayBuffer) -> None:
    assert a.sizes() == b.sizes()
    for task_id in a.sizes():
        left, right = a.positions(task_id), b.positions(task_id)
        assert set(left) == set(right) == set(POSITION_FIELDS)
        for name in POSITION_FIELDS:
            assert left[name].dtype == right[name].dtype and np.array_equal(left[name], right[name]), name


COUNTERS = ("size", "inserted_total", "adds_total", "trajectories_total", "samples_total", "sample_batches_total")


def test_a_restarted_buffer_has_the_same_contents_and_counters(tmp_path):
    cfg = config(capacity=300, segment_positions=50)
    episodes, buffer = Episodes(), ReplayBuffer(cfg, run_dir=tmp_path)
    for i in range(40):
        buffer.add([episodes.make(i % 2, 5 + i % 7, success=i % 3 == 0, version=i)])
        if i % 5 == 0:
            buffer.sample(8, seed=i)
    buffer.add([episodes.make(0, 4)])  # counters are written with each segment
    buffer.close()
    restarted = ReplayBuffer(cfg, run_dir=tmp_path)
    assert_same_contents(buffer, restarted)
    assert {k: restarted.stats()[k] for k in COUNTERS} == {k: buffer.stats()[k] for k in COUNTERS}
    for name, value in buffer.sample(16, task_id=0, seed=11).items():
        assert np.array_equal(value, restarted.sample(16, task_id=0, seed=11)[name]), name
    # It goes on from there: the next global index follows the last acknowledged one.
    assert restarted.add([episodes.make(1, 3)])["first_index"] == buffer.stats()["inserted_total"]


def test_one_buffer_at_a_time_owns_a_run_directory(tmp_path, monkeypatch):
    monkeypatch.setattr("actors.replay.segments.LOCK_WAIT_S", 0.3)  # the module that reads it (default 10 s)
    episodes, buffer = Episodes(), ReplayBuffer(config(), run_dir=tmp_path)
    buffer.add([episodes.make(0, 5)])
    started = time.monotonic()
    expected = f"in use by another replay buffer \\(process {os.getpid()}; waited 0.3 s\\)"
    with pytest.raises(RuntimeError, match=expected):  # it waits out LOCK_WAIT_S as patched
        ReplayBuffer(config(), run_dir=tmp_path)
    assert time.monotonic() - started >= 0.3
    buffer.close()
    with pytest.raises(RuntimeError, match="closed"):
        buffer.add([episodes.make(0, 5)])
    successor = ReplayBuffer(config(), run_dir=tmp_path)
    assert all_ids(successor) == list(range(5))
    # A successor started while its predecessor still holds the lock gets it once released.
    monkeypatch.setattr("actors.replay.segments.LOCK_WAIT_S", 10.0)
    release = threading.Timer(0.3, successor.close)
    release.start()
    try:
        assert all_ids(ReplayBuffer(config(), run_dir=tmp_path)) == list(range(5))
    finally:
        release.join()


def test_a_restart_with_a_smaller_capacity_keeps_the_newest(tmp_path):
    episodes, buffer = Episodes(), ReplayBuffer(config(capacity=100), run_dir=tmp_path)
    for i in range(20):
        buffer.add([episodes.make(i % 2, 6)])
    buffer.close()
    smaller = ReplayBuffer(config(capacity=30), run_dir=tmp_path)
    assert all_ids(smaller) == list(range(90, 120))
    assert smaller.stats()["disk_positions"] <= 30 + 32


def test_a_garbage_or_truncated_segment_is_skipped_with_a_warning(tmp_path, caplog):
    cfg = config(capacity=1000, segment_positions=1000)  # no compaction: one file per add
    episodes, buffer = Episodes(), ReplayBuffer(cfg, run_dir=tmp_path)
    for _ in range(6):
        buffer.add([episodes.make(0, 10)])
    files = segment_files(tmp_path)
    assert len(files) == 6
    truncated, garbage = files[2], files[4]
    truncated.write_bytes(truncated.read_bytes()[:300])
    garbage.write_bytes(b"\x93NUMPY not really" * 20)
    fake = tmp_path / "replay" / "000000999.npz"  # not even a zip, with a pickle-like header
    fake.write_bytes(b"\x80\x04garbage")
    buffer.close()
    with caplog.at_level(logging.WARNING, logger="actors.replay"):
        restarted = ReplayBuffer(cfg, run_dir=tmp_path)
    warnings = "\n".join(r.getMessage() for r in caplog.records)
    for path in (truncated, garbage, fake):
        assert str(path) in warnings
        assert not path.exists() and path.with_name(path.name + ".corrupt").exists()
    assert all_ids(restarted) == [i for i in range(60) if not 20 <= i < 30 and not 40 <= i < 50]
    # It goes on: the next add is acknowledged and reloads fine.
    restarted.add([episodes.make(0, 5)])
    restarted.close()
    assert all_ids(ReplayBuffer(cfg, run_dir=tmp_path)) == all_ids(restarted)


def test_a_leftover_temporary_file_is_ignored(tmp_path, caplog):
    episodes, buffer = Episodes(), ReplayBuffer(config(), run_dir=tmp_path)
    buffer.add([episodes.make(0, 10)])
    leftover = tmp_path / "replay" / ".tmp-crashed.npz"
    leftover.write_bytes(segment_files(tmp_path)[0].read_bytes()[:100])
    buffer.close()
    with caplog.at_level(logging.WARNING, logger="actors.replay"):
        restarted = ReplayBuffer(config(), run_dir=tmp_path)
    assert str(leftover) in caplog.text
    assert all_ids(restarted) == list(range(10)) and not leftover.exists()


def test_segments_left_by_an_interrupted_compaction_are_not_loaded_twice(tmp_path, caplog):
    cfg = config(capacity=1000, segment_positions=30)
    episodes, buffer = Episodes(), ReplayBuffer(cfg, run_dir=tmp_path)
    saved = tmp_path / "saved"
    saved.mkdir()
    for _ in range(3):  # three small segments of 10: merged into one on the third add
        buffer.add([episodes.make(0, 10)])
        for path in segment_files(tmp_path):
            shutil.copy(path, saved / path.name)
    assert len(segment_files(tmp_path)) == 1
    for path in saved.iterdir():  # a crash before the originals were deleted
        if not (tmp_path / "replay" / path.name).exists():
            shutil.copy(path, tmp_path / "replay" / path.name)
    assert len(segment_files(tmp_path)) == 3  # the merged segment and two of its originals
    buffer.close()
    with caplog.at_level(logging.WARNING, logger="actors.replay"):
        restarted = ReplayBuffer(cfg, run_dir=tmp_path)
    assert "duplicates" in caplog.text
    assert all_ids(restarted) == list(range(30)) and len(segment_files(tmp_path)) == 1


def test_segments_are_safe_npz_files(tmp_path):
    import json

    episodes, buffer = Episodes(), ReplayBuffer(config(), run_dir=tmp_path)
    buffer.add([episodes.make(0, 4), episodes.make(1, 3)])
    (path,) = segment_files(tmp_path)
    assert oct(os.stat(path).st_mode & 0o777) == oct(0o644)
    with np.load(path, allow_pickle=False) as archive:
        meta = json.loads(str(archive["meta"][()]))
        assert meta["first_seq"] == 0 and meta["end_seq"] == 7
        assert meta["tasks"] == {
            "0": {"family": "search", "kind": "kind0", "count": 4},
            "1": {"family": "reasoning", "kind": "kind1", "count": 3},
        }
        assert set(meta) == {"format", "version", "number", "first_seq", "end_seq", "tasks", "counters", "written_at"}
        assert (meta["format"], meta["version"], meta["number"]) == ("selfplay-replay-segment", 1, 0)
        assert set(archive.files) == {"meta"} | {f"t{tid}.{name}" for tid in (0, 1) for name in POSITION_FIELDS}
        for tid, count in ((0, 4), (1, 3)):
            dims = dict(zip("LA", SHAPES[tid], strict=True))
            for name, (dtype, shape) in POSITION_FIELDS.items():
                array = archive[f"t{tid}.{name}"]
                assert array.dtype == dtype and array.shape == (count, *(dims[d] for d in shape)), (tid, name)
        assert archive["t1.tokens"].shape == (3, 5) and archive["t1.seq"].tolist() == [4, 5, 6]
