"""List DSL: program synthesis from input/output examples, in the spirit of DeepCoder.

An instance is ``E`` examples of a hidden program: an input list of integers
and the program's output on it (a list, or an integer when the program ends in
a reduction). An action appends one DSL operation to the program being built;
it is applied at once to the *current* value of every example (the inputs at
the start), so the state always holds the intermediate values and a step
applies exactly one operation. Programs are straight-line pipelines of
list -> list operations, optionally ended by one list -> int reduction.

Operations, which are also the actions ``0 .. A-1`` (A = 27):

    0-6    map(+1) map(-1) map(*2) map(/2) map(*3) map(neg) map(^2)    (/2 floors)
    7-10   filter(>0) filter(<0) filter(even) filter(odd)
    11-12  sort reverse
    13-18  take(1) take(2) take(3) drop(1) drop(2) drop(3)
    19-20  scanl1(+) scanl1(max)                                        (running sum / maximum)
    21-26  sum max min count head last                                 (reductions: they end the program)

An operation is legal when it is defined and keeps every value in ``[-B, B]``
(B = ``value_bound``) on every example; max, min, head and last are undefined
on an empty list. A list operation that changes no example is illegal too: a
no-op never belongs to a shortest program, and banning it narrows search.
``count`` is always legal, so a live state always has a move. Our own
interpreter (`apply_op`, vectorized; `run_op`, its plain-Python reference) is
the only thing that ever runs a program: there is no eval.

An episode is terminal as soon as the current values equal the outputs on
every example (success, outcome 1.0), after a reduction, or after
``P = max_program_length`` operations (failure, outcome 0.0).

State ``[S]`` int64, with E = num_examples, M = max_list_length; every list is
M values (zero past its length, so equal lists are equal rows) and a length,
and an integer value is stored as a length-1 list with the block's flag set:

    INPUTS    E*M values, E lengths
    OUTPUTS   E*M values, E lengths, 1 flag (1: the outputs are integers)
    CURRENT   E*M values, E lengths, 1 flag (1: the current values are integers)
    PROGRAM   P ops (op + 1; 0 unused), 1 step count

S = 3*E*(M+1) + P + 3 (142 at the defaults).

Tokens ``[L]``, L = 1 + 2*E*M (81 at the defaults): the number of ops left,
then for each example its current value and its output, each in M slots. A
list is its value tokens then padding (its length is where the padding
starts); an integer is its value token then INT_END. The inputs and the ops
already applied are not encoded: the rest of an episode depends only on the
current values, the outputs and the ops left. Vocabulary: 0 PAD, 1 INT_END,
``2 + v + B`` for a value v in [-B, B], ``3 + 2B + k`` for k ops left;
V = 4 + 2B + P (136 at the defaults). Compactness matters: a position costs
the network about in proportion to L, so fewer and shorter examples
(`num_examples`, `max_list_length`) make the kind cheap enough to train beside
the others (configs/local.yaml: 3 examples of up to 5 values, L = 31).

Generation draws E input lists of M/2 .. M values in ``[-input_range,
input_range]`` and a random program of legal ops (so no step is a no-op or
leaves the range), the last one a reduction about half the time; our
interpreter computes the outputs. Difficulty d in [0, 1] sets the program's
length ``k = 1 + floor(d * (P - 1) + 1/2)`` (1, 3, 4 ops at d = 0, 0.5, 1 with
P = 4); an instance is redrawn until its outputs vary across examples and a
breadth-first search finds no program shorter than k, so its shortest solution
has exactly k ops. `effort` is that shortest solution length.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from actors.tasks.base import IllegalActionError, Task, TaskSpec, check_difficulty

PAD, INT_END, VALUE_BASE = 0, 1, 2
TAKE_DROP = (1, 2, 3)
MAX_GENERATION_ATTEMPTS = 10_000

ListFn = Callable[[np.ndarray, np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]
ReduceFn = Callable[[np.ndarray, np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]


# ----- the vectorized interpreter -------------------------------------------------
# Lists are ``vals [..., M]`` with ``lens [...]`` and ``valid = arange(M) < lens[..., None]``
# (computed once per batch); values past a length are always zero, so equal lists are equal rows.


def _valid(vals: np.ndarray, lens: np.ndarray) -> np.ndarray:
    """``bool [..., M]``: which slots hold a list element."""
    return np.arange(vals.shape[-1]) < lens[..., None]


def _clear_tail(vals: np.ndarray, lens: np.ndarray) -> np.ndarray:
    """``vals`` with the slots past ``lens`` zeroed (the canonical form), in ``vals``' dtype."""
    return np.where(_valid(vals, lens), vals, 0).astype(vals.dtype, copy=False)


