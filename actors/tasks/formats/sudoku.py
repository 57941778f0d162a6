"""Sudoku instances, one puzzle per line, as in the common 81-character benchmark files.

Instance line: the grid's cells row-major from the top-left, one character each,
a digit for a given and ``0`` or ``.`` for a blank. The length gives the size: 16
cells a 4x4 (2x2 boxes), 36 a 6x6 (boxes of 2 rows by 3 columns), 81 a 9x9 (3x3
boxes). The grid may be followed by whitespace or a comma and anything else; if
what follows starts with a full grid of the same length, digits only (no blank),
that is the known solution (``known["solution"]``, an int64 array of the cells)::

    .31........2..3.
    004300209005009001070060043006002087190007400050083000600000105003508690042910300
    1..4.4.2..4.4..1,1234341221434321

In a ``.jsonl`` file (or on a text line starting with ``{``), one JSON object per
line with the puzzle string under ``puzzle``, ``quizzes`` or ``question`` and
optionally the solution string under ``solution``, ``solutions`` or ``answer``
(which must then be a full grid): ``{"puzzle": "1..4.4.2..4.4..1", "solution":
"1234341221434321"}``.

Errors: a grid of another length, a character other than a digit, ``0`` or ``.``,
a digit above the size, two equal givens in one row, column or box (the message
names the cell), or a known solution that is incomplete, breaks a rule or
disagrees with a given are malformed (`InstanceError`); a well-formed grid of
another size than the task's ``size`` is `UnsupportedInstance`. A puzzle with no
solution, or with several, is accepted: solving reports it.

Instance text (`render`): the current board (the givens, in an initial state) in
the same form, ``.`` for a blank. Answer (`answer`): the solved grid, the
board after the answer's placements, as one line of digits (``.`` where a cell
is still empty), e.g. ``2314142331424231``. `compare` (when the line gave a
solution): ``valid`` (the answer fills the board into a solution that keeps the
givens) and ``matches_known`` (it equals the given solution; any valid solution
counts as correct, so a puzzle with several solutions may be solved validly and
still not match).
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np

from actors.tasks.formats.base import InstanceError, ParsedInstance, UnsupportedInstance
from actors.tasks.sudoku import BOX_SHAPES, Sudoku

DESCRIPTION = (
    "16, 36 or 81 cells row-major (a 4x4, 6x6 or 9x9 grid), digits with 0 or . for a blank, "
    "optionally followed by whitespace or a comma and the solution grid, e.g. .31........2..3."
)
SIZE_OF_LENGTH = {size * size: size for size in sorted(BOX_SHAPES)}  # 16 -> 4, 36 -> 6, 81 -> 9
PUZZLE_KEYS = ("puzzle", "quizzes", "question")  # the JSON form's keys, as common data sets name them
SOLUTION_KEYS = ("solution", "solutions", "answer")
_GRID_CHARS = frozenset("0123456789.")
_SEPARATOR = re.compile(r"[\s,]")
_LEADING = re.compile(r"^[\s,]+")


def _cell_name(cell: int, size: int) -> str:
    return f"r{cell // size + 1}c{cell % size + 1}"


def _units(size: int) -> list[tuple[str, list[int]]]:
    """Every row, column and box of a ``size`` grid, named, as cell lists."""
    box_rows, box_cols = BOX_SHAPES[size]
    units = [(f"row {r + 1}", [r * size + c for c in range(size)]) for r in range(size)]
    units += [(f"column {c + 1}", [r * size + c for r in range(size)]) for c in range(size)]
    for band in range(size // box_rows):
        for stack in range(size // box_cols):
            cells = [
                (band * box_rows + i) * size + stack * box_cols + j for i in range(box_rows) for j in range(box_cols)
            ]
            units.append((f"box {band * (size // box_cols) + stack + 1}", cells))
    return units


def _grid(text: str, what: str) -> tuple[list[int], int]:
    """A grid string -> (its cells, 0 for a blank; its size); InstanceError if malformed."""
    for position, char in enumerate(text, 1):
        if char not in _GRID_CHARS:
            raise InstanceError(
                f"{what}: unexpected character {char!r} at position {position} (expected digits, 0 or . for a blank)"
            )
    size = SIZE_OF_LENGTH.get(len(text))
    if size is None:
        raise InstanceError(f"expected 16, 36 or 81 digits (0 or . for a blank), got {len(text)} characters")
    cells = [0 if char == "." else int(char) for char in text]
    for cell, digit in enumerate(cells):
        if digit > size:
            where = _cell_name(cell, size)
            raise InstanceError(f"{what}: digit {digit} at {where} is above {size} (a {size}x{size} grid)")
    return cells, size


def first_conflict(cells: list[int], size: int) -> str | None:
    """The first repeated digit in a row, column or box of ``cells`` (0 blank), described; None if there is none."""
    for unit, members in _units(size):
        seen: dict[int, int] = {}
        for cell in members:
            digit = cells[cell]
            if digit and digit in seen:
                first, second = _cell_name(seen[digit], size), _cell_name(cell, size)
                return f"digit {digit} at {second} is already in {unit} (at {first})"
            seen.setdefault(digit, cell)
    return None


def _known_solution(rest: str, givens: list[int], size: int, required: bool = False) -> np.ndarray | None:
    """The solution grid at the start of ``rest`` (the text after the puzzle), or None if it does not start with one.

    With ``required``, ``rest`` must start with one (InstanceError otherwise).
    """
    cells = len(givens)
    match = re.match(rf"(\d{{{cells}}})(?!\d)", rest)
    if match is None:
        if required:
            raise InstanceError(f"solution: expected a grid of {cells} digits, got {rest!r}")
        return None
    solution, _ = _grid(match.group(1), "solution")
    if 0 in solution:
        raise InstanceError(f"solution: {_cell_name(solution.index(0), size)} is blank")
    conflict = first_conflict(solution, size)
    if conflict:
        raise InstanceError(f"solution: {conflict}")
    for cell, (given, digit) in enumerate(zip(givens, solution, strict=True)):
        if given and given != digit:
            raise InstanceError(f"solution: {digit} at {_cell_name(cell, size)} disagrees with the given {given}")
    return np.array(solution, dtype=np.int64)


def _instance(task: Sudoku, puzzle: str, rest: str, solution_required: bool) -> ParsedInstance:
    """The puzzle string and what follows it (where a solution may start) -> the instance."""
    givens, size = _grid(puzzle, "puzzle")
    conflict = first_conflict(givens, size)
    if conflict:
        raise InstanceError(f"conflicting givens: {conflict}")
    solution = _known_solution(rest, givens, size, required=solution_required)
    if size != task.size:
        raise UnsupportedInstance(f"a {size}x{size} Sudoku; this model was trained on {task.size}x{task.size}")
    state = np.array([*givens, *givens, 0], dtype=np.int64)
    return ParsedInstance(state, {} if solution is None else {"solution": solution})


def parse(task: Sudoku, text: str) -> ParsedInstance:
    """One line -> the puzzle's initial state, with ``known["solution"]`` when the line gives one."""
    text = text.strip()
    split = _SEPARATOR.search(text)
    puzzle, rest = (text[: split.start()], _LEADING.sub("", text[split.start() :])) if split else (text, "")
    return _instance(task, puzzle, rest, solution_required=False)


