"""The `Evaluator`: gates a candidate network against the current best, and measures strength on an absolute scale.

    evaluator = Evaluator(tasks, model, search, evaluation, seed)          # or create_evaluator(...) as a Ray actor
    record = evaluator.gate(candidate_version, [weights_ref], best_version, [best_ref])  # record["accepted"]
    record = evaluator.reference(version, weights)                         # solve rates, W/D/L per opponent

Both sides play the same held-out instances (heldout.py) with the same search budget
(matches.py). Search is the run's `SearchConfig` with exploration off: no Dirichlet
noise, temperature 0 (PUCT plays the most visited action), Gumbel noise scale 0
(Gumbel plays the argmax of the improved policy among the most visited actions, with
the considered actions the prior's top ones); ``evaluation.num_simulations`` or the
run's. Evaluation is therefore deterministic: the same weights give the same record.
Game matches are played in rounds of ``games_per_round`` and may stop early (see
`early_stop` in stats.py).

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

The reference record (`reference`, `measure`) gives, per task label:

- a puzzle task, over its held-out instances: ``solve_rate``, the share search solves
  (played to the end with the evaluation search; solved means final outcome 1.0);
  ``greedy_solve_rate``, the share the raw network solves (no search: at every move the
  policy's most likely legal action, `answer_greedily`); ``accuracy``, the original
  design's HRM accuracy, "the share of instances whose raw-network answer verifies":
  the same definition, so the same figure, computed once and given under both names.
  ``convergence_rate``: the share whose raw-network answer verifies *and* every forward
  pass of which the halting head stopped within the segment cap (``halting_cap``, the
  model's ``inference_steps``) rather than the cap cutting it off; ``mean_halting_steps``:
  segments per forward pass, over all of the task's passes. These two exist only where
  inference halts (``model.inference_halting`` on and ``inference_steps`` > 1); elsewhere
  they are null and ``halting_note`` says why (every preset infers without halting).
  ``by_difficulty``: per difficulty bucket, its ``instances`` and the same figures.
- a game task, per reference opponent (opponents.py): the network's ``wins`` / ``draws``
  / ``losses`` with search over both colours, and its ``lost_games``.

``mistakes``, per Connect Four task label (while ``evaluation.connect4_positions`` > 0): the
mistake rate (mistakes.py) on that many held-out positions solved exactly once per evaluator:
``positions``, ``critical`` (positions where some move is a mistake), and per player
(``network``: the raw policy's most likely legal move; ``search``: the evaluation search's
move) ``<player>_mistakes`` and ``<player>_rate`` (mistakes per position), over all positions
and ``by_stage`` (plies played) and ``by_distance`` (plies to the end under perfect play);
``simulations``: the search's budget per move. Beside ``tasks`` for the same reason as ``elo``.

``elo``, per game task label and reference opponent: ``elo``, the network's Elo difference
to the opponent (`elo_difference`; positive: the network is stronger), its 95%
``elo_interval`` and the ``games`` it rests on. It sits beside ``tasks`` because a game
task's record holds its opponents' results and nothing else (`cluster.report` reads it so).

Over all puzzle tasks pooled, the original design's keys: ``hrm.accuracy`` (verified
raw-network answers over all instances) and ``trm.convergence_rate`` (over all
instances) and ``trm.mean_halting_steps`` (over all forward passes). Neither depends on
the architecture (HRM and TRM both have a policy and a halting head), so both are
measured on the run's one network, whichever it is, and ``arch`` in each block names
it: the "hrm" figure of a TRM run is the design's HRM metric measured on a TRM. Without
a puzzle task, or without halting, a figure is null and the block's ``note`` says why.
"""

from __future__ import annotations

import dataclasses
import time
from typing import TYPE_CHECKING, Any

import numpy as np

