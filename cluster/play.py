"""`selfplay play`, `selfplay gtp` and `selfplay export`: a trained model outside its run.

    selfplay export --run-dir D [--version V] [--model NAME] --out model.safetensors
    selfplay play (--run-dir D | --model FILE) --game tictactoe|connect4 [--simulations N] [--first human|agent]
    selfplay gtp  (--run-dir D | --model FILE) --game tictactoe|connect4 [--simulations N]

`export` writes the run's best network (or version V, or model NAME of a run of several)
as one file with its configuration (`cluster.trained`); `play` and `gtp` load either that
file or a run directory. `play` is a game in the terminal against the model's search;
`gtp` speaks the line protocol of `cluster.gtp` (its docstring lists the commands).
Importing this module is cheap: every `selfplay` call builds the parser, so torch and the
game code are imported by the handlers.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cluster.arguments import add_model_source, model_source, non_negative_int, positive_int
from cluster.errors import UsageError

if TYPE_CHECKING:
    from cluster.game_agent import GameAgent

GAMES = ("tictactoe", "connect4")  # cluster.game_agent.GAMES, without importing it
GAME_TITLES = {"tictactoe": "tic-tac-toe", "connect4": "Connect Four"}
QUIT_WORDS = ("quit", "exit", "q")


# ----- the parsers -----------------------------------------------------------------------------------


def add_play_commands(commands: Any) -> None:
    """Register `play`, `gtp` and `export` on the `selfplay` subcommand parsers ``commands``."""
    play = commands.add_parser(
        "play",
        help="play tic-tac-toe or Connect Four against a trained model in the terminal",
        description="A game in the terminal against a trained model's search (the run's evaluation settings).",
    )
    _add_game_arguments(play)
    play.add_argument(
        "--first", choices=("human", "agent"), default="human", help="who moves first, as X (default: human)"
    )
    play.set_defaults(handler=cmd_play)

    gtp = commands.add_parser(
        "gtp",
        help="serve a trained model over a GTP-like protocol on stdin/stdout",
        description="The Go Text Protocol for tic-tac-toe and Connect Four; cluster/gtp.py lists the commands.",
    )
    _add_game_arguments(gtp)
    gtp.set_defaults(handler=cmd_gtp)

    export = commands.add_parser(
        "export",
        help="write a run's best network as one file with its config",
        description="The best network of a run (or --version V) as one safetensors file holding its configuration;"
        " play, gtp and solve load it with --model FILE.",
    )
    export.add_argument("--run-dir", required=True, metavar="D", help="the run directory")
    export.add_argument("--version", type=non_negative_int, metavar="V", help="a weights version (default: the best)")
    export.add_argument("--model", metavar="NAME", help="a model of a run of several (default: the first)")
    export.add_argument("--out", required=True, metavar="FILE", help="the file to write, e.g. model.safetensors")
    export.set_defaults(handler=cmd_export)


def _add_game_arguments(parser: argparse.ArgumentParser) -> None:
    add_model_source(parser)
    parser.add_argument("--game", required=True, choices=GAMES, help="the game (in the model's task mix)")
    parser.add_argument(
        "--simulations", type=positive_int, metavar="N", help="search simulations per move (default: the run's)"
    )


def _load_agent(args: argparse.Namespace) -> GameAgent:
    from cluster.game_agent import load_game_agent

    path, version = model_source(args)
    return load_game_agent(path, args.game, args.simulations, version)


# ----- the handlers -----------------------------------------------------------------------------------


def cmd_export(args: argparse.Namespace) -> int:
    from cluster.trained import export_trained, load_trained

    run_dir, out = Path(args.run_dir), Path(args.out)
    if not run_dir.is_dir():
        raise UsageError(f"--run-dir: {run_dir}: no such run directory")
    if out.is_dir():
        raise UsageError(f"--out: {out} is a directory; name the file to write")
    if not out.parent.is_dir():
        raise UsageError(f"--out: {out.parent}: no such directory")
    model = load_trained(run_dir, args.version, args.model)
    path = export_trained(model, out)
    kinds = ", ".join(entry.kind for entry in model.config.tasks.mix)
    print(f"{path}: {model.name} weights v{model.version} of {model.source} (tasks: {kinds})")
    return 0


def cmd_gtp(args: argparse.Namespace) -> int:
    import sys

    from cluster.gtp import GtpEngine, serve_stdio

    engine = GtpEngine(_load_agent(args), log=lambda line: print(line, file=sys.stderr, flush=True))
    serve_stdio(engine)
    return 0


def cmd_play(args: argparse.Namespace) -> int:
    agent = _load_agent(args)
    human = 0 if args.first == "human" else 1
    return play_in_terminal(agent, human, input, lambda text: print(text, flush=True))


# ----- a game in the terminal ----------------------------------------------------------------------------


def play_in_terminal(agent: GameAgent, human: int, read: Callable[[str], str], write: Callable[[str], None]) -> int:
    """One game of ``agent`` against a human playing player ``human`` (0 moves first); 0 when it ends or is quit.

    ``read(prompt)`` returns a line the human typed (raises EOFError at the end of input);
    ``write`` shows a text.
    """
    from cluster.game_agent import PLAYERS, board_text

    text = board_text(agent.task.kind)
    order = "first" if human == 0 else "second"
    write(
        f"{GAME_TITLES[agent.task.kind]}: you are {PLAYERS[human]} and move {order}; the agent is {agent.description}."
    )
    write(f"Type {text.moves_help()}, or quit.")
    while not agent.is_over():
        if agent.to_play == human:
            write("\n" + text.labelled(agent.state, numbers=True))
            action = ask_move(agent, read, write)
            if action is None:
                write("Game abandoned.")
                return 0
            agent.play(action)
        else:
            move = agent.choose()
            agent.play(move.action)
            write(f"agent ({PLAYERS[1 - human]}) plays {text.name(move.action)}: {move.summary(PLAYERS[1 - human])}")
    write("\n" + text.labelled(agent.state, numbers=True))
    write(result_line(agent.winner(), human))
    return 0


def ask_move(agent: GameAgent, read: Callable[[str], str], write: Callable[[str], None]) -> int | None:
    """A legal move read from the human, asking again after a mistake; None on quit or the end of input."""
    from cluster.game_agent import PLAYERS, MoveError, board_text

    text = board_text(agent.task.kind)
    while True:
        try:
            line = read(f"your move ({PLAYERS[agent.to_play]}): ").strip()
        except EOFError:
            write("")
            return None
        if line.lower() in QUIT_WORDS:
            return None
        if not line:
            continue
        try:
            action = text.parse_human(line)
        except MoveError as error:
            write(f"{error}; try again")
            continue
        if not agent.is_legal(action):
            write(f"illegal move: {text.why_illegal(agent.state, action)}; try again")
            continue
        return action


def result_line(winner: int | None, human: int) -> str:
    """The end of the game in one line."""
    from cluster.game_agent import PLAYERS

    if winner is None:
        return "Result: a draw."
    return f"Result: {PLAYERS[winner]} wins: {'you win' if winner == human else 'the agent wins'}."
