"""`selfplay bench selfplay`: self-play positions/s per task kind against its network-bound ceiling, for one
worker on one core and for N workers on N cores.

What is measured, for each kind of the config's task mix (or only ``--kind``), on an embedded Ray (or the
cluster of ``--address``), and for each N of ``--workers`` (N = 1 is always measured):

- Self-play. N self-play workers as Ray actors (``num_cpus=1``, one torch thread each; the same code path
  for N = 1; started once, each playing one kind at a time). Each plays as a `SelfPlayWorker` of the
  config -- its network, built for the whole mix so the kind keeps its task id and the network its shape;
  the kind's search settings (the run's ``search`` with the entry's overrides);
  ``selfplay.episodes_per_worker`` episodes at once -- whose mix holds only that kind. All play one
  untimed round (one move in every episode: first network calls of the kind), then ``--seconds`` at once,
  as play calls of about `CHUNK_SECONDS` (at least `MIN_CHUNKS`; `cluster.bench_inference.play_round`).
  Each worker's `play` statistics give the positions stored (those of the episodes that ended), episodes,
  moves, simulations, network calls and rows, and ``network_share``, its time inside network calls.
- The reference, interleaved with the self-play: after each play call, in each worker's own process with
  the same network object and thread (the other N - 1 workers doing the same at once, as they played at
  once), the bare network on random instances of the kind (``task.generate`` at the middle of the
  entry's difficulty range, encoded before the clock starts, so only network calls are timed), called at
  that call's mean inference batch -- its network rows / network calls, as a cycle of the two
  neighbouring whole batch sizes with that mean -- for `REFERENCE_SHARE` x the call's length: the
  reference rows/s. Interleaving makes self-play and reference see the same machine load.

The ceiling. A stored position cost ``rows_per_position`` = network rows / positions stored in the window;
a worker that did nothing but its network calls would store ``ceiling_positions_per_s`` = reference rows/s
/ rows_per_position. ``network_bound_share`` = positions/s / that ceiling, which is the same as the
worker's network rows/s / the reference rows/s: 1.0 means self-play costs nothing but the network, and
1 - share is what search, task stepping and the episodes' bookkeeping cost, in the network's time. It
equals ``network_share`` when a row costs inside the search what it costs in the reference. For N workers
the rates, rows/s and ceilings are summed over the workers.

Scaling. ``scaling_efficiency`` = moves/s of the N workers / (N x moves/s of the one worker, measured in
the same run). Moves, not positions stored: every move is a position stored when its episode ends, but
how many episodes happen to end inside a window of a few seconds makes the stored count coarse (all of a
worker's episodes start together), while moves are counted as they are played.
"""

from __future__ import annotations

import math
import os
import time
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import numpy as np

from actors.selfplay import SelfPlayWorker
from cluster.errors import UsageError

if TYPE_CHECKING:
    import argparse

    from cluster.config import RunConfig

CHUNK_SECONDS = 1.0  # the timed self-play is play calls of about this long, each followed by part of the reference
MIN_CHUNKS = 4
REFERENCE_SHARE = 0.5  # the reference runs this share of --seconds
BATCH_CYCLE = 64  # reference calls per cycle of batch sizes (its mean rows per call is within 1/64 of the target)


# ----- the measured worker ----------------------------------------------------------------------------


