"""The `selfplay` command.

Every user mistake (a bad config value, an unknown kind, a difficulty out of
range) ends in one line on stderr naming what was wrong and exit code 2.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from cluster.arguments import non_negative_int, positive_int
from cluster.errors import ConfigError, UsageError

EXIT_USAGE = 2
DEFAULT_CONFIG = Path(__file__).resolve().parents[1] / "configs" / "local.yaml"


# ----- argument helpers ------------------------------------------------------------


def _difficulty(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = None
    if value is None or not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"expected a number in [0, 1], got {text!r}")
    return value


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if not value > 0:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}")
    return value


def _positive_int_list(text: str) -> tuple[int, ...]:
    return tuple(positive_int(part.strip()) for part in text.split(",") if part.strip())


def _difficulty_list(text: str) -> tuple[float, ...]:
    return tuple(_difficulty(part) for part in text.split(",") if part.strip())


def _params(pairs: list[str]) -> dict[str, Any]:
    """``["size=9"]`` -> ``{"size": 9}`` (values parsed as YAML scalars)."""
    params = {}
    for pair in pairs:
        name, sep, text = pair.partition("=")
        if not sep or not name:
            raise UsageError(f"--param {pair}: expected name=value")
        params[name] = yaml.safe_load(text)
    return params


def _resolve_kind(family: str | None, kind: str | None) -> str:
    from actors.tasks.registry import FAMILIES, KINDS

    if kind is not None and kind not in KINDS:
        raise UsageError(f"--kind: expected one of: {', '.join(KINDS)}, got {kind!r}")
    if family is not None and family not in FAMILIES:
        raise UsageError(f"--family: expected one of: {', '.join(FAMILIES)}, got {family!r}")
    if kind is None:
        if family is None:
            raise UsageError("give --family or --kind")
        return FAMILIES[family][0]
    if family is not None and KINDS[kind][0] != family:
        raise UsageError(f"--kind: {kind} is not in family {family} (expected one of: {', '.join(FAMILIES[family])})")
    return kind


def _make_task(kind: str, params: dict[str, Any]):
    from actors.tasks.registry import make_task, task_params

    accepted = task_params(kind)
    for name in params:
        if name not in accepted:
            raise UsageError(f"--param {name}: unknown parameter of task kind {kind} (expected: {', '.join(accepted)})")
    try:
        return make_task(kind, params)
    except (TypeError, ValueError) as error:
        raise UsageError(f"--param: {error}") from None


# ----- commands ------------------------------------------------------------------


def cmd_tasks_sample(args: argparse.Namespace) -> int:
    kind = _resolve_kind(args.family, args.kind)
    task = _make_task(kind, _params(args.param))
    for i in range(args.n):
        seed = args.seed + i
        state = task.generate(seed, args.difficulty)
        answer = task.solve(state)
        print(f"# {task.name}  seed={seed}  difficulty={args.difficulty:g}  effort={task.effort(state):g}")
        print(task.render(state))
        print("solution:")
        replay = state
        for action in answer:
            print(f"  {task.describe_action(replay, action)}")
            if task.spec.num_players == 1:
                replay = task.play(replay, [action])
        print(f"verified: {'yes' if task.verify(state, answer) else 'NO'}")
        print()
    return 0


def cmd_tasks_check(args: argparse.Namespace) -> int:
    from actors.tasks.registry import KINDS
    from actors.tasks.selfcheck import CHECK_VARIANTS, check_kind, format_reports

    variants = [(k, p) for k, p in CHECK_VARIANTS if not args.kind or k in args.kind]
    for kind in args.kind or []:
        if kind not in KINDS:
            raise UsageError(f"--kind: expected one of: {', '.join(KINDS)}, got {kind!r}")
    started = time.perf_counter()
    options = {"difficulties": args.difficulties, "per_difficulty": args.n, "seed": args.seed}
    if args.local:
        reports = []
        for i, (kind, params) in enumerate(variants):
            reports.append(check_kind(kind, params, **options))
            _progress(i + 1, len(variants), reports[-1], started)
    else:
        reports = _check_on_ray(variants, options, args.address, started)
    if args.json:
        ok = all(r.ok for r in reports)
        print(json.dumps({"ok": ok, "kinds": [r.to_dict() for r in reports]}, indent=2))
    else:
        print(format_reports(reports))
        failed = [r.kind for r in reports if not r.ok]
        print(
            f"\n{'all kinds solved and verified' if not failed else 'FAILED: ' + ', '.join(failed)}"
            f" in {time.perf_counter() - started:.1f} s"
        )
    return 0 if all(r.ok for r in reports) else 1


def _check_on_ray(variants: list, options: dict, address: str | None, started: float) -> list:
    """One Ray task per kind; results are gathered as they finish, in the order of ``variants``."""
    import ray

    from actors.tasks.selfcheck import check_kind
    from cluster.config import RayConfig
    from cluster.runtime import start_ray

    connection = start_ray(RayConfig(), address)
    print(f"checking {len(variants)} task kinds on {connection.description}", file=sys.stderr)
    remote_check = ray.remote(num_cpus=1)(check_kind)
    pending = {remote_check.remote(kind, params, **options): i for i, (kind, params) in enumerate(variants)}
    reports: list = [None] * len(variants)
    done = 0
    while pending:
        ready, _ = ray.wait(list(pending), num_returns=1)
        index = pending.pop(ready[0])
        reports[index] = ray.get(ready[0])
        done += 1
        _progress(done, len(variants), reports[index], started)
    return reports


def _progress(done: int, total: int, report: Any, started: float) -> None:
    status = "ok" if report.ok else "FAILED"
    shape = ",".join(f"{k}={v}" for k, v in report.params.items())
    print(
        f"[{done}/{total}] {report.family}/{report.kind}{f'({shape})' if shape else ''}: {status}"
        f" ({time.perf_counter() - started:.1f} s)",
        file=sys.stderr,
    )


def cmd_bench_search(args: argparse.Namespace) -> int:
    """Search vs its network alone, with the network and search settings of a run config."""
    from dataclasses import replace

    from actors.inference import build_network
    from actors.tasks.registry import TaskMix
    from cluster.bench import bench_search, format_search_bench
    from cluster.config import load_config
    from cluster.monitor import StepProgress

    config = load_config(args.config, args.set)
    mix = TaskMix(config.tasks)
    kinds = [entry.kind for entry in mix.entries]
    kind = args.kind or kinds[0]
    if kind not in kinds:
        raise UsageError(f"--kind: expected a kind of {args.config}'s task mix ({', '.join(kinds)}), got {kind!r}")
    task_id = kinds.index(kind)
    search = config.search.with_overrides(mix.entries[task_id].search)
    if args.algorithm is not None:
        search = replace(search, algorithm=args.algorithm)

    def network_factory():
        return build_network(config.models[0], [task.spec for task in mix.tasks], config.seed)

    low, high = mix.entries[task_id].difficulty
    progress = StepProgress(f"selfplay bench search ({kind})", len(args.batch_sizes))
    result = bench_search(
        network_factory,
        mix.tasks[task_id],
        batch_sizes=args.batch_sizes,
        num_simulations=args.simulations or search.num_simulations,
        moves=args.moves,
        threads=args.threads,
        config=search,
        difficulty=(low + high) / 2,
        seed=config.seed,
        network_name=f"{config.models[0].arch}/{config.models[0].preset} of {args.config}",
        task_id=task_id,
        progress=progress,
    )
    progress.close()
    print(json.dumps(result, indent=2) if args.json else format_search_bench(result))
    return 0


def cmd_bench_replay(args: argparse.Namespace) -> int:
    """The replay buffer's resident memory over many fillings of a run config's capacity."""
    from actors.tasks.registry import TaskMix
    from cluster.bench import bench_replay, format_replay_bench
    from cluster.config import load_config

    config = load_config(args.config, args.set)
    specs = [task.spec for task in TaskMix(config.tasks).tasks]
    result = bench_replay(config.replay, specs, turnovers=args.turnovers, seed=config.seed)
    print(json.dumps(result, indent=2) if args.json else format_replay_bench(result))
    return 0


def cmd_bench_scale(args: argparse.Namespace) -> int:
    """How many self-play workers one replay buffer and one driver loop can feed (`cluster.bench_scale`)."""
    from cluster.bench_scale import bench_scale, format_scale_bench
    from cluster.config import load_config
    from cluster.monitor import StepProgress

    config = load_config(args.config, args.set)
    progress = StepProgress("selfplay bench scale", 3)
    result = bench_scale(
        config,
        seconds=args.seconds,
        producers=args.producers,
        echo_workers=args.echo_workers,
        pending_sizes=args.pending,
        address=args.address,
        source=args.config,
        progress=progress,
    )
    progress.close()
    print(json.dumps(result, indent=2) if args.json else format_scale_bench(result))
    return 0


def cmd_bench_inference(args: argparse.Namespace) -> int:
    """Self-play positions/s of N workers with their own networks vs the same N sharing one inference server."""
    from cluster.bench_inference import format_inference_bench, run_bench_inference

    result = run_bench_inference(args)
    print(json.dumps(result, indent=2) if args.json else format_inference_bench(result))
    return 0


def cmd_bench_selfplay(args: argparse.Namespace) -> int:
    """Self-play rates per task kind vs its network-bound ceiling, 1 and N workers (`cluster.bench_selfplay`)."""
    from cluster.bench_selfplay import format_selfplay_bench, run_bench_selfplay

    result = run_bench_selfplay(args)
    print(json.dumps(result, indent=2) if args.json else format_selfplay_bench(result))
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    """Start a run, or resume one from its run directory; Ctrl-C checkpoints and exits cleanly."""
    from cluster.config import load_config
    from cluster.session import default_run_dir, open_run_dir, start_driver

    _check_run_dir_outlives_the_job(args.resume or args.run_dir, "--resume" if args.resume else "--run-dir")
    if args.resume:
        run_dir, config = open_run_dir(None, args.resume, resume=True, overrides=args.set)
    else:
        config = load_config(args.config, args.set)
        path = args.run_dir or default_run_dir(Path(args.config).stem if args.config else "defaults")
        run_dir, config = open_run_dir(config, path, resume=False)
    from cluster.monitor import RunDisplay, run_summary

    display = RunDisplay(f"selfplay train: {run_dir.path}")
    display.log(f"run directory: {run_dir.path}")
    last: list[dict[str, Any]] = []
    try:
        driver = start_driver(
            config,
            run_dir,
            bool(args.resume),
            args.address,
            max_minutes=args.max_minutes,
            max_iterations=args.max_iterations,
            log=display.log,
        )

        def show(record: dict[str, Any]) -> None:
            display.show(record)
            last[:] = [record]

        driver.show = show
        counters = driver.run()
    finally:
        display.close()
    if args.json:
        print(json.dumps({"run_dir": str(run_dir.path), "stopped": driver.stop_reason, **counters.to_dict()}, indent=2))
    else:
        print(run_summary(last[-1] if last else None, str(run_dir.path), driver.stop_reason, counters))
    return 0


def cmd_pretrain(args: argparse.Namespace) -> int:
    """Start a run with supervised training on demonstrations only; `selfplay train --resume` continues it."""
    from cluster.config import load_config
    from cluster.session import default_run_dir, open_run_dir, start_driver

    overrides = [*args.set, f"supervised.steps={args.steps}"]
    if args.demos:
        if not Path(args.demos).is_file():
            raise UsageError(f"--demos {args.demos}: no such file")
        overrides.append(f"supervised.demos={Path(args.demos).resolve()}")
    if args.generate:
        overrides.append(f"supervised.generate={args.generate}")
    _check_run_dir_outlives_the_job(args.run_dir, "--run-dir")
    config = load_config(args.config, overrides)
    if args.demos:  # checked before a run directory is made: a bad line is the only output
        from actors.tasks.demos import DemoError, read_demonstrations

        try:
            read_demonstrations(args.demos, config.tasks)
        except DemoError as error:
            raise ConfigError(str(error)) from None
    path = args.run_dir or default_run_dir(f"pretrain-{Path(args.config).stem if args.config else 'defaults'}")
    run_dir, config = open_run_dir(config, path, resume=False)
    print(f"run directory: {run_dir.path}", file=sys.stderr)
    from cluster.monitor import StepProgress

    driver = start_driver(config, run_dir, False, args.address, progress=StepProgress)
    driver.stop_reason = "pre-training finished"
    driver.finish()
    print(
        f"pre-trained: version {driver.counters.version}, {driver.counters.supervised_steps} supervised steps\n"
        f"next: selfplay evaluate --run-dir {run_dir.path}\n"
        f"      selfplay train --resume {run_dir.path}"
    )
    return 0


def cmd_self_play(args: argparse.Namespace) -> int:
    """The original design's `self-play` command: N iterations of the loop, one line each."""
    from cluster.config import config_from_dict, load_config
    from cluster.trainer import SelfPlayTrainer

    base = load_config(args.config or DEFAULT_CONFIG, args.set)
    config = config_from_dict({"games_per_iteration": args.games}, "--games", base)
    trainer = SelfPlayTrainer(
        config=config, device=args.device, checkpoint_dir=args.checkpoint_dir, address=args.address
    )
    return _run_iterations(trainer, args.iterations)


