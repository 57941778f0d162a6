"""`SelfPlayConfig`: how many self-play workers, how many episodes each, how they push to the buffer.

Imports neither torch nor Ray, so a config error is reported before anything heavy loads.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from common.devices import DEVICES
from common.fields import check_fields


@dataclass
class SelfPlayConfig:
    """Self-play workers: how many, how many episodes each, and how they push to the buffer.

    Attributes:
        num_workers: self-play actors in the run.
        episodes_per_worker: B, concurrent episode slots per worker (each task of the mix
            gets at least one, so a mix of more than B tasks gets one slot per task).
        play_seconds: length of one `SelfPlayWorker.play` call.
        push_positions: push queued trajectories once this many positions are queued.
        max_pending_pushes: buffer ``add`` calls in flight per worker; at the limit the
            worker waits for the oldest (backpressure).
        num_cpus: Ray CPUs each worker declares.
        threads: torch intra-op threads of each worker.
        device: where each worker runs its network: "cpu", "cuda" (the actor then needs a GPU share
            from Ray) or "auto" (CUDA when torch sees a GPU).
    """

    num_workers: int = field(default=1, metadata={"min": 1})
    episodes_per_worker: int = field(default=64, metadata={"min": 1})
    play_seconds: float = field(default=5.0, metadata={"min": 0.0, "exclusive_min": True})
    push_positions: int = field(default=512, metadata={"min": 1})
    max_pending_pushes: int = field(default=2, metadata={"min": 1})
    num_cpus: float = field(default=1.0, metadata={"min": 0.0, "exclusive_min": True})
    threads: int = field(default=1, metadata={"min": 1})
    device: str = field(default="cpu", metadata={"choices": DEVICES})

    def __post_init__(self) -> None:
        check_fields(self, "selfplay")
