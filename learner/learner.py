"""The learner: trains HRM or TRM on batches sampled from the replay buffer and offers candidates.

    learner = create_learner(model_config, learner_config, task_shapes, buffer, seed)  # a Ray actor
    stats = ray.get(learner.train.remote(max_seconds=5.0))
    if stats["candidate_ready"]:
        weights = learner.get_weights.remote()  # one object-store entry per candidate

`Learner` is a plain class (testable without Ray); `create_learner` runs it as a
Ray actor that declares ``num_cpus``/``num_gpus``. The buffer it is given is a Ray
actor handle or, in tests, a plain `ReplayBuffer`; `_BatchSource` is the one
place that tells them apart.

One *learner step* trains one batch with deep supervision
(`learner.losses.deep_supervision_step`): up to N_sup segments, each followed by
an optimizer step, so a step makes several optimizer steps. Steps are what the
learning-rate schedule, ``candidate_every`` and the checkpoint counters count.

Pacing, without busy polling:
- prefetch: ``prefetch`` sample calls stay in flight on the buffer actor, so a
  batch is usually ready when the previous one is trained;
- the replay ratio: trained samples never exceed ``max_samples_per_insert`` x the
  positions ever inserted into the buffer. When the next batch would cross it, or
  the buffer cannot give batches yet, `train` returns ``waiting_for_data=True``
  and the driver calls it again after self-play has added more.

Checkpoints (`save_checkpoint` / `load_checkpoint`) hold no pickles: tensors go to
safetensors files, everything else to JSON, and the manifest ``learner.json`` is
written last, naming the files of its checkpoint, so a crash mid-save leaves the
previous checkpoint whole. A loaded checkpoint resumes training exactly: same
weights, optimizer moments, counters, random states and the same sample seeds.
"""

from __future__ import annotations

import collections
import contextlib
import dataclasses
import json
import logging
import math
import time
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import load as load_safetensors
from safetensors.torch import save as save_safetensors

from common.devices import resolve_device
from common.handles import Handle
from common.process import resident_bytes
from common.storage import atomic_write_bytes, atomic_write_json
from learner.checkpoint import load_checkpoint as load_model_checkpoint
from learner.checkpoint import save_checkpoint as save_model_checkpoint
from learner.config import LearnerConfig
from learner.losses import LossWeights, TrainingBatch, deep_supervision_step
from learner.models import ModelConfig, TaskShape, build_model, make_ema

log = logging.getLogger(__name__)

CHECKPOINT_FORMAT = "selfplay-learner-checkpoint"
CHECKPOINT_VERSION = 1
MANIFEST = "learner.json"
_SAMPLE_SEED_TAG = 0x5A3  # separates the buffer's sample seeds from other uses of the run seed


def learning_rate(config: LearnerConfig, step: int) -> float:
    """The learning rate for learner step ``step`` (0-based): linear warm-up, then constant or cosine."""
    if step < config.warmup_steps:
        return config.lr * (step + 1) / config.warmup_steps
    if config.schedule == "constant":
        return config.lr
    progress = min(1.0, (step - config.warmup_steps) / (config.total_steps - config.warmup_steps))
    floor = config.final_lr_fraction
    return config.lr * (floor + (1.0 - floor) * 0.5 * (1.0 + math.cos(math.pi * progress)))


def autocast_dtype(device: torch.device, amp: bool) -> torch.dtype | None:
    """The autocast dtype for training on ``device``; None: full precision.

    Only bf16: fp16 needs its loss scaled before backward (a GradScaler), and
    `deep_supervision_step` runs the backward itself, so GPUs without bf16 train in fp32.
    """
    if not amp or device.type != "cuda":
        return None
    if torch.cuda.is_bf16_supported(including_emulation=False):
        return torch.bfloat16
    log.warning("learner.amp: this GPU has no bf16; training in fp32 (fp16 would need loss scaling)")
    return None


# ----- the buffer, behind one small adapter -------------------------------------------------------


def _is_not_ready(error: BaseException) -> bool:
    """Whether ``error`` is the buffer's ReplayNotReadyError (learner/ may not import actors/, so by name).

    Through Ray the raised error is a RayTaskError that also subclasses the original class.
    """
    return any(cls.__name__ == "ReplayNotReadyError" for cls in type(error).__mro__)