def _map(fn: Callable[[np.ndarray], np.ndarray]) -> ListFn:
    if fn(np.zeros(1, dtype=np.int64))[0] == 0:
        return lambda vals, lens, valid: (fn(vals).astype(vals.dtype, copy=False), lens)  # the zero tail stays zero
    return lambda vals, lens, valid: (np.where(valid, fn(vals), 0).astype(vals.dtype, copy=False), lens)


def _filter(pred: Callable[[np.ndarray], np.ndarray]) -> ListFn:
    def op(vals: np.ndarray, lens: np.ndarray, valid: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        keep = valid & pred(vals)
        # Scatter each kept element to its rank among the kept ones of its list (faster than a stable argsort).
        m = vals.shape[-1]
        rank = np.cumsum(keep, axis=-1) - 1
        flat = np.arange(vals.size // m).reshape(vals.shape[:-1] + (1,)) * m + rank
        out = np.zeros_like(vals)
        out.reshape(-1)[flat[keep]] = vals[keep]
        return out, keep.sum(axis=-1)

    return op


def _sort(vals: np.ndarray, lens: np.ndarray, valid: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    # Padding becomes the largest value so it sorts to the tail.
    big = np.iinfo(vals.dtype).max
    return np.where(valid, np.sort(np.where(valid, vals, big), axis=-1), 0).astype(vals.dtype, copy=False), lens


def _reverse(vals: np.ndarray, lens: np.ndarray, valid: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    index = np.maximum(lens[..., None] - 1 - np.arange(vals.shape[-1]), 0)
    return np.where(valid, np.take_along_axis(vals, index, axis=-1), 0).astype(vals.dtype, copy=False), lens


def _take(k: int) -> ListFn:
    def op(vals: np.ndarray, lens: np.ndarray, valid: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        out = vals.copy()
        out[..., k:] = 0
        return out, np.minimum(lens, k)

    return op


def _drop(k: int) -> ListFn:
    def op(vals: np.ndarray, lens: np.ndarray, valid: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        # Shifting left keeps the zero tail zero.
        out = np.zeros_like(vals)
        out[..., : vals.shape[-1] - k] = vals[..., k:]
        return out, np.maximum(lens - k, 0)

    return op


def _scan_sum(vals: np.ndarray, lens: np.ndarray, valid: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    # The tail is zero, so it does not disturb the running sum of the prefix.
    return np.where(valid, np.cumsum(vals, axis=-1), 0).astype(vals.dtype, copy=False), lens


def _scan_max(vals: np.ndarray, lens: np.ndarray, valid: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return np.where(valid, np.maximum.accumulate(vals, axis=-1), 0).astype(vals.dtype, copy=False), lens


def _always(lens: np.ndarray) -> np.ndarray:
    return np.ones(lens.shape, dtype=bool)


def _reduce_sum(vals: np.ndarray, lens: np.ndarray, valid: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return vals.sum(axis=-1), _always(lens)


def _reduce_max(vals: np.ndarray, lens: np.ndarray, valid: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return np.where(valid, vals, np.iinfo(vals.dtype).min).max(axis=-1), lens > 0


def _reduce_min(vals: np.ndarray, lens: np.ndarray, valid: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return np.where(valid, vals, np.iinfo(vals.dtype).max).min(axis=-1), lens > 0


def _reduce_count(vals: np.ndarray, lens: np.ndarray, valid: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return lens.copy(), _always(lens)


def _reduce_head(vals: np.ndarray, lens: np.ndarray, valid: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return vals[..., 0].copy(), lens > 0


def _reduce_last(vals: np.ndarray, lens: np.ndarray, valid: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    last = np.take_along_axis(vals, np.maximum(lens - 1, 0)[..., None], axis=-1)[..., 0]
    return last, lens > 0


# ----- the plain-Python reference interpreter -------------------------------------


def _ref_scan(xs: list[int], fn: Callable[[int, int], int]) -> list[int]:
    out: list[int] = []
    for x in xs:
        out.append(fn(out[-1], x) if out else x)
    return out


@dataclass(frozen=True)
class Op:
    """One DSL operation: its name, its vectorized form and its plain-Python reference.

    A list op has ``list_fn`` ``(vals [..., M], lens [...], valid [..., M]) -> (vals, lens)``;
    a reduction has ``reduce_fn`` ``(vals, lens, valid) -> (value [...], defined [...])``.
    ``ref`` maps a Python list to a list or an int, or None where undefined.
    ``grows``: the op can leave the value range (the others never can, given
    inputs in range and a symmetric range), so only these are range-checked.
    ``shrinks``: a list op that only removes elements, so it changed a list
    exactly when it changed its length.
    """

    name: str
    ref: Callable[[list[int]], list[int] | int | None]
    list_fn: ListFn | None = None
    reduce_fn: ReduceFn | None = None
    grows: bool = False
    shrinks: bool = False

    @property
    def is_reduction(self) -> bool:
        return self.reduce_fn is not None


OPS: tuple[Op, ...] = (
    Op("map(+1)", lambda xs: [x + 1 for x in xs], _map(lambda v: v + 1), grows=True),
    Op("map(-1)", lambda xs: [x - 1 for x in xs], _map(lambda v: v - 1), grows=True),
    Op("map(*2)", lambda xs: [x * 2 for x in xs], _map(lambda v: v * 2), grows=True),
    Op("map(/2)", lambda xs: [x // 2 for x in xs], _map(lambda v: v // 2)),
    Op("map(*3)", lambda xs: [x * 3 for x in xs], _map(lambda v: v * 3), grows=True),
    Op("map(neg)", lambda xs: [-x for x in xs], _map(lambda v: -v)),
    Op("map(^2)", lambda xs: [x * x for x in xs], _map(lambda v: v * v), grows=True),
    Op("filter(>0)", lambda xs: [x for x in xs if x > 0], _filter(lambda v: v > 0), shrinks=True),
    Op("filter(<0)", lambda xs: [x for x in xs if x < 0], _filter(lambda v: v < 0), shrinks=True),
    Op("filter(even)", lambda xs: [x for x in xs if x % 2 == 0], _filter(lambda v: v % 2 == 0), shrinks=True),
    Op("filter(odd)", lambda xs: [x for x in xs if x % 2 == 1], _filter(lambda v: v % 2 == 1), shrinks=True),
    Op("sort", sorted, _sort),
    Op("reverse", lambda xs: xs[::-1], _reverse),
    *(Op(f"take({k})", lambda xs, k=k: xs[:k], _take(k), shrinks=True) for k in TAKE_DROP),
    *(Op(f"drop({k})", lambda xs, k=k: xs[k:], _drop(k), shrinks=True) for k in TAKE_DROP),
    Op("scanl1(+)", lambda xs: _ref_scan(xs, lambda a, b: a + b), _scan_sum, grows=True),
    Op("scanl1(max)", lambda xs: _ref_scan(xs, max), _scan_max),
    Op("sum", sum, reduce_fn=_reduce_sum, grows=True),
    Op("max", lambda xs: max(xs) if xs else None, reduce_fn=_reduce_max),
    Op("min", lambda xs: min(xs) if xs else None, reduce_fn=_reduce_min),
    Op("count", len, reduce_fn=_reduce_count),
    Op("head", lambda xs: xs[0] if xs else None, reduce_fn=_reduce_head),
    Op("last", lambda xs: xs[-1] if xs else None, reduce_fn=_reduce_last),
)
NUM_OPS = len(OPS)
REDUCTIONS = np.array([op.is_reduction for op in OPS])


def _within(values: np.ndarray, bound: int) -> np.ndarray:
    """``[N, ...]`` -> ``bool [N]``: every value of a row is in ``[-bound, bound]``."""
    flat = values.reshape(len(values), -1)
    return (flat.max(axis=1) <= bound) & (flat.min(axis=1) >= -bound)


def apply_op(
    op: int, vals: np.ndarray, lens: np.ndarray, bound: int, valid: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Apply op ``op`` to every example of a batch of current values.

    ``vals [N, E, M]`` (zero past each length, values in ``[-bound, bound]``),
    ``lens [N, E]``, optionally their ``valid [N, E, M]`` mask ->
    ``(new_vals [N, E, M], new_lens [N, E], ok [N], changed [N])``. A reduction's
    result is a length-1 list. ``ok``: defined and within ``[-bound, bound]`` on
    every example; ``changed``: some example's value changed (always True for a
    reduction, whose result has another type).
    """
    spec = OPS[op]
    n = len(vals)
    if valid is None:
        valid = _valid(vals, lens)
    if spec.reduce_fn is not None:
        value, defined = spec.reduce_fn(vals, lens, valid)
        ok = defined.all(axis=-1)
        if spec.grows:
            ok &= _within(value, bound)
        new_vals = np.zeros_like(vals)
        new_vals[..., 0] = value
        return new_vals, np.ones_like(lens), ok, np.ones(n, dtype=bool)
    assert spec.list_fn is not None
    new_vals, new_lens = spec.list_fn(vals, lens, valid)
    ok = _within(new_vals, bound) if spec.grows else np.ones(n, dtype=bool)
    if spec.shrinks:
        changed = (new_lens != lens).any(axis=1)
    else:
        changed = (new_vals.reshape(n, -1) != vals.reshape(n, -1)).any(axis=1)
    return new_vals, new_lens, ok, changed


def run_op(op: int, value: list[int] | int, bound: int) -> list[int] | int | None:
    """The plain-Python reference for one op on one value: the result, or None if undefined or out of range."""
    if isinstance(value, int):
        return None  # nothing applies to an integer: a reduction ends the program
    result = OPS[op].ref(list(value))
    if result is None:
        return None
    values = [result] if isinstance(result, int) else result
    return result if all(abs(v) <= bound for v in values) else None


def program_text(ops: list[int]) -> str:
    """``[11, 2, 14]`` -> ``"sort | map(*2) | take(2)"``."""
    return " | ".join(OPS[op].name for op in ops) if ops else "(empty)"


class ListDSL(Task):
    family = "code"
    kind = "dsl"

    def __init__(
        self,
        max_program_length: int = 4,
        num_examples: int = 5,
        max_list_length: int = 8,
        input_range: int = 16,
        value_bound: int = 64,
    ) -> None:
        if max_program_length < 1 or num_examples < 1:
            raise ValueError("max_program_length and num_examples must be at least 1")
        if max_list_length <= max(TAKE_DROP):
            raise ValueError(f"max_list_length must exceed {max(TAKE_DROP)} so take/drop can matter")
        if not 1 <= input_range <= value_bound <= 127 or value_bound * max_list_length >= 2**15:
            # The solver's int16 nodes must hold squares and running sums of in-range values before range checks.
            raise ValueError("need 1 <= input_range <= value_bound <= 127 and value_bound * max_list_length < 2**15")
        if value_bound < max_list_length:
            raise ValueError("value_bound must be at least max_list_length so count is always legal")
        self.P, self.E, self.M = max_program_length, num_examples, max_list_length
        self.input_range, self.bound = input_range, value_bound
        block = self.E * self.M
        self.IN_VALS = 0
        self.OUT_VALS = block + self.E
        self.CUR_VALS = self.OUT_VALS + block + self.E + 1
        self.PROGRAM = self.CUR_VALS + block + self.E + 1
        self.STEPS = self.PROGRAM + self.P
        self.ops_left_base = VALUE_BASE + 2 * value_bound + 1
        self.spec = TaskSpec(
            family=self.family,
            kind=self.kind,
            obs_length=1 + 2 * self.E * self.M,
            vocab_size=self.ops_left_base + self.P + 1,
            num_actions=NUM_OPS,
            num_players=1,
            state_size=self.STEPS + 1,
            max_steps=self.P,
            actions_per_token=0,
        )

    # ----- state access ---------------------------------------------------------

    def _block(self, states: np.ndarray, start: int) -> tuple[np.ndarray, np.ndarray]:
        """The lists at ``start``: ``vals [N, E, M]``, ``lens [N, E]`` (views)."""
        block = self.E * self.M
        vals = states[:, start : start + block].reshape(len(states), self.E, self.M)
        return vals, states[:, start + block : start + block + self.E]

    def _flag(self, start: int) -> int:
        """Index of the integer flag of the block at ``start`` (outputs or current)."""
        return start + self.E * self.M + self.E

    def _solved(self, states: np.ndarray) -> np.ndarray:
        """``bool [N]``: the current block (values, lengths, flag) equals the outputs block."""
        width = self.E * self.M + self.E + 1
        out = states[:, self.OUT_VALS : self.OUT_VALS + width]
        cur = states[:, self.CUR_VALS : self.CUR_VALS + width]
        return (out == cur).all(axis=1)

    def _make_state(
        self, in_vals: np.ndarray, in_lens: np.ndarray, out_vals: np.ndarray, out_lens: np.ndarray, out_int: bool
    ) -> np.ndarray:
        """An initial state ``[S]`` from ``[E, M]`` values and ``[E]`` lengths of inputs and outputs."""
        block = self.E * self.M
        state = np.zeros(self.spec.state_size, dtype=np.int64)
        for start, vals, lens in ((self.IN_VALS, in_vals, in_lens), (self.CUR_VALS, in_vals, in_lens)):
            state[start : start + block] = vals.reshape(-1)
            state[start + block : start + block + self.E] = lens
        state[self.OUT_VALS : self.OUT_VALS + block] = out_vals.reshape(-1)
        state[self.OUT_VALS + block : self.OUT_VALS + block + self.E] = out_lens
        state[self._flag(self.OUT_VALS)] = int(out_int)
        return state

    def from_examples(self, inputs: list[list[int]], outputs: list[list[int]] | list[int]) -> np.ndarray:
        """An initial state ``[S]`` from Python examples: E input lists and E outputs, all lists or all ints.

        Raises ValueError if a shape or value does not fit the task's parameters.
        """
        out_int = all(isinstance(o, (int, np.integer)) for o in outputs)
        lists = [list(x) for x in inputs] + [[int(o)] if out_int else list(o) for o in outputs]
        if len(inputs) != self.E or len(outputs) != self.E:
            raise ValueError(f"{self.name}: need {self.E} inputs and {self.E} outputs")
        if any(len(x) > self.M for x in lists) or any(abs(int(v)) > self.bound for x in lists for v in x):
            raise ValueError(f"{self.name}: lists hold at most {self.M} values in [-{self.bound}, {self.bound}]")
        vals = np.zeros((2 * self.E, self.M), dtype=np.int64)
        for row, x in enumerate(lists):
            vals[row, : len(x)] = x
        lens = np.array([len(x) for x in lists], dtype=np.int64)
        return self._make_state(vals[: self.E], lens[: self.E], vals[self.E :], lens[self.E :], out_int)

    # ----- instances --------------------------------------------------------------

    def generate(self, seed: int, difficulty: float) -> np.ndarray:
        d = check_difficulty(difficulty)
        rng = np.random.default_rng([seed, 0xD51])
        length = 1 + int(np.floor(d * (self.P - 1) + 0.5))
        for _ in range(MAX_GENERATION_ATTEMPTS):
            state = self._random_instance(rng, length)
            # Our program solves it in `length` ops; keep it only if nothing shorter does.
            if state is not None and self._search(state, length - 1) is None:
                return state
        raise RuntimeError(f"{self.name}: no instance of program length {length} after {MAX_GENERATION_ATTEMPTS} tries")

    def _random_instance(self, rng: np.random.Generator, length: int) -> np.ndarray | None:
        """Random inputs and a random legal program of ``length`` ops; None if the outputs are uninformative."""
        lens = rng.integers(max(1, self.M // 2), self.M + 1, size=(1, self.E))
        vals = rng.integers(-self.input_range, self.input_range + 1, size=(1, self.E, self.M))
        vals = _clear_tail(vals, lens)
        in_vals, in_lens = vals[0], lens[0]
        out_int = False
        for i in range(length):
            legal = np.zeros(NUM_OPS, dtype=bool)
            results = {}
            for op in range(NUM_OPS):
                if OPS[op].is_reduction and i < length - 1:
                    continue  # a reduction ends the program
                new_vals, new_lens, ok, changed = apply_op(op, vals, lens, self.bound)
                legal[op] = ok[0] & changed[0]
                results[op] = (new_vals, new_lens)
            # End in a reduction about half the time, so both output types are common.
            reductions = np.flatnonzero(legal & REDUCTIONS)
            lists = np.flatnonzero(legal & ~REDUCTIONS)
            if i == length - 1 and len(reductions) and (not len(lists) or rng.random() < 0.5):
                op, out_int = int(rng.choice(reductions)), True
            elif len(lists):
                op = int(rng.choice(lists))
            else:
                return None
            vals, lens = results[op]
        if out_int:
            informative = len(np.unique(vals[0, :, 0])) > 1
        else:
            rows = np.concatenate([vals[0], lens[0][:, None]], axis=1)
            informative = len(np.unique(rows, axis=0)) > 1
        return self._make_state(in_vals, in_lens, vals[0], lens[0], out_int) if informative else None

    # ----- batched dynamics -------------------------------------------------------------

    def _transitions(self, states: np.ndarray) -> tuple[np.ndarray, list[tuple[np.ndarray, np.ndarray]]]:
        """``states [N, S]`` -> legal ``bool [N, A]`` and, per op, its ``(vals [N, E, M], lens [N, E])``."""
        # Contiguous copies: the ops below would otherwise each copy the strided views again.
        vals, lens = (np.ascontiguousarray(a) for a in self._block(states, self.CUR_VALS))
        legal = np.zeros((len(states), NUM_OPS), dtype=bool)
        results: list[tuple[np.ndarray, np.ndarray]] = []
        if len(states) == 0:
            return legal, [(vals, lens)] * NUM_OPS
        valid = _valid(vals, lens)
        for op in range(NUM_OPS):
            new_vals, new_lens, ok, changed = apply_op(op, vals, lens, self.bound, valid)
            legal[:, op] = ok & changed
            results.append((new_vals, new_lens))
        legal &= ~self.is_terminal(states)[:, None]
        return legal, results

    def legal_mask(self, states: np.ndarray) -> np.ndarray:
        return self._transitions(states)[0]

    def step(self, states: np.ndarray, actions: np.ndarray) -> np.ndarray:
        actions = np.asarray(actions)
        if actions.shape != (len(states),) or (actions.size and not np.issubdtype(actions.dtype, np.integer)):
            raise IllegalActionError(f"{self.name}: expected {len(states)} integer actions, got {actions!r}")
        actions = actions.astype(np.int64)
        in_range = (actions >= 0) & (actions < NUM_OPS)
        if not in_range.all():
            bad = int(np.flatnonzero(~in_range)[0])
            raise IllegalActionError(f"{self.name}: action {int(actions[bad])} out of range [0, {NUM_OPS})")
        # One pass over the ops gives both the legality check and every successor.
        legal, results = self._transitions(states)
        rows = np.arange(len(states))
        if not legal[rows, actions].all():
            bad = int(np.flatnonzero(~legal[rows, actions])[0])
            raise IllegalActionError(f"{self.name}: action {int(actions[bad])} is illegal in state {bad} of the batch")
        new_vals = np.zeros((len(states), self.E, self.M), dtype=np.int64)
        new_lens = np.zeros((len(states), self.E), dtype=np.int64)
        for op in np.unique(actions):
            chosen = actions == op
            new_vals[chosen] = results[op][0][chosen]
            new_lens[chosen] = results[op][1][chosen]
        nxt = states.copy()
        block = self.E * self.M
        nxt[:, self.CUR_VALS : self.CUR_VALS + block] = new_vals.reshape(len(states), block)
        nxt[:, self.CUR_VALS + block : self.CUR_VALS + block + self.E] = new_lens
        nxt[:, self._flag(self.CUR_VALS)] = REDUCTIONS[actions]
        nxt[rows, self.PROGRAM + nxt[:, self.STEPS]] = actions + 1
        nxt[:, self.STEPS] += 1
        return nxt

    def is_terminal(self, states: np.ndarray) -> np.ndarray:
        ended = (states[:, self._flag(self.CUR_VALS)] == 1) | (states[:, self.STEPS] >= self.P)
        return ended | self._solved(states)

    def outcome(self, states: np.ndarray) -> np.ndarray:
        return self._solved(states).astype(np.float32)

    def encode(self, states: np.ndarray) -> np.ndarray:
        n = len(states)
        slots = np.arange(self.M)
        segments = []
        for start in (self.CUR_VALS, self.OUT_VALS):
            vals, lens = self._block(states, start)
            tokens = np.where(slots < lens[..., None], vals + (VALUE_BASE + self.bound), PAD)  # [N, E, M]
            is_int = (states[:, self._flag(start)] == 1)[:, None]
            tokens[:, :, 1] = np.where(is_int, INT_END, tokens[:, :, 1])  # an integer is one value then INT_END
            segments.append(tokens)
        examples = np.stack(segments, axis=2).reshape(n, 2 * self.E * self.M)  # per example: current, output
        ops_left = self.ops_left_base + self.P - states[:, self.STEPS : self.STEPS + 1]
        return np.concatenate([ops_left, examples], axis=1).astype(np.int64)

    # ----- exact answers ------------------------------------------------------------------

    def _search(self, state: np.ndarray, max_depth: int) -> list[int] | None:
        """A shortest op sequence of at most ``max_depth`` ops that solves ``state [S]``; None if there is none.

        Breadth-first over the examples' current values, all nodes of a depth at
        once: each op is applied to the whole frontier with `apply_op`, and a
        depth's children are deduplicated (also against shallower nodes, which
        have shorter paths). Lists never grow, so a node with an example shorter
        than its list output is pruned; reductions are leaves, tried only when the
        outputs are integers.
        """
        states = state[None]
        if self._solved(states)[0]:
            return []
        if self.is_terminal(states)[0] or max_depth <= 0:
            return None
        target_vals, target_lens = (a[0].astype(np.int16) for a in self._block(states, self.OUT_VALS))
        target_int = bool(state[self._flag(self.OUT_VALS)])
        vals, lens = (a.astype(np.int16) for a in self._block(states, self.CUR_VALS))
        seen = {self._node_keys(vals, lens)[0]}
        levels: list[tuple[np.ndarray, np.ndarray]] = []  # per depth: parent index, op
        for depth in range(1, max_depth + 1):
            last = depth == max_depth
            children: list[tuple[np.ndarray, np.ndarray, np.ndarray, int]] = []
            valid = _valid(vals, lens)
            for op in range(NUM_OPS):
                if OPS[op].is_reduction != target_int and (OPS[op].is_reduction or last):
                    continue  # a reduction cannot give a list; a final list op cannot give an integer
                new_vals, new_lens, ok, changed = apply_op(op, vals, lens, self.bound, valid)
                good = ok & changed
                if OPS[op].is_reduction:
                    match = good & (new_vals[:, :, 0] == target_vals[:, 0]).all(axis=1)
                elif target_int:
                    match = np.zeros(len(good), dtype=bool)
                else:
                    match = good & (new_lens == target_lens).all(axis=1) & (new_vals == target_vals).all(axis=(1, 2))
                if match.any():
                    return self._path(levels, int(np.flatnonzero(match)[0])) + [op]
                if not last and not OPS[op].is_reduction:
                    keep = good if target_int else good & (new_lens >= target_lens).all(axis=1)
                    parents = np.flatnonzero(keep)
                    children.append((new_vals[parents], new_lens[parents], parents, op))
            if last or not children:
                return None
            vals = np.concatenate([c[0] for c in children])
            lens = np.concatenate([c[1] for c in children])
            parents = np.concatenate([c[2] for c in children])
            ops = np.concatenate([np.full(len(c[2]), c[3]) for c in children])
            keys = self._node_keys(vals, lens)
            _, first = np.unique(keys, return_index=True)
            fresh = np.array([i for i in np.sort(first) if keys[i] not in seen], dtype=np.int64)
            if not len(fresh):
                return None
            seen.update(keys[fresh])
            vals, lens = vals[fresh], lens[fresh]
            levels.append((parents[fresh], ops[fresh]))
        return None

    def _node_keys(self, vals: np.ndarray, lens: np.ndarray) -> np.ndarray:
        """One hashable bytes key per search node: ``vals [F, E, M]``, ``lens [F, E]`` -> ``[F]``."""
        rows = np.ascontiguousarray(np.concatenate([vals.reshape(len(vals), -1), lens], axis=1), dtype=np.int16)
        return rows.view(np.dtype((np.bytes_, rows.shape[1] * 2)))[:, 0]

    @staticmethod
    def _path(levels: list[tuple[np.ndarray, np.ndarray]], index: int) -> list[int]:
        """The ops leading to node ``index`` of the deepest stored level."""
        ops = []
        for parents, level_ops in reversed(levels):
            ops.append(int(level_ops[index]))
            index = int(parents[index])
        return ops[::-1]

    def solve(self, state: np.ndarray) -> list[int]:
        """A shortest op sequence from ``state`` that makes every example's value its output."""
        remaining = self.P - int(state[self.STEPS])
        answer = self._search(state, remaining)
        if answer is None:
            raise ValueError(f"{self.name}: no program of at most {remaining} more ops solves this state")
        return answer

    def verify(self, state: np.ndarray, answer: list[int]) -> bool:
        try:
            actions = list(answer)
            if not all(isinstance(a, (int, np.integer)) and not isinstance(a, bool) for a in actions):
                return False
            final = self.play(np.asarray(state, dtype=np.int64), [int(a) for a in actions])
            return bool(self._solved(final[None])[0])
        except (ValueError, TypeError, IndexError):
            return False

    def effort(self, state: np.ndarray) -> float:
        """The length of a shortest solution (the generated program length, by construction)."""
        return float(len(self.solve(state)))

    # ----- text ---------------------------------------------------------------------------

    def _value(self, state: np.ndarray, start: int, example: int) -> list[int] | int:
        """Example ``example``'s value in the block at ``start``, as a Python list or int."""
        vals, lens = self._block(state[None], start)
        items = [int(v) for v in vals[0, example, : lens[0, example]]]
        is_int = start != self.IN_VALS and state[self._flag(start)] == 1  # inputs are always lists
        return items[0] if is_int else items

    def examples(self, state: np.ndarray) -> list[tuple[list[int], list[int] | int]]:
        """The ``(input, output)`` pairs of ``state [S]`` as Python values."""
        return [(self._value(state, self.IN_VALS, e), self._value(state, self.OUT_VALS, e)) for e in range(self.E)]

    def current(self, state: np.ndarray) -> list[list[int] | int]:
        """Each example's current value: the program so far applied to its input."""
        return [self._value(state, self.CUR_VALS, e) for e in range(self.E)]

    def program(self, state: np.ndarray) -> list[int]:
        """The ops applied so far."""
        return [int(op) - 1 for op in state[self.PROGRAM : self.STEPS] if op > 0]

    def render(self, state: np.ndarray) -> str:
        program = self.program(state)
        lines = [f"{self.name}: {len(program)} of {self.P} ops used"]
        for e in range(self.E):
            line = f"  {self._value(state, self.IN_VALS, e)} -> {self._value(state, self.OUT_VALS, e)}"
            if program:
                line += f"   (now {self._value(state, self.CUR_VALS, e)})"
            lines.append(line)
        lines.append(f"program: {program_text(program)}")
        return "\n".join(lines)

    def describe_action(self, state: np.ndarray, action: int) -> str:
        return OPS[int(action)].name
