"""`selfplay report RUN_DIR --out DIR`: PNG plots of a run's two logs, and a report.md embedding them.

Each plot is skipped (not an error) when the logs hold none of its data. Times are minutes since
the run's first logged event, as in `cluster.report`.
"""

from __future__ import annotations

import os
from collections import defaultdict
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from cluster.report import MIB, actor_of, actor_samples, read_jsonl, reference_summary, strength_curve  # noqa: E402

FIGSIZE = (8, 4.5)
DPI = 100

CAPTIONS = {
    "strength.png": "Strength against the reference opponents over time; dotted lines mark promotions (new version).",
    "difficulty.png": "Last gate: solve rate by difficulty bucket for each puzzle task, candidate vs. best.",
    "throughput.png": "Self-play production (all workers) and learner consumption, binned over time.",
    "buffer.png": "Replay buffer fill (all shards) and the mean age of sampled positions.",
    "losses.png": "Learner losses by learner step.",
    "resources.png": "Resident memory (and CPU, when reported) per actor over time.",
}


def _load(run_path: str | Path) -> tuple[list[dict], list[dict], float, float]:
    path = Path(run_path)
    metrics, evaluations = read_jsonl(path / "metrics.jsonl"), read_jsonl(path / "evaluations.jsonl")
    times = [r["time"] for r in metrics + evaluations]
    start = min(times) if times else 0.0
    end = max(times) if times else 0.0
    return metrics, evaluations, start, end


def _minutes(time: float, start: float) -> float:
    return (time - start) / 60


def _save(fig: Any, path: Path) -> Path:
    fig.tight_layout()
    fig.savefig(path, dpi=DPI)
    plt.close(fig)
    return path


def _series_of(tasks: dict[str, Any]) -> dict[str, float]:
    """Per line label: a puzzle task's solve rate, or a game's score (wins + draws/2) / games per opponent."""
    series = {}
    for label, result in reference_summary(tasks).items():
        if isinstance(result, dict):
            for opponent, (wins, draws, losses) in result.items():
                games = wins + draws + losses
                if games:
                    series[f"{label} vs {opponent} (score)"] = (wins + draws / 2) / games
        else:
            series[f"{label} (solve rate)"] = result
    return series


def _promotions(evaluations: list[dict], start: float) -> list[tuple[float, Any]]:
    return [
        (_minutes(e["time"], start), e.get("version"))
        for e in evaluations
        if e.get("kind") == "gate" and e.get("accepted")
    ]


def plot_strength(metrics, evaluations, start, end, path: Path) -> Path | None:
    lines: dict[str, list[tuple[float, float]]] = defaultdict(list)
    for record in evaluations:
        if record.get("kind") == "gate" and "reference" in record:
            tasks = record["reference"]["tasks"]
        elif record.get("kind") == "reference":
            tasks = record["tasks"]
        else:
            continue
        for label, value in _series_of(tasks).items():
            lines[label].append((_minutes(record["time"], start), value))
    if not lines:
        return None
    fig, ax = plt.subplots(figsize=FIGSIZE)
    for label, points in sorted(lines.items()):
        xs, ys = zip(*points, strict=True)
        ax.plot(xs, ys, marker="o", label=label)
    for minute, version in _promotions(evaluations, start):
        ax.axvline(minute, color="grey", linestyle=":", linewidth=1.2)
        ax.annotate(
            f"v{version}",
            (minute, 1.0),
            xycoords=("data", "axes fraction"),
            xytext=(0, 2),
            textcoords="offset points",
            ha="center",
            va="bottom",
            color="dimgrey",
            fontsize=9,
        )
    ax.set_xlim(0, max(_minutes(end, start), 1e-3) * 1.05)
    ax.set_ylim(-0.02, 1.05)
    ax.set_xlabel("time (minutes since start)")
    ax.set_ylabel("solve rate / score (0-1)")
    ax.set_title("Strength vs reference (puzzles: solve rate with search; games: score)", pad=14)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")
    return _save(fig, path)