def sample_seed(seed: int, index: int) -> int:
    """The seed of the ``index``-th sample call: batches depend only on (seed, index, buffer contents)."""
    return int(np.random.SeedSequence([seed, _SAMPLE_SEED_TAG, index]).generate_state(1, np.uint64)[0])


class _BatchSource:
    """Sample calls on the replay buffer, ``depth`` of them kept in flight, results taken oldest first.

    ``buffer`` is a Ray actor handle or a plain object with the same methods (`common.handles.Handle`).
    """

    def __init__(self, buffer: Any, batch_size: int, depth: int, seed: int) -> None:
        self.buffer = Handle(buffer)
        self.batch_size = batch_size
        self.depth = depth
        self.seed = seed
        self.taken = 0  # batches handed out (and trained): the next resumed sample index
        self._requested = 0
        self._pending: collections.deque = collections.deque()

    def call(self, method: str, *args: Any) -> Any:
        """A synchronous call of a buffer method (``ready``, ``stats``)."""
        return self.buffer.call(method, *args)

    @property
    def in_flight(self) -> int:
        return len(self._pending)

    def take(self) -> tuple[dict[str, Any], float]:
        """The oldest requested batch and the seconds spent blocked on it; the next request goes out first."""
        if not self._pending:
            self._request()
        oldest = self._pending.popleft()
        while len(self._pending) < self.depth:
            self._request()
        started = time.perf_counter()
        try:
            batch = self.buffer.result(oldest)
        except Exception:
            self.reset()
            raise
        self.taken += 1
        return batch, time.perf_counter() - started

    def reset(self, taken: int | None = None) -> None:
        """Forget the calls in flight; the next request reuses the seed of batch ``taken`` (default: the next)."""
        pending, self._pending = list(self._pending), collections.deque()
        # Collect the results so a failed call is not reported later as an unhandled error.
        for call in pending:
            with contextlib.suppress(Exception):  # the batch is discarded either way
                self.buffer.result(call)
        if taken is not None:
            self.taken = taken
        self._requested = self.taken

    def _request(self) -> None:
        seed = sample_seed(self.seed, self._requested)
        self._requested += 1
        self._pending.append(self.buffer.submit("sample", self.batch_size, None, seed))


def inserted_total_of(batch: dict[str, Any]) -> int:
    """Positions inserted into the buffer when ``batch`` was drawn: a sample's ``age`` counts the
    positions inserted after it, and its ``index`` those before it."""
    return int(batch["age"][0]) + int(batch["index"][0]) + 1


# ----- the optimizer step deep supervision calls --------------------------------------------------


class _ClippedOptimizer:
    """The optimizer as `deep_supervision_step` sees it: each `step` clips the global gradient norm,
    records the norm before clipping, and steps the wrapped optimizer."""

    def __init__(self, optimizer: torch.optim.Optimizer, max_norm: float | None) -> None:
        self.optimizer = optimizer
        self.max_norm = max_norm
        self.params = [p for group in optimizer.param_groups for p in group["params"]]
        self.norms: list[float] = []

    def zero_grad(self, set_to_none: bool = True) -> None:
        self.optimizer.zero_grad(set_to_none=set_to_none)

    def step(self) -> None:
        grads = [p.grad for p in self.params if p.grad is not None]
        norm = torch.nn.utils.get_total_norm(grads)
        if self.max_norm is not None:
            torch.nn.utils.clip_grads_with_norm_(self.params, self.max_norm, norm)
        self.norms.append(float(norm))
        self.optimizer.step()


# ----- the learner --------------------------------------------------------------------------------


def _limit_reached(steps: int, started: float, max_steps: int | None, max_seconds: float | None) -> bool:
    """Whether a `train` call that began at ``started`` and made ``steps`` steps should stop now."""
    if max_steps is not None and steps >= max_steps:
        return True
    if max_seconds is None:
        return False
    # After the first step only: every call with time to spend makes progress.
    return max_seconds <= 0 or (steps > 0 and time.perf_counter() - started >= max_seconds)


