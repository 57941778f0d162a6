"""Countdown: reach a target integer from given numbers with + − × ÷, in exact rational arithmetic.

Rules. An instance is ``n`` positive integers and a positive integer target. A
move picks two of the remaining numbers and an operator and replaces the two by
the result, so ``n`` numbers allow at most ``n - 1`` moves. When an episode ends
in success is the task's ``rule``, fixed per task (so per mix entry: a network
tells the rules apart by the task id, and no state entry or token holds it):

- ``any_number`` (the default): success as soon as any remaining number equals
  the target (numbers need not all be used; an instance whose target is one of
  its numbers is solved before any move); failure when one number is left or no
  move is legal.
- ``all_numbers`` (the Countdown and Game of 24 of the reasoning-model
  literature: every number used exactly once): success only when exactly one
  number is left and it equals the target; one number left that is not the
  target is a failure, and so is a position with no legal move. An instance whose
  target is one of its numbers is valid and needs all of them like any other.

Arithmetic is exact: every value is a reduced fraction ``num / den`` of int64s,
never a float, so ``1 ÷ 3 × 3`` is exactly 1 and ``5 × (5 − 1 ÷ 5)`` is exactly 24.
Values stay strictly positive: ``a − b`` is legal only when ``a > b``, so division
by zero cannot arise (the mask would exclude it). Under ``any_number`` that loses
no target: an expression reaching a positive target can be rewritten on absolute
values, and a zero intermediate only discards numbers, which is never needed.
Under ``all_numbers`` the same holds for negative intermediates, but a zero that
absorbs numbers (``13 + 8 × (10 − 10)`` for 8 10 10 13 -> 13) has no positive
rewrite in a few instances: such an instance is unsolvable here while the
literature's checkers (which evaluate any expression) accept it. That is about
0.2% of random 3- and 4-number instances from 1..13 with targets 1..100, and none
of the Game of 24 (all 1,362 of the 1,820 multisets of four numbers from 1..13
that the literature counts as solvable are solvable here). A result whose
reduced numerator or denominator exceeds ``MAX_VALUE`` (9999) is illegal: that
keeps every product and sum the arithmetic forms below 2 * 10^8 (far from int64
overflow) and every value in two base-100 tokens. Generator and solver obey the same
bound and rules, so generated instances are solvable under them.

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
numerator (high, low) and denominator (high, low). Sizes depend on ``K`` only,
not on the rule, pool or target parameters.

Parameters (`Countdown`; a mix entry's ``params``):
    ``max_numbers``  K, the most numbers an instance has (2..8; default 6).
    ``rule``         ``any_number`` (default) or ``all_numbers``, as above.
    ``pool``         where the numbers come from: ``tv`` (default; the TV show's 1..10
                     twice and 25, 50, 75, 100, drawn without replacement) or ``range``
                     (uniform with replacement from ``[min_number, max_number]``).
    ``min_number``, ``max_number``  the range of pool ``range`` (default 1 and 13,
                     the Game of 24's cards); ``1 <= min_number <= max_number <= 9999``.
                     Pool ``tv`` refuses values other than the defaults.
    ``target``       a fixed target in ``[1, 9999]`` (24 for the Game of 24), or null
                     (default): a target drawn per instance from a difficulty range.
Bad values and combinations raise ValueError naming the parameter. A fixed target
is refused at construction when none of DRAWS draws of 3 numbers (difficulty 0) or
of K numbers (difficulty 1) reaches it under the rule: the constructor generates an
instance at both (below), so a hopeless target fails when the config is loaded,
not during a run.

Difficulty ``d``: ``n = 3 + floor(d (K - 3) + u)`` numbers for a per-seed uniform
``u`` in [0, 1) (exactly 3 at d = 0 and K at d = 1, ``3 + d (K - 3)`` on average in
between; ``n = 2`` when K = 2), drawn from the pool. Then the target:

- ``target`` null: a target in ``[1 + round(99 d), 100 + round(899 d)]`` (1..100 at
  d = 0, 100..999 at d = 1). Targets come from random rollouts that combine all
  ``n`` numbers (if no rollout lands in the range, the exact solver lists the
  range's reachable values; failing that any rollout value is used, and failing
  that the sum of the numbers, or when that exceeds 9999 the value that repeatedly
  replacing the two largest numbers by their difference, or 1 when equal, reaches).
  Under ``any_number`` the candidates exclude the numbers themselves, and the
  generator keeps the one whose shortest solution uses the most numbers. Under
  ``all_numbers`` the numbers are candidates too, ordered by how many of the
  random rollouts reach them (most first, an estimate of the share of expressions
  over all the numbers that reach the target), and the generator keeps the one at
  position ``round(d (c - 1))`` of the ``c`` candidates: common targets at d = 0,
  the rarest at d = 1. (Under ``any_number`` with pool ``range`` a draw with no
  valid target, which needs numbers near 9999, is redrawn, up to DRAWS times.)
- a fixed ``target``: numbers are drawn until CANDIDATES instances are solvable
  under the rule (under ``any_number``, draws holding the target are skipped), at
  most DRAWS draws (ValueError if none was solvable). Each candidate's share of
  PLAYOUTS uniformly random episodes (random legal moves until the episode ends)
  that succeed is measured; ordered from the highest share to the lowest, the
  generator keeps the one at position ``round(d (c - 1))``: at d = 1 the candidate
  with the fewest ways to the target. Game of 24 instances differ in hardness by
  how few expressions reach 24 (from about 1 in 9 random episodes for the easiest
  to under 1 in 1,000 for the hardest).

`effort` is the exact solver's work (the rational values it forms and tests),
which grows with the count of numbers and, under ``any_number``, the length of
the shortest solution (under ``all_numbers`` the search starts from the target,
so the work also grows with the splits of the numbers it tries before one works).

`solve` returns a shortest solution (fewest moves; under ``all_numbers`` always
``n - 1``), deterministic, found by an exact search over subsets of the numbers
(see `_Solver`), and raises ValueError when the target cannot be reached under the
rule; `make_state` builds a state from explicit numbers and target. The batched
methods are numpy over the whole batch, with no per-row Python loop.
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
ANY_NUMBER, ALL_NUMBERS = "any_number", "all_numbers"
RULES = (ANY_NUMBER, ALL_NUMBERS)
POOLS = ("tv", "range")
DEFAULT_RANGE = (1, 13)  # pool range's default [min_number, max_number]: the Game of 24's cards
DRAWS = 200  # the most draws of numbers for one instance (a fixed target, or pool range's rare dead draw)
CANDIDATES = 4  # a fixed target: solvable draws compared by their random-play success
PLAYOUTS = 256  # a fixed target: random episodes per candidate that measure its success share


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
    target`` are computed and looked up in the larger side, recursively. Value
    sets are memoised by the multiset of values, not by indices, so equal numbers
    share them, and splits that are equal as multisets are tried once.

    `shortest` (any_number) tries subsets in order of size, which gives a solution
    using the fewest numbers, the fewest moves; `using_all` (all_numbers) asks only
    whether the whole set reaches the target, goal-first from the target even for
    four numbers or fewer (cheaper than listing every value of the whole set).
    Both prove a target unreachable by exhausting the splits. ``work`` counts the
    candidate values formed (the effort).
    """

    def __init__(
        self, nums: Sequence[int], dens: Sequence[int], cache: dict[tuple[int, ...], np.ndarray] | None = None
    ) -> None:
        self.nums, self.dens = np.asarray(nums, dtype=np.int64), np.asarray(dens, dtype=np.int64)
        self.count = len(self.nums)
        self.keys = [int(n) * KEY_BASE + int(d) for n, d in zip(self.nums, self.dens, strict=True)]
        self.work = 0
        # Value sets by the multiset of values (sorted keys), not by indices: equal numbers share them,
        # and a cache passed in is shared by solvers of different instances (the work then counts misses only).
        self._values: dict[tuple[int, ...], np.ndarray] = {} if cache is None else cache

    # ----- value sets -------------------------------------------------------

    def multiset(self, subset: int) -> tuple[int, ...]:
        """The sorted keys of the numbers in ``subset``: what its value set depends on."""
        return tuple(sorted(self.keys[i] for i in _bits(subset)))

    def values(self, subset: int) -> np.ndarray:
        """Sorted unique keys of every value reachable from ``subset`` (a bit mask of number indices)."""
        multiset = self.multiset(subset)
        if multiset not in self._values:
            if len(multiset) == 1:
                keys = np.array(multiset, dtype=np.int64)
            else:
                parts = [self._combine(self.values(a), self.values(b)) for a, b in _splits(subset)]
                keys = np.unique(np.concatenate(parts))
            self._values[multiset] = keys
        return self._values[multiset]

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

    def reaches(self, subset: int, keys: np.ndarray, goal_first: bool = False) -> np.ndarray:
        """``keys [T]`` -> ``bool [T]``: which of these values some expression over ``subset`` equals.

        ``goal_first`` searches from the keys even for a small subset (two or more numbers): cheaper
        than listing its every value when the keys are few and the subset is not met again.
        """
        if len(keys) == 0:
            return np.zeros(0, dtype=bool)
        if _popcount(subset) == 1 or (_popcount(subset) <= FULL_SUBSET and not goal_first):
            return _member(self.values(subset), keys)
        unique, inverse = np.unique(keys, return_inverse=True)
        found = np.zeros(len(unique), dtype=bool)
        tried: set[tuple[tuple[int, ...], tuple[int, ...]]] = set()
        for small, large in _splits(subset, smaller_first=True):
            split = (self.multiset(small), self.multiset(large))
            if split in tried:  # equal numbers give the same split more than once
                continue
            tried.add(split)
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

    def using_all(self, target: int) -> tuple | int | None:
        """An expression tree over every number that reaches ``target``, or None (as `shortest`)."""
        key, everything = np.array([target * KEY_BASE + 1]), (1 << self.count) - 1
        return self._expression(everything, key) if self.reaches(everything, key, goal_first=True)[0] else None

    def solution(self, target: int, rule: str) -> tuple | int | None:
        """The expression tree `solve` plays under ``rule``: `shortest` or `using_all`."""
        return self.using_all(target) if rule == ALL_NUMBERS else self.shortest(target)

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


