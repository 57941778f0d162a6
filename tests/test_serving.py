"""Inference servers: merged forward passes equal a local network's, weights by version, workers on a server,
retries and re-sent weights, GPU placement, and `selfplay bench inference`."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from actors.inference import TorchNetwork, build_network
from actors.search import SearchConfig
from actors.selfplay import SelfPlayConfig, SelfPlayWorker
from actors.serving import InferenceConfig
from actors.serving.client import RemoteNetwork
from actors.serving.server import InferenceServer, create_inference_servers
from actors.tasks.registry import TaskMix
from tests.conftest import ray_test_env, write_token
from tests.test_selfplay import MIX, TINY, ListSink, state_dict_of_seed

REPO = Path(__file__).resolve().parents[1]
SPECS = [task.spec for task in TaskMix(MIX).tasks]  # tic-tac-toe (9 tokens, id 0), 4x4 Sudoku (16 tokens, id 1)
SERVER = InferenceConfig(servers=1, num_cpus=0.25, device="cpu")
WAIT_S = 60.0  # upper bound of every wait on an actor; no test measures time
TOLERANCE = {"rtol": 1e-5, "atol": 1e-6}  # batch composition may change the float summation order


def requests(rng: np.random.Generator, shapes: list[tuple[int, int]]) -> list[tuple[np.ndarray, np.ndarray]]:
    """One ``(tokens [k, L], task_ids [k])`` per ``(k, task_id)``, tokens drawn from the task's vocabulary."""
    made = []
    for rows, task_id in shapes:
        spec = SPECS[task_id]
        made.append((rng.integers(1, spec.vocab_size, (rows, spec.obs_length)), np.full(rows, task_id)))
    return made


def local_network(weights: dict | None = None) -> TorchNetwork:
    network = build_network(TINY, SPECS, seed=0)
    if weights is not None:
        network.load_state_dict(weights)
    return network


def assert_matches(local: TorchNetwork, request: tuple[np.ndarray, np.ndarray], reply: tuple) -> None:
    logits, value = local(*request)
    np.testing.assert_allclose(reply[0], logits, **TOLERANCE)
    np.testing.assert_allclose(reply[1], value, **TOLERANCE)


@pytest.fixture(autouse=True, scope="module")
def restore_torch_threads():
    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)


class HeldServer(InferenceServer):
    """A server whose next forward, once `hold` is called, waits until that many more requests have arrived,
    so they queue behind it and must be merged (no timing involved: it waits for a count, bounded by WAIT_S)."""

    hold_until = 0

    async def hold(self, requests: int) -> None:
        self.hold_until = self.requests + requests

    def _forward(self, tokens, task_ids):
        deadline = time.monotonic() + WAIT_S
        while self.requests < self.hold_until and time.monotonic() < deadline:
            time.sleep(0.005)
        self.hold_until = 0
        return super()._forward(tokens, task_ids)


@pytest.fixture(scope="module")
def servers(local_ray, gpu_placement_run):
    """Started together (each takes seconds): a plain server and a held one (which the restart test kills).

    The weights test loads version 5 into the plain server, the worker test version 7 (versions only go up).
    ``gpu_placement_run`` is asked for only to start its Ray first, in parallel with these tests.
    """
    ray = local_ray
    (plain,) = create_inference_servers(SERVER, MIX, TINY, 0)
    held = ray.remote(num_cpus=SERVER.num_cpus, max_restarts=-1)(HeldServer).remote(SERVER, MIX, TINY, 0)
    ray.get([s.stats.remote() for s in (plain, held)], timeout=WAIT_S)
    yield {"plain": plain, "held": held}
    for server in (plain, held):
        ray.kill(server)


# ----- without Ray: the batching rules, deterministically ----------------------------------------------


def test_waiting_requests_are_merged_up_to_max_batch_grouped_by_token_length():
    server = InferenceServer(InferenceConfig(max_batch=16, device="cpu"), MIX, TINY, 0)
    rng = np.random.default_rng(0)
    # 3 + 5 + 7 tic-tac-toe rows fit in 16; the Sudoku request would not: it is the next batch.
    batch = requests(rng, [(3, 0), (5, 0), (7, 0), (4, 1)])
    oversized = requests(rng, [(20, 1)])

    async def run():
        replies = await asyncio.gather(*(server.evaluate(*r) for r in batch))  # all queued before the batcher runs
        return replies, await server.evaluate(*oversized[0]), await server.stats()

    replies, big, stats = asyncio.run(run())
    local = local_network()
    for request, reply in zip(batch + oversized, [*replies, big], strict=True):
        assert reply[0].shape == (len(request[0]), max(s.num_actions for s in SPECS)) and reply[2] == -1
        assert_matches(local, request, reply)
    assert stats["requests"] == 5 and stats["rows"] == 3 + 5 + 7 + 4 + 20
    assert stats["batches"] == 3  # [3 + 5 + 7 rows], [4], [20]
    assert stats["forward_calls"] == 1 + 1 + 2  # the 20-row request in slices of 16 and 4
    assert stats["max_batch_rows"] == 16