class Learner:
    """Trains a policy-value network on replay batches; a Ray actor via `create_learner`.

    Args:
        model: the network's `ModelConfig` (HRM or TRM, a preset and overrides).
        learner: this learner's `LearnerConfig`.
        task_shapes: the run's tasks in task-id order (anything `TaskShape.of` accepts).
        buffer: the replay buffer: a Ray actor handle or a plain object with ``sample``, ``ready``, ``stats``.
        seed: seeds the initial weights, halting exploration and the sample calls.
    """

    def __init__(
        self, model: ModelConfig, learner: LearnerConfig, task_shapes: Sequence[Any], buffer: Any, seed: int = 0
    ) -> None:
        self.config = learner
        self.model_config = model
        self.seed = int(seed)
        if learner.threads is not None:
            torch.set_num_threads(learner.threads)
        self.device = resolve_device(learner.device, "learner")
        self.amp_dtype = autocast_dtype(self.device, learner.amp)
        self.task_shapes = [TaskShape.of(shape) for shape in task_shapes]
        with torch.random.fork_rng(devices=[]):  # the same weights for the same seed, whatever ran before
            torch.manual_seed(self.seed)
            self.model = build_model(model, self.task_shapes).to(self.device)
        self.ema = make_ema(self.model)
        self.optimizer = torch.optim.AdamW(
            self.model.parameters(), lr=learner.lr, betas=learner.betas, weight_decay=learner.weight_decay
        )
        self.clipped = _ClippedOptimizer(self.optimizer, learner.grad_clip_norm)
        self.loss_weights = LossWeights(
            value=learner.value_loss_weight,
            halting=learner.halting_loss_weight,
            value_tolerance=learner.value_tolerance,
        )
        # Halting exploration draws on the CPU from its own generator, saved with the checkpoint.
        self.exploration = torch.Generator().manual_seed(self.seed)
        self.source = _BatchSource(buffer, learner.batch_size, learner.prefetch, self.seed)
        self.step = 0
        self.optimizer_steps = 0
        self.samples_trained = 0
        self.candidates_offered = 0
        self.inserted_total = 0  # the buffer's insert count as last seen

    # ----- training ---------------------------------------------------------------------------

    def train(self, max_steps: int | None = None, max_seconds: float | None = None) -> dict[str, Any]:
        """Train until a candidate is due, ``max_steps`` or ``max_seconds`` pass, or data runs short.

        A call with ``max_seconds`` > 0 trains at least one batch when there is data, however
        short the limit. Returns this call's statistics: counters after the call, mean losses
        and gradient norm over its steps, throughput, seconds blocked on the buffer,
        ``candidate_ready`` (this call ended on a step that is a multiple of ``candidate_every``)
        and ``waiting_for_data`` (with ``waiting_reason``: "not_ready" or "ratio").
        """
        started = time.perf_counter()
        totals: dict[str, float] = collections.defaultdict(float)
        self.clipped.norms.clear()
        steps = samples = 0
        wait_seconds = 0.0
        candidate_ready = False
        waiting_reason = self._data_shortage(refresh=True)
        while waiting_reason is None and not _limit_reached(steps, started, max_steps, max_seconds):
            try:
                batch, waited = self.source.take()
            except Exception as error:
                if not _is_not_ready(error):
                    raise
                waiting_reason = "not_ready"
                break
            wait_seconds += waited
            self.inserted_total = max(self.inserted_total, inserted_total_of(batch))
            metrics = self._train_batch(batch)
            for name, value in metrics.items():
                totals[name] += value
            steps += 1
            samples += len(batch["value"])
            if self.step % self.config.candidate_every == 0:
                candidate_ready = True
                self.candidates_offered += 1
                break
            waiting_reason = self._data_shortage(refresh=False)
        seconds = time.perf_counter() - started
        return self._stats(steps, samples, totals, seconds, wait_seconds, candidate_ready, waiting_reason)

    def _data_shortage(self, refresh: bool) -> str | None:
        """Why the next batch may not be trained now ("not_ready", "ratio"), or None.

        ``refresh`` asks the buffer (once per `train` call); otherwise the insert count
        the last batch carried is used, which is never ahead of the buffer's.
        """
        if refresh:
            if self.source.in_flight == 0 and not self.source.call("ready"):
                return "not_ready"
            self.inserted_total = max(self.inserted_total, int(self.source.call("stats")["inserted_total"]))
        ratio = self.config.max_samples_per_insert
        if ratio is not None and self.samples_trained + self.config.batch_size > ratio * self.inserted_total:
            return "ratio"
        return None

    def _train_batch(self, sample: dict[str, Any]) -> dict[str, float]:
        """One learner step: deep supervision on one sampled batch; returns its metrics."""
        batch = self._to_training_batch(sample)
        lr = learning_rate(self.config, self.step)
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        norms_before = len(self.clipped.norms)
        with torch.autocast(self.device.type, dtype=self.amp_dtype, enabled=self.amp_dtype is not None):
            metrics = deep_supervision_step(
                self.model,
                batch,
                self.clipped,
                max_segments=self.config.supervision_segments,
                loss_weights=self.loss_weights,
                ema=self.ema,
                grad_clip_norm=None,  # clipped (and measured) by self.clipped
                step_per_segment=self.config.step_per_segment,
                generator=self.exploration,
            )
        self.step += 1
        self.optimizer_steps += len(self.clipped.norms) - norms_before
        self.samples_trained += batch.tokens.shape[0]
        return {**metrics, "lr": lr}

    def _to_training_batch(self, sample: dict[str, Any]) -> TrainingBatch:
        """A buffer sample (numpy: tokens [B, L], legal [B, A], policy [B, A], value [B], weight [B]) on the device.

        Arrays from Ray's object store are read-only views and torch wants writable memory, so
        those are copied here (on CUDA into pinned memory, so the copy to the GPU is asynchronous).
        """

        def tensor(array: np.ndarray) -> torch.Tensor:
            if self.device.type == "cuda":
                return torch.from_numpy(np.array(array)).pin_memory().to(self.device, non_blocking=True)
            return torch.from_numpy(array if array.flags.writeable else array.copy())

        size = len(sample["value"])
        return TrainingBatch(
            tokens=tensor(sample["tokens"]),
            task_ids=torch.full((size,), int(sample["task_id"]), dtype=torch.int64, device=self.device),
            legal_mask=tensor(sample["legal"]),
            policy_target=tensor(sample["policy"]),
            value_target=tensor(sample["value"]),
            weights=tensor(sample["weight"]),
        )

    def _stats(
        self,
        steps: int,
        samples: int,
        totals: dict[str, float],
        seconds: float,
        wait_seconds: float,
        candidate_ready: bool,
        waiting_reason: str | None,
    ) -> dict[str, Any]:
        def mean(name: str) -> float:
            return totals[name] / steps

        losses = {}
        if steps:
            losses = {
                "policy": mean("policy_loss"),
                "value": mean("value_loss"),
                "halting": mean("halting_loss"),
                "total": mean("loss"),
            }
        norms = self.clipped.norms
        return {
            "step": self.step,
            "optimizer_steps": self.optimizer_steps,
            "samples_trained": self.samples_trained,
            "candidates_offered": self.candidates_offered,
            "steps_this_call": steps,
            "samples_this_call": samples,
            "losses": losses,
            "accuracy": mean("accuracy") if steps else None,
            "mean_segments": mean("mean_steps") if steps else None,
            "grad_norm": float(np.mean(norms)) if norms else None,
            "grad_norm_max": float(np.max(norms)) if norms else None,
            "lr": learning_rate(self.config, max(self.step - 1, 0)),
            "seconds": seconds,
            "samples_per_s": samples / seconds if seconds > 0 else 0.0,
            "sample_wait_s": wait_seconds,
            "inserted_total": self.inserted_total,
            "samples_per_insert": self.samples_trained / self.inserted_total if self.inserted_total else None,
            "candidate_ready": candidate_ready,
            "waiting_for_data": waiting_reason is not None,
            "waiting_reason": waiting_reason,
            "rss_bytes": resident_bytes(),
        }

    # ----- weights ----------------------------------------------------------------------------

    def get_weights(self, ema: bool = True) -> dict[str, np.ndarray]:
        """The network's state dict as CPU numpy arrays (the EMA weights when the model keeps an EMA and ``ema``)."""
        module = self.ema.model if ema and self.ema is not None else self.model
        state = module.state_dict()
        return {name: tensor.detach().to("cpu", copy=True).contiguous().numpy() for name, tensor in state.items()}

    def set_weights(self, weights: dict[str, np.ndarray]) -> None:
        """Load ``weights`` (from `get_weights`) into the network, and restart its EMA from them."""
        tensors = {name: torch.from_numpy(np.array(value)) for name, value in weights.items()}
        check_tensors("set_weights", tensors, self.model.state_dict())
        self.model.load_state_dict(tensors)
        if self.ema is not None:
            self.ema.model.load_state_dict(tensors)

    # ----- checkpoints ------------------------------------------------------------------------

    def save_checkpoint(self, directory: str | Path) -> dict[str, Any]:
        """Write the whole training state into ``directory`` (atomically, no pickles); returns a summary.

        Files: ``model-<tag>.safetensors``, ``ema-<tag>.safetensors`` (when the model keeps an
        EMA; both `learner.checkpoint` model checkpoints, each with its ``.json`` description),
        ``state-<tag>.safetensors`` (optimizer moments and random-generator states), and
        the manifest ``learner.json`` (counters, optimizer hyperparameters, the file names),
        written last. Files of earlier checkpoints are deleted after the manifest is in place.
        """
        directory = Path(directory)
        tag = f"{self.step:09d}-{uuid.uuid4().hex[:8]}"
        optimizer_tensors, optimizer_json = flatten_optimizer_state(self.optimizer.state_dict())
        state_tensors = {**optimizer_tensors, **self._rng_tensors()}
        files = {"model": f"model-{tag}.safetensors", "state": f"state-{tag}.safetensors"}
        if self.ema is not None:
            files["ema"] = f"ema-{tag}.safetensors"
        # Model files are ordinary model checkpoints (learner.checkpoint), loadable without a learner.
        save_model_checkpoint(directory / files["model"], self.model, extra={"step": self.step, "weights": "training"})
        if self.ema is not None:
            save_model_checkpoint(directory / files["ema"], self.ema.model, extra={"step": self.step, "weights": "ema"})
        atomic_write_bytes(directory / files["state"], _safetensors_bytes(state_tensors))
        manifest = {
            "format": CHECKPOINT_FORMAT,
            "version": CHECKPOINT_VERSION,
            "files": files,
            "counters": self._counters(),
            "optimizer": optimizer_json,
            "model_config": dataclasses.asdict(self.model_config),
            "task_shapes": [dataclasses.asdict(shape) for shape in self.task_shapes],
            "seed": self.seed,
            "saved_at": time.time(),
        }
        atomic_write_json(directory / MANIFEST, manifest)
        _delete_other_checkpoint_files(directory, keep={Path(name).stem for name in files.values()})
        return {**self._counters(), "directory": str(directory), "files": sorted(files.values())}

    def load_checkpoint(self, directory: str | Path) -> dict[str, Any]:
        """Restore the state `save_checkpoint` wrote into ``directory``; returns the same summary.

        Raises FileNotFoundError without a manifest, and ValueError (`CheckpointError` for the
        model files) naming the file and the tensor when a checkpoint does not fit this
        learner's network; that is found before anything is loaded. (Only a damaged file met
        after the model file could leave the learner half loaded.)
        """
        directory = Path(directory)
        manifest_path = directory / MANIFEST
        manifest = json.loads(manifest_path.read_text())
        if manifest.get("format") != CHECKPOINT_FORMAT or manifest.get("version") != CHECKPOINT_VERSION:
            raise ValueError(f"{manifest_path}: not a version {CHECKPOINT_VERSION} learner checkpoint")
        files = manifest["files"]
        if self.ema is not None and "ema" not in files:
            raise ValueError(f"{manifest_path}: the model keeps an EMA but the checkpoint has none")
        load_model_checkpoint(directory / files["model"], self.model)  # checks every name and shape first
        if self.ema is not None:
            load_model_checkpoint(directory / files["ema"], self.ema.model)
        state_path = directory / files["state"]
        state_tensors = _read_safetensors(state_path)
        optimizer_state = unflatten_optimizer_state(state_tensors, manifest["optimizer"])
        check_optimizer_state(str(state_path), optimizer_state, self.optimizer)
        self.optimizer.load_state_dict(optimizer_state)
        self._set_rng(state_tensors)
        counters = manifest["counters"]
        self.step = counters["step"]
        self.optimizer_steps = counters["optimizer_steps"]
        self.samples_trained = counters["samples_trained"]
        self.candidates_offered = counters["candidates_offered"]
        self.inserted_total = 0
        # The sample seeds continue the checkpoint's sequence, whatever seed this learner was built with.
        self.seed = self.source.seed = int(manifest["seed"])
        self.source.reset(taken=counters["batches_taken"])
        return {**self._counters(), "directory": str(directory), "files": sorted(files.values())}

    def _counters(self) -> dict[str, int]:
        return {
            "step": self.step,
            "optimizer_steps": self.optimizer_steps,
            "samples_trained": self.samples_trained,
            "candidates_offered": self.candidates_offered,
            "batches_taken": self.source.taken,
        }

    def _rng_tensors(self) -> dict[str, torch.Tensor]:
        tensors = {"rng.exploration": self.exploration.get_state(), "rng.torch": torch.get_rng_state()}
        if self.device.type == "cuda":
            tensors["rng.cuda"] = torch.cuda.get_rng_state(self.device)
        return tensors

    def _set_rng(self, tensors: dict[str, torch.Tensor]) -> None:
        self.exploration.set_state(tensors["rng.exploration"])
        torch.set_rng_state(tensors["rng.torch"])
        if self.device.type == "cuda" and "rng.cuda" in tensors:
            torch.cuda.set_rng_state(tensors["rng.cuda"], self.device)


