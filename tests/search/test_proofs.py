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
        config = SearchConfig(
            algorithm="gumbel", num_simulations=64, gumbel_scale=0.0, proofs=proofs, decisive_moves=False
        )
        search = BatchedSearch(countdown, uniform_network(countdown.spec.num_actions), config, batch_size=len(states))
        search.reset(states, np.arange(len(states)))
        while not search.done.all():
            search.advance(search.run().actions)
        solved[proofs] = countdown.outcome(search.root_states).sum()
    assert solved[True] > solved[False]


@pytest.mark.parametrize("algorithm", ["puct", "gumbel"])
def test_proven_game_values_are_the_minimax_values(tictactoe, algorithm):
    """Late tic-tac-toe positions (at most 4 empty cells): roots are proven at their exact values,
    for either player to move, and the move is optimal.

    PUCT proves every root. Gumbel's deterministic interior selection follows its improved policy,
    which may keep choosing a proven draw over an unvisited sibling whose completed value (mixed
    with a sibling's proven loss) looks worse, so a few roots stay unproven; their moves are optimal.
    """
    states = random_positions(tictactoe, 40, 5, 7, seed=3, decisive=False)
    config = SearchConfig(algorithm=algorithm, num_simulations=400, gumbel_scale=0.0, **GREEDY)
    _, result = search_once(tictactoe, states, config)
    assert result.proven.all() if algorithm == "puct" else result.proven.mean() >= 0.9
    for state, value, action, proven in zip(states, result.root_value, result.actions, result.proven, strict=True):
        assert value == tictactoe.value(state) or not proven
        assert tictactoe.action_values(state)[action] == tictactoe.value(state)


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


# ----- decisive moves ------------------------------------------------------------------------


def threat_blind_network(tictactoe) -> callable:
    """A tic-tac-toe network that looks away from every cell completing a line, for either player:
    logit -6 there, 0 elsewhere, value 0 (the blind spot of a network trained on play that always blocks)."""
    from actors.tasks.tictactoe import LINES

    def network(tokens: np.ndarray, task_ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        logits = np.zeros((len(tokens), 9), dtype=np.float32)
        for owner in (2, 3):  # the mover's marks, the opponent's
            lines = tokens[:, LINES]  # [n, 8, 3]
            completing = ((lines == owner).sum(axis=2) == 2) & ((lines == 1).sum(axis=2) == 1)  # [n, 8]
            for row, line in zip(*np.nonzero(completing), strict=True):
                cell = LINES[line][tokens[row, LINES[line]] == 1][0]
                logits[row, cell] = -6.0
        return logits, np.zeros(len(tokens), dtype=np.float32)

    return network


def allows_a_win(tictactoe, state: np.ndarray, action: int) -> bool:
    """Whether playing ``action`` leaves the opponent a move that wins at once."""
    child = tictactoe.step(state[None], np.array([action]))
    if tictactoe.is_terminal(child)[0]:
        return False
    for reply in np.flatnonzero(tictactoe.legal_mask(child)[0]):
        after = tictactoe.step(child, np.array([reply]))
        if tictactoe.is_terminal(after)[0] and tictactoe.outcome(after)[0] != 0:
            return True
    return False


def test_decisive_moves_win_at_once_and_block_the_opponents_win(tictactoe):
    """A network blind to lines being completed: with decisive moves the search takes every
    immediate win and never leaves the opponent one while a move avoids it; without, it does."""
    states = random_positions(tictactoe, 80, 3, 6, seed=5, decisive=True)
    blunders = {}
    for decisive_moves in (True, False):
        config = SearchConfig(num_simulations=16, decisive_moves=decisive_moves, **GREEDY)
        search = BatchedSearch(tictactoe, threat_blind_network(tictactoe), config, batch_size=len(states))
        search.reset(states, np.arange(len(states)))
        actions = search.run().actions
        count = 0
        for state, action in zip(states, actions, strict=True):
            values = tictactoe.action_values(state)
            winning_now = [
                a
                for a in np.flatnonzero(values == 1.0)
                if tictactoe.is_terminal(tictactoe.step(state[None], np.array([a])))[0]
            ]
            safe = [a for a in np.flatnonzero(~np.isnan(values)) if not allows_a_win(tictactoe, state, a)]
            if winning_now:
                count += action not in winning_now
            elif safe:
                count += action not in safe
        blunders[decisive_moves] = count
    assert blunders[True] == 0 and blunders[False] > 0, blunders


def test_a_child_proven_lost_draws_no_more_visits(tictactoe):
    """O must block X's diagonal at cell 8; the network favours cell 2, which loses at once.
    Once X's winning reply is found, cell 2 is proven lost and selection passes it over, however
    large its prior (without decisive moves, which would see the loss at its first visit)."""
    state = tictactoe.play(tictactoe.generate(0, 1.0), [0, 1, 4])  # X . . / . X . after X 0, O 1, X 4: O to move

    def favours_cell_2(tokens: np.ndarray, task_ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        logits = np.zeros((len(tokens), 9), dtype=np.float32)
        logits[:, 2] = 4.0
        return logits, np.zeros(len(tokens), dtype=np.float32)

    config = SearchConfig(num_simulations=64, decisive_moves=False, **GREEDY)
    search = BatchedSearch(tictactoe, favours_cell_2, config, batch_size=1)
    search.reset(state[None], np.array([0]))
    result = search.run()
    children = search.tree.exact_child_values(np.array([0]), np.array([0]), two_player=True)[0]
    assert children[2] == -1.0  # proven lost
    # Visits until the proof, none after: by its prior alone it would take nearly all 64.
    assert result.visit_counts[0, 2] <= 8 and result.actions[0] != 2
