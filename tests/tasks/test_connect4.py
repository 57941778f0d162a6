"""Connect Four: dynamics, win detection, the alpha-beta reference and instance generation."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from actors.tasks.base import IllegalActionError
from actors.tasks.connect4 import (
    _BOARD,
    _BOTTOM,
    _COLUMN,
    BITBOARDS,
    CELLS,
    COLS,
    HEIGHTS,
    LINES,
    MAX_OPENING_PLIES,
    MIN_OPENING_PLIES,
    MOVES,
    ROWS,
    TO_PLAY,
    WINNER,
    ConnectFour,
    _AlphaBeta,
    _bitboards,
    _heuristic,
)

TASK = ConnectFour()

# Games whose last move is the first four in a row, one per player and direction
# (found by seeded random play; the test re-derives the direction from the board).
WINNING_GAMES = {
    (1, "horizontal"): [1, 5, 4, 0, 2, 6, 3],
    (1, "vertical"): [0, 1, 0, 2, 0, 2, 0],
    (1, "diagonal up"): [3, 5, 6, 4, 4, 6, 5, 6, 6, 0, 5],
    (1, "diagonal down"): [0, 5, 1, 2, 2, 1, 3, 0, 1, 0, 0],
    (2, "horizontal"): [4, 2, 6, 0, 4, 1, 1, 3],
    (2, "vertical"): [6, 0, 2, 0, 6, 0, 5, 0],
    (2, "diagonal up"): [6, 5, 6, 2, 4, 4, 5, 5, 6, 3, 5, 6],
    (2, "diagonal down"): [1, 4, 1, 1, 4, 2, 2, 1, 4, 2, 3, 3],
}
# A legal order filling the board with a pattern that has no four in a row
# (pairs of columns alternate per row), leaving the top cell of column 0 empty.
DRAW_ORDER = [4, 3, 3, 3, 3, 3, 3, 2, 2, 2, 2, 2, 2, 4, 4, 4, 4, 4, 1, 1, 1, 1, 1, 1]
DRAW_ORDER += [5, 5, 5, 5, 5, 5, 0, 0, 0, 0, 0, 6, 6, 6, 6, 6, 6]


def play(columns: list[int]) -> np.ndarray:
    return TASK.play(TASK.empty_state(), columns)


def brute_winner(board: np.ndarray) -> int:
    """0, or the player (1 or 2) owning a full line, by scanning all 69 lines."""
    for line in LINES:
        if board[line[0]] != 0 and (board[line] == board[line[0]]).all():
            return int(board[line[0]])
    return 0


def line_directions(board: np.ndarray, player: int) -> set[str]:
    names = {(0, 1): "horizontal", (1, 0): "vertical", (1, 1): "diagonal up", (1, -1): "diagonal down"}
    found = set()
    for line in LINES:
        if (board[line] == player).all():
            found.add(names[(line[1] // COLS - line[0] // COLS, line[1] % COLS - line[0] % COLS)])
    return found


def random_game(seed: int, max_plies: int = CELLS) -> list[np.ndarray]:
    """The states of a seeded random game, start included."""
    rng = np.random.default_rng(seed)
    states = [TASK.empty_state()]
    while len(states) <= max_plies and not TASK.is_terminal(states[-1][None])[0]:
        legal = np.flatnonzero(TASK.legal_mask(states[-1][None])[0])
        states.append(TASK.step(states[-1][None], np.array([rng.choice(legal)]))[0])
    return states


def exact_values(state: np.ndarray) -> dict[int, int]:
    """Full minimax (no pruning, no heuristic) value of each legal column; for endgames only."""
    board = [int(c) for c in state[:CELLS]]
    heights = [int(h) for h in state[HEIGHTS : HEIGHTS + COLS]]
    lines_through = [[list(line) for line in LINES if cell in line] for cell in range(CELLS)]

    def children(mark: int) -> dict[int, int]:
        values = {}
        for col in range(COLS):
            if heights[col] < ROWS:
                cell = heights[col] * COLS + col
                board[cell], heights[col] = mark, heights[col] + 1
                if any(all(board[c] == mark for c in line) for line in lines_through[cell]):
                    values[col] = 1
                elif 0 not in board:
                    values[col] = 0
                else:
                    values[col] = -max(children(3 - mark).values())
                board[cell], heights[col] = 0, heights[col] - 1
        return values

    return children(int(state[TO_PLAY]) + 1)


# ----- dynamics --------------------------------------------------------------


def test_spec() -> None:
    spec = TASK.spec
    assert (spec.obs_length, spec.vocab_size, spec.num_actions, spec.num_players) == (42, 4, 7, 2)
    assert (spec.state_size, spec.max_steps, spec.actions_per_token) == (54, 42, 0)
    assert (spec.family, spec.kind) == ("search", "connect4")


@pytest.mark.parametrize("bad", [0, -3, 2.5, True, "6"])
def test_bad_solver_depth(bad: object) -> None:
    with pytest.raises(ValueError, match="solver_depth"):
        ConnectFour(solver_depth=bad)  # type: ignore[arg-type]


@pytest.mark.parametrize(("key", "columns"), WINNING_GAMES.items(), ids=[f"{p}-{d}" for p, d in WINNING_GAMES])
def test_win_detection_each_direction_and_player(key: tuple[int, str], columns: list[int]) -> None:
    player, direction = key
    before = play(columns[:-1])
    assert before[WINNER] == 0 and not TASK.is_terminal(before[None])[0]
    after = play(columns)
    assert after[WINNER] == player
    assert line_directions(after[:CELLS], player) == {direction}
    assert TASK.is_terminal(after[None])[0]
    assert not TASK.legal_mask(after[None]).any()
    # Sign convention: the side now to move is the loser, and its outcome is -1.
    assert TASK.to_play(after[None])[0] == 2 - player
    assert TASK.outcome(after[None])[0] == -1.0
    with pytest.raises(IllegalActionError):
        TASK.step(after[None], np.array([6 if columns[-1] != 6 else 5]))


def test_full_board_without_four_is_a_draw() -> None:
    state = play(DRAW_ORDER)
    assert brute_winner(state[:CELLS]) == 0 and state[MOVES] == 41
    assert np.flatnonzero(TASK.legal_mask(state[None])[0]).tolist() == [0]
    final = play([*DRAW_ORDER, 0])
    assert TASK.is_terminal(final[None])[0] and final[WINNER] == 0
    assert TASK.outcome(final[None])[0] == 0.0
    assert TASK.value(state) == 0.0 and TASK.solve(state) == [0]


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 2**31 - 1))
def test_step_agrees_with_a_brute_force_scan(seed: int) -> None:
    for state in random_game(seed):
        board = state[:CELLS]
        assert state[WINNER] == brute_winner(board)
        # The redundant fields (heights, bitboards) match the cells.
        heights = (board.reshape(ROWS, COLS) != 0).sum(axis=0)
        assert (state[HEIGHTS : HEIGHTS + COLS] == heights).all()
        for player in (1, 2):
            bits = sum(1 << ((c % COLS) * (ROWS + 1) + c // COLS) for c in np.flatnonzero(board == player))
            assert state[BITBOARDS + player - 1] == bits
        assert state[TO_PLAY] == state[MOVES] % 2
        tokens = TASK.encode(state[None])[0]
        own = state[TO_PLAY] + 1
        assert (tokens == np.where(board == 0, 1, np.where(board == own, 2, 3))).all()


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 2**31 - 1), st.integers(0, CELLS))
def test_legal_mask_agrees_with_step(seed: int, plies: int) -> None:
    state = random_game(seed, plies)[-1]
    mask = TASK.legal_mask(state[None])[0]
    terminal = TASK.is_terminal(state[None])[0]
    for col in range(COLS):
        if mask[col]:
            child = TASK.step(state[None], np.array([col]))[0]
            assert child[MOVES] == state[MOVES] + 1 and child[HEIGHTS + col] == state[HEIGHTS + col] + 1
        else:
            assert terminal or state[HEIGHTS + col] == ROWS
            with pytest.raises(IllegalActionError):
                TASK.step(state[None], np.array([col]))
    for bad in (-1, COLS):
        with pytest.raises(IllegalActionError):
            TASK.step(state[None], np.array([bad]))


def test_batched_step_matches_single_steps() -> None:
    states = np.stack([random_game(seed, 10 + seed % 20)[-1] for seed in range(64)])
    states = states[~TASK.is_terminal(states)]
    before = states.copy()
    rng = np.random.default_rng(0)
    actions = np.array([rng.choice(np.flatnonzero(m)) for m in TASK.legal_mask(states)])
    batched = TASK.step(states, actions)
    assert (states == before).all()  # step returns a new array
    for i in range(len(states)):
        assert (batched[i] == TASK.step(states[i : i + 1], actions[i : i + 1])[0]).all()


# ----- the reference search ------------------------------------------------------


def test_finds_an_immediate_win() -> None:
    state = play([0, 6, 0, 6, 0, 5])  # X has three in column 0 and is to move
    values = TASK.action_values(state)
    assert values[0] == 1.0 and (values[1:] < 1.0).all()
    assert TASK.solve(state) == [0] and TASK.best_action(state, depth=1) == 0
    assert TASK.verify(state, [0]) and not TASK.verify(state, [3])


def test_blocks_an_immediate_loss() -> None:
    state = play([0, 6, 0, 6, 0])  # O to move; X threatens the top of column 0
    values = TASK.action_values(state)
    assert (values[1:] == -1.0).all() and values[0] > -1.0
    assert TASK.solve(state) == [0] and TASK.best_action(state, depth=2) == 0
    assert TASK.verify(state, [0])
    assert not any(TASK.verify(state, [col]) for col in range(1, COLS))


def test_open_three_is_a_proven_win_and_a_proven_loss() -> None:
    # X on the bottom of columns 2 and 3, O on top of them; X to move.
    state = play([2, 2, 3, 3])
    values = TASK.action_values(state)
    # Extending to an open three on the bottom row (1 or 4) threatens two cells: a win in three plies.
    assert values[1] == values[4] == 1.0
    assert TASK.value(state) == 1.0
    assert TASK.solve(state) == [4]  # the centre-most of the winning columns
    assert TASK.verify(state, [1]) and TASK.verify(state, [4]) and not TASK.verify(state, [6])
    # After it, O faces the double threat: lost whatever it plays, at any depth.
    after = play([2, 2, 3, 3, 4])
    assert TASK.value(after, depth=1) == -1.0 and TASK.value(after) == -1.0
    assert (TASK.action_values(after) == -1.0).all()


def test_endgame_values_equal_full_minimax() -> None:
    # Start from part of the draw pattern and play randomly down to 7 empty cells: endgames
    # with wins, losses and draws, which a search as deep as the game is long must solve exactly.
    outcomes: set[int] = set()
    for seed in range(30):
        rng = np.random.default_rng(seed)
        state = play(DRAW_ORDER[: 24 + seed % 8])
        while not TASK.is_terminal(state[None])[0] and CELLS - state[MOVES] > 7:
            legal = np.flatnonzero(TASK.legal_mask(state[None])[0])
            state = TASK.step(state[None], np.array([rng.choice(legal)]))[0]
        if TASK.is_terminal(state[None])[0]:
            continue
        exact = exact_values(state)
        deep = TASK.action_values(state, depth=CELLS - int(state[MOVES]))
        assert {c: deep[c] for c in range(COLS) if not np.isnan(deep[c])} == exact
        assert TASK.value(state, depth=CELLS) == max(exact.values())
        outcomes |= set(exact.values())
    assert outcomes == {-1, 0, 1}


def plain_negamax(own: int, mask: int, depth: int) -> float:
    """The search's value without pruning, table or shortcuts: every legal move, the same leaf rule."""
    possible = (mask + _BOTTOM) & _BOARD
    if not possible:
        return 0.0
    if depth == 0:
        return _AlphaBeta().value(own, mask, 0)  # the leaf rule itself (no recursion at depth 0)
    best = -1.0
    for col in range(COLS):
        move = possible & _COLUMN[col]
        if move:
            won = brute_win_bits(own | move)
            best = max(best, 1.0 if won else -plain_negamax(own ^ mask, mask | move, depth - 1))
    return best


