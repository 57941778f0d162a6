"""The evaluator: gates a candidate network against the current best, and measures strength on an absolute scale.

    evaluator = Evaluator(tasks, model, search, evaluation, seed)          # or create_evaluator(...) as a Ray actor
    record = evaluator.gate(candidate_version, [weights_ref], best_version, [best_ref])  # record["accepted"]
    record = evaluator.reference(version, weights)                         # solve rates, W/D/L per opponent

Both sides play the same held-out instances with the same search budget:

- Held-out instances are fixed per task id: instance ``j`` of ``n`` has difficulty
  ``linspace(low, high, n)[j]`` over the entry's difficulty range (or
  ``evaluation.difficulty``) and a seed in ``[2**31, 2**32)`` derived from (the
  evaluation seed, task id, j); self-play draws seeds below ``2**31``, so the two
  never meet. A seed whose instance repeats an earlier one is redrawn (a few times)
  so that a small task's set has as few duplicates as it can.
- Search is the run's `SearchConfig` with exploration off: no Dirichlet noise,
  temperature 0 (PUCT plays the most visited action), Gumbel noise scale 0 (Gumbel
  plays the argmax of the improved policy among the most visited actions, with the
  considered actions the prior's top ones); ``evaluation.num_simulations`` or the
  run's. Evaluation is therefore deterministic: the same weights give the same record.
- Puzzles: every held-out instance of a task is searched to the end in one batch;
  solved means the final state's outcome is 1.0. Reported per task and per
  difficulty bucket, and for references also with the bare policy (greedy, no search).
- Games: a match on the held-out openings, each opening played twice with colours
  swapped (the candidate moves first in one game, the best in the other). Two
  `BatchedSearch` objects, one per network, hold the same games: at each move each
  searches only the slots whose player to move it controls (``run(active=...)``),
  and both advance with the combined moves, so each keeps its own reused subtree.
  Games are played in rounds of ``games_per_round`` and the match may stop early
  (see `early_stop`). Reference opponents (perfect minimax, alpha-beta at fixed
  depths, uniform random) move directly, the network with search, both colours.

Promotion (``gating: threshold``), per *part*: every task is a part, and all puzzle
tasks pooled are one more part when there are two or more of them. A part passes,
is neutral, or is significantly worse:

- a game task passes iff its match is accepted: the SPRT accepted early, or the
  result was already decided, or all games were played and the score
  ``(wins + draws / 2) / games >= win_rate_threshold``; it is worse iff it did not
  pass and its score over the games played is ``<= 1 - win_rate_threshold``;
- a puzzle part passes iff the exact one-sided sign test on its discordant pairs
  (instances only the candidate solved vs. only the best solved) gives
  ``p <= puzzle_significance``; it is worse iff the same test in the other
  direction does.

The candidate is accepted iff at least one part passes and no part is worse.
With ``gating: always`` every candidate is accepted and the same results recorded.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from actors.evaluator.config import EvaluationConfig
from actors.search import BatchedSearch, SearchConfig
from actors.search.batched import Network
from actors.tasks.base import Task
from actors.tasks.config import TaskEntry, TasksConfig
from actors.tasks.registry import TaskMix
from common.process import resident_bytes

if TYPE_CHECKING:
    from learner.models import ModelConfig

HELD_OUT_SEED_BASE = 2**31  # self-play seeds are below this, held-out seeds at or above it
_HELD_OUT_TAG = 0xE7A1  # mixed into held-out seeds so that no other seed sequence of the project collides
_RANDOM_TAG = 0x5EED
_REDRAWS = 8  # seeds tried per held-out instance to avoid a duplicate
_EPS = 1e-9  # score comparisons: 0.55 * 40 is 22.000000000000004 in floating point

# A reference opponent: states [k, S] (its player to move) -> actions [k].
Mover = Callable[[np.ndarray], np.ndarray]


def evaluation_search_config(search: SearchConfig, num_simulations: int | None = None) -> SearchConfig:
    """``search`` with exploration off (no Dirichlet noise, temperature 0, no Gumbel noise) and the given budget."""
    return dataclasses.replace(
        search,
        num_simulations=num_simulations or search.num_simulations,
        dirichlet_fraction=0.0,
        temperature_init=0.0,
        temperature_final=0.0,
        gumbel_scale=0.0,
    )


# ----- statistics ------------------------------------------------------------------------


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
    w, d, lo = wins + 0.5, draws + 0.5, losses + 0.5
    total = w + d + lo
    centre = (w + d / 2) / total
    var = (w * (1.0 - centre) ** 2 + d * (0.5 - centre) ** 2 + lo * centre**2) / total
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


def decide_promotion(parts: dict[str, tuple[str, str]], gating: str) -> tuple[bool, str]:
    """(accepted, reason) from ``parts``: name -> (verdict, a short summary of its evidence).

    "always" accepts; "threshold" accepts iff some part passes and none is worse.
    """
    passed = [f"{name} ({summary})" for name, (verdict, summary) in parts.items() if verdict == "pass"]
    worse = [f"{name} ({summary})" for name, (verdict, summary) in parts.items() if verdict == "worse"]
    if gating == "always":
        return True, "gating is off: every candidate is promoted"
    if worse:
        return False, "worse on " + "; ".join(worse)
    if passed:
        return True, "better on " + "; ".join(passed)
    summaries = "; ".join(f"{name} ({summary})" for name, (_, summary) in parts.items())
    return False, "not significantly better on any part: " + summaries


# ----- held-out instances ----------------------------------------------------------------


@dataclass(frozen=True)
class HeldOut:
    """The fixed held-out instances of one task: ``states [n, S]``, ``seeds int64 [n]``, ``difficulties [n]``."""

    states: np.ndarray
    seeds: np.ndarray
    difficulties: np.ndarray


def held_out_seed(evaluation_seed: int, task_id: int, index: int, redraw: int = 0) -> int:
    """The seed of held-out instance ``index`` of task ``task_id``, in ``[2**31, 2**32)``."""
    entropy = [_HELD_OUT_TAG, int(evaluation_seed), int(task_id), int(index), int(redraw)]
    return HELD_OUT_SEED_BASE + int(np.random.SeedSequence(entropy).generate_state(1, np.uint32)[0] >> 1)


def held_out_set(task: Task, task_id: int, difficulty: tuple[float, float], count: int, seed: int) -> HeldOut:
    """``count`` instances with difficulties spread evenly over ``difficulty`` (both ends included)."""
    difficulties = np.linspace(difficulty[0], difficulty[1], count)
    states, seeds, seen = [], [], set()
    for index, d in enumerate(difficulties.tolist()):
        for redraw in range(_REDRAWS):
            instance_seed = held_out_seed(seed, task_id, index, redraw)
            state = task.generate(instance_seed, d)
            if state.tobytes() not in seen:
                break  # otherwise the last redraw is kept: a task may have fewer instances than asked for
        seen.add(state.tobytes())
        states.append(state)
        seeds.append(instance_seed)
    return HeldOut(np.array(states, dtype=np.int64), np.array(seeds, dtype=np.int64), difficulties)


def difficulty_buckets(
    difficulties: np.ndarray, difficulty: tuple[float, float], buckets: int
) -> list[tuple[str, np.ndarray]]:
    """``[(label, bool [n] members)]``: equal slices of the range ``difficulty``; empty slices are left out."""
    low, high = difficulty
    if high <= low:
        return [(f"{low:.2f}-{high:.2f}", np.ones(len(difficulties), dtype=bool))]
    edges = np.linspace(low, high, buckets + 1)
    index = np.clip(np.searchsorted(edges, difficulties, side="right") - 1, 0, buckets - 1)
    return [(f"{edges[b]:.2f}-{edges[b + 1]:.2f}", index == b) for b in range(buckets) if (index == b).any()]


# ----- play ------------------------------------------------------------------------------


def solve_with_search(
    task: Task, task_id: int, states: np.ndarray, seeds: np.ndarray, network: Network, config: SearchConfig
) -> np.ndarray:
    """Search every puzzle of ``states [n, S]`` to the end in one batch; ``bool [n]`` solved (outcome 1.0)."""
    search = BatchedSearch(task, network, config, batch_size=len(states), task_id=task_id)
    search.reset(states, seeds)
    for _ in range(task.spec.max_steps):
        if search.done.all():
            break
        search.advance(search.run().actions)
    final = search.root_states
    if not task.is_terminal(final).all():
        raise RuntimeError(f"{task.name}: an episode outlasted max_steps = {task.spec.max_steps}")
    return task.outcome(final) >= 1.0


def solve_greedily(task: Task, task_id: int, states: np.ndarray, network: Network) -> np.ndarray:
    """Play every puzzle of ``states [n, S]`` with the policy's most likely legal action; ``bool [n]`` solved."""
    states = np.array(states, dtype=np.int64)
    for _ in range(task.spec.max_steps):
        rows = np.flatnonzero(~task.is_terminal(states))
        if len(rows) == 0:
            break
        logits, _ = network(task.encode(states[rows]), np.full(len(rows), task_id, dtype=np.int64))
        legal = task.legal_mask(states[rows])
        actions = np.where(legal, np.asarray(logits)[:, : task.spec.num_actions], -np.inf).argmax(axis=1)
        states[rows] = task.step(states[rows], actions)
    if not task.is_terminal(states).all():
        raise RuntimeError(f"{task.name}: an episode outlasted max_steps = {task.spec.max_steps}")
    return task.outcome(states) >= 1.0


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
        for search in searches:
            if search is not None:
                search.advance(actions)
        states[live] = task.step(states[live], actions[live])
        moves[:, step] = actions
    if not task.is_terminal(states).all():
        raise RuntimeError(f"{task.name}: a game outlasted max_steps = {task.spec.max_steps}")
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
    return int((results > 0).sum()), int((results == 0).sum()), int((results < 0).sum())