def plot_difficulty(evaluations, path: Path) -> Path | None:
    gates = [e for e in evaluations if e.get("kind") == "gate" and e.get("tasks")]
    if not gates:
        return None
    gate = gates[-1]
    puzzles = {
        label: result["by_difficulty"]
        for label, result in gate["tasks"].items()
        if result.get("type") == "puzzle" and result.get("by_difficulty")
    }
    if not puzzles:
        return None
    fig, axes = plt.subplots(1, len(puzzles), figsize=FIGSIZE, sharey=True, squeeze=False)
    for ax, (label, buckets) in zip(axes[0], puzzles.items(), strict=True):
        names = list(buckets)
        xs = range(len(names))
        candidate = [buckets[n].get("candidate_solve_rate", 0.0) for n in names]
        best = [buckets[n].get("best_solve_rate") for n in names]
        width = 0.4
        ax.bar([x - width / 2 for x in xs], candidate, width, label=f"candidate v{gate.get('candidate_version')}")
        if all(b is not None for b in best):
            ax.bar([x + width / 2 for x in xs], best, width, label=f"best v{gate.get('best_version')}", alpha=0.6)
        ax.set_xticks(list(xs), names, rotation=30, fontsize=8)
        ax.set_title(label, fontsize=10)
        ax.set_xlabel("difficulty bucket")
        ax.set_ylim(0, 1.25)
        ax.set_yticks([0, 0.2, 0.4, 0.6, 0.8, 1.0])
        ax.grid(axis="y", alpha=0.3)
    axes[0][0].set_ylabel("solve rate (0-1)")
    axes[0][0].legend(fontsize=8, loc="upper center", ncol=2)
    fig.suptitle(f"Solve rate by difficulty, last gate (version {gate.get('version')})")
    return _save(fig, path)


def _bin_seconds(start: float, end: float) -> float:
    """Bins of at least 15 s, and at most ~40 over the run."""
    return max(15.0, (end - start) / 40)


def _binned_rates(records: list[dict], field: str, start: float, end: float, width: float) -> tuple[list, list]:
    """``(bin centre minutes, sum of the field in the bin / bin seconds)`` per bin, a partial last bin dropped."""
    sums: dict[int, float] = defaultdict(float)
    for r in records:
        sums[int((r["time"] - start) / width)] += r.get(field) or 0
    bins = sorted(sums)
    if len(bins) > 1 and start + (bins[-1] + 1) * width > end:
        bins = bins[:-1]
    return [(i + 0.5) * width / 60 for i in bins], [sums[i] / width for i in bins]


def plot_throughput(metrics, start, end, path: Path) -> Path | None:
    selfplay = [m for m in metrics if m.get("event") == "selfplay"]
    train = [m for m in metrics if m.get("event") == "train" and m.get("steps_this_call")]
    if not selfplay and not train:
        return None
    width = _bin_seconds(start, end)
    last = max(m["time"] for m in selfplay + train)
    fig, axes = plt.subplots(2, 2, figsize=FIGSIZE, sharex=True)
    panels = (
        (axes[0][0], selfplay, "positions", "self-play positions/s (all workers)", "tab:blue"),
        (axes[0][1], selfplay, "episodes", "self-play episodes/s (all workers)", "tab:cyan"),
        (axes[1][0], train, "samples_this_call", "learner samples/s", "tab:orange"),
        (axes[1][1], train, "steps_this_call", "learner steps/s", "tab:red"),
    )
    for ax, records, field, title, color in panels:
        ax.set_title(title, fontsize=10)
        ax.grid(alpha=0.3)
        if not records:
            ax.text(0.5, 0.5, "no data", ha="center", va="center", transform=ax.transAxes)
            continue
        xs, ys = _binned_rates(records, field, start, last, width)
        ax.plot(xs, ys, marker=".", color=color)
        ax.set_ylim(bottom=0, top=max(ys) * 1.15 if ys and max(ys) > 0 else 1)
        ax.set_ylabel(title.split()[1].split("/")[0] + "/s")
    for ax in axes[1]:
        ax.set_xlabel("time (minutes since start)")
    fig.suptitle(f"Throughput (rates over {width:.0f} s bins)")
    return _save(fig, path)


