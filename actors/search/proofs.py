"""Proof handling (``SearchConfig.proofs``, MCTS-Solver) in one place: `Proofs`, or `NoProofs` without it.

The search loop asks the object chosen at construction at every point where proofs
matter, and never tests the config itself:

- `open_children`: the actions selection may take (children proven lost are passed
  over while another is open; None: every legal one);
- `prove_roots` / `unproven`: a root is re-proved from the children a reused tree kept,
  and a tree stops searching once its root is proven;
- `ends_path`: simulations end at proven nodes as at terminal ones;
- `mark_decided` / `propagate`: leaves proven by a decisive move, and exact values
  backed up along each path after the backup (`Tree.propagate_proofs`);
- `playable`: the root actions the move and the policy target keep to.

`NoProofs` answers each with the plain behaviour (legal actions, terminal nodes, no-ops).
"""

from __future__ import annotations

import numpy as np

from actors.search.tree import PENALTY, WIN_VALUE, Tree


class NoProofs:
    """Search without proofs: only terminal nodes are exact, and nothing is ever proven."""

    def __init__(self, tree: Tree, two_player: bool) -> None:
        self.tree, self.two_player = tree, two_player

    def open_children(self, rows: np.ndarray, nodes: np.ndarray, children: np.ndarray) -> np.ndarray | None:
        """``bool [k, A]`` the actions selection may take at nodes ``(rows, nodes) [k]`` with edges
        ``children [k, C, A]``; None for every legal one."""
        return None

    def prove_roots(self, rows: np.ndarray) -> None:
        """Prove the roots of trees ``rows [k]`` from their children where that follows."""

    def unproven(self, rows: np.ndarray) -> np.ndarray:
        """``[j]`` the trees of ``rows [k]`` whose root is not proven (still to search)."""
        return rows

    def ends_path(self, rows: np.ndarray, nodes: np.ndarray) -> np.ndarray:
        """``bool [k]``: a simulation reaching node ``(rows, nodes)`` stops there (its value is exact)."""
        return self.tree.terminal[rows, nodes]

    def mark_decided(self, rows: np.ndarray, nodes: np.ndarray, decided: np.ndarray) -> None:
        """Record the new leaves ``(rows, nodes) [k]`` whose value a decisive move set (``decided bool [k]``)."""

    def propagate(
        self,
        rows: np.ndarray,
        edge_rows: list[np.ndarray],
        edge_nodes: list[np.ndarray],
        edge_actions: list[np.ndarray],
    ) -> None:
        """After the backup of one simulation in trees ``rows``: its edges per depth from the root down."""

    def playable(self, rows: np.ndarray, children: np.ndarray) -> np.ndarray:
        """``bool [k, A]``: the root actions of trees ``rows [k]`` (edges ``children [k, C, A]``) that the
        move and the policy target keep to."""
        return children[:, PENALTY] == 0.0


class Proofs(NoProofs):
    """MCTS-Solver (Winands et al. 2008): exact values where they follow, and search shaped by them.

    Overrides every method of `NoProofs` (whose docstrings describe the interface).
    """

    def open_children(self, rows: np.ndarray, nodes: np.ndarray, children: np.ndarray) -> np.ndarray | None:
        # A child proven to lose is not selected while another is open: its exact Q alone would not
        # outweigh a large prior, which keeps drawing visits that only confirm the loss while the move
        # that matters goes unvisited. (Its Q still counts where values are compared, e.g. in
        # Gumbel's completed-Q scale.)
        legal = children[:, PENALTY] == 0.0
        return not_lost(self.tree.exact_child_values(rows, nodes, self.two_player), legal, self.two_player)

    def prove_roots(self, rows: np.ndarray) -> None:
        if len(rows):
            self.tree.solved[rows, 0] = np.nan  # re-proved from the children a reused tree kept
            self.tree.prove(rows, np.zeros_like(rows), self.two_player)

    def unproven(self, rows: np.ndarray) -> np.ndarray:
        return rows[np.isnan(self.tree.solved[rows, 0])]

    def ends_path(self, rows: np.ndarray, nodes: np.ndarray) -> np.ndarray:
        return ~np.isnan(self.tree.solved[rows, nodes])  # terminal nodes are proven at their outcome

    def mark_decided(self, rows: np.ndarray, nodes: np.ndarray, decided: np.ndarray) -> None:
        # Proven at once: later paths end here instead of re-visiting to expand the winning move.
        self.tree.solved[rows[decided], nodes[decided]] = WIN_VALUE

    def propagate(
        self,
        rows: np.ndarray,
        edge_rows: list[np.ndarray],
        edge_nodes: list[np.ndarray],
        edge_actions: list[np.ndarray],
    ) -> None:
        self.tree.propagate_proofs(rows, list(zip(edge_rows, edge_nodes, edge_actions, strict=True)), self.two_player)

    def playable(self, rows: np.ndarray, children: np.ndarray) -> np.ndarray:
        # At a proven root, the children proven to reach its value; otherwise the legal actions
        # not proven to lose (all of them when every one is).
        legal = children[:, PENALTY] == 0.0
        values = self.tree.exact_child_values(rows, np.zeros_like(rows), self.two_player)
        root_value = self.tree.solved[rows, 0]
        best = legal & (values == root_value[:, None])  # NaN compares False
        return np.where(np.isnan(root_value)[:, None], not_lost(values, legal, self.two_player), best)


def loss_value(two_player: bool) -> float:
    """The worst outcome: a loss in a two-player game, a failure in a puzzle (task contract)."""
    return -1.0 if two_player else 0.0


def not_lost(values: np.ndarray, legal: np.ndarray, two_player: bool) -> np.ndarray:
    """``bool [k, A]``: the legal children whose proven value ``values [k, A]`` (NaN: open) is not a loss;
    every legal child in rows where all are lost."""
    open_ = legal & ~(values <= loss_value(two_player))
    return open_ | (legal & ~open_.any(axis=1, keepdims=True))
