"""Shared fixtures of the model tests: small configs and task shapes."""

import pytest
import torch

from learner.models import ModelConfig, TaskShape

SUDOKU4 = TaskShape(obs_length=16, vocab_size=6, num_actions=64, actions_per_token=4)
POOLED = TaskShape(obs_length=9, vocab_size=5, num_actions=7, actions_per_token=0)


def small_config(arch: str, **overrides) -> ModelConfig:
    """A fast model for unit tests: width 32, two heads, one or two layers."""
    values = dict(arch=arch, preset="tiny", hidden_size=32, num_heads=2)
    values.update(overrides)
    return ModelConfig(**values)


@pytest.fixture(autouse=True)
def _seeded_single_thread():
    """Seeded, on one thread: small models gain nothing from a second thread, and lose much when the core is busy."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    torch.manual_seed(0)
    yield
    torch.set_num_threads(threads)
