"""`selfplay bench inference`: self-play with each worker's own network against the same workers sharing one
inference server, measured in one run on one Ray.

`bench_inference` (Ray initialised) starts N self-play workers of a run config, each with its
own network, lets each play one untimed round (actor start-up, first network calls), then
``seconds`` of self-play, and stops them; then it starts one `InferenceServer` (the config's
``inference`` section, ``servers`` taken as 1) and the same N workers evaluating their leaves
on it, and measures them the same way. ``ratio`` = positions/s with the server / positions/s
with local networks; the server's counters over the timed window say how well it merged
requests (``mean_batch_rows``, ``requests_per_forward``) and how busy its device was.

Positions are counted when an episode ends, so short windows are coarse; moves/s and
simulations/s (and their ratios) are reported too.
"""

from __future__ import annotations

import math
import os
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from cluster.errors import ConfigError

if TYPE_CHECKING:
    import argparse

    from cluster.config import RunConfig

START_TIMEOUT_S = 300.0  # the untimed round: actors scheduled, torch imported, first calls made
EXTRA_TIMEOUT_S = 120.0  # beyond ``seconds`` for the timed round
RATES = ("positions_per_s", "simulations_per_s")
SERVER_COUNTERS = ("requests", "forward_calls", "rows", "forward_seconds", "seconds")


def bench_inference(config: RunConfig, workers: int, seconds: float, progress: Any = None) -> dict[str, Any]:
    """Self-play rates of ``workers`` workers with local networks, then sharing one server; a JSON-ready dict.

    Returns ``{"workers", "seconds", "network", "local": rates, "shared": rates + {"server": ...},
    "ratio", "moves_ratio", "simulations_ratio"}``, rates being summed over the workers. ``progress`` is
    told of each of the two settings as it starts and finishes (`cluster.monitor.StepProgress`).
    """
    import ray

    from actors.serving.server import create_inference_servers

    selfplay = replace(config.selfplay, num_workers=workers)
    from cluster.monitor import StepProgress

    progress = progress or StepProgress("bench inference", 2, log=lambda line: None)
    progress.start("own networks")
    local = _measure(config, selfplay, [], seconds)
    progress.done()
    progress.start("one inference server")
    (server,) = create_inference_servers(
        replace(config.inference, servers=1), config.tasks, config.models[0], config.seed
    )
    try:
        shared = _measure(config, selfplay, [server], seconds)
    finally:
        ray.kill(server)
    progress.done()
    return {
        "workers": workers,
        "seconds": seconds,
        "network": f"{config.models[0].arch}/{config.models[0].preset}",
        "episodes_per_worker": config.selfplay.episodes_per_worker,
        "local": local,
        "shared": shared,
        "ratio": _ratio(shared, local, "positions_per_s"),
        "moves_ratio": _ratio(shared, local, "moves_per_s"),
        "simulations_ratio": _ratio(shared, local, "simulations_per_s"),
    }


def _measure(config: RunConfig, selfplay: Any, servers: list[Any], seconds: float) -> dict[str, Any]:
    """Start the workers (on ``servers`` when given), one untimed round, ``seconds`` timed, stop them."""
    import ray

    from actors.selfplay import create_selfplay_workers

    handles = create_selfplay_workers(
        config.tasks, config.models[0], config.search, selfplay, config.seed, inference_servers=servers or None
    )
    try:
        play_round(handles, START_TIMEOUT_S, rounds=1)
        before = _server_counters(servers)
        calls = play_round(handles, seconds + EXTRA_TIMEOUT_S, seconds=seconds)
        after = _server_counters(servers)
    finally:
        for handle in handles:
            ray.kill(handle)
    result: dict[str, Any] = {
        "positions": sum(c["positions"] for c in calls),
        "episodes": sum(c["episodes"] for c in calls),
        **{rate: sum(c[rate] for c in calls) for rate in RATES},
        "moves_per_s": sum(c["moves"] / c["seconds"] for c in calls),
        "network_share": sum(c["network_share"] for c in calls) / len(calls),
    }
    if servers:
        delta = {name: after[name] - before[name] for name in SERVER_COUNTERS}
        result["server"] = {
            **delta,
            "mean_batch_rows": delta["rows"] / max(delta["forward_calls"], 1),
            "requests_per_forward": delta["requests"] / max(delta["forward_calls"], 1),
            "busy_share": delta["forward_seconds"] / max(delta["seconds"], 1e-9),
            "device": after["device"],
            "rss_bytes": after["rss_bytes"],
        }
    return result


