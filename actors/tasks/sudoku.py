"""Sudoku: fill a size x size grid so every row, column and box holds each digit once.

Shape parameter ``size`` is 4 (2x2 boxes), 6 (2x3 boxes: 2 rows by 3 columns) or
9 (3x3 boxes). With ``C = size * size`` cells in row-major order:

State ``[2C + 1]``: the givens ``[0, C)`` (0 empty, 1..size a digit), the current
board ``[C, 2C)`` (the givens plus the digits placed so far), and the number of
placements made ``[2C]``.
Tokens ``[C]``: token ``c`` is cell ``c``; 1 empty, ``1 + d`` digit ``d`` (0 is
padding and unused), so ``V = size + 2``.
Actions ``[C * size]``: ``cell * size + (digit - 1)`` places ``digit`` in ``cell``
(``actions_per_token = size``). It is legal when the cell is empty and the digit
is not yet in the cell's row, column or box, so a board never holds a conflict.
The episode ends when the board is full (a valid solution: outcome 1.0) or at a
dead end, an empty cell with no legal digit (outcome 0.0). Placements that break
no constraint can still leave the unique solution and dead-end later: that is
what makes this a search problem.

Generation: a random full grid (randomized backtracking), then cells are removed
in a random order, each removal kept only if the solution stays unique, which
ends in a minimal puzzle with ``m`` blanks (as many as uniqueness allows along
that order). Every prefix of the kept removals is itself a unique puzzle, and
difficulty ``d`` picks the prefix with ``round(lo + d * (m - lo))`` blanks, where
``lo = C // 4``: few blanks at d=0, a minimal puzzle at d=1. The same seed gives
nested puzzles over the same grid at every difficulty.
Effort: the node count (digits tried) of the exact solver, a bitmask backtracking
search that always branches on the most constrained empty cell; it is at least
the number of blanks and grows with the backtracking the puzzle forces.
Answers (`Sudoku.solve`) place the solution's digits most constrained cell first,
so every naked single is taken before any cell that would need a guess.
"""

from __future__ import annotations

import operator
import random
from dataclasses import dataclass
from functools import reduce

import numpy as np

from actors.tasks.base import Task, TaskSpec, check_difficulty

BOX_SHAPES = {4: (2, 2), 6: (2, 3), 9: (3, 3)}  # size -> (box rows, box columns)
SEED_TAG = 0x5D0C  # second word of the generator's seed sequence, so kinds never share streams


@dataclass(frozen=True)
class _Geometry:
    """Index tables of one grid size, shared by the numpy hot path and the Python solver."""

    size: int
    box_rows: int
    box_cols: int
    row_of: np.ndarray  # int64 [C]: the row of each cell
    col_of: np.ndarray  # int64 [C]
    box_of: np.ndarray  # int64 [C]
    bit_of_digit: np.ndarray  # int16 [size + 1]: 0 for empty, 1 << (d - 1) for digit d
    candidates: np.ndarray  # bool [2**size, size]: the digits (d - 1) set in a bitmask

    @property
    def cells(self) -> int:
        return self.size * self.size

    @property
    def full_mask(self) -> int:
        return (1 << self.size) - 1


