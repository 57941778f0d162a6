"""`TasksConfig`: the task mix of a run, one `TaskEntry` per kind, each with its `CurriculumConfig`.

Imports neither torch nor Ray, and no task kind's module except, lazily, the kind of an entry that asks for an
adaptive curriculum (to refuse one for a two-player kind), so a config error is reported at once.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from actors.tasks.registry import KINDS
from common.fields import check_fields

CURRICULUM_MODES = ("none", "adaptive", "linear")
# The fields of `CurriculumConfig` each mode uses; any other field must keep its default.
CURRICULUM_FIELDS: dict[str, tuple[str, ...]] = {
    "none": (),
    "adaptive": ("start", "step", "width", "min_episodes", "raise_above", "lower_below"),
    "linear": ("step", "width", "episodes"),
}


@dataclass
class CurriculumConfig:
    """How one mix entry's difficulty moves through its range [low, high] during a run (`actors.tasks.curriculum`).

    Episodes are drawn uniformly from the window ``[max(low, level - width), level]``
    below the current ``level``. The window keeps the difficulties just mastered in play
    beside the new ones (with the defaults, width = 2 x step, half of a fresh window was
    passed already), and everything below it stays in the replay buffer. A window reaching
    down to ``low`` would practise every level, but its solved easy part would then carry
    the measured rate over the threshold while the newest step still fails: with k steps
    in the window, the newest needs only a success rate of k * raise_above - (k - 1).

    Attributes:
        mode: "none": draw from [low, high] throughout (no curriculum); "adaptive": the
            level moves with the measured success rate; "linear": the level rises with
            the episodes played, from low to high.
        start: adaptive: the first level (null: ``low``); within the entry's range.
        step: how far the level moves at a change; linear rises in steps of this size too.
        width: how far below the level the window of drawn difficulties reaches.
        min_episodes: adaptive: the success rate is judged over blocks of at least this many
            episodes drawn at the current level; after each judgement (a change or not) the
            count starts again, so a poor old block never holds back a network that has
            improved since.
        raise_above: adaptive: a block whose success rate is above this raises the level
            by ``step`` (1.0: never).
        lower_below: adaptive: a block whose success rate is below this (a collapse)
            lowers the level by ``step`` (0.0: never).
        episodes: linear: the episodes of this entry, over the whole run and every worker,
            after which the level is ``high``.

    Adaptive needs a success rate: puzzles only. Self-play of a two-player game has none
    (both sides are the same network, so player 0's share of wins says nothing about
    strength), and `TaskEntry` refuses adaptive for such a kind; linear works for every kind.
    """

    mode: str = field(default="none", metadata={"choices": CURRICULUM_MODES})
    start: float | None = field(default=None, metadata={"min": 0.0, "max": 1.0})
    step: float = field(default=0.1, metadata={"min": 0.0, "exclusive_min": True, "max": 1.0})
    width: float = field(default=0.2, metadata={"min": 0.0, "max": 1.0})
    min_episodes: int = field(default=200, metadata={"min": 1})
    raise_above: float = field(default=0.8, metadata={"min": 0.0, "max": 1.0})
    lower_below: float = field(default=0.3, metadata={"min": 0.0, "max": 1.0})
    episodes: int = field(default=10_000, metadata={"min": 1})

    def __post_init__(self) -> None:
        check_fields(self, "curriculum")
        used = CURRICULUM_FIELDS[self.mode]
        for f in dataclasses.fields(self):
            if f.name != "mode" and f.name not in used and getattr(self, f.name) != f.default:
                users = [mode for mode, names in CURRICULUM_FIELDS.items() if f.name in names]
                raise ValueError(f"{f.name} is used by mode {' and '.join(users)} only, got mode {self.mode}")
        if self.lower_below > self.raise_above:
            raise ValueError(
                f"expected lower_below <= raise_above, got lower_below {self.lower_below}, "
                f"raise_above {self.raise_above}"
            )


@dataclass
class TaskEntry:
    """One kind in a task mix: how often it is drawn, over which difficulties, and how it is searched.

    ``search`` overrides fields of the run's search settings for this kind alone
    (e.g. ``{algorithm: gumbel}`` for a puzzle whose first move has many candidates,
    while a game keeps PUCT); see `SearchConfig.with_overrides`. ``curriculum`` says how
    the difficulties drawn move within ``difficulty`` during the run (default: they do not).
    """

    kind: str = field(default="tictactoe", metadata={"choices": tuple(KINDS)})
    weight: float = field(default=1.0, metadata={"min": 0.0, "exclusive_min": True})
    difficulty: tuple[float, float] = field(default=(0.0, 1.0), metadata={"range": (0.0, 1.0), "ordered": True})
    params: dict[str, Any] = field(default_factory=dict, metadata={"kind_params": "kind"})
    search: dict[str, Any] = field(default_factory=dict)
    curriculum: CurriculumConfig = field(default_factory=CurriculumConfig)

    def __post_init__(self) -> None:
        if isinstance(self.curriculum, dict):  # built in code from a plain mapping
            self.curriculum = CurriculumConfig(**self.curriculum)
        curriculum, (low, high) = self.curriculum, self.difficulty
        if curriculum.start is not None and not low <= curriculum.start <= high:
            raise ValueError(
                f"curriculum.start: expected a level in the entry's difficulty range [{low}, {high}], "
                f"got {curriculum.start}"
            )
        if curriculum.mode == "adaptive":
            from actors.tasks.registry import task_class

            # The number of players is the kind's, whatever its shape parameters (checked elsewhere).
            if task_class(self.kind)().spec.num_players == 2:
                raise ValueError(
                    f"curriculum.mode: adaptive needs a success rate, which self-play of the two-player kind "
                    f"{self.kind} has not (both sides are the same network); use linear or none"
                )


@dataclass
class TasksConfig:
    """The task mix of a run. Task ids, as the networks see them, are positions in ``mix``."""

    mix: list[TaskEntry] = field(default_factory=lambda: [TaskEntry()], metadata={"min_length": 1})
