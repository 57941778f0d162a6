"""The original design's configuration, translated into ours.

Its users wrote a config dict (or a ``self_play:`` YAML section) of this shape:

    games_per_iteration: 100          # self-play episodes per iteration (then a gate)
    parallel_batch_size: 32           # concurrent episodes per self-play worker
    batch_size: 64                    # learner batch
    max_buffer_size: 100000           # replay capacity, positions
    mcts: {num_simulations: 50, c_puct: 1.5, temperature_init: 1.0, temperature_final: 0.1}
    task_generators:
      math: {enabled: true, difficulty_range: [0.1, 0.5], num_per_iteration: 30}
      code: {enabled: false}
      reasoning: {enabled: true, difficulty_range: [0.0, 1.0], num_per_iteration: 40}
      mcts: {enabled: true, num_per_iteration: 30}
    training: {success_weight: 1.0, failure_weight: 0.5, alternating_interval: 5}
    checkpointing: {enabled: true, save_every: 10, keep_best: 3}

Each key lands on one of ours (`translate`); a key left out keeps our value:

    games_per_iteration       run.episodes_per_iteration
    parallel_batch_size       selfplay.episodes_per_worker
    batch_size                learner.batch_size
    max_buffer_size           replay.capacity
    mcts.*                    search.* (the same four names)
    task_generators           tasks.mix: one entry per enabled family, with its default kind
                              (`FAMILY_KINDS`), difficulty = difficulty_range,
                              weight = num_per_iteration (a share of the mix)
    training.success_weight   replay.success_weight (sampling weight of a successful episode's positions)
    training.failure_weight   replay.failure_weight
    training.alternating_interval  supervised.refine_every (iterations between supervised refinements)
    checkpointing.save_every  run.save_every_iterations
    checkpointing.keep_best   run.keep_best
    checkpointing.enabled     must be true: a run always checkpoints (its resume depends on it)

The original dict is validated by the same machinery as our YAML, so a misspelt key or a bad
value gives the same one-line error, e.g. ``config: mcts.num_simulatons: unknown key (...)``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from cluster.errors import ConfigError

# The original design's family names -> the task kind (and shape) it trains by default.
FAMILY_KINDS: dict[str, dict[str, Any]] = {
    # Gumbel: a Countdown move has many candidates and few good ones (as in configs/local.yaml).
    "math": {"kind": "countdown", "params": {"max_numbers": 4}, "search": {"algorithm": "gumbel"}},
    # The compact shape of configs/local.yaml: 3 examples of up to 5 values, 31 tokens a position.
    "code": {"kind": "dsl", "params": {"num_examples": 3, "max_list_length": 5}},
    "reasoning": {"kind": "sudoku", "params": {"size": 4}},
    "mcts": {"kind": "tictactoe", "params": {}},
}


@dataclass
class OriginalMCTS:
    num_simulations: int | None = field(default=None, metadata={"min": 1})
    c_puct: float | None = field(default=None, metadata={"min": 0.0})
    temperature_init: float | None = field(default=None, metadata={"min": 0.0})
    temperature_final: float | None = field(default=None, metadata={"min": 0.0})


@dataclass
class OriginalGenerator:
    enabled: bool = True
    difficulty_range: tuple[float, float] = field(default=(0.0, 1.0), metadata={"range": (0.0, 1.0), "ordered": True})
    num_per_iteration: int = field(default=1, metadata={"min": 1})


@dataclass
class OriginalGenerators:
    math: OriginalGenerator | None = None
    code: OriginalGenerator | None = None
    reasoning: OriginalGenerator | None = None
    mcts: OriginalGenerator | None = None


@dataclass
class OriginalTraining:
    success_weight: float | None = field(default=None, metadata={"min": 0.0})
    failure_weight: float | None = field(default=None, metadata={"min": 0.0})
    alternating_interval: int | None = field(default=None, metadata={"min": 1})


@dataclass
class OriginalCheckpointing:
    enabled: bool = True
    save_every: int | None = field(default=None, metadata={"min": 1})
    keep_best: int | None = field(default=None, metadata={"min": 1})


@dataclass
class OriginalConfig:
    games_per_iteration: int | None = field(default=None, metadata={"min": 1})
    parallel_batch_size: int | None = field(default=None, metadata={"min": 1})
    batch_size: int | None = field(default=None, metadata={"min": 1})
    max_buffer_size: int | None = field(default=None, metadata={"min": 1})
    mcts: OriginalMCTS | None = None
    task_generators: OriginalGenerators | None = None
    training: OriginalTraining | None = None
    checkpointing: OriginalCheckpointing | None = None


ORIGINAL_KEYS = frozenset(OriginalConfig.__dataclass_fields__)


def translate(data: Any, source: str, prefix: str) -> dict[str, Any]:
    """The original design's config ``data`` as a partial config dict in our layout.

    ``prefix`` is where ``data`` sits in its file ("self_play" for a YAML section, "" for the
    dict itself); errors are `ConfigError` lines naming ``source`` and the key's full path.
    """
    from cluster.config import build

    original: OriginalConfig = build(OriginalConfig, data, source, prefix)
    where = f"{prefix}." if prefix else ""
    native: dict[str, dict[str, Any]] = {}

    def put(section: str, key: str, value: Any) -> None:
        if value is not None:
            native.setdefault(section, {})[key] = value

    put("run", "episodes_per_iteration", original.games_per_iteration)
    put("selfplay", "episodes_per_worker", original.parallel_batch_size)
    put("learner", "batch_size", original.batch_size)
    put("replay", "capacity", original.max_buffer_size)
    if original.mcts is not None:
        for key, value in vars(original.mcts).items():
            put("search", key, value)
    if original.task_generators is not None:
        mix = [
            {**FAMILY_KINDS[family], "weight": float(g.num_per_iteration), "difficulty": list(g.difficulty_range)}
            for family, g in vars(original.task_generators).items()
            if g is not None and g.enabled
        ]
        if not mix:
            raise ConfigError(f"{source}: {where}task_generators: expected at least one enabled generator")
        native["tasks"] = {"mix": mix}
    if original.training is not None:
        put("replay", "success_weight", original.training.success_weight)
        put("replay", "failure_weight", original.training.failure_weight)
        put("supervised", "refine_every", original.training.alternating_interval)
    if original.checkpointing is not None:
        if not original.checkpointing.enabled:
            raise ConfigError(
                f"{source}: {where}checkpointing.enabled: expected true (a run always checkpoints: "
                "its resume depends on it; use save_every to checkpoint less often)"
            )
        put("run", "save_every_iterations", original.checkpointing.save_every)
        put("run", "keep_best", original.checkpointing.keep_best)
    return native
