"""Checkpoints, never unpickled: model checkpoints and the learner's whole training state.

Model checkpoints (`save_checkpoint`, `load_checkpoint`, `load_model`, `read_metadata`).
A checkpoint ``name.safetensors`` holds the model's state dict as plain tensors and, in
its header, a JSON document (arch, preset, the ModelConfig, the resolved hyperparameters,
the task shapes, and the caller's extra fields). The same JSON is written beside it as
``name.json`` for people and tools; loading reads the header, so the weights and their
description cannot drift apart.

Learner checkpoints (`save_learner_checkpoint`, `load_learner_checkpoint`), one directory
holding the newest two checkpoints:

- ``model-<tag>.safetensors`` and, when the model keeps an EMA, ``ema-<tag>.safetensors``:
  ordinary model checkpoints (each with its ``.json``), loadable without a learner;
- ``state-<tag>.safetensors``: the optimizer's tensors (``state.<param>.<name>``) and the
  random-generator states (``rng.exploration``, ``rng.torch``, ``rng.cuda`` on CUDA);
- a manifest per checkpoint: format, version, the file names, the counters, the optimizer's
  JSON-able rest, and the caller's description (model config, task shapes, seed).
  ``learner.json`` is the newest checkpoint's (the name and format every earlier run has),
  ``learner.previous.json`` the one before it. ``<tag>`` is the step and a random suffix.

Saving, in this order: (1) the new checkpoint's files; (2) if ``learner.json`` names a
complete checkpoint (it parses and every file it names exists), it is copied to
``learner.previous.json``; (3) the new ``learner.json``; (4) every checkpoint file that
neither manifest names is deleted, with any temporary file a crash left behind. Each
step is atomic (`common.tensorfile`, `common.storage`: a crash leaves the old file or the
new one, never a torn one), and a manifest is written only once every file it names is
on disk, so a crash at any moment leaves a loadable checkpoint: before (3) ``learner.json``
still names the previous one (after (2) both manifests name it); after (3) both are whole,
and an interrupted (4) only leaves files that the next save deletes. Two manifest files,
not one listing two checkpoints, so that a damaged manifest has a fallback too.

Loading tries ``learner.json``, then ``learner.previous.json``. A checkpoint is read and
checked whole (every file readable, every tensor of the right name and shape, the
optimizer and random states fitting) before anything is loaded, so one that does not load
changes nothing. Falling back logs one warning line naming the file and why; the result
(`LoadedCheckpoint`) says which checkpoint was loaded and how many learner steps that lost
relative to the newest. When neither loads, one `CheckpointError` names the directory and
each problem.
"""

from __future__ import annotations

import collections
import dataclasses
import json
import logging
import re
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from common.storage import TEMP_PREFIX, atomic_write_bytes, atomic_write_json
from common.tensorfile import TensorFileError, read_tensors, write_tensors
from common.tensorfile import read_metadata as read_header
from learner.models import ModelConfig, ModelEMA, RecursiveReasoningModel, TaskShape, build_model

FORMAT = "selfplay-model/1"
METADATA_KEY = "selfplay"
LEARNER_FORMAT = "selfplay-learner-checkpoint"
LEARNER_VERSION = 1
MANIFEST = "learner.json"  # the newest learner checkpoint
PREVIOUS_MANIFEST = "learner.previous.json"  # the one before it: the fallback
MANIFESTS = (MANIFEST, PREVIOUS_MANIFEST)  # newest first
_MODEL_FILE = re.compile(r"^model-(\d+)-[0-9a-f]+\.safetensors$")

log = logging.getLogger(__name__)


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
    stored, metadata = _checked_weights(Path(path), model)
    model.load_state_dict(stored, strict=True)
    return metadata


def _checked_weights(path: Path, model: RecursiveReasoningModel) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """(tensors, metadata) of the checkpoint at ``path``, checked against ``model``; nothing is loaded."""
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
    return stored, metadata


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


