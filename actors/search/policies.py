"""Search policies: the parts that make a search PUCT or Gumbel, chosen once and passed to one loop.

Following mctx (``muzero_policy`` / ``gumbel_muzero_policy`` hand their selection functions
to one ``search``), a `SearchPolicy` bundles three parts, and `BatchedSearch` calls them
without knowing which algorithm it runs:

- ``root`` (`RootPolicy`): ``prepare`` draws the move's root noise per slot (PUCT: Dirichlet
  noise mixed into a copy of the root prior; Gumbel: the Gumbel vector and the size of the
  top-k), ``select`` picks the root action of one simulation (PUCT over the noisy prior;
  Gumbel: top-k with sequential halving, by its visit schedule). ``masks_lost`` says whether
  the root's selection passes over children proven lost (see `Proofs.open_children`);
- ``interior`` (`InteriorSelect`): the action at a node below the root (PUCT;
  Gumbel's deterministic `gumbel_interior_select`);
- ``decide`` (`ActionRule`): the move and the policy target from the root's statistics
  (PUCT: the visit distribution, the most visited or a temperature draw; Gumbel: the
  improved policy and the argmax of g + logits over the actions the schedule ended on).

The parts keep per-slot state (noise) in preallocated ``[B, ...]`` arrays and read the
tree only through the rows gathered for them. Every random draw comes from the slot's own
generator, in slot order. A new variant is a new factory in `POLICIES` (and its name in
`actors.search.config.ALGORITHMS`); the loop does not change.

The selection rules themselves are the pure functions of `actors.search.selection`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from actors.search import selection as sel
from actors.search.config import SearchConfig
from actors.search.tree import LOG_PRIOR, N_RAW_VALUE, N_VALUE_SUM, N_VISITS, PENALTY, PRIOR, VISITS

Rngs = list[np.random.Generator | None]  # one per slot, seeded at its reset


class InteriorSelect(Protocol):
    def __call__(self, children: np.ndarray, node: np.ndarray, allowed: np.ndarray | None) -> np.ndarray:
        """``children [k, C, A]``, ``node [k, 3]`` (the node channels), ``allowed bool [k, A]`` or None
        -> ``int64 [k]`` the actions chosen."""
        ...


class RootPolicy(Protocol):
    masks_lost: bool

    def prepare(self, rows: np.ndarray, children: np.ndarray, rngs: Rngs) -> None:
        """Draw this move's noise for the roots of trees ``rows [k]``, whose edges are ``children [k, C, A]``."""
        ...

    def select(
        self, rows: np.ndarray, children: np.ndarray, node: np.ndarray, simulation: int, allowed: np.ndarray | None
    ) -> np.ndarray:
        """``int64 [k]`` the root actions of simulation ``simulation`` in trees ``rows [k]`` (as `InteriorSelect`)."""
        ...


class ActionRule(Protocol):
    def __call__(
        self,
        rows: np.ndarray,
        children: np.ndarray,
        node: np.ndarray,
        allowed: np.ndarray,
        move_numbers: np.ndarray,
        rngs: Rngs,
    ) -> tuple[np.ndarray, np.ndarray]:
        """The searched roots of trees ``rows [k]`` (``children [k, C, A]``, ``node [k, 3]``), the actions
        ``allowed bool [k, A]`` (the playable ones) and ``move_numbers [k]`` -> (``int64 [k]`` the moves,
        ``float32 [k, A]`` the policy targets, zero outside ``allowed``)."""
        ...


@dataclass(frozen=True)
class SearchPolicy:
    """The parts of one search algorithm (see the module docstring); ``log_priors``: the tree keeps
    the LOG_PRIOR channel (Gumbel reads it)."""

    root: RootPolicy
    interior: InteriorSelect
    decide: ActionRule
    log_priors: bool


def value_scale(two_player: bool) -> tuple[float, float]:
    """(scale, offset) mapping values to PUCT's [0, 1]: two-player values in [-1, 1] by (q + 1) / 2."""
    return (0.5, 0.5) if two_player else (1.0, 0.0)


# ----- PUCT -------------------------------------------------------------------------------


