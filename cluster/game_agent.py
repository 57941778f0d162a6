"""A trained model playing a two-player game by search, and the games' boards and moves as text.

`selfplay play` and `selfplay gtp` share both:

    agent = load_game_agent("runs/local-...", "tictactoe")     # or an exported model file
    move = agent.choose()              # search the position: the move and what the search and network think
    agent.play(move.action)            # play it (or the opponent's move); the search tree is kept
    text = board_text("tictactoe")
    text.vertex(4), text.parse_vertex("b2"), text.parse_human("5"), text.labelled(agent.state)

The agent searches with the run's evaluation settings for the game (the run's search settings
with the task's own overrides, exploration off, ``evaluation.num_simulations`` or the
task's budget, unless ``simulations`` is given): `BatchedSearch` with one slot, advanced
with every move either side plays, so the subtree under each move is reused.

Moves as text, the coordinates of GTP (a column letter, a row number counted from the bottom):

- tic-tac-toe: ``a1`` .. ``c3`` (``a3`` the top left cell, ``c1`` the bottom right); a human
  may also type a digit ``1`` .. ``9``, the cells in reading order (``1`` the top left);
- Connect Four: a column letter ``a`` .. ``g`` (a stone drops to the lowest free row, so the
  row is not part of a move); a human may also type ``1`` .. ``7``.
"""

from __future__ import annotations

import abc
import string
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from cluster.errors import ConfigError

if TYPE_CHECKING:
    from actors.search import BatchedSearch, SearchConfig
    from actors.search.batched import Network
    from actors.tasks.base import Task

MARKS = ".XO"  # a cell's text: empty, first player, second player
PLAYERS = "XO"  # player 0 moves first


class MoveError(ValueError):
    """A move that cannot be read or cannot be played; the message says why, fit for the user."""


# ----- moves and boards as text ------------------------------------------------------------------


class BoardText(abc.ABC):
    """A game's moves and board as text (see the module docstring); one subclass per game."""

    kind: str
    board_size: int  # the columns of the board: what GTP's ``boardsize`` names
    rows: int

    @abc.abstractmethod
    def vertex(self, action: int) -> str:
        """The GTP coordinate of ``action``."""

    @abc.abstractmethod
    def parse_vertex(self, text: str) -> int:
        """The action of a GTP coordinate; raises `MoveError` if ``text`` is not one."""

    @abc.abstractmethod
    def parse_human(self, text: str) -> int:
        """The action of what a human typed: a GTP coordinate or a number; raises `MoveError`."""

    @abc.abstractmethod
    def why_illegal(self, state: np.ndarray, action: int) -> str:
        """Why ``action`` (a move of the board) cannot be played in ``state``."""

    @abc.abstractmethod
    def cell_marks(self, state: np.ndarray) -> list[list[str]]:
        """The marks of the board's rows, top row first, each a list of its cells' marks left to right."""

    def labelled(self, state: np.ndarray, numbers: bool = False) -> str:
        """The board with row numbers on the left and column letters below, then who is to move or the result.

        ``numbers``: also the numbers a human may type for a move (`parse_human`).
        """
        lines = [f"{self.rows - r}  {' '.join(row)}" for r, row in enumerate(self.cell_marks(state))]
        lines.append("   " + " ".join(string.ascii_lowercase[: self.board_size]))
        if numbers:
            lines = self.add_numbers(lines)
        return "\n".join([*lines, status(state_task(self.kind), state)])

    @abc.abstractmethod
    def add_numbers(self, lines: list[str]) -> list[str]:
        """``lines`` of the labelled board with the numbers of `parse_human` added."""

    def name(self, action: int) -> str:
        """A move as `play` shows it: its coordinate and its number."""
        return f"{self.vertex(action)} ({int(action) + 1})"

    @abc.abstractmethod
    def moves_help(self) -> str:
        """What a human may type for a move."""


class TicTacToeText(BoardText):
    kind = "tictactoe"
    board_size = 3
    rows = 3

    def vertex(self, action: int) -> str:
        row_from_top, column = divmod(int(action), 3)
        return f"{'abc'[column]}{3 - row_from_top}"

    def parse_vertex(self, text: str) -> int:
        word = text.strip().lower()
        if len(word) != 2 or word[0] not in "abc" or word[1] not in "123":
            raise MoveError(f"{text.strip()!r} is not a cell (expected a1 .. c3)")
        return (3 - int(word[1])) * 3 + "abc".index(word[0])

    def parse_human(self, text: str) -> int:
        word = text.strip()
        if len(word) == 1 and word in "123456789":
            return int(word) - 1
        try:
            return self.parse_vertex(word)
        except MoveError:
            raise MoveError(f"{word!r} is not a cell (expected a1 .. c3, or 1 .. 9 in reading order)") from None

    def why_illegal(self, state: np.ndarray, action: int) -> str:
        if state_task(self.kind).is_terminal(state[None])[0]:
            return "the game is over"
        return f"{self.vertex(action)} is taken by {MARKS[int(state[action])]}"

    def cell_marks(self, state: np.ndarray) -> list[list[str]]:
        return [[MARKS[int(c)] for c in state[r * 3 : r * 3 + 3]] for r in range(3)]

    def add_numbers(self, lines: list[str]) -> list[str]:
        digits = ["1 2 3", "4 5 6", "7 8 9"]  # the cells' numbers beside the board
        return [f"{line}     {digits[i]}" if i < 3 else line for i, line in enumerate(lines)]

    def moves_help(self) -> str:
        return "a cell as a1 .. c3 (column letter, row counted from the bottom) or 1 .. 9 (as numbered on the right)"


