"""The exact Connect Four solver: Pons' scores against plain exhaustive search, known positions, self-consistency,
and the plies to the end a score means (checked by playing perfect play out)."""

from __future__ import annotations

import numpy as np
import pytest

from actors.tasks.connect4 import CELLS, COLS, MOVES, TO_PLAY, WINNER, ConnectFour
from actors.tasks.connect4_solver import (
    MAX_SCORE,
    MIN_SCORE,
    Connect4Solver,
    best_moves,
    move_scores,
    plies_to_end,
    position_score,
    state_bitboards,
)

TASK = ConnectFour()
SOLVER = Connect4Solver()
_H1 = 7
_BOTTOM = sum(1 << (c * _H1) for c in range(COLS))
_BOARD = _BOTTOM * 0b111111
# A legal order filling the board without four in a row (tests/tasks/test_connect4.py), leaving the top of column 0.
DRAW_ORDER = [4, 3, 3, 3, 3, 3, 3, 2, 2, 2, 2, 2, 2, 4, 4, 4, 4, 4, 1, 1, 1, 1, 1, 1]
DRAW_ORDER += [5, 5, 5, 5, 5, 5, 0, 0, 0, 0, 0, 6, 6, 6, 6, 6, 6]


def play(columns: list[int]) -> np.ndarray:
    return TASK.play(TASK.empty_state(), columns)


def pons(sequence: str) -> np.ndarray:
    """A position in Pons' notation: the columns played, 1-based."""
    return play([int(c) - 1 for c in sequence])


def over(state: np.ndarray) -> bool:
    return bool(TASK.is_terminal(state[None])[0])


def random_play(state: np.ndarray, rng: np.random.Generator, stop: int) -> np.ndarray | None:
    """Uniformly random moves from ``state`` until ``stop`` plies; None if the game ended on the way."""
    while state[MOVES] < stop and not over(state):
        state = TASK.play(state, [int(rng.choice(np.flatnonzero(TASK.legal_mask(state[None])[0])))])
    return None if over(state) else state


# ----- plain exhaustive search: every move to the end of the game, no pruning, no table ----------


def has_four(stones: int) -> bool:
    for shift in (1, _H1, _H1 - 1, _H1 + 1):
        pairs = stones & (stones >> shift)
        if pairs & (pairs >> (2 * shift)):
            return True
    return False