@dataclass(frozen=True)
class PuctSelect:
    """AlphaZero's PUCT at a node (`sel.puct_select`), with the config's exploration and FPU settings."""

    c_puct: float
    c_base: float
    c_init: float
    q_scale: float
    q_offset: float
    fpu_reduction: float | None  # None: unvisited children get fpu_value
    fpu_value: float

    def __call__(
        self, children: np.ndarray, node: np.ndarray, allowed: np.ndarray | None, prior: np.ndarray | None = None
    ) -> np.ndarray:
        """As `InteriorSelect`; ``prior [k, A]`` replaces the edges' prior (the root's noisy one)."""
        visits = node[:, N_VISITS]
        return sel.puct_select(
            children,
            children[:, PRIOR] if prior is None else prior,
            visits,
            node[:, N_VALUE_SUM] / visits,
            sel.exploration_coefficient(visits, self.c_puct, self.c_base, self.c_init),
            self.q_scale,
            self.q_offset,
            self.fpu_reduction,
            self.fpu_value,
            allowed=allowed,
        )


class PuctRoot:
    """PUCT at the root over the prior mixed with Dirichlet noise, drawn once per move and slot."""

    masks_lost = True

    def __init__(self, select: PuctSelect, batch_size: int, num_actions: int, alpha: float, fraction: float) -> None:
        self._select, self.alpha, self.fraction = select, alpha, fraction
        self.prior = np.zeros((batch_size, num_actions), dtype=np.float32)  # [B, A] this move's noisy root prior

    def prepare(self, rows: np.ndarray, children: np.ndarray, rngs: Rngs) -> None:
        legal = children[:, PENALTY] == 0.0
        self.prior[rows] = children[:, PRIOR]
        if self.fraction > 0:
            for i, row in enumerate(rows.tolist()):
                noise = rngs[row].dirichlet(np.full(int(legal[i].sum()), self.alpha))
                self.prior[row] = sel.add_dirichlet_noise(self.prior[row], legal[i], noise, self.fraction)

    def select(
        self, rows: np.ndarray, children: np.ndarray, node: np.ndarray, simulation: int, allowed: np.ndarray | None
    ) -> np.ndarray:
        return self._select(children, node, allowed, prior=self.prior[rows])


@dataclass(frozen=True)
class VisitAction:
    """PUCT's move and target: the visit distribution over the allowed actions; the most visited action
    (ties by the higher value), or with temperature > 0 a draw proportional to visits ** (1 / T)."""

    q_scale: float
    q_offset: float
    temperature_init: float
    temperature_final: float
    temperature_moves: int

    def __call__(
        self,
        rows: np.ndarray,
        children: np.ndarray,
        node: np.ndarray,
        allowed: np.ndarray,
        move_numbers: np.ndarray,
        rngs: Rngs,
    ) -> tuple[np.ndarray, np.ndarray]:
        visits = children[:, VISITS]
        policy = sel.visit_policy(np.where(allowed, visits, 0.0), allowed)
        q01 = sel.q_values(children) * self.q_scale + self.q_offset
        chosen = sel.most_visited(np.where(allowed, visits, -1.0), q01)
        temperature = np.where(move_numbers < self.temperature_moves, self.temperature_init, self.temperature_final)
        for i in np.flatnonzero(temperature > 0).tolist():
            uniform = rngs[rows[i]].random()
            chosen[i] = sel.sample_with_temperature(policy[i], float(temperature[i]), uniform)
        return chosen, policy


def puct_policy(config: SearchConfig, two_player: bool, batch_size: int, num_actions: int) -> SearchPolicy:
    """AlphaZero: PUCT everywhere, Dirichlet noise at the root, moves by visits."""
    q_scale, q_offset = value_scale(two_player)
    select = PuctSelect(
        config.c_puct,
        config.c_base,
        config.c_init,
        q_scale,
        q_offset,
        config.fpu_reduction if config.fpu == "reduction" else None,
        config.fpu_value,
    )
    root = PuctRoot(select, batch_size, num_actions, config.dirichlet_alpha, config.dirichlet_fraction)
    decide = VisitAction(q_scale, q_offset, config.temperature_init, config.temperature_final, config.temperature_moves)
    return SearchPolicy(root=root, interior=select, decide=decide, log_priors=False)


# ----- Gumbel -------------------------------------------------------------------------------


@dataclass(frozen=True)
class GumbelInteriorSelect:
    """Gumbel MuZero below the root: `sel.gumbel_interior_select` (deterministic)."""

    c_visit: float
    c_scale: float

    def __call__(self, children: np.ndarray, node: np.ndarray, allowed: np.ndarray | None) -> np.ndarray:
        return sel.gumbel_interior_select(children, node[:, N_RAW_VALUE], self.c_visit, self.c_scale, allowed=allowed)


