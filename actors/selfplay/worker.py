"""The self-play worker: B concurrent episodes of the task mix, searched with a local network, pushed to replay.

    worker = SelfPlayWorker(tasks, model, search, selfplay, seed=0, worker_index=0, buffer=buffer)
    stats = worker.play(weights_version, [weights_ref])   # one call: about `play_seconds` of self-play
    worker.flush()                                        # at shutdown: every finished episode is stored

`create_selfplay_workers` starts ``num_workers`` of them as Ray actors. Each worker holds
one `EpisodeGroup` per task id of the mix (episodes.py) and pushes finished trajectories
through `common.handles.BoundedCalls`.

Weights. ``play`` gets the published version and a one-element list holding the object
reference of its state dict (a list, so Ray hands the reference over unresolved). A
version different from the one held is fetched once (``ray.get``) and loaded at the start
of the call: all slots switch together, and an episode running at that moment finishes
with the new network. Each trajectory records the version current when its episode
ended. This is close to switching "at episode boundaries": at most one episode per slot
per switch mixes two versions (a few moves of the old one), whereas switching each slot
separately would need both networks and two network calls per simulation. The number
of such positions is reported (``stale_positions``).

Pushes and backpressure. Finished trajectories queue in the worker and go to the buffer
in one ``add`` call once ``push_positions`` positions are queued (and at the end of each
call). At most ``max_pending_pushes`` calls are in flight: at the limit the worker waits
for the oldest, so a stalled buffer stalls self-play instead of growing memory. Queued
positions therefore stay below ``push_positions`` plus one turn's output (see
`SelfPlayWorker.queue_bound`). A buffer without ``add.remote`` (a plain object, in tests)
is called directly; no buffer discards the trajectories after counting them.

Difficulties. ``play(..., difficulties=[(low, high), ...])`` hands the worker, per task id, the
range to draw new instances' difficulties from for that call (a curriculum's window,
`actors.tasks.curriculum`); None draws from the config's ranges. Episodes running when the
range changes finish as drawn; slots that have not made a move yet are redrawn. The call's
``by_task_id`` statistics say per task id which range was used and how many of the call's
episodes were drawn from it, and how many of those succeeded: what the curriculum measures.

Memory is flat: episode arrays and statistics counters are allocated once, the queue and
the calls in flight are bounded, nothing grows with the number of episodes played.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from actors.replay import Trajectory
from actors.search import SearchConfig
from actors.search.batched import Network
from actors.selfplay.config import SelfPlayConfig
from actors.selfplay.episodes import (
    DIFFICULTY_BUCKETS,
    DRAWS,
    EPISODES,
    LOSSES,
    WINS,
    EpisodeGroup,
    bucket_name,
    difficulty_bucket,
    split_slots,
)
from actors.tasks.base import Task
from actors.tasks.config import TasksConfig
from actors.tasks.registry import TaskMix
from common.handles import BoundedCalls, Handle, is_actor_unavailable
from common.process import ReportsLocation, actor_location, cpu_percent, resident_bytes

if TYPE_CHECKING:  # the model (and torch) is imported only when a worker builds its network
    from learner.models import ModelConfig

log = logging.getLogger(__name__)

NO_WEIGHTS = -1  # the version held before any published weights were loaded (the worker's own random init)


# ----- the worker ------------------------------------------------------------------------------------


class SelfPlayWorker(ReportsLocation):
    """B episodes of the task mix, played by batched search with a local copy of the network.

    Args:
        tasks, model, search, selfplay: the run's configurations.
        seed, worker_index, resumes, incarnation: the worker draws its instances from
            ``np.random.default_rng([seed, resumes, worker_index])``, ``resumes`` being how often the
            run was resumed (state.json), so a resumed run plays new instances, not the same sequence
            again; a replacement of a worker that died (``incarnation`` > 0) appends its incarnation
            for the same reason. The initial (random) network is drawn from ``seed``.
        buffer: a Ray handle of the replay buffer, any object with ``add(list[Trajectory])``, or None.
        network: a search network callable to use instead of building ``model`` (tests, benchmarks);
            weights can be loaded only if it has ``load_state_dict`` (or ``use_weights``).
        inference: an `InferenceServer` actor handle: leaves are evaluated there through
            `actors.serving.client.RemoteNetwork`, and the worker builds no model of its own.
    """

    def __init__(
        self,
        tasks: TasksConfig,
        model: ModelConfig,
        search: SearchConfig,
        selfplay: SelfPlayConfig,
        seed: int,
        worker_index: int,
        buffer: Any = None,
        *,
        resumes: int = 0,
        incarnation: int = 0,
        network: Network | None = None,
        inference: Any = None,
    ) -> None:
        self.config = selfplay
        self.worker_index = worker_index
        self.resumes = resumes
        self.incarnation = incarnation
        self.rng = np.random.default_rng([seed, resumes, worker_index] + ([incarnation] if incarnation else []))
        mix = TaskMix(tasks)
        if inference is not None:  # leaves go to a shared server: no local model, no torch weights here
            from actors.serving.client import RemoteNetwork

            if network is not None:
                raise ValueError("SelfPlayWorker: give a network or an inference server, not both")
            network = RemoteNetwork(inference)
        if network is None:
            from actors.inference import build_network

            specs = [task.spec for task in mix.tasks]
            network = build_network(model, specs, seed, selfplay.threads, selfplay.device, "selfplay")
        self.network = network
        self.weights_version = NO_WEIGHTS
        self.weights_loads = 0
        sizes = split_slots([entry.weight for entry in mix.entries], selfplay.episodes_per_worker)
        self.groups = [
            EpisodeGroup(task_id, entry, task, self.network, search.with_overrides(entry.search), size)
            for task_id, (entry, task, size) in enumerate(zip(mix.entries, mix.tasks, sizes, strict=True))
            if size > 0
        ]
        self.next_group = 0  # whose turn it is
        self.entry_ranges = [(float(entry.difficulty[0]), float(entry.difficulty[1])) for entry in mix.entries]
        self.draw_ranges = list(self.entry_ranges)  # per task id: what new instances are drawn from
        self.task_names = task_stat_names(mix.tasks)
        for group in self.groups:
            group.start(np.arange(group.num_slots), self.rng)
        self.pushes = BoundedCalls(
            Handle(_NoBuffer() if buffer is None else buffer),
            "add",
            selfplay.max_pending_pushes,
            is_actor_unavailable,  # a restarting buffer loses that batch; a dead one ends the run
            "selfplay: a push of trajectories to the replay buffer",
        )
        self.queue: list[Trajectory] = []
        self.queued_positions = 0
        self.max_queued_positions = 0  # high-water mark, checked against `queue_bound`
        # Counters per (task id, difficulty bucket): see EPISODES, WINS, DRAWS, LOSSES.
        self.outcomes = np.zeros((len(mix.tasks), DIFFICULTY_BUCKETS, 4), dtype=np.int64)
        # Per task id: finished episodes drawn from the current draw range, and their successes.
        self.in_range = np.zeros((len(mix.tasks), 2), dtype=np.int64)
        self.totals = {"episodes": 0, "positions": 0, "moves": 0, "seconds": 0.0, "stale_positions": 0}

    # ----- public ---------------------------------------------------------------------------------

    @property
    def num_slots(self) -> int:
        return sum(group.num_slots for group in self.groups)

    @property
    def queue_bound(self) -> int:
        """The most positions ever queued: a push is due at ``push_positions``, checked after every turn,
        and one turn ends at most every slot's episode of the group (each at most max_steps long)."""
        turn = max(group.num_slots * group.max_steps for group in self.groups)
        return self.config.push_positions - 1 + turn

    def play(
        self,
        weights_version: int,
        weights: list | dict | None = None,
        seconds: float | None = None,
        *,
        rounds: int | None = None,
        difficulties: Sequence[tuple[float, float]] | None = None,
    ) -> dict[str, Any]:
        """Self-play for ``seconds`` (default ``play_seconds``) or ``rounds`` turns of every group, whichever
        ends first (at least one turn; groups take turns in an order that carries over between calls).

        ``weights``: a one-element list holding an object reference of (or itself) a state dict
        ``dict[str, np.ndarray]``, a state dict, or None (keep the network and the version held).
        It is loaded when ``weights_version`` differs from the version held. ``difficulties``: per
        task id, the range (low, high) within [0, 1] that new instances' difficulties are drawn from
        (None: the config's ranges). Returns this call's statistics (see `_call_stats`).
        """
        self._use_ranges(self.entry_ranges if difficulties is None else difficulties)
        lag = weights_version - self.weights_version
        if weights is not None and weights_version != self.weights_version:
            self._load_weights(weights_version, weights)
        seconds = self.config.play_seconds if seconds is None else float(seconds)
        max_turns = None if rounds is None else rounds * len(self.groups)
        before = self._snapshot()
        start = time.perf_counter()
        deadline = start + seconds
        turns = 0
        while True:  # at least one turn per call
            # The turn order carries over between calls, so calls shorter than a round starve no group.
            self._turn(self.groups[self.next_group])
            self.next_group = (self.next_group + 1) % len(self.groups)
            turns += 1
            if (max_turns is not None and turns >= max_turns) or time.perf_counter() >= deadline:
                break
        self._push_queue()
        elapsed = time.perf_counter() - start
        self.totals["seconds"] += elapsed
        return self._call_stats(before, elapsed, lag)

    def flush(self) -> int:
        """Push every queued trajectory and wait for every call in flight; returns the positions they held."""
        waiting = self.queued_positions + self.pushes.in_flight_weight
        self._push_queue()
        self.pushes.collect(block=True)
        return waiting

    def stats(self) -> dict[str, Any]:
        """Cumulative statistics since the worker started."""
        seconds = max(self.totals["seconds"], 1e-9)
        return {
            "worker": self.worker_index,
            **self.totals,
            "episodes_per_s": self.totals["episodes"] / seconds,
            "positions_per_s": self.totals["positions"] / seconds,
            "simulations_per_s": sum(g.simulations for g in self.groups) / seconds,
            "weights_version": self.weights_version,
            "weights_loads": self.weights_loads,
            **self._push_stats(),
            "by_task": self._outcome_stats(self.outcomes),
        }

    # ----- one turn -------------------------------------------------------------------------------

    def _turn(self, group: EpisodeGroup) -> None:
        """One move in every slot of ``group``; finished episodes are queued and their slots restarted."""
        live = int((~group.search.done).sum())
        finished = group.move()
        self.totals["moves"] += live
        if len(finished):
            finals = group.search.root_states[finished]
            for slot, final in zip(finished.tolist(), finals, strict=True):
                self._finish(group, slot, final)
            group.start(finished, self.rng)
        if self.queued_positions >= self.config.push_positions:
            self._push_queue()

    def _finish(self, group: EpisodeGroup, slot: int, final_state: np.ndarray) -> None:
        trajectory = group.trajectory(slot, final_state, self.weights_version)
        self.queue.append(trajectory)
        self.queued_positions += trajectory.num_positions
        self.max_queued_positions = max(self.max_queued_positions, self.queued_positions)
        self.totals["episodes"] += 1
        self.totals["positions"] += trajectory.num_positions
        self.totals["stale_positions"] += int(group.stale_moves[slot])
        if group.from_draw_range(slot):
            self.in_range[group.task_id] += (1, int(trajectory.success))
        counts = self.outcomes[group.task_id, difficulty_bucket(trajectory.difficulty)]
        counts[EPISODES] += 1
        if group.two_player:
            counts[WINS if trajectory.outcome > 0 else DRAWS if trajectory.outcome == 0 else LOSSES] += 1
        else:
            counts[WINS] += int(trajectory.success)

    def _push_queue(self) -> None:
        if not self.queue:
            return
        batch, positions = self.queue, self.queued_positions
        self.queue, self.queued_positions = [], 0
        self.pushes.submit(batch, weight=positions)

    def _use_ranges(self, ranges: Sequence[tuple[float, float]]) -> None:
        """Draw new instances of task id i from ``ranges[i]``; ValueError for a malformed range."""
        if len(ranges) != len(self.draw_ranges):
            raise ValueError(
                f"selfplay.play: difficulties: expected one range per task id ({len(self.draw_ranges)}), "
                f"got {len(ranges)}"
            )
        checked = []
        for task_id, pair in enumerate(ranges):
            ok = isinstance(pair, (list, tuple)) and len(pair) == 2
            ok = ok and all(isinstance(d, (int, float)) and not isinstance(d, bool) for d in pair)
            if not (ok and 0.0 <= pair[0] <= pair[1] <= 1.0):
                raise ValueError(
                    f"selfplay.play: difficulties[{task_id}]: expected a pair (low, high) with "
                    f"0 <= low <= high <= 1, got {pair!r}"
                )
            checked.append((float(pair[0]), float(pair[1])))
        self.draw_ranges = checked
        for group in self.groups:
            group.use_range(checked[group.task_id], self.rng)

    # ----- weights --------------------------------------------------------------------------------

    def _load_weights(self, version: int, weights: Any) -> None:
        """Switch every slot to ``version``: fetch the state dict (one ``ray.get`` of the reference) and load it
        into the shared network, or, with a `RemoteNetwork`, have its server hold ``version`` (a server loads
        a version once, whoever sends it first: the driver or one of its workers); its later replies are
        checked against ``version`` (actors/serving/client.py), so trajectories record it correctly."""
        from actors.inference import fetch_weights

        if hasattr(self.network, "use_weights"):  # the weights live on the inference server
            self.network.use_weights(version, weights)
        elif hasattr(self.network, "load_state_dict"):
            self.network.load_state_dict(fetch_weights(weights))
        else:
            raise TypeError("selfplay.play: this worker's network cannot load weights")
        for group in self.groups:  # moves made so far in running episodes now count as stale
            group.stale_moves[:] = group.length
        self.weights_version = version
        self.weights_loads += 1

    # ----- statistics -----------------------------------------------------------------------------

    def _snapshot(self) -> dict[str, Any]:
        return {
            **{k: v for k, v in self.totals.items() if k != "seconds"},
            "network_seconds": sum(g.search.network_seconds for g in self.groups),
            "network_rows": sum(g.search.network_rows for g in self.groups),
            "network_calls": sum(g.search.network_calls for g in self.groups),
            "simulations": sum(g.simulations for g in self.groups),
            "outcomes": self.outcomes.copy(),
            "in_range": self.in_range.copy(),
        }

    def _call_stats(self, before: dict[str, Any], elapsed: float, lag: int) -> dict[str, Any]:
        """Statistics of one `play` call.

        ``weights_lag``: versions the worker was behind the published version when the call
        began; ``stale_positions``: positions of this call's episodes searched with older
        weights than their trajectory records; ``network_share``: fraction of the time spent
        in network calls; ``by_task``: per task and difficulty bucket, the episodes and the
        success rate (puzzles) or player 0's win/draw/loss rates (games); ``by_task_id``: per task
        id, its name, the ``range`` [low, high] new instances were drawn from in this call, the
        call's finished ``episodes``, and how many of them were drawn from that range
        (``range_episodes``) and succeeded (``range_successes``; player-0 wins for games).
        """
        after = self._snapshot()
        delta = {k: after[k] - before[k] for k in before}
        seconds = max(elapsed, 1e-9)
        return {
            "worker": self.worker_index,
            "resumes": self.resumes,
            "incarnation": self.incarnation,
            "actor": actor_location(),
            "episodes": int(delta["episodes"]),
            "positions": int(delta["positions"]),
            "moves": int(delta["moves"]),
            "seconds": elapsed,
            "episodes_per_s": delta["episodes"] / seconds,
            "positions_per_s": delta["positions"] / seconds,
            "simulations_per_s": delta["simulations"] / seconds,
            "network_rows_per_s": delta["network_rows"] / seconds,
            "network_share": delta["network_seconds"] / seconds,
            "network_calls": int(delta["network_calls"]),
            "weights_version": self.weights_version,
            "weights_lag": int(lag),
            "weights_loads": self.weights_loads,
            "stale_positions": int(delta["stale_positions"]),
            **self._push_stats(),
            "rss_bytes": resident_bytes(),
            "cpu_percent": cpu_percent(),
            "by_task": self._outcome_stats(delta["outcomes"]),
            "by_task_id": [
                {
                    "task": self.task_names[task_id],
                    "range": list(self.draw_ranges[task_id]),
                    "episodes": int(delta["outcomes"][task_id, :, EPISODES].sum()),
                    "range_episodes": int(delta["in_range"][task_id, 0]),
                    "range_successes": int(delta["in_range"][task_id, 1]),
                }
                for task_id in range(len(self.draw_ranges))
            ],
        }

    def _push_stats(self) -> dict[str, Any]:
        pushes = self.pushes
        return {
            "pushes": pushes.calls,
            "pushed_positions": pushes.submitted,
            "acked_positions": pushes.acknowledged,
            "lost_positions": pushes.lost,
            "push_wait_seconds": pushes.wait_seconds,
            "pushes_in_flight": pushes.in_flight,
            "max_pushes_in_flight": pushes.max_seen_in_flight,
            "queued_positions": self.queued_positions,
            "max_queued_positions": self.max_queued_positions,
        }

    def _outcome_stats(self, outcomes: np.ndarray) -> dict[str, dict[str, dict[str, float]]]:
        """``{task name: {difficulty bucket: rates}}`` for the buckets with episodes."""
        report: dict[str, dict[str, dict[str, float]]] = {}
        for group in self.groups:
            buckets = {}
            for bucket, counts in enumerate(outcomes[group.task_id]):
                n = int(counts[EPISODES])
                if n == 0:
                    continue
                if group.two_player:
                    rates = {"win": counts[WINS] / n, "draw": counts[DRAWS] / n, "loss": counts[LOSSES] / n}
                else:
                    rates = {"success": counts[WINS] / n}
                buckets[bucket_name(bucket)] = {"episodes": n, **{k: float(v) for k, v in rates.items()}}
            if buckets:
                report[self.task_names[group.task_id]] = buckets
        return report


