"""`selfplay solve`: a trained model answers instance files, every answer verified, driven as a user would.

One small run directory (configs/local.yaml's mix: tic-tac-toe, 4x4 Sudoku, Countdown with up to
4 numbers) holds untrained weights as version 0: search with them already solves most easy
puzzles, and a budget of 4 simulations keeps the solve rates below 1, so equal figures mean
something.
"""

from __future__ import annotations

import ast
import json
import operator
import os
import subprocess
import sys
from collections import Counter
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
import torch

from actors.evaluator import Evaluator
from actors.inference import build_network
from actors.tasks.formats import parse_instance, render_instance
from actors.tasks.registry import TaskMix
from cluster.cli import main
from cluster.config import load_config
from cluster.rundir import RunDir
from cluster.solve import agrees
from cluster.trained import export_trained, load_trained

REPO = Path(__file__).resolve().parents[1]
OVERRIDES = ["evaluation.puzzles_per_task=24", "evaluation.reference_games=2", "evaluation.num_simulations=4"]
TICTACTOE, SUDOKU, COUNTDOWN = 0, 1, 2  # task ids in configs/local.yaml's mix
SUDOKU_A, SUDOKU_B = "1234341221434321", "2134341212434321"  # the two solutions of TWO_SOLUTIONS
TWO_SOLUTIONS = "..343412..434321"


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    """A run directory as `selfplay train` leaves it after its first checkpoint: untrained weights as version 0."""
    config = load_config(REPO / "configs" / "local.yaml", OVERRIDES)
    path = tmp_path_factory.mktemp("solve") / "run"
    files = RunDir(path)
    files.create(config)
    tasks = TaskMix(config.tasks).tasks
    network = build_network(config.models[0], [task.spec for task in tasks], config.seed)
    weights = {name: value.numpy() for name, value in network.module.state_dict().items()}
    files.save_weights(0, weights, keep=config.run.keep_best)
    files.save_state({"counters": {"version": 0, "others": []}})
    return path


@pytest.fixture(scope="module")
def tasks(run_dir):
    return load_trained(run_dir).tasks