def parse_json(task: Sudoku, obj: Any) -> ParsedInstance:
    """A JSON object with the puzzle string (``puzzle``, ``quizzes`` or ``question``) and optionally the
    solution string (``solution``, ``solutions`` or ``answer``) -> the instance."""
    puzzle_key = next((k for k in PUZZLE_KEYS if isinstance(obj, dict) and k in obj), None)
    if puzzle_key is None or not isinstance(obj[puzzle_key], str):
        raise InstanceError(f"expected a JSON object with the puzzle string as {' or '.join(map(repr, PUZZLE_KEYS))}")
    solution_key = next((k for k in SOLUTION_KEYS if k in obj), None)
    solution = obj[solution_key] if solution_key else ""
    if not isinstance(solution, str):
        raise InstanceError(f"{solution_key} must be a string of digits, got {solution!r}")
    return _instance(task, obj[puzzle_key].strip(), solution.strip(), solution_required=bool(solution_key))


def render(task: Sudoku, state: np.ndarray) -> str:
    """The current board (the givens, in an initial state) as one line, ``.`` for a blank."""
    board = state[task.cells : 2 * task.cells]
    return "".join(str(int(d)) if d else "." for d in board)


def _final_board(task: Sudoku, state: np.ndarray, actions: list[int]) -> tuple[list[int], bool]:
    """The board after writing each placement (``cell * size + digit - 1``) into the current board.

    Returns the board and whether every placement went into an empty cell. ValueError for
    an action outside the action space.
    """
    board = [int(d) for d in state[task.cells : 2 * task.cells]]
    into_empty = True
    for action in actions:
        if not 0 <= int(action) < task.spec.num_actions:
            raise ValueError(f"reasoning/sudoku: action {action} is outside [0, {task.spec.num_actions})")
        cell, digit = divmod(int(action), task.size)
        into_empty &= board[cell] == 0
        board[cell] = digit + 1
    return board, into_empty


def answer(task: Sudoku, state: np.ndarray, actions: list[int]) -> str:
    """The board after the answer's placements as one line of digits (``.`` where still empty)."""
    board, _ = _final_board(task, state, actions)
    return "".join(str(d) if d else "." for d in board)


def compare(task: Sudoku, state: np.ndarray, actions: list[int], known: dict[str, Any]) -> dict[str, Any]:
    """``{"valid": bool, "matches_known": bool}`` when the line gave a solution, else ``{}``."""
    if "solution" not in known:
        return {}
    try:
        board, into_empty = _final_board(task, state, actions)
    except ValueError:
        return {"valid": False, "matches_known": False}
    givens = [int(d) for d in state[: task.cells]]
    keeps_givens = all(not g or g == d for g, d in zip(givens, board, strict=True))
    valid = into_empty and keeps_givens and 0 not in board and first_conflict(board, task.size) is None
    return {"valid": bool(valid), "matches_known": board == [int(d) for d in known["solution"]]}
