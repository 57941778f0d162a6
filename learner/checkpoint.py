"""Checkpoints, never unpickled: model checkpoints and the learner's whole training state.

Model checkpoints (`save_checkpoint`, `load_checkpoint`, `load_model`, `read_metadata`).
A checkpoint ``name.safetensors`` holds the model's state dict as plain tensors and, in
its header, a JSON document (arch, preset, the ModelConfig, the resolved hyperparameters,
the task shapes, and the caller's extra fields). The same JSON is written beside it as
``name.json`` for people and tools; loading reads the header, so the weights and their
description cannot drift apart.

Learner checkpoints (`save_learner_checkpoint`, `load_learner_checkpoint`), one directory:

- ``model-<tag>.safetensors`` and, when the model keeps an EMA, ``ema-<tag>.safetensors``:
  ordinary model checkpoints (each with its ``.json``), loadable without a learner;
- ``state-<tag>.safetensors``: the optimizer's tensors (``state.<param>.<name>``) and the
  random-generator states (``rng.exploration``, ``rng.torch``, ``rng.cuda`` on CUDA);
- the manifest ``learner.json``: format, version, the file names, the counters, the
  optimizer's JSON-able rest, and the caller's description (model config, task shapes,
  seed), written last. ``<tag>`` is the step and a random suffix, so a crash mid-save
  leaves the previous checkpoint whole; files of earlier checkpoints are deleted once the
  new manifest is in place.

Every file is written atomically (`common.tensorfile`, `common.storage`): a crash leaves
either the old file or the new one, never a torn file.
"""

from __future__ import annotations

import collections
import dataclasses
import json
import time
import uuid
from pathlib import Path
from typing import Any

import torch

from common.storage import atomic_write_bytes, atomic_write_json
from common.tensorfile import TensorFileError, read_tensors, write_tensors
from common.tensorfile import read_metadata as read_header
from learner.models import ModelConfig, ModelEMA, RecursiveReasoningModel, TaskShape, build_model

FORMAT = "selfplay-model/1"
METADATA_KEY = "selfplay"
LEARNER_FORMAT = "selfplay-learner-checkpoint"
LEARNER_VERSION = 1
MANIFEST = "learner.json"


class CheckpointError(ValueError):
    """A checkpoint that cannot be read or does not fit the model; the message names the file."""


# ----- model checkpoints --------------------------------------------------------------------------


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
    write_tensors(path, model.state_dict(), metadata={METADATA_KEY: json.dumps(metadata)})
    atomic_write_bytes(path.with_suffix(".json"), (json.dumps(metadata, indent=2) + "\n").encode())
    return path


def read_metadata(path: str | Path) -> dict[str, Any]:
    """The JSON description stored in a checkpoint's header."""
    path = Path(path)
    return _metadata(path, _read(path, tensors=False)[1])


def load_checkpoint(path: str | Path, model: RecursiveReasoningModel) -> dict[str, Any]:
    """Load the weights at ``path`` into ``model`` after checking every name and shape; returns the metadata.

    Raises `CheckpointError` listing the missing, unexpected and mismatched tensors.
    """
    path = Path(path)
    stored, header = _read(path, tensors=True)
    metadata = _metadata(path, header)
    if metadata.get("arch") != model.arch:
        raise CheckpointError(f"{path}: checkpoint is a {metadata.get('arch')!r} model, the model is {model.arch!r}")
    expected = model.state_dict()
    problems = []
    for name, tensor in expected.items():
        if name in stored and stored[name].shape != tensor.shape:
            shape, wanted = list(stored[name].shape), list(tensor.shape)
            problems.append(f"tensor '{name}' has shape {shape}, the model expects {wanted}")
    missing = [name for name in expected if name not in stored]
    unexpected = [name for name in stored if name not in expected]
    if missing:
        problems.append("missing tensors: " + ", ".join(f"'{name}'" for name in missing))
    if unexpected:
        problems.append("unexpected tensors: " + ", ".join(f"'{name}'" for name in unexpected))
    if problems:
        raise CheckpointError(f"{path}: does not fit the model: " + "; ".join(problems))
    model.load_state_dict(stored, strict=True)
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


def _read(path: Path, tensors: bool) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """(tensors, header metadata) of a checkpoint file; no tensors unless ``tensors``."""
    if not path.is_file():
        raise CheckpointError(f"{path}: no such checkpoint file")
    try:
        return read_tensors(path, "pt") if tensors else ({}, read_header(path))
    except TensorFileError as error:
        raise CheckpointError(str(error)) from None


