"""The self-play worker: B concurrent episodes of the task mix, searched with a local network, pushed to replay.

    worker = SelfPlayWorker(tasks, model, search, selfplay, seed=0, worker_index=0, buffer=buffer)
    stats = worker.play(weights_version, [weights_ref])   # one call: about `play_seconds` of self-play
    worker.flush()                                        # at shutdown: every finished episode is stored

`create_selfplay_workers` starts ``num_workers`` of them as Ray actors.

Episodes. The worker owns ``episodes_per_worker`` slots, grouped by task id (one
`BatchedSearch` per task id, slots split in proportion to the mix weights), so a
network call carries only one task's tokens and never pads to the longest task. The
groups take turns: one turn is one move in every slot of the group, each of its
simulations evaluating all of the group's new leaves in one network call. Each slot has
preallocated episode arrays filled in place as moves are made. Since every slot makes one
move per round, the mix weights set each task's share of the positions (not of the
episodes: short episodes finish more often). A finished episode is
copied out once, as a `Trajectory`, and its slot restarts at once with a fresh
instance (seed and difficulty drawn from the worker's own generator; seeds are
< 2**31, held-out evaluation uses seeds >= 2**31).

Targets. Per position: the encoded root state, its legal mask and the search's policy
target. Value targets:
- puzzles: the episode's outcome (1.0 solved, 0.0 failed) at every position;
- two-player games: ``z_t = outcome_final`` if the player to move at position t is the
  player to move at the terminal state, else ``-outcome_final`` (``outcome_final`` is
  from the view of that terminal player to move, the task contract's convention);
- where the search proved the root (``search.proofs``), its exact value instead: the
  outcome under best play, which exploration moves later in the episode cannot blur.
A game's `Trajectory.outcome` is from the view of player 0 (the game's first player,
also when a low difficulty starts the episode after opening moves, with either side
to move), and ``success`` is "player 0 won". So, in replay, a game's success rate is
player 0's win rate; note that the buffer's success/failure sampling weights, meant for
puzzles, then also tilt games towards player-0 wins unless the two weights are equal.

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

Memory is flat: episode arrays and statistics counters are allocated once, the queue and
the calls in flight are bounded, nothing grows with the number of episodes played.
"""

from __future__ import annotations

import collections
import logging
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from actors.replay import Trajectory
from actors.search import BatchedSearch, SearchConfig, SearchResult
from actors.search.batched import Network
from actors.selfplay.config import SelfPlayConfig
from actors.tasks.base import Task
from actors.tasks.config import TaskEntry, TasksConfig
from actors.tasks.registry import TaskMix
from common.handles import Handle
from common.process import resident_bytes

if TYPE_CHECKING:  # the model (and torch) is imported only when a worker builds its network
    from learner.models import ModelConfig

log = logging.getLogger(__name__)

SEED_LIMIT = 2**31  # self-play instance seeds are below it; held-out evaluation seeds are at or above it
NO_WEIGHTS = -1  # the version held before any published weights were loaded (the worker's own random init)
DIFFICULTY_BUCKETS = 4  # statistics per quarter of [0, 1]
MAX_GENERATE_ATTEMPTS = 100  # redraws of an instance that is terminal before its first move
# Per (task id, difficulty bucket) episode counters: episodes, successes (puzzles) or player-0 wins, draws, losses.
EPISODES, WINS, DRAWS, LOSSES = range(4)


# ----- pure helpers ---------------------------------------------------------------------------


def split_slots(weights: Sequence[float], total: int) -> list[int]:
    """Slots per task: proportional to ``weights`` (largest remainder), at least 1 per positive weight.

    Tasks with weight 0 get none. The result sums to ``total``, or to the number of
    positive weights when that is larger.
    """
    w = np.asarray(weights, dtype=np.float64)
    positive = w > 0
    if not positive.any():
        raise ValueError("selfplay: the task mix has no task with a positive weight")
    total = max(int(total), int(positive.sum()))
    ideal = w / w.sum() * total
    slots = np.where(positive, np.maximum(1, np.floor(ideal)), 0).astype(np.int64)
    while slots.sum() < total:  # give the rest to the largest shortfalls
        slots[np.argmax(np.where(positive, ideal - slots, -np.inf))] += 1
    while slots.sum() > total:  # the minimum of 1 overshot: take from the largest excesses
        slots[np.argmax(np.where(slots > 1, slots - ideal, -np.inf))] -= 1
    return slots.tolist()


