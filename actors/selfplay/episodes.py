"""One task id's episode slots in a self-play worker: fresh instances, moves searched in one batch, trajectories.

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
< 2**31, held-out evaluation uses seeds >= 2**31). Difficulties are drawn uniformly from
the group's ``draw_range``: the entry's range, or the one a curriculum hands the worker
for the call (`EpisodeGroup.use_range`); each slot remembers the range its instance
was drawn from, so a curriculum can count only the episodes drawn at its current level.

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
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from actors.replay import Trajectory
from actors.search import BatchedSearch, SearchConfig, SearchResult
from actors.search.batched import Network
from actors.tasks.base import Task
from actors.tasks.config import TaskEntry

SEED_LIMIT = 2**31  # self-play instance seeds are below it; held-out evaluation seeds are at or above it
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


def bucket_name(bucket: int) -> str:
    return f"{bucket / DIFFICULTY_BUCKETS:.2f}-{(bucket + 1) / DIFFICULTY_BUCKETS:.2f}"


# ----- one task id's slots ----------------------------------------------------------------------


class EpisodeGroup:
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
        low, high = entry.difficulty
        self.draw_range = (float(low), float(high))  # what new instances' difficulties are drawn from
        self.drawn_from = np.zeros((g, 2), dtype=np.float64)  # each slot's draw_range when its instance was drawn
        self.stale_moves = np.zeros(g, dtype=np.int64)  # moves made with weights older than the current ones
        self.simulations = 0  # run by the search (fewer than moves x budget where proofs stopped it early)

    def use_range(self, draw_range: tuple[float, float], rng: np.random.Generator) -> None:
        """Draw new instances' difficulties uniformly from ``draw_range`` (low, high) from now on.

        Slots that have not made a move yet are redrawn from it at once; running episodes finish as drawn.
        """
        draw_range = (float(draw_range[0]), float(draw_range[1]))
        if draw_range == self.draw_range:
            return
        self.draw_range = draw_range
        fresh = np.flatnonzero(self.length == 0)
        if len(fresh):
            self.start(fresh, rng)

    def from_draw_range(self, slot: int) -> bool:
        """Whether the instance of ``slot`` was drawn from the current ``draw_range``."""
        return (float(self.drawn_from[slot, 0]), float(self.drawn_from[slot, 1])) == self.draw_range

    def start(self, slots: np.ndarray, rng: np.random.Generator) -> None:
        """Start fresh instances in ``slots [k]``: seeds < SEED_LIMIT, difficulty uniform in ``draw_range``."""
        low, high = self.draw_range
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
        self.drawn_from[slots] = (low, high)
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
