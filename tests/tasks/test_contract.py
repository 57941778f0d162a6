"""The task contract (actors/tasks/base.py), checked on every registered kind and shape.

Kind-specific behaviour lives in each kind's own test file; this file checks
what search and self-play rely on for all of them at once.
"""

from __future__ import annotations

import numpy as np
import pytest

from actors.tasks import IllegalActionError, Task, make_task
from actors.tasks.registry import KINDS
from actors.tasks.selfcheck import CHECK_VARIANTS

VARIANTS = [pytest.param((kind, params), id=f"{kind}{params or ''}") for kind, params in CHECK_VARIANTS]
DIFFICULTIES = (0.0, 0.5, 1.0)


@pytest.fixture(scope="module", params=VARIANTS)
def task(request) -> Task:
    kind, params = request.param
    return make_task(kind, params)


def random_states(task: Task, count: int, seed: int) -> np.ndarray:
    """``[count, S]`` states reached by random legal play from fresh instances (terminal ones included)."""
    rng = np.random.default_rng(seed)
    states = []
    for i in range(count):
        state = task.generate(seed * 1000 + i, float(rng.uniform()))
        # A few plies only: long random play ends most episodes, and terminal rows test little.
        for _ in range(int(rng.integers(0, task.spec.max_steps // 8 + 2))):
            legal = np.flatnonzero(task.legal_mask(state[None])[0])
            if len(legal) == 0:
                break
            state = task.step(state[None], rng.choice(legal)[None])[0]
        states.append(state)
    return np.stack(states)


def test_every_kind_is_covered():
    assert {kind for kind, _ in CHECK_VARIANTS} == set(KINDS)


def test_spec_and_shapes(task):
    spec = task.spec
    assert (spec.family, spec.kind) == (task.family, task.kind)
    assert KINDS[spec.kind][0] == spec.family
    assert spec.num_players in (1, 2) and spec.num_actions > 0 and spec.max_steps > 0
    states = random_states(task, 12, seed=1)
    assert states.dtype == np.int64 and states.shape == (12, spec.state_size)
    tokens = task.encode(states)
    assert tokens.dtype == np.int64 and tokens.shape == (12, spec.obs_length)
    assert tokens.min() >= 0 and tokens.max() < spec.vocab_size
    mask = task.legal_mask(states)
    assert mask.dtype == bool and mask.shape == (12, spec.num_actions)
    if spec.actions_per_token:
        assert spec.num_actions % spec.actions_per_token == 0
        assert spec.num_actions // spec.actions_per_token <= spec.obs_length


def test_generation_is_deterministic_per_seed(task):
    for difficulty in DIFFICULTIES:
        assert np.array_equal(task.generate(11, difficulty), task.generate(11, difficulty))
    distinct = {task.generate(seed, 0.5).tobytes() for seed in range(8)}
    assert len(distinct) > 1


def test_difficulty_outside_unit_interval_is_rejected(task):
    for difficulty in (-0.1, 1.5):
        with pytest.raises(ValueError):
            task.generate(0, difficulty)


def test_legal_mask_agrees_with_step(task):
    states = random_states(task, 16, seed=2)
    mask = task.legal_mask(states)
    terminal = task.is_terminal(states)
    assert not mask[terminal].any(), "terminal states have no legal action"
    for i in range(len(states)):
        for action in range(task.spec.num_actions):
            if mask[i, action]:
                task.step(states[i : i + 1], np.array([action]))
            else:
                with pytest.raises(IllegalActionError):
                    task.step(states[i : i + 1], np.array([action]))


def test_batched_step_equals_row_by_row(task):
    states = random_states(task, 24, seed=3)
    live = states[~task.is_terminal(states)]
    assert len(live) >= 4
    rng = np.random.default_rng(0)
    actions = np.array([rng.choice(np.flatnonzero(m)) for m in task.legal_mask(live)])
    batched = task.step(live, actions)
    for i in range(len(live)):
        assert np.array_equal(batched[i], task.step(live[i : i + 1], actions[i : i + 1])[0])
    assert not np.shares_memory(batched, live)


def test_random_episodes_end_within_max_steps(task):
    rng = np.random.default_rng(4)
    for seed in range(6):
        state = task.generate(seed, 1.0)
        for _ in range(task.spec.max_steps):
            if task.is_terminal(state[None])[0]:
                break
            state = task.step(state[None], rng.choice(np.flatnonzero(task.legal_mask(state[None])[0]))[None])[0]
        assert task.is_terminal(state[None])[0]
        outcome = float(task.outcome(state[None])[0])
        assert outcome in ((0.0, 1.0) if task.spec.num_players == 1 else (-1.0, 0.0, 1.0))


def test_solver_answer_verifies_and_corruptions_are_rejected(task):
    for difficulty in DIFFICULTIES:
        for seed in range(2):
            state = task.generate(seed, difficulty)
            answer = task.solve(state)
            assert task.verify(state, answer), (difficulty, seed, answer)
            assert not task.verify(state, [task.spec.num_actions + 3])
            assert not task.verify(state, [-1])
            if task.spec.num_players == 1:
                final = task.play(state, answer)
                assert task.is_terminal(final[None])[0] and task.outcome(final[None])[0] == 1.0
                if answer:
                    assert not task.verify(state, answer[:-1]), "a truncated answer does not solve the puzzle"
            else:
                values = np.asarray(task.action_values(state), dtype=float)
                worse = np.flatnonzero(values < np.nanmax(values))
                if len(worse):
                    assert not task.verify(state, [int(worse[0])])


def test_difficulty_grows_the_measured_effort(task):
    seeds = range(6 if task.kind in ("sudoku", "connect4") else 12)
    means = [np.mean([task.effort(task.generate(seed, d)) for seed in seeds]) for d in DIFFICULTIES]
    assert means[0] < means[2], means
    assert means[0] <= means[1] * 1.1 and means[1] <= means[2] * 1.1, means


def test_render_and_describe(task):
    state = task.generate(0, 0.5)
    assert isinstance(task.render(state), str) and task.render(state)
    action = int(np.flatnonzero(task.legal_mask(state[None])[0])[0])
    assert isinstance(task.describe_action(state, action), str)