def cmd_integrated_training(args: argparse.Namespace) -> int:
    """The original design's `integrated-training`: supervised pre-training (as the config says), then
    self-play iterations with supervised refinement every ``alternating_interval``."""
    from cluster.config import load_config
    from cluster.trainer import SelfPlayTrainer

    config = load_config(args.config, args.set)
    trainer = SelfPlayTrainer(
        config=config, device=args.device, checkpoint_dir=args.checkpoint_dir, address=args.address
    )
    return _run_iterations(trainer, args.iterations)


def _run_iterations(trainer: Any, count: int) -> int:
    """Run ``count`` iterations of ``trainer``, printing the original design's line for each."""
    import asyncio

    async def iterations() -> None:
        for i in range(count):
            m = await trainer.iteration(i)
            rate = "n/a" if m["success_rate"] is None else f"{m['success_rate']:.2%}"
            evaluation = "n/a" if m["eval_success_rate"] is None else f"{m['eval_success_rate']:.2%}"
            verdict = f"accepted as version {m['version']}" if m["accepted"] else "rejected"
            print(
                f"Iteration {i}: {rate} success (eval {evaluation}, {verdict}, "
                f"{m['num_episodes']} episodes, {m['elapsed_time']:.1f} s)",
                flush=True,
            )

    try:
        asyncio.run(iterations())
    finally:
        trainer.close()
    print(f"run directory: {trainer.checkpoint_dir}  (next: selfplay evaluate --run-dir {trainer.checkpoint_dir})")
    return 0


