"""Losses of the policy-value networks and the deep-supervision training step.

Per sample, for one segment's readout:

- policy: cross-entropy against the search's target distribution over legal
  actions (illegal logits masked to -inf before the log-softmax);
- value: squared error of the tanh value against the target (two-player values
  in [-1, 1] from the mover's view; single-player success 0/1);
- halting, by architecture:
  HRM (Q-learning): BCE of Q(halt) against "the answer is correct", and of
  Q(continue) against sigmoid of the next segment's max(Q(halt), Q(continue))
  (its Q(halt) when this segment is the last allowed), computed with an extra
  no-gradient forward as the paper's code does;
  TRM: BCE of the halt logit against "the answer is correct".

"Correct" in this policy-value setting (`is_correct`): the masked policy's argmax
is one of the target distribution's most probable actions (a sample with no
policy target passes this part) *and* the value is within ``value_tolerance``
(default 0.5) of its target, i.e. on the right side of 0.5 for 0/1 targets and
of the right sign class for -1/0/+1 targets. This plays the role of the papers'
"predicted answer equals the label".

The segment loss is ``policy + value_weight * value + halting_weight * halting``
(the papers weigh halting 0.5), times the caller's per-sample weights (the replay
buffer's importance weights under prioritized sampling, at most 1), summed over
the batch and divided by the batch size.
"""

from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from learner.models.base import RecursiveReasoningModel, SegmentOutput
from learner.models.ema import ModelEMA


@dataclass
class TrainingBatch:
    """One batch of search (or solver) targets; tokens right-padded with 0 when lengths mix.

    legal_mask and policy_target have A columns, A <= A_max; with a mix of tasks,
    pad them to A_max with False / 0.
    """

    tokens: Tensor  # int64 [B, L]
    task_ids: Tensor  # int64 [B]
    legal_mask: Tensor  # bool [B, A]
    policy_target: Tensor  # float [B, A], a distribution over legal actions (or all zero: no policy target)
    value_target: Tensor  # float [B]
    weights: Tensor | None = None  # float [B]; None: all 1

    def select(self, rows: Tensor) -> "TrainingBatch":
        weights = None if self.weights is None else self.weights.index_select(0, rows)
        fields = (self.tokens, self.task_ids, self.legal_mask, self.policy_target, self.value_target)
        return TrainingBatch(*(t.index_select(0, rows) for t in fields), weights)


@dataclass
class LossWeights:
    value: float = 1.0
    halting: float = 0.5
    value_tolerance: float = 0.5  # |value - target| below this counts as a correct value


def masked_log_softmax(logits: Tensor, legal_mask: Tensor) -> Tensor:
    """Log-probabilities over the legal actions (-inf elsewhere); ``logits`` sliced to the mask's width."""
    logits = logits[:, : legal_mask.shape[1]]
    # A row without legal actions (terminal) gets a flat distribution instead of NaN; its target is empty anyway.
    legal = legal_mask | ~legal_mask.any(dim=1, keepdim=True)
    return logits.float().masked_fill(~legal, float("-inf")).log_softmax(dim=-1)


def policy_loss(logits: Tensor, legal_mask: Tensor, target: Tensor) -> Tensor:
    """Per-sample cross-entropy ``-sum(target * log p)`` over legal actions: ``[B]``."""
    log_probs = masked_log_softmax(logits, legal_mask)
    terms = torch.where(target > 0, target * log_probs, torch.zeros_like(log_probs))
    return -terms.sum(dim=-1)


def value_loss(value: Tensor, target: Tensor) -> Tensor:
    """Per-sample squared error: ``[B]``."""
    return (value.float() - target.float()).square()


def is_correct(out: SegmentOutput, batch: TrainingBatch, value_tolerance: float = 0.5) -> Tensor:
    """``bool [B]``: the argmax legal action is a most-probable target action, and the value is close enough."""
    with torch.no_grad():
        log_probs = masked_log_softmax(out.policy_logits, batch.legal_mask)
        predicted = log_probs.argmax(dim=-1, keepdim=True)
        target = batch.policy_target.float()
        best = target.max(dim=-1).values
        policy_ok = (target.gather(1, predicted).squeeze(1) >= best - 1e-6) | (best <= 0)
        value_ok = (out.value.float() - batch.value_target.float()).abs() < value_tolerance
        return policy_ok & value_ok


