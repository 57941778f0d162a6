"""The curriculum: levels move only on measured success (or on schedule), workers draw from the ranges handed over."""

from __future__ import annotations

import json

import numpy as np
import pytest

from actors.search import SearchConfig, uniform_network
from actors.selfplay import SelfPlayConfig, SelfPlayWorker
from actors.tasks.config import CurriculumConfig, TaskEntry, TasksConfig
from actors.tasks.curriculum import Curriculum, LevelChange, entry_labels
from cluster.config import ConfigError, dump_yaml, load_config
from tests.test_selfplay import TINY, ListSink

# 4x4 Sudoku searched with one simulation and no knowledge: measured here, the solve rate falls
# with difficulty from 1.0 (d <= 0.3) through 0.86 (0.5) and 0.69 (0.6) to 0.38 (1.0), so
# success is set by the difficulty the worker is handed.
SUDOKU = {"kind": "sudoku", "params": {"size": 4}}
ONE_SIMULATION = SearchConfig(num_simulations=1)
ADAPTIVE = {"mode": "adaptive", "step": 0.1, "width": 0.2, "min_episodes": 100, "raise_above": 0.8}


def mix(*entries: dict) -> TasksConfig:
    return TasksConfig([TaskEntry(**entry) for entry in entries])


def sudoku_worker(tasks: TasksConfig, sink: ListSink | None = None, seed: int = 0) -> SelfPlayWorker:
    config = SelfPlayConfig(episodes_per_worker=16, push_positions=64)
    network = uniform_network(64)  # tic-tac-toe's 9 actions are a prefix: one network serves both kinds
    return SelfPlayWorker(tasks, TINY, ONE_SIMULATION, config, seed, 0, sink, network=network)


def play_with(curriculum: Curriculum, worker: SelfPlayWorker, calls: int) -> list[dict]:
    """``calls`` play calls of 10 rounds, each handed the curriculum's current ranges; returns their stats."""
    history = []
    for _ in range(calls):
        handed = curriculum.ranges()
        stats = worker.play(0, None, seconds=600, rounds=10, difficulties=handed)
        assert [tuple(row["range"]) for row in stats["by_task_id"]] == handed
        curriculum.observe_call(stats)
        history.append(stats)
    return history


# ----- adaptive, from counts --------------------------------------------------------------------


def test_the_level_rises_only_after_a_block_of_enough_episodes_passes_the_threshold():
    curriculum = Curriculum(mix({**SUDOKU, "curriculum": ADAPTIVE}))
    assert curriculum.levels() == [0.0] and curriculum.ranges() == [(0.0, 0.0)]
    curriculum.observe(0, 99, (0.0, 0.0), 99, 99)  # all solved, but fewer than min_episodes
    assert curriculum.levels() == [0.0] and not curriculum.changes
    curriculum.observe(0, 1, (0.0, 0.0), 1, 0)  # the block is full: 99 of 100 > 0.8
    assert curriculum.levels() == [0.1] and curriculum.ranges() == [(0.0, 0.1)]
    (change,) = curriculum.take_changes()
    assert change == LevelChange(0, "reasoning/sudoku", 0.0, 0.1, "success 0.990 over 100 episodes > 0.8")
    assert str(change) == "reasoning/sudoku: level 0 -> 0.1 (success 0.990 over 100 episodes > 0.8)"
    assert curriculum.take_changes() == []

    curriculum.observe(0, 500, (0.0, 0.0), 500, 500)  # drawn from the old window: not this level's measurement
    assert curriculum.levels() == [0.1] and curriculum.metrics()["reasoning/sudoku"]["block_episodes"] == 0
    curriculum.observe(0, 100, (0.0, 0.1), 100, 80)  # 0.8 is not above 0.8: no rise, and the block restarts
    assert curriculum.levels() == [0.1] and curriculum.metrics()["reasoning/sudoku"]["block_episodes"] == 0
    curriculum.observe(0, 100, (0.0, 0.1), 100, 81)
    curriculum.observe(0, 250, (0.0, 0.2), 250, 250)  # one report of a whole block and more: one step
    assert curriculum.levels() == [0.3] and curriculum.ranges() == [(0.1, 0.3)]  # rounded: not 0.30000000000000004
    assert [c.new for c in curriculum.take_changes()] == [0.2, 0.3]


