"""Batched PUCT and Gumbel search: strength against exact values, sign handling, determinism, reuse, invariants."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from actors.search import BatchedSearch, SearchConfig, oracle_network, uniform_network
from actors.search.selection import considered_visit_sequence
from actors.search.tree import N_VALUE_SUM, N_VISITS, PENALTY, VALUE_SUM, VISITS
from actors.tasks.base import IllegalActionError
from tests.search.helpers import random_positions

GREEDY = {"dirichlet_fraction": 0.0, "temperature_init": 0.0, "temperature_final": 0.0}


def optimal(task, state: np.ndarray, action: int) -> bool:
    values = task.action_values(state)
    return values[action] == np.nanmax(values)


def board(task, rows: str) -> np.ndarray:
    """A tic-tac-toe state from three rows of 'X', 'O', '.'; the side to move follows from the counts."""
    cells = [{"X": 1, "O": 2, ".": 0}[c] for c in rows.replace(" ", "")]
    state = np.zeros(task.spec.state_size, dtype=np.int64)
    state[:9] = cells
    state[9] = int(cells.count(1) > cells.count(2))
    state[10] = 9 - cells.count(0)
    return state


# ----- strength --------------------------------------------------------------------------


# Proofs and decisive moves (the defaults) settle most of these roots early; without them plain
# PUCT's visit counts alone must agree with minimax.
SOLVER_OPTIONS = pytest.mark.parametrize(
    "options",
    [{}, {"proofs": False, "decisive_moves": False}],
    ids=["proofs-decisive", "plain"],
)


@SOLVER_OPTIONS
def test_puct_with_uniform_evaluator_takes_wins_and_blocks_losses(tictactoe, options):
    # Hand-made: immediate wins and forced blocks, for X and for O to move.
    hand = {
        "XX. OO. ...": {2},  # X to move: win at 2 (rather than block at 5)
        "XX. OO. X..": {5},  # O to move: win at 5 (rather than block at 2)
        "OO. X.. X.X": {2},  # O to move: win at 2 (rather than block at 7)
        "O.. XX. ..O": {5},  # X to move: win at 5
        "X.. .O. ..X": {1, 3, 5, 7},  # O to move: an edge, not a corner (a corner loses to a fork)
        "XX. .O. ...": {2},  # O to move: block at 2
        "X.. .X. O..": {8},  # O to move: block the diagonal at 8
        "O.. .O. XX.": {8},  # X to move: win at 8
        "OX. .O. X..": {8},  # X to move: block the diagonal at 8
    }
    states = [board(tictactoe, rows) for rows in hand]
    # Random decisive positions (some moves worse than others) with at least three marks.
    states += list(random_positions(tictactoe, 60, 3, 6, seed=1, decisive=True))
    states = np.array(states)
    assert set(tictactoe.to_play(states)) == {0, 1}
    config = SearchConfig(num_simulations=800, **options, **GREEDY)
    search = BatchedSearch(tictactoe, uniform_network(9), config, batch_size=len(states))
    search.reset(states, np.arange(len(states)))
    result = search.run()
    if not options:
        assert result.proven.mean() > 0.5  # the defaults do settle most roots
    else:
        assert not result.proven.any() and (result.simulations == 800).all()
    for action, (rows, expected) in zip(result.actions, hand.items(), strict=False):
        assert action in expected, f"{rows}: chose {action}"
    wrong = [tictactoe.render(s) for s, a in zip(states, result.actions, strict=True) if not optimal(tictactoe, s, a)]
    assert not wrong, "\n\n".join(wrong)


@pytest.mark.parametrize("num_simulations", [8, 16])
def test_gumbel_with_oracle_values_chooses_optimal_actions(tictactoe, tictactoe_oracle, num_simulations):
    states = random_positions(tictactoe, 120, 1, 6, seed=2, decisive=True)
    config = SearchConfig(algorithm="gumbel", num_simulations=num_simulations)
    search = BatchedSearch(tictactoe, tictactoe_oracle, config, batch_size=len(states))
    search.reset(states, np.arange(len(states)))
    result = search.run()
    hits = [optimal(tictactoe, s, a) for s, a in zip(states, result.actions, strict=True)]
    assert np.mean(hits) >= 0.95
    # The policy target improves on the (uniform) prior: more mass on optimal moves, in almost every position.
    opt = np.array([[optimal(tictactoe, s, a) for a in range(9)] for s in states])
    legal = tictactoe.legal_mask(states)
    prior_mass = opt.sum(1) / legal.sum(1)
    target_mass = (result.policy * opt).sum(1)
    assert target_mass.mean() >= 0.9
    assert np.mean(target_mass > prior_mass) >= 0.95


@SOLVER_OPTIONS
def test_connect_four_wins_and_blocks_for_both_players(options):
    from actors.tasks.connect4 import ConnectFour

    task = ConnectFour()
    openings = {
        (3, 4, 3, 4, 3): {3},  # second player to move: block column 3
        (3, 4, 3, 4, 3, 4): {3},  # first player to move: win in column 3
        (0, 4, 0, 5, 1, 6): {3},  # first player to move: block the bottom row at column 3
        (0, 3, 0, 4, 6, 5, 6): {2},  # second player to move: complete the bottom row at column 2
    }
    states = np.array([task.play(task.empty_state(), list(moves)) for moves in openings])
    assert set(task.to_play(states)) == {0, 1}
    for algorithm in ("puct", "gumbel"):
        config = SearchConfig(algorithm=algorithm, num_simulations=300, gumbel_scale=0.0, **options, **GREEDY)
        search = BatchedSearch(task, uniform_network(task.spec.num_actions), config, batch_size=len(states))
        search.reset(states, np.arange(len(states)))
        result = search.run()
        if options:
            assert not result.proven.any() and (result.simulations == 300).all()
        for action, (moves, expected) in zip(result.actions, openings.items(), strict=True):
            assert action in expected, f"{algorithm} after {moves}: chose {action}"


@pytest.mark.parametrize("algorithm", ["puct", "gumbel"])
def test_single_player_maze_is_solved_with_values_as_success(algorithm):
    from actors.tasks.maze import Maze

    task = Maze(6)
    states = np.array([task.generate(seed, 0.5) for seed in range(12)])
    config = SearchConfig(algorithm=algorithm, num_simulations=64, gumbel_scale=0.0, **GREEDY)
    search = BatchedSearch(task, uniform_network(4), config, batch_size=len(states))
    search.reset(states, np.arange(len(states)))
    for _ in range(task.spec.max_steps):
        if search.done.all():
            break
        result = search.run()
        searched = result.searched
        assert np.all((result.root_value[searched] >= 0) & (result.root_value[searched] <= 1))
        search.advance(result.actions)
    assert search.done.all()
    np.testing.assert_array_equal(task.outcome(search.root_states), np.ones(len(states)))


def test_single_player_root_value_is_success_probability_not_negated():
    from actors.tasks.maze import Maze

    task = Maze(5)
    # A corridor: from cell 0 the goal (cell 2) is two steps right; down leads to a dead end.
    grid = np.zeros((5, 5), dtype=int)
    grid[0, :3] = 1
    grid[1, 0] = 1
    state = task.state_from_grid(grid, 0, 2)
    search = BatchedSearch(task, uniform_network(4), SearchConfig(num_simulations=50, **GREEDY), batch_size=1)
    search.reset(state[None], [0])
    result = search.run()
    assert result.actions[0] == 3  # right
    assert result.root_value[0] > 0.5
    q = search.tree.children[0, 0, VALUE_SUM] / np.maximum(search.tree.children[0, 0, VISITS], 1)
    # Right leads to success (only its first visit saw the network's 0), down dead-ends.
    assert q[3] > 0.9 and q[1] == 0.0


# ----- determinism ------------------------------------------------------------------------


def play_out(task, network, config, states, seeds, max_moves=9):
    """Play the episodes of ``states`` to the end together; per move the actions and policies."""
    search = BatchedSearch(task, network, config, batch_size=len(states))
    search.reset(states, seeds)
    actions, policies = [], []
    for _ in range(max_moves):
        if search.done.all():
            break
        result = search.run()
        actions.append(result.actions)
        policies.append(result.policy)
        search.advance(result.actions)
    return np.array(actions), np.array(policies)


@pytest.mark.parametrize(
    "config",
    [
        SearchConfig(num_simulations=24, temperature_moves=4, reuse_tree=True),
        SearchConfig(num_simulations=24, reuse_tree=False, temperature_moves=9),
        SearchConfig(algorithm="gumbel", num_simulations=12, max_num_considered_actions=4),
    ],
    ids=["puct-reuse", "puct-fresh", "gumbel"],
)
def test_a_batch_searches_like_its_episodes_alone(tictactoe, tictactoe_oracle, config):
    states = random_positions(tictactoe, 6, 0, 3, seed=3, decisive=False)
    seeds = np.arange(100, 106)
    together_actions, together_policies = play_out(tictactoe, tictactoe_oracle, config, states, seeds)
    for i in range(len(states)):
        alone_actions, alone_policies = play_out(
            tictactoe, tictactoe_oracle, config, states[i : i + 1], seeds[i : i + 1]
        )
        moves = len(alone_actions)
        np.testing.assert_array_equal(together_actions[:moves, i], alone_actions[:, 0])
        np.testing.assert_allclose(together_policies[:moves, i], alone_policies[:, 0], rtol=0, atol=1e-6)
        assert np.all(together_actions[moves:, i] == -1)
    # The noise matters: other seeds give other games.
    other_actions, _ = play_out(tictactoe, tictactoe_oracle, config, states, seeds + 1000)
    assert not np.array_equal(other_actions[:3], together_actions[:3])


# ----- invariants (property tests) ----------------------------------------------------------


@st.composite
def configs(draw):
    algorithm = draw(st.sampled_from(["puct", "gumbel"]))
    return SearchConfig(
        algorithm=algorithm,
        num_simulations=draw(st.integers(1, 40)),
        c_base=draw(st.sampled_from([0.0, 19652.0])),
        dirichlet_fraction=draw(st.sampled_from([0.0, 0.25, 1.0])),
        dirichlet_alpha=draw(st.sampled_from([0.03, 0.3, 2.0])),
        fpu=draw(st.sampled_from(["reduction", "fixed"])),
        temperature_init=draw(st.sampled_from([0.0, 0.5, 1.0, 2.0])),
        reuse_tree=draw(st.booleans()),
        reuse_max_nodes=draw(st.sampled_from([0, 1, 3, 50])),
        max_num_considered_actions=draw(st.integers(1, 9)),
        gumbel_scale=draw(st.sampled_from([0.0, 1.0])),
        proofs=draw(st.booleans()),
    )


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(config=configs(), seed=st.integers(0, 2**16), evaluator=st.sampled_from(["uniform", "oracle"]))
def test_search_invariants_hold_over_whole_games(tictactoe, tictactoe_oracle, config, seed, evaluator):
    network = tictactoe_oracle if evaluator == "oracle" else uniform_network(9)
    batch = 5
    states = random_positions(tictactoe, batch, 0, 4, seed=seed, decisive=False)
    search = BatchedSearch(tictactoe, network, config, batch_size=batch)
    search.reset(states, np.arange(batch) + seed)
    while not search.done.all():
        live = ~search.done
        roots = search.root_states
        nodes_before = search.tree.num_nodes.copy()  # the reused subtree's, or 1
        result = search.run()
        np.testing.assert_array_equal(result.searched, live)
        legal = tictactoe.legal_mask(roots)
        # Policy targets: distributions over the legal actions only.
        np.testing.assert_allclose(result.policy[live].sum(1), 1.0, atol=1e-5)
        assert np.all(result.policy[~legal] == 0)
        assert np.all(result.policy >= 0)
        # Chosen actions are legal.
        assert np.all(legal[live, result.actions[live]])
        assert np.all(result.actions[~live] == -1)
        # Visit accounting: the root's children visits are the reused ones plus the simulations run,
        # which are the budget unless the root was proven (then its value is an outcome).
        np.testing.assert_array_equal(
            result.visit_counts[live].sum(1), result.reused_visits[live] + result.simulations[live]
        )
        assert np.all((result.simulations[live] == config.num_simulations) | result.proven[live])
        assert np.all(np.isin(result.root_value[result.proven], [-1.0, 0.0, 1.0]))
        assert np.all(result.visit_counts[~legal] == 0)
        if not config.reuses_subtrees:
            assert np.all(result.reused_visits == 0)
        # Each simulation adds at most one node (none when it ends at a terminal or proven node).
        growth = result.tree_size[live] - nodes_before[live]
        assert np.all((growth >= 0) & (growth <= result.simulations[live]))
        assert np.all(result.max_depth[live] < result.tree_size[live])
        np.testing.assert_array_equal(result.max_depth[live] == 0, result.tree_size[live] == 1)
        assert np.all(np.abs(result.root_value) <= 1 + 1e-6)
        assert_tree_consistent(search)
        search.advance(result.actions)


def assert_tree_consistent(search: BatchedSearch) -> None:
    """Structural invariants of every live tree: links, visit sums, legality of expanded edges."""
    tree = search.tree
    for b in np.flatnonzero(~search.done):
        n = tree.num_nodes[b]
        for node in range(n):
            kids = tree.children_index[b, node]
            expanded = np.flatnonzero(kids >= 0)
            assert np.all(kids[expanded] > node) and np.all(kids[expanded] < n)
            assert np.all(tree.parent[b, kids[expanded]] == node)
            assert np.all(tree.children[b, node, PENALTY, expanded] == 0)  # only legal edges are expanded
            if np.isnan(tree.solved[b, node]) and node > 0:
                # Every visit after the node's first goes on to one child.
                assert tree.nodes[b, node, N_VISITS] == 1 + tree.children[b, node, VISITS].sum()
            elif np.isnan(tree.solved[b, node]):
                # A root may have lost a proof whose proving child the re-rooting dropped
                # (reuse_max_nodes); it keeps the visits it took as a proven leaf.
                assert tree.nodes[b, node, N_VISITS] >= 1 + tree.children[b, node, VISITS].sum()
            elif not tree.terminal[b, node]:
                # A proven node ends the simulations that reach it; its mean value is exact.
                assert tree.nodes[b, node, N_VISITS] >= 1 + tree.children[b, node, VISITS].sum()
                mean = tree.nodes[b, node, N_VALUE_SUM] / tree.nodes[b, node, N_VISITS]
                assert mean == pytest.approx(tree.solved[b, node])
        # Every node but the root has exactly one parent edge pointing at it.
        pointed = tree.children_index[b, :n][tree.children_index[b, :n] >= 0]
        assert sorted(pointed.tolist()) == list(range(1, n))


# ----- subtree reuse ------------------------------------------------------------------------


def subtree(search: BatchedSearch, b: int, node: int) -> dict:
    """A nested dict of node ``node`` of tree ``b``: its state, statistics and children by action."""
    tree = search.tree
    return {
        "state": tree.states[b, node].tolist(),
        "visits": float(tree.nodes[b, node, N_VISITS]),
        "value_sum": float(tree.nodes[b, node, N_VALUE_SUM]),
        "edges": tree.children[b, node, :2].tolist(),
        "children": {int(a): subtree(search, b, int(c)) for a, c in enumerate(tree.children_index[b, node]) if c >= 0},
    }


def test_subtree_reuse_keeps_the_chosen_childs_statistics(tictactoe, tictactoe_oracle):
    states = random_positions(tictactoe, 4, 0, 2, seed=4, decisive=False)
    config = SearchConfig(num_simulations=60, reuse_max_nodes=60)
    search = BatchedSearch(tictactoe, tictactoe_oracle, config, batch_size=len(states))
    search.reset(states, np.arange(len(states)))
    for _ in range(3):
        result = search.run()
        assert result.searched.all()
        children = search.tree.children_index[np.arange(len(states)), 0, result.actions]
        before = [subtree(search, b, int(c)) for b, c in enumerate(children)]
        child_visits = search.tree.nodes[np.arange(len(states)), children, N_VISITS].copy()
        search.advance(result.actions)
        after = [subtree(search, b, 0) for b in range(len(states))]
        assert before == after
        assert np.all(search.tree.num_nodes == [count_nodes(t) for t in before])
        result = search.run()
        live = result.searched
        assert live.any()
        np.testing.assert_array_equal(result.reused_visits[live], child_visits[live] - 1)
        search.advance(result.actions)
        if not live.all():
            break


def count_nodes(tree: dict) -> int:
    return 1 + sum(count_nodes(child) for child in tree["children"].values())


def test_reuse_keeps_at_most_reuse_max_nodes_and_a_valid_tree(tictactoe):
    state = tictactoe.generate(0, 1.0)
    config = SearchConfig(num_simulations=200, reuse_max_nodes=10, **GREEDY)
    search = BatchedSearch(tictactoe, uniform_network(9), config, batch_size=1)
    search.reset(state[None], [0])
    result = search.run()
    visits_before = search.tree.children[0, int(search.tree.children_index[0, 0, result.actions[0]]), VISITS].copy()
    search.advance(result.actions)
    assert search.tree.num_nodes[0] == 11  # the new root and ten nodes below it
    assert_tree_consistent(search)
    # Edge statistics survive even where the child node was dropped.
    np.testing.assert_array_equal(search.tree.children[0, 0, VISITS], visits_before)
    result = search.run()
    assert result.visit_counts[0].sum() == visits_before.sum() + 200
    assert_tree_consistent(search)


# ----- slots, terminal states, errors -------------------------------------------------------


def test_reset_slots_replaces_one_episode_and_terminal_roots_are_not_searched(tictactoe):
    config = SearchConfig(num_simulations=16, **GREEDY)
    search = BatchedSearch(tictactoe, uniform_network(9), config, batch_size=3)
    assert search.done.all()
    finished = board(tictactoe, "XXX OO. ...")
    states = np.array([tictactoe.generate(0, 1.0), finished, board(tictactoe, "XX. OO. ...")])
    search.reset(states, [0, 1, 2])
    np.testing.assert_array_equal(search.done, [False, True, False])
    result = search.run()
    np.testing.assert_array_equal(result.searched, [True, False, True])
    assert result.actions[1] == -1 and result.actions[2] == 2
    search.advance(result.actions)
    assert search.done[2] and not search.done[0]
    assert tictactoe.outcome(search.root_states[2:3])[0] == -1.0  # X won: a loss for O, now to move
    search.reset_slots([2], board(tictactoe, "XX. OO. ...")[None], [7])
    np.testing.assert_array_equal(search.move_numbers, [1, 0, 0])
    result = search.run()
    np.testing.assert_array_equal(result.searched, [True, False, True])
    assert result.actions[2] == 2


def test_advance_rejects_illegal_actions_and_changes_nothing(tictactoe):
    search = BatchedSearch(tictactoe, uniform_network(9), SearchConfig(num_simulations=8), batch_size=2)
    search.reset(np.array([board(tictactoe, "X.. ... ..."), board(tictactoe, "... ... ...")]), [0, 1])
    search.run()
    roots = search.root_states
    with pytest.raises(IllegalActionError):
        search.advance(np.array([0, 4]))  # cell 0 is taken in the first game
    np.testing.assert_array_equal(search.root_states, roots)
    search.advance(np.array([4, 4]))  # an unexpanded action is fine too: stepped, evaluated next run
    assert search.root_states[0, 4] == 2 and search.root_states[1, 4] == 1


def test_advance_with_an_action_the_search_did_not_expand(tictactoe):
    config = SearchConfig(num_simulations=1, **GREEDY)
    search = BatchedSearch(tictactoe, uniform_network(9), config, batch_size=1)
    search.reset(tictactoe.generate(0, 1.0)[None], [0])
    result = search.run()
    other = 8 if result.actions[0] != 8 else 7
    search.advance(np.array([other]))
    result = search.run()
    assert result.reused_visits[0] == 0 and result.visit_counts[0].sum() == 1


def test_network_with_a_wider_action_space_is_sliced(tictactoe):
    def wide(tokens, task_ids):
        logits = np.zeros((len(tokens), 20), dtype=np.float32)
        logits[:, 9:] = 100.0  # beyond the task's actions: must be ignored
        return logits, np.zeros(len(tokens), dtype=np.float32)

    search = BatchedSearch(tictactoe, wide, SearchConfig(num_simulations=9, **GREEDY), batch_size=1)
    search.reset(tictactoe.generate(0, 1.0)[None], [0])
    result = search.run()
    np.testing.assert_allclose(search.tree.children[0, 0, 2], np.full(9, 1 / 9), rtol=1e-6)
    assert result.policy.shape == (1, 9) and result.visit_counts[0].sum() == 9


def test_run_twice_without_advance_is_refused(tictactoe):
    search = BatchedSearch(tictactoe, uniform_network(9), SearchConfig(num_simulations=8, reuse_tree=False), 1)
    search.reset(tictactoe.generate(0, 1.0)[None], [0])
    search.run()
    with pytest.raises(RuntimeError, match="advance"):
        search.run()


@pytest.mark.parametrize("algorithm", ["puct", "gumbel"])
def test_run_on_a_subset_of_slots_leaves_the_others_untouched(tictactoe, tictactoe_oracle, algorithm):
    # Two searches over the same games, each running only its own slots, as match play does.
    config = SearchConfig(algorithm=algorithm, num_simulations=12, gumbel_scale=0.0, **GREEDY)
    states = random_positions(tictactoe, 4, 0, 3, seed=5, decisive=False)
    full = BatchedSearch(tictactoe, tictactoe_oracle, config, batch_size=4)
    part = BatchedSearch(tictactoe, tictactoe_oracle, config, batch_size=4)
    for search in (full, part):
        search.reset(states, np.arange(4))
    expected = full.run()
    active = np.array([True, False, True, False])
    untouched = (part.tree.num_nodes.copy(), part.tree.nodes.copy(), part.tree.children.copy())
    result = part.run(active=active)
    np.testing.assert_array_equal(result.searched, active)
    np.testing.assert_array_equal(result.actions[~active], -1)
    np.testing.assert_array_equal(result.actions[active], expected.actions[active])
    np.testing.assert_allclose(result.visit_counts[active], expected.visit_counts[active])
    assert part.network_rows < full.network_rows  # the left-out slots' roots were not even evaluated
    np.testing.assert_array_equal(part.tree.num_nodes[~active], untouched[0][~active])
    np.testing.assert_array_equal(part.tree.nodes[~active], untouched[1][~active])
    np.testing.assert_array_equal(part.tree.children[~active], untouched[2][~active])
    with pytest.raises(RuntimeError, match="advance"):
        part.run(active=active)  # searched already
    rest = part.run(active=~active)  # the other slots may still be searched before advancing
    np.testing.assert_array_equal(rest.actions[~active], expected.actions[~active])
    # Advance plays every live slot's move (here one from each run) and keeps the states in sync.
    moves = np.where(active, result.actions, rest.actions)
    part.advance(moves)
    full.advance(moves)
    np.testing.assert_array_equal(part.root_states, full.root_states)
    np.testing.assert_array_equal(part.move_numbers, full.move_numbers)


# ----- configuration and sequential halving -------------------------------------------------


def test_config_validates_its_metadata_constraints():
    SearchConfig()
    for bad in [
        {"algorithm": "alphabeta"},
        {"num_simulations": 0},
        {"dirichlet_alpha": 0.0},
        {"dirichlet_fraction": 1.5},
        {"fpu": "zero"},
    ]:
        with pytest.raises(ValueError, match=next(iter(bad))):
            SearchConfig(**bad)
    metadata = {f.name: f.metadata for f in dataclasses.fields(SearchConfig)}
    assert metadata["num_simulations"] == {"min": 1}
    assert metadata["algorithm"] == {"choices": ("puct", "gumbel")}


def test_every_algorithm_has_a_search_policy():
    from actors.search.config import ALGORITHMS
    from actors.search.policies import POLICIES, make_policy

    assert sorted(POLICIES) == sorted(ALGORITHMS)
    for algorithm in ALGORITHMS:
        policy = make_policy(SearchConfig(algorithm=algorithm), two_player=True, batch_size=2, num_actions=9)
        assert policy.log_priors == (algorithm == "gumbel")


def test_sequential_halving_schedule():
    assert considered_visit_sequence(4, 8) == [0, 0, 0, 0, 1, 1, 2, 2]
    assert considered_visit_sequence(1, 5) == [0, 1, 2, 3, 4]
    for m in range(1, 17):
        for n in (1, 7, 16, 32, 100):
            sequence = considered_visit_sequence(m, n)
            assert len(sequence) == n
            assert sequence[: min(m, n)] == [0] * min(m, n)  # every considered action is visited first


def test_oracle_network_values_match_minimax(tictactoe, tictactoe_oracle):
    states = random_positions(tictactoe, 30, 0, 6, seed=5, decisive=False)
    logits, values = tictactoe_oracle(tictactoe.encode(states), np.zeros(len(states), dtype=np.int64))
    assert logits.shape == (30, 9) and np.all(logits == 0)
    np.testing.assert_array_equal(values, [tictactoe.value(s) for s in states])
    with pytest.raises(ValueError, match="value"):
        from actors.tasks.maze import Maze

        oracle_network(Maze(5))
