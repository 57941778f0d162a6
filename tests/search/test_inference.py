"""`TorchNetwork`: numpy in, numpy float32 out, under inference mode; interchangeable with the numpy evaluators."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from actors.inference import TorchNetwork
from actors.search import BatchedSearch, SearchConfig
from actors.tasks.tictactoe import TicTacToe
from learner.models import ModelConfig, build_model


@dataclass
class Output:
    policy_logits: torch.Tensor
    value: torch.Tensor


class PoolingNet(torch.nn.Module):
    """A small real policy-value net: token embeddings, mean pool, dropout, linear heads (A' = 12 > 9)."""

    def __init__(self, vocab: int = 4, width: int = 16, actions: int = 12) -> None:
        super().__init__()
        self.embed = torch.nn.Embedding(vocab, width)
        self.task = torch.nn.Embedding(3, width)
        self.dropout = torch.nn.Dropout(0.5)
        self.policy = torch.nn.Linear(width, actions)
        self.value = torch.nn.Linear(width, 1)
        self.grad_enabled_in_forward: bool | None = None

    def forward(self, tokens: torch.Tensor, task_ids: torch.Tensor) -> Output:
        self.grad_enabled_in_forward = torch.is_grad_enabled()
        h = self.dropout(self.embed(tokens).mean(1) + self.task(task_ids))
        return Output(self.policy(h), torch.tanh(self.value(h)).squeeze(-1))


def test_torch_network_returns_numpy_float32_without_grad():
    torch.manual_seed(0)
    module = PoolingNet()
    network = TorchNetwork(module)
    assert not module.training  # eval mode: dropout off, so calls are repeatable
    tokens = np.random.default_rng(0).integers(1, 4, size=(5, 9))
    task_ids = np.array([0, 1, 2, 0, 1])
    logits, value = network(tokens, task_ids)
    assert logits.dtype == np.float32 and logits.shape == (5, 12)
    assert value.dtype == np.float32 and value.shape == (5,)
    assert module.grad_enabled_in_forward is False
    with torch.no_grad():
        expected = module(torch.from_numpy(tokens), torch.from_numpy(task_ids))
    np.testing.assert_allclose(logits, expected.policy_logits.numpy(), rtol=1e-6)
    np.testing.assert_allclose(value, expected.value.numpy(), rtol=1e-6)
    again, _ = network(tokens, task_ids)
    np.testing.assert_array_equal(logits, again)


def test_torch_network_drives_the_search_and_takes_new_weights():
    task = TicTacToe()
    module = PoolingNet()
    network = TorchNetwork(module)
    search = BatchedSearch(task, network, SearchConfig(num_simulations=8), batch_size=4, task_id=2)
    search.reset(np.array([task.generate(seed, 1.0) for seed in range(4)]), np.arange(4))
    result = search.run()
    assert np.all(task.legal_mask(search.root_states)[np.arange(4), result.actions])
    state = {k: torch.zeros_like(v) for k, v in module.state_dict().items()}
    network.load_state_dict(state)
    logits, value = network(task.encode(search.root_states), np.zeros(4, dtype=np.int64))
    assert np.all(logits == 0) and np.all(value == 0)


def test_torch_network_with_the_learners_model():
    # No skip: a model that fails to import or build must fail here, not hide.
    task = TicTacToe()
    model = build_model(ModelConfig(arch="trm", preset="tiny"), [task.spec])
    network = TorchNetwork(model)
    search = BatchedSearch(task, network, SearchConfig(algorithm="gumbel", num_simulations=8), batch_size=3)
    search.reset(np.array([task.generate(seed, 0.5) for seed in range(3)]), np.arange(3))
    result = search.run()
    np.testing.assert_allclose(result.policy.sum(1), 1.0, atol=1e-5)
    assert np.all(task.legal_mask(search.root_states)[np.arange(3), result.actions])
