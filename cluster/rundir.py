"""The run directory: everything a run writes and everything a resume needs.

    <run>/config.yaml          the validated configuration, as the run uses it
    <run>/state.json           driver counters, weights version history (written last on checkpoint)
    <run>/checkpoints/learner  the learner's model, optimizer, counters and random states
    <run>/weights/v<N>.safetensors   accepted weights: version 0 (the starting network) and the newest `keep_best`
    <run>/replay/              the replay buffer's segments (written by the buffer actor)
    <run>/metrics.jsonl        one JSON object per event (self-play, training, evaluation)
    <run>/evaluations.jsonl    every gate and reference evaluation
    <run>/weights-<i>/, <run>/checkpoints/learner-<i>/   model i's, in a run of several models (model: [...])

Every file but the two append-only logs is written atomically, so a crash at any
moment leaves the previous consistent state. A running `selfplay train` holds
``<run>/.lock`` (an advisory lock the kernel releases when the process ends, however it
ends), so a second run on the same directory is refused before it starts anything.
"""

from __future__ import annotations

import copy
import fcntl
import json
import os
import socket
import time
from pathlib import Path
from typing import Any

import numpy as np

from cluster.config import ConfigError, RunConfig, dump_yaml, load_config
from common.storage import atomic_write_bytes, atomic_write_json
from common.tensorfile import TensorFileError, read_tensors, write_tensors

STATE_FORMAT = 1
LOCK_FILE = ".lock"


class RunDir:
    """Paths and safe reads and writes of one run directory."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path).resolve()
        self.config_path = self.path / "config.yaml"
        self.state_path = self.path / "state.json"
        self.learner_dir = self.path / "checkpoints" / "learner"
        self.weights_dir = self.path / "weights"
        self.metrics_path = self.path / "metrics.jsonl"
        self.evaluations_path = self.path / "evaluations.jsonl"

    def for_model(self, model: int) -> RunDir:
        """This run directory as model ``model`` of a run of several sees it: its own ``weights-<model>/`` and
        ``checkpoints/learner-<model>/`` (model 0: the usual ``weights/`` and ``checkpoints/learner/``)."""
        if model == 0:
            return self
        view = copy.copy(self)
        view.weights_dir = self.path / f"weights-{model}"
        view.learner_dir = self.path / "checkpoints" / f"learner-{model}"
        return view

    # ----- creation and resume ------------------------------------------------------

    def lock(self) -> None:
        """Hold this run directory until the process exits; a directory a live run holds is refused."""
        self.path.mkdir(parents=True, exist_ok=True)
        file = open(self.path / LOCK_FILE, "a+")  # noqa: SIM115 - held open for the process's lifetime
        try:
            fcntl.flock(file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            file.seek(0)
            holder = file.read().strip() or "another process"
            file.close()
            raise ConfigError(f"{self.path}: in use by a running selfplay train ({holder})") from None
        file.seek(0)
        file.truncate()
        file.write(f"process {os.getpid()} on {socket.gethostname()}")
        file.flush()
        self._lock_file = file

    def create(self, config: RunConfig) -> None:
        """Start a new run here; refuses a directory that already holds one.

        A directory with a config but no state.json holds a run that never started (it stopped before its
        first checkpoint, which comes before any self-play): it is started afresh.
        """
        if self.state_path.exists():
            raise ConfigError(f"{self.path}: already holds a run (use --resume {self.path} to continue it)")
        self.path.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(self.config_path, dump_yaml(config).encode())

    def load_config(self, overrides: list[str] | None = None) -> RunConfig:
        if not self.config_path.is_file():
            raise ConfigError(f"{self.path}: not a run directory (no config.yaml)")
        return load_config(self.config_path, overrides)

    def save_config(self, config: RunConfig) -> None:
        atomic_write_bytes(self.config_path, dump_yaml(config).encode())

    # ----- driver state -------------------------------------------------------------

    def load_state(self) -> dict[str, Any] | None:
        """The last checkpointed driver state, or None for a run that has not checkpointed yet."""
        if not self.state_path.is_file():
            return None
        try:
            state = json.loads(self.state_path.read_text())
        except json.JSONDecodeError as error:
            raise ConfigError(f"{self.state_path}: not valid JSON ({error})") from None
        if state.get("format") != STATE_FORMAT:
            raise ConfigError(f"{self.state_path}: format {state.get('format')!r}, expected {STATE_FORMAT}")
        return state

    def save_state(self, state: dict[str, Any]) -> None:
        atomic_write_json(self.state_path, {**state, "format": STATE_FORMAT})

    # ----- weights ------------------------------------------------------------------

    def weights_path(self, version: int) -> Path:
        return self.weights_dir / f"v{version:06d}.safetensors"

    def save_weights(self, version: int, weights: dict[str, np.ndarray], keep: int) -> Path:
        """Write accepted weights ``version``; of the others, keep version 0 and the newest ``keep``.

        Version 0, the starting network, is never deleted: `selfplay evaluate` measures
        every version against it, to show what training added over search alone.
        """
        path = self.weights_path(version)
        write_tensors(path, weights)
        starting = self.weights_path(0)
        later = sorted(p for p in self.weights_dir.glob("v*.safetensors") if p != starting)
        for old in later[:-keep]:
            old.unlink(missing_ok=True)
        return path

    def load_weights(self, version: int) -> dict[str, np.ndarray]:
        path = self.weights_path(version)
        if not path.is_file():
            raise ConfigError(f"{path}: the weights of version {version} are missing from the run directory")
        try:
            return read_tensors(path, "np")[0]
        except TensorFileError as error:  # one line naming the file and what is wrong
            raise ConfigError(f"{error} (the weights of version {version})") from None

    # ----- logs ---------------------------------------------------------------------

    def append_metrics(self, event: str, values: dict[str, Any]) -> None:
        _append_jsonl(self.metrics_path, {"time": time.time(), "event": event, **values})

    def append_evaluation(self, record: dict[str, Any]) -> None:
        _append_jsonl(self.evaluations_path, {"time": time.time(), **record})


def _append_jsonl(path: Path, record: dict[str, Any]) -> None:
    with open(path, "a") as file:
        file.write(json.dumps(record, default=_json_default) + "\n")
        file.flush()
        os.fsync(file.fileno())


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"not JSON serializable: {type(value).__name__}")
