"""Tensor files: the project's one way to write and read safetensors files (weights, checkpoints).

    write_tensors(path, {"w": tensor_or_array}, metadata={"key": "text"})  # atomic, never pickled
    tensors, metadata = read_tensors(path, framework="np")  # or "pt": torch tensors on the CPU
    metadata = read_metadata(path)  # the header's text fields only

A file holds named tensors and, in its header, text metadata (``dict[str, str]``). It is
written through `common.storage.atomic_write_bytes`, so a crash leaves the old file or the
new one. Every file that cannot be read raises `TensorFileError` (a ValueError) with one
line naming the file and what is wrong. torch is imported only when torch tensors are
written or ``framework="pt"`` is read, so numpy-only users (the run directory) never load it.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from common.storage import atomic_write_bytes

FRAMEWORKS = ("pt", "np")


class TensorFileError(ValueError):
    """A tensor file that is missing or is not a readable safetensors file; the message names the file."""


def write_tensors(path: str | Path, tensors: Mapping[str, Any], metadata: Mapping[str, str] | None = None) -> Path:
    """Write ``tensors`` (torch tensors or numpy arrays, any device) to ``path`` atomically; returns ``path``.

    Torch tensors are written from contiguous CPU copies of their own (safetensors refuses tensors
    that share memory, as tied or sliced parameters do); numpy arrays are made contiguous and
    serialised by value. With any torch tensor among them, numpy arrays are written through torch.
    """
    path = Path(path)
    metadata = None if metadata is None else dict(metadata)
    if any(_is_torch_tensor(value) for value in tensors.values()):
        import torch
        from safetensors.torch import save

        def cpu_copy(value: Any) -> torch.Tensor:
            if not _is_torch_tensor(value):
                value = torch.from_numpy(np.asarray(value))
            return value.detach().to("cpu", copy=True).contiguous()

        data = save({name: cpu_copy(value) for name, value in tensors.items()}, metadata=metadata)
    else:
        from safetensors.numpy import save

        data = save({name: np.ascontiguousarray(value) for name, value in tensors.items()}, metadata=metadata)
    atomic_write_bytes(path, data)
    return path


def read_tensors(path: str | Path, framework: str = "pt") -> tuple[dict[str, Any], dict[str, str]]:
    """(tensors, metadata) of the file at ``path``: torch CPU tensors (``"pt"``) or numpy arrays (``"np"``).

    The tensors are the caller's own (writable) copies. Raises `TensorFileError`.
    """
    path = Path(path)
    with _reader(path, framework) as reader:
        tensors = {name: reader.get_tensor(name) for name in reader.keys()}  # noqa: SIM118 (not a dict)
        return tensors, dict(reader.metadata() or {})


def read_metadata(path: str | Path) -> dict[str, str]:
    """The text metadata in the header of the file at ``path``, without reading its tensors."""
    path = Path(path)
    with _reader(path, "np") as reader:
        return dict(reader.metadata() or {})


# ----- internals ----------------------------------------------------------------------------------


def _is_torch_tensor(value: Any) -> bool:
    torch = sys.modules.get("torch")  # no torch loaded, no torch tensor
    return torch is not None and isinstance(value, torch.Tensor)


@contextmanager
def _reader(path: Path, framework: str) -> Iterator[Any]:
    """An open safetensors reader of ``path``; every failure to read becomes a `TensorFileError`."""
    if framework not in FRAMEWORKS:
        raise ValueError(f"read_tensors: framework must be one of {FRAMEWORKS}, got {framework!r}")
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework=framework, device="cpu") as reader:
            yield reader
    except FileNotFoundError:
        raise TensorFileError(f"{path}: no such file") from None
    except Exception as error:  # safetensors raises its own types (and OSError) for a damaged file
        reason = " ".join(str(error).split()) or type(error).__name__  # one line
        raise TensorFileError(f"{path}: not a readable safetensors file ({reason})") from None
