"""The run configuration: component dataclasses composed, loaded from YAML, validated.

Each component declares its own configuration as a dataclass beside its code,
with constraints in the fields' metadata under plain keys:

    min, max          bounds (inclusive); with exclusive_min=True the minimum is excluded
    choices           a tuple of allowed values
    range, ordered    for a pair: both ends within ``range``, and low <= high
    min_length        for a list
    kind_params       on a dict of task shape parameters: the name of the sibling
                      field holding the task kind (checked against its constructor)

This module turns a YAML file plus ``--set key.path=value`` overrides into a
`RunConfig`, or raises `ConfigError` with one line naming the source, the key
path and what was expected, e.g.
``configs/x.yaml: search.num_simulations: expected a positive integer, got -3``.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from actors.evaluator.config import EvaluationConfig
from actors.replay.config import ReplayConfig
from actors.search.config import SearchConfig
from actors.selfplay.config import SelfPlayConfig
from actors.serving.config import InferenceConfig
from actors.tasks.config import TasksConfig
from actors.tasks.registry import task_params
from cluster.errors import ConfigError
from learner.config import LearnerConfig
from learner.model_config import ModelConfig, resolve

STORAGES = ("local", "shared")


@dataclass
class RayConfig:
    """Where Ray runs. No address: an embedded local Ray with this machine's resources."""

    address: str | None = None
    num_cpus: int | None = field(default=None, metadata={"min": 1})
    num_gpus: int | None = field(default=None, metadata={"min": 0})  # default: the GPUs Ray detects


@dataclass
class RunSettings:
    """How the driver keeps the run directory and paces its calls, and where the run's state lives.

    ``storage``: "local" (the run directory is on the driver's disk: the replay buffer and the
    learner, which write into it, are pinned to the driver's node) or "shared" (a path every
    node mounts, e.g. NFS, EFS or a PersistentVolumeClaim: they may run on any node).
    """

    save_every_seconds: float = field(default=120.0, metadata={"min": 1.0})
    keep_best: int = field(default=3, metadata={"min": 1})  # accepted weights versions kept on disk
    progress_every_seconds: float = field(default=10.0, metadata={"min": 0.1})
    train_seconds: float = field(default=5.0, metadata={"min": 0.1})  # length of one learner call
    storage: str = field(default="local", metadata={"choices": STORAGES})
    # An iteration ends with a gate. None: a gate each time the learner offers a candidate
    # (every learner.candidate_every steps); N: the learner's current weights are gated once N more
    # self-play episodes have been played (the original design's games_per_iteration).
    episodes_per_iteration: int | None = field(default=None, metadata={"min": 1})
    # Checkpoint after every N iterations as well as every save_every_seconds (None: by time only).
    save_every_iterations: int | None = field(default=None, metadata={"min": 1})


@dataclass
class SupervisedConfig:
    """Supervised training on demonstrations: a pre-training phase, and refinement during self-play.

    ``demos``: a JSONL file of demonstrations (format: `actors.tasks.demos`); ``generate``: that many
    more demonstrations made by the tasks' exact solvers on Ray. ``steps`` learner steps on them
    before self-play starts (0: no pre-training phase); every ``refine_every`` iterations (the
    original design's alternating_interval) another ``refine_steps`` on the same demonstrations.
    """

    demos: str | None = None
    generate: int = field(default=0, metadata={"min": 0})
    steps: int = field(default=0, metadata={"min": 0})
    refine_every: int | None = field(default=None, metadata={"min": 1})
    refine_steps: int = field(default=100, metadata={"min": 1})
    batch_size: int | None = field(default=None, metadata={"min": 1})  # None: learner.batch_size

    @property
    def enabled(self) -> bool:
        return self.demos is not None or self.generate > 0


@dataclass
class RunConfig:
    """Everything a run needs; a snapshot of it is written into the run directory."""

    seed: int = field(default=0, metadata={"min": 0})
    ray: RayConfig = field(default_factory=RayConfig)
    tasks: TasksConfig = field(default_factory=TasksConfig)
    # One model, or several trained side by side on the same self-play data (one learner and one gate each).
    model: ModelConfig | list[ModelConfig] = field(default_factory=ModelConfig)
    search: SearchConfig = field(default_factory=SearchConfig)
    selfplay: SelfPlayConfig = field(default_factory=SelfPlayConfig)
    replay: ReplayConfig = field(default_factory=ReplayConfig)
    learner: LearnerConfig = field(default_factory=LearnerConfig)
    evaluation: EvaluationConfig = field(default_factory=EvaluationConfig)
    inference: InferenceConfig = field(default_factory=InferenceConfig)
    supervised: SupervisedConfig = field(default_factory=SupervisedConfig)
    run: RunSettings = field(default_factory=RunSettings)

    @property
    def models(self) -> list[ModelConfig]:
        """The models the run trains: ``model`` as a list."""
        return list(self.model) if isinstance(self.model, list) else [self.model]


