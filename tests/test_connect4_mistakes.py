"""Connect Four's mistake rate in the evaluator: held-out positions, their exact labels, the accounting of a player's
mistakes and its buckets by stage and by distance to the end, the record and its text."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest

from actors.evaluator import EvaluationConfig, Evaluator, format_reference
from actors.evaluator.heldout import HELD_OUT_SEED_BASE
from actors.evaluator.mistakes import (
    DISTANCES,
    STAGE_PLIES,
    STAGES,
    LabelledPositions,
    bucket_index,
    greedy_moves,
    held_out_positions,
    label_positions,
    mistake_record,
    mistakes,
)
from actors.search import SearchConfig
from actors.tasks.config import TaskEntry, TasksConfig
from actors.tasks.connect4 import MOVES, ConnectFour
from learner.models import ModelConfig

TASK = ConnectFour()
TINY_TRM = ModelConfig(arch="trm", preset="tiny", hidden_size=32, num_heads=2)


def play(columns: list[int]) -> np.ndarray:
    return TASK.play(TASK.empty_state(), columns)


def always(column: int):
    """A player that plays ``column`` wherever it is legal, else the lowest legal column."""

    def choose(states: np.ndarray) -> np.ndarray:
        legal = TASK.legal_mask(states)
        return np.where(legal[:, column], column, legal.argmax(axis=1))

    return choose


def preferring(column: int, task_id: int = 0):
    """A network whose policy prefers ``column``, then lower columns (logits 7, 6, ... after it): a real callable."""
    logits = np.arange(7, 0, -1, dtype=np.float32)
    logits[column] = 100.0

    def network(tokens: np.ndarray, task_ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        assert (task_ids == task_id).all()
        return np.tile(logits, (len(tokens), 1)), np.zeros(len(tokens), dtype=np.float32)

    return network


# Hand-made positions whose right move is known without a solver:
# - BOTH_THREATS: X to move has three in column 0 and O three in column 6, both tops free: column 0 wins at once,
#   columns 1-5 let O win at once (losses); column 6 blocks (its value is the solver's to say).
# - O_WINS_NOW: the same with O to move and its win in column 6, X threatening column 0.
# - ALL_LOSE: X has an open three on the bottom row; whatever O plays, X wins: no move is a mistake.
BOTH_THREATS = play([0, 6, 0, 6, 0, 6])
O_WINS_NOW = play([1, 6, 0, 6, 0, 6, 0])
ALL_LOSE = play([2, 2, 3, 3, 4])


@pytest.fixture(scope="module")
def hand_made() -> LabelledPositions:
    return label_positions(np.stack([BOTH_THREATS, O_WINS_NOW, ALL_LOSE]))


def test_hand_made_positions_are_labelled_as_known(hand_made: LabelledPositions) -> None:
    win_now, o_win_now, lost = hand_made.scores
    assert win_now[0] == 18 and (win_now[1:6] == -18).all()  # O wins with its 4th stone
    assert o_win_now[6] == 18 and (o_win_now[1:6] == -17).all()  # X wins with its 5th stone
    assert (lost == -18).all()
    assert hand_made.critical.tolist() == [True, True, False]
    assert hand_made.position_scores.tolist() == [18, 18, -18]
    assert hand_made.distances.tolist() == [1, 1, 2]


@pytest.mark.parametrize("column", range(7))
def test_a_fixed_column_players_mistakes_are_exactly_the_labels(hand_made: LabelledPositions, column: int) -> None:
    moves = always(column)(hand_made.states)
    wrong = mistakes(hand_made, moves)
    # Known without the solver: the winning column is right, columns 1-5 lose at once, nothing is wrong when all lose.
    if column == 0:
        assert not wrong[0]
    if 1 <= column <= 5:
        assert wrong[:2].all()
    if column == 6:
        assert not wrong[1]
    assert not wrong[2]
    # And exactly what the labels say: the move's value (win / draw / loss) below the best's.
    values = np.sign(hand_made.scores[np.arange(3), moves])
    assert wrong.tolist() == (values < np.sign(np.nanmax(hand_made.scores, axis=1))).tolist()
    record = mistake_record(hand_made, {"network": moves})
    assert record["network_mistakes"] == int(wrong.sum()) and record["network_rate"] == pytest.approx(wrong.mean())
    assert record["positions"] == 3 and record["critical"] == 2


def test_greedy_moves_follow_the_policy_among_legal_columns() -> None:
    full_centre = play([4, 3, 3, 3, 3, 3, 3, 2, 2, 2, 2, 2, 2])  # columns 2 and 3 are full
    states = np.stack([BOTH_THREATS, full_centre])
    assert greedy_moves(TASK, 0, states, preferring(3)).tolist() == [3, 0]
    assert greedy_moves(TASK, 0, states, preferring(6)).tolist() == [6, 6]
    labels = LabelledPositions(
        states, np.zeros(2, dtype=np.int64), np.array([[0.0] * 7, [0, 1, np.nan, np.nan, 2, 3, 4]])
    )
    with pytest.raises(ValueError, match="illegal"):
        mistakes(labels, np.array([3, 3]))


def test_buckets_by_stage_and_distance_at_their_edges() -> None:
    assert bucket_index(np.array([0, 14, 15, 28, 29, 42]), STAGES).tolist() == [0, 0, 1, 1, 2, 2]
    assert bucket_index(np.array([1, 13, 14, 28, 29, 40]), DISTANCES).tolist() == [0, 0, 1, 1, 2, 2]
    assert [label for label, _, _ in STAGES] == ["<= 14", "15-28", "> 28"]
    assert [label for label, _, _ in DISTANCES] == ["< 14", "14-28", "> 28"]


def test_record_by_stage_and_distance_counts_each_position_once() -> None:
    """Synthetic labels (the accounting alone): a position per (plies, scores) with a known distance and mistake."""
    nan = np.nan
    rows = [  # plies, move scores, the distance they imply (plies_to_end of the best), the player's move, a mistake?
        (14, [5, -3, nan, nan, nan, nan, nan], 2 * (17 - 7) - 1, 1, True),  # win (mover's 17th stone) vs loss
        (15, [0, 0, -2, nan, nan, nan, nan], 42 - 15, 2, True),  # a draw thrown away
        (28, [-4, -4, -6, nan, nan, nan, nan], 2 * (18 - 14), 2, False),  # every move loses: no mistake
        (29, [1, 0, nan, nan, nan, nan, nan], 2 * (21 - 14) - 1, 0, False),  # the win, played
        (40, [0, nan, nan, nan, nan, nan, nan], 2, 0, False),  # the only move
    ]
    states = np.zeros((len(rows), TASK.spec.state_size), dtype=np.int64)
    states[:, MOVES] = [plies for plies, *_ in rows]
    labels = LabelledPositions(states, np.zeros(len(rows), dtype=np.int64), np.array([r[1] for r in rows]))
    assert labels.distances.tolist() == [r[2] for r in rows] == [19, 27, 8, 13, 2]
    moves = np.array([r[3] for r in rows])
    assert mistakes(labels, moves).tolist() == [r[4] for r in rows]
    record = mistake_record(labels, {"network": moves, "search": np.zeros(len(rows), dtype=np.int64)})
    assert (record["positions"], record["critical"], record["network_mistakes"], record["search_mistakes"]) == (
        5,
        3,
        2,
        0,
    )
    stage = {k: (v["positions"], v["critical"], v["network_mistakes"]) for k, v in record["by_stage"].items()}
    assert stage == {"<= 14": (1, 1, 1), "15-28": (2, 1, 1), "> 28": (2, 1, 0)}
    distance = {k: (v["positions"], v["network_mistakes"]) for k, v in record["by_distance"].items()}
    assert distance == {"< 14": (3, 0), "14-28": (2, 2), "> 28": (0, 0)}
    assert record["by_distance"]["> 28"]["network_rate"] is None  # an empty bucket has no rate
    assert record["by_stage"]["<= 14"]["network_rate"] == 1.0 and record["network_rate"] == pytest.approx(0.4)


def test_held_out_positions_are_fixed_spread_over_the_stages_and_live() -> None:
    states, seeds = held_out_positions(TASK, 2, 9, seed=4)
    again, again_seeds = held_out_positions(TASK, 2, 9, seed=4)
    np.testing.assert_array_equal(states, again)
    np.testing.assert_array_equal(seeds, again_seeds)
    assert (seeds >= HELD_OUT_SEED_BASE).all() and len({s.tobytes() for s in states}) == 9
    for index, state in enumerate(states):
        low, high = STAGE_PLIES[index % 3]
        assert low <= state[MOVES] <= high and not TASK.is_terminal(state[None])[0]
    assert not np.array_equal(held_out_positions(TASK, 3, 9, seed=4)[0], states)  # each task id its own


def test_the_evaluator_reports_the_mistake_rate_and_keeps_its_labels() -> None:
    config = EvaluationConfig(reference_games=2, connect4_reference_depths=[1], connect4_positions=9)
    entries = TasksConfig([TaskEntry("connect4")])
    ev = Evaluator(entries, TINY_TRM, SearchConfig(num_simulations=4), config, seed=5)
    network = preferring(3)
    record = ev.measure(network)
    json.dumps(record, allow_nan=False)
    labels = ev.connect4_positions(0)
    assert ev.connect4_positions(0) is labels  # solved once
    result = record["mistakes"]["search/connect4"]
    expected = mistakes(labels, always(3)(labels.states))  # the raw network plays column 3 wherever it can
    assert result["network_mistakes"] == int(expected.sum()) and result["positions"] == 9
    assert result["critical"] == int(labels.critical.sum()) and result["simulations"] == 4
    assert 0 <= result["search_mistakes"] <= result["critical"]
    for key in ("by_stage", "by_distance"):
        buckets = result[key].values()
        for figure in ("positions", "critical", "network_mistakes", "search_mistakes"):
            assert sum(b[figure] for b in buckets) == result[figure]
    assert [b["positions"] for b in result["by_stage"].values()] == [3, 3, 3]
    assert set(record["tasks"]["search/connect4"]) == {"alphabeta-1", "random"}  # the opponents, nothing else
    assert ev.measure(network)["mistakes"] == record["mistakes"]  # deterministic
    text = format_reference({"version": 1, **record})
    assert "mistakes in 9 solved positions" in text and "mistakes with search (4 simulations)" in text
    assert "plies played <= 14" in text and "plies to the end > 28" in text
    off = Evaluator(entries, TINY_TRM, SearchConfig(num_simulations=4), replace(config, connect4_positions=0), 5)
    assert off.measure(network)["mistakes"] == {}


def test_connect4_positions_must_not_be_negative() -> None:
    with pytest.raises(ValueError, match="connect4_positions"):
        EvaluationConfig(connect4_positions=-1)
