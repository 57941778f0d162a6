"""Task instances in the plain text formats public benchmarks use: reading them, writing them and their answers.

One module per kind documents its format with examples (`sudoku`, `countdown`,
`connect4`, `tictactoe`, `sliding`, `maze`, `dsl`); this module dispatches on
``task.kind``. An instance file holds one instance per line; blank lines and
lines starting with ``#`` are skipped. Every kind also reads a line that is a
JSON string (its text line inside double quotes), and the kinds with a JSON
object form (Countdown, Sudoku, list programs) read a line starting with ``{`` as
one; for those kinds a ``.jsonl`` file must hold JSON on every line.

Parsing separates two kinds of bad line: `InstanceError`, a line that is not a
well-formed instance of the kind (the reason names what is wrong and where), and
`UnsupportedInstance`, a well-formed instance the task's shape parameters (what
the network was trained on) cannot hold. Only numpy and the task modules are
used: no torch, no Ray.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

from actors.tasks.base import Task
from actors.tasks.formats import connect4, countdown, dsl, maze, sliding, sudoku, tictactoe
from actors.tasks.formats.base import InstanceError, ParsedInstance, UnsupportedInstance

__all__ = [
    "FORMATS",
    "InstanceError",
    "LineResult",
    "ParsedInstance",
    "UnsupportedInstance",
    "compare_known",
    "detect_kinds",
    "format_answer",
    "parse_instance",
    "read_instances",
    "render_instance",
]

_MODULES: dict[str, ModuleType] = {
    "countdown": countdown,
    "dsl": dsl,
    "sudoku": sudoku,
    "maze": maze,
    "tictactoe": tictactoe,
    "connect4": connect4,
    "sliding": sliding,
}
FORMATS: dict[str, str] = {kind: module.DESCRIPTION for kind, module in _MODULES.items()}
_JSON_TYPES = {dict: "object", list: "array", str: "string", int: "number", float: "number", bool: "boolean"}
_JSON_TYPES[type(None)] = "null"
DETECT_LINES = 20  # instance lines `detect_kinds` looks at


def _module(task: Task) -> ModuleType:
    module = _MODULES.get(task.kind)
    if module is None:
        raise ValueError(f"no text format for task kind {task.kind!r} (formats exist for: {', '.join(_MODULES)})")
    return module


def _is_comment_or_blank(line: str) -> bool:
    return not line or line.startswith("#")


def _from_json(task: Task, value: Any) -> ParsedInstance:
    """A decoded JSON line: a string is the kind's text line, an object its JSON form (where it has one)."""
    module = _module(task)
    if isinstance(value, str):
        return module.parse(task, value.strip())
    if isinstance(value, dict) and hasattr(module, "parse_json"):
        return module.parse_json(task, value)
    forms = "a string of the text format" + (" or an object" if hasattr(module, "parse_json") else "")
    raise InstanceError(f"a JSON {_JSON_TYPES.get(type(value), 'value')}; a {task.kind} instance in JSON is {forms}")