def _metadata(path: Path, header: dict[str, str]) -> dict[str, Any]:
    text = header.get(METADATA_KEY)
    if text is None:
        raise CheckpointError(f"{path}: no '{METADATA_KEY}' metadata in the header (not a selfplay checkpoint)")
    try:
        metadata = json.loads(text)
    except json.JSONDecodeError as error:
        raise CheckpointError(f"{path}: metadata is not valid JSON ({error})") from None
    if metadata.get("format") != FORMAT:
        raise CheckpointError(f"{path}: unknown checkpoint format {metadata.get('format')!r} (expected {FORMAT!r})")
    return metadata


# ----- learner checkpoints ------------------------------------------------------------------------


def save_learner_checkpoint(
    directory: str | Path,
    model: RecursiveReasoningModel,
    ema: ModelEMA | None,
    optimizer: torch.optim.Optimizer,
    exploration: torch.Generator,
    *,
    counters: dict[str, int],
    description: dict[str, Any],
) -> list[str]:
    """Write a learner checkpoint (see the module doc) into ``directory``; returns its file names, sorted.

    ``counters`` (with ``step``, which names the files) and ``description`` go to the manifest
    as they are; ``exploration`` is the learner's own CPU generator (halting exploration).
    """
    directory = Path(directory)
    tag = f"{counters['step']:09d}-{uuid.uuid4().hex[:8]}"
    files = {"model": f"model-{tag}.safetensors", "state": f"state-{tag}.safetensors"}
    if ema is not None:
        files["ema"] = f"ema-{tag}.safetensors"
    save_checkpoint(directory / files["model"], model, extra={"step": counters["step"], "weights": "training"})
    if ema is not None:
        save_checkpoint(directory / files["ema"], ema.model, extra={"step": counters["step"], "weights": "ema"})
    optimizer_tensors, optimizer_json = flatten_optimizer_state(optimizer.state_dict())
    write_tensors(directory / files["state"], {**optimizer_tensors, **_random_states(exploration, _device(model))})
    manifest = {
        **description,
        "format": LEARNER_FORMAT,
        "version": LEARNER_VERSION,
        "files": files,
        "counters": counters,
        "optimizer": optimizer_json,
        "saved_at": time.time(),
    }
    atomic_write_json(directory / MANIFEST, manifest)
    _delete_other_checkpoint_files(directory, keep={Path(name).stem for name in files.values()})
    return sorted(files.values())


def load_learner_checkpoint(
    directory: str | Path,
    model: RecursiveReasoningModel,
    ema: ModelEMA | None,
    optimizer: torch.optim.Optimizer,
    exploration: torch.Generator,
) -> dict[str, Any]:
    """Restore, in place, what `save_learner_checkpoint` wrote into ``directory``; returns its manifest.

    Raises FileNotFoundError without a manifest, and ValueError (`CheckpointError` for the
    model files) naming the file and the tensor when a checkpoint does not fit this network;
    that is found before anything is loaded. (Only a damaged file met after the model file
    could leave the objects half loaded.)
    """
    directory = Path(directory)
    manifest_path = directory / MANIFEST
    manifest = json.loads(manifest_path.read_text())
    if manifest.get("format") != LEARNER_FORMAT or manifest.get("version") != LEARNER_VERSION:
        raise ValueError(f"{manifest_path}: not a version {LEARNER_VERSION} learner checkpoint")
    files = manifest["files"]
    if ema is not None and "ema" not in files:
        raise ValueError(f"{manifest_path}: the model keeps an EMA but the checkpoint has none")
    load_checkpoint(directory / files["model"], model)  # checks every name and shape first
    if ema is not None:
        load_checkpoint(directory / files["ema"], ema.model)
    state_path = directory / files["state"]
    state_tensors, _ = read_tensors(state_path, "pt")
    optimizer_state = unflatten_optimizer_state(state_tensors, manifest["optimizer"])
    check_optimizer_state(str(state_path), optimizer_state, optimizer)
    optimizer.load_state_dict(optimizer_state)
    _restore_random_states(state_tensors, exploration, _device(model))
    return manifest