class _KindNetwork:
    """The config's network as a worker whose mix holds one kind calls it: task id 0 becomes the kind's own."""

    def __init__(self, network: Any, task_id: int) -> None:
        self.network = network
        self.task_id = task_id

    def __call__(self, tokens: np.ndarray, task_ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return self.network(tokens, task_ids + self.task_id)


class BenchWorker:
    """A Ray actor playing one kind of ``config``'s mix at a time (`use_kind`) as a `SelfPlayWorker` of the
    config with one torch thread, and measuring the reference of its bare network (`reference`).

    One network, built for the whole mix, serves every kind (so each keeps its task id, and the actor is
    started once for the whole benchmark); ``play`` is `SelfPlayWorker.play` of the kind in use.
    """

    def __init__(self, config: RunConfig, index: int) -> None:
        from actors.inference import build_network
        from actors.tasks.registry import TaskMix

        self.config, self.index = config, index
        self.selfplay = replace(config.selfplay, threads=1)
        self.mix = TaskMix(config.tasks)
        specs = [task.spec for task in self.mix.tasks]
        self.network = build_network(config.models[0], specs, config.seed, 1, self.selfplay.device, "selfplay")
        self.task_id = -1
        self.worker: SelfPlayWorker | None = None
        self.tokens = np.zeros((0, 0), dtype=np.int64)  # the reference's observations of the kind in use

    def use_kind(self, task_id: int) -> None:
        """Play task ``task_id`` from now on (its episodes carry on where they were if it was in use already)."""
        if task_id == self.task_id:
            return
        config = self.config
        one_kind = replace(config.tasks, mix=[config.tasks.mix[task_id]])
        network = _KindNetwork(self.network, task_id)
        self.worker = SelfPlayWorker(
            one_kind, config.models[0], config.search, self.selfplay, config.seed, self.index, network=network
        )
        self.task_id, self.tokens = task_id, self.tokens[:0]

    def play(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
        """`SelfPlayWorker.play` of the kind in use."""
        assert self.worker is not None, "BenchWorker.play before use_kind"
        return self.worker.play(*args, **kwargs)

    def reference(self, rows_per_call: float, seconds: float) -> dict[str, float]:
        """The bare network's rows/s at a mean of ``rows_per_call`` rows per call over ``seconds`` (module doc)."""
        sizes = batch_cycle(rows_per_call)
        tokens = self._observations(2 * max(sizes))
        pool = len(tokens) // 2
        task_ids = np.full(max(sizes), self.task_id, dtype=np.int64)
        self.network(tokens[: sizes[0]], task_ids[: sizes[0]])  # warm-up
        rows = calls = 0
        start = time.perf_counter()
        while True:
            size = sizes[calls % len(sizes)]
            offset = rows % pool
            self.network(tokens[offset : offset + size], task_ids[:size])
            rows += size
            calls += 1
            elapsed = time.perf_counter() - start
            if elapsed >= seconds:
                break
        return {"rows": rows, "calls": calls, "seconds": elapsed, "rows_per_s": rows / elapsed}

    def _observations(self, count: int) -> np.ndarray:
        """At least ``count`` encoded random instances of the kind in use, twice over (so that a call's rows are
        one contiguous slice from any offset of the first half); made once per kind."""
        if len(self.tokens) < 2 * count:
            task, (low, high) = self.mix.tasks[self.task_id], self.mix.entries[self.task_id].difficulty
            seed = self.config.seed + 1_000_000 * (self.index + 1)
            states = np.array([task.generate(seed + i, (low + high) / 2) for i in range(count)])
            self.tokens = np.concatenate([task.encode(states)] * 2)
        return self.tokens


def chunk_count(seconds: float) -> int:
    """How many play calls (each followed by part of the reference) ``seconds`` of self-play are split into."""
    return max(MIN_CHUNKS, math.ceil(seconds / CHUNK_SECONDS))


def batch_cycle(mean: float, length: int = BATCH_CYCLE) -> list[int]:
    """``length`` whole batch sizes of the two neighbouring ``mean`` whose mean is ``mean`` (to 1/length); >= 1."""
    mean = max(1.0, mean)
    return [max(1, math.floor((i + 1) * mean) - math.floor(i * mean)) for i in range(length)]


# ----- the benchmark ----------------------------------------------------------------------------------


def parse_workers(text: str) -> tuple[int, ...]:
    """``"1,2"`` -> ``(1, 2)``: the worker counts measured, sorted, 1 always among them; UsageError otherwise."""
    counts = set()
    for part in text.split(","):
        try:
            count = int(part.strip())
        except ValueError:
            count = 0
        if count < 1:
            raise UsageError(f"--workers: expected positive integers separated by commas (e.g. 1,2), got {text!r}")
        counts.add(count)
    return tuple(sorted(counts | {1}))


def select_tasks(config: RunConfig, kind: str | None, source: str) -> list[int]:
    """The task ids measured: every one of the mix, or those of ``kind``; UsageError for a kind not in the mix."""
    kinds = [entry.kind for entry in config.tasks.mix]
    if kind is None:
        return list(range(len(kinds)))
    if kind not in kinds:
        raise UsageError(f"--kind: expected a kind of {source}'s task mix ({', '.join(kinds)}), got {kind!r}")
    return [task_id for task_id, name in enumerate(kinds) if name == kind]


def bench_selfplay(
    config: RunConfig, task_ids: list[int], workers: tuple[int, ...], seconds: float, progress: Any = None
) -> dict[str, Any]:
    """Every task id of ``task_ids`` measured with each worker count of ``workers`` (module doc); Ray initialised.

    Returns ``{"kinds": [...]}``, per task id its search settings, the one worker's figures and ``workers``:
    one row per worker count. ``progress`` is told of each (kind, worker count) as it starts and finishes.
    """
    import ray

    from actors.selfplay.worker import task_stat_names
    from actors.tasks.registry import TaskMix
    from cluster.monitor import StepProgress

    progress = progress or StepProgress("bench selfplay", len(task_ids) * len(workers), log=lambda line: None)
    mix = TaskMix(config.tasks)
    names = task_stat_names(mix.tasks)
    actor = ray.remote(BenchWorker).options(num_cpus=1, num_gpus=config.selfplay.num_gpus, max_restarts=0)
    handles = [actor.remote(config, index) for index in range(max(workers))]
    try:
        kinds = [
            {"task": names[task_id], "task_id": task_id, **_search(config, mix.entries[task_id])}
            | _measure_task(handles, task_id, names[task_id], workers, seconds, progress)
            for task_id in task_ids
        ]
    finally:
        for handle in handles:
            ray.kill(handle)
    return {
        "network": f"{config.models[0].arch}/{config.models[0].preset}",
        "episodes_per_worker": config.selfplay.episodes_per_worker,
        "seconds": seconds,
        "reference_seconds": seconds * REFERENCE_SHARE,
        "kinds": kinds,
    }


def _measure_task(
    handles: list[Any], task_id: int, name: str, workers: tuple[int, ...], seconds: float, progress: Any
) -> dict[str, Any]:
    """One kind measured with each worker count: the one worker's figures, and ``workers``, a row per count."""
    rows = []
    for count in workers:
        progress.start(f"{name}, {count} worker{'s' if count > 1 else ''}")
        rows.append(measure_kind(handles[:count], task_id, seconds))
        progress.done()
    single = rows[0]
    for row in rows:
        row["scaling_efficiency"] = _divide(row["moves_per_s"], row["workers"] * single["moves_per_s"])
    figures = {key: value for key, value in single.items() if key not in ("workers", "scaling_efficiency")}
    return {**figures, "workers": rows}


def _search(config: RunConfig, entry: Any) -> dict[str, Any]:
    """The kind and its search settings, as the report shows them."""
    search = config.search.with_overrides(entry.search)
    return {"kind": entry.kind, "algorithm": search.algorithm, "num_simulations": search.num_simulations}


def measure_kind(handles: list[Any], task_id: int, seconds: float) -> dict[str, Any]:
    """`BenchWorker` actors ``handles`` playing ``task_id``: a warm-up round, then ``seconds`` of self-play in
    `chunk_count` play calls, each followed by its part of the reference; one row of the report (`summarise`)."""
    import ray

    from cluster.bench_inference import EXTRA_TIMEOUT_S, START_TIMEOUT_S, play_round

    room = f"{len(handles)} self-play worker(s) of 1 CPU each"
    ray.get([handle.use_kind.remote(task_id) for handle in handles], timeout=START_TIMEOUT_S)
    play_round(handles, START_TIMEOUT_S, rounds=1, room=room)
    played: list[dict[str, float]] = [{} for _ in handles]
    referenced: list[dict[str, float]] = [{} for _ in handles]
    chunks = chunk_count(seconds)
    chunk, reference_chunk = seconds / chunks, seconds * REFERENCE_SHARE / chunks
    for _ in range(chunks):
        calls = play_round(handles, chunk + EXTRA_TIMEOUT_S, seconds=chunk, room=room)
        batches = [c["network_rows_per_s"] * c["seconds"] / max(c["network_calls"], 1) for c in calls]
        references = ray.get(
            [handle.reference.remote(batch, reference_chunk) for handle, batch in zip(handles, batches, strict=True)],
            timeout=reference_chunk + START_TIMEOUT_S,  # the first call of a kind also makes its observations
        )
        for index, (call, reference) in enumerate(zip(calls, references, strict=True)):
            _accumulate(played[index], _play_counts(call))
            _accumulate(referenced[index], reference)
    return summarise(played, referenced)


def _play_counts(call: dict[str, Any]) -> dict[str, float]:
    """The counts of one `play` call's statistics (its rates times its seconds)."""
    seconds = call["seconds"]
    return {
        "seconds": seconds,
        "positions": call["positions"],
        "episodes": call["episodes"],
        "moves": call["moves"],
        "simulations": call["simulations_per_s"] * seconds,
        "network_calls": call["network_calls"],
        "network_rows": call["network_rows_per_s"] * seconds,
        "network_seconds": call["network_share"] * seconds,
    }


def _accumulate(total: dict[str, float], counts: dict[str, float]) -> None:
    for name, value in counts.items():
        total[name] = total.get(name, 0) + value


def summarise(played: list[dict[str, float]], referenced: list[dict[str, float]]) -> dict[str, Any]:
    """One row of the report from each worker's summed play counts (`_play_counts`) and reference counts."""

    def rate(name: str) -> float:  # summed over the workers
        return sum(worker[name] / worker["seconds"] for worker in played)

    def total(name: str) -> float:
        return sum(worker[name] for worker in played)

    rows, reference = total("network_rows"), sum(r["rows"] / r["seconds"] for r in referenced)
    rows_per_position = _divide(rows, total("positions"))
    return {
        "workers": len(played),
        "seconds": total("seconds") / len(played),
        **{name: int(total(name)) for name in ("positions", "episodes", "moves", "network_calls")},
        "network_rows": round(rows),
        **{f"{name}_per_s": rate(name) for name in ("positions", "episodes", "moves", "simulations")},
        "rows_per_call": _divide(rows, total("network_calls")),
        "rows_per_position": rows_per_position,
        "network_share": sum(w["network_seconds"] / w["seconds"] for w in played) / len(played),
        "network_rows_per_s": rate("network_rows"),
        "reference_rows_per_s": reference,
        "reference_rows_per_call": sum(r["rows"] for r in referenced) / max(sum(r["calls"] for r in referenced), 1),
        "ceiling_positions_per_s": _divide(reference, rows_per_position),
        "network_bound_share": _divide(rate("network_rows"), reference),  # = positions_per_s / the ceiling
    }


def run_bench_selfplay(args: argparse.Namespace) -> dict[str, Any]:
    """The command: check the arguments, start (or attach to) Ray, measure, stop what it started; the result."""
    import ray

    from cluster.config import load_config
    from cluster.monitor import StepProgress
    from cluster.runtime import start_ray

    config = load_config(args.config, args.set)
    workers = parse_workers(args.workers)
    task_ids = select_tasks(config, args.kind, args.config)
    if not args.seconds > 0:
        raise UsageError(f"--seconds: expected a positive number, got {args.seconds!r}")
    cpus = max(config.ray.num_cpus or os.cpu_count() or 1, max(workers))
    try:
        connection = start_ray(replace(config.ray, num_cpus=cpus), args.address)
    except (ConnectionError, ValueError) as error:
        raise UsageError(f"--address {args.address}: cannot attach to Ray ({' '.join(str(error).split())})") from None
    try:
        available = ray.cluster_resources().get("CPU", 0.0)
        if available < max(workers):
            raise UsageError(
                f"--workers {args.workers}: the Ray cluster has {available:g} CPUs, fewer than {max(workers)}"
            )
        progress = StepProgress("selfplay bench selfplay", len(task_ids) * len(workers))
        try:
            result = bench_selfplay(config, task_ids, workers, args.seconds, progress)
        finally:
            progress.close()
    finally:
        if connection.embedded:
            ray.shutdown()
    return {"config": str(args.config), "ray": connection.description, "cores": os.cpu_count(), **result}


# ----- text -------------------------------------------------------------------------------------------

_COLUMNS = (  # title, key, width, format
    ("workers", "workers", 7, "d"),
    ("positions/s", "positions_per_s", 12, ",.0f"),
    ("episodes/s", "episodes_per_s", 11, ",.1f"),
    ("moves/s", "moves_per_s", 9, ",.0f"),
    ("sims/s", "simulations_per_s", 9, ",.0f"),
    ("net calls", "network_calls", 10, ","),
    ("rows/call", "rows_per_call", 10, ".1f"),
    ("rows/pos", "rows_per_position", 9, ".1f"),
    ("net share", "network_share", 10, ".0%"),
    ("net rows/s", "network_rows_per_s", 11, ",.0f"),
    ("ref rows/s", "reference_rows_per_s", 11, ",.0f"),
    ("ceiling pos/s", "ceiling_positions_per_s", 14, ",.0f"),
    ("bound", "network_bound_share", 6, ".2f"),
    ("scaling", "scaling_efficiency", 8, ".2f"),
)


def format_selfplay_bench(result: dict[str, Any]) -> str:
    """A text table per kind of a `bench_selfplay` result, with a line on what limits its one worker."""
    lines = [
        f"self-play benchmark: {result['config']}, network {result['network']}, {result['episodes_per_worker']}"
        f" episodes per worker, {result['seconds']:g} s timed per setting after one untimed round, reference"
        f" {result['reference_seconds']:g} s; 1 CPU and 1 torch thread per worker, {result['cores']} cores,"
        f" {result['ray']}",
    ]
    header = "".join(f"{title:>{width}}" for title, _, width, _ in _COLUMNS)
    for kind in result["kinds"]:
        lines += [
            "",
            f"{kind['task']} (task id {kind['task_id']}, {kind['algorithm']}, {kind['num_simulations']} sims)",
        ]
        lines.append(header)
        lines += [_row(row) for row in kind["workers"]]
        lines.append(_limit(kind))
    lines += [
        "",
        "rows/pos = network rows per position stored; ref rows/s = the bare network at the same rows/call, in the"
        " worker's process; ceiling = ref rows/s / rows/pos; bound = positions/s / ceiling (1.0: nothing but the"
        " network); scaling = moves/s / (workers x one worker's moves/s); rates and rows/s summed over the workers",
    ]
    return "\n".join(lines)


def _row(row: dict[str, Any]) -> str:
    """One line of a kind's table: a worker count's figures, ``-`` where one is undefined."""
    cells = (("-" if row[key] is None else format(row[key], spec), width) for _, key, width, spec in _COLUMNS)
    return "".join(f"{text:>{width}}" for text, width in cells)


def _limit(kind: dict[str, Any]) -> str:
    """What limits the kind's one worker, from its network-bound share and its time in network calls."""
    share, net = kind["network_bound_share"], kind["network_share"]
    if share is None:
        return "  one worker: no network rows measured"
    ceiling = kind["ceiling_positions_per_s"]
    at = f"{share:.0%} of its network-bound ceiling" + ("" if ceiling is None else f" of {ceiling:,.0f} positions/s")
    limit = "the network" if share >= 0.5 else "search, task stepping and bookkeeping"
    return (
        f"  one worker: {kind['positions_per_s']:,.0f} positions/s, {at}; {net:.0%} of its time in network calls,"
        f" {1 - net:.0%} outside them: limited by {limit}"
    )


def _divide(part: float, whole: float | None) -> float | None:
    return part / whole if whole else None