@dataclasses.dataclass
class LoadedCheckpoint:
    """What `load_learner_checkpoint` loaded.

    Attributes:
        manifest: the loaded checkpoint's manifest (counters, files, description).
        name: its manifest file, `MANIFEST` or `PREVIOUS_MANIFEST`.
        tag: its tag (``<step>-<suffix>``, as in its file names).
        step: its learner step (``counters["step"]``).
        lost_steps: learner steps of the newest checkpoint that the loaded one lacks (0 unless it fell back).
        problems: one line per newer checkpoint that did not load (file and reason), newest first.
    """

    manifest: dict[str, Any]
    name: str
    tag: str
    step: int
    lost_steps: int
    problems: list[str]

    @property
    def fell_back(self) -> bool:
        """Whether the newest checkpoint did not load and an older one was loaded instead."""
        return bool(self.problems)

    def summary(self) -> dict[str, Any]:
        """``loaded`` (the tag), ``manifest``, ``fell_back``, ``lost_steps``, ``problems``: JSON-ready."""
        return {
            "loaded": self.tag,
            "manifest": self.name,
            "fell_back": self.fell_back,
            "lost_steps": self.lost_steps,
            "problems": list(self.problems),
        }


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

    The previous checkpoint stays as the fallback; older ones are deleted. ``counters`` (with
    ``step``, which names the files) and ``description`` go to the manifest as they are;
    ``exploration`` is the learner's own CPU generator (halting exploration).
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
    previous = _keep_as_previous(directory)
    atomic_write_json(directory / MANIFEST, manifest)
    kept = [manifest] if previous is None else [manifest, previous]
    _delete_other_checkpoint_files(directory, keep={Path(name).stem for m in kept for name in m["files"].values()})
    return sorted(files.values())


def load_learner_checkpoint(
    directory: str | Path,
    model: RecursiveReasoningModel,
    ema: ModelEMA | None,
    optimizer: torch.optim.Optimizer,
    exploration: torch.Generator,
) -> LoadedCheckpoint:
    """Restore, in place, the newest checkpoint in ``directory`` that loads (module doc); says which one.

    Raises FileNotFoundError when the directory holds no manifest at all, and `CheckpointError`
    (a ValueError), one line naming the directory and each checkpoint's problem, when none
    loads (damaged or missing files, or a checkpoint of another network); then nothing was changed.
    """
    directory = Path(directory)
    if not any((directory / name).exists() for name in MANIFESTS):
        raise FileNotFoundError(f"{directory}: no learner checkpoint ({MANIFEST})")
    problems: list[str] = []  # one line per checkpoint that did not load, newest first
    steps: list[int] = []  # of every manifest read, loadable or not
    unread = False  # a manifest that could not be read: its step is unknown
    for name in MANIFESTS:
        path = directory / name
        if name != MANIFEST and not path.exists():
            problems.append(f"{path}: no such file (nothing older to fall back on)")
            break
        try:
            manifest = _read_manifest(path)
        except CheckpointError as error:
            problems.append(str(error))
            unread = True
            continue
        steps.append(manifest["counters"]["step"])
        try:
            apply = _checked_learner_state(path, manifest, model, ema, optimizer, exploration)
        except (ValueError, KeyError, TypeError, OSError) as error:  # a damaged file can fail in many ways
            problems.append(_one_line(path, error))
            continue
        apply()
        loaded = LoadedCheckpoint(manifest, name, _tag(manifest), steps[-1], 0, problems)
        if problems:
            # The newest step: from the manifests read, and from the model files' names if one was unreadable.
            newest = max(steps + (_model_file_steps(directory) if unread else []))
            loaded.lost_steps = max(0, newest - loaded.step)
            log.warning(
                "learner checkpoint: the newest did not load (%s); loaded %s instead (step %d, %d step(s) lost)",
                problems[0],
                path,
                loaded.step,
                loaded.lost_steps,
            )
        return loaded
    raise CheckpointError(f"{directory}: no learner checkpoint loads: " + "; ".join(problems))


def _read_manifest(path: Path) -> dict[str, Any]:
    """The manifest at ``path``, checked for what loading needs; `CheckpointError` naming the file otherwise."""
    try:
        manifest = json.loads(path.read_text())
    except FileNotFoundError:
        raise CheckpointError(f"{path}: no such file") from None
    except OSError as error:
        raise CheckpointError(f"{path}: cannot be read ({error.strerror})") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise CheckpointError(f"{path}: not valid JSON ({error})") from None
    if not isinstance(manifest, dict):
        manifest = {}
    if (manifest.get("format"), manifest.get("version")) != (LEARNER_FORMAT, LEARNER_VERSION):
        raise CheckpointError(f"{path}: not a version {LEARNER_VERSION} learner checkpoint")
    files, counters = manifest.get("files"), manifest.get("counters")
    if not (
        isinstance(files, dict)
        and all(isinstance(files.get(kind), str) for kind in ("model", "state"))
        and isinstance(counters, dict)
        and isinstance(counters.get("step"), int)
        and isinstance(manifest.get("optimizer"), dict)
    ):
        raise CheckpointError(f"{path}: incomplete manifest (its files, counters or optimizer state are missing)")
    return manifest