class _NoBuffer:
    """Where trajectories go when a worker has no buffer (tests, benchmarks): counted, then dropped."""

    def add(self, trajectories: list[Trajectory]) -> None:
        return None


def task_stat_names(tasks: Sequence[Task]) -> list[str]:
    """Statistics names of the task ids: the kind, with ``#<task id>`` when a kind appears more than once."""
    kinds = [task.kind for task in tasks]
    return [kind if kinds.count(kind) == 1 else f"{kind}#{i}" for i, kind in enumerate(kinds)]


# ----- Ray -----------------------------------------------------------------------------------------------


def start_selfplay_worker(
    tasks: TasksConfig,
    model: ModelConfig,
    search: SearchConfig,
    selfplay: SelfPlayConfig,
    seed: int,
    index: int,
    buffer: Any = None,
    *,
    resumes: int = 0,
    incarnation: int = 0,
    inference: Any = None,
) -> Any:
    """Start self-play worker ``index`` as a Ray actor (``num_cpus``, ``num_gpus``, spread over the nodes).

    Ray does not restart it: a worker that died is replaced by the driver's pool with the next
    ``incarnation``. ``inference``: an inference-server handle to evaluate leaves on (None: its
    own network). Requires ``ray.init`` first.
    """
    import ray

    options = {
        "num_cpus": selfplay.num_cpus,
        "num_gpus": selfplay.num_gpus,
        "max_restarts": 0,
        "scheduling_strategy": "SPREAD",
    }
    extra = {"inference": inference} if inference is not None else {}
    return (
        ray.remote(SelfPlayWorker)
        .options(**options)
        .remote(tasks, model, search, selfplay, seed, index, buffer, resumes=resumes, incarnation=incarnation, **extra)
    )


def create_selfplay_workers(
    tasks: TasksConfig,
    model: ModelConfig,
    search: SearchConfig,
    selfplay: SelfPlayConfig,
    seed: int,
    buffer: Any = None,
    *,
    resumes: int = 0,
    inference_servers: list[Any] | None = None,
) -> list[Any]:
    """Start ``selfplay.num_workers`` (its ``min`` for a range) workers with `start_selfplay_worker`.

    Worker i draws its episodes from ``[seed, resumes, i]``; servers are assigned round-robin.
    """
    servers = inference_servers or []
    return [
        start_selfplay_worker(
            tasks,
            model,
            search,
            selfplay,
            seed,
            index,
            buffer,
            resumes=resumes,
            inference=servers[index % len(servers)] if servers else None,
        )
        for index in range(selfplay.worker_range[0])
    ]
