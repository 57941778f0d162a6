"""The per-position format: `Trajectory` (what self-play sends) and the `POSITION_FIELDS` arrays it becomes.

A self-play actor sends finished episodes as `Trajectory` objects (numpy arrays and plain
values only, so they cross actor boundaries cheaply). The buffer turns each into *rows*:
one dict of `POSITION_FIELDS` arrays with one row per position, the same layout in memory
(`actors.replay.store`), on disk (`actors.replay.segments`) and in `ReplayBuffer.positions`.
Rows are always in ``seq`` (global index) order.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

# Per-position fields kept in memory and on disk: name -> (dtype, trailing shape by "L"/"A").
POSITION_FIELDS: dict[str, tuple[np.dtype, tuple[str, ...]]] = {
    "tokens": (np.dtype(np.int64), ("L",)),
    "legal": (np.dtype(np.bool_), ("A",)),
    "policy": (np.dtype(np.float32), ("A",)),
    "value": (np.dtype(np.float32), ()),
    "seq": (np.dtype(np.int64), ()),
    "success": (np.dtype(np.bool_), ()),
    "weights_version": (np.dtype(np.int64), ()),
    "difficulty": (np.dtype(np.float32), ()),
    "outcome": (np.dtype(np.float32), ()),
}


@dataclass
class Trajectory:
    """One finished episode, as a self-play actor sends it.

    Attributes:
        tokens: int64 [T, L], the encoded observation of each position.
        legal: bool (or int8 0/1) [T, A], legal-action masks.
        policy: float32 [T, A], search policy targets.
        value: float32 [T], value targets.
        task_id: the task's index in the run's task mix; fixes L and A.
        family, kind: the task kind's names (fixed per task id).
        difficulty: the instance's difficulty in [0, 1].
        outcome: the episode's outcome as the self-play worker defines it.
        success: puzzles: solved; games: what the worker sets (e.g. outcome > 0 for the first player).
        weights_version: the network version that played the episode.
    """

    tokens: np.ndarray
    legal: np.ndarray
    policy: np.ndarray
    value: np.ndarray
    task_id: int
    family: str
    kind: str
    difficulty: float = 0.0
    outcome: float = 0.0
    success: bool = False
    weights_version: int = 0

    @property
    def num_positions(self) -> int:
        return int(np.shape(self.tokens)[0])

    def checked_rows(self, where: str) -> dict[str, np.ndarray]:
        """This episode's positions as `POSITION_FIELDS` arrays (without ``seq``); ValueError naming ``where``."""
        tokens, legal, policy, value = (np.asarray(a) for a in (self.tokens, self.legal, self.policy, self.value))
        if tokens.ndim != 2 or legal.ndim != 2 or policy.ndim != 2 or value.ndim != 1:
            raise ValueError(
                f"{where}: expected tokens [T, L], legal [T, A], policy [T, A], value [T]; got shapes "
                f"{tokens.shape}, {legal.shape}, {policy.shape}, {value.shape}"
            )
        t = tokens.shape[0]
        if legal.shape[0] != t or policy.shape != legal.shape or value.shape[0] != t:
            raise ValueError(
                f"{where}: inconsistent shapes tokens {tokens.shape}, legal {legal.shape}, "
                f"policy {policy.shape}, value {value.shape}"
            )
        if not np.issubdtype(tokens.dtype, np.integer):
            raise ValueError(f"{where}: tokens must be integers, got {tokens.dtype}")
        if not isinstance(self.task_id, (int, np.integer)) or self.task_id < 0:
            raise ValueError(f"{where}: task_id must be a non-negative integer, got {self.task_id!r}")
        if not isinstance(self.family, str) or not isinstance(self.kind, str):
            raise ValueError(f"{where}: family and kind must be strings")
        # Per-episode values are repeated per position: a row then stands on its own, on disk too.
        return {
            "tokens": tokens.astype(np.int64, copy=False),
            "legal": legal.astype(np.bool_, copy=False),
            "policy": policy.astype(np.float32, copy=False),
            "value": value.astype(np.float32, copy=False),
            "success": np.full(t, bool(self.success)),
            "weights_version": np.full(t, int(self.weights_version), dtype=np.int64),
            "difficulty": np.full(t, self.difficulty, dtype=np.float32),
            "outcome": np.full(t, self.outcome, dtype=np.float32),
        }


def rows_from(rows: dict[str, np.ndarray], first_seq: int) -> dict[str, np.ndarray]:
    """The rows with ``seq >= first_seq`` (they are a suffix: rows are in seq order)."""
    start = int(np.searchsorted(rows["seq"], first_seq))
    return rows if start == 0 else {name: array[start:] for name, array in rows.items()}


def concat_rows(parts: Sequence[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    """Consecutive pieces of one task's rows (each in seq order, in seq order of each other) as one."""
    return {name: np.concatenate([p[name] for p in parts]) for name in POSITION_FIELDS}
