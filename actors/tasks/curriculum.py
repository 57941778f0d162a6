"""The curriculum: per mix entry (task id), the difficulty level self-play draws its instances at.

    curriculum = Curriculum(config.tasks)
    stats = worker.play(version, [weights], difficulties=curriculum.ranges())
    curriculum.observe_call(stats)           # the worker's by_task_id counts
    for change in curriculum.take_changes():
        print(change)      # reasoning/sudoku: level 0.1 -> 0.2 (success 0.910 over 212 episodes > 0.8)
    state["curriculum"] = curriculum.state_dict()   # JSON-ready; load_state_dict on resume

Each entry's `CurriculumConfig` (actors/tasks/config.py) gives its mode:

- none: instances are drawn from the entry's whole range [low, high], as without a
  curriculum; its level is reported as ``high``.
- adaptive: the level starts at ``start`` (default ``low``); instances are drawn from the
  window ``[max(low, level - width), level]``. Episodes drawn from the current window
  are counted in blocks; once a block holds ``min_episodes``, its success rate is judged:
  above ``raise_above`` the level rises by ``step`` (at most to ``high``), below
  ``lower_below`` it falls by ``step`` (at least to ``low``), and the block starts again
  either way. Counts reported for another window (a call issued before the last change,
  or by a worker that had not yet been handed the new window) are ignored, so a level
  is judged only on episodes drawn at that level.
- linear: the level is ``low + step * floor(f * (high - low) / step)`` where f is the
  share of ``episodes`` played so far (every episode of the entry, from any window),
  and ``high`` once ``episodes`` have been played; the window is as for adaptive.

Pure Python (no numpy, torch or Ray): the driver owns one; the workers are handed its ranges.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, NamedTuple

from actors.tasks.config import CURRICULUM_MODES, TaskEntry, TasksConfig
from actors.tasks.registry import KINDS

STATE_VERSION = 1
DIGITS = 9  # levels are rounded to this many decimals, so repeated steps of 0.1 land on 0.3, not 0.30000000000000004


class LevelChange(NamedTuple):
    """One move of an entry's level, with the measurement or schedule that caused it."""

    task_id: int
    label: str
    old: float
    new: float
    why: str

    def __str__(self) -> str:
        return f"{self.label}: level {self.old:g} -> {self.new:g} ({self.why})"


@dataclass
class _EntryState:
    """What the curriculum tracks of one entry: its level, its episodes in the run, the block being measured."""

    level: float
    played: int = 0  # every finished episode of the entry in the run (linear's clock)
    block_episodes: int = 0  # episodes drawn from the current window since the last judgement
    block_successes: int = 0


