"""`selfplay play`, `selfplay gtp` and `selfplay export` on a real (untrained) network and real processes.

A small run directory is made once per module without Ray: configs/local.yaml's network at
its initial weights saved as version 0 with a state.json, and a second one whose mix holds
Connect Four. The protocol tests drive `selfplay gtp` through pipes and `selfplay play`
through a pseudo-terminal; the boards they see are read by the parser below, which knows
nothing of cluster.game_agent, so the coordinates shown and the moves sent are checked
against the task's own states.
"""

from __future__ import annotations

import os
import re
import select
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from actors.tasks.connect4 import ConnectFour
from actors.tasks.tictactoe import TicTacToe
from cluster.game_agent import GAMES, MoveError, board_text, load_game_agent
from cluster.gtp import GtpEngine

REPO = Path(__file__).resolve().parents[1]
TASKS = {"tictactoe": TicTacToe(), "connect4": ConnectFour()}
LETTERS = "abcdefg"


# ----- run directories ----------------------------------------------------------------------------------


def make_run_dir(path: Path, overrides: list[str] | None = None, checkpoint: bool = True) -> Path:
    """A run directory as the driver leaves it before its first gate: config, version 0 weights, state.json."""
    from actors.inference import build_network
    from actors.tasks.registry import TaskMix
    from cluster.config import load_config
    from cluster.rundir import RunDir

    config = load_config(REPO / "configs" / "local.yaml", overrides)
    run = RunDir(path)
    run.create(config)
    if checkpoint:
        specs = [task.spec for task in TaskMix(config.tasks).tasks]
        network = build_network(config.models[0], specs, config.seed)
        weights = {name: value.numpy() for name, value in network.module.state_dict().items()}
        run.save_weights(0, weights, keep=config.run.keep_best)
        run.save_state({"counters": {"version": 0, "others": []}})
    return path


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    """configs/local.yaml: tic-tac-toe, 4x4 Sudoku, Countdown."""
    return make_run_dir(tmp_path_factory.mktemp("play") / "run")


@pytest.fixture(scope="module")
def connect4_run_dir(tmp_path_factory) -> Path:
    """configs/local.yaml with Connect Four in place of Sudoku."""
    return make_run_dir(tmp_path_factory.mktemp("play") / "run-c4", ["tasks.mix.1={kind: connect4, weight: 1.0}"])


@pytest.fixture(scope="module")
def exported_model(run_dir, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("export") / "model.safetensors"
    result = selfplay("export", "--run-dir", str(run_dir), "--out", str(out))
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"{out}: trm weights v0 of {run_dir}")
    return out


@pytest.fixture(scope="module")
def tictactoe_agent(run_dir):
    return load_game_agent(run_dir, "tictactoe")


@pytest.fixture(scope="module")
def connect4_agent(connect4_run_dir):
    return load_game_agent(connect4_run_dir, "connect4", simulations=16)


def selfplay(*args: str) -> subprocess.CompletedProcess:
    argv = [sys.executable, "-m", "cluster", *args]
    return subprocess.run(argv, capture_output=True, text=True, cwd=REPO, timeout=120)


# ----- boards as the tests read them ------------------------------------------------------------------------


def read_board(text: str) -> dict[str, str]:
    """``{"b2": "X", ...}``: every cell of the last labelled board in ``text``, named by column letter and row."""
    rows = {}
    for line in text.replace("\r", "").split("\n"):
        found = re.match(r"^(\d)  ((?:[.XO] )*[.XO])(?:\s|$)", line)
        if found:
            rows[int(found[1])] = found[2].split()
    return {f"{LETTERS[col]}{row}": mark for row, marks in rows.items() for col, mark in enumerate(marks)}


def cell_index(kind: str, cell: str) -> int:
    """The state index of a cell named ``b2``: rows count from the bottom, tic-tac-toe's state from the top."""
    col, row = LETTERS.index(cell[0]), int(cell[1:])
    return (3 - row) * 3 + col if kind == "tictactoe" else (row - 1) * 7 + col


def action_of(kind: str, move: str) -> int:
    """The task action of a GTP move, as the protocol documents it."""
    return cell_index(kind, move) if kind == "tictactoe" else LETTERS.index(move)


def legal_moves_shown(kind: str, board: dict[str, str]) -> list[str]:
    """The moves a board shows to be legal: empty cells, or the columns whose top cell is empty."""
    if kind == "tictactoe":
        return sorted(cell for cell, mark in board.items() if mark == ".")
    return [letter for letter in LETTERS if board[f"{letter}6"] == "."]


