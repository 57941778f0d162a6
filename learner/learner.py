"""The learner: trains HRM or TRM on batches sampled from the replay buffer and offers candidates.

    learner = create_learner(model_config, learner_config, task_shapes, buffer, seed)  # a Ray actor
    stats = ray.get(learner.train.remote(max_seconds=5.0))
    if stats["candidate_ready"]:
        weights = learner.get_weights.remote()  # one object-store entry per candidate

`Learner` is a plain class (testable without Ray); `create_learner` runs it as a
Ray actor that declares ``num_cpus``/``num_gpus``. The buffer it is given is a Ray
actor handle or, in tests, a plain `ReplayBuffer`; `learner.replay_client` holds
everything the learner asks of it (sampling with prefetch, priority updates).

One *learner step* trains one batch with deep supervision
(`learner.losses.deep_supervision_step`): up to N_sup segments, each followed by
an optimizer step, so a step makes several optimizer steps (its docstring says where it
departs from the HRM/TRM code: halted rows are not refilled, and the loss is divided by
the whole batch rather than by the rows still live). Steps are what the
learning-rate schedule, ``candidate_every`` and the checkpoint counters count.

Pacing, without busy polling:
- prefetch: ``prefetch`` sample calls stay in flight on the buffer actor, so a
  batch is usually ready when the previous one is trained;
- the replay ratio: trained samples never exceed ``max_samples_per_insert`` x the
  positions ever inserted into the buffer. When the next batch would cross it, or
  the buffer cannot give batches yet, `train` returns ``waiting_for_data=True``
  and the driver calls it again after self-play has added more.

Supervised pre-training (`train_supervised`): the same learner steps on batches drawn from
demonstration rows the caller gives (``actors.tasks.demos.demonstration_rows``) instead of the
buffer; they count in ``step`` and ``supervised_steps``, not in ``samples_trained``.

Prioritized replay (``send_priorities=True``, for ``replay.sampling: prioritized``):
after each trained batch the learner sends ``update_priorities(index, priority)`` to
the buffer, priority = first-segment ``|value target - value|`` + epsilon (the rule and
why: `learner.replay_client`), with at most two such calls in flight. The buffer's
importance weights (max 1) already scale each sample's loss.

Checkpoints (`save_checkpoint` / `load_checkpoint`) hold no pickles: tensors go to
safetensors files, everything else to JSON, and each checkpoint's manifest is written
last, naming its files, so a crash mid-save leaves the previous checkpoint whole. The
newest two are kept; when the newest does not load, the previous one is (`learner.checkpoint`).
A loaded checkpoint resumes training exactly: same weights, optimizer moments, counters,
random states and the same sample seeds.
"""

from __future__ import annotations

import collections
import dataclasses
import logging
import math
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from common.devices import resolve_device
from common.process import ReportsLocation, actor_location, cpu_percent, resident_bytes
from learner.checkpoint import CheckpointError, check_tensors, load_learner_checkpoint, save_learner_checkpoint
from learner.config import LearnerConfig
from learner.losses import LossWeights, TrainingBatch, deep_supervision_step
from learner.models import ModelConfig, TaskShape, build_model, make_ema
from learner.replay_client import BatchSource, is_not_ready, priority_sender, replay_priorities

log = logging.getLogger(__name__)

_SUPERVISED_SEED_TAG = 0x5DE  # separates the supervised batches' draws from other uses of the learner's seed
# The rows `train_supervised` takes, as the replay buffer's samples have them, with their training dtypes.
_SUPERVISED_FIELDS = {
    "tokens": np.int64,
    "legal": np.bool_,
    "policy": np.float32,
    "value": np.float32,
    "weight": np.float32,
}


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


