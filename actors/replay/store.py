"""Positions in memory: one ring store per task id, the sampling rule over them, and insert/sample rates.

Memory. One `TaskStore` per task id holds that task's positions, oldest first, in ring
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
"""

from __future__ import annotations

import collections
import time
from collections.abc import Sequence

import numpy as np

from actors.replay.config import ReplayConfig
from actors.replay.trajectory import POSITION_FIELDS

_MIN_ROWS = 1024  # smallest ring allocation per task: small tasks do not reallocate on every add

# Fields of `TaskStore` beyond the persisted ones: float64 so that sums over 1e5 rows stay exact enough.
_FIELDS = {
    **POSITION_FIELDS,
    "outcome_weight": (np.dtype(np.float64), ()),
    "prio_alpha": (np.dtype(np.float64), ()),
}


class TaskStore:
    """The positions of one task id, oldest first, in ring arrays (physical slot = (head + k) % alloc).

    Besides `POSITION_FIELDS` it keeps, per slot, ``outcome_weight`` (success/failure weight)
    and ``prio_alpha`` (priority ** alpha); both are 0 in empty slots, so sampling can run
    over the whole physical array without ever drawing an empty slot.
    """

    def __init__(self, task_id: int, family: str, kind: str, obs_length: int, num_actions: int, config: ReplayConfig):
        self.task_id, self.family, self.kind = task_id, family, kind
        self.obs_length, self.num_actions = obs_length, num_actions
        self.config = config
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

    # ----- inserting and evicting -----

    def append(self, rows: dict[str, np.ndarray], priority: float) -> None:
        """Append ``rows`` (`POSITION_FIELDS` arrays, n rows in seq order, n <= room left by eviction).

        The new positions all get ``priority`` (the buffer's largest so far).
        """
        rows = self._with_sampling_fields(rows, priority)
        n = len(rows["seq"])
        if self.size + n > self.alloc:
            self._resize(min(self.max_rows, max(self.size + n, 2 * self.alloc)))
        slots = self.physical(np.arange(self.size, self.size + n))
        for name, array in self.arrays.items():
            array[slots] = rows[name]
        self.size += n
        self.successes += int(rows["success"].sum())

    def _with_sampling_fields(self, rows: dict[str, np.ndarray], priority: float) -> dict[str, np.ndarray]:
        weights = np.where(rows["success"], self.success_weight, self.failure_weight)
        prio_alpha = np.full(len(weights), priority**self.config.priority_alpha)
        return {**rows, "outcome_weight": weights.astype(np.float64), "prio_alpha": prio_alpha}

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

    # ----- finding positions by global index -----

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

    # ----- sampling -----

    def draw(self, batch_size: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """Physical slots [B] drawn by the sampling rule, and their importance weights float32 [B]."""
        cfg = self.config
        prioritized = cfg.sampling == "prioritized"
        if not prioritized and cfg.success_weight == cfg.failure_weight:
            slots = self.physical(rng.integers(0, self.size, size=batch_size))
            return slots, np.ones(batch_size, dtype=np.float32)
        weights, prio_alpha = self.arrays["outcome_weight"], self.arrays["prio_alpha"]
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

    def set_priorities(self, seqs: np.ndarray, priorities: np.ndarray) -> np.ndarray:
        """Set the priorities (already clipped) of the live positions among ``seqs`` [K]; returns found bool [K]."""
        found, slots = self.locate(seqs)
        if found.any():
            # Fancy assignment keeps the last of repeated slots, as `ReplayBuffer.update_priorities` documents.
            self.arrays["prio_alpha"][slots[found]] = priorities[found] ** self.config.priority_alpha
        return found


def draw_store(stores: Sequence[TaskStore], rng: np.random.Generator) -> TaskStore:
    """A task's store, drawn in proportion to its outcome-weighted number of positions."""
    mass = np.array([s.weight_sum for s in stores])
    return stores[int(rng.choice(len(stores), p=mass / mass.sum()))]


class RateWindow:
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
