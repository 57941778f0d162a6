"""`InferenceServer`: one network on one device, evaluating the leaf batches of many self-play workers together.

    servers = create_inference_servers(config.inference, config.tasks, config.model, config.seed)
    ray.get([s.set_weights.remote(version, [weights_ref]) for s in servers])  # every accepted version
    logits, value, version = ray.get(server.evaluate.remote(tokens, task_ids))  # what RemoteNetwork sends
    ray.get(server.stats.remote())

Batching: an async Ray actor with one device thread. ``evaluate`` is a coroutine that queues
its request with a future and awaits it, so a waiting worker costs the server a future, not
a thread. One batching coroutine (started by the first request) loops: it takes every request
waiting, in arrival order, up to ``max_batch`` rows (always at least one request), concatenates
the rows of each token length (requests of different lengths cannot share a tensor; rows of
different task ids can, the heads split them), runs one forward per length on the device
thread (a one-thread executor, so the event loop keeps accepting requests meanwhile), and
hands each request its slice of the outputs. Whatever arrives during a forward is the next
batch; nothing ever waits for company: with the device idle, a lone request is taken at once.
A single request of more than ``max_batch`` rows is evaluated in slices of ``max_batch``.

Weights: ``set_weights(version, [weights_ref])`` (the one-element-list convention of
`actors.inference.fetch_weights`) loads a version newer than the one held, once, however many
callers publish it (the driver for every accepted version, and each `RemoteNetwork` whose
worker switches); an older or equal version is ignored. The load runs on the device thread
between two forwards, so every reply's version (the third element of ``evaluate``'s result)
is the version that computed it.

Restarts: the server holds no state worth keeping (``max_restarts=-1``). A restarted server
runs its constructor again: the initial weights of ``seed`` and version `NO_WEIGHTS`. **The
driver must hand a restarted server the current weights again** (``set_weights`` with the
current version). Until it does, a `RemoteNetwork` whose reply comes back with a version
older than its worker's re-sends the weights it was given and asks again, so no leaf is
evaluated with older weights than its trajectory records.

Memory is bounded by the callers: each self-play worker has one network call in flight, so
at most one request per worker waits here; the counters are scalars.
"""

from __future__ import annotations

import asyncio
import collections
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np

from actors.selfplay import NO_WEIGHTS
from actors.serving.config import InferenceConfig
from actors.tasks.config import TasksConfig
from actors.tasks.registry import TaskMix
from common.process import ReportsLocation, actor_location, cpu_percent, resident_bytes

if TYPE_CHECKING:
    from learner.model_config import ModelConfig


class _Request(NamedTuple):
    tokens: np.ndarray  # int64 [k, L]
    task_ids: np.ndarray  # int64 [k]
    future: asyncio.Future  # -> (logits float32 [k, A'], value float32 [k], version)