class GumbelRoot:
    """Gumbel-Top-k with sequential halving at the root: per move and slot a Gumbel vector ``noise [B, A]``
    and the number of actions considered; per simulation the argmax of `sel.gumbel_root_scores`.

    The root keeps to its halving schedule, which drops a lost action once its Q is seen, so it needs
    no proven-loss mask (``masks_lost`` False; nor is one computed).
    """

    masks_lost = False

    def __init__(self, config: SearchConfig, batch_size: int, num_actions: int) -> None:
        self.max_considered, self.scale = config.max_num_considered_actions, config.gumbel_scale
        self.c_visit, self.c_scale = config.gumbel_c_visit, config.gumbel_c_scale
        self.num_actions = num_actions
        self.noise = np.zeros((batch_size, num_actions), dtype=np.float32)  # [B, A] this move's Gumbel noise
        self.num_considered = np.zeros(batch_size, dtype=np.int64)  # [B]
        # [max_considered + 1, num_simulations]: the visit count each simulation targets, per top-k size.
        self.halving = sel.considered_visit_table(config.max_num_considered_actions, config.num_simulations)

    def prepare(self, rows: np.ndarray, children: np.ndarray, rngs: Rngs) -> None:
        legal = children[:, PENALTY] == 0.0
        self.num_considered[rows] = np.minimum(self.max_considered, legal.sum(axis=1))
        for row in rows.tolist():
            self.noise[row] = self.scale * rngs[row].gumbel(size=self.num_actions)

    def select(
        self, rows: np.ndarray, children: np.ndarray, node: np.ndarray, simulation: int, allowed: np.ndarray | None
    ) -> np.ndarray:
        considered = self.halving[self.num_considered[rows], simulation]
        scores = sel.gumbel_root_scores(
            children, node[:, N_RAW_VALUE], self.noise[rows], considered, self.c_visit, self.c_scale
        )
        return scores.argmax(axis=1)


class ImprovedPolicyAction:
    """Gumbel's move and target: the improved policy softmax(log_prior + sigma(completedQ)) over the
    allowed actions, and the argmax of g + those logits among the most visited (where halving ended)."""

    def __init__(self, root: GumbelRoot) -> None:
        self.root = root  # its noise picks the move

    def __call__(
        self,
        rows: np.ndarray,
        children: np.ndarray,
        node: np.ndarray,
        allowed: np.ndarray,
        move_numbers: np.ndarray,
        rngs: Rngs,
    ) -> tuple[np.ndarray, np.ndarray]:
        root = self.root
        visits = children[:, VISITS]
        logits = children[:, LOG_PRIOR] + sel.completed_sigma(
            children, node[:, N_RAW_VALUE], root.c_visit, root.c_scale
        )
        logits = np.where(allowed, logits, -np.inf)
        policy = sel.softmax(logits) if len(rows) else np.zeros((0, root.num_actions), dtype=np.float32)
        most = np.where(allowed, visits, -1.0).max(axis=1, keepdims=True)
        on_schedule = allowed & (visits == most)
        chosen = (root.noise[rows] + logits + np.where(on_schedule, 0.0, sel.HALVING_PENALTY)).argmax(axis=1)
        return chosen, policy


def gumbel_policy(config: SearchConfig, two_player: bool, batch_size: int, num_actions: int) -> SearchPolicy:
    """Gumbel MuZero: sequential halving at the root, completed-Q selection below it, the improved policy."""
    root = GumbelRoot(config, batch_size, num_actions)
    interior = GumbelInteriorSelect(config.gumbel_c_visit, config.gumbel_c_scale)
    return SearchPolicy(root=root, interior=interior, decide=ImprovedPolicyAction(root), log_priors=True)


PolicyFactory = Callable[[SearchConfig, bool, int, int], SearchPolicy]
POLICIES: dict[str, PolicyFactory] = {"puct": puct_policy, "gumbel": gumbel_policy}


def make_policy(config: SearchConfig, two_player: bool, batch_size: int, num_actions: int) -> SearchPolicy:
    """The `SearchPolicy` of ``config.algorithm`` for B = ``batch_size`` slots of A = ``num_actions`` actions."""
    return POLICIES[config.algorithm](config, two_player, batch_size, num_actions)
