"""selfplay-cluster's wiring and entry points, and the original design's Python API.

    from cluster import SelfPlayTrainer, create_hrm_agent, create_trm_agent
    from cluster import SelfPlayEpisodeGenerator, TrainingDataExtractor, SelfPlayDataset
    from cluster import MathProblemGenerator, CodeGenerationTaskGenerator, MultiStepReasoningGenerator
    from cluster import MCTSSearchTaskGenerator

The names load on first use, so ``python -m cluster`` (the `selfplay` command) pays only for
what a command needs: a config error is reported before torch or Ray is imported.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "SelfPlayTrainer": "cluster.trainer",
    "create_hrm_agent": "learner.agents",
    "create_trm_agent": "learner.agents",
    "Agent": "learner.agents",
    "SelfPlayEpisodeGenerator": "actors.selfplay.generator",
    "Episode": "actors.selfplay.generator",
    "TrainingDataExtractor": "actors.selfplay.examples",
    "SelfPlayDataset": "actors.selfplay.examples",
    "MathProblemGenerator": "actors.tasks.registry",
    "CodeGenerationTaskGenerator": "actors.tasks.registry",
    "MultiStepReasoningGenerator": "actors.tasks.registry",
    "MCTSSearchTaskGenerator": "actors.tasks.registry",
    "Problem": "actors.tasks.registry",
    "RunConfig": "cluster.config",
    "load_config": "cluster.config",
    "ConfigError": "cluster.errors",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'cluster' has no attribute {name!r}")
    return getattr(importlib.import_module(_EXPORTS[name]), name)