def random_mover(task: Task, rng: np.random.Generator) -> Mover:
    """A uniformly random legal move per state, drawn from ``rng``."""

    def move(states: np.ndarray) -> np.ndarray:
        legal = task.legal_mask(states)
        return np.where(legal, rng.random(legal.shape), -1.0).argmax(axis=1)

    return move


def solver_mover(task: Task, depth: int | None = None) -> Mover:
    """The task's exact solver's move (`Task.solve`), or with ``depth`` its depth-bounded ``best_action``."""

    def move(states: np.ndarray) -> np.ndarray:
        if depth is None:
            return np.array([task.solve(state)[0] for state in states], dtype=np.int64)
        return np.array([task.best_action(state, depth) for state in states], dtype=np.int64)

    return move


def reference_opponents(task: Task, rng: np.random.Generator, connect4_depths: list[int]) -> dict[str, Mover]:
    """The reference opponents of a game kind by name: its solver(s) and a uniformly random player."""
    if task.kind == "connect4":
        opponents = {f"alphabeta-{depth}": solver_mover(task, depth) for depth in connect4_depths}
    elif task.kind == "tictactoe":
        opponents = {"minimax": solver_mover(task)}
    else:
        opponents = {"solver": solver_mover(task)}
    opponents["random"] = random_mover(task, rng)
    return opponents


