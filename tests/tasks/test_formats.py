"""Instance text formats (`actors.tasks.formats`): round trips, answers checked by small references, errors, files."""

from __future__ import annotations

import ast
import json
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from actors.tasks.formats import (
    FORMATS,
    InstanceError,
    UnsupportedInstance,
    compare_known,
    detect_kinds,
    format_answer,
    parse_instance,
    read_instances,
    render_instance,
)
from actors.tasks.listdsl import OPS, run_op
from actors.tasks.registry import KINDS, make_task
from actors.tasks.sudoku import BOX_SHAPES

# The shapes of configs/local.yaml (tic-tac-toe, 4x4 Sudoku, Countdown of at most 4 numbers), the
# larger Sudokus and Countdown's default, and the other kinds with their defaults.
TASKS = {
    "tictactoe": make_task("tictactoe"),
    "sudoku4": make_task("sudoku", {"size": 4}),
    "sudoku6": make_task("sudoku", {"size": 6}),
    "sudoku9": make_task("sudoku", {"size": 9}),
    "countdown4": make_task("countdown", {"max_numbers": 4}),
    "countdown": make_task("countdown"),
    "connect4": make_task("connect4"),
    "sliding": make_task("sliding"),
    "maze": make_task("maze"),
    "dsl": make_task("dsl"),
}
CHEAP = [name for name in TASKS if name != "sudoku9"]  # a 9x9 puzzle takes ~0.2 s to generate
GAMES = ["tictactoe", "connect4"]
PROPERTY = settings(max_examples=30, deadline=None)

seeds = st.integers(0, 2**31 - 1)
difficulties = st.floats(0.0, 1.0)


def roundtrip(name: str, state: np.ndarray) -> None:
    task = TASKS[name]
    text = render_instance(task, state)
    assert "\n" not in text
    parsed = parse_instance(task, text)
    np.testing.assert_array_equal(parsed.state, state, err_msg=f"{name}: {text!r}")
    assert parsed.known == {}


def random_positions(task, state: np.ndarray, rng: np.random.Generator) -> list[np.ndarray]:
    """The non-terminal positions of a random game continued from ``state``."""
    positions = []
    while not task.is_terminal(state[None])[0]:
        positions.append(state)
        legal = np.flatnonzero(task.legal_mask(state[None])[0])
        state = task.step(state[None], np.array([rng.choice(legal)]))[0]
    return positions


# ----- round trips -------------------------------------------------------------------


def test_every_kind_has_a_format() -> None:
    assert set(FORMATS) == set(KINDS)
    assert all(description and "\n" not in description for description in FORMATS.values())


@pytest.mark.parametrize("name", CHEAP)
@PROPERTY
@given(seed=seeds, difficulty=difficulties)
def test_generated_instances_round_trip(name: str, seed: int, difficulty: float) -> None:
    roundtrip(name, TASKS[name].generate(seed, difficulty))


@settings(max_examples=6, deadline=None)
@given(seed=seeds, difficulty=difficulties)
def test_generated_9x9_sudokus_round_trip(seed: int, difficulty: float) -> None:
    roundtrip("sudoku9", TASKS["sudoku9"].generate(seed, difficulty))


@pytest.mark.parametrize("name", GAMES)
@PROPERTY
@given(seed=seeds, difficulty=difficulties, from_empty=st.booleans())
def test_reachable_game_positions_round_trip(name: str, seed: int, difficulty: float, from_empty: bool) -> None:
    task = TASKS[name]
    start = np.zeros(task.spec.state_size, dtype=np.int64) if from_empty else task.generate(seed, difficulty)
    for state in random_positions(task, start, np.random.default_rng(seed)):
        roundtrip(name, state)


def test_every_tictactoe_position_round_trips_as_a_board() -> None:
    task = TASKS["tictactoe"]
    seen, frontier = set(), [np.zeros(task.spec.state_size, dtype=np.int64)]
    while frontier:
        state = frontier.pop()
        if task.is_terminal(state[None])[0] or state.tobytes() in seen:
            continue
        seen.add(state.tobytes())
        roundtrip("tictactoe", state)
        for cell in np.flatnonzero(task.legal_mask(state[None])[0]):
            frontier.append(task.step(state[None], np.array([cell]))[0])
    assert len(seen) == 4520  # the non-terminal positions of tic-tac-toe


