"""What the `selfplay` subcommands' arguments share: value types, and where a trained model comes from.

Imports argparse and pathlib only, so building the parser stays cheap for every command.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from cluster.errors import UsageError


def positive_int(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return int(text)


def non_negative_int(text: str) -> int:
    if not text.isdigit():
        raise argparse.ArgumentTypeError(f"expected a non-negative integer, got {text!r}")
    return int(text)


def add_model_source(parser: argparse.ArgumentParser) -> None:
    """``--run-dir D [--version V]`` or ``--model FILE`` (an exported model): the model a command uses."""
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--run-dir", metavar="D", help="a run directory: its best weights (or --version V)")
    source.add_argument("--model", metavar="FILE", help="a model file written by selfplay export")
    parser.add_argument("--version", type=non_negative_int, metavar="V", help="with --run-dir: a weights version")


def model_source(args: argparse.Namespace) -> tuple[str, int | None]:
    """``(path, version)`` of `add_model_source`'s arguments, checked: one-line errors for what cannot be."""
    if args.run_dir is not None:
        if Path(args.run_dir).is_file():
            raise UsageError(f"--run-dir: {args.run_dir} is a file (an exported model file goes with --model)")
        if not Path(args.run_dir).is_dir():
            raise UsageError(f"--run-dir: {args.run_dir}: no such run directory")
        return args.run_dir, args.version
    if args.version is not None:
        raise UsageError("--version: applies to --run-dir (an exported model holds one version)")
    if Path(args.model).is_dir():
        raise UsageError(f"--model: {args.model} is a directory (a run directory goes with --run-dir)")
    if not Path(args.model).is_file():
        raise UsageError(f"--model: {args.model}: no such file")
    return args.model, None