class Curriculum:
    """Per task id of ``config.mix``: the current level and the range of difficulties to draw from."""

    def __init__(self, config: TasksConfig) -> None:
        self.entries: list[TaskEntry] = list(config.mix)
        self.labels = entry_labels(self.entries)
        self.states = [_EntryState(level=self._first_level(entry)) for entry in self.entries]
        self.changes: list[LevelChange] = []  # not yet taken by `take_changes`

    # ----- what the workers are handed ------------------------------------------------------------

    def levels(self) -> list[float]:
        """The current level per task id (mode none: the entry's ``high``)."""
        return [state.level for state in self.states]

    def ranges(self) -> list[tuple[float, float]]:
        """Per task id, the range (low, high) new instances' difficulties are drawn from uniformly."""
        return [self._range(task_id) for task_id in range(len(self.entries))]

    def metrics(self) -> dict[str, dict[str, Any]]:
        """``{family/kind label: {mode, level, range, block_episodes, block_success}}`` for metrics.jsonl."""
        report = {}
        for task_id, (entry, state) in enumerate(zip(self.entries, self.states, strict=True)):
            n = state.block_episodes
            report[self.labels[task_id]] = {
                "mode": entry.curriculum.mode,
                "level": state.level,
                "range": list(self._range(task_id)),
                "block_episodes": n,
                "block_success": state.block_successes / n if n else None,
            }
        return report

    # ----- measurements ---------------------------------------------------------------------------

    def observe(
        self, task_id: int, played: int, drawn_from: tuple[float, float], episodes: int, successes: int
    ) -> None:
        """Count one report of task id ``task_id``: ``played`` episodes finished, ``episodes`` of them drawn
        from ``drawn_from`` (low, high), ``successes`` of those succeeded. May move the level (see `changes`)."""
        if not 0 <= task_id < len(self.entries):
            raise ValueError(f"curriculum: task id {task_id} is not in the mix (0 .. {len(self.entries) - 1})")
        if not (0 <= successes <= episodes <= played):
            raise ValueError(
                f"curriculum: task id {task_id}: expected 0 <= successes <= episodes <= played, "
                f"got {successes}, {episodes}, {played}"
            )
        entry, state = self.entries[task_id], self.states[task_id]
        state.played += played
        mode = entry.curriculum.mode
        if mode == "linear":
            self._move(task_id, self._linear_level(entry, state.played), f"{state.played} episodes played")
        elif mode == "adaptive" and (float(drawn_from[0]), float(drawn_from[1])) == self._range(task_id):
            state.block_episodes += episodes
            state.block_successes += successes
            if state.block_episodes >= entry.curriculum.min_episodes:
                self._judge(task_id)

    def observe_call(self, stats: dict[str, Any]) -> None:
        """`observe` every task id of one `SelfPlayWorker.play` call's statistics (its ``by_task_id``)."""
        rows = stats.get("by_task_id")
        if not isinstance(rows, list) or len(rows) != len(self.entries):
            raise ValueError(
                f"curriculum: expected a play call's statistics with by_task_id for {len(self.entries)} task ids"
            )
        for task_id, row in enumerate(rows):
            low, high = row["range"]
            self.observe(task_id, row["episodes"], (low, high), row["range_episodes"], row["range_successes"])

    def take_changes(self) -> list[LevelChange]:
        """The level changes since the last call (oldest first), for the driver to print; clears them."""
        taken, self.changes = self.changes, []
        return taken

    # ----- state ----------------------------------------------------------------------------------

    def state_dict(self) -> dict[str, Any]:
        """A JSON-ready dict of every entry's level, episodes played and current block."""
        return {
            "version": STATE_VERSION,
            "entries": [
                {
                    "label": label,
                    "mode": entry.curriculum.mode,
                    "level": state.level,
                    "played": state.played,
                    "block_episodes": state.block_episodes,
                    "block_successes": state.block_successes,
                }
                for label, entry, state in zip(self.labels, self.entries, self.states, strict=True)
            ],
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Continue from `state_dict` output (a resumed run). ValueError naming the field for a malformed state
        or one of another mix. A resume may have changed an entry's config: a saved level outside a range since
        changed moves into it, a mode since changed starts the level afresh (the episodes played carry over),
        a linear level follows its schedule; each such move is recorded in `changes`."""
        if not isinstance(state, dict) or state.get("version") != STATE_VERSION:
            raise ValueError(f"curriculum state: expected a mapping with version {STATE_VERSION}")
        saved = state.get("entries")
        if not isinstance(saved, list) or len(saved) != len(self.entries):
            raise ValueError(f"curriculum state: entries: expected a list of {len(self.entries)} (one per task id)")
        parsed = [self._parsed_entry(task_id, item) for task_id, item in enumerate(saved)]  # all checked first
        for task_id, (mode, loaded) in enumerate(parsed):
            entry = self.entries[task_id]
            low, high = _bounds(entry)
            saved_level, why = loaded.level, ""
            if mode != entry.curriculum.mode:
                loaded = _EntryState(level=self._first_level(entry), played=loaded.played)
                why = f"mode {mode} -> {entry.curriculum.mode}"
            if entry.curriculum.mode == "none":
                loaded.level = high
            elif entry.curriculum.mode == "linear":
                loaded.level = self._linear_level(entry, loaded.played)
                why = why or f"{loaded.played} episodes played"
            elif not low <= loaded.level <= high:
                loaded = _EntryState(level=min(high, max(low, loaded.level)), played=loaded.played)
                why = f"the difficulty range is now [{low:g}, {high:g}]"
            self.states[task_id] = loaded
            if loaded.level != saved_level and entry.curriculum.mode != "none":
                self.changes.append(LevelChange(task_id, self.labels[task_id], saved_level, loaded.level, why))

    # ----- internals ------------------------------------------------------------------------------

    def _first_level(self, entry: TaskEntry) -> float:
        low, high = _bounds(entry)
        curriculum = entry.curriculum
        if curriculum.mode == "none":
            return high
        if curriculum.mode == "adaptive" and curriculum.start is not None:
            return float(curriculum.start)
        return low

    def _range(self, task_id: int) -> tuple[float, float]:
        entry, level = self.entries[task_id], self.states[task_id].level
        low, high = _bounds(entry)
        if entry.curriculum.mode == "none":
            return low, high
        return max(low, round(level - entry.curriculum.width, DIGITS)), level

    def _linear_level(self, entry: TaskEntry, played: int) -> float:
        low, high = _bounds(entry)
        curriculum = entry.curriculum
        if played >= curriculum.episodes:
            return high
        # The tolerance keeps rounding from losing a whole step: 0.5 * 0.6 / 0.1 is 2.9999999999999996.
        steps = math.floor(played / curriculum.episodes * (high - low) / curriculum.step + 1e-9)
        return min(high, round(low + steps * curriculum.step, DIGITS))

    def _judge(self, task_id: int) -> None:
        """Judge the full block of ``task_id``: raise, lower or keep its level; the block starts again."""
        entry, state = self.entries[task_id], self.states[task_id]
        curriculum = entry.curriculum
        low, high = _bounds(entry)
        n, rate = state.block_episodes, state.block_successes / state.block_episodes
        state.block_episodes = state.block_successes = 0
        measured = f"success {rate:.3f} over {n} episodes"
        if rate > curriculum.raise_above and state.level < high:
            new = min(high, round(state.level + curriculum.step, DIGITS))
            self._move(task_id, new, f"{measured} > {curriculum.raise_above:g}")
        elif rate < curriculum.lower_below and state.level > low:
            new = max(low, round(state.level - curriculum.step, DIGITS))
            self._move(task_id, new, f"{measured} < {curriculum.lower_below:g}")

    def _move(self, task_id: int, new: float, why: str) -> None:
        state = self.states[task_id]
        if new != state.level:
            self.changes.append(LevelChange(task_id, self.labels[task_id], state.level, new, why))
            state.level = new

    def _parsed_entry(self, task_id: int, item: Any) -> tuple[str, _EntryState]:
        """The saved mode and state of ``task_id`` from its ``item`` of a state dict; ValueError if malformed."""
        where = f"curriculum state: entries[{task_id}]"
        if not isinstance(item, dict):
            raise ValueError(f"{where}: expected a mapping")
        if item.get("label") != self.labels[task_id]:
            raise ValueError(
                f"{where}.label: expected {self.labels[task_id]!r} (the config's task id {task_id}), "
                f"got {item.get('label')!r}: the state is of another task mix"
            )
        mode = item.get("mode")
        if mode not in CURRICULUM_MODES:
            raise ValueError(f"{where}.mode: expected one of: {', '.join(CURRICULUM_MODES)}, got {mode!r}")
        level = item.get("level")
        if not isinstance(level, (int, float)) or isinstance(level, bool) or not 0.0 <= level <= 1.0:
            raise ValueError(f"{where}.level: expected a number in [0, 1], got {level!r}")
        counts = {}
        for key in ("played", "block_episodes", "block_successes"):
            value = item.get(key)
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise ValueError(f"{where}.{key}: expected a non-negative integer, got {value!r}")
            counts[key] = value
        if counts["block_successes"] > counts["block_episodes"]:
            raise ValueError(
                f"{where}: expected block_successes <= block_episodes, got {counts['block_successes']} "
                f"and {counts['block_episodes']}"
            )
        return mode, _EntryState(level=float(level), **counts)


def _bounds(entry: TaskEntry) -> tuple[float, float]:
    """The entry's difficulty range (low, high) as floats."""
    return float(entry.difficulty[0]), float(entry.difficulty[1])


def entry_labels(entries: list[TaskEntry]) -> list[str]:
    """Metrics labels of the task ids: ``family/kind``, with ``#<task id>`` when a kind appears more than once."""
    kinds = [entry.kind for entry in entries]
    return [
        f"{KINDS[kind][0]}/{kind}" + (f"#{task_id}" if kinds.count(kind) > 1 else "")
        for task_id, kind in enumerate(kinds)
    ]
