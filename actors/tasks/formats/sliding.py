"""Sliding-tile puzzles (8-puzzle, 15-puzzle, ...) as rows of tile numbers.

Instance line: the tiles row-major from the top-left, ``0`` for the blank,
separated by spaces and/or commas; the count gives the board's side (9 tiles a
3x3, 16 a 4x4). The goal is ``1 2 .. n-1`` row-major with the blank last.
Optionally, after a ``;``, the known optimal solution length
(``known["optimal_length"]``)::

    1 2 3 4 0 5 7 8 6 ; 2
    8,6,7,2,5,4,3,0,1
    5 1 2 4 9 6 3 8 13 15 10 11 14 0 7 12

Errors (`InstanceError`): an item that is not an integer; a count that is not a
square of at least 4; tiles that are not each of ``0 .. n-1`` once; a board that
cannot reach the goal ("not solvable: odd permutation parity ..."; on an odd side
the count of inversions must be even, on an even side the inversions plus the
blank's row counted from the bottom must be even); a board already solved; a
known length that is not an integer >= 0. A well-formed board of another side
than the task's ``side`` is `UnsupportedInstance`.

Instance text (`render`): the current board in the same form, space separated,
e.g. ``1 2 3 4 0 5 7 8 6``. Answer (`answer`): the moves of the *blank*, as
``sliding.py`` names its actions (``U`` the blank moves up, i.e. the tile above
it slides down, then ``D``, ``L``, ``R``), as one string followed by the count::

    RD (2 moves)

`compare` (when the line gave an optimal length): ``optimal_length``, ``length``
(the answer's move count) and ``is_optimal`` (they are equal).
"""

from __future__ import annotations

import math
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
from actors.tasks.sliding import SlidingPuzzle

DESCRIPTION = (
    "the tiles row-major, 0 for the blank, separated by spaces or commas (9 tiles: 3x3), "
    "optionally followed by ; and the known optimal length, e.g. 1 2 3 4 0 5 7 8 6 ; 2"
)
MOVE_LETTERS = "UDLR"  # sliding.py's actions 0-3: the blank moves up, down, left, right
_ITEMS = re.compile(r"[\s,]+")


def _tiles(text: str) -> tuple[list[int], int]:
    """The tiles of a board text and its side; InstanceError if malformed."""
    items = [item for item in _ITEMS.split(text.strip()) if item]
    tiles = [parse_int(item, f"tile {position} ({item!r})") for position, item in enumerate(items, 1)]
    side = math.isqrt(len(tiles))
    if side < 2 or side * side != len(tiles):
        raise InstanceError(f"expected a square number of tiles (4, 9, 16, ...), got {len(tiles)}")
    expected = set(range(len(tiles)))
    if sorted(tiles) != sorted(expected):
        missing = sorted(expected - set(tiles))
        repeated = sorted({t for t in tiles if tiles.count(t) > 1})
        extra = sorted(set(tiles) - expected)
        found = (("missing", missing), ("repeated", repeated), ("not in range", extra))
        details = [f"{name} {values}" for name, values in found if values]
        raise InstanceError(f"expected each of 0..{len(tiles) - 1} once: {'; '.join(details)}")
    return tiles, side


def solvability_problem(tiles: list[int], side: int) -> str | None:
    """Why ``tiles`` (row-major, 0 the blank) cannot reach the goal, or None if it can.

    A move keeps the parity of (inversions among the tiles + on an even side the
    blank's row counted from the bottom), and the goal has it even.
    """
    numbers = [t for t in tiles if t]
    inversions = sum(1 for i in range(len(numbers)) for j in range(i + 1, len(numbers)) if numbers[i] > numbers[j])
    if side % 2:
        if inversions % 2:
            return f"not solvable: odd permutation parity ({inversions} inversions on a {side}x{side} board)"
        return None
    blank_row_from_bottom = side - 1 - tiles.index(0) // side
    if (inversions + blank_row_from_bottom) % 2:
        return (
            f"not solvable: odd permutation parity ({inversions} inversions plus the blank's row "
            f"{blank_row_from_bottom} from the bottom, on a {side}x{side} board)"
        )
    return None


def state_of(task: SlidingPuzzle, tiles: list[int]) -> np.ndarray:
    """The initial state ``[S]`` of a board, by the documented layout (no moves, no previous action)."""
    state = task.solved_state()
    side = task.side
    state[: task.cells] = tiles
    state[task.blank_index] = tiles.index(0)
    distance = 0
    for position, tile in enumerate(tiles):
        if tile:
            distance += abs(position // side - (tile - 1) // side) + abs(position % side - (tile - 1) % side)
    state[task.distance_index] = distance
    return state


def parse(task: SlidingPuzzle, text: str) -> ParsedInstance:
    """One line (tiles, optionally ``; optimal length``) -> the initial state, with ``known["optimal_length"]``."""
    board, separator, rest = text.partition(";")
    known = {}
    if separator:
        length = parse_int(rest.strip(), "the optimal length after ;")
        if length < 0:
            raise InstanceError(f"the optimal length must be >= 0, got {length}")
        known["optimal_length"] = length
    tiles, side = _tiles(board)
    problem = solvability_problem(tiles, side)
    if problem:
        raise InstanceError(problem)
    if tiles == [*range(1, side * side), 0]:
        raise InstanceError("the board is already solved")
    if side != task.side:
        raise UnsupportedInstance(f"a {side}x{side} board; this model was trained on {task.side}x{task.side}")
    return ParsedInstance(state_of(task, tiles), known)


def render(task: SlidingPuzzle, state: np.ndarray) -> str:
    """The current board row-major, space separated, ``0`` for the blank."""
    return " ".join(str(int(t)) for t in state[: task.cells])


def answer(task: SlidingPuzzle, state: np.ndarray, actions: list[int]) -> str:
    """The blank's moves as letters ``U D L R`` and their count, e.g. ``RD (2 moves)``."""
    return moves_text(task.name, actions, MOVE_LETTERS)


def compare(task: SlidingPuzzle, state: np.ndarray, actions: list[int], known: dict[str, Any]) -> dict[str, Any]:
    """``{"optimal_length", "length", "is_optimal"}`` when the line gave the optimal length, else ``{}``."""
    return length_comparison(actions, known)
