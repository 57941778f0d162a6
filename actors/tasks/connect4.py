"""Connect Four on the standard 6 x 7 board, with a depth-bounded alpha-beta reference.

State ``[54]`` (int64):
- ``0..41``: cells, row-major with row 0 at the *bottom* (cell ``row * 7 + col``);
  0 empty, 1 first player, 2 second player;
- ``42``: the player to move (0 or 1);
- ``43``: the number of moves made;
- ``44..50``: the height of each column (stones in it), kept by `step` so the
  landing row of a move is one lookup;
- ``51``: the winner (0 none, 1 or 2), set by `step`, so `is_terminal` never
  scans the board;
- ``52, 53``: the stones of player 1 and of player 2 as bitboards (bit
  ``col * 7 + row``, one spare bit per column), kept by `step`: a win check is a
  few shifts per direction, and the solver reads its position straight from them.

Actions ``[7]``: drop a stone in column ``a`` (shown to people as ``a + 1``, columns 1-7 as in
the move strings of Connect Four's test sets); legal while the column has room and
the game is not over. Actions are not per token (pooled readout,
``actions_per_token = 0``).
Tokens ``[42]`` (one per cell, same order as the state), from the mover's point
of view: 1 empty, 2 own, 3 opponent; L = 42, V = 4.

Reference: negamax alpha-beta to ``solver_depth`` plies (bitboards, centre-first
move ordering, a transposition table, forced-block and losing-move pruning). A
position where the mover can win at once is worth +1 at any depth, a full board
0, a position with two open threats against the mover -1; at the depth limit a
heuristic (open threes and twos, centre stones) scaled strictly inside (-1, 1)
stands in, so proven wins and losses always dominate it. Values are therefore
exact where the search proves the result within its horizon and depth-bounded
estimates otherwise; `solve` and `verify` are exact relative to that search.

Difficulty: every instance starts after ``8 + round((1 - d) * 12)`` random
opening plies (8 at d = 1, 20 at d = 0), re-drawn until the position is not over
and neither side has a playable winning cell (so the mover has no immediate
forced result: no win in one, no single forced block). Effort is the alpha-beta
node count of `solve` at ``solver_depth``. Measured at depth 6 it is flat over
the first ~10 plies (the empty board takes 722 nodes, fewer than the average
8-ply opening, thanks to centre-first ordering) and falls steadily after them as
columns fill and moves become forced (mean ~1100 nodes after 8 plies, ~730 after
14, ~430 after 20); hence the 8-ply floor, which keeps mean effort increasing in
d. The empty board itself is no generated instance; evaluation games start from
`ConnectFour.empty_state`.
"""

from __future__ import annotations

import numpy as np

from actors.tasks.base import IllegalActionError, Task, TaskSpec, check_difficulty

ROWS, COLS = 6, 7
CELLS = ROWS * COLS
TO_PLAY, MOVES, HEIGHTS, WINNER, BITBOARDS = 42, 43, 44, 51, 52
STATE_SIZE = 54
MIN_OPENING_PLIES, MAX_OPENING_PLIES = 8, 20  # at difficulty 1 and 0; see the module doc
# Token of a cell (0 empty, 1 first, 2 second player) for mover 0 (first 3) and mover 1 (last 3).
_TOKENS = np.array([1, 2, 3, 1, 3, 2], dtype=np.int64)
CENTRE_ORDER = (3, 2, 4, 1, 5, 0, 6)  # search order and tie-break: centre columns first
_TT_LIMIT = 2_000_000  # transposition-table entries before it is cleared (bounds memory)


def _all_lines() -> np.ndarray:
    """``int64 [69, 4]``: cell indices of every four-in-a-row on the board."""
    lines = []
    for row in range(ROWS):
        for col in range(COLS):
            for dr, dc in ((0, 1), (1, 0), (1, 1), (1, -1)):
                cells = [(row + k * dr, col + k * dc) for k in range(4)]
                if all(0 <= r < ROWS and 0 <= c < COLS for r, c in cells):
                    lines.append([r * COLS + c for r, c in cells])
    return np.array(lines, dtype=np.int64)


