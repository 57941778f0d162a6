"""Placement, by declaring GPUs to an embedded Ray on this CPU machine: who takes the GPU slots.

A real `selfplay train` with ``ray.num_gpus: 2``, a learner that asks for one GPU and an
inference server that asks for the other: each reports the GPU ids Ray assigned it with its
statistics (in metrics.jsonl), and self-play workers, which declare none, get none. The
workers evaluate their leaves on the server, so the run also proves the server in the loop.
"""

from __future__ import annotations

import pytest

from tests.clusters import FAST, overrides, read_jsonl
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
