"""The sliding-tile puzzle (8-puzzle by default) with an optimal A* reference solver.

Shape parameter ``side`` in 2..4: a ``side x side`` board holding tiles
``1 .. n - 1`` and a blank, ``n = side * side``; solved is the tiles in
row-major order with the blank last.

State ``[n + 4]`` (int64):
- ``0 .. n-1``: the board, row-major; the tile number, 0 the blank;
- ``n``: the blank's position;
- ``n + 1``: the moves made;
- ``n + 2``: the previous action, -1 at the start of an episode;
- ``n + 3``: the board's Manhattan distance to solved, kept by `step` (one
  table lookup per move) so that "solved" is one comparison, not a board scan.

Actions ``[4]``: move the blank up, down, left or right (the neighbouring tile
slides into the hole). Legal when the target is on the board and the move does
not undo the previous one: an immediate undo never shortens a solution, so
forbidding it removes useless branches from search (the optimal solver respects
the same rule, so from a mid-episode state it finds the best path that does not
begin by undoing). Actions are not per token (pooled readout,
``actions_per_token = 0``).
Tokens ``[n]``: one per cell, tile number + 1 (blank 1, tiles 2 .. n); L = n,
V = n + 1.

An episode ends when the board is solved (outcome 1.0) or after ``max_steps``
moves (outcome 0.0 unless solved on the last move). ``max_steps`` is twice the
longest optimal solution a generated instance can have plus slack (see
`_PARAMS`): side 2 -> 20 (diameter 6), side 3 -> 80 (the 8-puzzle's diameter
is 31), side 4 -> 100 (optimal <= the 40-move scramble).

Difficulty is the scramble depth: an instance is a seeded random walk from the
solved board, without immediate undos, of ``round(lo + d * (hi - lo))`` moves,
re-drawn if it ends solved. Effort is the *optimal* solution length (A* with the
Manhattan distance, plus linear conflicts for side 4), which grows with the
walk length until the walk mixes. Ranges per side:
- side 2: 1 .. 6 moves. A walk without undos on 2 x 2 circles the board, and
  the 12 reachable boards form one cycle, so the optimal length is exactly the
  walk length (6 is the diameter). A toy: with undos forbidden, any play
  circles the same cycle and solves it within 12 moves.
- side 3: 2 .. 40 moves; mean optimal length 2 at d = 0, ~11 at 0.25, ~18 at
  0.5, ~21 at d = 1 (the mean over all boards is ~22; longer walks barely add).
  A* takes well under a millisecond at d = 0 and a few milliseconds (worst
  seen ~30 ms) at d = 1.
- side 4: 2 .. 40 moves, capped so that the pure-Python optimal solver stays
  around a second at worst: at d = 1 the optimal length averages ~31 (up to
  40), A* averages ~0.1 s and took at most ~0.8 s over 100 instances; walks of
  50 moves already took up to 3.6 s. (The 15-puzzle's diameter, 80, is far out
  of reach.)
"""

from __future__ import annotations

import heapq
from functools import cache, lru_cache

import numpy as np

from actors.tasks.base import IllegalActionError, Task, TaskSpec, check_difficulty

UP, DOWN, LEFT, RIGHT = 0, 1, 2, 3
ACTION_NAMES = ("up", "down", "left", "right")
INVERSE = np.array([DOWN, UP, RIGHT, LEFT], dtype=np.int64)
NUM_ACTIONS = 4
# side -> (shortest scramble, longest scramble, max_steps); see the module doc.
_PARAMS: dict[int, tuple[int, int, int]] = {2: (1, 6, 20), 3: (2, 40, 80), 4: (2, 40, 100)}


def _deltas(side: int) -> np.ndarray:
    """``int64 [4]``: how each action moves the blank's position index."""
    return np.array([-side, side, -1, 1], dtype=np.int64)


def _legal_table(side: int) -> np.ndarray:
    """``bool [n, 5, 4]``: the legal actions for a blank position and previous action + 1 (0: none)."""
    n = side * side
    table = np.zeros((n, NUM_ACTIONS + 1, NUM_ACTIONS), dtype=bool)
    for pos in range(n):
        row, col = divmod(pos, side)
        inside = [row > 0, row < side - 1, col > 0, col < side - 1]
        for last in range(-1, NUM_ACTIONS):
            for action in range(NUM_ACTIONS):
                table[pos, last + 1, action] = inside[action] and (last < 0 or action != INVERSE[last])
    return table