def check_tensors(source: str, tensors: dict[str, torch.Tensor], expected: dict[str, torch.Tensor]) -> None:
    """Raise ValueError naming ``source`` and the first tensor that is missing, unexpected or of another shape."""
    for name, target in expected.items():
        if name not in tensors:
            raise ValueError(f"{source}: tensor {name!r} is missing (the model has shape {list(target.shape)})")
        if tuple(tensors[name].shape) != tuple(target.shape):
            raise ValueError(
                f"{source}: tensor {name!r} has shape {list(tensors[name].shape)}, "
                f"the model expects {list(target.shape)}"
            )
    for name in tensors:
        if name not in expected:
            raise ValueError(f"{source}: tensor {name!r} is not part of the model")


def flatten_optimizer_state(state: dict[str, Any]) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """An optimizer ``state_dict`` as (tensors ``"state.<param>.<name>"``, the JSON-able rest)."""
    tensors: dict[str, torch.Tensor] = {}
    scalars: dict[str, dict[str, Any]] = {}
    for param, entries in state["state"].items():
        for name, value in entries.items():
            if isinstance(value, torch.Tensor):
                tensors[f"state.{param}.{name}"] = value
            else:
                scalars.setdefault(str(param), {})[name] = value
    groups = [{k: list(v) if isinstance(v, tuple) else v for k, v in g.items()} for g in state["param_groups"]]
    return tensors, {"param_groups": groups, "scalars": scalars}


def unflatten_optimizer_state(tensors: dict[str, torch.Tensor], rest: dict[str, Any]) -> dict[str, Any]:
    """The inverse of `flatten_optimizer_state` (other tensors in ``tensors`` are ignored)."""
    state: dict[int, dict[str, Any]] = collections.defaultdict(dict)
    for key, value in tensors.items():
        kind, _, remainder = key.partition(".")
        if kind != "state":
            continue
        param, _, name = remainder.partition(".")
        state[int(param)][name] = value
    for param, entries in rest["scalars"].items():
        state[int(param)].update(entries)
    groups = [{k: tuple(v) if k == "betas" else v for k, v in g.items()} for g in rest["param_groups"]]
    return {"state": dict(state), "param_groups": groups}


def check_optimizer_state(source: str, state: dict[str, Any], optimizer: torch.optim.Optimizer) -> None:
    """Raise ValueError naming ``source`` when ``state`` does not fit ``optimizer``'s parameters."""
    params = [p for group in optimizer.param_groups for p in group["params"]]
    saved = [len(g["params"]) for g in state["param_groups"]]
    if saved != [len(g["params"]) for g in optimizer.param_groups]:
        raise ValueError(f"{source}: optimizer parameter groups of sizes {saved} do not fit this model")
    for param, entries in state["state"].items():
        if not 0 <= param < len(params):
            raise ValueError(f"{source}: optimizer state for parameter {param}, the model has {len(params)}")
        for name, value in entries.items():
            if isinstance(value, torch.Tensor) and value.dim() > 0 and value.shape != params[param].shape:
                raise ValueError(
                    f"{source}: tensor 'state.{param}.{name}' has shape {list(value.shape)}, "
                    f"the parameter has {list(params[param].shape)}"
                )


def _device(model: torch.nn.Module) -> torch.device:
    return next(model.parameters()).device


def _random_states(exploration: torch.Generator, device: torch.device) -> dict[str, torch.Tensor]:
    tensors = {"rng.exploration": exploration.get_state(), "rng.torch": torch.get_rng_state()}
    if device.type == "cuda":
        tensors["rng.cuda"] = torch.cuda.get_rng_state(device)
    return tensors


def _restore_random_states(
    tensors: dict[str, torch.Tensor], exploration: torch.Generator, device: torch.device
) -> None:
    exploration.set_state(tensors["rng.exploration"])
    torch.set_rng_state(tensors["rng.torch"])
    if device.type == "cuda" and "rng.cuda" in tensors:
        torch.cuda.set_rng_state(tensors["rng.cuda"], device)


def _delete_other_checkpoint_files(directory: Path, keep: set[str]) -> None:
    """Delete the files of earlier checkpoints: ``<model|ema|state>-<tag>.<safetensors|json>`` not in ``keep``."""
    for prefix in ("model-", "ema-", "state-"):
        for path in directory.glob(f"{prefix}*"):
            if path.suffix in (".safetensors", ".json") and path.stem not in keep:
                path.unlink(missing_ok=True)


__all__ = [
    "MANIFEST",
    "CheckpointError",
    "check_tensors",
    "load_checkpoint",
    "load_learner_checkpoint",
    "load_model",
    "read_metadata",
    "save_checkpoint",
    "save_learner_checkpoint",
]
