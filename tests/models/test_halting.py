"""A trained halting head spends fewer segments on easy inputs than on hard ones.

Toy task (8 tokens, 8 actions, one per position): the first token says which kind
of input it is. Easy inputs (first token 1) always want action 0 and value 1,
which the model learns at once, so its answer is right after one segment. Hard
inputs (first token 2) want an action and a value sign drawn afresh for every
sample, so no amount of computation makes the answer right (the best value is 0,
never within 0.5 of +-1). Trained with deep supervision, the halting head learns
to stop easy inputs early and to keep computing on hard ones, up to the cap:
TRM's halt logit is trained towards correctness; HRM's Q(halt) falls towards 0
on hard inputs while its Q(continue), bootstrapped from the next segment's best
Q, does not, so HRM continues (with a solvable-but-wrong answer, halting and
continuing would be worth the same to its undiscounted Q-learning, and its
choice would be a coin toss).
"""

import pytest
import torch

from learner.losses import TrainingBatch, deep_supervision_step
from learner.models import TaskShape, build_model
from tests.models.conftest import small_config

TOY = TaskShape(obs_length=8, vocab_size=4, num_actions=8, actions_per_token=1)


def toy_batch(size: int, generator: torch.Generator) -> TrainingBatch:
    tokens = torch.randint(1, 4, (size, 8), generator=generator)
    hard = torch.rand(size, generator=generator) < 0.5
    tokens[:, 0] = torch.where(hard, 2, 1)
    actions = torch.where(hard, torch.randint(0, 8, (size,), generator=generator), 0)
    target = torch.nn.functional.one_hot(actions, 8).float()
    legal = torch.ones(size, 8, dtype=torch.bool)
    signs = torch.where(torch.rand(size, generator=generator) < 0.5, -1.0, 1.0)
    value = torch.where(hard, signs, 1.0)
    return TrainingBatch(tokens, torch.zeros(size, dtype=torch.int64), legal, target, value)


@pytest.mark.parametrize("arch", ["trm", "hrm"])
def test_trained_halting_head_stops_easy_inputs_earlier(arch):
    generator = torch.Generator().manual_seed(0)
    model = build_model(small_config(arch, max_segments=4, inference_steps=4, inference_halting=True), [TOY])
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
    for _ in range(150):
        deep_supervision_step(model, toy_batch(64, generator), optimizer, generator=generator)
    model.eval()
    batch = toy_batch(256, generator)
    with torch.no_grad():
        out = model(batch.tokens, batch.task_ids)
    hard = batch.tokens[:, 0] == 2
    easy_steps, hard_steps = out.steps[~hard].float().mean(), out.steps[hard].float().mean()
    print(f"{arch}: mean segments easy {easy_steps:.2f}, hard {hard_steps:.2f} (cap 4)")
    assert hard_steps - easy_steps >= 1.0