def test_game_move_strings_parse_to_the_position_they_play() -> None:
    c4, ttt = TASKS["connect4"], TASKS["tictactoe"]
    np.testing.assert_array_equal(parse_instance(c4, "4453").state, c4.play(c4.empty_state(), [3, 3, 4, 2]))
    np.testing.assert_array_equal(parse_instance(c4, "-").state, c4.empty_state())
    assert render_instance(c4, c4.empty_state()) == "-"
    np.testing.assert_array_equal(parse_instance(ttt, "5193").state, parse_instance(ttt, "o.o/.x./..x").state)
    assert render_instance(ttt, parse_instance(ttt, "5193").state) == "O.O.X...X"


# ----- answers, checked by small references ----------------------------------------------


def evaluate(expression: str) -> tuple[Fraction, list[int]]:
    """An ASCII arithmetic expression -> its exact value and the numbers it uses."""
    leaves: list[int] = []

    def value(node: ast.AST) -> Fraction:
        if isinstance(node, ast.Constant) and type(node.value) is int:
            leaves.append(node.value)
            return Fraction(node.value)
        assert isinstance(node, ast.BinOp), ast.dump(node)
        a, b = value(node.left), value(node.right)
        if isinstance(node.op, ast.Add):
            return a + b
        if isinstance(node.op, ast.Sub):
            return a - b
        if isinstance(node.op, ast.Mult):
            return a * b
        assert isinstance(node.op, ast.Div) and b != 0
        return a / b

    return value(ast.parse(expression, mode="eval").body), leaves


def sudoku_grid_is_solution(text: str, givens: np.ndarray, size: int) -> bool:
    digits = [int(c) for c in text]
    if len(digits) != size * size or sorted(set(digits)) != list(range(1, size + 1)):
        return False
    grid = np.array(digits).reshape(size, size)
    br, bc = BOX_SHAPES[size]
    units = [*grid, *grid.T]
    units += [grid[r : r + br, c : c + bc].ravel() for r in range(0, size, br) for c in range(0, size, bc)]
    keeps = all(g in (0, d) for g, d in zip(givens.tolist(), digits, strict=True))
    return keeps and all(sorted(unit.tolist()) == list(range(1, size + 1)) for unit in units)


def walk(letters: str, side: int, start: int, passable) -> list[int]:
    """The cells visited moving ``U D L R`` from ``start`` on a ``side`` grid; asserts every step is allowed."""
    row, col = divmod(start, side)
    cells = [start]
    for letter in letters:
        dr, dc = {"U": (-1, 0), "D": (1, 0), "L": (0, -1), "R": (0, 1)}[letter]
        row, col = row + dr, col + dc
        assert 0 <= row < side and 0 <= col < side and passable(row * side + col)
        cells.append(row * side + col)
    return cells


def split_moves(text: str) -> tuple[str, int]:
    letters, count = text.split(" (")
    number = int(count.split()[0])
    return ("" if letters == "-" else letters), number


def check_answer(name: str, state: np.ndarray, text: str) -> None:
    task = TASKS[name]
    kind = task.kind
    if kind == "countdown":
        expression, value = text.rsplit(" = ", 1)
        result, leaves = evaluate(expression)
        numbers = [int(x) for x in state[task.initial_slice] if x > 0]
        assert result == int(value) == int(state[task.target_at])
        for leaf in leaves:
            numbers.remove(leaf)  # each number used at most once
    elif kind == "sudoku":
        assert sudoku_grid_is_solution(text, state[: task.cells], task.size)
    elif kind == "sliding":
        letters, count = split_moves(text)
        tiles = state[: task.cells].tolist()
        blank = tiles.index(0)
        for cell in walk(letters, task.side, blank, lambda _: True)[1:]:
            tiles[blank], tiles[cell], blank = tiles[cell], 0, cell
        assert count == len(letters) and tiles == [*range(1, task.cells), 0]
    elif kind == "maze":
        letters, count = split_moves(text)
        start, goal = int(state[task.start_index]), int(state[task.goal_index])
        cells = walk(letters, task.size, start, lambda cell: state[cell] == 1)
        assert cells[-1] == goal and len(set(cells)) == len(cells) and count == len(letters)
    elif kind == "dsl":
        ops = [] if text == "(empty)" else [[op.name for op in OPS].index(part) for part in text.split(" | ")]
        for inp, out in task.examples(state):
            value = inp
            for op in ops:
                value = run_op(op, value, task.bound)
            assert value == out
    elif kind == "connect4":
        column = int(text) - 1
        assert text in "1234567" and state[44 + column] < 6  # heights at 44..50
    elif kind == "tictactoe":
        assert text in "123456789" and state[int(text) - 1] == 0
    else:
        raise AssertionError(kind)


