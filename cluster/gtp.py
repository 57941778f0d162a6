"""`selfplay gtp`: a trained model playing tic-tac-toe or Connect Four over GTP, the Go Text Protocol.

    selfplay gtp (--run-dir D | --model FILE) --game tictactoe|connect4 [--simulations N]

The engine reads one command per line on stdin and answers each on stdout, as GTP
version 2 does: ``= result`` then an empty line on success, ``? message`` then an
empty line on failure, with the command's optional numeric id echoed (``1 name`` ->
``=1 selfplay``). Empty lines and ``#`` comments are ignored; every mistake (an
unknown command, a move that is unparsable or illegal, a move after the game ended)
is a ``? message`` and the engine goes on. stdout is flushed after every answer; a
line per `genmove` on stderr says what the search and the network thought of it.

Moves are GTP coordinates, a column letter and a row number counted from the bottom:
``a1`` .. ``c3`` in tic-tac-toe (``a3`` is the top left cell); in Connect Four the
column letter alone, ``a`` .. ``g`` (the stone drops to the lowest free row, so a move
has no row; ``d1`` is refused). Colours: ``X`` or ``black`` (``b``) is the first player,
``O`` or ``white`` (``w``) the second, in any case. These games have no ``pass``, and
since the players alternate strictly, ``play`` and ``genmove`` take only the colour of
the side to move.

The commands, with an example exchange each (``>`` what the controller sends, ``<`` the answer):

    protocol_version      > protocol_version        < = 2
    name                  > 1 name                  < =1 selfplay
    version               > version                 < = 0.1.0 (trm weights v3 of runs/r, 64 simulations)
    known_command NAME    > known_command genmove   < = true
    list_commands         > list_commands           < = protocol_version
                                                    < name  (... one command per line)
    boardsize N           > boardsize 3             < =     (clears the board)
                          > boardsize 19            < ? unacceptable size  (3 is tic-tac-toe's, 7 Connect Four's)
    clear_board           > clear_board             < =
    play COLOR MOVE       > play X b2               < =
                          > play X a1               < ? it is O's turn, not X's
                          > play O b2               < ? illegal move: b2 is taken by X
                          > play O d4               < ? invalid coordinate: 'd4' is not a cell (expected a1 .. c3)
                          > play O pass             < ? illegal move: there is no pass in tictactoe
                          > play white d            < ? illegal move: column d is full  (Connect Four)
    genmove COLOR         > genmove O               < = c3  (the agent's move, played; and on stderr:
                            genmove O c3: value for O: search -0.56, network -0.50; 20 of 64 visits)
    showboard             > showboard               < =
                                                    < 3  . . O
                                                    < 2  . X .
                                                    < 1  . . .
                                                    <    a b c
                                                    < X to move  ("O has won" or "draw" at the end)
    undo                  > undo                    < =     (takes back the last move)
                          > undo                    < ? cannot undo  (no move to take back)
    final_score           > final_score             < = X+1  (O+1, or 0 for a draw)
                          > final_score             < ? game not over
    quit                  > quit                    < =     (and the engine exits with status 0)

After the game has ended, ``play`` and ``genmove`` answer ``? game is over``; an unknown
command answers ``? unknown command``, a wrong number of arguments ``? syntax error (...)``.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable, Iterable
from typing import TextIO

from cluster.game_agent import PLAYERS, GameAgent, MoveError, board_text

PROTOCOL_VERSION = "2"
ENGINE_NAME = "selfplay"
COLOURS = {"x": 0, "b": 0, "black": 0, "o": 1, "w": 1, "white": 1}
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


class GtpError(Exception):
    """A command that fails; its message is the answer after ``?``."""


def package_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("selfplay-cluster")
    except PackageNotFoundError:
        return "unknown"


def parse_colour(text: str) -> int:
    """The player (0 first, 1 second) of a GTP colour; raises `GtpError`."""
    player = COLOURS.get(text.lower())
    if player is None:
        raise GtpError(f"invalid color {text!r} (expected X, O, black or white)")
    return player


def format_response(success: bool, command_id: str, text: str) -> str:
    """One GTP answer: ``=id text`` or ``?id text``, then an empty line."""
    return f"{'=' if success else '?'}{command_id} {text}\n\n"


class GtpEngine:
    """The protocol over one `GameAgent`: `respond` answers a line, `finished` turns True at ``quit``."""

    def __init__(self, agent: GameAgent, log: Callable[[str], None] | None = None) -> None:
        self.agent = agent
        self.text = board_text(agent.task.kind)
        self.log = log or (lambda message: None)
        self.finished = False
        self.commands: dict[str, Callable[[list[str]], str]] = {
            "protocol_version": lambda args: PROTOCOL_VERSION,
            "name": lambda args: ENGINE_NAME,
            "version": lambda args: f"{package_version()} ({agent.description})",
            "known_command": self.known_command,
            "list_commands": lambda args: "\n".join(self.commands),
            "boardsize": self.boardsize,
            "clear_board": self.clear_board,
            "play": self.play,
            "genmove": self.genmove,
            "showboard": lambda args: "\n" + self.text.labelled(agent.state),
            "undo": self.undo,
            "final_score": self.final_score,
            "quit": self.quit,
        }

    def respond(self, line: str) -> str | None:
        """The answer to one input line (None for an empty or comment line)."""
        words = _CONTROL.sub("", line.replace("\t", " ")).split("#", 1)[0].split()
        if not words:
            return None
        command_id = words.pop(0) if words[0].isdigit() else ""
        if not words:
            return format_response(False, command_id, "missing command")
        name, args = words[0].lower(), words[1:]
        handler = self.commands.get(name)
        if handler is None:
            return format_response(False, command_id, "unknown command")
        try:
            return format_response(True, command_id, handler(args))
        except GtpError as error:
            return format_response(False, command_id, str(error))

    # ----- commands -----

    def known_command(self, args: list[str]) -> str:
        _expect_args(args, 1, "known_command NAME")
        return "true" if args[0].lower() in self.commands else "false"

    def boardsize(self, args: list[str]) -> str:
        _expect_args(args, 1, "boardsize N")
        if args[0] != str(self.text.board_size):
            raise GtpError("unacceptable size")
        self.agent.new_game()
        return ""

    def clear_board(self, args: list[str]) -> str:
        _expect_args(args, 0, "clear_board")
        self.agent.new_game()
        return ""

    def play(self, args: list[str]) -> str:
        _expect_args(args, 2, "play COLOR MOVE")
        player = parse_colour(args[0])
        action = self._parse_move(args[1])
        self._check_turn(player)
        if not self.agent.is_legal(action):
            raise GtpError(f"illegal move: {self.text.why_illegal(self.agent.state, action)}")
        self.agent.play(action)
        return ""

    def genmove(self, args: list[str]) -> str:
        _expect_args(args, 1, "genmove COLOR")
        player = parse_colour(args[0])
        self._check_turn(player)
        move = self.agent.choose()
        self.agent.play(move.action)
        vertex = self.text.vertex(move.action)
        self.log(f"genmove {PLAYERS[player]} {vertex}: {move.summary(PLAYERS[player])}")
        return vertex

    def undo(self, args: list[str]) -> str:
        _expect_args(args, 0, "undo")
        try:
            self.agent.undo()
        except MoveError:
            raise GtpError("cannot undo") from None
        return ""

    def final_score(self, args: list[str]) -> str:
        _expect_args(args, 0, "final_score")
        if not self.agent.is_over():
            raise GtpError("game not over")
        winner = self.agent.winner()
        return "0" if winner is None else f"{PLAYERS[winner]}+1"

    def quit(self, args: list[str]) -> str:
        self.finished = True
        return ""

    # ----- helpers -----

    def _parse_move(self, text: str) -> int:
        if text.lower() == "pass":
            raise GtpError(f"illegal move: there is no pass in {self.agent.task.kind}")
        try:
            return self.text.parse_vertex(text)
        except MoveError as error:
            raise GtpError(f"invalid coordinate: {error}") from None

    def _check_turn(self, player: int) -> None:
        if self.agent.is_over():
            raise GtpError("game is over")
        if player != self.agent.to_play:
            raise GtpError(f"it is {PLAYERS[self.agent.to_play]}'s turn, not {PLAYERS[player]}'s")


def _expect_args(args: list[str], count: int, usage: str) -> None:
    if len(args) != count:
        raise GtpError(f"syntax error (expected: {usage})")


def serve(engine: GtpEngine, lines: Iterable[str], out: TextIO) -> None:
    """Answer ``lines`` one by one on ``out`` (flushed after each answer) until ``quit`` or their end."""
    for line in lines:
        response = engine.respond(line)
        if response is None:
            continue
        out.write(response)
        out.flush()
        if engine.finished:
            return


def serve_stdio(engine: GtpEngine) -> None:
    """`serve` on this process's stdin and stdout."""
    serve(engine, iter(sys.stdin.readline, ""), sys.stdout)
