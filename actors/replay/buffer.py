"""The replay buffer: bounded, durable storage of self-play positions, sampled by the learner.

Self-play actors `add` finished episodes (`Trajectory`, numpy arrays only); the learner
`sample`s training batches of one task id at a time (a batch has one task's shapes L and A)
and may `update_priorities` of what it sampled. `ReplayBuffer` is a plain class, testable
without Ray; `create_replay_actor` runs it as a Ray actor.

Memory. One `_TaskStore` per task id holds that task's positions, oldest first, in ring
arrays that grow by doubling up to ``capacity`` rows (and halve when three quarters empty),
so no Python object exists per position and memory stays flat once the buffer is full.
Every position gets a global index (``seq``, 0, 1, 2, ... in insert order); capacity
is enforced over the whole buffer, oldest first: after an insert only positions with
``seq >= inserted_total - capacity`` remain, whichever task they belong to. Eviction is
per position, so the oldest episode of a task may be kept in part.

Sampling rule (decided here, documented in `ReplayConfig`):
- the task id, when not given, is drawn in proportion to its share of the buffer's
  positions, each position counted with its outcome weight (``success_weight`` for a
  position of a successful episode, ``failure_weight`` otherwise; equal weights = plain
  share of positions);
- within the task, a position is drawn (with replacement) with probability proportional
  to ``outcome_weight * priority ** alpha`` ("prioritized") or to ``outcome_weight``
  ("uniform"). So the outcome weights shift *which* positions are seen; they are not
  undone by any loss weight;
- the returned per-sample loss ``weight`` is the importance weight that undoes only the
  priority skew: ``(min_priority ** alpha / priority ** alpha) ** beta`` over the task's
  sampleable positions (the standard ``(1 / (N * P(i))) ** beta`` normalised by its
  maximum, with ``P`` relative to the outcome-weighted distribution), in (0, 1]; it is
  1.0 for every sample under "uniform".
- Priorities live in memory only: new positions, and every position after a restart,
  get the largest priority seen so far (1.0 at start).

Disk (``<run_dir>/replay/``). Every `add` writes its accepted positions to one new
segment file before it returns, so an acknowledged position survives a crash of any
process. A segment is ``NNNNNNNNN.npz`` (a monotonic file number), written with
``allow_pickle=False`` to a temporary file in the same directory, flushed and fsynced,
renamed into place, then the directory is fsynced. It holds:

- ``meta``: a 0-d numpy unicode array with JSON: ``format``, ``version``, ``number``,
  ``first_seq`` and ``end_seq`` (the segment holds exactly the positions with global
  index in ``[first_seq, end_seq)``), ``tasks`` (``{"<task_id>": {"family", "kind",
  "count"}}``), ``counters`` (the buffer's counters when it was written) and
  ``written_at`` (Unix time);
- per task id ``t`` in it: ``t<t>.tokens`` int64 [n, L], ``t<t>.legal`` bool [n, A],
  ``t<t>.policy`` float32 [n, A], ``t<t>.value`` float32 [n], ``t<t>.seq`` int64 [n],
  ``t<t>.success`` bool [n], ``t<t>.weights_version`` int64 [n], ``t<t>.difficulty``
  float32 [n], ``t<t>.outcome`` float32 [n] (per-episode values repeated per position).

Small per-add segments are compacted: a run of consecutive small segments holding up to
``segment_positions`` positions is rewritten as one segment (without its evicted
positions) and the originals deleted; segments whose positions are all evicted are
deleted. The disk therefore holds the live positions plus at most the evicted part of
its oldest segment. A restarted buffer (same ``run_dir``) reads the segments in index
order, keeps the newest ``capacity`` positions and the newest segment's counters; a
segment that cannot be read is skipped with a warning naming it and renamed to
``<name>.corrupt``; leftover temporary files (a crash mid-write) are deleted with a
warning; segments duplicated by an interrupted compaction are recognised by their index
ranges and deleted.

One buffer at a time owns a replay directory: it holds an exclusive lock on
``<run_dir>/replay/.lock`` (released by `close` or by the kernel when its process dies),
and a second buffer on the same directory fails instead of overwriting segments.
`ReplayBuffer` is not thread-safe: as a Ray actor it runs one call at a time.
"""

from __future__ import annotations

import collections
import contextlib
import fcntl
import json
import logging
import os
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from actors.replay.config import ReplayConfig
from common.process import resident_bytes
from common.storage import TEMP_PREFIX, atomic_write, fsync_dir

