"""Which torch device an actor computes on: the names a config accepts, and what they resolve to."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch

DEVICES = ("auto", "cpu", "cuda")


def resolve_device(name: str, section: str) -> torch.device:
    """``"auto"`` -> CUDA when torch sees a GPU (Ray exposes only the GPUs it assigned), else CPU.

    ``section`` names the config section in the error when ``"cuda"`` is asked for and torch sees no GPU.
    """
    import torch  # here, not at the top: config modules import this one and must stay light

    if name not in DEVICES:
        raise ValueError(f"{section}.device: expected one of {', '.join(DEVICES)}, got {name!r}")
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise RuntimeError(f"{section}.device is 'cuda' but torch sees no GPU (did the actor declare num_gpus?)")
    return torch.device(name)
