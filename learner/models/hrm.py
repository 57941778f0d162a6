"""HRM: the Hierarchical Reasoning Model (Wang et al. 2025, arXiv 2506.21734) as a policy-value network.

Two recurrent modules of post-norm transformer blocks: a slow high-level module H
and a fast low-level module L. One segment runs N high-level cycles
(``h_cycles``) of T low-level steps (``l_cycles``)::

    for i in range(N * T):
        z_L = L(z_L, z_H + x)          # L sees the input and H's plan
        if (i + 1) % T == 0:
            z_H = H(z_H, z_L)          # H updates once per cycle from L's result

One-step gradient approximation: every step but the last L step and the last H
step runs without gradient, so backpropagation costs one step of each module
whatever N and T are (the paper's O(1)-memory alternative to BPTT).

Adaptive computation time: the Q-head reads z_H's task token and gives
Q(halt) and Q(continue); the model halts when Q(halt) > Q(continue). Its
Q-learning targets (see learner.losses) are: Q(halt) -> whether the answer is
correct, Q(continue) -> the next segment's max Q (its Q(halt) at the last
allowed segment).
"""

import torch
from torch import Tensor

from learner.model_config import Hyperparams, ModelConfig
from learner.models.base import Carry, EncodedInput, RecursiveReasoningModel, SegmentOutput, TaskShape
from learner.models.layers import Block, ReasoningModule


class HRM(RecursiveReasoningModel):
    arch = "hrm"
    num_halt_logits = 2  # Q(halt), Q(continue)

    def __init__(self, hp: Hyperparams, config: ModelConfig, tasks: list[TaskShape]) -> None:
        super().__init__(hp, config, tasks)

        def module() -> ReasoningModule:
            return ReasoningModule(
                [Block(hp.hidden_size, hp.num_heads, hp.expansion, hp.ffn_multiple_of) for _ in range(hp.num_layers)]
            )

        self.high = module()
        self.low = module()

    def recurse(self, carry: Carry, enc: EncodedInput) -> Carry:
        z_high, z_low = carry
        x, cos_sin, mask = enc.x, enc.cos_sin, enc.key_mask
        steps = self.hp.h_cycles * self.hp.l_cycles
        with torch.no_grad():
            for i in range(steps - 1):
                z_low = self.low(z_low, z_high + x, cos_sin, mask)
                if (i + 1) % self.hp.l_cycles == 0:
                    z_high = self.high(z_high, z_low, cos_sin, mask)
        # The one step of each module that carries gradient.
        z_low = self.low(z_low, z_high + x, cos_sin, mask)
        z_high = self.high(z_high, z_low, cos_sin, mask)
        return Carry(z_high, z_low)

    def halt_decision(self, out: SegmentOutput) -> Tensor:
        return out.halt_logits > out.continue_logits
