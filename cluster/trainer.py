"""`SelfPlayTrainer`: the original design's Python API, driving the real loop (`cluster.driver.Driver`).

    from cluster import SelfPlayTrainer, create_trm_agent

    trainer = SelfPlayTrainer(trm_agent=create_trm_agent("tiny"), config={"games_per_iteration": 64},
                              checkpoint_dir="runs/api")
    for i in range(10):
        metrics = await trainer.iteration(i)        # self-play games, learner steps, one gate
        print(f"Iteration {i}: {metrics['success_rate']:.2%} success")
    trainer.close()                                 # the final checkpoint (also at exit)

One trainer is one run directory (``checkpoint_dir``; one that holds a run already is resumed)
with the run's actors on Ray: self-play workers, the replay buffer, the learner, the evaluator.
The actors keep working between calls only as far as their calls in flight go: an iteration runs
the driver's event loop until the next gate has been decided, in a worker thread, so the caller's
event loop stays free. ``config``: a dict in the original design's layout (`cluster.original`),
ours, or both, laid over ``configs/local.yaml``; or a YAML path (read as every command reads one,
over the built-in defaults); or a `RunConfig`.

Figures of an iteration (`iteration`):
    success_rate       share of this iteration's self-play puzzle episodes solved (None: a mix of games only)
    eval_success_rate  the gated candidate's held-out result, mean over tasks: a puzzle's solve rate,
                       a game's match score against the best ((wins + draws / 2) / games)
    best_model_metric  the same figure for the best weights after the gate
    policy_loss, value_loss  means over the iteration's learner calls
"""

from __future__ import annotations

import asyncio
import atexit
import threading
import time
from pathlib import Path
from typing import Any

from cluster.config import RunConfig, config_from_dict, load_config, model_names, to_dict
from cluster.errors import ConfigError
from cluster.session import default_run_dir, open_run_dir, start_driver

DEFAULT_BASE = Path(__file__).resolve().parents[1] / "configs" / "local.yaml"
DEVICE_SECTIONS = ("selfplay", "learner", "evaluation", "inference")


def trainer_config(config: Any, device: str | None, base: str | Path | None = DEFAULT_BASE) -> RunConfig:
    """The `RunConfig` a trainer runs: ``config`` (see the module docstring) with ``device`` for every network."""
    import dataclasses

    base_config = load_config(base) if base is not None else RunConfig()
    if config is None:
        run_config = base_config
    elif isinstance(config, RunConfig):
        run_config = config
    elif isinstance(config, (str, Path)):
        run_config = load_config(config)
    elif isinstance(config, dict):
        run_config = config_from_dict(config, "config", base_config)
    else:
        raise ConfigError(f"config: expected a dict, a YAML path or a RunConfig, got {type(config).__name__}")
    if device is not None:
        if device not in ("cpu", "cuda", "auto"):
            raise ConfigError(f"device: expected one of: cpu, cuda, auto, got {device!r}")
        for section in DEVICE_SECTIONS:
            setattr(run_config, section, dataclasses.replace(getattr(run_config, section), device=device))
    return run_config