def _is_int(value: object) -> bool:
    return isinstance(value, int | np.integer) and not isinstance(value, bool)


def _choice(name: str, value: object, choices: tuple[str, ...]) -> str:
    if value not in choices:
        raise ValueError(f"{name} must be one of: {', '.join(choices)}; got {value!r}")
    return str(value)


def _number_range(pool: str, low: object, high: object) -> tuple[int, int]:
    """``min_number, max_number`` checked: integers with ``1 <= low <= high <= MAX_VALUE``, defaults for pool tv."""
    for name, value in (("min_number", low), ("max_number", high)):
        if not _is_int(value):
            raise ValueError(f"{name} must be an integer, got {value!r}")
    if pool == "tv" and (low, high) != DEFAULT_RANGE:
        raise ValueError(
            f"min_number and max_number apply to pool range only (pool tv draws 1..10 twice, 25, 50, 75, 100), "
            f"got {low} and {high}"
        )
    if not 1 <= low <= high <= MAX_VALUE:
        raise ValueError(
            f"min_number and max_number must satisfy 1 <= min_number <= max_number <= {MAX_VALUE}, got {low} and {high}"
        )
    return int(low), int(high)


def _fixed_target(target: object) -> int | None:
    if target is None:
        return None
    if not _is_int(target) or not 1 <= target <= MAX_VALUE:
        raise ValueError(f"target must be null or an integer in [1, {MAX_VALUE}], got {target!r}")
    return int(target)


