"""Sudoku-specific behaviour: generation, uniqueness, grading, the batched rules, solver and verifier.

The generic contract test over all kinds lives elsewhere; checks here use
independent references (brute-force grid enumeration, naive per-cell rules)
rather than the kind's own solver where that matters.
"""

from __future__ import annotations

import functools
import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from actors.tasks.base import IllegalActionError
from actors.tasks.sudoku import Sudoku

SIZES = (4, 6, 9)
BOXES = {4: (2, 2), 6: (2, 3), 9: (3, 3)}  # written out here, independently of the module's table


TASKS = {size: Sudoku(size) for size in SIZES}


@pytest.fixture(params=SIZES)
def task(request: pytest.FixtureRequest) -> Sudoku:
    return TASKS[request.param]


def board_of(task: Sudoku, state: np.ndarray) -> np.ndarray:
    return state[task.cells : 2 * task.cells]


def units(size: int) -> list[list[int]]:
    """The cells of every row, column and box of a size x size grid."""
    br, bc = BOXES[size]
    rows = [[r * size + c for c in range(size)] for r in range(size)]
    cols = [[r * size + c for r in range(size)] for c in range(size)]
    boxes = [
        [(r0 + i) * size + c0 + j for i in range(br) for j in range(bc)]
        for r0 in range(0, size, br)
        for c0 in range(0, size, bc)
    ]
    return rows + cols + boxes


def naive_legal(size: int, board: np.ndarray) -> np.ndarray:
    """``bool [C * size]``: empty cell and digit absent from all its units, ignoring dead ends."""
    legal = np.zeros(size * size * size, dtype=bool)
    cell_units = units(size)
    for cell in range(size * size):
        if board[cell]:
            continue
        seen = {int(board[o]) for unit in cell_units if cell in unit for o in unit}
        for digit in range(1, size + 1):
            legal[cell * size + digit - 1] = digit not in seen
    return legal


def is_valid_solution(size: int, board: np.ndarray) -> bool:
    return all(sorted(int(board[c]) for c in unit) == list(range(1, size + 1)) for unit in units(size))


@functools.cache
def all_4x4_grids() -> np.ndarray:
    """Every valid full 4x4 grid (288 of them) by brute force: bands of two rows, then pairs of bands."""
    perms = list(itertools.permutations(range(1, 5)))
    bands = [a + b for a in perms for b in perms if len({*a[:2], *b[:2]}) == 4 and len({*a[2:], *b[2:]}) == 4]
    grids = [
        top + bottom for top in bands for bottom in bands if all(len(set((top + bottom)[c::4])) == 4 for c in range(4))
    ]
    assert all(is_valid_solution(4, np.array(g)) for g in grids)
    return np.array(grids)


