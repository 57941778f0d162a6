"""What the recursion is worth: a puzzle set answered by the network alone at fixed segment counts.

    sweep = segment_sweep(task, task_id, states, network, segments=(1, 2, 4, 8, 16), reset_carry=True)

For each k of ``segments`` every puzzle is answered greedily (`answer_greedily`: at every
move the policy's most likely legal action, no search), every forward pass running exactly
k segments (halting off) with the carried state passed from segment to segment, as in
training: ``solve_rate[k]``. With ``reset_carry`` the same again with the carry reset to its
initial value before every segment (``solve_rate_reset[k]``): no state passes between
segments, so a model in eval mode computes in k segments what it computes in one, and the
gap to ``solve_rate[k]`` is what the carried state is worth. With ``halting`` once more with
the halting head deciding, capped at the largest k (``halting``): its solve rate, the mean
segments per forward pass and the convergence rate (solved, and every pass halted by the
head within the cap), as `selfplay evaluate` defines them. Beside each solve rate,
``mean_moves``: the moves the greedy answers played per instance, a finer figure while
few puzzles are solved (in Sudoku, the cells filled before the board was full or a dead
end stopped the episode).

The record, JSON-ready (rates are shares of ``instances``; keys of the per-k maps are str(k)):

    {"instances": n, "segments": [1, 2, 4, 8, 16],
     "solve_rate": {"1": 0.12, "2": 0.2, ...}, "mean_moves": {"1": 30.5, ...},
     "solve_rate_reset": {"1": 0.12, "2": 0.12, ...} | None, "mean_moves_reset": {...} | None,
     "halting": {"cap": 16, "solve_rate": 0.3, "mean_moves": 41.0, "mean_halting_steps": 5.1,
                 "convergence_rate": 0.28} | None}

Every figure is deterministic: the same weights and puzzles give the same record.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from actors.evaluator.matches import GreedyAnswers, answer_greedily
from actors.inference import TorchNetwork
from actors.tasks.base import Task

DEFAULT_SEGMENTS = (1, 2, 4, 8, 16)


def segment_sweep(
    task: Task,
    task_id: int,
    states: np.ndarray,
    network: TorchNetwork | torch.nn.Module,
    segments: Sequence[int] = DEFAULT_SEGMENTS,
    reset_carry: bool = False,
    halting: bool = True,
) -> dict[str, Any]:
    """The greedy solve rate of the puzzles ``states [n, S]`` of task ``task_id`` per forced segment count.

    ``network``: a `TorchNetwork` (the evaluator's) or the model itself (a `RecursiveReasoningModel`),
    whose forward takes ``steps``, ``halting`` and ``reset_carry``. ``reset_carry`` adds the
    carry-reset rates, ``halting`` the halting-head figures (see the module docstring).
    """
    counts = sorted({int(k) for k in segments})
    if not counts or counts[0] < 1:
        raise ValueError(f"segments: expected counts of at least 1, got {list(segments)}")
    if not isinstance(network, TorchNetwork):
        network = TorchNetwork(network, next(network.parameters()).device)
    record: dict[str, Any] = {"instances": len(states), "segments": counts}
    for suffix, reset in (("", False), ("_reset", True)):
        if reset and not reset_carry:
            record["solve_rate_reset"] = record["mean_moves_reset"] = None
            continue
        answers = {k: _forced_answers(task, task_id, states, network, k, reset) for k in counts}
        record["solve_rate" + suffix] = {str(k): _share(a.solved) for k, a in answers.items()}
        record["mean_moves" + suffix] = {str(k): _mean_moves(a) for k, a in answers.items()}
    record["halting"] = _halting_figures(task, task_id, states, network, cap=counts[-1]) if halting else None
    return record


def _forced_answers(
    task: Task, task_id: int, states: np.ndarray, network: TorchNetwork, k: int, reset_carry: bool
) -> GreedyAnswers:
    """The network's greedy answers to ``states`` with exactly ``k`` segments per forward pass."""
    forced = network.with_forward_options(steps=k, halting=False, reset_carry=reset_carry)
    return answer_greedily(task, task_id, states, forced)


def _halting_figures(task: Task, task_id: int, states: np.ndarray, network: TorchNetwork, cap: int) -> dict:
    """Solve rate, moves, segments per forward pass and convergence rate with the halting head on, up to ``cap``."""
    answers = answer_greedily(task, task_id, states, network.with_forward_options(steps=cap, halting=True))
    return {
        "cap": cap,
        "solve_rate": _share(answers.solved),
        "mean_moves": _mean_moves(answers),
        "mean_halting_steps": answers.mean_segments(),
        "convergence_rate": _share(answers.solved & answers.all_halted),
    }


def _share(flags: np.ndarray) -> float:
    return float(flags.mean()) if len(flags) else 0.0


def _mean_moves(answers: GreedyAnswers) -> float:
    """Moves played per instance (``moves`` holds -1 after an episode ended)."""
    return float((answers.moves >= 0).sum(axis=1).mean()) if len(answers.moves) else 0.0
