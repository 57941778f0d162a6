"""`BatchedSearch`: PUCT or Gumbel tree search over B episodes of one task kind, in lockstep.

Each simulation walks all B trees down together (a Python loop over depth,
numpy over the trees still descending), expands one leaf per tree with one
batched ``task.step``, evaluates all new non-terminal leaves with ONE network
call, and backs the values up along every path with a few fancy-indexed adds.

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

import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from actors.search import selection as sel
from actors.search.config import SearchConfig
from actors.search.tree import (
    LOG_PRIOR,
    LOG_PRIOR_FLOOR,
    N_RAW_VALUE,
    N_VALUE_SUM,
    N_VISITS,
    PENALTY,
    PRIOR,
    VISITS,
    WIN_VALUE,
    Tree,
)
from actors.tasks.base import IllegalActionError, Task

# network(tokens int64 [B, L], task_ids int64 [B]) -> (policy_logits float32 [B, A'], value float32 [B]), A' >= A.
Network = Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]


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
        self.network = network
        self.config = config = config or SearchConfig()
        self.batch_size = b = int(batch_size)
        self.num_actions = a = task.spec.num_actions
        self.two_player = task.spec.num_players == 2
        self.gumbel = config.algorithm == "gumbel"
        # PUCT sees values on [0, 1]: two-player values in [-1, 1] map by (q + 1) / 2.
        self.q_scale, self.q_offset = (0.5, 0.5) if self.two_player else (1.0, 0.0)
        self.tree = Tree(b, config.tree_capacity, a, task.spec.state_size, log_priors=self.gumbel)
        self._task_ids = np.full(b, task_id, dtype=np.int64)
        self._rngs: list[np.random.Generator | None] = [None] * b
        self._live = np.zeros(b, dtype=bool)
        self._root_evaluated = np.zeros(b, dtype=bool)
        self._searched = np.zeros(b, dtype=bool)  # searched since the last advance / reset
        self._move_numbers = np.zeros(b, dtype=np.int64)
        self._root_prior = np.zeros((b, a), dtype=np.float32)  # PUCT: the root prior with Dirichlet noise
        self._gumbel = np.zeros((b, a), dtype=np.float32)  # Gumbel: the root's noise for this move
        self._num_considered = np.zeros(b, dtype=np.int64)
        self._halving = sel.considered_visit_table(config.max_num_considered_actions, config.num_simulations)
        self._leaf_value = np.zeros(b, dtype=np.float32)
        self._leaf_player = np.zeros(b, dtype=np.int64)
        self.network_calls = 0
        self.network_rows = 0
        self.network_seconds = 0.0

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
        self._prepare_roots(rows)
        if config.proofs and len(rows):
            tree.solved[rows, 0] = np.nan  # re-proved from the children a reused tree kept
            tree.prove(rows, np.zeros_like(rows), self.two_player)
        searching, simulations = rows, np.zeros(self.batch_size, dtype=np.int64)
        for simulation in range(config.num_simulations):
            if config.proofs:
                searching = searching[np.isnan(tree.solved[searching, 0])]  # a proven root needs no more search
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

    def _call_network(self, tokens: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The network on ``tokens [k, L]``: logits ``float32 [k, A]`` (sliced from A'), values ``float32 [k]``."""
        k = len(tokens)
        start = time.perf_counter()
        logits, value = self.network(tokens, self._task_ids[:k])
        self.network_seconds += time.perf_counter() - start
        self.network_calls += 1
        self.network_rows += k
        logits = np.asarray(logits, dtype=np.float32)
        if logits.ndim != 2 or logits.shape[0] != k or logits.shape[1] < self.num_actions:
            raise ValueError(f"network returned logits of shape {logits.shape}, expected ({k}, >= {self.num_actions})")
        return logits[:, : self.num_actions], np.asarray(value, dtype=np.float32).reshape(k)

    def _evaluate(self, states: np.ndarray) -> tuple[np.ndarray, ...]:
        """Evaluate ``states [k, S]``: terminal ones by the task's outcome, the others with one network call.

        Returns ``to_play [k], terminal [k], value [k], prior [k, A], log_prior [k, A] | None, legal [k, A],
        decided [k]``, the last true where a decisive move (``decisive_moves``) set the value to `WIN_VALUE`.
        """
        task, k, a = self.task, len(states), self.num_actions
        terminal = task.is_terminal(states)
        legal = task.legal_mask(states)
        to_play = task.to_play(states) if self.two_player else np.zeros(k, dtype=np.int64)
        value = np.zeros(k, dtype=np.float32)
        prior = np.zeros((k, a), dtype=np.float32)
        log_prior = np.full((k, a), -np.inf, dtype=np.float32) if self.gumbel else None
        decided = np.zeros(k, dtype=bool)
        if terminal.any():
            value[terminal] = task.outcome(states[terminal])
        live = ~terminal
        num_live = int(live.sum())
        if num_live:
            all_live = num_live == k
            live_legal = legal if all_live else legal[live]
            if not live_legal.any(axis=1).all():
                raise IllegalActionError(f"{task.name}: a non-terminal state has no legal action")
            live_states = states if all_live else states[live]
            logits, live_value = self._call_network(task.encode(live_states))
            if self.config.decisive_moves:
                decisive = self._decisive_moves(live_states, live_legal)
                wins = decisive.any(axis=1)
                if wins.any():
                    logits = np.where(wins[:, None], np.where(decisive, 0.0, LOG_PRIOR_FLOOR), logits)  # prior on them
                    live_value = np.where(wins, np.float32(WIN_VALUE), live_value)
                    decided[live] = wins
            live_prior, live_log_prior = _masked_softmax(logits, live_legal, self.gumbel)
            if all_live:
                value, prior = live_value, live_prior
                if log_prior is not None:
                    log_prior = live_log_prior
            else:
                value[live], prior[live] = live_value, live_prior
                if log_prior is not None:
                    log_prior[live] = live_log_prior
        return to_play, terminal, value, prior, log_prior, legal, decided

    def _decisive_moves(self, states: np.ndarray, legal: np.ndarray) -> np.ndarray:
        """``bool [k, A]``: the legal moves of the non-terminal ``states [k, S]`` that end the episode
        at once with the best outcome (`WIN_VALUE`) for the player making them."""
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

    def _evaluate_roots(self, rows: np.ndarray) -> None:
        """Evaluate the unevaluated roots of trees ``rows`` (their evaluation counts as their first visit)."""
        if len(rows) == 0:
            return
        # A root is not proven by a decisive move: a proof must rest on an expanded child, which
        # the move is chosen from (the decisive prior makes it the first one expanded).
        to_play, terminal, value, prior, log_prior, legal, _ = self._evaluate(self.tree.states[rows, 0])
        self.tree.write_evaluation(rows, np.zeros_like(rows), to_play, terminal, value, prior, log_prior, legal, 1.0)
        self._root_evaluated[rows] = True

    def _prepare_roots(self, rows: np.ndarray) -> None:
        """Draw this move's root noise per slot: Dirichlet into the PUCT prior, or the Gumbel vector."""
        config, tree = self.config, self.tree
        legal = tree.children[rows, 0, PENALTY] == 0.0  # [k, A]
        if self.gumbel:
            self._num_considered[rows] = np.minimum(config.max_num_considered_actions, legal.sum(axis=1))
            for row in rows.tolist():
                self._gumbel[row] = config.gumbel_scale * self._rngs[row].gumbel(size=self.num_actions)
            return
        self._root_prior[rows] = tree.children[rows, 0, PRIOR]
        if config.dirichlet_fraction > 0:
            for i, row in enumerate(rows.tolist()):
                noise = self._rngs[row].dirichlet(np.full(int(legal[i].sum()), config.dirichlet_alpha))
                self._root_prior[row] = sel.add_dirichlet_noise(
                    self._root_prior[row], legal[i], noise, config.dirichlet_fraction
                )

    def _select(self, rows: np.ndarray, nodes: np.ndarray, depth: int, simulation: int) -> np.ndarray:
        """``[k]`` the action chosen at node ``nodes [k]`` of trees ``rows [k]`` (all roots when ``depth == 0``)."""
        config, tree = self.config, self.tree
        children = tree.children[rows, nodes]  # [k, C, A]
        node = tree.nodes[rows, nodes]  # [k, 3]
        open_ = None
        if config.proofs and not (self.gumbel and depth == 0):
            # MCTS-Solver: a child proven to lose is not selected while another is open; its exact Q
            # alone would not outweigh a large prior, which keeps drawing visits that only confirm
            # the loss while the move that matters goes unvisited. (Its Q still counts where values
            # are compared, e.g. in Gumbel's completed-Q scale; the Gumbel root keeps its halving
            # schedule, which drops a lost action once its Q is seen, so it needs no mask.)
            legal = children[:, PENALTY] == 0.0
            open_ = _not_lost(tree.exact_child_values(rows, nodes, self.two_player), legal, self.two_player)
        if self.gumbel:
            raw_value = node[:, N_RAW_VALUE]
            if depth == 0:
                considered = self._halving[self._num_considered[rows], simulation]
                scores = sel.gumbel_root_scores(
                    children, raw_value, self._gumbel[rows], considered, config.gumbel_c_visit, config.gumbel_c_scale
                )
                return scores.argmax(axis=1)
            return sel.gumbel_interior_select(
                children, raw_value, config.gumbel_c_visit, config.gumbel_c_scale, allowed=open_
            )
        visits = node[:, N_VISITS]
        prior = self._root_prior[rows] if depth == 0 else children[:, PRIOR]
        return sel.puct_select(
            children,
            prior,
            visits,
            node[:, N_VALUE_SUM] / visits,
            sel.exploration_coefficient(visits, config.c_puct, config.c_base, config.c_init),
            self.q_scale,
            self.q_offset,
            config.fpu_reduction if config.fpu == "reduction" else None,
            config.fpu_value,
            allowed=open_,
        )

    def _simulate(self, rows: np.ndarray, simulation: int) -> None:
        """One simulation in trees ``rows [k]``: select down to a leaf, expand and evaluate it, back up."""
        tree = self.tree
        active, nodes = rows, np.zeros(len(rows), dtype=np.int64)
        edge_rows, edge_nodes, edge_actions = [], [], []
        new_rows, new_parents, new_actions = [], [], []  # paths ending at an unexpanded edge
        end_rows, end_nodes = [], []  # paths ending at an existing terminal node
        depth = 0
        while len(active):
            actions = self._select(active, nodes, depth, simulation)
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
            # Terminal nodes end a path, and so do proven ones: their value is exact already.
            at_terminal = ~np.isnan(tree.solved[active, child]) if self.config.proofs else tree.terminal[active, child]
            if at_terminal.any():
                end_rows.append(active[at_terminal])
                end_nodes.append(child[at_terminal])
                ongoing = ~at_terminal
                active, child = active[ongoing], child[ongoing]
            nodes = child
            depth += 1

        if new_rows:
            leaves, parents, actions = (np.concatenate(x) for x in (new_rows, new_parents, new_actions))
            states = self.task.step(tree.states[leaves, parents], actions)
            new_nodes = tree.add_children(leaves, parents, actions, states)
            to_play, terminal, value, prior, log_prior, legal, decided = self._evaluate(states)
            tree.write_evaluation(leaves, new_nodes, to_play, terminal, value, prior, log_prior, legal, 0.0)
            if self.config.proofs:
                # Proven at once: later paths end here instead of re-visiting to expand the winning move.
                tree.solved[leaves[decided], new_nodes[decided]] = WIN_VALUE
            self._leaf_value[leaves] = value
            self._leaf_player[leaves] = to_play
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
        if self.config.proofs:
            tree.propagate_proofs(rows, list(zip(edge_rows, edge_nodes, edge_actions, strict=True)), self.two_player)

    def _playable(self, rows: np.ndarray) -> np.ndarray:
        """``bool [k, A]``: the root actions the move and the policy target keep to.

        Without proofs, the legal ones. With proofs: at a proven root, the children
        proven to reach its value; otherwise the legal actions not proven to lose
        (all of them when every one is).
        """
        tree = self.tree
        legal = tree.children[rows, 0, PENALTY] == 0.0
        if not self.config.proofs:
            return legal
        values = tree.exact_child_values(rows, np.zeros_like(rows), self.two_player)
        root_value = tree.solved[rows, 0]
        best = legal & (values == root_value[:, None])  # NaN compares False
        return np.where(np.isnan(root_value)[:, None], _not_lost(values, legal, self.two_player), best)

    def _result(
        self, rows: np.ndarray, reused: np.ndarray, simulations: np.ndarray, move_numbers: np.ndarray
    ) -> SearchResult:
        """The chosen actions, policy targets and statistics of the searched trees ``rows``."""
        config, tree, b, a = self.config, self.tree, self.batch_size, self.num_actions
        children = tree.children[rows, 0]  # [k, C, A]
        node = tree.nodes[rows, 0]
        visits = children[:, VISITS]
        allowed = self._playable(rows)  # [k, A]
        if self.gumbel:
            logits = children[:, LOG_PRIOR] + sel.completed_sigma(
                children, node[:, N_RAW_VALUE], config.gumbel_c_visit, config.gumbel_c_scale
            )
            logits = np.where(allowed, logits, -np.inf)
            policy = sel.softmax(logits) if len(rows) else np.zeros((0, a), dtype=np.float32)
            most = np.where(allowed, visits, -1.0).max(axis=1, keepdims=True)
            on_schedule = allowed & (visits == most)
            chosen = (self._gumbel[rows] + logits + np.where(on_schedule, 0.0, sel.HALVING_PENALTY)).argmax(axis=1)
        else:
            policy = sel.visit_policy(np.where(allowed, visits, 0.0), allowed)
            q01 = sel.q_values(children) * self.q_scale + self.q_offset
            chosen = sel.most_visited(np.where(allowed, visits, -1.0), q01)
            temperature = np.where(
                move_numbers[rows] < config.temperature_moves, config.temperature_init, config.temperature_final
            )
            for i in np.flatnonzero(temperature > 0).tolist():
                uniform = self._rngs[rows[i]].random()
                chosen[i] = sel.sample_with_temperature(policy[i], float(temperature[i]), uniform)

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
        result.visit_counts[rows] = visits
        result.reused_visits[rows] = np.rint(reused).astype(np.int64)
        result.proven[rows] = ~np.isnan(tree.solved[rows, 0])
        result.searched[rows] = True
        result.max_depth[rows] = tree.max_depth(rows)
        result.tree_size[rows] = tree.num_nodes[rows]
        return result


def _loss_value(two_player: bool) -> float:
    """The worst outcome: a loss in a two-player game, a failure in a puzzle (task contract)."""
    return -1.0 if two_player else 0.0


def _not_lost(values: np.ndarray, legal: np.ndarray, two_player: bool) -> np.ndarray:
    """``bool [k, A]``: the legal children whose proven value ``values [k, A]`` (NaN: open) is not a loss;
    every legal child in rows where all are lost."""
    not_lost = legal & ~(values <= _loss_value(two_player))
    return not_lost | (legal & ~not_lost.any(axis=1, keepdims=True))


def _masked_softmax(logits: np.ndarray, legal: np.ndarray, with_log: bool) -> tuple[np.ndarray, np.ndarray | None]:
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
