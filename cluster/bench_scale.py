"""`selfplay bench scale`: how many self-play workers one replay buffer and one driver can feed.

Three measurements in one run, on an embedded Ray (or the cluster of ``--address``):

1. One self-play worker: `SelfPlayWorker.play` in this process with the config's settings, for
   ``seconds`` after a warm-up call, its pushes captured instead of stored. Its positions/s
   is the unit of everything below, and its pushes -- real trajectories of the config's tasks,
   batched as ``selfplay.push_positions`` batches them -- are what the buffer is fed.
2. The replay buffer actor (`create_replay_actor`: durable, into a temporary run directory),
   filled to its capacity first, so that every add also evicts and compacts segments as in
   a long run; then three phases of ``seconds``:
   - insert: K producer actors push those batches, ``selfplay.max_pending_pushes`` calls in
     flight each, so a call is always waiting at the buffer. A producer holds its batches in
     the object store, so a push costs it one submission: the buffer, not the producers, is
     the limit (a real worker also pays for serialising its push);
   - sample: K sampler actors draw ``learner.batch_size`` batches, ``learner.prefetch`` in flight each;
   - mixed: both at once.
   Every acknowledgement's index range is kept: together they must tile ``[0, inserted_total)``.
3. The driver loop: `cluster.driver.Driver.run`'s pattern for a finished play call
   (``ray.wait(list(pending), num_returns=1, timeout=WAKE_SECONDS)``, ``ray.get``, counters,
   one fsynced ``metrics.jsonl`` line into a temporary run directory, the call issued again
   with the weights reference) against echo actors whose ``play`` returns the measured
   worker's statistics at once, with ``pending`` calls in flight (the pool size) for each
   size of ``pending_sizes``.

CPU accounting. On a small machine the producers, samplers and echo workers compete for the cores
with the process measured, which then runs slower than on a core of its own. So for the
buffer's process and for the driver (this process) the benchmark also records, over each
phase, the process's CPU time (all threads, psutil) and its main thread's time spent waiting
for a CPU (``/proc/<pid>/schedstat``; Ray runs a synchronous actor's calls on its main
thread). Its rate *on a core of its own* is work / serving time, serving time = max(wall
time - main-thread run-queue wait, process CPU time): the time it was computing or blocked
on the disk (fsync), not the time it waited for a core, and never less than its CPU time.
A process on another machine (an ``--address`` cluster) gets its measured rate only.

Capacity, in self-play workers like the measured one:
- buffer: its insert positions/s on its own core / one worker's positions/s;
- driver: the calls/s it handles on its own core (the lowest over the pending sizes) / the
  calls/s one worker makes through it, one play call per ``selfplay.play_seconds`` (its pushes
  go to the buffer, not through the driver);
- the largest pool is the smaller. Below `TARGET_WORKERS` the report says how many buffer
  shards would reach it and what limits next.
"""

from __future__ import annotations

import collections
import math
import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil

from actors.replay import Trajectory
from cluster.errors import UsageError

TARGET_WORKERS = 256
DEFAULT_SECONDS = 10.0
DEFAULT_PRODUCERS = 2
DEFAULT_ECHO_WORKERS = 16
DEFAULT_PENDING = (16, 256, 1024)
_START_DELAY_S = 0.5  # callers of a phase start together this long after they are sent off
_FILL_IN_FLIGHT = 4


