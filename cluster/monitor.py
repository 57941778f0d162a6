"""The run's figures per progress interval: one record, `interval_record`, that every view reads.

The driver builds it every ``run.progress_every_seconds`` from the newest statistics of each
actor and appends it to metrics.jsonl as an ``"event": "interval"`` line; the progress display,
TensorBoard and the end-of-run summary show the same record. `FIELDS` documents every field
(the README's table is made from it, and a test checks that a real run fills each one).
"""

from __future__ import annotations

from typing import Any

# name, unit, meaning. Per-task fields are nested: tasks.<label>.<field>, gate.<label>.<field>, actors.<name>.<field>.
FIELDS: list[tuple[str, str, str]] = [
    ("elapsed_s", "s", "run time, over every session of the run"),
    ("remaining_s", "s", "time left of --max-minutes (null without a time limit)"),
    ("version", "", "the best weights' version (the first model's, in a run of several)"),
    ("iteration", "", "gates finished"),
    ("learner_step", "steps", "the learner's optimizer steps"),
    ("episodes", "", "self-play episodes played, in total"),
    ("positions", "", "self-play positions stored, in total"),
    ("episodes_per_s", "1/s", "self-play episodes per second over the interval"),
    ("positions_per_s", "1/s", "self-play positions per second over the interval"),
    ("simulations_per_s", "1/s", "search simulations per second, summed over the workers' latest calls"),
    ("network_rows_per_s", "1/s", "positions the workers' networks evaluated per second (inference batch rows)"),
    ("inference_batch", "rows", "mean rows per network call in search (simulations' leaves batched together)"),
    ("episode_length", "moves", "mean moves per episode in the workers' latest calls"),
    ("workers", "", "self-play workers running"),
    ("weights_lag", "versions", "the most any worker's weights were behind the best at its latest call"),
    ("buffer_size", "positions", "positions in the replay buffer (all shards)"),
    ("buffer_fill", "fraction", "buffer_size over the buffer's capacity"),
    ("sample_age", "positions", "mean age of sampled positions: insertions since each was stored"),
    ("learner_steps_per_s", "1/s", "learner steps per second over the interval"),
    ("learner_samples_per_s", "1/s", "training samples per second in the learner's latest call"),
    ("samples_per_insert", "", "training samples drawn per self-play position stored"),
    ("loss_policy", "nats", "policy loss (cross-entropy to the search's visit distribution)"),
    ("loss_value", "", "value loss (squared error to the episode's outcome)"),
    ("loss_halting", "", "halting loss (binary cross-entropy of the halting head)"),
    ("loss_total", "", "the sum the learner minimises"),
    ("restarts", "", "actor restarts and replaced workers since the run (this session) started"),
    ("levels.<label>", "", "a task's curriculum level (only with a curriculum)"),
    ("models.<name>.version / learner_step", "", "each model's version and step (only in a run of several)"),
    ("tasks.<label>.success", "fraction", "self-play success rate of a puzzle task (latest calls)"),
    ("tasks.<label>.win / draw / loss", "fraction", "self-play outcome rates of a game task, first player's view"),
    ("gate.<label>.solve_rate", "fraction", "the latest gate's candidate solve rate on a puzzle task's held-out set"),
    ("gate.<label>.wins / draws / losses", "games", "the latest gate's candidate against the best on a game task"),
    ("gate_accepted", "", "whether the latest gate promoted its candidate (null before the first gate)"),
    ("actors.<name>.cpu_percent", "% of a core", "each actor's CPU use over its latest report"),
    ("actors.<name>.rss_bytes", "bytes", "each actor's resident memory at its latest report"),
    ("actors.<name>.restarts", "", "each actor's restarts (a new process id) this session"),
]


def _weighted_rates(plays: list[dict[str, Any]]) -> dict[str, dict[str, float]]:
    """Per task: success (puzzles) or win/draw/loss (games), weighted by episodes over every bucket of ``plays``."""
    sums: dict[str, dict[str, float]] = {}
    for stats in plays:
        for task, buckets in stats.get("by_task", {}).items():
            entry = sums.setdefault(task, {})
            for bucket in buckets.values():
                episodes = bucket["episodes"]
                entry["episodes"] = entry.get("episodes", 0) + episodes
                for key in ("success", "win", "draw", "loss"):
                    if key in bucket:
                        entry[key] = entry.get(key, 0.0) + bucket[key] * episodes
    rates = {}
    for task, entry in sums.items():
        episodes = entry.pop("episodes", 0)
        if episodes:
            rates[task] = {key: value / episodes for key, value in entry.items()}
    return rates