def brute_win_bits(own: int) -> bool:
    for shift in (1, ROWS + 1, ROWS, ROWS + 2):
        pairs = own & (own >> shift)
        if pairs & (pairs >> (2 * shift)):
            return True
    return False


@pytest.mark.parametrize("seed", range(6))
def test_alpha_beta_equals_plain_negamax(seed: int) -> None:
    # Pruning, the transposition table and the tactical shortcuts must not change any value.
    rng = np.random.default_rng(seed)
    checked = 0
    for game in range(20):
        states = random_game(seed * 100 + game, int(rng.integers(4, 20)))
        state = states[-1]
        if TASK.is_terminal(state[None])[0] or TASK._has_immediate_result(state):
            continue
        own, mask = _bitboards(state)
        for depth in (1, 2, 3):
            assert _AlphaBeta().value(own, mask, depth) == plain_negamax(own, mask, depth)
        values = TASK.action_values(state, depth=3)
        for col in np.flatnonzero(~np.isnan(values)):
            move = ((mask + _BOTTOM) & _BOARD) & _COLUMN[col]
            expected = 1.0 if brute_win_bits(own | move) else -plain_negamax(own ^ mask, mask | move, 2)
            assert values[col] == expected
        checked += 1
        if checked == 3:
            break
    assert checked > 0