def test_the_level_falls_back_after_a_collapse_and_stays_within_the_range():
    curriculum = Curriculum(mix({**SUDOKU, "difficulty": (0.2, 0.6), "curriculum": {**ADAPTIVE, "start": 0.4}}))
    assert curriculum.ranges() == [(0.2, 0.4)]
    curriculum.observe(0, 100, (0.2, 0.4), 100, 30)  # 0.3 is not below 0.3
    assert curriculum.levels() == [0.4]
    curriculum.observe(0, 100, (0.2, 0.4), 100, 29)
    assert curriculum.levels() == [0.3] and curriculum.ranges() == [(0.2, 0.3)]
    assert curriculum.take_changes()[0].why == "success 0.290 over 100 episodes < 0.3"
    for _ in range(3):  # further collapses stop at low
        curriculum.observe(0, 100, curriculum.ranges()[0], 100, 0)
    assert curriculum.levels() == [0.2] and curriculum.ranges() == [(0.2, 0.2)]
    assert [c.new for c in curriculum.take_changes()] == [0.2]
    for _ in range(6):  # successes climb to high and no further
        curriculum.observe(0, 100, curriculum.ranges()[0], 100, 100)
    assert curriculum.levels() == [0.6] and curriculum.ranges() == [(0.4, 0.6)]
    with pytest.raises(ValueError, match="successes <= episodes <= played"):
        curriculum.observe(0, 10, (0.4, 0.6), 10, 11)
    with pytest.raises(ValueError, match="task id 3 is not in the mix"):
        curriculum.observe(3, 1, (0.4, 0.6), 1, 1)


# ----- adaptive, measured by a real worker -------------------------------------------------------


def test_a_real_worker_raises_the_level_while_it_solves():
    """The issue's "curriculum raises difficulty only after success", on measured outcomes: from 0 the level
    climbs step by step while the worker solves its window, each rise on a full block above the threshold
    (the next test: a worker that does not solve its window stays where it is)."""
    tasks = mix({**SUDOKU, "curriculum": ADAPTIVE})
    curriculum, sink = Curriculum(tasks), ListSink()
    play_with(curriculum, sudoku_worker(tasks, sink), calls=40)
    changes = curriculum.take_changes()
    assert all(c.new == round(c.old + 0.1, 9) for c in changes)  # only rises here, one step at a time
    for change in changes:  # each rise was earned by a full block above the threshold
        rate, episodes = change.why.split()[1], change.why.split()[3]
        assert float(rate) > 0.8 and int(episodes) >= 100
    assert curriculum.levels()[0] >= 0.5
    # The trajectories the worker pushed never go above the level reached when they were drawn.
    assert max(t.difficulty for t in sink.trajectories) <= curriculum.levels()[0]


def test_a_real_worker_that_fails_its_window_keeps_its_level():
    """At difficulties 0.8-1.0 one simulation solves about half: several full blocks, no rise, no collapse."""
    tasks = mix({**SUDOKU, "difficulty": (0.8, 1.0), "curriculum": ADAPTIVE})
    curriculum = Curriculum(tasks)
    history = play_with(curriculum, sudoku_worker(tasks), calls=30)
    measured = sum(s["by_task_id"][0]["range_episodes"] for s in history)
    solved = sum(s["by_task_id"][0]["range_successes"] for s in history)
    assert measured >= 3 * 100 and 0.3 < solved / measured < 0.8
    assert curriculum.levels() == [0.8] and curriculum.changes == []


def test_a_real_worker_that_collapses_brings_the_level_down():
    tasks = mix({**SUDOKU, "curriculum": {**ADAPTIVE, "start": 1.0, "lower_below": 0.6}})
    curriculum = Curriculum(tasks)
    play_with(curriculum, sudoku_worker(tasks), calls=12)
    changes = curriculum.take_changes()
    assert changes and changes[0].old == 1.0 and changes[0].new == 0.9
    assert all(c.new < c.old and float(c.why.split()[1]) < 0.6 for c in changes)
    assert curriculum.levels()[0] < 1.0


# ----- the worker draws from the ranges handed over ----------------------------------------------


