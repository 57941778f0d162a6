"""The evaluator: held-out sets, fair match play, reference opponents, statistics and the promotion rule."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from actors.evaluator import (
    HELD_OUT_SEED_BASE,
    EvaluationConfig,
    Evaluator,
    SearchPlayer,
    create_evaluator,
    decide_promotion,
    early_stop,
    elo_difference,
    evaluation_search_config,
    format_reference,
    game_verdict,
    play_match,
    puzzle_verdict,
    random_mover,
    sign_test_p_value,
    solver_mover,
    sprt_llr,
)
from actors.search import SearchConfig, uniform_network
from actors.tasks.config import TaskEntry, TasksConfig
from actors.tasks.registry import make_task
from learner.models import ModelConfig, build_model

TICTACTOE = TaskEntry("tictactoe")
MAZE = TaskEntry("maze", difficulty=(0.3, 1.0), params={"size": 6})
TINY_TRM = ModelConfig(arch="trm", preset="tiny", hidden_size=32, num_heads=2)
SMALL = dict(puzzles_per_task=12, games_per_task=8, games_per_round=8, reference_games=4)


def evaluator(entries, sims: int = 16, **evaluation) -> Evaluator:
    config = EvaluationConfig(**{**SMALL, **evaluation})
    return Evaluator(TasksConfig(list(entries)), TINY_TRM, SearchConfig(num_simulations=sims), config, seed=7)


def games_played(result: dict) -> int:
    """The games of one reference opponent's record: wins + draws + losses."""
    return result["wins"] + result["draws"] + result["losses"]


def without_timing(record: dict) -> dict:
    """``record`` without what a rerun may change: its duration, the process's memory and CPU use and where it ran."""
    return {key: value for key, value in record.items() if key not in ("seconds", "rss_bytes", "cpu_percent", "actor")}


def exact_results(task, openings: np.ndarray) -> np.ndarray:
    """``[2n]``: the game value of each match game for the side seated first in `play_match`'s layout."""
    values = np.array([task.value(state) for state in openings])
    return np.stack([values, -values], axis=1).reshape(-1)


def trm_weights(entries, seed: int) -> dict[str, np.ndarray]:
    torch.manual_seed(seed)
    model = build_model(TINY_TRM, [make_task(e.kind, e.params).spec for e in entries])
    return {name: value.numpy().copy() for name, value in model.state_dict().items()}


@pytest.fixture(scope="module", autouse=True)
def one_torch_thread():
    """Run torch on one thread, as the evaluator actor does (Ray sets OMP_NUM_THREADS to its num_cpus).

    Small batches gain nothing from more threads, and on a busy 2-core machine
    two threads took 25x longer (spinning at their barriers).
    """
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


# ----- held-out instances ------------------------------------------------------------------


def test_held_out_sets_are_fixed_seeded_above_selfplay_and_spread_over_difficulty():
    first, second = evaluator([MAZE, TICTACTOE]), evaluator([MAZE, TICTACTOE])
    held = first.held_out(0, 12)
    assert (held.seeds >= HELD_OUT_SEED_BASE).all() and (held.seeds < 2**32).all()
    np.testing.assert_allclose(held.difficulties, np.linspace(0.3, 1.0, 12))
    for state, seed, difficulty in zip(held.states, held.seeds, held.difficulties, strict=True):
        np.testing.assert_array_equal(state, first.tasks[0].generate(int(seed), float(difficulty)))
    assert len({state.tobytes() for state in held.states}) == 12
    again = second.held_out(0, 12)  # another evaluator (a restarted actor) draws the same instances
    np.testing.assert_array_equal(again.states, held.states)
    np.testing.assert_array_equal(again.seeds, held.seeds)
    assert not np.isin(first.held_out(1, 12).seeds, held.seeds).any()  # each task id has its own seeds
    fixed = evaluator([MAZE], difficulty=(0.5, 0.5)).held_out(0, 4)
    np.testing.assert_allclose(fixed.difficulties, 0.5)


def test_puzzles_are_compared_on_the_same_instances_for_both_sides():
    ev = evaluator([MAZE], sims=4, reference_in_gate=False)

    def recording(network, calls: list):
        def call(tokens, task_ids):
            calls.append(tokens.copy())
            return network(tokens, task_ids)

        return call

    candidate_calls, best_calls = [], []
    record = ev.compare(recording(uniform_network(4), candidate_calls), recording(uniform_network(4), best_calls))
    held = ev.held_out(0, SMALL["puzzles_per_task"])
    # Each side's first network call evaluates the roots: every held-out instance, the same for both.
    expected = ev.tasks[0].encode(held.states)
    np.testing.assert_array_equal(candidate_calls[0], expected)
    np.testing.assert_array_equal(best_calls[0], expected)
    result = record["tasks"]["reasoning/maze"]
    assert result["candidate_only"] == result["best_only"] == 0  # same network, same instances, same search
    assert result["verdict"] == "neutral" and not record["accepted"]
    assert sum(bucket["instances"] for bucket in result["by_difficulty"].values()) == held.states.shape[0]


