"""B search trees in preallocated numpy arrays, updated in place.

Layout (mctx's, batched over B trees of capacity N nodes and A actions):

- ``states``   int64   ``[B, N, S]``: the task state of every node;
- ``nodes``    float32 ``[B, N, 3]``: per node its visit count, its value sum
  and its raw value (the network's value, or the task's outcome for a
  terminal node), all from the view of the node's player to move;
- ``solved``   float32 ``[B, N]``: the node's exact value when it is proven
  (a terminal's outcome, or backed up from proven children, see `prove`),
  from the view of its player to move; NaN while unknown;
- ``to_play``  int64 ``[B, N]``, ``terminal`` bool ``[B, N]``,
  ``parent`` / ``action`` / ``depth`` int32 ``[B, N]`` (-1 parent at a root);
- ``children`` float32 ``[B, N, C, A]``: per node and action the edge's visit
  count, value sum (from the view of the *parent's* player to move), prior
  probability, legality penalty (0 legal, -inf illegal) and, for Gumbel search,
  the prior log-probability (-inf illegal). Channels are stacked so one fancy
  index ``children[rows, nodes]`` gathers everything selection needs;
- ``children_index`` int32 ``[B, N, A]``: the child's node index, -1 unexpanded;
- ``num_nodes`` int64 ``[B]``: nodes in use; node 0 is the root.

A node is always allocated after its parent, so parent index < child index.
A node's slots above ``num_nodes`` are free: their contents are stale and are
overwritten in full when they are allocated again.
"""

from __future__ import annotations

import numpy as np

# Channels of `Tree.children`.
VISITS, VALUE_SUM, PRIOR, PENALTY, LOG_PRIOR = 0, 1, 2, 3, 4
# Channels of `Tree.nodes`.
N_VISITS, N_VALUE_SUM, N_RAW_VALUE = 0, 1, 2
LOG_PRIOR_FLOOR = -1.0e4  # legal actions' log-priors are clipped here, far above the -1e9 halving penalty
WIN_VALUE = 1.0  # the best outcome of every kind (task contract): a node with a proven-win child is proven