# ----- checkpoint helpers -------------------------------------------------------------------------


def _safetensors_bytes(tensors: dict[str, torch.Tensor]) -> bytes:
    # Own CPU copies: safetensors refuses tensors that share memory (and needs them contiguous).
    return save_safetensors({name: t.detach().to("cpu", copy=True).contiguous() for name, t in tensors.items()})


def _read_safetensors(path: Path) -> dict[str, torch.Tensor]:
    try:
        return load_safetensors(path.read_bytes())
    except FileNotFoundError:
        raise
    except Exception as error:  # safetensors raises its own error types for a damaged file
        raise ValueError(f"{path}: not a readable safetensors file ({error})") from error


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


def _delete_other_checkpoint_files(directory: Path, keep: set[str]) -> None:
    """Delete the files of earlier checkpoints: ``<model|ema|state>-<tag>.<safetensors|json>`` not in ``keep``."""
    for prefix in ("model-", "ema-", "state-"):
        for path in directory.glob(f"{prefix}*"):
            if path.suffix in (".safetensors", ".json") and path.stem not in keep:
                path.unlink(missing_ok=True)


# ----- Ray ----------------------------------------------------------------------------------------


def learner_actor_options(config: LearnerConfig, name: str | None = None, max_restarts: int = 0) -> dict[str, Any]:
    """The Ray options of the learner actor: the CPUs and GPUs it really uses, so placement sees real demand.

    No restarts by default: a restarted learner would start from fresh weights; resuming
    is the driver's job (`load_checkpoint`).
    """
    options: dict[str, Any] = {
        "num_cpus": config.num_cpus,
        "num_gpus": config.num_gpus,
        "max_restarts": max_restarts,
        "max_task_retries": 0,
    }
    if name is not None:
        options["name"] = name
    return options


def create_learner(
    model: ModelConfig,
    learner: LearnerConfig,
    task_shapes: Sequence[Any],
    buffer: Any,
    seed: int = 0,
    *,
    name: str | None = None,
    max_restarts: int = 0,
) -> Any:
    """Start a `Learner` as a Ray actor sampling from the buffer actor ``buffer``; returns its handle."""
    import ray

    shapes = [TaskShape.of(shape) for shape in task_shapes]
    options = learner_actor_options(learner, name=name, max_restarts=max_restarts)
    return ray.remote(Learner).options(**options).remote(model, learner, shapes, buffer, seed)


__all__: list[str] = [
    "Learner",
    "autocast_dtype",
    "check_tensors",
    "create_learner",
    "learner_actor_options",
    "learning_rate",
    "sample_seed",
]
