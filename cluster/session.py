"""Opening a run: its directory (new or resumed), Ray, and the driver with its actors started.

`selfplay train`, `selfplay pretrain`, `SelfPlayTrainer` and the original design's commands all
open a run this one way:

    run_dir, config, resume = open_run_dir(config, "runs/x", resume=False)   # locked; created or resumed
    driver = start_driver(config, run_dir, resume, address=None)             # Ray up, actors started
    driver.begin(); driver.advance(until=...); driver.finish()
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cluster.config import RunConfig
from cluster.errors import ConfigError

if TYPE_CHECKING:
    from cluster.driver import Driver
    from cluster.rundir import RunDir


def default_run_dir(stem: str) -> Path:
    """``runs/<stem>-<time>``, where a new run writes unless told otherwise."""
    return Path("runs") / f"{stem}-{time.strftime('%Y%m%d-%H%M%S')}"


def open_run_dir(
    config: RunConfig | None, path: str | Path, resume: bool, overrides: list[str] | None = None
) -> tuple[RunDir, RunConfig]:
    """Lock the run directory ``path`` and create a run there with ``config``, or (``resume``) load its own.

    A resumed run takes ``overrides`` on top of its snapshot, which then records them; its
    replay shard count cannot change (its positions are in that many directories).
    """
    from cluster.rundir import RunDir

    run_dir = RunDir(path)
    if resume:
        resumed = run_dir.load_config(overrides)
        run_dir.lock()
        shards = run_dir.load_config().replay.shards
        if resumed.replay.shards != shards:
            raise ConfigError(
                f"{run_dir.config_path}: replay.shards: a resumed run keeps its {shards}, got {resumed.replay.shards}"
            )
        if overrides:
            run_dir.save_config(resumed)  # the snapshot is what the run uses from now on
        return run_dir, resumed
    if config is None:
        raise ValueError("open_run_dir: a new run needs a config")
    run_dir.lock()
    run_dir.create(config)
    return run_dir, config


def start_driver(
    config: RunConfig,
    run_dir: RunDir,
    resume: bool,
    address: str | None = None,
    *,
    max_minutes: float | None = None,
    max_iterations: int | None = None,
    handle_signals: bool = True,
    log: Callable[[str], None] | None = None,
    progress: Callable[[str, int], Any] | None = None,
) -> Driver:
    """A `Driver` on ``run_dir`` with Ray started (or attached to) and every actor started.

    Demonstrations (supervised training) are read before Ray starts, so a bad line is reported
    at once; a configured pre-training phase runs inside `Driver.start_actors` (``progress``, a
    `Driver.progress` factory, shows it; by default plain lines in ``log``).
    """
    from cluster.driver import Driver
    from cluster.runtime import start_ray

    say = log or (lambda line: print(line, file=sys.stderr, flush=True))
    driver = Driver(
        config,
        run_dir,
        resume=resume,
        max_minutes=max_minutes,
        max_iterations=max_iterations,
        handle_signals=handle_signals,
        log=say,
    )
    if progress is not None:
        driver.progress = progress
    if config.supervised.enabled:
        driver.read_demonstrations()
    connection = start_ray(config.ray, address)
    say(f"ray: {connection.description}")
    room = driver.check_fits(connection.resources) if connection.embedded else None
    from cluster.prometheus_metrics import PrometheusGauges
    from cluster.tensorboard_log import TensorBoardLog

    driver.listeners.append(TensorBoardLog(run_dir.path, run_dir.config_path.read_text()))
    driver.listeners.append(PrometheusGauges(run_dir.path.name))
    driver.start_actors(room)
    return driver
