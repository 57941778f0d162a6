"""A trained model as `solve`, `play` and `gtp` use it: from a run directory or from one exported file.

    model = load_trained("runs/local-...")          # the run's best weights (or --version V)
    model = load_trained("model.safetensors")        # what `selfplay export` wrote
    network = model.network()                        # a TorchNetwork on the CPU, the weights loaded
    export_trained(model, "model.safetensors")       # weights and, in the header, the config and version

An exported file is a safetensors file (`common.tensorfile`): the network's tensors, and in its
text metadata the run's validated configuration as YAML (``config``), the model's index in the
run's ``model: [...]`` list (``model``), its name, its weights version and the run it came from.
Nothing in it is code, so loading it runs none. The task mix in that configuration fixes the
network's task ids and shapes: a file holds everything a `solve` needs.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import yaml

from cluster.config import RunConfig, config_from_dict, dump_yaml, model_names
from cluster.errors import ConfigError
from common.tensorfile import TensorFileError, read_tensors, write_tensors

if TYPE_CHECKING:
    from actors.inference import TorchNetwork
    from actors.tasks.base import Task

EXPORT_FORMAT = "selfplay-model/1"


@dataclass
class TrainedModel:
    """One model's weights with the run configuration they were trained under.

    ``config`` is the whole run's; ``index`` picks the model of ``config.models``; ``source``
    names where it came from (a run directory or an exported file) for messages.
    """

    config: RunConfig
    index: int
    version: int
    weights: dict[str, np.ndarray]
    source: str

    @property
    def name(self) -> str:
        return model_names(self.config.models)[self.index]

    @cached_property
    def tasks(self) -> list[Task]:
        """The run's tasks in task-id order (the network's task ids), made once."""
        from actors.tasks.registry import TaskMix

        return TaskMix(self.config.tasks).tasks

    def network(self, device: str = "cpu", threads: int | None = None) -> TorchNetwork:
        """A network of this model's shape holding its weights."""
        from actors.inference import build_network

        specs = [task.spec for task in self.tasks]
        network = build_network(self.config.models[self.index], specs, self.config.seed, threads, device)
        try:
            network.load_state_dict(self.weights)
        except (RuntimeError, KeyError) as error:  # a file whose tensors do not fit its own config
            first = str(error).strip().splitlines()[0]
            message = f"{self.source}: the weights do not fit the model its config describes ({first})"
            raise ConfigError(message) from None
        return network


def load_trained(source: str | Path, version: int | None = None, model: str | None = None) -> TrainedModel:
    """The model in ``source``: a run directory (its best weights, or ``version``) or an exported file.

    ``model`` names one model of a run of several (default: the first). Every problem with
    ``source`` is a `ConfigError` naming it.
    """
    path = Path(source)
    if path.is_dir():
        return _from_run_dir(path, version, model)
    if path.is_file():
        if version is not None:
            raise ConfigError(f"{path}: an exported model holds one version; --version applies to a run directory")
        return _from_file(path, model)
    raise ConfigError(f"{path}: no such run directory or model file")


def _pick_model(config: RunConfig, model: str | None, source: str) -> int:
    names = model_names(config.models)
    if model is None:
        return 0
    if model not in names:
        raise ConfigError(f"{source}: --model {model}: the run trains {', '.join(names)}")
    return names.index(model)


def _from_run_dir(path: Path, version: int | None, model: str | None) -> TrainedModel:
    from cluster.rundir import RunDir

    run_dir = RunDir(path)
    config = run_dir.load_config()
    state = run_dir.load_state()
    if state is None:
        raise ConfigError(f"{path}: the run has no checkpoint yet (no state.json), so it has no best model")
    index = _pick_model(config, model, str(path))
    counters = state["counters"] if index == 0 else state["counters"]["others"][index - 1]
    chosen = int(counters["version"]) if version is None else version
    weights = run_dir.for_model(index).load_weights(chosen)
    return TrainedModel(config, index, chosen, weights, str(run_dir.path))


def _from_file(path: Path, model: str | None) -> TrainedModel:
    try:
        weights, metadata = read_tensors(path, "np")
    except TensorFileError as error:
        raise ConfigError(str(error)) from None
    if metadata.get("format") != EXPORT_FORMAT:
        raise ConfigError(
            f"{path}: not a model exported by selfplay export (header format {metadata.get('format')!r},"
            f" expected {EXPORT_FORMAT!r}); a run's weights/v*.safetensors needs its run directory"
        )
    try:
        data = yaml.safe_load(metadata.get("config", ""))
    except yaml.YAMLError as error:
        raise ConfigError(f"{path}: its config header is not YAML ({str(error).splitlines()[0]})") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: its config header is not a YAML mapping")
    config = config_from_dict(data, f"{path} (config header)")
    index = int(metadata.get("model", "0"))
    if not 0 <= index < len(config.models):
        raise ConfigError(f"{path}: model index {index} is not in its config's {len(config.models)} model(s)")
    if model is not None and model != model_names(config.models)[index]:
        raise ConfigError(f"{path}: --model {model}: the file holds {model_names(config.models)[index]}")
    return TrainedModel(config, index, int(metadata.get("version", "0")), weights, str(path))


def export_trained(model: TrainedModel, out: str | Path) -> Path:
    """Write ``model`` as one safetensors file that `load_trained` reads back (atomically)."""
    metadata = {
        "format": EXPORT_FORMAT,
        "config": dump_yaml(model.config),
        "model": str(model.index),
        "name": model.name,
        "version": str(model.version),
        "source": model.source,
    }
    return write_tensors(out, model.weights, metadata)