def random_state(kind: str, seed: int, plies: int) -> np.ndarray:
    """A position after up to ``plies`` random moves (fewer if the game ends)."""
    task, rng = TASKS[kind], np.random.default_rng(seed)
    state = np.zeros(task.spec.state_size, dtype=np.int64)
    for _ in range(plies):
        legal = np.flatnonzero(task.legal_mask(state[None])[0])
        if len(legal) == 0:
            break
        state = task.play(state, [int(rng.choice(legal))])
    return state


# ----- coordinates and boards ------------------------------------------------------------------------------


def test_the_parser_offers_the_games_the_agent_knows():
    from cluster.play import GAMES as PARSER_GAMES

    assert PARSER_GAMES == GAMES == ("tictactoe", "connect4")


@pytest.mark.parametrize("kind", GAMES)
def test_every_move_round_trips_through_its_coordinate(kind):
    text, task = board_text(kind), TASKS[kind]
    vertices = [text.vertex(action) for action in range(task.spec.num_actions)]
    assert len(set(vertices)) == task.spec.num_actions
    for action, vertex in enumerate(vertices):
        assert text.parse_vertex(vertex) == action == text.parse_vertex(vertex.upper())
        assert text.parse_human(vertex) == action == text.parse_human(str(action + 1))
        assert action_of(kind, vertex) == action  # what the protocol's docstring promises
    if kind == "tictactoe":
        assert vertices[0] == "a3" and vertices[8] == "c1"
    else:
        assert vertices == list("abcdefg")


@pytest.mark.parametrize("kind", GAMES)
@settings(max_examples=300, deadline=None)
@given(word=st.text(alphabet="abcdhxz0123456789 .-", max_size=4))
def test_any_text_is_a_move_or_a_move_error(kind, word):
    text = board_text(kind)
    for parse in (text.parse_vertex, text.parse_human):
        try:
            action = parse(word)
        except MoveError as error:
            assert str(error) and "\n" not in str(error)
        else:
            assert 0 <= action < TASKS[kind].spec.num_actions


@pytest.mark.parametrize("kind", GAMES)
@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), plies=st.integers(0, 42), numbers=st.booleans())
def test_labelled_board_shows_every_cell_at_its_coordinate(kind, seed, plies, numbers):
    task = TASKS[kind]
    state = random_state(kind, seed, plies)
    shown = board_text(kind).labelled(state, numbers=numbers)
    board = read_board(shown)
    cells = 9 if kind == "tictactoe" else 42
    assert len(board) == cells
    for cell, mark in board.items():
        assert mark == ".XO"[int(state[cell_index(kind, cell)])]
    last = shown.split("\n")[-1]
    if not task.is_terminal(state[None])[0]:
        assert last == f"{'XO'[int(task.to_play(state[None])[0])]} to move"
    else:
        assert last in ("draw", "X has won", "O has won")


# ----- the agent ------------------------------------------------------------------------------------------


def immediate_wins(task, state: np.ndarray) -> list[int]:
    """The mover's moves that win at once."""
    wins = []
    for action in np.flatnonzero(task.legal_mask(state[None])[0]):
        after = task.play(state, [int(action)])
        if task.is_terminal(after[None])[0] and task.outcome(after[None])[0] < 0:
            wins.append(int(action))
    return wins


def positions(kind: str, want, count: int) -> list[np.ndarray]:
    """``count`` distinct random positions, not over, for which ``want(state)`` holds."""
    found, seen, seed = [], set(), 0
    while len(found) < count:
        seed += 1
        state = random_state(kind, seed, int(np.random.default_rng(seed).integers(2, 9)))
        key = state.tobytes()
        if key not in seen and not TASKS[kind].is_terminal(state[None])[0] and want(state):
            seen.add(key)
            found.append(state)
    return found


def test_agent_takes_an_immediate_win_and_proves_it(tictactoe_agent):
    task = TASKS["tictactoe"]
    for state in positions("tictactoe", lambda s: bool(immediate_wins(task, s)), 12):
        tictactoe_agent.new_game(state)
        move = tictactoe_agent.choose()
        assert move.action in immediate_wins(task, state), task.render(state)
        assert task.action_values(state)[move.action] == 1  # the exact solver agrees
        assert move.proven and move.search_value == pytest.approx(1.0)


