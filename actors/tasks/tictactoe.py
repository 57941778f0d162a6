"""Tic-tac-toe: the smallest two-player game, with a perfect minimax reference.

State ``[11]``: cells 0..8 (0 empty, 1 first player, 2 second player), the
player to move (0 or 1), the number of moves made.
Tokens ``[9]`` from the mover's point of view: 1 empty, 2 own, 3 opponent.
Difficulty: 1.0 is the empty board; lower difficulties start after random
opening moves (``round((1 - d) * 4)`` of them), which shrinks the game tree the
solver must search.
"""

from __future__ import annotations

from functools import cache

import numpy as np

from actors.tasks.base import IllegalActionError, Task, TaskSpec, check_difficulty

LINES = np.array([[0, 1, 2], [3, 4, 5], [6, 7, 8], [0, 3, 6], [1, 4, 7], [2, 5, 8], [0, 4, 8], [2, 4, 6]])
CELLS, TO_PLAY, MOVES = 9, 9, 10
MAX_OPENING_MOVES = 4


def _winner(boards: np.ndarray) -> np.ndarray:
    """``boards [N, 9]`` -> ``int64 [N]``: 0 none, 1 or 2 the owner of a full line."""
    lines = boards[:, LINES]  # [N, 8, 3]
    full = (lines[:, :, 0] != 0) & (lines[:, :, 0] == lines[:, :, 1]) & (lines[:, :, 1] == lines[:, :, 2])
    owner = np.where(full, lines[:, :, 0], 0)
    return owner.max(axis=1)


@cache
def _minimax(board: tuple[int, ...], mark: int) -> int:
    """Game value for the side playing ``mark`` to move on ``board``: +1 win, 0 draw, -1 loss."""
    values = _child_values(board, mark)
    return max(values.values()) if values else 0


@cache
def _child_values(board: tuple[int, ...], mark: int) -> dict[int, int]:
    """Value of each legal move for the mover (empty if the game is over)."""
    if _winner(np.array([board]))[0] or 0 not in board:
        return {}
    values = {}
    for cell in range(9):
        if board[cell] == 0:
            child = board[:cell] + (mark,) + board[cell + 1 :]
            if _winner(np.array([child]))[0]:
                values[cell] = 1
            elif 0 not in child:
                values[cell] = 0
            else:
                values[cell] = -_minimax(child, 3 - mark)
    return values


@cache
def _tree_size(board: tuple[int, ...], mark: int) -> int:
    """Number of positions in the game tree rooted at ``board`` (itself included)."""
    if _winner(np.array([board]))[0] or 0 not in board:
        return 1
    children = (board[:c] + (mark,) + board[c + 1 :] for c in range(9) if board[c] == 0)
    return 1 + sum(_tree_size(child, 3 - mark) for child in children)


class TicTacToe(Task):
    family = "search"
    kind = "tictactoe"
    exact_values = True  # `value` and `action_values` are exact game values (perfect minimax)

    def __init__(self) -> None:
        self.spec = TaskSpec(
            family=self.family,
            kind=self.kind,
            obs_length=9,
            vocab_size=4,
            num_actions=9,
            num_players=2,
            state_size=11,
            max_steps=9,
            actions_per_token=1,
        )

    def generate(self, seed: int, difficulty: float) -> np.ndarray:
        d = check_difficulty(difficulty)
        rng = np.random.default_rng([seed, 0x7777])
        openings = round((1.0 - d) * MAX_OPENING_MOVES)
        while True:
            state = np.zeros(self.spec.state_size, dtype=np.int64)
            for _ in range(openings):
                legal = np.flatnonzero(self.legal_mask(state[None])[0])
                state = self.step(state[None], np.array([rng.choice(legal)]))[0]
            if not self.is_terminal(state[None])[0]:
                return state

    def legal_mask(self, states: np.ndarray) -> np.ndarray:
        empty = states[:, :CELLS] == 0
        return empty & ~self.is_terminal(states)[:, None]

    def step(self, states: np.ndarray, actions: np.ndarray) -> np.ndarray:
        self.check_legal(states, actions)
        rows = np.arange(len(states))
        nxt = states.copy()
        nxt[rows, actions] = states[:, TO_PLAY] + 1
        nxt[:, TO_PLAY] = 1 - states[:, TO_PLAY]
        nxt[:, MOVES] += 1
        return nxt

    def is_terminal(self, states: np.ndarray) -> np.ndarray:
        return (_winner(states[:, :CELLS]) != 0) | (states[:, MOVES] >= 9)

    def outcome(self, states: np.ndarray) -> np.ndarray:
        # A line can only have been completed by the previous mover: a loss for the side to move.
        return np.where(_winner(states[:, :CELLS]) != 0, -1.0, 0.0).astype(np.float32)

    def to_play(self, states: np.ndarray) -> np.ndarray:
        return states[:, TO_PLAY].copy()

    def encode(self, states: np.ndarray) -> np.ndarray:
        board = states[:, :CELLS]
        own = (states[:, TO_PLAY] + 1)[:, None]
        return np.where(board == 0, 1, np.where(board == own, 2, 3)).astype(np.int64)

    def action_values(self, state: np.ndarray) -> np.ndarray:
        """``float [9]``: the exact game value of each move for the mover; NaN where illegal."""
        values = np.full(9, np.nan)
        board = tuple(int(c) for c in state[:CELLS])
        for cell, value in _child_values(board, int(state[TO_PLAY]) + 1).items():
            values[cell] = value
        return values

    def value(self, state: np.ndarray) -> float:
        """The exact game value of ``state`` for the player to move."""
        if self.is_terminal(state[None])[0]:
            return float(self.outcome(state[None])[0])
        return float(np.nanmax(self.action_values(state)))

    def solve(self, state: np.ndarray) -> list[int]:
        if self.is_terminal(state[None])[0]:
            raise IllegalActionError("search/tictactoe: the game is over; there is no move to solve")
        return [int(np.nanargmax(self.action_values(state)))]

    def verify(self, state: np.ndarray, answer: list[int]) -> bool:
        if len(answer) != 1 or self.is_terminal(state[None])[0]:
            return False
        values = self.action_values(state)
        action = answer[0]
        return 0 <= action < 9 and not np.isnan(values[action]) and values[action] == np.nanmax(values)

    def effort(self, state: np.ndarray) -> float:
        """Nodes of the full game tree below ``state`` (what plain minimax would visit)."""
        return float(_tree_size(tuple(int(c) for c in state[:CELLS]), int(state[TO_PLAY]) + 1))

    def render(self, state: np.ndarray) -> str:
        marks = {0: ".", 1: "X", 2: "O"}
        rows = [" ".join(marks[int(c)] for c in state[r * 3 : r * 3 + 3]) for r in range(3)]
        return "\n".join(rows) + f"\n{'XO'[int(state[TO_PLAY])]} to move"

    def describe_action(self, state: np.ndarray, action: int) -> str:
        return f"{'XO'[int(state[TO_PLAY])]} at row {action // 3 + 1}, column {action % 3 + 1}"