def bench_scale(
    config: Any,
    *,
    seconds: float = DEFAULT_SECONDS,
    producers: int = DEFAULT_PRODUCERS,
    echo_workers: int = DEFAULT_ECHO_WORKERS,
    pending_sizes: tuple[int, ...] = DEFAULT_PENDING,
    address: str | None = None,
    source: str = "",
    progress: Any = None,
) -> dict[str, Any]:
    """The worker, the buffer and the driver loop measured (module doc) for ``config``, a `RunConfig`; JSON-ready.

    Starts an embedded Ray unless one is running or ``address`` names a cluster; stops only what it started.
    ``progress`` is told of the three measurements as they start and finish (`cluster.monitor.StepProgress`).
    """
    import ray

    from cluster.monitor import StepProgress
    from cluster.runtime import start_ray

    if not seconds > 0:
        raise UsageError(f"--seconds: expected a positive number, got {seconds!r}")
    if not pending_sizes or min(pending_sizes) < 1 or producers < 1 or echo_workers < 1:
        raise UsageError(
            "--pending, --producers, --echo-workers: expected positive integers (at least one pending size)"
        )
    progress = progress or StepProgress("bench scale", 3, log=lambda line: None)
    progress.start("one self-play worker")
    worker = measure_worker(config, seconds)  # first, while nothing else runs
    progress.done()
    started_here = not ray.is_initialized()
    try:
        connection = start_ray(config.ray, address)
    except (ConnectionError, ValueError) as error:
        raise UsageError(f"--address {address}: cannot attach to Ray ({' '.join(str(error).split())})") from None
    try:
        progress.start("the replay buffer")
        buffer = measure_buffer(config, worker.pop("batches"), seconds, producers)
        progress.done()
        progress.start("the driver loop")
        driver = measure_driver(worker.pop("stats"), seconds, echo_workers, pending_sizes)
        progress.done()
    finally:
        if started_here:
            ray.shutdown()
    return {
        "config": source,
        "seconds": seconds,
        "cores": psutil.cpu_count(),
        "ray": connection.description,
        "worker": worker,
        "buffer": buffer,
        "driver": driver,
        "capacity": capacity(worker, buffer, driver, config),
    }


# ----- one self-play worker -----------------------------------------------------------------------


class _Capture:
    """The measured worker's buffer: keeps what it pushes, stores nothing."""

    def __init__(self) -> None:
        self.trajectories: list[Trajectory] = []

    def add(self, trajectories: list[Trajectory]) -> None:
        self.trajectories += trajectories


def measure_worker(config: Any, seconds: float) -> dict[str, Any]:
    """One worker's positions/s over ``seconds`` of `SelfPlayWorker.play` (after a warm-up call).

    The rate counts positions as they are played (``moves``): in a steady run that is the rate
    at which finished positions reach the buffer, and unlike the finished episodes' positions
    it does not depend on how many episodes a short measurement happens to end. Returns its
    figures, plus ``batches`` (the pushes such a worker makes, built from the trajectories it
    played: `_pushes`) and ``stats`` (its last call's statistics) for the other measurements,
    which take them out of the report.
    """
    from actors.selfplay import NO_WEIGHTS, SelfPlayWorker

    capture = _Capture()
    worker = SelfPlayWorker(config.tasks, config.models[0], config.search, config.selfplay, config.seed, 0, capture)
    worker.play(NO_WEIGHTS, seconds=min(1.0, seconds))  # the first network calls: not measured
    capture.trajectories.clear()
    calls = []
    while not calls or not capture.trajectories:  # at least one finished episode, to push
        if len(calls) == 10:
            raise UsageError(f"self-play finished no episode in {sum(c['seconds'] for c in calls):.0f} s")
        calls.append(worker.play(NO_WEIGHTS, seconds=seconds))
    elapsed = sum(c["seconds"] for c in calls)
    rate = sum(c["moves"] for c in calls) / elapsed
    selfplay = config.selfplay
    per_call = max(1, round(rate * selfplay.play_seconds))
    batches = _pushes(capture.trajectories, selfplay.push_positions, per_call)
    return {
        "positions_per_s": rate,
        "finished_positions_per_s": sum(c["positions"] for c in calls) / elapsed,
        "episodes": sum(c["episodes"] for c in calls),
        "seconds": elapsed,
        "positions_per_episode": sum(t.num_positions for t in capture.trajectories) / len(capture.trajectories),
        "push_positions": selfplay.push_positions,
        "positions_per_play_call": per_call,
        "positions_per_push": sum(_positions(b) for b in batches) / len(batches),
        "play_seconds": selfplay.play_seconds,
        "driver_calls_per_s": 1.0 / selfplay.play_seconds,
        "batches": batches,
        "stats": calls[-1],
    }


