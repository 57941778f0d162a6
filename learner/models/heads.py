"""Per-task policy and value heads reading a model's answer state.

The answer state is ``[B, P + L, D]``: ``P`` prefix positions (``prefix``, the
model's ``prefix_positions``), the first of them the task token (the task's
embedding, prepended to the tokens, as HRM/TRM prepend puzzle embeddings), then
one position per input token.

- Per-position tasks (``actions_per_token = k > 0``): action ``a`` acts on token
  ``a // k``, so a linear layer gives ``k`` logits at each token position (from ``P`` on) and
  ``[B, A/k, k]`` flattens to ``[B, A]``.
- Other tasks (``k = 0``): a pooled readout, the task token's state, through a
  linear layer to the task's ``A`` logits.
- Value: the task token's state through a linear layer and tanh.

Logits are padded to ``A_max`` (the most actions of any task served) with a large
negative number, so softmax gives those columns zero probability and no NaN
appears even in a loss over the padded width; callers slice to their task's A.
"""

from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor, nn

from learner.models.layers import Linear

PADDED_LOGIT = -1e9


class PolicyValueHeads(nn.Module):
    def __init__(self, hidden_size: int, tasks: Sequence[Any], prefix: int = 1) -> None:  # TaskShape-like objects
        super().__init__()
        self.tasks = list(tasks)
        self.prefix = prefix  # positions before the first token
        self.max_actions = max(task.num_actions for task in self.tasks)
        self.policy = nn.ModuleList(
            Linear(hidden_size, task.actions_per_token or task.num_actions) for task in self.tasks
        )
        self.value = nn.ModuleList(Linear(hidden_size, 1, bias=True) for _ in self.tasks)

    def forward(self, answer: Tensor, task_ids: Tensor) -> tuple[Tensor, Tensor]:
        """``answer [B, P + L, D], task_ids [B]`` -> (policy logits ``[B, A_max]``, value ``[B]``)."""
        first = int(task_ids[0])
        if bool((task_ids == first).all()):  # the usual case: one task in the batch
            return self._task_heads(answer, first)
        policy, value = None, None
        for task_id in torch.unique(task_ids).tolist():
            rows = torch.nonzero(task_ids == task_id).squeeze(1)
            task_policy, task_value = self._task_heads(answer.index_select(0, rows), task_id)
            if policy is None:  # allocated like the heads' output (its dtype may differ under autocast)
                policy = task_policy.new_empty((answer.shape[0], self.max_actions))
                value = task_value.new_empty(answer.shape[0])
            policy = policy.index_copy(0, rows, task_policy)
            value = value.index_copy(0, rows, task_value)
        return policy, value

    def _task_heads(self, answer: Tensor, task_id: int) -> tuple[Tensor, Tensor]:
        task = self.tasks[task_id]
        per_token = task.actions_per_token
        if per_token:
            positions = answer[:, self.prefix : self.prefix + task.num_actions // per_token]
            policy = self.policy[task_id](positions).flatten(1)
        else:
            policy = self.policy[task_id](answer[:, 0])
        if task.num_actions < self.max_actions:
            policy = nn.functional.pad(policy, (0, self.max_actions - task.num_actions), value=PADDED_LOGIT)
        value = torch.tanh(self.value[task_id](answer[:, 0]).squeeze(-1))
        return policy, value
