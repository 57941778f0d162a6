"""Action selection rules and search targets, as small functions over gathered node rows.

Every function takes the rows of k nodes gathered from the trees (``children
[k, C, A]`` with the channels of `actors.search.tree`, node scalars ``[k]``)
and returns per-node results; none touches the trees.

Q-values here are always from the view of the node's player to move (the
trees store edge value sums from the parent's view).
"""

from __future__ import annotations

import math

import numpy as np

from actors.search.tree import LOG_PRIOR, PENALTY, PRIOR, VALUE_SUM, VISITS

TINY = np.finfo(np.float32).tiny
RESCALE_EPSILON = 1e-8
HALVING_PENALTY = -1.0e9  # for actions off the considered visit count; finite so a legal action always wins


def q_values(children: np.ndarray) -> np.ndarray:
    """``children [k, C, A]`` -> mean edge values ``[k, A]`` (0 where unvisited)."""
    return children[:, VALUE_SUM] / np.maximum(children[:, VISITS], 1.0)


# ----- PUCT -------------------------------------------------------------------------------


def puct_select(
    children: np.ndarray,
    prior: np.ndarray,
    node_visits: np.ndarray,
    node_value: np.ndarray,
    c: float | np.ndarray,
    q_scale: float,
    q_offset: float,
    fpu_reduction: float | None,
    fpu_value: float,
    allowed: np.ndarray | None = None,
) -> np.ndarray:
    """AlphaZero's PUCT argmax over legal actions (over ``allowed [k, A]`` ones when given).

    Args:
        children: ``[k, C, A]`` edge statistics of k nodes.
        prior: ``[k, A]`` prior probabilities (the root's may carry Dirichlet noise).
        node_visits: ``[k]`` N(s), the nodes' visit counts.
        node_value: ``[k]`` the nodes' mean values (own view), for first-play urgency.
        c: exploration coefficient, a scalar or ``[k]``.
        q_scale, q_offset: map values to [0, 1]: ``q * q_scale + q_offset``.
        fpu_reduction: unvisited children get the parent's value (on [0, 1])
            minus this; None to use ``fpu_value`` instead.
        fpu_value: the fixed [0, 1] value of unvisited children when ``fpu_reduction`` is None.

    Returns:
        ``[k]`` int64 actions maximising Q(s, a) + c * P(s, a) * sqrt(N(s)) / (1 + N(s, a)).
    """
    visits = children[:, VISITS]
    q = q_values(children) * q_scale + q_offset
    if fpu_reduction is None:
        unvisited_q = np.float32(fpu_value)
    else:
        unvisited_q = (node_value * q_scale + q_offset - fpu_reduction)[:, None]
    q = np.where(visits > 0, q, unvisited_q)
    exploration = (c * np.sqrt(node_visits))[:, None] * prior / (1.0 + visits)
    return _masked_argmax(q + exploration + children[:, PENALTY], allowed)


def _masked_argmax(scores: np.ndarray, allowed: np.ndarray | None) -> np.ndarray:
    """``[k]`` the argmax of ``scores [k, A]``, over ``allowed [k, A]`` only when given."""
    return (scores if allowed is None else np.where(allowed, scores, -np.inf)).argmax(axis=1)


def exploration_coefficient(node_visits: np.ndarray, c_puct: float, c_base: float, c_init: float) -> float | np.ndarray:
    """c(s): the constant ``c_puct``, or ``c_init + log((1 + N(s) + c_base) / c_base)`` when ``c_base > 0``."""
    if c_base <= 0:
        return c_puct
    return c_init + np.log((1.0 + node_visits + c_base) / c_base)


def add_dirichlet_noise(prior: np.ndarray, legal: np.ndarray, noise: np.ndarray, fraction: float) -> np.ndarray:
    """``(1 - fraction) * prior + fraction * noise`` over the legal actions; ``[A]`` each, noise on the legal ones."""
    noisy = (1.0 - fraction) * prior
    noisy[legal] += fraction * noise
    return noisy


def visit_policy(visits: np.ndarray, allowed: np.ndarray) -> np.ndarray:
    """``visits, allowed [k, A]`` -> the visit distribution ``[k, A]`` (the PUCT policy target).

    A row whose visits are all zero gets the uniform distribution over its ``allowed`` actions.
    """
    total = visits.sum(axis=1, keepdims=True)
    uniform = allowed / np.maximum(allowed.sum(axis=1, keepdims=True), 1)
    return np.where(total > 0, visits / np.maximum(total, 1.0), uniform).astype(np.float32)


def most_visited(visits: np.ndarray, q01: np.ndarray) -> np.ndarray:
    """``[k]``: the most visited action, ties broken by the higher [0, 1] value ``q01 [k, A]``, then the lower index."""
    return (visits + 0.5 * np.clip(q01, 0.0, 1.0) * (visits > 0)).argmax(axis=1)


