"""Countdown instances: numbers and a target; the Game of 24 is Countdown with target 24.

Instance line: integers separated by spaces and/or commas, the numbers first and
the target last::

    25 50 75 100 3 6 952
    4,7,8,8,24

In a ``.jsonl`` file (or on a text line starting with ``{``), one JSON object per
line, either ``{"numbers": [25, 50, 75, 100, 3, 6], "target": 952}`` (``nums``
may stand for ``numbers``) or the common ``{"input": "25,50,75,100,3,6",
"output": "952"}`` (``input`` a string of integers separated by commas or spaces,
or a list; ``output`` the target, a string or an integer).

From 2 numbers up to the task's ``max_numbers``, in the order given (a move's
result takes the lower of its two slots, see `actors.tasks.countdown`). Errors: an
item that is not an integer (``3.5``, ``x``), or fewer than 2 numbers, are
malformed (`InstanceError`); more numbers than ``max_numbers``, or a number or
target outside ``1 .. MAX_VALUE`` (9999; values are positive integers) are
`UnsupportedInstance`. A target that cannot be reached is accepted (solving
reports it). The rule is the model's task's (``rule`` of `actors.tasks.countdown`):
under ``any_number`` a target among the numbers is already solved (the answer has
no moves); under ``all_numbers`` every number must still be used.

Instance text (`render`): the instance's initial numbers and target, space
separated, as above (whatever moves the state has made). Answer (`answer`): one
arithmetic expression combining the numbers as the moves did, with ASCII
operators ``+ - * /``, parentheses only where precedence needs them (``*`` and
``/`` bind tighter than ``+`` and ``-``; operators of equal precedence group from
the left), and ``= value`` at the end, which is the target for a correct answer::

    ((100 + 6) * 3 * 75 - 50) / 25 = 952

(a value that is not an integer is written ``n/d``). An answer with no moves is
``952 = 952`` when a number already equals the target, ``(no moves)`` otherwise.
`compare`: nothing is known from a line (``{}``).
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np

from actors.tasks.countdown import ADD, DIV, MAX_VALUE, MIN_NUMBERS, MUL, NUM_OPS, SUB, Countdown
from actors.tasks.formats.base import InstanceError, ParsedInstance, UnsupportedInstance, json_int, parse_int

DESCRIPTION = (
    "the numbers then the target, integers separated by spaces or commas, e.g. 25 50 75 100 3 6 952 "
    '(.jsonl: {"numbers": [...], "target": t} or {"input": "a,b,c", "output": "t"})'
)
ASCII_OPS = {ADD: "+", SUB: "-", MUL: "*", DIV: "/"}
_PRECEDENCE = {ADD: 1, SUB: 1, MUL: 2, DIV: 2}
_ITEMS = re.compile(r"[\s,]+")

Expression = str | tuple  # a leaf's text, or (op, left, right)


def _integers(text: str) -> list[int]:
    items = [item for item in _ITEMS.split(text.strip()) if item]
    return [parse_int(item, f"item {position} ({item!r})") for position, item in enumerate(items, 1)]


def _instance(task: Countdown, numbers: list[int], target: int) -> ParsedInstance:
    """The initial state of ``numbers`` and ``target``, after checking they fit the task."""
    if len(numbers) < MIN_NUMBERS:
        raise InstanceError(f"need at least {MIN_NUMBERS} numbers and a target, got {len(numbers)} number(s)")
    if len(numbers) > task.max_numbers:
        raise UnsupportedInstance(
            f"{len(numbers)} numbers; this model's Countdown takes at most {task.max_numbers} (max_numbers)"
        )
    for what, value in [*(("number", n) for n in numbers), ("target", target)]:
        if not 1 <= value <= MAX_VALUE:
            raise UnsupportedInstance(f"{what} {value} is outside 1..{MAX_VALUE}, the values Countdown can hold")
    return ParsedInstance(task.make_state(numbers, target), {})


def parse(task: Countdown, text: str) -> ParsedInstance:
    """One text line of integers, the target last -> the instance."""
    values = _integers(text)
    if not values:
        raise InstanceError("expected integers: the numbers, then the target")
    return _instance(task, values[:-1], values[-1])


def parse_json(task: Countdown, obj: Any) -> ParsedInstance:
    """A JSON object with ``numbers`` (or ``nums``) and ``target``, or ``input`` and ``output`` -> the instance."""
    if not isinstance(obj, dict):
        raise InstanceError(f"expected a JSON object with numbers and target, got {type(obj).__name__}")
    key = next((k for k in ("numbers", "nums", "input") if k in obj), None)
    target_key = "output" if key == "input" else "target"
    if key is None or target_key not in obj:
        raise InstanceError('expected the keys "numbers" (or "nums") and "target", or "input" and "output"')
    raw_numbers, raw_target = obj[key], obj[target_key]
    if isinstance(raw_numbers, str):
        numbers = _integers(raw_numbers)
    elif isinstance(raw_numbers, list):
        numbers = [json_int(n, f"{key}[{i}]") for i, n in enumerate(raw_numbers)]
    else:
        raise InstanceError(f"{key} must be a list of integers or a string of them, got {raw_numbers!r}")
    if isinstance(raw_target, str):
        target = parse_int(raw_target.strip(), target_key)
    else:
        target = json_int(raw_target, target_key)
    return _instance(task, numbers, target)


def render(task: Countdown, state: np.ndarray) -> str:
    """The instance's initial numbers and its target, space separated."""
    numbers = [int(x) for x in state[task.initial_slice] if x > 0]
    return " ".join(str(x) for x in [*numbers, int(state[task.target_at])])


