"""TRM: the Tiny Recursive Model (Jolicoeur-Martineau 2025, arXiv 2510.04871) as a policy-value network.

One tiny network (``num_layers`` post-norm blocks, 2 in the paper) recurses on a
latent z and an answer y. One segment runs T recursions (``h_cycles``), each
of n latent updates (``l_cycles``) and one answer update::

    for t in range(T):
        for i in range(n):
            z = net(z, y + x)          # z = net(x + y + z): reason about the question and answer
        y = net(y, z)                  # y = net(y + z): improve the answer (no x: the network
                                       # knows which update it is doing by what it is given)

The first T - 1 recursions run without gradient; the last one backpropagates
through all of its n + 1 network applications (no fixed-point assumption, unlike
HRM's one-step approximation).

Halting: one logit, trained with binary cross-entropy on whether the answer is
correct (no Q(continue), no extra forward); the model halts when it is positive.
Evaluation weights: an EMA of the training weights (see learner.models.ema).

MLP-mixer form (``mlp_mixer``): self-attention is replaced by a SwiGLU across
positions, for short fixed-length inputs (the paper's best Sudoku model). The TRM
code's form of it (the ``paper`` preset) mixes ``prefix_positions`` = 16 prefix
positions + the 81 cells and normalises the token-mixing residual over positions
(``mixer_norm: positions``); with width 512 and 2 layers that is the paper's ~5M
parameters on 9x9 Sudoku.
"""

import torch
from torch import Tensor

from learner.model_config import Hyperparams, ModelConfig
from learner.models.base import Carry, EncodedInput, RecursiveReasoningModel, SegmentOutput, TaskShape
from learner.models.layers import Block, ReasoningModule


class TRM(RecursiveReasoningModel):
    arch = "trm"
    num_halt_logits = 1

    def __init__(self, hp: Hyperparams, config: ModelConfig, tasks: list[TaskShape]) -> None:
        super().__init__(hp, config, tasks)
        self.net = ReasoningModule([self._block() for _ in range(hp.num_layers)])

    def _block(self) -> Block:
        hp = self.hp
        return Block(
            hp.hidden_size,
            hp.num_heads,
            hp.expansion,
            hp.ffn_multiple_of,
            mixer_length=self.mixer_length,
            mixer_norm=hp.mixer_norm,
        )

    def _recursion(self, y: Tensor, z: Tensor, enc: EncodedInput) -> tuple[Tensor, Tensor]:
        for _ in range(self.hp.l_cycles):
            z = self.net(z, y + enc.x, enc.cos_sin, enc.key_mask)
        y = self.net(y, z, enc.cos_sin, enc.key_mask)
        return y, z

    def recurse(self, carry: Carry, enc: EncodedInput) -> Carry:
        y, z = carry
        with torch.no_grad():
            for _ in range(self.hp.h_cycles - 1):
                y, z = self._recursion(y, z, enc)
        y, z = self._recursion(y, z, enc)
        return Carry(y, z)

    def halt_decision(self, out: SegmentOutput) -> Tensor:
        return out.halt_logits > 0