def _decode_json(text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise InstanceError(f"not valid JSON: {exc.msg} at column {exc.colno}") from None


def parse_instance(task: Task, text: str) -> ParsedInstance:
    """One line (without its newline) of the kind of `task` -> the instance; raises InstanceError or
    UnsupportedInstance. Blank lines and lines starting with '#' are never passed in (the reader skips them).

    A line starting with ``"`` is read as a JSON string holding the text line, and one
    starting with ``{`` as the kind's JSON object form (Countdown, Sudoku and list
    programs; other kinds have none and say so).
    """
    module = _module(task)
    text = text.strip()
    if text.startswith(('"', "{")):
        return _from_json(task, _decode_json(text))
    return module.parse(task, text)


def render_instance(task: Task, state: np.ndarray) -> str:
    """The one-line text of an instance state in this kind's format (parse_instance(task, render_instance(task, s))
    gives back s for every state the generator makes, and for games every reachable non-terminal position)."""
    return _module(task).render(task, np.asarray(state))


def format_answer(task: Task, state: np.ndarray, actions: list[int]) -> str:
    """The answer (the actions played from `state`, as Task.solve returns them) in the family's text format, one line.

    ValueError (`IllegalActionError` for Countdown, whose text replays the moves) when an
    action is outside the kind's action space or, for Countdown, illegal where it is played.
    """
    return _module(task).answer(task, np.asarray(state), [int(a) for a in actions])


def compare_known(task: Task, state: np.ndarray, actions: list[int], known: dict[str, Any]) -> dict[str, Any]:
    """What `known` says about this answer, as JSON-ready fields, e.g. Sudoku {"matches_known": bool} (any valid
    solution counts as correct; say whether it equals the given one), sliding {"optimal_length": n} when given.
    {} when known is empty."""
    if not known:
        return {}
    return _module(task).compare(task, np.asarray(state), [int(a) for a in actions], known)


@dataclass(frozen=True, eq=False)
class LineResult:
    """One instance line of a file, parsed or not.

    Attributes:
        line: the 1-based line number in the file.
        text: the raw line, stripped.
        instance: the parsed instance, None when the line could not be used.
        error: the reason when the line could not be used, else None.
        unsupported: True when ``error`` is an `UnsupportedInstance` reason, False for a malformed line.
    """

    line: int
    text: str
    instance: ParsedInstance | None
    error: str | None
    unsupported: bool


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise InstanceError(f"cannot read {path}: {reason}") from None


def read_instances(path: str | Path, task: Task) -> list[LineResult]:
    """Every instance line of the file (blank lines and '#' comments skipped), in order. A file that cannot be read
    raises InstanceError naming the file. A .jsonl file is read as JSON lines where the kind has a JSON form.

    For a kind with a JSON object form, every line of a ``.jsonl`` file must be JSON: an
    object in that form or a string holding the text line; other files, and ``.jsonl``
    files of the other kinds, are read line by line with `parse_instance`. A bad line
    becomes a `LineResult` with its reason; reading goes on past it.
    """
    path = Path(path)
    jsonl = path.suffix.lower() == ".jsonl" and hasattr(_module(task), "parse_json")
    results = []
    for number, raw in enumerate(_read_text(path).splitlines(), 1):
        line = raw.strip()
        if _is_comment_or_blank(line):
            continue
        try:
            instance = _from_json(task, _decode_json(line)) if jsonl else parse_instance(task, line)
        except UnsupportedInstance as exc:
            results.append(LineResult(number, line, None, str(exc), True))
        except InstanceError as exc:
            results.append(LineResult(number, line, None, str(exc), False))
        else:
            results.append(LineResult(number, line, instance, None, False))
    return results


def _verdict(task: Task, lines: list[str]) -> int:
    """2 if every line parses for ``task``, 1 if every line is well-formed but some are unsupported, 0 otherwise."""
    verdict = 2
    for line in lines:
        try:
            parse_instance(task, line)
        except UnsupportedInstance:
            verdict = 1
        except InstanceError:
            return 0
    return verdict


def detect_kinds(lines: list[str], tasks: list[Task]) -> list[int]:
    """Indexes of `tasks` whose parser accepts every one of the first (up to 20) instance lines; used to recognise the
    kind of a file when --kind is not given.

    Blank and ``#`` lines among ``lines`` are skipped. When no task accepts them all, the
    tasks for which every line is a well-formed instance that some are too large for
    (`UnsupportedInstance`) are returned instead, so the caller can say why (e.g. 9x9
    Sudoku lines for a model trained on 4x4). ``[]`` when there are no instance lines, or
    no task's kind recognises them; tasks of kinds without a text format never match.
    """
    sample = [s for s in (line.strip() for line in lines) if not _is_comment_or_blank(s)][:DETECT_LINES]
    if not sample:
        return []
    verdicts = [_verdict(task, sample) if task.kind in _MODULES else 0 for task in tasks]
    best = max(verdicts, default=0)
    return [i for i, verdict in enumerate(verdicts) if best and verdict == best]