def solver_prior_network(task, states: np.ndarray):
    """A maze network whose prior points along the solver's path from each of ``states`` (value 0)."""
    hints = {}
    for state in states:
        for action in task.solve(state):
            hints[task.encode(state[None])[0].tobytes()] = action
            state = task.step(state[None], np.array([action]))[0]

    def network(tokens, task_ids):
        logits = np.zeros((len(tokens), task.spec.num_actions), dtype=np.float32)
        for row, key in enumerate(np.ascontiguousarray(tokens).view(f"V{tokens.shape[1] * 8}").ravel()):
            action = hints.get(key.tobytes())
            if action is not None:
                logits[row, action] = 8.0
        return logits, np.zeros(len(tokens), dtype=np.float32)

    return network


def test_a_significantly_better_puzzle_solver_is_accepted_and_a_worse_one_rejected():
    ev = evaluator([MAZE], sims=2, puzzles_per_task=24, reference_in_gate=False)
    held = ev.held_out(0, 24)
    good, weak = solver_prior_network(ev.tasks[0], held.states), uniform_network(4)
    better = ev.compare(good, weak)
    result = better["tasks"]["reasoning/maze"]
    assert result["candidate_solve_rate"] == 1.0 and result["best_solve_rate"] < 0.7
    assert result["p_better"] <= 0.05 and better["accepted"], better["reason"]
    worse = ev.compare(weak, good)
    assert worse["parts"] == {"reasoning/maze": "worse"} and not worse["accepted"]


# ----- match play --------------------------------------------------------------------------


def test_a_torch_network_against_itself_scores_one_half_and_is_not_promoted():
    entries = [TICTACTOE, MAZE]
    ev = evaluator(entries, sims=8, games_per_task=12, games_per_round=12, early_stop="none")
    weights = trm_weights(entries, seed=0)
    record = ev.gate(3, weights, 2, weights)
    match = record["tasks"]["search/tictactoe"]
    assert match["games"] == 12 and match["rule"] == "threshold"  # early_stop "none": every game is played
    # Colours are swapped on every opening, so identical players split every pair of games.
    assert match["score"] == pytest.approx(0.5, abs=0.05)
    elo = elo_difference(match["wins"], match["draws"], match["losses"])
    assert match["elo"] == elo.elo and match["elo_interval"] == [elo.low, elo.high]
    assert elo.low < 0.0 < elo.high  # no difference between identical players is ruled out
    assert record["tasks"]["reasoning/maze"]["candidate_only"] == record["tasks"]["reasoning/maze"]["best_only"] == 0
    assert not record["accepted"] and record["candidate_version"] == 3 and record["best_version"] == 2
    assert set(record["reference"]["tasks"]["search/tictactoe"]) == {"minimax", "random"}
    json.dumps(record, allow_nan=False)  # JSON-ready: no numpy scalars or arrays, no NaN or infinity
    always = evaluator(entries, sims=8, gating="always", reference_in_gate=False).gate(3, [weights], 2, [weights])
    assert always["accepted"] and always["tasks"]["search/tictactoe"]["games"] == SMALL["games_per_task"]


def test_the_oracle_never_drops_below_the_game_value_and_beats_a_uniform_network(tictactoe, tictactoe_oracle):
    ev = evaluator([TICTACTOE], reference_in_gate=False, games_per_task=24, games_per_round=24)
    held = ev.held_out(0, 12)
    player = SearchPlayer(tictactoe_oracle, ev.searches[0])
    results, _ = play_match(
        tictactoe, 0, held.states, held.seeds, player, SearchPlayer(uniform_network(9), ev.searches[0])
    )
    exact = exact_results(tictactoe, held.states)
    assert (results >= exact).all() and (results > exact).any()
    record = ev.compare(tictactoe_oracle, uniform_network(9))
    assert record["accepted"] and record["tasks"]["search/tictactoe"]["score"] >= 0.55, record["reason"]
    assert not ev.compare(uniform_network(9), tictactoe_oracle)["accepted"]
    assert not ev.compare(tictactoe_oracle, tictactoe_oracle)["accepted"]  # identical players: score 0.5 < 0.55


def test_many_more_simulations_beat_fewer(tictactoe):
    # The same uniform network with 64 simulations per move against 2.
    ev = evaluator([TICTACTOE])
    held = ev.held_out(0, 12)
    strong = SearchPlayer(uniform_network(9), evaluation_search_config(SearchConfig(num_simulations=64)))
    weak = SearchPlayer(uniform_network(9), evaluation_search_config(SearchConfig(num_simulations=2)))
    results, _ = play_match(tictactoe, 0, held.states, held.seeds, strong, weak)
    assert ((results + 1) / 2).mean() >= 0.7