@pytest.mark.parametrize("name", CHEAP)
@settings(max_examples=15, deadline=None)
@given(seed=seeds, difficulty=difficulties)
def test_answers_of_the_solver_pass_a_reference_check(name: str, seed: int, difficulty: float) -> None:
    task = TASKS[name]
    state = task.generate(seed, difficulty)
    actions = task.solve(state)
    text = format_answer(task, state, actions)
    assert "\n" not in text
    check_answer(name, state, text)
    if task.spec.num_players == 2:
        assert text == str(actions[0] + 1)


def test_a_9x9_answer_is_a_solution() -> None:
    task = TASKS["sudoku9"]
    state = task.generate(5, 1.0)
    check_answer("sudoku9", state, format_answer(task, state, task.solve(state)))


@pytest.mark.parametrize(
    ("numbers", "target"),
    [([25, 50, 75, 100, 3, 6], 952), ([4, 7, 8, 8], 24), ([5, 5, 5, 1], 24), ([3, 8, 3, 8], 24), ([1, 3, 4, 6], 24)],
)
def test_countdown_expressions_evaluate_to_the_target(numbers: list[int], target: int) -> None:
    """Classic instances, the Game of 24 ones needing fractions on the way (8 / (3 - 8 / 3))."""
    task = TASKS["countdown"]
    state = parse_instance(task, " ".join(map(str, [*numbers, target]))).state
    check_answer("countdown", state, format_answer(task, state, task.solve(state)))


def test_countdown_answers_without_moves() -> None:
    task = TASKS["countdown4"]
    solved = parse_instance(task, "3 7 7").state
    assert format_answer(task, solved, []) == "7 = 7"
    assert format_answer(task, parse_instance(task, "3 7 100").state, []) == "(no moves)"
    for bad in (task.spec.num_actions + 5, 1):  # out of range; 3 - 7 (values stay positive)
        with pytest.raises(ValueError):
            format_answer(task, parse_instance(task, "3 7 100").state, [bad])


def test_documented_examples_parse_and_solve() -> None:
    maze = TASKS["maze"].__class__(size=5)
    parsed = parse_instance(maze, "5x5: S.#../.##.#/...../.#.#./...#G ; 8")
    assert format_answer(maze, parsed.state, maze.solve(parsed.state)) == "DDRRRRDD (8 moves)"
    assert compare_known(maze, parsed.state, maze.solve(parsed.state), parsed.known)["is_optimal"]
    sliding = TASKS["sliding"]
    parsed = parse_instance(sliding, "1 2 3 4 0 5 7 8 6 ; 2")
    actions = sliding.solve(parsed.state)
    assert format_answer(sliding, parsed.state, actions) == "RD (2 moves)"
    assert compare_known(sliding, parsed.state, actions, parsed.known) == {
        "optimal_length": 2,
        "length": 2,
        "is_optimal": True,
    }
    assert sliding.effort(parse_instance(sliding, "8,6,7,2,5,4,3,0,1").state) == 31
    parse_instance(sliding.__class__(side=4), "5 1 2 4 9 6 3 8 13 15 10 11 14 0 7 12")
    dsl = TASKS["dsl"]
    state = parse_instance(dsl, "[3, -1, 4] -> [6, -2, 8]; [0, 5] -> [0, 10]; [] -> []").state
    assert format_answer(dsl, state, dsl.solve(state)) == "map(*2)"
    sudoku = TASKS["sudoku4"]
    parsed = parse_instance(sudoku, "1..4.4.2..4.4..1,1234341221434321")
    assert format_answer(sudoku, parsed.state, sudoku.solve(parsed.state)) == "1234341221434321"
    c4 = TASKS["connect4"]
    parsed = parse_instance(c4, "2252576253462244111563365343671351441 -1")
    assert parsed.known == {"score": -1}
    assert compare_known(c4, parsed.state, c4.solve(parsed.state), parsed.known) == {
        "known_score": -1,
        "known_result": "loss",
    }


def test_tictactoe_known_value() -> None:
    task = TASKS["tictactoe"]
    parsed = parse_instance(task, "....X.... 0")
    assert parsed.known == {"value": 0}
    assert compare_known(task, parsed.state, task.solve(parsed.state), parsed.known) == {
        "known_value": 0,
        "move_value": 0,
        "keeps_value": True,
    }
    # After X in the centre, O in an edge cell loses.
    assert compare_known(task, parsed.state, [1], parsed.known)["keeps_value"] is False


