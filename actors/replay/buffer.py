"""`ReplayBuffer`: the replay actor that composes the in-memory stores and the durable log on disk.

Self-play actors `add` finished episodes (`Trajectory`, numpy arrays only); the learner
`sample`s training batches of one task id at a time (a batch has one task's shapes L and A)
and may `update_priorities` of what it sampled. `ReplayBuffer` is a plain class, testable
without Ray; `create_replay_actor` runs it as a Ray actor.

The parts: the per-position format (`actors.replay.trajectory`), memory, eviction and the
sampling rule (`actors.replay.store`), segments on disk and the directory lock
(`actors.replay.segments`). This module keeps the buffer-wide state those do not: the next
global index, the largest priority seen, the counters, and what `add` acknowledges.
`ReplayBuffer` is not thread-safe: as a Ray actor it runs one call at a time.
"""

from __future__ import annotations

import collections
import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from actors.replay.config import ReplayConfig
from actors.replay.segments import REPLAY_SUBDIR, SegmentLog, SegmentRecord
from actors.replay.store import RateWindow, TaskStore, draw_store
from actors.replay.trajectory import Trajectory, concat_rows, rows_from
from common.process import ReportsLocation, actor_location, cpu_percent, resident_bytes

log = logging.getLogger(__name__)

_RATE_WINDOW_S = 60.0


class ReplayNotReadyError(RuntimeError):
    """`sample` was called before the buffer (or the requested task) can give a batch."""