def test_agent_blocks_a_single_threat(tictactoe_agent):
    task = TASKS["tictactoe"]

    def threatened(state):
        opponent = state.copy()
        opponent[9] = 1 - state[9]  # the same board with the other side to move
        return not immediate_wins(task, state) and len(immediate_wins(task, opponent)) == 1

    for state in positions("tictactoe", threatened, 8):
        tictactoe_agent.new_game(state)
        move = tictactoe_agent.choose()
        values = task.action_values(state)
        assert values[move.action] == np.nanmax(values), task.render(state)


@pytest.mark.parametrize("kind", GAMES)
def test_agent_plays_only_legal_moves_and_keeps_its_tree_on_the_game(kind, tictactoe_agent, connect4_agent):
    agent = tictactoe_agent if kind == "tictactoe" else connect4_agent
    task, rng = TASKS[kind], np.random.default_rng(5)
    for game in range(2):
        agent.new_game()
        while not agent.is_over():
            if agent.to_play == game % 2:
                move = agent.choose()
                assert task.legal_mask(agent.state[None])[0, move.action]
                assert 0 < move.visits <= move.total_visits
                assert -1.0 <= move.search_value <= 1.0 and -1.0 <= move.network_value <= 1.0
                action = move.action
            else:
                action = int(rng.choice(agent.legal_actions()))
            agent.play(action)
            assert (agent.search.root_states[0] == agent.state).all()
        assert agent.winner() in (None, 0, 1)
    with pytest.raises(MoveError):
        agent.choose()
    agent.undo()
    assert not agent.is_over() and agent.is_legal(agent.choose().action)


def scripted_reader(lines: list, shown: list[str]):
    """A ``read(prompt)`` that records the prompt and returns the next of ``lines`` (raises EOFError at EOFError)."""
    remaining = iter(lines)

    def read(prompt: str) -> str:
        shown.append(prompt)
        item = next(remaining)
        if item is EOFError:
            raise EOFError
        return item

    return read


def test_play_in_terminal_ends_cleanly_on_quit_and_at_end_of_input(tictactoe_agent):
    from cluster.play import play_in_terminal

    for last in ("quit", EOFError):
        shown: list[str] = []
        tictactoe_agent.new_game()
        read = scripted_reader(["e5", "b2", "b2", last], shown)
        assert play_in_terminal(tictactoe_agent, 0, read, shown.append) == 0
        text = "\n".join(shown)
        assert "'e5' is not a cell" in text and "illegal move: b2 is taken by X" in text
        assert text.count("your move (X): ") == 4 and "agent (O) plays" in text
        assert shown[-1] == "Game abandoned."


def test_gtp_engine_answers_without_a_process(tictactoe_agent):
    engine = GtpEngine(tictactoe_agent)
    assert engine.respond("   ") is None and engine.respond("# just a comment") is None
    assert engine.respond("7 NAME # trailing comment") == "=7 selfplay\n\n"
    assert engine.respond("\tprotocol_version\x01") == "= 2\n\n"
    assert engine.respond("known_command genmove") == "= true\n\n"
    assert engine.respond("known_command komi") == "= false\n\n"
    assert engine.respond("42") == "?42 missing command\n\n"
    assert engine.respond("play white") == "? syntax error (expected: play COLOR MOVE)\n\n"
    assert engine.respond("play red a1") == "? invalid color 'red' (expected X, O, black or white)\n\n"
    assert engine.respond("boardsize 3") == "= \n\n"
    assert engine.respond("undo") == "? cannot undo\n\n"


# ----- gtp through pipes ------------------------------------------------------------------------------------


class GtpProcess:
    """`selfplay gtp` in a child process, one command at a time."""

    def __init__(self, args: list[str], stderr_path: Path) -> None:
        self.stderr = open(stderr_path, "w")  # noqa: SIM115 - closed in close()
        argv = [sys.executable, "-m", "cluster", "gtp", *args]
        self.proc = subprocess.Popen(
            argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.stderr, text=True, cwd=REPO
        )

    def write(self, line: str) -> None:
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()

    def send(self, command: str) -> str:
        """The answer to ``command``: its lines up to the empty line that ends it."""
        self.write(command)
        lines = []
        while (line := self.proc.stdout.readline()) not in ("\n", ""):
            lines.append(line.rstrip("\n"))
        assert lines, f"no answer to {command!r}; the engine exited with {self.proc.poll()}"
        return "\n".join(lines)

    def ok(self, command: str) -> str:
        answer = self.send(command)
        assert answer.startswith("= "), f"{command!r} -> {answer!r}"
        return answer[2:]

    def close(self) -> int:
        assert self.send("quit") == "= "
        code = self.proc.wait(timeout=30)
        self.stderr.close()
        return code