def _pushes(trajectories: list[Trajectory], push_positions: int, per_call: int) -> list[list[Trajectory]]:
    """The pushes of a worker playing ``trajectories`` (over and over) at ``per_call`` positions per play call.

    The worker's rule: a push once ``push_positions`` are queued, and one of what is left at the
    end of each call. Enough calls to play every trajectory once, and at least 8 pushes.
    """
    pushes: list[list[Trajectory]] = []
    queue: list[Trajectory] = []
    queued = in_call = played = 0
    while True:
        trajectory = trajectories[played % len(trajectories)]
        played += 1
        queue.append(trajectory)
        queued += trajectory.num_positions
        in_call += trajectory.num_positions
        end_of_call = in_call >= per_call
        if queued >= push_positions or end_of_call:
            pushes.append(queue)
            queue, queued = [], 0
        if end_of_call:
            in_call = 0
            if played >= len(trajectories) and len(pushes) >= 8:
                return pushes


def _positions(batch: list[Trajectory]) -> int:
    return sum(t.num_positions for t in batch)


# ----- process clocks -----------------------------------------------------------------------------


@dataclass(frozen=True)
class _Clock:
    """One reading of a process's clocks; None where this machine cannot see the process."""

    wall: float
    cpu: float | None  # CPU seconds of every thread
    waited: float | None  # seconds its main thread has waited for a CPU


def _read_clock(pid: int | None) -> _Clock:
    wall = time.monotonic()
    if pid is None:
        return _Clock(wall, None, None)
    try:
        times = psutil.Process(pid).cpu_times()
        cpu = times.user + times.system
        waited = int(Path(f"/proc/{pid}/schedstat").read_text().split()[1]) / 1e9
    except (psutil.Error, OSError, IndexError, ValueError):
        return _Clock(wall, None, None)
    return _Clock(wall, cpu, waited)


def _usage(before: _Clock, after: _Clock) -> dict[str, Any]:
    """Wall, CPU and run-queue seconds between two readings, and the serving time (module doc)."""
    wall = after.wall - before.wall
    if before.cpu is None or after.cpu is None:
        return {"wall_s": wall, "cpu_s": None, "cpu_share": None, "run_queue_wait_s": None, "serving_s": wall}
    cpu, waited = after.cpu - before.cpu, after.waited - before.waited
    return {
        "wall_s": wall,
        "cpu_s": cpu,
        "cpu_share": cpu / wall,
        "run_queue_wait_s": waited,
        "serving_s": max(wall - waited, cpu),
    }


# ----- the replay buffer --------------------------------------------------------------------------


class _Caller:
    """Calls one method of an actor over and over with ``in_flight`` calls outstanding: a producer or a sampler."""

    def __init__(self, target: Any, method: str, args: list[tuple]) -> None:
        self.method = getattr(target, method)
        self.args = args

    def ready(self) -> bool:
        return True

    def run(self, start_at: float, seconds: float, in_flight: int) -> dict[str, Any]:
        """Call from ``start_at`` (``time.time()``) for ``seconds``, then wait for every call; returns what came back.

        ``positions``: positions acknowledged (an add's) or drawn (a sample's); ``ranges``: each
        add's ``[first_index, end_index)``.
        """
        import ray

        time.sleep(max(0.0, start_at - time.time()))
        deadline = start_at + seconds
        pending: collections.deque = collections.deque()
        submitted = answered = positions = 0
        ranges, durable = [], True
        while True:
            while len(pending) < in_flight and time.time() < deadline:
                pending.append(self.method.remote(*self.args[submitted % len(self.args)]))
                submitted += 1
            if not pending:
                break
            result = ray.get(pending.popleft())
            answered += 1
            if "end_index" in result:  # an add's acknowledgement
                positions += result["positions"]
                ranges.append((result["first_index"], result["end_index"]))
                durable = durable and result["durable"]
            else:
                positions += len(result["value"])
        return {
            "submitted": submitted,
            "answered": answered,
            "positions": positions,
            "ranges": ranges,
            "durable": durable,
        }


