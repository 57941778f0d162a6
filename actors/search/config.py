"""`SearchConfig`: the knobs of batched tree search, with constraints in field metadata.

The constraints use the plain metadata keys the project's config loader reads
(``min``, ``max``, ``exclusive_min``, ``choices``); `SearchConfig.__post_init__`
checks the same constraints when the dataclass is built directly.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from common.fields import check_fields

ALGORITHMS = ("puct", "gumbel")
FPU_MODES = ("reduction", "fixed")


@dataclass
class SearchConfig:
    """How `BatchedSearch` searches.

    Values are seen by PUCT on a [0, 1] scale (AlphaZero's pseudocode range):
    a two-player value q in [-1, 1] enters the PUCT formula as (q + 1) / 2, a
    single-player value (already in [0, 1]) as is, so one ``c_puct`` and one
    ``fpu_reduction`` suit both kinds of task.

    Attributes:
        algorithm: "puct" (AlphaZero) or "gumbel" (Gumbel MuZero's root
            sequential halving with completed-Q interior selection).
        num_simulations: simulations per move; each adds at most one node per tree.
        c_puct: PUCT exploration constant, used when ``c_base == 0``.
        c_base: with ``c_base > 0`` the exploration coefficient grows with the
            parent's visits N as ``c_init + log((1 + N + c_base) / c_base)``
            (AlphaZero: c_base 19652, c_init 1.25); 0 uses the constant ``c_puct``.
        c_init: see ``c_base``.
        dirichlet_alpha: concentration of the root noise (PUCT only).
        dirichlet_fraction: weight of the Dirichlet noise mixed into the root
            prior over the legal actions (PUCT only); 0 disables the noise.
        fpu: first-play urgency, the Q that PUCT assumes for an unvisited child:
            "reduction" = the parent's current mean value minus ``fpu_reduction``,
            "fixed" = ``fpu_value``; both on the [0, 1] scale.
        fpu_reduction: see ``fpu``.
        fpu_value: see ``fpu``.
        temperature_init: PUCT action temperature for the first
            ``temperature_moves`` moves of an episode (move numbers 0 ..
            temperature_moves - 1); the action is drawn with probabilities
            proportional to visits ** (1 / temperature).
        temperature_final: PUCT temperature afterwards; 0 = the most visited
            action (ties broken by the higher mean value, then the lower index).
        temperature_moves: see ``temperature_init``.
        reuse_tree: PUCT keeps the chosen child's subtree as the next root's
            tree (Gumbel always starts a fresh tree: sequential halving needs
            its whole budget at an unvisited root; it still reuses the chosen
            child's network evaluation).
        reuse_max_nodes: a reused subtree keeps its root and at most this many
            nodes below it (the earliest allocated, which keeps it a tree; an
            edge whose child is dropped keeps its statistics); 0 means
            ``num_simulations``. Each tree holds ``1 + num_simulations +
            reuse_max_nodes`` nodes when reusing, ``1 + num_simulations`` otherwise.
            Memory per tree: about ``nodes * (S * 8 + A * (4 * channels + 4))`` bytes
            with 4 float32 channels per edge for PUCT, 5 for Gumbel.
        proofs: back up exact values (MCTS-Solver, Winands et al. 2008): a node
            with a child proven to win, or with every legal child proven, is proven
            itself; simulations stop at proven nodes, selection passes over children
            proven to lose, a tree stops searching once its root is proven, and the move
            and policy target keep to the proven-best actions (never to one proven to
            lose while another is not).
        decisive_moves: look one move ahead of every evaluated state (Teytaud and
            Teytaud's decisive moves): where a legal move ends the episode with the best
            outcome at once, the state's value is that outcome (with ``proofs``, proven,
            except at the root, whose proof waits for the move's child) and its prior
            is on such moves alone. A network rarely learns the value of positions good
            play avoids (an opponent's open win that play always blocks); this finds
            them at one batched ``task.step`` per evaluation.
        max_num_considered_actions: Gumbel-Top-k size at the root.
        gumbel_scale: scale of the root Gumbel noise; 0 for deterministic evaluation.
        gumbel_c_visit: c_visit of sigma(q) = (c_visit + max_b N(b)) * c_scale * q.
        gumbel_c_scale: c_scale of sigma, see ``gumbel_c_visit``.
    """

    algorithm: str = field(default="puct", metadata={"choices": ALGORITHMS})
    num_simulations: int = field(default=32, metadata={"min": 1})
    c_puct: float = field(default=1.25, metadata={"min": 0.0})
    c_base: float = field(default=0.0, metadata={"min": 0.0})
    c_init: float = field(default=1.25, metadata={"min": 0.0})
    dirichlet_alpha: float = field(default=0.3, metadata={"min": 0.0, "exclusive_min": True})
    dirichlet_fraction: float = field(default=0.25, metadata={"min": 0.0, "max": 1.0})
    fpu: str = field(default="reduction", metadata={"choices": FPU_MODES})
    fpu_reduction: float = field(default=0.1, metadata={"min": 0.0})
    fpu_value: float = field(default=0.0, metadata={"min": 0.0, "max": 1.0})
    temperature_init: float = field(default=1.0, metadata={"min": 0.0})
    temperature_final: float = field(default=0.0, metadata={"min": 0.0})
    temperature_moves: int = field(default=8, metadata={"min": 0})
    reuse_tree: bool = True
    reuse_max_nodes: int = field(default=0, metadata={"min": 0})
    proofs: bool = True
    decisive_moves: bool = True
    max_num_considered_actions: int = field(default=16, metadata={"min": 1})
    gumbel_scale: float = field(default=1.0, metadata={"min": 0.0})
    gumbel_c_visit: float = field(default=50.0, metadata={"min": 0.0})
    gumbel_c_scale: float = field(default=1.0, metadata={"min": 0.0})

    def __post_init__(self) -> None:
        check_fields(self, "search")

    def with_overrides(self, overrides: dict[str, Any]) -> SearchConfig:
        """A copy with some fields replaced (a task kind's own search settings); checked like the original.

        `cluster.config.load_config` has already named any unknown or out-of-range key against the file.
        """
        return replace(self, **overrides) if overrides else self

    @property
    def reuses_subtrees(self) -> bool:
        """Whether `BatchedSearch.advance` keeps the chosen child's subtree (PUCT with ``reuse_tree``)."""
        return self.algorithm == "puct" and self.reuse_tree

    @property
    def tree_capacity(self) -> int:
        """Nodes per tree: the root, one per simulation, and the kept part of a reused subtree."""
        kept = (self.reuse_max_nodes or self.num_simulations) if self.reuses_subtrees else 0
        return 1 + self.num_simulations + kept