from actors.evaluator.config import EvaluationConfig
from actors.evaluator.heldout import HeldOut, difficulty_buckets, held_out_set, solve_rates_by_difficulty
from actors.evaluator.matches import (
    GreedyAnswers,
    SearchPlayer,
    answer_greedily,
    lost_game,
    play_match,
    solve_with_search,
    wins_draws_losses,
)
from actors.evaluator.mistakes import (
    LabelledPositions,
    greedy_moves,
    held_out_positions,
    label_positions,
    mistake_record,
    search_moves,
)
from actors.evaluator.opponents import reference_opponents
from actors.evaluator.stats import (
    early_stop,
    elo_difference,
    game_verdict,
    meets_threshold,
    puzzle_verdict,
    sprt_llr,
)
from actors.evaluator.text import game_summary, puzzle_summary
from actors.search import SearchConfig
from actors.search.batched import Network
from actors.tasks.base import Task
from actors.tasks.config import TaskEntry, TasksConfig
from actors.tasks.registry import TaskMix
from common.process import ReportsLocation, actor_location, cpu_percent, resident_bytes

if TYPE_CHECKING:
    from learner.models import Hyperparams, ModelConfig

_RANDOM_TAG = 0x5EED  # mixed into the random reference opponent's seed


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


def network_hyperparams(network: Network) -> Hyperparams | None:
    """The model settings of a network that reports its halting (a `TorchNetwork`); None for another callable."""
    return network.module.hp if hasattr(network, "call_with_segments") else None


def halting_cap(hp: Hyperparams | None) -> tuple[int | None, str | None]:
    """``(cap, None)`` where a network of settings ``hp`` halts on its own within ``cap`` segments at
    inference, else ``(None, why not)``: only with ``model.inference_halting`` on and more than one segment."""
    if hp is None:
        return None, "the network reports no segments (it is not a TorchNetwork)"
    if not hp.inference_halting:
        return None, (
            f"no halting at inference (model.inference_halting is off): every forward pass runs"
            f" model.inference_steps = {hp.inference_steps} segment(s)"
        )
    if hp.inference_steps == 1:
        return None, "model.inference_steps is 1: every forward pass runs its one segment, none can halt earlier"
    return hp.inference_steps, None


def pooled_raw_network(answers: list[GreedyAnswers], arch: str | None, cap: int | None, note: str | None) -> dict:
    """The original design's ``hrm`` and ``trm`` figures over the raw network's ``answers`` to every puzzle task.

    ``arch``: the architecture measured; ``cap`` / ``note``: its `halting_cap` (see the module docstring).
    """
    instances = sum(len(a.solved) for a in answers)
    hrm: dict[str, Any] = {"accuracy": None, "instances": instances, "arch": arch}
    trm: dict[str, Any] = {"convergence_rate": None, "mean_halting_steps": None, "halting_cap": cap}
    trm.update(instances=instances, arch=arch)
    if not answers:
        hrm["note"] = trm["note"] = "no puzzle task in the mix (these are figures of puzzles)"
        return {"hrm": hrm, "trm": trm}
    hrm["accuracy"] = sum(int(a.solved.sum()) for a in answers) / instances
    if cap is None:
        trm["note"] = note
    else:
        trm["convergence_rate"] = sum(int((a.solved & a.all_halted).sum()) for a in answers) / instances
        passes = sum(int(a.passes.sum()) for a in answers)
        trm["mean_halting_steps"] = sum(int(a.segments.sum()) for a in answers) / passes if passes else None
    return {"hrm": hrm, "trm": trm}


def reference_elo(result: dict) -> dict:
    """``{"elo", "elo_interval": [low, high], "games"}`` from one reference opponent's wins, draws and losses."""
    estimate = elo_difference(result["wins"], result["draws"], result["losses"])
    games = result["wins"] + result["draws"] + result["losses"]
    return {"elo": estimate.elo, "elo_interval": [estimate.low, estimate.high], "games": games}


def task_labels(tasks: list[Task]) -> list[str]:
    """One label per task id: ``family/kind``, with ``#id`` appended where a kind appears twice in the mix."""
    names = [task.name for task in tasks]
    return [name if names.count(name) == 1 else f"{name}#{task_id}" for task_id, name in enumerate(names)]


