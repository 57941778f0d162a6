"""Evaluating states for the tree: terminal outcomes, one network call for the rest, an optional decisive-move step.

`Evaluator` turns ``states [k, S]`` into an `Evaluation` (everything `Tree.write_evaluation`
needs) with at most ONE network call, and counts the calls, rows and seconds spent in the
network. `DecisiveMoves` (``SearchConfig.decisive_moves``) is the optional step between
the network and the priors: it looks one move ahead of every evaluated state and, where a
move wins at once, overrides the network's value and prior. The search decides once, at
construction, whether the step is there; evaluation never tests the config.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import NamedTuple

import numpy as np

from actors.search.tree import LOG_PRIOR_FLOOR, WIN_VALUE
from actors.tasks.base import IllegalActionError, Task

# network(tokens int64 [B, L], task_ids int64 [B]) -> (policy_logits float32 [B, A'], value float32 [B]), A' >= A.
Network = Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]


class Evaluation(NamedTuple):
    """The evaluation of k states.

    Attributes:
        to_play: ``int64 [k]`` the player to move (0 for single-player kinds).
        terminal: ``bool [k]``.
        value: ``float32 [k]`` from the view of ``to_play``: the outcome of a terminal state,
            the network's value (or `WIN_VALUE` where a decisive move wins) otherwise.
        prior: ``float32 [k, A]`` the softmax of the logits over the legal actions (0 on terminal rows).
        log_prior: ``float32 [k, A]`` its log, clipped at `LOG_PRIOR_FLOOR`, -inf illegal (Gumbel), or None.
        legal: ``bool [k, A]``.
        decided: ``bool [k]`` a decisive move set the value (all False without the step).
    """

    to_play: np.ndarray
    terminal: np.ndarray
    value: np.ndarray
    prior: np.ndarray
    log_prior: np.ndarray | None
    legal: np.ndarray
    decided: np.ndarray


class DecisiveMoves:
    """The decisive-move step (Teytaud and Teytaud): a state with a move that ends the episode
    with the best outcome for its mover is worth that outcome, and its prior is on those moves."""

    def __init__(self, task: Task, two_player: bool) -> None:
        self.task, self.two_player = task, two_player

    def __call__(
        self, states: np.ndarray, legal: np.ndarray, logits: np.ndarray, value: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Non-terminal ``states [k, S]``, ``legal [k, A]``, the network's ``logits [k, A]`` and ``value [k]``
        -> (logits, value, ``decided bool [k]``), rewritten where a decisive move exists."""
        decisive = self.moves(states, legal)
        wins = decisive.any(axis=1)
        if wins.any():  # the common case has none: skip the rewrite
            logits = np.where(wins[:, None], np.where(decisive, 0.0, LOG_PRIOR_FLOOR), logits)  # prior on them
            value = np.where(wins, np.float32(WIN_VALUE), value)
        return logits, value, wins

    def moves(self, states: np.ndarray, legal: np.ndarray) -> np.ndarray:
        """``bool [k, A]``: the legal moves of the non-terminal ``states [k, S]`` that end the episode
        at once with the best outcome (`WIN_VALUE`) for the player making them (one batched ``task.step``)."""
        task = self.task
        rows, actions = np.nonzero(legal)
        children = task.step(states[rows], actions)
        ended = np.flatnonzero(task.is_terminal(children))
        outcome = task.outcome(children[ended])  # from the view of the player to move after the move
        if self.two_player:
            same_player = task.to_play(children[ended]) == task.to_play(states[rows[ended]])
            outcome = np.where(same_player, outcome, -outcome)
        decisive = np.zeros_like(legal)
        won = ended[outcome >= WIN_VALUE]
        decisive[rows[won], actions[won]] = True
        return decisive