def plot_buffer(metrics, start, path: Path) -> Path | None:
    replay = [m for m in metrics if m.get("event") == "replay"]
    if not replay:
        return None
    sizes: dict[Any, int] = {}
    ages: dict[Any, float] = {}
    xs, total, age = [], [], []
    for m in replay:
        shard = m.get("shard", 0)
        sizes[shard] = m.get("size", 0)
        if m.get("sample_age_mean") is not None:
            ages[shard] = m["sample_age_mean"]
        xs.append(_minutes(m["time"], start))
        total.append(sum(sizes.values()))
        age.append(sum(ages.values()) / len(ages) if ages else float("nan"))
    fig, ax = plt.subplots(figsize=FIGSIZE)
    left = ax.plot(xs, total, marker=".", color="tab:blue", label="buffer size (positions)")
    capacity = sum({m.get("shard", 0): m.get("capacity", 0) for m in replay}.values())
    if capacity and max(total) > capacity / 4:
        ax.axhline(capacity, color="tab:blue", linestyle="--", linewidth=1, label="capacity")
    ax.set_ylabel("positions in buffer (all shards)", color="tab:blue")
    ax.set_ylim(bottom=0)
    twin = ax.twinx()
    right = twin.plot(xs, age, marker=".", color="tab:orange", label="mean sample age (positions)")
    twin.set_ylabel("mean sample age (positions inserted since)", color="tab:orange")
    twin.set_ylim(bottom=0)
    ax.set_xlabel("time (minutes since start)")
    ax.set_title("Replay buffer")
    ax.grid(alpha=0.3)
    handles = left + right
    ax.legend(handles, [h.get_label() for h in handles], fontsize=8, loc="upper left")
    return _save(fig, path)


def plot_losses(metrics, path: Path) -> Path | None:
    train = [m for m in metrics if m.get("event") == "train" and m.get("losses")]
    if not train:
        return None
    names = list(dict.fromkeys(name for m in train for name in m["losses"]))
    order = [n for n in ("policy", "value", "halting", "total") if n in names] + [
        n for n in names if n not in ("policy", "value", "halting", "total")
    ]
    fig, ax = plt.subplots(figsize=FIGSIZE)
    for name in order:
        points = [(m.get("step", 0), m["losses"][name]) for m in train if m["losses"].get(name) is not None]
        if points:
            xs, ys = zip(*points, strict=True)
            style = {"linewidth": 2.2, "color": "black"} if name == "total" else {}
            ax.plot(xs, ys, marker=".", label=name, **style)
    ax.set_xlabel("learner step (optimizer steps)")
    ax.set_ylabel("loss (mean over the call's steps)")
    ax.set_title("Learner losses")
    ax.set_ylim(bottom=0)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=9)
    return _save(fig, path)


def _actor_lines(
    ax, by_actor: dict[str, list[tuple[float, float]]], colors: dict[str, Any], ylabel: str, legend: bool
) -> None:
    """One line per actor of ``(minutes, value)`` points in its own colour, from 0 up, the legend outside."""
    for actor, points in sorted(by_actor.items()):
        xs, ys = zip(*points, strict=True)
        ax.plot(xs, ys, marker=".", label=actor, color=colors[actor])
    ax.set_ylabel(ylabel)
    ax.set_ylim(bottom=0)
    ax.grid(alpha=0.3)
    if legend:
        ax.legend(fontsize=8, loc="center left", bbox_to_anchor=(1.01, 0.5))