def solve_json(capsys, *argv: str | Path) -> dict:
    """``selfplay solve ... --json`` in this process; its JSON document."""
    capsys.readouterr()
    assert main(["solve", *(str(a) for a in argv), "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def by_line(summary: dict) -> dict[int, dict]:
    return {record["line"]: record for record in summary["records"]}


def write_lines(path: Path, lines: list[str]) -> Path:
    path.write_text("".join(line + "\n" for line in lines))
    return path


def test_solve_rates_equal_the_evaluators_on_its_held_out_puzzles(run_dir, tasks, tmp_path, capsys):
    """The held-out puzzles `Evaluator.reference` measures, written as files: the same figures, search and greedy."""
    model = load_trained(run_dir)
    config = model.config
    torch.set_num_threads(max(1, int(config.evaluation.num_cpus)))  # as `selfplay evaluate` (and solve) do
    evaluator = Evaluator(config.tasks, config.models[0], config.search, config.evaluation, config.seed)
    record = evaluator.reference(model.version, model.weights)
    files = {}
    for task_id in (SUDOKU, COUNTDOWN):
        task, held = tasks[task_id], evaluator.held_out(task_id, config.evaluation.puzzles_per_task)
        lines = [render_instance(task, state) for state in held.states]
        for line, state in zip(lines, held.states, strict=True):  # the files hold exactly the held-out instances
            assert np.array_equal(parse_instance(task, line).state, state)
        files[task_id] = write_lines(tmp_path / f"{task.kind}.txt", lines)
    searched = solve_json(capsys, "--run-dir", run_dir, *files.values())["files"]
    greedy = solve_json(capsys, "--run-dir", run_dir, *files.values(), "--greedy")["files"]
    for task_id, search_summary, greedy_summary in zip(files, searched, greedy, strict=True):
        expected = record["tasks"][evaluator.labels[task_id]]
        assert search_summary["instances"] == expected["instances"] == 24
        assert search_summary["solve_rate"] == expected["solve_rate"]
        assert greedy_summary["solve_rate"] == expected["greedy_solve_rate"]
        assert search_summary["simulations_per_move"] == 4  # the run's evaluation.num_simulations
        assert search_summary["simulations"] > 0 and greedy_summary["simulations"] == 0
        assert greedy_summary["mode"] == "greedy" and greedy_summary["simulations_per_move"] is None
    rates = [summary["solve_rate"] for summary in searched]
    assert all(0 < rate < 1 for rate in rates), f"4 simulations should leave some unsolved: {rates}"


def test_bad_and_unsupported_lines_are_reported_by_number_and_the_rest_solved(run_dir, tmp_path, capsys):
    sudoku = write_lines(
        tmp_path / "sudoku.txt",
        [
            "# a comment, then a blank line",
            "",
            "1234341221434321",  # line 3: already solved
            "12.4341221434321",  # line 4
            "1234x41221434321",  # line 5: a bad character
            "5" + "." * 80,  # line 6: a 9x9 Sudoku
            "11..............",  # line 7: two 1s in a row
            "1..4.3....2.3..1",  # line 8: no solution
        ],
    )
    countdown = write_lines(tmp_path / "countdown.txt", ["4 7 8 8 24", "1 2 3 4 5 6", "3 five 15", "2 3 6"])
    # 64 simulations, not the run's 4, so an untrained network's search surely finds the solvable lines' answers.
    summaries = solve_json(capsys, "--run-dir", run_dir, sudoku, countdown, "--simulations", "64")["files"]
    records = by_line(summaries[0])
    assert sorted(records) == [3, 4, 5, 6, 7, 8]
    assert {n: r["status"] for n, r in records.items()} == {
        3: "solved",
        4: "solved",
        5: "bad",
        6: "unsupported",
        7: "bad",
        8: "no_solution",
    }
    assert "'x'" in records[5]["reason"] and "9x9" in records[6]["reason"] and "4x4" in records[6]["reason"]
    assert "row 1" in records[7]["reason"]
    assert records[4]["answer"] == SUDOKU_A and records[3]["actions"] == []
    summary = summaries[0]
    assert (summary["instances"], summary["solved"], summary["no_solution"]) == (3, 2, 1)
    assert (summary["unsupported"], summary["bad"], summary["solve_rate"]) == (1, 2, 1.0)
    records = by_line(summaries[1])
    assert [records[n]["status"] for n in (1, 2, 3, 4)] == ["solved", "unsupported", "bad", "solved"]
    assert "max_numbers" in records[2]["reason"] and "five" in records[3]["reason"]
    assert records[1]["answer"].endswith("= 24")

    # The text report lists every line of a short file with its number and reason.
    assert main(["solve", "--run-dir", str(run_dir), str(sudoku)]) == 0
    text = capsys.readouterr().out
    assert "instances 3  solved 2  solve rate 100.0% (of the 2 with a solution)  no solution 1" in text
    assert "unsupported 1  bad lines 2" in text
    assert "line 6: unsupported: a 9x9 Sudoku; this model was trained on 4x4" in text
    assert "line 8: no_solution" in text


def test_strict_stops_at_the_first_bad_line_before_solving(run_dir, tmp_path):
    good = write_lines(tmp_path / "good.txt", ["12.4341221434321"])
    bad = write_lines(tmp_path / "bad.txt", ["# header", "4 7 8 8 24", "1 2 3 4 5 6 21", "1 2 x"])
    argv = [sys.executable, "-m", "cluster", "solve", "--run-dir", str(run_dir), str(good), str(bad), "--strict"]
    result = subprocess.run(argv, capture_output=True, text=True, cwd=REPO, timeout=300)
    assert result.returncode == 2, result.stderr
    assert result.stdout == ""
    message = f"selfplay: {bad}: line 3: 6 numbers; this model's Countdown takes at most 4 (max_numbers)\n"
    assert result.stderr == message
    assert main(["solve", "--run-dir", str(run_dir), str(good), "--strict"]) == 0  # a clean file goes through


def test_a_sudoku_with_several_solutions_is_judged_by_validity(run_dir, tasks, tmp_path, capsys):
    sudoku = tasks[SUDOKU]
    assert sudoku.count_solutions(parse_instance(sudoku, TWO_SOLUTIONS).state, limit=3) == 2
    path = write_lines(tmp_path / "two.txt", [f"{TWO_SOLUTIONS},{SUDOKU_A}", f"{TWO_SOLUTIONS} {SUDOKU_B}"])
    out = tmp_path / "two.answers"  # one FILE: --out is the answers file itself
    argv = ("--run-dir", run_dir, path, "--simulations", "16", "--out", out)
    records = solve_json(capsys, *argv)["files"][0]["records"]
    assert [r["status"] for r in records] == ["solved", "solved"]
    assert records[0]["answer"] == records[1]["answer"] in (SUDOKU_A, SUDOKU_B)
    assert out.read_text() == f"{records[0]['answer']}\n" * 2
    assert all(r["known"]["valid"] for r in records)
    # One of the two lines gave the other solution: solved all the same, and said so.
    assert sorted(r["known"]["matches_known"] for r in records) == [False, True]


def countdown_answer_checks(instance: str, answer: str) -> bool:
    """Whether ``answer`` ("<expression> = <value>") uses some of ``instance``'s numbers and reaches its target."""
    *numbers, target = (int(n) for n in instance.split())
    expression, value = answer.rsplit(" = ", 1)
    ops = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv}
    used = []

    def evaluate(node: ast.AST) -> Fraction:
        if isinstance(node, ast.Constant) and isinstance(node.value, int):
            used.append(node.value)
            return Fraction(node.value)
        assert isinstance(node, ast.BinOp) and type(node.op) in ops, ast.dump(node)
        return ops[type(node.op)](evaluate(node.left), evaluate(node.right))

    result = evaluate(ast.parse(expression, mode="eval").body)
    return result == target == Fraction(value) and not Counter(used) - Counter(numbers)


def test_out_lines_up_with_the_input_and_parses_back(run_dir, tasks, tmp_path, capsys):
    sudoku_lines = ["# 4x4", "12.4341221434321", "", "1234x41221434321", "..343412..434321", "1..4.3....2.3..1"]
    countdown_lines = ["4 7 8 8 24", "# comment", "3 5 7 38", "1 1 1 50", "2 9 10 100 7 1"]
    inputs = [write_lines(tmp_path / "sudoku.txt", sudoku_lines), write_lines(tmp_path / "cd.txt", countdown_lines)]
    out = tmp_path / "answers"
    summaries = solve_json(capsys, "--run-dir", run_dir, *inputs, "--out", out, "--simulations", "16")["files"]
    written = zip(inputs, (sudoku_lines, countdown_lines), summaries, (SUDOKU, COUNTDOWN), strict=True)
    for path, lines, summary, task in written:
        instance_lines = [line for line in lines if line and not line.startswith("#")]
        answers = (out / f"{path.stem}.answers").read_text().splitlines()
        assert len(answers) == len(instance_lines) == summary["lines"]
        for line, answer, record in zip(instance_lines, answers, summary["records"], strict=True):
            if record["status"] != "solved":
                assert answer == f"# {record['status']}: {record['reason']}"
            elif task == SUDOKU:  # the given grid followed by the answer as its known solution parses (and so fits)
                assert parse_instance(tasks[SUDOKU], f"{line},{answer}").known["solution"].all()
            else:
                assert countdown_answer_checks(line, answer), (line, answer)
    statuses = [[r["status"] for r in summary["records"]] for summary in summaries]
    assert statuses == [["solved", "bad", "solved", "no_solution"], ["solved", "solved", "no_solution", "unsupported"]]


def scored_positions(game, per_value: int) -> list[np.ndarray]:
    """Positions after 1-6 random moves, ``per_value`` of each exact value (-1, 0, 1) for the side to move."""
    rng = np.random.default_rng(0)
    found: dict[int, list[np.ndarray]] = {-1: [], 0: [], 1: []}
    while min(len(states) for states in found.values()) < per_value:
        state = np.zeros(game.spec.state_size, dtype=np.int64)
        for _ in range(int(rng.integers(1, 7))):
            if game.is_terminal(state[None])[0]:
                break
            state = game.play(state, [int(rng.choice(np.flatnonzero(game.legal_mask(state[None])[0])))])
        if not game.is_terminal(state[None])[0]:
            same = found[int(game.value(state))]
            if len(same) < per_value and not any(np.array_equal(state, s) for s in same):
                same.append(state)
    return [state for value in (-1, 0, 1) for state in found[value]]


def test_game_positions_agree_with_exact_scores(run_dir, tasks, tmp_path, capsys):
    """Tic-tac-toe positions scored by the kind's exact minimax: the agreement is that of the search's values."""
    game = tasks[TICTACTOE]
    states = scored_positions(game, 8)
    scores = [int(game.value(state)) for state in states]
    assert Counter(scores) == {-1: 8, 0: 8, 1: 8}
    lines = [f"{render_instance(game, state)} {score}" for state, score in zip(states, scores, strict=True)]
    path = write_lines(tmp_path / "positions.txt", [*lines, "X.O.X...O"])  # the last one without a score
    summary = solve_json(capsys, "--run-dir", run_dir, path)["files"][0]
    records = summary["records"]
    assert summary["type"] == "game" and summary["simulations_per_move"] == 4
    assert (summary["scored"], summary["unscored"], records[-1]["status"]) == (24, 1, "answered")
    for record, score, state in zip(records, scores, states, strict=False):
        assert record["score"] == score
        assert record["agrees"] == agrees(score, record["search_value"])
        assert record["status"] == ("solved" if record["agrees"] else "unsolved")
        assert record["optimal"] == game.verify(state, record["actions"])
        assert record["known"]["known_value"] == score
        if record["proven"]:  # a proven root's value is the exact one
            assert record["search_value"] == score and record["agrees"]
    assert summary["solve_rate"] == sum(r["agrees"] for r in records[:-1]) / 24
    assert any(r["proven"] for r in records) and not all(r["proven"] for r in records)
    assert summary["optimal_moves"] == sum(r["optimal"] for r in records)

    greedy = solve_json(capsys, "--run-dir", run_dir, path, "--greedy")["files"][0]
    for record, score in zip(greedy["records"], scores, strict=False):
        assert record["search_value"] is None and record["simulations"] == 0
        assert record["agrees"] == agrees(score, record["network_value"])


def test_agreement_rule():
    assert agrees(1, 0.2) and agrees(-3, -0.9) and agrees(0, 0.3) and agrees(0, -0.3)
    assert not agrees(1, -0.1) and not agrees(2, 0.0) and not agrees(0, 0.34) and not agrees(-1, 0.5)


def test_an_exported_model_solves_several_files_end_to_end(run_dir, tmp_path):
    """The real command on a model file from `export_trained`: the text report, progress, and --out as a directory."""
    model_file = export_trained(load_trained(run_dir), tmp_path / "model.safetensors")
    sudoku = write_lines(tmp_path / "s.txt", ["12.4341221434321", "1.3.341221434321", "..343412..434321"] * 2)
    positions = write_lines(tmp_path / "p.txt", ["5193", "X.O.X...O 0", "XX.OO.... 1"])
    argv = [sys.executable, "-m", "cluster", "solve", "--model", str(model_file), str(sudoku), str(positions)]
    argv += ["--out", str(tmp_path / "out"), "--batch", "4"]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    result = subprocess.run(argv, capture_output=True, text=True, cwd=REPO, env=env, timeout=300)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert f"model: {model_file}, trm version 0" in out
    assert f"{sudoku}: sudoku (reasoning/sudoku), search with 4 simulations per move" in out
    assert "instances 6  solved 6  solve rate 100.0%  no solution 0  unsupported 0  bad lines 0" in out
    assert f"{positions}: tictactoe (search/tictactoe), search with 4 simulations per move" in out
    assert "positions 3  agree with the known score" in out and "unscored 1" in out
    assert "reasoning/sudoku 4/6 instances" in result.stderr and "6/6" in result.stderr  # a line per batch
    answers = (tmp_path / "out" / "s.answers").read_text().splitlines()
    assert answers[:2] == answers[3:5] == [SUDOKU_A, SUDOKU_A] and answers[2] == answers[5] in (SUDOKU_A, SUDOKU_B)
    moves = (tmp_path / "out" / "p.answers").read_text().splitlines()
    assert len(moves) == 3 and all(move in "123456789" and len(move) == 1 for move in moves)


def test_help_lists_the_formats():
    result = subprocess.run(
        [sys.executable, "-m", "cluster", "solve", "--help"], capture_output=True, text=True, cwd=REPO, timeout=120
    )
    assert result.returncode == 0
    for text in ("--run-dir D", "--model FILE", "--greedy", "--strict", "sudoku: 16, 36 or 81 cells", "<FILE stem>"):
        assert text in result.stdout


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--run-dir", "{tmp}/nowhere", "{file}"], "--run-dir: {tmp}/nowhere: no such run directory"),
        (["--run-dir", "{empty}", "{file}"], "the run has no checkpoint yet (no state.json)"),
        (["--model", "{tmp}/missing.safetensors", "{file}"], "--model: {tmp}/missing.safetensors: no such file"),
        (["--run-dir", "{run}", "{tmp}/missing.txt"], "{tmp}/missing.txt: no such file"),
        (["--run-dir", "{run}", "{file}", "--kind", "connect4"], "--kind connect4: not in the model's task mix"),
        (["--run-dir", "{run}", "{junk}"], "{junk}: its lines read as no kind of the model's task mix"),
        (["--run-dir", "{run}", "{file}", "--version", "7"], "the weights of version 7 are missing"),
        (["--run-dir", "{run}", "{file}", "--greedy", "--simulations", "8"], "--greedy plays the network alone"),
        (["--run-dir", "{run}", "{file}", "{tmp}/x/{name}", "--out", "{file}"], "with several FILEs --out is a dir"),
        (
            ["--run-dir", "{run}", "{file}", "{tmp}/x/{name}", "--out", "{tmp}/o"],
            "two FILEs would write {tmp}/o/p.answers",
        ),
        (["--run-dir", "{run}", "{file}", "--out", "{file}"], "--out {file}: would overwrite the input file {file}"),
        (["--model", "{file}", "{file}", "--version", "1"], "--version: applies to --run-dir"),
        (["--run-dir", "{run}", "{blank}"], "{blank}: no instance lines (every line is blank or a comment)"),
    ],
)
def test_user_mistakes_are_one_line(run_dir, tmp_path, capsys, argv, message):
    empty = tmp_path / "empty-run"
    RunDir(empty).create(load_config(REPO / "configs" / "local.yaml"))
    (tmp_path / "x").mkdir()
    file = write_lines(tmp_path / "p.txt", ["12.4341221434321"])
    write_lines(tmp_path / "x" / "p.txt", ["12.4341221434321"])
    junk = write_lines(tmp_path / "junk.txt", ["hello world"])
    blank = write_lines(tmp_path / "blank.txt", ["# only a comment", ""])
    names = {"tmp": tmp_path, "run": run_dir, "empty": empty, "file": file, "junk": junk, "name": "p.txt"}
    names["blank"] = blank
    capsys.readouterr()
    assert main(["solve", *(a.format(**names) for a in argv)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("selfplay: ") and err.count("\n") == 1 and message.format(**names) in err, err
