"""Batched Monte Carlo tree search (PUCT and Gumbel) over B episodes of one task kind in lockstep.

- `SearchConfig` (config.py): the knobs, with loader constraints in field metadata;
- `BatchedSearch`, `SearchResult` (batched.py): the slots and the one search loop, and its per-move output;
- policies.py: the parts of an algorithm (root policy, interior selection, move and policy-target
  rule) as small objects, one `SearchPolicy` per ``SearchConfig.algorithm``, passed to the loop;
- proofs.py: proof handling (MCTS-Solver) in one place, `Proofs` or `NoProofs`;
- evaluation.py: states -> evaluations with one network call, with the optional decisive-move step;
- `Tree` (tree.py): B trees in preallocated arrays, updated in place;
- selection.py: PUCT / Gumbel selection rules and policy targets over gathered rows (pure functions);
- `uniform_network`, `oracle_network` (evaluators.py): evaluators needing no training.
"""

from actors.search.batched import BatchedSearch, Network, SearchResult
from actors.search.config import SearchConfig
from actors.search.evaluators import oracle_network, uniform_network
from actors.search.tree import Tree

__all__ = [
    "BatchedSearch",
    "Network",
    "SearchConfig",
    "SearchResult",
    "Tree",
    "oracle_network",
    "uniform_network",
]
