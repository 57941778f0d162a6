"""Kind-specific tests of math/countdown: generation, exact rational dynamics, the solver and the verifier.

The references here work on `fractions.Fraction` and the documented state layout
only, independently of the kind's vectorized int64 arithmetic.
"""

from __future__ import annotations

from fractions import Fraction
from functools import cache
from itertools import combinations, combinations_with_replacement
from pathlib import Path

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from actors.tasks.base import PAD_TOKEN, IllegalActionError
from actors.tasks.countdown import MAX_VALUE, Countdown
from actors.tasks.registry import make_task

ADD, SUB, MUL, DIV = range(4)
POOL = [*range(1, 11), 25, 50, 75, 100]


@pytest.fixture(scope="module")
def task() -> Countdown:
    return Countdown()


# ----- independent references ----------------------------------------------------


def values_of(task: Countdown, state: np.ndarray) -> list[Fraction]:
    """The current numbers, slot by slot, as Fractions (documented layout: numerators, then denominators)."""
    k = task.max_numbers
    return [Fraction(int(n), int(d)) for n, d in zip(state[:k], state[k : 2 * k], strict=True) if d > 0]


def with_values(task: Countdown, values: list[Fraction], target: int) -> np.ndarray:
    """A state holding arbitrary positive rationals (not only integers) in slots 0.., written via the layout."""
    k = task.max_numbers
    state = task.make_state([1] * len(values), target)
    state[: len(values)] = [v.numerator for v in values]
    state[k : k + len(values)] = [v.denominator for v in values]
    return state


def action(task: Countdown, i: int, j: int, op: int) -> int:
    """The documented action number of ``slot_i op slot_j``: 4 * (lexicographic index of (i, j), i != j) + op."""
    k = task.max_numbers
    pair = i * (k - 1) + (j if j < i else j - 1)
    return 4 * pair + op


def reference_result(a: Fraction, b: Fraction, op: int) -> Fraction | None:
    """``a op b`` under the kind's rules, or None when that is not a legal value."""
    if op == DIV and b == 0:
        return None
    value = (a + b, a - b, a * b, a / b if b else None)[op]
    if value is None or value <= 0 or value.numerator > MAX_VALUE or value.denominator > MAX_VALUE:
        return None
    return value


def reference_final_values(values: tuple[Fraction, ...], memo: dict | None = None) -> set[Fraction]:
    """Every value an expression combining all of ``values`` reaches, by trying every move (memoised)."""
    memo = {} if memo is None else memo
    key = tuple(sorted(values))
    if len(key) == 1:
        return set(key)
    if key not in memo:
        finals: set[Fraction] = set()
        for i in range(len(key)):
            for j in range(len(key)):
                rest = tuple(v for n, v in enumerate(key) if n not in (i, j))
                for op in range(4):
                    value = reference_result(key[i], key[j], op) if i != j else None
                    if value is not None:
                        finals |= reference_final_values((*rest, value), memo)
        memo[key] = finals
    return memo[key]


def reference_solved(task: Countdown, values: list[Fraction], target: int) -> bool:
    """The rule's success: the target among the numbers (any_number), or the only number left (all_numbers)."""
    return values == [target] if task.rule == "all_numbers" else target in values


def reference_legal(task: Countdown, state: np.ndarray) -> np.ndarray:
    """``bool [A]`` legal moves of one state, from the rules in Fractions."""
    values = values_of(task, state)
    target = int(state[2 * task.max_numbers])
    legal = np.zeros(task.spec.num_actions, dtype=bool)
    if reference_solved(task, values, target):
        return legal
    for i in range(len(values)):
        for j in range(len(values)):
            for op in range(4):
                if i != j and not (op in (ADD, MUL) and i > j):
                    legal[action(task, i, j, op)] = reference_result(values[i], values[j], op) is not None
    return legal


@cache
def reference_reachable(values: tuple[Fraction, ...], integers_only: bool = False) -> dict[Fraction, int]:
    """Every value some sequence of legal moves puts among the numbers -> the fewest moves that does it."""
    best = {v: 0 for v in values}
    for i, j in combinations(range(len(values)), 2):
        rest = values[:i] + values[i + 1 : j] + values[j + 1 :]
        a, b = values[i], values[j]
        for result in {reference_result(x, y, op) for x, y in ((a, b), (b, a)) for op in range(4)} - {None}:
            if integers_only and result.denominator != 1:
                continue
            for value, moves in reference_reachable(tuple(sorted((*rest, result))), integers_only).items():
                best[value] = min(best.get(value, moves + 1), moves + 1)
    return best


