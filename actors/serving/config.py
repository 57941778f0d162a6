"""`InferenceConfig`: optional inference-server actors that batch the leaves of many self-play workers.

Imports neither torch nor Ray, so a config error is reported before anything heavy loads.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from common.devices import DEVICES
from common.fields import check_fields


@dataclass
class InferenceConfig:
    """Inference servers: with ``servers > 0`` self-play workers send their leaf batches to a server
    (assigned round-robin) instead of running their own copy of the network.

    Attributes:
        servers: inference-server actors; 0: every worker runs its own network.
        num_gpus: GPUs each server declares to Ray (a GPU node then feeds many CPU workers).
        num_cpus: CPUs each server declares.
        max_batch: most rows one forward pass of a server evaluates: waiting requests are merged up to
            it (a single larger request is evaluated in slices of it).
        device: where a server runs the network: "auto" (CUDA when it has a GPU), "cpu" or "cuda".
        threads: torch intra-op threads of a server on CPU.
    """

    servers: int = field(default=0, metadata={"min": 0})
    num_gpus: float = field(default=0.0, metadata={"min": 0.0})
    num_cpus: float = field(default=1.0, metadata={"min": 0.0})
    max_batch: int = field(default=4096, metadata={"min": 1})
    device: str = field(default="auto", metadata={"choices": DEVICES})
    threads: int = field(default=1, metadata={"min": 1})

    def __post_init__(self) -> None:
        check_fields(self, "inference")