def plain_move_score(own: int, mask: int, plies: int, move: int) -> int:
    """Pons' score for the mover of playing ``move``: a win with its k-th stone is 22 - k, from the definition."""
    if has_four(own | move):
        return 22 - (plies // 2 + 1)  # the mover has plies // 2 stones before this one
    if plies + 1 == CELLS:
        return 0
    return -plain_score(own ^ mask, mask | move, plies + 1)


def plain_score(own: int, mask: int, plies: int) -> int:
    possible = (mask + _BOTTOM) & _BOARD
    columns = [possible & (0b111111 << (c * _H1)) for c in range(COLS)]
    return max(plain_move_score(own, mask, plies, move) for move in columns if move)


def plain_move_scores(state: np.ndarray) -> dict[int, int]:
    own, mask, plies = state_bitboards(state)
    possible = (mask + _BOTTOM) & _BOARD
    return {
        c: plain_move_score(own, mask, plies, possible & (0b111111 << (c * _H1)))
        for c in range(COLS)
        if possible & (0b111111 << (c * _H1))
    }


def legal_scores(scores: np.ndarray) -> dict[int, int]:
    return {int(c): int(scores[c]) for c in np.flatnonzero(~np.isnan(scores))}


def test_scores_equal_plain_exhaustive_search_in_endgames() -> None:
    # Part of the draw pattern, then random moves down to 6-8 empty cells: wins, draws and losses.
    signs: set[int] = set()
    checked = 0
    for seed in range(40):
        rng = np.random.default_rng(seed)
        state = random_play(play(DRAW_ORDER[: 24 + seed % 10]), rng, CELLS - 6 - seed % 3)
        if state is None:
            continue
        expected = plain_move_scores(state)
        assert legal_scores(SOLVER.move_scores(state)) == expected
        assert SOLVER.score(state) == max(expected.values())
        signs |= {int(np.sign(v)) for v in expected.values()}
        checked += 1
    assert checked >= 20 and signs == {-1, 0, 1}


def test_scores_equal_plain_exhaustive_search_after_random_play() -> None:
    # Positions of random games that last (30+ plies), with whatever stones are left.
    checked = 0
    for seed in range(400):
        state = random_play(TASK.empty_state(), np.random.default_rng([seed, 7]), 33)
        if state is None:
            continue
        assert legal_scores(SOLVER.move_scores(state)) == plain_move_scores(state)
        checked += 1
        if checked == 6:
            break
    assert checked == 6


# ----- known positions -----------------------------------------------------------------


def test_pons_examples() -> None:
    """The two examples of Pons' part 2: "4455" scores 18 (the mover wins with its 4th stone), and
    "44455554221" scores -15 (whatever the mover plays, the opponent wins at once with its 7th)."""
    assert position_score(pons("4455")) == 18 == MAX_SCORE
    assert position_score(pons("44455554221")) == -15
    assert (move_scores(pons("44455554221")) == -15).all() and best_moves(pons("44455554221")) == list(range(COLS))


@pytest.mark.parametrize(("columns", "column"), [([0, 6, 0, 6, 0, 5], 0), ([1, 6, 0, 6, 0, 6, 0], 6)])
def test_an_immediate_win_scores_the_most_any_position_can_at_its_ply(columns: list[int], column: int) -> None:
    state = play(columns)  # the mover has three in ``column`` with the top free
    plies = int(state[MOVES])
    assert SOLVER.score(state) == (CELLS + 1 - plies) // 2 == 22 - (plies // 2 + 1)
    assert plies_to_end(SOLVER.score(state), plies) == 1


def test_an_immediate_win_scores_above_every_other_move() -> None:
    rng = np.random.default_rng(3)
    checked = 0
    while checked < 10:
        state = random_play(TASK.empty_state(), rng, int(rng.integers(12, 30)))
        if state is None:
            continue
        winning = [c for c in np.flatnonzero(TASK.legal_mask(state[None])[0]) if TASK.play(state, [int(c)])[WINNER]]
        if not winning:
            continue
        scores = SOLVER.move_scores(state)
        top = (CELLS + 1 - int(state[MOVES])) // 2
        assert (scores[winning] == top).all()
        others = np.delete(scores, winning)
        assert (others[~np.isnan(others)] < top).all()
        assert SOLVER.best_moves(state) == sorted(int(c) for c in winning)
        checked += 1


def test_a_position_where_every_move_loses() -> None:
    # X has an open three on the bottom row (columns 2-4, both ends free); O to move cannot stop both ends.
    state = play([2, 2, 3, 3, 4])
    scores = SOLVER.move_scores(state)
    assert (scores == MIN_SCORE).all()  # X wins with its 4th stone, whatever O plays
    assert SOLVER.score(state) == MIN_SCORE and plies_to_end(MIN_SCORE, 5) == 2
    assert SOLVER.best_moves(state) == list(range(COLS))


def test_a_win_with_fewer_stones_scores_higher() -> None:
    # X to move makes an open three on the bottom row and wins with its 4th stone; after an exchange
    # in column 6 the same plan wins with its 5th, one point less.
    assert SOLVER.score(play([2, 2, 3, 3])) == 18
    assert SOLVER.score(play([2, 2, 3, 3, 6, 6])) == 17
    assert SOLVER.move_scores(play([2, 2, 3, 3, 1]))[5] == -18  # after it O loses to X's 4th stone


def test_finished_games_and_full_columns() -> None:
    won = play([0, 6, 0, 6, 0, 6, 0])
    assert np.isnan(SOLVER.move_scores(won)).all()
    with pytest.raises(ValueError, match="over"):
        SOLVER.score(won)
    last = play(DRAW_ORDER)  # one cell left: its move draws
    assert legal_scores(SOLVER.move_scores(last)) == {0: 0} and SOLVER.score(last) == 0
    two_full = SOLVER.move_scores(play(DRAW_ORDER[:13]))  # columns 2 and 3 are full
    assert np.isnan(two_full[[2, 3]]).all() and not np.isnan(np.delete(two_full, [2, 3])).any()


# ----- self-consistency and the meaning of a score --------------------------------------------


def test_a_score_is_the_best_move_score_and_each_move_the_negated_child() -> None:
    rng = np.random.default_rng(5)
    checked = 0
    while checked < 12:
        state = random_play(TASK.empty_state(), rng, int(rng.integers(14, 26)))
        if state is None:
            continue
        scores = SOLVER.move_scores(state)
        assert SOLVER.score(state) == np.nanmax(scores)
        for col, score in legal_scores(scores).items():
            child = TASK.play(state, [col])
            expected = (CELLS + 1 - int(state[MOVES])) // 2 if child[WINNER] else -SOLVER.score(child)
            assert score == expected
        assert np.nanmin(scores) >= MIN_SCORE and np.nanmax(scores) <= MAX_SCORE
        checked += 1


def test_perfect_play_ends_when_the_score_says() -> None:
    """Both sides playing a best-scored move: the game ends after `plies_to_end` plies with the predicted result."""
    rng = np.random.default_rng(11)
    results: set[int] = set()
    played = 0
    while played < 8:
        state = random_play(TASK.empty_state(), rng, int(rng.integers(18, 30)))
        if state is None:
            continue
        score, plies, mover = SOLVER.score(state), int(state[MOVES]), int(state[TO_PLAY])
        while not over(state):
            state = TASK.play(state, [SOLVER.best_moves(state)[0]])
        assert state[MOVES] - plies == plies_to_end(score, plies)
        winner = int(state[WINNER]) - 1  # -1: a draw
        assert winner == (mover if score > 0 else 1 - mover if score < 0 else -1)
        results.add(int(np.sign(score)))
        played += 1
    assert len(results) >= 2


def test_plies_to_end_by_hand() -> None:
    assert plies_to_end(18, 4) == 3  # "4455": X, O, X
    assert plies_to_end(-15, 11) == 2  # "44455554221": yellow moves, red wins
    assert plies_to_end(0, 30) == 12  # a draw fills the board
    assert [plies_to_end((CELLS + 1 - n) // 2, n) for n in range(7, CELLS)] == [1] * (CELLS - 7)
    assert plies_to_end(1, 40) == 1 and plies_to_end(1, 39) == 3  # a win with the mover's 21st stone
