"""`elo_difference`: the Elo difference a match score implies and its 95% interval, against hand computation."""

from __future__ import annotations

import json
import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from actors.evaluator import EloEstimate, elo_difference


def elo_of(score: float) -> float:
    return -400.0 * math.log10(1.0 / score - 1.0)


def test_hand_computed_values():
    # 60 / 20 / 20: s = 0.7, Elo = 400 log10(7/3) = 147.19. Per-game variance
    # (60 * 0.3^2 + 20 * 0.2^2 + 20 * 0.7^2) / 100 = 0.16, so s -/+ 1.96 * 0.4 / 10 = 0.6216, 0.7784.
    assert elo_difference(60, 20, 20) == pytest.approx((147.19, 86.22, 218.25), abs=0.01)
    assert elo_difference(60, 20, 20) == pytest.approx((elo_of(0.7), elo_of(0.6216), elo_of(0.7784)))
    # 50 / 0 / 50: s = 1/2, Elo 0; variance 0.25, so s -/+ 1.96 * 0.05: a symmetric interval of 68.99.
    assert elo_difference(50, 0, 50) == pytest.approx((0.0, -68.99, 68.99), abs=0.01)
    # A 60% score (50 / 20 / 30): 400 log10(1.5) = 70.44.
    assert elo_difference(50, 20, 30).elo == pytest.approx(70.44, abs=0.01)
    assert isinstance(elo_difference(1, 2, 3), EloEstimate)


def test_the_other_side_sees_the_negated_difference():
    elo, low, high = elo_difference(20, 20, 60)
    assert (elo, low, high) == pytest.approx((-147.19, -218.25, -86.22), abs=0.01)
    mirrored = elo_difference(60, 20, 20)
    assert (elo, low, high) == pytest.approx((-mirrored.elo, -mirrored.high, -mirrored.low))


def test_clean_sweeps_are_finite_grow_with_the_games_and_have_an_interval():
    # 4 / 0 / 0 is counted as 4 / 1 / 0: s = 0.9 (400 log10 9 = 381.70); variance
    # (4 * 0.1^2 + 0.4^2) / 5 = 0.04, low bound 0.9 - 1.96 sqrt(0.04 / 5) = 0.7247; the
    # high bound is clipped to a clean sweep of 5 games, 5.5 / 6 (400 log10 11 = 416.56).
    assert elo_difference(4, 0, 0) == pytest.approx((381.70, 168.13, 416.56), abs=0.01)
    assert elo_difference(0, 0, 4) == pytest.approx((-381.70, -416.56, -168.13), abs=0.01)
    sweeps = [elo_difference(n, 0, 0).elo for n in (1, 2, 10, 40)]
    assert sweeps == sorted(sweeps) and sweeps[0] > 0 and math.isfinite(sweeps[-1])
    assert sweeps[-1] == pytest.approx(elo_of(40.5 / 41))
    json.dumps(elo_difference(40, 0, 0), allow_nan=False)  # records stay strict JSON


def test_identical_results_without_a_decisive_game_have_a_point_interval():
    assert elo_difference(0, 20, 0) == (0.0, 0.0, 0.0)
    assert elo_difference(0, 1, 0) == (0.0, 0.0, 0.0)


@pytest.mark.parametrize("counts", [(0, 0, 0), (-1, 2, 3), (2, -1, 3), (2, 3, -1)])
def test_no_games_or_negative_counts_are_errors(counts):
    with pytest.raises(ValueError, match="elo_difference"):
        elo_difference(*counts)


@given(st.integers(0, 60), st.integers(0, 60), st.integers(0, 60))
def test_the_estimate_is_finite_inside_its_interval_and_signed_as_the_score(wins, draws, losses):
    if wins + draws + losses == 0:
        return
    elo, low, high = elo_difference(wins, draws, losses)
    assert all(math.isfinite(x) for x in (elo, low, high))
    assert low <= elo <= high
    assert (elo > 0.0) == (wins > losses) and (elo < 0.0) == (wins < losses)  # score above / below one half