def _geometry(size: int) -> _Geometry:
    box_rows, box_cols = BOX_SHAPES[size]
    cells = np.arange(size * size)
    rows, cols = cells // size, cells % size
    boxes = (rows // box_rows) * (size // box_cols) + cols // box_cols
    bit_of_digit = np.concatenate([[0], 1 << np.arange(size)]).astype(np.int16)
    masks = np.arange(1 << size)
    candidates = (masks[:, None] >> np.arange(size)) & 1 == 1
    return _Geometry(size, box_rows, box_cols, rows, cols, boxes, bit_of_digit, candidates)


class _Solver:
    """Exact bitmask backtracking over one board, branching on the most constrained empty cell.

    Pure Python on lists of ints: one solve is a few thousand cheap operations, far
    less than numpy's per-call overhead would cost at this granularity.
    """

    def __init__(self, geo: _Geometry) -> None:
        self.n = geo.size
        self.full = geo.full_mask
        self.row_of = geo.row_of.tolist()
        self.col_of = geo.col_of.tolist()
        self.box_of = geo.box_of.tolist()
        self.popcount = [bin(m).count("1") for m in range(1 << self.n)]
        self.digit_of_bit = {1 << i: i + 1 for i in range(self.n)}
        cells = range(geo.cells)
        self.peers = [  # the other cells of each cell's row, column and box
            [
                other
                for other in cells
                if other != cell
                and (
                    self.row_of[other] == self.row_of[cell]
                    or self.col_of[other] == self.col_of[cell]
                    or self.box_of[other] == self.box_of[cell]
                )
            ]
            for cell in cells
        ]

    def search(
        self,
        board: list[int],
        limit: int = 1,
        exclude: tuple[int, int] | None = None,
        rng: random.Random | None = None,
    ) -> tuple[list[list[int]], int]:
        """Up to ``limit`` solutions of ``board`` (C cells, 0 empty) and the nodes searched.

        ``exclude = (cell, digit)`` forbids that digit in that cell (to ask whether a
        second solution exists); ``rng`` tries digits in random order (for random grids).
        A board whose filled cells already conflict has no solution.
        """
        n, full = self.n, self.full
        row_of, col_of, box_of, popcount = self.row_of, self.col_of, self.box_of, self.popcount
        board = list(board)
        rows, cols, boxes = [0] * n, [0] * n, [0] * n
        empties = []
        for cell, digit in enumerate(board):
            if digit == 0:
                empties.append(cell)
                continue
            bit = 1 << (digit - 1)
            r, c, b = row_of[cell], col_of[cell], box_of[cell]
            if (rows[r] | cols[c] | boxes[b]) & bit:
                return [], 0
            rows[r] |= bit
            cols[c] |= bit
            boxes[b] |= bit
        ex_cell, ex_bit = (exclude[0], 1 << (exclude[1] - 1)) if exclude else (-1, 0)
        solutions: list[list[int]] = []
        nodes = 0
        depth_end = len(empties)

        def recurse(k: int) -> bool:
            """Fill ``empties[k:]``; True once ``limit`` solutions are found."""
            nonlocal nodes
            if k == depth_end:
                solutions.append(list(board))
                return len(solutions) >= limit
            best_j, best_count, best_mask = -1, n + 1, 0
            for j in range(k, depth_end):
                cell = empties[j]
                mask = full & ~(rows[row_of[cell]] | cols[col_of[cell]] | boxes[box_of[cell]])
                if cell == ex_cell:
                    mask &= ~ex_bit
                count = popcount[mask]
                if count < best_count:
                    best_j, best_count, best_mask = j, count, mask
                    if count <= 1:
                        break
            if best_count == 0:
                return False
            empties[k], empties[best_j] = empties[best_j], empties[k]
            cell = empties[k]
            r, c, b = row_of[cell], col_of[cell], box_of[cell]
            bits = [1 << i for i in range(n) if best_mask >> i & 1]
            if rng is not None:
                rng.shuffle(bits)
            for bit in bits:
                nodes += 1
                rows[r] |= bit
                cols[c] |= bit
                boxes[b] |= bit
                board[cell] = self.digit_of_bit[bit]
                done = recurse(k + 1)
                rows[r] ^= bit
                cols[c] ^= bit
                boxes[b] ^= bit
                board[cell] = 0
                if done:
                    return True
            return False

        recurse(0)
        return solutions, nodes

    def most_constrained_order(self, board: list[int], solution: list[int]) -> list[int]:
        """The empty cells of ``board`` (C cells, 0 empty) in most-constrained-first order, filled from ``solution``.

        Each cell, when its turn comes, has the fewest candidates (digits its row, column
        and box leave open, as `Sudoku.legal_mask` counts them) of the cells still empty,
        the earlier cells holding their ``solution`` digits; ties go to the lowest cell
        index. ``solution`` (C cells) must complete ``board``, so every cell keeps at least
        its own digit as a candidate.
        """
        full, popcount, peers = self.full, self.popcount, self.peers
        rows, cols, boxes = [0] * self.n, [0] * self.n, [0] * self.n
        for cell, digit in enumerate(board):
            if digit:
                bit = 1 << (digit - 1)
                rows[self.row_of[cell]] |= bit
                cols[self.col_of[cell]] |= bit
                boxes[self.box_of[cell]] |= bit
        empties = [cell for cell, digit in enumerate(board) if digit == 0]  # ascending: min() keeps the first
        candidates = [0] * len(board)
        for cell in empties:
            candidates[cell] = full & ~(rows[self.row_of[cell]] | cols[self.col_of[cell]] | boxes[self.box_of[cell]])
        order = []
        while empties:
            counts = [popcount[candidates[cell]] for cell in empties]
            cell = empties.pop(counts.index(min(counts)))
            order.append(cell)
            cleared = ~(1 << (solution[cell] - 1))
            for peer in peers[cell]:  # filled peers' entries change too, but are never read again
                candidates[peer] &= cleared
        return order

    def only_candidate(self, board: list[int], cell: int, digit: int) -> bool:
        """Whether ``digit`` is the only digit the other filled cells allow in ``cell`` (a naked single)."""
        used = 0
        r, c, b = self.row_of[cell], self.col_of[cell], self.box_of[cell]
        for other, d in enumerate(board):
            if d and other != cell and (self.row_of[other] == r or self.col_of[other] == c or self.box_of[other] == b):
                used |= 1 << (d - 1)
        return self.full & ~used == 1 << (digit - 1)


class Sudoku(Task):
    family = "reasoning"
    kind = "sudoku"

    def __init__(self, size: int = 4) -> None:
        if size not in BOX_SHAPES:
            raise ValueError(f"reasoning/sudoku: size must be one of {sorted(BOX_SHAPES)}, got {size!r}")
        self.size = size
        self.geo = _geometry(size)
        self.cells = size * size
        self.solver = _Solver(self.geo)
        self.min_blanks = self.cells // 4
        self.spec = TaskSpec(
            family=self.family,
            kind=self.kind,
            obs_length=self.cells,
            vocab_size=size + 2,
            num_actions=self.cells * size,
            num_players=1,
            state_size=2 * self.cells + 1,
            max_steps=self.cells,
            actions_per_token=size,
        )

    # ----- state views ---------------------------------------------------------

    def _boards(self, states: np.ndarray) -> np.ndarray:
        """``states [N, S]`` -> the current boards ``[N, C]`` (a view)."""
        return states[:, self.cells : 2 * self.cells]

    def _free(self, states: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``states [N, S]`` -> (empty ``bool [N, C]``, legal digits of each empty cell as a bitmask ``int16 [N, C]``).

        Units are OR-ed slice by slice over the (at most 9) positions within a unit:
        numpy's reductions over such short axes cost several times more.
        """
        geo, n, br, bc = self.geo, self.size, self.geo.box_rows, self.geo.box_cols
        boards = self._boards(states)
        count = len(boards)
        bits = geo.bit_of_digit.take(boards)  # [N, C]
        grid = bits.reshape(count, n, n)
        rows = reduce(operator.or_, [grid[:, :, j] for j in range(n)])  # [N, size]
        cols = reduce(operator.or_, [grid[:, i, :] for i in range(n)])
        # [N, bands, box row, stacks, box column]: a box is a (band, stack) pair
        blocks = bits.reshape(count, n // br, br, n // bc, bc)
        boxes = reduce(operator.or_, [blocks[:, :, i, :, j] for i in range(br) for j in range(bc)])
        used = (rows[:, :, None] | cols[:, None, :]).reshape(count, n // br, br, n // bc, bc)
        used = (used | boxes[:, :, None, :, None]).reshape(count, self.cells)
        empty = boards == 0
        return empty, np.where(empty, ~used & geo.full_mask, 0).astype(np.int16)

    def _full_dead(self, states: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``states [N, S]`` -> (full ``bool [N]``, dead end: an empty cell without a legal digit ``bool [N]``)."""
        empty, free = self._free(states)
        return ~empty.any(axis=1), (empty & (free == 0)).any(axis=1)

    def _terminal(self, states: np.ndarray, full: np.ndarray, dead: np.ndarray) -> np.ndarray:
        return full | dead | (states[:, 2 * self.cells] >= self.spec.max_steps)

    # ----- instances -------------------------------------------------------------

    def generate(self, seed: int, difficulty: float) -> np.ndarray:
        d = check_difficulty(difficulty)
        rng = np.random.default_rng([seed, SEED_TAG])
        solution = self._random_grid(random.Random(int(rng.integers(2**63))))
        removals = self._unique_removals(solution, rng.permutation(self.cells).tolist())
        blanks = round(self.min_blanks + d * max(len(removals) - self.min_blanks, 0))
        givens = np.array(solution, dtype=np.int64)
        givens[removals[:blanks]] = 0
        return np.concatenate([givens, givens, [0]]).astype(np.int64)

    def _random_grid(self, rng: random.Random) -> list[int]:
        """A random full valid grid ``[C]``: the solver on an empty board, trying digits in random order."""
        solutions, _ = self.solver.search([0] * self.cells, limit=1, rng=rng)
        return solutions[0]

    def _unique_removals(self, solution: list[int], order: list[int]) -> list[int]:
        """The cells of ``order`` whose removal (after the earlier kept ones) keeps the solution unique.

        A removal is safe when no solution puts another digit in the cell; a naked
        single settles that without search. A cell rejected once stays unremovable
        (fewer givens never restore uniqueness), so one pass ends in a minimal puzzle.
        """
        board = list(solution)
        kept = []
        for cell in order:
            digit = board[cell]
            board[cell] = 0
            if self.solver.only_candidate(board, cell, digit):
                kept.append(cell)
                continue
            other, _ = self.solver.search(board, limit=1, exclude=(cell, digit))
            if other:
                board[cell] = digit
            else:
                kept.append(cell)
        return kept

    # ----- batched dynamics ----------------------------------------------------

    def legal_mask(self, states: np.ndarray) -> np.ndarray:
        empty, free = self._free(states)
        terminal = self._terminal(states, ~empty.any(axis=1), (empty & (free == 0)).any(axis=1))
        legal = self.geo.candidates.take(np.where(terminal[:, None], 0, free), axis=0)  # [N, C, size]
        return legal.reshape(len(states), self.spec.num_actions)

    def step(self, states: np.ndarray, actions: np.ndarray) -> np.ndarray:
        actions = np.asarray(actions)
        if len(states) == 0:  # np.array([]) is float64, which cannot index; an empty batch has nothing to check
            return states.copy()
        self.check_legal(states, actions)
        nxt = states.copy()
        cells, digits = actions // self.size, actions % self.size + 1
        nxt[np.arange(len(states)), self.cells + cells] = digits
        nxt[:, 2 * self.cells] += 1
        return nxt

    def is_terminal(self, states: np.ndarray) -> np.ndarray:
        return self._terminal(states, *self._full_dead(states))

    def outcome(self, states: np.ndarray) -> np.ndarray:
        # Legal placements never conflict, so a full board is a valid solution.
        return (self._boards(states) != 0).all(axis=1).astype(np.float32)

    def encode(self, states: np.ndarray) -> np.ndarray:
        return self._boards(states) + 1

    # ----- exact answers ---------------------------------------------------------

    def _solution(self, state: np.ndarray) -> tuple[list[int] | None, int]:
        """The first solution of the current board (None if there is none) and the nodes searched."""
        board = [int(v) for v in state[self.cells : 2 * self.cells]]
        solutions, nodes = self.solver.search(board, limit=1)
        return (solutions[0] if solutions else None), nodes

    def solve(self, state: np.ndarray) -> list[int]:
        """Placements filling every empty cell of the current board, the most constrained cell first.

        Each placement is, on the board the earlier ones leave, an empty cell with the
        fewest legal digits (the lowest cell index among equals) and its digit in the
        solution (the solver's first, if the board has several). So whenever some cell has
        a single legal digit (a naked single, deducible from the board alone), the next
        placement is one: demonstrations made of this answer teach deducible moves, not
        "fill the first empty cell". Raises ValueError when the board (e.g. after a wrong
        placement) has no solution.
        """
        solution, _ = self._solution(state)
        if solution is None:
            raise ValueError("reasoning/sudoku: the current board has no solution")
        board = [int(v) for v in state[self.cells : 2 * self.cells]]
        return [cell * self.size + solution[cell] - 1 for cell in self.solver.most_constrained_order(board, solution)]

    def verify(self, state: np.ndarray, answer: list[int]) -> bool:
        try:
            if not all(isinstance(a, (int, np.integer)) and not isinstance(a, bool) for a in answer):
                return False
            final = self.play(np.asarray(state, dtype=np.int64), [int(a) for a in answer])
            return bool(self.outcome(final[None])[0] == 1.0)
        except (ValueError, TypeError, IndexError, OverflowError):
            return False

    def effort(self, state: np.ndarray) -> float:
        """Nodes (digits tried) of the exact MRV backtracking solver on the current board."""
        _, nodes = self._solution(state)
        return float(nodes)

    def count_solutions(self, state: np.ndarray, limit: int = 2) -> int:
        """Number of solutions of the current board, counted up to ``limit``."""
        board = [int(v) for v in state[self.cells : 2 * self.cells]]
        solutions, _ = self.solver.search(board, limit=limit)
        return len(solutions)

    def render(self, state: np.ndarray) -> str:
        n, box_rows, box_cols = self.size, self.geo.box_rows, self.geo.box_cols
        board = state[self.cells : 2 * self.cells].reshape(n, n)
        lines = []
        for r in range(n):
            if r and r % box_rows == 0:
                lines.append("-+-".join("-" * (2 * box_cols - 1) for _ in range(n // box_cols)))
            marks = [str(int(v)) if v else "." for v in board[r]]
            lines.append(" | ".join(" ".join(marks[c : c + box_cols]) for c in range(0, n, box_cols)))
        return "\n".join(lines)

    def describe_action(self, state: np.ndarray, action: int) -> str:
        cell, digit = divmod(int(action), self.size)
        return f"r{cell // self.size + 1}c{cell % self.size + 1} = {digit + 1}"