# ----- the optimal solver ---------------------------------------------------------
# Boards are packed into one Python int, 4 bits per cell (cell p in bits 4p..4p+3),
# so a move is two shifts and a hash is cheap.


def _pack(tiles: list[int]) -> int:
    return sum(int(t) << (4 * p) for p, t in enumerate(tiles))


@cache
def _solver_tables(side: int) -> tuple:
    """Per-side constants: goal, neighbours, Manhattan table, line cells."""
    n = side * side
    goal = _pack([*range(1, n), 0])
    # neighbours[pos] = [(action, position the blank moves to), ...]
    neighbours = []
    for pos in range(n):
        row, col = divmod(pos, side)
        inside = [row > 0, row < side - 1, col > 0, col < side - 1]
        step = [-side, side, -1, 1]
        neighbours.append(tuple((a, pos + step[a]) for a in range(NUM_ACTIONS) if inside[a]))
    # manhattan[tile][pos]: distance of tile from its goal cell (tile - 1) when standing at pos.
    manhattan = [[0] * n for _ in range(n)]
    for tile in range(1, n):
        gr, gc = divmod(tile - 1, side)
        for pos in range(n):
            r, c = divmod(pos, side)
            manhattan[tile][pos] = abs(r - gr) + abs(c - gc)
    rows = [tuple(r * side + c for c in range(side)) for r in range(side)]
    cols = [tuple(r * side + c for r in range(side)) for c in range(side)]
    return goal, tuple(neighbours), manhattan, rows, cols


def _line_conflict(side: int, tiles: tuple[int, ...], line: int, is_row: bool) -> int:
    """Linear-conflict penalty of one row or column: 2 per tile that must leave it.

    Tiles standing in their goal line but in the wrong relative order block each
    other; all but a longest correctly ordered subsequence must step out of the
    line and back, two moves each beyond their Manhattan distance (admissible,
    and a move changes it by at most the one moved tile: consistent).
    """
    goals = []
    for tile in tiles:
        if tile:
            gr, gc = divmod(tile - 1, side)
            if (gr if is_row else gc) == line:
                goals.append(gc if is_row else gr)
    longest = [1] * len(goals)  # longest increasing subsequence, O(k^2) for k <= 4
    for i in range(len(goals)):
        for j in range(i):
            if goals[j] < goals[i]:
                longest[i] = max(longest[i], longest[j] + 1)
    return 2 * (len(goals) - max(longest, default=0))