def trm_halting_loss(out: SegmentOutput, correct: Tensor) -> Tensor:
    """TRM: BCE of the halt logit against answer correctness, ``[B]``."""
    return F.binary_cross_entropy_with_logits(out.halt_logits, correct.float(), reduction="none")


def hrm_halting_loss(out: SegmentOutput, correct: Tensor, next_out: SegmentOutput, is_last: bool) -> Tensor:
    """HRM's Q-learning loss, ``[B]``: Q(halt) -> correct; Q(continue) -> sigmoid(next segment's best Q).

    No discount and no target network, as in the paper (many parallel episodes
    stand in for a replay buffer). At the last allowed segment, continuing is
    impossible, so the bootstrap uses the next Q(halt) alone, as the reference code does.
    """
    with torch.no_grad():
        next_best = next_out.halt_logits if is_last else torch.maximum(next_out.halt_logits, next_out.continue_logits)
        continue_target = torch.sigmoid(next_best)
    halt = F.binary_cross_entropy_with_logits(out.halt_logits, correct.float(), reduction="none")
    keep_going = F.binary_cross_entropy_with_logits(out.continue_logits, continue_target, reduction="none")
    return halt + keep_going


def deep_supervision_step(
    model: RecursiveReasoningModel,
    batch: TrainingBatch,
    optimizer: torch.optim.Optimizer,
    *,
    max_segments: int | None = None,
    loss_weights: LossWeights | None = None,
    ema: ModelEMA | None = None,
    grad_clip_norm: float | None = None,
    step_per_segment: bool = True,
    generator: torch.Generator | None = None,
) -> dict[str, Any]:
    """Train on one batch with deep supervision and adaptive halting; returns metrics.

    As in both papers: up to ``max_segments`` (default: the config's N_sup)
    segments run on the batch, the carry detached between them; each segment's
    loss is backpropagated and followed by an optimizer step (and an EMA update)
    before the next segment, so a batch makes up to N_sup optimizer steps. With
    ``step_per_segment=False`` the segments' gradients accumulate into one step.

    After each segment a sample stops when its halting head says so (HRM:
    Q(halt) > Q(continue); TRM: halt logit > 0) or at the last segment; halted
    samples leave the batch. Exploration, as the released HRM and TRM code does it
    (`exploration_allows_halt`): after every segment, every live sample draws
    afresh: with probability ``halt_exploration_prob`` a minimum from 2..max_segments,
    and it may not halt this segment if it has run fewer segments than that. (The
    HRM paper's text draws one minimum per sample and episode instead; this loop
    did so until it was aligned with the code.)

    Where this loop departs from the released code (HRM ``pretrain.py`` +
    ``ACTLossHead``, which TRM's code keeps), deliberately:

    - Halted rows are not refilled. There, one training step runs *one* segment on
      a batch whose carry persists across steps, and a row that halted is replaced
      by a fresh sample from the next batch (its carry reset), so every step trains
      a full batch of rows at mixed segment depths. Here one call runs the segments
      of one batch in a row and the batch shrinks as rows halt (self-play batches
      come from the replay buffer one at a time; a refill would need the next
      batch mid-call).
    - The loss is divided by the full batch size B, not by the live rows. Each
      sample-segment weighs 1/B in both codes (there: ``loss.sum() / global_batch_size``
      over B live rows), but there every step has B rows, while here a late segment
      with few live rows makes a smaller gradient, and AdamW a smaller step, than
      the first. Dividing by the live rows instead would give a handful of rows
      the same step size as the whole batch.
    - Each segment re-encodes the input (the embeddings changed with the last
      optimizer step), as the reference does by running its whole forward per step.

    Metrics: ``loss`` (summed over segments), ``policy_loss``, ``value_loss``,
    ``halting_loss`` (means over all segment-samples), ``segments`` (run on the
    batch), ``mean_steps`` (segments per sample), ``accuracy`` (correct when halted),
    ``halt_accuracy`` (the halting head's sign agrees with correctness), all floats;
    and ``value_error``, a tensor float [B] without gradient: each sample's
    ``|value - value_target|`` of the first segment, made before any optimizer step on
    this batch (the learner's replay priorities, `learner.replay_client`).
    """
    hp = model.hp
    segments = hp.max_segments if max_segments is None else int(max_segments)
    weights = loss_weights or LossWeights()
    model.train()
    size = batch.tokens.shape[0]
    device = batch.tokens.device
    sample_weights = batch.weights if batch.weights is not None else torch.ones(size, device=device)

    active = torch.arange(size, device=device)
    current = batch
    carry = None
    totals = dict(loss=0.0, policy_loss=0.0, value_loss=0.0, halting_loss=0.0)
    counted = 0
    steps = torch.zeros(size, dtype=torch.int64, device=device)
    correct_at_halt = torch.zeros(size, dtype=torch.bool, device=device)
    halt_agree = 0
    value_error = torch.zeros(size, device=device)
    if not step_per_segment:
        optimizer.zero_grad(set_to_none=True)
    for segment in range(1, segments + 1):
        # Re-encode every segment: the embeddings changed with the last optimizer step.
        enc = model.encode(current.tokens, current.task_ids)
        if carry is None:
            carry = model.initial_carry(len(active), enc.x.shape[1])
        carry, out = model.segment(carry, enc)
        correct = is_correct(out, current, weights.value_tolerance)
        is_last = segment == segments
        if model.arch == "hrm":
            with torch.no_grad():
                _, next_out = model.segment(carry, enc)
            halting = hrm_halting_loss(out, correct, next_out, is_last)
        else:
            halting = trm_halting_loss(out, correct)
        policy = policy_loss(out.policy_logits, current.legal_mask, current.policy_target)
        value = value_loss(out.value, current.value_target)
        per_sample = policy + weights.value * value + weights.halting * halting
        loss = (sample_weights.index_select(0, active) * per_sample).sum() / size

        if step_per_segment:
            optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if step_per_segment:
            _optimizer_step(model, optimizer, ema, grad_clip_norm)

        with torch.no_grad():
            if segment == 1:  # every sample is active: rows in batch order
                value_error = (out.value.float() - current.value_target.float()).abs()
            may_halt = exploration_allows_halt(segment, len(active), segments, hp.halt_exploration_prob, generator)
            may_halt = may_halt.to(device)
            halted = (model.halt_decision(out) & may_halt) | is_last
            totals["loss"] += float(loss)
            totals["policy_loss"] += float(policy.sum())
            totals["value_loss"] += float(value.sum())
            totals["halting_loss"] += float(halting.sum())
            counted += len(active)
            halt_agree += int(((out.halt_logits > 0) == correct).sum())
            rows = active[halted]
            steps[rows] = segment
            correct_at_halt[rows] = correct[halted]
            running = torch.nonzero(~halted).squeeze(1)
        if running.numel() == 0:
            break
        active, carry, current = active[running], carry.select(running), current.select(running)
    if not step_per_segment:
        _optimizer_step(model, optimizer, ema, grad_clip_norm)
    return {
        "loss": totals["loss"],
        "policy_loss": totals["policy_loss"] / counted,
        "value_loss": totals["value_loss"] / counted,
        "halting_loss": totals["halting_loss"] / counted,
        "segments": float(segment),
        "mean_steps": float(steps.float().mean()),
        "accuracy": float(correct_at_halt.float().mean()),
        "halt_accuracy": halt_agree / counted,
        "value_error": value_error,
    }


def exploration_allows_halt(
    segment: int, rows: int, max_segments: int, prob: float, generator: torch.Generator | None = None
) -> Tensor:
    """``bool [rows]`` (on the CPU): whether halting exploration lets each live row halt after ``segment``.

    As the released HRM/TRM code draws it, afresh for every row at every segment:
    with probability ``prob`` a minimum ``m`` uniform in 2..max_segments, and the row
    may halt only if ``segment >= m``; otherwise it may halt.
    """
    explore = torch.rand(rows, generator=generator) < prob
    minimum = torch.randint(2, max(max_segments, 2) + 1, (rows,), generator=generator)
    return ~explore | (segment >= minimum)


def _optimizer_step(
    model: torch.nn.Module, optimizer: torch.optim.Optimizer, ema: ModelEMA | None, grad_clip_norm: float | None
) -> None:
    if grad_clip_norm is not None:
        torch.nn.utils.clip_grad_norm_(model.parameters(), grad_clip_norm)
    optimizer.step()
    if ema is not None:
        ema.update(model)
