"""`selfplay report`: a run's curves, read from its two logs.

- Strength by version: every evaluation against the reference opponents and
  held-out sets (`evaluations.jsonl`: the one each gate records, and those of
  `selfplay evaluate`), with the learner step and the positions played by then.
- Memory by actor over time: the resident set size each actor reports
  (`metrics.jsonl`: self-play workers and the learner with every call, the
  replay buffer on every progress tick, the evaluator with every gate), sampled
  per interval, and each actor's growth from the moment the buffer was full.

Times are minutes since the run's first logged event. The logs are append-only;
a line cut short by a crash is skipped.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

MIB = 1 << 20


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    """The records of an append-only JSON-lines log; missing file: none; a torn or bad line is skipped."""
    if not path.exists():
        return []
    records = []
    for line in path.read_text().splitlines():
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(record, dict) and "time" in record:
            records.append(record)
    return records


def reference_summary(tasks: dict[str, Any]) -> dict[str, Any]:
    """Per task label: the solve rate (puzzles) or ``[wins, draws, losses]`` per opponent (games)."""
    summary: dict[str, Any] = {}
    for label, result in tasks.items():
        if "solve_rate" in result:
            summary[label] = result["solve_rate"]
        else:
            summary[label] = {name: [r["wins"], r["draws"], r["losses"]] for name, r in result.items()}
    return summary


def strength_curve(metrics: list[dict], evaluations: list[dict], start: float) -> list[dict[str, Any]]:
    """One row per reference evaluation: minutes, source, version, learner step, positions, per-task results."""
    trains = [m for m in metrics if m.get("event") == "train"]
    rows = []
    for record in evaluations:
        if record.get("kind") == "gate" and "reference" in record:
            tasks, source = record["reference"]["tasks"], "gate"
        elif record.get("kind") == "reference":
            tasks, source = record["tasks"], "evaluate"
        else:
            continue
        before = [t for t in trains if t["time"] <= record["time"]]
        latest = before[-1] if before else {}
        rows.append(
            {
                "minutes": (record["time"] - start) / 60,
                "source": source,
                "version": record.get("version"),
                "learner_step": latest.get("step", 0),
                "positions": latest.get("inserted_total", 0),
                "tasks": reference_summary(tasks),
            }
        )
    return rows


def actor_of(record: dict) -> str:
    """The name of the actor that logged a metrics.jsonl record (``selfplay0``, ``learner``, ``replay``, ...)."""
    event = record.get("event")
    return {
        "selfplay": f"selfplay{record.get('worker', 0)}",
        "train": "learner",
        "replay": f"replay{record['shard']}" if record.get("shard") else "replay",
        "inference": f"inference{record.get('server', 0)}",
    }.get(event, event)


def actor_samples(metrics: list[dict], evaluations: list[dict]) -> list[tuple[float, str, int]]:
    """``(time, actor, rss_bytes)`` of every report that carries one."""
    samples = [(m["time"], actor_of(m), int(m["rss_bytes"])) for m in metrics if "rss_bytes" in m]
    samples += [(e["time"], "evaluator", int(e["rss_bytes"])) for e in evaluations if "rss_bytes" in e]
    return sorted(samples)


def memory_curve(
    metrics: list[dict], evaluations: list[dict], start: float, interval_minutes: float
) -> list[dict[str, Any]]:
    """Per interval: each actor's last reported RSS in bytes in it (absent if it reported none), and the buffer size."""
    rows: dict[int, dict[str, Any]] = {}
    for time, actor, rss in actor_samples(metrics, evaluations):
        index = int((time - start) / 60 / interval_minutes)
        rows.setdefault(index, {"minutes": (index + 1) * interval_minutes, "rss_bytes": {}})["rss_bytes"][actor] = rss
    shard_sizes: dict[int, dict[int, int]] = {}  # interval -> each shard's last size in it
    for m in metrics:
        if m.get("event") == "replay":
            index = int((m["time"] - start) / 60 / interval_minutes)
            rows.setdefault(index, {"minutes": (index + 1) * interval_minutes, "rss_bytes": {}})
            shard_sizes.setdefault(index, {})[m.get("shard", 0)] = m["size"]
    for index, sizes in shard_sizes.items():
        rows[index]["buffer_size"] = sum(sizes.values())
    return [rows[i] for i in sorted(rows)]