log = logging.getLogger(__name__)

SEGMENT_FORMAT = "selfplay-replay-segment"
SEGMENT_VERSION = 1
REPLAY_SUBDIR = "replay"
LOCK_FILE = ".lock"
LOCK_WAIT_S = 10.0  # how long a new buffer waits for the directory's lock before giving up

# Per-position fields kept in memory and on disk: name -> (dtype, trailing shape by "L"/"A").
POSITION_FIELDS: dict[str, tuple[np.dtype, tuple[str, ...]]] = {
    "tokens": (np.dtype(np.int64), ("L",)),
    "legal": (np.dtype(np.bool_), ("A",)),
    "policy": (np.dtype(np.float32), ("A",)),
    "value": (np.dtype(np.float32), ()),
    "seq": (np.dtype(np.int64), ()),
    "success": (np.dtype(np.bool_), ()),
    "weights_version": (np.dtype(np.int64), ()),
    "difficulty": (np.dtype(np.float32), ()),
    "outcome": (np.dtype(np.float32), ()),
}
_SEGMENT_NAME = re.compile(r"^(\d{9,})\.npz$")
_CORRUPT_NAME = re.compile(r"^(\d{9,})\.npz\.corrupt$")
_TEMP_PREFIX = TEMP_PREFIX  # leftovers of interrupted writes, removed on load
_MIN_ROWS = 1024  # smallest ring allocation per task: small tasks do not reallocate on every add
_RATE_WINDOW_S = 60.0


class ReplayNotReadyError(RuntimeError):
    """`sample` was called before the buffer (or the requested task) can give a batch."""


# ----- data crossing actor boundaries ----------------------------------------------------


@dataclass
class Trajectory:
    """One finished episode, as a self-play actor sends it.

    Attributes:
        tokens: int64 [T, L], the encoded observation of each position.
        legal: bool (or int8 0/1) [T, A], legal-action masks.
        policy: float32 [T, A], search policy targets.
        value: float32 [T], value targets.
        task_id: the task's index in the run's task mix; fixes L and A.
        family, kind: the task kind's names (fixed per task id).
        difficulty: the instance's difficulty in [0, 1].
        outcome: the episode's outcome as the self-play worker defines it.
        success: puzzles: solved; games: what the worker sets (e.g. outcome > 0 for the first player).
        weights_version: the network version that played the episode.
    """

    tokens: np.ndarray
    legal: np.ndarray
    policy: np.ndarray
    value: np.ndarray
    task_id: int
    family: str
    kind: str
    difficulty: float = 0.0
    outcome: float = 0.0
    success: bool = False
    weights_version: int = 0

    @property
    def num_positions(self) -> int:
        return int(np.shape(self.tokens)[0])

    def checked_rows(self, where: str) -> dict[str, np.ndarray]:
        """This episode's positions as `POSITION_FIELDS` arrays (without ``seq``); ValueError naming ``where``."""
        tokens, legal, policy, value = (np.asarray(a) for a in (self.tokens, self.legal, self.policy, self.value))
        if tokens.ndim != 2 or legal.ndim != 2 or policy.ndim != 2 or value.ndim != 1:
            raise ValueError(
                f"{where}: expected tokens [T, L], legal [T, A], policy [T, A], value [T]; got shapes "
                f"{tokens.shape}, {legal.shape}, {policy.shape}, {value.shape}"
            )
        t = tokens.shape[0]
        if legal.shape[0] != t or policy.shape != legal.shape or value.shape[0] != t:
            raise ValueError(
                f"{where}: inconsistent shapes tokens {tokens.shape}, legal {legal.shape}, "
                f"policy {policy.shape}, value {value.shape}"
            )
        if not np.issubdtype(tokens.dtype, np.integer):
            raise ValueError(f"{where}: tokens must be integers, got {tokens.dtype}")
        if not isinstance(self.task_id, (int, np.integer)) or self.task_id < 0:
            raise ValueError(f"{where}: task_id must be a non-negative integer, got {self.task_id!r}")
        if not isinstance(self.family, str) or not isinstance(self.kind, str):
            raise ValueError(f"{where}: family and kind must be strings")
        return {
            "tokens": tokens.astype(np.int64, copy=False),
            "legal": legal.astype(np.bool_, copy=False),
            "policy": policy.astype(np.float32, copy=False),
            "value": value.astype(np.float32, copy=False),
            "success": np.full(t, bool(self.success)),
            "weights_version": np.full(t, int(self.weights_version), dtype=np.int64),
            "difficulty": np.full(t, self.difficulty, dtype=np.float32),
            "outcome": np.full(t, self.outcome, dtype=np.float32),
        }