def _value_text(num: int, den: int) -> str:
    return str(num) if den == 1 else f"{num}/{den}"


def _operand(node: Expression, parent: int, right: bool) -> str:
    """The text of ``node`` as an operand of ``parent``, parenthesised when precedence needs it."""
    text = expression_text(node)
    if isinstance(node, str):
        return text
    child = node[0]
    lower = _PRECEDENCE[child] < _PRECEDENCE[parent]
    regroups = right and _PRECEDENCE[child] == _PRECEDENCE[parent] and parent in (SUB, DIV)
    return f"({text})" if lower or regroups else text


def expression_text(node: Expression) -> str:
    """An expression tree (leaf texts and ``(op, left, right)`` tuples) with ASCII operators and minimal parentheses."""
    if isinstance(node, str):
        return node
    op, left, right = node
    return f"{_operand(left, op, False)} {ASCII_OPS[op]} {_operand(right, op, True)}"


def answer(task: Countdown, state: np.ndarray, actions: list[int]) -> str:
    """The moves as one expression ending in ``= value`` (the target, for a correct answer).

    Raises `IllegalActionError` (a ValueError) if a move is illegal where it is played.
    """
    k = task.max_numbers
    count = int((state[task.den_slice] > 0).sum())
    slots: list[Expression] = []
    for num, den in zip(state[:count], state[k : k + count], strict=True):
        text = _value_text(int(num), int(den))
        slots.append(text if den == 1 else f"({text})")
    current, last = state, None
    for action in actions:
        current = task.step(current[None], np.array([int(action)], dtype=np.int64))[0]  # checks the move first
        i, j = (int(x) for x in task.pairs[int(action) // NUM_OPS])
        low, high = min(i, j), max(i, j)
        slots[low] = (int(action) % NUM_OPS, slots[i], slots[j])
        del slots[high]
        last = low
    if last is None:
        target = int(state[task.target_at])
        if task.outcome(state[None])[0] == 1.0:
            return f"{target} = {target}"
        return "(no moves)"
    value = _value_text(int(current[last]), int(current[k + last]))
    return f"{expression_text(slots[last])} = {value}"


def compare(task: Countdown, state: np.ndarray, actions: list[int], known: dict[str, Any]) -> dict[str, Any]:
    """Nothing is known from a Countdown line: always ``{}``."""
    return {}