@settings(max_examples=30, deadline=None)
@given(st.integers(0, 2**31 - 1), st.integers(0, 30))
def test_heuristic_stays_strictly_inside_the_proven_range(seed: int, plies: int) -> None:
    state = random_game(seed, plies)[-1]
    own, mask = _bitboards(state)
    assert -1.0 < _heuristic(own, mask) < 1.0
    if not TASK.is_terminal(state[None])[0]:
        values = TASK.action_values(state, depth=2)
        legal = TASK.legal_mask(state[None])[0]
        assert np.isnan(values[~legal]).all() and not np.isnan(values[legal]).any()
        assert (np.abs(values[legal]) <= 1.0).all()


# ----- instances, solve and verify ------------------------------------------------


@pytest.mark.parametrize("difficulty", [0.0, 0.3, 0.5, 1.0])
def test_generate_is_deterministic_and_well_formed(difficulty: float) -> None:
    states = [TASK.generate(seed, difficulty) for seed in range(8)]
    for seed, state in enumerate(states):
        assert (state == TASK.generate(seed, difficulty)).all()
        assert state.shape == (TASK.spec.state_size,) and state.dtype == np.int64
        plies = MIN_OPENING_PLIES + round((1 - difficulty) * (MAX_OPENING_PLIES - MIN_OPENING_PLIES))
        assert state[MOVES] == plies
        assert not TASK.is_terminal(state[None])[0]
        assert not TASK._has_immediate_result(state)  # neither side has a playable winning cell
    assert len({s.tobytes() for s in states}) > 1