def sample_with_temperature(weights: np.ndarray, temperature: float, uniform: float) -> int:
    """One action drawn with probability proportional to ``weights [A] ** (1 / temperature)``.

    ``weights`` are visit counts or a distribution (the same draw either way);
    ``uniform`` in [0, 1) is the draw (from the episode's own generator); only
    actions of positive weight can come out.
    """
    visited = weights > 0
    logits = np.where(visited, np.log(np.where(visited, weights, 1.0)) / temperature, -np.inf)
    cumulative = np.cumsum(np.exp(logits - logits.max()))
    action = int(np.searchsorted(cumulative, uniform * cumulative[-1], side="right"))
    return min(action, len(weights) - 1)


# ----- Gumbel ----------------------------------------------------------------------------


def completed_sigma(children: np.ndarray, raw_value: np.ndarray, c_visit: float, c_scale: float) -> np.ndarray:
    """sigma(completedQ): mctx's ``qtransform_completed_by_mix_value`` for k nodes.

    Unvisited actions' Q is completed with the mixed value (raw value and the
    prior-weighted Q of the visited actions, Appendix D of Danihelka et al.),
    the completed Q is rescaled by min-max over the *legal* actions to [0, 1],
    then scaled by ``(c_visit + max_b N(b)) * c_scale``.

    Args:
        children: ``[k, C, A]``, with the PRIOR and PENALTY channels filled.
        raw_value: ``[k]`` the nodes' network values (own view).

    Returns:
        ``[k, A]`` float32 (finite also on illegal actions; mask them separately).
    """
    visits = children[:, VISITS]
    visited = visits > 0
    q = q_values(children)
    total_visits = visits.sum(axis=1)
    visited_prior = np.where(visited, np.maximum(children[:, PRIOR], TINY), 0.0)
    weighted_q = (visited_prior * q).sum(axis=1) / np.maximum(visited_prior.sum(axis=1), TINY)
    mixed_value = (raw_value + total_visits * weighted_q) / (total_visits + 1.0)
    completed = np.where(visited, q, mixed_value[:, None])
    penalty = children[:, PENALTY]
    low = (completed - penalty).min(axis=1, keepdims=True)  # -(-inf): illegal actions never the minimum
    high = (completed + penalty).max(axis=1, keepdims=True)
    rescaled = (completed - low) / np.maximum(high - low, RESCALE_EPSILON)
    return ((c_visit + visits.max(axis=1)) * c_scale)[:, None] * rescaled


def softmax(logits: np.ndarray) -> np.ndarray:
    """Row softmax of ``logits [k, A]`` (-inf entries get probability 0; each row needs a finite entry)."""
    z = np.exp(logits - logits.max(axis=1, keepdims=True))
    return z / z.sum(axis=1, keepdims=True)


def gumbel_interior_select(
    children: np.ndarray, raw_value: np.ndarray, c_visit: float, c_scale: float, allowed: np.ndarray | None = None
) -> np.ndarray:
    """``[k]`` actions: argmax of the improved policy minus the visit fraction (deterministic, legal only,
    ``allowed [k, A]`` only when given; the improved policy is over all legal actions either way).

    ``softmax(log_prior + sigma(completedQ))(a) - N(a) / (1 + sum_b N(b))``.
    """
    visits = children[:, VISITS]
    improved = softmax(children[:, LOG_PRIOR] + completed_sigma(children, raw_value, c_visit, c_scale))
    fraction = visits / (1.0 + visits.sum(axis=1, keepdims=True))
    return _masked_argmax(improved - fraction + children[:, PENALTY], allowed)


def gumbel_root_scores(
    children: np.ndarray,
    raw_value: np.ndarray,
    gumbel: np.ndarray,
    considered_visit: np.ndarray,
    c_visit: float,
    c_scale: float,
) -> np.ndarray:
    """``[k, A]``: g + log_prior + sigma(completedQ), off by 1e9 unless N(a) == ``considered_visit [k]``; -inf illegal.

    Sequential halving in one argmax: the actions still considered are exactly
    those whose visit count equals the count the halving schedule is at.
    """
    visits = children[:, VISITS]
    score = gumbel + children[:, LOG_PRIOR] + completed_sigma(children, raw_value, c_visit, c_scale)
    return score + np.where(visits == considered_visit[:, None], 0.0, HALVING_PENALTY)


def considered_visit_sequence(max_considered: int, num_simulations: int) -> list[int]:
    """The visit count each simulation of sequential halving targets, for ``max_considered`` actions.

    Each phase gives every considered action ``max(1, floor(n / (ceil(log2 m) * considered)))``
    more visits, then halves the considered actions (to at least 2), until the budget is spent.
    """
    if max_considered <= 1:
        return list(range(num_simulations))
    phases = math.ceil(math.log2(max_considered))
    sequence: list[int] = []
    visits = [0] * max_considered
    considered = max_considered
    while len(sequence) < num_simulations:
        extra = max(1, int(num_simulations / (phases * considered)))
        for _ in range(extra):
            sequence.extend(visits[:considered])
            for i in range(considered):
                visits[i] += 1
        considered = max(2, considered // 2)
    return sequence[:num_simulations]


def considered_visit_table(max_considered: int, num_simulations: int) -> np.ndarray:
    """``float32 [max_considered + 1, num_simulations]`` (whole numbers): row m is the sequence for m actions."""
    return np.array(
        [considered_visit_sequence(m, num_simulations) for m in range(max_considered + 1)], dtype=np.float32
    ).reshape(max_considered + 1, num_simulations)