def random_positions(task: Countdown, count: int, seed: int) -> np.ndarray:
    """``[count, S]`` states from random play: generated at random difficulties, then random moves."""
    rng = np.random.default_rng(seed)
    states = []
    for i in range(count):
        state = task.generate(seed * 1000 + i, float(rng.uniform(0, 1)))
        for _ in range(int(rng.integers(0, task.spec.max_steps + 1))):
            legal = np.flatnonzero(task.legal_mask(state[None])[0])
            if len(legal) == 0:
                break
            state = task.step(state[None], np.array([rng.choice(legal)]))[0]
        states.append(state)
    return np.stack(states)


# ----- construction and generation -------------------------------------------------


@pytest.mark.parametrize("max_numbers", [1, 9, 0, 6.0, True, "6"])
def test_bad_max_numbers_is_rejected(max_numbers):
    with pytest.raises(ValueError, match="max_numbers"):
        Countdown(max_numbers)


def test_spec_sizes_follow_max_numbers():
    for k in (2, 4, 6, 8):
        spec = make_task("countdown", {"max_numbers": k}).spec
        assert (spec.family, spec.kind, spec.num_players) == ("math", "countdown", 1)
        assert spec.num_actions == 4 * k * (k - 1)
        assert spec.obs_length == 2 + 4 * k
        assert spec.state_size == 4 * k + 1
        assert spec.max_steps == k - 1


@pytest.mark.parametrize(("numbers", "target"), [([5], 5), ([1] * 7, 3), ([0, 3], 3), ([3, 4], 0), ([3, 10_000], 7)])
def test_make_state_rejects_bad_instances(task, numbers, target):
    with pytest.raises(ValueError):
        task.make_state(numbers, target)


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), difficulty=st.floats(0, 1))
def test_generate_is_deterministic_and_well_formed(task, seed, difficulty):
    state = task.generate(seed, difficulty)
    np.testing.assert_array_equal(state, task.generate(seed, difficulty))
    values = values_of(task, state)
    target = int(state[2 * task.max_numbers])
    low_count, high_count = task.count_range(difficulty)
    assert low_count <= len(values) <= high_count
    assert all(v.denominator == 1 and v in POOL for v in values)
    low, high = task.target_range(difficulty)
    if not low <= target <= high:  # allowed only when no expression over all the numbers lands in the range
        assert not any(low <= v <= high and v.denominator == 1 for v in reference_final_values(tuple(values)))
    assert target not in values
    assert not task.is_terminal(state[None])[0]


def test_different_seeds_give_different_instances(task):
    states = {tuple(task.generate(seed, 0.5)) for seed in range(20)}
    assert len(states) >= 18


def test_count_of_numbers_grows_with_difficulty(task):
    grid = np.linspace(0, 1, 21)
    assert task.count_range(0.0) == (3, 3) and task.count_range(1.0) == (6, 6)
    for seed in range(5):  # one seed's count never falls as difficulty rises
        counts = [len(values_of(task, task.generate(seed, d))) for d in grid[::5]]
        assert counts == sorted(counts) and counts[0] == 3 and counts[-1] == 6
    means = [np.mean([len(values_of(task, task.generate(seed, d))) for seed in range(30)]) for d in (0.3, 0.6)]
    assert 3 < means[0] < means[1] < 6  # between the ends the count rises smoothly, not in plateaus
    assert Countdown(2).count_range(0.0) == Countdown(2).count_range(1.0) == (2, 2)
    assert Countdown(8).count_range(1.0) == (8, 8)


def test_effort_grows_with_difficulty(task):
    means = [np.mean([task.effort(task.generate(seed, d)) for seed in range(20)]) for d in (0.0, 0.5, 0.75, 1.0)]
    assert means == sorted(means)
    assert means[-1] > means[0]


def test_harder_instances_need_longer_solutions(task):
    lengths = [np.mean([len(task.solve(task.generate(seed, d))) for seed in range(10)]) for d in (0.0, 0.5, 1.0)]
    assert lengths[0] < lengths[1] <= lengths[2]


# ----- solver and verifier ----------------------------------------------------------


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), difficulty=st.sampled_from([0.0, 0.2, 0.4, 0.6, 0.8, 1.0]))
def test_solution_verifies_and_ends_exactly_at_the_target(task, seed, difficulty):
    state = task.generate(seed, difficulty)
    answer = task.solve(state)
    assert task.verify(state, answer)
    final = task.play(state, answer)
    assert task.is_terminal(final[None])[0] and task.outcome(final[None])[0] == 1.0
    assert 1 <= len(answer) <= len(values_of(task, state)) - 1


