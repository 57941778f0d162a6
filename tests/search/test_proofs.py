"""Proofs in search (MCTS-Solver): exact values agree with the tasks' own solvers, and search stops once it has one."""

from __future__ import annotations

import numpy as np
import pytest

from actors.search import BatchedSearch, SearchConfig, uniform_network
from actors.tasks.countdown import Countdown
from tests.search.helpers import random_positions

GREEDY = {"dirichlet_fraction": 0.0, "temperature_init": 0.0, "temperature_final": 0.0}


@pytest.fixture(scope="module")
def countdown():
    return Countdown(max_numbers=4)


def search_once(task, states: np.ndarray, config: SearchConfig):
    search = BatchedSearch(task, uniform_network(task.spec.num_actions), config, batch_size=len(states))
    search.reset(states, np.arange(len(states)))
    return search, search.run()


def reachable(task: Countdown, state: np.ndarray) -> bool:
    try:
        task.solve(state)
    except ValueError:
        return False
    return True


def test_a_solvable_countdown_is_proven_and_played_by_its_proof(countdown):
    """3 numbers: the whole tree is under 130 leaves, so 400 simulations prove every instance, and stop early."""
    states = np.stack([countdown.generate(seed, 0.0) for seed in range(6)])
    config = SearchConfig(num_simulations=400, **GREEDY)
    search, result = search_once(countdown, states, config)
    assert result.proven.all()
    np.testing.assert_array_equal(result.root_value, 1.0)
    assert (result.simulations < config.num_simulations).all()
    for state, action, policy in zip(states, result.actions, result.policy, strict=True):
        # The move and every action the policy target names lead to a state that still reaches the target.
        for a in {int(action), *np.flatnonzero(policy).tolist()}:
            assert reachable(countdown, countdown.step(state[None], np.array([a]))[0])
    # Played on, the proofs carry each episode to its target.
    while not search.done.all():
        search.advance(result.actions)
        if not search.done.all():
            result = search.run()
    assert (countdown.outcome(search.root_states) == 1.0).all()


def test_an_unreachable_target_is_proven_a_failure(countdown):
    state = countdown.make_state([1, 2, 3], 97)  # at most (1 + 2) * 3 = 9 is reachable
    config = SearchConfig(num_simulations=400, **GREEDY)
    _, result = search_once(countdown, state[None], config)
    assert result.proven[0] and result.root_value[0] == 0.0
    assert result.simulations[0] < config.num_simulations


def test_proofs_find_more_solutions_within_a_small_budget(countdown):
    """Same budget, same (uniform) network: stopping at proven nodes spends simulations elsewhere."""
    states = np.stack([countdown.generate(seed, 0.05) for seed in range(96)])
    solved = {}
    for proofs in (False, True):
        config = SearchConfig(algorithm="gumbel", num_simulations=64, gumbel_scale=0.0, proofs=proofs)
        search = BatchedSearch(countdown, uniform_network(countdown.spec.num_actions), config, batch_size=len(states))
        search.reset(states, np.arange(len(states)))
        while not search.done.all():
            search.advance(search.run().actions)
        solved[proofs] = countdown.outcome(search.root_states).sum()
    assert solved[True] > solved[False]


@pytest.mark.parametrize("algorithm", ["puct", "gumbel"])
def test_proven_game_values_are_the_minimax_values(tictactoe, algorithm):
    """Late tic-tac-toe positions (at most 4 empty cells): every root is proven at its exact value,
    for either player to move, and the move is optimal."""
    states = random_positions(tictactoe, 40, 5, 7, seed=3, decisive=False)
    config = SearchConfig(algorithm=algorithm, num_simulations=400, gumbel_scale=0.0, **GREEDY)
    _, result = search_once(tictactoe, states, config)
    assert result.proven.all()
    for state, value, action in zip(states, result.root_value, result.actions, strict=True):
        assert value == tictactoe.value(state)
        assert tictactoe.action_values(state)[action] == value


def test_proofs_of_children_are_exact_and_proven_losses_are_avoided(tictactoe):
    """A small budget proves some children (never wrongly); the move and the policy target avoid
    the proven losses whenever an unproven or better move remains."""
    states = random_positions(tictactoe, 60, 2, 6, seed=11, decisive=True)
    search, result = search_once(tictactoe, states, SearchConfig(num_simulations=24, **GREEDY))
    rows = np.arange(len(states))
    children = search.tree.exact_child_values(rows, np.zeros_like(rows), two_player=True)
    exact = np.stack([tictactoe.action_values(state) for state in states])
    proven = ~np.isnan(children)
    np.testing.assert_array_equal(children[proven], exact[proven])
    lost = children == -1.0
    has_open = (tictactoe.legal_mask(states) & ~lost).any(axis=1)
    assert lost[has_open].any()  # the budget proves some losses, so the check below has cases
    assert not lost[has_open, result.actions[has_open]].any()
    assert (result.policy[has_open][lost[has_open]] == 0).all()


def test_without_proofs_every_simulation_is_run(countdown):
    states = np.stack([countdown.generate(seed, 0.0) for seed in range(4)])
    config = SearchConfig(num_simulations=400, proofs=False, **GREEDY)
    _, result = search_once(countdown, states, config)
    assert not result.proven.any()
    np.testing.assert_array_equal(result.simulations, config.num_simulations)
