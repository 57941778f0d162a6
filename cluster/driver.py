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

An iteration ends with a gate: when the learner offers a candidate (every ``candidate_every``
steps), or, with ``run.episodes_per_iteration``, once that many self-play episodes were played
since the last gate. Supervised training on demonstrations (``supervised``) runs before self-play
starts (pre-training; its result is the next version) and every ``supervised.refine_every`` gates.

Several models (``model: [...]``) train side by side on the one replay buffer: each has its own
learner, evaluator, best weights, versions and gates (an `Agent`); each self-play worker plays one
model's best (`cluster.pool.model_of_worker`), and both learners sample every worker's positions.

Weights cross the cluster as one object-store entry per version: the return
value of `learner.get_weights` is passed by reference, wrapped in a list so that
Ray hands actors the reference and they fetch it once.

Faults. A call that fails never ends the run and never blocks it:

- a self-play worker whose process or node died is dropped and replaced (`cluster.pool`);
- the replay buffer, the learner and the evaluator are restarted by Ray without limit: the
  buffer reloads every acknowledged position from ``replay/``, the learner continues from
  its last checkpoint in ``checkpoints/learner`` (the log says how many steps that lost),
  the evaluator holds nothing to lose; a failed call to one of them is tried again after a
  backoff (a gate's candidate is dropped: the next one comes ``candidate_every`` steps later);
- every death and restart is logged with the actor's name, process and node (each actor
  reports where it runs with its statistics; a new process id is a restart);
- the weights version is the driver's own counter, so it never goes backwards.