class FlakyServer:
    """A plain stand-in for a server: unavailable ``down`` times, then at version ``version`` until sent weights."""

    def __init__(self, down: int, version: int) -> None:
        self.down, self.version, self.sent = down, version, []

    def evaluate(self, tokens, task_ids):
        if self.down:
            self.down -= 1
            raise ActorUnavailableError("restarting")
        return np.zeros((len(tokens), 9), np.float32), np.zeros(len(tokens), np.float32), self.version

    def set_weights(self, version, weights):
        self.sent.append(version)
        self.version = max(self.version, version)
        return self.version


class ActorUnavailableError(Exception):
    """Named like Ray's: the client recognises Ray's errors by class name."""


def test_client_retries_a_restarting_server_and_resends_weights_it_lost():
    server = FlakyServer(down=0, version=3)
    network = RemoteNetwork(server, backoff=0.0)
    assert network.use_weights(2, {"w": np.zeros(1)}) == 3  # the server is ahead already: nothing to load
    network(np.ones((2, 9), np.int64), np.zeros(2, np.int64))
    assert network.rows_ahead == 2 and network.resends == 0
    network.use_weights(5, {"w": np.zeros(1)})
    server.down, server.version = 2, -1  # restarted: unavailable twice, then back with its initial weights
    network(np.ones((1, 9), np.int64), np.zeros(1, np.int64))
    assert network.retries == 2 and network.resends == 1 and server.sent == [2, 5, 5]
    assert network.server_version == 5
    server.down = 10
    with pytest.raises(ActorUnavailableError):
        RemoteNetwork(server, retries=3, backoff=0.0)(np.ones((1, 9), np.int64), np.zeros(1, np.int64))
    assert server.down == 10 - 4  # the first call and three retries


# ----- on Ray -----------------------------------------------------------------------------------------------


def test_concurrent_callers_are_merged_and_get_a_local_networks_outputs(local_ray, servers):
    ray = local_ray
    held = servers["held"]
    batch = requests(np.random.default_rng(1), [(3, 0), (5, 0), (7, 0), (4, 1)])
    before = ray.get(held.stats.remote(), timeout=WAIT_S)
    ray.get(held.hold.remote(len(batch)), timeout=WAIT_S)
    replies = ray.get([held.evaluate.remote(*r) for r in batch], timeout=WAIT_S)  # 4 callers at once
    stats = ray.get(held.stats.remote(), timeout=WAIT_S)
    local = local_network()
    for request, reply in zip(batch, replies, strict=True):
        assert_matches(local, request, reply)
    assert stats["requests"] - before["requests"] == 4 and stats["rows"] - before["rows"] == 19
    # The first forward waited for all four; the other tic-tac-toe requests then shared one forward.
    assert stats["forward_calls"] - before["forward_calls"] <= 3


def test_set_weights_changes_outputs_and_version_and_loads_each_version_once(local_ray, servers):
    ray = local_ray
    server = servers["plain"]
    request = requests(np.random.default_rng(2), [(6, 0)])[0]
    assert_matches(local_network(), request, ray.get(server.evaluate.remote(*request), timeout=WAIT_S))
    weights = state_dict_of_seed(MIX, 11)
    ref = ray.put(weights)
    assert ray.get([server.set_weights.remote(5, [ref]) for _ in range(3)], timeout=WAIT_S) == [5, 5, 5]
    reply = ray.get(server.evaluate.remote(*request), timeout=WAIT_S)
    assert reply[2] == 5
    assert_matches(local_network(weights), request, reply)
    assert not np.allclose(reply[0], local_network()(*request)[0])
    assert ray.get(server.set_weights.remote(4, [ray.put(state_dict_of_seed(MIX, 22))]), timeout=WAIT_S) == 5
    stats = ray.get(server.stats.remote(), timeout=WAIT_S)
    assert stats["version"] == 5 and stats["weights_loads"] == 1  # three publishers, one load; older ignored
    assert stats["device"] == "cpu" and stats["rss_bytes"] > 0 and stats["rows_per_s"] > 0