def test_effort_grows_with_difficulty() -> None:
    means = [np.mean([TASK.effort(TASK.generate(seed, d)) for seed in range(20)]) for d in (0.0, 0.5, 1.0)]
    assert means[0] < means[1] < means[2]


def test_effort_is_deterministic() -> None:
    state = TASK.generate(7, 0.5)
    assert TASK.effort(state) == TASK.effort(state) > 0


@pytest.mark.parametrize("difficulty", [0.0, 0.5, 1.0])
def test_solutions_verify_and_corrupted_answers_do_not(difficulty: float) -> None:
    for seed in range(5):
        state = TASK.generate(seed, difficulty)
        answer = TASK.solve(state)
        assert TASK.verify(state, answer)
        values = TASK.action_values(state)
        assert values[answer[0]] == np.nanmax(values)
        # The tie-break prefers the centre: no better-placed column has the same value.
        order = [3, 2, 4, 1, 5, 0, 6]
        best = [c for c in order if values[c] == np.nanmax(values)]
        assert answer[0] == best[0]
        worse = [c for c in range(COLS) if not np.isnan(values[c]) and values[c] < np.nanmax(values)]
        for col in worse:
            assert not TASK.verify(state, [col])
        for bad in ([], [answer[0], answer[0]], [-1], [COLS], [True], [float(answer[0])], ["3"], [None], None):
            assert not TASK.verify(state, bad)  # type: ignore[arg-type]


def test_verify_rejects_full_columns_and_finished_games() -> None:
    state = play([3, 3, 3, 3, 3, 3])  # column 3 full, X to move
    assert not TASK.legal_mask(state[None])[0][3]
    assert not TASK.verify(state, [3])
    over = play(WINNING_GAMES[(1, "vertical")])
    assert not TASK.verify(over, [3])
    with pytest.raises(IllegalActionError):
        TASK.solve(over)


def test_deeper_reference_beats_a_shallow_one() -> None:
    # Depth 4 against depth 1 from the same openings with both colours (so lopsided openings cancel).
    scores = []
    for seed in range(5):
        for deep_player in (0, 1):
            state = TASK.generate(seed, 1.0)
            while not TASK.is_terminal(state[None])[0]:
                depth = 4 if state[TO_PLAY] == deep_player else 1
                state = TASK.step(state[None], np.array([TASK.best_action(state, depth)]))[0]
            scores.append(0 if not state[WINNER] else (1 if state[WINNER] == deep_player + 1 else -1))
    assert np.mean(scores) > 0


def test_render_shows_the_board() -> None:
    text = TASK.render(play([3, 3]))
    lines = text.splitlines()
    assert lines[5] == ". . . X . . ." and lines[4] == ". . . O . . ."
    assert "X to move" in text and lines[6] == "1 2 3 4 5 6 7"  # columns as move strings number them
    assert TASK.describe_action(play([]), 3) == "X drops in column 4"
