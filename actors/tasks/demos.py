"""Demonstrations: instances of the run's task kinds with an answer, for supervised pre-training.

A `Demonstration` is one instance of a kind in the run's task mix (its state vector, as
`Task.generate` returns it) and a sequence of actions played from it: a puzzle's whole
answer, which solves it, or, for a two-player game, a line of play from that position.
They come from the kinds' exact solvers (`generate_demonstrations`, on Ray
`generate_demonstrations_on_ray`) or from a user's file (`read_demonstrations`), and
`demonstration_rows` turns them into training rows in the replay buffer's sample layout
(what `learner.Learner.train_supervised` takes).

The JSONL file format (`read_demonstrations`, `write_demonstrations`): UTF-8 text, one JSON
object per line, one demonstration per object. Blank lines and lines whose first
non-blank character is ``#`` are skipped. Keys:

- ``kind`` (string, required): a task kind of the run's mix, e.g. ``"sudoku"``;
- ``params`` (object, optional, default ``{}``): the kind's shape parameters; parameters left
  out take the kind's defaults. Kind and params must match an entry of the run's task mix
  (``tasks.mix``), and that entry's position in the mix is the demonstration's task id; a
  kind in the mix twice is matched by its params (the first entry when the params are equal too);
- ``state`` (array of integers, required): the instance's state vector, ``spec.state_size``
  integers in the kind's layout (documented in its module, e.g. `actors.tasks.sudoku`);
  it must not be terminal;
- ``actions`` (array of integers, required, at least one): the answer, actions in the kind's
  action space, each legal in turn. For a one-player kind (a puzzle) they must solve it
  (the kind's `Task.verify` accepts them: the final state's outcome is 1.0). For a
  two-player kind they may end anywhere (a line of play from an opening); their value
  targets come from the game's end, played on by the kind's solver where the line stops
  before it (`demonstration_rows`);
- ``difficulty`` (number in [0, 1], optional, default 0.5): recorded with the demonstration.

No other keys are accepted, and no key twice. An example line, a 4x4 Sudoku (16 givens, the
board, placements made; action ``cell * 4 + digit - 1``) and the four placements that solve it::

    {"kind": "sudoku", "params": {"size": 4}, "state": [2, 3, 1, 4, 1, 4, 0, 0, 3, 0, 4, 2, 4, 0, 3, 1, 2, 3, 1, 4, 1, 4, 0, 0, 3, 0, 4, 2, 4, 0, 3, 1, 0], "actions": [25, 30, 36, 53], "difficulty": 0.2}

The whole file is read and checked before anything is returned: the first bad line raises a
`DemoError` whose message is ``"{path}: line {n}: {reason}"``, so a file is loaded whole or
not at all. Besides its length, a state is checked with the kind's own functions: they must
run on it (`legal_mask`, `is_terminal`, `encode`) and its tokens must lie in the kind's
vocabulary. The task contract has no finer state check, so a state that those accept but
the kind could never reach (e.g. a Sudoku board that contradicts its givens) is taken as given.

Generated demonstrations draw instance ``i`` from the mix as self-play does (`TaskMix.draw`,
with a generator seeded from ``[seed, i]``, so the seeds are below 2**31 and never those of
the held-out evaluation sets), and solve it with the kind's exact solver (`Task.solve`); a
two-player kind's solver plays both sides to the end of the game. Instances the solver cannot
answer are skipped and counted (`solve_instances` returns the counts; the generating
functions log them).
"""  # noqa: E501 (the example line above is one JSONL line, longer than a code line)

from __future__ import annotations

import collections
import inspect
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from actors.selfplay.episodes import game_value_targets
from actors.tasks.base import IllegalActionError, Task
from actors.tasks.config import TasksConfig
from actors.tasks.registry import TaskMix, make_task, task_params
from common.storage import atomic_write_bytes

log = logging.getLogger(__name__)

