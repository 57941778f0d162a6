"""Forced segment counts and carry reset at inference, and the segment sweep built on them."""

import numpy as np
import pytest
import torch

from actors.evaluator.segments import segment_sweep
from actors.inference import TorchNetwork
from actors.tasks.sudoku import Sudoku
from learner.models import build_model
from tests.models.conftest import SUDOKU4, small_config

FORMS = {
    "trm": {},
    "trm-paper-form": {"mlp_mixer": True, "mixer_norm": "positions", "prefix_positions": 4},
    "hrm": {"arch": "hrm"},
}


def tiny_model(form: str = "trm", **overrides) -> torch.nn.Module:
    values = {"arch": "trm", **FORMS[form], "inference_steps": 2, **overrides}
    return build_model(small_config(**values), [SUDOKU4]).eval()


class SegmentCounter:
    """Counts segments: the heads read the answer state once per segment."""

    def __init__(self, model: torch.nn.Module) -> None:
        self.count = 0
        self.handle = model.heads.register_forward_hook(self._hook)

    def _hook(self, *_: object) -> None:
        self.count += 1


def batch(size: int = 4) -> tuple[torch.Tensor, torch.Tensor]:
    return torch.randint(1, SUDOKU4.vocab_size, (size, SUDOKU4.obs_length)), torch.zeros(size, dtype=torch.int64)


@pytest.mark.parametrize("form", FORMS)
@pytest.mark.parametrize("reset", [False, True])
def test_forced_segments_run_exactly_k_segments(form, reset):
    model = tiny_model(form, inference_halting=True)  # forcing overrides the config's halting
    model.halt_head.bias.data.copy_(torch.tensor([5.0, -5.0][: model.num_halt_logits]))  # halts at once
    counter = SegmentCounter(model)
    tokens, ids = batch()
    with torch.no_grad():
        for k in (1, 2, 5):
            counter.count = 0
            out = model(tokens, ids, steps=k, halting=False, reset_carry=reset)
            assert counter.count == k and out.steps.tolist() == [k] * 4
    network = TorchNetwork(model).with_forward_options(steps=3, halting=False, reset_carry=reset)
    counter.count = 0
    _, _, segments, halted = network.call_with_segments(tokens.numpy(), ids.numpy())
    assert counter.count == 3 and segments.tolist() == [3] * 4 and halted.all()


@pytest.mark.parametrize("form", FORMS)
def test_carry_reset_changes_outputs_from_two_segments_on(form):
    """Reset, every segment starts afresh: k segments give one segment's output (eval mode), which differs from
    k carried segments for k >= 2; at k = 1 there is nothing to reset."""
    model = tiny_model(form)
    tokens, ids = batch()
    with torch.no_grad():
        one = model(tokens, ids, steps=1, halting=False)
        for k in (1, 2, 4):
            kept = model(tokens, ids, steps=k, halting=False)
            reset = model(tokens, ids, steps=k, halting=False, reset_carry=True)
            assert torch.equal(reset.policy_logits, one.policy_logits) and torch.equal(reset.value, one.value)
            assert torch.equal(kept.policy_logits, reset.policy_logits) == (k == 1)


def test_carry_reset_with_halting_repeats_the_first_segment():
    model = tiny_model()
    tokens, ids = batch()
    with torch.no_grad():
        out = model(tokens, ids, steps=3, halting=True, reset_carry=True)  # the fresh head never halts
        torch.testing.assert_close(out.policy_logits, model(tokens, ids, steps=1).policy_logits)
    assert out.steps.tolist() == [3] * 4


def sudoku_puzzles(count: int = 12) -> tuple[Sudoku, np.ndarray]:
    task = Sudoku(size=4)
    return task, np.stack([task.generate(seed, 0.6) for seed in range(count)])


def test_segment_sweep_record_and_determinism():
    task, states = sudoku_puzzles()
    model = tiny_model()
    network = TorchNetwork(model)
    first = segment_sweep(task, 0, states, network, segments=(4, 1, 2), reset_carry=True)
    assert first == segment_sweep(task, 0, states, network, segments=(1, 2, 4), reset_carry=True)
    assert first == segment_sweep(task, 0, states, model, segments=(1, 2, 4), reset_carry=True)  # the module itself
    assert first["instances"] == 12 and first["segments"] == [1, 2, 4]
    for name in ("solve_rate", "mean_moves", "solve_rate_reset", "mean_moves_reset"):
        assert set(first[name]) == {"1", "2", "4"}
    assert all(0.0 <= rate <= 1.0 for rate in first["solve_rate"].values())
    assert all(0 < moves <= 16 for moves in first["mean_moves"].values())  # at most a move per cell
    # Reset, every count computes what one segment does.
    assert set(first["solve_rate_reset"].values()) == {first["solve_rate"]["1"]}
    assert set(first["mean_moves_reset"].values()) == {first["mean_moves"]["1"]}
    # The fresh halting head never halts: every pass runs to the cap (the same as 4 forced), and nothing converges.
    assert first["halting"] == {
        "cap": 4,
        "solve_rate": first["solve_rate"]["4"],
        "mean_moves": first["mean_moves"]["4"],
        "mean_halting_steps": 4.0,
        "convergence_rate": 0.0,
    }
    cheap = segment_sweep(task, 0, states, network, segments=(1,), halting=False)
    assert cheap["solve_rate_reset"] is None and cheap["mean_moves_reset"] is None and cheap["halting"] is None
    with pytest.raises(ValueError, match="segments"):
        segment_sweep(task, 0, states, network, segments=(0, 2))


def test_segment_sweep_runs_k_segments_per_forward_pass():
    """Every greedy move is one batched forward call; with k forced segments the heads run k times per call."""
    task, states = sudoku_puzzles(4)
    model = tiny_model()
    segments = SegmentCounter(model)
    calls = []
    model.register_forward_pre_hook(lambda *_: calls.append(1))
    for k in (1, 3):
        segments.count, calls[:] = 0, []
        segment_sweep(task, 0, states, model, segments=(k,), halting=False)
        assert len(calls) > 0 and segments.count == k * len(calls)