def game_value_targets(outcome_final: float, to_play_final: int, to_play: np.ndarray) -> np.ndarray:
    """Two-player value targets ``float32 [T]`` from the terminal outcome and the movers ``to_play [T]``.

    ``outcome_final`` is from the view of ``to_play_final``, the player to move at the
    terminal state; each position gets the outcome from the view of its own mover.
    """
    return np.where(to_play == to_play_final, outcome_final, -outcome_final).astype(np.float32)


def difficulty_bucket(difficulty: float) -> int:
    """The statistics bucket of ``difficulty``: 0 .. DIFFICULTY_BUCKETS - 1 (quarters of [0, 1])."""
    return min(int(difficulty * DIFFICULTY_BUCKETS), DIFFICULTY_BUCKETS - 1)


def _bucket_name(bucket: int) -> str:
    return f"{bucket / DIFFICULTY_BUCKETS:.2f}-{(bucket + 1) / DIFFICULTY_BUCKETS:.2f}"


# ----- one task id's slots ----------------------------------------------------------------------


class _EpisodeGroup:
    """The slots of one task id: their `BatchedSearch` and preallocated episode arrays.

    Per slot g, move t: ``tokens [G, T, L]``, ``legal [G, T, A]``, ``policy [G, T, A]``,
    ``to_play [G, T]`` (T = the task's max_steps); ``length [G]`` moves made so far.
    """

    def __init__(
        self, task_id: int, entry: TaskEntry, task: Task, network: Network, config: SearchConfig, num_slots: int
    ) -> None:
        spec = task.spec
        self.task_id, self.entry, self.task = task_id, entry, task
        self.two_player = spec.num_players == 2
        self.num_slots = g = num_slots
        self.max_steps = t = spec.max_steps
        self.search = BatchedSearch(task, network, config, batch_size=g, task_id=task_id)
        self.tokens = np.zeros((g, t, spec.obs_length), dtype=np.int64)
        self.legal = np.zeros((g, t, spec.num_actions), dtype=np.bool_)
        self.policy = np.zeros((g, t, spec.num_actions), dtype=np.float32)
        self.to_play = np.zeros((g, t), dtype=np.int64)
        self.exact_value = np.full((g, t), np.nan, dtype=np.float32)  # the proven root value, NaN if unproven
        self.length = np.zeros(g, dtype=np.int64)
        self.seeds = np.zeros(g, dtype=np.int64)  # each slot's current instance seed
        self.difficulty = np.zeros(g, dtype=np.float64)
        self.stale_moves = np.zeros(g, dtype=np.int64)  # moves made with weights older than the current ones
        self.simulations = 0  # run by the search (fewer than moves x budget where proofs stopped it early)

    def start(self, slots: np.ndarray, rng: np.random.Generator) -> None:
        """Start fresh instances in ``slots [k]``: seeds < SEED_LIMIT, difficulty uniform in the entry's range."""
        low, high = self.entry.difficulty
        states = np.zeros((len(slots), self.task.spec.state_size), dtype=np.int64)
        search_seeds = rng.integers(SEED_LIMIT, size=len(slots))
        for i, slot in enumerate(slots.tolist()):
            for _ in range(MAX_GENERATE_ATTEMPTS):
                seed, difficulty = int(rng.integers(SEED_LIMIT)), float(rng.uniform(low, high))
                state = self.task.generate(seed, difficulty)
                if not self.task.is_terminal(state[None])[0]:
                    break
            else:
                raise RuntimeError(f"selfplay: {self.task.name} generated {MAX_GENERATE_ATTEMPTS} finished instances")
            states[i], self.seeds[slot], self.difficulty[slot] = state, seed, difficulty
        self.length[slots] = 0
        self.stale_moves[slots] = 0
        self.search.reset_slots(slots, states, search_seeds)

    def move(self) -> np.ndarray:
        """One move in every slot: search, record the position, play. Returns the slots whose episode ended [k]."""
        result: SearchResult = self.search.run()
        rows = np.flatnonzero(result.searched)
        self.simulations += int(result.simulations[rows].sum())
        t = self.length[rows]
        if (t >= self.max_steps).any():
            raise RuntimeError(f"selfplay: a {self.task.name} episode is longer than its max_steps {self.max_steps}")
        roots = self.search.root_states[rows]
        self.tokens[rows, t] = self.task.encode(roots)
        self.legal[rows, t] = self.task.legal_mask(roots)
        self.policy[rows, t] = result.policy[rows]
        self.exact_value[rows, t] = np.where(result.proven[rows], result.root_value[rows], np.nan)
        if self.two_player:
            self.to_play[rows, t] = self.task.to_play(roots)
        self.search.advance(result.actions)
        self.length[rows] += 1
        return rows[self.search.done[rows]]

    def trajectory(self, slot: int, final_state: np.ndarray, weights_version: int) -> Trajectory:
        """The finished episode of ``slot`` (ending in ``final_state [S]``) as a `Trajectory` (copied rows)."""
        n = int(self.length[slot])
        outcome_final = float(self.task.outcome(final_state[None])[0])
        if self.two_player:
            to_play_final = int(self.task.to_play(final_state[None])[0])
            value = game_value_targets(outcome_final, to_play_final, self.to_play[slot, :n])
            outcome = outcome_final if to_play_final == 0 else -outcome_final  # player 0's view
            success = outcome > 0
        else:
            value = np.full(n, outcome_final, dtype=np.float32)
            outcome, success = outcome_final, outcome_final == 1.0
        exact = self.exact_value[slot, :n]
        value = np.where(np.isnan(exact), value, exact).astype(np.float32)
        return Trajectory(
            tokens=self.tokens[slot, :n].copy(),
            legal=self.legal[slot, :n].copy(),
            policy=self.policy[slot, :n].copy(),
            value=value,
            task_id=self.task_id,
            family=self.task.family,
            kind=self.task.kind,
            difficulty=float(self.difficulty[slot]),
            outcome=outcome,
            success=bool(success),
            weights_version=weights_version,
        )