# ----- one task's positions in memory ----------------------------------------------------------


class _TaskStore:
    """The positions of one task id, oldest first, in ring arrays (physical slot = (head + k) % alloc).

    Besides `POSITION_FIELDS` it keeps, per slot, ``outcome_weight`` (success/failure weight)
    and ``prio_alpha`` (priority ** alpha); both are 0 in empty slots, so sampling can run
    over the whole physical array without ever drawing an empty slot.
    """

    def __init__(self, task_id: int, family: str, kind: str, obs_length: int, num_actions: int, config: ReplayConfig):
        self.task_id, self.family, self.kind = task_id, family, kind
        self.obs_length, self.num_actions = obs_length, num_actions
        self.max_rows = config.capacity  # one task may come to hold the whole buffer
        self.success_weight, self.failure_weight = config.success_weight, config.failure_weight
        self.head = 0
        self.size = 0
        self.successes = 0  # live positions from successful episodes: the task's weight is exact, no float drift
        self.arrays = self._allocate(min(self.max_rows, _MIN_ROWS))

    @property
    def weight_sum(self) -> float:
        """The sum of the live positions' outcome weights: this task's share when a task is drawn."""
        return self.successes * self.success_weight + (self.size - self.successes) * self.failure_weight

    @property
    def alloc(self) -> int:
        return len(self.arrays["seq"])

    @property
    def nbytes(self) -> int:
        return sum(a.nbytes for a in self.arrays.values())

    def _allocate(self, rows: int) -> dict[str, np.ndarray]:
        dims = {"L": self.obs_length, "A": self.num_actions}
        # np.full writes every page now (np.zeros would leave them to be touched as the ring wraps):
        # the store is resident from its allocation, so the buffer's memory does not creep up once full.
        return {
            name: np.full((rows, *(dims[d] for d in shape)), -1 if name == "seq" else 0, dtype)
            for name, (dtype, shape) in _FIELDS.items()
        }

    def physical(self, logical: np.ndarray) -> np.ndarray:
        """Logical positions [K] (0 = oldest) -> physical slots [K]."""
        return (self.head + logical) % self.alloc

    def _resize(self, rows: int) -> None:
        """Reallocate to ``rows`` slots, oldest at slot 0."""
        order = self.physical(np.arange(self.size))
        fresh = self._allocate(rows)
        for name, array in self.arrays.items():
            fresh[name][: self.size] = array[order]
        self.arrays, self.head = fresh, 0

    def append(self, rows: dict[str, np.ndarray]) -> None:
        """Append ``rows`` (every `_FIELDS` array, n rows in seq order, n <= room left by eviction)."""
        n = len(rows["seq"])
        if self.size + n > self.alloc:
            self._resize(min(self.max_rows, max(self.size + n, 2 * self.alloc)))
        slots = self.physical(np.arange(self.size, self.size + n))
        for name, array in self.arrays.items():
            array[slots] = rows[name]
        self.size += n
        self.successes += int(rows["success"].sum())

    def evict_before(self, cutoff_seq: int) -> int:
        """Drop every position with ``seq < cutoff_seq`` (they are the oldest); returns how many."""
        count = int(self._logical_of_seq(np.array([cutoff_seq]))[0])
        if count == 0:
            return 0
        slots = self.physical(np.arange(count))
        self.successes -= int(self.arrays["success"][slots].sum())
        for name in ("outcome_weight", "prio_alpha"):
            self.arrays[name][slots] = 0.0
        self.arrays["seq"][slots] = -1
        self.head = (self.head + count) % self.alloc
        self.size -= count
        if self.alloc > _MIN_ROWS and self.size < self.alloc // 4:
            self._resize(max(_MIN_ROWS, 2 * self.size))
        return count

    def _pieces(self) -> tuple[np.ndarray, int, np.ndarray]:
        """The live ``seq`` values as two ascending physical runs: (run at head, its start slot, run at 0)."""
        end = min(self.head + self.size, self.alloc)
        seq = self.arrays["seq"]
        return seq[self.head : end], self.head, seq[: self.head + self.size - end]

    def _logical_of_seq(self, seqs: np.ndarray) -> np.ndarray:
        """For each of ``seqs`` [K], how many live positions have a smaller seq (searchsorted, left)."""
        first, _, second = self._pieces()
        return np.searchsorted(first, seqs) + np.searchsorted(second, seqs)

    def locate(self, seqs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Global indices [K] -> (found bool [K], physical slots int64 [K], meaningful where found)."""
        logical = self._logical_of_seq(seqs)
        slots = self.physical(np.minimum(logical, max(self.size - 1, 0)))
        found = (logical < self.size) & (self.arrays["seq"][slots] == seqs)
        return found, slots

    def ordered(self) -> dict[str, np.ndarray]:
        """Copies of every position's `POSITION_FIELDS`, oldest first."""
        order = self.physical(np.arange(self.size))
        return {name: self.arrays[name][order] for name in POSITION_FIELDS}


# Fields of `_TaskStore` beyond the persisted ones: float64 so that sums over 1e5 rows stay exact enough.
_FIELDS = {
    **POSITION_FIELDS,
    "outcome_weight": (np.dtype(np.float64), ()),
    "prio_alpha": (np.dtype(np.float64), ()),
}


# ----- the buffer --------------------------------------------------------------------------------


class ReplayBuffer:
    """Bounded replay of self-play positions, one store per task id, durable in ``run_dir``.

    Args:
        config: a `ReplayConfig`.
        run_dir: the run directory; segments go to ``<run_dir>/replay/`` and are reloaded
            from there. None keeps everything in memory (tests, benchmarks).
        seed: seeds the sampler when `sample` gets no seed of its own.
    """

    def __init__(self, config: ReplayConfig | None = None, run_dir: str | Path | None = None, seed: int | None = None):
        self.config = config or ReplayConfig()
        self._stores: dict[int, _TaskStore] = {}
        self._rng = np.random.default_rng(seed)
        self._max_priority = 1.0
        self._inserted_total = 0  # positions ever inserted = the next global index
        self._counters = {"adds": 0, "trajectories": 0, "samples": 0, "sample_batches": 0, "sampled_age": 0}
        self._rates = _RateWindow(_RATE_WINDOW_S)
        self._log: _SegmentLog | None = None
        self._closed = False
        if run_dir is not None:
            self._log = _SegmentLog(Path(run_dir) / REPLAY_SUBDIR, self.config.segment_positions)
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
        kept = {tid: _rows_from(rows, cutoff) for tid, rows in groups.items()}
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
        self._rates.record(self._inserted_total, self._counters["samples"], self._counters["sampled_age"])
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
        groups = {
            tid: {name: np.concatenate([p[name] for p in ps]) for name in POSITION_FIELDS} for tid, ps in parts.items()
        }
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
                self._stores[tid] = _TaskStore(tid, family, kind, length, actions, self.config)
            self._stores[tid].append(self._with_sampling_fields(rows))
        self._inserted_total = end

    def _with_sampling_fields(self, rows: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        weights = np.where(rows["success"], self.config.success_weight, self.config.failure_weight)
        prio_alpha = np.full(len(weights), self._max_priority**self.config.priority_alpha)
        return {**rows, "outcome_weight": weights.astype(np.float64), "prio_alpha": prio_alpha}

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
        weights, see the module doc), ``age`` int64 [B] (positions inserted after this one),
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
        store = self._stores[task_id] if task_id is not None else self._draw_store(rng)
        slots, weight = self._draw_slots(store, batch_size, rng)
        arrays = store.arrays
        age = self._inserted_total - 1 - arrays["seq"][slots]
        self._counters["samples"] += batch_size
        self._counters["sample_batches"] += 1
        self._counters["sampled_age"] += int(age.sum())
        self._rates.record(self._inserted_total, self._counters["samples"], self._counters["sampled_age"])
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

    def _draw_store(self, rng: np.random.Generator) -> _TaskStore:
        """A task's store, drawn in proportion to its outcome-weighted number of positions."""
        stores = list(self._stores.values())
        mass = np.array([s.weight_sum for s in stores])
        return stores[int(rng.choice(len(stores), p=mass / mass.sum()))]

    def _draw_slots(
        self, store: _TaskStore, batch_size: int, rng: np.random.Generator
    ) -> tuple[np.ndarray, np.ndarray]:
        """Physical slots [B] drawn by the sampling rule, and their importance weights float32 [B]."""
        cfg = self.config
        prioritized = cfg.sampling == "prioritized"
        if not prioritized and cfg.success_weight == cfg.failure_weight:
            slots = store.physical(rng.integers(0, store.size, size=batch_size))
            return slots, np.ones(batch_size, dtype=np.float32)
        weights, prio_alpha = store.arrays["outcome_weight"], store.arrays["prio_alpha"]
        mass = weights * prio_alpha if prioritized else weights
        # O(alloc) per call, about 1 ms at 2e5 positions (measured); priorities change between
        # any two samples, so caching cannot help. A sum tree would make it O(B log N) if needed.
        cdf = np.cumsum(mass)
        total = cdf[-1]
        draws = np.minimum(rng.random(batch_size) * total, np.nextafter(total, 0.0))
        slots = np.searchsorted(cdf, draws, side="right")  # never lands on a zero-mass (empty) slot
        if not prioritized:
            return slots, np.ones(batch_size, dtype=np.float32)
        min_prio_alpha = prio_alpha[weights > 0].min()
        weight = (min_prio_alpha / prio_alpha[slots]) ** cfg.priority_beta
        return slots, weight.astype(np.float32)

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
            found, slots = store.locate(indices)
            if found.any():
                # Fancy assignment keeps the last of repeated slots, as documented.
                store.arrays["prio_alpha"][slots[found]] = priorities[found] ** self.config.priority_alpha
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
            "pid": os.getpid(),
        }

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
                rows = _rows_from(rows, max(cutoff, record.first_seq))
                if len(rows["seq"]):
                    self._load_rows(tid, meta["tasks"][str(tid)], rows, record)
        self._inserted_total = end
        self._log.housekeep(cutoff)

    def _restore_counters(self, counters: dict[str, Any]) -> None:
        for name in self._counters:
            self._counters[name] = int(counters.get(name, 0))

    def _load_rows(self, tid: int, info: dict[str, Any], rows: dict[str, np.ndarray], record: _SegmentRecord) -> None:
        length, actions = rows["tokens"].shape[1], rows["legal"].shape[1]
        store = self._stores.get(tid)
        if store is None:
            store = _TaskStore(tid, info["family"], info["kind"], length, actions, self.config)
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
        store.append(self._with_sampling_fields(rows))