class Learner(ReportsLocation):
    """Trains a policy-value network on replay batches; a Ray actor via `create_learner`.

    Args:
        model: the network's `ModelConfig` (HRM or TRM, a preset and overrides).
        learner: this learner's `LearnerConfig`.
        task_shapes: the run's tasks in task-id order (anything `TaskShape.of` accepts).
        buffer: the replay buffer: a Ray actor handle or a plain object with ``sample``, ``ready``, ``stats``
            (and ``update_priorities`` when ``send_priorities``).
        seed: seeds the initial weights, halting exploration and the sample calls.
        send_priorities: send each trained batch's priorities to the buffer (prioritized sampling).
    """

    def __init__(
        self,
        model: ModelConfig,
        learner: LearnerConfig,
        task_shapes: Sequence[Any],
        buffer: Any,
        seed: int = 0,
        *,
        send_priorities: bool = False,
        checkpoint_dir: str | None = None,
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
        self.source = BatchSource(buffer, learner.batch_size, learner.prefetch, self.seed)
        # One sender per shard: a batch's indices are those of the shard it came from.
        self.priorities = [priority_sender(b) for b in self.source.buffers] if send_priorities else None
        self.step = 0
        self.optimizer_steps = 0
        self.samples_trained = 0
        self.candidates_offered = 0
        self.supervised_steps = 0  # learner steps of `train_supervised` (also counted in `step`)
        # A learner that Ray restarts runs this constructor again: it continues from the run's
        # last checkpoint instead of from fresh weights (see `restored`).
        self.restored: dict[str, Any] | None = None
        # When no checkpoint loads, the learner refuses to work rather than train fresh weights into the
        # run; the error is raised by its calls, not by this constructor, so the driver gets it as one
        # CheckpointError (a failed constructor would only print a remote traceback).
        self.restore_error: CheckpointError | None = None
        if checkpoint_dir is not None:
            try:
                self.restored = self.load_checkpoint(checkpoint_dir)
            except FileNotFoundError:  # a new run has none yet
                pass
            except CheckpointError as error:
                self.restore_error = error

    @property
    def inserted_total(self) -> int:
        """Positions inserted into the buffer (all its shards) as last seen; the replay ratio's denominator."""
        return self.source.inserted_total

    def get_restored(self) -> dict[str, Any] | None:
        """The summary of the checkpoint this learner continued from when it started (None: it started fresh);
        raises the `CheckpointError` when none of the checkpoints it was given loaded."""
        self._check_restored()
        return self.restored

    def _check_restored(self) -> None:
        if self.restore_error is not None:
            raise self.restore_error

    # ----- training ---------------------------------------------------------------------------

    def train(self, max_steps: int | None = None, max_seconds: float | None = None) -> dict[str, Any]:
        """Train until a candidate is due, ``max_steps`` or ``max_seconds`` pass, or data runs short.

        A call with ``max_seconds`` > 0 trains at least one batch when there is data, however
        short the limit. Returns this call's statistics: counters after the call, mean losses
        and gradient norm over its steps, throughput, seconds blocked on the buffer,
        ``candidate_ready`` (this call ended on a step that is a multiple of ``candidate_every``)
        and ``waiting_for_data`` (with ``waiting_reason``: "not_ready" or "ratio").
        """
        self._check_restored()
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
                if not is_not_ready(error):
                    raise
                waiting_reason = "not_ready"
                break
            wait_seconds += waited
            metrics = self._train_batch(batch)
            value_error = metrics.pop("value_error")
            if self.priorities is not None:
                sender = self.priorities[self.source.last_shard]
                sender.submit(np.asarray(batch["index"]), replay_priorities(value_error))
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
            if self.source.in_flight == 0 and not self.source.ready():
                return "not_ready"
            self.source.refresh_inserted()
        ratio = self.config.max_samples_per_insert
        if ratio is not None and self.samples_trained + self.config.batch_size > ratio * self.inserted_total:
            return "ratio"
        return None

    def _train_batch(self, sample: dict[str, Any], count_samples: bool = True) -> dict[str, Any]:
        """One learner step: deep supervision on one sampled batch; returns its metrics (and ``value_error``).

        ``count_samples``: count the batch in ``samples_trained`` (the replay ratio's positions; not demonstrations).
        """
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
        if count_samples:
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

    # ----- supervised training ------------------------------------------------------------------

    def train_supervised(
        self, rows: dict[int, dict[str, np.ndarray]], max_steps: int, batch_size: int | None = None
    ) -> dict[str, Any]:
        """Train the network (its optimizer, EMA and schedule, as `train` does) on demonstration rows.

        ``rows``: per task id, arrays in the replay buffer's sample layout: ``tokens`` int64 [N, L],
        ``legal`` bool [N, A], ``policy`` float32 [N, A], ``value`` float32 [N], ``weight`` float32
        [N] (``actors.tasks.demos.demonstration_rows`` makes them; read-only arrays are fine). Each
        of the ``max_steps`` learner steps trains one batch of ``batch_size`` rows (default: the
        config's; fewer when a task has fewer rows) of one task id, drawn in proportion to the
        tasks' rows; the draws are seeded from the learner's seed and its step, so a resumed
        learner draws new batches. The steps count in ``step`` (the schedule and checkpoints see
        them) and in ``supervised_steps``, not in ``samples_trained`` (the replay ratio counts
        self-play positions). Returns `train`'s statistics for this call, with ``steps`` (this
        call's) and ``supervised_steps`` (in all). ValueError when ``rows`` do not fit the network.
        """
        self._check_restored()
        size = self.config.batch_size if batch_size is None else batch_size
        for name, value, low in (("max_steps", max_steps, 0), ("batch_size", size, 1)):
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
                raise ValueError(f"train_supervised: {name}: expected an integer >= {low}, got {value!r}")
        tables = self._supervised_tables(rows)
        task_ids = sorted(tables)
        counts = np.array([len(tables[task_id]["value"]) for task_id in task_ids], dtype=np.float64)
        rng = np.random.default_rng([self.seed, _SUPERVISED_SEED_TAG, self.step])
        started = time.perf_counter()
        totals: dict[str, float] = collections.defaultdict(float)
        self.clipped.norms.clear()
        samples = 0
        for _ in range(max_steps):
            task_id = task_ids[int(rng.choice(len(task_ids), p=counts / counts.sum()))]
            table = tables[task_id]
            picked = rng.choice(len(table["value"]), size=min(size, len(table["value"])), replace=False)
            batch = {name: array[picked] for name, array in table.items()}
            metrics = self._train_batch({**batch, "task_id": task_id}, count_samples=False)
            metrics.pop("value_error")
            for name, value in metrics.items():
                totals[name] += value
            samples += len(picked)
        self.supervised_steps += max_steps
        seconds = time.perf_counter() - started
        stats = self._stats(max_steps, samples, totals, seconds, 0.0, False, None)
        return {**stats, "steps": max_steps, "supervised_steps": self.supervised_steps}

    def _supervised_tables(self, rows: dict[int, dict[str, np.ndarray]]) -> dict[int, dict[str, np.ndarray]]:
        """``rows`` checked against the network's task shapes, each array in its training dtype."""
        if not isinstance(rows, dict) or not rows:
            raise ValueError("train_supervised: rows: expected a dict of task id -> arrays, got none")
        tables = {}
        for task_id, table in rows.items():
            where = f"train_supervised: rows[{task_id!r}]"
            if isinstance(task_id, bool) or not isinstance(task_id, (int, np.integer)):
                raise ValueError(f"{where}: expected an integer task id")
            if not 0 <= task_id < len(self.task_shapes):
                raise ValueError(f"{where}: no such task id (the network has {len(self.task_shapes)} tasks)")
            if not isinstance(table, dict):
                raise ValueError(f"{where}: expected a dict of arrays, got {type(table).__name__}")
            missing = [name for name in _SUPERVISED_FIELDS if name not in table]
            if missing:
                raise ValueError(f"{where}: missing {', '.join(missing)} (expected {', '.join(_SUPERVISED_FIELDS)})")
            shape = self.task_shapes[task_id]
            n = len(table["value"])
            expected = {
                "tokens": (n, shape.obs_length),
                "legal": (n, shape.num_actions),
                "policy": (n, shape.num_actions),
                "value": (n,),
                "weight": (n,),
            }
            arrays = {name: np.asarray(table[name], dtype=dtype) for name, dtype in _SUPERVISED_FIELDS.items()}
            for name, array in arrays.items():
                if array.shape != expected[name]:
                    raise ValueError(
                        f"{where}['{name}']: expected shape {list(expected[name])}, got {list(array.shape)}"
                    )
            if n:
                tables[int(task_id)] = arrays
        if not tables:
            raise ValueError("train_supervised: rows: every task has 0 rows")
        return tables

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
            "priority_updates_lost": 0 if self.priorities is None else sum(sender.lost for sender in self.priorities),
            "rss_bytes": resident_bytes(),
            "cpu_percent": cpu_percent(),
            "actor": actor_location(),
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

        The files and their format: `learner.checkpoint` (`save_learner_checkpoint`).
        """
        self._check_restored()  # never write fresh weights over a run's checkpoints
        description = {
            "model_config": dataclasses.asdict(self.model_config),
            "task_shapes": [dataclasses.asdict(shape) for shape in self.task_shapes],
            "seed": self.seed,
        }
        files = save_learner_checkpoint(
            directory,
            self.model,
            self.ema,
            self.optimizer,
            self.exploration,
            counters=self._counters(),
            description=description,
        )
        return {**self._counters(), "directory": str(directory), "files": files}

    def load_checkpoint(self, directory: str | Path) -> dict[str, Any]:
        """Restore the newest checkpoint in ``directory`` that loads; returns `save_checkpoint`'s summary and which:

        ``loaded`` (the checkpoint's tag), ``manifest`` (``learner.json``, or ``learner.previous.json``
        after a fallback), ``fell_back`` (the newest did not load; the warning is logged),
        ``lost_steps`` (learner steps of the newest that the loaded one lacks) and ``problems``
        (one line per checkpoint that did not load, newest first; `learner.checkpoint.LoadedCheckpoint`).

        Raises FileNotFoundError when ``directory`` holds no checkpoint, and `CheckpointError` (a
        ValueError, one line naming the directory and each problem) when none loads: damaged or
        missing files, or checkpoints of another network. Then nothing was changed.
        """
        loaded = load_learner_checkpoint(directory, self.model, self.ema, self.optimizer, self.exploration)
        manifest = loaded.manifest
        counters = manifest["counters"]
        self.step = counters["step"]
        self.optimizer_steps = counters["optimizer_steps"]
        self.samples_trained = counters["samples_trained"]
        self.candidates_offered = counters["candidates_offered"]
        self.supervised_steps = int(counters.get("supervised_steps", 0))  # checkpoints before it have none
        # The sample seeds continue the checkpoint's sequence, whatever seed this learner was built with.
        self.seed = self.source.seed = int(manifest["seed"])
        self.source.reset(taken=counters["batches_taken"])
        files = sorted(manifest["files"].values())
        return {**self._counters(), "directory": str(directory), "files": files, **loaded.summary()}

    def _counters(self) -> dict[str, int]:
        return {
            "step": self.step,
            "optimizer_steps": self.optimizer_steps,
            "samples_trained": self.samples_trained,
            "candidates_offered": self.candidates_offered,
            "batches_taken": self.source.taken,
            "supervised_steps": self.supervised_steps,
        }


# ----- Ray ----------------------------------------------------------------------------------------


def learner_actor_options(
    config: LearnerConfig, name: str | None = None, max_restarts: int = 0, node_id: str | None = None
) -> dict[str, Any]:
    """The Ray options of the learner actor: the CPUs and GPUs it really uses, so placement sees real demand.

    No restarts by default: a restarted learner starts from fresh weights unless it has a
    ``checkpoint_dir`` to continue from. ``node_id``: pin it to that node (not soft: the node
    whose disk holds the run directory).
    """
    options: dict[str, Any] = {
        "num_cpus": config.num_cpus,
        "num_gpus": config.num_gpus,
        "max_restarts": max_restarts,
        "max_task_retries": 0,
    }
    if name is not None:
        options["name"] = name
    if node_id:
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

        options["scheduling_strategy"] = NodeAffinitySchedulingStrategy(node_id=node_id, soft=False)
    return options


def create_learner(
    model: ModelConfig,
    learner: LearnerConfig,
    task_shapes: Sequence[Any],
    buffer: Any,
    seed: int = 0,
    *,
    send_priorities: bool = False,
    checkpoint_dir: str | None = None,
    name: str | None = None,
    max_restarts: int = 0,
    node_id: str | None = None,
) -> Any:
    """Start a `Learner` as a Ray actor sampling from the buffer actor ``buffer``; returns its handle.

    ``send_priorities``: send priorities back to the buffer (pass ``replay.sampling == "prioritized"``).
    ``checkpoint_dir``: the learner (also when Ray restarts it) continues from the checkpoint there.
    """
    import ray

    shapes = [TaskShape.of(shape) for shape in task_shapes]
    options = learner_actor_options(learner, name=name, max_restarts=max_restarts, node_id=node_id)
    actor = ray.remote(Learner).options(**options)
    return actor.remote(
        model, learner, shapes, buffer, seed, send_priorities=send_priorities, checkpoint_dir=checkpoint_dir
    )


__all__: list[str] = [
    "Learner",
    "autocast_dtype",
    "create_learner",
    "learner_actor_options",
    "learning_rate",
]