@settings(max_examples=40, deadline=None)
@given(
    numbers=st.lists(st.sampled_from(POOL), min_size=2, max_size=4),
    target=st.integers(1, 300),
)
def test_solver_is_exact_and_shortest_against_a_fraction_reference(numbers, target):
    task = Countdown(4)
    assume(target not in numbers)
    state = task.make_state(numbers, target)
    reachable = reference_reachable(tuple(sorted(Fraction(x) for x in numbers)))
    if Fraction(target) in reachable:
        answer = task.solve(state)
        assert task.verify(state, answer)
        assert len(answer) == reachable[Fraction(target)]
    else:
        with pytest.raises(ValueError, match="cannot be reached"):
            task.solve(state)


def test_solve_from_midway_states():
    task = Countdown(4)  # small enough for the Fraction reference to enumerate everything
    outcomes = []
    for i, state in enumerate(random_positions(task, 40, seed=7)):
        if task.is_terminal(state[None])[0]:
            continue
        values = tuple(sorted(values_of(task, state)))
        target = Fraction(int(state[2 * task.max_numbers]))
        if target in reference_reachable(values):
            answer = task.solve(state)
            assert task.verify(state, answer), i
            assert len(answer) == reference_reachable(values)[target]
            outcomes.append(True)
        else:
            with pytest.raises(ValueError):
                task.solve(state)
            outcomes.append(False)
    assert True in outcomes and False in outcomes  # random moves leave both solvable and dead positions


def test_verifier_rejects_corrupted_answers(task):
    state = task.generate(3, 1.0)
    answer = task.solve(state)
    assert len(answer) >= 2
    illegal = int(np.flatnonzero(~task.legal_mask(state[None])[0])[0])
    bad_answers = [
        answer[:-1],  # truncated
        [],  # nothing
        [illegal, *answer[1:]],  # an illegal move
        [task.spec.num_actions, *answer[1:]],  # out of range
        [-1, *answer[1:]],
        [*answer, answer[-1]],  # a move after the episode ended
        [float(a) for a in answer],  # not integers
        [True, *answer[1:]],
        [str(a) for a in answer],
        None,
    ]
    for bad in bad_answers:
        assert not task.verify(state, bad), bad
    assert task.verify(state, answer)


def test_every_changed_move_is_rejected_unless_it_also_succeeds(task):
    state = task.generate(11, 0.5)
    answer = task.solve(state)
    for position in range(len(answer)):
        for replacement in range(task.spec.num_actions):
            changed = [*answer]
            changed[position] = replacement
            expected = replacement == answer[position]
            if not expected:
                try:
                    final = task.play(state, changed)
                    expected = bool(task.outcome(final[None])[0])
                except IllegalActionError:
                    expected = False
            assert task.verify(state, changed) == expected


def test_solved_state_has_empty_solution(task):
    state = task.make_state([2, 3, 10], 5)
    final = task.step(state[None], np.array([action(task, 0, 1, ADD)]))[0]
    assert task.solve(final) == [] and task.verify(final, [])
    assert task.effort(final) == 0.0


# ----- dynamics ---------------------------------------------------------------------


def test_legal_mask_agrees_with_step_and_the_rules(task):
    states = random_positions(task, 40, seed=1)
    masks = task.legal_mask(states)
    terminal = task.is_terminal(states)
    assert terminal.any() and not terminal.all()
    for state, mask, done in zip(states, masks, terminal, strict=True):
        np.testing.assert_array_equal(mask, reference_legal(task, state))
        assert done == (not mask.any())
        legal = np.flatnonzero(mask)
        if len(legal):
            task.step(np.repeat(state[None], len(legal), axis=0), legal)  # all legal moves at once
        for a in np.flatnonzero(~mask):
            with pytest.raises(IllegalActionError):
                task.step(state[None], np.array([a]))


def test_step_computes_exact_results_in_the_documented_slots(task):
    for state in random_positions(task, 40, seed=2):
        values = values_of(task, state)
        for a in np.flatnonzero(task.legal_mask(state[None])[0]):
            pair, op = divmod(int(a), 4)
            i, j = [(x, y) for x in range(task.max_numbers) for y in range(task.max_numbers) if x != y][pair]
            expected = [*values]
            expected[min(i, j)] = reference_result(values[i], values[j], op)
            del expected[max(i, j)]
            nxt = task.step(state[None], np.array([a]))[0]
            assert values_of(task, nxt) == expected
            assert nxt[2 * task.max_numbers + 1] == state[2 * task.max_numbers + 1] + 1
            # Stored fractions are reduced, with empty slots exactly 0/0 after the live ones.
            k = task.max_numbers
            num, den = nxt[:k], nxt[k : 2 * k]
            assert (np.gcd(num[den > 0], den[den > 0]) == 1).all()
            assert (num[len(expected) :] == 0).all() and (den[len(expected) :] == 0).all()