class SelfPlayTrainer:
    """The original design's trainer; see the module docstring."""

    def __init__(
        self,
        hrm_agent: Any = None,
        trm_agent: Any = None,
        config: Any = None,
        device: str = "cpu",
        checkpoint_dir: str | Path | None = None,
        *,
        address: str | None = None,
        log: Any = None,
    ) -> None:
        self.agents = [agent for agent in (hrm_agent, trm_agent) if agent is not None]
        self.config = trainer_config(config, device)
        if len(self.agents) == 1:
            self.config.model = self.agents[0].model_config
        elif self.agents:  # both: trained side by side on the same self-play data, one learner and gate each
            models = {"model": [to_dict(agent.model_config) for agent in self.agents]}
            self.config = config_from_dict(models, "agents", self.config)
        self.checkpoint_dir = Path(checkpoint_dir or default_run_dir("selfplay"))
        self.address = address
        self.log = log
        self.driver: Any = None
        self.history: list[dict[str, Any]] = []  # one record per iteration
        self._events: list[tuple[str, dict[str, Any]]] = []
        self._lock = threading.Lock()  # one call at a time drives the loop
        self._closed = False

    # ----- the original API -----------------------------------------------------------------

    async def iteration(self, iteration: int) -> dict[str, Any]:
        """Run the loop until the next gate is decided; returns this iteration's figures (module docstring)."""
        return await self._in_thread(self._iteration, iteration)

    async def run_self_play(self, num_games: int) -> list[Any]:
        """Play ``num_games`` episodes of the run's task mix with the best weights (batched search, here);
        their positions also go to the run's replay buffer. Returns the `Episode`s."""
        return await self._in_thread(self._run_self_play, num_games)

    async def pretrain(self, steps: int | None = None) -> dict[str, Any]:
        """Supervised training on the run's demonstrations (``supervised`` config); its result is the next version."""
        return await self._in_thread(self._pretrain, steps)

    async def evaluate_models(self, num_eval_games: int = 50) -> dict[str, Any]:
        """The best weights on ``num_eval_games`` held-out instances (games: per colour pair) of every task."""
        return await self._in_thread(self._evaluate, num_eval_games)

    def get_quality_metrics(self) -> dict[str, Any]:
        """Averages over the iterations so far (success rates, episode length, episodes generated)."""
        rates = [h["success_rate"] for h in self.history if h["success_rate"] is not None]
        episodes = sum(h["num_episodes"] for h in self.history)
        positions = sum(h["positions"] for h in self.history)
        trend = 0.0
        if len(rates) >= 2:  # least-squares slope of the success rate per iteration
            import numpy as np

            trend = float(np.polyfit(np.arange(len(rates)), rates, 1)[0])
        return {
            "avg_success_rate": sum(rates) / len(rates) if rates else None,
            "best_success_rate": max(rates) if rates else None,
            "success_rate_trend": trend,
            "avg_episode_length": positions / episodes if episodes else 0.0,
            "total_episodes_generated": self.driver.counters.episodes if self.driver else 0,
            "iterations": len(self.history),
        }

    def get_resource_usage(self) -> dict[str, Any]:
        """CPU use of this machine, memory of this process and of every actor (as last reported), GPU memory."""
        import psutil

        rss = {"driver": psutil.Process().memory_info().rss}
        if self.driver is not None:
            for source, stats in self.driver.latest.items():  # the newest statistics of each actor
                if isinstance(stats, dict) and "rss_bytes" in stats:
                    name = source.replace("train", "learner").replace("gate", "evaluator").replace("play", "selfplay")
                    rss[name] = stats["rss_bytes"]
        usage: dict[str, Any] = {
            "cpu_percent": psutil.cpu_percent(interval=0.1),
            "memory_used_gb": sum(rss.values()) / 2**30,
            "memory_by_actor_gb": {name: value / 2**30 for name, value in rss.items()},
        }
        import torch

        if torch.cuda.is_available():
            usage["gpu_memory_gb"] = torch.cuda.memory_allocated() / 2**30
            usage["gpu_memory_reserved_gb"] = torch.cuda.memory_reserved() / 2**30
        return usage

    def _save_checkpoint(self, iteration: int, best: bool = False) -> Path:
        """Checkpoint the run now (learner, counters); returns the learner checkpoint directory, or with
        ``best`` the weights file of the best version."""
        with self._lock:
            self._start()
            self.driver.save_checkpoint(wait=True)
            run_dir = self.driver.run_dir
            return run_dir.weights_path(self.driver.counters.version) if best else run_dir.learner_dir

    def load_checkpoint(self, path: str | Path) -> None:
        """Before the first iteration: continue the run in directory ``path``, or start this run from the
        weights file ``path`` (a ``weights/v*.safetensors`` of any run with the same tasks and model)."""
        if self.driver is not None:
            raise ConfigError(f"load_checkpoint {path}: the trainer has started; load before the first iteration")
        path = Path(path)
        if path.is_dir():
            self.checkpoint_dir = path
            self._initial_weights = None
        elif path.is_file():
            from common.tensorfile import TensorFileError, read_tensors

            try:
                self._initial_weights = read_tensors(path, "np")[0]
            except TensorFileError as error:
                raise ConfigError(str(error)) from None
        else:
            raise ConfigError(f"{path}: no such run directory or weights file")

    def episode_generator(self, model: int = 0) -> Any:
        """A `SelfPlayEpisodeGenerator` on the run's tasks, search settings and the best weights of its
        model ``model`` (the first, or the only one)."""
        from actors.inference import build_network, fetch_weights
        from actors.selfplay.generator import SelfPlayEpisodeGenerator
        from actors.tasks.registry import TaskMix

        self._start()
        agent = self.driver.agents[model]
        mix = TaskMix(self.config.tasks)
        network = build_network(agent.model, [t.spec for t in mix.tasks], device=self.config.selfplay.device)
        network.load_state_dict(fetch_weights([agent.best]))
        searches = [self.config.search.with_overrides(entry.search) for entry in mix.entries]
        return SelfPlayEpisodeGenerator(tasks=mix.tasks, network=network, searches=searches, seed=self.config.seed)

    def close(self) -> None:
        """Finish the run: calls in flight end, workers flush their episodes, the learner checkpoints."""
        with self._lock:
            if self.driver is None or self._closed:
                return
            self._closed = True
            self.driver.stop_reason = self.driver.stop_reason or "the trainer was closed"
            self.driver.finish()
            self.driver.shutdown()  # its actors would hold their CPUs for as long as this process runs

    def __enter__(self) -> SelfPlayTrainer:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    # ----- internals ------------------------------------------------------------------------

    async def _in_thread(self, function: Any, *args: Any) -> Any:
        if self.driver is None:  # started in the caller's thread: Ray sets its signal handlers in the main thread
            self._locked(self._start)
        try:
            return await asyncio.to_thread(self._locked, function, *args)
        except asyncio.CancelledError:  # the caller gave up: the loop in the thread stops within a second
            if self.driver is not None and self.driver.stop_reason is None:
                self.driver.stop_reason = "the trainer's call was cancelled"
            raise

    def _locked(self, function: Any, *args: Any) -> Any:
        with self._lock:
            if self._closed:
                raise RuntimeError("SelfPlayTrainer: closed")
            return function(*args)

    def _start(self) -> None:
        """Open the run directory and start the actors (once)."""
        if self.driver is not None:
            return
        resume = (self.checkpoint_dir / "state.json").is_file()
        run_dir, config = open_run_dir(None if resume else self.config, self.checkpoint_dir, resume)
        self.config = config
        if self.agents and config.models != [agent.model_config for agent in self.agents]:
            trains = ", ".join(f"{m.arch} ({m.preset})" for m in config.models)
            given = ", ".join(f"{a.arch} ({a.model_config.preset})" for a in self.agents)
            raise ConfigError(f"{run_dir.path}: the run trains {trains}, not the agents' {given}")
        driver = start_driver(config, run_dir, resume, self.address, handle_signals=False, log=self.log)
        driver.listeners.append(self._hear)
        initial = getattr(self, "_initial_weights", None)
        if initial is not None:
            driver.start_from_weights(initial)
        for index, agent in enumerate(self.agents):  # an agent trained before starts the run from its network
            if initial is None and agent.network is not None and not resume:
                driver.start_from_weights(agent.state_dict(), index)
        self.driver = driver
        self._sync_agents()
        atexit.register(self.close)  # after ray.init: runs before Ray's own exit handler
        driver.begin()

    def _iteration(self, iteration: int) -> dict[str, Any]:
        """Run until every model has had one more gate; its figures (per model too, in a run of several)."""
        self._start()
        driver = self.driver
        started = time.monotonic()
        self._events.clear()
        episodes_before, positions_before = driver.counters.episodes, driver.counters.positions
        targets = [agent.counters.iteration + 1 for agent in driver.agents]

        def every_model_gated() -> bool:
            return all(a.counters.iteration >= t for a, t in zip(driver.agents, targets, strict=True))

        driver.advance(until=every_model_gated)
        if not every_model_gated():
            raise RuntimeError(f"SelfPlayTrainer: the run stopped: {driver.stop_reason}")
        plays = [values for event, values in self._events if event == "selfplay"]
        models = {agent.name: self._model_figures(agent, plays) for agent in driver.agents}
        record = {
            "iteration": iteration,
            "num_episodes": driver.counters.episodes - episodes_before,
            "positions": driver.counters.positions - positions_before,
            **models[driver.agents[0].name],
            "elapsed_time": time.monotonic() - started,
        }
        if len(models) > 1:
            record["models"] = models
        self.history.append(record)
        self._sync_agents()
        return record

    def _model_figures(self, agent: Any, plays: list[dict[str, Any]]) -> dict[str, Any]:
        """One model's figures of the iteration just run: its self-play, its last gate, its learner's losses."""
        gate = next(v for e, v in reversed(self._events) if e == "gate" and v.get("model", agent.name) == agent.name)
        trains = [v for e, v in self._events if e == "train" and v["model"] == agent.name and v.get("losses")]
        return {
            "success_rate": _puzzle_success_rate([p for p in plays if p["model"] == agent.name]),
            "eval_success_rate": _eval_success_rate(gate, "candidate"),
            "best_model_metric": _eval_success_rate(gate, "candidate" if gate["accepted"] else "best"),
            "accepted": gate["accepted"],
            "version": agent.counters.version,
            "learner_step": agent.counters.learner_step,
            "policy_loss": _mean([t["losses"]["policy"] for t in trains]),
            "value_loss": _mean([t["losses"]["value"] for t in trains]),
            "tasks": _task_figures(gate),
        }

    def _hear(self, event: str, values: dict[str, Any]) -> None:
        """The driver's news of a play, train, gate or supervised call; a play is labelled with its model."""
        if event == "selfplay":
            values = {**values, "model": self.driver.agents[self.driver.pool.model_of(values["worker"])].name}
        self._events.append((event, values))

    def _run_self_play(self, num_games: int) -> list[Any]:
        import numpy as np

        from actors.tasks.registry import Problem, TaskMix

        generator = self.episode_generator()
        mix = TaskMix(self.config.tasks)
        rng = np.random.default_rng([self.config.seed, 0x5E1F, len(self.history), self.driver.counters.episodes])
        problems = []
        for _ in range(num_games):
            task_id, seed, difficulty = mix.draw(rng)
            task = mix.tasks[task_id]
            state = task.generate(seed, difficulty)
            problems.append(Problem(task.family, task.kind, seed, difficulty, state, task.render(state)))
        episodes = generator.play(problems)
        version = self.driver.counters.version
        self.driver.add_trajectories([episode.trajectory(version) for episode in episodes])
        return episodes

    def _pretrain(self, steps: int | None) -> dict[str, Any]:
        self._start()
        steps = steps or self.config.supervised.steps or 100
        stats = [self.driver.supervised(agent, steps, "pre-training") for agent in self.driver.agents]
        self._sync_agents()
        if len(stats) == 1:
            return stats[0]
        return {**stats[0], "models": dict(zip(model_names(self.config.models), stats, strict=True))}

    def _evaluate(self, num_eval_games: int) -> dict[str, Any]:
        import dataclasses

        import torch

        from actors.evaluator import Evaluator

        self._start()
        config = self.config
        evaluation = dataclasses.replace(
            config.evaluation, puzzles_per_task=num_eval_games, reference_games=max(2, 2 * (num_eval_games // 2))
        )
        torch.set_num_threads(max(1, int(evaluation.num_cpus)))
        several = len(self.driver.agents) > 1
        models = {}
        for agent in self.driver.agents:
            evaluator = Evaluator(config.tasks, agent.model, config.search, evaluation, config.seed)
            version = agent.counters.version
            record = evaluator.reference(version, agent.files.load_weights(version))
            label = {"model": agent.name} if several else {}
            self.driver.run_dir.append_evaluation({"kind": "reference", "version": version, **label, **record})
            rates = [_reference_rate(task) for task in record["tasks"].values()]
            models[agent.name] = {"eval_success_rate": _mean(rates), **record}
        first = models[self.driver.agents[0].name]
        return {**first, "models": models} if several else first

    def _sync_agents(self) -> None:
        """Each agent's network holds its model's best weights."""
        if not self.agents or self.driver is None:
            return
        from actors.tasks.registry import TaskMix

        shapes = [task.spec for task in TaskMix(self.config.tasks).tasks]
        for agent, model in zip(self.agents, self.driver.agents, strict=True):
            version = model.counters.version
            if agent.version != version:
                agent.build(shapes)
                agent.load_weights(model.files.load_weights(version), version)


# ----- figures ------------------------------------------------------------------------------


def _mean(values: list[float]) -> float | None:
    return sum(values) / len(values) if values else None


def _puzzle_success_rate(plays: list[dict[str, Any]]) -> float | None:
    """Solved share of the puzzle episodes in self-play statistics ``plays`` (their ``by_task`` buckets)."""
    episodes = solved = 0.0
    for stats in plays:
        for buckets in stats.get("by_task", {}).values():
            for bucket in buckets.values():
                if "success" in bucket:
                    episodes += bucket["episodes"]
                    solved += bucket["success"] * bucket["episodes"]
    return solved / episodes if episodes else None


def _eval_success_rate(gate: dict[str, Any], side: str) -> float | None:
    """Mean over the gate's tasks of ``side``'s (candidate or best) puzzle solve rate or match score."""
    return _mean([_side_rate(task, side) for task in gate["tasks"].values()])


def _side_rate(task: dict[str, Any], side: str) -> float:
    if task["type"] == "puzzle":
        return task[f"{side}_solve_rate"]
    return task["score"] if side == "candidate" else 1.0 - task["score"]


def _task_figures(gate: dict[str, Any]) -> dict[str, dict[str, Any]]:
    figures = {}
    for label, task in gate["tasks"].items():
        if task["type"] == "puzzle":
            figures[label] = {"solve_rate": task["candidate_solve_rate"], "best_solve_rate": task["best_solve_rate"]}
        else:
            keys = ("wins", "draws", "losses", "score")
            figures[label] = {key: task[key] for key in keys}
    return figures


def _reference_rate(task: dict[str, Any]) -> float:
    """A task's figure in a reference record: a puzzle's solve rate, a game's score over every opponent."""
    if "solve_rate" in task:
        return task["solve_rate"]
    games = [r for r in task.values() if isinstance(r, dict) and "wins" in r]
    played = sum(r["wins"] + r["draws"] + r["losses"] for r in games)
    return sum(r["wins"] + r["draws"] / 2 for r in games) / played if played else 0.0
