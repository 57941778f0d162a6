"""The driver: wires the actors and runs the self-play / learn / gate loop against one run directory.

One thread, event driven: every actor has at most one call in flight (the
buffer's callers bound their own), and the loop blocks in `ray.wait` until one
finishes, never spinning. What it does on each completion:

    play  (a self-play worker)  -> log stats; call again with the current best weights
    train (the learner)         -> log; if a candidate is due, fetch its weights once and
                                   gate it; call again unless it waits for data, in
                                   which case the next finished play call restarts it
    gate  (the evaluator)       -> log; on acceptance the candidate becomes version N+1:
                                   written to the run directory, then handed to the workers
    save  (learner checkpoint)  -> write state.json: the run can resume from here

Weights cross the cluster as one object-store entry per version: the return
value of `learner.get_weights` is passed by reference, wrapped in a list so that
Ray hands actors the reference and they fetch it once.
"""

from __future__ import annotations

import signal
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from cluster.config import ConfigError, RunConfig
from cluster.rundir import RunDir

# How often the loop wakes without a finished call, to honour Ctrl-C and deadlines.
WAKE_SECONDS = 1.0


@dataclass
class Counters:
    """What the driver counts across the run; checkpointed in state.json and restored on resume."""

    iteration: int = 0  # gate evaluations finished
    version: int = 0  # the current best weights version
    episodes: int = 0
    positions: int = 0
    learner_step: int = 0
    resumes: int = 0  # times the run was resumed: self-play seeds from it, so a resume plays new instances
    elapsed_seconds: float = 0.0
    history: list[dict[str, Any]] = field(default_factory=list)  # one entry per accepted version


