"""Connect Four positions as move strings, as in Pascal Pons' benchmark files (``Test_L3_R1`` etc.).

Instance line: the columns played from the empty board, ``1`` (left) to ``7``
(right), the first player (X) first, without separators; optionally followed by
whitespace and the position's known score, an integer, positive when the side to
move wins, negative when it loses, 0 for a draw (``known["score"]``; in Pons'
files, the larger the sooner). ``-`` stands for the empty board (a move string
cannot be empty: blank lines are skipped)::

    2252576253462244111563365343671351441 -1
    4453
    -

Errors (`InstanceError`, naming the position in the string): a character other
than ``1``-``7``; a move into a full column; a move after the game is over; a
string whose position is already over (four in a row, or a full board); a score
that is not an integer; more than two fields. Every well-formed position fits
the task (the board is always 6x7).

Instance text (`render`): a move string that reaches the state's board with the
same side to move. The state keeps no move history, so this is *a* sequence
reaching the position (columns tried left to right when undoing stones), not
necessarily the one that was played; parsing it gives back the same state. The
empty board is ``-``. Answer (`answer`): the column of the chosen move, ``1``-``7``,
e.g. ``4``. `compare` (when the line gave a score): ``known_score`` and
``known_result`` (``"win"``, ``"draw"`` or ``"loss"`` for the side to move).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from actors.tasks.connect4 import COLS, HEIGHTS, LINES, ROWS, WINNER, ConnectFour
from actors.tasks.formats.base import InstanceError, ParsedInstance, parse_int

DESCRIPTION = (
    "a move string of columns 1-7 from the empty board (first player first; - for the empty board), "
    "optionally followed by whitespace and a known score (positive: the side to move wins), e.g. 4453 2"
)
EMPTY_BOARD = "-"
PLAYER_NAMES = "XO"


def _over(task: ConnectFour, state: np.ndarray) -> str:
    """Why the game of ``state`` is over (it is terminal)."""
    if state[WINNER]:
        return f"{PLAYER_NAMES[int(state[WINNER]) - 1]} has four in a row"
    return "the board is full"


def _columns(moves: str) -> list[int]:
    if moves == EMPTY_BOARD:
        return []
    columns = []
    for position, char in enumerate(moves, 1):
        if char not in "1234567":
            raise InstanceError(f"character {char!r} at position {position} is not a column 1-7")
        columns.append(int(char) - 1)
    return columns


def _play(task: ConnectFour, columns: list[int]) -> np.ndarray:
    """The position after ``columns`` (0-based) from the empty board; InstanceError at the first illegal move."""
    state = task.empty_state()
    for index, col in enumerate(columns, 1):
        if task.is_terminal(state[None])[0]:
            raise InstanceError(
                f"move {index} (column {col + 1}): the game was already over after move {index - 1} "
                f"({_over(task, state)})"
            )
        if state[HEIGHTS + col] >= ROWS:
            raise InstanceError(f"move {index} (column {col + 1}): the column is full")
        state = task.step(state[None], np.array([col], dtype=np.int64))[0]
    return state


def parse(task: ConnectFour, text: str) -> ParsedInstance:
    """One line (a move string, optionally a score) -> the position, with ``known["score"]`` when given."""
    fields = text.split()
    if len(fields) > 2:
        raise InstanceError(f"expected a move string and optionally a score, got {len(fields)} fields")
    known = {"score": parse_int(fields[1], "the score")} if len(fields) == 2 else {}
    state = _play(task, _columns(fields[0]))
    if task.is_terminal(state[None])[0]:
        raise InstanceError(f"the position is already over: {_over(task, state)}")
    return ParsedInstance(state, known)


def _has_four(board: np.ndarray, heights: list[int]) -> bool:
    """Whether the stones below ``heights`` (per column) of ``board [6, 7]`` hold four in a row."""
    present = np.arange(ROWS)[:, None] < np.array(heights)[None, :]
    cells = np.where(present, board, 0).reshape(-1)[LINES]  # [69, 4]
    return bool(((cells[:, 0] != 0) & (cells == cells[:, :1]).all(axis=1)).any())


def move_sequence(state: np.ndarray) -> list[int]:
    """Columns (0-based) of a legal game from the empty board reaching the board of ``state``.

    Undoes stones from the top of columns, last mover first, by depth-first search over
    the column heights (which determine the position reached). Every earlier position
    must be unfinished, which holds for free unless the final board has four in a row.
    ValueError if no such game exists (a board no legal game reaches).
    """
    board = state[: ROWS * COLS].reshape(ROWS, COLS)
    heights = [int(h) for h in state[HEIGHTS : HEIGHTS + COLS]]
    check_fours = _has_four(board, heights)
    failed: set[tuple[int, ...]] = set()
    undone: list[int] = []

    def undo(remaining: int) -> bool:
        if remaining == 0:
            return True
        key = tuple(heights)
        if key in failed:
            return False
        mover = (remaining - 1) % 2 + 1  # the stone value of the player who made move `remaining`
        for col in range(COLS):
            top = heights[col] - 1
            if top < 0 or board[top, col] != mover:
                continue
            heights[col] = top
            if not (check_fours and _has_four(board, heights)) and undo(remaining - 1):
                undone.append(col)
                return True
            heights[col] = top + 1
        failed.add(key)
        return False

    if not undo(sum(heights)):
        raise ValueError("search/connect4: no legal game reaches this board")
    return undone  # undo() appends on the way back up, so the first move comes first


def render(task: ConnectFour, state: np.ndarray) -> str:
    """A move string (columns 1-7) reaching the position of ``state``; ``-`` for the empty board."""
    columns = move_sequence(state)
    return "".join(str(col + 1) for col in columns) or EMPTY_BOARD


def answer(task: ConnectFour, state: np.ndarray, actions: list[int]) -> str:
    """The chosen column, 1-7 (``actions`` is the one-element list ``Task.solve`` returns)."""
    if len(actions) != 1 or not 0 <= int(actions[0]) < COLS:
        raise ValueError(f"search/connect4: an answer is one column 0..{COLS - 1}, got {list(actions)}")
    return str(int(actions[0]) + 1)


def compare(task: ConnectFour, state: np.ndarray, actions: list[int], known: dict[str, Any]) -> dict[str, Any]:
    """``{"known_score": s, "known_result": "win" | "draw" | "loss"}`` when the line gave a score, else ``{}``."""
    if "score" not in known:
        return {}
    score = int(known["score"])
    result = "win" if score > 0 else "loss" if score < 0 else "draw"
    return {"known_score": score, "known_result": result}