def _checked_learner_state(
    path: Path,
    manifest: dict[str, Any],
    model: RecursiveReasoningModel,
    ema: ModelEMA | None,
    optimizer: torch.optim.Optimizer,
    exploration: torch.Generator,
) -> Callable[[], None]:
    """Read and check every file the manifest at ``path`` names; returns what loads them (nothing is loaded yet)."""
    directory, files = path.parent, manifest["files"]
    if ema is not None and "ema" not in files:
        raise CheckpointError(f"{path}: the model keeps an EMA but the checkpoint has none")
    weights, _ = _checked_weights(directory / files["model"], model)
    ema_weights = None if ema is None else _checked_weights(directory / files["ema"], ema.model)[0]
    state_path = directory / files["state"]
    state_tensors, _ = _read(state_path, tensors=True)
    optimizer_state = unflatten_optimizer_state(state_tensors, manifest["optimizer"])
    check_optimizer_state(str(state_path), optimizer_state, optimizer)
    _check_random_states(state_path, state_tensors, exploration)

    def apply() -> None:
        model.load_state_dict(weights, strict=True)
        if ema is not None:
            ema.model.load_state_dict(ema_weights, strict=True)
        optimizer.load_state_dict(optimizer_state)
        _restore_random_states(state_tensors, exploration, _device(model))

    return apply


def _keep_as_previous(directory: Path) -> dict[str, Any] | None:
    """Before a new ``learner.json``: make the checkpoint it names the fallback, if it is complete.

    Returns the manifest of the checkpoint that is the fallback from now on (``learner.json``'s,
    else a complete ``learner.previous.json``'s), or None.
    """
    for name in MANIFESTS:
        path = directory / name
        try:
            manifest = _read_manifest(path)
        except CheckpointError:
            continue
        if all((directory / file).is_file() for file in manifest["files"].values()):
            if name == MANIFEST:
                atomic_write_bytes(directory / PREVIOUS_MANIFEST, path.read_bytes())
            return manifest
    return None


def _tag(manifest: dict[str, Any]) -> str:
    return Path(manifest["files"]["model"]).stem.removeprefix("model-")


def _model_file_steps(directory: Path) -> list[int]:
    """The steps in the names of the model files in ``directory``."""
    return [int(match.group(1)) for path in directory.iterdir() if (match := _MODEL_FILE.match(path.name))]


def _one_line(path: Path, error: BaseException) -> str:
    """``error`` as one line that names a file (``path`` unless the message names one itself)."""
    if isinstance(error, KeyError):
        text = f"{path}: missing field {error}"
    else:
        text = " ".join(str(error).split()) or type(error).__name__
        if not text.startswith(str(path.parent)):
            text = f"{path}: {text}"
    return text


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


def _check_random_states(path: Path, tensors: dict[str, torch.Tensor], exploration: torch.Generator) -> None:
    for name, current in (("rng.exploration", exploration.get_state()), ("rng.torch", torch.get_rng_state())):
        saved = tensors.get(name)
        if saved is None or saved.dtype != current.dtype or saved.shape != current.shape:
            raise CheckpointError(f"{path}: the random-generator state {name!r} is missing or malformed")


def _restore_random_states(
    tensors: dict[str, torch.Tensor], exploration: torch.Generator, device: torch.device
) -> None:
    exploration.set_state(tensors["rng.exploration"])
    torch.set_rng_state(tensors["rng.torch"])
    if device.type == "cuda" and "rng.cuda" in tensors:
        torch.cuda.set_rng_state(tensors["rng.cuda"], device)


def _delete_other_checkpoint_files(directory: Path, keep: set[str]) -> None:
    """Delete the files of other checkpoints (``<model|ema|state>-<tag>.<safetensors|json>`` whose stem is
    not in ``keep``) and the temporary files of writes a crash cut short."""
    for path in directory.iterdir():
        ours = path.name.startswith(("model-", "ema-", "state-")) and path.suffix in (".safetensors", ".json")
        if (ours and path.stem not in keep) or path.name.startswith(TEMP_PREFIX):
            path.unlink(missing_ok=True)


__all__ = [
    "MANIFEST",
    "MANIFESTS",
    "PREVIOUS_MANIFEST",
    "CheckpointError",
    "LoadedCheckpoint",
    "check_tensors",
    "load_checkpoint",
    "load_learner_checkpoint",
    "load_model",
    "read_metadata",
    "save_checkpoint",
    "save_learner_checkpoint",
]
