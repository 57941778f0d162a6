"""Placement, by declaring GPUs to an embedded Ray on this CPU machine: who takes the GPU slots.

A real `selfplay train` with ``ray.num_gpus: 2``, a learner that asks for one GPU and an
inference server that asks for the other: each reports the GPU ids Ray assigned it with its
statistics (in metrics.jsonl), and self-play workers, which declare none, get none. The
workers evaluate their leaves on the server, and push to a replay buffer of two shards, so the
run also proves the server and the shards in the loop.
"""

from __future__ import annotations

import pytest

from tests.clusters import FAST, REPO, overrides, read_jsonl
from tests.test_train_e2e import selfplay

pytestmark = pytest.mark.slow


def test_learner_and_inference_server_take_the_gpu_slots_and_workers_do_not(tmp_path):
    run_dir = tmp_path / "run"
    settings = [
        *FAST,
        "ray.num_cpus=6",
        "ray.num_gpus=2",
        "learner.num_gpus=1",
        "inference.servers=1",
        "inference.num_gpus=1",
        "selfplay.num_workers=2",
        "replay.shards=2",
    ]
    args = ["train", "--config", "configs/local.yaml", "--run-dir", str(run_dir), "--max-iterations", "1"]
    result = selfplay([*args, *overrides(settings)], tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]

    metrics = read_jsonl(run_dir / "metrics.jsonl")
    by_event = {event: [m for m in metrics if m["event"] == event] for event in ("train", "inference", "selfplay")}
    assert all(by_event.values()), f"missing events: {[e for e, ms in by_event.items() if not ms]}"
    learner_gpus = {tuple(m["actor"]["gpus"]) for m in by_event["train"]}
    server_gpus = {tuple(m["actor"]["gpus"]) for m in by_event["inference"]}
    assert len(learner_gpus) == len(server_gpus) == 1
    (learner_gpu,), (server_gpu,) = learner_gpus, server_gpus
    assert len(learner_gpu) == len(server_gpu) == 1 and learner_gpu != server_gpu
    assert all(m["actor"]["gpus"] == [] for m in by_event["selfplay"])
    # The workers' leaves went to the server: it answered requests and ran forward passes.
    assert max(m["requests"] for m in by_event["inference"]) > 0
    assert "GPU" in result.stderr and "inference server" in result.stderr

    # Worker i pushed to shard i % 2: both shard directories hold positions, both shards reported.
    from actors.replay import ReplayBuffer, ReplayConfig

    assert {m["shard"] for m in metrics if m["event"] == "replay"} == {0, 1}
    config = ReplayConfig(capacity=10**6, min_positions_to_sample=1, shards=2)
    for shard in range(2):
        buffer = ReplayBuffer(config, run_dir=run_dir, shard=shard)
        assert len(buffer) > 0, f"shard {shard} holds no positions"
        buffer.close()
    # The positions are in two directories: a resume cannot change the count.
    refused = selfplay(["train", "--resume", str(run_dir), "--set", "replay.shards=1"], tmp_path, timeout=60)
    assert refused.returncode == 2
    expected = "replay.shards: a resumed run keeps its 2, got 1"
    assert refused.stderr.strip() == f"selfplay: {run_dir / 'config.yaml'}: {expected}"


def fit(tmp_path, cluster: dict[str, float], *settings: str) -> int:
    from cluster.config import load_config
    from cluster.driver import Driver
    from cluster.rundir import RunDir

    ones = ["replay.num_cpus=1", "learner.num_cpus=1", "evaluation.num_cpus=1", "selfplay.num_cpus=1"]
    config = load_config(REPO / "configs" / "local.yaml", [*ones, *settings])
    return Driver(config, RunDir(tmp_path / "run"), resume=False).check_fits(cluster)


def test_an_embedded_ray_runs_the_workers_that_fit_beside_the_other_actors(tmp_path):
    # Buffer, learner and evaluator 1 CPU each; workers 1 CPU each.
    assert fit(tmp_path, {"CPU": 6.0}, "selfplay.num_workers={min: 1, max: 8}") == 3
    assert fit(tmp_path, {"CPU": 6.0, "GPU": 1.0}, "selfplay.num_gpus=0.25", "selfplay.num_workers=1") == 3
    assert fit(tmp_path, {"CPU": 6.0, "GPU": 1.0}, "selfplay.num_gpus=0.5", "selfplay.num_workers=1") == 2


@pytest.mark.parametrize(
    ("cluster", "settings", "message"),
    [
        ({"CPU": 4.0}, ["selfplay.num_workers=2"], "the actors need 5 CPUs ("),
        ({"CPU": 8.0}, ["learner.num_gpus=1"], "the actors need 1 GPUs (learner 1) but the embedded Ray has 0"),
        (
            {"CPU": 8.0, "GPU": 1.0},
            ["learner.num_gpus=1", "inference.servers=1", "inference.num_gpus=0.5"],
            "the actors need 1.5 GPUs (learner 1, inference0 0.5) but the embedded Ray has 1",
        ),
    ],
)
def test_actors_that_never_fit_an_embedded_ray_are_refused_in_one_line(tmp_path, cluster, settings, message):
    from cluster.config import ConfigError

    with pytest.raises(ConfigError) as caught:
        fit(tmp_path, cluster, *settings)
    assert message in str(caught.value) and "\n" not in str(caught.value)


def test_each_replay_shard_counts_against_an_embedded_ray():
    from cluster.config import load_config
    from cluster.pool import actor_resources

    config = load_config(REPO / "configs" / "local.yaml", ["replay.shards=2", "selfplay.num_workers=2"])
    resources = actor_resources(config, 2)
    assert [name for name in resources if name.startswith("replay")] == ["replay", "replay1"]
    assert resources["replay1"] == {"CPU": config.replay.num_cpus}
