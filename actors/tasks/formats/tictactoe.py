"""Tic-tac-toe positions, as a board or as a move string.

Cells are numbered 1-9 row-major from the top-left (``tictactoe.py``'s cells 0-8
plus one)::

    1 2 3
    4 5 6
    7 8 9

Instance line, one of:

- a board: 9 characters row-major from the top, ``X`` and ``O`` (either case) for
  the marks and ``.``, ``-`` or ``_`` for an empty cell, optionally with ``/``
  between the rows (``X.O/.X./..O``). X moves first, so the side to move follows
  from the counts: X when both have as many marks, O when X has one more;
- a move string: the cells played from the empty board, ``1``-``9``, X first
  (``5193``).

Either may be followed by whitespace and the position's known value for the side
to move, ``1`` (win), ``0`` (draw) or ``-1`` (loss) under perfect play
(``known["value"]``)::

    X.O.X...O
    ....X.... 0
    5193

Errors (`InstanceError`): other characters or lengths; impossible counts (O
ahead of X, or X two or more ahead); a position already over (a line of three,
or a full board); in a move string a cell ``0`` or a cell played twice, or a
move after the game is over (naming the position in the string); a value other
than -1, 0, 1. Every well-formed position fits the task.

Instance text (`render`): the board form without separators, ``.`` for empty,
e.g. ``X.O.X...O``. Answer (`answer`): the cell of the chosen move, ``1``-``9``.
`compare` (when the line gave a value): ``known_value``, ``move_value`` (the
exact minimax value of the chosen move for the mover, None if it is illegal) and
``keeps_value`` (the move achieves the known value).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from actors.tasks.formats.base import InstanceError, ParsedInstance, parse_int
from actors.tasks.tictactoe import CELLS, LINES, MOVES, TO_PLAY, TicTacToe

DESCRIPTION = (
    "a 9-character board row-major from the top (X, O, and . - or _ for empty; X moves first) "
    "or a move string of cells 1-9, optionally followed by the known value (1, 0, -1), e.g. X.O.X...O"
)
_MARKS = {"x": 1, "o": 2, ".": 0, "-": 0, "_": 0}


def _outcome_reason(task: TicTacToe, state: np.ndarray) -> str | None:
    """Why the game of ``state`` is over, or None if it is not."""
    if not task.is_terminal(state[None])[0]:
        return None
    if task.outcome(state[None])[0] != 0:
        return f"{'XO'[1 - int(state[TO_PLAY])]} has three in a row"
    return "the board is full"


def _from_board(task: TicTacToe, text: str) -> np.ndarray:
    cells = [_MARKS[char] for char in text.lower()]
    xs, os = cells.count(1), cells.count(2)
    if xs - os not in (0, 1):
        raise InstanceError(f"impossible counts: {xs} X and {os} O (X moves first: as many as O or one more)")
    state = np.zeros(task.spec.state_size, dtype=np.int64)
    state[:CELLS] = cells
    state[TO_PLAY], state[MOVES] = xs - os, xs + os
    winners = sorted({cells[a] for a, b, c in LINES if cells[a] and cells[a] == cells[b] == cells[c]})
    if winners:
        names = " and ".join("XO"[p - 1] for p in winners)
        verb = "has" if len(winners) == 1 else "have"
        raise InstanceError(f"the game is already over: {names} {verb} three in a row")
    return state


def _from_moves(task: TicTacToe, text: str) -> np.ndarray:
    state = np.zeros(task.spec.state_size, dtype=np.int64)
    for position, char in enumerate(text, 1):
        if char not in "123456789":
            raise InstanceError(f"character {char!r} at position {position} is not a cell 1-9")
        reason = _outcome_reason(task, state)
        if reason:
            raise InstanceError(f"move {position} (cell {char}): the game was already over ({reason})")
        cell = int(char) - 1
        if state[cell]:
            raise InstanceError(f"move {position} (cell {char}): the cell is already taken")
        state = task.step(state[None], np.array([cell], dtype=np.int64))[0]
    return state


def parse(task: TicTacToe, text: str) -> ParsedInstance:
    """One line (a board or a move string, optionally a value) -> the position, with ``known["value"]``."""
    fields = text.split()
    if len(fields) > 2:
        raise InstanceError(f"expected a board or move string and optionally a value, got {len(fields)} fields")
    known = {}
    if len(fields) == 2:
        value = parse_int(fields[1], "the value")
        if value not in (-1, 0, 1):
            raise InstanceError(f"the value must be 1 (win), 0 (draw) or -1 (loss), got {value}")
        known["value"] = value
    position = fields[0]
    board = position.replace("/", "")
    if all(char.lower() in _MARKS for char in board) and len(board) == CELLS:
        state = _from_board(task, board)
    elif position.isdigit():
        state = _from_moves(task, position)
    else:
        raise InstanceError(
            f"expected a 9-character board (X, O, . for empty) or a move string of cells 1-9, got {position!r}"
        )
    reason = _outcome_reason(task, state)
    if reason:
        raise InstanceError(f"the game is already over: {reason}")
    return ParsedInstance(state, known)


def render(task: TicTacToe, state: np.ndarray) -> str:
    """The board row-major from the top, ``X``, ``O`` and ``.``."""
    return "".join(".XO"[int(c)] for c in state[:CELLS])


def answer(task: TicTacToe, state: np.ndarray, actions: list[int]) -> str:
    """The chosen cell, 1-9 (``actions`` is the one-element list ``Task.solve`` returns)."""
    if len(actions) != 1 or not 0 <= int(actions[0]) < CELLS:
        raise ValueError(f"search/tictactoe: an answer is one cell 0..{CELLS - 1}, got {list(actions)}")
    return str(int(actions[0]) + 1)


def compare(task: TicTacToe, state: np.ndarray, actions: list[int], known: dict[str, Any]) -> dict[str, Any]:
    """``{"known_value", "move_value", "keeps_value"}`` when the line gave a value, else ``{}``."""
    if "value" not in known:
        return {}
    value = int(known["value"])
    move_value = None
    if len(actions) == 1 and 0 <= int(actions[0]) < CELLS:
        values = task.action_values(state)
        if not np.isnan(values[int(actions[0])]):
            move_value = int(values[int(actions[0])])
    return {"known_value": value, "move_value": move_value, "keeps_value": move_value == value}
