"""The network as search sees it: `build_network` makes one, `TorchNetwork` runs it on numpy batches.

    network = build_network(model_config, [task.spec for task in tasks], seed=0, device="cpu")
    logits, value = network(tokens, task_ids)          # numpy int64 [B, L], [B] -> float32 [B, A'], [B]
    logits, value, segments, halted = network.call_with_segments(tokens, task_ids)   # and how halting ran
    network.load_state_dict(fetch_weights([ref]))      # published weights, one object-store fetch
    forced = network.with_forward_options(steps=4, halting=False)   # the same weights, exactly 4 segments

`build_network` is the one place a search network is built (self-play workers, the
evaluator, the benchmarks, the CLI). The module's ``forward(tokens LongTensor [B, L],
task_ids LongTensor [B])`` returns an object with ``.policy_logits [B, A']`` and
``.value [B]`` (the learner's ``PolicyValueOutput``). Search slices the logits to its
task's A and masks them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from common.devices import resolve_device

if TYPE_CHECKING:
    from learner.model_config import ModelConfig


class TorchNetwork:
    """Calls ``module`` under ``torch.inference_mode()`` on numpy inputs and returns numpy float32 outputs.

    The module is put in eval mode (no dropout, no training-only behaviour);
    its parameters are shared, so loading new weights into it (e.g. with
    `load_state_dict`) takes effect on the next call. On CPU the inputs enter
    torch without a copy (``torch.from_numpy``); on another device they are
    copied there and the outputs copied back.

    ``forward_options`` are keyword arguments of every call of the module's forward
    (e.g. ``steps``, ``halting``, ``reset_carry`` of a `RecursiveReasoningModel`):
    for evaluation sweeps (`with_forward_options`); none in self-play.
    """

    def __init__(
        self,
        module: torch.nn.Module,
        device: str | torch.device = "cpu",
        forward_options: dict[str, Any] | None = None,
    ) -> None:
        self.device = torch.device(device)
        self.module = module.to(self.device).eval()
        self.forward_options = dict(forward_options or {})

    def with_forward_options(self, **options: Any) -> TorchNetwork:
        """A network on the same module (shared weights) whose forward calls also get ``options``."""
        return TorchNetwork(self.module, self.device, {**self.forward_options, **options})

    def __call__(self, tokens: np.ndarray, task_ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``tokens int64 [B, L], task_ids int64 [B]`` -> ``(policy_logits float32 [B, A'], value float32 [B])``."""
        with torch.inference_mode():
            out = self._forward(tokens, task_ids)
            logits = out.policy_logits.detach().to("cpu", torch.float32).numpy()
            value = out.value.detach().to("cpu", torch.float32).reshape(-1).numpy()
        return logits, value

    def call_with_segments(
        self, tokens: np.ndarray, task_ids: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """The same forward pass as a call, also reporting how the model's halting ran it.

        ``tokens int64 [B, L], task_ids int64 [B]`` -> ``(policy_logits float32 [B, A'],
        value float32 [B], segments int64 [B], halted bool [B])``: ``segments`` each sample
        used (the model's ``inference_steps``, or ``forward_options``' ``steps``, unless its
        halting stopped it earlier), and
        whether its halting head said halt at the last of them (False where the cap, not
        the head, ended the pass).
        """
        from learner.models.base import SegmentOutput

        with torch.inference_mode():
            out = self._forward(tokens, task_ids)
            last = SegmentOutput(out.policy_logits, out.value, out.halt_logits, out.continue_logits)
            halted = self.module.halt_decision(last).to("cpu").numpy()
            logits = out.policy_logits.detach().to("cpu", torch.float32).numpy()
            value = out.value.detach().to("cpu", torch.float32).reshape(-1).numpy()
            segments = out.steps.to("cpu", torch.int64).numpy()
        return logits, value, segments, halted

    def _forward(self, tokens: np.ndarray, task_ids: np.ndarray) -> Any:
        """The module's output (a ``PolicyValueOutput`` on the device) for numpy inputs; call in inference mode."""
        tokens_t = torch.from_numpy(np.ascontiguousarray(tokens, dtype=np.int64))
        task_ids_t = torch.from_numpy(np.ascontiguousarray(task_ids, dtype=np.int64))
        if self.device.type != "cpu":
            tokens_t = tokens_t.to(self.device, non_blocking=True)
            task_ids_t = task_ids_t.to(self.device, non_blocking=True)
        return self.module(tokens_t, task_ids_t, **self.forward_options)

    def load_state_dict(self, state_dict: dict) -> None:
        """Load new weights (torch tensors or numpy arrays, as published) into the wrapped module."""
        tensors = {
            name: value if isinstance(value, torch.Tensor) else torch.from_numpy(np.array(value))
            for name, value in state_dict.items()
        }
        self.module.load_state_dict(tensors)
        self.module.eval()


def build_network(
    model: ModelConfig,
    specs: Sequence[Any],
    seed: int = 0,
    threads: int | None = None,
    device: str = "cpu",
    section: str = "model",
) -> TorchNetwork:
    """The model of ``model`` for task ids ``0 .. len(specs) - 1`` behind `TorchNetwork` on ``device``.

    ``specs`` are the tasks' `TaskSpec`s (or anything `TaskShape.of` takes). The initial
    weights depend on ``seed`` alone: the process's global torch generator is left as it
    was. ``threads`` sets torch's intra-op threads for the process (None: leave them);
    ``device`` is "cpu", "cuda" or "auto" (errors name the config ``section``).
    """
    from learner.models import build_model

    if threads is not None:
        torch.set_num_threads(threads)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        module = build_model(model, list(specs))
    return TorchNetwork(module, resolve_device(device, section))


def fetch_weights(weights: Any) -> dict:
    """A state dict from its published form: a dict, or a one-element list holding a dict or an ObjectRef of one.

    Weights travel wrapped in a list so that Ray hands actors the reference, and each
    fetches the one object-store copy itself (one ``ray.get`` per version).
    """
    if isinstance(weights, (list, tuple)):
        if len(weights) != 1:
            raise ValueError(f"weights: expected a one-element list, got {len(weights)} elements")
        weights = weights[0]
    if not isinstance(weights, dict):
        import ray

        weights = ray.get(weights)
    return weights
