"""Which task kinds exist, how a config names a mix of them, and how instances are drawn.

Kinds are imported on first use, so a process pays only for the kinds it runs.
"""

from __future__ import annotations

import importlib
import inspect
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from actors.tasks.base import Task, check_difficulty

if TYPE_CHECKING:
    from actors.tasks.config import TasksConfig

# kind -> (family, "module:Class")
KINDS: dict[str, tuple[str, str]] = {
    "countdown": ("math", "actors.tasks.countdown:Countdown"),
    "dsl": ("code", "actors.tasks.listdsl:ListDSL"),
    "sudoku": ("reasoning", "actors.tasks.sudoku:Sudoku"),
    "maze": ("reasoning", "actors.tasks.maze:Maze"),
    "tictactoe": ("search", "actors.tasks.tictactoe:TicTacToe"),
    "connect4": ("search", "actors.tasks.connect4:ConnectFour"),
    "sliding": ("search", "actors.tasks.sliding:SlidingPuzzle"),
}
FAMILIES: dict[str, list[str]] = {}
for _kind, (_family, _) in KINDS.items():
    FAMILIES.setdefault(_family, []).append(_kind)


def task_class(kind: str) -> type[Task]:
    """The `Task` subclass registered as ``kind``; ValueError naming the known kinds otherwise."""
    if kind not in KINDS:
        raise ValueError(f"unknown task kind {kind!r} (expected one of: {', '.join(KINDS)})")
    module_name, class_name = KINDS[kind][1].split(":")
    return getattr(importlib.import_module(module_name), class_name)


def task_params(kind: str) -> dict[str, inspect.Parameter]:
    """The shape parameters that kind ``kind`` accepts, by name."""
    signature = inspect.signature(task_class(kind).__init__)
    return {name: p for name, p in signature.parameters.items() if name != "self"}


def make_task(kind: str, params: dict[str, Any] | None = None) -> Task:
    """An instance of kind ``kind`` with the given shape parameters."""
    return task_class(kind)(**(params or {}))


@dataclass(frozen=True)
class Problem:
    """One generated instance, as the original design's generators return it."""

    family: str
    kind: str
    seed: int
    difficulty: float
    state: np.ndarray
    text: str


class TaskMix:
    """Draws (task id, seed, difficulty) triples from a configured mix, reproducibly."""

    def __init__(self, config: TasksConfig) -> None:
        self.entries = list(config.mix)
        self.tasks = [make_task(entry.kind, entry.params) for entry in self.entries]
        weights = np.array([entry.weight for entry in self.entries], dtype=np.float64)
        self.probabilities = weights / weights.sum()

    def draw(self, rng: np.random.Generator) -> tuple[int, int, float]:
        """A task id, an instance seed and a difficulty drawn from the mix."""
        task_id = int(rng.choice(len(self.entries), p=self.probabilities))
        low, high = self.entries[task_id].difficulty
        return task_id, int(rng.integers(2**31)), float(rng.uniform(low, high))


class FamilyGenerator:
    """The original design's generator API over one task family's kinds.

    ``generate(n)`` returns ``n`` `Problem`s whose difficulties are spread
    uniformly over ``difficulty_range`` and whose kinds cycle through ``kinds``.
    """

    family: str = ""

    def __init__(
        self,
        difficulty_range: tuple[float, float] = (0.0, 1.0),
        seed: int = 0,
        kinds: list[str] | None = None,
    ) -> None:
        low, high = (check_difficulty(d) for d in difficulty_range)
        if low > high:
            raise ValueError(f"difficulty_range must be ordered, got {difficulty_range}")
        self.difficulty_range = (low, high)
        self.seed = seed
        chosen = kinds or FAMILIES[self.family]
        for kind in chosen:
            if KINDS.get(kind, ("",))[0] != self.family:
                expected = ", ".join(FAMILIES[self.family])
                raise ValueError(f"kind {kind!r} is not in family {self.family!r} (expected one of: {expected})")
        self.tasks = [make_task(kind) for kind in chosen]
        self._rng = np.random.default_rng(seed)

    def generate(self, n: int) -> list[Problem]:
        problems = []
        for i in range(n):
            task = self.tasks[i % len(self.tasks)]
            seed = int(self._rng.integers(2**31))
            difficulty = float(self._rng.uniform(*self.difficulty_range))
            state = task.generate(seed, difficulty)
            problems.append(Problem(task.family, task.kind, seed, difficulty, state, task.render(state)))
        return problems


class MathProblemGenerator(FamilyGenerator):
    family = "math"


class CodeGenerationTaskGenerator(FamilyGenerator):
    family = "code"


class MultiStepReasoningGenerator(FamilyGenerator):
    family = "reasoning"


class MCTSSearchTaskGenerator(FamilyGenerator):
    family = "search"
