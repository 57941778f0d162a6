"""The evaluator's statistics: significance tests, early stopping, per-part verdicts and Elo.

Pure arithmetic on counts (imports neither numpy, torch nor Ray), so every rule the
gate applies can be checked by hand:

- puzzles: an exact one-sided sign test on the discordant pairs (instances only
  one side solved), `sign_test_p_value` and `puzzle_verdict`;
- games: the match score ``(wins + draws / 2) / games`` against a threshold
  (`meets_threshold`), Wald's SPRT on the expected score (`sprt_bounds`,
  `sprt_llr`) for stopping early (`early_stop`), and `game_verdict`;
- `elo_difference`: the Elo difference a score implies, with a 95% interval.
"""

from __future__ import annotations

import math
from typing import NamedTuple

from actors.evaluator.config import EvaluationConfig

_EPS = 1e-9  # score comparisons: 0.55 * 40 is 22.000000000000004 in floating point
_Z95 = 1.96  # the two-sided 95% quantile of the normal distribution


def sign_test_p_value(successes: int, failures: int) -> float:
    """One-sided exact sign test: ``P(X >= successes)`` for ``X ~ Binomial(successes + failures, 1/2)``.

    Applied to discordant pairs (instances only one side solved), it is the
    probability of at least this many candidate-only solves if neither side were better.
    """
    n = successes + failures
    if n == 0:
        return 1.0
    return sum(math.comb(n, k) for k in range(successes, n + 1)) / 2.0**n


def sprt_bounds(alpha: float, beta: float) -> tuple[float, float]:
    """Wald's (lower, upper) log-likelihood-ratio bounds: reject H1 at or below lower, accept at or above upper."""
    return math.log(beta / (1.0 - alpha)), math.log((1.0 - beta) / alpha)


def _score_moments(wins: float, draws: float, losses: float) -> tuple[float, float]:
    """(mean, variance) of one game's score (1, 1/2 or 0) under the frequencies of these results."""
    total = wins + draws + losses
    mean = (wins + draws / 2) / total
    var = (wins * (1.0 - mean) ** 2 + draws * (0.5 - mean) ** 2 + losses * mean**2) / total
    return mean, var


def sprt_llr(wins: int, draws: int, losses: int, p0: float, p1: float) -> float:
    """Approximate log-likelihood ratio of H1 (expected score ``p1``) against H0 (``p0``) after these games.

    The normal approximation used by engine testing (``n (p1 - p0) (2 mean - p0 - p1) / (2 var)``,
    with the per-game score variance ``var``). The variance counts half a pseudo-game
    of each result, so that a run of identical results (say, all draws) does not
    make it zero.
    """
    n = wins + draws + losses
    if n == 0:
        return 0.0
    mean = (wins + draws / 2) / n
    _, var = _score_moments(wins + 0.5, draws + 0.5, losses + 0.5)
    return n * (p1 - p0) * (2.0 * mean - p0 - p1) / (2.0 * var)


def meets_threshold(points: float, games: int, threshold: float) -> bool:
    """Whether ``points`` over ``games`` is a score of at least ``threshold``."""
    return games > 0 and points >= threshold * games - _EPS


def early_stop(
    wins: int, draws: int, losses: int, total_games: int, config: EvaluationConfig
) -> tuple[str, str] | None:
    """``(decision, rule)`` if the match may stop after these games, None to play on.

    decision is "accept" or "reject"; rule is "decided" (the final score's side
    of the threshold is already certain, whatever the remaining games give) or
    "sprt" (the SPRT crossed a bound).
    """
    if config.early_stop == "none":
        return None
    played = wins + draws + losses
    points = wins + draws / 2
    if meets_threshold(points, total_games, config.win_rate_threshold):
        return "accept", "decided"
    # Even winning every remaining game would not reach the threshold.
    if not meets_threshold(points + (total_games - played), total_games, config.win_rate_threshold):
        return "reject", "decided"
    if config.early_stop == "sprt":
        lower, upper = sprt_bounds(config.sprt_alpha, config.sprt_beta)
        llr = sprt_llr(wins, draws, losses, config.sprt_p0, config.sprt_p1)
        if llr >= upper:
            return "accept", "sprt"
        if llr <= lower:
            return "reject", "sprt"
    return None


def game_verdict(accepted: bool, score: float, threshold: float) -> str:
    """The verdict of a game part: "pass" if its match was accepted, "worse" if the best would have
    passed the same threshold (score ``<= 1 - threshold``), "neutral" otherwise."""
    if accepted:
        return "pass"
    return "worse" if score <= 1.0 - threshold + _EPS else "neutral"


def puzzle_verdict(candidate_only: int, best_only: int, significance: float) -> tuple[str, float, float]:
    """(verdict, p_better, p_worse) of the paired sign test on discordant instances."""
    p_better = sign_test_p_value(candidate_only, best_only)
    p_worse = sign_test_p_value(best_only, candidate_only)
    if p_better <= significance:
        return "pass", p_better, p_worse
    if p_worse <= significance:
        return "worse", p_better, p_worse
    return "neutral", p_better, p_worse


class EloEstimate(NamedTuple):
    """An Elo difference (positive: the first side is stronger) and its 95% interval ``[low, high]``."""

    elo: float
    low: float
    high: float


def elo_difference(wins: int, draws: int, losses: int) -> EloEstimate:
    """The Elo difference implied by a match score, with a 95% confidence interval.

    As chess engine testers compute it (cutechess-cli, fishtest): the score
    ``s = (wins + draws / 2) / n`` maps to ``-400 log10(1 / s - 1)``, and the interval
    maps ``s -/+ 1.96 sqrt(var / n)``, with ``var`` the per-game score variance of the
    observed win / draw / loss frequencies (trinomial).

    A score of 0 or 1 would mean an infinite difference, so a clean sweep of ``n``
    games is counted as if one more game had been drawn (score ``1 - 1 / (2 (n + 1))``):
    the estimate stays finite (JSON-ready) and grows with the evidence (10 wins of
    10: +529; 40 of 40: +763), and its interval gets a width. Interval bounds are
    clipped to the same limit: what a clean sweep of as many games as were counted
    would give. Where every game had the same non-decisive result (all draws) there
    is no observed variance and the interval is the point: read it with the game count.
    Raises ValueError without games or with a negative count.
    """
    if min(wins, draws, losses) < 0 or wins + draws + losses == 0:
        raise ValueError(f"elo_difference: expected counts >= 0 and at least one game, got {wins}, {draws}, {losses}")
    if wins + draws == 0 or draws + losses == 0:
        draws += 1  # a clean sweep: see above
    games = wins + draws + losses
    score, var = _score_moments(wins, draws, losses)
    margin = _Z95 * math.sqrt(var / games)
    edge = 1.0 / (2 * (games + 1))

    def elo(s: float) -> float:
        s = min(max(s, edge), 1.0 - edge)
        return 400.0 * math.log10(s / (1.0 - s))  # = -400 log10(1 / s - 1), and +0.0 at s = 1/2

    return EloEstimate(elo(score), elo(score - margin), elo(score + margin))
