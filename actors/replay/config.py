"""`ReplayConfig`: how much the replay buffer keeps, how it samples, how it writes to disk.

Imports neither torch nor Ray, so a config error is reported before anything heavy loads.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from common.fields import check_fields

SAMPLING_MODES = ("uniform", "prioritized")


@dataclass
class ReplayConfig:
    """How much the buffer keeps, how it samples, how it writes to disk.

    Attributes:
        capacity: positions kept in the whole buffer; the oldest go first.
        sampling: "uniform" or "prioritized" (the exact rule is in the docstring of `actors.replay.store`).
        priority_alpha: how strongly priorities skew sampling (0 = not at all).
        priority_beta: exponent of the importance weights returned as ``weight`` (0 = all 1).
        priority_epsilon: the smallest priority kept; `update_priorities` clips up to it.
        success_weight: sampling weight of a position from a successful episode, multiplied
            into its sampling probability (and into its task's share when the task is drawn).
        failure_weight: the same for a position from an unsuccessful episode.
        segment_positions: positions per compacted segment file on disk.
        min_positions_to_sample: `sample` raises `ReplayNotReadyError` below this size.
        shards: buffer actors the replay is split into, each with its own directory, holding
            ``capacity / shards`` positions and sampling from ``min_positions_to_sample / shards``
            (`per_shard`); self-play workers push to them round-robin, the learner samples its
            batches from each in turn. More shards: more insert throughput (`selfplay bench scale`).
    """

    capacity: int = field(default=200_000, metadata={"min": 1})
    sampling: str = field(default="uniform", metadata={"choices": SAMPLING_MODES})
    priority_alpha: float = field(default=0.6, metadata={"min": 0.0})
    priority_beta: float = field(default=0.4, metadata={"min": 0.0, "max": 1.0})
    priority_epsilon: float = field(default=1e-6, metadata={"min": 0.0, "exclusive_min": True})
    success_weight: float = field(default=1.0, metadata={"min": 0.0})
    failure_weight: float = field(default=1.0, metadata={"min": 0.0})
    segment_positions: int = field(default=4096, metadata={"min": 1})
    min_positions_to_sample: int = field(default=1024, metadata={"min": 1})
    num_cpus: float = field(default=0.5, metadata={"min": 0.0})  # Ray resources: it mostly waits on the disk
    shards: int = field(default=1, metadata={"min": 1})

    def __post_init__(self) -> None:
        check_fields(self, "replay")
        if self.success_weight == 0 and self.failure_weight == 0:
            raise ValueError("replay: success_weight and failure_weight are both 0: nothing could be sampled")
        if self.min_positions_to_sample > self.capacity:
            raise ValueError(
                f"replay.min_positions_to_sample: expected at most capacity ({self.capacity}), "
                f"got {self.min_positions_to_sample}"
            )

    def per_shard(self) -> ReplayConfig:
        """The configuration of one of ``shards`` buffer actors: its share of the capacity and of the minimum."""
        if self.shards == 1:
            return self
        share = -(-self.capacity // self.shards), -(-self.min_positions_to_sample // self.shards)  # rounded up
        return dataclasses.replace(self, capacity=share[0], min_positions_to_sample=share[1], shards=1)