def test_step_returns_a_new_array_and_rejects_malformed_actions(task):
    state = task.generate(5, 0.5)
    states = np.stack([state, state])
    before = states.copy()
    legal = np.flatnonzero(task.legal_mask(states)[0])[:2]
    task.step(states, legal)
    np.testing.assert_array_equal(states, before)
    for bad in (np.array([legal[0]]), np.array([0.5, 1.5]), np.array([[legal[0]], [legal[1]]])):
        with pytest.raises(IllegalActionError):
            task.step(states, bad)


def test_exact_rational_arithmetic():
    task = Countdown(4)
    # 1 ÷ 3 is stored as the fraction 1/3, and 1/3 × 3 is exactly 1.
    state = task.make_state([1, 3, 3], 50)
    third = task.step(state[None], np.array([action(task, 0, 1, DIV)]))[0]
    assert values_of(task, third) == [Fraction(1, 3), 3]
    assert (third[0], third[4]) == (1, 3)
    one = task.step(third[None], np.array([action(task, 0, 1, MUL)]))[0]
    assert values_of(task, one) == [1] and (one[0], one[4]) == (1, 1)
    # 7/3 + 2/3 = 3 reduces to an integer, and reaching the target that way is a success.
    state = with_values(task, [Fraction(7, 3), Fraction(2, 3), Fraction(5)], 3)
    done = task.step(state[None], np.array([action(task, 0, 1, ADD)]))[0]
    assert values_of(task, done) == [3, 5] and task.outcome(done[None])[0] == 1.0


def test_target_reachable_only_through_a_fraction():
    task = Countdown(4)
    numbers, target = [2, 3, 5, 12], 44
    assert Fraction(target) not in reference_reachable(tuple(Fraction(x) for x in numbers), integers_only=True)
    state = task.make_state(numbers, target)
    answer = task.solve(state)
    assert task.verify(state, answer)
    intermediates, current = [], state
    for a in answer:
        current = task.step(current[None], np.array([a]))[0]
        intermediates.extend(values_of(task, current))
    assert any(v.denominator > 1 for v in intermediates)


def test_success_ends_the_episode_immediately(task):
    state = task.make_state([2, 3, 10, 7], 5)
    done = task.step(state[None], np.array([action(task, 0, 1, ADD)]))[0]
    assert values_of(task, done) == [5, 10, 7]
    assert task.is_terminal(done[None])[0] and task.outcome(done[None])[0] == 1.0
    assert not task.legal_mask(done[None]).any()
    with pytest.raises(IllegalActionError):
        task.step(done[None], np.array([action(task, 0, 1, ADD)]))


def test_failure_when_one_number_is_left_or_no_move_is_legal(task):
    state = task.make_state([2, 3], 7)
    last = task.step(state[None], np.array([action(task, 0, 1, ADD)]))[0]
    assert task.is_terminal(last[None])[0] and task.outcome(last[None])[0] == 0.0
    # Four large primes: every sum, difference, product and quotient of the two needs more than 4 digits.
    stuck = with_values(task, [Fraction(9973, 9967), Fraction(9949, 9941)], 7)
    assert not task.legal_mask(stuck[None]).any()
    assert task.is_terminal(stuck[None])[0] and task.outcome(stuck[None])[0] == 0.0


def test_subtraction_must_stay_positive(task):
    state = task.make_state([3, 7, 3], 50)
    mask = task.legal_mask(state[None])[0]
    assert mask[action(task, 1, 0, SUB)] and not mask[action(task, 0, 1, SUB)]
    assert not mask[action(task, 0, 2, SUB)]  # 3 − 3 = 0 is not a legal value
    assert mask[action(task, 0, 1, ADD)] and not mask[action(task, 1, 0, ADD)]  # one action per commutative move
    assert mask[action(task, 0, 1, DIV)] and mask[action(task, 1, 0, DIV)]


def test_value_bound_guards_overflow(task):
    state = task.make_state([100, 100, 75], 1)
    mask = task.legal_mask(state[None])[0]
    assert not mask[action(task, 0, 1, MUL)]  # 10000 exceeds MAX_VALUE
    assert mask[action(task, 0, 2, MUL)]  # 7500 does not
    # 9999/2 × 2 = 19998/2 unreduced, but 9999 reduced: legal, since the bound is on the reduced value.
    halves = with_values(task, [Fraction(9999, 2), Fraction(2)], 1)
    assert task.legal_mask(halves[None])[0, action(task, 0, 1, MUL)]
    assert not task.legal_mask(halves[None])[0, action(task, 0, 1, ADD)]  # 10003/2


def test_every_episode_ends_within_max_steps(task):
    random_play_success(task, 1.0, instances=20, repeats=1)  # asserts every episode is terminal after max_steps


