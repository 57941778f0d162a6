"""Network callables that need no training: a uniform evaluator and an exact-value oracle.

Both follow the search's network contract, ``network(tokens int64 [B, L],
task_ids int64 [B]) -> (policy_logits float32 [B, A], value float32 [B])``,
so they are interchangeable with a trained HRM or TRM behind `TorchNetwork`.
"""

from __future__ import annotations

import numpy as np

from actors.search.evaluation import Network
from actors.tasks.base import Task


def uniform_network(num_actions: int) -> Network:
    """An evaluator with no knowledge: zero logits (a uniform prior over the legal actions) and value 0.

    With it, search is plain UCT-style planning guided only by the terminal outcomes it reaches.
    """

    def network(tokens: np.ndarray, task_ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        n = len(tokens)
        return np.zeros((n, num_actions), dtype=np.float32), np.zeros(n, dtype=np.float32)

    return network


def oracle_network(task: Task, max_states: int = 200_000) -> Network:
    """An evaluator returning the exact value of each position (uniform logits), for kinds small enough to enumerate.

    Every state reachable from the kind's starting position (``task.generate(0, 1.0)``,
    e.g. tic-tac-toe's empty board) is enumerated once, its observation recorded
    with ``task.value(state)``, the exact value for the player to move. The
    callable looks observations up, so the task's ``encode`` must determine the
    value (true of tic-tac-toe, whose tokens are the board from the mover's view).
    Raises ValueError for a kind without ``value`` or with more than ``max_states`` states.
    """
    if not callable(getattr(task, "value", None)):
        raise ValueError(f"oracle_network: {task.name} has no exact value(state)")
    start = task.generate(0, 1.0)
    states, frontier, seen = [start], start[None, :], {start.tobytes()}
    while len(frontier):
        parents, actions = np.nonzero(task.legal_mask(frontier))
        children = task.step(frontier[parents], actions) if len(parents) else frontier[:0]
        fresh = []
        for child in children:
            key = child.tobytes()
            if key not in seen:
                seen.add(key)
                fresh.append(child)
        if len(seen) > max_states:
            raise ValueError(f"oracle_network: {task.name} has more than {max_states} reachable states")
        states.extend(fresh)
        frontier = np.array(fresh, dtype=np.int64).reshape(-1, task.spec.state_size)
    all_states = np.array(states)
    values = {
        tokens.tobytes(): task.value(state) for state, tokens in zip(all_states, task.encode(all_states), strict=True)
    }
    num_actions = task.spec.num_actions

    def network(tokens: np.ndarray, task_ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        tokens = np.ascontiguousarray(tokens, dtype=np.int64)
        value = np.array([values[row.tobytes()] for row in tokens], dtype=np.float32)
        return np.zeros((len(tokens), num_actions), dtype=np.float32), value

    return network
