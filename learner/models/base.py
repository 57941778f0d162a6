"""What HRM and TRM share: task shapes, input encoding, the segment interface and the inference loop.

Both models are recurrent: a *segment* (one supervision step) updates a carried
state ``Carry(answer, latent)`` from the encoded input, and the heads read the
answer state. HRM's carry is ``(z_H, z_L)``, TRM's is ``(y, z)``. The carry
leaves a segment detached, so gradients never cross segments (deep supervision).

Input encoding: ``P = prefix_positions`` prefix positions, then the token
embeddings, all scaled by sqrt(D) as in the papers' code. Prefix position 0 is the
task token (a learned embedding per task id; the value, pooled-policy and halting
heads read it); positions 1 .. P-1 (TRM's ``puzzle_emb_len`` prefix, 16 in its Sudoku
config) hold learned embeddings shared by every task, zero at init. Sequences are
``S = P + L`` long. Tokens are right-padded with 0 (PAD) when a batch mixes lengths;
in attention form PAD positions are masked out as keys, and with rotary (relative)
positions a sample's outputs do not depend on how much padding its batch has. The
MLP-mixer form mixes a fixed number of positions, so it pads every input to the
longest task's length.

Evaluation-only forward arguments (`RecursiveReasoningModel.forward`): ``steps=k,
halting=False`` forces exactly k segments; ``reset_carry=True`` starts every segment
from the initial carry (no state passes between segments), the ablation that shows
what the carried state is worth (`actors.evaluator.segments.segment_sweep`).
"""

import math
from dataclasses import dataclass
from typing import Any, NamedTuple

import torch
from torch import Tensor, nn

from learner.model_config import Hyperparams, ModelConfig
from learner.models.heads import PolicyValueHeads
from learner.models.layers import RotaryEmbedding, trunc_normal_

PAD_TOKEN = 0
HALT_INIT_BIAS = -5.0  # the papers start the halting head near "never halt"