# ----- the buffer, seen from the worker -----------------------------------------------------------


class _Sink:
    """Sends trajectory batches to the buffer (a Ray actor or a plain object) with a bound on calls in flight."""

    def __init__(self, buffer: Any, max_in_flight: int) -> None:
        self.buffer = None if buffer is None else Handle(buffer)
        self.max_in_flight = max_in_flight
        self.in_flight: collections.deque[tuple[Any, int]] = collections.deque()  # (call, positions), oldest first
        self.pushes = 0
        self.pushed_positions = 0
        self.acked_positions = 0
        self.lost_positions = 0  # in calls that failed because the buffer was unavailable
        self.wait_seconds = 0.0  # time spent blocked on the buffer (backpressure)

    @property
    def in_flight_positions(self) -> int:
        return sum(n for _, n in self.in_flight)

    def push(self, trajectories: list[Trajectory], positions: int) -> None:
        """Send one batch; while at the in-flight limit, first wait for the oldest call."""
        self.pushes += 1
        self.pushed_positions += positions
        if self.buffer is None:
            return
        self.collect(block=False)
        while len(self.in_flight) >= self.max_in_flight:
            self._wait_oldest()
        self.in_flight.append((self.buffer.submit("add", trajectories), positions))
        if not self.buffer.is_actor:  # a plain buffer has stored them already
            self.collect(block=False)

    def collect(self, block: bool) -> None:
        """Take the acknowledgements of finished calls; with ``block``, of every call in flight."""
        if block:
            while self.in_flight:
                self._wait_oldest()
            return
        if not self.in_flight:
            return
        done = set(map(id, self.buffer.finished([call for call, _ in self.in_flight])))
        for call, positions in [item for item in self.in_flight if id(item[0]) in done]:
            self._settle(call, positions)
        self.in_flight = collections.deque(item for item in self.in_flight if id(item[0]) not in done)

    def _wait_oldest(self) -> None:
        call, positions = self.in_flight.popleft()
        start = time.perf_counter()
        self._settle(call, positions)
        self.wait_seconds += time.perf_counter() - start

    def _settle(self, call: Any, positions: int) -> None:
        """Wait for one call; a buffer that is restarting loses that batch (with a warning), anything else raises."""
        try:
            self.buffer.result(call)
        except Exception as error:
            if type(error).__name__ != "ActorUnavailableError":
                raise
            self.lost_positions += positions
            log.warning("selfplay: the buffer was unavailable; %d positions were not stored (%s)", positions, error)
            return
        self.acked_positions += positions


