"""An exact Connect Four solver (negamax with alpha-beta, compiled with numba), in Pascal Pons' score convention.

    solver = Connect4Solver()
    solver.score(state)          # int: the exact score of ``state [54]`` (a `ConnectFour` state) for its player to move
    solver.move_scores(state)    # float64 [7]: the exact score of playing each column, NaN where illegal
    solver.best_moves(state)     # the columns of the best score
    position_score(state), move_scores(state), best_moves(state)   # the same with one shared solver

**Scores** (http://blog.gamesolver.org, part 2), from the view of the player to move, both
sides playing perfectly (winning as soon as possible, losing as late as possible): 0 for a draw;
``22 - k`` when the mover wins with its ``k``-th stone (a win with fewer stones scores higher: an
immediate win at ply ``n`` scores ``(43 - n) // 2``, at most 18); ``k - 22`` when the opponent
wins with its ``k``-th stone. A move's score is the score of the position after it, negated (an
immediately winning move scores the immediate win). `plies_to_end` turns a score into the plies
left to the end under perfect play (a draw fills the board: ``42 - plies``).

**Search** (Pons, parts 3-12): bitboards in the task's layout (bit ``col * 7 + row``, one spare
bit per column; ``position`` the mover's stones, ``mask`` all stones); negamax with alpha-beta;
only moves that do not hand the opponent an immediate win (a forced block, never under an
opponent's winning cell); the score's bounds at the current ply narrow the window; moves ordered
by the winning cells they create, centre columns first among equals; fail-soft (a failed search
returns the tightest bound it found); a transposition table of ``TABLE_SIZE`` slots (16 MB), each
``key << 8 | value`` with the full key ``position + mask`` (unique per position) and an upper or
lower bound of the exact score, valid whatever window found it, so the table is kept across
searches and positions; the exact score found by a sequence of null-window searches that halve
the interval known to hold it, probing near 0 first (iterative deepening on the score).

The search is compiled with numba (``cache=True``: the first call in a fresh environment
compiles for a few seconds, later processes load the cache), because the same algorithm in plain
Python (``NUMBA_DISABLE_JIT=1``) searches ~0.13 million positions/s against 10-18 million: about
100x slower, minutes for some positions of 10 plies. Measured with ``python -m
actors.tasks.connect4_solver 10 12 14`` (every move's exact score of 50 positions of uniformly
random play, an empty table each; CPU seconds per position on a shared 2-core EPYC): 10 plies
median 0.16, max 1.4; 12 plies median 0.03, max 0.9; 14 plies median 0.01, max 0.3.
"""

from __future__ import annotations

import time

import numpy as np
from numba import njit

from actors.tasks.connect4 import BITBOARDS, CELLS, COLS, MOVES, ROWS, TO_PLAY, WINNER, ConnectFour