LINES = _all_lines()  # [69, 4]; the dynamics use bitboards, tests and tools use these


# ----- bitboards --------------------------------------------------
# Bit ``col * 7 + row`` is cell (row, col); bit 6 of each column is a sentinel row
# that stays empty, so shifts never carry a line from one column into the next.
# Boards use 49 bits, so they fit the int64 state and numpy shifts.

_H1 = ROWS + 1
_BOTTOM = sum(1 << (c * _H1) for c in range(COLS))
_BOARD = _BOTTOM * ((1 << ROWS) - 1)
_COLUMN = [((1 << ROWS) - 1) << (c * _H1) for c in range(COLS)]
_CENTRE = _COLUMN[3]
_SHIFTS = (1, _H1, _H1 - 1, _H1 + 1)  # vertical, horizontal, the two diagonals


def _window_starts(shift: int) -> int:
    """Bits at which a window of four cells spaced ``shift`` apart lies fully on the board."""
    dr, dc = {1: (1, 0), _H1: (0, 1), _H1 - 1: (-1, 1), _H1 + 1: (1, 1)}[shift]
    starts = 0
    for col in range(COLS):
        for row in range(ROWS):
            if all(0 <= row + k * dr < ROWS and 0 <= col + k * dc < COLS for k in range(4)):
                starts |= 1 << (col * _H1 + row)
    return starts


_STARTS = tuple(_window_starts(s) for s in _SHIFTS)


def _win_cells(own: int, mask: int) -> int:
    """Empty cells where ``own`` would complete four in a row (whether playable now or not)."""
    r = (own << 1) & (own << 2) & (own << 3)  # vertical: three below
    for s in _SHIFTS[1:]:
        p = (own << s) & (own << 2 * s)
        r |= p & (own << 3 * s)
        r |= p & (own >> s)
        p = (own >> s) & (own >> 2 * s)
        r |= p & (own << s)
        r |= p & (own >> 3 * s)
    return r & (_BOARD ^ mask)


def _open_windows(own: int, empty: int) -> tuple[int, int]:
    """(windows with three ``own`` stones and one empty, windows with two and two empty)."""
    threes = twos = 0
    for s, starts in zip(_SHIFTS, _STARTS, strict=True):
        a0, a1, a2, a3 = own, own >> s, own >> 2 * s, own >> 3 * s
        e0, e1, e2, e3 = empty, empty >> s, empty >> 2 * s, empty >> 3 * s
        # Windows without an opponent stone; then count own stones with bit-sliced adders.
        free = (a0 | e0) & (a1 | e1) & (a2 | e2) & (a3 | e3) & starts
        s0, c0 = a0 ^ a1, a0 & a1
        s1, c1 = a2 ^ a3, a2 & a3
        bit0, carry = s0 ^ s1, s0 & s1
        bit1 = c0 ^ c1 ^ carry
        bit2 = c0 & c1
        threes += (free & bit0 & bit1).bit_count()
        twos += (free & ~bit0 & bit1 & ~bit2).bit_count()
    return threes, twos


def _heuristic(own: int, mask: int) -> float:
    """Estimated value in (-1, 1) of a quiet position for the mover (``own`` = the mover's stones)."""
    opp = own ^ mask
    empty = _BOARD & ~mask
    own3, own2 = _open_windows(own, empty)
    opp3, opp2 = _open_windows(opp, empty)
    score = 4 * (own3 - opp3) + (own2 - opp2) + 2 * ((own & _CENTRE).bit_count() - (opp & _CENTRE).bit_count())
    return score / (abs(score) + 20.0)  # strictly inside (-1, 1): proven results at +-1 dominate


def _has_four(boards: np.ndarray) -> np.ndarray:
    """``int64 bitboards [N]`` -> ``bool [N]``: whether each holds four in a row."""
    found = np.zeros(boards.shape, dtype=bool)
    for s in _SHIFTS:
        pairs = boards & (boards >> s)
        found |= (pairs & (pairs >> (2 * s))) != 0
    return found