def measure_buffer(config: Any, batches: list[list[Trajectory]], seconds: float, producers: int) -> dict[str, Any]:
    """The buffer actor's insert and sample rates, alone and together (module doc); a JSON-ready dict."""
    import ray

    from actors.replay import create_replay_actor

    refs = [(ray.put(batch),) for batch in batches]
    sizes = [_positions(batch) for batch in batches]
    replay, learner = config.replay, config.learner
    with tempfile.TemporaryDirectory(prefix="bench-scale-") as run_dir:
        buffer = create_replay_actor(replay, run_dir, max_restarts=0, seed=config.seed)
        caller = ray.remote(num_cpus=0)(_Caller)
        pushers = [caller.remote(buffer, "add", refs) for _ in range(producers)]
        samplers = [caller.remote(buffer, "sample", [(learner.batch_size,)]) for _ in range(producers)]
        try:
            ray.get([c.ready.remote() for c in pushers + samplers])
            pid = ray.get(buffer.stats.remote())["pid"]  # on this node: create_replay_actor pins it here
            started = time.monotonic()
            ranges = _fill(buffer, refs, sizes, replay.capacity)
            fill_seconds = time.monotonic() - started
            push_depth, sample_depth = config.selfplay.max_pending_pushes, max(1, learner.prefetch)
            phases = {
                "insert": _phase(pid, seconds, {"insert": (pushers, push_depth)}),
                "sample": _phase(pid, seconds, {"sample": (samplers, sample_depth)}),
                "mixed": _phase(pid, seconds, {"insert": (pushers, push_depth), "sample": (samplers, sample_depth)}),
            }
            stats = ray.get(buffer.stats.remote())
            ray.get(buffer.close.remote())
        finally:
            for actor in [*pushers, *samplers, buffer]:
                ray.kill(actor)
    for phase in phases.values():
        ranges += phase.pop("ranges")
    acknowledged = sum(end - first for first, end in ranges)
    return {
        "capacity": replay.capacity,
        "producers": producers,
        "pushes_in_flight": push_depth,
        "samplers": producers,
        "samples_in_flight": sample_depth,
        "sample_batch_size": learner.batch_size,
        "positions_per_push": sum(sizes) / len(sizes),
        "fill_seconds": fill_seconds,
        **phases,
        "acknowledged_positions": acknowledged,
        "inserted_total": stats["inserted_total"],
        # Every add answered and durable, and the answers' index ranges tile [0, inserted_total).
        "all_acknowledged_and_stored": _tile(ranges, stats["inserted_total"])
        and all(p["unanswered"] == 0 and p.get("durable", True) for p in phases.values()),
        "size_after": stats["size"],
        "segments": stats["segments"],
        "disk_bytes_per_position": stats["disk_bytes"] / max(stats["disk_positions"], 1),
    }


def _fill(buffer: Any, refs: list[tuple], sizes: list[int], positions: int) -> list[tuple[int, int]]:
    """Add batches until ``positions`` positions are acknowledged; returns their index ranges."""
    import ray

    pending: collections.deque = collections.deque()
    ranges: list[tuple[int, int]] = []
    sent = index = 0
    while sent < positions or pending:
        while sent < positions and len(pending) < _FILL_IN_FLIGHT:
            pending.append(buffer.add.remote(*refs[index % len(refs)]))
            sent += sizes[index % len(refs)]
            index += 1
        ack = ray.get(pending.popleft())
        ranges.append((ack["first_index"], ack["end_index"]))
    return ranges