# ----- Sudoku with several solutions ------------------------------------------------------


def test_a_sudoku_with_several_solutions_parses_and_any_solution_is_valid() -> None:
    task = TASKS["sudoku4"]
    puzzle = "1234341200000000"
    parsed = parse_instance(task, puzzle)
    assert task.count_solutions(parsed.state) == 2
    solutions, _ = task.solver.search([int(c) for c in puzzle], limit=2)
    first, second = ("".join(map(str, s)) for s in solutions)
    known = parse_instance(task, f"{puzzle} {first}").known
    np.testing.assert_array_equal(known["solution"], [int(c) for c in first])

    def placements(solution: str) -> list[int]:
        return [cell * 4 + int(solution[cell]) - 1 for cell in range(16) if puzzle[cell] == "0"]

    for solution, matches in ((first, True), (second, False)):
        actions = placements(solution)
        assert task.verify(parsed.state, actions)
        assert format_answer(task, parsed.state, actions) == solution
        assert compare_known(task, parsed.state, actions, known) == {"valid": True, "matches_known": matches}
    wrong = placements(first)[:-1]  # one cell left empty
    assert compare_known(task, parsed.state, wrong, known) == {"valid": False, "matches_known": False}
    assert compare_known(task, parsed.state, placements(first), {}) == {}


# ----- bad lines ------------------------------------------------------------------------

MALFORMED = [
    ("sudoku4", "123412341234123", "expected 16, 36 or 81 digits (0 or . for a blank), got 15 characters"),
    ("sudoku4", "1.3.......4.2..x", "unexpected character 'x' at position 16"),
    ("sudoku4", "11..............", "digit 1 at r1c2 is already in row 1 (at r1c1)"),
    ("sudoku4", "1...1...........", "digit 1 at r2c1 is already in column 1 (at r1c1)"),
    ("sudoku4", "1....1..........", "digit 1 at r2c2 is already in box 1 (at r1c1)"),
    ("sudoku4", "5...............", "digit 5 at r1c1 is above 4"),
    ("sudoku4", '{"grid": "1..4.4.2..4.4..1"}', "expected a JSON object with the puzzle string"),
    ("sudoku4", "1..4.4.2..4.4..1,1234341221434312", "solution: digit 1 at r4c3 is already in column 3 (at r2c3)"),
    ("sudoku4", "1..4.4.2..4.4..1 2143341212344321", "disagrees with the given 1"),
    ("countdown4", "1 2 x 5", "item 3 ('x') must be an integer"),
    ("countdown4", "1 2.5 3", "must be an integer"),
    ("countdown4", "7 24", "need at least 2 numbers"),
    ("countdown4", '{"numbers": [1, 2.0], "target": 3}', "numbers[1] must be an integer"),
    ("countdown4", '{"nums": [1, 2]}', '"target"'),
    ("connect4", "4453a", "character 'a' at position 5 is not a column 1-7"),
    ("connect4", "1111111", "move 7 (column 1): the column is full"),
    ("connect4", "1212121", "already over: X has four in a row"),
    ("connect4", "12121214", "move 8 (column 4): the game was already over after move 7"),
    ("connect4", "4453 x", "the score must be an integer"),
    ("connect4", '{"moves": "4453"}', "a JSON object; a connect4 instance in JSON is a string of the text format"),
    ("connect4", '"4453', "not valid JSON"),
    ("tictactoe", "XXX......", "impossible counts: 3 X and 0 O"),
    ("tictactoe", "XXXOO....", "already over: X has three in a row"),
    ("tictactoe", "55", "move 2 (cell 5): the cell is already taken"),
    ("tictactoe", "X.O", "expected a 9-character board"),
    ("tictactoe", "X.O.Z....", "expected a 9-character board"),
    ("tictactoe", "....X.... 2", "the value must be 1 (win), 0 (draw) or -1 (loss)"),
    ("sliding", "1 2 3 4 5 6 8 7 0", "not solvable: odd permutation parity"),
    ("sliding", "1 2 3 4 5 6 7 8 9 10 11 12 13 15 14 0", "not solvable: odd permutation parity"),
    ("sliding", "1 2 3", "expected a square number of tiles"),
    ("sliding", "1 2 3 4 5 6 7 8 8", "expected each of 0..8 once: missing [0]; repeated [8]"),
    ("sliding", "1 2 3 4 5 6 7 8 0", "already solved"),
    ("sliding", "1 2 3 4 0 5 7 8 6 ; two", "the optimal length after ; must be an integer"),
    ("maze", "S..../...../...../...../....G", "expected the size NxN:"),
    ("maze", "8x8: S...", "needs 8 rows"),
    ("maze", "5x5: S..../...../..../...../....G", "row 3 has 4 cells"),
    ("maze", "5x5: S..../...../..S../...../....G", "expected one start cell, got 2"),
    ("maze", "5x5: S..../...../..X../...../....G", "unexpected character 'X' in row 3"),
    ("dsl", "[1, 2] [2, 4]", "example 1: expected INPUT -> OUTPUT"),
    ("dsl", "[1, 2] -> [2, 4]; [3] -> 6", "the outputs must be all lists or all integers"),
    ("dsl", "[1, 2.5] -> [2]", "example 1: the input must be a list of integers"),
    ("dsl", "[1, 2 -> [2]", "example 1: the input is not a list of integers"),
]