def test_the_worker_draws_new_instances_from_the_ranges_it_is_handed():
    tasks = mix({"kind": "tictactoe"}, SUDOKU)
    sink = ListSink()
    worker = sudoku_worker(tasks, sink)
    first = worker.play(0, None, seconds=600, rounds=10, difficulties=[(0.0, 0.2), (0.3, 0.4)])
    # Slots that had not moved yet were redrawn: every episode of the call comes from the ranges handed over.
    assert first["episodes"] == len(sink.trajectories) > 0
    for t in sink.trajectories:
        assert (0.0 <= t.difficulty <= 0.2) if t.task_id == 0 else (0.3 <= t.difficulty <= 0.4)
    rows = first["by_task_id"]
    assert [row["task"] for row in rows] == ["tictactoe", "sudoku"]
    assert [row["episodes"] for row in rows] == [row["range_episodes"] for row in rows]

    before = len(sink.trajectories)
    second = worker.play(0, None, seconds=600, rounds=10, difficulties=[(0.0, 0.2), (0.7, 0.8)])
    sudoku = [t for t in sink.trajectories[before:] if t.task_id == 1]
    new = [t for t in sudoku if 0.7 <= t.difficulty <= 0.8]
    old = [t for t in sudoku if 0.3 <= t.difficulty <= 0.4]
    assert len(new) + len(old) == len(sudoku) and new
    assert len(old) <= worker.groups[1].num_slots  # only episodes running at the change finish as drawn
    row = second["by_task_id"][1]
    assert row["range"] == [0.7, 0.8] and row["episodes"] == len(sudoku)
    assert row["range_episodes"] == len(new) and row["range_successes"] == sum(t.success for t in new)

    third = worker.play(0, None, seconds=600, rounds=10)  # None: the config's ranges again
    assert [row["range"] for row in third["by_task_id"]] == [[0.0, 1.0], [0.0, 1.0]]

    with pytest.raises(ValueError, match=r"difficulties\[1\]: expected a pair \(low, high\)"):
        worker.play(0, None, rounds=1, difficulties=[(0.0, 0.2), (0.5, 0.4)])
    with pytest.raises(ValueError, match=r"one range per task id \(2\), got 1"):
        worker.play(0, None, rounds=1, difficulties=[(0.0, 0.2)])


def test_mode_none_leaves_self_play_as_it_was():
    tasks = mix({"kind": "tictactoe"}, {**SUDOKU, "difficulty": (0.1, 0.5)})
    curriculum = Curriculum(tasks)
    assert curriculum.ranges() == [(0.0, 1.0), (0.1, 0.5)] and curriculum.levels() == [1.0, 0.5]
    runs = []
    for difficulties in (None, curriculum.ranges()):
        sink = ListSink()
        stats = sudoku_worker(tasks, sink, seed=5).play(0, None, seconds=600, rounds=8, difficulties=difficulties)
        curriculum.observe_call(stats)
        runs.append(sink.trajectories)
    assert len(runs[0]) == len(runs[1]) > 0
    for a, b in zip(*runs, strict=True):  # the same instances, drawn from the same stream
        assert np.array_equal(a.tokens, b.tokens) and (a.difficulty, a.success) == (b.difficulty, b.success)
    assert curriculum.ranges() == [(0.0, 1.0), (0.1, 0.5)] and curriculum.changes == []


# ----- linear ------------------------------------------------------------------------------------


def test_the_linear_schedule_reaches_high_at_the_configured_episode_count():
    linear = {"mode": "linear", "step": 0.1, "width": 0.2, "episodes": 1000}
    curriculum = Curriculum(mix({**SUDOKU, "difficulty": (0.2, 0.8), "curriculum": linear}, {"kind": "tictactoe"}))
    assert curriculum.levels() == [0.2, 1.0] and curriculum.ranges() == [(0.2, 0.2), (0.0, 1.0)]
    levels = []
    for _ in range(19):  # 950 episodes, from whatever window: the schedule counts every episode played
        curriculum.observe(0, 50, (0.0, 1.0), 0, 0)
        levels.append(curriculum.levels()[0])
    assert levels == sorted(levels) and levels[9] == 0.5  # 500 of 1000: 0.2 + 3 steps of 0.1
    assert levels[-1] == 0.7 and curriculum.ranges()[0] == (0.5, 0.7)
    curriculum.observe(0, 49, (0.0, 1.0), 0, 0)
    assert curriculum.levels()[0] == 0.7  # 999 episodes
    curriculum.observe(0, 1, (0.0, 1.0), 0, 0)
    assert curriculum.levels()[0] == 0.8 and curriculum.ranges()[0] == (0.6, 0.8)
    curriculum.observe(0, 10_000, (0.0, 1.0), 0, 0)
    assert curriculum.levels()[0] == 0.8
    assert [c.new for c in curriculum.take_changes()] == [0.3, 0.4, 0.5, 0.6, 0.7, 0.8]