def _phase(pid: int | None, seconds: float, callers: dict[str, tuple[list[Any], int]]) -> dict[str, Any]:
    """Run every caller group at once for ``seconds``; the positions per kind, their rates and the buffer's clocks."""
    import ray

    start_at = time.time() + _START_DELAY_S
    runs = {kind: [c.run.remote(start_at, seconds, depth) for c in group] for kind, (group, depth) in callers.items()}
    time.sleep(max(0.0, start_at - time.time()))
    before = _read_clock(pid)
    results = {kind: ray.get(refs) for kind, refs in runs.items()}
    usage = _usage(before, _read_clock(pid))
    phase: dict[str, Any] = {"ranges": [], **usage}
    for kind, answers in results.items():
        count = sum(a["positions"] for a in answers)
        phase[f"{kind}_calls"] = sum(a["answered"] for a in answers)
        phase[f"{kind}_positions"] = count
        phase[f"{kind}_per_s"] = count / usage["wall_s"]
        phase[f"{kind}_per_s_own_core"] = count / usage["serving_s"]
        if len(results) == 1 and usage["cpu_s"] is not None:
            phase["cpu_s_per_position"] = usage["cpu_s"] / max(count, 1)
        phase["unanswered"] = phase.get("unanswered", 0) + sum(a["submitted"] - a["answered"] for a in answers)
        if kind == "insert":
            phase["ranges"] = [tuple(r) for a in answers for r in a["ranges"]]
            phase["durable"] = all(a["durable"] for a in answers)
    return phase


def _tile(ranges: list[tuple[int, int]], total: int) -> bool:
    """Whether the index ranges ``[first, end)`` cover ``[0, total)`` without gap or overlap."""
    end = 0
    for first, last in sorted(ranges):
        if first != end:
            return False
        end = last
    return end == total


# ----- the driver loop ----------------------------------------------------------------------------


class _EchoWorker:
    """A self-play worker whose `play` answers at once with a real call's statistics."""

    def __init__(self, stats: dict[str, Any]) -> None:
        self.stats = stats

    def ready(self) -> bool:
        return True

    def play(self, weights_version: int, weights: list) -> dict[str, Any]:
        return self.stats


def measure_driver(
    stats: dict[str, Any], seconds: float, echo_workers: int, pending_sizes: tuple[int, ...]
) -> dict[str, Any]:
    """Seconds per handled play call of the driver's loop, at each number of calls pending (module doc)."""
    import ray

    from cluster.driver import WAKE_SECONDS
    from cluster.rundir import RunDir

    actors = [ray.remote(num_cpus=0)(_EchoWorker).remote(stats) for _ in range(echo_workers)]
    weights = ray.put({"stand-in": 0})  # the best weights' reference, passed along as the driver does
    rows = []
    try:
        ray.get([actor.ready.remote() for actor in actors])
        with tempfile.TemporaryDirectory(prefix="bench-scale-driver-") as path:
            run_dir = RunDir(path)
            for size in pending_sizes:
                rows.append(_driver_loop(actors, weights, run_dir, size, seconds, WAKE_SECONDS))
    finally:
        for actor in actors:
            ray.kill(actor)
    return {
        "echo_workers": echo_workers,
        "wake_seconds": WAKE_SECONDS,
        "rows": rows,
        "calls_per_s_own_core": min(row["calls_per_s_own_core"] for row in rows),
    }


def _driver_loop(
    actors: list[Any], weights: Any, run_dir: Any, size: int, seconds: float, wake: float
) -> dict[str, Any]:
    """`Driver.run`'s loop over ``size`` play calls in flight for ``seconds``; its cost per handled call."""
    import ray

    pending: dict[Any, tuple[str, int]] = {}
    counters = {"episodes": 0, "positions": 0}
    latest: dict[str, Any] = {}

    def play(index: int) -> None:
        pending[actors[index % len(actors)].play.remote(0, [weights])] = ("play", index)

    for index in range(size):
        play(index)
    ray.wait(list(pending), num_returns=min(size, len(actors)))  # every echo worker answers before the clock starts
    handled = 0
    before = _read_clock(os.getpid())
    deadline = before.wall + seconds
    while time.monotonic() < deadline:
        ready, _ = ray.wait(list(pending), num_returns=1, timeout=wake)
        if ready:
            result = ray.get(ready[0])
            _, index = pending.pop(ready[0])
            counters["episodes"] += result["episodes"]
            counters["positions"] += result["positions"]
            latest[f"play{index}"] = result
            run_dir.append_metrics("selfplay", {"worker": index, "version": 0, **result})
            play(index)
            handled += 1
    usage = _usage(before, _read_clock(os.getpid()))
    ray.get(list(pending))  # let the echo workers go idle before the next size
    calls = max(handled, 1)
    return {
        "pending": size,
        "calls": handled,
        **usage,
        "calls_per_s": handled / usage["wall_s"],
        "calls_per_s_own_core": handled / usage["serving_s"],
        "seconds_per_call": usage["wall_s"] / calls,
        "seconds_per_call_own_core": usage["serving_s"] / calls,
        "cpu_s_per_call": None if usage["cpu_s"] is None else usage["cpu_s"] / calls,
    }