DEFAULT_DIFFICULTY = 0.5
REQUIRED_KEYS = ("kind", "state", "actions")
OPTIONAL_KEYS = ("params", "difficulty")
WAIT_NOTE_SECONDS = 60.0  # a wait this long for a generating task is reported
_DEMO_SEED_TAG = 0xDE30  # separates the demonstrations' instance generators from other uses of the seed
# What a kind's functions raise on a state that is not one of its states (values out of their tables' range).
_STATE_ERRORS = (ValueError, IndexError, TypeError, OverflowError)


class DemoError(ValueError):
    """A bad demonstration file: ``"{path}: line {line}: {reason}"``, or ``"{path}: {reason}"`` for the whole file."""

    def __init__(self, path: str | Path, line: int | None, reason: str) -> None:
        where = f"{path}: line {line}" if line is not None else str(path)
        super().__init__(f"{where}: {reason}")
        self.path, self.line, self.reason = str(path), line, reason


@dataclass(eq=False)
class Demonstration:
    """One instance of task ``task_id`` (``kind`` with ``params``) and the actions played from it.

    Attributes:
        task_id: the instance's entry in the run's task mix.
        kind, params: that entry's kind and its shape parameters, defaults filled in.
        state: int64 ``[S]``, the instance's state vector (not terminal).
        actions: the answer, one action per move (at least one).
        difficulty: in [0, 1], as drawn (generated) or as the file says.
    """

    task_id: int
    kind: str
    params: dict[str, Any]
    state: np.ndarray
    actions: list[int]
    difficulty: float = DEFAULT_DIFFICULTY

    def to_record(self) -> dict[str, Any]:
        """The demonstration as its JSONL object (see the module doc)."""
        return {
            "kind": self.kind,
            "params": dict(self.params),
            "state": [int(v) for v in self.state],
            "actions": [int(a) for a in self.actions],
            "difficulty": float(self.difficulty),
        }


@dataclass
class _MixTasks:
    """The run's task mix with one `Task` per entry and each entry's params with the defaults filled in."""

    config: TasksConfig
    tasks: list[Task] = field(init=False)
    params: list[dict[str, Any]] = field(init=False)

    def __post_init__(self) -> None:
        self.tasks = [make_task(entry.kind, entry.params) for entry in self.config.mix]
        self.params = [full_params(entry.kind, entry.params) for entry in self.config.mix]


def full_params(kind: str, params: dict[str, Any]) -> dict[str, Any]:
    """``params`` of ``kind`` with every parameter it leaves out at the kind's default."""
    defaults = {name: p.default for name, p in task_params(kind).items() if p.default is not inspect.Parameter.empty}
    return {**defaults, **params}


# ----- reading and writing files ---------------------------------------------------------------


def read_demonstrations(path: str | Path, tasks: TasksConfig) -> list[Demonstration]:
    """Every demonstration of the JSONL file ``path`` (format: the module doc), checked against the mix ``tasks``.

    Raises `DemoError` (``"{path}: line {n}: {reason}"``) at the first bad line, or naming the
    file when it cannot be read or holds no demonstration; then nothing is returned.
    """
    try:
        data = Path(path).read_bytes()
    except OSError as error:
        raise DemoError(path, None, f"cannot be read ({error.strerror or error})") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        line = data.count(b"\n", 0, error.start) + 1
        raise DemoError(path, line, f"not UTF-8 text (byte {error.start} of the file)") from None
    mix = _MixTasks(tasks)
    demos = []
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        try:
            demos.append(_parse_line(stripped, mix))
        except _BadLine as error:
            raise DemoError(path, number, str(error)) from None
    if not demos:
        raise DemoError(path, None, "holds no demonstration (only blank or comment lines)")
    return demos


def write_demonstrations(path: str | Path, demos: Sequence[Demonstration]) -> None:
    """Write ``demos`` to ``path`` as JSONL (the module doc's format), atomically: the old file or the new one."""
    lines = [json.dumps(demo.to_record(), separators=(", ", ": ")) for demo in demos]
    atomic_write_bytes(path, "".join(line + "\n" for line in lines).encode("utf-8"))