def plot_resources(metrics, evaluations, start, path: Path) -> Path | None:
    memory: dict[str, list[tuple[float, float]]] = defaultdict(list)
    for time, actor, rss in actor_samples(metrics, evaluations):
        memory[actor].append((_minutes(time, start), rss / MIB))
    cpu: dict[str, list[tuple[float, float]]] = defaultdict(list)
    for m in metrics:
        if m.get("cpu_percent") is not None:
            cpu[actor_of(m)].append((_minutes(m["time"], start), m["cpu_percent"]))
    for e in evaluations:  # the evaluator reports with its gate records
        if e.get("cpu_percent") is not None:
            cpu["evaluator"].append((_minutes(e["time"], start), e["cpu_percent"]))
    if not memory and not cpu:
        return None
    # An actor keeps its colour in both panels (looked up by name, not by drawing order).
    palette = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    colors = {actor: palette[i % len(palette)] for i, actor in enumerate(sorted({*memory, *cpu}))}
    panels = [(memory, "resident memory (MiB)")] * bool(memory) + [(cpu, "CPU (% of one core)")] * bool(cpu)
    fig, axes = plt.subplots(len(panels), 1, figsize=FIGSIZE, sharex=True, squeeze=False)
    for (ax,), (by_actor, label) in zip(axes, panels, strict=True):
        _actor_lines(ax, by_actor, colors, label, legend=True)
    axes[-1][0].set_xlabel("time (minutes since start)")
    fig.suptitle("Resources per actor")
    return _save(fig, path)


def write_plots(run_path: str | Path, out_dir: str | Path) -> list[Path]:
    """Write the run's PNG plots into ``out_dir`` (created); those without data are skipped. Returns the written."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    metrics, evaluations, start, end = _load(run_path)
    written = [
        plot_strength(metrics, evaluations, start, end, out / "strength.png"),
        plot_difficulty(evaluations, out / "difficulty.png"),
        plot_throughput(metrics, start, end, out / "throughput.png"),
        plot_buffer(metrics, start, out / "buffer.png"),
        plot_losses(metrics, out / "losses.png"),
        plot_resources(metrics, evaluations, start, out / "resources.png"),
    ]
    return [p for p in written if p is not None]


def _cell(result: Any) -> str:
    if isinstance(result, dict):
        return ", ".join(f"{name} {w}/{d}/{lost} W/D/L" for name, (w, d, lost) in result.items())
    return f"{result:.3f} solve rate"


def write_markdown(run_path: str | Path, out_dir: str | Path, images: list[Path]) -> Path:
    """Write ``out_dir/report.md``: a summary table and each image (relative path) with a one-line caption."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    metrics, evaluations, start, end = _load(run_path)
    gates = [e for e in evaluations if e.get("kind") == "gate"]
    promoted = [e.get("version") for e in gates if e.get("accepted")]
    strength = strength_curve(metrics, evaluations, start)
    lines = [
        f"# Run report: {Path(run_path).resolve().name}",
        "",
        "| | |",
        "|---|---|",
        f"| run directory | `{Path(run_path).resolve()}` |",
        f"| minutes logged | {_minutes(end, start):.1f} |",
        f"| gates | {len(gates)} ({len(promoted)} accepted) |",
        f"| versions promoted | {', '.join(str(v) for v in promoted) or 'none'} |",
    ]
    if strength:
        last = strength[-1]
        lines.append(f"| last reference evaluation | minute {last['minutes']:.1f}, version {last['version']} |")
        for label, result in last["tasks"].items():
            lines.append(f"| {label} | {_cell(result)} |")
    for image in images:
        name = Path(image).name
        lines += [
            "",
            f"![{name}]({Path(os.path.relpath(Path(image).resolve(), out.resolve())).as_posix()})",
            "",
            CAPTIONS.get(name, name),
        ]
    path = out / "report.md"
    path.write_text("\n".join(lines) + "\n")
    return path