def play_gtp_game(gtp: GtpProcess, kind: str, agent_colour: str, rng: np.random.Generator) -> str:
    """A whole game: random legal moves (read off showboard) for one colour, genmove for the other;
    checks the moves on the task's own state and returns final_score's answer."""
    task = TASKS[kind]
    state = np.zeros(task.spec.state_size, dtype=np.int64)
    assert gtp.ok("clear_board") == ""
    while not task.is_terminal(state[None])[0]:
        assert gtp.send("final_score") == "? game not over"
        colour = "XO"[int(state[9 if kind == "tictactoe" else 42])]
        if colour == agent_colour:
            move = gtp.ok(f"genmove {colour.lower() if rng.random() < 0.5 else colour}")
        else:
            move = str(rng.choice(legal_moves_shown(kind, read_board(gtp.ok("showboard")))))
            assert gtp.ok(f"play {'black' if colour == 'X' else 'white'} {move}") == ""
        state = task.play(state, [action_of(kind, move)])  # raises if the engine played an illegal move
        board = read_board(gtp.ok("showboard"))
        assert all(mark == ".XO"[int(state[cell_index(kind, cell)])] for cell, mark in board.items())
    score = gtp.ok("final_score")
    outcome = task.outcome(state[None])[0]
    winner = "XO"[1 - int(state[9 if kind == "tictactoe" else 42])]
    assert score == ("0" if outcome == 0 else f"{winner}+1")
    assert gtp.send(f"genmove {'XO'[int(state[9 if kind == 'tictactoe' else 42])]}") == "? game is over"
    return score


@pytest.mark.timeout(180)
def test_gtp_plays_tictactoe_from_an_exported_model(exported_model, tmp_path):
    gtp = GtpProcess(["--model", str(exported_model), "--game", "tictactoe"], tmp_path / "stderr")
    assert gtp.send("1 name") == "=1 selfplay"
    gtp.write("# a comment, then an empty line: neither is answered")
    gtp.write("")
    assert gtp.send("2 protocol_version") == "=2 2"
    assert "0.1.0" in gtp.ok("version") and "v0" in gtp.ok("version")
    commands = gtp.ok("list_commands").split("\n")
    assert {"play", "genmove", "showboard", "undo", "final_score", "quit", "boardsize"} <= set(commands)
    assert gtp.send("boardsize 7") == "? unacceptable size"
    assert gtp.ok("boardsize 3") == ""
    assert gtp.send("frobnicate") == "? unknown command"
    assert gtp.ok("play X b2") == ""
    assert gtp.send("play X a1") == "? it is O's turn, not X's"
    assert gtp.send("play O b2") == "? illegal move: b2 is taken by X"
    assert gtp.send("play O d4") == "? invalid coordinate: 'd4' is not a cell (expected a1 .. c3)"
    assert gtp.send("play O pass") == "? illegal move: there is no pass in tictactoe"
    assert gtp.ok("undo") == ""
    assert set(read_board(gtp.ok("showboard")).values()) == {"."}
    rng = np.random.default_rng(0)
    scores = [play_gtp_game(gtp, "tictactoe", agent, rng) for agent in ("O", "X")]
    assert all(score in ("X+1", "O+1", "0") for score in scores)
    assert gtp.send("play X a1") == "? game is over"
    assert gtp.close() == 0
    log = (tmp_path / "stderr").read_text()
    assert "genmove O" in log and "genmove X" in log and "visits" in log


@pytest.mark.timeout(180)
def test_gtp_plays_connect4_and_refuses_a_full_column(connect4_run_dir, tmp_path):
    gtp = GtpProcess(["--run-dir", str(connect4_run_dir), "--game", "connect4", "--simulations", "16"], tmp_path / "e")
    assert gtp.ok("boardsize 7") == ""
    for colour in "XOXOXO":
        assert gtp.ok(f"play {colour} d") == ""
    assert gtp.send("play X d") == "? illegal move: column d is full"
    assert gtp.send("play X d1") == "? invalid coordinate: 'd1' is not a column (expected a .. g)"
    assert gtp.send("play O c") == "? it is X's turn, not O's"
    assert gtp.ok("genmove X") in list("abcefg")
    play_gtp_game(gtp, "connect4", "O", np.random.default_rng(1))
    assert gtp.close() == 0