class _BadLine(ValueError):
    """Why one line is not a demonstration (the reader adds the file and the line number)."""


def _parse_line(text: str, mix: _MixTasks) -> Demonstration:
    """The demonstration of one non-blank line; raises `_BadLine` naming what is wrong."""
    record = _json_object(text)
    unknown = sorted(set(record) - {*REQUIRED_KEYS, *OPTIONAL_KEYS})
    if unknown:
        expected = ", ".join([*REQUIRED_KEYS, *OPTIONAL_KEYS])
        raise _BadLine(f"unknown key {unknown[0]!r} (expected keys: {expected})")
    missing = [key for key in REQUIRED_KEYS if key not in record]
    if missing:
        raise _BadLine(f"missing key {missing[0]!r}")
    task_id = _match_entry(record["kind"], record.get("params", {}), mix)
    task = mix.tasks[task_id]
    state = _int_vector(record["state"], "state")
    actions = _int_vector(record["actions"], "actions").tolist()
    _check_state(task, state)
    _check_actions(task, state, actions)
    return Demonstration(
        task_id=task_id,
        kind=task.kind,
        params=dict(mix.params[task_id]),
        state=state,
        actions=actions,
        difficulty=_difficulty(record.get("difficulty", DEFAULT_DIFFICULTY)),
    )


def _json_object(text: str) -> dict[str, Any]:
    def unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        counts = collections.Counter(key for key, _ in pairs)
        repeated = [key for key, count in counts.items() if count > 1]
        if repeated:
            raise _BadLine(f"key {repeated[0]!r} appears twice")
        return dict(pairs)

    try:
        record = json.loads(text, object_pairs_hook=unique_keys)
    except json.JSONDecodeError as error:
        raise _BadLine(f"not valid JSON ({error.msg} at column {error.colno})") from None
    if not isinstance(record, dict):
        raise _BadLine(f"expected a JSON object, got {type(record).__name__}")
    return record


def _match_entry(kind: Any, params: Any, mix: _MixTasks) -> int:
    """The task id of the mix entry of ``kind`` whose params (defaults filled in) equal ``params``."""
    kinds = [entry.kind for entry in mix.config.mix]
    if not isinstance(kind, str) or kind not in kinds:
        raise _BadLine(f"kind {kind!r} is not in the run's task mix (its kinds: {', '.join(dict.fromkeys(kinds))})")
    if not isinstance(params, dict):
        raise _BadLine(f"params: expected an object, got {type(params).__name__}")
    known = task_params(kind)
    unknown = sorted(set(params) - set(known))
    if unknown:
        raise _BadLine(f"params: {kind} has no parameter {unknown[0]!r} (its parameters: {', '.join(known)})")
    wanted = full_params(kind, params)
    candidates = [i for i, entry in enumerate(mix.config.mix) if entry.kind == kind]
    for task_id in candidates:
        if mix.params[task_id] == wanted:
            return task_id
    offered = "; ".join(json.dumps(mix.params[i], sort_keys=True) for i in candidates)
    raise _BadLine(
        f"params {json.dumps(wanted, sort_keys=True)} match no {kind} entry of the task mix (its: {offered})"
    )


def _int_vector(value: Any, key: str) -> np.ndarray:
    """``value`` as int64 ``[n]``: it must be a JSON array of integers (not booleans) that fit in int64."""
    if not isinstance(value, list):
        raise _BadLine(f"{key}: expected an array of integers, got {type(value).__name__}")
    for i, item in enumerate(value):
        if isinstance(item, bool) or not isinstance(item, int):
            raise _BadLine(f"{key}[{i}]: expected an integer, got {json.dumps(item)}")
        if not -(2**63) <= item < 2**63:
            raise _BadLine(f"{key}[{i}]: {item} does not fit in 64 bits")
    return np.array(value, dtype=np.int64)