def random_playout(task: Sudoku, states: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Play uniformly random legal actions in every state until all are terminal; the final states."""
    states = states.copy()
    for _ in range(task.spec.max_steps):
        live = ~task.is_terminal(states)
        if not live.any():
            break
        mask = task.legal_mask(states[live])
        scores = np.where(mask, rng.random(mask.shape), -1.0)
        states[live] = task.step(states[live], scores.argmax(axis=1))
    assert task.is_terminal(states).all()
    return states


# ----- construction and layout -------------------------------------------------------


@pytest.mark.parametrize("size", [0, 1, 3, 5, 8, 16, 25])
def test_bad_size_is_rejected(size: int) -> None:
    with pytest.raises(ValueError, match="size must be one of"):
        Sudoku(size)


@pytest.mark.parametrize("size", SIZES)
def test_spec_layout(size: int) -> None:
    spec = Sudoku(size).spec
    cells = size * size
    assert (spec.family, spec.kind, spec.num_players) == ("reasoning", "sudoku", 1)
    assert spec.obs_length == cells
    assert spec.vocab_size == size + 2
    assert spec.num_actions == cells * size
    assert spec.actions_per_token == size
    assert spec.state_size == 2 * cells + 1
    assert spec.max_steps == cells


def test_action_acts_on_its_token(task: Sudoku) -> None:
    """Action a places digit a % size + 1 in cell a // size, and token a // size shows it."""
    state = task.generate(3, 0.5)
    legal = np.flatnonzero(task.legal_mask(state[None])[0])
    for action in legal[:: max(1, len(legal) // 10)]:
        before = task.encode(state[None])[0]
        after = task.encode(task.step(state[None], np.array([action]))[0][None])[0]
        changed = np.flatnonzero(before != after)
        assert changed.tolist() == [action // task.size]
        assert before[changed[0]] == 1 and after[changed[0]] == 1 + action % task.size + 1


def test_encode_is_board_plus_one(task: Sudoku) -> None:
    states = np.stack([task.generate(seed, 0.7) for seed in range(4)])
    tokens = task.encode(states)
    assert tokens.dtype == np.int64 and tokens.shape == (4, task.spec.obs_length)
    assert np.array_equal(tokens, states[:, task.cells : 2 * task.cells] + 1)
    assert tokens.min() >= 1 and tokens.max() < task.spec.vocab_size


# ----- generation -------------------------------------------------------------------------


@pytest.mark.parametrize("difficulty", [0.0, 0.4, 1.0])
def test_generation_is_deterministic(task: Sudoku, difficulty: float) -> None:
    for seed in (0, 1, 12345):
        assert np.array_equal(task.generate(seed, difficulty), task.generate(seed, difficulty))
    puzzles = {task.generate(seed, difficulty).tobytes() for seed in range(6)}
    assert len(puzzles) > 1


def test_generated_state_layout(task: Sudoku) -> None:
    state = task.generate(7, 0.6)
    assert state.dtype == np.int64 and state.shape == (task.spec.state_size,)
    givens, board = state[: task.cells], board_of(task, state)
    assert np.array_equal(givens, board)
    assert state[-1] == 0
    assert givens.min() >= 0 and givens.max() <= task.size
    assert not task.is_terminal(state[None])[0]


@pytest.mark.parametrize("difficulty", [0.0, 0.5, 1.0])
def test_4x4_puzzles_are_unique_by_brute_force(difficulty: float) -> None:
    task, grids = TASKS[4], all_4x4_grids()
    assert len(grids) == 288
    for seed in range(10):
        givens = task.generate(seed, difficulty)[: task.cells]
        filled = givens != 0
        matches = (grids[:, filled] == givens[filled]).all(axis=1)
        assert matches.sum() == 1, f"seed {seed}: {matches.sum()} solutions"


@pytest.mark.parametrize("size", [6, 9])
def test_hardest_puzzles_are_unique(size: int) -> None:
    task = TASKS[size]
    for seed in range(3 if size == 9 else 8):
        state = task.generate(seed, 1.0)
        assert task.count_solutions(state, limit=2) == 1
        assert is_valid_solution(size, task.play(state, task.solve(state))[task.cells : 2 * task.cells])


def test_hardest_puzzles_are_minimal_4x4() -> None:
    """At d=1 no single given can be removed without losing uniqueness (checked by brute force)."""
    task, grids = TASKS[4], all_4x4_grids()
    for seed in range(5):
        givens = task.generate(seed, 1.0)[: task.cells]
        for cell in np.flatnonzero(givens):
            fewer = givens.copy()
            fewer[cell] = 0
            filled = fewer != 0
            assert (grids[:, filled] == fewer[filled]).all(axis=1).sum() > 1


def test_difficulty_nests_puzzles(task: Sudoku) -> None:
    """One seed gives nested puzzles: harder ones keep a subset of the easier ones' givens, same grid."""
    seeds = range(4) if task.size == 9 else range(10)
    for seed in seeds:
        easy, hard = task.generate(seed, 0.2), task.generate(seed, 0.8)
        kept = hard[: task.cells] != 0
        assert np.array_equal(hard[: task.cells][kept], easy[: task.cells][kept])
        assert kept.sum() <= (easy[: task.cells] != 0).sum()


def blanks_and_effort(task: Sudoku, difficulty: float, seeds: range) -> tuple[float, float]:
    states = [task.generate(seed, difficulty) for seed in seeds]
    blanks = np.mean([(s[: task.cells] == 0).sum() for s in states])
    return float(blanks), float(np.mean([task.effort(s) for s in states]))


@pytest.mark.parametrize(("size", "seeds"), [(4, 20), (6, 12), (9, 5)])
def test_difficulty_grows_blanks_and_effort(size: int, seeds: int) -> None:
    task = TASKS[size]
    levels = [0.0, 0.5, 1.0] if size == 9 else [0.0, 0.25, 0.5, 0.75, 1.0]
    stats = [blanks_and_effort(task, d, range(seeds)) for d in levels]
    blanks, effort = zip(*stats, strict=True)
    assert all(a < b for a, b in itertools.pairwise(blanks)), blanks
    assert all(a <= b for a, b in itertools.pairwise(effort)), effort
    assert effort[-1] > effort[0]
    assert blanks[0] == task.cells // 4  # few blanks at d=0
    # The solver places at least one digit per blank.
    assert all(e >= b for b, e in stats)


def test_hardest_9x9_needs_search() -> None:
    """Minimal 9x9 puzzles make the MRV solver backtrack on average, unlike the easy ones."""
    task = TASKS[9]
    blanks, effort = blanks_and_effort(task, 1.0, range(5))
    assert blanks >= 50
    assert effort > blanks


# ----- the rules ------------------------------------------------------------------------------


def random_positions(task: Sudoku, count: int, seed: int) -> np.ndarray:
    """Non-terminal states after a few random legal placements from generated puzzles."""
    rng = np.random.default_rng(seed)
    states = []
    while len(states) < count:
        state = task.generate(int(rng.integers(2**31)), float(rng.uniform()))
        for _ in range(int(rng.integers(0, 4))):
            legal = np.flatnonzero(task.legal_mask(state[None])[0])
            if len(legal) == 0:
                break
            state = task.step(state[None], np.array([rng.choice(legal)]))[0]
        if not task.is_terminal(state[None])[0]:
            states.append(state)
    return np.stack(states)


def test_legal_mask_matches_naive_rules(task: Sudoku) -> None:
    states = random_positions(task, 24, seed=task.size)
    mask = task.legal_mask(states)
    assert mask.shape == (len(states), task.spec.num_actions) and mask.dtype == bool
    for state, row in zip(states, mask, strict=True):
        assert np.array_equal(row, naive_legal(task.size, board_of(task, state)))


@pytest.mark.parametrize("size", [4, 6])
def test_legal_mask_agrees_with_step(size: int) -> None:
    task = TASKS[size]
    for state in random_positions(task, 6, seed=100 + size):
        legal = task.legal_mask(state[None])[0]
        actions = np.flatnonzero(legal)
        nxt = task.step(np.repeat(state[None], len(actions), axis=0), actions)
        assert (nxt[:, -1] == state[-1] + 1).all()
        for action in np.flatnonzero(~legal):
            with pytest.raises(IllegalActionError):
                task.step(state[None], np.array([action]))
    with pytest.raises(IllegalActionError):
        task.step(state[None], np.array([task.spec.num_actions]))
    with pytest.raises(IllegalActionError):
        task.step(state[None], np.array([-1]))


def test_legal_mask_agrees_with_step_9x9_sampled() -> None:
    task = TASKS[9]
    rng = np.random.default_rng(9)
    for state in random_positions(task, 3, seed=109):
        legal = task.legal_mask(state[None])[0]
        actions = np.flatnonzero(legal)
        task.step(np.repeat(state[None], len(actions), axis=0), actions)
        for action in rng.choice(np.flatnonzero(~legal), size=40, replace=False):
            with pytest.raises(IllegalActionError):
                task.step(state[None], np.array([action]))


def test_step_places_digit_and_counts(task: Sudoku) -> None:
    state = task.generate(11, 0.5)
    before = state.copy()
    action = int(np.flatnonzero(task.legal_mask(state[None])[0])[0])
    nxt = task.step(state[None], np.array([action]))[0]
    assert np.array_equal(state, before)  # the input is not modified
    cell, digit = divmod(action, task.size)
    assert nxt[task.cells + cell] == digit + 1
    assert np.array_equal(nxt[: task.cells], state[: task.cells])  # givens stay
    assert nxt[-1] == 1
    assert (nxt != state).sum() == 2


@settings(max_examples=30, deadline=None)
@given(size=st.sampled_from([4, 6]), seed=st.integers(0, 2**31 - 1), difficulty=st.floats(0.0, 1.0))
def test_batched_rules_match_one_by_one(size: int, seed: int, difficulty: float) -> None:
    """Batched calls give the same answers as single-state calls, on mixed live/terminal batches."""
    task = TASKS[size]
    rng = np.random.default_rng(seed)
    start = task.generate(seed, difficulty)
    finals = random_playout(task, np.repeat(start[None], 3, axis=0), rng)
    states = np.concatenate([start[None], finals, random_positions(task, 2, seed)])
    for fn in (task.legal_mask, task.is_terminal, task.outcome, task.encode):
        batched = fn(states)
        single = np.concatenate([fn(s[None]) for s in states])
        assert np.array_equal(batched, single)


def dead_end_4x4() -> np.ndarray:
    """A 4x4 state one legal move away from a dead end.

    Row 1 is ``1 2 3 .``; placing 4 at r2c4 leaves r1c4 with no digit (4 is
    in its column and box, 1..3 in its row).
    """
    givens = np.zeros(16, dtype=np.int64)
    givens[:3] = [1, 2, 3]
    return np.concatenate([givens, givens, [0]])


def test_dead_end_is_terminal_failure() -> None:
    task = TASKS[4]
    state = dead_end_4x4()
    assert not task.is_terminal(state[None])[0]
    action = (1 * 4 + 3) * 4 + (4 - 1)  # r2c4 = 4
    assert task.describe_action(state, action) == "r2c4 = 4"
    dead = task.step(state[None], np.array([action]))
    assert task.is_terminal(dead)[0]
    assert task.outcome(dead)[0] == 0.0
    assert not task.legal_mask(dead).any()
    with pytest.raises(IllegalActionError):
        task.step(dead, np.array([0 * 4 + 3]))  # r1c1 is filled anyway; nothing is legal now
    with pytest.raises(ValueError, match="no solution"):
        task.solve(dead[0])
    assert not task.verify(dead[0], [])


def test_constraint_consistent_moves_can_dead_end() -> None:
    """A placement breaking no constraint can still leave the solution: random play hits dead ends."""
    task = TASKS[9]
    rng = np.random.default_rng(0)
    start = np.stack([task.generate(seed, 1.0) for seed in range(20)])
    finals = random_playout(task, start, rng)
    assert (task.outcome(finals) == 0.0).any()
    assert (finals[:, -1] < (start[:, : task.cells] == 0).sum(axis=1)).any()  # ended before filling


def test_full_board_is_success(task: Sudoku) -> None:
    state = task.generate(5, 1.0)
    final = task.play(state, task.solve(state))
    assert task.is_terminal(final[None])[0] and task.outcome(final[None])[0] == 1.0
    assert not task.legal_mask(final[None]).any()
    assert final[-1] == (state[: task.cells] == 0).sum()
    assert task.solve(final) == [] and task.verify(final, [])


# ----- solver and verifier ---------------------------------------------------------------------


@settings(max_examples=25, deadline=None)
@given(size=st.sampled_from([4, 6]), seed=st.integers(0, 2**31 - 1), difficulty=st.floats(0.0, 1.0))
def test_solution_verifies_small(size: int, seed: int, difficulty: float) -> None:
    task = TASKS[size]
    state = task.generate(seed, difficulty)
    answer = task.solve(state)
    assert len(answer) == (state[: task.cells] == 0).sum()
    assert task.verify(state, answer)
    final = task.play(state, answer)
    assert is_valid_solution(size, board_of(task, final))


@pytest.mark.parametrize("difficulty", [0.0, 0.5, 1.0])
def test_solution_verifies_9x9(difficulty: float) -> None:
    task = TASKS[9]
    for seed in range(3):
        state = task.generate(seed, difficulty)
        assert task.verify(state, task.solve(state))


def test_solve_from_midgame(task: Sudoku) -> None:
    """After correct placements, solve finishes only the remaining cells."""
    state = task.generate(21, 1.0)
    answer = task.solve(state)
    middle = task.play(state, answer[:3])
    rest = task.solve(middle)
    assert sorted(rest) == sorted(answer[3:])
    assert task.verify(middle, rest)


def test_solve_places_a_most_constrained_cell_each_time(task: Sudoku) -> None:
    """Each placement is, on the board the earlier ones leave, the lowest-index empty cell with the fewest
    legal digits, and gets its digit of the unique solution."""
    reordered = 0
    for seed in range(3 if task.size == 9 else 10):
        for difficulty in (0.5, 1.0):
            start = task.generate(seed, difficulty)
            answer = task.solve(start)
            solution = board_of(task, task.play(start, answer))
            state = start
            for action in answer:
                board = board_of(task, state)
                legal_digits = task.legal_mask(state[None])[0].reshape(task.cells, task.size).sum(axis=1)
                cell, digit = divmod(action, task.size)
                assert cell == int(np.argmin(np.where(board == 0, legal_digits, task.size + 1)))  # first minimum
                assert digit + 1 == solution[cell]
                state = task.step(state[None], np.array([action]))[0]
            reordered += answer != sorted(answer)
    assert reordered > 0  # the order is not simply row-major


def corrupted_answers(task: Sudoku, state: np.ndarray, answer: list[int]) -> dict[str, object]:
    """Wrong answers of several kinds for ``state`` whose correct answer is ``answer``."""
    n, first = task.size, answer[0]
    cell, digit = divmod(first, n)
    given_cell = int(np.flatnonzero(state[: task.cells])[0])
    return {
        "empty": [],
        "truncated": answer[:-1],
        "wrong digit": [cell * n + (digit + 1) % n, *answer[1:]],
        "duplicate": [first, *answer],
        "extra": [*answer, answer[-1]],
        "onto a given": [given_cell * n, *answer[1:]],
        "negative": [-1, *answer[1:]],
        "too large": [task.spec.num_actions, *answer[1:]],
        "huge": [2**70, *answer[1:]],
        "float": [float(first), *answer[1:]],
        "bool": [True, *answer[1:]],
        "string": [str(first), *answer[1:]],
        "nested": [[first], *answer[1:]],
        "none": None,
        "not a list": 3,
    }


def test_verify_rejects_corrupted_answers(task: Sudoku) -> None:
    state = task.generate(2, 1.0)
    answer = task.solve(state)
    assert task.verify(state, answer)
    assert task.verify(state, [np.int64(a) for a in answer])
    assert task.verify(state, answer[::-1])  # any order of the right placements is fine
    for name, bad in corrupted_answers(task, state, answer).items():
        assert not task.verify(state, bad), name  # type: ignore[arg-type]


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), data=st.data())
def test_verify_rejects_any_wrong_digit_4x4(seed: int, data: st.DataObject) -> None:
    """The solution is unique, so changing any placed digit fails (by a conflict, a dead end or a wrong fill)."""
    task = TASKS[4]
    state = task.generate(seed, 1.0)
    answer = task.solve(state)
    i = data.draw(st.integers(0, len(answer) - 1))
    shift = data.draw(st.integers(1, task.size - 1))
    cell, digit = divmod(answer[i], task.size)
    bad = [*answer[:i], cell * task.size + (digit + shift) % task.size, *answer[i + 1 :]]
    assert not task.verify(state, bad)


@settings(max_examples=40, deadline=None)
@given(answer=st.lists(st.integers(-5, 80), max_size=16), seed=st.integers(0, 50))
def test_verify_never_raises(answer: list[int], seed: int) -> None:
    """Arbitrary action lists give a bool; True only if replaying them fills the board."""
    task = TASKS[4]
    state = task.generate(seed, 1.0)
    result = task.verify(state, answer)
    assert isinstance(result, bool)
    if result:
        assert (board_of(task, task.play(state, answer)) != 0).all()


# ----- random play as a baseline ---------------------------------------------------------------


def random_success_rate(size: int, difficulty: float, episodes: int, seed: int = 0) -> float:
    task = TASKS[size]
    start = np.stack([task.generate(s, difficulty) for s in range(episodes)])
    finals = random_playout(task, start, np.random.default_rng(seed))
    return float(task.outcome(finals).mean())


def test_random_play_rarely_solves_hard_9x9() -> None:
    assert random_success_rate(9, 1.0, 200) <= 0.02


def test_random_play_4x4_gets_harder_with_difficulty() -> None:
    easy, hard = random_success_rate(4, 0.0, 200), random_success_rate(4, 1.0, 200)
    assert easy > hard


# ----- text ------------------------------------------------------------------------------------


def test_render_4x4() -> None:
    task = TASKS[4]
    state = dead_end_4x4()
    assert task.render(state) == "1 2 | 3 .\n. . | . .\n----+----\n. . | . .\n. . | . ."


def test_render_has_box_separators(task: Sudoku) -> None:
    text = task.render(task.generate(0, 1.0))
    lines = text.splitlines()
    br, bc = BOXES[task.size]
    assert len(lines) == task.size + task.size // br - 1
    assert sum("+" in line for line in lines) == task.size // br - 1
    grid_lines = [line for line in lines if "+" not in line]
    assert all(line.count("|") == task.size // bc - 1 for line in grid_lines)
    assert "." in text
    assert len({len(line) for line in lines}) == 1


def test_describe_action(task: Sudoku) -> None:
    state = task.generate(0, 0.5)
    assert task.describe_action(state, 0) == "r1c1 = 1"
    action = (1 * task.size + 2) * task.size + 3  # row 2, column 3, digit 4
    assert task.describe_action(state, action) == "r2c3 = 4"
    last = task.spec.num_actions - 1
    assert task.describe_action(state, last) == f"r{task.size}c{task.size} = {task.size}"