def _bitboards(state: np.ndarray) -> tuple[int, int]:
    """``state [S]`` -> (the mover's stones, all stones) as Python-int bitboards for the solver."""
    first, second = int(state[BITBOARDS]), int(state[BITBOARDS + 1])
    own = second if state[TO_PLAY] else first
    return own, first | second


def _random_opening(rng: np.random.Generator, plies: int) -> list[int] | None:
    """Columns of ``plies`` uniformly random moves, or None if the game ends on the way or the
    final position has a playable winning cell for either side. Played on bitboards, since
    openings at low difficulty are re-drawn several times."""
    own = mask = 0  # own: the stones of the side to move
    columns = []
    for _ in range(plies):
        possible = (mask + _BOTTOM) & _BOARD
        legal = [col for col in range(COLS) if possible & _COLUMN[col]]
        col = legal[int(rng.integers(len(legal)))]
        move = possible & _COLUMN[col]
        if _win_cells(own, mask) & move:
            return None
        own, mask = own ^ mask, mask | move
        columns.append(col)
    possible = (mask + _BOTTOM) & _BOARD
    if (_win_cells(own, mask) | _win_cells(own ^ mask, mask)) & possible:
        return None
    return columns


class _AlphaBeta:
    """One negamax alpha-beta search (fresh transposition table and node count).

    Values are pure functions of (position, depth): the table is keyed by both, so
    its bounds never mix depths and results do not depend on search order.
    """

    def __init__(self) -> None:
        self.table: dict[int, tuple[float, float]] = {}
        self.nodes = 0

    def value(self, own: int, mask: int, depth: int, alpha: float = -1.0, beta: float = 1.0) -> float:
        """Value for the mover of the position (``own``, ``mask``), searched ``depth`` plies deep."""
        self.nodes += 1
        possible = (mask + _BOTTOM) & _BOARD
        if not possible:
            return 0.0  # full board: draw
        if _win_cells(own, mask) & possible:
            return 1.0
        opp_wins = _win_cells(own ^ mask, mask)
        forced = possible & opp_wins
        if forced:
            if forced & (forced - 1):
                return -1.0  # two threats to block at once
            possible = forced
        possible &= ~(opp_wins >> 1)  # never play under an opponent's winning cell
        if not possible:
            return -1.0
        if depth <= 0:
            return _heuristic(own, mask)

        key = ((own + mask) << 6) | depth  # depth <= 42 fits in 6 bits
        low, high = self.table.get(key, (-1.0, 1.0))
        if low >= beta:
            return low
        if high <= alpha:
            return high
        alpha0, beta0 = max(alpha, low), min(beta, high)
        alpha = alpha0

        best = -1.0
        for col in CENTRE_ORDER:
            move = possible & _COLUMN[col]
            if not move:
                continue
            value = -self.value(own ^ mask, mask | move, depth - 1, -beta0, -alpha)
            if value > best:
                best = value
                if value > alpha:
                    alpha = value
                    if alpha >= beta0:
                        break

        if len(self.table) > _TT_LIMIT:
            self.table.clear()
        if best <= alpha0:
            self.table[key] = (low, min(high, best))
        elif best >= beta0:
            self.table[key] = (max(low, best), high)
        else:
            self.table[key] = (best, best)
        return best

    def root(self, own: int, mask: int, depth: int) -> int:
        """The best column for the mover, first in centre order among equals."""
        possible = (mask + _BOTTOM) & _BOARD
        best_value, best_col, alpha = -2.0, -1, -1.0
        for col in CENTRE_ORDER:
            move = possible & _COLUMN[col]
            if not move:
                continue
            value = self.move_value(own, mask, move, depth, alpha)
            if value > best_value:
                best_value, best_col, alpha = value, col, max(alpha, value)
                if value >= 1.0:
                    break  # a proven win cannot be beaten
        return best_col

    def move_value(self, own: int, mask: int, move: int, depth: int, alpha: float = -1.0) -> float:
        """Value for the mover of playing ``move`` (a single bit); exact if above ``alpha``."""
        if _win_cells(own, mask) & move:
            return 1.0
        return -self.value(own ^ mask, mask | move, depth - 1, -1.0, -alpha)


