"""Model checkpoints: safetensors weights plus JSON metadata, written atomically, never unpickled.

A checkpoint ``name.safetensors`` holds the model's state dict as plain tensors
and, in its header, a JSON document (arch, preset, the ModelConfig, the resolved
hyperparameters, the task shapes, and the caller's extra fields). The same JSON
is written beside it as ``name.json`` for people and tools; loading reads the
header, so the weights and their description cannot drift apart.

Both files are written to a temporary file in the same directory, fsynced and
renamed over the target, so a crash leaves either the old checkpoint or the new
one, never a torn file.
"""

import dataclasses
import json
from pathlib import Path
from typing import Any

from safetensors import SafetensorError, safe_open
from safetensors.torch import save as safetensors_bytes

from common.storage import atomic_write_bytes
from learner.models import ModelConfig, RecursiveReasoningModel, TaskShape, build_model

FORMAT = "selfplay-model/1"
METADATA_KEY = "selfplay"


class CheckpointError(ValueError):
    """A checkpoint that cannot be read or does not fit the model; the message names the file."""


def save_checkpoint(path: str | Path, model: RecursiveReasoningModel, extra: dict[str, Any] | None = None) -> Path:
    """Write ``model``'s weights and description to ``path`` (and ``path`` with suffix .json); returns ``path``."""
    path = Path(path)
    metadata = {
        "format": FORMAT,
        "arch": model.arch,
        "preset": model.hp.preset,
        "config": dataclasses.asdict(model.config),
        "hyperparams": dataclasses.asdict(model.hp),
        "tasks": [dataclasses.asdict(task) for task in model.tasks],
        "extra": extra or {},
    }
    tensors = {name: tensor.detach().cpu().contiguous() for name, tensor in model.state_dict().items()}
    data = safetensors_bytes(tensors, metadata={METADATA_KEY: json.dumps(metadata)})
    atomic_write_bytes(path, data)
    atomic_write_bytes(path.with_suffix(".json"), (json.dumps(metadata, indent=2) + "\n").encode())
    return path


def read_metadata(path: str | Path) -> dict[str, Any]:
    """The JSON description stored in a checkpoint's header."""
    path = Path(path)
    with _open(path) as reader:
        return _metadata(path, reader)


def load_checkpoint(path: str | Path, model: RecursiveReasoningModel) -> dict[str, Any]:
    """Load the weights at ``path`` into ``model`` after checking every name and shape; returns the metadata.

    Raises `CheckpointError` listing the missing, unexpected and mismatched tensors.
    """
    path = Path(path)
    with _open(path) as reader:
        metadata = _metadata(path, reader)
        if metadata.get("arch") != model.arch:
            stored_arch = metadata.get("arch")
            raise CheckpointError(f"{path}: checkpoint is a {stored_arch!r} model, the model is {model.arch!r}")
        expected = model.state_dict()
        stored = {name: list(reader.get_slice(name).get_shape()) for name in reader.keys()}  # noqa: SIM118
        problems = []
        for name, tensor in expected.items():
            if name in stored and stored[name] != list(tensor.shape):
                problems.append(f"tensor '{name}' has shape {stored[name]}, the model expects {list(tensor.shape)}")
        missing = [name for name in expected if name not in stored]
        unexpected = [name for name in stored if name not in expected]
        if missing:
            problems.append("missing tensors: " + ", ".join(f"'{name}'" for name in missing))
        if unexpected:
            problems.append("unexpected tensors: " + ", ".join(f"'{name}'" for name in unexpected))
        if problems:
            raise CheckpointError(f"{path}: does not fit the model: " + "; ".join(problems))
        state = {name: reader.get_tensor(name) for name in expected}
    model.load_state_dict(state, strict=True)
    return metadata


def load_model(path: str | Path) -> RecursiveReasoningModel:
    """Build the model a checkpoint describes and load its weights (in eval mode)."""
    path = Path(path)
    metadata = read_metadata(path)
    try:
        config = ModelConfig(**metadata["config"])
        tasks = [TaskShape(**task) for task in metadata["tasks"]]
    except (KeyError, TypeError) as error:
        raise CheckpointError(f"{path}: metadata does not describe a model ({error})") from None
    model = build_model(config, tasks)
    load_checkpoint(path, model)
    return model.eval()


# ----- internals -------------------------------------------------------------------


def _open(path: Path):
    if not path.is_file():
        raise CheckpointError(f"{path}: no such checkpoint file")
    try:
        return safe_open(str(path), framework="pt", device="cpu")
    except (SafetensorError, OSError, ValueError) as error:
        raise CheckpointError(f"{path}: not a readable safetensors file ({error})") from None


def _metadata(path: Path, reader: Any) -> dict[str, Any]:
    text = (reader.metadata() or {}).get(METADATA_KEY)
    if text is None:
        raise CheckpointError(f"{path}: no '{METADATA_KEY}' metadata in the header (not a selfplay checkpoint)")
    try:
        metadata = json.loads(text)
    except json.JSONDecodeError as error:
        raise CheckpointError(f"{path}: metadata is not valid JSON ({error})") from None
    if metadata.get("format") != FORMAT:
        raise CheckpointError(f"{path}: unknown checkpoint format {metadata.get('format')!r} (expected {FORMAT!r})")
    return metadata


__all__ = ["CheckpointError", "load_checkpoint", "load_model", "read_metadata", "save_checkpoint"]