def model_names(models: list[ModelConfig]) -> list[str]:
    """A name per model: its architecture, with ``#<index>`` where two models share one."""
    archs = [model.arch for model in models]
    return [arch if archs.count(arch) == 1 else f"{arch}#{index}" for index, arch in enumerate(archs)]


# ----- loading ------------------------------------------------------------------


def load_config(path: str | Path | None, overrides: list[str] | None = None) -> RunConfig:
    """Read ``path`` (or start from defaults), apply ``key.path=value`` overrides, validate."""
    source = "defaults" if path is None else str(path)
    # Start from the defaults so overrides can reach into sections (and lists) the file leaves out.
    data = _merged(to_dict(RunConfig()), {} if path is None else _native(_read_yaml(Path(path)), source))
    for override in overrides or []:
        _apply_override(data, override)
    # An override's mistakes are reported against the file they change, as the
    # user may have meant to fix the file itself; the message names the key.
    return _checked(build(RunConfig, data, source), source)


def _checked(config: RunConfig, source: str) -> RunConfig:
    """``config`` after the checks across sections; raises `ConfigError`."""
    for index, entry in enumerate(config.tasks.mix):
        if entry.search:  # a kind's search overrides are checked as the search settings they produce
            merged = {**to_dict(config.search), **entry.search}
            build(SearchConfig, merged, source, f"tasks.mix[{index}].search")
    models = config.models
    if not models:
        raise ConfigError(f"{source}: model: expected a mapping or a list of at least one model")
    for index, model in enumerate(models):
        try:
            resolve(model)  # constraints between fields, e.g. width divisible by heads
        except ValueError as error:
            where = f" (model[{index}])" if isinstance(config.model, list) else ""
            raise ConfigError(f"{source}: {error}{where}") from None
    shares = config.selfplay.agent_share
    if shares is not None and len(shares) != len(models):
        raise ConfigError(
            f"{source}: selfplay.agent_share: expected one share per model ({len(models)}), got {len(shares)}"
        )
    if len(models) > 1:
        if config.inference.servers:
            raise ConfigError(
                f"{source}: inference.servers: an inference server holds one model; a run of {len(models)} "
                "models needs inference.servers: 0 (each worker runs its model's network)"
            )
        if config.replay.sampling == "prioritized":
            raise ConfigError(
                f"{source}: replay.sampling: prioritized needs one model (the learners of {len(models)} models "
                "would overwrite each other's priorities); use uniform"
            )
        low = config.selfplay.worker_range[0]
        if low < len(models):
            raise ConfigError(
                f"{source}: selfplay.num_workers: expected at least one self-play worker per model "
                f"({len(models)}), got {low}"
            )
    fewest_workers = config.selfplay.worker_range[0]
    if config.replay.shards > fewest_workers:  # a shard no worker pushes to never fills: the learner would wait
        raise ConfigError(
            f"{source}: replay.shards: expected at most the fewest self-play workers ({fewest_workers}), "
            f"got {config.replay.shards}"
        )
    return config


def config_from_dict(data: dict[str, Any], source: str, base: RunConfig | None = None) -> RunConfig:
    """A `RunConfig` from a dict in our layout or the original design's (or both), laid over ``base``
    (default: the defaults); errors name ``source`` like a file's."""
    config = build(RunConfig, _merged(to_dict(base or RunConfig()), _native(data, source)), source)
    return _checked(config, source)


def _native(data: dict[str, Any], source: str) -> dict[str, Any]:
    """``data`` in our layout: a ``self_play:`` section and top-level keys of the original design's
    config dict (`cluster.original`) are translated; our own keys are laid over what they give."""
    from cluster.original import ORIGINAL_KEYS, translate

    native: dict[str, Any] = {}
    if "self_play" in data:
        native = translate(data["self_play"], source, "self_play")
    loose = {key: value for key, value in data.items() if key in ORIGINAL_KEYS}
    if loose:
        native = _merged(native, translate(loose, source, ""))
    ours = {key: value for key, value in data.items() if key != "self_play" and key not in ORIGINAL_KEYS}
    return _merged(native, ours)