class ConnectFourText(BoardText):
    kind = "connect4"
    board_size = 7
    rows = 6

    def vertex(self, action: int) -> str:
        return "abcdefg"[int(action)]

    def parse_vertex(self, text: str) -> int:
        word = text.strip().lower()
        if len(word) != 1 or word not in "abcdefg":
            raise MoveError(f"{text.strip()!r} is not a column (expected a .. g)")
        return "abcdefg".index(word)

    def parse_human(self, text: str) -> int:
        word = text.strip()
        if len(word) == 1 and word in "1234567":
            return int(word) - 1
        try:
            return self.parse_vertex(word)
        except MoveError:
            raise MoveError(f"{word!r} is not a column (expected a .. g or 1 .. 7)") from None

    def why_illegal(self, state: np.ndarray, action: int) -> str:
        if state_task(self.kind).is_terminal(state[None])[0]:
            return "the game is over"
        return f"column {self.vertex(action)} is full"

    def cell_marks(self, state: np.ndarray) -> list[list[str]]:
        return [[MARKS[int(c)] for c in state[r * 7 : r * 7 + 7]] for r in reversed(range(6))]

    def add_numbers(self, lines: list[str]) -> list[str]:
        return [*lines, "   1 2 3 4 5 6 7"]

    def moves_help(self) -> str:
        return "a column as a .. g or 1 .. 7"


_TEXTS = {"tictactoe": TicTacToeText(), "connect4": ConnectFourText()}
GAMES = tuple(_TEXTS)  # the two-player games `play` and `gtp` know (cluster.play.GAMES says the same)


def board_text(kind: str) -> BoardText:
    """The text of game ``kind`` (one of `GAMES`)."""
    return _TEXTS[kind]


def state_task(kind: str) -> Task:
    """A task object of game ``kind`` for reading states (the games have no shape parameters that change them)."""
    from actors.tasks.registry import make_task

    if kind not in _TASKS:
        _TASKS[kind] = make_task(kind, {})
    return _TASKS[kind]


_TASKS: dict[str, Task] = {}


def winner(task: Task, state: np.ndarray) -> int | None:
    """The winning player (0 or 1) of the finished ``state``, or None for a draw."""
    if task.outcome(state[None])[0] == 0:
        return None
    return 1 - int(task.to_play(state[None])[0])  # the outcome is a loss for the side to move


def status(task: Task, state: np.ndarray) -> str:
    """``"X to move"``, ``"O has won"`` or ``"draw"``."""
    if not task.is_terminal(state[None])[0]:
        return f"{PLAYERS[int(task.to_play(state[None])[0])]} to move"
    won = winner(task, state)
    return "draw" if won is None else f"{PLAYERS[won]} has won"


# ----- the agent -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class AgentMove:
    """The agent's choice in a position and what its search and network think of it.

    ``search_value`` is the search root's mean value and ``network_value`` the network's own
    value of the position, both from the view of the player to move (the agent), in [-1, 1];
    ``proven``: the search proved the game's result (``search_value`` is then exact).
    """

    action: int
    search_value: float
    network_value: float
    visits: int
    total_visits: int
    simulations: int
    proven: bool

    def summary(self, player: str) -> str:
        """One line, ``player`` naming the mover: ``value for O: search -0.34, network +0.41; 12 of 64 visits``."""
        proven = ""
        if self.proven:
            proven = " (proven " + {1: "win", 0: "draw", -1: "loss"}.get(round(self.search_value), "result") + ")"
        searched = "" if self.simulations else " (proven before searching)"
        return (
            f"value for {player}: search {self.search_value:+.2f}{proven}, network {self.network_value:+.2f};"
            f" {self.visits} of {self.total_visits} visits{searched}"
        )


