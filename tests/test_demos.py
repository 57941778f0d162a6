"""Demonstrations: the JSONL format and its errors, the solvers' demonstrations (local and on Ray), training rows."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest

import actors.tasks.demos as demos_module
from actors.tasks.config import TaskEntry, TasksConfig
from actors.tasks.demos import (
    DemoError,
    Demonstration,
    demonstration_rows,
    generate_demonstrations,
    generate_demonstrations_on_ray,
    read_demonstrations,
    solve_instances,
    write_demonstrations,
)
from actors.tasks.registry import make_task
from actors.tasks.sudoku import Sudoku
from actors.tasks.tictactoe import TicTacToe

SUDOKU = Sudoku(size=4)
TICTACTOE = TicTacToe()
MIX = TasksConfig(
    mix=[
        TaskEntry(kind="sudoku", params={"size": 4}),
        TaskEntry(kind="countdown", params={"max_numbers": 4}, difficulty=(0.0, 0.1)),
        TaskEntry(kind="tictactoe"),
    ]
)


def sudoku_line(seed: int = 0, **changes) -> dict:
    """A valid 4x4 Sudoku demonstration as a JSON object, with ``changes`` applied."""
    state = SUDOKU.generate(seed, 0.3)
    record = {"kind": "sudoku", "params": {"size": 4}, "state": state.tolist(), "actions": SUDOKU.solve(state)}
    return {**record, **changes}


def tictactoe_line(moves: int) -> dict:
    """The first ``moves`` moves of perfect play from the empty board."""
    state, actions = np.zeros(11, dtype=np.int64), []
    for _ in range(moves):
        actions.append(TICTACTOE.solve(state)[0])
        state = TICTACTOE.step(state[None], np.array(actions[-1:]))[0]
    return {"kind": "tictactoe", "state": [0] * 11, "actions": actions}


def write_lines(path, lines: list) -> str:
    """``lines``: dicts (written as JSON) or raw strings; returns the path as a string."""
    path.write_text("".join((json.dumps(line) if isinstance(line, dict) else line) + "\n" for line in lines))
    return str(path)


# ----- the file format ------------------------------------------------------------------------


def test_the_documented_example_line_is_a_valid_demonstration(tmp_path):
    example = next(line.strip() for line in demos_module.__doc__.splitlines() if line.strip().startswith('{"kind"'))
    path = write_lines(tmp_path / "example.jsonl", [example])
    (demo,) = read_demonstrations(path, MIX)
    assert (demo.task_id, demo.kind, demo.params, demo.difficulty) == (0, "sudoku", {"size": 4}, 0.2)
    assert SUDOKU.verify(demo.state, demo.actions)


def test_lines_are_matched_to_mix_entries_by_kind_and_params_and_skip_blanks_and_comments(tmp_path):
    mix = TasksConfig(mix=[TaskEntry(kind="sudoku"), TaskEntry(kind="sudoku", params={"size": 6})])
    six = Sudoku(size=6)
    state = six.generate(3, 0.2)
    lines = [
        "# a comment, then a blank line",
        "   ",
        {**sudoku_line(), "params": {}},  # the kind's default size is 4: the first entry
        {"kind": "sudoku", "params": {"size": 6}, "state": state.tolist(), "actions": six.solve(state)},
    ]
    first, second = read_demonstrations(write_lines(tmp_path / "d.jsonl", lines), mix)
    assert (first.task_id, first.params, first.difficulty) == (0, {"size": 4}, 0.5)
    assert (second.task_id, second.params) == (1, {"size": 6})


def test_a_game_line_may_stop_before_the_end(tmp_path):
    (demo,) = read_demonstrations(write_lines(tmp_path / "d.jsonl", [tictactoe_line(3)]), MIX)
    assert demo.task_id == 2 and len(demo.actions) == 3


BAD_LINES = [
    ('{"kind": "sudoku", "state": [1, 2', "not valid JSON"),
    ("[1, 2, 3]", "expected a JSON object, got list"),
    (sudoku_line(answer=[1]), "unknown key 'answer'"),
    ({k: v for k, v in sudoku_line().items() if k != "actions"}, "missing key 'actions'"),
    ('{"kind": "sudoku", "kind": "sudoku", "state": [], "actions": []}', "key 'kind' appears twice"),
    (sudoku_line(kind="chess"), "kind 'chess' is not in the run's task mix"),
    (sudoku_line(kind="maze"), "kind 'maze' is not in the run's task mix (its kinds: sudoku, countdown, tictactoe)"),
    (sudoku_line(params={"size": 9}), 'params {"size": 9} match no sudoku entry of the task mix'),
    (sudoku_line(params={"width": 4}), "params: sudoku has no parameter 'width'"),
    (sudoku_line(state=[0] * 32), "state: expected 33 integers for reasoning/sudoku, got 32"),
    (sudoku_line(state=[1.5] * 33), "state[0]: expected an integer, got 1.5"),
    (sudoku_line(state="1,2,3"), "state: expected an array of integers, got str"),
    (sudoku_line(state=[9] * 33), "state: not a reasoning/sudoku state"),
    (sudoku_line(difficulty=1.5), "difficulty: expected a number in [0, 1], got 1.5"),
    (sudoku_line(actions=[]), "actions: expected at least one action"),
    (sudoku_line(actions=[64]), "actions[0]: 64 is outside the action space [0, 64)"),
    (sudoku_line(actions=sudoku_line()["actions"][:-1]), "actions: they do not solve the reasoning/sudoku puzzle"),
    ({**tictactoe_line(9), "actions": tictactoe_line(9)["actions"] + [0]}, "actions[9]: the episode is over"),
]


@pytest.mark.parametrize("bad, reason", BAD_LINES)
def test_a_bad_line_is_reported_with_its_file_line_number_and_reason(tmp_path, bad, reason):
    # The bad line is the last of five lines (a comment and three good ones before it): nothing is returned.
    lines = ["# demonstrations", sudoku_line(1), sudoku_line(2), tictactoe_line(4), bad]
    path = write_lines(tmp_path / "demos.jsonl", lines)
    with pytest.raises(DemoError, match="^" + re.escape(f"{path}: line 5: {reason}")) as raised:
        read_demonstrations(path, MIX)
    assert (raised.value.path, raised.value.line) == (path, 5)


def test_an_illegal_action_names_its_position(tmp_path):
    good = sudoku_line()
    actions = list(good["actions"])
    actions[1] = actions[0]  # the same placement again: that cell is filled now
    path = write_lines(tmp_path / "d.jsonl", [sudoku_line(1), {**good, "actions": actions}])
    with pytest.raises(DemoError, match=rf"^{path}: line 2: actions\[1\]: {actions[0]} is not legal"):
        read_demonstrations(path, MIX)


def test_a_terminal_state_is_refused(tmp_path):
    solved = SUDOKU.play(SUDOKU.generate(0, 0.3), sudoku_line()["actions"])
    path = write_lines(tmp_path / "d.jsonl", [sudoku_line(state=solved.tolist(), actions=[0])])
    with pytest.raises(DemoError, match=f"^{path}: line 1: state: the reasoning/sudoku episode is already over"):
        read_demonstrations(path, MIX)


def test_unreadable_empty_and_non_utf8_files_name_the_file(tmp_path):
    missing = tmp_path / "missing.jsonl"
    with pytest.raises(DemoError, match=f"^{missing}: cannot be read"):
        read_demonstrations(missing, MIX)
    empty = write_lines(tmp_path / "empty.jsonl", ["# nothing here", ""])
    with pytest.raises(DemoError, match=f"^{empty}: holds no demonstration"):
        read_demonstrations(empty, MIX)
    binary = tmp_path / "binary.jsonl"
    binary.write_bytes(json.dumps(sudoku_line()).encode() + b"\n\xff\xfe\n")
    with pytest.raises(DemoError, match=f"^{binary}: line 2: not UTF-8 text"):
        read_demonstrations(binary, MIX)


def test_written_demonstrations_read_back_the_same(tmp_path):
    demos = generate_demonstrations(MIX, 12, seed=3)
    path = tmp_path / "out" / "demos.jsonl"
    write_demonstrations(path, demos)
    assert [p.name for p in path.parent.iterdir()] == ["demos.jsonl"]  # no temporary file left behind
    lines = path.read_text().splitlines()
    assert len(lines) == len(demos) and all(
        json.loads(line)["kind"] in ("sudoku", "countdown", "tictactoe") for line in lines
    )
    back = read_demonstrations(path, MIX)
    assert [d.to_record() for d in back] == [d.to_record() for d in demos]
    assert [d.task_id for d in back] == [d.task_id for d in demos]


# ----- generated by the solvers ------------------------------------------------------------------


def test_generated_demonstrations_verify_and_games_are_played_to_the_end_by_the_solver():
    demos = generate_demonstrations(MIX, 30, seed=0)
    assert len(demos) == 30 and {d.kind for d in demos} == {"sudoku", "countdown", "tictactoe"}
    tasks = [make_task(entry.kind, entry.params) for entry in MIX.mix]
    for demo in demos:
        task = tasks[demo.task_id]
        assert demo.kind == task.kind and MIX.mix[demo.task_id].kind == task.kind
        low, high = MIX.mix[demo.task_id].difficulty
        assert low <= demo.difficulty <= high
        if task.spec.num_players == 1:
            assert task.verify(demo.state, demo.actions)
            continue
        state = demo.state
        for action in demo.actions:  # every move is a perfect-play move of the side to move
            assert task.verify(state, [action])
            state = task.step(state[None], np.array([action]))[0]
        assert task.is_terminal(state[None])[0]
    again, skipped = solve_instances(MIX, seed=0, start=10, stop=30)
    assert skipped == {} and [d.to_record() for d in again] == [d.to_record() for d in demos[10:]]
    other = generate_demonstrations(MIX, 30, seed=1)
    assert [d.to_record() for d in other] != [d.to_record() for d in demos]


def test_generation_on_ray_gives_the_local_demonstrations_in_order(local_ray):
    local = generate_demonstrations(MIX, 23, seed=5)
    on_ray = generate_demonstrations_on_ray(MIX, 23, seed=5, chunks=5, max_in_flight=2)
    assert [d.to_record() for d in on_ray] == [d.to_record() for d in local]
    assert [d.task_id for d in on_ray] == [d.task_id for d in local]
    assert generate_demonstrations_on_ray(MIX, 0, seed=5, chunks=3) == []
    with pytest.raises(ValueError, match="chunks: expected a positive integer"):
        generate_demonstrations_on_ray(MIX, 5, seed=5, chunks=0)


# ----- training rows -------------------------------------------------------------------------------


def test_rows_have_the_buffer_layout_with_one_hot_policies_and_the_outcome_values():
    demos = generate_demonstrations(MIX, 20, seed=2)
    rows = demonstration_rows(demos, MIX)
    tasks = [make_task(entry.kind, entry.params) for entry in MIX.mix]
    assert sorted(rows) == sorted({d.task_id for d in demos})
    for task_id, table in rows.items():
        spec = tasks[task_id].spec
        moves = [a for d in demos if d.task_id == task_id for a in d.actions]
        n = len(moves)
        assert table["tokens"].shape == (n, spec.obs_length) and table["tokens"].dtype == np.int64
        assert table["legal"].shape == (n, spec.num_actions) and table["legal"].dtype == np.bool_
        assert table["policy"].shape == (n, spec.num_actions) and table["policy"].dtype == np.float32
        assert table["value"].shape == table["weight"].shape == (n,)
        assert table["value"].dtype == table["weight"].dtype == np.float32
        assert np.array_equal(table["policy"].argmax(axis=1), moves)
        assert np.array_equal(table["policy"].sum(axis=1), np.ones(n)) and set(np.unique(table["policy"])) == {0, 1}
        assert table["legal"][np.arange(n), moves].all()  # every demonstrated move was legal
        assert np.array_equal(table["weight"], np.ones(n))
        if spec.num_players == 1:
            assert np.array_equal(table["value"], np.ones(n))  # every demonstration is a success
    first = demos[0]
    task = tasks[first.task_id]
    rows_of_first = demonstration_rows([first], MIX)[first.task_id]
    assert np.array_equal(rows_of_first["tokens"][0], task.encode(first.state[None])[0])


def test_game_values_are_the_outcome_from_each_mover_also_for_a_line_that_stops_early():
    # X in a corner, O on an edge beside it: X wins with perfect play, so the positions' values
    # alternate +1 (X to move), -1 (O to move), ...
    opening = TICTACTOE.play(np.zeros(11, dtype=np.int64), [0, 1])
    assert TICTACTOE.value(opening) == 1.0
    full = Demonstration(2, "tictactoe", {}, opening, [])
    state = opening
    while not TICTACTOE.is_terminal(state[None])[0]:
        full.actions.append(TICTACTOE.solve(state)[0])
        state = TICTACTOE.step(state[None], np.array(full.actions[-1:]))[0]
    values = demonstration_rows([full], MIX)[2]["value"]
    assert values.tolist() == [1.0 if i % 2 == 0 else -1.0 for i in range(len(full.actions))]
    early = Demonstration(2, "tictactoe", {}, opening, full.actions[:2])  # stops early: the solver plays on
    assert demonstration_rows([early], MIX)[2]["value"].tolist() == [1.0, -1.0]
    draw = TICTACTOE.play(np.zeros(11, dtype=np.int64), [4, 0])  # centre, then a corner: a draw
    line = Demonstration(2, "tictactoe", {}, draw, [int(TICTACTOE.solve(draw)[0])])
    assert demonstration_rows([line], MIX)[2]["value"].tolist() == [0.0]


def test_rows_refuse_a_demonstration_that_does_not_fit_the_mix():
    demo = generate_demonstrations(MIX, 1, seed=0)[0]
    wrong = Demonstration(99, demo.kind, demo.params, demo.state, demo.actions)
    with pytest.raises(ValueError, match="demonstration 0: task id 99 is not a"):
        demonstration_rows([wrong], MIX)
    state = SUDOKU.generate(0, 0.3)
    unsolved = Demonstration(0, "sudoku", {"size": 4}, state, SUDOKU.solve(state)[:-1])
    with pytest.raises(ValueError, match="demonstration 0: its actions do not solve"):
        demonstration_rows([unsolved], MIX)
    with pytest.raises(ValueError, match="demonstration 1: it has no actions"):
        demonstration_rows([demo, Demonstration(0, "sudoku", {"size": 4}, state, [])], MIX)