def build(cls: type, data: Any, source: str, path: str = "") -> Any:
    """Validate ``data`` against dataclass ``cls`` and construct it; raises `ConfigError`."""
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: {path or '(top level)'}: expected a mapping of keys, got {_show(data)}")
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    hints = typing.get_type_hints(cls)
    for key in data:
        if key not in fields:
            where = f"{path}.{key}" if path else str(key)
            raise ConfigError(f"{source}: {where}: unknown key (expected one of: {', '.join(fields)})")
    values = {}
    for name, f in fields.items():
        if name in data:
            where = f"{path}.{name}" if path else name
            values[name] = _convert(hints[name], f.metadata, data[name], source, where)
    try:
        instance = cls(**values)
    except ValueError as error:  # a component's own check across fields (__post_init__)
        raise ConfigError(f"{source}: {path or '(top level)'}: {error}") from None
    for name, f in fields.items():
        if f.metadata.get("kind_params"):
            kind = getattr(instance, f.metadata["kind_params"])
            _check_kind_params(kind, getattr(instance, name), source, f"{path}.{name}")
    return instance


def to_dict(config: Any) -> dict[str, Any]:
    """A plain, YAML-ready dict of a config dataclass (tuples become lists)."""
    return _plain(dataclasses.asdict(config))


def dump_yaml(config: Any) -> str:
    return yaml.safe_dump(to_dict(config), sort_keys=False)


# ----- internals ----------------------------------------------------------------


