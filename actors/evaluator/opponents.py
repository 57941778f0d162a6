"""The reference opponents a network's game play is measured against on an absolute scale.

Unlike the gate (candidate against best, both relative), these do not change
between versions: the task's exact solver (perfect minimax for tic-tac-toe),
alpha-beta at fixed depths for Connect Four, and a uniformly random player.
They move directly, without search; the network plays them with search, both colours.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from actors.tasks.base import Task

# A reference opponent: states [k, S] (its player to move) -> actions [k].
Mover = Callable[[np.ndarray], np.ndarray]


def random_mover(task: Task, rng: np.random.Generator) -> Mover:
    """A uniformly random legal move per state, drawn from ``rng``."""

    def move(states: np.ndarray) -> np.ndarray:
        legal = task.legal_mask(states)
        return np.where(legal, rng.random(legal.shape), -1.0).argmax(axis=1)

    return move


def solver_mover(task: Task, depth: int | None = None) -> Mover:
    """The task's exact solver's move (`Task.solve`), or with ``depth`` its depth-bounded ``best_action``."""

    def move(states: np.ndarray) -> np.ndarray:
        if depth is None:
            return np.array([task.solve(state)[0] for state in states], dtype=np.int64)
        return np.array([task.best_action(state, depth) for state in states], dtype=np.int64)

    return move


def reference_opponents(task: Task, rng: np.random.Generator, connect4_depths: list[int]) -> dict[str, Mover]:
    """The reference opponents of a game kind by name: its solver(s) and a uniformly random player."""
    if task.kind == "connect4":
        # Connect Four is too large to solve per move, so its references are bounded searches.
        opponents = {f"alphabeta-{depth}": solver_mover(task, depth) for depth in connect4_depths}
    elif task.kind == "tictactoe":
        opponents = {"minimax": solver_mover(task)}
    else:
        opponents = {"solver": solver_mover(task)}
    opponents["random"] = random_mover(task, rng)
    return opponents
