"""`TasksConfig`: the task mix of a run, one `TaskEntry` per kind.

Imports neither torch nor Ray (nor any task kind's module), so a config error is reported at once.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from actors.tasks.registry import KINDS


@dataclass
class TaskEntry:
    """One kind in a task mix: how often it is drawn, over which difficulties, and how it is searched.

    ``search`` overrides fields of the run's search settings for this kind alone
    (e.g. ``{algorithm: gumbel}`` for a puzzle whose first move has many candidates,
    while a game keeps PUCT); see `SearchConfig.with_overrides`.
    """

    kind: str = field(default="tictactoe", metadata={"choices": tuple(KINDS)})
    weight: float = field(default=1.0, metadata={"min": 0.0, "exclusive_min": True})
    difficulty: tuple[float, float] = field(default=(0.0, 1.0), metadata={"range": (0.0, 1.0), "ordered": True})
    params: dict[str, Any] = field(default_factory=dict, metadata={"kind_params": "kind"})
    search: dict[str, Any] = field(default_factory=dict)


@dataclass
class TasksConfig:
    """The task mix of a run. Task ids, as the networks see them, are positions in ``mix``."""

    mix: list[TaskEntry] = field(default_factory=lambda: [TaskEntry()], metadata={"min_length": 1})