def _at_difficulty(order: np.ndarray, difficulty: float) -> int:
    """The entry of ``order`` (candidates from easiest to hardest) at position ``round(d (c - 1))``."""
    return int(order[int(difficulty * (len(order) - 1) + 0.5)])


class Countdown(Task):
    family = "math"
    kind = "countdown"

    def __init__(
        self,
        max_numbers: int = 6,
        rule: str = ANY_NUMBER,
        pool: str = "tv",
        min_number: int = DEFAULT_RANGE[0],
        max_number: int = DEFAULT_RANGE[1],
        target: int | None = None,
    ) -> None:
        if not _is_int(max_numbers):
            raise ValueError(f"max_numbers must be an integer, got {max_numbers!r}")
        if not MIN_NUMBERS <= max_numbers <= MAX_NUMBERS:
            raise ValueError(f"max_numbers must be in [{MIN_NUMBERS}, {MAX_NUMBERS}], got {max_numbers}")
        self.rule = _choice("rule", rule, RULES)
        self.pool = _choice("pool", pool, POOLS)
        self.min_number, self.max_number = _number_range(self.pool, min_number, max_number)
        self.target = _fixed_target(target)
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
        if self.target is not None:  # refuse a target no draw reaches now, not in the middle of a run
            for difficulty in (0.0, 1.0):
                self.generate(0, difficulty)

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
        if self.target is not None:
            return self._generate_for_target(count, d, rng)
        for _ in range(DRAWS):  # the tv pool always has a target at the first draw
            numbers = self._draw(count, rng)
            target = self._target_for(numbers, d, rng)
            if target is not None:
                return self.make_state(numbers, target)
        raise ValueError(f"{self.name}: no valid target for any of {DRAWS} draws of {count} {self._pool_text()}")

    def _draw(self, count: int, rng: np.random.Generator) -> np.ndarray:
        """``count`` numbers from the pool: the tv pool without replacement, a range uniformly with replacement."""
        if self.pool == "tv":
            return rng.choice(POOL, size=count, replace=False)
        return rng.integers(self.min_number, self.max_number + 1, size=count)

    def _pool_text(self) -> str:
        if self.pool == "tv":
            return "numbers from the tv pool (1..10 twice, 25, 50, 75, 100)"
        return f"numbers from [{self.min_number}, {self.max_number}]"

    def _target_for(self, numbers: np.ndarray, d: float, rng: np.random.Generator) -> int | None:
        """A target for ``numbers`` from the difficulty's range (module doc), or None if there is none."""
        low, high = self.target_range(d)
        finals = np.concatenate([self._rollout_values(numbers, rng) for _ in range(ROUNDS)])
        candidates = finals[~np.isin(finals, numbers)] if self.rule == ANY_NUMBER else finals
        in_range = candidates[(candidates >= low) & (candidates <= high)]
        if not len(in_range):  # the random expressions missed the range: look for its reachable values exactly
            in_range = self._reachable_between(numbers, low, high)
        if len(in_range):
            candidates = in_range
        if len(candidates) == 0:
            return self._fallback_target(numbers)
        _, first = np.unique(candidates, return_index=True)
        candidates = candidates[np.sort(first)]  # distinct, in rollout order
        if self.rule == ALL_NUMBERS:
            hits = (finals[None, :] == candidates[:, None]).sum(axis=1)
            return int(candidates[_at_difficulty(np.argsort(-hits, kind="stable"), d)])
        lengths = self._shortest_lengths(numbers, candidates)
        return int(candidates[np.argmax(lengths)])

    def _fallback_target(self, numbers: np.ndarray) -> int | None:
        """A target every rule reaches with all ``numbers``, when no rollout gave one (None if there is none).

        The sum, which exceeds each number; above MAX_VALUE, the value reached by replacing the two largest
        numbers by their difference (1 when equal) until one is left, which any_number cannot use if it is
        one of the numbers.
        """
        total = int(numbers.sum())
        if total <= MAX_VALUE:
            return total
        values = sorted(int(x) for x in numbers)
        while len(values) > 1:
            a, b = values.pop(), values.pop()
            values = sorted([*values, a - b if a > b else 1])
        if self.rule == ANY_NUMBER and values[0] in numbers:
            return None
        return values[0]

    def _generate_for_target(self, count: int, d: float, rng: np.random.Generator) -> np.ndarray:
        """An instance of ``count`` numbers for the fixed target, chosen among solvable draws (module doc)."""
        target = int(self.target)
        found: list[np.ndarray] = []
        for _ in range(DRAWS):
            numbers = self._draw(count, rng)
            if self.rule == ANY_NUMBER and target in numbers:
                continue
            if _Solver(numbers, np.ones_like(numbers)).solution(target, self.rule) is not None:
                found.append(self.make_state(numbers, target))
                if len(found) == CANDIDATES:
                    break
        if not found:
            raise ValueError(
                f"target {target}: none of {DRAWS} draws of {count} {self._pool_text()} "
                f"reaches it under rule {self.rule} (difficulty {d:g} draws {count} numbers)"
            )
        states = np.stack(found)
        success = self._random_play_success(states, rng)
        return states[_at_difficulty(np.argsort(-success, kind="stable"), d)]

    def _random_play_success(self, states: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """``states [C, S]`` -> ``float [C]``: the share of PLAYOUTS random episodes from each that succeed."""
        rows = np.repeat(states, PLAYOUTS, axis=0)
        for _ in range(self.spec.max_steps):
            mask = self.legal_mask(rows)
            live = mask.any(axis=1)
            if not live.any():
                break
            scores = np.where(mask[live], rng.random((int(live.sum()), mask.shape[1])), -1.0)
            rows[live] = self.step(rows[live], scores.argmax(axis=1))
        return self.outcome(rows).reshape(len(states), PLAYOUTS).mean(axis=1)

    def _reachable_between(self, numbers: np.ndarray, low: int, high: int) -> np.ndarray:
        """The integers in [low, high] that some expression over all the numbers reaches (under any_number: none
        of the numbers)."""
        values = np.arange(low, high + 1)
        if self.rule == ANY_NUMBER:
            values = np.setdiff1d(values, numbers)
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
        """``bool [N]``: the rule's success: some current number equals the target (any_number), or the only
        one left does (all_numbers)."""
        num, den = self._slots(states)
        target = states[:, self.target_at]
        if self.rule == ALL_NUMBERS:
            return (den[:, 1] == 0) & (den[:, 0] == 1) & (num[:, 0] == target)
        return ((den == 1) & (num == target[:, None])).any(axis=1)

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
        """A shortest action sequence (fewest moves) that succeeds under the rule; ValueError if there is none."""
        if self._solved(state[None])[0]:
            return []
        solver = self._solver(state)
        tree = solver.solution(int(state[self.target_at]), self.rule) if solver.count >= 2 else None
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
        """Rational values the exact solver forms and tests to find `solve`'s solution (0 if solved)."""
        if self._solved(state[None])[0]:
            return 0.0
        solver = self._solver(state)
        if solver.count >= 2:
            solver.solution(int(state[self.target_at]), self.rule)
        return float(solver.work)

    # ----- text ------------------------------------------------------------

    def _values_text(self, state: np.ndarray) -> str:
        num, den = state[self.num_slice], state[self.den_slice]
        return " ".join(_fraction_text(int(n), int(d)) for n, d in zip(num, den, strict=True) if d > 0)

    def render(self, state: np.ndarray) -> str:
        initial = [int(x) for x in state[self.initial_slice] if x > 0]
        target = int(state[self.target_at])
        rule = "  (use every number exactly once)" if self.rule == ALL_NUMBERS else ""
        lines = [f"Numbers: {' '.join(map(str, initial))}  Target: {target}{rule}"]
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