Ctrl-C or SIGTERM (`ray job stop`) ends the run: calls in flight finish, workers flush
their episodes, the learner checkpoints, exit 0. A second signal aborts at once.
"""

from __future__ import annotations

import dataclasses
import signal
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from actors.tasks.curriculum import Curriculum
from cluster.config import ConfigError, RunConfig, model_names
from cluster.monitor import IntervalMeter, StepProgress, plain_line
from cluster.pool import SelfPlayPool, actor_resources
from cluster.rundir import RunDir
from common.handles import actor_error_named
from common.process import describe_location
from learner.model_config import ModelConfig

WAKE_SECONDS = 1.0  # how often the loop wakes without a finished call, to honour signals and deadlines
GROW_EVERY_SECONDS = 5.0  # how often the self-play pool looks for room for more workers
WAIT_LOG_SECONDS = 30.0  # a wait for an actor to be placed says so this often
FLUSH_TIMEOUT_SECONDS = 120.0  # at the end: the longest wait for workers to push their episodes
MAX_BACKOFF_SECONDS = 30.0
MAX_CONSECUTIVE_FAILURES = 20  # of one actor's calls: then the run stops with the last error
SUPERVISED_CHUNK_STEPS = 25  # the fewest supervised steps per learner call (a phase is split into about 20)
DEMOS_FILE = "demos.jsonl"  # the run's demonstrations, as supervised training uses them


@dataclass
class ModelCounters:
    """What the driver counts per trained model; checkpointed in state.json and restored on resume."""

    iteration: int = 0  # gate evaluations finished
    version: int = 0  # the current best weights version
    learner_step: int = 0
    supervised_steps: int = 0  # learner steps trained on demonstrations (pre-training and refinements)
    pretrained: bool = False  # the pre-training phase (supervised.steps) has finished
    history: list[dict[str, Any]] = field(default_factory=list)  # one entry per accepted version


@dataclass
class Counters(ModelCounters):
    """The run's counters. Its model fields are the first model's (a run's only one, usually); ``others``
    holds those of the models after it (``model: [...]``)."""

    episodes: int = 0
    positions: int = 0
    resumes: int = 0  # times the run was resumed: self-play seeds from it, so a resume plays new instances
    elapsed_seconds: float = 0.0
    others: list[ModelCounters] = field(default_factory=list)

    def __post_init__(self) -> None:  # from state.json: plain dicts
        self.others = [c if isinstance(c, ModelCounters) else ModelCounters(**c) for c in self.others]

    def of(self, model: int) -> ModelCounters:
        return self if model == 0 else self.others[model - 1]

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass
class Agent:
    """One model the run trains: its learner and evaluator, its best weights, and the gate's bookkeeping."""

    index: int
    name: str  # "trm", "hrm", or "trm#1" when two models share an architecture
    model: ModelConfig
    counters: ModelCounters
    files: RunDir  # the run directory, with this model's weights and learner checkpoint directories
    tag: str = ""  # what its log lines start with: "" in a run of one model, else "<name>: "
    learner: Any = None
    evaluator: Any = None
    best: Any = None  # an object-store reference of the best weights' state dict
    candidate: tuple[int, Any] | None = None  # (learner step, weights ref) being gated
    gate_after: float = 0.0  # monotonic time before which no candidate is gated (after a failed gate)
    gated_step: int = -1  # the learner step whose weights were gated last
    gate_at_episodes: int = 0  # with run.episodes_per_iteration: the episode count that ends this iteration
    learner_waiting: bool = False

    @property
    def learner_name(self) -> str:
        return "learner" if self.index == 0 else f"learner{self.index}"

    @property
    def evaluator_name(self) -> str:
        return "evaluator" if self.index == 0 else f"evaluator{self.index}"


class Driver:
    def __init__(
        self,
        config: RunConfig,
        run_dir: RunDir,
        resume: bool,
        max_minutes: float | None = None,
        max_iterations: int | None = None,
        log: Callable[[str], None] | None = None,
        handle_signals: bool = True,  # Ctrl-C / SIGTERM end the run cleanly (main thread only)
    ) -> None:
        self.config = config
        self.run_dir = run_dir
        self.resume = resume
        self.max_seconds = None if max_minutes is None else max_minutes * 60.0
        self.max_iterations = max_iterations
        self.log = log or (lambda line: print(line, file=sys.stderr, flush=True))
        self.handle_signals = handle_signals
        self.listeners: list[Callable[[str, dict[str, Any]], None]] = []  # told of every play, train, gate, interval
        # Shows each interval's record (`cluster.monitor`); by default one plain line in the log.
        self.show: Callable[[dict[str, Any]], None] = lambda record: self.log(plain_line(record))
        # Makes the progress of a long phase (title, steps) -> `StepProgress`; by default plain lines in the log.
        self.progress: Callable[[str, int], StepProgress] = lambda title, total: StepProgress(
            title, total, log=self.log
        )
        self.meter = IntervalMeter()
        self.actor_stats: dict[str, dict[str, Any]] = {}  # each actor's newest statistics (CPU, memory)
        self.actor_seen: dict[str, float] = {}  # when each actor's newest statistics arrived (wall clock)
        self.restarts: dict[str, int] = {}  # restarts per actor seen this session (a new process id)
        self.counters = Counters(others=[ModelCounters() for _ in config.models[1:]])
        self.agents = self._make_agents()
        self.stop_reason: str | None = None
        self.pending: dict[Any, tuple[str, Any]] = {}  # call -> (kind, worker index, model index or actor name)
        self.retry_at: dict[tuple[str, int], float] = {}  # calls to issue again after a failure
        self.failures: dict[str, int] = {}  # consecutive failed calls per actor
        self.demonstrations: Any = None  # an object-store reference of the demonstrations' rows, if any
        self.demos: list[Any] | None = None  # the demonstrations themselves, once read (`read_demonstrations`)
        self.demos_complete = False  # they are the run's own, demos.jsonl (no more to generate)
        self.curriculum = Curriculum(config.tasks)
        # Ranges are handed to the workers only when some entry has a curriculum (else they draw as configured).
        self.curriculum_active = any(entry.curriculum.mode != "none" for entry in config.tasks.mix)
        self.latest: dict[str, Any] = {}  # newest stats per source, for the progress line
        self.pids: dict[str, int] = {}  # the process each actor last reported from
        self._previous_handlers: dict[int, Any] = {}

    def _make_agents(self) -> list[Agent]:
        names = model_names(self.config.models)
        several = len(names) > 1
        return [
            Agent(i, name, model, self.counters.of(i), self.run_dir.for_model(i), f"{name}: " if several else "")
            for i, (name, model) in enumerate(zip(names, self.config.models, strict=True))
        ]

    # ----- setup ------------------------------------------------------------------------

    def check_fits(self, cluster: dict[str, float]) -> int:
        """On a fixed-size (embedded) Ray with ``cluster`` resources: refuse a config whose actors never all fit;
        returns the self-play workers that do."""
        low = self.config.selfplay.worker_range[0]
        others = actor_resources(self.config, 0)
        worker = actor_resources(self.config, 1)["selfplay0"]
        rooms = []
        for resource, key in (("CPU", "num_cpus"), ("GPU", "num_gpus")):
            have = cluster.get(resource, 0.0)
            needs = {name: amounts[resource] for name, amounts in others.items() if resource in amounts}
            left = have - sum(needs.values())  # for self-play workers
            needs[f"{low} self-play worker(s)"] = low * worker.get(resource, 0.0)
            if sum(needs.values()) > have + 1e-9:
                parts = ", ".join(f"{name} {amount:g}" for name, amount in needs.items() if amount)
                raise ConfigError(
                    f"the actors need {sum(needs.values()):g} {resource}s ({parts}) but the embedded Ray has "
                    f"{have:g}: lower selfplay.num_workers or the actors' {key}, or raise ray.{key}"
                )
            if resource in worker:
                rooms.append(int(left // worker[resource] + 1e-9))
        return min(rooms)  # CPUs at least: a worker declares more than 0

    def start_actors(self, room: int | None = None) -> None:
        """Start every actor (``room``: the self-play workers that fit on a fixed Ray; None on a cluster)."""
        import ray

        from actors.evaluator import create_evaluator
        from actors.replay import create_replay_shards
        from actors.serving.server import create_inference_servers
        from actors.tasks.registry import TaskMix
        from learner.learner import create_learner
        from learner.models import TaskShape

        self._catch_signals()
        config = self.config
        state = self.run_dir.load_state() if self.resume else None
        if state is not None:
            self.counters = Counters(**state["counters"])
            if len(self.counters.others) != len(self.agents) - 1:
                kept = 1 + len(self.counters.others)
                raise ConfigError(f"{self.run_dir.config_path}: model: a resumed run keeps its {kept} model(s)")
            self.agents = self._make_agents()
            # Counted before any worker starts, and written at once: a resumed run that dies before
            # its first checkpoint must not hand the same resume count (and instances) to the next.
            self.counters.resumes += 1
            self.run_dir.save_state({**state, "counters": self.counters.to_dict()})
            if "curriculum" in state:
                try:
                    self.curriculum.load_state_dict(state["curriculum"])
                except ValueError as error:
                    raise ConfigError(f"{self.run_dir.state_path}: curriculum: {error}") from None
                self._log_curriculum()
        # A local run directory is on the driver's disk: what writes into it runs on this node.
        local = config.run.storage == "local"
        node = ray.get_runtime_context().get_node_id() if local else ""
        self.log(
            f"run directory {self.run_dir.path}: "
            + ("local: the replay buffer and the learner are pinned to this node" if local else "shared by every node")
            + (f"; the replay buffer is {config.replay.shards} shards" if config.replay.shards > 1 else "")
        )
        if config.supervised.enabled:  # before the actors: the solvers' Ray tasks need whole CPUs they would hold
            self.demonstrations = ray.put(self._demonstration_rows())
        shapes = [TaskShape.of(task.spec) for task in TaskMix(config.tasks).tasks]
        self.buffers = create_replay_shards(config.replay, str(self.run_dir.path), seed=config.seed, node_id=node)
        for agent in self.agents:
            agent.learner = create_learner(
                agent.model,
                config.learner,
                shapes,
                self.buffers,
                config.seed,
                send_priorities=config.replay.sampling == "prioritized",
                checkpoint_dir=str(agent.files.learner_dir),  # also what a restarted learner continues from
                max_restarts=-1,
                node_id=node,
            )
            agent.evaluator = create_evaluator(config.tasks, agent.model, config.search, config.evaluation, config.seed)
        self.servers = create_inference_servers(config.inference, config.tasks, config.models[0], config.seed)
        if self.servers:
            self.log(
                f"{len(self.servers)} inference server(s) evaluate the workers' leaves "
                f"({config.inference.num_gpus:g} GPU, {config.inference.num_cpus:g} CPU each)"
            )
        if len(self.agents) > 1:
            shares = config.selfplay.shares(len(self.agents))
            shares = ", ".join(f"{a.name} {share:.2g}" for a, share in zip(self.agents, shares, strict=True))
            self.log(f"{len(self.agents)} models train on the same self-play data; self-play shares: {shares}")
        self.pool = SelfPlayPool(config, self.buffers, self.counters.resumes, room, self.log, self.servers)
        singles = {_actor_name("replay", shard): buffer for shard, buffer in enumerate(self.buffers)}
        for agent in self.agents:
            singles.update({agent.learner_name: agent.learner, agent.evaluator_name: agent.evaluator})
        singles.update({f"inference{index}": server for index, server in enumerate(self.servers)})
        for name, actor in singles.items():  # answered once each is placed: the log says where it runs
            self.pending[actor.location.remote()] = ("where", name)
        for agent in self.agents:
            if state is not None:
                self._resume_agent(agent)
            else:
                # Version 0 is the learner's initial network: written out so a resume can find it.
                agent.best = agent.learner.get_weights.remote()
                initial = self._wait(agent.best, agent.learner_name)
                agent.files.save_weights(0, initial, keep=config.run.keep_best)
        if state is None:
            self.save_checkpoint(wait=True)
        for agent in self.agents:
            if config.supervised.steps > 0 and not agent.counters.pretrained:
                self.supervised(agent, config.supervised.steps, "pre-training")

    def _resume_agent(self, agent: Agent) -> None:
        """``agent`` continues from the run directory: its best weights, and what its learner restored."""
        import ray

        c = agent.counters
        agent.best = ray.put(agent.files.load_weights(c.version))
        restored = self._restored_learner(agent)
        if restored["fell_back"]:
            self.log(
                f"{agent.learner_name}: {restored['problems'][0]}; continued from the previous checkpoint "
                f"({restored['lost_steps']} learner step(s) lost)"
            )
        self.log(
            f"{agent.tag}resumed {self.run_dir.path} at version {c.version}, learner step {restored['step']}"
            f" (resume {self.counters.resumes}: self-play draws new instances)"
        )
        c.learner_step = restored["step"]

    def read_demonstrations(self) -> None:
        """Read the run's demonstrations file (``demos.jsonl``, on resume) or the configured one, before Ray
        starts, so a bad line is reported at once; generated ones are added in `start_actors`."""
        from actors.tasks.demos import DemoError, read_demonstrations

        supervised = self.config.supervised
        own = self.run_dir.path / DEMOS_FILE
        path = own if own.is_file() else supervised.demos
        try:
            self.demos = [] if path is None else read_demonstrations(path, self.config.tasks)
        except (DemoError, OSError) as error:
            raise ConfigError(str(error)) from None
        self.demos_complete = path == own

    def _demonstration_rows(self) -> dict[int, dict[str, Any]]:
        """The demonstrations as training rows per task id; a new run's (read and generated) are written to
        ``demos.jsonl`` in the run directory, so a resume trains on the same ones."""
        from actors.tasks.demos import demonstration_rows, generate_demonstrations_on_ray, write_demonstrations

        if self.demos is None:
            self.read_demonstrations()
        supervised = self.config.supervised
        if not self.demos_complete:
            if supervised.generate:
                self.log(f"generating {supervised.generate:,} demonstrations with the tasks' exact solvers")
                chunks = max(1, min(64, supervised.generate // 32))
                self.demos += generate_demonstrations_on_ray(
                    self.config.tasks, supervised.generate, self.config.seed, chunks, say=self.log
                )
            write_demonstrations(self.run_dir.path / DEMOS_FILE, self.demos)
            self.demos_complete = True
        rows = demonstration_rows(self.demos, self.config.tasks)
        positions = sum(len(r["value"]) for r in rows.values())
        self.log(f"{len(self.demos):,} demonstrations ({positions:,} positions) for supervised training")
        return rows

    def _restored_learner(self, agent: Agent) -> dict[str, Any]:
        """What ``agent``'s learner continued from; a ConfigError when it had nothing that loads."""
        import ray

        try:
            restored = self._wait(agent.learner.get_restored.remote(), agent.learner_name)
        except ray.exceptions.RayTaskError as error:
            if not actor_error_named(error, "CheckpointError"):  # none of its checkpoints loads
                raise
            raise ConfigError(str(getattr(error, "cause", error))) from None
        if restored is None:
            raise ConfigError(f"{agent.files.learner_dir}: no learner checkpoint to resume from")
        return restored

    # ----- the loop ---------------------------------------------------------------------

    def run(self) -> Counters:
        """Run until a limit or a signal stops it, then finish (the command line's whole run)."""
        self.begin()
        try:
            self.advance()
        except KeyboardInterrupt:  # a second signal: abort without the final checkpoint
            self._restore_signals()
            raise
        self.log(f"stopping: {self.stop_reason}")
        self.finish()
        self._restore_signals()
        return self.counters

    def begin(self) -> None:
        """Set self-play and the learner going (after `start_actors` and any supervised phase)."""
        now = time.monotonic()
        self.started = now - self.counters.elapsed_seconds
        self.session_start = now
        self.next_save = now + self.config.run.save_every_seconds
        self.next_progress = now + self.config.run.progress_every_seconds
        self.next_grow = now + GROW_EVERY_SECONDS
        for agent in self.agents:
            agent.gate_at_episodes = self.counters.episodes + (self.config.run.episodes_per_iteration or 0)
            agent.gated_step = agent.counters.learner_step  # a gate needs weights trained since the start
        for member in self.pool.start():
            self._start_worker(member.index)
        for agent in self.agents:
            self._train(agent.index)

    def advance(self, until: Callable[[], bool] | None = None) -> None:
        """Handle finished calls until ``until()`` is true or the run is told to stop (``stop_reason``)."""
        import ray

        while self.stop_reason is None and not (until is not None and until()):
            if self.pending:
                ready, _ = ray.wait(list(self.pending), num_returns=1, timeout=WAKE_SECONDS)
                if ready:
                    self._complete(ready[0])
            else:  # every call failed and waits for its retry: ray.wait([]) would return at once
                time.sleep(WAKE_SECONDS)
            now = time.monotonic()
            self.counters.elapsed_seconds = now - self.started
            self._issue_due_retries(now)
            if self.max_seconds is not None and now - self.session_start >= self.max_seconds:
                self.stop_reason = f"--max-minutes {self.max_seconds / 60:g} reached"
            if now >= self.next_grow:
                for member in self.pool.grow():
                    self._start_worker(member.index)
                self.next_grow = now + GROW_EVERY_SECONDS
            if now >= self.next_progress:
                self.report_interval()
                self._actor_stats()
                self.next_progress = now + self.config.run.progress_every_seconds
            if now >= self.next_save and not self._saving():
                self.save_checkpoint(wait=False)
                self.next_save = now + self.config.run.save_every_seconds

    def _catch_signals(self) -> None:
        if not self.handle_signals:
            return
        for signum in (signal.SIGINT, signal.SIGTERM):
            self._previous_handlers[signum] = signal.signal(signum, self._request_stop)

    def _restore_signals(self) -> None:
        for signum, handler in self._previous_handlers.items():
            signal.signal(signum, handler)

    def _request_stop(self, signum: int, frame: Any) -> None:
        if self.stop_reason is not None:  # a second signal: stop without the final checkpoint
            raise KeyboardInterrupt
        name = "Ctrl-C" if signum == signal.SIGINT else "SIGTERM, e.g. ray job stop"
        self.stop_reason = f"interrupted ({name}); finishing calls in flight and checkpointing"
        self.log(f"\n{self.stop_reason} (a second signal aborts)")

    def _complete(self, ref: Any) -> None:
        """Handle one finished call: its result, or its failure (never raised: the run goes on)."""
        import ray

        kind, index = self.pending.pop(ref)
        try:
            result = ray.get(ref)
        except ray.exceptions.RayError as error:
            self._on_failure(kind, index, error)
            return
        self.failures.pop(self._actor_name(kind, index), None)
        if kind == "play":
            self._on_play(index, result)
        elif kind == "train":
            self._on_train(self.agents[index], result)
        elif kind == "gate":
            self._on_gate(self.agents[index], result)
        elif kind == "save":
            self._on_saved(self.agents[index], result)
        elif kind == "replay":
            self._seen(self._actor_name(kind, index), result)
            self.latest[f"replay{index}"] = result
            self.run_dir.append_metrics("replay", result)
        elif kind == "where":
            self._seen(index, {"actor": result})
        elif kind == "placed":
            self.pool.placed(index, result)
        elif kind == "serve":
            self._seen(f"inference{index}", result)
            self.run_dir.append_metrics("inference", {"server": index, **result})

    def _wait(self, ref: Any, what: str, doing: str = "") -> Any:
        """``ray.get(ref)``, waking every second so a signal can stop the wait, and saying why it waits
        (``doing``: what the call does; by default the actor is taken to be starting)."""
        import ray

        started = time.monotonic()
        next_note = started + WAIT_LOG_SECONDS
        while not ray.wait([ref], timeout=WAKE_SECONDS)[0]:
            if self.stop_reason is not None:
                raise KeyboardInterrupt
            if time.monotonic() >= next_note:
                waited = f"({time.monotonic() - started:.0f} s)"
                self.log(
                    f"still waiting for {what} {doing} {waited}"
                    if doing
                    else f"still waiting for {what} to start {waited}: is there room for it?"
                )
                next_note += WAIT_LOG_SECONDS
        return ray.get(ref)

    # ----- failures ---------------------------------------------------------------------

    def _on_failure(self, kind: str, index: int, error: BaseException) -> None:
        import ray

        if kind in ("where", "placed"):
            return  # a dead worker's play call fails too; another actor's next statistics say where it runs
        name = self._actor_name(kind, index)
        count = self.failures[name] = self.failures.get(name, 0) + 1
        first_line = str(error).strip().splitlines()[0] if str(error).strip() else ""
        summary = f"{type(error).__name__}: {first_line[:200]}"
        if kind == "play" and isinstance(error, ray.exceptions.RayActorError):
            self.failures.pop(name, None)
            self.pool.lost(index, error)  # replaced at the pool's next growth check
            return
        if count >= MAX_CONSECUTIVE_FAILURES and self.stop_reason is None:
            self.stop_reason = f"{name} failed {count} times in a row; the last: {summary}"
            return
        delay = min(MAX_BACKOFF_SECONDS, 2.0 ** (count - 1))
        if kind == "gate":
            agent = self.agents[index]
            agent.candidate = None  # the learner offers another candidate later
            agent.gate_after = time.monotonic() + delay  # a restarting evaluator is not handed one at once
            self.log(f"{name}: the gate failed ({summary}); a candidate offered after {delay:g} s will be gated")
            return
        if kind in ("save", "replay", "serve"):
            self.log(f"{name}: a {kind} call failed ({summary}); it comes round again")
            return
        self.log(f"{name}: a {kind} call failed ({summary}); calling again in {delay:g} s")
        self.retry_at[(kind, index)] = time.monotonic() + delay

    def _issue_due_retries(self, now: float) -> None:
        for (kind, index), due in list(self.retry_at.items()):
            if due > now or self.stop_reason is not None:
                continue
            del self.retry_at[(kind, index)]
            if kind == "play" and index in self.pool.members:
                self._play(index)
            elif kind == "train":
                self._train(index)

    def _seen(self, name: str, stats: dict[str, Any]) -> None:
        """Log where an actor runs the first time, and a restart when its process changed."""
        if "rss_bytes" in stats:
            self.actor_stats[name] = stats
            self.actor_seen[name] = time.time()
        location = stats.get("actor") or {}
        pid = location.get("pid")
        if pid is None or self.pids.get(name) == pid:
            return
        previous = self.pids.get(name)
        self.pids[name] = pid
        where = describe_location(location)
        if previous is None:
            self.log(f"{name} runs on {where}")
        else:
            self.restarts[name] = self.restarts.get(name, 0) + 1
            self.log(f"{name}: its process {previous} died; Ray restarted it on {where}")

    # ----- self-play --------------------------------------------------------------------

    def _start_worker(self, index: int) -> None:
        """Ask a new worker where it runs (answered once it is placed and built: the pool's cue that it
        runs), then to play; calls to one actor run in order, so the answer comes first."""
        self.pending[self.pool.members[index].handle.location.remote()] = ("placed", index)
        self._play(index)

    def _play(self, index: int) -> None:
        member = self.pool.members[index]
        agent = self.agents[member.model]
        ranges = {"difficulties": self.curriculum.ranges()} if self.curriculum_active else {}
        call = member.handle.play.remote(agent.counters.version, [agent.best], **ranges)
        self.pending[call] = ("play", index)

    def _on_play(self, index: int, stats: dict[str, Any]) -> None:
        self.counters.episodes += stats["episodes"]
        self.counters.positions += stats["positions"]
        self.latest[f"play{index}"] = stats
        self.actor_stats[f"selfplay{index}"] = stats
        self.actor_seen[f"selfplay{index}"] = time.time()
        agent = self.agents[self.pool.model_of(index)]
        record = {"worker": index, "version": agent.counters.version, **stats}
        if len(self.agents) > 1:
            record["model"] = agent.name
        if self.curriculum_active:
            self.curriculum.observe_call(stats)
            self._log_curriculum()
            record["curriculum"] = self.curriculum.metrics()  # each entry's level after this call
        self.run_dir.append_metrics("selfplay", record)
        self._tell("selfplay", stats)
        if self.stop_reason is None and index in self.pool.members:
            self._play(index)
            for waiting in (a for a in self.agents if a.learner_waiting):  # new data: the learner may go on
                self._train(waiting.index)
        if self.config.run.episodes_per_iteration is not None:
            for each in self.agents:
                self._gate_if_iteration_ended(each)

    def _actor_stats(self) -> None:
        """Ask the buffer and the inference servers for their statistics for metrics.jsonl; one call each at a time."""
        if self.stop_reason is not None:
            return
        asking = set(self.pending.values())
        for shard, buffer in enumerate(self.buffers):
            if ("replay", shard) not in asking:
                self.pending[buffer.stats.remote()] = ("replay", shard)
        for index, server in enumerate(self.servers):
            if ("serve", index) not in asking:
                self.pending[server.stats.remote()] = ("serve", index)

    # ----- training and gating ----------------------------------------------------------

    def _train(self, model: int) -> None:
        agent = self.agents[model]
        agent.learner_waiting = False
        if ("train", model) in self.pending.values():
            return
        call = agent.learner.train.remote(max_seconds=self.config.run.train_seconds)
        self.pending[call] = ("train", model)

    def _on_train(self, agent: Agent, stats: dict[str, Any]) -> None:
        previous_pid = self.pids.get(agent.learner_name)
        self._seen(agent.learner_name, stats)
        if previous_pid is not None and self.pids[agent.learner_name] != previous_pid:
            lost = max(0, agent.counters.learner_step - stats["step"] + stats.get("steps_this_call", 0))
            self.log(
                f"{agent.learner_name} continued from its last checkpoint: "
                f"{lost} learner step(s) trained after it were lost"
            )
        agent.counters.learner_step = stats["step"]
        self.latest[_latest_key("train", agent.index)] = stats
        self.run_dir.append_metrics("train", stats if len(self.agents) == 1 else {"model": agent.name, **stats})
        self._tell("train", {"model": agent.name, **stats})
        if self.config.run.episodes_per_iteration is None and stats["candidate_ready"]:
            self._gate(agent)
        elif self.config.run.episodes_per_iteration is not None:
            self._gate_if_iteration_ended(agent)
        if self.stop_reason is None:
            if stats["waiting_for_data"]:
                agent.learner_waiting = True
            else:
                self._train(agent.index)

    def _gate_if_iteration_ended(self, agent: Agent) -> None:
        """With ``run.episodes_per_iteration``: gate ``agent``'s learner weights once that many episodes were
        played since its last gate and its learner has trained since then."""
        if self.counters.episodes >= agent.gate_at_episodes and agent.counters.learner_step > agent.gated_step:
            self._gate(agent)

    def _gate(self, agent: Agent) -> None:
        """Offer ``agent``'s learner weights to its evaluator (unless a gate is running or backing off)."""
        if agent.candidate is not None or self.stop_reason is not None or time.monotonic() < agent.gate_after:
            return
        weights = agent.learner.get_weights.remote()  # runs after any train call in flight: the newest weights
        step = agent.counters.learner_step
        agent.candidate = (step, weights)
        agent.gated_step = step
        version = agent.counters.version
        call = agent.evaluator.gate.remote(version + 1, [weights], version, [agent.best])
        self.pending[call] = ("gate", agent.index)

    def _on_gate(self, agent: Agent, record: dict[str, Any]) -> None:
        import ray

        self._seen(agent.evaluator_name, record)
        step, weights = agent.candidate
        agent.candidate = None
        c = agent.counters
        c.iteration += 1
        # The next iteration's episodes count from here (self-play went on while the gate ran).
        agent.gate_at_episodes = self.counters.episodes + (self.config.run.episodes_per_iteration or 0)
        record = {**record, "iteration": c.iteration, "learner_step": step}
        if len(self.agents) > 1:
            record["model"] = agent.name
        self.latest[_latest_key("gate", agent.index)] = record
        if record["accepted"]:
            try:
                state = ray.get(weights)
            except ray.exceptions.RayError as error:  # the learner holding them died: the next candidate
                self.log(f"{agent.tag}gate {c.iteration}: the accepted candidate's weights were lost ({error})")
                return
            self._publish(agent, state, step)
        self.run_dir.append_evaluation({"kind": "gate", "version": c.version, **record})
        self._tell("gate", {"version": c.version, **record})
        self.log(
            f"{agent.tag}gate {c.iteration}: candidate from step {step} "
            f"{'accepted as version ' + str(c.version) if record['accepted'] else 'rejected'}"
            f" ({record.get('reason', '')})"
        )
        every = self.config.run.save_every_iterations
        if every is not None and c.iteration % every == 0 and not self._saving():
            self.save_checkpoint(wait=False)
        refine = self.config.supervised.refine_every
        if refine is not None and c.iteration % refine == 0 and self.stop_reason is None:
            self.supervised(agent, self.config.supervised.refine_steps, "refinement")
        if self.max_iterations is not None and min(a.counters.iteration for a in self.agents) >= self.max_iterations:
            self.stop_reason = f"--max-iterations {self.max_iterations} reached"

    def _log_curriculum(self) -> None:
        for change in self.curriculum.take_changes():
            self.log(f"curriculum: {change}")

    def _tell(self, event: str, values: dict[str, Any]) -> None:
        for listener in self.listeners:
            listener(event, values)

    def _publish(self, agent: Agent, weights: dict[str, Any], step: int) -> None:
        """Make ``weights`` (learner step ``step``) ``agent``'s next version: on disk, in the object store,
        on the servers."""
        import ray

        c = agent.counters
        c.version += 1
        agent.files.save_weights(c.version, weights, keep=self.config.run.keep_best)
        # The driver's own object-store copy: it outlives the learner (and its node) that made it.
        agent.best = ray.put(weights)
        # Servers load it now rather than at the first worker's switch; a restarted server is sent the
        # current weights by the first worker that finds it behind (`actors.serving.client`).
        for server in self.servers:
            server.set_weights.remote(c.version, [agent.best])
        c.history.append({"version": c.version, "learner_step": step, "time": time.time()})

    def start_from_weights(self, weights: dict[str, Any], model: int = 0) -> None:
        """Model ``model`` trains on from ``weights`` (a state dict of numpy arrays): a new run's version 0,
        else the next version."""
        import ray

        agent = self.agents[model]
        self._wait(agent.learner.set_weights.remote(weights), agent.learner_name)
        if agent.counters.version == 0:
            agent.files.save_weights(0, weights, keep=self.config.run.keep_best)
            agent.best = ray.put(weights)
        else:
            self._publish(agent, weights, agent.counters.learner_step)
        self.save_checkpoint(wait=True)
        self.log(f"{agent.tag}the learner starts from the given weights (version {agent.counters.version})")

    def add_trajectories(self, trajectories: list[Any]) -> None:
        """Store episodes played outside the workers (e.g. `SelfPlayTrainer.run_self_play`) in the replay buffer."""
        if trajectories:
            self._wait(self.buffers[0].add.remote(trajectories), "the replay buffer")
            self.counters.episodes += len(trajectories)
            self.counters.positions += sum(t.num_positions for t in trajectories)

    # ----- supervised training ----------------------------------------------------------

    def supervised(self, agent: Agent, steps: int, phase: str) -> dict[str, Any]:
        """``steps`` of ``agent``'s learner on the run's demonstrations (``phase``: "pre-training" or "refinement").

        Pre-training's result becomes the next version at once (there is no self-play yet to gate it
        against); a refinement's weights reach self-play through the next gate, like any training.
        """
        if self.demonstrations is None:
            raise ConfigError(f"supervised {phase}: the run has no demonstrations (supervised.demos or generate)")
        stats = self._train_supervised(agent, steps, phase)
        c = agent.counters
        c.learner_step = stats["step"]
        c.supervised_steps = stats["supervised_steps"]
        model = {"model": agent.name} if len(self.agents) > 1 else {}
        self.run_dir.append_metrics("supervised", {"phase": phase, **model, **stats})
        self._tell("supervised", {"model": agent.name, **stats})
        losses = stats.get("losses") or {}
        loss = f", loss {losses['total']:.3f}" if "total" in losses else ""
        if phase == "pre-training":
            self._publish(agent, self._wait(agent.learner.get_weights.remote(), agent.learner_name), stats["step"])
            c.pretrained = True
            self.save_checkpoint(wait=True)
            self.log(f"{agent.tag}pre-training: {steps} learner steps on demonstrations{loss}; version {c.version}")
        else:
            self.log(f"{agent.tag}supervised refinement after gate {c.iteration}: {steps} learner steps{loss}")
        return stats

    def _train_supervised(self, agent: Agent, steps: int, phase: str) -> dict[str, Any]:
        """The learner's ``steps`` supervised steps in about 20 calls, so the phase shows its progress;
        the statistics of the last call (its losses are the newest), with ``steps`` over all of them.
        The demonstrations are one object-store entry that every call reads."""
        chunk = max(SUPERVISED_CHUNK_STEPS, -(-steps // 20))
        progress = self.progress(f"{agent.tag}supervised {phase}", -(-steps // chunk))
        done, stats = 0, {}
        try:
            while done < steps:
                count = min(chunk, steps - done)
                progress.start(f"steps {done + 1:,}-{done + count:,} of {steps:,}")
                batch_size = self.config.supervised.batch_size
                call = agent.learner.train_supervised.remote(self.demonstrations, count, batch_size)
                stats = self._wait(call, agent.learner_name, f"to train {count} steps on the demonstrations")
                done += count
                progress.done()
        finally:
            progress.close()
        return {**stats, "steps": done}

    # ----- checkpoints ------------------------------------------------------------------

    def _saving(self) -> bool:
        return any(kind == "save" for kind, _ in self.pending.values())

    def save_checkpoint(self, wait: bool) -> None:
        """Checkpoint every learner; state.json follows each learner's files."""
        for agent in self.agents:
            call = agent.learner.save_checkpoint.remote(str(agent.files.learner_dir))
            if wait:
                self._on_saved(agent, self._wait(call, agent.learner_name))
            else:
                self.pending[call] = ("save", agent.index)

    def _on_saved(self, agent: Agent, learner_state: dict[str, Any]) -> None:
        agent.counters.learner_step = learner_state.get("step", agent.counters.learner_step)
        state = {"counters": self.counters.to_dict(), "learner": learner_state}
        self.run_dir.save_state({**state, "curriculum": self.curriculum.state_dict()})

    def finish(self) -> None:
        """Let calls in flight finish, push every finished episode, checkpoint; failures are logged, not raised."""
        import ray

        self.retry_at.clear()
        # Calls to workers still waiting for a node (or their constructor) hold no work: not waited for.
        placed = {index for index, member in self.pool.members.items() if member.ready}
        for ref, (kind, index) in list(self.pending.items()):
            if kind in ("where", "placed") or (kind == "play" and index not in placed):
                del self.pending[ref]
        deadline = time.monotonic() + FLUSH_TIMEOUT_SECONDS
        while self.pending and time.monotonic() < deadline:  # handlers issue no new calls once stop_reason is set
            ready, _ = ray.wait(list(self.pending), num_returns=1, timeout=deadline - time.monotonic())
            if ready:
                self._complete(ready[0])
        if self.pending:
            names = sorted({self._actor_name(kind, index) for kind, index in self.pending.values()})
            self.log(f"calls of {', '.join(names)} did not finish within {FLUSH_TIMEOUT_SECONDS:g} s; not waited for")
            self.pending.clear()
        flushes = {self.pool.members[index].handle.flush.remote(): index for index in placed}
        done, late = ray.wait(list(flushes), num_returns=len(flushes), timeout=FLUSH_TIMEOUT_SECONDS)
        for ref in done:
            try:
                ray.get(ref)
            except ray.exceptions.RayError as error:
                self.log(f"selfplay{flushes[ref]}: could not push its last episodes ({type(error).__name__})")
        if late:
            self.log(f"{len(late)} self-play worker(s) did not flush within {FLUSH_TIMEOUT_SECONDS:g} s")
        try:
            self.save_checkpoint(wait=True)
        except ray.exceptions.RayError as error:
            self.log(f"the final checkpoint failed ({type(error).__name__}); the last periodic one stands")
        self.report_interval(finished=True)

    def shutdown(self) -> None:
        """End every actor of the run (after `finish`), for a process that goes on using Ray (`SelfPlayTrainer`)."""
        import ray

        actors = [*self.buffers, *self.servers]
        actors += [actor for agent in self.agents for actor in (agent.learner, agent.evaluator)]
        actors += [member.handle for member in self.pool.members.values()]
        for actor in actors:
            ray.kill(actor, no_restart=True)

    # ----- progress ---------------------------------------------------------------------

    def interval_record(self) -> dict[str, Any]:
        """The figures of the interval since the last one (`cluster.monitor.FIELDS`)."""
        pool = getattr(self, "pool", None)
        restarts = dict(self.restarts)
        if pool is not None and pool.lost_workers:
            restarts["lost self-play workers"] = pool.lost_workers
        remaining = None
        if self.max_seconds is not None and hasattr(self, "session_start"):
            remaining = max(0.0, self.max_seconds - (time.monotonic() - self.session_start))
        workers = len(pool.members) if pool is not None else 0
        members = pool.members if pool is not None else {}
        actors = {  # a dropped worker's last statistics are not its replacement's
            name: stats
            for name, stats in self.actor_stats.items()
            if not name.startswith("selfplay") or int(name[len("selfplay") :]) in members
        }
        record = self.meter.record(self.counters, self.latest, actors, restarts, workers, remaining)
        if self.curriculum_active:
            record["levels"] = {label: m["level"] for label, m in self.curriculum.metrics().items()}
        if len(self.agents) > 1:
            record["models"] = {
                a.name: {"version": a.counters.version, "learner_step": a.counters.learner_step} for a in self.agents
            }
        return record

    def report_interval(self, finished: bool = False) -> None:
        """Log the interval's record to metrics.jsonl, show it, and tell the listeners (TensorBoard, metrics)."""
        record = self.interval_record()
        self.run_dir.append_metrics("interval", record)
        self.write_status(record, finished)
        self.show(record)
        self._tell("interval", record)

    def write_status(self, record: dict[str, Any], finished: bool) -> None:
        """status.json: what `selfplay status` shows of this run, from any process that can read the directory."""
        import os
        import socket

        from common.storage import atomic_write_json

        actors = {
            name: {"location": stats.get("actor"), "reported": self.actor_seen.get(name)}
            for name, stats in self.actor_stats.items()
        }
        status = {
            "updated": time.time(),
            "driver": {"pid": os.getpid(), "host": socket.gethostname()},
            "finished": finished,
            "stop_reason": self.stop_reason,
            "progress_every_seconds": self.config.run.progress_every_seconds,
            "history": {a.name: a.counters.history[-10:] for a in self.agents},
            "actor_locations": actors,
            "record": record,
        }
        atomic_write_json(self.run_dir.path / "status.json", status)

    def _actor_name(self, kind: str, index: int) -> str:
        if kind in ("train", "save"):
            return self.agents[index].learner_name
        if kind == "gate":
            return self.agents[index].evaluator_name
        return _actor_name(kind, index)


def _latest_key(kind: str, model: int) -> str:
    """The key of the newest train or gate statistics of model ``model`` in `Driver.latest`."""
    return kind if model == 0 else f"{kind}{model}"


def _actor_name(kind: str, index: int) -> str:
    names = {"play": f"selfplay{index}"}
    names.update({"serve": f"inference{index}", "replay": "replay" if index == 0 else f"replay{index}"})
    return names.get(kind, kind)