# ----- capacity -----------------------------------------------------------------------------------


def capacity(worker: dict[str, Any], buffer: dict[str, Any], driver: dict[str, Any], config: Any) -> dict[str, Any]:
    """Workers the buffer and the driver can each feed, the largest pool, and what sharding the buffer would need."""
    rate = worker["positions_per_s"]
    # Shards are independent actors, each with its directory and (on a cluster) its core: the
    # measured shard's rate on a core of its own, times replay.shards.
    shards = config.replay.shards
    insert = buffer["insert"]["insert_per_s_own_core"] * shards
    buffer_workers = insert / rate
    driver_workers = driver["calls_per_s_own_core"] / worker["driver_calls_per_s"]
    result: dict[str, Any] = {
        "target_workers": TARGET_WORKERS,
        "worker_positions_per_s": rate,
        "buffer_shards": shards,
        "buffer_insert_per_s": insert,
        "buffer_workers": buffer_workers,
        "driver_calls_per_s": driver["calls_per_s_own_core"],
        "driver_workers": driver_workers,
        "largest_pool": min(buffer_workers, driver_workers),
        "limit": "buffer" if buffer_workers <= driver_workers else "driver",
    }
    # With the learner drawing its maximum replay ratio, each inserted position also costs r sampled ones.
    ratio = config.learner.max_samples_per_insert
    per_sampled = buffer["sample"]["serving_s"] / max(buffer["sample"]["sample_positions"], 1)
    if ratio is not None:
        result["buffer_insert_per_s_at_replay_ratio"] = shards / (shards / insert + ratio * per_sampled)
        result["buffer_workers_at_replay_ratio"] = result["buffer_insert_per_s_at_replay_ratio"] / rate
        result["replay_ratio"] = ratio
    result["meets_target"] = result["largest_pool"] >= TARGET_WORKERS
    per_shard = buffer_workers / shards
    needed = max(shards, math.ceil(TARGET_WORKERS / per_shard))
    result["buffer_shards_for_target"] = needed
    result["pool_with_shards"] = min(needed * per_shard, driver_workers)
    result["next_limit"] = "driver" if driver_workers < needed * per_shard else "buffer"
    return result


# ----- text ---------------------------------------------------------------------------------------


