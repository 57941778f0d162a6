"""The original design's agents: an HRM or a TRM that a `SelfPlayTrainer` trains.

    agent = create_trm_agent("tiny", device="cpu")           # a preset name, a dict of ModelConfig fields, or one
    trainer = SelfPlayTrainer(trm_agent=agent, config={...})  # the run trains this architecture and size
    ... await trainer.iteration(0) ...
    agent.network                                             # the run's best weights, a torch module

An agent's network is built once the trainer knows the run's tasks (their shapes fix the
embeddings and heads), and holds the best weights after every iteration. An agent whose
network was built already (e.g. trained before, for the same tasks) starts the run from it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from common.fields import check_fields
from learner.model_config import ModelConfig, resolve


@dataclass
class Agent:
    """A network architecture and size, where it runs, and (once built) the network itself."""

    model_config: ModelConfig
    device: str = "cpu"
    network: Any = None  # a torch module once `build` ran
    version: int | None = None  # the run's weights version the network holds

    @property
    def arch(self) -> str:
        return self.model_config.arch

    def build(self, task_shapes: Sequence[Any]) -> Any:
        """The network for ``task_shapes`` (built on first use, kept after), in eval mode on the agent's device."""
        from learner.models import build_model

        if self.network is None:
            self.network = build_model(self.model_config, task_shapes).to(self.device).eval()
        return self.network

    def state_dict(self) -> dict[str, np.ndarray]:
        """The network's weights as CPU numpy arrays."""
        return {name: tensor.detach().cpu().numpy() for name, tensor in self.network.state_dict().items()}

    def load_weights(self, weights: dict[str, np.ndarray], version: int) -> None:
        """Load ``weights`` (numpy arrays by name) as weights version ``version``."""
        import torch

        self.network.load_state_dict({name: torch.from_numpy(np.array(value)) for name, value in weights.items()})
        self.version = version


def create_hrm_agent(config: str | dict[str, Any] | ModelConfig | None = None, device: str = "cpu") -> Agent:
    """An HRM agent: ``config`` a preset name (tiny, small, paper), a dict of `ModelConfig` fields, or one."""
    return Agent(_model_config("hrm", config), device)


def create_trm_agent(config: str | dict[str, Any] | ModelConfig | None = None, device: str = "cpu") -> Agent:
    """A TRM agent: ``config`` a preset name (tiny, small, paper), a dict of `ModelConfig` fields, or one."""
    return Agent(_model_config("trm", config), device)


def _model_config(arch: str, config: str | dict[str, Any] | ModelConfig | None) -> ModelConfig:
    if config is None:
        config = ModelConfig(arch=arch)
    elif isinstance(config, str):
        config = ModelConfig(arch=arch, preset=config)
    elif isinstance(config, dict):
        names = {f.name for f in dataclasses.fields(ModelConfig)}
        unknown = sorted(set(config) - names)
        if unknown:
            raise ValueError(f"model.{unknown[0]}: unknown key (expected one of: {', '.join(sorted(names))})")
        config = ModelConfig(**{**config, "arch": config.get("arch", arch)})
    if config.arch != arch:
        raise ValueError(f"model.arch: create_{arch}_agent builds {arch}, got {config.arch!r}")
    check_fields(config, "model")
    resolve(config)  # raises ValueError on an impossible combination (e.g. width not divisible by heads)
    return config
