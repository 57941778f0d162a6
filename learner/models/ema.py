"""An exponential moving average of a model's weights, for evaluation (TRM trains with EMA 0.999)."""

import copy

import torch
from torch import nn


class ModelEMA:
    """``model`` holds the averaged weights (eval mode, no gradients); call `update` after each optimizer step."""

    def __init__(self, model: nn.Module, decay: float) -> None:
        if not 0.0 < decay < 1.0:
            raise ValueError(f"EMA decay must be in (0, 1), got {decay}")
        self.decay = decay
        self.model = copy.deepcopy(model).eval()
        self.model.requires_grad_(False)

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        for averaged, current in zip(self.model.parameters(), model.parameters(), strict=True):
            averaged.lerp_(current, 1.0 - self.decay)
        for averaged, current in zip(self.model.buffers(), model.buffers(), strict=True):
            if averaged.shape == current.shape:  # rotary tables may have grown in one copy only
                averaged.copy_(current)


def make_ema(model: nn.Module) -> ModelEMA | None:
    """The EMA a built model's config asks for (``ema_decay`` > 0), or None."""
    decay = model.hp.ema_decay
    return ModelEMA(model, decay) if decay > 0 else None
