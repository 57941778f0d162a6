"""Sliding-tile puzzle: dynamics, the optimal solver against BFS, generation and verification."""

from __future__ import annotations

from collections import deque
from functools import cache

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from actors.tasks.base import IllegalActionError
from actors.tasks.sliding import DOWN, LEFT, RIGHT, UP, SlidingPuzzle

TASKS = {side: SlidingPuzzle(side) for side in (2, 3, 4)}
MOVE = {UP: (-1, 0), DOWN: (1, 0), LEFT: (0, -1), RIGHT: (0, 1)}
UNDO = {UP: DOWN, DOWN: UP, LEFT: RIGHT, RIGHT: LEFT}


def neighbours(board: tuple[int, ...], side: int) -> list[tuple[int, tuple[int, ...]]]:
    """(action, board) after each on-board blank move; written independently of the task."""
    blank = board.index(0)
    row, col = divmod(blank, side)
    result = []
    for action, (dr, dc) in MOVE.items():
        r, c = row + dr, col + dc
        if 0 <= r < side and 0 <= c < side:
            cells = list(board)
            cells[blank], cells[r * side + c] = cells[r * side + c], 0
            result.append((action, tuple(cells)))
    return result


def goal(side: int) -> tuple[int, ...]:
    return (*range(1, side * side), 0)


@cache
def bfs_distances(side: int) -> dict[tuple[int, ...], int]:
    """Distance to solved of every reachable board (moves are reversible, so BFS from the goal)."""
    distances = {goal(side): 0}
    queue = deque([goal(side)])
    while queue:
        board = queue.popleft()
        for _, nxt in neighbours(board, side):
            if nxt not in distances:
                distances[nxt] = distances[board] + 1
                queue.append(nxt)
    return distances


def constrained_distance(board: tuple[int, ...], side: int, last: int) -> int:
    """Shortest solution when no move may undo the one before it (BFS over board and last move)."""
    start = (board, last)
    seen, queue = {start}, deque([(start, 0)])
    while queue:
        (b, prev), dist = queue.popleft()
        if b == goal(side):
            return dist
        for action, nxt in neighbours(b, side):
            if prev >= 0 and action == UNDO[prev]:
                continue
            if (nxt, action) not in seen:
                seen.add((nxt, action))
                queue.append(((nxt, action), dist + 1))
    raise AssertionError("unreachable")


def board_of(state: np.ndarray, side: int) -> tuple[int, ...]:
    return tuple(int(t) for t in state[: side * side])