def format_scale_bench(result: dict[str, Any]) -> str:
    """A text table of a `bench_scale` result."""
    w, b, d, c = result["worker"], result["buffer"], result["driver"], result["capacity"]
    lines = [
        f"scale benchmark: {result['config']}, {result['seconds']:g} s per measurement, {result['cores']} cores, "
        f"{result['ray']}",
        "",
        f"one self-play worker: {w['positions_per_s']:,.0f} positions/s played ({w['finished_positions_per_s']:,.0f}/s "
        f"in finished episodes: {w['episodes']:,} episodes of {w['positions_per_episode']:.1f} positions in "
        f"{w['seconds']:.1f} s); a play call every {w['play_seconds']:g} s through the driver, "
        f"{w['positions_per_play_call']:,} positions per call pushed in batches of {w['positions_per_push']:,.0f} "
        f"(push_positions {w['push_positions']})",
        "",
        f"replay buffer: capacity {b['capacity']:,}, durable, filled in {b['fill_seconds']:.1f} s; "
        f"{b['producers']} producers x {b['pushes_in_flight']} pushes of {b['positions_per_push']:,.0f} positions, "
        f"{b['samplers']} samplers x {b['samples_in_flight']} samples of {b['sample_batch_size']}",
        f"{'phase':<8} {'kind':<7} {'calls':>7} {'positions':>10} {'pos/s':>9} {'own core':>9} "
        f"{'CPU share':>9} {'run-queue':>9} {'CPU us/pos':>10}",
    ]
    for name in ("insert", "sample", "mixed"):
        phase = b[name]
        for kind in ("insert", "sample"):
            if f"{kind}_positions" not in phase:
                continue
            cpu_per = phase.get("cpu_s_per_position")
            lines.append(
                f"{name:<8} {kind:<7} {phase[f'{kind}_calls']:>7,} {phase[f'{kind}_positions']:>10,} "
                f"{phase[f'{kind}_per_s']:>9,.0f} {phase[f'{kind}_per_s_own_core']:>9,.0f} "
                f"{_share(phase['cpu_share']):>9} {_share(_ratio(phase['run_queue_wait_s'], phase['wall_s'])):>9} "
                f"{'' if cpu_per is None else f'{cpu_per * 1e6:.1f}':>10}"
            )
    lines += [
        f"acknowledged {b['acknowledged_positions']:,} positions, buffer inserted_total {b['inserted_total']:,}: "
        f"{'every one acknowledged, durable and counted' if b['all_acknowledged_and_stored'] else 'MISMATCH'}; "
        f"{b['disk_bytes_per_position']:.0f} bytes/position on disk",
        "",
        f"driver loop: {d['echo_workers']} echo workers, ray.wait over every pending call, "
        "one fsynced metrics line per call",
        f"{'pending':>7} {'calls':>7} {'calls/s':>8} {'own core':>9} {'ms/call':>8} {'CPU ms/call':>11} "
        f"{'run-queue':>9} {'workers':>8}",
    ]
    per_worker = w["driver_calls_per_s"]
    for row in d["rows"]:
        cpu = row["cpu_s_per_call"]
        lines.append(
            f"{row['pending']:>7,} {row['calls']:>7,} {row['calls_per_s']:>8,.0f} {row['calls_per_s_own_core']:>9,.0f} "
            f"{row['seconds_per_call'] * 1e3:>8.2f} {'' if cpu is None else f'{cpu * 1e3:.2f}':>11} "
            f"{_share(_ratio(row['run_queue_wait_s'], row['wall_s'])):>9} "
            f"{row['calls_per_s_own_core'] / per_worker:>8,.0f}"
        )
    lines += [
        "",
        f"capacity, in workers of {c['worker_positions_per_s']:,.0f} positions/s "
        f"(own core = work / (wall - time waiting for a CPU), at least its CPU time):",
        f"  buffer: {c['buffer_insert_per_s']:,.0f} positions/s ({c['buffer_shards']} shard(s), replay.shards) / "
        f"{c['worker_positions_per_s']:,.0f} = {c['buffer_workers']:,.0f} workers"
        + (
            f" ({c['buffer_workers_at_replay_ratio']:,.0f} if the learner also drew its whole replay ratio, "
            f"{c['replay_ratio']:g} samples per inserted position)"
            if "buffer_workers_at_replay_ratio" in c
            else ""
        ),
        f"  driver: {c['driver_calls_per_s']:,.0f} calls/s x {w['play_seconds']:g} s per play call "
        f"= {c['driver_workers']:,.0f} workers (the lowest over the pending sizes)",
        f"  largest pool: {c['largest_pool']:,.0f} workers, limited by the {c['limit']}",
    ]
    if c["meets_target"]:
        other = "driver" if c["limit"] == "buffer" else "buffer"
        lines.append(
            f"  that is at least the target of {c['target_workers']} workers; then the {other} limits, at "
            f"{c[f'{other}_workers']:,.0f}"
        )
    else:
        lines.append(
            f"  below the target of {c['target_workers']}: --set replay.shards={c['buffer_shards_for_target']} "
            f"would feed {c['buffer_shards_for_target'] * c['buffer_workers'] / c['buffer_shards']:,.0f} workers; "
            f"the next limit is the {c['next_limit']} ({c['pool_with_shards']:,.0f} workers)"
        )
    return "\n".join(lines)


def _ratio(part: float | None, whole: float) -> float | None:
    return None if part is None else part / whole


def _share(value: float | None) -> str:
    return "" if value is None else f"{value:.0%}"