@pytest.mark.parametrize(("name", "line", "reason"), MALFORMED)
def test_malformed_lines_say_why(name: str, line: str, reason: str) -> None:
    with pytest.raises(InstanceError) as caught:
        parse_instance(TASKS[name], line)
    assert reason in str(caught.value)
    assert "\n" not in str(caught.value)


UNSUPPORTED = [
    ("sudoku4", "." * 81, "a 9x9 Sudoku; this model was trained on 4x4"),
    ("sudoku9", "1..4.4.2..4.4..1", "a 4x4 Sudoku; this model was trained on 9x9"),
    ("countdown4", "25 50 75 100 3 6 7 952", "7 numbers; this model's Countdown takes at most 4 (max_numbers)"),
    ("countdown4", "3 10000 24", "number 10000 is outside 1..9999"),
    ("countdown4", "3 5 0", "target 0 is outside 1..9999"),
    ("countdown4", "-3 5 2", "number -3 is outside 1..9999"),
    ("sliding", "1 2 3 4 5 6 7 8 9 10 11 12 13 14 0 15", "a 4x4 board; this model was trained on 3x3"),
    ("maze", "5x5: S..../...../...../...../....G", "a 5x5 maze; this model was trained on 8x8"),
    ("dsl", "; ".join(["[1] -> [2]"] * 6), "6 examples; this model takes at most 5 (num_examples)"),
    ("dsl", "[1, 2, 3, 4, 5, 6, 7, 8, 9] -> 9", "a list of 9 values; this model's lists hold at most 8"),
    ("dsl", "[1, 100] -> [100]", "value 100 is outside -64..64 (value_bound)"),
]


@pytest.mark.parametrize(("name", "line", "reason"), UNSUPPORTED)
def test_instances_the_model_cannot_hold_are_unsupported(name: str, line: str, reason: str) -> None:
    with pytest.raises(UnsupportedInstance) as caught:
        parse_instance(TASKS[name], line)
    assert reason in str(caught.value)


def test_json_forms() -> None:
    task = TASKS["countdown4"]
    expected = task.make_state([4, 7, 8, 8], 24)
    for line in ('{"numbers": [4, 7, 8, 8], "target": 24}', '{"nums": [4, 7, 8, 8], "target": 24}'):
        np.testing.assert_array_equal(parse_instance(task, line).state, expected)
    np.testing.assert_array_equal(parse_instance(task, '{"input": "4,7,8,8", "output": "24"}').state, expected)
    np.testing.assert_array_equal(parse_instance(task, '"4, 7, 8, 8, 24"').state, expected)
    np.testing.assert_array_equal(
        parse_instance(TASKS["connect4"], '"4453 2"').state, parse_instance(TASKS["connect4"], "4453").state
    )
    sudoku = TASKS["sudoku4"]
    line = parse_instance(sudoku, "1..4.4.2..4.4..1 1234341221434321")
    for obj in (
        {"puzzle": "1..4.4.2..4.4..1", "solution": "1234341221434321"},
        {"quizzes": "1004040200404001", "solutions": "1234341221434321"},
        {"question": "1..4.4.2..4.4..1", "answer": "1234341221434321", "rating": 0.5},
    ):
        parsed = parse_instance(sudoku, json.dumps(obj))
        np.testing.assert_array_equal(parsed.state, line.state)
        np.testing.assert_array_equal(parsed.known["solution"], line.known["solution"])
    assert parse_instance(sudoku, '{"puzzle": "1..4.4.2..4.4..1"}').known == {}
    with pytest.raises(InstanceError, match="solution: expected a grid of 16 digits"):
        parse_instance(sudoku, '{"puzzle": "1..4.4.2..4.4..1", "solution": "1234"}')
    dsl = TASKS["dsl"]
    text = parse_instance(dsl, "[1, 2] -> 3; [4] -> 4").state
    obj = {"examples": [{"input": [1, 2], "output": 3}, {"input": [4], "output": 4}]}
    np.testing.assert_array_equal(parse_instance(dsl, json.dumps(obj)).state, text)
    obj2 = {"inputs": [[1, 2], [4]], "outputs": [3, 4]}
    np.testing.assert_array_equal(parse_instance(dsl, json.dumps(obj2)).state, text)