def _check_run_dir_outlives_the_job(path: str | None, flag: str) -> None:
    """Under `ray job submit`, refuse a run directory that would vanish with the job's working directory.

    Ray runs a job's entrypoint in a temporary copy of ``--working-dir`` and deletes it later,
    so a relative (or default, under ``runs/``) run directory would be lost with it.
    """
    if "RAY_JOB_CONFIG_JSON_ENV_VAR" not in os.environ:  # set by Ray for a job's entrypoint only
        return
    if path is None:
        raise UsageError(
            "--run-dir: required under ray job submit (the job's working directory is a temporary copy that"
            " Ray deletes): give an absolute path on a persistent disk, e.g. --run-dir /mnt/runs/NAME"
        )
    if not Path(path).is_absolute():
        raise UsageError(
            f"{flag} {path}: under ray job submit a run directory must be an absolute path on a persistent disk"
            f" (a relative one would be inside the job's temporary working directory {Path.cwd()}, which Ray deletes)"
        )


def cmd_evaluate(args: argparse.Namespace) -> int:
    """Measure a run's best weights on the held-out sets and against the reference opponents, and the same
    for its baseline version (the starting network, version 0, unless told otherwise) beside them."""
    import torch

    from actors.evaluator import Evaluator, format_reference
    from actors.evaluator.segments import DEFAULT_SEGMENTS
    from cluster.config import model_names
    from cluster.monitor import StepProgress
    from cluster.rundir import RunDir

    run_dir = RunDir(args.run_dir)
    sweep = [f"evaluation.segment_sweep={list(DEFAULT_SEGMENTS)}"] if args.segment_sweep else []
    config = run_dir.load_config([*sweep, *args.set])
    state = run_dir.load_state()
    if state is None:
        raise UsageError(f"--run-dir {args.run_dir}: the run has no checkpoint yet (no state.json)")
    names = model_names(config.models)
    if args.model is not None and args.model not in names:
        raise UsageError(f"--model {args.model}: the run trains {', '.join(names)}")
    torch.set_num_threads(max(1, int(config.evaluation.num_cpus)))  # as many threads as the actor would get
    chosen = [(index, name) for index, name in enumerate(names) if args.model in (None, name)]
    plans = []
    for index, name in chosen:
        counters = state["counters"] if index == 0 else state["counters"]["others"][index - 1]
        version = counters["version"] if args.version is None else args.version
        model_dir = run_dir.for_model(index)
        plans.append((index, name, version, model_dir, _baseline_version(args, model_dir, version)))
    measured = sum(1 if baseline is None else 2 for *_, (baseline, _) in plans)
    progress = StepProgress("selfplay evaluate", measured * len(config.tasks.mix))
    records = {}
    try:
        for index, name, version, model_dir, (baseline_version, baseline_note) in plans:
            evaluator = Evaluator(config.tasks, config.models[index], config.search, config.evaluation, config.seed)
            progress.section = f"{name if len(names) > 1 else ''} v{version}".strip()
            record = evaluator.reference(version, model_dir.load_weights(version), progress)
            if baseline_version is None:
                record.update(baseline=None, baseline_note=baseline_note)
            else:
                progress.section = f"{name if len(names) > 1 else ''} v{baseline_version}".strip()
                baseline = model_dir.load_weights(baseline_version)
                record["baseline"] = evaluator.reference(baseline_version, baseline, progress)
            # One line, the best's: the baseline rides inside it, so the report's strength curve gets no row for it.
            model = {"model": name} if len(names) > 1 else {}
            run_dir.append_evaluation({"kind": "reference", "version": version, **model, **record})
            records[name] = record
    finally:
        progress.close()
    if len(names) == 1:
        (record,) = records.values()
        print(json.dumps(record, indent=2) if args.json else format_reference(record))
    elif args.json:
        print(json.dumps({"models": records}, indent=2))
    else:
        print("\n\n".join(f"model {name}:\n{format_reference(record)}" for name, record in records.items()))
    return 0


