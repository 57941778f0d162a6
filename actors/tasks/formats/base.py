"""What every kind's text format shares: the two error types, the parsed instance, small parsing helpers.

A kind module (`formats/sudoku.py`, ...) provides:

- ``DESCRIPTION``: one line describing its instance format (for ``--help`` and errors);
- ``parse(task, text) -> ParsedInstance``: one stripped, non-empty line -> the instance;
- ``render(task, state) -> str``: the one-line text of a state, which ``parse`` reads back;
- ``answer(task, state, actions) -> str``: an answer (as ``Task.solve`` returns it) in the family's text;
- ``compare(task, state, actions, known) -> dict``: what the line's known facts say about an answer;
- optionally ``parse_json(task, obj) -> ParsedInstance``: the kind's JSON object form (``.jsonl`` files).

``parse`` raises `InstanceError` for a line that is not a well-formed instance of the kind
and `UnsupportedInstance` for a well-formed one the task's shape parameters cannot hold;
every other problem (a bug) propagates.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import numpy as np

_INTEGER = re.compile(r"[+-]?\d+")


class InstanceError(ValueError):
    """A line that is not a well-formed instance of the kind; str() is the reason, one line, e.g.
    "expected 16, 36 or 81 digits (0 or . for a blank), got 15 characters"."""


class UnsupportedInstance(ValueError):
    """A well-formed instance that the task (with its shape parameters, i.e. what the network was trained on)
    cannot hold; str() is the reason, e.g. "a 9x9 Sudoku; this model was trained on 4x4" or
    "7 numbers; this model's Countdown takes at most 4 (max_numbers)"."""


@dataclass(frozen=True, eq=False)
class ParsedInstance:
    """One instance read from a line.

    Attributes:
        state: the task's initial state vector ``[S]``, as ``task.generate`` would make it.
        known: what the line also gave, e.g. ``{"solution": np.ndarray}`` for Sudoku or
            ``{"score": int}`` for Connect Four; ``{}`` when nothing.
    """

    state: np.ndarray
    known: dict[str, Any] = field(default_factory=dict)


def parse_int(text: str, what: str) -> int:
    """``text`` (optionally signed decimal digits) as an int; InstanceError naming ``what`` otherwise."""
    if not _INTEGER.fullmatch(text):
        raise InstanceError(f"{what} must be an integer, got {text!r}")
    return int(text)


def json_int(value: Any, what: str) -> int:
    """A JSON value that must be an integer (not a bool, not a float); InstanceError naming ``what`` otherwise."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise InstanceError(f"{what} must be an integer, got {value!r}")
    return value


def moves_text(task_name: str, actions: list[int], letters: str = "UDLR") -> str:
    """Actions ``0 .. len(letters) - 1`` as their letters and their count, ``[1, 1, 3]`` -> ``"DDR (3 moves)"``
    (an empty answer is ``"- (0 moves)"``); ValueError naming ``task_name`` for an action out of range."""
    if any(not 0 <= int(a) < len(letters) for a in actions):
        raise ValueError(f"{task_name}: actions are 0..{len(letters) - 1}, got {list(actions)}")
    text, count = "".join(letters[int(a)] for a in actions), len(actions)
    return f"{text or '-'} ({count} move{'' if count == 1 else 's'})"


def length_comparison(actions: list[int], known: dict[str, Any]) -> dict[str, Any]:
    """For kinds whose line may give the optimal length: the answer's length against it."""
    if "optimal_length" not in known:
        return {}
    optimal = int(known["optimal_length"])
    return {"optimal_length": optimal, "length": len(actions), "is_optimal": len(actions) == optimal}
