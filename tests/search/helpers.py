"""Helpers of the search tests."""

from __future__ import annotations

import numpy as np


def random_positions(task, count: int, min_moves: int, max_moves: int, seed: int, decisive: bool) -> np.ndarray:
    """``[count, S]`` distinct non-terminal positions after random play; with ``decisive`` only
    positions where some legal moves are worse than others (by the task's exact ``action_values``)."""
    rng = np.random.default_rng(seed)
    positions, seen = [], set()
    while len(positions) < count:
        state = task.generate(0, 1.0)
        for _ in range(int(rng.integers(min_moves, max_moves + 1))):
            legal = np.flatnonzero(task.legal_mask(state[None])[0])
            state = task.step(state[None], np.array([rng.choice(legal)]))[0]
            if task.is_terminal(state[None])[0]:
                break
        if task.is_terminal(state[None])[0] or state.tobytes() in seen:
            continue
        if decisive:
            values = task.action_values(state)
            legal_values = values[~np.isnan(values)]
            if legal_values.max() == legal_values.min():
                continue
        seen.add(state.tobytes())
        positions.append(state)
    return np.array(positions)