def test_a_worker_on_a_server_plays_and_records_the_servers_version(local_ray, servers):
    ray = local_ray
    server, sink = servers["plain"], ListSink()
    config = SelfPlayConfig(episodes_per_worker=8, push_positions=64)
    worker = SelfPlayWorker(MIX, TINY, SearchConfig(num_simulations=8), config, 0, 0, sink, inference=server)
    assert isinstance(worker.network, RemoteNetwork)
    ref = ray.put(state_dict_of_seed(MIX, 33))
    stats = worker.play(7, [ref], seconds=600.0, rounds=20)
    worker.flush()
    assert stats["weights_version"] == 7 and stats["weights_loads"] == 1 and stats["episodes"] > 0
    assert sink.trajectories and {t.weights_version for t in sink.trajectories} == {7}
    assert worker.network.server_version == 7 and worker.network.rows_ahead == 0 and worker.network.rows > 0
    assert ray.get(server.stats.remote(), timeout=WAIT_S)["version"] == 7


def test_a_restarted_server_is_sent_the_weights_again(local_ray, servers):
    ray = local_ray
    server = servers["held"]  # its last user
    weights = state_dict_of_seed(MIX, 44)
    network = RemoteNetwork(server)
    network.use_weights(3, [ray.put(weights)])
    request = requests(np.random.default_rng(3), [(4, 1)])[0]
    before = ray.get(server.location.remote(), timeout=WAIT_S)["pid"]
    ray.kill(server, no_restart=False)
    # Until its new process answers: `ray.kill` returns before the old one is gone (retries, for a call
    # that finds it restarting, are the unit test's above).
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        with contextlib.suppress(ray.exceptions.RayActorError):  # unavailable while it restarts
            if ray.get(server.location.remote(), timeout=WAIT_S)["pid"] != before:
                break
        time.sleep(0.2)
    reply = network(*request)  # back at its initial weights: the client sends version 3 again
    assert network.resends == 1 and network.server_version == 3
    assert_matches(local_network(weights), request, (*reply, 3))


PLACEMENT_SCRIPT = textwrap.dedent(
    """
    import json, ray
    from actors.serving import InferenceConfig
    from actors.serving.server import create_inference_servers
    from tests.test_selfplay import MIX, TINY

    ray.init(address="local", num_cpus=2, num_gpus=1, include_dashboard=False, logging_level="WARNING")
    before = ray.available_resources().get("GPU", 0.0)
    config = InferenceConfig(servers=1, num_gpus=1, num_cpus=0.5, device="cpu")
    (server,) = create_inference_servers(config, MIX, TINY, 0)
    stats = ray.get(server.stats.remote(), timeout=120)
    print(json.dumps({"before": before, "after": ray.available_resources().get("GPU", 0.0),
                      "device": stats["device"]}))
    ray.shutdown()
    """
)


@pytest.fixture(scope="module")
def gpu_placement_run(tmp_path_factory):
    """The placement script on a Ray of its own that declares one GPU, in a subprocess (the session's Ray
    is left alone), started in the background: its Ray's start-up overlaps the other tests."""
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    env.update(ray_test_env(write_token(tmp_path_factory.mktemp("gpu-ray"))), PYTHONPATH=str(REPO))
    command = [sys.executable, "-c", PLACEMENT_SCRIPT]
    run = subprocess.Popen(command, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    yield run
    if run.poll() is None:
        run.kill()
        run.communicate()


def test_a_server_declaring_a_gpu_takes_the_gpu_slot(gpu_placement_run):
    out, err = gpu_placement_run.communicate(timeout=180)
    assert gpu_placement_run.returncode == 0, err[-2000:]
    result = json.loads(out.strip().splitlines()[-1])
    assert result == {"before": 1.0, "after": 0.0, "device": "cpu"}


def test_bench_inference_reports_both_rates(local_ray, capsys):
    from cluster.cli import main

    args = ["bench", "inference", "--workers", "2", "--seconds", "3", "--json"]
    small = ["tasks.mix=[{kind: tictactoe}]", "search.num_simulations=8", "selfplay.episodes_per_worker=8"]
    assert main([*args, *(f"--set={value}" for value in [*small, "inference.num_cpus=0.25"])]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["workers"] == 2 and result["seconds"] == 3
    for setting in ("local", "shared"):
        assert result[setting]["positions_per_s"] > 0 and result[setting]["moves_per_s"] > 0
    assert result["ratio"] == pytest.approx(result["shared"]["positions_per_s"] / result["local"]["positions_per_s"])
    server = result["shared"]["server"]
    assert server["requests"] > 0 and server["mean_batch_rows"] > 0 and server["device"] == "cpu"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--workers", "0"], "--workers: expected a positive integer"),
        (["--seconds", "-1"], "--seconds: expected a positive number"),
        (["--set", "inference.max_batch=0"], "inference.max_batch"),
        (["--config", "no/such.yaml"], "no such config file"),
    ],
)
def test_bench_inference_rejects_bad_arguments_in_one_line(args, message, capsys):
    from cluster.cli import main

    try:
        code = main(["bench", "inference", *args])
    except SystemExit as exit_:  # argparse's own checks
        code = exit_.code
    err = capsys.readouterr().err
    assert code == 2 and message in err and err.count("\n") == 1, err