def random_play_success(task: Countdown, difficulty: float, instances: int, repeats: int) -> float:
    """The fraction of uniformly random episodes that reach the target."""
    rng = np.random.default_rng(1)
    states = np.repeat(np.stack([task.generate(seed, difficulty) for seed in range(instances)]), repeats, axis=0)
    for _ in range(task.spec.max_steps):
        mask = task.legal_mask(states)
        live = mask.any(axis=1)
        if live.any():
            choice = np.where(mask, rng.random(mask.shape), -1.0).argmax(axis=1)
            states[live] = task.step(states[live], choice[live])
    assert task.is_terminal(states).all()
    return float(task.outcome(states).mean())


def test_random_play_rarely_solves_the_hardest_setting(task):
    # Measured: 0 of 4000 random episodes at d = 1 (about 3% at d = 0).
    assert random_play_success(task, 1.0, instances=40, repeats=5) <= 0.01


# ----- observation and text -----------------------------------------------------------


def test_encode_is_compact_and_decodes_to_the_values(task):
    states = random_positions(task, 40, seed=3)
    tokens = task.encode(states)
    assert tokens.shape == (len(states), task.spec.obs_length) and tokens.dtype == np.int64
    assert (tokens != PAD_TOKEN).all() and (tokens < task.spec.vocab_size).all()
    for state, row in zip(states, tokens, strict=True):
        digits = row - 2
        assert digits[0] * 100 + digits[1] == state[2 * task.max_numbers]
        slots = row[2:].reshape(task.max_numbers, 4)
        decoded = [
            Fraction(int(s[0] - 2) * 100 + int(s[1] - 2), int(s[2] - 2) * 100 + int(s[3] - 2))
            for s in slots
            if s[0] != 1
        ]
        assert decoded == values_of(task, state)
        assert (slots[len(decoded) :] == 1).all()


def test_render_and_describe_action(task):
    state = task.make_state([3, 7, 25], 175)
    assert task.render(state) == "Numbers: 3 7 25  Target: 175"
    move = action(task, 1, 2, MUL)
    assert task.describe_action(state, move) == "7 × 25 = 175"
    assert task.describe_action(state, action(task, 2, 1, MUL)).endswith("(illegal)")  # one order per commuting pair
    assert task.describe_action(state, action(task, 0, 1, SUB)).endswith("(illegal)")
    done = task.step(state[None], np.array([move]))[0]
    assert task.render(done).splitlines() == ["Numbers: 3 7 25  Target: 175", "7 × 25 = 175", "Now: 3 175", "Solved"]
    third = task.step(state[None], np.array([action(task, 0, 1, DIV)]))[0]
    assert "3 ÷ 7 = 3/7" in task.render(third) and "Now: 3/7 25" in task.render(third)


def test_a_target_in_range_is_found_when_the_random_expressions_miss_the_range(task):
    # Seed 150 at difficulty 1 draws 1 1 2 2 3 8: no random expression of its rounds lands in [100, 999],
    # which some exact one reaches (e.g. (8 × 3) × (2 + 2) × (1 + 1) = 192).
    state = task.generate(150, 1.0)
    low, high = task.target_range(1.0)
    assert low <= int(state[2 * task.max_numbers]) <= high
    assert task.verify(state, task.solve(state))


@pytest.mark.parametrize(("seed", "difficulty"), [(223516616, 0.39372521336773547), (1695722360, 0.19108099964792524)])
def test_a_target_outside_the_range_only_when_no_expression_reaches_it(task, seed, difficulty):
    # 3 1 1 6 reaches at most 36 (range from 40); 6 1 2 at most 18 (range from 20): the range gives way.
    state = task.generate(seed, difficulty)
    low, _ = task.target_range(difficulty)
    finals = reference_final_values(tuple(values_of(task, state)))
    assert int(state[2 * task.max_numbers]) < low and max(finals) < low
    assert task.verify(state, task.solve(state))


# ----- rule all_numbers, pools and a fixed target ---------------------------------------

GAME24 = {"rule": "all_numbers", "max_numbers": 4, "pool": "range", "min_number": 1, "max_number": 13, "target": 24}
COUNTDOWN_100 = {"rule": "all_numbers", "max_numbers": 4, "pool": "range", "min_number": 1, "max_number": 100}
ALL_NUMBERS_VARIANTS = {"game24": GAME24, "countdown100": COUNTDOWN_100, "tv6": {"rule": "all_numbers"}}
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def game24() -> Countdown:
    return Countdown(**GAME24)