def _gate_results(record: dict[str, Any] | None) -> dict[str, dict[str, Any]]:
    """Per task label of a gate record: the candidate's solve rate, or its wins/draws/losses against the best."""
    results: dict[str, dict[str, Any]] = {}
    for label, task in (record or {}).get("tasks", {}).items():
        if "candidate_solve_rate" in task:
            results[label] = {"solve_rate": task["candidate_solve_rate"]}
        elif "wins" in task:
            results[label] = {key: task[key] for key in ("wins", "draws", "losses")}
    return results


class IntervalMeter:
    """Turns the driver's newest statistics into one `interval_record` per progress interval.

    Rates of counters (episodes, positions, learner steps) are taken over the interval from
    the driver's own totals; rates inside one call (simulations, network rows) are the workers'.
    """

    def __init__(self) -> None:
        self.previous: tuple[float, int, int, int] | None = None  # elapsed, episodes, positions, learner step

    def record(
        self,
        counters: Any,
        latest: dict[str, dict[str, Any]],
        actors: dict[str, dict[str, Any]],
        restarts: dict[str, int],
        workers: int,
        remaining_s: float | None,
    ) -> dict[str, Any]:
        """The interval's record. ``latest``: the driver's newest stats per source ("play<i>", "train", "gate",
        "replay<shard>"); ``actors``: each actor's newest stats (for CPU and memory); ``restarts`` per actor."""
        elapsed = counters.elapsed_seconds
        now = (elapsed, counters.episodes, counters.positions, counters.learner_step)
        before = self.previous or (elapsed - 1e-9, now[1], now[2], now[3])
        self.previous = now
        seconds = max(now[0] - before[0], 1e-9)
        plays = [stats for key, stats in latest.items() if key.startswith("play")]
        train = latest.get("train", {})
        replays = [stats for key, stats in latest.items() if key.startswith("replay")]
        losses = train.get("losses") or {}
        moves = sum(p.get("moves", 0) for p in plays)
        episodes = sum(p.get("episodes", 0) for p in plays)
        rows = sum(p.get("network_rows_per_s", 0.0) * p.get("seconds", 0.0) for p in plays)
        calls = sum(p.get("network_calls", 0) for p in plays)
        size = sum(r.get("size", 0) for r in replays)
        capacity = sum(r.get("capacity", 0) for r in replays)
        gate = latest.get("gate")
        return {
            "elapsed_s": elapsed,
            "remaining_s": remaining_s,
            "version": counters.version,
            "iteration": counters.iteration,
            "learner_step": counters.learner_step,
            "episodes": counters.episodes,
            "positions": counters.positions,
            "episodes_per_s": (now[1] - before[1]) / seconds,
            "positions_per_s": (now[2] - before[2]) / seconds,
            "simulations_per_s": sum(p.get("simulations_per_s", 0.0) for p in plays),
            "network_rows_per_s": sum(p.get("network_rows_per_s", 0.0) for p in plays),
            "inference_batch": rows / calls if calls else None,
            "episode_length": moves / episodes if episodes else None,
            "workers": workers,
            "weights_lag": max((p.get("weights_lag", 0) for p in plays), default=None),
            "buffer_size": size,
            "buffer_fill": size / capacity if capacity else None,
            "sample_age": replays[0].get("sample_age_mean") if replays else None,
            "learner_steps_per_s": (now[3] - before[3]) / seconds,
            "learner_samples_per_s": train.get("samples_per_s"),
            "samples_per_insert": train.get("samples_per_insert"),
            "loss_policy": losses.get("policy"),
            "loss_value": losses.get("value"),
            "loss_halting": losses.get("halting"),
            "loss_total": losses.get("total"),
            "restarts": sum(restarts.values()),
            "tasks": _weighted_rates(plays),
            "gate": _gate_results(gate),
            "gate_accepted": None if gate is None else bool(gate.get("accepted")),
            "actors": {
                name: {
                    "cpu_percent": stats.get("cpu_percent"),
                    "rss_bytes": stats.get("rss_bytes"),
                    "restarts": restarts.get(name, 0),
                }
                for name, stats in sorted(actors.items())
                if "rss_bytes" in stats
            },
        }