def _baseline_version(args: argparse.Namespace, model_dir: Any, version: int) -> tuple[int | None, str | None]:
    """The version to measure beside ``version`` (``--baseline``, default 0), or None and why not."""
    baseline = 0 if args.baseline is None else args.baseline
    if args.no_baseline:
        return None, "none (--no-baseline)"
    if baseline == version:
        return None, f"none: version {version} is the baseline version itself"
    if not model_dir.weights_path(baseline).is_file():
        if args.baseline is None:  # builds before version 0 was kept pruned it with the other old versions
            return None, f"none: version 0 is not in {model_dir.weights_dir} (an older build pruned it)"
        raise UsageError(f"--baseline {baseline}: no weights of that version in {model_dir.weights_dir}")
    return baseline, None


def cmd_report(args: argparse.Namespace) -> int:
    """A run's curves: strength by version and memory by actor, from its logs."""
    from cluster.report import build_report, format_report

    run_dir = args.run_dir or args.run_path
    if run_dir is None:
        raise UsageError("report: name the run directory (RUN_DIR or --run-dir)")
    if args.run_dir and args.run_path and Path(args.run_dir) != Path(args.run_path):
        raise UsageError(f"report: two run directories given ({args.run_path} and --run-dir {args.run_dir})")
    if not (Path(run_dir) / "metrics.jsonl").is_file():
        raise UsageError(f"--run-dir {run_dir}: not a run directory (no metrics.jsonl)")
    report = build_report(run_dir, args.interval_minutes)
    print(json.dumps(report, indent=2) if args.json else format_report(report))
    if args.out:
        from cluster.plots import write_markdown, write_plots

        images = write_plots(run_dir, args.out)
        markdown = write_markdown(run_dir, args.out, images)
        if not args.json:
            print()
        for path in [*images, markdown]:
            print(f"wrote {path}", file=sys.stderr if args.json else sys.stdout)
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    """One screen on a run, running or finished (newest under runs/ unless named)."""
    from cluster.status import cluster_actors, format_status, newest_run, read_status

    run = Path(args.run_dir) if args.run_dir else newest_run()
    status = read_status(run)
    address = args.address or os.environ.get("RAY_ADDRESS")
    actors = None
    if address:
        try:
            actors = cluster_actors(address, status)
        except (ConnectionError, ValueError, RuntimeError) as error:
            reason = " ".join(str(error).split())[:300]
            raise UsageError(f"--address {address}: cannot read Ray's actors ({reason})") from None
    print(format_status(run, status, actors))
    return 0