@pytest.fixture(scope="module", params=list(ALL_NUMBERS_VARIANTS.values()), ids=list(ALL_NUMBERS_VARIANTS))
def all_numbers(request) -> Countdown:
    return Countdown(**request.param)


@cache
def reference_random_success(values: tuple[Fraction, ...], target: Fraction) -> float:
    """The probability that uniformly random legal moves end with the target as the only number (all_numbers)."""
    if len(values) == 1:
        return float(values[0] == target)
    outcomes = []
    for i, j in ((i, j) for i in range(len(values)) for j in range(len(values)) if i != j):
        rest = tuple(v for n, v in enumerate(values) if n not in (i, j))
        for op in range(4):
            value = None if op in (ADD, MUL) and i > j else reference_result(values[i], values[j], op)
            if value is not None:
                outcomes.append(reference_random_success(tuple(sorted((*rest, value))), target))
    return sum(outcomes) / len(outcomes) if outcomes else 0.0


def test_default_parameters_keep_today_s_rules_and_every_variant_keeps_the_sizes():
    task = Countdown()
    assert (task.rule, task.pool, task.target) == ("any_number", "tv", None)
    for params in ALL_NUMBERS_VARIANTS.values():
        assert Countdown(**params).spec == Countdown(params.get("max_numbers", 6)).spec


@pytest.mark.parametrize(
    ("k", "seed", "difficulty", "numbers", "target", "answer"),
    [
        (6, 0, 0.0, [4, 2, 50], 23, [41, 3]),
        (6, 1, 0.5, [4, 75, 2, 9, 10], 127, [61, 10, 4, 0]),
        (6, 2, 1.0, [7, 1, 7, 1, 9, 100], 582, [101, 13, 9, 6, 0]),
        (4, 3, 0.1, [2, 3, 100], 150, [27, 2]),
    ],
)
def test_default_instances_and_solutions_are_unchanged(k, seed, difficulty, numbers, target, answer):
    # Pinned from the generator before the rule, pool and target parameters existed.
    task = Countdown(k)
    state = task.generate(seed, difficulty)
    assert [int(x) for x in state[2 * k + 2 : 3 * k + 2] if x] == numbers
    assert state[2 * k] == target and task.solve(state) == answer


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"rule": "every"}, "rule must be one of: any_number, all_numbers; got 'every'"),
        ({"rule": None}, "rule must be one of: any_number, all_numbers; got None"),
        ({"pool": "cards"}, "pool must be one of: tv, range; got 'cards'"),
        ({"pool": "range", "min_number": 0}, "1 <= min_number <= max_number <= 9999, got 0 and 13"),
        ({"pool": "range", "min_number": 20, "max_number": 10}, "1 <= min_number <= max_number <= 9999, got 20 and 10"),
        ({"pool": "range", "max_number": 10_000}, "1 <= min_number <= max_number <= 9999, got 1 and 10000"),
        ({"pool": "range", "max_number": 13.0}, "max_number must be an integer, got 13.0"),
        ({"pool": "range", "min_number": True}, "min_number must be an integer, got True"),
        ({"max_number": 100}, "min_number and max_number apply to pool range only"),
        ({"target": 0}, "target must be null or an integer in [1, 9999], got 0"),
        ({"target": 10_000}, "target must be null or an integer in [1, 9999], got 10000"),
        ({"target": "24"}, "target must be null or an integer in [1, 9999], got '24'"),
        ({"target": 24.0}, "target must be null or an integer in [1, 9999], got 24.0"),
        (
            {"rule": "all_numbers", "pool": "range", "max_number": 1, "target": 24},
            "target 24: none of 200 draws of 3 numbers from [1, 1] reaches it under rule all_numbers",
        ),
        (  # any_number skips draws holding the target, and these all do
            {"pool": "range", "min_number": 5, "max_number": 5, "target": 5},
            "target 5: none of 200 draws of 3 numbers from [5, 5] reaches it under rule any_number",
        ),
    ],
)
def test_bad_parameters_are_rejected_naming_the_parameter(params, message):
    with pytest.raises(ValueError) as error:
        Countdown(**params)
    assert message in str(error.value)


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), difficulty=st.floats(0, 1))
def test_all_numbers_generator_solver_and_verifier_agree(all_numbers, seed, difficulty):
    task, k = all_numbers, all_numbers.max_numbers
    state = task.generate(seed, difficulty)
    np.testing.assert_array_equal(state, task.generate(seed, difficulty))
    values, target = values_of(task, state), int(state[2 * k])
    low, high = task.count_range(difficulty)
    assert low <= len(values) <= high and all(v.denominator == 1 for v in values)
    if task.pool == "range":
        assert all(task.min_number <= v <= task.max_number for v in values)
    else:
        assert all(v in POOL for v in values)
    assert target == task.target if task.target is not None else 1 <= target <= MAX_VALUE
    assert not task.is_terminal(state[None])[0]
    if len(values) <= 4:  # the Fraction reference enumerates every expression over all the numbers
        assert Fraction(target) in reference_final_values(tuple(values))
    answer = task.solve(state)
    assert task.verify(state, answer) and len(answer) == len(values) - 1
    final = task.play(state, answer)
    assert values_of(task, final) == [target]
    assert task.is_terminal(final[None])[0] and task.outcome(final[None])[0] == 1.0
    assert not task.verify(state, answer[:-1])


