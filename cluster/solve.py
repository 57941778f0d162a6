"""`selfplay solve`: a trained model answers the puzzles and positions of your own files, and each answer is checked.

    selfplay solve --run-dir runs/local-... puzzles.txt             # the run's best weights, its evaluation search
    selfplay solve --model model.safetensors a.txt b.txt --out answers/ --json

Each FILE holds one instance per line in its kind's text format (`actors.tasks.formats`; blank lines
and ``#`` comments are skipped). The kind is ``--kind`` or recognised from the file among the kinds
of the model's task mix; where the mix has several entries of the kind (two Sudoku sizes), each line
goes to the first entry whose parser accepts it.

- Puzzles (one player): every instance is searched to the end with the model's network and the
  batched tree search, ``--batch`` instances at a time, with the evaluation search settings of its
  task (`evaluation_search_config`: no noise, the most visited move; ``--simulations`` or the run's
  ``evaluation.num_simulations`` or the task's own budget), exactly as `selfplay evaluate` searches
  its held-out puzzles, or, with ``--greedy``, the network alone plays its most likely legal action
  at every move. Every answer is then verified exactly (``task.verify``): *solved* means verified.
  An unsolved instance that the kind's exact solver shows to have no solution is ``no_solution``
  (Sudoku, Countdown, maze) and counts neither way: the solve rate is solved / (instances -
  no_solution). A Sudoku with several solutions is solved by any valid filling.
- Games (two players): for each position the best move by search from it, the network's value and
  the search's root value (both from the side to move; a proven root's value is exact), and, where
  the line gives a known score, whether the search's value agrees with it in sign (a score of 0: the
  value is a draw, ``|v| < 1/3``). The solve rate of a game file is that agreement over the scored
  positions; a position without a score is ``answered``.
- A malformed line is ``bad``, an instance the network was not trained for (a 9x9 Sudoku for a 4x4
  model) ``unsupported``: each is reported with its line number and the reason, and the other lines
  are solved. ``--strict`` instead stops at the first such line, before any solving (exit code 2).

The report per file: instances, solved, solve rate, no solution, unsupported, bad lines, simulations
per move and in total, time; every line when the file has few, else the unsolved and bad ones (the
first 20). ``--json`` prints one JSON document::

    {"model": {"source", "name", "version"},
     "files": [{"file", "kind", "tasks" (mix labels), "type" (puzzle | game), "mode" (search | greedy),
                "lines", "instances", "solved", "solve_rate" (null without any judged instance), "unsolved",
                "no_solution", "unsupported", "bad", "simulations_per_move" (null with --greedy),
                "simulations", "seconds", games also "scored", "unscored", "optimal_moves" (exact kinds),
                "records": [{"line", "status", "reason", "answer", "actions", "simulations",
                             "known" (what the line's known answer says of it, where it gave one),
                             puzzles not solved: "attempt" (the answer that failed);
                             games: "move", "network_value", "search_value", "proven", "score",
                             "agrees", "optimal" (exact kinds)}]}]}

``--out`` writes one line per instance line (line k answers the file's k-th instance line): the
answer in the kind's format, or ``# <status>: <reason>`` where there is none.

Everything runs in this process on the CPU (no Ray), with as many torch threads as `selfplay evaluate`
uses (``evaluation.num_cpus``, at least one). Importing this module is cheap: the handler
imports torch, numpy and the tasks when it runs.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cluster.arguments import add_model_source, model_source, positive_int
from cluster.errors import UsageError

if TYPE_CHECKING:
    import numpy as np

    from actors.search import SearchConfig
    from actors.search.batched import Network
    from actors.tasks.base import Task
    from cluster.trained import TrainedModel

DEFAULT_BATCH = 256
LISTED = 20  # lines listed per file: every line of a file with at most this many, else the first problems
DRAW_BAND = 1.0 / 3.0  # a value v is a draw when |v| < this
PROBLEMS = ("unsolved", "no_solution", "unsupported", "bad")
_FORMATS_MARK = "<FORMATS>"

HELP_EPILOG = f"""\
kinds and line formats (blank lines and lines starting with # are skipped):
{_FORMATS_MARK}

statuses: solved (the answer verifies; for a game: the search value agrees with the known score),
unsolved, no_solution (the exact solver finds none), answered (a game position without a score),
unsupported (outside what the network was trained for), bad (a malformed line).

--out ANSWERS: with one FILE, ANSWERS is a file (or an existing directory, which gets <FILE stem>.answers);
with several FILEs it is a directory (created if missing) holding <FILE stem>.answers for each. Line k of
an answers file answers the k-th instance line of its FILE: the answer in the kind's format, or
"# <status>: <reason>" where there is none.
"""


# ----- the command line --------------------------------------------------------------


class _HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Keeps the epilog's line breaks and fills in the kinds' formats only when help is shown."""

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        if _FORMATS_MARK in text:
            text = text.replace(_FORMATS_MARK, _formats_text())
        return super()._fill_text(text, width, indent)


def _formats_text() -> str:
    from actors.tasks.formats import FORMATS

    return "\n".join(f"  {kind}: {description}" for kind, description in FORMATS.items())


def add_solve_command(commands: Any) -> None:
    """Register ``selfplay solve`` on the `selfplay` parser's subcommands ``commands``."""
    solve = commands.add_parser(
        "solve",
        help="answer the puzzles and positions of your own files with a trained model, each answer verified",
        description=(
            "Solve every instance of each FILE with a trained model (search, or the network alone with --greedy),"
            " verify every answer exactly, and report the solve rate per file."
        ),
        epilog=HELP_EPILOG,
        formatter_class=_HelpFormatter,
    )
    add_model_source(solve)
    solve.add_argument("files", nargs="+", metavar="FILE", help="instance files, one instance per line")
    solve.add_argument("--kind", help="the kind of every line (default: recognised among the model's task mix)")
    solve.add_argument(
        "--simulations",
        type=positive_int,
        metavar="N",
        help="search simulations per move (default: the run's evaluation.num_simulations, else the task's)",
    )
    solve.add_argument("--greedy", action="store_true", help="no search: the network's most likely legal move")
    solve.add_argument("--json", action="store_true", help="print one JSON document: per file and per line")
    solve.add_argument("--out", metavar="ANSWERS", help="write the answers, one line per instance line (below)")
    solve.add_argument("--strict", action="store_true", help="stop at the first bad or unsupported line (exit 2)")
    solve.add_argument(
        "--batch", type=positive_int, default=DEFAULT_BATCH, metavar="B", help="instances searched at once (256)"
    )
    solve.set_defaults(handler=cmd_solve)


# ----- what one line became --------------------------------------------------------------


@dataclass
class Line:
    """One instance line of a file: where it is, what it parsed to, and (after solving) what became of it.

    ``number`` is the line's 1-based number in its file; ``task_id`` the mix entry that read it
    (None for a bad or unsupported line); ``status`` one of solved, unsolved, no_solution,
    answered, unsupported, bad (None until solved).
    """

    number: int
    text: str
    task_id: int | None = None
    state: Any = None
    known: Any = None
    status: str | None = None
    reason: str | None = None
    actions: list[int] | None = None
    answer: str | None = None
    simulations: int = 0
    details: dict[str, Any] = field(default_factory=dict)

    def record(self) -> dict[str, Any]:
        """The line's JSON record."""
        record = {"line": self.number, "status": self.status, "reason": self.reason, "answer": self.answer}
        record.update(actions=self.actions, simulations=self.simulations, **self.details)
        return record


@dataclass
class InputFile:
    """One FILE as read: its kind, the mix entries of that kind, and its instance lines."""

    path: Path
    kind: str
    task_ids: list[int]
    lines: list[Line]


# ----- reading ---------------------------------------------------------------------------


def read_file(path: Path, tasks: list[Task], kind: str | None) -> InputFile:
    """Read ``path`` with the parsers of the mix entries of its kind (``kind``, or recognised; `UsageError`)."""
    from actors.tasks.formats import read_instances

    if not path.is_file():
        raise UsageError(f"{path}: no such file")
    try:
        text_lines = path.read_text(encoding="utf-8-sig").splitlines()
    except (OSError, UnicodeDecodeError) as error:
        raise UsageError(f"{path}: cannot be read as text ({error})") from None
    if not _instance_lines(text_lines):
        raise UsageError(f"{path}: no instance lines (every line is blank or a comment)")
    kind = kind or detect_kind(path, text_lines, tasks)
    task_ids = [task_id for task_id, task in enumerate(tasks) if task.kind == kind]
    readings = [read_instances(path, tasks[task_id]) for task_id in task_ids]
    lines = [_first_accepted(results, task_ids) for results in zip(*readings, strict=True)]
    return InputFile(path, kind, task_ids, lines)


def _instance_lines(text_lines: list[str]) -> list[str]:
    """The lines that hold instances: not blank, not a ``#`` comment (as the formats' reader skips them)."""
    return [text for text in (raw.strip() for raw in text_lines) if text and not text.startswith("#")]


def detect_kind(path: Path, text_lines: list[str], tasks: list[Task]) -> str:
    """The one kind of ``tasks`` whose format reads ``text_lines``; `UsageError` naming the fits otherwise.

    `detect_kinds` wants every one of the first lines to read; where a malformed line spoils that,
    the kinds that read any one of those lines on its own count (a file with a typo is still
    recognised, and its bad line reported).
    """
    from actors.tasks.formats import DETECT_LINES, detect_kinds

    fits = {tasks[task_id].kind for task_id in detect_kinds(text_lines, tasks)}
    if not fits:
        for text in _instance_lines(text_lines)[:DETECT_LINES]:
            fits.update(tasks[task_id].kind for task_id in detect_kinds([text], tasks))
    if len(fits) == 1:
        return fits.pop()
    mix = ", ".join(dict.fromkeys(task.kind for task in tasks))
    if not fits:
        raise UsageError(f"{path}: its lines read as no kind of the model's task mix ({mix}); give --kind")
    raise UsageError(f"{path}: its lines read as {' or '.join(sorted(fits))}; give --kind")


def _first_accepted(results: tuple[Any, ...], task_ids: list[int]) -> Line:
    """The line read by the first mix entry that accepts it, else its problem: unsupported if any entry
    recognised it as an instance it cannot take, else bad (with the first entry's reason)."""
    first = results[0]
    line = Line(first.line, first.text)
    for task_id, result in zip(task_ids, results, strict=True):
        if result.instance is not None:
            line.task_id, line.state, line.known = task_id, result.instance.state, result.instance.known
            return line
    unsupported = [result for result in results if result.unsupported]
    line.status = "unsupported" if unsupported else "bad"
    line.reason = str((unsupported or list(results))[0].error)
    return line


def check_strict(files: list[InputFile]) -> None:
    """`UsageError` ``FILE: line N: reason`` at the first bad or unsupported line of ``files``."""
    for file in files:
        for line in file.lines:
            if line.status in ("bad", "unsupported"):
                raise UsageError(f"{file.path}: line {line.number}: {line.reason}")


# ----- answering ---------------------------------------------------------------------------


@dataclass
class Solver:
    """How instances are answered: the model's network, its task mix, search (or greedy) and batch size."""

    model: TrainedModel
    tasks: list[Task]
    network: Network
    simulations: int | None
    greedy: bool
    batch: int

    def search_config(self, task_id: int) -> SearchConfig:
        """Task ``task_id``'s evaluation search: exploration off, the budget `selfplay evaluate` uses."""
        from actors.evaluator.evaluator import evaluation_search_config

        config = self.model.config
        search = config.search.with_overrides(config.tasks.mix[task_id].search)
        return evaluation_search_config(search, self.simulations or config.evaluation.num_simulations)


def network_moves(task: Task, task_id: int, states: np.ndarray, network: Network) -> tuple[np.ndarray, np.ndarray]:
    """The network alone on ``states [n, S]``: its most likely legal action and its value (side to move)."""
    import numpy as np

    from actors.evaluator.matches import most_likely_legal

    logits, values = network(task.encode(states), np.full(len(states), task_id, dtype=np.int64))
    return most_likely_legal(task, states, logits), np.asarray(values, dtype=np.float64)


def search_positions(
    task: Task, task_id: int, states: np.ndarray, seeds: np.ndarray, network: Network, config: SearchConfig
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """One move's search from each game position of ``states [n, S]``: the moves, the root values (side to
    move), whether each root is proven (its value exact), and the simulations each used."""
    from actors.search import BatchedSearch

    search = BatchedSearch(task, network, config, batch_size=len(states), task_id=task_id)
    search.reset(states, seeds)
    result = search.run()
    return result.actions, result.root_value.astype(float), result.proven, result.simulations


def no_solution(task: Task, state: np.ndarray) -> bool:
    """Whether the kind's exact solver shows ``state`` has no solution; False where it cannot tell cheaply.

    Sudoku counts solutions (up to one); Countdown and maze ask the solver, which raises
    ValueError when there is none. Other kinds (sliding puzzles, list programs) are not asked:
    their solvers may search for a long time.
    """
    if task.kind == "sudoku":
        return task.count_solutions(state, limit=1) == 0
    if task.kind in ("countdown", "maze"):
        try:
            task.solve(state)
        except ValueError:
            return True
    return False


def solve_file(file: InputFile, solver: Solver, progress: Any) -> dict[str, Any]:
    """Answer, verify and summarise every instance line of ``file``; its JSON-ready summary."""
    start = time.perf_counter()
    for task_id in file.task_ids:
        task = solver.tasks[task_id]
        lines = [line for line in file.lines if line.task_id == task_id]
        for begin in range(0, len(lines), solver.batch):
            batch = lines[begin : begin + solver.batch]
            if task.spec.num_players == 2:
                _answer_positions(task, task_id, batch, solver)
            else:
                _answer_puzzles(task, task_id, batch, solver)
            progress(file, task, begin + len(batch), len(lines), time.perf_counter() - start)
    return summarise(file, solver, time.perf_counter() - start)


def _stack(lines: list[Line]) -> tuple[np.ndarray, np.ndarray]:
    """The states of ``lines`` as ``[n, S]`` and their search seeds (the line numbers: reproducible)."""
    import numpy as np

    states = np.stack([np.asarray(line.state, dtype=np.int64) for line in lines])
    return states, np.array([line.number for line in lines], dtype=np.int64)


def _answer_puzzles(task: Task, task_id: int, lines: list[Line], solver: Solver) -> None:
    from actors.evaluator.matches import answer_greedily, search_puzzles
    from actors.tasks.formats import compare_known, format_answer

    states, seeds = _stack(lines)
    if solver.greedy:
        moves = answer_greedily(task, task_id, states, solver.network).moves
        simulations = [0] * len(lines)
    else:
        searched = search_puzzles(task, task_id, states, seeds, solver.network, solver.search_config(task_id))
        moves, simulations = searched.moves, searched.simulations.tolist()
    answers = [row[row >= 0].tolist() for row in moves]
    for line, state, actions, sims in zip(lines, states, answers, simulations, strict=True):
        line.actions, line.simulations = actions, int(sims)
        if task.verify(state, actions):
            line.status, line.answer = "solved", format_answer(task, state, actions)
        elif no_solution(task, state):
            line.status, line.reason = "no_solution", f"the exact solver finds no solution of this {task.kind}"
        else:
            line.status, line.reason = "unsolved", f"the {_player(solver)}'s answer does not verify"
        if line.status != "solved":
            line.details["attempt"] = _attempt(task, state, actions)
        if line.known:
            line.details["known"] = compare_known(task, state, actions, line.known)


def _attempt(task: Task, state: np.ndarray, actions: list[int]) -> str | None:
    """The text of an answer that did not verify (what it got to), or None where it has none."""
    from actors.tasks.formats import format_answer

    try:
        return format_answer(task, state, actions)
    except ValueError:
        return None


def _answer_positions(task: Task, task_id: int, lines: list[Line], solver: Solver) -> None:
    import numpy as np

    states, seeds = _stack(lines)
    over = task.is_terminal(states)
    live = []
    for line, ended in zip(lines, over.tolist(), strict=True):
        if ended:
            line.status, line.reason = "bad", "the game is over: there is no move to find"
        else:
            live.append(line)
    if not live:
        return
    states, seeds = states[~over], seeds[~over]
    network_actions, network_values = network_moves(task, task_id, states, solver.network)
    if solver.greedy:
        actions, values = network_actions, network_values
        proven, simulations = np.zeros(len(live), dtype=bool), np.zeros(len(live), dtype=np.int64)
    else:
        config = solver.search_config(task_id)
        actions, values, proven, simulations = search_positions(task, task_id, states, seeds, solver.network, config)
    for i, line in enumerate(live):
        _judge_position(task, line, states[i], int(actions[i]), float(network_values[i]), solver)
        line.simulations = int(simulations[i])
        line.details["search_value"] = None if solver.greedy else _rounded(float(values[i]))
        line.details["proven"] = bool(proven[i])
        _agreement(line, float(values[i]))


def _judge_position(task: Task, line: Line, state: np.ndarray, action: int, value: float, solver: Solver) -> None:
    """The move's answer text, the network's value, the exact check where the kind has exact values."""
    from actors.tasks.formats import compare_known, format_answer

    line.actions, line.answer = [action], format_answer(task, state, [action])
    line.details["move"] = task.describe_action(state, action)
    line.details["network_value"] = _rounded(value)
    if getattr(task, "exact_values", False):
        line.details["optimal"] = bool(task.verify(state, [action]))
    if line.known:
        line.details["known"] = compare_known(task, state, [action], line.known)


def known_score(known: dict[str, Any]) -> float | None:
    """The game score a line gave (Connect Four's ``score``, tic-tac-toe's ``value``), else None."""
    known = known.get("score", known.get("value"))
    if isinstance(known, bool) or not isinstance(known, int | float):
        return None
    return known


def agrees(score: float, value: float) -> bool:
    """Whether ``value`` (side to move, in [-1, 1]) agrees with the known ``score``: same sign, or a draw."""
    if score == 0:
        return abs(value) < DRAW_BAND
    return (value > 0) == (score > 0) and value != 0


def _agreement(line: Line, value: float) -> None:
    score = known_score(line.known)
    line.details["score"] = score
    if score is None:
        line.status, line.details["agrees"] = "answered", None
        return
    line.details["agrees"] = agreed = agrees(score, value)
    line.status = "solved" if agreed else "unsolved"
    if not agreed:
        line.reason = f"value {value + 0.0:+.3f} disagrees with the known score {score:g}"


def _rounded(value: float) -> float:
    return round(value, 4) + 0.0  # + 0.0: no -0.0 in the report


def _player(solver: Solver) -> str:
    return "network" if solver.greedy else "search"


# ----- reporting -----------------------------------------------------------------------------


def summarise(file: InputFile, solver: Solver, seconds: float) -> dict[str, Any]:
    """A file's JSON-ready summary with one record per line."""
    from actors.evaluator.evaluator import task_labels

    statuses = [line.status for line in file.lines]
    count = {status: statuses.count(status) for status in ("solved", "unsolved", "no_solution", "answered")}
    game = any(solver.tasks[task_id].spec.num_players == 2 for task_id in file.task_ids)
    instances = sum(count.values())
    judged = count["solved"] + count["unsolved"]  # games: the scored positions; puzzles: those with a solution
    labels = task_labels(solver.tasks)
    per_move = None if solver.greedy else sorted({solver.search_config(i).num_simulations for i in file.task_ids})
    return {
        "file": str(file.path),
        "kind": file.kind,
        "tasks": [labels[task_id] for task_id in file.task_ids],
        "type": "game" if game else "puzzle",
        "mode": "greedy" if solver.greedy else "search",
        "lines": len(file.lines),
        "instances": instances,
        "solved": count["solved"],
        "solve_rate": count["solved"] / judged if judged else None,
        "unsolved": count["unsolved"],
        "no_solution": count["no_solution"],
        **(_game_counts(file, judged, count["answered"]) if game else {}),
        "unsupported": statuses.count("unsupported"),
        "bad": statuses.count("bad"),
        "simulations_per_move": None if per_move is None else (per_move[0] if len(per_move) == 1 else per_move),
        "simulations": sum(line.simulations for line in file.lines),
        "seconds": round(seconds, 3),
        "records": [line.record() for line in file.lines],
    }


def _game_counts(file: InputFile, scored: int, unscored: int) -> dict[str, Any]:
    """A game file's extra figures: scored and unscored positions, and where the kind has exact values
    (tic-tac-toe) how many of the moves chosen are optimal (``optimal_moves``, else None)."""
    optimal = [line.details["optimal"] for line in file.lines if "optimal" in line.details]
    return {"scored": scored, "unscored": unscored, "optimal_moves": sum(optimal) if optimal else None}


def format_summary(summary: dict[str, Any]) -> str:
    """A file's summary as text: the figures, then its lines (few) or its problem lines (the first 20)."""
    game = summary["type"] == "game"
    rate = "n/a" if summary["solve_rate"] is None else f"{100 * summary['solve_rate']:.1f}%"
    judged = summary["solved"] + summary["unsolved"]
    if summary["mode"] == "greedy":
        how = "the network alone (--greedy)"
    else:
        how = f"search with {_per_move_text(summary['simulations_per_move'])} simulations per move"
    head = f"{summary['file']}: {summary['kind']} ({', '.join(summary['tasks'])}), {how}"
    if game:
        counts = f"positions {summary['instances']}  agree with the known score {summary['solved']} of {judged}"
        counts += f"  solve rate {rate}  unscored {summary['unscored']}"
        if summary["optimal_moves"] is not None:
            counts += f"  optimal moves {summary['optimal_moves']} of {summary['instances']}"
    else:
        counts = f"instances {summary['instances']}  solved {summary['solved']}  solve rate {rate}"
        if summary["no_solution"]:
            counts += f" (of the {judged} with a solution)"
        counts += f"  no solution {summary['no_solution']}"
    counts += f"  unsupported {summary['unsupported']}  bad lines {summary['bad']}"
    cost = f"simulations {summary['simulations']:,} in total, {summary['seconds']:.1f} s"
    return "\n".join([head, f"  {counts}", f"  {cost}", *_listed(summary["records"], game)])


def _per_move_text(per_move: int | list[int]) -> str:
    return str(per_move) if isinstance(per_move, int) else "/".join(str(n) for n in per_move)


def _listed(records: list[dict[str, Any]], game: bool) -> list[str]:
    """Every record when there are at most `LISTED`, else the problem records (the first `LISTED`)."""
    everything = len(records) <= LISTED
    shown = records if everything else [r for r in records if r["status"] in PROBLEMS]
    if not shown:
        return []
    lines = ["  lines:" if everything else "  unsolved and bad lines:"]
    lines += [f"    {_record_text(record, game)}" for record in shown[:LISTED]]
    if len(shown) > LISTED:
        lines.append(f"    ... and {len(shown) - LISTED} more")
    return lines


def _record_text(record: dict[str, Any], game: bool) -> str:
    text = f"line {record['line']}: {record['status']}"
    if game and record.get("move") is not None:
        search = "" if record["search_value"] is None else f", search value {record['search_value']:+.3f}"
        proven = ", proven" if record["proven"] else ""
        text += f": {record['move']} (network value {record['network_value']:+.3f}{search}{proven})"
        if record.get("optimal") is not None:
            text += ", an optimal move" if record["optimal"] else ", not an optimal move"
        if record.get("score") is not None:
            text += f", known score {record['score']:g}"
        return text
    if record["status"] == "solved":
        return f"{text}: {record['answer']}"
    attempt = f" ({record['attempt']})" if record.get("attempt") else ""
    return f"{text}: {record['reason']}{attempt}"


def report_json(model: TrainedModel, summaries: list[dict[str, Any]]) -> str:
    """The whole report as one JSON document."""
    source = {"source": model.source, "name": model.name, "version": model.version}
    return json.dumps({"model": source, "files": summaries}, indent=2)


# ----- answers files ---------------------------------------------------------------------------


def answer_paths(out: str, files: list[Path]) -> list[Path]:
    """Where each FILE's answers go (see the help's --out); `UsageError` for a clash or an input overwritten."""
    target = Path(out)
    if len(files) == 1 and not target.is_dir():
        if not target.parent.is_dir():
            raise UsageError(f"--out {out}: no directory {target.parent} to write it in")
        paths = [target]
    elif target.exists() and not target.is_dir():
        raise UsageError(f"--out {out}: with several FILEs --out is a directory, and {out} is a file")
    else:
        paths = [target / f"{path.stem}.answers" for path in files]
    clashes = sorted({str(p) for p in paths if paths.count(p) > 1})
    if clashes:
        raise UsageError(f"--out {out}: two FILEs would write {clashes[0]}; give files of different names")
    inputs = {path.resolve() for path in files}
    for path in paths:
        if path.resolve() in inputs:
            raise UsageError(f"--out {out}: would overwrite the input file {path}")
    return paths


def answer_line(line: Line) -> str:
    """One line of an answers file: the answer, or ``# <status>: <reason>``."""
    if line.answer is not None:
        return line.answer
    return f"# {line.status}: {line.reason}".replace("\n", " ")


def write_answers(path: Path, file: InputFile) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(answer_line(line) + "\n" for line in file.lines))


# ----- the handler ---------------------------------------------------------------------------


def load_model(args: argparse.Namespace) -> TrainedModel:
    """The model of ``--run-dir`` (with ``--version``) or ``--model``; one-line errors for what is missing."""
    from cluster.trained import load_trained

    return load_trained(*model_source(args))


def _check_kind(kind: str | None, tasks: list[Task]) -> None:
    kinds = list(dict.fromkeys(task.kind for task in tasks))
    if kind is not None and kind not in kinds:
        raise UsageError(f"--kind {kind}: not in the model's task mix ({', '.join(kinds)})")


def _progress(batch: int) -> Any:
    """A printer of one plain line per batch on stderr, for the instances of a task of more than one batch."""

    def show(file: InputFile, task: Task, done: int, total: int, seconds: float) -> None:
        if total > batch:
            print(f"solve: {file.path}: {task.name} {done}/{total} instances, {seconds:.1f} s", file=sys.stderr)

    return show


def cmd_solve(args: argparse.Namespace) -> int:
    """``selfplay solve``: read every FILE, answer and verify its instances, report (and write --out)."""
    if args.greedy and args.simulations is not None:
        raise UsageError("--simulations: --greedy plays the network alone, without search")
    model = load_model(args)
    tasks = model.tasks
    _check_kind(args.kind, tasks)
    files = [read_file(Path(name), tasks, args.kind) for name in args.files]
    if args.strict:
        check_strict(files)
    out_paths = answer_paths(args.out, [file.path for file in files]) if args.out else None
    # As many torch threads as `selfplay evaluate` gives its network (the evaluator actor's CPUs): the
    # same arithmetic, and small batches run faster on one thread than on several contending ones.
    network = model.network(threads=max(1, int(model.config.evaluation.num_cpus)))
    solver = Solver(model, tasks, network, args.simulations, args.greedy, args.batch)
    progress = _progress(args.batch)
    summaries = [solve_file(file, solver, progress) for file in files]
    if out_paths is not None:
        for path, file in zip(out_paths, files, strict=True):
            write_answers(path, file)
    if args.json:
        print(report_json(model, summaries))
    else:
        print(f"model: {model.source}, {model.name} version {model.version}")
        print("\n".join(format_summary(summary) for summary in summaries))
    return 0