def _difficulty(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= value <= 1.0:
        raise _BadLine(f"difficulty: expected a number in [0, 1], got {json.dumps(value)}")
    return float(value)


def _check_state(task: Task, state: np.ndarray) -> None:
    """The checks the task contract allows: the length, the kind's functions accept it, tokens, not terminal."""
    spec = task.spec
    if len(state) != spec.state_size:
        raise _BadLine(f"state: expected {spec.state_size} integers for {task.name}, got {len(state)}")
    states = state[None]
    try:
        terminal = bool(task.is_terminal(states)[0])
        legal = task.legal_mask(states)
        tokens = task.encode(states)
    except _STATE_ERRORS as error:
        raise _BadLine(f"state: not a {task.name} state ({type(error).__name__}: {error})") from None
    if legal.shape != (1, spec.num_actions) or tokens.shape != (1, spec.obs_length):
        raise _BadLine(f"state: not a {task.name} state (its mask or tokens have the wrong shape)")
    outside = (tokens < 0) | (tokens >= spec.vocab_size)
    if outside.any():
        position = int(np.flatnonzero(outside[0])[0])
        raise _BadLine(
            f"state: not a {task.name} state (token {int(tokens[0, position])} at position {position} "
            f"is outside the vocabulary [0, {spec.vocab_size}))"
        )
    if terminal:
        raise _BadLine(f"state: the {task.name} episode is already over in this state: nothing to demonstrate")


def _check_actions(task: Task, state: np.ndarray, actions: list[int]) -> None:
    """Every action legal in turn; a puzzle's actions must solve it (`Task.verify`)."""
    if not actions:
        raise _BadLine("actions: expected at least one action")
    states = state[None]
    for i, action in enumerate(actions):
        if task.is_terminal(states)[0]:
            raise _BadLine(f"actions[{i}]: the episode is over after {i} actions, but {len(actions)} are given")
        if not 0 <= action < task.spec.num_actions:
            raise _BadLine(f"actions[{i}]: {action} is outside the action space [0, {task.spec.num_actions})")
        if not task.legal_mask(states)[0, action]:
            raise _BadLine(f"actions[{i}]: {action} is not legal after the {i} actions before it")
        try:
            states = task.step(states, np.array([action], dtype=np.int64))
        except _STATE_ERRORS as error:  # the mask allowed it: the state is what the kind cannot step
            raise _BadLine(f"actions[{i}]: {task.name} cannot play {action} here ({error})") from None
    if task.spec.num_players == 1 and not task.verify(state, actions):
        ended = "ends unsolved" if task.is_terminal(states)[0] else "stops before the puzzle is over"
        raise _BadLine(f"actions: they do not solve the {task.name} puzzle (the episode {ended})")


# ----- generating with the exact solvers -------------------------------------------------------


def solve_instances(tasks: TasksConfig, seed: int, start: int, stop: int) -> tuple[list[Demonstration], dict[str, int]]:
    """The demonstrations of instances ``start .. stop - 1`` of the stream ``seed``, and what was skipped.

    Instance ``i`` is drawn with `TaskMix.draw` from a generator seeded with ``[seed, i]``, so
    any split of a range gives the same demonstrations. Skipped instances are counted per
    ``"{kind}: {reason}"``: terminal when generated, the solver raised (no answer), or its
    answer does not verify.
    """
    mix = TaskMix(tasks)
    params = [full_params(entry.kind, entry.params) for entry in tasks.mix]
    demos: list[Demonstration] = []
    skipped: collections.Counter[str] = collections.Counter()
    for index in range(start, stop):
        rng = np.random.default_rng([int(seed), _DEMO_SEED_TAG, index])
        task_id, instance_seed, difficulty = mix.draw(rng)
        task = mix.tasks[task_id]
        state = task.generate(instance_seed, difficulty)
        if task.is_terminal(state[None])[0]:
            skipped[f"{task.kind}: over when generated"] += 1
            continue
        try:
            actions = _solver_line(task, state)
        except ValueError:  # the kind's solver has no answer for this instance (IllegalActionError included)
            skipped[f"{task.kind}: the solver has no answer"] += 1
            continue
        if not actions or (task.spec.num_players == 1 and not task.verify(state, actions)):
            skipped[f"{task.kind}: the solver's answer does not verify"] += 1
            continue
        demos.append(Demonstration(task_id, task.kind, dict(params[task_id]), state, actions, difficulty))
    return demos, dict(skipped)


def _solver_line(task: Task, state: np.ndarray) -> list[int]:
    """A puzzle's solution; a game's moves by the solver for both sides from ``state [S]`` to the end."""
    if task.spec.num_players == 1:
        return [int(a) for a in task.solve(state)]
    actions = []
    while not task.is_terminal(state[None])[0]:
        action = int(task.solve(state)[0])
        actions.append(action)
        state = task.step(state[None], np.array([action], dtype=np.int64))[0]
    return actions


def generate_demonstrations(tasks: TasksConfig, count: int, seed: int) -> list[Demonstration]:
    """Demonstrations of ``count`` instances drawn from the mix ``tasks`` (fewer by those skipped, logged)."""
    _check_count(count, 1)
    demos, skipped = solve_instances(tasks, seed, 0, count)
    _log_skipped(count, len(demos), skipped)
    return demos


def generate_demonstrations_on_ray(
    tasks: TasksConfig,
    count: int,
    seed: int,
    chunks: int,
    max_in_flight: int | None = None,
    say: Any = None,
) -> list[Demonstration]:
    """`generate_demonstrations` split into ``chunks`` Ray tasks of one CPU each; the same demonstrations.

    At most ``max_in_flight`` tasks are pending at a time (default: the cluster's CPUs);
    results are put back in instance order, whatever order the tasks finish in. A wait of
    more than `WAIT_NOTE_SECONDS` for the next task is reported through ``say`` (default: a
    warning in this module's log): a task needs a whole free CPU.
    """
    import ray

    _check_count(count, chunks)
    if max_in_flight is None:
        max_in_flight = max(1, int(ray.cluster_resources().get("CPU", 1)))
    if max_in_flight < 1:
        raise ValueError(f"max_in_flight: expected a positive integer, got {max_in_flight}")
    bounds = np.linspace(0, count, min(chunks, max(count, 1)) + 1).round().astype(int).tolist()
    ranges = [(a, b) for a, b in zip(bounds, bounds[1:], strict=False) if b > a]
    remote = ray.remote(num_cpus=1)(solve_instances)
    results: list[tuple[list[Demonstration], dict[str, int]] | None] = [None] * len(ranges)
    pending: dict[Any, int] = {}
    submitted = 0
    while submitted < len(ranges) or pending:
        while submitted < len(ranges) and len(pending) < max_in_flight:
            start, stop = ranges[submitted]
            pending[remote.remote(tasks, seed, start, stop)] = submitted
            submitted += 1
        ready, _ = ray.wait(list(pending), num_returns=1, timeout=WAIT_NOTE_SECONDS)
        if not ready:
            done = sum(result is not None for result in results)
            (say or log.warning)(
                f"demonstrations: {done} of {len(ranges)} tasks done, none finished in {WAIT_NOTE_SECONDS:g} s "
                "(each needs a free CPU)"
            )
            continue
        results[pending.pop(ready[0])] = ray.get(ready[0])
    demos = [demo for result in results if result is not None for demo in result[0]]
    skipped: collections.Counter[str] = collections.Counter()
    for result in results:
        if result is not None:
            skipped.update(result[1])
    _log_skipped(count, len(demos), dict(skipped))
    return demos


def _check_count(count: int, chunks: int) -> None:
    if isinstance(count, bool) or not isinstance(count, int) or count < 0:
        raise ValueError(f"count: expected a non-negative integer, got {count!r}")
    if isinstance(chunks, bool) or not isinstance(chunks, int) or chunks < 1:
        raise ValueError(f"chunks: expected a positive integer, got {chunks!r}")


def _log_skipped(count: int, made: int, skipped: dict[str, int]) -> None:
    if skipped:
        reasons = ", ".join(f"{reason} {n}" for reason, n in sorted(skipped.items()))
        log.warning("demonstrations: %d of %d instances skipped (%s)", count - made, count, reasons)


# ----- training rows ---------------------------------------------------------------------------


def demonstration_rows(demos: Sequence[Demonstration], tasks: TasksConfig) -> dict[int, dict[str, np.ndarray]]:
    """Per task id, one training row per demonstrated move, in the replay buffer's sample layout.

    ``tokens`` int64 [N, L] (the position before the move, encoded), ``legal`` bool [N, A],
    ``policy`` float32 [N, A] (one-hot on the demonstrated action), ``value`` float32 [N],
    ``weight`` float32 [N] (ones). Values: a puzzle's demonstration solves it, so 1.0 (a
    success); a game's is the final outcome from each position's mover (`game_value_targets`),
    the game being played on by the kind's solver where the line stops before its end.
    Task ids without demonstrations are left out. ValueError when a demonstration does not
    fit the mix, has no actions or an illegal one, or a puzzle's does not solve it.
    """
    mix = _MixTasks(tasks)
    parts: dict[int, list[dict[str, np.ndarray]]] = collections.defaultdict(list)
    for number, demo in enumerate(demos):
        if not 0 <= demo.task_id < len(mix.tasks) or mix.config.mix[demo.task_id].kind != demo.kind:
            raise ValueError(f"demonstration {number}: task id {demo.task_id} is not a {demo.kind} entry of the mix")
        parts[demo.task_id].append(_rows_of(mix.tasks[demo.task_id], demo, number))
    return {
        task_id: {name: np.concatenate([p[name] for p in rows]) for name in rows[0]}
        for task_id, rows in sorted(parts.items())
    }


def _rows_of(task: Task, demo: Demonstration, number: int) -> dict[str, np.ndarray]:
    """The rows of one demonstration (see `demonstration_rows`)."""
    spec = task.spec
    if not demo.actions:
        raise ValueError(f"demonstration {number}: it has no actions")
    states = [np.asarray(demo.state, dtype=np.int64)]
    try:
        for action in demo.actions:
            states.append(task.step(states[-1][None], np.array([action], dtype=np.int64))[0])
    except IllegalActionError as error:
        raise ValueError(f"demonstration {number}: {error}") from None
    positions, final = np.stack(states[:-1]), states[-1]
    moves = len(positions)
    policy = np.zeros((moves, spec.num_actions), dtype=np.float32)
    policy[np.arange(moves), np.asarray(demo.actions, dtype=np.int64)] = 1.0
    if spec.num_players == 1:
        if task.outcome(final[None])[0] != 1.0 or not task.is_terminal(final[None])[0]:
            raise ValueError(f"demonstration {number}: its actions do not solve the {task.name} puzzle")
        value = np.ones(moves, dtype=np.float32)
    else:
        end = np.asarray(final)
        if not task.is_terminal(end[None])[0]:
            end = task.play(end, _solver_line(task, end))
        value = game_value_targets(
            float(task.outcome(end[None])[0]), int(task.to_play(end[None])[0]), task.to_play(positions)
        )
        value = value + np.float32(0.0)  # a draw's -0.0 as 0.0
    return {
        "tokens": task.encode(positions).astype(np.int64),
        "legal": task.legal_mask(positions).astype(np.bool_),
        "policy": policy,
        "value": value.astype(np.float32),
        "weight": np.ones(moves, dtype=np.float32),
    }


__all__ = [
    "DEFAULT_DIFFICULTY",
    "DemoError",
    "Demonstration",
    "demonstration_rows",
    "full_params",
    "generate_demonstrations",
    "generate_demonstrations_on_ray",
    "read_demonstrations",
    "solve_instances",
    "write_demonstrations",
]