# ----- reference opponents -----------------------------------------------------------------


def test_oracle_with_search_never_loses_to_minimax_and_a_uniform_network_does(tictactoe, tictactoe_oracle):
    from_start = evaluator([TICTACTOE], difficulty=(1.0, 1.0), reference_games=2).measure(tictactoe_oracle)
    assert from_start["tasks"]["search/tictactoe"]["minimax"] == {"wins": 0, "draws": 2, "losses": 0, "lost_games": []}
    ev = evaluator([TICTACTOE], reference_games=16)
    held = ev.held_out(0, 8)
    results, moves = play_match(
        tictactoe, 0, held.states, held.seeds, SearchPlayer(tictactoe_oracle, ev.searches[0]), solver_mover(tictactoe)
    )
    np.testing.assert_array_equal(results, exact_results(tictactoe, held.states))  # perfect play on both sides
    # The recorded moves replay each game to its end and its result.
    for game, opening in enumerate(np.repeat(held.states, 2, axis=0)):
        final = tictactoe.play(opening, list(moves[game][moves[game] >= 0]))
        assert tictactoe.is_terminal(final[None])[0]
        assert abs(tictactoe.outcome(final[None])[0]) == abs(results[game])
    weak = evaluator([TICTACTOE], sims=2, reference_games=16).measure(uniform_network(9))
    record = weak["tasks"]["search/tictactoe"]
    # Reference openings are balanced, so perfect play never loses from them: the network cannot win.
    assert record["minimax"]["losses"] > 0 and record["minimax"]["wins"] == 0
    assert games_played(record["random"]) == 16
    # Every lost game is recorded readably: the opening, the network's side, and the moves to the loss.
    lost = record["minimax"]["lost_games"]
    assert len(lost) == record["minimax"]["losses"]
    assert all(game["moves"] and " to move" in game["opening"] for game in lost)
    text = format_reference({"version": 1, "seconds": 1.0, **weak})
    assert text.count("lost vs minimax") == record["minimax"]["losses"]


def test_random_mover_plays_legal_moves_reproducibly(tictactoe):
    states = np.array([tictactoe.generate(s, 0.0) for s in range(20)])
    first = random_mover(tictactoe, np.random.default_rng(1))(states)
    assert tictactoe.legal_mask(states)[np.arange(20), first].all()
    np.testing.assert_array_equal(first, random_mover(tictactoe, np.random.default_rng(1))(states))
    assert not np.array_equal(first, random_mover(tictactoe, np.random.default_rng(2))(states))  # not a fixed rule


def test_connect_four_reference_opponents_and_puzzle_reference_record():
    entries = [TaskEntry("connect4"), MAZE]
    # Without the mistake rate (its solved positions take seconds; tests/test_connect4_mistakes.py has it).
    ev = evaluator(
        entries, sims=2, reference_games=2, puzzles_per_task=4, connect4_reference_depths=[1, 2], connect4_positions=0
    )
    record = ev.measure(uniform_network(7))
    assert record["mistakes"] == {}
    games = record["tasks"]["search/connect4"]
    assert set(games) == {"alphabeta-1", "alphabeta-2", "random"}
    assert all(games_played(result) == 2 for result in games.values())
    puzzles = record["tasks"]["reasoning/maze"]
    # A uniform policy's greedy move is the first legal action: replay that rule independently.
    maze, states = ev.tasks[1], ev.held_out(1, 4).states.copy()
    for _ in range(maze.spec.max_steps):
        live = ~maze.is_terminal(states)
        if not live.any():
            break
        states[live] = maze.step(states[live], maze.legal_mask(states[live]).argmax(axis=1))
    assert puzzles["instances"] == 4
    assert puzzles["greedy_solve_rate"] == pytest.approx((maze.outcome(states) >= 1.0).mean())
    # The buckets partition the instances, so their rates average back to the overall ones.
    buckets = puzzles["by_difficulty"].values()
    assert sum(b["instances"] for b in buckets) == 4
    for key in ("solve_rate", "greedy_solve_rate"):
        assert sum(b[key] * b["instances"] for b in buckets) / 4 == pytest.approx(puzzles[key])
    text = format_reference({"version": 1, "seconds": 1.0, **record})
    assert "alphabeta-2" in text and "solve rate" in text


# ----- statistics and the promotion rule ---------------------------------------------------


