"""`SelfPlayConfig`: how many self-play workers, how many episodes each, how they push to the buffer.

Imports neither torch nor Ray, so a config error is reported before anything heavy loads.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from common.devices import DEVICES
from common.fields import check_fields


@dataclass
class WorkerRange:
    """An elastic self-play pool: at least ``min`` workers, up to ``max`` as the cluster has room for them."""

    min: int = field(default=1, metadata={"min": 1})
    max: int = field(default=1, metadata={"min": 1})

    def __post_init__(self) -> None:
        check_fields(self, "selfplay.num_workers")
        if self.min > self.max:
            raise ValueError(f"expected min <= max, got min {self.min}, max {self.max}")


@dataclass
class SelfPlayConfig:
    """Self-play workers: how many, how many episodes each, and how they push to the buffer.

    Attributes:
        num_workers: self-play actors in the run: a number, or a range ``{min, max}`` for an
            elastic pool that grows as the autoscaler adds nodes (see `worker_range`).
        episodes_per_worker: B, concurrent episode slots per worker (each task of the mix
            gets at least one, so a mix of more than B tasks gets one slot per task).
        play_seconds: length of one `SelfPlayWorker.play` call.
        push_positions: push queued trajectories once this many positions are queued.
        max_pending_pushes: buffer ``add`` calls in flight per worker; at the limit the
            worker waits for the oldest (backpressure).
        num_cpus: Ray CPUs each worker declares.
        num_gpus: Ray GPUs each worker declares (a fraction shares one GPU among workers); 0: none.
        threads: torch intra-op threads of each worker.
        device: where each worker runs its network: "cpu", "cuda" (the actor then needs a GPU share
            from Ray) or "auto" (CUDA when torch sees a GPU).
    """

    num_workers: int | WorkerRange = field(default=1, metadata={"min": 1})
    episodes_per_worker: int = field(default=64, metadata={"min": 1})
    play_seconds: float = field(default=5.0, metadata={"min": 0.0, "exclusive_min": True})
    push_positions: int = field(default=512, metadata={"min": 1})
    max_pending_pushes: int = field(default=2, metadata={"min": 1})
    num_cpus: float = field(default=1.0, metadata={"min": 0.0, "exclusive_min": True})
    num_gpus: float = field(default=0.0, metadata={"min": 0.0})
    threads: int = field(default=1, metadata={"min": 1})
    device: str = field(default="cpu", metadata={"choices": DEVICES})
    # With several models (``model: [...]``): each model's share of the self-play workers (default: equal).
    agent_share: list[float] | None = None

    def __post_init__(self) -> None:
        if isinstance(self.num_workers, dict):  # built in code from a plain mapping
            self.num_workers = WorkerRange(**self.num_workers)
        check_fields(self, "selfplay")
        if self.agent_share is not None and not all(share > 0 for share in self.agent_share):
            raise ValueError(f"agent_share: expected positive shares, got {self.agent_share}")

    def shares(self, models: int) -> list[float]:
        """Each of ``models`` models' share of the self-play workers, summing to 1."""
        shares = self.agent_share or [1.0] * models
        return [share / sum(shares) for share in shares]

    @property
    def worker_range(self) -> tuple[int, int]:
        """(fewest, most) self-play workers: both ``num_workers`` when it is a number."""
        n = self.num_workers
        return (n, n) if isinstance(n, int) else (n.min, n.max)