# ----- the worker ------------------------------------------------------------------------------------


class SelfPlayWorker:
    """B episodes of the task mix, played by batched search with a local copy of the network.

    Args:
        tasks, model, search, selfplay: the run's configurations.
        seed, worker_index: the worker's generator is ``np.random.default_rng([seed, worker_index])``;
            the initial (random) network is drawn from ``seed``.
        buffer: a Ray handle of the replay buffer, any object with ``add(list[Trajectory])``, or None.
        network: a search network callable to use instead of building ``model`` (tests, benchmarks);
            weights can be loaded only if it has ``load_state_dict``.
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
        network: Network | None = None,
    ) -> None:
        self.config = selfplay
        self.worker_index = worker_index
        self.rng = np.random.default_rng([seed, worker_index])
        mix = TaskMix(tasks)
        if network is None:
            from actors.inference import build_network

            specs = [task.spec for task in mix.tasks]
            network = build_network(model, specs, seed, selfplay.threads, selfplay.device, "selfplay")
        self.network = network
        self.weights_version = NO_WEIGHTS
        self.weights_loads = 0
        sizes = split_slots([entry.weight for entry in mix.entries], selfplay.episodes_per_worker)
        self.groups = [
            _EpisodeGroup(task_id, entry, task, self.network, search.with_overrides(entry.search), size)
            for task_id, (entry, task, size) in enumerate(zip(mix.entries, mix.tasks, sizes, strict=True))
            if size > 0
        ]
        self.next_group = 0  # whose turn it is
        self.task_names = _task_names(mix.tasks)
        for group in self.groups:
            group.start(np.arange(group.num_slots), self.rng)
        self.sink = _Sink(buffer, selfplay.max_pending_pushes)
        self.queue: list[Trajectory] = []
        self.queued_positions = 0
        self.max_queued_positions = 0  # high-water mark, checked against `queue_bound`
        self.max_pushes_in_flight = 0
        # Counters per (task id, difficulty bucket): see EPISODES, WINS, DRAWS, LOSSES.
        self.outcomes = np.zeros((len(mix.tasks), DIFFICULTY_BUCKETS, 4), dtype=np.int64)
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
    ) -> dict[str, Any]:
        """Self-play for ``seconds`` (default ``play_seconds``) or ``rounds`` turns of every group, whichever
        ends first (at least one turn; groups take turns in an order that carries over between calls).

        ``weights``: a one-element list holding an object reference of (or itself) a state dict
        ``dict[str, np.ndarray]``, a state dict, or None (keep the network and the version held).
        It is loaded when ``weights_version`` differs from the version held. Returns this call's
        statistics (see `_call_stats`).
        """
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
        waiting = self.queued_positions + self.sink.in_flight_positions
        self._push_queue()
        self.sink.collect(block=True)
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

    def _turn(self, group: _EpisodeGroup) -> None:
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

    def _finish(self, group: _EpisodeGroup, slot: int, final_state: np.ndarray) -> None:
        trajectory = group.trajectory(slot, final_state, self.weights_version)
        self.queue.append(trajectory)
        self.queued_positions += trajectory.num_positions
        self.max_queued_positions = max(self.max_queued_positions, self.queued_positions)
        self.totals["episodes"] += 1
        self.totals["positions"] += trajectory.num_positions
        self.totals["stale_positions"] += int(group.stale_moves[slot])
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
        self.sink.push(batch, positions)
        self.max_pushes_in_flight = max(self.max_pushes_in_flight, len(self.sink.in_flight))

    # ----- weights --------------------------------------------------------------------------------

    def _load_weights(self, version: int, weights: Any) -> None:
        """Fetch the state dict (one ``ray.get`` of the reference) and load it into the shared network."""
        from actors.inference import fetch_weights

        if not hasattr(self.network, "load_state_dict"):
            raise TypeError("selfplay.play: this worker's network cannot load weights")
        self.network.load_state_dict(fetch_weights(weights))
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
            "simulations": sum(g.simulations for g in self.groups),
            "outcomes": self.outcomes.copy(),
        }

    def _call_stats(self, before: dict[str, Any], elapsed: float, lag: int) -> dict[str, Any]:
        """Statistics of one `play` call.

        ``weights_lag``: versions the worker was behind the published version when the call
        began; ``stale_positions``: positions of this call's episodes searched with older
        weights than their trajectory records; ``network_share``: fraction of the time spent
        in network calls; ``by_task``: per task and difficulty bucket, the episodes and the
        success rate (puzzles) or player 0's win/draw/loss rates (games).
        """
        after = self._snapshot()
        delta = {k: after[k] - before[k] for k in before}
        seconds = max(elapsed, 1e-9)
        return {
            "worker": self.worker_index,
            "episodes": int(delta["episodes"]),
            "positions": int(delta["positions"]),
            "moves": int(delta["moves"]),
            "seconds": elapsed,
            "episodes_per_s": delta["episodes"] / seconds,
            "positions_per_s": delta["positions"] / seconds,
            "simulations_per_s": delta["simulations"] / seconds,
            "network_rows_per_s": delta["network_rows"] / seconds,
            "network_share": delta["network_seconds"] / seconds,
            "weights_version": self.weights_version,
            "weights_lag": int(lag),
            "weights_loads": self.weights_loads,
            "stale_positions": int(delta["stale_positions"]),
            **self._push_stats(),
            "rss_bytes": resident_bytes(),
            "by_task": self._outcome_stats(delta["outcomes"]),
        }

    def _push_stats(self) -> dict[str, Any]:
        sink = self.sink
        return {
            "pushes": sink.pushes,
            "pushed_positions": sink.pushed_positions,
            "acked_positions": sink.acked_positions,
            "lost_positions": sink.lost_positions,
            "push_wait_seconds": sink.wait_seconds,
            "pushes_in_flight": len(sink.in_flight),
            "max_pushes_in_flight": self.max_pushes_in_flight,
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
                buckets[_bucket_name(bucket)] = {"episodes": n, **{k: float(v) for k, v in rates.items()}}
            if buckets:
                report[self.task_names[group.task_id]] = buckets
        return report


def _task_names(tasks: Sequence[Task]) -> list[str]:
    """Statistics names of the task ids: the kind, with ``#<task id>`` when a kind appears more than once."""
    kinds = [task.kind for task in tasks]
    return [kind if kinds.count(kind) == 1 else f"{kind}#{i}" for i, kind in enumerate(kinds)]


# ----- Ray -----------------------------------------------------------------------------------------------


def create_selfplay_workers(
    tasks: TasksConfig,
    model: ModelConfig,
    search: SearchConfig,
    selfplay: SelfPlayConfig,
    seed: int,
    buffer: Any = None,
    *,
    max_restarts: int = 0,
) -> list[Any]:
    """Start ``selfplay.num_workers`` `SelfPlayWorker` Ray actors (``num_cpus`` each); returns their handles.

    Worker i draws its episodes from ``[seed, i]``. Requires ``ray.init`` first.
    """
    import ray

    actor_class = ray.remote(num_cpus=selfplay.num_cpus, max_restarts=max_restarts)(SelfPlayWorker)
    return [
        actor_class.remote(tasks, model, search, selfplay, seed, index, buffer) for index in range(selfplay.num_workers)
    ]
