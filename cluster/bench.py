"""Benchmarks: how close batched search comes to the speed of its network alone, and
whether the replay buffer's memory stays flat once it is full.

`bench_search` measures, in one run and on a fixed number of CPU threads,

- the search: B episodes x simulations per move x moves / seconds, with
  `BatchedSearch.run` + `advance` + slot resets all timed, and
- the network alone: the same number of forward passes at batch B on tokens
  of the same task (its current root positions), i.e. the search's limit,

interleaved move by move so both see the same machine load. ``ratio`` =
search / network; the target at B = 64 is at least 0.8 (search and task
stepping take at most a quarter of the network's time).

`bench_replay` fills a replay buffer (in a temporary run directory, segments and
all) many times over with trajectories of a run config's shapes, sampling as a
learner does, and reports its resident memory after each turnover of the capacity
against the first full buffer's (the reference measured in the same run).
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any

import numpy as np
import torch

from actors.replay import ReplayBuffer, ReplayConfig, Trajectory
from actors.search import BatchedSearch, Network, SearchConfig
from actors.tasks.base import Task, TaskSpec


def bench_search(
    network_factory: Callable[[], Network],
    task: Task,
    batch_sizes: Sequence[int] = (1, 16, 64, 256),
    num_simulations: int = 32,
    moves: int = 4,
    threads: int = 1,
    config: SearchConfig | None = None,
    difficulty: float = 0.5,
    seed: int = 0,
    network_name: str | None = None,
    task_id: int = 0,
    progress: Any = None,
) -> dict:
    """Search vs network-only simulations per second at each batch size; a JSON-ready dict.

    Args:
        network_factory: builds the network callable (``tokens [B, L], task_ids [B] ->
            (logits [B, A'], value [B])``), e.g. ``lambda: TorchNetwork(model)``; called once per batch size.
        task: the task kind whose episodes are searched (instances from
            ``task.generate(seed, difficulty)``; finished episodes are replaced at once).
        batch_sizes: the B values measured.
        num_simulations: simulations per move (overrides ``config``'s).
        moves: timed moves per batch size (after one untimed warm-up move).
        threads: ``torch.set_num_threads`` during the benchmark (restored after).
        config: the search configuration (default `SearchConfig()`).
        task_id: the task's id in the network's task mix.
        progress: told of each batch size as it starts and finishes (`cluster.monitor.StepProgress`).

    Returns:
        ``{"task", "algorithm", "num_simulations", "moves", "threads", "network", "results": [...]}``
        with one entry per batch size: ``batch_size``, ``search_sims_per_s``,
        ``network_sims_per_s``, ``ratio``, ``search_seconds``, ``network_seconds``
        (network alone), ``network_seconds_in_search`` (the search's own network
        calls), ``network_share_of_search``, ``overhead_vs_network`` (the search's
        time outside its network calls / its time in them; the target is <= 0.25),
        ``mean_leaf_batch`` (rows per network call inside the search: below B when
        simulations end in terminal states, which need no network) and ``mean_tree_size``.
    """
    config = replace(config or SearchConfig(), num_simulations=num_simulations)
    previous_threads = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        results = []
        for b in batch_sizes:
            if progress is not None:
                progress.start(f"batch {b}")
            results.append(_bench_batch(network_factory, task, task_id, int(b), moves, config, difficulty, seed))
            if progress is not None:
                progress.done()
    finally:
        torch.set_num_threads(previous_threads)
    return {
        "task": task.spec.kind,
        "algorithm": config.algorithm,
        "num_simulations": num_simulations,
        "moves": moves,
        "threads": threads,
        "network": network_name or "",
        "results": results,
    }


def _bench_batch(
    network_factory: Callable[[], Network],
    task: Task,
    task_id: int,
    batch_size: int,
    moves: int,
    config: SearchConfig,
    difficulty: float,
    seed: int,
) -> dict:
    """One batch size: ``moves`` timed search moves, each followed by as many network-only calls."""
    network = network_factory()
    instances = _InstancePool(task, difficulty, seed, size=4 * batch_size)
    search = BatchedSearch(task, network, config, batch_size=batch_size, task_id=task_id)
    search.reset(*instances.take(batch_size))
    task_ids = np.full(batch_size, task_id, dtype=np.int64)

    def search_move() -> int:
        result = search.run()
        search.advance(result.actions)
        finished = np.flatnonzero(search.done)
        if len(finished):
            search.reset_slots(finished, *instances.take(len(finished)))
        return int(result.searched.sum()) * config.num_simulations

    search_move()  # warm-up: first network calls, first allocations
    network(task.encode(search.root_states), task_ids)
    search_seconds = network_seconds = 0.0
    search_sims = network_sims = 0
    network_in_search = search.network_seconds
    calls, rows = search.network_calls, search.network_rows
    tree_sizes = []
    for _ in range(moves):
        start = time.perf_counter()
        search_sims += search_move()
        search_seconds += time.perf_counter() - start
        tree_sizes.append(search.tree.num_nodes.mean())
        tokens = task.encode(search.root_states)
        start = time.perf_counter()
        for _ in range(config.num_simulations):
            network(tokens, task_ids)
        network_seconds += time.perf_counter() - start
        network_sims += batch_size * config.num_simulations
    network_in_search = search.network_seconds - network_in_search
    search_rate = search_sims / search_seconds
    network_rate = network_sims / network_seconds
    return {
        "batch_size": batch_size,
        "search_sims_per_s": search_rate,
        "network_sims_per_s": network_rate,
        "ratio": search_rate / network_rate,
        "search_seconds": search_seconds,
        "network_seconds": network_seconds,
        "network_seconds_in_search": network_in_search,
        "network_share_of_search": network_in_search / search_seconds,
        "overhead_vs_network": (search_seconds - network_in_search) / max(network_in_search, 1e-12),
        "mean_leaf_batch": (search.network_rows - rows) / max(search.network_calls - calls, 1),
        "mean_tree_size": float(np.mean(tree_sizes)),
    }


class _InstancePool:
    """Pre-generated instances (generation is not part of the search's cost), handed out round-robin."""

    def __init__(self, task: Task, difficulty: float, seed: int, size: int) -> None:
        self.states = np.array([task.generate(seed + i, difficulty) for i in range(size)])
        self.next = 0
        self.seed = seed

    def take(self, count: int) -> tuple[np.ndarray, np.ndarray]:
        """``count`` initial states ``[count, S]`` and episode seeds ``[count]``."""
        index = (self.next + np.arange(count)) % len(self.states)
        seeds = self.seed + self.next + np.arange(count)
        self.next += count
        return self.states[index], seeds


def format_search_bench(result: dict) -> str:
    """A text table of a `bench_search` result."""
    head = (
        f"search benchmark: {result['task']}, {result['algorithm']}, {result['num_simulations']} simulations/move, "
        f"{result['moves']} moves, {result['threads']} thread(s)"
        + (f", network {result['network']}" if result.get("network") else "")
    )
    lines = [
        head,
        f"{'B':>5} {'search sims/s':>14} {'network sims/s':>15} {'ratio':>6} {'net share':>10} {'overhead':>9} "
        f"{'leaf batch':>11}",
    ]
    for row in result["results"]:
        lines.append(
            f"{row['batch_size']:>5} {row['search_sims_per_s']:>14.0f} {row['network_sims_per_s']:>15.0f} "
            f"{row['ratio']:>6.2f} {row['network_share_of_search']:>10.0%} {row['overhead_vs_network']:>9.0%} "
            f"{row['mean_leaf_batch']:>11.1f}"
        )
    lines.append(
        "ratio = search / network alone at batch B; net share = the search's time in its network calls; "
        "overhead = its other time / its network time; leaf batch = rows per network call in the search"
    )
    return "\n".join(lines)


def model_network_factory(task: Task, arch: str = "trm", preset: str = "tiny", seed: int = 0) -> Callable[[], Network]:
    """A factory of `TorchNetwork`-wrapped, freshly initialised learner models for ``task`` (untrained weights
    run as fast as trained ones)."""

    def factory() -> Network:
        from actors.inference import build_network
        from learner.model_config import ModelConfig

        return build_network(ModelConfig(arch=arch, preset=preset), [task.spec], seed)

    return factory


def bench_replay(
    replay_config: ReplayConfig,
    specs: Sequence[TaskSpec],
    turnovers: int = 10,
    samples_per_insert: float = 8.0,
    batch_size: int = 128,
    seed: int = 0,
) -> dict:
    """Resident memory of a durable replay buffer over ``turnovers`` fillings of its capacity; a JSON-ready dict.

    Trajectories have the shapes of ``specs`` (one random task per episode, random
    length up to its ``max_steps``) and random contents; after each insert of 100
    episodes the buffer is sampled in batches of ``batch_size`` until
    ``samples_per_insert`` samples per inserted position have been drawn.

    Returns ``{"capacity", "turnovers": [{"turnover", "rss_bytes", "growth_bytes",
    "segments", "disk_bytes", "seconds"}, ...]}``, ``growth_bytes`` against the first turnover.
    """
    rng = np.random.default_rng(seed)

    def trajectory() -> Trajectory:
        task_id = int(rng.integers(len(specs)))
        spec = specs[task_id]
        length = int(rng.integers(1, spec.max_steps + 1))
        return Trajectory(
            tokens=rng.integers(1, spec.vocab_size, (length, spec.obs_length)),
            legal=rng.random((length, spec.num_actions)) < 0.5,
            policy=rng.random((length, spec.num_actions), dtype=np.float32),
            value=rng.random(length, dtype=np.float32),
            task_id=task_id,
            family=spec.family,
            kind=spec.kind,
            success=bool(rng.random() < 0.5),
        )

    rows: list[dict] = []
    sampled = 0.0
    with tempfile.TemporaryDirectory() as run_dir:
        buffer = ReplayBuffer(replay_config, run_dir=run_dir, seed=seed)
        start = time.perf_counter()
        while len(rows) < turnovers:
            buffer.add([trajectory() for _ in range(100)])
            inserted = buffer.stats()["inserted_total"]
            while buffer.ready() and sampled < samples_per_insert * inserted:
                buffer.sample(batch_size)
                sampled += batch_size
            if inserted >= (len(rows) + 1) * replay_config.capacity:
                stats = buffer.stats()
                rows.append(
                    {
                        "turnover": len(rows) + 1,
                        "rss_bytes": stats["rss_bytes"],
                        "growth_bytes": stats["rss_bytes"] - (rows[0]["rss_bytes"] if rows else stats["rss_bytes"]),
                        "segments": stats["segments"],
                        "disk_bytes": stats["disk_bytes"],
                        "seconds": time.perf_counter() - start,
                    }
                )
        buffer.close()
    return {"capacity": replay_config.capacity, "samples_per_insert": samples_per_insert, "turnovers": rows}


def format_replay_bench(result: dict) -> str:
    """A text table of a `bench_replay` result."""
    mib = 1 << 20
    lines = [
        f"replay buffer of {result['capacity']:,} positions, {result['samples_per_insert']:g} samples per insert",
        "turnover  rss MiB  growth MiB  segments  disk MiB  seconds",
    ]
    for row in result["turnovers"]:
        lines.append(
            f"{row['turnover']:>8}  {row['rss_bytes'] / mib:7.1f}  {row['growth_bytes'] / mib:+10.1f}"
            f"  {row['segments']:>8}  {row['disk_bytes'] / mib:8.1f}  {row['seconds']:7.1f}"
        )
    return "\n".join(lines)