def memory_growth(metrics: list[dict], evaluations: list[dict], start: float) -> dict[str, Any]:
    """Each actor's RSS when the buffer was first full (its first report from then on) and at the end.

    ``full_at_minutes`` is None when the buffer never filled; growth is then measured
    from each actor's first report after the first quarter of the run.
    """
    replay = [m for m in metrics if m.get("event") == "replay"]
    full = next((m["time"] for m in replay if m["size"] >= m["capacity"]), None)
    samples = actor_samples(metrics, evaluations)
    if not samples:
        return {"full_at_minutes": None, "actors": {}}
    end = samples[-1][0]
    since = full if full is not None else start + (end - start) / 4
    actors: dict[str, Any] = {}
    for time, actor, rss in samples:
        if time < since:
            continue
        entry = actors.setdefault(actor, {"from_bytes": rss, "to_bytes": rss, "max_bytes": rss, "reports": 0})
        entry["to_bytes"], entry["max_bytes"] = rss, max(entry["max_bytes"], rss)
        entry["reports"] += 1
    for entry in actors.values():
        entry["growth_bytes"] = entry["to_bytes"] - entry["from_bytes"]
    return {"full_at_minutes": None if full is None else (full - start) / 60, "actors": actors}


def build_report(run_path: str | Path, interval_minutes: float = 1.0) -> dict[str, Any]:
    """The report of the run directory ``run_path`` (see the module docstring) as a JSON-ready dict."""
    path = Path(run_path)
    metrics, evaluations = read_jsonl(path / "metrics.jsonl"), read_jsonl(path / "evaluations.jsonl")
    times = [r["time"] for r in metrics + evaluations]
    start = min(times) if times else 0.0
    return {
        "run_dir": str(path.resolve()),
        "minutes": (max(times) - start) / 60 if times else 0.0,
        "strength": strength_curve(metrics, evaluations, start),
        "memory": memory_curve(metrics, evaluations, start, interval_minutes),
        "memory_growth": memory_growth(metrics, evaluations, start),
    }


def _task_cell(result: Any) -> str:
    if isinstance(result, dict):
        return " ".join(f"{name} {wins}/{draws}/{losses}" for name, (wins, draws, losses) in result.items())
    return f"{result:.3f}"


def format_report(report: dict[str, Any]) -> str:
    """The report as text tables: strength by version, then memory (MiB) by actor."""
    lines = [f"run {report['run_dir']}: {report['minutes']:.1f} minutes logged"]
    strength = report["strength"]
    if strength:
        labels = list(dict.fromkeys(label for row in strength for label in row["tasks"]))
        lines += ["", "strength (games: wins/draws/losses per opponent; puzzles: solve rate with search)"]
        header = ["min", "source", "version", "step", "positions", *labels]
        table = [
            [
                f"{row['minutes']:.1f}",
                row["source"],
                str(row["version"]),
                f"{row['learner_step']:,}",
                f"{row['positions']:,}",
                *(_task_cell(row["tasks"][label]) if label in row["tasks"] else "" for label in labels),
            ]
            for row in strength
        ]
        lines += _table(header, table)
    memory = report["memory"]
    if memory:
        actors = sorted({actor for row in memory for actor in row["rss_bytes"]})
        lines += ["", "memory: resident MiB per actor (last report in each interval), buffer size in positions"]
        header = ["min", *actors, "buffer"]
        table = [
            [
                f"{row['minutes']:.0f}",
                *(f"{row['rss_bytes'][a] / MIB:.0f}" if a in row["rss_bytes"] else "" for a in actors),
                f"{row['buffer_size']:,}" if "buffer_size" in row else "",
            ]
            for row in memory
        ]
        lines += _table(header, table)
        growth = report["memory_growth"]
        full = growth["full_at_minutes"]
        since = f"since the buffer filled at minute {full:.1f}" if full is not None else "over the last 3/4 of the run"
        lines += ["", f"growth {since}:"]
        for actor, entry in sorted(growth["actors"].items()):
            lines.append(
                f"  {actor:<10} {entry['from_bytes'] / MIB:7.1f} -> {entry['to_bytes'] / MIB:7.1f} MiB "
                f"({entry['growth_bytes'] / MIB:+.1f}; max {entry['max_bytes'] / MIB:.1f}; {entry['reports']} reports)"
            )
    return "\n".join(lines)


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    widths = [max(len(cell) for cell in column) for column in zip(header, *rows, strict=True)]
    return ["  ".join(cell.rjust(width) for cell, width in zip(line, widths, strict=True)) for line in [header, *rows]]