def test_fewer_dsl_examples_are_repeated() -> None:
    task = TASKS["dsl"]
    state = parse_instance(task, "[1, 2] -> [2, 4]; [3] -> [6]").state
    assert task.examples(state) == [([1, 2], [2, 4]), ([3], [6])] * 2 + [([1, 2], [2, 4])]


# ----- files and kind detection ---------------------------------------------------------


def test_read_instances_reports_each_line_and_goes_on(tmp_path) -> None:
    path = tmp_path / "puzzles.txt"
    path.write_text(
        "# 4x4 puzzles\n"
        "1..4.4.2..4.4..1,1234341221434321\n"
        "\n"
        "123412341234123\n"
        "   .31........2..3.   \n" + "." * 81 + "\n"
        "11..............\n"
    )
    results = read_instances(path, TASKS["sudoku4"])
    assert [r.line for r in results] == [2, 4, 5, 6, 7]
    assert [r.instance is not None for r in results] == [True, False, True, False, False]
    assert [r.unsupported for r in results] == [False, False, False, True, False]
    assert results[2].text == ".31........2..3."
    assert "15 characters" in results[1].error and "9x9" in results[3].error and "r1c2" in results[4].error
    assert "solution" in results[0].instance.known and results[2].instance.known == {}


def test_read_instances_of_json_lines(tmp_path) -> None:
    path = tmp_path / "countdown.jsonl"
    lines = [
        {"numbers": [4, 7, 8, 8], "target": 24},
        {"input": "1,2,3", "output": "6"},
        {"nums": [1, 2, 3, 4, 5], "target": 15},
        "25 50 3 950",
        [1, 2],
    ]
    path.write_text("\n".join(json.dumps(line) for line in lines) + "\nnot json\n")
    results = read_instances(path, TASKS["countdown4"])
    assert [r.instance is not None for r in results] == [True, True, False, True, False, False]
    assert results[2].unsupported and "5 numbers" in results[2].error
    assert "a JSON array" in results[4].error and "not valid JSON" in results[5].error


def test_an_unreadable_file_is_an_instance_error(tmp_path) -> None:
    with pytest.raises(InstanceError, match="cannot read .*missing.txt"):
        read_instances(tmp_path / "missing.txt", TASKS["sudoku4"])


def test_detect_kinds_recognises_each_kind() -> None:
    local = [TASKS["tictactoe"], TASKS["sudoku4"], TASKS["countdown4"]]
    assert detect_kinds([".31........2..3.", "1..4.4.2..4.4..1"], local) == [1]
    assert detect_kinds(["25 50 75 100", "# a comment", "4 7 8 8 24", ""], local) == [2]
    assert detect_kinds(["X.O.X....", "5193"], local) == [0]
    assert detect_kinds(["." * 81], local) == [1]  # right kind, wrong size: the caller can say why
    assert detect_kinds(["hello world"], local) == []
    assert detect_kinds([".31........2..3.", "25 50 75 100"], local) == []
    assert detect_kinds([], local) == []

    everything = list(TASKS.values())
    names = list(TASKS)
    for index, name in enumerate(names):
        task = everything[index]
        # Difficulty 1: Countdown of at most 6 numbers then uses 6, more than countdown4 holds.
        lines = [render_instance(task, task.generate(seed, 1.0)) for seed in range(3 if name == "sudoku9" else 8)]
        found = [names[i] for i in detect_kinds(lines, everything)]
        twins = {"countdown4": ["countdown4", "countdown"], "countdown": ["countdown"]}  # countdown4 lines fit both
        assert found == twins.get(name, [name]), (name, lines)
