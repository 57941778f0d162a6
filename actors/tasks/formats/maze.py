"""Grid mazes on one line: the characters `Maze.render` draws, rows joined by ``/``, after the size.

Instance line: ``NxN:`` (the maze's size), then the rows from the top, joined by
``/``, one character per cell: ``#`` wall, ``.`` open, ``S`` the start (``@``,
which `Maze.render` draws at the current position, is read as the start too), ``G``
the goal (either case for the letters). Optionally, after a ``;``, the known
shortest path length in moves (``known["optimal_length"]``). The size comes
first because a line starting with ``#`` is a comment in instance files, and
mazes often start with a wall::

    5x5: S.#../.##.#/...../.#.#./...#G ; 8

(a 5x5 maze, start at the top-left, goal at the bottom-right). Spaces around
the ``:`` and ``;`` are allowed; none inside the rows.

Errors (`InstanceError`): no ``NxN:`` size, or a size that is not square; a row
count or row length other than N; a character other than ``# . S @ G``; not
exactly one start and one goal; a known length that is not an integer >= 1.
A well-formed maze of another size than the task's ``size`` is
`UnsupportedInstance`. A maze whose goal cannot be reached is accepted (solving
reports it).

Instance text (`render`): the same form, the start as ``S``, e.g. the line above
without its ``; 8``. Answer (`answer`): the walker's moves as letters ``U D L
R`` (up, down, left, right, `maze.py`'s actions 0-3) and their count::

    DDRRRRDD (8 moves)

`compare` (when the line gave a length): ``optimal_length``, ``length`` (the
answer's move count) and ``is_optimal`` (they are equal).
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np

from actors.tasks.formats.base import (
    InstanceError,
    ParsedInstance,
    UnsupportedInstance,
    length_comparison,
    moves_text,
    parse_int,
)
from actors.tasks.maze import Maze

DESCRIPTION = (
    "NxN: then the rows joined by / (# wall, . open, S start, G goal), optionally followed by ; and the "
    "known shortest length, e.g. 5x5: S.#../.##.#/...../.#.#./...#G ; 8"
)
MOVE_LETTERS = "UDLR"  # maze.py's actions 0-3: up, down, left, right
_HEAD = re.compile(r"\s*(\d+)\s*[xX]\s*(\d+)\s*:\s*(.*)")
_CELLS = {"#": "wall", ".": "open", "s": "start", "@": "start", "g": "goal"}


def _grid(rows: list[str], size: int) -> tuple[np.ndarray, int, int]:
    """Rows of cell characters -> (open ``bool [size, size]``, start cell, goal cell); InstanceError if malformed."""
    if len(rows) != size:
        raise InstanceError(f"a {size}x{size} maze needs {size} rows joined by /, got {len(rows)}")
    grid = np.zeros((size, size), dtype=bool)
    marks: dict[str, list[int]] = {"start": [], "goal": []}
    for r, row in enumerate(rows):
        if len(row) != size:
            raise InstanceError(f"row {r + 1} has {len(row)} cells, expected {size}")
        for c, char in enumerate(row):
            kind = _CELLS.get(char.lower())
            if kind is None:
                raise InstanceError(f"unexpected character {char!r} in row {r + 1} (expected # . S G)")
            grid[r, c] = kind != "wall"
            if kind in marks:
                marks[kind].append(r * size + c)
    for kind, cells in marks.items():
        if len(cells) != 1:
            raise InstanceError(f"expected one {kind} cell, got {len(cells)}")
    return grid, marks["start"][0], marks["goal"][0]


def parse(task: Maze, text: str) -> ParsedInstance:
    """One line (``NxN: rows/...``, optionally ``; length``) -> the initial state, with ``known["optimal_length"]``."""
    body, separator, rest = text.partition(";")
    known = {}
    if separator:
        length = parse_int(rest.strip(), "the shortest length after ;")
        if length < 1:
            raise InstanceError(f"the shortest length must be >= 1, got {length}")
        known["optimal_length"] = length
    head = _HEAD.fullmatch(body.rstrip())
    if head is None:
        raise InstanceError("expected the size NxN: and then the rows joined by /, e.g. 5x5: S.#../.##.#/...")
    rows_count, cols_count = int(head.group(1)), int(head.group(2))
    if rows_count != cols_count:
        raise InstanceError(f"mazes are square, got {rows_count}x{cols_count}")
    grid, start, goal = _grid(head.group(3).split("/"), rows_count)
    if rows_count != task.size:
        trained = f"{task.size}x{task.size}"
        raise UnsupportedInstance(f"a {rows_count}x{rows_count} maze; this model was trained on {trained}")
    return ParsedInstance(task.state_from_grid(grid, start, goal), known)


def render(task: Maze, state: np.ndarray) -> str:
    """``NxN:`` and the rows joined by ``/``, the start as ``S``, the goal as ``G``."""
    chars = np.where(state[: task.cells] == 1, ".", "#").astype("<U1")
    chars[int(state[task.start_index])] = "S"
    chars[int(state[task.goal_index])] = "G"
    n = task.size
    return f"{n}x{n}: " + "/".join("".join(chars[r * n : (r + 1) * n]) for r in range(n))


def answer(task: Maze, state: np.ndarray, actions: list[int]) -> str:
    """The moves as letters ``U D L R`` and their count, e.g. ``RDDR (4 moves)``."""
    return moves_text(task.name, actions, MOVE_LETTERS)


def compare(task: Maze, state: np.ndarray, actions: list[int], known: dict[str, Any]) -> dict[str, Any]:
    """``{"optimal_length", "length", "is_optimal"}`` when the line gave the shortest length, else ``{}``."""
    return length_comparison(actions, known)