def play_round(
    handles: list[Any], timeout: float, seconds: float = 600.0, rounds: int | None = None, room: str | None = None
) -> list[dict]:
    """One concurrent `play` call of every worker with its initial weights; their statistics.

    A `ConfigError` when they do not all answer within ``timeout``, asking whether the cluster has ``room``
    (what the workers need; default: N self-play workers and an inference server).
    """
    import ray
    from ray.exceptions import GetTimeoutError

    from actors.selfplay import NO_WEIGHTS

    pending = [handle.play.remote(NO_WEIGHTS, None, seconds, rounds=rounds) for handle in handles]
    try:
        return ray.get(pending, timeout=timeout)
    except GetTimeoutError:
        room = room or (
            f"{len(handles)} x selfplay.num_cpus CPUs plus the server's inference.num_cpus / inference.num_gpus"
        )
        raise ConfigError(
            f"the self-play workers did not finish a round within {timeout:g} s: does the cluster have room for {room}?"
        ) from None


def _server_counters(servers: list[Any]) -> dict[str, Any]:
    import ray

    return ray.get(servers[0].stats.remote(), timeout=EXTRA_TIMEOUT_S) if servers else {}


def _ratio(shared: dict, local: dict, rate: str) -> float:
    return shared[rate] / local[rate] if local[rate] > 0 else math.nan


def format_inference_bench(result: dict[str, Any]) -> str:
    """A text table of a `bench_inference` result."""
    lines = [
        f"inference benchmark: {result['workers']} self-play worker(s) x {result['episodes_per_worker']} episodes,"
        f" {result['seconds']:g} s timed, network {result['network']}"
        + (f", {result['ray']}" if "ray" in result else ""),
        f"{'':22}{'positions/s':>12}{'moves/s':>10}{'sims/s':>11}{'net share':>10}",
    ]
    for name, row in (("local networks", result["local"]), ("one inference server", result["shared"])):
        lines.append(
            f"{name:22}{row['positions_per_s']:>12.0f}{row['moves_per_s']:>10.0f}{row['simulations_per_s']:>11.0f}"
            f"{row['network_share']:>10.0%}"
        )
    server = result["shared"]["server"]
    lines.append(
        f"ratio (server / local): positions {result['ratio']:.2f}, moves {result['moves_ratio']:.2f},"
        f" simulations {result['simulations_ratio']:.2f}"
    )
    lines.append(
        f"server on {server['device']}: mean batch {server['mean_batch_rows']:.1f} rows,"
        f" {server['requests_per_forward']:.2f} requests per forward, device busy {server['busy_share']:.0%}"
    )
    return "\n".join(lines)


def run_bench_inference(args: argparse.Namespace) -> dict[str, Any]:
    """The command: load the config, start (or attach to) Ray, measure; returns the result.

    An embedded Ray gets at least the CPUs the actors declare (Ray's CPU counts are scheduling
    tokens; the machine's cores are shared by both measurements alike).
    """
    import ray

    from cluster.config import load_config
    from cluster.runtime import start_ray

    config = load_config(args.config, args.set)
    needed = args.workers * config.selfplay.num_cpus + config.inference.num_cpus
    cpus = max(config.ray.num_cpus or os.cpu_count() or 1, math.ceil(needed))
    connection = start_ray(replace(config.ray, num_cpus=cpus), args.address)
    try:
        gpus = ray.cluster_resources().get("GPU", 0.0)
        if connection.embedded and config.inference.num_gpus > gpus:
            raise ConfigError(
                f"inference.num_gpus is {config.inference.num_gpus:g} but the embedded Ray has {gpus:g} GPUs"
                " (set inference.num_gpus=0 to serve on CPU)"
            )
        from cluster.monitor import StepProgress

        progress = StepProgress("selfplay bench inference", 2)
        try:
            result = bench_inference(config, args.workers, args.seconds, progress)
        finally:
            progress.close()
    finally:
        if connection.embedded:
            ray.shutdown()
    return {"config": str(args.config), "ray": connection.description, **result}