def _rows_from(rows: dict[str, np.ndarray], first_seq: int) -> dict[str, np.ndarray]:
    """The rows with ``seq >= first_seq`` (they are a suffix: rows are in seq order)."""
    start = int(np.searchsorted(rows["seq"], first_seq))
    return rows if start == 0 else {name: array[start:] for name, array in rows.items()}


def _names_of(trajectories: Sequence[Trajectory], tid: int, store: _TaskStore | None) -> tuple[str, str]:
    """(family, kind) of task ``tid``: its store's, or the first trajectory's of that task."""
    if store is not None:
        return store.family, store.kind
    first = next(t for t in trajectories if int(t.task_id) == tid)
    return first.family, first.kind


# ----- recent rates ------------------------------------------------------------------------------


class _RateWindow:
    """Counter snapshots over the last ``window_s`` seconds, at most 64 of them (bounded memory)."""

    def __init__(self, window_s: float):
        self.window_s = window_s
        self.snapshots: collections.deque[tuple[float, int, int, int]] = collections.deque(maxlen=64)

    def record(self, inserted: int, sampled: int, age_sum: int) -> None:
        now = time.monotonic()
        if not self.snapshots or now - self.snapshots[-1][0] >= self.window_s / 32:
            self.snapshots.append((now, inserted, sampled, age_sum))
        while len(self.snapshots) > 1 and now - self.snapshots[1][0] >= self.window_s:
            self.snapshots.popleft()

    def rates(self, inserted: int, sampled: int, age_sum: int) -> tuple[float, float, float]:
        """(inserts per s, samples per s, mean age of the samples) since the oldest snapshot in the window."""
        if not self.snapshots:
            return 0.0, 0.0, 0.0
        t0, inserted0, sampled0, age0 = self.snapshots[0]
        elapsed = time.monotonic() - t0
        samples = sampled - sampled0
        mean_age = (age_sum - age0) / samples if samples else 0.0
        if elapsed <= 0:
            return 0.0, 0.0, mean_age
        return (inserted - inserted0) / elapsed, samples / elapsed, mean_age