@settings(max_examples=60, deadline=None)
@given(
    numbers=st.lists(st.integers(1, 13), min_size=2, max_size=4),
    target=st.integers(1, 100),
    among=st.booleans(),
)
def test_all_numbers_solver_is_exact_against_a_fraction_reference(numbers, target, among):
    task = Countdown(4, rule="all_numbers")
    target = numbers[-1] if among else target  # a target among the numbers needs all of them too
    state = task.make_state(numbers, target)
    if Fraction(target) in reference_final_values(tuple(Fraction(x) for x in numbers)):
        answer = task.solve(state)
        assert task.verify(state, answer) and len(answer) == len(numbers) - 1
    else:
        with pytest.raises(ValueError, match="cannot be reached"):
            task.solve(state)


def test_all_numbers_solves_from_midway_states_exactly(game24):
    outcomes = []
    for i, state in enumerate(random_positions(game24, 40, seed=9)):
        if game24.is_terminal(state[None])[0]:
            continue
        target = Fraction(int(state[2 * game24.max_numbers]))
        values = values_of(game24, state)
        if target in reference_final_values(tuple(values)):
            answer = game24.solve(state)
            assert game24.verify(state, answer) and len(answer) == len(values) - 1, i
            outcomes.append(True)
        else:
            with pytest.raises(ValueError):
                game24.solve(state)
            outcomes.append(False)
    assert True in outcomes and False in outcomes


def test_reaching_the_target_early_is_not_success_under_all_numbers(game24):
    # 4 × 6 = 24 solves 1 1 4 6 -> 24 at once under any_number; under all_numbers the two 1s remain.
    any_number = Countdown(4)
    for task, solved in ((any_number, True), (game24, False)):
        state = task.make_state([1, 1, 4, 6], 24)
        after = task.step(state[None], np.array([action(task, 2, 3, MUL)]))[0]
        assert values_of(task, after) == [1, 1, 24]
        assert task.is_terminal(after[None])[0] == solved and task.outcome(after[None])[0] == float(solved)
        assert task.legal_mask(after[None]).any() != solved
    state = game24.make_state([1, 1, 4, 6], 24)
    assert Fraction(24) in reference_final_values((Fraction(1), Fraction(1), Fraction(4), Fraction(6)))
    full = [action(game24, 2, 3, MUL), action(game24, 0, 2, MUL), action(game24, 0, 1, MUL)]  # 4 × 6 × 1 × 1
    assert game24.verify(state, full) and not game24.verify(state, full[:1])
    assert any_number.verify(state, full[:1]) and not any_number.verify(state, full)  # a move after success
    answer = game24.solve(state)
    assert len(answer) == 3 and game24.verify(state, answer)
    final = game24.play(state, answer)
    assert values_of(game24, final) == [24] and game24.outcome(final[None])[0] == 1.0


def test_a_target_among_the_numbers_still_needs_every_number(game24):
    state = game24.make_state([3, 4, 24], 24)
    assert not game24.is_terminal(state[None])[0] and game24.legal_mask(state[None]).any()
    assert not game24.verify(state, [])
    answer = game24.solve(state)  # e.g. 24 × (4 − 3)
    assert len(answer) == 2 and game24.verify(state, answer)
    assert game24.effort(state) > 0
    any_number = Countdown(4)
    assert any_number.solve(any_number.make_state([3, 4, 24], 24)) == []  # solved before any move


def test_one_number_left_that_is_not_the_target_is_a_failure(game24):
    state = game24.make_state([2, 3], 7)
    last = game24.step(state[None], np.array([action(game24, 0, 1, ADD)]))[0]
    assert values_of(game24, last) == [5]
    assert game24.is_terminal(last[None])[0] and game24.outcome(last[None])[0] == 0.0
    assert game24.render(last).splitlines()[-1] == "Failed"
    stuck = with_values(game24, [Fraction(9973, 9967), Fraction(9949, 9941)], 7)  # no legal move
    assert game24.is_terminal(stuck[None])[0] and game24.outcome(stuck[None])[0] == 0.0