# ----- the evaluator ---------------------------------------------------------------------


def task_labels(tasks: list[Task]) -> list[str]:
    """One label per task id: ``family/kind``, with ``#id`` appended where a kind appears twice in the mix."""
    names = [task.name for task in tasks]
    return [name if names.count(name) == 1 else f"{name}#{task_id}" for task_id, name in enumerate(names)]


class Evaluator:
    """Gates candidates and measures models on the fixed held-out sets of a run's task mix.

    Plain class; `create_evaluator` makes it a Ray actor. The public methods take
    weights; `compare` and `measure` take network callables (used by the former,
    and by tests with networks that need no weights).
    """

    def __init__(
        self,
        tasks: TasksConfig,
        model: ModelConfig,
        search: SearchConfig,
        evaluation: EvaluationConfig,
        seed: int,
    ) -> None:
        self.mix = TaskMix(tasks)
        self.tasks = self.mix.tasks
        self.entries: list[TaskEntry] = self.mix.entries
        self.labels = task_labels(self.tasks)
        self.model_config = model
        self.config = evaluation
        # Per task id: its own search settings, exploration off.
        self.searches = [
            evaluation_search_config(search.with_overrides(entry.search), evaluation.num_simulations)
            for entry in self.entries
        ]
        self.seed = int(seed)
        self._held_out: dict[tuple[int, int], HeldOut] = {}
        self._networks: list[Any] = []  # two TorchNetworks, built on first use

    # ----- public: weights in, JSON-ready records out -----

    def gate(self, candidate_version: int, candidate: list | dict, best_version: int, best: list | dict) -> dict:
        """Compare candidate weights with the best's; the JSON-ready record holds ``accepted`` and ``reason``.

        ``candidate`` / ``best``: a state dict of numpy arrays, or a one-element
        list holding one or an ObjectRef of one (fetched here, once).
        """
        start = time.perf_counter()
        candidate_network, best_network = self._load(candidate, 0), self._load(best, 1)
        record = {"candidate_version": int(candidate_version), "best_version": int(best_version)}
        record.update(self.compare(candidate_network, best_network))
        record["seconds"] = round(time.perf_counter() - start, 3)
        record["rss_bytes"] = resident_bytes()
        return record

    def reference(self, version: int, weights: list | dict) -> dict:
        """The model's absolute strength: per task label, ``solve_rate`` and ``greedy_solve_rate`` for
        puzzles, ``wins`` / ``draws`` / ``losses`` per reference opponent for games."""
        start = time.perf_counter()
        record = {"version": int(version), **self.measure(self._load(weights, 0))}
        record["seconds"] = round(time.perf_counter() - start, 3)
        return record

    # ----- public: network callables -----

    def compare(self, candidate: Network, best: Network) -> dict:
        """The gate's record for two networks: accepted, reason, gating, tasks, parts, and maybe reference."""
        tasks, parts, candidate_solved = {}, {}, {}
        for task_id, task in enumerate(self.tasks):
            label = self.labels[task_id]
            if task.spec.num_players == 2:
                tasks[label] = result = self._match(task_id, candidate, best)
                parts[label] = (result["verdict"], f"score {result['score']:.3f} in {result['games']} games")
            else:
                tasks[label], candidate_solved[task_id] = self._puzzle_comparison(task_id, candidate, best)
                parts[label] = (tasks[label]["verdict"], _puzzle_summary(tasks[label]))
        record: dict[str, Any] = {"gating": self.config.gating}
        if len(candidate_solved) >= 2:
            record["puzzles_pooled"] = pooled = self._pooled([tasks[self.labels[i]] for i in candidate_solved])
            parts["puzzles (pooled)"] = (pooled["verdict"], _puzzle_summary(pooled))
        accepted, reason = decide_promotion(parts, self.config.gating)
        record = {"accepted": accepted, "reason": reason, **record, "tasks": tasks}
        record["parts"] = {name: verdict for name, (verdict, _) in parts.items()}
        if self.config.reference_in_gate:
            record["reference"] = self.measure(candidate, candidate_solved)
        return record

    def _pooled(self, puzzle_records: list[dict]) -> dict:
        """The sign test over the discordant instances of all puzzle tasks together."""
        counts = {key: sum(r[key] for r in puzzle_records) for key in ("instances", "candidate_only", "best_only")}
        verdict, p_better, p_worse = puzzle_verdict(
            counts["candidate_only"], counts["best_only"], self.config.puzzle_significance
        )
        return {**counts, "p_better": p_better, "p_worse": p_worse, "verdict": verdict}

    def measure(self, network: Network, solved: dict[int, np.ndarray] | None = None) -> dict:
        """``{"tasks": {label: ...}}``, the reference record of ``network`` (see `reference`).

        ``solved`` may hold the search results of puzzle tasks (by task id) already
        computed on the same held-out sets, which are then not searched again.
        """
        tasks = {}
        for task_id, task in enumerate(self.tasks):
            if task.spec.num_players == 2:
                tasks[self.labels[task_id]] = self._reference_games(task_id, network)
            else:
                known = None if solved is None else solved.get(task_id)
                tasks[self.labels[task_id]] = self._reference_puzzles(task_id, network, known)
        return {"tasks": tasks}

    # ----- internals -----

    def held_out(self, task_id: int, count: int) -> HeldOut:
        """The fixed held-out set of ``count`` instances of task ``task_id`` (computed once)."""
        key = (task_id, count)
        if key not in self._held_out:
            self._held_out[key] = held_out_set(
                self.tasks[task_id], task_id, self._difficulty(task_id), count, self.seed
            )
        return self._held_out[key]

    def _difficulty(self, task_id: int) -> tuple[float, float]:
        return tuple(self.config.difficulty or self.entries[task_id].difficulty)

    def _match(self, task_id: int, candidate: Network, best: Network) -> dict:
        """Candidate vs best on task ``task_id``'s held-out openings, in rounds, with early stopping."""
        task, config = self.tasks[task_id], self.config
        held = self.held_out(task_id, config.games_per_task // 2)
        players = (SearchPlayer(candidate, self.searches[task_id]), SearchPlayer(best, self.searches[task_id]))
        pairs_per_round = config.games_per_round // 2
        wins = draws = losses = 0
        stop = None
        for start in range(0, len(held.states), pairs_per_round):
            rows = slice(start, start + pairs_per_round)
            results, _ = play_match(task, task_id, held.states[rows], held.seeds[rows], *players)
            w, d, lo = wins_draws_losses(results)
            wins, draws, losses = wins + w, draws + d, losses + lo
            if wins + draws + losses < config.games_per_task:
                stop = early_stop(wins, draws, losses, config.games_per_task, config)
                if stop is not None:
                    break
        games = wins + draws + losses
        score = (wins + draws / 2) / games
        if stop is None:
            met = meets_threshold(wins + draws / 2, games, config.win_rate_threshold)
            stop = ("accept" if met else "reject", "threshold")
        accepted = stop[0] == "accept"
        return {
            "task_id": task_id,
            "type": "game",
            "games": games,
            "wins": wins,
            "draws": draws,
            "losses": losses,
            "score": score,
            "decision": stop[0],
            "rule": stop[1],
            "llr": sprt_llr(wins, draws, losses, config.sprt_p0, config.sprt_p1),
            "verdict": game_verdict(accepted, score, config.win_rate_threshold),
        }

    def _puzzle_comparison(self, task_id: int, candidate: Network, best: Network) -> tuple[dict, np.ndarray]:
        """Both networks on task ``task_id``'s held-out puzzles: the record, and ``bool [n]`` the candidate's solves."""
        task = self.tasks[task_id]
        held = self.held_out(task_id, self.config.puzzles_per_task)
        search = self.searches[task_id]
        solved_c = solve_with_search(task, task_id, held.states, held.seeds, candidate, search)
        solved_b = solve_with_search(task, task_id, held.states, held.seeds, best, search)
        candidate_only, best_only = int((solved_c & ~solved_b).sum()), int((solved_b & ~solved_c).sum())
        verdict, p_better, p_worse = puzzle_verdict(candidate_only, best_only, self.config.puzzle_significance)
        by_difficulty = {
            label: {
                "instances": int(members.sum()),
                "candidate_solve_rate": float(solved_c[members].mean()),
                "best_solve_rate": float(solved_b[members].mean()),
            }
            for label, members in difficulty_buckets(
                held.difficulties, self._difficulty(task_id), self.config.difficulty_buckets
            )
        }
        record = {
            "task_id": task_id,
            "type": "puzzle",
            "instances": len(held.states),
            "candidate_solve_rate": float(solved_c.mean()),
            "best_solve_rate": float(solved_b.mean()),
            "candidate_only": candidate_only,
            "best_only": best_only,
            "p_better": p_better,
            "p_worse": p_worse,
            "verdict": verdict,
            "by_difficulty": by_difficulty,
        }
        return record, solved_c

    def _reference_puzzles(self, task_id: int, network: Network, solved: np.ndarray | None) -> dict:
        task = self.tasks[task_id]
        held = self.held_out(task_id, self.config.puzzles_per_task)
        if solved is None:
            solved = solve_with_search(task, task_id, held.states, held.seeds, network, self.searches[task_id])
        greedy = solve_greedily(task, task_id, held.states, network)
        by_difficulty = {
            label: {
                "instances": int(members.sum()),
                "solve_rate": float(solved[members].mean()),
                "greedy_solve_rate": float(greedy[members].mean()),
            }
            for label, members in difficulty_buckets(
                held.difficulties, self._difficulty(task_id), self.config.difficulty_buckets
            )
        }
        return {
            "solve_rate": float(solved.mean()),
            "greedy_solve_rate": float(greedy.mean()),
            "instances": len(held.states),
            "by_difficulty": by_difficulty,
        }

    def _reference_games(self, task_id: int, network: Network) -> dict:
        """Per opponent name, the network's (with search) wins, draws and losses over both colours,
        and each lost game: its opening, the network's side and the moves played (to see where it fails)."""
        task = self.tasks[task_id]
        openings, seeds = self._reference_openings(task_id, self.config.reference_games // 2)
        rng = np.random.default_rng([_RANDOM_TAG, self.seed, task_id])
        record = {}
        for name, mover in reference_opponents(task, rng, self.config.connect4_reference_depths).items():
            player = SearchPlayer(network, self.searches[task_id])
            results, moves = play_match(task, task_id, openings, seeds, player, mover)
            wins, draws, losses = wins_draws_losses(results)
            lost = [
                lost_game(task, openings[game // 2], moves[game], network_first=bool(game % 2 == 0))
                for game in np.flatnonzero(results < 0)
            ]
            record[name] = {"wins": wins, "draws": draws, "losses": losses, "lost_games": lost}
        return record

    def _reference_openings(self, task_id: int, count: int) -> tuple[np.ndarray, np.ndarray]:
        """``count`` held-out openings for reference games, and their seeds.

        Where the game has exact values (tic-tac-toe), only balanced openings (game value 0)
        are used: from a lost opening even perfect play loses, which would say nothing of
        the network. Drawn from a larger held-out pool, so the set is still fixed.
        """
        task = self.tasks[task_id]
        if not getattr(task, "exact_values", False):
            held = self.held_out(task_id, count)
            return held.states, held.seeds
        pool = self.held_out(task_id, 8 * count)
        balanced = np.array([i for i, state in enumerate(pool.states) if task.value(state) == 0.0][:count])
        return pool.states[balanced], pool.seeds[balanced]

    def _load(self, weights: list | dict, index: int) -> Network:
        """TorchNetwork ``index`` (0 or 1) holding ``weights``."""
        from actors.inference import build_network, fetch_weights

        while len(self._networks) <= index:  # the initial weights are replaced at once
            specs = [task.spec for task in self.tasks]
            self._networks.append(
                build_network(self.model_config, specs, device=self.config.device, section="evaluation")
            )
        network = self._networks[index]
        network.load_state_dict(fetch_weights(weights))
        return network


def _puzzle_summary(record: dict) -> str:
    return (
        f"{record['candidate_only']} solved by the candidate only, {record['best_only']} by the best only:"
        f" p_better {record['p_better']:.3g}, p_worse {record['p_worse']:.3g}"
    )


def create_evaluator(
    tasks: TasksConfig, model: ModelConfig, search: SearchConfig, evaluation: EvaluationConfig, seed: int
) -> Any:
    """Start an `Evaluator` as a Ray actor reserving ``evaluation.num_cpus``; returns its handle.

    The evaluator holds no state a restart would lose (its held-out sets are
    recomputed identically), and its calls are deterministic, so a call in flight
    during a restart is retried once.
    """
    import ray

    actor = ray.remote(num_cpus=evaluation.num_cpus, max_restarts=-1, max_task_retries=1)(Evaluator)
    return actor.remote(tasks, model, search, evaluation, seed)


def format_reference(record: dict) -> str:
    """A human-readable text of a `Evaluator.reference` record, one line per task."""
    lines = [f"version {record.get('version', '?')} ({record.get('seconds', 0.0):.1f} s)"]
    width = max((len(label) for label in record["tasks"]), default=0)
    for label, result in record["tasks"].items():
        if "solve_rate" in result:
            text = (
                f"solve rate {result['solve_rate']:.3f} with search, {result['greedy_solve_rate']:.3f} greedy"
                f" ({result['instances']} instances)"
            )
        else:
            text = "   ".join(
                f"vs {name}: {r['wins']} W / {r['draws']} D / {r['losses']} L" for name, r in result.items()
            )
        lines.append(f"{label:<{width}}  {text}")
        if "solve_rate" not in result:
            lines.extend(_lost_game_lines(result))
    return "\n".join(lines)


def _lost_game_lines(result: dict) -> list[str]:
    """One indented line per lost reference game: opponent, opening (rows joined by " / "), moves."""
    lines = []
    for name, r in result.items():
        for game in r.get("lost_games", []):
            side = "first" if game["network_moved_first"] else "second"
            opening = game["opening"].replace("\n", " / ")
            lines.append(f"    lost vs {name}, moving {side} from [{opening}]: {'; '.join(game['moves'])}")
    return lines