# ----- segments on disk --------------------------------------------------------------------------


@dataclass
class _SegmentRecord:
    """One segment file: its positions have global indices ``[first_seq, end_seq)``."""

    number: int
    path: Path
    first_seq: int
    end_seq: int
    nbytes: int
    sealed: bool  # not to be merged again: a compaction's output, or big enough on its own

    @property
    def positions(self) -> int:
        return self.end_seq - self.first_seq


class CorruptSegmentError(ValueError):
    """A segment file that cannot be read or does not hold what its metadata says."""


class _SegmentLog:
    """The segment files of one replay directory, in global-index order."""

    def __init__(self, directory: Path, segment_positions: int):
        self.directory = directory
        self.segment_positions = segment_positions
        self.records: list[_SegmentRecord] = []
        self.next_number = 0
        fresh = not directory.exists()
        directory.mkdir(parents=True, exist_ok=True)
        if fresh:
            fsync_dir(directory.parent)  # the new directory entry itself must survive a crash
        self._lock = _lock_directory(directory)

    def close(self) -> None:
        """Release the directory (the segments stay); the log must not be written afterwards."""
        self._lock.close()

    # ----- writing -----

    def append(
        self,
        groups: dict[int, dict[str, np.ndarray]],
        names: dict[int, tuple[str, str]],
        first_seq: int,
        end_seq: int,
        counters: dict[str, int],
    ) -> int:
        """Write one new segment (durably) and return its file number."""
        number = self.next_number
        record = self._write(number, groups, names, first_seq, end_seq, counters)
        record.sealed = record.positions >= self.segment_positions
        self.records.append(record)
        self.next_number += 1
        return number

    def _write(
        self,
        number: int,
        groups: dict[int, dict[str, np.ndarray]],
        names: dict[int, tuple[str, str]],
        first_seq: int,
        end_seq: int,
        counters: dict[str, int],
    ) -> _SegmentRecord:
        meta = {
            "format": SEGMENT_FORMAT,
            "version": SEGMENT_VERSION,
            "number": number,
            "first_seq": first_seq,
            "end_seq": end_seq,
            "tasks": {
                str(tid): {"family": names[tid][0], "kind": names[tid][1], "count": len(rows["seq"])}
                for tid, rows in groups.items()
            },
            "counters": counters,
            "written_at": time.time(),
        }
        arrays = {"meta": np.array(json.dumps(meta))}
        for tid, rows in groups.items():
            arrays.update({f"t{tid}.{name}": rows[name] for name in POSITION_FIELDS})
        path = self.directory / f"{number:09d}.npz"
        nbytes = _write_npz_atomically(path, arrays)
        return _SegmentRecord(number, path, first_seq, end_seq, nbytes, sealed=False)

    # ----- housekeeping -----

    def housekeep(self, cutoff: int) -> None:
        """Delete segments whose positions are all evicted, then compact runs of small segments.

        Failures here only cost disk space, never acknowledged data, so they are logged, not raised.
        """
        try:
            self._drop_before(cutoff)
            for group in self._closed_groups():
                if len(group) == 1:
                    group[0].sealed = True
                else:
                    self._merge(group, cutoff)
        except (OSError, CorruptSegmentError) as error:
            log.warning(
                "replay: segment housekeeping in %s failed (%s); will retry after the next add", self.directory, error
            )

    def _drop_before(self, cutoff: int) -> None:
        dead = [r for r in self.records if r.end_seq <= cutoff]
        for record in dead:
            _unlink(record.path)
        if dead:
            self.records = [r for r in self.records if r.end_seq > cutoff]
            fsync_dir(self.directory)

    def _closed_groups(self) -> list[list[_SegmentRecord]]:
        """Runs of consecutive unsealed segments that are full (or cut short by a sealed one).

        A run holds at most ``segment_positions`` positions, except a single segment bigger
        than that. The newest run stays open until it is full: more adds may fill it.
        """
        closed: list[list[_SegmentRecord]] = []
        run: list[_SegmentRecord] = []
        total = 0
        for record in self.records:
            if record.sealed or (run and total + record.positions > self.segment_positions):
                if run:
                    closed.append(run)
                run, total = [], 0
            if not record.sealed:
                run.append(record)
                total += record.positions
        if run and total >= self.segment_positions:
            closed.append(run)
        return closed

    def _merge(self, group: list[_SegmentRecord], cutoff: int) -> None:
        """Rewrite ``group`` as one sealed segment without its evicted positions, then delete the originals."""
        loaded = [self.read(record) for record in group]
        if any(item is None for item in loaded):
            for record in group:
                record.sealed = True  # leave them as they are; do not retry every add
            self.records = [r for r in self.records if r.path.exists()]
            return
        groups: dict[int, list[dict[str, np.ndarray]]] = collections.defaultdict(list)
        names: dict[int, tuple[str, str]] = {}
        for meta, per_task in loaded:  # type: ignore[misc]
            for tid, rows in per_task.items():
                groups[tid].append(_rows_from(rows, cutoff))
                info = meta["tasks"][str(tid)]
                names[tid] = (info["family"], info["kind"])
        merged = {tid: {n: np.concatenate([r[n] for r in rs]) for n in POSITION_FIELDS} for tid, rs in groups.items()}
        merged = {tid: rows for tid, rows in merged.items() if len(rows["seq"])}
        first, end = max(group[0].first_seq, cutoff), group[-1].end_seq
        index = self.records.index(group[0])
        replacement: list[_SegmentRecord] = []
        if merged:
            counters = loaded[-1][0].get("counters", {})  # type: ignore[index]
            record = self._write(self.next_number, merged, names, first, end, counters)
            record.sealed = True
            self.next_number += 1
            replacement = [record]
        # The merged file is durable before the originals go: a crash in between leaves
        # duplicates, which `load` recognises by their index ranges.
        for old in group:
            _unlink(old.path)
        fsync_dir(self.directory)
        self.records[index : index + len(group)] = replacement

    # ----- reading -----

    def load(self) -> list[_SegmentRecord]:
        """Scan the directory: check every segment, drop debris, and keep the records in index order."""
        candidates = self._scan()
        candidates.sort(key=lambda r: (r.first_seq, -r.end_seq))
        kept: list[_SegmentRecord] = []
        covered_to = -1
        for record in candidates:
            if record.end_seq <= covered_to:
                # Its positions are all in an earlier-listed segment: a compaction was cut short.
                log.warning("replay: %s duplicates positions of a compacted segment; deleting it", record.path)
                _unlink(record.path)
                continue
            if record.first_seq < covered_to:
                record.first_seq = covered_to  # overlap by a prefix: read only the rest
            kept.append(record)
            covered_to = record.end_seq
        self.records = kept
        return list(kept)

    def _scan(self) -> list[_SegmentRecord]:
        records = []
        for entry in sorted(os.scandir(self.directory), key=lambda e: e.name):
            if entry.name.startswith(_TEMP_PREFIX):
                log.warning("replay: deleting leftover temporary file %s (a write cut short by a crash)", entry.path)
                _unlink(Path(entry.path))
                continue
            match = _SEGMENT_NAME.match(entry.name) or _CORRUPT_NAME.match(entry.name)
            if match is None:
                continue
            number = int(match.group(1))
            self.next_number = max(self.next_number, number + 1)
            if entry.name.endswith(".corrupt"):
                continue
            record = self._check(Path(entry.path), number)
            if record is not None:
                records.append(record)
        return records

    def _check(self, path: Path, number: int) -> _SegmentRecord | None:
        """The record of a fully readable segment, or None (after quarantining it with a warning)."""
        try:
            meta, _ = _read_segment(path)
        except CorruptSegmentError as error:
            self._quarantine(path, error)
            return None
        sealed = meta["end_seq"] - meta["first_seq"] >= self.segment_positions
        return _SegmentRecord(number, path, meta["first_seq"], meta["end_seq"], path.stat().st_size, sealed)

    def read(self, record: _SegmentRecord) -> tuple[dict[str, Any], dict[int, dict[str, np.ndarray]]] | None:
        """(meta, rows per task id) of a segment, rows restricted to ``record.first_seq`` on; None if unreadable."""
        try:
            meta, groups = _read_segment(record.path)
        except CorruptSegmentError as error:
            self._quarantine(record.path, error)
            return None
        return meta, {tid: _rows_from(rows, record.first_seq) for tid, rows in groups.items()}

    def _quarantine(self, path: Path, error: Exception) -> None:
        target = path.with_name(path.name + ".corrupt")
        log.warning("replay: skipping unreadable segment %s (%s); renamed to %s", path, error, target.name)
        with contextlib.suppress(OSError):
            os.rename(path, target)
        self.records = [r for r in self.records if r.path != path]

    def stats(self) -> dict[str, int]:
        return {
            "segments": len(self.records),
            "disk_bytes": sum(r.nbytes for r in self.records),
            "disk_positions": sum(r.positions for r in self.records),
        }