class ReplayBuffer(ReportsLocation):
    """Bounded replay of self-play positions, one store per task id, durable in ``run_dir``.

    Args:
        config: a `ReplayConfig`.
        run_dir: the run directory; segments go to ``<run_dir>/replay/`` (shard k > 0:
            ``replay-k/``, `replay_dirs`) and are reloaded from there. None keeps everything in
            memory (tests, benchmarks).
        seed: seeds the sampler when `sample` gets no seed of its own.
        shard: which of ``config.shards`` buffer actors this is; it holds its share (`ReplayConfig.per_shard`).
    """

    def __init__(
        self,
        config: ReplayConfig | None = None,
        run_dir: str | Path | None = None,
        seed: int | None = None,
        shard: int = 0,
    ):
        config = config or ReplayConfig()
        if not 0 <= shard < config.shards:
            raise ValueError(f"shard: expected 0 to {config.shards - 1} (replay.shards {config.shards}), got {shard}")
        self.config = config.per_shard()
        self.shard = shard
        self._stores: dict[int, TaskStore] = {}
        self._rng = np.random.default_rng(seed if seed is None or shard == 0 else [seed, shard])
        self._max_priority = 1.0
        self._inserted_total = 0  # positions ever inserted = the next global index
        self._counters = {"adds": 0, "trajectories": 0, "samples": 0, "sample_batches": 0, "sampled_age": 0}
        self._rates = RateWindow(_RATE_WINDOW_S)
        self._log: SegmentLog | None = None
        self._closed = False
        if run_dir is not None:
            self._log = SegmentLog(replay_dirs(run_dir, config.shards)[shard], self.config.segment_positions)
            self._reload()

    # ----- inserting -----------------------------------------------------------------------------

    def add(self, trajectories: Sequence[Trajectory]) -> dict[str, Any]:
        """Insert a batch of finished episodes; returns once they are on disk (the acknowledgement).

        The whole batch is checked first: a bad trajectory raises ValueError and nothing is
        stored. Returns ``trajectories``, ``positions`` (accepted), ``first_index`` and
        ``end_index`` (their global indices are ``[first_index, end_index)``), ``segment``
        (the file number written, -1 if none), ``durable`` and ``size`` (after the insert).
        """
        if self._closed:
            raise RuntimeError("replay.add: the buffer was closed")
        groups, num_positions = self._grouped(trajectories)
        first, end = self._inserted_total, self._inserted_total + num_positions
        cutoff = end - self.config.capacity
        kept = {tid: rows_from(rows, cutoff) for tid, rows in groups.items()}
        kept = {tid: rows for tid, rows in kept.items() if len(rows["seq"])}
        self._counters["adds"] += 1
        self._counters["trajectories"] += len(trajectories)
        segment = -1
        if self._log is not None and kept:
            names = {tid: _names_of(trajectories, tid, self._stores.get(tid)) for tid in kept}
            try:
                segment = self._log.append(kept, names, max(first, cutoff), end, self._persisted_counters(end))
            except BaseException:
                self._counters["adds"] -= 1  # nothing was acknowledged
                self._counters["trajectories"] -= len(trajectories)
                raise
        self._insert(kept, trajectories, cutoff, end)
        if self._log is not None:
            self._log.housekeep(cutoff)
        self._record_rates()
        return {
            "trajectories": len(trajectories),
            "positions": num_positions,
            "first_index": first,
            "end_index": end,
            "segment": segment,
            "durable": self._log is not None,
            "size": len(self),
        }

    def _grouped(self, trajectories: Sequence[Trajectory]) -> tuple[dict[int, dict[str, np.ndarray]], int]:
        """Check a batch and group its positions by task id, with global indices assigned in batch order."""
        parts: dict[int, list[dict[str, np.ndarray]]] = collections.defaultdict(list)
        shapes: dict[int, tuple[int, int, str, str]] = {
            tid: (s.obs_length, s.num_actions, s.family, s.kind) for tid, s in self._stores.items()
        }
        next_seq = self._inserted_total
        for i, trajectory in enumerate(trajectories):
            where = f"replay.add: trajectory {i} (task {getattr(trajectory, 'task_id', '?')})"
            if not isinstance(trajectory, Trajectory):
                raise ValueError(f"{where}: expected a Trajectory, got {type(trajectory).__name__}")
            rows = trajectory.checked_rows(where)
            tid = int(trajectory.task_id)
            shape = (rows["tokens"].shape[1], rows["legal"].shape[1], trajectory.family, trajectory.kind)
            expected = shapes.setdefault(tid, shape)
            if shape != expected:
                raise ValueError(
                    f"{where}: task {tid} holds (L, A, family, kind) = {expected}, this trajectory has {shape}"
                )
            t = trajectory.num_positions
            rows["seq"] = np.arange(next_seq, next_seq + t, dtype=np.int64)
            next_seq += t
            if t:
                parts[tid].append(rows)
        groups = {tid: concat_rows(ps) for tid, ps in parts.items()}
        return groups, next_seq - self._inserted_total

    def _insert(
        self, groups: dict[int, dict[str, np.ndarray]], trajectories: Sequence[Trajectory], cutoff: int, end: int
    ) -> None:
        """Evict what falls out of capacity, then append ``groups`` to their stores."""
        for store in self._stores.values():
            store.evict_before(cutoff)
        for tid, rows in groups.items():
            if tid not in self._stores:
                family, kind = _names_of(trajectories, tid, None)
                length, actions = rows["tokens"].shape[1], rows["legal"].shape[1]
                self._stores[tid] = TaskStore(tid, family, kind, length, actions, self.config)
            self._stores[tid].append(rows, self._max_priority)
        self._inserted_total = end

    # ----- sampling ------------------------------------------------------------------------------

    def ready(self, task_id: int | None = None) -> bool:
        """Whether `sample` (of ``task_id``, or of any task) can give a batch now."""
        if len(self) < self.config.min_positions_to_sample:
            return False
        if task_id is None:
            return any(s.weight_sum > 0 for s in self._stores.values())
        return task_id in self._stores and self._stores[task_id].weight_sum > 0

    def sample(self, batch_size: int, task_id: int | None = None, seed: int | None = None) -> dict[str, Any]:
        """A training batch of ``batch_size`` positions of one task id, drawn with replacement.

        Returns ``task_id`` (int) and arrays: ``tokens`` int64 [B, L], ``legal`` bool [B, A],
        ``policy`` float32 [B, A], ``value`` float32 [B], ``weight`` float32 [B] (importance
        weights, see `actors.replay.store`), ``age`` int64 [B] (positions inserted after this one),
        ``index`` int64 [B] (global indices, for `update_priorities`), ``success`` bool [B],
        ``weights_version`` int64 [B]. Raises `ReplayNotReadyError` below
        ``min_positions_to_sample`` or when the task has nothing sampleable.
        """
        if batch_size < 1:
            raise ValueError(f"replay.sample: batch_size must be positive, got {batch_size}")
        if not self.ready(task_id):
            raise ReplayNotReadyError(
                f"replay.sample: {len(self)} positions (need {self.config.min_positions_to_sample})"
                + ("" if task_id is None else f", task {task_id}: {self.sizes().get(task_id, 0)}")
            )
        rng = self._rng if seed is None else np.random.default_rng(seed)
        store = self._stores[task_id] if task_id is not None else draw_store(list(self._stores.values()), rng)
        slots, weight = store.draw(batch_size, rng)
        arrays = store.arrays
        age = self._inserted_total - 1 - arrays["seq"][slots]
        self._counters["samples"] += batch_size
        self._counters["sample_batches"] += 1
        self._counters["sampled_age"] += int(age.sum())
        self._record_rates()
        return {
            "task_id": store.task_id,
            "tokens": arrays["tokens"][slots],
            "legal": arrays["legal"][slots],
            "policy": arrays["policy"][slots],
            "value": arrays["value"][slots],
            "weight": weight,
            "age": age,
            "index": arrays["seq"][slots],
            "success": arrays["success"][slots],
            "weights_version": arrays["weights_version"][slots],
        }

    def update_priorities(self, indices: np.ndarray, priorities: np.ndarray) -> int:
        """Set the priorities of positions by global index (``index`` of `sample`); returns how many were found.

        ``indices`` int [K], ``priorities`` float [K], finite and >= 0 (clipped up to
        ``priority_epsilon``). Indices of evicted positions are ignored. A repeated index takes its last priority.
        """
        indices = np.asarray(indices, dtype=np.int64).reshape(-1)
        priorities = np.asarray(priorities, dtype=np.float64).reshape(-1)
        if indices.shape != priorities.shape:
            raise ValueError(f"replay.update_priorities: {indices.shape[0]} indices, {priorities.shape[0]} priorities")
        if not np.all(np.isfinite(priorities)) or np.any(priorities < 0):
            raise ValueError("replay.update_priorities: priorities must be finite and >= 0")
        priorities = np.maximum(priorities, self.config.priority_epsilon)
        updated = 0
        for store in self._stores.values():
            found = store.set_priorities(indices, priorities)
            if found.any():
                self._max_priority = max(self._max_priority, float(priorities[found].max()))
                updated += int(found.sum())
        return updated

    def close(self) -> None:
        """Release the run directory for another buffer; `add` is refused afterwards (sampling still works)."""
        if self._log is not None:
            self._log.close()
            self._closed = True

    # ----- inspection ----------------------------------------------------------------------------

    def __len__(self) -> int:
        return sum(s.size for s in self._stores.values())

    def sizes(self) -> dict[int, int]:
        """Positions per task id."""
        return {tid: s.size for tid, s in sorted(self._stores.items())}

    def positions(self, task_id: int) -> dict[str, np.ndarray]:
        """Copies of all positions of ``task_id``, oldest first: every `POSITION_FIELDS` array."""
        return self._stores[task_id].ordered()

    def memory_bytes(self) -> int:
        return sum(s.nbytes for s in self._stores.values())

    def stats(self) -> dict[str, Any]:
        """Sizes, counters, recent rates (over the last minute), mean sample age, memory and disk use."""
        insert_rate, sample_rate, recent_age = self._rates.rates(
            self._inserted_total, self._counters["samples"], self._counters["sampled_age"]
        )
        log_stats = (
            self._log.stats() if self._log is not None else {"segments": 0, "disk_bytes": 0, "disk_positions": 0}
        )
        return {
            "shard": self.shard,
            "size": len(self),
            "capacity": self.config.capacity,
            "sizes": self.sizes(),
            "inserted_total": self._inserted_total,
            "adds_total": self._counters["adds"],
            "trajectories_total": self._counters["trajectories"],
            "samples_total": self._counters["samples"],
            "sample_batches_total": self._counters["sample_batches"],
            "inserts_per_s": insert_rate,
            "samples_per_s": sample_rate,
            "sample_age_mean": recent_age,
            "memory_bytes": self.memory_bytes(),
            **log_stats,
            "rss_bytes": resident_bytes(),
            "cpu_percent": cpu_percent(),
            "actor": actor_location(),
            "pid": os.getpid(),
        }

    def _record_rates(self) -> None:
        self._rates.record(self._inserted_total, self._counters["samples"], self._counters["sampled_age"])

    # ----- persistence ---------------------------------------------------------------------------

    def _persisted_counters(self, end: int) -> dict[str, int]:
        return {**self._counters, "inserted": end}

    def _reload(self) -> None:
        """Rebuild memory from the segments on disk: the newest ``capacity`` positions and the counters."""
        assert self._log is not None
        segments = self._log.load()
        if not segments:
            return
        end = max(record.end_seq for record in segments)
        cutoff = end - self.config.capacity
        for record in segments:
            if record.end_seq <= cutoff:
                continue
            loaded = self._log.read(record)
            if loaded is None:
                continue
            meta, groups = loaded
            if record.end_seq == end:
                self._restore_counters(meta.get("counters", {}))
            for tid, rows in groups.items():
                rows = rows_from(rows, max(cutoff, record.first_seq))
                if len(rows["seq"]):
                    self._load_rows(tid, meta["tasks"][str(tid)], rows, record)
        self._inserted_total = end
        self._log.housekeep(cutoff)

    def _restore_counters(self, counters: dict[str, Any]) -> None:
        for name in self._counters:
            self._counters[name] = int(counters.get(name, 0))

    def _load_rows(self, tid: int, info: dict[str, Any], rows: dict[str, np.ndarray], record: SegmentRecord) -> None:
        length, actions = rows["tokens"].shape[1], rows["legal"].shape[1]
        store = self._stores.get(tid)
        if store is None:
            store = TaskStore(tid, info["family"], info["kind"], length, actions, self.config)
            self._stores[tid] = store
        if (store.obs_length, store.num_actions, store.family, store.kind) != (
            length,
            actions,
            info["family"],
            info["kind"],
        ):
            log.warning(
                "replay: segment %s: task %d has (L, A, family, kind) = %s, earlier segments %s; skipping it",
                record.path,
                tid,
                (length, actions, info["family"], info["kind"]),
                (store.obs_length, store.num_actions, store.family, store.kind),
            )
            return
        store.append(rows, self._max_priority)