class Driver:
    def __init__(
        self,
        config: RunConfig,
        run_dir: RunDir,
        resume: bool,
        max_minutes: float | None = None,
        max_iterations: int | None = None,
        log: Callable[[str], None] | None = None,
    ) -> None:
        self.config = config
        self.run_dir = run_dir
        self.resume = resume
        self.max_seconds = None if max_minutes is None else max_minutes * 60.0
        self.max_iterations = max_iterations
        self.log = log or (lambda line: print(line, file=sys.stderr, flush=True))
        self.counters = Counters()
        self.stop_reason: str | None = None
        self.pending: dict[Any, tuple[str, int]] = {}
        self.learner_waiting = False
        self.candidate: tuple[int, Any] | None = None  # (learner step, weights ref) being gated
        self.latest: dict[str, Any] = {}  # newest stats per source, for the progress line

    # ----- setup ------------------------------------------------------------------------

    def actor_cpus(self) -> dict[str, float]:
        """The CPUs each actor of this run declares to Ray."""
        c = self.config
        return {
            "learner": c.learner.num_cpus,
            "evaluator": c.evaluation.num_cpus,
            "replay": c.replay.num_cpus,
            f"{c.selfplay.num_workers} self-play worker(s)": c.selfplay.num_workers * c.selfplay.num_cpus,
        }

    def check_fits(self, cluster_cpus: float) -> None:
        """On a fixed-size (embedded) Ray, refuse a config whose actors could never all be scheduled."""
        needed = self.actor_cpus()
        if sum(needed.values()) > cluster_cpus + 1e-9:
            parts = ", ".join(f"{name} {cpus:g}" for name, cpus in needed.items())
            raise ConfigError(
                f"the actors need {sum(needed.values()):g} CPUs ({parts}) but the embedded Ray has {cluster_cpus:g}: "
                "lower selfplay.num_workers or the actors' num_cpus, or raise ray.num_cpus"
            )

    def start_actors(self) -> None:
        import ray

        from actors.evaluator import create_evaluator
        from actors.replay import create_replay_actor
        from actors.selfplay import create_selfplay_workers
        from actors.tasks.registry import TaskMix
        from learner.learner import create_learner
        from learner.models import TaskShape

        config = self.config
        state = self.run_dir.load_state() if self.resume else None
        if state is not None:
            self.counters = Counters(**state["counters"])
            # Counted before any worker starts, and written at once: a resumed run that dies before
            # its first checkpoint must not hand the same resume count (and instances) to the next.
            self.counters.resumes += 1
            self.run_dir.save_state({**state, "counters": vars(self.counters)})
        shapes = [TaskShape.of(task.spec) for task in TaskMix(config.tasks).tasks]
        self.buffer = create_replay_actor(config.replay, str(self.run_dir.path), seed=config.seed)
        self.learner = create_learner(
            config.model,
            config.learner,
            shapes,
            self.buffer,
            config.seed,
            send_priorities=config.replay.sampling == "prioritized",
        )
        self.evaluator = create_evaluator(config.tasks, config.model, config.search, config.evaluation, config.seed)
        self.workers = create_selfplay_workers(
            config.tasks,
            config.model,
            config.search,
            config.selfplay,
            config.seed,
            self.buffer,
            resumes=self.counters.resumes,
        )
        if state is not None:
            ray.get(self.learner.load_checkpoint.remote(str(self.run_dir.learner_dir)))
            self.best = ray.put(self.run_dir.load_weights(self.counters.version))
            c = self.counters
            self.log(
                f"resumed {self.run_dir.path} at version {c.version}, learner step {c.learner_step}"
                f" (resume {c.resumes}: self-play draws new instances)"
            )
        else:
            # Version 0 is the learner's initial network: written out so a resume can find it.
            self.best = self.learner.get_weights.remote()
            self.run_dir.save_weights(0, ray.get(self.best), keep=self.config.run.keep_best)
            self.save_checkpoint(wait=True)

    # ----- the loop ---------------------------------------------------------------------

    def run(self) -> Counters:
        import ray

        started = time.monotonic() - self.counters.elapsed_seconds
        session_start = time.monotonic()
        next_save = session_start + self.config.run.save_every_seconds
        next_progress = session_start + self.config.run.progress_every_seconds
        previous_handler = signal.signal(signal.SIGINT, self._request_stop)
        try:
            for index, worker in enumerate(self.workers):
                self._play(index, worker)
            self._train()
            while self.stop_reason is None:
                ready, _ = ray.wait(list(self.pending), num_returns=1, timeout=WAKE_SECONDS)
                if ready:
                    self._handle(ready[0], ray.get(ready[0]))
                now = time.monotonic()
                self.counters.elapsed_seconds = now - started
                if self.max_seconds is not None and now - session_start >= self.max_seconds:
                    self.stop_reason = f"--max-minutes {self.max_seconds / 60:g} reached"
                if now >= next_progress:
                    self.log(self.progress_line())
                    self._replay_stats()
                    next_progress = now + self.config.run.progress_every_seconds
                if now >= next_save and not self._saving():
                    self.save_checkpoint(wait=False)
                    next_save = now + self.config.run.save_every_seconds
        finally:
            signal.signal(signal.SIGINT, previous_handler)
        self.log(f"stopping: {self.stop_reason}")
        self.finish()
        return self.counters

    def _request_stop(self, signum: int, frame: Any) -> None:
        if self.stop_reason is not None:  # a second Ctrl-C: stop without the final checkpoint
            raise KeyboardInterrupt
        self.stop_reason = "interrupted (Ctrl-C); finishing calls in flight and checkpointing"
        self.log(f"\n{self.stop_reason} (press Ctrl-C again to abort)")

    def _handle(self, ref: Any, result: dict[str, Any]) -> None:
        kind, index = self.pending.pop(ref)
        if kind == "play":
            self._on_play(index, result)
        elif kind == "train":
            self._on_train(result)
        elif kind == "gate":
            self._on_gate(result)
        elif kind == "save":
            self._on_saved(result, index)
        elif kind == "replay":
            self.run_dir.append_metrics("replay", result)

    # ----- self-play --------------------------------------------------------------------

    def _play(self, index: int, worker: Any) -> None:
        call = worker.play.remote(self.counters.version, [self.best])
        self.pending[call] = ("play", index)

    def _on_play(self, index: int, stats: dict[str, Any]) -> None:
        self.counters.episodes += stats["episodes"]
        self.counters.positions += stats["positions"]
        self.latest[f"play{index}"] = stats
        self.run_dir.append_metrics("selfplay", {"worker": index, "version": self.counters.version, **stats})
        if self.stop_reason is None:
            self._play(index, self.workers[index])
            if self.learner_waiting:  # new data: the learner may go on
                self._train()

    def _replay_stats(self) -> None:
        """Ask the buffer for its statistics (size, rates, memory) for metrics.jsonl; one call at a time."""
        if self.stop_reason is None and not any(kind == "replay" for kind, _ in self.pending.values()):
            self.pending[self.buffer.stats.remote()] = ("replay", 0)

    # ----- training and gating ----------------------------------------------------------

    def _train(self) -> None:
        self.learner_waiting = False
        call = self.learner.train.remote(max_seconds=self.config.run.train_seconds)
        self.pending[call] = ("train", 0)

    def _on_train(self, stats: dict[str, Any]) -> None:
        self.counters.learner_step = stats["step"]
        self.latest["train"] = stats
        self.run_dir.append_metrics("train", stats)
        if stats["candidate_ready"] and self.candidate is None and self.stop_reason is None:
            weights = self.learner.get_weights.remote()
            self.candidate = (stats["step"], weights)
            call = self.evaluator.gate.remote(self.counters.version + 1, [weights], self.counters.version, [self.best])
            self.pending[call] = ("gate", 0)
        if self.stop_reason is None:
            if stats["waiting_for_data"]:
                self.learner_waiting = True
            else:
                self._train()

    def _on_gate(self, record: dict[str, Any]) -> None:
        import ray

        step, weights = self.candidate
        self.candidate = None
        self.counters.iteration += 1
        record = {**record, "iteration": self.counters.iteration, "learner_step": step}
        self.latest["gate"] = record
        if record["accepted"]:
            self.counters.version += 1
            self.run_dir.save_weights(self.counters.version, ray.get(weights), keep=self.config.run.keep_best)
            self.best = weights
            self.counters.history.append({"version": self.counters.version, "learner_step": step, "time": time.time()})
        self.run_dir.append_evaluation({"kind": "gate", "version": self.counters.version, **record})
        self.log(
            f"gate {self.counters.iteration}: candidate from step {step} "
            f"{'accepted as version ' + str(self.counters.version) if record['accepted'] else 'rejected'}"
            f" ({record.get('reason', '')})"
        )
        if self.max_iterations is not None and self.counters.iteration >= self.max_iterations:
            self.stop_reason = f"--max-iterations {self.max_iterations} reached"

    # ----- checkpoints ------------------------------------------------------------------

    def _saving(self) -> bool:
        return any(kind == "save" for kind, _ in self.pending.values())

    def save_checkpoint(self, wait: bool) -> None:
        """Checkpoint the learner; state.json follows once the learner's files are written."""
        import ray

        call = self.learner.save_checkpoint.remote(str(self.run_dir.learner_dir))
        if wait:
            self._on_saved(ray.get(call), 0)
        else:
            self.pending[call] = ("save", 0)

    def _on_saved(self, learner_state: dict[str, Any], _: int) -> None:
        self.counters.learner_step = learner_state.get("step", self.counters.learner_step)
        self.run_dir.save_state({"counters": vars(self.counters), "learner": learner_state})

    def finish(self) -> None:
        """Let calls in flight finish, push every finished episode, checkpoint."""
        import ray

        while self.pending:  # handlers issue no new calls once stop_reason is set
            ref = next(iter(self.pending))
            self._handle(ref, ray.get(ref))
        ray.get([worker.flush.remote() for worker in self.workers])
        self.save_checkpoint(wait=True)
        self.log(self.progress_line())

    # ----- progress ---------------------------------------------------------------------

    def progress_line(self) -> str:
        c = self.counters
        plays = [v for k, v in self.latest.items() if k.startswith("play")]
        rate = sum(p.get("positions_per_s", 0.0) for p in plays)
        train = self.latest.get("train", {})
        minutes, seconds = divmod(int(c.elapsed_seconds), 60)
        parts = [
            f"[{minutes:02d}:{seconds:02d}] v{c.version}",
            f"episodes {c.episodes:,}",
            f"positions {c.positions:,} ({rate:,.0f}/s)",
            f"step {c.learner_step:,}",
        ]
        if train.get("losses"):  # empty until the learner has trained a step
            parts.append(f"loss {train['losses']['total']:.3f}")
        if "gate" in self.latest:
            parts.append(f"gates {c.iteration}")
        return " | ".join(parts)