def _read_segment(path: Path) -> tuple[dict[str, Any], dict[int, dict[str, np.ndarray]]]:
    """Read and check one segment; raises `CorruptSegmentError` on anything unexpected."""
    try:
        with np.load(path, allow_pickle=False) as archive:
            meta = json.loads(str(archive["meta"][()]))
            _check_meta(meta)
            groups = {
                int(tid): {name: archive[f"t{int(tid)}.{name}"] for name in POSITION_FIELDS} for tid in meta["tasks"]
            }
    except CorruptSegmentError:
        raise
    except Exception as error:  # a damaged file can fail in any way (zip, npy header, JSON, keys); all mean "skip"
        raise CorruptSegmentError(f"{type(error).__name__}: {error}") from None
    seqs = []
    for tid, rows in groups.items():
        _check_rows(rows, meta["tasks"][str(tid)]["count"], tid)
        seqs.append(rows["seq"])
    all_seqs = np.sort(np.concatenate(seqs)) if seqs else np.zeros(0, np.int64)
    if not np.array_equal(all_seqs, np.arange(meta["first_seq"], meta["end_seq"])):
        raise CorruptSegmentError(f"positions do not match the index range [{meta['first_seq']}, {meta['end_seq']})")
    return meta, groups


def _check_meta(meta: Any) -> None:
    if not isinstance(meta, dict) or meta.get("format") != SEGMENT_FORMAT or meta.get("version") != SEGMENT_VERSION:
        raise CorruptSegmentError("not a replay segment of a known format version")
    first, end, tasks = meta.get("first_seq"), meta.get("end_seq"), meta.get("tasks")
    if not (isinstance(first, int) and isinstance(end, int) and 0 <= first < end and isinstance(tasks, dict)):
        raise CorruptSegmentError(f"bad index range or task table: {first!r}, {end!r}")


