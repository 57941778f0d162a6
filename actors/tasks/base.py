"""The task contract: what every task kind provides to search, self-play and evaluation.

A task *kind* (Countdown, Sudoku, Connect Four, ...) is a `Task` subclass; an
instance of that class fixes the kind's shape parameters (a Sudoku's size, the
most numbers a Countdown may use), and with them a fixed `TaskSpec`.

The state of one episode is a flat ``int64`` vector of ``spec.state_size``
entries holding everything about it: the instance (givens, target, examples)
and the progress (moves made, player to move, step count). States of one kind
therefore stack into a ``[N, S]`` array, and every method that search calls
(`legal_mask`, `step`, `is_terminal`, `outcome`, `to_play`, `encode`) works on
such a batch at once with numpy, never one Python object per episode. Copying
a state is copying a row.

Value convention, shared with search and the networks:
- single-player kinds: `outcome` is 1.0 for a verified success, 0.0 for failure;
- two-player zero-sum kinds: `outcome` is +1 / 0 / -1 from the point of view of
  the player *to move* in the terminal state (so a move that wins leaves a state
  whose outcome is -1 for the side now to move).

Token 0 is padding in every kind's vocabulary, so observations of different
kinds can share one network.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

PAD_TOKEN = 0


class IllegalActionError(ValueError):
    """An action outside the legal-action mask was applied with `Task.step`."""


@dataclass(frozen=True)
class TaskSpec:
    """Fixed shapes of one task kind with its shape parameters.

    Attributes:
        family: one of "math", "code", "reasoning", "search".
        kind: the kind's registry name, e.g. "countdown" or "sudoku".
        obs_length: L, the number of tokens `encode` returns per state.
        vocab_size: V; tokens are in [0, V), 0 is padding.
        num_actions: A, the size of the fixed action space.
        num_players: 1 (puzzle) or 2 (zero-sum game).
        state_size: S, the length of the int64 state vector.
        max_steps: an upper bound on the moves of any episode; every episode is
            terminal after at most this many steps.
        actions_per_token: k > 0 when the action space is laid out per position:
            action ``a`` acts on token ``a // k`` (its ``a % k``-th choice), so a
            network can read policy logits per position (Sudoku: a cell and a
            digit; tic-tac-toe: k = 1). 0 when actions are not per position and
            a pooled readout is used.
    """

    family: str
    kind: str
    obs_length: int
    vocab_size: int
    num_actions: int
    num_players: int
    state_size: int
    max_steps: int
    actions_per_token: int = 0


class Task(abc.ABC):
    """One task kind. Subclasses set `family` and `kind` and build `self.spec`."""

    family: ClassVar[str]
    kind: ClassVar[str]
    spec: TaskSpec

    # ----- instances -------------------------------------------------------

    @abc.abstractmethod
    def generate(self, seed: int, difficulty: float) -> np.ndarray:
        """A new instance's initial state ``[S]``; the same seed and difficulty give the same state.

        ``difficulty`` in [0, 1]; higher is harder in a measured quantity
        (solver effort or solution length). Generated puzzles are solvable.
        """

    # ----- batched dynamics (the hot path of search) -------------------------

    @abc.abstractmethod
    def legal_mask(self, states: np.ndarray) -> np.ndarray:
        """``states [N, S]`` -> ``bool [N, A]``; all False for terminal states."""

    @abc.abstractmethod
    def step(self, states: np.ndarray, actions: np.ndarray) -> np.ndarray:
        """``states [N, S], actions [N]`` -> next states ``[N, S]`` (a new array).

        Raises `IllegalActionError` if any action is not legal in its state.
        """

    @abc.abstractmethod
    def is_terminal(self, states: np.ndarray) -> np.ndarray:
        """``states [N, S]`` -> ``bool [N]``."""

    @abc.abstractmethod
    def outcome(self, states: np.ndarray) -> np.ndarray:
        """``states [N, S]`` -> ``float32 [N]``, meaningful where terminal (see module doc)."""

    def to_play(self, states: np.ndarray) -> np.ndarray:
        """``states [N, S]`` -> ``int64 [N]``: the player to move, 0 or 1 (always 0 for puzzles)."""
        return np.zeros(len(states), dtype=np.int64)

    @abc.abstractmethod
    def encode(self, states: np.ndarray) -> np.ndarray:
        """``states [N, S]`` -> ``int64 tokens [N, L]`` in [0, V)."""

    # ----- exact answers ------------------------------------------------------

    @abc.abstractmethod
    def solve(self, state: np.ndarray) -> list[int]:
        """An exact answer from ``state [S]``.

        Puzzles: a sequence of actions that ends in success (shortest where the
        kind says so). Games: a one-element list with an optimal action for the
        player to move (for kinds whose exact solver is bounded in depth, the
        best action at the configured depth).
        """

    @abc.abstractmethod
    def verify(self, state: np.ndarray, answer: list[int]) -> bool:
        """Whether ``answer`` (in the form `solve` returns) is correct from ``state``.

        Never raises on a bad answer: illegal or malformed answers are False.
        """

    @abc.abstractmethod
    def effort(self, state: np.ndarray) -> float:
        """The measured quantity that difficulty grows for ``state [S]``.

        Solver effort (nodes searched) or optimal solution length, as the kind
        documents; used by tests and `selfplay tasks check` to show that higher
        difficulty really is harder.
        """

    @abc.abstractmethod
    def render(self, state: np.ndarray) -> str:
        """A human-readable multi-line text of ``state``."""

    def describe_action(self, state: np.ndarray, action: int) -> str:
        """A short human-readable text of ``action`` in ``state``."""
        return str(int(action))

    # ----- shared helpers -----------------------------------------------------

    @property
    def name(self) -> str:
        return f"{self.family}/{self.kind}"

    def play(self, state: np.ndarray, actions: list[int]) -> np.ndarray:
        """Apply ``actions`` one by one to ``state [S]``; raises `IllegalActionError`."""
        states = state[None, :]
        for action in actions:
            if self.is_terminal(states)[0]:
                raise IllegalActionError(f"{self.name}: action {action} after the episode ended")
            states = self.step(states, np.array([action], dtype=np.int64))
        return states[0]

    def check_legal(self, states: np.ndarray, actions: np.ndarray) -> None:
        """Raise `IllegalActionError` unless every ``actions[i]`` is legal in ``states[i]``."""
        actions = np.asarray(actions)
        in_range = (actions >= 0) & (actions < self.spec.num_actions)
        if not in_range.all():
            bad = int(np.flatnonzero(~in_range)[0])
            raise IllegalActionError(
                f"{self.name}: action {int(actions[bad])} out of range [0, {self.spec.num_actions})"
            )
        legal = self.legal_mask(states)[np.arange(len(actions)), actions]
        if not legal.all():
            bad = int(np.flatnonzero(~legal)[0])
            raise IllegalActionError(f"{self.name}: action {int(actions[bad])} is illegal in state {bad} of the batch")


def check_difficulty(difficulty: float) -> float:
    """Return ``difficulty`` as a float, or raise ValueError if it is outside [0, 1]."""
    d = float(difficulty)
    if not 0.0 <= d <= 1.0:
        raise ValueError(f"difficulty must be in [0, 1], got {difficulty}")
    return d
