"""Which computation carries gradient: the papers' rules, checked by recording every module application.

A forward hook on a reasoning module sees, for each application, whether its
output is part of the autograd graph. The rules:

- HRM (one-step gradient approximation): of the N*T low-level and N high-level
  applications in a segment, only the last of each is in the graph.
- TRM: the first T-1 recursions (each n latent + 1 answer application of the one
  network) run without gradient; all n + 1 applications of the last one are in the graph.
- Both: the carry leaves a segment detached, so no gradient crosses segments.
"""

import pytest
import torch

from learner.losses import TrainingBatch, deep_supervision_step, policy_loss
from learner.models import build_model
from tests.models.conftest import POOLED, SUDOKU4, small_config


def record_graph_membership(module: torch.nn.Module) -> list[bool]:
    calls: list[bool] = []
    module.register_forward_hook(lambda _module, _inputs, output: calls.append(output.requires_grad))
    return calls


def segment_loss(model, tokens, task_ids, carry=None):
    enc = model.encode(tokens, task_ids)
    carry = carry if carry is not None else model.initial_carry(tokens.shape[0], enc.x.shape[1])
    new_carry, out = model.segment(carry, enc)
    legal = torch.ones(tokens.shape[0], out.policy_logits.shape[1], dtype=torch.bool)
    target = torch.full_like(out.policy_logits, 1.0 / out.policy_logits.shape[1])
    loss = policy_loss(out.policy_logits, legal, target).sum() + out.value.sum() + out.halt_logits.sum()
    if out.continue_logits is not None:
        loss = loss + out.continue_logits.sum()
    return loss, new_carry


def test_hrm_only_the_last_low_and_high_steps_carry_gradient():
    model = build_model(small_config("hrm", h_cycles=3, l_cycles=2), [SUDOKU4]).train()
    low, high = record_graph_membership(model.low), record_graph_membership(model.high)
    loss, carry = segment_loss(model, torch.randint(1, 6, (4, 16)), torch.zeros(4, dtype=torch.int64))
    assert low == [False] * 5 + [True]  # N*T = 6 low-level steps
    assert high == [False] * 2 + [True]  # N = 3 high-level steps
    assert not carry.answer.requires_grad and not carry.latent.requires_grad
    loss.backward()
    for name, parameter in model.named_parameters():
        assert parameter.grad is not None and bool(parameter.grad.abs().sum() > 0), name


def test_hrm_gradient_equals_one_step_gradient_from_the_detached_state():
    """The gradient is exactly that of one L and one H step started from the gradient-free state."""
    model = build_model(small_config("hrm", h_cycles=2, l_cycles=2), [SUDOKU4]).train()
    tokens, task_ids = torch.randint(1, 6, (3, 16)), torch.zeros(3, dtype=torch.int64)
    loss, _ = segment_loss(model, tokens, task_ids)
    grads = torch.autograd.grad(loss, list(model.low.parameters()) + list(model.high.parameters()))

    enc = model.encode(tokens, task_ids)
    z_high, z_low = model.initial_carry(3, enc.x.shape[1])
    with torch.no_grad():  # steps 1..3 of L and step 1 of H
        for i in range(3):
            z_low = model.low(z_low, z_high + enc.x, enc.cos_sin, enc.key_mask)
            if i == 1:
                z_high = model.high(z_high, z_low, enc.cos_sin, enc.key_mask)
    z_low = model.low(z_low, z_high + enc.x, enc.cos_sin, enc.key_mask)
    z_high = model.high(z_high, z_low, enc.cos_sin, enc.key_mask)
    policy, value = model.heads(z_high, task_ids)
    halting = model.halt_head(z_high[:, 0])
    target = torch.full_like(policy, 1.0 / 64)
    manual = policy_loss(policy, torch.ones_like(policy, dtype=torch.bool), target).sum() + value.sum() + halting.sum()
    expected = torch.autograd.grad(manual, list(model.low.parameters()) + list(model.high.parameters()))
    for got, want in zip(grads, expected, strict=True):
        torch.testing.assert_close(got, want)


@pytest.mark.parametrize("mixer", [False, True])
def test_trm_first_recursions_carry_no_gradient(mixer):
    model = build_model(small_config("trm", h_cycles=3, l_cycles=2, mlp_mixer=mixer), [SUDOKU4]).train()
    applications = record_graph_membership(model.net)
    loss, carry = segment_loss(model, torch.randint(1, 6, (4, 16)), torch.zeros(4, dtype=torch.int64))
    # T = 3 recursions of n = 2 latent updates and 1 answer update: the last 3 applications are in the graph.
    assert applications == [False] * 6 + [True] * 3
    assert not carry.answer.requires_grad and not carry.latent.requires_grad
    loss.backward()
    for name, parameter in model.named_parameters():
        assert parameter.grad is not None and bool(parameter.grad.abs().sum() > 0), name


def test_no_gradient_crosses_segments_and_unused_task_heads_get_none():
    model = build_model(small_config("trm"), [SUDOKU4, POOLED]).train()
    tokens, task_ids = torch.randint(1, 6, (2, 16)), torch.zeros(2, dtype=torch.int64)
    _, carry = segment_loss(model, tokens, task_ids)
    model.zero_grad()
    loss, _ = segment_loss(model, tokens, task_ids, carry)
    loss.backward()
    # Same gradient as a fresh graph from the (constant) carry: the first segment is not involved.
    grads = [p.grad.clone() for p in model.net.parameters()]
    model.zero_grad()
    fresh, _ = segment_loss(model, tokens, task_ids, type(carry)(carry.answer.clone(), carry.latent.clone()))
    fresh.backward()
    for got, want in zip(grads, [p.grad for p in model.net.parameters()], strict=True):
        torch.testing.assert_close(got, want)
    assert model.heads.policy[1].weight.grad is None and model.heads.value[1].weight.grad is None
    assert model.task_embedding.weight.grad[1].abs().sum() == 0


class CountingOptimizer(torch.optim.SGD):
    steps = 0

    def step(self, closure=None):
        type(self).steps += 1
        return super().step(closure)


@pytest.mark.parametrize("arch", ["hrm", "trm"])
def test_deep_supervision_steps_once_per_segment(arch):
    model = build_model(small_config(arch, max_segments=3, halt_exploration_prob=0.0), [SUDOKU4])
    legal = torch.ones(4, 64, dtype=torch.bool)
    batch = TrainingBatch(
        torch.randint(1, 6, (4, 16)), torch.zeros(4, dtype=torch.int64), legal, legal / 64.0, torch.ones(4)
    )
    CountingOptimizer.steps = 0
    metrics = deep_supervision_step(model, batch, CountingOptimizer(model.parameters(), lr=0.0))
    # A fresh halting head says "continue", so all three segments run, each with its own optimizer step.
    assert metrics["segments"] == 3 and metrics["mean_steps"] == 3 and CountingOptimizer.steps == 3
    CountingOptimizer.steps = 0
    deep_supervision_step(model, batch, CountingOptimizer(model.parameters(), lr=0.0), step_per_segment=False)
    assert CountingOptimizer.steps == 1
