"""The original design's episode API on the real search: `SelfPlayEpisodeGenerator`, `Episode`, `StepTrace`.

    generator = SelfPlayEpisodeGenerator(device="cpu")                 # untrained tiny TRM per kind
    episode = await generator.generate_episode(problem, max_steps=50)  # a `Problem` from the generators
    episode.outcome, episode.episode_length, episode.total_reward, episode.steps[0].visit_counts

Every move is chosen by the project's batched tree search (`actors.search.BatchedSearch`) guided
by a network, with self-play exploration (the search config's temperature and Dirichlet noise);
`generate_episodes` plays many problems at once, one search batch per task kind. A
`SelfPlayTrainer` hands out a generator bound to its run (`SelfPlayTrainer.episode_generator`):
the run's tasks, search settings and best weights.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from actors.replay import Trajectory
from actors.search import BatchedSearch, SearchConfig
from actors.search.batched import Network
from actors.selfplay.episodes import game_value_targets
from actors.tasks.base import Task
from actors.tasks.registry import Problem, make_task


@dataclass
class StepTrace:
    """One move of an episode and the search behind it.

    ``state [S]`` before the move; ``visit_counts`` / ``policy`` ``float32 [A]`` the root's visits and the
    search policy target; ``root_value`` the search's value for the player to move (``to_play``).
    """

    state: np.ndarray
    action: int
    visit_counts: np.ndarray
    policy: np.ndarray
    root_value: float
    to_play: int


@dataclass
class Episode:
    """A finished (or ``max_steps``-truncated) episode of one problem.

    ``outcome``: puzzles 1.0 when solved (0.0 otherwise, or the kind's partial outcome); games the
    first player's result (+1 win, 0 draw, -1 loss). ``success``: solved / first player won.
    """

    problem: Problem
    task_id: int
    steps: list[StepTrace]
    final_state: np.ndarray
    outcome: float
    success: bool
    two_player: bool
    final_player: int = 0  # games: the player to move at the end
    truncated: bool = False
    legal: list[np.ndarray] = field(default_factory=list, repr=False)  # bool [A] per step
    tokens: list[np.ndarray] = field(default_factory=list, repr=False)  # int64 [L] per step

    @property
    def episode_length(self) -> int:
        return len(self.steps)

    @property
    def total_reward(self) -> float:
        """The reward the episode earned: its outcome (one reward, at the end: the tasks' rewards are terminal)."""
        return float(self.outcome)

    def value_targets(self) -> np.ndarray:
        """``float32 [T]``: each position's value target from the view of its player to move."""
        if not self.two_player:
            return np.full(len(self.steps), self.outcome, dtype=np.float32)
        to_play = np.array([s.to_play for s in self.steps], dtype=np.int64)
        # game_value_targets takes the final outcome from the final player's view; ours is player 0's.
        outcome_final = self.outcome if self.final_player == 0 else -self.outcome
        return game_value_targets(outcome_final, self.final_player, to_play)

    def trajectory(self, weights_version: int = 0) -> Trajectory:
        """The episode as self-play's replay format (to push to a run's buffer)."""
        return Trajectory(
            tokens=np.stack(self.tokens),
            legal=np.stack(self.legal),
            policy=np.stack([s.policy for s in self.steps]),
            value=self.value_targets(),
            task_id=self.task_id,
            family=self.problem.family,
            kind=self.problem.kind,
            difficulty=self.problem.difficulty,
            outcome=self.outcome,
            success=self.success,
            weights_version=weights_version,
        )


class SelfPlayEpisodeGenerator:
    """Plays problems to the end with batched tree search guided by a network.

    Args:
        device: where a network built here runs ("cpu", "cuda", "auto").
        tasks: the task kinds (task ids = positions) the network serves; None: made on demand, one
            untrained network per kind (each kind then its own task id 0).
        network: a search network callable serving ``tasks`` (e.g. with a run's best weights);
            None: built from ``model`` (a `ModelConfig`, default the tiny TRM) with ``seed``.
        search: the search settings (default `SearchConfig()`: self-play exploration on).
    """

    def __init__(
        self,
        device: str = "cpu",
        *,
        tasks: Sequence[Task] | None = None,
        network: Network | None = None,
        model: Any = None,
        search: SearchConfig | None = None,
        searches: Sequence[SearchConfig] | None = None,
        seed: int = 0,
    ) -> None:
        if network is not None and tasks is None:
            raise ValueError("SelfPlayEpisodeGenerator: a network needs the tasks it serves")
        self.device = device
        self.model = model
        self.seed = seed
        self.search = search or SearchConfig()
        self.tasks = list(tasks or [])
        self.searches = list(searches or [self.search] * len(self.tasks))
        self.network = network
        self._own: dict[str, tuple[Task, Network]] = {}  # kind -> its task and untrained network

    async def generate_episode(self, task: Problem, max_steps: int | None = None) -> Episode:
        """Play ``task`` (a `Problem`) to the end, or for ``max_steps`` moves; see `generate_episodes`."""
        return (await self.generate_episodes([task], max_steps))[0]

    async def generate_episodes(self, problems: Sequence[Problem], max_steps: int | None = None) -> list[Episode]:
        """Play every problem, one search batch per kind, in a worker thread (the event loop stays free)."""
        return await asyncio.to_thread(self.play, problems, max_steps)

    def play(self, problems: Sequence[Problem], max_steps: int | None = None) -> list[Episode]:
        """The synchronous `generate_episodes`: episodes in the order of ``problems``."""
        episodes: list[Episode | None] = [None] * len(problems)
        groups: dict[int | str, list[int]] = {}
        for index, problem in enumerate(problems):
            groups.setdefault(self._task_key(problem), []).append(index)
        for key, indices in groups.items():
            task, task_id, network, search = self._resolve(key)
            played = self._play_batch(task, task_id, network, search, [problems[i] for i in indices], max_steps)
            for index, episode in zip(indices, played, strict=True):
                episodes[index] = episode
        return episodes  # type: ignore[return-value]

    # ----- internals ---------------------------------------------------------------------------

    def _task_key(self, problem: Problem) -> int | str:
        """The task id serving ``problem`` (same kind and state size), or its kind for an own network."""
        for task_id, task in enumerate(self.tasks):
            if task.kind == problem.kind and task.spec.state_size == len(problem.state):
                return task_id
        if self.network is not None:
            kinds = ", ".join(sorted({task.kind for task in self.tasks}))
            raise ValueError(f"{problem.kind}: not a task of this generator's network (its tasks: {kinds})")
        return problem.kind

    def _resolve(self, key: int | str) -> tuple[Task, int, Network, SearchConfig]:
        if isinstance(key, int):
            return self.tasks[key], key, self.network, self.searches[key]
        if key not in self._own:
            from actors.inference import build_network
            from learner.model_config import ModelConfig

            task = make_task(key)
            network = build_network(self.model or ModelConfig(), [task.spec], self.seed, device=self.device)
            self._own[key] = (task, network)
        task, network = self._own[key]
        return task, 0, network, self.search

    def _play_batch(
        self,
        task: Task,
        task_id: int,
        network: Network,
        search_config: SearchConfig,
        problems: list[Problem],
        max_steps: int | None,
    ) -> list[Episode]:
        n = len(problems)
        states = np.stack([np.asarray(p.state, dtype=np.int64) for p in problems])
        search = BatchedSearch(task, network, search_config, batch_size=n, task_id=task_id)
        search.reset(states, np.array([p.seed for p in problems], dtype=np.int64))
        traces: list[list[StepTrace]] = [[] for _ in range(n)]
        legal: list[list[np.ndarray]] = [[] for _ in range(n)]
        tokens: list[list[np.ndarray]] = [[] for _ in range(n)]
        limit = task.spec.max_steps if max_steps is None else min(max_steps, task.spec.max_steps)
        two_player = task.spec.num_players == 2
        for _ in range(limit):
            if search.done.all():
                break
            roots = search.root_states.copy()
            result = search.run()
            rows = np.flatnonzero(result.searched)
            masks, encoded = task.legal_mask(roots[rows]), task.encode(roots[rows])
            players = task.to_play(roots[rows]) if two_player else np.zeros(len(rows), dtype=np.int64)
            for k, row in enumerate(rows.tolist()):
                traces[row].append(
                    StepTrace(
                        state=roots[row],
                        action=int(result.actions[row]),
                        visit_counts=result.visit_counts[row].copy(),
                        policy=result.policy[row].copy(),
                        root_value=float(result.root_value[row]),
                        to_play=int(players[k]),
                    )
                )
                legal[row].append(masks[k])
                tokens[row].append(encoded[k])
            search.advance(result.actions)
        finals = search.root_states.copy()
        terminal = task.is_terminal(finals)
        outcomes = np.where(terminal, task.outcome(finals), 0.0)  # a truncated episode earned nothing
        final_players = task.to_play(finals) if two_player else np.zeros(n, dtype=np.int64)
        episodes = []
        for row, problem in enumerate(problems):
            outcome = float(outcomes[row])
            if two_player:  # the kind's outcome is from the view of the player to move at the end
                outcome = outcome if final_players[row] == 0 else -outcome
                success = outcome > 0
            else:
                success = outcome >= 1.0
            episodes.append(
                Episode(
                    problem=problem,
                    task_id=task_id,
                    steps=traces[row],
                    final_state=finals[row],
                    outcome=outcome,
                    success=success,
                    two_player=two_player,
                    final_player=int(final_players[row]),
                    truncated=not bool(terminal[row]),
                    legal=legal[row],
                    tokens=tokens[row],
                )
            )
        return episodes