def task_cell(label: str, values: dict[str, Any]) -> str:
    name = label.split("/")[-1]
    if "solve_rate" in values:
        return f"{name} {values['solve_rate']:.0%}"
    if "wins" in values:
        return f"{name} {values['wins']}/{values['draws']}/{values['losses']}"
    if "success" in values:
        return f"{name} {values['success']:.0%}"
    return f"{name} {values.get('win', 0):.0%}/{values.get('draw', 0):.0%}/{values.get('loss', 0):.0%}"


def clock(seconds: float) -> str:
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes:02d}:{secs:02d}"


def plain_line(record: dict[str, Any]) -> str:
    """The interval as one line, for a log without a terminal (a pipe, ``ray job submit``, CI)."""
    left = "" if record["remaining_s"] is None else f" ({clock(record['remaining_s'])} left)"
    parts = [
        f"[{clock(record['elapsed_s'])}{left}] v{record['version']}",
        f"self-play {record['episodes_per_s']:.1f} ep/s {record['positions_per_s']:,.0f} pos/s",
        f"learner step {record['learner_step']:,} ({record['learner_steps_per_s']:.1f}/s"
        + (f", {record['samples_per_insert']:.1f} samples/pos)" if record["samples_per_insert"] is not None else ")"),
        f"buffer {record['buffer_size']:,}"
        + (f" ({record['buffer_fill']:.0%})" if record["buffer_fill"] is not None else ""),
    ]
    if record["loss_total"] is not None:
        parts.append(f"loss {record['loss_total']:.3f}")
    if record["gate"]:
        verdict = "accepted" if record["gate_accepted"] else "rejected"
        cells = ", ".join(task_cell(label, values) for label, values in record["gate"].items())
        parts.append(f"gate {record['iteration']} {verdict}: {cells}")
    if record["restarts"]:
        parts.append(f"restarts {record['restarts']}")
    if record.get("levels"):
        parts.append(
            "levels " + ", ".join(f"{label.split('/')[-1]} {level:g}" for label, level in record["levels"].items())
        )
    if record.get("models"):
        parts.append("models " + ", ".join(f"{name} v{m['version']}" for name, m in record["models"].items()))
    return " | ".join(parts)


def rich_table(record: dict[str, Any], title: str) -> Any:
    """The interval as a `rich` table, for the live display on a terminal."""
    from rich.table import Table

    table = Table(title=title, show_header=False, box=None, pad_edge=False)
    table.add_column(style="bold cyan", no_wrap=True)
    table.add_column()
    left = "no time limit" if record["remaining_s"] is None else f"{clock(record['remaining_s'])} left"
    table.add_row("time", f"{clock(record['elapsed_s'])} elapsed, {left}")
    table.add_row("weights", f"version {record['version']}, {record['iteration']} gate(s)")
    table.add_row(
        "self-play",
        f"{record['episodes_per_s']:.1f} episodes/s, {record['positions_per_s']:,.0f} positions/s, "
        f"{record['simulations_per_s']:,.0f} simulations/s, {record['workers']} worker(s); "
        f"{record['episodes']:,} episodes in total",
    )
    ratio = record["samples_per_insert"]
    table.add_row(
        "learner",
        f"step {record['learner_step']:,}, {record['learner_steps_per_s']:.1f} steps/s"
        + (f", {ratio:.1f} samples per new position" if ratio is not None else "")
        + (f", loss {record['loss_total']:.3f}" if record["loss_total"] is not None else ""),
    )
    fill = "" if record["buffer_fill"] is None else f" ({record['buffer_fill']:.1%} full)"
    table.add_row("buffer", f"{record['buffer_size']:,} positions{fill}")
    if record["tasks"]:
        table.add_row("self-play tasks", ", ".join(task_cell(k, v) for k, v in record["tasks"].items()))
    if record["gate"]:
        verdict = "accepted" if record["gate_accepted"] else "rejected"
        cells = ", ".join(task_cell(k, v) for k, v in record["gate"].items())
        table.add_row("last gate", f"{verdict}: {cells}")
    if record["restarts"]:
        table.add_row("restarts", str(record["restarts"]))
    return table