@dataclass(frozen=True)
class TaskShape:
    """A task as the network sees it: plain numbers (duck-type compatible with actors' TaskSpec)."""

    obs_length: int
    vocab_size: int
    num_actions: int
    actions_per_token: int = 0

    @classmethod
    def of(cls, task: Any) -> "TaskShape":
        """The shape of any object with these four attributes (a TaskSpec, a Task's spec, a TaskShape)."""
        spec = getattr(task, "spec", task)
        shape = cls(
            obs_length=int(spec.obs_length),
            vocab_size=int(spec.vocab_size),
            num_actions=int(spec.num_actions),
            actions_per_token=int(getattr(spec, "actions_per_token", 0) or 0),
        )
        shape.check()
        return shape

    def check(self) -> None:
        if min(self.obs_length, self.vocab_size, self.num_actions) < 1 or self.actions_per_token < 0:
            raise ValueError(f"invalid task shape {self}")
        k = self.actions_per_token
        if k and (self.num_actions % k or self.num_actions // k > self.obs_length):
            raise ValueError(f"{self}: num_actions must be k * (positions <= obs_length) for per-token actions")


@dataclass
class PolicyValueOutput:
    """What a forward pass returns, per sample.

    policy_logits: ``[B, A_max]``; slice to the task's A and mask illegal actions.
    value: ``[B]`` in (-1, 1) (tanh).
    halt_logits: ``[B]`` the halting head's "halt" logit at the last segment run.
    steps: ``int64 [B]`` the segments (supervision steps) each sample used.
    continue_logits: ``[B]`` HRM's Q(continue) at the last segment; None for TRM.
    """

    policy_logits: Tensor
    value: Tensor
    halt_logits: Tensor
    steps: Tensor
    continue_logits: Tensor | None = None


class Carry(NamedTuple):
    """The recurrent state between segments: HRM ``(z_H, z_L)``, TRM ``(y, z)``; each ``[B, P + L, D]``."""

    answer: Tensor
    latent: Tensor

    def select(self, rows: Tensor) -> "Carry":
        return Carry(self.answer.index_select(0, rows), self.latent.index_select(0, rows))

    def detach(self) -> "Carry":
        return Carry(self.answer.detach(), self.latent.detach())


@dataclass
class EncodedInput:
    """A batch's input embedding and what the blocks need with it."""

    x: Tensor  # [B, P + L, D]
    task_ids: Tensor  # [B]
    cos_sin: tuple[Tensor, Tensor] | None  # rotary tables [P + L, head_dim]; None in MLP-mixer form
    key_mask: Tensor | None  # bool [B, 1, 1, P + L], True where a key may be attended; None: no padding

    def select(self, rows: Tensor) -> "EncodedInput":
        mask = None if self.key_mask is None else self.key_mask.index_select(0, rows)
        return EncodedInput(self.x.index_select(0, rows), self.task_ids.index_select(0, rows), self.cos_sin, mask)


@dataclass
class SegmentOutput:
    """The heads' readout after one segment, per sample."""

    policy_logits: Tensor  # [B, A_max]
    value: Tensor  # [B]
    halt_logits: Tensor  # [B]
    continue_logits: Tensor | None  # [B], HRM only


class RecursiveReasoningModel(nn.Module):
    """Shared machinery; subclasses define `recurse` (one segment's recurrence) and `halt_decision`."""

    arch: str = ""
    num_halt_logits: int = 1

    def __init__(self, hp: Hyperparams, config: ModelConfig, tasks: "list[TaskShape]") -> None:
        super().__init__()
        self.hp = hp
        self.config = config
        self.tasks = tuple(tasks)
        self.max_obs_length = max(task.obs_length for task in self.tasks)
        self.vocab_size = max(task.vocab_size for task in self.tasks)
        self.max_actions = max(task.num_actions for task in self.tasks)
        self.prefix_length = hp.prefix_positions
        dim = hp.hidden_size
        self.embed_scale = math.sqrt(dim)

        self.token_embedding = nn.Embedding(self.vocab_size, dim)
        self.task_embedding = nn.Embedding(len(self.tasks), dim)
        for embedding in (self.token_embedding, self.task_embedding):
            trunc_normal_(embedding.weight, std=1.0 / self.embed_scale)
        # Prefix positions after the task token: zero at init, as the TRM code's (zero-padded) puzzle embedding.
        prefix = nn.Parameter(torch.zeros(self.prefix_length - 1, dim)) if self.prefix_length > 1 else None
        self.register_parameter("prefix_embedding", prefix)
        max_length = self.prefix_length + self.max_obs_length
        self.rotary = None if hp.mlp_mixer else RotaryEmbedding(dim // hp.num_heads, max_length)
        self.heads = PolicyValueHeads(dim, self.tasks, prefix=self.prefix_length)
        self.halt_head = nn.Linear(dim, self.num_halt_logits)
        with torch.no_grad():
            self.halt_head.weight.zero_()
            self.halt_head.bias.fill_(HALT_INIT_BIAS)
        # Fixed random initial states (persistent buffers, as in the papers' code), broadcast over the batch.
        self.register_buffer("answer_init", trunc_normal_(torch.empty(dim), std=1.0))
        self.register_buffer("latent_init", trunc_normal_(torch.empty(dim), std=1.0))

    @property
    def mixer_length(self) -> int | None:
        """Positions the MLP-mixer form mixes (prefix + longest input); None in attention form."""
        return self.prefix_length + self.max_obs_length if self.hp.mlp_mixer else None

    # ----- the segment interface (used by inference below and by learner.losses) -----

    def encode(self, tokens: Tensor, task_ids: Tensor) -> EncodedInput:
        """``tokens [B, L]`` (right-padded with 0), ``task_ids [B]`` -> the encoded input, ``x [B, P + L, D]``."""
        if self.hp.mlp_mixer and tokens.shape[1] < self.max_obs_length:
            tokens = nn.functional.pad(tokens, (0, self.max_obs_length - tokens.shape[1]), value=PAD_TOKEN)
        batch = tokens.shape[0]
        parts = [self.task_embedding(task_ids).unsqueeze(1)]  # [B, 1, D]
        if self.prefix_embedding is not None:
            parts.append(self.prefix_embedding.expand(batch, -1, -1))  # [B, P - 1, D]
        parts.append(self.token_embedding(tokens))  # [B, L, D]
        x = torch.cat(parts, dim=1)
        x = self.embed_scale * x
        cos_sin, key_mask = None, None
        if self.rotary is not None:
            cos_sin = self.rotary(x.shape[1])
            padding = tokens == PAD_TOKEN
            if bool(padding.any()):
                keep = torch.cat((padding.new_ones((batch, self.prefix_length)), ~padding), dim=1)
                key_mask = keep[:, None, None, :]
        return EncodedInput(x, task_ids, cos_sin, key_mask)

    def initial_carry(self, batch_size: int, seq_len: int) -> Carry:
        """The carry every sample starts from: the fixed initial states broadcast to ``[B, S, D]``."""
        shape = (batch_size, seq_len, self.hp.hidden_size)
        return Carry(self.answer_init.expand(shape), self.latent_init.expand(shape))

    def _carried(self, carry: Carry, reset: bool) -> Carry:
        """The carry the next segment starts from: ``carry``, or with ``reset`` the initial one (an ablation)."""
        return self.initial_carry(*carry.answer.shape[:2]) if reset else carry

    def recurse(self, carry: Carry, enc: EncodedInput) -> Carry:
        """One segment of the model's recurrence (with its own gradient rule)."""
        raise NotImplementedError

    def halt_decision(self, out: SegmentOutput) -> Tensor:
        """``bool [B]``: whether the halting head says to stop after this segment."""
        raise NotImplementedError

    def segment(self, carry: Carry, enc: EncodedInput) -> tuple[Carry, SegmentOutput]:
        """Run one segment: the new carry (detached: no gradient crosses segments) and the heads' readout."""
        carry = self.recurse(carry, enc)
        policy, value = self.heads(carry.answer, enc.task_ids)
        halting = self.halt_head(carry.answer[:, 0]).float()
        continue_logits = halting[:, 1] if self.num_halt_logits > 1 else None
        return carry.detach(), SegmentOutput(policy, value, halting[:, 0], continue_logits)

    # ----- inference -----

    def forward(
        self,
        tokens: Tensor,
        task_ids: Tensor,
        steps: int | None = None,
        halting: bool | None = None,
        reset_carry: bool = False,
    ) -> PolicyValueOutput:
        """Policy and value with a fixed compute budget: ``tokens [B, L], task_ids [B]`` -> per-sample outputs.

        Runs ``steps`` segments (default: the config's ``inference_steps``). With
        ``halting`` (default: the config's ``inference_halting``) a sample stops at
        the first segment whose halting head says halt, and the budget is a cap;
        the output reports each sample's segments in ``steps``. ``steps=k,
        halting=False`` runs exactly k segments.

        ``reset_carry`` is for evaluation only (the ablation of the carried state):
        every segment starts from the initial carry instead of the previous
        segment's, so no state passes between segments. A model in eval mode then
        gives one segment's output whatever the budget; training never resets.
        """
        budget = self.hp.inference_steps if steps is None else int(steps)
        if budget < 1:
            raise ValueError(f"steps must be at least 1, got {budget}")
        halting = self.hp.inference_halting if halting is None else halting
        enc = self.encode(tokens, task_ids)
        batch = tokens.shape[0]
        carry = self.initial_carry(batch, enc.x.shape[1])
        if halting and budget > 1:
            return self._forward_halting(carry, enc, budget, reset_carry)
        for step in range(budget):
            carry, out = self.segment(self._carried(carry, reset_carry and step > 0), enc)
        used = torch.full((batch,), budget, dtype=torch.int64, device=tokens.device)
        return PolicyValueOutput(out.policy_logits, out.value, out.halt_logits, used, out.continue_logits)

    def _forward_halting(self, carry: Carry, enc: EncodedInput, budget: int, reset_carry: bool) -> PolicyValueOutput:
        """Segments until each sample halts (or the budget ends); halted samples leave the batch."""
        batch = enc.x.shape[0]
        device = enc.x.device
        used = torch.zeros(batch, dtype=torch.int64, device=device)
        active = torch.arange(batch, device=device)
        for step in range(1, budget + 1):
            carry, out = self.segment(self._carried(carry, reset_carry and step > 1), enc)
            if step == 1:  # allocated like the outputs (their dtype may differ under autocast)
                policy = out.policy_logits.new_zeros((batch, self.max_actions))
                value, halt_logits = out.value.new_zeros(batch), out.halt_logits.new_zeros(batch)
                continue_logits = None if out.continue_logits is None else out.continue_logits.new_zeros(batch)
            halted = self.halt_decision(out) | (step == budget)
            rows = active[halted]
            done = torch.nonzero(halted).squeeze(1)
            policy = policy.index_copy(0, rows, out.policy_logits.index_select(0, done))
            value = value.index_copy(0, rows, out.value.index_select(0, done))
            halt_logits = halt_logits.index_copy(0, rows, out.halt_logits.index_select(0, done))
            if continue_logits is not None:
                continue_logits = continue_logits.index_copy(0, rows, out.continue_logits.index_select(0, done))
            used[rows] = step
            running = torch.nonzero(~halted).squeeze(1)
            if running.numel() == 0:
                break
            active, carry, enc = active[running], carry.select(running), enc.select(running)
        return PolicyValueOutput(policy, value, halt_logits, used, continue_logits)