def manhattan(board: tuple[int, ...], side: int) -> int:
    return sum(abs(p // side - (t - 1) // side) + abs(p % side - (t - 1) % side) for p, t in enumerate(board) if t)


def random_walk(task: SlidingPuzzle, state: np.ndarray, moves: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    for _ in range(moves):
        legal = np.flatnonzero(task.legal_mask(state[None])[0])
        if len(legal) == 0:
            break
        state = task.step(state[None], np.array([rng.choice(legal)]))[0]
    return state


# ----- shape and dynamics -----------------------------------------------------------


@pytest.mark.parametrize("side", [2, 3, 4])
def test_spec(side: int) -> None:
    spec = TASKS[side].spec
    n = side * side
    assert (spec.obs_length, spec.vocab_size, spec.num_actions, spec.num_players) == (n, n + 1, 4, 1)
    assert (spec.state_size, spec.actions_per_token) == (n + 4, 0)
    assert (spec.family, spec.kind) == ("search", "sliding")
    # The budget leaves room for twice the longest optimal solution of a generated instance.
    longest = {2: 6, 3: 31, 4: TASKS[4].max_scramble}[side]
    assert spec.max_steps >= 2 * longest


@pytest.mark.parametrize("bad", [1, 5, 0, -3, 3.0, True, "3", None])
def test_bad_side_is_rejected(bad: object) -> None:
    with pytest.raises(ValueError, match="side must be an integer in 2..4"):
        SlidingPuzzle(bad)  # type: ignore[arg-type]


def test_default_is_the_8_puzzle() -> None:
    assert SlidingPuzzle().side == 3


@settings(max_examples=40, deadline=None)
@given(st.sampled_from([2, 3, 4]), st.integers(0, 2**31 - 1), st.integers(0, 60))
def test_legal_mask_agrees_with_step(side: int, seed: int, moves: int) -> None:
    task = TASKS[side]
    state = random_walk(task, task.generate(seed, 1.0), moves, seed)
    mask = task.legal_mask(state[None])[0]
    terminal = task.is_terminal(state[None])[0]
    board, last = board_of(state, side), int(state[task.last_index])
    on_board = {action for action, _ in neighbours(board, side)}
    for action in range(4):
        expected = not terminal and action in on_board and (last < 0 or action != UNDO[last])
        assert mask[action] == expected
        if mask[action]:
            child = task.step(state[None], np.array([action]))[0]
            assert board_of(child, side) == dict(neighbours(board, side))[action]
            assert child[task.blank_index] == board_of(child, side).index(0)
            assert child[task.steps_index] == state[task.steps_index] + 1
            assert child[task.last_index] == action
            assert child[task.distance_index] == manhattan(board_of(child, side), side)
        else:
            with pytest.raises(IllegalActionError):
                task.step(state[None], np.array([action]))
    for bad in (-1, 4):
        with pytest.raises(IllegalActionError):
            task.step(state[None], np.array([bad]))


def test_tokens_are_tile_plus_one() -> None:
    task = TASKS[3]
    states = np.stack([task.generate(seed, 0.5) for seed in range(16)])
    tokens = task.encode(states)
    assert tokens.shape == (16, 9) and tokens.dtype == np.int64
    assert (tokens == states[:, :9] + 1).all()
    assert (np.sort(tokens, axis=1) == np.arange(1, 10)).all()  # blank 1, tiles 2..9, never padding


def test_batched_step_matches_single_steps() -> None:
    task = TASKS[3]
    rng = np.random.default_rng(0)
    states = np.stack([random_walk(task, task.generate(seed, 1.0), seed % 7, seed) for seed in range(64)])
    before = states.copy()
    actions = np.array([rng.choice(np.flatnonzero(m)) for m in task.legal_mask(states)])
    batched = task.step(states, actions)
    assert (states == before).all()
    for i in range(len(states)):
        assert (batched[i] == task.step(states[i : i + 1], actions[i : i + 1])[0]).all()


def test_solved_ends_with_success_and_budget_with_failure() -> None:
    task = TASKS[3]
    state = task.generate(3, 0.2)
    solved = task.play(state, task.solve(state))
    assert task.is_terminal(solved[None])[0] and task.outcome(solved[None])[0] == 1.0
    assert not task.legal_mask(solved[None]).any()
    # Wander without solving until the budget runs out.
    state = task.generate(4, 1.0)
    rng = np.random.default_rng(0)
    while not task.is_terminal(state[None])[0]:
        legal = np.flatnonzero(task.legal_mask(state[None])[0])
        state = task.step(state[None], np.array([rng.choice(legal)]))[0]
    assert state[task.steps_index] == task.spec.max_steps
    assert task.outcome(state[None])[0] == 0.0
    assert not task.legal_mask(state[None]).any()


def test_random_play_rarely_solves_the_hardest_setting() -> None:
    # At d = 1 the start is on average ~21 moves from solved (at least 8) among the 181,440
    # boards; a random walk of 80 moves visits under 0.05% of them, and measured over 2,000
    # episodes solves ~0.05%. A 2% bound (4 of 200) fails only if the task became easy.
    task = TASKS[3]
    states = np.stack([task.generate(seed, 1.0) for seed in range(200)])
    rng = np.random.default_rng(0)
    while not (done := task.is_terminal(states)).all():
        mask = task.legal_mask(states[~done])
        actions = (rng.random(mask.shape) * mask).argmax(axis=1)
        states[~done] = task.step(states[~done], actions)
    assert task.outcome(states).mean() <= 0.02


# ----- generation and effort ------------------------------------------------------------


@pytest.mark.parametrize("side", [2, 3, 4])
@pytest.mark.parametrize("difficulty", [0.0, 0.5, 1.0])
def test_generate_is_deterministic_and_well_formed(side: int, difficulty: float) -> None:
    task = TASKS[side]
    states = [task.generate(seed, difficulty) for seed in range(10)]
    for seed, state in enumerate(states):
        assert (state == task.generate(seed, difficulty)).all()
        board = board_of(state, side)
        assert sorted(board) == list(range(side * side)) and board != goal(side)
        if side < 4:
            assert board in bfs_distances(side)  # reachable from solved: the right permutation parity
        assert state[task.blank_index] == board.index(0)
        assert state[task.steps_index] == 0 and state[task.last_index] == -1
        assert state[task.distance_index] == manhattan(board, side)
        assert not task.is_terminal(state[None])[0]
    if side > 2 and difficulty > 0:  # (side 2 has only two boards per scramble length)
        assert len({s.tobytes() for s in states}) > 1


def test_side_2_optimal_length_is_the_scramble_length() -> None:
    task = TASKS[2]
    for d in np.linspace(0, 1, 11):
        for seed in range(3):
            assert task.effort(task.generate(seed, d)) == task.scramble_length(d)


@pytest.mark.parametrize(
    ("side", "difficulties", "seeds"), [(3, (0.0, 0.25, 0.5, 0.75, 1.0), 100), (4, (0.0, 0.5, 1.0), 8)]
)
def test_optimal_length_grows_with_difficulty(side: int, difficulties: tuple[float, ...], seeds: int) -> None:
    task = TASKS[side]
    means = [np.mean([task.effort(task.generate(seed, d)) for seed in range(seeds)]) for d in difficulties]
    assert all(a < b for a, b in zip(means[:-1], means[1:], strict=True)), means
    assert means[-1] > 15


def test_side_4_cap_keeps_instances_moderate() -> None:
    task = TASKS[4]
    for seed in range(5):
        state = task.generate(seed, 1.0)
        assert 0 < task.effort(state) <= task.max_scramble


# ----- solve and verify ------------------------------------------------------------------


@pytest.mark.parametrize("side", [2, 3])
def test_optimal_length_equals_bfs_distance(side: int) -> None:
    task = TASKS[side]
    distances = bfs_distances(side)
    rng = np.random.default_rng(side)
    states = [task.generate(seed, d) for seed in range(8) for d in (0.0, 0.3, 0.6, 1.0)]
    # Also uniformly drawn reachable boards, the hardest included for side 3.
    boards = [board for board in distances if board != goal(side)]
    picks = [boards[i] for i in rng.choice(len(boards), 10, replace=False)]
    picks.append(max(distances, key=distances.get))
    for board in picks:
        state = task.solved_state()
        state[: side * side] = board
        state[task.blank_index] = board.index(0)
        state[task.distance_index] = manhattan(board, side)
        states.append(state)
    for state in states:
        board = board_of(state, side)
        answer = task.solve(state)
        assert len(answer) == distances[board] == task.effort(state)
        assert task.verify(state, answer)


def test_mid_episode_solutions_respect_the_no_undo_rule() -> None:
    # Side 2: one scramble move, then a move further round the cycle. Without undos the only
    # way back is onwards round the 12-board cycle: 10 more moves.
    task = TASKS[2]
    state = task.generate(0, 0.0)
    assert task.effort(state) == 1
    undo = task.solve(state)[0]
    onward = [a for a in np.flatnonzero(task.legal_mask(state[None])[0]) if a != undo]
    state = task.play(state, [int(onward[0])])
    answer = task.solve(state)
    assert len(answer) == 10 and task.verify(state, answer)
    # Side 3: against a BFS over (board, previous move).
    task = TASKS[3]
    for seed in range(6):
        state = random_walk(task, task.generate(seed, 0.2), 1 + seed % 3, seed)
        if task.is_terminal(state[None])[0]:
            continue
        answer = task.solve(state)
        expected = constrained_distance(board_of(state, 3), 3, int(state[task.last_index]))
        assert len(answer) == expected and task.verify(state, answer)


@pytest.mark.parametrize("side", [2, 3, 4])
def test_verifier_rejects_corrupted_answers(side: int) -> None:
    task = TASKS[side]
    state = task.generate(11, 0.6 if side == 4 else 1.0)
    answer = task.solve(state)
    assert task.verify(state, answer) and task.verify(state, np.array(answer))
    corrupted = [
        answer[:-1],  # stops one short
        [*answer, answer[-1]],  # continues after solving (the episode is over)
        [],
        [answer[0], UNDO[answer[0]], *answer],  # an immediate undo is illegal
        [a if i != len(answer) // 2 else (a + 1) % 4 for i, a in enumerate(answer)],
        [*answer[:-1], 4],
        [-1, *answer],
        [float(a) for a in answer],
        [True, *answer],
        ["0"],
        [None],
        None,
        answer * 50,  # longer than the budget
    ]
    for bad in corrupted:
        assert not task.verify(state, bad)  # type: ignore[arg-type]
    off_board = [a for a in range(4) if a not in dict(neighbours(board_of(state, side), side))]
    for action in off_board:
        assert not task.verify(state, [action, *answer])


def test_solve_refuses_finished_episodes() -> None:
    task = TASKS[3]
    state = task.generate(1, 0.0)
    done = task.play(state, task.solve(state))
    with pytest.raises(IllegalActionError):
        task.solve(done)
    assert task.effort(done) == 0.0
    assert task.verify(done, [])


def test_render_and_describe() -> None:
    task = TASKS[3]
    text = task.render(task.solved_state())
    assert text.splitlines()[:3] == ["1 2 3", "4 5 6", "7 8 ."]
    assert "solved" in text
    assert "tile 6" in task.describe_action(task.solved_state(), UP)
    assert "off the board" in task.describe_action(task.solved_state(), DOWN)