def test_a_linear_schedule_works_for_a_two_player_kind_with_a_real_worker():
    tasks = mix({"kind": "tictactoe", "curriculum": {"mode": "linear", "episodes": 100, "width": 0.0}})
    curriculum, sink = Curriculum(tasks), ListSink()
    history = play_with(curriculum, sudoku_worker(tasks, sink), calls=6)
    assert sum(s["episodes"] for s in history) >= 100 and curriculum.levels() == [1.0]
    handed = [tuple(s["by_task_id"][0]["range"]) for s in history]
    assert all(low == high for low, high in handed) and handed == sorted(handed)  # width 0: the level alone
    assert len(set(handed)) > 2
    # Every game was drawn at a level handed over (a game running at a change finishes at its own).
    assert {t.difficulty for t in sink.trajectories} <= {low for low, _ in handed}


# ----- state ---------------------------------------------------------------------------------------


def test_the_state_round_trips_through_json_and_the_resumed_curriculum_continues_alike():
    tasks = mix({**SUDOKU, "curriculum": ADAPTIVE}, {"kind": "tictactoe", "curriculum": {"mode": "linear"}})
    curriculum = Curriculum(tasks)
    curriculum.observe(0, 100, (0.0, 0.0), 100, 100)
    curriculum.observe(0, 60, (0.0, 0.1), 60, 55)  # a block under way
    curriculum.observe(1, 2500, (0.0, 0.0), 0, 0)
    resumed = Curriculum(tasks)
    resumed.load_state_dict(json.loads(json.dumps(curriculum.state_dict())))
    assert resumed.levels() == curriculum.levels() == [0.1, 0.2]
    assert resumed.ranges() == curriculum.ranges() and resumed.metrics() == curriculum.metrics()
    assert resumed.changes == []
    for c in (curriculum, resumed):
        c.observe(0, 40, (0.0, 0.1), 40, 40)  # completes the saved block: 95 of 100
    assert resumed.levels() == curriculum.levels() == [0.2, 0.2]
    assert resumed.take_changes()[-1] == curriculum.take_changes()[-1]


def test_a_saved_state_is_checked_against_the_config():
    tasks = mix({**SUDOKU, "curriculum": ADAPTIVE})
    curriculum = Curriculum(tasks)
    curriculum.observe(0, 100, (0.0, 0.0), 100, 100)
    saved = curriculum.state_dict()
    with pytest.raises(ValueError, match=r"entries\[0\].label: expected 'reasoning/maze'.*got 'reasoning/sudoku'"):
        Curriculum(mix({"kind": "maze", "curriculum": ADAPTIVE})).load_state_dict(saved)
    with pytest.raises(ValueError, match="entries: expected a list of 2"):
        Curriculum(mix(SUDOKU, SUDOKU)).load_state_dict(saved)
    bad = json.loads(json.dumps(saved))
    bad["entries"][0]["level"] = "high"
    with pytest.raises(ValueError, match=r"entries\[0\].level: expected a number in \[0, 1\], got 'high'"):
        curriculum.load_state_dict(bad)
    # A run resumed with a narrower range or another mode says what it did with the saved level.
    narrower = Curriculum(mix({**SUDOKU, "difficulty": (0.3, 1.0), "curriculum": ADAPTIVE}))
    narrower.load_state_dict(saved)
    assert narrower.levels() == [0.3] and narrower.changes[0].why == "the difficulty range is now [0.3, 1]"
    linear = Curriculum(mix({**SUDOKU, "curriculum": {"mode": "linear", "episodes": 500}}))
    linear.load_state_dict(saved)
    # The 100 episodes played count on the new schedule: 100 of 500 is two steps of 0.1.
    assert linear.levels() == [0.2] and linear.take_changes() == [
        LevelChange(0, "reasoning/sudoku", 0.1, 0.2, "mode adaptive -> linear")
    ]
    bad["entries"][0].update(level=0.1, block_successes=7)
    with pytest.raises(ValueError, match=r"entries\[0\]: expected block_successes <= block_episodes, got 7 and 0"):
        curriculum.load_state_dict(bad)
    assert curriculum.state_dict() == saved  # a refused state changed nothing