class Evaluator(ReportsLocation):
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
        self._labelled: dict[tuple[int, int], LabelledPositions] = {}  # Connect Four's solved positions
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
        record["cpu_percent"] = cpu_percent()
        record["actor"] = actor_location()
        return record

    def reference(self, version: int, weights: list | dict, progress: Any = None) -> dict:
        """The model's absolute strength, the reference record (see the module docstring): per task label
        solve rates and halting figures for puzzles, W/D/L per reference opponent for games, their Elo,
        and the pooled ``hrm`` / ``trm`` figures. ``progress`` (in-process callers only): told of each
        task as it starts and finishes (``start(label)``, ``done()``, as `cluster.monitor.StepProgress`)."""
        start = time.perf_counter()
        record = {"version": int(version), **self.measure(self._load(weights, 0), progress=progress)}
        record["seconds"] = round(time.perf_counter() - start, 3)
        return record

    # ----- public: network callables -----

    def compare(self, candidate: Network, best: Network) -> dict:
        """The gate's record for two networks: accepted, reason, gating, tasks, parts, and maybe reference."""
        tasks, parts, candidate_solved = {}, {}, {}
        for task_id, task in enumerate(self.tasks):
            label = self.labels[task_id]
            if task.spec.num_players == 2:
                tasks[label] = self._match(task_id, candidate, best)
                parts[label] = (tasks[label]["verdict"], game_summary(tasks[label]))
            else:
                tasks[label], candidate_solved[task_id] = self._puzzle_comparison(task_id, candidate, best)
                parts[label] = (tasks[label]["verdict"], puzzle_summary(tasks[label]))
        record: dict[str, Any] = {"gating": self.config.gating}
        if len(candidate_solved) >= 2:
            record["puzzles_pooled"] = pooled = self._pooled([tasks[self.labels[i]] for i in candidate_solved])
            parts["puzzles (pooled)"] = (pooled["verdict"], puzzle_summary(pooled))
        accepted, reason = decide_promotion(parts, self.config.gating)
        record = {"accepted": accepted, "reason": reason, **record, "tasks": tasks}
        record["parts"] = {name: verdict for name, (verdict, _) in parts.items()}
        if self.config.reference_in_gate:
            record["reference"] = self.measure(candidate, candidate_solved)
        return record

    def measure(self, network: Network, solved: dict[int, np.ndarray] | None = None, progress: Any = None) -> dict:
        """``{"tasks": {label: ...}, "elo": {...}, "mistakes": {...}, "hrm": {...}, "trm": {...}}``, the reference
        record of ``network``.

        ``solved`` may hold the search results of puzzle tasks (by task id) already
        computed on the same held-out sets, which are then not searched again. ``progress``:
        as in `reference`.
        """
        tasks, elo, mistakes, answers = {}, {}, {}, []
        hp = network_hyperparams(network)
        cap, note = halting_cap(hp)
        for task_id, task in enumerate(self.tasks):
            label = self.labels[task_id]
            if progress is not None:
                progress.start(label)
            if task.spec.num_players == 2:
                tasks[label] = self._reference_games(task_id, network)
                elo[label] = {name: reference_elo(result) for name, result in tasks[label].items()}
                if task.kind == "connect4" and self.config.connect4_positions:
                    mistakes[label] = self._connect4_mistakes(task_id, network)
            else:
                known = None if solved is None else solved.get(task_id)
                tasks[label], greedy = self._reference_puzzles(task_id, network, known, cap, note)
                answers.append(greedy)
            if progress is not None:
                progress.done()
        arch = None if hp is None else hp.arch
        return {"tasks": tasks, "elo": elo, "mistakes": mistakes, **pooled_raw_network(answers, arch, cap, note)}

    def held_out(self, task_id: int, count: int) -> HeldOut:
        """The fixed held-out set of ``count`` instances of task ``task_id`` (computed once)."""
        key = (task_id, count)
        if key not in self._held_out:
            self._held_out[key] = held_out_set(
                self.tasks[task_id], task_id, self._difficulty(task_id), count, self.seed
            )
        return self._held_out[key]

    def connect4_positions(self, task_id: int) -> LabelledPositions:
        """Connect Four task ``task_id``'s ``evaluation.connect4_positions`` held-out positions with every legal
        move's exact score (mistakes.py; generated and solved once, then kept)."""
        key = (task_id, self.config.connect4_positions)
        if key not in self._labelled:
            states, seeds = held_out_positions(self.tasks[task_id], task_id, key[1], self.seed)
            self._labelled[key] = label_positions(states, seeds)
        return self._labelled[key]

    # ----- internals: the gate -----

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
        if stop is None:  # every game was played: the threshold decides
            met = meets_threshold(wins + draws / 2, games, config.win_rate_threshold)
            stop = ("accept" if met else "reject", "threshold")
        accepted = stop[0] == "accept"
        elo = elo_difference(wins, draws, losses)
        return {
            "task_id": task_id,
            "type": "game",
            "games": games,
            "wins": wins,
            "draws": draws,
            "losses": losses,
            "elo": elo.elo,
            "elo_interval": [elo.low, elo.high],
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
            "by_difficulty": self._by_difficulty(
                task_id, held, {"candidate_solve_rate": solved_c, "best_solve_rate": solved_b}
            ),
        }
        return record, solved_c

    def _pooled(self, puzzle_records: list[dict]) -> dict:
        """The sign test over the discordant instances of all puzzle tasks together."""
        counts = {key: sum(r[key] for r in puzzle_records) for key in ("instances", "candidate_only", "best_only")}
        verdict, p_better, p_worse = puzzle_verdict(
            counts["candidate_only"], counts["best_only"], self.config.puzzle_significance
        )
        return {**counts, "p_better": p_better, "p_worse": p_worse, "verdict": verdict}

    # ----- internals: the reference record -----

    def _reference_puzzles(
        self, task_id: int, network: Network, solved: np.ndarray | None, cap: int | None, note: str | None
    ) -> tuple[dict, GreedyAnswers]:
        """Task ``task_id``'s puzzle record (see the module docstring), and the raw network's answers to it.

        ``cap`` / ``note``: `halting_cap` of ``network``; without a cap the halting figures are null.
        """
        task = self.tasks[task_id]
        held = self.held_out(task_id, self.config.puzzles_per_task)
        if solved is None:
            solved = solve_with_search(task, task_id, held.states, held.seeds, network, self.searches[task_id])
        greedy = answer_greedily(task, task_id, held.states, network)
        rates = {"solve_rate": solved, "greedy_solve_rate": greedy.solved}
        if cap is not None:
            rates["convergence_rate"] = greedy.solved & greedy.all_halted
        by_difficulty = self._by_difficulty(task_id, held, rates)
        record = {
            "solve_rate": float(solved.mean()),
            "greedy_solve_rate": float(greedy.solved.mean()),
            "accuracy": float(greedy.solved.mean()),  # the same definition as greedy_solve_rate (module docstring)
            "instances": len(held.states),
            "halting_cap": cap,
            "convergence_rate": None if cap is None else float(rates["convergence_rate"].mean()),
            "mean_halting_steps": None if cap is None else greedy.mean_segments(),
        }
        if cap is None:
            record["halting_note"] = note
        else:
            buckets = difficulty_buckets(held.difficulties, self._difficulty(task_id), self.config.difficulty_buckets)
            for label, members in buckets:
                by_difficulty[label]["mean_halting_steps"] = greedy.mean_segments(members)
        record["by_difficulty"] = by_difficulty
        if self.config.segment_sweep:
            from actors.evaluator.segments import segment_sweep

            record["segment_sweep"] = segment_sweep(
                task, task_id, held.states, network, self.config.segment_sweep, reset_carry=True, halting=True
            )
        return record, greedy

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
            # In play_match's layout the network moves first in the even games.
            lost = [
                lost_game(task, openings[game // 2], moves[game], network_first=bool(game % 2 == 0))
                for game in np.flatnonzero(results < 0)
            ]
            record[name] = {"wins": wins, "draws": draws, "losses": losses, "lost_games": lost}
        return record

    def _connect4_mistakes(self, task_id: int, network: Network) -> dict:
        """The mistake rate of ``network`` alone and with the evaluation search on Connect Four task ``task_id``."""
        task, labels, search = self.tasks[task_id], self.connect4_positions(task_id), self.searches[task_id]
        moves = {
            "network": greedy_moves(task, task_id, labels.states, network),
            "search": search_moves(task, task_id, labels, network, search),
        }
        return {**mistake_record(labels, moves), "simulations": search.num_simulations}

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

    # ----- internals: shared -----

    def _difficulty(self, task_id: int) -> tuple[float, float]:
        return tuple(self.config.difficulty or self.entries[task_id].difficulty)

    def _by_difficulty(self, task_id: int, held: HeldOut, solved: dict[str, np.ndarray]) -> dict:
        """Per difficulty bucket of ``held``: instances and the share of each of ``solved`` (bool ``[n]``)."""
        return solve_rates_by_difficulty(held, self._difficulty(task_id), self.config.difficulty_buckets, solved)

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
