"""`BatchedSearch`: PUCT or Gumbel tree search over B episodes of one task kind, in lockstep.

Each simulation walks all B trees down together (a Python loop over depth,
numpy over the trees still descending), expands one leaf per tree with one
batched ``task.step``, evaluates all new non-terminal leaves with ONE network
call, and backs the values up along every path with a few fancy-indexed adds.

The loop here is the same for every variant; what varies is chosen once, at
construction, and called through (mctx's design, over in-place arrays):

- ``self.policy`` (`actors.search.policies.SearchPolicy`, from ``config.algorithm``):
  the root policy (noise per move, root selection), the interior selection and the
  rule turning the root's statistics into the move and the policy target;
- ``self.proofs`` (`actors.search.proofs.Proofs`, or `NoProofs` without ``proofs``);
- ``self.evaluator`` (`actors.search.evaluation.Evaluator`), with the decisive-move
  step when ``decisive_moves`` is on.

Episode bookkeeping, slot by slot (a slot holds one episode at a time):

    search = BatchedSearch(task, network, config, batch_size=B, task_id=0)
    search.reset(states, seeds)                  # or reset_slots(slots, states, seeds)
    while True:
        result = search.run()                    # one move's search in every live slot
        search.advance(result.actions)           # play the moves, re-root the trees
        finished = np.flatnonzero(search.done & was_live)
        ...                                      # read outcomes, then reset_slots(finished, ...)

Proofs (``SearchConfig.proofs``, MCTS-Solver): a terminal node's value is exact, and
so is that of a node with a child proven to win for its player to move, or with every
legal child proven (`Tree.prove`). Simulations end at proven nodes as at terminal ones,
selection passes over children proven to lose while another is open, a tree stops
searching once its root is proven (fewer network calls for the same move), and the move
and policy target keep to the proven-best children, never to one proven to lose while
another is open.

Decisive moves (``SearchConfig.decisive_moves``): every evaluated state is stepped one
move ahead; where a move ends the episode with the best outcome for its mover, the state
is worth that outcome (and proven, below the root) and its prior is on those moves. A
move that leaves the opponent such a reply is then seen as lost at its first visit.

A slot is *live* from its reset until its root state is terminal; `run` and
`advance` act on live slots only (other slots get action -1 and are ignored).
Each slot owns a ``np.random.Generator`` seeded at its reset; Dirichlet noise,
Gumbel noise and temperature sampling of that slot draw only from it, so with a
network whose output rows do not depend on the rest of the batch, an episode
searched in a batch makes the same moves as when searched alone.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from actors.search.config import SearchConfig
from actors.search.evaluation import DecisiveMoves, Evaluation, Evaluator, Network
from actors.search.policies import make_policy
from actors.search.proofs import NoProofs, Proofs
from actors.search.tree import N_RAW_VALUE, N_VALUE_SUM, N_VISITS, VISITS, Tree
from actors.tasks.base import Task

__all__ = ["BatchedSearch", "Network", "SearchResult"]


@dataclass
class SearchResult:
    """One move's search in every slot; rows of slots that were not searched hold -1 / 0.

    Attributes:
        actions: ``int64 [B]`` the chosen action (-1 where not searched).
        policy: ``float32 [B, A]`` the policy target: PUCT's root visit
            distribution, or Gumbel's improved policy softmax(log_prior + sigma(completedQ));
            zero on illegal actions, sums to 1 in searched slots.
        root_value: ``float32 [B]`` the root's mean value from the view of its player to move.
        visit_counts: ``float32 [B, A]`` the root's children visit counts.
        reused_visits: ``int64 [B]`` root children visits carried over from the
            previous move's subtree; ``visit_counts.sum(1) == reused_visits + simulations``.
        simulations: ``int64 [B]`` simulations run: ``num_simulations``, fewer where
            the root was proven first (``proofs``), none where it was proven already.
        proven: ``bool [B]`` the root's value is exact (``proofs``): ``root_value`` is
            its outcome under best play and ``actions`` achieve it.
        searched: ``bool [B]`` the slots searched (live at the call).
        max_depth: ``int64 [B]`` depth of the deepest node of the tree below the root.
        tree_size: ``int64 [B]`` nodes in use in the tree.
    """

    actions: np.ndarray
    policy: np.ndarray
    root_value: np.ndarray
    visit_counts: np.ndarray
    reused_visits: np.ndarray
    simulations: np.ndarray
    proven: np.ndarray
    searched: np.ndarray
    max_depth: np.ndarray
    tree_size: np.ndarray


class BatchedSearch:
    """Tree search over B episode slots of one task kind; see the module docstring for the protocol."""

    def __init__(
        self,
        task: Task,
        network: Network,
        config: SearchConfig | None = None,
        batch_size: int = 1,
        task_id: int = 0,
    ) -> None:
        self.task = task
        self.config = config = config or SearchConfig()
        self.batch_size = b = int(batch_size)
        self.num_actions = a = task.spec.num_actions
        self.two_player = task.spec.num_players == 2
        # The variant's parts, chosen once here; the loop below only calls them.
        self.policy = make_policy(config, self.two_player, b, a)
        self.tree = Tree(b, config.tree_capacity, a, task.spec.state_size, log_priors=self.policy.log_priors)
        self.proofs = (Proofs if config.proofs else NoProofs)(self.tree, self.two_player)
        decisive = DecisiveMoves(task, self.two_player) if config.decisive_moves else None
        self.evaluator = Evaluator(task, network, task_id, b, self.policy.log_priors, decisive)
        self._rngs: list[np.random.Generator | None] = [None] * b
        self._live = np.zeros(b, dtype=bool)
        self._root_evaluated = np.zeros(b, dtype=bool)
        self._searched = np.zeros(b, dtype=bool)  # searched since the last advance / reset
        self._move_numbers = np.zeros(b, dtype=np.int64)
        self._leaf_value = np.zeros(b, dtype=np.float32)
        self._leaf_player = np.zeros(b, dtype=np.int64)

    # The network and its counters live in the evaluator; these keep them readable (and settable) here.
    @property
    def network(self) -> Network:
        return self.evaluator.network

    @network.setter
    def network(self, network: Network) -> None:
        self.evaluator.network = network

    @property
    def network_calls(self) -> int:
        """Network calls made so far (root and leaf evaluations)."""
        return self.evaluator.calls

    @network_calls.setter
    def network_calls(self, value: int) -> None:
        self.evaluator.calls = value

    @property
    def network_rows(self) -> int:
        """Rows (states) sent to the network so far."""
        return self.evaluator.rows

    @network_rows.setter
    def network_rows(self, value: int) -> None:
        self.evaluator.rows = value

    @property
    def network_seconds(self) -> float:
        """Seconds spent inside network calls so far."""
        return self.evaluator.seconds

    @network_seconds.setter
    def network_seconds(self, value: float) -> None:
        self.evaluator.seconds = value

    # ----- slots ------------------------------------------------------------------------

    def reset(self, states: np.ndarray, seeds: np.ndarray) -> None:
        """Start a new episode in every slot: ``states [B, S]``, one seed per slot ``[B]``."""
        self.reset_slots(np.arange(self.batch_size), states, seeds)

    def reset_slots(self, slots: np.ndarray, states: np.ndarray, seeds: np.ndarray) -> None:
        """Start new episodes in ``slots [k]`` (distinct) from ``states [k, S]`` with per-episode ``seeds [k]``."""
        slots = np.asarray(slots, dtype=np.int64).reshape(-1)
        states = np.asarray(states, dtype=np.int64).reshape(len(slots), self.task.spec.state_size)
        if len(np.unique(slots)) != len(slots):
            raise ValueError(f"reset_slots: slots must be distinct, got {slots.tolist()}")
        if len(slots) and (slots.min() < 0 or slots.max() >= self.batch_size):
            raise ValueError(f"reset_slots: slots must be in [0, {self.batch_size}), got {slots.tolist()}")
        for slot, seed in zip(slots.tolist(), seeds, strict=True):
            self._rngs[slot] = np.random.default_rng(seed)
        self._set_roots(slots, states)
        self._move_numbers[slots] = 0

    @property
    def done(self) -> np.ndarray:
        """``bool [B]``: slots without a live episode (finished, or never reset)."""
        return ~self._live

    @property
    def root_states(self) -> np.ndarray:
        """``int64 [B, S]``: each slot's current state (a copy)."""
        return self.tree.states[:, 0].copy()

    @property
    def move_numbers(self) -> np.ndarray:
        """``int64 [B]``: moves played in each slot's episode since its reset (a copy)."""
        return self._move_numbers.copy()

    # ----- one move -------------------------------------------------------------------------

    def run(self, move_numbers: np.ndarray | None = None, active: np.ndarray | None = None) -> SearchResult:
        """Search every live slot for ``num_simulations`` simulations and choose its move.

        ``move_numbers [B]`` (default: moves played since each slot's reset)
        selects the PUCT temperature. ``active bool [B]`` (default: every slot)
        searches only the live slots it marks; the others are left untouched (no
        network call, no noise drawn) and get action -1. Match play uses it: each
        of two searches runs the slots whose player to move its network controls,
        then both `advance` with the combined moves, which keeps them in sync.
        Call `advance` before searching a slot again.
        """
        config, tree = self.config, self.tree
        live = self._live if active is None else self._live & np.asarray(active, dtype=bool).reshape(self.batch_size)
        rows = np.flatnonzero(live)
        if self._searched[rows].any():
            raise RuntimeError("BatchedSearch.run: these trees were searched already; call advance() between runs")
        self._searched[rows] = True
        self._evaluate_roots(rows[~self._root_evaluated[rows]])
        reused = tree.children[rows, 0, VISITS].sum(axis=1)
        self.policy.root.prepare(rows, tree.children[rows, 0], self._rngs)
        self.proofs.prove_roots(rows)
        searching, simulations = rows, np.zeros(self.batch_size, dtype=np.int64)
        for simulation in range(config.num_simulations):
            searching = self.proofs.unproven(searching)  # a proven root needs no more search
            if len(searching):
                self._simulate(searching, simulation)
                simulations[searching] += 1
        moves = self._move_numbers if move_numbers is None else np.asarray(move_numbers, dtype=np.int64)
        return self._result(rows, reused, simulations, moves)

    def advance(self, actions: np.ndarray) -> None:
        """Play ``actions [B]`` in the live slots (others are ignored) and re-root their trees.

        Every live slot moves, searched by the last `run` or not (a slot left out
        of ``run(active=...)`` plays a move chosen elsewhere, e.g. by the opponent).

        The chosen child's evaluation is kept (no network call for the next
        root); PUCT with ``reuse_tree`` keeps its whole subtree. An action the
        search never expanded (e.g. an opponent's move from elsewhere) is
        stepped with the task and its state evaluated at the next `run`.
        Raises `IllegalActionError` (changing nothing) if an action is illegal.
        """
        tree = self.tree
        actions = np.asarray(actions, dtype=np.int64).reshape(self.batch_size)
        rows = np.flatnonzero(self._live)
        chosen = actions[rows]
        self.task.check_legal(tree.states[rows, 0], chosen)
        evaluated = self._root_evaluated[rows]
        child = np.full(len(rows), -1, dtype=np.int64)
        child[evaluated] = tree.children_index[rows[evaluated], 0, chosen[evaluated]]
        kept = child >= 0
        stepped = rows[~kept]
        new_states = self.task.step(tree.states[stepped, 0], chosen[~kept]) if len(stepped) else None
        if self.config.reuses_subtrees:
            tree.reroot_to_subtree(rows[kept], child[kept], tree.capacity - self.config.num_simulations)
        else:
            tree.reroot_to_node(rows[kept], child[kept])
        self._root_evaluated[rows[kept]] = True
        self._live[rows[kept]] = ~tree.terminal[rows[kept], 0]
        if new_states is not None:
            self._set_roots(stepped, new_states)
        self._move_numbers[rows] += 1
        self._searched[rows] = False

    # ----- internals ----------------------------------------------------------------------

    def _set_roots(self, rows: np.ndarray, states: np.ndarray) -> None:
        """Replace trees ``rows`` by lone, unevaluated roots ``states [k, S]`` (terminal ones valued by outcome)."""
        terminal = self.task.is_terminal(states)
        to_play = self.task.to_play(states) if self.two_player else np.zeros(len(rows), dtype=np.int64)
        self.tree.set_roots(rows, states, to_play, terminal)
        if terminal.any():
            outcome = self.task.outcome(states[terminal])
            self.tree.nodes[rows[terminal], 0, N_RAW_VALUE] = outcome
            self.tree.solved[rows[terminal], 0] = outcome
        self._root_evaluated[rows] = terminal
        self._live[rows] = ~terminal
        self._searched[rows] = False

    def _write(self, rows: np.ndarray, nodes: np.ndarray, evaluation: Evaluation, visits: float) -> None:
        """Write ``evaluation`` of nodes ``(rows, nodes) [k]``; ``visits`` as in `Tree.write_evaluation`."""
        e = evaluation
        self.tree.write_evaluation(rows, nodes, e.to_play, e.terminal, e.value, e.prior, e.log_prior, e.legal, visits)

    def _evaluate_roots(self, rows: np.ndarray) -> None:
        """Evaluate the unevaluated roots of trees ``rows`` (their evaluation counts as their first visit)."""
        if len(rows) == 0:
            return
        # A root is not proven by a decisive move: a proof must rest on an expanded child, which
        # the move is chosen from (the decisive prior makes it the first one expanded).
        self._write(rows, np.zeros_like(rows), self.evaluator(self.tree.states[rows, 0]), 1.0)
        self._root_evaluated[rows] = True

    def _simulate(self, rows: np.ndarray, simulation: int) -> None:
        """One simulation in trees ``rows [k]``: select down to a leaf, expand and evaluate it, back up."""
        tree, proofs, root, interior = self.tree, self.proofs, self.policy.root, self.policy.interior
        active, nodes = rows, np.zeros(len(rows), dtype=np.int64)
        edge_rows, edge_nodes, edge_actions = [], [], []
        new_rows, new_parents, new_actions = [], [], []  # paths ending at an unexpanded edge
        end_rows, end_nodes = [], []  # paths ending at an existing terminal (or proven) node
        depth = 0
        while len(active):
            children, node = tree.children[active, nodes], tree.nodes[active, nodes]  # [k, C, A], [k, 3]
            if depth == 0:
                allowed = proofs.open_children(active, nodes, children) if root.masks_lost else None
                actions = root.select(active, children, node, simulation, allowed)
            else:
                actions = interior(children, node, proofs.open_children(active, nodes, children))
            edge_rows.append(active)
            edge_nodes.append(nodes)
            edge_actions.append(actions)
            child = tree.children_index[active, nodes, actions]
            unexpanded = child < 0
            if unexpanded.any():
                new_rows.append(active[unexpanded])
                new_parents.append(nodes[unexpanded])
                new_actions.append(actions[unexpanded])
                expanded = ~unexpanded
                active, child = active[expanded], child[expanded]
            at_end = proofs.ends_path(active, child)  # terminal nodes end a path, and so do proven ones
            if at_end.any():
                end_rows.append(active[at_end])
                end_nodes.append(child[at_end])
                ongoing = ~at_end
                active, child = active[ongoing], child[ongoing]
            nodes = child
            depth += 1

        if new_rows:
            leaves, parents, actions = (np.concatenate(x) for x in (new_rows, new_parents, new_actions))
            states = self.task.step(tree.states[leaves, parents], actions)
            new_nodes = tree.add_children(leaves, parents, actions, states)
            evaluation = self.evaluator(states)
            self._write(leaves, new_nodes, evaluation, 0.0)
            proofs.mark_decided(leaves, new_nodes, evaluation.decided)
            self._leaf_value[leaves] = evaluation.value
            self._leaf_player[leaves] = evaluation.to_play
        if end_rows:
            ends, end_nodes_ = np.concatenate(end_rows), np.concatenate(end_nodes)
            self._leaf_value[ends] = tree.solved[ends, end_nodes_]  # a terminal's is its outcome
            self._leaf_player[ends] = tree.to_play[ends, end_nodes_]
        tree.backup(
            rows,
            np.concatenate(edge_rows),
            np.concatenate(edge_nodes),
            np.concatenate(edge_actions),
            self._leaf_value,
            self._leaf_player,
            self.two_player,
        )
        proofs.propagate(rows, edge_rows, edge_nodes, edge_actions)

    def _result(
        self, rows: np.ndarray, reused: np.ndarray, simulations: np.ndarray, move_numbers: np.ndarray
    ) -> SearchResult:
        """The chosen actions, policy targets and statistics of the searched trees ``rows``."""
        tree, b, a = self.tree, self.batch_size, self.num_actions
        children = tree.children[rows, 0]  # [k, C, A]
        node = tree.nodes[rows, 0]
        allowed = self.proofs.playable(rows, children)  # [k, A]
        chosen, policy = self.policy.decide(rows, children, node, allowed, move_numbers[rows], self._rngs)
        result = SearchResult(
            actions=np.full(b, -1, dtype=np.int64),
            policy=np.zeros((b, a), dtype=np.float32),
            root_value=np.zeros(b, dtype=np.float32),
            visit_counts=np.zeros((b, a), dtype=np.float32),
            reused_visits=np.zeros(b, dtype=np.int64),
            simulations=simulations,
            proven=np.zeros(b, dtype=bool),
            searched=np.zeros(b, dtype=bool),
            max_depth=np.zeros(b, dtype=np.int64),
            tree_size=np.zeros(b, dtype=np.int64),
        )
        result.actions[rows] = chosen
        result.policy[rows] = policy
        result.root_value[rows] = node[:, N_VALUE_SUM] / node[:, N_VISITS]
        result.visit_counts[rows] = children[:, VISITS]
        result.reused_visits[rows] = np.rint(reused).astype(np.int64)
        result.proven[rows] = ~np.isnan(tree.solved[rows, 0])
        result.searched[rows] = True
        result.max_depth[rows] = tree.max_depth(rows)
        result.tree_size[rows] = tree.num_nodes[rows]
        return result
