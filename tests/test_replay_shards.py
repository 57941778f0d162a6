"""A sharded replay buffer (``replay.shards``): each shard its own directory and share, the learner
sampling from each in turn, counting inserts over all of them and sending priorities to the shard a
batch came from; configs that would leave a shard empty, or change the count on resume, are refused."""

from __future__ import annotations

import dataclasses

import pytest

from actors.replay import ReplayBuffer, ReplayConfig, replay_dirs
from cluster.config import ConfigError, load_config
from tests.clusters import REPO
from tests.test_learner import make_learner, sudoku_demonstrations
from tests.test_learner_priorities import RecordingBuffer

SHARDED = ReplayConfig(capacity=1000, min_positions_to_sample=64, shards=2, sampling="prioritized")


def test_each_shard_holds_its_share_in_its_own_directory(tmp_path):
    episodes = list(sudoku_demonstrations(20))
    shards = [ReplayBuffer(SHARDED, run_dir=tmp_path, seed=0, shard=shard) for shard in range(2)]
    shards[0].add(episodes[:10])
    shards[1].add(episodes[10:])
    assert [b.config.capacity for b in shards] == [500, 500]
    assert [b.config.min_positions_to_sample for b in shards] == [32, 32]
    assert [b.stats()["shard"] for b in shards] == [0, 1]
    sizes = [len(b) for b in shards]
    for buffer in shards:
        buffer.close()

    assert [path.name for path in replay_dirs(tmp_path, 2)] == ["replay", "replay-1"]
    reloaded = [ReplayBuffer(SHARDED, run_dir=tmp_path, seed=0, shard=shard) for shard in range(2)]
    assert [len(b) for b in reloaded] == sizes and all(sizes)
    for buffer in reloaded:
        buffer.close()
    with pytest.raises(ValueError, match=r"shard: expected 0 to 1 \(replay.shards 2\), got 2"):
        ReplayBuffer(SHARDED, shard=2)


def test_the_learner_samples_each_shard_in_turn_and_sends_priorities_back_to_it():
    episodes = list(sudoku_demonstrations(40))
    shards = [RecordingBuffer(SHARDED, seed=0, shard=shard) for shard in range(2)]
    shards[0].add(episodes[:20])
    shards[1].add(episodes[20:])
    learner = make_learner(shards, send_priorities=True, batch_size=16)
    stats = learner.train(max_steps=4)

    requested = [len(b.batches) for b in shards]  # trained batches and those prefetched beyond them
    assert sum(requested) >= 4 and abs(requested[0] - requested[1]) <= 1
    assert stats["inserted_total"] == sum(b.stats()["inserted_total"] for b in shards) > 0
    for buffer in shards:  # every update names positions of the shard that handed them out
        sampled = {int(i) for batch in buffer.batches for i in batch["index"]}
        updated = {int(i) for indices, _ in buffer.updates for i in indices}
        assert updated and updated <= sampled
    # Batch i comes from shard i % 2: of the four trained batches, two from each, each updated there.
    assert [len(b.updates) for b in shards] == [2, 2]


def test_a_shard_without_a_worker_is_refused_in_one_line():
    config = REPO / "configs" / "local.yaml"
    with pytest.raises(ConfigError) as caught:
        load_config(config, ["replay.shards=3", "selfplay.num_workers={min: 2, max: 8}"])
    assert str(caught.value) == f"{config}: replay.shards: expected at most the fewest self-play workers (2), got 3"
    assert load_config(config, ["replay.shards=2", "selfplay.num_workers=2"]).replay.shards == 2


def test_per_shard_rounds_up_and_one_shard_is_the_config_itself():
    assert ReplayConfig(capacity=10, min_positions_to_sample=3, shards=4).per_shard() == dataclasses.replace(
        ReplayConfig(capacity=3, min_positions_to_sample=1), shards=1
    )
    one = ReplayConfig()
    assert one.per_shard() is one