def test_all_numbers_dynamics_agree_with_the_rules(game24):
    states = random_positions(game24, 60, seed=5)
    masks, terminal, outcome = game24.legal_mask(states), game24.is_terminal(states), game24.outcome(states)
    assert terminal.any() and not terminal.all()
    for state, mask, done, result in zip(states, masks, terminal, outcome, strict=True):
        values, target = values_of(game24, state), int(state[2 * game24.max_numbers])
        np.testing.assert_array_equal(mask, reference_legal(game24, state))
        assert done == (not mask.any())
        assert result == float(values == [target])


def test_a_zero_that_absorbs_numbers_is_not_a_move():
    # The literature's checkers accept 13 + 8 × (10 − 10) = 13; values here stay positive, and no expression
    # over 8 10 10 13 with positive intermediates reaches 13 (module doc: about 0.2% of small instances).
    task = Countdown(4, rule="all_numbers")
    state = task.make_state([8, 10, 10, 13], 13)
    assert not task.legal_mask(state[None])[0, action(task, 1, 2, SUB)]
    assert Fraction(13) not in reference_final_values(tuple(Fraction(x) for x in (8, 10, 10, 13)))
    with pytest.raises(ValueError, match="cannot be reached"):
        task.solve(state)


def test_game_of_24_solvable_count_matches_the_literature(game24):
    # 1,362 of the 1,820 multisets of four numbers from 1..13 make 24 using each number once.
    solvable = 0
    for numbers in combinations_with_replacement(range(1, 14), 4):
        try:
            game24.solve(game24.make_state(numbers, 24))
            solvable += 1
        except ValueError:
            pass
    assert solvable == 1362
    for numbers in ([1, 5, 5, 5], [3, 3, 8, 8]):  # only through fractions: 5 × (5 − 1/5), 8 ÷ (3 − 8/3)
        state = game24.make_state(numbers, 24)
        assert game24.verify(state, game24.solve(state))


def test_render_says_the_rule(game24):
    state = game24.make_state([1, 1, 4, 6], 24)
    assert game24.render(state) == "Numbers: 1 1 4 6  Target: 24  (use every number exactly once)"
    assert game24.render(game24.play(state, game24.solve(state))).splitlines()[-1] == "Solved"


@pytest.mark.parametrize("params", [{**GAME24, "max_numbers": 3}, {**COUNTDOWN_100, "max_numbers": 3}])
def test_higher_difficulty_prefers_instances_fewer_random_episodes_solve(params):
    task = Countdown(**params)  # three numbers at every difficulty: only the choice among candidates changes
    shares = []
    for difficulty in (0.0, 0.5, 1.0):
        states = [task.generate(seed, difficulty) for seed in range(30)]
        shares.append(
            np.mean([reference_random_success(tuple(sorted(values_of(task, s))), Fraction(int(s[6]))) for s in states])
        )
    assert shares[0] > shares[1] > shares[2], shares


def test_the_task_contract_holds_under_all_numbers(all_numbers):
    from tests.tasks import test_contract as contract

    for check in (
        contract.test_spec_and_shapes,
        contract.test_generation_is_deterministic_per_seed,
        contract.test_difficulty_outside_unit_interval_is_rejected,
        contract.test_legal_mask_agrees_with_step,
        contract.test_batched_step_equals_row_by_row,
        contract.test_random_episodes_end_within_max_steps,
        contract.test_solver_answer_verifies_and_corruptions_are_rejected,
        contract.test_difficulty_grows_the_measured_effort,
        contract.test_render_and_describe,
    ):
        check(all_numbers)


def test_the_presets_load_and_bad_parameters_are_one_line_naming_the_key(tmp_path, capsys):
    from cluster.cli import main
    from cluster.config import load_config

    for name, params in (("game24", GAME24), ("countdown", COUNTDOWN_100)):
        (entry,) = load_config(REPO / "configs" / f"{name}.yaml").tasks.mix
        assert entry.kind == "countdown" and entry.params == params
    path = tmp_path / "x.yaml"
    for params, expected in (
        ("{rule: every}", "tasks.mix[0].params: rule must be one of: any_number, all_numbers; got 'every'"),
        ("{rule: 3}", "tasks.mix[0].params.rule: expected a string, got 3"),
        ("{pool: range, max_number: 0}", "tasks.mix[0].params: min_number and max_number must satisfy"),
        ("{target: 0}", "tasks.mix[0].params: target must be null or an integer in [1, 9999], got 0"),
    ):
        path.write_text(f"tasks: {{mix: [{{kind: countdown, params: {params}}}]}}\n")
        assert main(["config", "show", "--config", str(path)]) == 2
        lines = capsys.readouterr().err.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith(f"selfplay: {path}: {expected}"), lines