_H1 = ROWS + 1
_BOTTOM = sum(1 << (c * _H1) for c in range(COLS))
_BOARD = _BOTTOM * ((1 << ROWS) - 1)
_COLUMN_BITS = (1 << ROWS) - 1
MIN_SCORE = -(CELLS // 2) + 3  # -18: the opponent wins with its 4th stone
MAX_SCORE = (CELLS + 1) // 2 - 3  # 18: the mover wins with its 4th stone
TABLE_SIZE = 2097143  # a prime near 2**21: 16 MB of entries
_NODES = 2 * CELLS + 2  # the row of the scratch array that holds the node counter
_UPPER_LIMIT = MAX_SCORE - MIN_SCORE + 1  # table values 1..37 are upper bounds, 38..74 lower bounds, 0 empty


# ----- bitboards (compiled) ----------------------------------------------------------


@njit(cache=True)
def _popcount(bits: int) -> int:
    count = 0
    while bits:
        bits &= bits - 1
        count += 1
    return count


@njit(cache=True)
def _winning_cells(position: int, mask: int) -> int:
    """Empty cells where ``position`` would complete four in a row, playable now or not (Pons' bit tricks)."""
    r = (position << 1) & (position << 2) & (position << 3)  # vertical: three below
    for shift in (_H1, _H1 - 1, _H1 + 1):  # horizontal and the two diagonals
        p = (position << shift) & (position << (2 * shift))
        r |= p & (position << (3 * shift))
        r |= p & (position >> shift)
        p = (position >> shift) & (position >> (2 * shift))
        r |= p & (position << shift)
        r |= p & (position >> (3 * shift))
    return r & (_BOARD ^ mask)


@njit(cache=True)
def _possible(mask: int) -> int:
    """The cell each non-full column would take next, one bit per column."""
    return (mask + _BOTTOM) & _BOARD


@njit(cache=True)
def _non_losing_moves(position: int, mask: int) -> int:
    """The mover's moves (bits) that do not let the opponent win at once; 0 if every move does.

    Assumes the mover cannot win at once (the search checks that first)."""
    possible = _possible(mask)
    opponent_wins = _winning_cells(position ^ mask, mask)
    forced = possible & opponent_wins
    if forced:
        if forced & (forced - 1):
            return 0  # two cells to block at once
        possible = forced
    return possible & ~(opponent_wins >> 1)  # never play under an opponent's winning cell


@njit(cache=True)
def _can_win_next(position: int, mask: int) -> bool:
    return (_winning_cells(position, mask) & _possible(mask)) != 0


@njit(cache=True)
def _half_toward_zero(x: int) -> int:
    """``x / 2`` truncated toward zero (C's integer division, as Pons' solver divides)."""
    return x // 2 if x >= 0 else -((-x) // 2)


# ----- the search (compiled) -----------------------------------------------------------


@njit(cache=True)
def _negamax(
    position: int,
    mask: int,
    plies: int,
    alpha: int,
    beta: int,
    table: np.ndarray,
    order: np.ndarray,
) -> int:
    """The exact score if it lies in ``(alpha, beta)``; else a bound on the same side of the window.

    ``position`` / ``mask``: the mover's / all stones; ``plies``: stones on the board; the mover
    cannot win at once. ``table int64 [TABLE_SIZE]``: the transposition table, an entry
    ``key << 8 | value`` (0: empty); ``order int64 [2 * CELLS + 3, COLS]``: scratch rows for each
    ply's move list (the moves, their ordering scores), and the node counter at ``order[-1, 0]``.
    """
    order[_NODES, 0] += 1
    possible = _non_losing_moves(position, mask)
    if possible == 0:
        return -((CELLS - plies) // 2)  # the opponent wins with its next stone
    if plies >= CELLS - 2:
        return 0  # neither side can win with the last two stones: a draw
    low = -((CELLS - 2 - plies) // 2)  # the opponent cannot win with its next stone
    if alpha < low:
        alpha = low
        if alpha >= beta:
            return alpha
    high = (CELLS - 1 - plies) // 2  # the mover cannot win with its next stone
    if beta > high:
        beta = high
        if alpha >= beta:
            return beta
    key = position + mask
    slot = key % TABLE_SIZE
    entry = table[slot]
    if (entry >> 8) == key:
        stored = entry & 0xFF
        if stored > _UPPER_LIMIT:  # a lower bound
            bound = stored + 2 * MIN_SCORE - MAX_SCORE - 2
            if alpha < bound:
                alpha = bound
                if alpha >= beta:
                    return alpha
        else:  # an upper bound
            bound = stored + MIN_SCORE - 1
            if beta > bound:
                beta = bound
                if alpha >= beta:
                    return beta

    # Move ordering: most winning cells created first, centre-first among equals (a stable insertion).
    moves, threats = order[2 * plies], order[2 * plies + 1]
    count = 0
    for i in range(COLS):
        col = COLS // 2 + (1 - 2 * (i % 2)) * ((i + 1) // 2)  # 3, 2, 4, 1, 5, 0, 6
        move = possible & (_COLUMN_BITS << (col * _H1))
        if move:
            score = _popcount(_winning_cells(position | move, mask))
            at = count
            while at > 0 and threats[at - 1] < score:
                moves[at], threats[at] = moves[at - 1], threats[at - 1]
                at -= 1
            moves[at], threats[at] = move, score
            count += 1

    best = MIN_SCORE - 1
    for i in range(count):
        score = -_negamax(position ^ mask, mask | moves[i], plies + 1, -beta, -alpha, table, order)
        if score >= beta:
            table[slot] = (key << 8) | (score + MAX_SCORE - 2 * MIN_SCORE + 2)  # a lower bound
            return score
        if score > best:
            best = score
            if score > alpha:
                alpha = score
    table[slot] = (key << 8) | (best - MIN_SCORE + 1)  # an upper bound (fail-soft: the best bound found)
    return best


@njit(cache=True)
def _solve(position: int, mask: int, plies: int, table: np.ndarray, order: np.ndarray) -> int:
    """The exact score of a position that is not over, by null-window searches that halve the interval
    ``[low, high]`` known to hold it (each search's result is a bound that moves one end)."""
    if _can_win_next(position, mask):
        return (CELLS + 1 - plies) // 2
    low = -((CELLS - plies) // 2)
    high = (CELLS + 1 - plies) // 2
    while low < high:
        middle = low + (high - low) // 2
        if middle <= 0 and _half_toward_zero(low) < middle:
            middle = _half_toward_zero(low)  # probe near 0 first: most positions are near a draw
        elif middle >= 0 and _half_toward_zero(high) > middle:
            middle = _half_toward_zero(high)
        result = _negamax(position, mask, plies, middle, middle + 1, table, order)
        if result <= middle:
            high = result
        else:
            low = result
    return low


@njit(cache=True)
def _move_scores(position: int, mask: int, plies: int, table: np.ndarray, order: np.ndarray) -> np.ndarray:
    """``float64 [COLS]``: each column's exact score for the mover, NaN where the column is full."""
    scores = np.full(COLS, np.nan)
    possible = _possible(mask)
    wins = _winning_cells(position, mask)
    for col in range(COLS):
        move = possible & (_COLUMN_BITS << (col * _H1))
        if not move:
            continue
        if wins & move:
            scores[col] = (CELLS + 1 - plies) // 2
        elif plies + 1 == CELLS:
            scores[col] = 0.0  # the last cell, no four: a draw
        else:
            scores[col] = -_solve(position ^ mask, mask | move, plies + 1, table, order)
    return scores


# ----- the Python interface ------------------------------------------------------------


def state_bitboards(state: np.ndarray) -> tuple[int, int, int]:
    """``state [54]`` of `ConnectFour` -> (the mover's stones, all stones, plies played)."""
    first, second = int(state[BITBOARDS]), int(state[BITBOARDS + 1])
    position = second if state[TO_PLAY] else first
    return position, first | second, int(state[MOVES])


def _check_live(state: np.ndarray) -> None:
    if state[WINNER] or state[MOVES] >= CELLS:
        raise ValueError("search/connect4: the game is over; it has no score to solve")


class Connect4Solver:
    """The exact solver with its own transposition table (16 MB, kept across calls) and a node counter."""

    def __init__(self) -> None:
        self.table = np.zeros(TABLE_SIZE, dtype=np.int64)
        self._order = np.zeros((_NODES + 1, COLS), dtype=np.int64)

    @property
    def nodes(self) -> int:
        """Positions searched since this solver was made (or `clear`)."""
        return int(self._order[_NODES, 0])

    def clear(self) -> None:
        """Empty the transposition table and zero the node counter."""
        self.table[:] = 0
        self._order[_NODES, 0] = 0

    def score(self, state: np.ndarray) -> int:
        """The exact score of ``state [54]`` for its player to move (module docstring); raises if the game is over."""
        _check_live(state)
        position, mask, plies = state_bitboards(state)
        return int(_solve(position, mask, plies, self.table, self._order))

    def move_scores(self, state: np.ndarray) -> np.ndarray:
        """``float64 [7]``: the exact score for the mover of playing each column, NaN where illegal (all NaN
        once the game is over). A position's score is the best of its moves' scores."""
        if state[WINNER] or state[MOVES] >= CELLS:
            return np.full(COLS, np.nan)
        position, mask, plies = state_bitboards(state)
        return _move_scores(position, mask, plies, self.table, self._order)

    def best_moves(self, state: np.ndarray) -> list[int]:
        """The columns whose score is the best (ascending); raises if the game is over."""
        _check_live(state)
        scores = self.move_scores(state)
        return [int(c) for c in np.flatnonzero(scores == np.nanmax(scores))]


_shared: Connect4Solver | None = None


def shared_solver() -> Connect4Solver:
    """One solver per process (its table is allocated on first use)."""
    global _shared
    if _shared is None:
        _shared = Connect4Solver()
    return _shared


def position_score(state: np.ndarray) -> int:
    """`Connect4Solver.score` with the shared solver."""
    return shared_solver().score(state)


def move_scores(state: np.ndarray) -> np.ndarray:
    """`Connect4Solver.move_scores` with the shared solver."""
    return shared_solver().move_scores(state)


def best_moves(state: np.ndarray) -> list[int]:
    """`Connect4Solver.best_moves` with the shared solver."""
    return shared_solver().best_moves(state)


def plies_to_end(score: int, plies: int) -> int:
    """Plies left to the end of the game from a position with ``plies`` stones and exact ``score``, under
    perfect play (the winner wins as soon as it can, the loser loses as late as it can).

    A win with the mover's ``k``-th stone (``score = 22 - k``; the mover has ``plies // 2`` stones) ends
    ``2 * (k - plies // 2) - 1`` plies later; a loss to the opponent's ``k``-th (``score = k - 22``; it
    has ``(plies + 1) // 2``) ``2 * (k - (plies + 1) // 2)`` plies later; a draw fills the board.
    """
    if score > 0:
        return 2 * ((CELLS // 2 + 1 - score) - plies // 2) - 1
    if score < 0:
        return 2 * ((CELLS // 2 + 1 + score) - (plies + 1) // 2)
    return CELLS - plies


def _random_position(task: ConnectFour, rng: np.random.Generator, plies: int) -> np.ndarray | None:
    """The state after ``plies`` uniformly random moves, or None if the game ended on the way."""
    state = task.empty_state()
    for _ in range(plies):
        if task.is_terminal(state[None])[0]:
            return None
        state = task.play(state, [int(rng.choice(np.flatnonzero(task.legal_mask(state[None])[0])))])
    return None if task.is_terminal(state[None])[0] else state


def benchmark(plies: int, count: int = 50, seed: int = 0) -> dict[str, float]:
    """Seconds of `Connect4Solver.move_scores` (every move's exact score) over ``count`` positions of ``plies``
    uniformly random moves, each with an empty table: ``median`` / ``max`` / ``total`` CPU seconds of this
    process (fair on a shared machine), ``median_wall`` / ``max_wall``, and ``nodes_per_second``."""
    task, solver, rng = ConnectFour(), Connect4Solver(), np.random.default_rng([seed, plies])
    cpu, wall, nodes = [], [], 0
    while len(cpu) < count:
        state = _random_position(task, rng, plies)
        if state is None:
            continue
        solver.clear()
        start_cpu, start_wall = time.process_time(), time.perf_counter()
        solver.move_scores(state)
        cpu.append(time.process_time() - start_cpu)
        wall.append(time.perf_counter() - start_wall)
        nodes += solver.nodes
    return {
        "median": float(np.median(cpu)),
        "max": float(np.max(cpu)),
        "total": float(np.sum(cpu)),
        "median_wall": float(np.median(wall)),
        "max_wall": float(np.max(wall)),
        "nodes_per_second": nodes / max(float(np.sum(cpu)), 1e-9),
    }


def main(argv: list[str]) -> None:
    """Print `benchmark` at each number of plies of ``argv`` (default 10 and 14)."""
    task = ConnectFour()
    Connect4Solver().move_scores(task.play(task.empty_state(), [3, 3, 4, 4]))  # compile / load outside the timing
    for plies in [int(a) for a in argv] or [10, 14]:
        r = benchmark(plies)
        print(
            f"{plies} plies, 50 positions, CPU s per position: median {r['median']:.3f}, max {r['max']:.3f},"
            f" total {r['total']:.1f} (wall: median {r['median_wall']:.3f}, max {r['max_wall']:.3f});"
            f" {r['nodes_per_second'] / 1e6:.1f} M positions/s"
        )


if __name__ == "__main__":
    import sys

    main(sys.argv[1:])
