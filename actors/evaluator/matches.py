"""Play with search: puzzles solved to the end, and two-player games between two players.

- Puzzles: every held-out instance of a task is searched to the end in one batch
  (`search_puzzles`, and `solve_with_search` for whether each was solved); solved means
  the final state's outcome is 1.0. The bare policy (greedy, no search) is measured too,
  with the segments its forward passes used and whether its halting head stopped them
  (`answer_greedily`). Both keep the moves played, so `selfplay solve` writes them out.
- Games: `play_match` plays each opening twice with colours swapped (one side
  moves first in one game, the other in the other), so neither side profits from a
  lopsided opening. Two `BatchedSearch` objects, one per network, hold the same
  games: at each move each searches only the slots whose player to move it
  controls (``run(active=...)``), and both advance with the combined moves, so each
  keeps its own reused subtree. A reference opponent (a `Mover`) is called only on
  the states where it is to move.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from actors.evaluator.opponents import Mover
from actors.search import BatchedSearch, SearchConfig
from actors.search.batched import Network
from actors.tasks.base import Task


def _check_finished(task: Task, states: np.ndarray, what: str) -> None:
    """Raise if a state of ``states`` is not terminal: the task's ``max_steps`` is wrong."""
    if not task.is_terminal(states).all():
        raise RuntimeError(f"{task.name}: {what} outlasted max_steps = {task.spec.max_steps}")


@dataclass(frozen=True)
class SearchedPuzzles:
    """n puzzles searched to the end: ``solved bool [n]`` (final outcome 1.0), ``moves int64 [n, max_steps]``
    (the actions played, -1 after an episode ended) and ``simulations int64 [n]`` (all of each one's moves)."""

    solved: np.ndarray
    moves: np.ndarray
    simulations: np.ndarray


def search_puzzles(
    task: Task, task_id: int, states: np.ndarray, seeds: np.ndarray, network: Network, config: SearchConfig
) -> SearchedPuzzles:
    """Search every puzzle of ``states [n, S]`` to the end in one batch, a move per search."""
    search = BatchedSearch(task, network, config, batch_size=len(states), task_id=task_id)
    search.reset(states, seeds)
    moves = np.full((len(states), task.spec.max_steps), -1, dtype=np.int64)
    simulations = np.zeros(len(states), dtype=np.int64)
    for step in range(task.spec.max_steps):
        live = ~search.done
        if not live.any():
            break
        result = search.run()
        moves[live, step] = result.actions[live]
        simulations += result.simulations
        search.advance(result.actions)
    final = search.root_states
    _check_finished(task, final, "an episode")
    return SearchedPuzzles(task.outcome(final) >= 1.0, moves, simulations)


def solve_with_search(
    task: Task, task_id: int, states: np.ndarray, seeds: np.ndarray, network: Network, config: SearchConfig
) -> np.ndarray:
    """Search every puzzle of ``states [n, S]`` to the end in one batch; ``bool [n]`` solved (outcome 1.0)."""
    return search_puzzles(task, task_id, states, seeds, network, config).solved


@dataclass(frozen=True)
class GreedyAnswers:
    """The raw network's answers to n puzzles, each played to the end with its most likely legal action.

    ``solved bool [n]``: the answer verifies (final outcome 1.0); ``moves int64 [n, max_steps]``:
    the actions played (-1 after an episode ended); ``passes int64 [n]``: forward passes (one
    per move). From a network that reports its halting (``call_with_segments``, as
    `TorchNetwork` does), else None: ``segments int64 [n]``, the segments of all of an
    instance's passes summed, and ``all_halted bool [n]``, whether the halting head said
    halt in every one of them (within the segment cap, rather than being cut off by it).
    """

    solved: np.ndarray
    moves: np.ndarray
    passes: np.ndarray
    segments: np.ndarray | None
    all_halted: np.ndarray | None

    def mean_segments(self, members: np.ndarray | None = None) -> float | None:
        """Segments per forward pass over the passes of ``members`` (bool ``[n]``; None: all); None without segments."""
        if self.segments is None:
            return None
        rows = slice(None) if members is None else members
        passes = int(self.passes[rows].sum())
        return float(self.segments[rows].sum() / passes) if passes else None


def most_likely_legal(task: Task, states: np.ndarray, logits: np.ndarray) -> np.ndarray:
    """``int64 [n]``: the legal action of highest policy logit in each of ``states [n, S]`` (``logits [n, A']``)."""
    legal = task.legal_mask(states)
    return np.where(legal, np.asarray(logits)[:, : task.spec.num_actions], -np.inf).argmax(axis=1)


