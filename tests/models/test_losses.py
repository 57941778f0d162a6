"""The loss terms: masking, weights, correctness, the halting targets, EMA."""

import copy
import math

import torch

from learner.losses import (
    LossWeights,
    TrainingBatch,
    deep_supervision_step,
    hrm_halting_loss,
    is_correct,
    policy_loss,
    trm_halting_loss,
    value_loss,
)
from learner.models import SegmentOutput, build_model, make_ema
from tests.models.conftest import SUDOKU4, small_config


def test_policy_loss_is_cross_entropy_over_legal_actions_only():
    logits = torch.tensor([[1.0, 2.0, 3.0, 4.0], [0.0, 0.0, 0.0, 0.0]])
    legal = torch.tensor([[True, False, True, False], [False, False, False, False]])
    target = torch.tensor([[0.25, 0.0, 0.75, 0.0], [0.0, 0.0, 0.0, 0.0]])
    loss = policy_loss(logits, legal, target)
    log_p = torch.log_softmax(torch.tensor([1.0, 3.0]), dim=0)
    assert math.isclose(float(loss[0]), -(0.25 * log_p[0] + 0.75 * log_p[1]), rel_tol=1e-6)
    assert float(loss[1]) == 0.0  # a terminal row (no legal action, no target) costs nothing and is not NaN
    # Illegal logits do not matter, however large.
    moved = logits.clone()
    moved[0, 1], moved[0, 3] = 100.0, -100.0
    torch.testing.assert_close(policy_loss(moved, legal, target), loss)
    # Padded logits beyond the task's A (here A = 3 of A_max = 4) are sliced off.
    torch.testing.assert_close(policy_loss(logits, legal[:, :3], target[:, :3]), loss)


def test_value_loss_and_correctness():
    torch.testing.assert_close(
        value_loss(torch.tensor([0.5, -1.0]), torch.tensor([1.0, -1.0])), torch.tensor([0.25, 0.0])
    )
    logits = torch.tensor([[5.0, 1.0, 0.0], [5.0, 1.0, 0.0], [5.0, 1.0, 0.0], [0.0, 0.0, 9.0]])
    legal = torch.tensor([[True, True, True], [False, True, True], [True, True, True], [True, True, False]])
    target = torch.tensor([[0.5, 0.5, 0.0], [0.0, 0.3, 0.7], [0.5, 0.5, 0.0], [0.0, 0.0, 0.0]])
    out = SegmentOutput(logits, torch.tensor([0.9, 0.9, 0.2, -0.9]), torch.zeros(4), None)
    batch = TrainingBatch(torch.ones(4, 3, dtype=torch.int64), torch.zeros(4, dtype=torch.int64), legal, target,
                          torch.tensor([1.0, 1.0, 1.0, -1.0]))  # fmt: skip
    # 0: argmax 0 is a top target action, value close; 1: masked argmax 1 is not the target's best (2);
    # 2: right action, value 0.8 off; 3: no policy target, value close.
    assert is_correct(out, batch).tolist() == [True, False, False, True]


def test_halting_targets():
    correct = torch.tensor([True, False])
    out = SegmentOutput(torch.zeros(2, 3), torch.zeros(2), torch.tensor([0.0, 0.0]), torch.tensor([0.0, 0.0]))
    expected_halt = torch.nn.functional.binary_cross_entropy_with_logits(
        torch.zeros(2), correct.float(), reduction="none"
    )
    torch.testing.assert_close(trm_halting_loss(out, correct), expected_halt)
    next_out = SegmentOutput(torch.zeros(2, 3), torch.zeros(2), torch.tensor([2.0, -3.0]), torch.tensor([1.0, 4.0]))
    bce = torch.nn.functional.binary_cross_entropy_with_logits

    def continue_term(target_logits):
        return bce(torch.zeros(2), torch.sigmoid(target_logits), reduction="none")

    # Not last: Q(continue) -> sigmoid(max(next Q(halt), next Q(continue))); last: sigmoid(next Q(halt)).
    torch.testing.assert_close(
        hrm_halting_loss(out, correct, next_out, False), expected_halt + continue_term(torch.tensor([2.0, 4.0]))
    )
    torch.testing.assert_close(
        hrm_halting_loss(out, correct, next_out, True), expected_halt + continue_term(torch.tensor([2.0, -3.0]))
    )


def test_sample_weights_scale_each_sample():
    model = build_model(small_config("trm", max_segments=1), [SUDOKU4])
    tokens = torch.randint(1, 6, (2, 16))
    legal = torch.ones(2, 64, dtype=torch.bool)
    target = torch.zeros(2, 64)
    target[:, 5] = 1.0

    def gradient(weights):
        model.zero_grad()
        batch = TrainingBatch(tokens, torch.zeros(2, dtype=torch.int64), legal, target, torch.ones(2), weights)
        optimizer = torch.optim.SGD(model.parameters(), lr=0.0)
        optimizer.zero_grad = lambda set_to_none=True: None  # keep the gradients to look at them
        deep_supervision_step(model, batch, optimizer, loss_weights=LossWeights())
        return model.heads.policy[0].weight.grad.clone()

    only_first = gradient(torch.tensor([1.0, 0.0]))
    only_second = gradient(torch.tensor([0.0, 1.0]))
    both = gradient(torch.tensor([1.0, 1.0]))
    torch.testing.assert_close(both, only_first + only_second)
    torch.testing.assert_close(gradient(torch.tensor([3.0, 0.0])), 3 * only_first)


def test_ema_tracks_the_weights():
    model = build_model(small_config("trm", ema_decay=0.5), [SUDOKU4])
    ema = make_ema(model)
    assert ema is not None and make_ema(build_model(small_config("hrm"), [SUDOKU4])) is None
    before = model.heads.value[0].bias.detach().clone()
    with torch.no_grad():
        model.heads.value[0].bias.add_(2.0)
    ema.update(model)
    torch.testing.assert_close(ema.model.heads.value[0].bias, before + 1.0)
    assert not any(p.requires_grad for p in ema.model.parameters())


def test_value_error_is_the_first_segments_before_any_optimizer_step():
    model = build_model(small_config("trm", max_segments=3, halt_exploration_prob=0.0), [SUDOKU4])
    before = copy.deepcopy(model)
    tokens, legal = torch.randint(1, 6, (4, 16)), torch.ones(4, 64, dtype=torch.bool)
    targets = torch.tensor([1.0, 0.0, -1.0, 0.5])
    batch = TrainingBatch(tokens, torch.zeros(4, dtype=torch.int64), legal, legal / 64.0, targets)
    metrics = deep_supervision_step(model, batch, torch.optim.SGD(model.parameters(), lr=1.0))
    assert metrics["segments"] == 3  # three optimizer steps (large ones) after the first segment's readout
    with torch.no_grad():
        encoded = before.encode(tokens, batch.task_ids)
        _, first = before.segment(before.initial_carry(4, encoded.x.shape[1]), encoded)
    assert not metrics["value_error"].requires_grad
    torch.testing.assert_close(metrics["value_error"], (first.value - targets).abs())