class GameAgent:
    """One game played from a start position: the moves so far, and a search that picks the next one.

    Either side's moves go through `play`; `choose` searches the current position for the
    player to move. The search tree is reused across moves and rebuilt after `undo`.
    """

    def __init__(
        self,
        task: Task,
        task_id: int,
        network: Network,
        search_config: SearchConfig,
        seed: int = 0,
        description: str = "",
    ) -> None:
        from actors.search import BatchedSearch

        self.task, self.task_id, self.network = task, task_id, network
        self.search_config, self.seed = search_config, seed
        self.description = description
        self.search: BatchedSearch = BatchedSearch(task, network, search_config, batch_size=1, task_id=task_id)
        self.history: list[np.ndarray] = []
        self.moves: list[int] = []
        self.new_game()

    @property
    def state(self) -> np.ndarray:
        """The current position ``[S]`` (a copy)."""
        return self.history[-1].copy()

    @property
    def to_play(self) -> int:
        return int(self.task.to_play(self.history[-1][None])[0])

    def is_over(self) -> bool:
        return bool(self.task.is_terminal(self.history[-1][None])[0])

    def winner(self) -> int | None:
        """The winner (0 or 1) of the finished game, None for a draw."""
        return winner(self.task, self.history[-1])

    def legal_actions(self) -> np.ndarray:
        return np.flatnonzero(self.task.legal_mask(self.history[-1][None])[0])

    def is_legal(self, action: int) -> bool:
        return 0 <= action < self.task.spec.num_actions and bool(
            self.task.legal_mask(self.history[-1][None])[0, action]
        )

    def new_game(self, start: np.ndarray | None = None) -> None:
        """Start again from ``start`` (default: the empty board)."""
        empty = np.zeros(self.task.spec.state_size, dtype=np.int64)
        self.history = [np.array(empty if start is None else start, dtype=np.int64)]
        self.moves = []
        self._restart_search()

    def play(self, action: int) -> None:
        """Play ``action`` for the player to move; raises `MoveError` (changing nothing) if it is illegal."""
        action = int(action)
        if not self.is_legal(action):
            raise MoveError(f"{self.task.name}: move {action} is not legal here")
        next_state = self.task.step(self.history[-1][None], np.array([action]))[0]
        if not self.search.done[0]:  # the search's root is the current position while the game goes on
            self.search.advance(np.array([action]))
        self._searched = False
        self.history.append(next_state)
        self.moves.append(action)

    def undo(self) -> int:
        """Take back the last move and return it; raises `MoveError` if no move was played."""
        if not self.moves:
            raise MoveError("no move to undo")
        self.history.pop()
        action = self.moves.pop()
        self._restart_search()
        return action

    def choose(self) -> AgentMove:
        """Search the current position and return the move for the player to move (without playing it)."""
        if self.is_over():
            raise MoveError("the game is over")
        if self._searched:  # searched already and no move played since: search afresh
            self._restart_search()
        result = self.search.run()
        self._searched = True
        action = int(result.actions[0])
        visits = result.visit_counts[0]
        return AgentMove(
            action=action,
            search_value=float(result.root_value[0]),
            network_value=self.network_value(self.history[-1]),
            visits=int(round(float(visits[action]))),
            total_visits=int(round(float(visits.sum()))),
            simulations=int(result.simulations[0]),
            proven=bool(result.proven[0]),
        )

    def network_value(self, state: np.ndarray) -> float:
        """The network's value of ``state`` from the view of its player to move (one forward pass)."""
        tokens = self.task.encode(np.asarray(state)[None])
        _, value = self.network(tokens, np.array([self.task_id], dtype=np.int64))
        return float(np.asarray(value).reshape(-1)[0])

    def _restart_search(self) -> None:
        self.search.reset(self.history[-1][None], np.array([self.seed + len(self.moves)]))
        self._searched = False


def load_game_agent(
    source: str | Path, game: str, simulations: int | None = None, version: int | None = None
) -> GameAgent:
    """The model in ``source`` (a run directory or an exported file) playing ``game`` with its evaluation search.

    Raises `ConfigError` if ``game`` is not in the model's task mix.
    """
    from actors.evaluator.evaluator import evaluation_search_config
    from cluster.trained import load_trained

    model = load_trained(source, version)
    entries, tasks = model.config.tasks.mix, model.tasks
    kinds = [entry.kind for entry in entries]
    if game not in kinds:
        games = [kind for kind, task in zip(kinds, tasks, strict=True) if task.spec.num_players == 2]
        have = f"its games: {', '.join(games)}" if games else f"it has no game, only {', '.join(kinds)}"
        raise ConfigError(f"{model.source}: --game {game}: not in the model's task mix ({have})")
    task_id = kinds.index(game)
    entry = entries[task_id]
    budget = simulations or model.config.evaluation.num_simulations
    search = evaluation_search_config(model.config.search.with_overrides(entry.search), budget)
    network = model.network(threads=1)
    description = f"{model.name} weights v{model.version} of {model.source}, {search.num_simulations} simulations"
    return GameAgent(tasks[task_id], task_id, network, search, model.config.seed, description)