class RunDisplay:
    """Where a long command shows its progress: a live `rich` panel on a terminal, plain lines otherwise.

    ``log`` prints a line (above the live panel on a terminal); ``show`` draws an interval record.
    Without a terminal (a pipe, ``ray job submit``, CI) every record is one `plain_line`.
    """

    def __init__(self, title: str, stream: Any = None) -> None:
        import sys

        self.title = title
        self.stream = stream or sys.stderr
        self.console = None
        self.live = None
        if self.stream.isatty():
            from rich.console import Console

            self.console = Console(file=self.stream)

    def log(self, line: str) -> None:
        if self.console is not None:
            self.console.print(line, markup=False, highlight=False)
        else:
            print(line, file=self.stream, flush=True)

    def show(self, record: dict[str, Any]) -> None:
        if self.console is None:
            self.log(plain_line(record))
            return
        table = rich_table(record, self.title)
        if self.live is None:
            from rich.live import Live

            self.live = Live(table, console=self.console, refresh_per_second=2, transient=False)
            self.live.start()
        else:
            self.live.update(table)

    def close(self) -> None:
        if self.live is not None:
            self.live.stop()
            self.live = None


class StepProgress:
    """Progress of a long command made of counted steps (tasks measured, batch sizes timed).

    On a terminal a `rich` progress bar with the current step, elapsed and remaining time;
    otherwise one plain line per finished step with the same figures. Remaining time is the
    mean time per finished step times the steps left.

        progress = StepProgress("selfplay evaluate", total=6)
        progress.section = "v27"                 # shown before each step's label (optional)
        progress.start("reasoning/sudoku")       # what runs now
        progress.done()                          # it finished
        progress.close()
    """

    def __init__(self, title: str, total: int, stream: Any = None, log: Any = None) -> None:
        """Draw on ``stream`` (default stderr); with ``log`` (a callable taking a line), plain lines go there."""
        import sys
        import time

        self.title = title
        self.total = max(1, total)
        self.finished = 0
        self.current = ""
        self.section = ""
        self.stream = stream or sys.stderr
        self._now = time.monotonic
        self.started = self._now()
        self.log = log or (lambda line: print(line, file=self.stream, flush=True))
        self.bar = None
        if log is None and self.stream.isatty():
            from rich.console import Console
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeElapsedColumn,
                TimeRemainingColumn,
            )

            self.bar = Progress(
                TextColumn("[bold cyan]{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                TextColumn("left"),
                TimeRemainingColumn(),
                console=Console(file=self.stream),
                transient=True,
            )
            self.bar.start()
            self.task = self.bar.add_task(title, total=self.total)

    def start(self, label: str) -> None:
        """Say what runs now."""
        self.current = f"{self.section} {label}".strip()
        if self.bar is not None:
            self.bar.update(self.task, description=f"{self.title}: {self.current}")

    def done(self) -> None:
        """The current step finished."""
        self.finished += 1
        if self.bar is not None:
            self.bar.update(self.task, advance=1)
            return
        elapsed = self._now() - self.started
        left = elapsed / self.finished * (self.total - self.finished)
        self.log(
            f"[{self.finished}/{self.total} {clock(elapsed)}, {clock(left)} left] {self.title}: {self.current} done"
        )

    def close(self) -> None:
        if self.bar is not None:
            self.bar.stop()
            self.bar = None


def run_summary(record: dict[str, Any] | None, run_dir: str, stop_reason: str | None, counters: Any) -> str:
    """What a finished `selfplay train` prints: why it stopped, where it got, the last gate, what to run next."""
    lines = [
        f"stopped: {stop_reason}",
        f"version {counters.version} after {counters.iteration} gate(s); learner step {counters.learner_step:,}; "
        f"{counters.episodes:,} episodes, {counters.positions:,} positions in {clock(counters.elapsed_seconds)}",
    ]
    if record is not None and record["gate"]:
        verdict = "accepted" if record["gate_accepted"] else "rejected"
        cells = ", ".join(task_cell(label, values) for label, values in record["gate"].items())
        lines.append(f"last gate ({verdict}; puzzles: solve rate, games: W/D/L against the best): {cells}")
    lines += [
        f"run directory: {run_dir}",
        "next:",
        f"  selfplay train --resume {run_dir}        # go on training",
        f"  selfplay evaluate --run-dir {run_dir}    # the best model against the reference opponents",
        f"  selfplay report {run_dir} --out {run_dir}/report   # plots of strength, throughput, losses, resources",
        f"  tensorboard --logdir {run_dir}/tb",
    ]
    return "\n".join(lines)
