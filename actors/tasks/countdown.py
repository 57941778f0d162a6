"""Countdown: reach a target integer from given numbers with + − × ÷, in exact rational arithmetic.

Rules. An instance is ``n`` positive integers and a positive integer target. A
move picks two of the remaining numbers and an operator and replaces the two by
the result, so ``n`` numbers allow at most ``n - 1`` moves. The episode ends in
success as soon as any remaining number equals the target (numbers need not all
be used), and in failure when one number is left or no move is legal.

Arithmetic is exact: every value is a reduced fraction ``num / den`` of int64s,
never a float, so ``1 ÷ 3 × 3`` is exactly 1 and ``5 × (5 − 1 ÷ 5)`` is exactly 24.
Values stay strictly positive: ``a − b`` is legal only when ``a > b``. That loses
no target: an expression reaching a positive target can be rewritten on absolute
values, and a zero intermediate only discards numbers, which is never needed.
So division by zero cannot arise (the mask would exclude it). A result whose
reduced numerator or denominator exceeds ``MAX_VALUE`` (9999) is illegal: that
keeps every product and sum the arithmetic forms below 2 * 10^8 (far from int64
overflow) and every value in two base-100 tokens. Generator and solver obey the same
bound, so generated instances are solvable under it.

Slots. Remaining numbers always fill slots ``0 .. count - 1`` in order: a move's
result takes the lower of its two slots, and the higher slot is removed with the
slots after it shifted down by one.

State ``[4K + 1]`` for ``K = max_numbers``:
    ``[0, K)``        numerators of the current numbers (0 in empty slots)
    ``[K, 2K)``       denominators (0 marks an empty slot)
    ``2K``            the target
    ``2K + 1``        moves made
    ``[2K+2, 3K+2)``  the instance's initial numbers, 0-padded (for `render`)
    ``[3K+2, 4K+1)``  the actions played so far, -1 where none yet

Actions ``[4 K (K - 1)]`` (120 at K = 6): ``a = 4 p + op`` where ``p`` indexes
the ordered slot pairs ``(i, j)``, ``i != j``, lexicographically (`Countdown.pairs`), and
``op`` is 0 ``+``, 1 ``−``, 2 ``×``, 3 ``÷``; the move computes ``slot_i op slot_j``.
``+`` and ``×`` commute, so only ``i < j`` is legal for them: each move has one action.

Tokens ``[2 + 4K]`` (26 at K = 6), vocabulary 102: values are written as two
base-100 digits (token ``2 + d`` for digit ``d``), 1 marks an empty slot, 0 is
padding. Layout: the target (high, low digit), then for each slot the
numerator (high, low) and denominator (high, low).

Difficulty ``d``: ``n = 3 + floor(d (K - 3) + u)`` numbers for a per-seed uniform
``u`` in [0, 1) (exactly 3 at d = 0 and K at d = 1, ``3 + d (K - 3)`` on average in
between; ``n = 2`` when K = 2), drawn without replacement from the Countdown pool (1..10 twice; 25, 50, 75, 100), and a
target in ``[1 + round(99 d), 100 + round(899 d)]`` (1..100 at d = 0, 100..999 at
d = 1). Targets come from random rollouts that combine all ``n`` numbers; among
those, the generator keeps the one whose shortest solution uses the most numbers
(if no rollout lands in the range, any rollout value is used, and failing that
the sum of all the numbers).
`effort` is the exact solver's work (the rational values it forms and tests),
which grows with both the count of numbers and the length of the shortest solution.

`solve` returns a shortest solution (fewest moves), found by an exact search over
subsets of the numbers (see `_Solver`); `make_state` builds a state from explicit
numbers and target. The batched methods are numpy over the whole batch, with no
per-row Python loop.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import combinations

import numpy as np

from actors.tasks.base import IllegalActionError, Task, TaskSpec, check_difficulty

ADD, SUB, MUL, DIV = range(4)
NUM_OPS = 4
OP_SYMBOLS = ("+", "−", "×", "÷")
MAX_VALUE = 9999  # bound on a reduced numerator or denominator; intermediate products stay < 2e8
KEY_BASE = MAX_VALUE + 1  # a value's solver key is num * KEY_BASE + den (unique, int64-safe)
POOL = np.array([*range(1, 11), *range(1, 11), 25, 50, 75, 100])
EMPTY_TOKEN, DIGIT_TOKEN = 1, 2  # token DIGIT_TOKEN + d for base-100 digit d
VOCAB_SIZE = DIGIT_TOKEN + 100
NO_ACTION = -1
MIN_NUMBERS, MAX_NUMBERS = 2, 8
ROLLOUTS = 64  # random expressions per generation round
ROUNDS = 4  # rounds before the target range is widened
FULL_SUBSET = 4  # the solver lists every value of subsets up to this size, and searches goal-first above


def _reduce(num: np.ndarray, den: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Divide ``num / den`` (same shapes) by their gcd; entries with den 0 are left as they are."""
    g = np.gcd(num, den)
    g[g == 0] = 1
    return num // g, den // g