# ----- config ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("entry", "expected"),
    [
        (
            "{kind: sudoku, curriculum: {mode: adaptive, step: 0}}",
            "tasks.mix[0].curriculum.step: expected a number in (0.0, 1.0], got 0",
        ),
        (
            "{kind: sudoku, curriculum: {mode: rising}}",
            "tasks.mix[0].curriculum.mode: expected one of: none, adaptive, linear, got 'rising'",
        ),
        (
            "{kind: sudoku, curriculum: {mode: adaptive, min_episodes: 0}}",
            "tasks.mix[0].curriculum.min_episodes: expected a positive integer, got 0",
        ),
        (
            "{kind: sudoku, curriculum: {mode: adaptive, lower_below: 0.9}}",
            "tasks.mix[0].curriculum: expected lower_below <= raise_above, got lower_below 0.9, raise_above 0.8",
        ),
        (
            "{kind: sudoku, curriculum: {mode: adaptive, episodes: 500}}",
            "tasks.mix[0].curriculum: episodes is used by mode linear only, got mode adaptive",
        ),
        (
            "{kind: sudoku, curriculum: {step: 0.2}}",
            "tasks.mix[0].curriculum: step is used by mode adaptive and linear only, got mode none",
        ),
        (
            "{kind: sudoku, difficulty: [0.0, 0.5], curriculum: {mode: adaptive, start: 0.7}}",
            "tasks.mix[0]: curriculum.start: expected a level in the entry's difficulty range [0.0, 0.5], got 0.7",
        ),
        (
            "{kind: tictactoe, curriculum: {mode: adaptive}}",
            "tasks.mix[0]: curriculum.mode: adaptive needs a success rate, which self-play of the two-player kind "
            "tictactoe has not",
        ),
        ("{kind: sudoku, curriculum: {pace: 3}}", "tasks.mix[0].curriculum.pace: unknown key"),
    ],
)
def test_a_bad_curriculum_value_gives_one_line(tmp_path, entry, expected):
    path = tmp_path / "x.yaml"
    path.write_text(f"tasks: {{mix: [{entry}]}}\n")
    with pytest.raises(ConfigError) as error:
        load_config(path)
    assert str(error.value).startswith(f"{path}: {expected}") and "\n" not in str(error.value)


def test_a_curriculum_config_loads_and_round_trips(tmp_path):
    path = tmp_path / "x.yaml"
    path.write_text(
        "tasks: {mix: [{kind: sudoku, curriculum: {mode: adaptive, start: 0.2, min_episodes: 50}},"
        " {kind: tictactoe, curriculum: {mode: linear, episodes: 5000}}, {kind: maze}]}\n"
    )
    config = load_config(path)
    assert config.tasks.mix[0].curriculum == CurriculumConfig(mode="adaptive", start=0.2, min_episodes=50)
    assert config.tasks.mix[1].curriculum == CurriculumConfig(mode="linear", episodes=5000)
    assert config.tasks.mix[2].curriculum == CurriculumConfig()  # mode none: no curriculum
    again = tmp_path / "again.yaml"
    again.write_text(dump_yaml(config))  # the snapshot a run directory keeps loads back
    assert load_config(again).tasks == config.tasks
    entry = TaskEntry(kind="sudoku", curriculum={"mode": "linear", "episodes": 10})  # a plain mapping in code
    assert entry.curriculum == CurriculumConfig(mode="linear", episodes=10)
    with pytest.raises(ValueError, match="curriculum.step: expected a value > 0.0"):
        CurriculumConfig(mode="linear", step=0.0)


def test_metrics_label_each_task_id_by_family_and_kind():
    tasks = mix(SUDOKU, {"kind": "tictactoe"}, {**SUDOKU, "curriculum": ADAPTIVE})
    assert entry_labels(tasks.mix) == ["reasoning/sudoku#0", "search/tictactoe", "reasoning/sudoku#2"]
    metrics = Curriculum(tasks).metrics()
    assert metrics["reasoning/sudoku#2"] == {
        "mode": "adaptive",
        "level": 0.0,
        "range": [0.0, 0.0],
        "block_episodes": 0,
        "block_success": None,
    }
    assert metrics["search/tictactoe"]["range"] == [0.0, 1.0] and metrics["search/tictactoe"]["mode"] == "none"
