"""The held-out instances both sides of an evaluation play: fixed per task id, never met in self-play.

- Instance ``j`` of ``n`` has difficulty ``linspace(low, high, n)[j]`` over the
  entry's difficulty range (or ``evaluation.difficulty``) and a seed in
  ``[2**31, 2**32)`` derived from (the evaluation seed, task id, j); self-play
  draws seeds below ``2**31``, so the two never meet.
- A seed whose instance repeats an earlier one is redrawn (a few times) so that a
  small task's set has as few duplicates as it can.
- Solve rates are also reported per difficulty bucket: equal slices of the range.

The sets depend on nothing but these numbers, so a restarted evaluator draws the same ones.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from actors.tasks.base import Task

HELD_OUT_SEED_BASE = 2**31  # self-play seeds are below this, held-out seeds at or above it
_HELD_OUT_TAG = 0xE7A1  # mixed into held-out seeds so that no other seed sequence of the project collides
_REDRAWS = 8  # seeds tried per held-out instance to avoid a duplicate


@dataclass(frozen=True)
class HeldOut:
    """The fixed held-out instances of one task: ``states [n, S]``, ``seeds int64 [n]``, ``difficulties [n]``."""

    states: np.ndarray
    seeds: np.ndarray
    difficulties: np.ndarray


def held_out_seed(evaluation_seed: int, task_id: int, index: int, redraw: int = 0) -> int:
    """The seed of held-out instance ``index`` of task ``task_id``, in ``[2**31, 2**32)``."""
    entropy = [_HELD_OUT_TAG, int(evaluation_seed), int(task_id), int(index), int(redraw)]
    return HELD_OUT_SEED_BASE + int(np.random.SeedSequence(entropy).generate_state(1, np.uint32)[0] >> 1)


def held_out_set(task: Task, task_id: int, difficulty: tuple[float, float], count: int, seed: int) -> HeldOut:
    """``count`` instances with difficulties spread evenly over ``difficulty`` (both ends included)."""
    difficulties = np.linspace(difficulty[0], difficulty[1], count)
    states, seeds, seen = [], [], set()
    for index, d in enumerate(difficulties.tolist()):
        for redraw in range(_REDRAWS):
            instance_seed = held_out_seed(seed, task_id, index, redraw)
            state = task.generate(instance_seed, d)
            if state.tobytes() not in seen:
                break  # otherwise the last redraw is kept: a task may have fewer instances than asked for
        seen.add(state.tobytes())
        states.append(state)
        seeds.append(instance_seed)
    return HeldOut(np.array(states, dtype=np.int64), np.array(seeds, dtype=np.int64), difficulties)


def difficulty_buckets(
    difficulties: np.ndarray, difficulty: tuple[float, float], buckets: int
) -> list[tuple[str, np.ndarray]]:
    """``[(label, bool [n] members)]``: equal slices of the range ``difficulty``; empty slices are left out."""
    low, high = difficulty
    if high <= low:
        return [(f"{low:.2f}-{high:.2f}", np.ones(len(difficulties), dtype=bool))]
    edges = np.linspace(low, high, buckets + 1)
    index = np.clip(np.searchsorted(edges, difficulties, side="right") - 1, 0, buckets - 1)
    return [(f"{edges[b]:.2f}-{edges[b + 1]:.2f}", index == b) for b in range(buckets) if (index == b).any()]


def solve_rates_by_difficulty(
    held: HeldOut, difficulty: tuple[float, float], buckets: int, solved: dict[str, np.ndarray]
) -> dict[str, dict[str, float | int]]:
    """Per difficulty bucket of ``held``: its ``instances`` and, per name of ``solved`` (bool ``[n]``), the mean."""
    return {
        label: {"instances": int(members.sum()), **{name: float(s[members].mean()) for name, s in solved.items()}}
        for label, members in difficulty_buckets(held.difficulties, difficulty, buckets)
    }