def _in_bound(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """Whether each reduced ``num / den`` is a legal value: positive, with both parts at most MAX_VALUE."""
    return (num > 0) & (den > 0) & (num <= MAX_VALUE) & (den <= MAX_VALUE)


def _legal_after_reduce(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """`_in_bound` of the reduced ``num / den``, computing gcds only where the unreduced parts exceed the bound.

    The gcd is the costly part of the legal mask, and most results are small enough to need none.
    """
    positive = (num > 0) & (den > 0)
    legal = positive & (num <= MAX_VALUE) & (den <= MAX_VALUE)
    large = positive & ~legal
    if large.any():
        big_num, big_den = num[large], den[large]
        g = np.gcd(big_num, big_den)
        legal[large] = (big_num // g <= MAX_VALUE) & (big_den // g <= MAX_VALUE)
    return legal


def _op_unreduced(an: np.ndarray, ad: np.ndarray, bn: np.ndarray, bd: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``a op b`` for the four ops, unreduced: inputs of one (broadcast) shape -> ``[..., 4]`` numerators, denominators.

    Entries may be illegal (non-positive, out of bound, den 0); `_legal_after_reduce` tells.
    """
    cross_a, cross_b, dd = an * bd, bn * ad, ad * bd
    num = np.stack([cross_a + cross_b, cross_a - cross_b, an * bn, cross_a], axis=-1)
    den = np.stack([dd, dd, dd, ad * bn], axis=-1)
    return num, den


def _pair_tables(k: int) -> tuple[np.ndarray, np.ndarray]:
    """``PAIRS [K(K-1), 2]`` ordered slot pairs, and ``index [K, K]`` of each pair in it (-1 on the diagonal)."""
    pairs = np.array([(i, j) for i in range(k) for j in range(k) if i != j], dtype=np.int64).reshape(-1, 2)
    index = np.full((k, k), -1, dtype=np.int64)
    index[pairs[:, 0], pairs[:, 1]] = np.arange(len(pairs))
    return pairs, index


def _fraction_text(num: int, den: int) -> str:
    return str(num) if den == 1 else f"{num}/{den}"


class _Solver:
    """Exact search over one multiset of positive rationals, by subsets of the numbers.

    A target is reachable from a subset S iff S is one number equal to it, or S
    splits into A and B with ``target = a op b`` for values a, b reachable from A
    and B. Small subsets (up to FULL_SUBSET numbers) have their value sets listed
    in full, with numpy; larger ones are searched goal-first: for every value a
    of the smaller side, the six b's with ``a op b = target`` or ``b op a =
    target`` are computed and looked up in the larger side, recursively. Trying
    subsets in order of size gives a solution using the fewest numbers, which is
    the fewest moves. ``work`` counts the candidate values formed (the effort).
    """

    def __init__(self, nums: Sequence[int], dens: Sequence[int]) -> None:
        self.nums, self.dens = np.asarray(nums, dtype=np.int64), np.asarray(dens, dtype=np.int64)
        self.count = len(self.nums)
        self.work = 0
        self._values: dict[int, np.ndarray] = {}

    # ----- value sets -------------------------------------------------------

    def values(self, subset: int) -> np.ndarray:
        """Sorted unique keys of every value reachable from ``subset`` (a bit mask of number indices)."""
        if subset not in self._values:
            members = _bits(subset)
            if len(members) == 1:
                keys = self.nums[members] * KEY_BASE + self.dens[members]
            else:
                parts = [self._combine(self.values(a), self.values(b)) for a, b in _splits(subset)]
                keys = np.unique(np.concatenate(parts))
            self._values[subset] = keys
        return self._values[subset]

    def _combine(self, a_keys: np.ndarray, b_keys: np.ndarray) -> np.ndarray:
        """Keys of every legal ``a op b`` and ``b op a`` for a, b in the two key sets (not deduplicated)."""
        an, ad = (a_keys // KEY_BASE)[:, None], (a_keys % KEY_BASE)[:, None]
        bn, bd = (b_keys // KEY_BASE)[None, :], (b_keys % KEY_BASE)[None, :]
        cross_a, cross_b, dd = an * bd, bn * ad, ad * bd
        # a + b, |a − b| (the positive order of the two), a × b, a ÷ b, b ÷ a.
        num = np.stack([cross_a + cross_b, np.abs(cross_a - cross_b), an * bn, cross_a, cross_b]).ravel()
        den = np.stack([dd, dd, dd, ad * bn, bd * an]).ravel()
        num, den = _reduce(num, den)
        self.work += len(num)
        ok = _in_bound(num, den)
        return num[ok] * KEY_BASE + den[ok]

    # ----- goal-first search ------------------------------------------------

    def reaches(self, subset: int, keys: np.ndarray) -> np.ndarray:
        """``keys [T]`` -> ``bool [T]``: which of these values some expression over ``subset`` equals."""
        if len(keys) == 0:
            return np.zeros(0, dtype=bool)
        if _popcount(subset) <= FULL_SUBSET:
            return _member(self.values(subset), keys)
        unique, inverse = np.unique(keys, return_inverse=True)
        found = np.zeros(len(unique), dtype=bool)
        for small, large in _splits(subset, smaller_first=True):
            pending = np.flatnonzero(~found)
            if len(pending) == 0:
                break
            cand, ok = self._needed(unique[pending], self.values(small))  # [6, T, M]
            hit = np.zeros(cand.shape, dtype=bool)
            hit[ok] = self.reaches(large, cand[ok])
            found[pending] |= hit.any(axis=(0, 2))
        return found[inverse.reshape(-1)]

    def _needed(self, targets: np.ndarray, a_keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The b's that make each target from each a, and which of them are legal values.

        ``targets [T], a_keys [M]`` -> keys ``[6, T, M]`` and ``bool [6, T, M]``; the six are
        ``v − a, v ÷ a, a − v, v + a, a ÷ v, v × a`` for ``v = a + b, a × b, a − b, b − a, a ÷ b, b ÷ a``.
        """
        vn, vd = (targets // KEY_BASE)[:, None], (targets % KEY_BASE)[:, None]
        an, ad = (a_keys // KEY_BASE)[None, :], (a_keys % KEY_BASE)[None, :]
        va, av = vn * ad, an * vd
        num = np.stack([va - av, va, av - va, va + av, av, vn * an])
        den = np.stack([vd * ad, vd * an, vd * ad, vd * ad, ad * vn, vd * ad])
        num, den = _reduce(num, den)
        self.work += num.size
        ok = _in_bound(num, den)
        return np.where(ok, num * KEY_BASE + den, 0), ok

    # ----- solutions ----------------------------------------------------------

    def shortest(self, target: int) -> tuple | int | None:
        """An expression tree reaching ``target`` with the fewest numbers, or None.

        Trees are a number index (a leaf) or ``(op, left, right)``.
        """
        key = np.array([target * KEY_BASE + 1])
        for size in range(1, self.count + 1):
            for members in combinations(range(self.count), size):
                subset = sum(1 << i for i in members)
                if self.reaches(subset, key)[0]:
                    return self._expression(subset, key)
        return None

    def _expression(self, subset: int, key: np.ndarray) -> tuple | int:
        """An expression tree over ``subset`` whose value has ``key [1]`` (known to be reachable)."""
        if _popcount(subset) == 1:
            return _bits(subset)[0]
        for small, large in _splits(subset, smaller_first=True):
            a_keys = self.values(small)
            cand, ok = self._needed(key, a_keys)
            hit = np.zeros(cand.shape, dtype=bool)
            hit[ok] = self.reaches(large, cand[ok])
            if hit.any():
                kind, _, a = (int(x[0]) for x in np.nonzero(hit))
                left = self._expression(small, a_keys[a : a + 1])
                right = self._expression(large, cand[kind, 0, a : a + 1])
                op, swap = ((ADD, False), (MUL, False), (SUB, False), (SUB, True), (DIV, False), (DIV, True))[kind]
                return (op, right, left) if swap else (op, left, right)
        raise AssertionError("countdown solver: a reachable value has no decomposition")


def _bits(mask: int) -> list[int]:
    return [i for i in range(mask.bit_length()) if mask >> i & 1]


def _popcount(mask: int) -> int:
    return bin(mask).count("1")


def _splits(subset: int, smaller_first: bool = False) -> list[tuple[int, int]]:
    """Each split of ``subset`` into two non-empty parts, once; with ``smaller_first`` the smaller part comes first."""
    low = subset & -subset
    out = []
    part = (subset - 1) & subset
    while part:
        if part & low:  # the part holding the lowest member names each split once
            rest = subset ^ part
            if smaller_first and _popcount(part) > _popcount(rest):
                out.append((rest, part))
            else:
                out.append((part, rest))
        part = (part - 1) & subset
    return out


def _member(sorted_keys: np.ndarray, keys: np.ndarray) -> np.ndarray:
    """``bool [T]``: which ``keys`` occur in ``sorted_keys``."""
    if len(sorted_keys) == 0:
        return np.zeros(len(keys), dtype=bool)
    at = np.minimum(np.searchsorted(sorted_keys, keys), len(sorted_keys) - 1)
    return sorted_keys[at] == keys


class Countdown(Task):
    family = "math"
    kind = "countdown"

    def __init__(self, max_numbers: int = 6) -> None:
        if isinstance(max_numbers, bool) or not isinstance(max_numbers, int | np.integer):
            raise ValueError(f"max_numbers must be an integer, got {max_numbers!r}")
        if not MIN_NUMBERS <= max_numbers <= MAX_NUMBERS:
            raise ValueError(f"max_numbers must be in [{MIN_NUMBERS}, {MAX_NUMBERS}], got {max_numbers}")
        k = self.max_numbers = int(max_numbers)
        self.pairs, self.pair_index = _pair_tables(k)
        self.num_slice, self.den_slice = slice(0, k), slice(k, 2 * k)
        self.target_at, self.steps_at = 2 * k, 2 * k + 1
        self.initial_slice, self.history_slice = slice(2 * k + 2, 3 * k + 2), slice(3 * k + 2, 4 * k + 1)
        self.spec = TaskSpec(
            family=self.family,
            kind=self.kind,
            obs_length=2 + 4 * k,
            vocab_size=VOCAB_SIZE,
            num_actions=NUM_OPS * len(self.pairs),
            num_players=1,
            state_size=4 * k + 1,
            max_steps=k - 1,
            actions_per_token=0,
        )

    # ----- instances -------------------------------------------------------

    def count_for(self, difficulty: float, jitter: float) -> int:
        """How many numbers an instance of ``difficulty`` has, for the instance's ``jitter`` in [0, 1).

        ``3 + floor(d (K - 3) + jitter)``: with a uniform jitter this is ``3 + d (K - 3)`` on
        average, so difficulty raises the count smoothly instead of in plateaus; and for one
        jitter (one seed) the count never falls as difficulty rises.
        """
        d = check_difficulty(difficulty)
        if self.max_numbers < 3:
            return self.max_numbers
        return 3 + min(int(np.floor(d * (self.max_numbers - 3) + jitter)), self.max_numbers - 3)

    def count_range(self, difficulty: float) -> tuple[int, int]:
        """The fewest and most numbers an instance of ``difficulty`` can have."""
        return self.count_for(difficulty, 0.0), self.count_for(difficulty, np.nextafter(1.0, 0.0))

    @staticmethod
    def target_range(difficulty: float) -> tuple[int, int]:
        """The inclusive range generated targets are drawn from at ``difficulty``."""
        d = check_difficulty(difficulty)
        return 1 + round(99 * d), 100 + round(899 * d)

    def make_state(self, numbers: Sequence[int], target: int) -> np.ndarray:
        """The initial state ``[S]`` of the instance with these numbers and target (validated)."""
        values = [int(x) for x in numbers]
        if not MIN_NUMBERS <= len(values) <= self.max_numbers:
            raise ValueError(f"countdown needs {MIN_NUMBERS}..{self.max_numbers} numbers, got {len(values)}")
        if not all(1 <= x <= MAX_VALUE for x in [*values, int(target)]):
            raise ValueError(f"numbers and target must be in [1, {MAX_VALUE}], got {values} and {target}")
        k = self.max_numbers
        state = np.zeros(self.spec.state_size, dtype=np.int64)
        state[: len(values)] = values
        state[k : k + len(values)] = 1
        state[self.target_at] = int(target)
        state[self.initial_slice][: len(values)] = values
        state[self.history_slice] = NO_ACTION
        return state

    def generate(self, seed: int, difficulty: float) -> np.ndarray:
        d = check_difficulty(difficulty)
        rng = np.random.default_rng([seed, 0xC0DE])
        count = self.count_for(d, rng.random())  # drawn first: one seed's jitter is the same at every difficulty
        numbers = rng.choice(POOL, size=count, replace=False)
        low, high = self.target_range(d)
        finals = np.concatenate([self._rollout_values(numbers, rng) for _ in range(ROUNDS)])
        candidates = finals[~np.isin(finals, numbers)]
        in_range = candidates[(candidates >= low) & (candidates <= high)]
        if not len(in_range):  # the random expressions missed the range: look for its reachable values exactly
            in_range = self._reachable_between(numbers, low, high)
        if len(in_range):
            candidates = in_range
        if len(candidates) == 0:
            # The sum of all the numbers is reachable and exceeds each of them.
            return self.make_state(numbers, int(numbers.sum()))
        _, first = np.unique(candidates, return_index=True)
        candidates = candidates[np.sort(first)]  # distinct, in rollout order
        lengths = self._shortest_lengths(numbers, candidates)
        return self.make_state(numbers, int(candidates[np.argmax(lengths)]))

    def _reachable_between(self, numbers: np.ndarray, low: int, high: int) -> np.ndarray:
        """The integers in [low, high], none of ``numbers``, that some expression over all the numbers reaches."""
        values = np.setdiff1d(np.arange(low, high + 1), numbers)
        solver = _Solver(numbers, np.ones_like(numbers))
        return values[solver.reaches((1 << len(numbers)) - 1, values * KEY_BASE + 1)]

    def _rollout_values(self, numbers: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Integer values of ROLLOUTS random expressions that combine all ``numbers`` with legal moves."""
        states = np.repeat(self.make_state(numbers, 1)[None], ROLLOUTS, axis=0)
        states[:, self.target_at] = 0  # no value is 0, so no rollout stops early on success
        for _ in range(len(numbers) - 1):
            legal = self.legal_mask(states)
            alive = legal.any(axis=1)
            scores = np.where(legal, rng.random(legal.shape), -1.0)
            states = states[alive]
            states = self.step(states, scores[alive].argmax(axis=1))
        whole = states[:, self.max_numbers] == 1  # slot 0 holds the final value; keep integers
        return states[whole, 0]

    def _shortest_lengths(self, numbers: np.ndarray, targets: np.ndarray) -> np.ndarray:
        """``targets [T]`` -> ``int [T]``: moves in the shortest solution of each (all are reachable)."""
        solver = _Solver(numbers, np.ones_like(numbers))
        keys = targets * KEY_BASE + 1
        lengths = np.full(len(targets), len(numbers) - 1)
        pending = np.arange(len(targets))
        for size in range(2, len(numbers)):
            found = np.zeros(len(pending), dtype=bool)
            for members in combinations(range(len(numbers)), size):
                found |= solver.reaches(sum(1 << i for i in members), keys[pending])
            lengths[pending[found]] = size - 1
            pending = pending[~found]
            if len(pending) == 0:
                break
        return lengths

    # ----- batched dynamics ------------------------------------------------

    def _slots(self, states: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return states[:, self.num_slice], states[:, self.den_slice]

    def _solved(self, states: np.ndarray) -> np.ndarray:
        """``bool [N]``: some current number equals the target."""
        num, den = self._slots(states)
        return ((den == 1) & (num == states[:, self.target_at, None])).any(axis=1)

    def _moves(self, states: np.ndarray) -> np.ndarray:
        """``bool [N, A]``: the legal moves, ignoring whether the episode already ended in success."""
        num, den = self._slots(states)
        i, j = self.pairs[:, 0], self.pairs[:, 1]
        res_num, res_den = _op_unreduced(num[:, i], den[:, i], num[:, j], den[:, j])  # [N, P, 4]
        legal = _legal_after_reduce(res_num, res_den) & ((den[:, i] > 0) & (den[:, j] > 0))[:, :, None]
        legal[:, i > j, ADD] = False  # commutative ops: one action per unordered pair
        legal[:, i > j, MUL] = False
        return legal.reshape(len(states), -1)

    def legal_mask(self, states: np.ndarray) -> np.ndarray:
        return self._moves(states) & ~self._solved(states)[:, None]

    def step(self, states: np.ndarray, actions: np.ndarray) -> np.ndarray:
        actions = self._checked(states, actions)
        rows, k = np.arange(len(states)), self.max_numbers
        pair, op = actions // NUM_OPS, actions % NUM_OPS
        i, j = self.pairs[pair, 0], self.pairs[pair, 1]
        num, den = self._slots(states)
        res_num, res_den = _op_unreduced(num[rows, i], den[rows, i], num[rows, j], den[rows, j])  # [N, 4]
        res_num, res_den = _reduce(res_num[rows, op], res_den[rows, op])
        low, high = np.minimum(i, j), np.maximum(i, j)
        num, den = num.copy(), den.copy()
        num[rows, low], den[rows, low] = res_num, res_den
        # Remove slot `high`: every later slot moves down one; the last slot becomes empty.
        source = np.arange(k)[None, :] + (np.arange(k)[None, :] >= high[:, None])
        nxt = states.copy()
        nxt[:, self.num_slice] = np.take_along_axis(np.pad(num, ((0, 0), (0, 1))), source, axis=1)
        nxt[:, self.den_slice] = np.take_along_axis(np.pad(den, ((0, 0), (0, 1))), source, axis=1)
        nxt[rows, self.history_slice.start + states[:, self.steps_at]] = actions
        nxt[:, self.steps_at] += 1
        return nxt

    def _checked(self, states: np.ndarray, actions: np.ndarray) -> np.ndarray:
        """``actions [N]`` as int64 after checking each is legal in its state; raises `IllegalActionError`.

        The same rules as `legal_mask`, evaluated for the chosen actions only (the full mask costs ~10x more).
        """
        raw = np.asarray(actions)
        if raw.shape != (len(states),) or not (np.issubdtype(raw.dtype, np.integer) or len(raw) == 0):
            raise IllegalActionError(f"{self.name}: actions must be {len(states)} integers, got {raw!r}")
        actions = raw.astype(np.int64)
        in_range = (actions >= 0) & (actions < self.spec.num_actions)
        if not in_range.all():
            bad = int(np.flatnonzero(~in_range)[0])
            raise IllegalActionError(
                f"{self.name}: action {int(actions[bad])} out of range [0, {self.spec.num_actions})"
            )
        rows = np.arange(len(states))
        pair, op = actions // NUM_OPS, actions % NUM_OPS
        i, j = self.pairs[pair, 0], self.pairs[pair, 1]
        num, den = self._slots(states)
        res_num, res_den = _op_unreduced(num[rows, i], den[rows, i], num[rows, j], den[rows, j])  # [N, 4]
        legal = _legal_after_reduce(res_num[rows, op], res_den[rows, op])
        legal &= (den[rows, i] > 0) & (den[rows, j] > 0) & ~self._solved(states)
        legal &= (i < j) | ((op != ADD) & (op != MUL))
        if not legal.all():
            bad = int(np.flatnonzero(~legal)[0])
            raise IllegalActionError(f"{self.name}: action {int(actions[bad])} is illegal in state {bad} of the batch")
        return actions

    def is_terminal(self, states: np.ndarray) -> np.ndarray:
        # One number left has no move, so "no legal move" covers it (and the rare value-bound dead end).
        return self._solved(states) | ~self._moves(states).any(axis=1)

    def outcome(self, states: np.ndarray) -> np.ndarray:
        return self._solved(states).astype(np.float32)

    def encode(self, states: np.ndarray) -> np.ndarray:
        num, den = self._slots(states)
        target = states[:, self.target_at]
        head = np.stack([target // 100, target % 100], axis=1) + DIGIT_TOKEN
        slots = np.stack([num // 100, num % 100, den // 100, den % 100], axis=2) + DIGIT_TOKEN  # [N, K, 4]
        slots = np.where((den > 0)[:, :, None], slots, EMPTY_TOKEN)
        return np.concatenate([head, slots.reshape(len(states), -1)], axis=1)

    # ----- exact answers ---------------------------------------------------

    def _solver(self, state: np.ndarray) -> _Solver:
        den = state[self.den_slice]
        count = int((den > 0).sum())
        return _Solver(state[self.num_slice][:count], den[:count])

    def _tree_actions(self, tree: tuple | int, count: int) -> list[int]:
        """The moves that evaluate expression ``tree`` over slots ``0 .. count - 1``, operands first."""
        slots = list(range(count))  # the label of what each slot holds: a leaf's index, or count + a move's number
        actions: list[int] = []

        def emit(node: tuple | int) -> int:
            if isinstance(node, int):
                return node
            op, left, right = node
            left_label, right_label = emit(left), emit(right)  # both operands exist before their slots are read
            i, j = slots.index(left_label), slots.index(right_label)
            if op in (ADD, MUL) and i > j:
                i, j = j, i
            actions.append(NUM_OPS * int(self.pair_index[i, j]) + op)
            slots[min(i, j)] = count + len(actions)
            slots.pop(max(i, j))
            return count + len(actions)

        emit(tree)
        return actions

    def solve(self, state: np.ndarray) -> list[int]:
        """A shortest action sequence (fewest moves) that reaches the target; ValueError if there is none."""
        if self._solved(state[None])[0]:
            return []
        solver = self._solver(state)
        tree = solver.shortest(int(state[self.target_at])) if solver.count >= 2 else None
        if tree is None:
            raise ValueError("math/countdown: the target cannot be reached from this state")
        return self._tree_actions(tree, solver.count)

    def verify(self, state: np.ndarray, answer: list[int]) -> bool:
        try:
            if not all(isinstance(a, int | np.integer) and not isinstance(a, bool) for a in answer):
                return False
            final = self.play(np.asarray(state, dtype=np.int64), [int(a) for a in answer])
            return bool(self._solved(final[None])[0])
        except (IllegalActionError, ValueError, TypeError, IndexError):
            return False

    def effort(self, state: np.ndarray) -> float:
        """Rational values the exact solver forms and tests to find a shortest solution (0 if solved)."""
        if self._solved(state[None])[0]:
            return 0.0
        solver = self._solver(state)
        if solver.count >= 2:
            solver.shortest(int(state[self.target_at]))
        return float(solver.work)

    # ----- text ------------------------------------------------------------

    def _values_text(self, state: np.ndarray) -> str:
        num, den = state[self.num_slice], state[self.den_slice]
        return " ".join(_fraction_text(int(n), int(d)) for n, d in zip(num, den, strict=True) if d > 0)

    def render(self, state: np.ndarray) -> str:
        initial = [int(x) for x in state[self.initial_slice] if x > 0]
        target = int(state[self.target_at])
        lines = [f"Numbers: {' '.join(map(str, initial))}  Target: {target}"]
        history = [int(a) for a in state[self.history_slice][: int(state[self.steps_at])]]
        if history:
            replay = self.make_state(initial, target)
            for action in history:
                lines.append(self.describe_action(replay, action))
                replay = self.step(replay[None], np.array([action]))[0]
            lines.append(f"Now: {self._values_text(state)}")
        if self.is_terminal(state[None])[0]:
            lines.append("Solved" if self._solved(state[None])[0] else "Failed")
        return "\n".join(lines)

    def describe_action(self, state: np.ndarray, action: int) -> str:
        if not 0 <= action < self.spec.num_actions:
            return f"action {action} (out of range)"
        i, j = (int(x) for x in self.pairs[action // NUM_OPS])
        op = action % NUM_OPS
        num, den = state[self.num_slice], state[self.den_slice]
        if den[i] == 0 or den[j] == 0:
            return f"slot {i} {OP_SYMBOLS[op]} slot {j} (empty slot)"
        text = f"{_fraction_text(int(num[i]), int(den[i]))} {OP_SYMBOLS[op]} {_fraction_text(int(num[j]), int(den[j]))}"
        if not self._moves(state[None])[0, action]:
            return f"{text} (illegal)"
        res_num, res_den = _reduce(*_op_unreduced(num[i : i + 1], den[i : i + 1], num[j : j + 1], den[j : j + 1]))
        return f"{text} = {_fraction_text(int(res_num[0, op]), int(res_den[0, op]))}"