class Evaluator:
    """States -> `Evaluation`, with one network call per batch; counts ``calls``, ``rows`` and ``seconds``.

    Args:
        task: the task kind (its ``encode`` feeds the network).
        network: see `Network`; its logits are sliced to the task's A actions.
        task_id: the task's id in the network's task mix, sent with every row.
        batch_size: the most rows of one call (B: one leaf per tree).
        log_priors: also compute log-priors (Gumbel's root scores and improved policy read them).
        decisive: the decisive-move step, or None.
    """

    def __init__(
        self,
        task: Task,
        network: Network,
        task_id: int,
        batch_size: int,
        log_priors: bool,
        decisive: DecisiveMoves | None,
    ) -> None:
        self.task, self.network = task, network
        self.num_actions = task.spec.num_actions
        self.two_player = task.spec.num_players == 2
        self.log_priors, self.decisive = log_priors, decisive
        self._task_ids = np.full(batch_size, task_id, dtype=np.int64)
        self.calls = 0
        self.rows = 0
        self.seconds = 0.0

    def call_network(self, tokens: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The network on ``tokens [k, L]``: logits ``float32 [k, A]`` (sliced from A'), values ``float32 [k]``."""
        k = len(tokens)
        start = time.perf_counter()
        logits, value = self.network(tokens, self._task_ids[:k])
        self.seconds += time.perf_counter() - start
        self.calls += 1
        self.rows += k
        logits = np.asarray(logits, dtype=np.float32)
        if logits.ndim != 2 or logits.shape[0] != k or logits.shape[1] < self.num_actions:
            raise ValueError(f"network returned logits of shape {logits.shape}, expected ({k}, >= {self.num_actions})")
        return logits[:, : self.num_actions], np.asarray(value, dtype=np.float32).reshape(k)

    def __call__(self, states: np.ndarray) -> Evaluation:
        """Evaluate ``states [k, S]``: terminal ones by the task's outcome, the others with one network call."""
        task, k, a = self.task, len(states), self.num_actions
        terminal = task.is_terminal(states)
        legal = task.legal_mask(states)
        to_play = task.to_play(states) if self.two_player else np.zeros(k, dtype=np.int64)
        value = np.zeros(k, dtype=np.float32)
        prior = np.zeros((k, a), dtype=np.float32)
        log_prior = np.full((k, a), -np.inf, dtype=np.float32) if self.log_priors else None
        decided = np.zeros(k, dtype=bool)
        if terminal.any():
            value[terminal] = task.outcome(states[terminal])
        live = ~terminal
        num_live = int(live.sum())
        if num_live:
            all_live = num_live == k  # the usual case: no masked copies
            live_legal = legal if all_live else legal[live]
            if not live_legal.any(axis=1).all():
                raise IllegalActionError(f"{task.name}: a non-terminal state has no legal action")
            live_states = states if all_live else states[live]
            logits, live_value = self.call_network(task.encode(live_states))
            if self.decisive is not None:
                logits, live_value, decided[live] = self.decisive(live_states, live_legal, logits, live_value)
            live_prior, live_log_prior = masked_softmax(logits, live_legal, self.log_priors)
            if all_live:
                value, prior = live_value, live_prior
                if log_prior is not None:
                    log_prior = live_log_prior
            else:
                value[live], prior[live] = live_value, live_prior
                if log_prior is not None:
                    log_prior[live] = live_log_prior
        return Evaluation(to_play, terminal, value, prior, log_prior, legal, decided)


def masked_softmax(logits: np.ndarray, legal: np.ndarray, with_log: bool) -> tuple[np.ndarray, np.ndarray | None]:
    """``logits, legal [k, A]`` -> (prior probabilities, with ``with_log`` also log-probabilities
    clipped at LOG_PRIOR_FLOOR and -inf where illegal), float32."""
    masked = np.where(legal, logits, -np.inf)
    shifted = masked - masked.max(axis=1, keepdims=True)
    exp = np.exp(shifted)
    total = exp.sum(axis=1, keepdims=True)
    prior = (exp / total).astype(np.float32, copy=False)
    if not with_log:
        return prior, None
    log_prior = np.where(legal, np.maximum(shifted - np.log(total), LOG_PRIOR_FLOOR), -np.inf)
    return prior, log_prior.astype(np.float32, copy=False)