class _Solver:
    """Optimal solutions by A* over packed boards (consistent heuristic, so a closed set is exact)."""

    def __init__(self, side: int) -> None:
        self.side = side
        self.goal, self.neighbours, self.manhattan, self.rows, self.cols = _solver_tables(side)
        self.use_conflicts = side >= 4
        self._line_mask = (1 << (4 * side)) - 1
        self._conflicts: dict[int, int] = {}  # (line contents, line, row or column) -> penalty

    def line_conflict(self, board: int, line: int, is_row: bool) -> int:
        """Memoised `_line_conflict` of row or column ``line`` of the packed ``board``."""
        side = self.side
        if is_row:  # a row is a contiguous run of cells: one shift and mask
            bits = (board >> (4 * side * line)) & self._line_mask
        else:
            bits = 0
            for k, p in enumerate(self.cols[line]):
                bits |= ((board >> (4 * p)) & 15) << (4 * k)
        key = (bits * side + line) * 2 + is_row
        value = self._conflicts.get(key)
        if value is None:
            tiles = tuple((bits >> (4 * k)) & 15 for k in range(side))
            value = self._conflicts[key] = _line_conflict(side, tiles, line, is_row)
        return value

    def heuristic(self, board: int) -> int:
        n = self.side * self.side
        h = sum(self.manhattan[(board >> (4 * p)) & 15][p] for p in range(n))
        if self.use_conflicts:
            h += sum(self.line_conflict(board, i, True) + self.line_conflict(board, i, False) for i in range(self.side))
        return h

    def solve(self, board: int, blank: int, forbidden: int) -> tuple[list[int], int]:
        """(optimal actions, nodes expanded) from ``board``; the first action may not be ``forbidden``."""
        if board == self.goal:
            return [], 0
        side = self.side
        # Keys are packed boards. A start whose first move is restricted gets key -1, so
        # that reaching its board again later (then free to move any way) is a new node.
        start_key = -1 if forbidden >= 0 else board
        start_h = self.heuristic(board)
        best_g = {start_key: 0}
        parent: dict[int, tuple[int, int]] = {}
        frontier = [(start_h, start_h, start_key, board, blank, 0, forbidden)]
        expanded = 0
        while frontier:
            _, h, key, board, blank, g, forbidden = heapq.heappop(frontier)
            if g > best_g[key]:
                continue  # stale entry
            if board == self.goal:
                return self._path(parent, key, start_key), expanded
            expanded += 1
            for action, pos in self.neighbours[blank]:
                if action == forbidden:
                    continue
                tile = (board >> (4 * pos)) & 15
                child = board - (tile << (4 * pos)) + (tile << (4 * blank))
                g2 = g + 1
                if g2 >= best_g.get(child, g2 + 1):
                    continue
                h2 = h + self.manhattan[tile][blank] - self.manhattan[tile][pos]
                if self.use_conflicts:
                    # The tile changed row (vertical move) or column (horizontal): only those two lines changed.
                    is_row = action in (UP, DOWN)
                    a, b = (blank // side, pos // side) if is_row else (blank % side, pos % side)
                    h2 += (
                        self.line_conflict(child, a, is_row)
                        + self.line_conflict(child, b, is_row)
                        - self.line_conflict(board, a, is_row)
                        - self.line_conflict(board, b, is_row)
                    )
                best_g[child] = g2
                parent[child] = (key, action)
                # Ties on f go to the smaller h (deeper nodes), then the packed board: deterministic.
                heapq.heappush(frontier, (g2 + h2, h2, child, child, pos, g2, int(INVERSE[action])))
        raise RuntimeError("sliding: no solution found (unreachable board)")

    @staticmethod
    def _path(parent: dict[int, tuple[int, int]], key: int, start_key: int) -> list[int]:
        actions = []
        while key != start_key:
            key, action = parent[key]
            actions.append(action)
        return actions[::-1]


@lru_cache(maxsize=4096)
def _optimal(side: int, board: int, blank: int, forbidden: int) -> tuple[tuple[int, ...], int]:
    """Cached (optimal actions, nodes expanded); `solve` and `effort` often ask for the same state."""
    actions, expanded = _Solver(side).solve(board, blank, forbidden)
    return tuple(actions), expanded


class SlidingPuzzle(Task):
    family = "search"
    kind = "sliding"

    def __init__(self, side: int = 3) -> None:
        if isinstance(side, bool) or not isinstance(side, (int, np.integer)) or side not in _PARAMS:
            raise ValueError(f"sliding: side must be an integer in 2..4 (2x2 to 4x4 boards), got {side!r}")
        self.side = int(side)
        self.cells = self.side * self.side
        self.min_scramble, self.max_scramble, max_steps = _PARAMS[self.side]
        self.blank_index, self.steps_index, self.last_index = self.cells, self.cells + 1, self.cells + 2
        self.distance_index = self.cells + 3
        self._manhattan = np.array(_solver_tables(self.side)[2], dtype=np.int64)  # [n, n]: tile, position
        self.goal = np.array([*range(1, self.cells), 0], dtype=np.int64)
        self._deltas = _deltas(self.side)
        self._legal = _legal_table(self.side)
        self.spec = TaskSpec(
            family=self.family,
            kind=self.kind,
            obs_length=self.cells,
            vocab_size=self.cells + 1,
            num_actions=NUM_ACTIONS,
            num_players=1,
            state_size=self.cells + 4,
            max_steps=max_steps,
            actions_per_token=0,
        )

    # ----- instances ---------------------------------------------------------

    def scramble_length(self, difficulty: float) -> int:
        """The random-walk length used at ``difficulty``."""
        d = check_difficulty(difficulty)
        return round(self.min_scramble + d * (self.max_scramble - self.min_scramble))

    def solved_state(self) -> np.ndarray:
        """``[S]``: the solved board at the start of an episode."""
        state = np.zeros(self.spec.state_size, dtype=np.int64)
        state[: self.cells] = self.goal
        state[self.blank_index] = self.cells - 1
        state[self.last_index] = -1
        return state

    def generate(self, seed: int, difficulty: float) -> np.ndarray:
        length = self.scramble_length(difficulty)
        rng = np.random.default_rng([seed, 0x5117])
        neighbours = _solver_tables(self.side)[1]
        goal = self.goal.tolist()
        while True:
            tiles, blank, last = list(goal), self.cells - 1, -1
            for _ in range(length):
                moves = [(a, p) for a, p in neighbours[blank] if last < 0 or a != INVERSE[last]]
                last, pos = moves[rng.integers(len(moves))]
                tiles[blank], tiles[pos], blank = tiles[pos], 0, pos
            if tiles != goal:
                break
        state = self.solved_state()
        state[: self.cells] = tiles
        state[self.blank_index] = blank
        state[self.distance_index] = self._manhattan[state[: self.cells], np.arange(self.cells)].sum()
        return state  # moves 0, previous action -1: the first move is free, even undoing the scramble

    # ----- batched dynamics --------------------------------------------------

    def _solved(self, states: np.ndarray) -> np.ndarray:
        return states[:, self.distance_index] == 0

    def legal_mask(self, states: np.ndarray) -> np.ndarray:
        legal = self._legal[states[:, self.blank_index], states[:, self.last_index] + 1]  # [N, 4]
        return legal & ~self.is_terminal(states)[:, None]

    def step(self, states: np.ndarray, actions: np.ndarray) -> np.ndarray:
        actions = np.asarray(actions, dtype=np.int64)
        self.check_legal(states, actions)
        rows = np.arange(len(states))
        blank = states[:, self.blank_index]
        target = blank + self._deltas[actions]
        tiles = states[rows, target]
        nxt = states.copy()
        nxt[rows, blank] = tiles
        nxt[rows, target] = 0
        nxt[:, self.blank_index] = target
        nxt[:, self.steps_index] += 1
        nxt[:, self.last_index] = actions
        nxt[:, self.distance_index] += self._manhattan[tiles, blank] - self._manhattan[tiles, target]
        return nxt

    def is_terminal(self, states: np.ndarray) -> np.ndarray:
        return self._solved(states) | (states[:, self.steps_index] >= self.spec.max_steps)

    def outcome(self, states: np.ndarray) -> np.ndarray:
        return self._solved(states).astype(np.float32)

    def encode(self, states: np.ndarray) -> np.ndarray:
        return states[:, : self.cells] + 1

    # ----- exact answers ------------------------------------------------------

    def _optimal(self, state: np.ndarray) -> tuple[tuple[int, ...], int]:
        last = int(state[self.last_index])
        forbidden = int(INVERSE[last]) if last >= 0 else -1
        board = _pack(state[: self.cells].tolist())
        return _optimal(self.side, board, int(state[self.blank_index]), forbidden)

    def solve(self, state: np.ndarray) -> list[int]:
        """A shortest action sequence to the solved board (no immediate undos, as the rules require)."""
        if self.is_terminal(state[None])[0]:
            raise IllegalActionError("search/sliding: the episode is over; there is nothing to solve")
        actions = list(self._optimal(state)[0])
        if len(actions) > self.spec.max_steps - int(state[self.steps_index]):
            raise IllegalActionError("search/sliding: the optimal solution does not fit in the remaining moves")
        return actions

    def verify(self, state: np.ndarray, answer: list[int]) -> bool:
        """Whether ``answer`` is a legal action sequence that leaves the board solved (any length within the budget)."""
        try:
            actions = list(answer)
            if any(isinstance(a, bool) or not isinstance(a, (int, np.integer)) for a in actions):
                return False
            if len(actions) > self.spec.max_steps - int(state[self.steps_index]):
                return False
            final = self.play(state, [int(a) for a in actions])
            return bool(self._solved(final[None])[0])
        except (IllegalActionError, TypeError, ValueError, IndexError):
            return False

    def effort(self, state: np.ndarray) -> float:
        """The optimal solution length from ``state`` (0 when solved)."""
        if self._solved(state[None])[0]:
            return 0.0
        return float(len(self._optimal(state)[0]))

    # ----- text -------------------------------------------------------------

    def render(self, state: np.ndarray) -> str:
        width = len(str(self.cells - 1))
        rows = []
        for r in range(self.side):
            cells = state[r * self.side : (r + 1) * self.side]
            rows.append(" ".join("." * width if c == 0 else str(int(c)).rjust(width) for c in cells))
        status = "solved" if self._solved(state[None])[0] else "unsolved"
        return "\n".join(rows) + f"\n{status}, move {int(state[self.steps_index])} of {self.spec.max_steps}"

    def describe_action(self, state: np.ndarray, action: int) -> str:
        blank = int(state[self.blank_index])
        if not 0 <= action < NUM_ACTIONS:
            return f"action {action} (not a move)"
        if not self._legal[blank, 0, action]:
            return f"blank {ACTION_NAMES[action]} (off the board)"
        tile = int(state[blank + int(self._deltas[action])])
        return f"blank {ACTION_NAMES[action]} (tile {tile} slides into the hole)"