def cmd_models_info(args: argparse.Namespace) -> int:
    """Parameter counts and forward passes per second (batch 64, one CPU thread) of every model and preset."""
    from learner.models.info import SUDOKU_4X4, SUDOKU_9X9, format_model_info, model_info

    task = SUDOKU_9X9 if args.shape == "sudoku9" else SUDOKU_4X4
    info = model_info(archs=args.arch or ("hrm", "trm"), presets=args.preset or ("tiny", "small", "paper"), task=task)
    print(json.dumps(info, indent=2) if args.json else format_model_info(info))
    return 0


def cmd_config_show(args: argparse.Namespace) -> int:
    from cluster.config import dump_yaml, load_config

    config = load_config(args.config, args.set)
    print(dump_yaml(config), end="")
    return 0


# ----- parser --------------------------------------------------------------------


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage mistake is one line (the usage text stays behind --help)."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(EXIT_USAGE, f"{self.prog}: {message.replace('argument ', '')} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="selfplay",
        description="AlphaZero-style self-play for HRM/TRM reasoning networks on exactly checkable tasks, on Ray.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND", parser_class=_Parser)

    tasks = commands.add_parser("tasks", help="look at and check the task families").add_subparsers(
        dest="tasks_command", required=True, metavar="SUBCOMMAND", parser_class=_Parser
    )
    sample = tasks.add_parser("sample", help="render instances with their verified solutions")
    sample.add_argument("--family", help="math, code, reasoning or search")
    sample.add_argument("--kind", help="a kind within the family (default: the family's first)")
    sample.add_argument("--difficulty", type=_difficulty, default=0.5, help="in [0, 1] (default 0.5)")
    sample.add_argument("-n", type=positive_int, default=1, help="how many instances (default 1)")
    sample.add_argument("--seed", type=non_negative_int, default=0, help="seed of the first instance (default 0)")
    sample.add_argument("--param", action="append", default=[], metavar="NAME=VALUE", help="a shape parameter")
    sample.set_defaults(handler=cmd_tasks_sample)

    check = tasks.add_parser("check", help="generate, solve and verify every kind across the difficulty range")
    check.add_argument("--json", action="store_true", help="print the report as JSON")
    check.add_argument("-n", type=positive_int, default=8, help="instances per kind and difficulty (default 8)")
    check.add_argument("--difficulties", type=_difficulty_list, default=(0.0, 0.25, 0.5, 0.75, 1.0))
    check.add_argument("--kind", action="append", help="check only this kind (repeatable)")
    check.add_argument("--seed", type=non_negative_int, default=0)
    check.add_argument("--local", action="store_true", help="run in this process instead of on Ray")
    check.add_argument("--address", help="attach to this Ray cluster (default: RAY_ADDRESS or an embedded Ray)")
    check.set_defaults(handler=cmd_tasks_check)

    train = commands.add_parser("train", help="run self-play training (embedded local Ray unless --address)")
    source = train.add_mutually_exclusive_group(required=True)
    source.add_argument("--config", help="a YAML config, e.g. configs/local.yaml (starts a new run)")
    source.add_argument("--resume", metavar="RUN_DIR", help="continue the run in this directory")
    train.add_argument("--run-dir", help="where a new run writes (default: runs/<config>-<time>)")
    train.add_argument("--set", action="append", default=[], metavar="KEY.PATH=VALUE", help="override a value")
    train.add_argument("--address", help="attach to this Ray cluster (default: RAY_ADDRESS or an embedded Ray)")
    train.add_argument("--max-minutes", type=_positive_float, help="stop cleanly after this long")
    train.add_argument("--max-iterations", type=positive_int, help="stop cleanly after this many gate evaluations")
    train.add_argument("--json", action="store_true", help="end with the run's counters as JSON, not a summary")
    train.set_defaults(handler=cmd_train)

    evaluate = commands.add_parser(
        "evaluate", help="measure a run's best model, beside its starting one, on held-out tasks and references"
    )
    evaluate.add_argument("--run-dir", required=True, help="the run directory")
    evaluate.add_argument("--version", type=non_negative_int, help="a weights version (default: the best)")
    evaluate.add_argument("--model", help="in a run of several models, only this one (e.g. hrm; default: every one)")
    baseline = evaluate.add_mutually_exclusive_group()
    baseline.add_argument(
        "--baseline", type=non_negative_int, metavar="VERSION", help="also measure this version (default 0)"
    )
    baseline.add_argument("--no-baseline", action="store_true", help="measure the evaluated version only")
    evaluate.add_argument("--set", action="append", default=[], metavar="KEY.PATH=VALUE", help="override a value")
    evaluate.add_argument(
        "--segment-sweep",
        action="store_true",
        help="also the raw network's puzzle solve rate at 1, 2, 4, 8, 16 segments, carry kept and reset",
    )
    evaluate.add_argument("--json", action="store_true", help="print the record as JSON")
    evaluate.set_defaults(handler=cmd_evaluate)

    pretrain = commands.add_parser("pretrain", help="start a run with supervised training on demonstrations")
    pretrain.add_argument("--config", help="a YAML config (default: built-in defaults)")
    demos = pretrain.add_mutually_exclusive_group(required=True)
    demos.add_argument("--demos", metavar="FILE", help="a JSONL file of demonstrations (format: README)")
    demos.add_argument("--generate", type=positive_int, metavar="N", help="N demonstrations by the exact solvers")
    pretrain.add_argument("--steps", type=positive_int, default=500, help="learner steps on them (default 500)")
    pretrain.add_argument("--run-dir", help="where the run writes (default: runs/pretrain-<config>-<time>)")
    pretrain.add_argument("--set", action="append", default=[], metavar="KEY.PATH=VALUE", help="override a value")
    pretrain.add_argument("--address", help="attach to this Ray cluster (default: RAY_ADDRESS or an embedded Ray)")
    pretrain.set_defaults(handler=cmd_pretrain)

    for name, handler, text in (
        ("self-play", cmd_self_play, "the original design's self-play command: N iterations, one line each"),
        ("integrated-training", cmd_integrated_training, "supervised pre-training, then self-play iterations"),
    ):
        original = commands.add_parser(name, help=text)
        original.add_argument("--iterations", type=positive_int, required=True, help="iterations (gates) to run")
        if name == "self-play":
            original.add_argument("--games", type=positive_int, default=64, help="episodes per iteration")
            original.add_argument("--config", help="a YAML config under --games (default: configs/local.yaml)")
        else:
            original.add_argument("--config", required=True, help="a YAML config (ours or a self_play: section)")
        original.add_argument("--device", choices=("cpu", "cuda", "auto"), default="cpu", help="for every network")
        original.add_argument("--checkpoint-dir", help="the run directory (one holding a run is resumed)")
        original.add_argument("--set", action="append", default=[], metavar="KEY.PATH=VALUE")
        original.add_argument("--address", help="attach to this Ray cluster (default: RAY_ADDRESS or embedded)")
        original.set_defaults(handler=handler)

    report = commands.add_parser("report", help="a run's curves: strength by version, memory by actor over time")
    report.add_argument("run_path", nargs="?", metavar="RUN_DIR", help="the run directory (or --run-dir)")
    report.add_argument("--run-dir", help="the run directory")
    report.add_argument(
        "--interval-minutes", type=_positive_float, default=1.0, help="memory table sampling (default 1)"
    )
    report.add_argument("--json", action="store_true", help="print the report as JSON")
    report.add_argument("--out", metavar="DIR", help="also write PNG plots and report.md into DIR")
    report.set_defaults(handler=cmd_report)

    status = commands.add_parser("status", help="one screen on a run: alive, actors, version, rates, last gates")
    status.add_argument("run_dir", nargs="?", metavar="RUN_DIR", help="the run directory (default: newest in runs/)")
    status.add_argument("--address", help="also ask this Ray cluster for the actors' state (default: RAY_ADDRESS)")
    status.set_defaults(handler=cmd_status)

    bench = commands.add_parser("bench", help="measure speed against a reference taken in the same run")
    bench_commands = bench.add_subparsers(
        dest="bench_command", required=True, metavar="SUBCOMMAND", parser_class=_Parser
    )
    bench_search = bench_commands.add_parser("search", help="batched search vs its network alone, per batch size")
    bench_search.add_argument("--config", default=str(DEFAULT_CONFIG), help="the run config whose network and search")
    bench_search.add_argument("--set", action="append", default=[], metavar="KEY.PATH=VALUE", help="override a value")
    bench_search.add_argument("--kind", help="the task kind to search (default: the first of the config's mix)")
    bench_search.add_argument("--batch-sizes", type=_positive_int_list, default=(1, 16, 64, 256))
    bench_search.add_argument("--simulations", type=positive_int, help="per move (default: the config's)")
    bench_search.add_argument("--algorithm", choices=("puct", "gumbel"), help="default: the config's")
    bench_search.add_argument("--moves", type=positive_int, default=4, help="timed moves per batch size")
    bench_search.add_argument("--threads", type=positive_int, default=1, help="torch CPU threads (default 1)")
    bench_search.add_argument("--json", action="store_true")
    bench_search.set_defaults(handler=cmd_bench_search)
    bench_replay = bench_commands.add_parser("replay", help="replay buffer memory over many fillings of its capacity")
    bench_replay.add_argument("--config", default=str(DEFAULT_CONFIG), help="the run config whose replay and tasks")
    bench_replay.add_argument("--set", action="append", default=[], metavar="KEY.PATH=VALUE", help="override a value")
    bench_replay.add_argument("--turnovers", type=positive_int, default=10, help="fillings of the capacity")
    bench_replay.add_argument("--json", action="store_true")
    bench_replay.set_defaults(handler=cmd_bench_replay)
    bench_scale = bench_commands.add_parser("scale", help="how many self-play workers one buffer and one driver feed")
    bench_scale.add_argument("--config", default=str(DEFAULT_CONFIG), help="the run config measured")
    bench_scale.add_argument("--set", action="append", default=[], metavar="KEY.PATH=VALUE", help="override a value")
    bench_scale.add_argument("--seconds", type=_positive_float, default=10.0, help="per measurement (default 10)")
    bench_scale.add_argument("--producers", type=positive_int, default=2, help="pushing (and sampling) actors")
    bench_scale.add_argument(
        "--echo-workers",
        type=positive_int,
        default=16,
        help="actors answering the driver loop with recorded worker statistics",
    )
    bench_scale.add_argument("--pending", type=_positive_int_list, default=(16, 256, 1024), help="pool sizes")
    bench_scale.add_argument("--address", help="attach to this Ray cluster (default: RAY_ADDRESS or an embedded Ray)")
    bench_scale.add_argument("--json", action="store_true")
    bench_scale.set_defaults(handler=cmd_bench_scale)
    bench_inference = bench_commands.add_parser(
        "inference", help="self-play positions/s: each worker's own network vs one shared inference server"
    )
    bench_inference.add_argument(
        "--config", default=str(DEFAULT_CONFIG), help="the run config whose self-play workers are measured"
    )
    bench_inference.add_argument("--set", action="append", default=[], metavar="KEY.PATH=VALUE")
    bench_inference.add_argument("--workers", type=positive_int, default=2, help="self-play workers (default 2)")
    bench_inference.add_argument("--seconds", type=_positive_float, default=10.0, help="timed self-play per setting")
    bench_inference.add_argument("--address", help="attach to this Ray cluster (default: RAY_ADDRESS or embedded)")
    bench_inference.add_argument("--json", action="store_true")
    bench_inference.set_defaults(handler=cmd_bench_inference)

    bench_selfplay = bench_commands.add_parser(
        "selfplay", help="self-play positions/s per task kind vs its network-bound ceiling, for 1 and N workers"
    )
    bench_selfplay.add_argument("--config", default=str(DEFAULT_CONFIG), help="the run config measured")
    bench_selfplay.add_argument("--set", action="append", default=[], metavar="KEY.PATH=VALUE", help="override a value")
    bench_selfplay.add_argument("--kind", help="only this kind of the config's task mix (default: every kind)")
    bench_selfplay.add_argument("--workers", default="1,2", help="worker counts (default 1,2; 1 always measured)")
    bench_selfplay.add_argument("--seconds", type=_positive_float, default=10.0, help="timed self-play per setting")
    bench_selfplay.add_argument("--address", help="attach to this Ray cluster (default: RAY_ADDRESS or embedded)")
    bench_selfplay.add_argument("--json", action="store_true")
    bench_selfplay.set_defaults(handler=cmd_bench_selfplay)

    from cluster.play import add_play_commands
    from cluster.solve import add_solve_command

    add_solve_command(commands)
    add_play_commands(commands)

    models = commands.add_parser("models", help="the networks").add_subparsers(
        dest="models_command", required=True, metavar="SUBCOMMAND", parser_class=_Parser
    )
    info = models.add_parser("info", help="parameter counts and forward passes per second at batch 64")
    info.add_argument("--arch", action="append", choices=("hrm", "trm"), help="only this model (repeatable)")
    info.add_argument("--preset", action="append", choices=("tiny", "small", "paper"), help="only this preset")
    info.add_argument("--shape", choices=("sudoku4", "sudoku9"), default="sudoku4", help="the task shape timed")
    info.add_argument("--json", action="store_true")
    info.set_defaults(handler=cmd_models_info)

    config = commands.add_parser("config", help="validate and show a configuration").add_subparsers(
        dest="config_command", required=True, metavar="SUBCOMMAND", parser_class=_Parser
    )
    show = config.add_parser("show", help="print the validated configuration with every default filled in")
    show.add_argument("--config", help="a YAML file (default: built-in defaults)")
    show.add_argument("--set", action="append", default=[], metavar="KEY.PATH=VALUE", help="override a value")
    show.set_defaults(handler=cmd_config_show)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    handler: Callable[[argparse.Namespace], int] = args.handler
    try:
        return handler(args)
    except (ConfigError, UsageError) as error:
        print(f"selfplay: {error}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("selfplay: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # the reader went away (`selfplay status | head`): not an error of ours
        sys.stderr.close()
        return 0


if __name__ == "__main__":
    sys.exit(main())