def _read_yaml(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise ConfigError(f"{path}: no such config file")
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        line = f"line {mark.line + 1}: " if mark is not None else ""
        problem = getattr(error, "problem", None) or str(error).splitlines()[0]
        raise ConfigError(f"{path}: {line}invalid YAML: {problem}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: (top level): expected a mapping of keys, got {_show(data)}")
    return data


def _merged(base: dict[str, Any], update: dict[str, Any]) -> dict[str, Any]:
    """``update`` laid over ``base``, section by section; any other value replaces the base's."""
    merged = dict(base)
    for key, value in update.items():
        both_sections = isinstance(value, dict) and isinstance(merged.get(key), dict)
        merged[key] = _merged(merged[key], value) if both_sections else value
    return merged


def _apply_override(data: dict[str, Any], override: str) -> None:
    key_path, sep, text = override.partition("=")
    if not sep or not key_path.strip():
        raise ConfigError(f"--set {override}: expected key.path=value")
    try:
        value = yaml.safe_load(text) if text.strip() else ""
    except yaml.YAMLError:
        value = text
    keys = key_path.strip().split(".")
    node: Any = data
    for i, key in enumerate(keys[:-1]):
        if isinstance(node, list):
            index = _list_index(node, key, override, keys[: i + 1])
            node = node[index]
        else:
            node = node.setdefault(key, {})
            if not isinstance(node, (dict, list)):
                raise ConfigError(f"--set {override}: {'.'.join(keys[: i + 1])} is not a section")
    last = keys[-1]
    if isinstance(node, list):
        node[_list_index(node, last, override, keys)] = value
    else:
        node[last] = value


def _list_index(node: list, key: str, override: str, keys: list[str]) -> int:
    if not key.isdigit() or int(key) >= len(node):
        raise ConfigError(f"--set {override}: {'.'.join(keys)}: expected a list index below {len(node)}")
    return int(key)


def _convert(hint: Any, meta: Any, value: Any, source: str, where: str) -> Any:
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        inner = [a for a in args if a is not type(None)]
        sections = [a for a in inner if dataclasses.is_dataclass(a)]
        if not sections:
            return _convert(inner[0], meta, value, source, where)
        if isinstance(value, dict):  # e.g. selfplay.num_workers: {min: 1, max: 32}
            return build(sections[0], value, source, where)
        scalar = next(a for a in inner if not dataclasses.is_dataclass(a))
        if not _scalar_ok(scalar, meta, value):
            keys = ", ".join(f.name for f in dataclasses.fields(sections[0]))
            raise ConfigError(
                f"{source}: {where}: expected {_expected(scalar, meta)} or a mapping of {keys}, got {_show(value)}"
            )
        return _convert(scalar, meta, value, source, where)
    if dataclasses.is_dataclass(hint):
        return build(hint, value, source, where)
    if origin is list:
        if not isinstance(value, list) or len(value) < meta.get("min_length", 0):
            raise ConfigError(f"{source}: {where}: expected {_expected(hint, meta)}, got {_show(value)}")
        return [_convert(args[0], {}, item, source, f"{where}[{i}]") for i, item in enumerate(value)]
    if origin is tuple:
        return _convert_pair(args, meta, value, source, where)
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{source}: {where}: expected a mapping, got {_show(value)}")
        return dict(value)
    if not _scalar_ok(hint, meta, value):
        raise ConfigError(f"{source}: {where}: expected {_expected(hint, meta)}, got {_show(value)}")
    return float(value) if hint is float else value


def _convert_pair(args: tuple, meta: Any, value: Any, source: str, where: str) -> tuple:
    low, high = meta.get("range", (None, None))
    ok = isinstance(value, (list, tuple)) and len(value) == len(args)
    ok = ok and all(_scalar_ok(a, {"min": low, "max": high}, v) for a, v in zip(args, value, strict=True))
    ok = ok and (not meta.get("ordered") or value[0] <= value[1])
    if not ok:
        raise ConfigError(f"{source}: {where}: expected {_expected(tuple, meta)}, got {_show(value)}")
    return tuple(float(v) if a is float else v for a, v in zip(args, value, strict=True))


def _scalar_ok(hint: Any, meta: Any, value: Any) -> bool:
    if hint is bool:
        return isinstance(value, bool)
    if hint is int:
        type_ok = isinstance(value, int) and not isinstance(value, bool)
    elif hint is float:
        type_ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    elif hint is str:
        type_ok = isinstance(value, str)
    else:
        type_ok = True
    if not type_ok:
        return False
    if "choices" in meta and value not in meta["choices"]:
        return False
    low, high = meta.get("min"), meta.get("max")
    if low is not None and (value < low or (meta.get("exclusive_min") and value == low)):
        return False
    return high is None or value <= high


def _expected(hint: Any, meta: Any) -> str:
    """The phrase after 'expected' for a field of type ``hint`` with constraints ``meta``."""
    if "choices" in meta:
        return "one of: " + ", ".join(str(c) for c in meta["choices"])
    if typing.get_origin(hint) is list:
        return f"a list of at least {meta['min_length']} entries" if meta.get("min_length") else "a list"
    if hint is tuple:
        low, high = meta.get("range", ("-inf", "inf"))
        order = "low <= high, " if meta.get("ordered") else ""
        return f"a pair [low, high] with {order}both in [{low}, {high}]"
    if hint is bool:
        return "true or false"
    if hint is str:
        return "a string"
    noun = "an integer" if hint is int else "a number"
    low, high, exclusive = meta.get("min"), meta.get("max"), meta.get("exclusive_min", False)
    if low is not None and high is not None:
        return f"{noun} in {'(' if exclusive else '['}{low}, {high}]"
    if low == 0 or (hint is int and low == 1):
        sign = "positive" if exclusive or low == 1 else "non-negative"
        return f"a {sign} {noun.split()[-1]}"
    if low is not None:
        return f"{noun} {'>' if exclusive else '>='} {low}"
    if high is not None:
        return f"{noun} <= {high}"
    return noun


_SCALARS = {"int": int, "float": float, "bool": bool, "str": str}


def _check_kind_params(kind: str, params: dict[str, Any], source: str, where: str) -> None:
    accepted = task_params(kind)
    for name, value in params.items():
        if name not in accepted:
            names = ", ".join(accepted) or "none"
            raise ConfigError(f"{source}: {where}.{name}: unknown parameter of task kind {kind} (expected: {names})")
        annotation = accepted[name].annotation
        hint = _SCALARS.get(annotation, annotation)  # string annotations under `from __future__ import annotations`
        if hint in (int, float, bool, str) and not _scalar_ok(hint, {}, value):
            raise ConfigError(f"{source}: {where}.{name}: expected {_expected(hint, {})}, got {_show(value)}")
    try:
        from actors.tasks.registry import make_task

        make_task(kind, params)
    except (ValueError, TypeError) as error:
        raise ConfigError(f"{source}: {where}: {error}") from None


def _show(value: Any) -> str:
    if isinstance(value, str):
        return repr(value)
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        return "a mapping"
    return str(value)


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value