def _names_of(trajectories: Sequence[Trajectory], tid: int, store: TaskStore | None) -> tuple[str, str]:
    """(family, kind) of task ``tid``: its store's, or the first trajectory's of that task."""
    if store is not None:
        return store.family, store.kind
    first = next(t for t in trajectories if int(t.task_id) == tid)
    return first.family, first.kind


def replay_dirs(run_dir: str | Path, shards: int) -> list[Path]:
    """The directory of each shard: ``replay/`` (the only one of an unsharded run), ``replay-1/``, ..."""
    names = [REPLAY_SUBDIR, *[f"{REPLAY_SUBDIR}-{shard}" for shard in range(1, shards)]]
    return [Path(run_dir) / name for name in names]


# ----- Ray ----------------------------------------------------------------------------------------


def create_replay_actor(
    config: ReplayConfig,
    run_dir: str | Path,
    *,
    name: str | None = None,
    max_restarts: int = -1,
    node_id: str | None = None,
    seed: int | None = None,
    shard: int = 0,
) -> Any:
    """Start a `ReplayBuffer` (shard ``shard``) as a Ray actor; returns its handle (requires ``ray.init`` first).

    A restarted actor re-runs the constructor with the same ``run_dir`` and so reloads every
    acknowledged position. Calls are not retried (``max_task_retries=0``): an `add` whose
    acknowledgement was lost may or may not be stored, and retrying it may store it twice.
    The actor is pinned to ``node_id`` (default: this process's node), the node whose disk
    holds ``run_dir``, unless ``run_dir`` is on storage every node shares and ``node_id=""``.
    """
    import ray
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    if node_id is None:
        node_id = ray.get_runtime_context().get_node_id()
    options: dict[str, Any] = {"num_cpus": config.num_cpus, "max_restarts": max_restarts, "max_task_retries": 0}
    if name is not None:
        options["name"] = name
    if node_id:
        options["scheduling_strategy"] = NodeAffinitySchedulingStrategy(node_id=node_id, soft=False)
    return ray.remote(ReplayBuffer).options(**options).remote(config, str(run_dir), seed, shard)


def create_replay_shards(config: ReplayConfig, run_dir: str | Path, **options: Any) -> list[Any]:
    """Start the ``config.shards`` buffer actors of a run (`create_replay_actor` ``options``); returns their handles."""
    return [create_replay_actor(config, run_dir, shard=shard, **options) for shard in range(config.shards)]
