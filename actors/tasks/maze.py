"""Maze: walk from the start to the goal of a grid maze one move at a time, never revisiting a cell.

The HRM/TRM papers' Maze task at small sizes. With ``size`` = n there are
``C = n * n`` cells, numbered row-major (``cell = row * n + col``).

State ``[2C + 4]`` (int64):
- ``[0, C)``: the grid, 1 open, 0 wall;
- ``[C, 2C)``: the visited bitmap, 1 for every cell on the current path (the
  start and the current position included);
- ``2C``: the start cell, ``2C + 1``: the goal cell, ``2C + 2``: the current
  cell, ``2C + 3``: the number of moves made.

Actions ``[4]``: 0 up, 1 down, 2 left, 3 right; pooled readout
(``actions_per_token = 0``). A move is legal if it stays in the grid and enters
an open cell not yet visited. Forbidding revisits keeps episodes finite and
makes dead ends real: a position with no legal move is terminal with outcome
0.0, reaching the goal is terminal with outcome 1.0. The budget
``max_steps = C`` never binds before those (a path of distinct cells has fewer
than C moves); it is the contract's bound, checked anyway.

Tokens ``[C]``, one per cell, row-major: 1 wall, 2 open, 3 visited (the path so
far, the start included), 4 current position, 5 goal; V = 6 (0 is padding and
unused here).

Generation: a perfect maze (a tree) by randomized depth-first search on the
lattice of cells with even row and column, opening the wall cell between
lattice neighbours; on even sizes the last row and column, outside the lattice,
get random one-cell stubs. Then ``lattice cells // 10`` walls between lattice
neighbours are knocked out to make loops, so some wrong turns can be recovered
from and search has real choices. The maze depends only on the seed.

Difficulty d sets the shortest-path length between start and goal:
``1 + round(d * (D - 1))`` where D is the maze's diameter estimated by a double
BFS sweep (exact on trees, a lower bound with loops, and always attained from
the sweep's far end, so the target always exists). Start and goal are placed at
exactly that BFS distance, so `effort` (the BFS shortest-path length from the
current position) of a fresh instance equals the target and grows with d.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence

import numpy as np

from actors.tasks.base import IllegalActionError, Task, TaskSpec, check_difficulty

MIN_SIZE, MAX_SIZE = 5, 30
ACTION_NAMES = ("up", "down", "left", "right")
DELTAS = ((-1, 0), (1, 0), (0, -1), (0, 1))  # (drow, dcol) per action
WALL_TOKEN, OPEN_TOKEN, VISITED_TOKEN, CURRENT_TOKEN, GOAL_TOKEN = 1, 2, 3, 4, 5
LOOPS_PER_LATTICE_CELL = 0.1
RANDOM_SOURCE_TRIES = 16
SEED_SALT = 0x4D415A45  # "MAZE": keeps this kind's random stream apart from other kinds' for the same seed


def _neighbour_table(size: int) -> tuple[np.ndarray, np.ndarray]:
    """``(cells [C, 4] int64, inside [C, 4] bool)``: each cell's neighbour per action.

    A move off the grid maps to the cell itself (always visited, so never open
    to enter) and ``inside`` is False there; lookups stay in range without masking.
    """
    rows, cols = np.divmod(np.arange(size * size), size)
    cells = np.empty((size * size, 4), dtype=np.int64)
    inside = np.empty((size * size, 4), dtype=bool)
    for action, (dr, dc) in enumerate(DELTAS):
        r, c = rows + dr, cols + dc
        ok = (r >= 0) & (r < size) & (c >= 0) & (c < size)
        inside[:, action] = ok
        cells[:, action] = np.where(ok, r * size + c, rows * size + cols)
    return cells, inside


def _carve(size: int, rng: np.random.Generator) -> np.ndarray:
    """``bool [size, size]``: open cells of a randomized-DFS maze with a few loops knocked in."""
    grid = np.zeros((size, size), dtype=bool)
    lattice = (size + 1) // 2  # lattice cells per side, at rows/cols 0, 2, ..., 2 * (lattice - 1)
    seen = np.zeros((lattice, lattice), dtype=bool)
    start = (int(rng.integers(lattice)), int(rng.integers(lattice)))
    seen[start] = True
    grid[2 * start[0], 2 * start[1]] = True
    stack = [start]
    while stack:
        r, c = stack[-1]
        fresh = [
            (r + dr, c + dc)
            for dr, dc in DELTAS
            if 0 <= r + dr < lattice and 0 <= c + dc < lattice and not seen[r + dr, c + dc]
        ]
        if not fresh:
            stack.pop()
            continue
        nr, nc = fresh[int(rng.integers(len(fresh)))]
        seen[nr, nc] = True
        grid[2 * nr, 2 * nc] = True
        grid[r + nr, c + nc] = True  # the wall cell between (2r, 2c) and (2nr, 2nc)
        stack.append((nr, nc))
    if size % 2 == 0:
        # The last row and column lie outside the lattice; stubs off lattice cells keep them in use.
        edge = np.arange(0, size - 1, 2)
        grid[size - 1, edge] = rng.random(len(edge)) < 0.5
        grid[edge, size - 1] = rng.random(len(edge)) < 0.5
    # Wall cells between two lattice cells: one coordinate even, the other odd, inside the lattice span.
    span = 2 * lattice - 1
    rr, cc = np.nonzero(~grid[:span, :span] & (np.add.outer(np.arange(span), np.arange(span)) % 2 == 1))
    loops = min(int(lattice * lattice * LOOPS_PER_LATTICE_CELL), len(rr))
    if loops:
        pick = rng.choice(len(rr), size=loops, replace=False)
        grid[rr[pick], cc[pick]] = True
    return grid


class Maze(Task):
    family = "reasoning"
    kind = "maze"

    def __init__(self, size: int = 8) -> None:
        if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or not MIN_SIZE <= size <= MAX_SIZE:
            raise ValueError(f"reasoning/maze: size must be an integer in [{MIN_SIZE}, {MAX_SIZE}], got {size!r}")
        self.size = int(size)
        cells = self.size * self.size
        self.cells = cells
        self.start_index, self.goal_index, self.pos_index, self.steps_index = (
            2 * cells,
            2 * cells + 1,
            2 * cells + 2,
            2 * cells + 3,
        )
        self._nbr, self._inside = _neighbour_table(self.size)
        # Plain lists for the per-instance BFS, which is Python-level anyway.
        self._adjacency = [
            [(a, int(n)) for a, (n, ok) in enumerate(zip(row, ok_row, strict=True)) if ok]
            for row, ok_row in zip(self._nbr, self._inside, strict=True)
        ]
        self.spec = TaskSpec(
            family=self.family,
            kind=self.kind,
            obs_length=cells,
            vocab_size=6,
            num_actions=4,
            num_players=1,
            state_size=2 * cells + 4,
            max_steps=cells,
            actions_per_token=0,
        )

    # ----- instances -------------------------------------------------------

    def generate(self, seed: int, difficulty: float) -> np.ndarray:
        d = check_difficulty(difficulty)
        rng = np.random.default_rng([seed, SEED_SALT])
        grid = _carve(self.size, rng).reshape(-1)
        open_cells = np.flatnonzero(grid)
        # Double sweep: the far end u of a BFS from any cell has the largest eccentricity we know of.
        far = self._bfs(grid, int(open_cells[0]))[0]
        u = int(np.argmax(far))
        from_u = self._bfs(grid, u)[0]
        diameter = int(from_u.max())
        target = 1 + round(d * (diameter - 1))
        start, dist = u, from_u
        for source in rng.permutation(open_cells)[:RANDOM_SOURCE_TRIES]:
            candidate = self._bfs(grid, int(source))[0]
            if candidate.max() >= target:
                start, dist = int(source), candidate
                break
        goal = int(rng.choice(np.flatnonzero(dist == target)))
        if rng.random() < 0.5:  # distances are symmetric; swap so the source is not always the start
            start, goal = goal, start
        return self.state_from_grid(grid.reshape(self.size, self.size), start, goal)

    def state_from_grid(self, grid: np.ndarray, start: int, goal: int) -> np.ndarray:
        """The initial state ``[S]`` of the maze ``grid [size, size]`` (truthy = open) from ``start`` to ``goal``.

        ValueError if the shape is wrong or start/goal are not distinct open cells
        (a path between them is not required: tests build dead ends this way).
        """
        grid = np.asarray(grid).astype(bool)
        if grid.shape != (self.size, self.size):
            raise ValueError(f"reasoning/maze: grid must be {self.size}x{self.size}, got shape {grid.shape}")
        flat = grid.reshape(-1)
        for name, cell in (("start", start), ("goal", goal)):
            if not 0 <= cell < self.cells or not flat[cell]:
                raise ValueError(f"reasoning/maze: {name} {cell} is not an open cell")
        if start == goal:
            raise ValueError("reasoning/maze: start and goal must differ")
        state = np.zeros(self.spec.state_size, dtype=np.int64)
        state[: self.cells] = flat
        state[self.cells + start] = 1
        state[self.start_index], state[self.goal_index], state[self.pos_index] = start, goal, start
        return state

    # ----- batched dynamics ----------------------------------------------------

    def _moves(self, states: np.ndarray) -> np.ndarray:
        """``states [N, S]`` -> ``bool [N, 4]``: moves into open unvisited cells, ignoring goal and budget."""
        pos = states[:, self.pos_index]
        targets = self._nbr[pos]  # [N, 4]
        is_open = np.take_along_axis(states, targets, axis=1) == 1
        unvisited = np.take_along_axis(states, targets + self.cells, axis=1) == 0
        return self._inside[pos] & is_open & unvisited

    def _stopped(self, states: np.ndarray) -> np.ndarray:
        """``bool [N]``: at the goal or out of budget (terminal whatever the moves)."""
        return (states[:, self.pos_index] == states[:, self.goal_index]) | (
            states[:, self.steps_index] >= self.spec.max_steps
        )

    def legal_mask(self, states: np.ndarray) -> np.ndarray:
        return self._moves(states) & ~self._stopped(states)[:, None]

    def step(self, states: np.ndarray, actions: np.ndarray) -> np.ndarray:
        actions = np.asarray(actions)
        self.check_legal(states, actions)
        rows = np.arange(len(states))
        target = self._nbr[states[:, self.pos_index], actions]
        nxt = states.copy()
        nxt[rows, self.cells + target] = 1
        nxt[:, self.pos_index] = target
        nxt[:, self.steps_index] += 1
        return nxt

    def is_terminal(self, states: np.ndarray) -> np.ndarray:
        return self._stopped(states) | ~self._moves(states).any(axis=1)

    def outcome(self, states: np.ndarray) -> np.ndarray:
        return (states[:, self.pos_index] == states[:, self.goal_index]).astype(np.float32)

    def encode(self, states: np.ndarray) -> np.ndarray:
        c = self.cells
        # wall 0+0 -> 1, open 1+0 -> 2, visited 1+1 -> 3 (visited cells are always open).
        tokens = 1 + states[:, :c] + states[:, c : 2 * c]
        rows = np.arange(len(states))
        tokens[rows, states[:, self.goal_index]] = GOAL_TOKEN
        tokens[rows, states[:, self.pos_index]] = CURRENT_TOKEN  # written last: wins over the goal when on it
        return tokens

    # ----- exact answers ---------------------------------------------------------

    def _bfs(self, passable: np.ndarray, source: int) -> tuple[np.ndarray, np.ndarray]:
        """BFS over ``passable [C]`` cells from ``source`` (entered regardless of ``passable``).

        Returns ``(dist [C], move [C])``: moves from ``source`` (-1 unreachable) and
        the action that last entered each cell on a shortest path (-1 at the source).
        """
        dist = np.full(self.cells, -1, dtype=np.int64)
        move = np.full(self.cells, -1, dtype=np.int64)
        dist_list, move_list, passable_list = dist.tolist(), move.tolist(), passable.tolist()
        dist_list[source] = 0
        queue = deque([source])
        while queue:
            cell = queue.popleft()
            for action, nb in self._adjacency[cell]:
                if passable_list[nb] and dist_list[nb] < 0:
                    dist_list[nb] = dist_list[cell] + 1
                    move_list[nb] = action
                    queue.append(nb)
        return np.array(dist_list, dtype=np.int64), np.array(move_list, dtype=np.int64)

    def _shortest(self, state: np.ndarray) -> list[int] | None:
        """A shortest list of moves from the current cell to the goal through unvisited open cells; None if none."""
        c = self.cells
        pos, goal = int(state[self.pos_index]), int(state[self.goal_index])
        passable = (state[:c] == 1) & (state[c : 2 * c] == 0)
        dist, move = self._bfs(passable, pos)
        if dist[goal] < 0:
            return None
        path, cell = [], goal
        while cell != pos:
            action = int(move[cell])
            path.append(action)
            dr, dc = DELTAS[action]
            cell -= dr * self.size + dc
        return path[::-1]

    def solve(self, state: np.ndarray) -> list[int]:
        """A shortest path's moves to the goal from the current cell, avoiding visited cells.

        ``[]`` at the goal; ValueError if the goal cannot be reached any more.
        """
        path = self._shortest(state)
        if path is None:
            raise ValueError("reasoning/maze: the goal is unreachable from the current position without revisiting")
        return path

    def verify(self, state: np.ndarray, answer: list[int]) -> bool:
        if isinstance(answer, np.ndarray) and answer.ndim == 1 and np.issubdtype(answer.dtype, np.integer):
            answer = answer.tolist()
        if not isinstance(answer, Sequence) or isinstance(answer, (str, bytes)):
            return False
        if not all(isinstance(a, (int, np.integer)) and not isinstance(a, bool) for a in answer):
            return False
        if len(answer) > self.spec.max_steps:
            return False
        try:
            final = self.play(state, [int(a) for a in answer])
        except IllegalActionError:
            return False
        return bool(self.outcome(final[None])[0] == 1.0)

    def effort(self, state: np.ndarray) -> float:
        """Moves on a shortest path from the current cell to the goal avoiding visited cells; inf if none."""
        path = self._shortest(state)
        return float("inf") if path is None else float(len(path))

    def render(self, state: np.ndarray) -> str:
        c, n = self.cells, self.size
        chars = np.where(state[:c] == 1, ".", "#").astype("<U1")
        chars[state[c : 2 * c] == 1] = "*"
        chars[int(state[self.start_index])] = "S"
        chars[int(state[self.goal_index])] = "G"
        chars[int(state[self.pos_index])] = "@"
        rows = ["".join(chars[r * n : (r + 1) * n]) for r in range(n)]
        return "\n".join(rows) + f"\nstep {int(state[self.steps_index])}/{self.spec.max_steps}"

    def describe_action(self, state: np.ndarray, action: int) -> str:
        return ACTION_NAMES[action] if 0 <= action < len(ACTION_NAMES) else str(int(action))
