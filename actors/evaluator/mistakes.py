"""Connect Four's mistake rate: the share of held-out positions where a player's move is worse than the best move.

A move is a *mistake* when another legal move of the position has a strictly better
game-theoretic value (win > draw > loss) under perfect play: the exact solver
(`actors.tasks.connect4_solver`) labels every legal move of every position with its exact
score once, and a move's value is the sign of its score. Positions where every legal move
has the same value admit no mistake; they are counted (as in AlphaZero.jl's benchmark on
Pons' test sets, which this figure follows) and ``critical`` says how many positions do
admit one.

The held-out positions are fixed per (evaluation seed, task id, count), like the other
held-out sets (heldout.py: seeds at or above ``2**31``, never met in self-play): position
``j`` has a stage (``j % 3``: plies played in ``[10, 14]``, ``[15, 28]`` or ``[29, 40]``), a
number of plies drawn in it, and is reached by *perturbed play*: each ply a uniformly random
legal move with probability ``RANDOM_SHARE``, else the task's alpha-beta reference at depth
``PLAY_DEPTH``; a game that ends before the target ply, or repeats an earlier position, is
redrawn. Positions start at 10 plies because earlier ones take the solver seconds each.

The record (`mistake_record`) gives, over all positions and per bucket of the stage (plies
played: ``<= 14``, ``15-28``, ``> 28``) and of the distance to the end under perfect play
(`plies_to_end` of the position's exact score: ``< 14``, ``14-28``, ``> 28`` plies), the
positions, the critical ones, and per player (``network``: the raw policy's most likely legal
move; ``search``: the evaluation search's move) its mistakes and their share of the positions.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from actors.evaluator.heldout import held_out_seed
from actors.evaluator.matches import most_likely_legal
from actors.search import BatchedSearch, SearchConfig
from actors.search.batched import Network
from actors.tasks.connect4 import CELLS, MOVES, ConnectFour

STAGES = (("<= 14", 0, 14), ("15-28", 15, 28), ("> 28", 29, CELLS))  # (label, first, last) plies played
DISTANCES = (("< 14", 0, 13), ("14-28", 14, 28), ("> 28", 29, CELLS))  # (label, first, last) plies to the end
STAGE_PLIES = ((10, 14), (15, 28), (29, 40))  # the plies held-out positions of each stage are drawn from
RANDOM_SHARE = 0.3  # perturbed play: the share of uniformly random moves
PLAY_DEPTH = 2  # perturbed play: the depth of the alpha-beta moves
_INDEX_BASE = 1 << 20  # held-out seed indices of positions, apart from the task's held-out openings
_REDRAWS = 1000  # games tried per position before giving up (a position is found within a few)


@dataclass(frozen=True)
class LabelledPositions:
    """Positions and the exact score of each legal move: ``states int64 [n, S]``, ``seeds int64 [n]`` (for the
    search), ``scores float64 [n, 7]`` (Pons' convention, for the player to move; NaN where illegal)."""

    states: np.ndarray
    seeds: np.ndarray
    scores: np.ndarray

    @property
    def plies(self) -> np.ndarray:
        """``int64 [n]``: stones on the board."""
        return self.states[:, MOVES].copy()

    @property
    def position_scores(self) -> np.ndarray:
        """``int64 [n]``: each position's exact score, the best of its moves'."""
        return np.nanmax(self.scores, axis=1).astype(np.int64)

    @property
    def distances(self) -> np.ndarray:
        """``int64 [n]``: plies to the end under perfect play (`plies_to_end`)."""
        from actors.tasks.connect4_solver import plies_to_end

        return np.array([plies_to_end(s, p) for s, p in zip(self.position_scores, self.plies, strict=True)])

    @property
    def critical(self) -> np.ndarray:
        """``bool [n]``: some legal move's value is worse than the best's (a mistake is possible)."""
        values = np.sign(self.scores)
        return np.nanmin(values, axis=1) < np.nanmax(values, axis=1)


def perturbed_position(task: ConnectFour, rng: np.random.Generator, plies: int) -> np.ndarray | None:
    """The state after ``plies`` moves of perturbed play (module docstring), or None if the game ended first."""
    state = task.empty_state()
    for _ in range(plies):
        if task.is_terminal(state[None])[0]:
            return None
        if rng.random() < RANDOM_SHARE:
            col = int(rng.choice(np.flatnonzero(task.legal_mask(state[None])[0])))
        else:
            col = task.best_action(state, PLAY_DEPTH)
        state = task.play(state, [col])
    return None if task.is_terminal(state[None])[0] else state


def held_out_positions(task: ConnectFour, task_id: int, count: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``count`` fixed positions (module docstring): ``states int64 [count, S]`` and their seeds ``int64 [count]``."""
    states, seeds, seen = [], [], set()
    for index in range(count):
        for redraw in range(_REDRAWS):
            position_seed = held_out_seed(seed, task_id, _INDEX_BASE + index, redraw)
            rng = np.random.default_rng(position_seed)
            low, high = STAGE_PLIES[index % len(STAGE_PLIES)]
            state = perturbed_position(task, rng, int(rng.integers(low, high + 1)))
            if state is not None and state.tobytes() not in seen:
                break
        else:
            raise RuntimeError(f"{task.name}: no new held-out position {index} in {_REDRAWS} games")
        seen.add(state.tobytes())
        states.append(state)
        seeds.append(position_seed)
    return np.array(states, dtype=np.int64), np.array(seeds, dtype=np.int64)


def label_positions(states: np.ndarray, seeds: np.ndarray | None = None) -> LabelledPositions:
    """Every legal move of every position of ``states [n, S]`` scored exactly by the solver (one table for all)."""
    from actors.tasks.connect4_solver import Connect4Solver

    solver = Connect4Solver()
    scores = np.array([solver.move_scores(state) for state in states]).reshape(len(states), -1)
    seeds = np.zeros(len(states), dtype=np.int64) if seeds is None else np.asarray(seeds, dtype=np.int64)
    return LabelledPositions(np.asarray(states, dtype=np.int64), seeds, scores)


def mistakes(labels: LabelledPositions, moves: np.ndarray) -> np.ndarray:
    """``bool [n]``: whether ``moves [n]`` (one legal column per position) has a worse value than the best move."""
    moves = np.asarray(moves, dtype=np.int64)
    chosen = labels.scores[np.arange(len(moves)), moves]
    if np.isnan(chosen).any():
        raise ValueError(f"an illegal move among {moves.tolist()}")
    return np.sign(chosen) < np.sign(labels.position_scores)


def bucket_index(values: np.ndarray, buckets: tuple[tuple[str, int, int], ...]) -> np.ndarray:
    """``int64 [n]``: the index in ``buckets`` ((label, first, last) ranges, inclusive) of each of ``values [n]``."""
    index = np.full(len(values), -1, dtype=np.int64)
    for b, (_, first, last) in enumerate(buckets):
        index[(values >= first) & (values <= last)] = b
    return index


def _figures(members: np.ndarray, critical: np.ndarray, wrong: dict[str, np.ndarray]) -> dict:
    """Positions, critical ones, and per player its mistakes and their share, over ``members`` (bool ``[n]``)."""
    n = int(members.sum())
    record: dict = {"positions": n, "critical": int(critical[members].sum())}
    for player, is_wrong in wrong.items():
        count = int(is_wrong[members].sum())
        record[f"{player}_mistakes"] = count
        record[f"{player}_rate"] = count / n if n else None
    return record


def mistake_record(labels: LabelledPositions, moves: dict[str, np.ndarray]) -> dict:
    """The mistake-rate record of the players' ``moves`` (name -> ``int64 [n]``) on ``labels``: the figures over
    all positions, and ``by_stage`` / ``by_distance``: label -> the same figures over that bucket (module doc)."""
    wrong = {player: mistakes(labels, m) for player, m in moves.items()}
    critical = labels.critical
    record = _figures(np.ones(len(labels.states), dtype=bool), critical, wrong)
    for key, values, buckets in (("by_stage", labels.plies, STAGES), ("by_distance", labels.distances, DISTANCES)):
        index = bucket_index(values, buckets)
        record[key] = {label: _figures(index == b, critical, wrong) for b, (label, _, _) in enumerate(buckets)}
    return record


def greedy_moves(task: ConnectFour, task_id: int, states: np.ndarray, network: Network) -> np.ndarray:
    """``int64 [n]``: the raw network's most likely legal column in each of ``states [n, S]`` (no search)."""
    logits, _ = network(task.encode(states), np.full(len(states), task_id, dtype=np.int64))
    return most_likely_legal(task, states, logits)


def search_moves(
    task: ConnectFour, task_id: int, labels: LabelledPositions, network: Network, config: SearchConfig
) -> np.ndarray:
    """``int64 [n]``: the move the search (``config``, with ``network``) plays in each position, all in one batch."""
    search = BatchedSearch(task, network, config, batch_size=len(labels.states), task_id=task_id)
    search.reset(labels.states, labels.seeds)
    return search.run().actions
