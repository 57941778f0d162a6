"""The original design's training-data API: `TrainingDataExtractor` and `SelfPlayDataset` over `Episode`s.

    examples = TrainingDataExtractor(success_weight=1.0, failure_weight=0.5).extract_examples(episodes)
    dataset = SelfPlayDataset(examples, "policy")       # a torch Dataset: one dict of tensors per example

Three kinds of example, each one position of an episode (`actors.selfplay.generator.Episode`):

- ``policy``: positions whose mover did not lose (puzzles: the episode was solved; games: the
  mover won or drew), with the search's policy as the target, weighted ``success_weight``;
- ``value``: every position, with the episode's result from the mover's view as the target
  (what self-play's replay trains on), weighted ``success_weight`` or ``failure_weight``;
- ``negative``: positions whose mover lost (an unsolved puzzle, a lost game), the action played
  as the target to push down, weighted ``failure_weight``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from actors.selfplay.generator import Episode

EXAMPLE_KINDS = ("policy", "value", "negative")


@dataclass
class Example:
    """One training position: ``tokens int64 [L]``, ``legal bool [A]``, a target and its weight."""

    tokens: np.ndarray
    legal: np.ndarray
    task_id: int
    kind: str  # the task kind, e.g. "sudoku"
    policy: np.ndarray  # float32 [A]: the search policy ("policy"), one-hot on the action played ("negative")
    value: float  # the result from the mover's view
    weight: float


class TrainingDataExtractor:
    """Turns episodes into weighted policy, value and negative examples (see the module docstring)."""

    def __init__(self, success_weight: float = 1.0, failure_weight: float = 0.5) -> None:
        if success_weight < 0 or failure_weight < 0:
            raise ValueError(f"weights must be >= 0, got success {success_weight}, failure {failure_weight}")
        self.success_weight = float(success_weight)
        self.failure_weight = float(failure_weight)

    def extract_examples(self, episodes: Sequence[Episode]) -> dict[str, list[Example]]:
        """``{"policy": [...], "value": [...], "negative": [...]}`` from every position of ``episodes``."""
        examples: dict[str, list[Example]] = {kind: [] for kind in EXAMPLE_KINDS}
        for episode in episodes:
            values = episode.value_targets()
            for t, step in enumerate(episode.steps):
                lost = values[t] < 0 if episode.two_player else not episode.success
                position = (episode.tokens[t], episode.legal[t], episode.task_id, episode.problem.kind)
                weight = self.failure_weight if lost else self.success_weight
                examples["value"].append(Example(*position, step.policy, float(values[t]), weight))
                if not lost:
                    examples["policy"].append(Example(*position, step.policy, float(values[t]), self.success_weight))
                else:
                    played = np.zeros_like(step.policy)
                    played[step.action] = 1.0
                    examples["negative"].append(Example(*position, played, float(values[t]), self.failure_weight))
        return examples


class SelfPlayDataset(Dataset):
    """A torch ``Dataset`` of examples of one kind ("policy", "value" or "negative").

    ``examples``: the dict `TrainingDataExtractor.extract_examples` returns, or a list of `Example`.
    Item ``i``: ``{"tokens", "legal_mask", "target", "value", "weight", "task_id"}`` tensors
    (``target`` the policy target for "policy" and "negative"). Examples of different task kinds
    have different shapes: batch them per task id (`task_ids`, `subset`).
    """

    def __init__(self, examples: dict[str, list[Example]] | list[Example], kind: str) -> None:
        if kind not in EXAMPLE_KINDS:
            raise ValueError(f"kind: expected one of {', '.join(EXAMPLE_KINDS)}, got {kind!r}")
        self.kind = kind
        self.examples = list(examples[kind] if isinstance(examples, dict) else examples)

    def __len__(self) -> int:
        return len(self.examples)

    def __getitem__(self, index: int) -> dict[str, Any]:
        e = self.examples[index]
        return {
            "tokens": torch.from_numpy(np.asarray(e.tokens, dtype=np.int64)),
            "legal_mask": torch.from_numpy(np.asarray(e.legal, dtype=np.bool_)),
            "target": torch.from_numpy(np.asarray(e.policy, dtype=np.float32)),
            "value": torch.tensor(float(e.value)),
            "weight": torch.tensor(float(e.weight)),
            "task_id": torch.tensor(int(e.task_id)),
        }

    @property
    def task_ids(self) -> list[int]:
        return sorted({e.task_id for e in self.examples})

    def subset(self, task_id: int) -> SelfPlayDataset:
        """The examples of one task id (one shape: a ``DataLoader`` can batch them)."""
        return SelfPlayDataset([e for e in self.examples if e.task_id == task_id], self.kind)
