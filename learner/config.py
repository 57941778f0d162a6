"""`LearnerConfig`: how the learner trains, paces itself against self-play, and what it asks of Ray.

Imports neither torch nor Ray, so a config error is reported before anything heavy loads.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from common.devices import DEVICES
from common.fields import check_fields

SCHEDULES = ("constant", "cosine")


@dataclass
class LearnerConfig:
    """How the learner trains, paces itself against self-play, and what it asks of Ray.

    Attributes:
        batch_size: positions per batch (each batch is one task id).
        lr: peak learning rate of AdamW.
        weight_decay: AdamW's decoupled weight decay, on every parameter (as the papers' code).
        betas: AdamW's (beta1, beta2); TRM's code uses (0.9, 0.95).
        warmup_steps: learner steps of linear warm-up from lr / warmup_steps to lr.
        schedule: after warm-up, "constant" or "cosine" (decays to ``final_lr_fraction`` x lr at ``total_steps``).
        total_steps: where the cosine schedule ends (required for "cosine"); the rate stays at its floor after.
        final_lr_fraction: the cosine schedule's floor, as a fraction of lr.
        grad_clip_norm: clip the global gradient norm to this before every optimizer step; None: no clipping.
        value_loss_weight, halting_loss_weight, value_tolerance: `learner.losses.LossWeights`.
        supervision_segments: deep-supervision segments per batch (N_sup); None: the model's ``max_segments``.
        step_per_segment: an optimizer step after every segment (the papers); False: one step per batch.
        max_samples_per_insert: the replay ratio bound: trained samples <= this x positions inserted
            into the buffer; None: no bound.
        candidate_every: learner steps between candidates offered for evaluation.
        prefetch: sample calls kept in flight on the buffer actor (0: fetch each batch when needed).
        device: "auto" (CUDA when torch sees a GPU), "cpu" or "cuda".
        amp: mixed precision on CUDA (bf16 autocast where the GPU has it); ignored on CPU.
        num_cpus, num_gpus: what the learner actor declares to Ray.
        threads: torch's intra-op threads; None: leave torch's default (Ray sets it to the actor's CPUs).
    """

    batch_size: int = field(default=256, metadata={"min": 1})
    lr: float = field(default=1e-3, metadata={"min": 0.0, "exclusive_min": True})
    weight_decay: float = field(default=0.01, metadata={"min": 0.0})
    betas: tuple[float, float] = field(default=(0.9, 0.95), metadata={"range": (0.0, 1.0)})
    warmup_steps: int = field(default=100, metadata={"min": 0})
    schedule: str = field(default="constant", metadata={"choices": SCHEDULES})
    total_steps: int | None = field(default=None, metadata={"min": 1})
    final_lr_fraction: float = field(default=0.1, metadata={"min": 0.0, "max": 1.0})
    grad_clip_norm: float | None = field(default=1.0, metadata={"min": 0.0, "exclusive_min": True})
    value_loss_weight: float = field(default=1.0, metadata={"min": 0.0})
    halting_loss_weight: float = field(default=0.5, metadata={"min": 0.0})
    value_tolerance: float = field(default=0.5, metadata={"min": 0.0, "exclusive_min": True})
    supervision_segments: int | None = field(default=None, metadata={"min": 1})
    step_per_segment: bool = True
    max_samples_per_insert: float | None = field(default=8.0, metadata={"min": 0.0, "exclusive_min": True})
    candidate_every: int = field(default=500, metadata={"min": 1})
    prefetch: int = field(default=2, metadata={"min": 0})
    device: str = field(default="auto", metadata={"choices": DEVICES})
    amp: bool = True
    num_cpus: float = field(default=1.0, metadata={"min": 0.0})
    num_gpus: float = field(default=0.0, metadata={"min": 0.0})
    threads: int | None = field(default=None, metadata={"min": 1})

    def __post_init__(self) -> None:
        check_fields(self, "learner")
        self.betas = tuple(self.betas)
        if len(self.betas) != 2 or not all(0.0 <= b < 1.0 for b in self.betas):
            raise ValueError(f"learner.betas: expected two numbers in [0, 1), got {list(self.betas)}")
        if self.schedule == "cosine":
            if self.total_steps is None:
                raise ValueError("learner.total_steps: the cosine schedule needs total_steps")
            if self.total_steps <= self.warmup_steps:
                raise ValueError(
                    f"learner.total_steps: expected more than warmup_steps ({self.warmup_steps}), "
                    f"got {self.total_steps}"
                )