# ----- play in a pseudo-terminal ------------------------------------------------------------------------------


class Terminal:
    """A child process on a pseudo-terminal: what it shows, and what the test types."""

    def __init__(self, argv: list[str]) -> None:
        self.master, slave = os.openpty()
        self.proc = subprocess.Popen(argv, stdin=slave, stdout=slave, stderr=slave, cwd=REPO, start_new_session=True)
        os.close(slave)

    def read_until(self, pattern: str, timeout: float = 60.0) -> str:
        """What the terminal showed up to and including the first match of ``pattern``."""
        shown, deadline = "", time.monotonic() + timeout
        while not re.search(pattern, shown):
            ready, _, _ = select.select([self.master], [], [], max(0.0, deadline - time.monotonic()))
            assert ready, f"timed out waiting for {pattern!r}; the terminal shows:\n{shown}"
            try:
                chunk = os.read(self.master, 4096)
            except OSError:  # the child closed the terminal
                chunk = b""
            assert chunk, f"the process ended before {pattern!r}; the terminal shows:\n{shown}"
            shown += chunk.decode().replace("\r\n", "\n")
        return shown

    def type(self, line: str) -> None:
        os.write(self.master, (line + "\n").encode())

    def close(self) -> int:
        code = self.proc.wait(timeout=30)
        os.close(self.master)
        return code


@pytest.mark.timeout(180)
def test_play_a_whole_tictactoe_game_in_a_terminal(run_dir):
    terminal = Terminal([sys.executable, "-m", "cluster", "play", "--run-dir", str(run_dir), "--game", "tictactoe"])
    prompt, end = r"your move \(X\): $", r"Result: .*\n"
    shown = terminal.read_until(prompt)
    assert "you are X and move first" in shown and "64 simulations" in shown
    assert set(read_board(shown).values()) == {"."}
    terminal.type("zz")
    assert "'zz' is not a cell" in terminal.read_until(prompt)
    terminal.type("5")
    shown = terminal.read_until(prompt + "|" + end)
    assert re.search(r"agent \(O\) plays [abc][123] \([1-9]\): value for O: search [-+]\d\.\d\d", shown)
    board = read_board(shown)
    assert board["b2"] == "X" and list(board.values()).count("O") == 1
    terminal.type("b2")
    assert "illegal move: b2 is taken by X" in terminal.read_until(prompt)
    rng = np.random.default_rng(3)
    while not re.search(end, shown):
        terminal.type(str(rng.choice(legal_moves_shown("tictactoe", read_board(shown)))))
        shown = terminal.read_until(prompt + "|" + end)
    assert re.search(r"Result: (a draw|X wins: you win|O wins: the agent wins)\.", shown)
    assert terminal.close() == 0


# ----- export and its errors ------------------------------------------------------------------------------------


def test_export_of_a_run_without_a_checkpoint_is_one_line_and_exit_2(tmp_path):
    run = make_run_dir(tmp_path / "fresh", checkpoint=False)
    result = selfplay("export", "--run-dir", str(run), "--out", str(tmp_path / "m.safetensors"))
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr.count("\n") == 1 and "no checkpoint yet" in result.stderr
    assert result.stderr.startswith("selfplay: ")


@pytest.mark.parametrize("case", ["weights-file", "text-file", "game-not-in-mix", "both-sources"])
def test_gtp_refuses_what_it_cannot_load_in_one_line(case, run_dir, tmp_path):
    model = {"weights-file": str(run_dir / "weights" / "v000000.safetensors"), "text-file": str(tmp_path / "x.txt")}
    (tmp_path / "x.txt").write_text("not a model\n")
    args = {
        "weights-file": ["--model", model["weights-file"], "--game", "tictactoe"],
        "text-file": ["--model", model["text-file"], "--game", "tictactoe"],
        "game-not-in-mix": ["--run-dir", str(run_dir), "--game", "connect4"],
        "both-sources": ["--run-dir", str(run_dir), "--model", model["text-file"], "--game", "tictactoe"],
    }[case]
    result = selfplay("gtp", *args)
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    expected = {
        "weights-file": "not a model exported by selfplay export",
        "text-file": "x.txt",
        "game-not-in-mix": "--game connect4: not in the model's task mix (its games: tictactoe)",
        "both-sources": "--model: not allowed with --run-dir",
    }[case]
    assert expected in result.stderr
