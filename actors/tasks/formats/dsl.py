"""List-program synthesis instances: input/output examples on one line, as `ListDSL.render` lists them.

Instance line: the examples separated by ``;``, each ``INPUT -> OUTPUT`` where the
input is a list of integers in brackets and the output a list or a single integer
(all outputs of a line are lists, or all are integers)::

    [3, -1, 4] -> [6, -2, 8]; [0, 5] -> [0, 10]; [] -> []
    [1, 2, 3] -> 6; [5] -> 5; [-2, 2] -> 0

In a ``.jsonl`` file (or on a text line starting with ``{``), one JSON object per
line: ``{"examples": [{"input": [3, -1, 4], "output": [6, -2, 8]}, ...]}`` or
``{"inputs": [[3, -1, 4], ...], "outputs": [[6, -2, 8], ...]}``.

The task holds exactly ``num_examples`` examples (5 by default): a line with
fewer is padded by repeating its examples in order (a program fits the padded
examples exactly when it fits the given ones); more is `UnsupportedInstance`, as
is a list longer than ``max_list_length`` (8) or a value outside
``-value_bound .. value_bound`` (64). Errors (`InstanceError`): an example without
``->``, an input that is not a list of integers, an output that is neither,
outputs of both kinds. A line no program fits is accepted (solving reports it).

Instance text (`render`): the state's examples in the first form, ``; ``
between them, e.g. ``[3, -1, 4] -> [6, -2, 8]; [0, 5] -> [0, 10]``. Answer
(`answer`): the program as `program_text` writes it, the ops in order joined by
`` | ``, e.g. ``map(*2) | sort`` (``(empty)`` for no ops). `compare`: nothing is
known from a line (``{}``).
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np

from actors.tasks.formats.base import InstanceError, ParsedInstance, UnsupportedInstance
from actors.tasks.listdsl import NUM_OPS, ListDSL, program_text

DESCRIPTION = (
    "examples separated by ; each INPUT -> OUTPUT, lists of integers in brackets (an output may be one integer), "
    "e.g. [1, 2, 3] -> [2, 4, 6]; [0] -> [0]"
)

Value = list[int] | int


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _value(value: Any, what: str, allow_int: bool) -> Value:
    """A JSON-decoded value that must be a list of integers (or, for an output, an integer)."""
    if allow_int and _is_int(value):
        return value
    if isinstance(value, list) and all(_is_int(v) for v in value):
        return value
    expected = "a list of integers or an integer" if allow_int else "a list of integers"
    raise InstanceError(f"{what} must be {expected}, got {json.dumps(value)}")


def _decode(text: str, what: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        raise InstanceError(f"{what} is not a list of integers: {text.strip()!r}") from None


def _instance(task: ListDSL, inputs: list[Any], outputs: list[Any]) -> ParsedInstance:
    """The initial state of the examples ``inputs[i] -> outputs[i]``, after checking they fit the task."""
    pairs = []
    for number, (raw_in, raw_out) in enumerate(zip(inputs, outputs, strict=True), 1):
        inp = _value(raw_in, f"example {number}: the input", allow_int=False)
        pairs.append((inp, _value(raw_out, f"example {number}: the output", allow_int=True)))
    if not pairs:
        raise InstanceError("expected at least one example INPUT -> OUTPUT")
    if len({isinstance(out, int) for _, out in pairs}) > 1:
        raise InstanceError("the outputs must be all lists or all integers")
    if len(pairs) > task.E:
        raise UnsupportedInstance(f"{len(pairs)} examples; this model takes at most {task.E} (num_examples)")
    for number, (inp, out) in enumerate(pairs, 1):
        for value in (inp, [out] if isinstance(out, int) else out):
            if len(value) > task.M:
                raise UnsupportedInstance(
                    f"example {number}: a list of {len(value)} values; this model's lists hold at most {task.M} "
                    "(max_list_length)"
                )
            for v in value:
                if abs(v) > task.bound:
                    raise UnsupportedInstance(
                        f"example {number}: value {v} is outside -{task.bound}..{task.bound} (value_bound)"
                    )
    padded = [pairs[i % len(pairs)] for i in range(task.E)]
    return ParsedInstance(task.from_examples([p[0] for p in padded], [p[1] for p in padded]), {})


def parse(task: ListDSL, text: str) -> ParsedInstance:
    """One line of ``INPUT -> OUTPUT`` examples separated by ``;`` -> the initial state."""
    inputs, outputs = [], []
    pieces = [piece for piece in text.split(";") if piece.strip()]
    for number, piece in enumerate(pieces, 1):
        left, arrow, right = piece.partition("->")
        if not arrow:
            raise InstanceError(f"example {number}: expected INPUT -> OUTPUT, got {piece.strip()!r}")
        inputs.append(_decode(left, f"example {number}: the input"))
        outputs.append(_decode(right, f"example {number}: the output"))
    return _instance(task, inputs, outputs)


def parse_json(task: ListDSL, obj: Any) -> ParsedInstance:
    """``{"examples": [{"input", "output"}, ...]}`` or ``{"inputs": [...], "outputs": [...]}`` -> the initial state."""
    if isinstance(obj, dict) and isinstance(obj.get("examples"), list):
        examples = obj["examples"]
        if not all(isinstance(e, dict) and "input" in e and "output" in e for e in examples):
            raise InstanceError('each of "examples" must be an object with "input" and "output"')
        return _instance(task, [e["input"] for e in examples], [e["output"] for e in examples])
    if isinstance(obj, dict) and isinstance(obj.get("inputs"), list) and isinstance(obj.get("outputs"), list):
        if len(obj["inputs"]) != len(obj["outputs"]):
            raise InstanceError(f"{len(obj['inputs'])} inputs but {len(obj['outputs'])} outputs")
        return _instance(task, obj["inputs"], obj["outputs"])
    raise InstanceError('expected a JSON object with "examples", or "inputs" and "outputs"')


def render(task: ListDSL, state: np.ndarray) -> str:
    """The examples as ``INPUT -> OUTPUT`` joined by ``; ``."""
    return "; ".join(f"{json.dumps(inp)} -> {json.dumps(out)}" for inp, out in task.examples(state))


def answer(task: ListDSL, state: np.ndarray, actions: list[int]) -> str:
    """The program's text, e.g. ``map(*2) | sort``."""
    if any(not 0 <= int(a) < NUM_OPS for a in actions):
        raise ValueError(f"code/dsl: actions are ops 0..{NUM_OPS - 1}, got {list(actions)}")
    return program_text([int(a) for a in actions])


def compare(task: ListDSL, state: np.ndarray, actions: list[int], known: dict[str, Any]) -> dict[str, Any]:
    """Nothing is known from a list-program line: always ``{}``."""
    return {}