def _check_rows(rows: dict[str, np.ndarray], count: int, tid: int) -> None:
    for name, (dtype, shape) in POSITION_FIELDS.items():
        array = rows[name]
        if array.dtype != dtype or array.ndim != 1 + len(shape) or array.shape[0] != count:
            raise CorruptSegmentError(f"task {tid}: {name} has dtype {array.dtype} and shape {array.shape}")
    if rows["policy"].shape != rows["legal"].shape:
        raise CorruptSegmentError(f"task {tid}: policy {rows['policy'].shape} vs legal {rows['legal'].shape}")
    if count > 1 and not np.all(np.diff(rows["seq"]) > 0):
        raise CorruptSegmentError(f"task {tid}: positions out of order")


def _write_npz_atomically(path: Path, arrays: dict[str, np.ndarray]) -> int:
    """Write ``arrays`` to ``path`` so that it either appears whole or not at all; returns its size in bytes."""
    sizes = []

    def write(file: Any) -> None:
        np.savez(file, allow_pickle=False, **arrays)
        sizes.append(file.tell())

    atomic_write(path, write)
    return sizes[0]


def _lock_directory(directory: Path) -> Any:
    """An exclusive lock on ``directory`` for this process, held while the returned file stays open.

    Two buffers writing one directory would number their segments alike and overwrite each
    other's acknowledged data; the second one fails here instead. The kernel releases the
    lock when the holder dies, so a restarted actor gets it back.
    """
    lock = open(directory / LOCK_FILE, "a+")  # noqa: SIM115 - held open for the buffer's lifetime
    deadline = time.monotonic() + LOCK_WAIT_S
    while True:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            break
        except BlockingIOError:
            # A restarted actor may start while its predecessor is still being torn down: wait a little.
            if time.monotonic() >= deadline:
                lock.seek(0)
                holder = lock.read().strip() or "unknown"
                lock.close()
                raise RuntimeError(
                    f"replay: {directory} is in use by another replay buffer (process {holder})"
                ) from None
            time.sleep(0.1)
    lock.seek(0)
    lock.truncate()
    lock.write(str(os.getpid()))
    lock.flush()
    return lock


def _unlink(path: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        path.unlink()


# ----- Ray ----------------------------------------------------------------------------------------


def create_replay_actor(
    config: ReplayConfig,
    run_dir: str | Path,
    *,
    name: str | None = None,
    max_restarts: int = -1,
    node_id: str | None = None,
    seed: int | None = None,
) -> Any:
    """Start a `ReplayBuffer` as a Ray actor; returns its handle (requires ``ray.init`` first).

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
    return ray.remote(ReplayBuffer).options(**options).remote(config, str(run_dir), seed)