class ConnectFour(Task):
    family = "search"
    kind = "connect4"

    def __init__(self, solver_depth: int = 6) -> None:
        if not isinstance(solver_depth, (int, np.integer)) or isinstance(solver_depth, bool) or solver_depth < 1:
            raise ValueError(f"connect4: solver_depth must be an integer >= 1, got {solver_depth!r}")
        self.solver_depth = int(solver_depth)
        self.spec = TaskSpec(
            family=self.family,
            kind=self.kind,
            obs_length=CELLS,
            vocab_size=4,
            num_actions=COLS,
            num_players=2,
            state_size=STATE_SIZE,
            max_steps=CELLS,
            actions_per_token=0,
        )

    # ----- instances ---------------------------------------------------------

    def generate(self, seed: int, difficulty: float) -> np.ndarray:
        d = check_difficulty(difficulty)
        rng = np.random.default_rng([seed, 0xC4C4])
        plies = MIN_OPENING_PLIES + round((1.0 - d) * (MAX_OPENING_PLIES - MIN_OPENING_PLIES))
        while (columns := _random_opening(rng, plies)) is None:
            pass
        return self.play(self.empty_state(), columns)

    @staticmethod
    def empty_state() -> np.ndarray:
        """``[S]``: the empty board, first player to move (the start of a full game)."""
        return np.zeros(STATE_SIZE, dtype=np.int64)

    @staticmethod
    def _has_immediate_result(state: np.ndarray) -> bool:
        """Whether either side has a playable winning cell (the mover wins at once or must block)."""
        own, mask = _bitboards(state)
        possible = (mask + _BOTTOM) & _BOARD
        return bool((_win_cells(own, mask) | _win_cells(own ^ mask, mask)) & possible)

    # ----- batched dynamics --------------------------------------------------

    def legal_mask(self, states: np.ndarray) -> np.ndarray:
        room = states[:, HEIGHTS : HEIGHTS + COLS] < ROWS
        return room & ~self.is_terminal(states)[:, None]

    def step(self, states: np.ndarray, actions: np.ndarray) -> np.ndarray:
        actions = np.asarray(actions, dtype=np.int64)
        self.check_legal(states, actions)
        rows = np.arange(len(states))
        movers = states[:, TO_PLAY]
        heights = states[rows, HEIGHTS + actions]
        nxt = states.copy()
        nxt[rows, heights * COLS + actions] = movers + 1
        nxt[rows, HEIGHTS + actions] = heights + 1
        nxt[:, TO_PLAY] = 1 - movers
        nxt[:, MOVES] += 1
        # Only the mover's own stones can have made a new line.
        boards = states[rows, BITBOARDS + movers] | (np.int64(1) << (actions * _H1 + heights))
        nxt[rows, BITBOARDS + movers] = boards
        nxt[:, WINNER] = np.where(_has_four(boards), movers + 1, 0)
        return nxt

    def is_terminal(self, states: np.ndarray) -> np.ndarray:
        return (states[:, WINNER] != 0) | (states[:, MOVES] >= CELLS)

    def outcome(self, states: np.ndarray) -> np.ndarray:
        # Only the previous mover can have completed a line: a loss for the side to move.
        return np.where(states[:, WINNER] != 0, -1.0, 0.0).astype(np.float32)

    def to_play(self, states: np.ndarray) -> np.ndarray:
        return states[:, TO_PLAY].copy()

    def encode(self, states: np.ndarray) -> np.ndarray:
        # One flat lookup: row ``to_play`` of _TOKENS maps a cell (0, 1, 2) to (empty, own, opponent) tokens.
        return _TOKENS[states[:, TO_PLAY, None] * 3 + states[:, :CELLS]]

    # ----- reference search -------------------------------------------------

    def _depth(self, depth: int | None) -> int:
        depth = self.solver_depth if depth is None else int(depth)
        if depth < 1:
            raise ValueError(f"connect4: search depth must be >= 1, got {depth}")
        # No game lasts longer than 42 plies, so deeper is the same search (and the depth fits the table key).
        return min(depth, CELLS)

    def action_values(self, state: np.ndarray, depth: int | None = None) -> np.ndarray:
        """``float [7]``: each column's value for the mover at ``depth`` plies (default
        ``solver_depth``); NaN where illegal. +1 / -1 / 0 are proven wins, losses and
        draws; other values are heuristic estimates strictly inside (-1, 1)."""
        values = np.full(COLS, np.nan)
        if self.is_terminal(state[None])[0]:
            return values
        depth = self._depth(depth)
        own, mask = _bitboards(state)
        possible = (mask + _BOTTOM) & _BOARD
        search = _AlphaBeta()
        for col in CENTRE_ORDER:
            move = possible & _COLUMN[col]
            if move:
                values[col] = search.move_value(own, mask, move, depth)
        return values

    def value(self, state: np.ndarray, depth: int | None = None) -> float:
        """The value of ``state`` for the player to move at ``depth`` plies (the outcome if terminal)."""
        if self.is_terminal(state[None])[0]:
            return float(self.outcome(state[None])[0])
        own, mask = _bitboards(state)
        return _AlphaBeta().value(own, mask, self._depth(depth))

    def best_action(self, state: np.ndarray, depth: int | None = None) -> int:
        """The reference opponent's move: the best column at ``depth`` plies, centre first among equals."""
        return self._search_root(state, depth)[0]

    def _search_root(self, state: np.ndarray, depth: int | None) -> tuple[int, int]:
        """(best column, alpha-beta nodes) of a fresh search from ``state [S]``."""
        if self.is_terminal(state[None])[0]:
            raise IllegalActionError("search/connect4: the game is over; there is no move to search")
        own, mask = _bitboards(state)
        search = _AlphaBeta()
        col = search.root(own, mask, self._depth(depth))
        return col, search.nodes

    def solve(self, state: np.ndarray) -> list[int]:
        """``[column]``: the best move at ``solver_depth`` (exact where the search proves the result)."""
        return [self.best_action(state)]

    def verify(self, state: np.ndarray, answer: list[int]) -> bool:
        """Whether ``answer == [a]`` with ``a`` among the best-valued columns at ``solver_depth``.

        Exact where the search proves the game result within its horizon,
        depth-bounded (relative to the heuristic) otherwise.
        """
        try:
            if len(answer) != 1 or self.is_terminal(state[None])[0]:
                return False
            action = answer[0]
            if isinstance(action, bool) or not isinstance(action, (int, np.integer)) or not 0 <= action < COLS:
                return False
            values = self.action_values(state)
            return bool(not np.isnan(values[action]) and values[action] >= np.nanmax(values))
        except (TypeError, ValueError):
            return False

    def effort(self, state: np.ndarray) -> float:
        """Alpha-beta nodes visited by `solve` at ``solver_depth`` (fresh transposition table)."""
        if self.is_terminal(state[None])[0]:
            return 0.0
        return float(self._search_root(state, None)[1])

    # ----- text -------------------------------------------------------------

    def render(self, state: np.ndarray) -> str:
        marks = {0: ".", 1: "X", 2: "O"}
        rows = [" ".join(marks[int(c)] for c in state[r * COLS : (r + 1) * COLS]) for r in reversed(range(ROWS))]
        footer = " ".join(str(c + 1) for c in range(COLS))  # columns 1-7, as move strings number them
        if state[WINNER]:
            status = f"{'XO'[int(state[WINNER]) - 1]} has won"
        elif state[MOVES] >= CELLS:
            status = "draw"
        else:
            status = f"{'XO'[int(state[TO_PLAY])]} to move"
        return "\n".join(rows) + f"\n{footer}\n{status}"

    def describe_action(self, state: np.ndarray, action: int) -> str:
        return f"{'XO'[int(state[TO_PLAY])]} drops in column {int(action) + 1}"  # 1-7, as in move strings