def answer_greedily(task: Task, task_id: int, states: np.ndarray, network: Network) -> GreedyAnswers:
    """Play every puzzle of ``states [n, S]`` with the policy's most likely legal action (no search), in one batch."""
    states = np.array(states, dtype=np.int64)
    with_segments = getattr(network, "call_with_segments", None)
    passes = np.zeros(len(states), dtype=np.int64)
    segments = np.zeros(len(states), dtype=np.int64)
    all_halted = np.ones(len(states), dtype=bool)
    moves = np.full((len(states), task.spec.max_steps), -1, dtype=np.int64)
    for step in range(task.spec.max_steps):
        rows = np.flatnonzero(~task.is_terminal(states))
        if len(rows) == 0:
            break
        tokens, task_ids = task.encode(states[rows]), np.full(len(rows), task_id, dtype=np.int64)
        if with_segments is None:
            logits, _ = network(tokens, task_ids)
        else:
            logits, _, used, halted = with_segments(tokens, task_ids)
            segments[rows] += used
            all_halted[rows] &= halted
        passes[rows] += 1
        actions = most_likely_legal(task, states[rows], logits)
        states[rows] = task.step(states[rows], actions)
        moves[rows, step] = actions
    _check_finished(task, states, "an episode")
    reported = with_segments is not None
    return GreedyAnswers(
        task.outcome(states) >= 1.0, moves, passes, segments if reported else None, all_halted if reported else None
    )


@dataclass(frozen=True)
class SearchPlayer:
    """A game player that chooses its moves by `BatchedSearch` with ``network`` and ``config``."""

    network: Network
    config: SearchConfig


Player = SearchPlayer | Mover


def play_games(
    task: Task,
    task_id: int,
    openings: np.ndarray,
    seats: np.ndarray,
    players: tuple[Player, Player],
    seeds: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Play B two-player games to the end; ``int64 [B]`` results +1 / 0 / -1 from ``players[0]``'s view,
    and ``int64 [B, max_steps]`` the moves played in each game (-1 once it has ended).

    ``openings [B, S]`` are the starting states; ``seats [B]`` the game player
    (0 or 1) that ``players[0]`` controls in each game (``players[1]`` has the
    other). A `SearchPlayer` gets one `BatchedSearch` over all B games, seeded
    with ``seeds [B]``, and searches only the games where it is to move; a
    `Mover` is called on the states where it is to move.
    """
    states = np.array(openings, dtype=np.int64)
    seats = np.asarray(seats, dtype=np.int64)
    searches: list[BatchedSearch | None] = []
    for player in players:
        search = None
        if isinstance(player, SearchPlayer):
            search = BatchedSearch(task, player.network, player.config, batch_size=len(states), task_id=task_id)
            search.reset(states, seeds)
        searches.append(search)
    moves = np.full((len(states), task.spec.max_steps), -1, dtype=np.int64)
    for step in range(task.spec.max_steps):
        live = ~task.is_terminal(states)
        if not live.any():
            break
        first_to_move = task.to_play(states) == seats
        actions = np.full(len(states), -1, dtype=np.int64)
        for player, search, turn in zip(players, searches, (live & first_to_move, live & ~first_to_move), strict=True):
            if not turn.any():
                continue
            if search is not None:
                actions[turn] = search.run(active=turn).actions[turn]
            else:
                actions[turn] = np.asarray(player(states[turn]), dtype=np.int64)
        # Both searches advance with every game's move, so each keeps its subtree under the move played.
        for search in searches:
            if search is not None:
                search.advance(actions)
        states[live] = task.step(states[live], actions[live])
        moves[:, step] = actions
    _check_finished(task, states, "a game")
    # The outcome is from the view of the player to move in the terminal state.
    outcome = task.outcome(states)
    return np.rint(np.where(task.to_play(states) == seats, outcome, -outcome)).astype(np.int64), moves


def play_match(
    task: Task, task_id: int, openings: np.ndarray, seeds: np.ndarray, first: Player, second: Player
) -> tuple[np.ndarray, np.ndarray]:
    """Each opening of ``openings [n, S]`` twice, colours swapped; `play_games`' results and moves of the 2n games.

    Game ``2i`` has ``first`` move first from opening ``i``, game ``2i + 1`` has
    ``second`` move first; both games of a pair share the seed ``seeds[i]``.
    """
    to_move = task.to_play(openings)
    seats = np.stack([to_move, 1 - to_move], axis=1).reshape(-1)
    return play_games(task, task_id, np.repeat(openings, 2, axis=0), seats, (first, second), np.repeat(seeds, 2))


def lost_game(task: Task, opening: np.ndarray, moves: np.ndarray, network_first: bool) -> dict:
    """A readable record of one lost match game: the opening, whether the network moved first, the moves played."""
    state, described = opening, []
    for action in moves[moves >= 0]:
        described.append(task.describe_action(state, int(action)))
        state = task.play(state, [int(action)])
    return {"opening": task.render(opening), "network_moved_first": network_first, "moves": described}


def wins_draws_losses(results: np.ndarray) -> tuple[int, int, int]:
    """Counts of ``results`` (+1 / 0 / -1 per game, from the first player's view) as (wins, draws, losses)."""
    return int((results > 0).sum()), int((results == 0).sum()), int((results < 0).sum())