def test_sign_test_p_values_are_exact_binomial_tails():
    assert sign_test_p_value(0, 0) == 1.0
    assert sign_test_p_value(5, 0) == pytest.approx(1 / 32)
    assert sign_test_p_value(8, 1) == pytest.approx(10 / 512)
    assert sign_test_p_value(3, 1) == pytest.approx(5 / 16)
    assert sign_test_p_value(1, 3) == pytest.approx(15 / 16)
    # A significant gain passes; a small one, or one on too few discordant pairs, does not.
    assert puzzle_verdict(12, 2, 0.05)[0] == "pass"
    assert puzzle_verdict(7, 4, 0.05)[0] == "neutral"
    assert puzzle_verdict(4, 0, 0.05)[0] == "neutral"  # p = 1/16
    assert puzzle_verdict(1, 9, 0.05)[0] == "worse"


def test_sprt_and_the_decided_rule_stop_matches_early():
    config = EvaluationConfig(games_per_task=40, win_rate_threshold=0.55)
    assert sprt_llr(0, 0, 0, 0.5, 0.6) == 0.0
    assert sprt_llr(15, 5, 0, 0.5, 0.6) > 0 > sprt_llr(2, 16, 2, 0.5, 0.6)
    assert early_stop(18, 2, 0, 40, config) == ("accept", "sprt")
    assert early_stop(0, 20, 0, 40, config) == ("reject", "sprt")  # all draws: not better
    assert early_stop(6, 8, 6, 40, config) is None  # undecided
    decided = EvaluationConfig(games_per_task=40, early_stop="decided")
    assert early_stop(22, 0, 8, 40, decided) == ("accept", "decided")  # 22 points of 40 reached already
    assert early_stop(1, 0, 19, 40, decided) == ("reject", "decided")  # 21 points at most
    assert early_stop(18, 2, 0, 40, decided) is None
    assert early_stop(22, 0, 8, 40, EvaluationConfig(early_stop="none")) is None


def test_promotion_rule_over_parts():
    assert game_verdict(True, 0.6, 0.55) == "pass"
    assert game_verdict(False, 0.5, 0.55) == "neutral"
    assert game_verdict(False, 0.45, 0.55) == "worse"
    good, even, bad = ("pass", "s"), ("neutral", "s"), ("worse", "s")
    assert decide_promotion({"games": good, "puzzles": even}, "threshold")[0]
    assert not decide_promotion({"games": good, "puzzles": bad}, "threshold")[0]
    assert not decide_promotion({"games": even, "puzzles": even}, "threshold")[0]
    assert decide_promotion({"games": even, "puzzles": good}, "threshold")[0]
    accepted, reason = decide_promotion({"games": bad}, "always")
    assert accepted and "gating is off" in reason


def test_evaluation_config_validates_its_fields():
    EvaluationConfig()
    for bad in [
        {"gating": "sometimes"},
        {"games_per_task": 7},
        {"games_per_round": 0},
        {"win_rate_threshold": 0.4},
        {"sprt_p0": 0.6, "sprt_p1": 0.5},
        {"puzzle_significance": 0.0},
        {"connect4_reference_depths": [0]},
        {"num_simulations": 0},
        {"difficulty": (0.8, 0.2)},
    ]:
        with pytest.raises(ValueError):
            EvaluationConfig(**bad)


# ----- as a Ray actor ----------------------------------------------------------------------


def test_gate_and_reference_through_a_ray_actor(local_ray):
    ray = local_ray
    entries = [TICTACTOE]
    config = EvaluationConfig(**{**SMALL, "games_per_task": 4, "games_per_round": 4, "reference_games": 2})
    actor = create_evaluator(TasksConfig(entries), TINY_TRM, SearchConfig(num_simulations=4), config, seed=0)
    candidate, best = ray.put(trm_weights(entries, 1)), ray.put(trm_weights(entries, 2))
    record = ray.get(actor.gate.remote(1, [candidate], 0, [best]), timeout=120)
    assert record["tasks"]["search/tictactoe"]["games"] == 4
    reference = ray.get(actor.reference.remote(0, [best]), timeout=120)
    assert reference["version"] == 0 and games_played(reference["tasks"]["search/tictactoe"]["random"]) == 2
    ray.kill(actor)
    # Evaluation is deterministic: the same weights give the same records in this process as in the actor.
    here = Evaluator(TasksConfig(entries), TINY_TRM, SearchConfig(num_simulations=4), config, seed=0)
    assert without_timing(here.gate(1, ray.get(candidate), 0, ray.get(best))) == without_timing(record)
    assert without_timing(here.reference(0, ray.get(best))) == without_timing(reference)


def test_each_task_is_evaluated_with_its_own_search_settings():
    entries = [TaskEntry(kind="tictactoe"), TaskEntry(kind="countdown", search={"algorithm": "gumbel"})]
    searches = evaluator(entries, sims=12).searches
    assert [s.algorithm for s in searches] == ["puct", "gumbel"]
    assert all(s.num_simulations == 12 and s.temperature_init == s.temperature_final == 0.0 for s in searches)
    assert all(s.dirichlet_fraction == 0.0 and s.gumbel_scale == 0.0 for s in searches)  # exploration off