class InferenceServer(ReportsLocation):
    """Evaluates ``evaluate`` requests of many callers in merged forward passes; see the module docstring.

    Args:
        inference: the servers' configuration (device, threads, ``max_batch``).
        tasks, model: the run's task mix and model (task ids ``0 .. len(mix) - 1``).
        seed: the initial weights' seed (those of a worker's own network of the same seed).
    """

    def __init__(self, inference: InferenceConfig, tasks: TasksConfig, model: ModelConfig, seed: int) -> None:
        from actors.inference import build_network

        specs = [task.spec for task in TaskMix(tasks).tasks]
        self.network = build_network(model, specs, seed, inference.threads, inference.device, "inference")
        self.max_batch = inference.max_batch
        self.version = NO_WEIGHTS
        self.weights_loads = 0
        self._queue: collections.deque[_Request] = collections.deque()
        self._wake = asyncio.Event()
        self._weights_lock = asyncio.Lock()
        self._batcher: asyncio.Task | None = None
        self._device = ThreadPoolExecutor(max_workers=1, thread_name_prefix="inference-device")
        self._started = time.monotonic()
        self.requests = 0
        self.batches = 0  # rounds of the batcher: requests taken together
        self.forward_calls = 0
        self.rows = 0
        self.max_rows = 0  # rows of the largest forward pass
        self.forward_seconds = 0.0
        self.max_queued = 0

    # ----- requests -----------------------------------------------------------------------------

    async def evaluate(self, tokens: np.ndarray, task_ids: np.ndarray) -> tuple[np.ndarray, np.ndarray, int]:
        """``tokens int64 [k, L], task_ids int64 [k]`` -> ``(logits float32 [k, A'], value float32 [k], version)``,
        ``version`` being the weights version that computed them."""
        tokens = np.array(tokens, dtype=np.int64)  # writable copies (Ray hands over read-only arrays)
        task_ids = np.array(task_ids, dtype=np.int64)
        if tokens.ndim != 2 or task_ids.shape != (len(tokens),) or len(tokens) == 0:
            raise ValueError(
                f"evaluate: expected tokens [k, L] and task_ids [k], k > 0; got {tokens.shape}, {task_ids.shape}"
            )
        future = asyncio.get_running_loop().create_future()
        self._queue.append(_Request(tokens, task_ids, future))
        self.requests += 1
        self.max_queued = max(self.max_queued, len(self._queue))
        if self._batcher is None:
            self._batcher = asyncio.get_running_loop().create_task(self._serve())
        self._wake.set()
        return await future

    async def _serve(self) -> None:
        """The batching loop: take what is waiting, one forward per token length, answer, repeat."""
        loop = asyncio.get_running_loop()
        while True:
            if not self._queue:
                self._wake.clear()
                await self._wake.wait()
                continue
            self.batches += 1
            for group in _by_length(self._take()):
                tokens = np.concatenate([r.tokens for r in group]) if len(group) > 1 else group[0].tokens
                task_ids = np.concatenate([r.task_ids for r in group]) if len(group) > 1 else group[0].task_ids
                try:
                    logits, value, version = await loop.run_in_executor(self._device, self._forward, tokens, task_ids)
                except Exception as error:  # the callers get the error; the server goes on
                    for request in group:
                        if not request.future.done():
                            request.future.set_exception(error)
                    continue
                start = 0
                for request in group:
                    end = start + len(request.tokens)
                    if not request.future.done():  # a cancelled caller's slice is dropped
                        request.future.set_result((logits[start:end], value[start:end], version))
                    start = end

    def _take(self) -> list[_Request]:
        """The waiting requests, oldest first, up to ``max_batch`` rows (at least one request)."""
        taken = [self._queue.popleft()]
        rows = len(taken[0].tokens)
        while self._queue and rows + len(self._queue[0].tokens) <= self.max_batch:
            taken.append(self._queue.popleft())
            rows += len(taken[-1].tokens)
        return taken

    def _forward(self, tokens: np.ndarray, task_ids: np.ndarray) -> tuple[np.ndarray, np.ndarray, int]:
        """On the device thread: the network on ``tokens`` in slices of at most ``max_batch`` rows, and the
        version that computed it (loads run on this thread too, so it cannot change meanwhile)."""
        start = time.perf_counter()
        parts = [
            self.network(tokens[i : i + self.max_batch], task_ids[i : i + self.max_batch])
            for i in range(0, len(tokens), self.max_batch)
        ]
        self.forward_seconds += time.perf_counter() - start
        self.forward_calls += len(parts)
        self.rows += len(tokens)
        self.max_rows = max(self.max_rows, min(len(tokens), self.max_batch))
        if len(parts) == 1:
            return (*parts[0], self.version)
        return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts]), self.version

    # ----- weights ------------------------------------------------------------------------------

    async def set_weights(self, version: int, weights: Any) -> int:
        """Load published weights ``version`` (a one-element list holding the reference of a state dict, or
        the dict) if it is newer than the version held; returns the version held afterwards."""
        from actors.inference import fetch_weights

        async with self._weights_lock:  # concurrent publishers of one version: one fetch, one load
            if version > self.version:
                if isinstance(weights, (list, tuple)) and len(weights) == 1 and not isinstance(weights[0], dict):
                    weights = [await weights[0]]  # the object-store fetch, without blocking the event loop
                state = fetch_weights(weights)  # checks the form; nothing left to fetch
                await asyncio.get_running_loop().run_in_executor(self._device, self._load, version, state)
        return self.version

    def _load(self, version: int, state: dict) -> None:
        self.network.load_state_dict(state)
        self.version = version
        self.weights_loads += 1

    # ----- statistics ---------------------------------------------------------------------------

    async def stats(self) -> dict[str, Any]:
        """Cumulative counters since the server started, with rates over its lifetime.

        ``mean_batch_rows``: rows per forward pass; ``requests_per_forward``: how many requests a
        forward merged on average; ``busy_share``: the fraction of the time the device computed.
        """
        seconds = max(time.monotonic() - self._started, 1e-9)
        return {
            "version": self.version,
            "weights_loads": self.weights_loads,
            "device": str(self.network.device),
            "requests": self.requests,
            "batches": self.batches,
            "forward_calls": self.forward_calls,
            "rows": self.rows,
            "forward_seconds": self.forward_seconds,
            "seconds": seconds,
            "rows_per_s": self.rows / seconds,
            "mean_batch_rows": self.rows / max(self.forward_calls, 1),
            "max_batch_rows": self.max_rows,
            "requests_per_forward": self.requests / max(self.forward_calls, 1),
            "busy_share": self.forward_seconds / seconds,
            "queued_requests": len(self._queue),
            "max_queued_requests": self.max_queued,
            "rss_bytes": resident_bytes(),
            "cpu_percent": cpu_percent(),
            "actor": actor_location(),
        }


def _by_length(requests: list[_Request]) -> list[list[_Request]]:
    """``requests`` grouped by token length, in the order each length first appears."""
    groups: dict[int, list[_Request]] = {}
    for request in requests:
        groups.setdefault(request.tokens.shape[1], []).append(request)
    return list(groups.values())


# ----- Ray -----------------------------------------------------------------------------------------------


def create_inference_servers(
    inference: InferenceConfig,
    tasks: TasksConfig,
    model: ModelConfig,
    seed: int,
    *,
    scheduling_strategy: Any = None,
) -> list[Any]:
    """Start ``inference.servers`` `InferenceServer` Ray actors; returns their handles ([] when 0).

    Each declares ``inference.num_cpus`` and ``inference.num_gpus`` and restarts without limit
    (``max_restarts=-1``): the caller must hand a restarted server the current weights again
    (see the module docstring). ``scheduling_strategy`` places them: one Ray scheduling strategy
    for all (e.g. ``NodeAffinitySchedulingStrategy``), a sequence of one per server, or None
    (Ray's default). Requires ``ray.init`` first.
    """
    import ray

    count = inference.servers
    if isinstance(scheduling_strategy, Sequence) and not isinstance(scheduling_strategy, str):
        strategies = list(scheduling_strategy)
        if len(strategies) != count:
            raise ValueError(
                f"scheduling_strategy: expected {count} strategies (one per server), got {len(strategies)}"
            )
    else:
        strategies = [scheduling_strategy] * count
    actor_class = ray.remote(num_cpus=inference.num_cpus, num_gpus=inference.num_gpus, max_restarts=-1)(InferenceServer)
    return [
        (actor_class if strategy is None else actor_class.options(scheduling_strategy=strategy)).remote(
            inference, tasks, model, seed
        )
        for strategy in strategies
    ]
