"""Policy-value networks: HRM and TRM, one interface, presets from CPU-tiny to paper size.

    model = build_model(ModelConfig(arch="trm", preset="tiny"), [task.spec for task in tasks])
    out = model(tokens, task_ids)  # PolicyValueOutput: policy_logits [B, A_max], value [B], halt_logits, steps

Training with deep supervision is `learner.losses.deep_supervision_step`;
checkpoints are in `learner.checkpoint`; sizes and speeds in `learner.models.info`.
"""

from collections.abc import Sequence
from typing import Any

from learner.model_config import ARCHS, PRESETS, Hyperparams, ModelConfig, resolve
from learner.models.base import (
    Carry,
    EncodedInput,
    PolicyValueOutput,
    RecursiveReasoningModel,
    SegmentOutput,
    TaskShape,
)
from learner.models.ema import ModelEMA, make_ema
from learner.models.hrm import HRM
from learner.models.trm import TRM

ARCH_CLASSES: dict[str, type[RecursiveReasoningModel]] = {"hrm": HRM, "trm": TRM}


def build_model(config: ModelConfig, tasks: Sequence[Any]) -> RecursiveReasoningModel:
    """The network ``config`` describes, serving ``tasks`` (task id = position in ``tasks``).

    ``tasks`` are any objects with ``obs_length``, ``vocab_size``, ``num_actions``
    and ``actions_per_token`` (TaskShape, actors' TaskSpec, or a Task with a ``spec``).
    """
    if not tasks:
        raise ValueError("build_model needs at least one task shape")
    hp = resolve(config)
    shapes = [TaskShape.of(task) for task in tasks]
    return ARCH_CLASSES[hp.arch](hp, config, shapes)


def count_parameters(model: Any) -> int:
    return sum(p.numel() for p in model.parameters())


__all__ = [
    "ARCHS",
    "ARCH_CLASSES",
    "HRM",
    "PRESETS",
    "TRM",
    "Carry",
    "EncodedInput",
    "Hyperparams",
    "ModelConfig",
    "ModelEMA",
    "PolicyValueOutput",
    "RecursiveReasoningModel",
    "SegmentOutput",
    "TaskShape",
    "build_model",
    "count_parameters",
    "make_ema",
    "resolve",
]