class Tree:
    """The arrays of B trees (see the module docstring), plus the in-place operations on them."""

    def __init__(self, batch_size: int, capacity: int, num_actions: int, state_size: int, log_priors: bool) -> None:
        b, n, a = batch_size, capacity, num_actions
        self.batch_size, self.capacity, self.num_actions = b, n, a
        self.num_channels = 5 if log_priors else 4
        self.states = np.zeros((b, n, state_size), dtype=np.int64)
        self.nodes = np.zeros((b, n, 3), dtype=np.float32)
        self.solved = np.full((b, n), np.nan, dtype=np.float32)
        self.to_play = np.zeros((b, n), dtype=np.int64)
        self.terminal = np.zeros((b, n), dtype=bool)
        self.parent = np.full((b, n), -1, dtype=np.int32)
        self.action = np.full((b, n), -1, dtype=np.int32)
        self.depth = np.zeros((b, n), dtype=np.int32)
        self.children = np.zeros((b, n, self.num_channels, a), dtype=np.float32)
        self.children_index = np.full((b, n, a), -1, dtype=np.int32)
        self.num_nodes = np.zeros(b, dtype=np.int64)

    # ----- writing nodes --------------------------------------------------------

    def set_roots(self, rows: np.ndarray, states: np.ndarray, to_play: np.ndarray, terminal: np.ndarray) -> None:
        """Make ``states [k, S]`` the (not yet evaluated) roots of trees ``rows [k]``, dropping the old trees."""
        self.states[rows, 0] = states
        self.to_play[rows, 0] = to_play
        self.terminal[rows, 0] = terminal
        self.parent[rows, 0] = -1
        self.action[rows, 0] = -1
        self.depth[rows, 0] = 0
        self.nodes[rows, 0] = 0.0
        self.solved[rows, 0] = np.nan
        self.children_index[rows, 0] = -1
        self.children[rows, 0] = 0.0
        self.num_nodes[rows] = 1

    def add_children(
        self, rows: np.ndarray, parents: np.ndarray, actions: np.ndarray, states: np.ndarray
    ) -> np.ndarray:
        """Allocate one node per tree ``rows [k]`` (distinct) for ``states [k, S]`` reached by ``actions [k]``.

        Returns the new nodes' indices ``[k]``; the caller writes their evaluation.
        """
        new = self.num_nodes[rows]
        self.num_nodes[rows] += 1
        self.states[rows, new] = states
        self.parent[rows, new] = parents
        self.action[rows, new] = actions
        self.depth[rows, new] = self.depth[rows, parents] + 1
        self.children_index[rows, parents, actions] = new
        return new

    def write_evaluation(
        self,
        rows: np.ndarray,
        nodes: np.ndarray,
        to_play: np.ndarray,
        terminal: np.ndarray,
        value: np.ndarray,
        prior: np.ndarray,
        log_prior: np.ndarray | None,
        legal: np.ndarray,
        visits: float,
    ) -> None:
        """Write the evaluation of nodes ``(rows, nodes) [k]`` and clear their edges.

        ``value [k]`` is from the view of ``to_play [k]``; ``prior`` / ``log_prior`` /
        ``legal`` are ``[k, A]``. ``visits`` is 1 for a root (its evaluation is its
        first visit) and 0 for a leaf (the backup that follows adds its visit).
        """
        self.to_play[rows, nodes] = to_play
        self.terminal[rows, nodes] = terminal
        node_block = np.empty((len(rows), 3), dtype=np.float32)
        node_block[:, N_VISITS] = visits
        node_block[:, N_VALUE_SUM] = visits * value
        node_block[:, N_RAW_VALUE] = value
        self.nodes[rows, nodes] = node_block
        self.solved[rows, nodes] = np.where(terminal, value, np.nan)
        block = np.zeros((len(rows), self.num_channels, self.num_actions), dtype=np.float32)
        block[:, PRIOR] = prior
        block[:, PENALTY] = np.where(legal, 0.0, -np.inf)
        if log_prior is not None and self.num_channels > LOG_PRIOR:
            block[:, LOG_PRIOR] = log_prior
        self.children[rows, nodes] = block
        self.children_index[rows, nodes] = -1

    # ----- backup -----------------------------------------------------------------

    def backup(
        self,
        rows: np.ndarray,
        edge_rows: np.ndarray,
        edge_nodes: np.ndarray,
        edge_actions: np.ndarray,
        leaf_value: np.ndarray,
        leaf_player: np.ndarray,
        two_player: bool,
    ) -> None:
        """Add one simulation's leaf values along each searched tree's path, in place.

        Args:
            rows: ``[k]`` the trees searched (each path starts at their root, node 0).
            edge_rows, edge_nodes, edge_actions: ``[E]`` every edge of every path,
                as (tree, parent node, action); the edges' children exist.
            leaf_value: ``[B]`` per tree, the value of its path's leaf from the
                view of ``leaf_player [B]``, the leaf's player to move.
            two_player: negate values for nodes whose player to move differs from
                the leaf's (zero-sum); single-player values are never negated.

        A path visits distinct nodes, so no (tree, node) pair repeats in one fancy update.
        """
        value = leaf_value[edge_rows]
        edge_children = self.children_index[edge_rows, edge_nodes, edge_actions]
        root_value = leaf_value[rows]
        if two_player:
            player = leaf_player[edge_rows]
            parent_value = np.where(self.to_play[edge_rows, edge_nodes] == player, value, -value)
            child_value = np.where(self.to_play[edge_rows, edge_children] == player, value, -value)
            root_value = np.where(self.to_play[rows, 0] == leaf_player[rows], root_value, -root_value)
        else:
            parent_value = child_value = value
        self.children[edge_rows, edge_nodes, VISITS, edge_actions] += 1.0
        self.children[edge_rows, edge_nodes, VALUE_SUM, edge_actions] += parent_value
        self.nodes[edge_rows, edge_children, N_VISITS] += 1.0
        self.nodes[edge_rows, edge_children, N_VALUE_SUM] += child_value
        self.nodes[rows, 0, N_VISITS] += 1.0
        self.nodes[rows, 0, N_VALUE_SUM] += root_value

    # ----- proofs (MCTS-Solver) ------------------------------------------------------------

    def exact_child_values(self, rows: np.ndarray, nodes: np.ndarray, two_player: bool) -> np.ndarray:
        """``[k, A]``: the proven values of the children of nodes ``(rows, nodes) [k]``, from those nodes' view.

        NaN where the child is unexpanded (or illegal) or not proven.
        """
        index = self.children_index[rows, nodes]  # [k, A]
        r, child = rows[:, None], np.maximum(index, 0)
        values = np.where(index >= 0, self.solved[r, child], np.nan)
        if two_player:
            same_player = self.to_play[r, child] == self.to_play[rows, nodes][:, None]
            values = np.where(same_player, values, -values)
        return values

    def prove(self, rows: np.ndarray, nodes: np.ndarray, two_player: bool) -> np.ndarray:
        """Prove the non-terminal nodes ``(rows, nodes) [k]`` from their children where that follows; ``bool [k]``.

        A node is proven at WIN_VALUE when a child is a proven win from its view,
        and at its best child's value when every legal child is proven. A proven
        node's value sum is reset to match, so its mean is exact from then on.
        """
        values = self.exact_child_values(rows, nodes, two_player)
        known = ~np.isnan(values)
        legal = self.children[rows, nodes, PENALTY] == 0.0
        best = np.where(known, values, -np.inf).max(axis=1)
        proven = (best >= WIN_VALUE) | (known | ~legal).all(axis=1)
        rows, nodes, best = rows[proven], nodes[proven], best[proven]
        self.solved[rows, nodes] = best
        self.nodes[rows, nodes, N_VALUE_SUM] = self.nodes[rows, nodes, N_VISITS] * best
        return proven

    def propagate_proofs(
        self, rows: np.ndarray, path: list[tuple[np.ndarray, np.ndarray, np.ndarray]], two_player: bool
    ) -> None:
        """After a backup, walk each path of trees ``rows`` up from its leaf while proofs follow.

        ``path`` holds, per depth from the root down, the edges ``(rows, nodes, actions)``
        taken at that depth. An edge into a proven child gets that child's exact value
        as its mean; its parent is then proven if `prove` says so, and the walk goes on
        only where it was (a node off a new proof cannot change).
        """
        going = np.zeros(self.batch_size, dtype=bool)
        going[rows] = True
        for edge_rows, edge_nodes, edge_actions in reversed(path):
            on = going[edge_rows]
            edge_rows, edge_nodes, edge_actions = edge_rows[on], edge_nodes[on], edge_actions[on]
            child = self.children_index[edge_rows, edge_nodes, edge_actions]
            exact = self.solved[edge_rows, child]
            has_proof = ~np.isnan(exact)
            going[edge_rows[~has_proof]] = False
            edge_rows, edge_nodes, edge_actions = edge_rows[has_proof], edge_nodes[has_proof], edge_actions[has_proof]
            if len(edge_rows) == 0:
                if not going.any():
                    break
                continue
            exact, child = exact[has_proof], child[has_proof]
            if two_player:
                exact = np.where(self.to_play[edge_rows, child] == self.to_play[edge_rows, edge_nodes], exact, -exact)
            self.children[edge_rows, edge_nodes, VALUE_SUM, edge_actions] = (
                self.children[edge_rows, edge_nodes, VISITS, edge_actions] * exact
            )
            proven = self.prove(edge_rows, edge_nodes, two_player)
            going[edge_rows[~proven]] = False

    # ----- re-rooting -------------------------------------------------------------------

    def reroot_to_node(self, rows: np.ndarray, children: np.ndarray) -> None:
        """Make node ``children [k]`` the root of trees ``rows [k]``, keeping its evaluation, dropping the rest.

        The new root keeps its state, prior and raw value; its visit statistics
        restart as after a fresh root evaluation (one visit of its raw value).
        """
        raw = self.nodes[rows, children, N_RAW_VALUE]
        self.states[rows, 0] = self.states[rows, children]
        self.to_play[rows, 0] = self.to_play[rows, children]
        self.terminal[rows, 0] = self.terminal[rows, children]
        self.parent[rows, 0] = -1
        self.action[rows, 0] = -1
        self.depth[rows, 0] = 0
        self.nodes[rows, 0] = np.stack([np.ones_like(raw), raw, raw], axis=1)
        # Its children are dropped, so only a terminal keeps its proof (a proof rests on children).
        self.solved[rows, 0] = np.where(self.terminal[rows, children], self.solved[rows, children], np.nan)
        block = self.children[rows, children]
        block[:, VISITS] = 0.0
        block[:, VALUE_SUM] = 0.0
        self.children[rows, 0] = block
        self.children_index[rows, 0] = -1
        self.num_nodes[rows] = 1

    def reroot_to_subtree(self, rows: np.ndarray, children: np.ndarray, max_nodes: int) -> None:
        """Make node ``children [k]`` the root of trees ``rows [k]``, keeping its subtree, compacted to the front.

        At most ``max_nodes`` nodes are kept, those allocated first (a parent
        is allocated before its children, so the kept nodes form a tree). An
        edge whose child is dropped keeps its statistics and becomes unexpanded.
        """
        k, n = len(rows), self.capacity
        if k == 0:
            return
        in_use = np.arange(n)[None, :] < self.num_nodes[rows][:, None]  # [k, N]
        depth = self.depth[rows]  # [k, N]
        parent = np.maximum(self.parent[rows], 0)
        in_subtree = np.zeros((k, n), dtype=bool)
        in_subtree[np.arange(k), children] = True
        # Parents sit one level up: sweep down the levels, each inheriting from its parent.
        for level in range(2, int(depth[in_use].max(initial=0)) + 1):
            at_level = in_use & (depth == level)
            in_subtree |= at_level & np.take_along_axis(in_subtree, parent, axis=1)
        rank = np.cumsum(in_subtree, axis=1)  # [k, N]; 1-based position among the kept
        keep = in_subtree & (rank <= max_nodes)
        new_index = np.where(keep, rank - 1, -1)  # [k, N]: old index -> new index
        source = np.argsort(~keep, axis=1, kind="stable")  # [k, N]: new index -> old index (kept first)
        r = rows[:, None]

        self.states[rows] = self.states[r, source]
        self.nodes[rows] = self.nodes[r, source]
        self.solved[rows] = self.solved[r, source]
        self.to_play[rows] = self.to_play[r, source]
        self.terminal[rows] = self.terminal[r, source]
        self.action[rows] = self.action[r, source]
        self.depth[rows] = self.depth[r, source] - 1
        old_parent = self.parent[r, source]
        self.parent[rows] = np.where(
            old_parent >= 0, np.take_along_axis(new_index, np.maximum(old_parent, 0), axis=1), -1
        )
        self.children[rows] = self.children[r, source]
        old_children = self.children_index[r, source].reshape(k, -1)  # [k, N * A]
        remapped = np.take_along_axis(new_index, np.maximum(old_children, 0), axis=1)
        self.children_index[rows] = np.where(old_children >= 0, remapped, -1).reshape(k, n, self.num_actions)
        self.parent[rows, 0] = -1
        self.action[rows, 0] = -1
        self.num_nodes[rows] = keep.sum(axis=1)

    # ----- reading -------------------------------------------------------------------

    def max_depth(self, rows: np.ndarray) -> np.ndarray:
        """``[k]``: the depth of the deepest node of trees ``rows`` (0 for a lone root)."""
        in_use = np.arange(self.capacity)[None, :] < self.num_nodes[rows][:, None]
        return np.where(in_use, self.depth[rows], 0).max(axis=1)
