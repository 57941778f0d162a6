"""`selfplay status [RUN_DIR]`: one screen on a run, running or finished, from any process that reads its directory.

It reads what the driver writes every interval (``status.json``: the interval record, the
actors' locations, the version history) and the run's logs. A run is *running* while its
driver keeps status.json fresh (within three progress intervals, at least a minute) and,
on the driver's host, its process exists. With ``--address`` it also asks the cluster's
state API for the run's actors: their state and Ray's own restart counts.
"""

from __future__ import annotations

import json
import os
import socket
import time
from pathlib import Path
from typing import Any

from cluster.config import ConfigError
from cluster.monitor import clock, task_cell
from cluster.report import read_jsonl

MIB = 1 << 20


def newest_run(root: Path = Path("runs")) -> Path:
    """The run directory under ``root`` whose status changed last."""
    runs = [path.parent for path in root.glob("*/status.json")]
    if not runs:
        raise ConfigError(f"{root}: no run directory with a status.json here; name one: selfplay status RUN_DIR")
    return max(runs, key=lambda path: (path / "status.json").stat().st_mtime)


def read_status(run: Path) -> dict[str, Any]:
    path = run / "status.json"
    if not path.is_file():
        raise ConfigError(f"{path}: no such file (is {run} a run directory, and has its first interval passed?)")
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as error:
        raise ConfigError(f"{path}: not JSON ({error})") from None


def is_running(status: dict[str, Any], now: float | None = None) -> bool:
    if status["finished"]:
        return False
    now = time.time() if now is None else now
    fresh = now - status["updated"] <= max(60.0, 3 * status["progress_every_seconds"])
    driver = status["driver"]
    if driver["host"] == socket.gethostname():
        try:
            os.kill(driver["pid"], 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            pass
    return fresh


def cluster_actors(address: str, status: dict[str, Any]) -> list[dict[str, Any]]:
    """The run's actors as Ray's state API sees them: class, state, restarts, pid, node.

    ``address``: the cluster's GCS address (``host:6379``, as for ``ray start --address``) or its
    dashboard URL (``http://host:8265``, as for ``ray job submit``). Of the cluster's actors only
    those whose process the run's ``status`` names are shown, so other runs on the cluster are left out.
    """
    from ray.exceptions import RpcError
    from ray.util.state import list_actors
    from ray.util.state.exception import RayStateApiException

    pids = {where.get("location", {}).get("pid") for where in status["actor_locations"].values()} - {None}
    try:
        actors = list_actors(address=address, limit=10000, detail=True)  # either form of address; no ray.init
    except (RpcError, RayStateApiException) as error:
        raise ConnectionError(str(error).strip().splitlines()[0]) from None
    return [
        {
            "class": a.class_name,
            "state": a.state,
            "restarts": getattr(a, "num_restarts", 0),
            "pid": a.pid,
            "node": (a.node_id or "")[:8],
        }
        for a in actors
        if a.pid in pids
    ]


def format_status(run: Path, status: dict[str, Any], ray_actors: list[dict[str, Any]] | None = None) -> str:
    record = status["record"]
    now = time.time()
    running = is_running(status, now)
    state = "running" if running else ("finished" if status["finished"] else "not running (its driver stopped)")
    lines = [
        f"run {run.resolve()}: {state}" + (f" ({status['stop_reason']})" if status["stop_reason"] else ""),
        f"  last update {now - status['updated']:.0f} s ago; driver pid {status['driver']['pid']} "
        f"on {status['driver']['host']}; run time {clock(record['elapsed_s'])}",
        f"  version {record['version']}, {record['iteration']} gate(s), learner step {record['learner_step']:,}",
        f"  self-play {record['episodes_per_s']:.1f} episodes/s, {record['positions_per_s']:,.0f} positions/s, "
        f"{record['workers']} worker(s); learner {record['learner_steps_per_s']:.1f} steps/s"
        + (f", {record['samples_per_insert']:.1f} samples/position" if record["samples_per_insert"] else ""),
        f"  buffer {record['buffer_size']:,} positions"
        + (f" ({record['buffer_fill']:.1%} full)" if record["buffer_fill"] is not None else "")
        + (f", mean sample age {record['sample_age']:,.0f}" if record["sample_age"] is not None else ""),
    ]
    if record["tasks"]:
        lines.append("  self-play: " + ", ".join(task_cell(k, v) for k, v in record["tasks"].items()))
    for name, history in status["history"].items():
        versions = ", ".join(f"v{h['version']} @ step {h['learner_step']:,}" for h in history[-5:])
        lines.append(f"  versions{'' if len(status['history']) == 1 else ' of ' + name}: {versions or 'none yet'}")
    lines += ["", "  actor        health     restarts   CPU %   memory MiB  where"]
    stale_after = max(60.0, 3 * status["progress_every_seconds"])
    for name, stats in record["actors"].items():
        seen = status["actor_locations"].get(name, {})
        reported = seen.get("reported")
        fresh = reported is not None and now - reported <= stale_after
        health = ("ok" if fresh else "silent") if running else "-"
        where = seen.get("location") or {}
        cpu = "" if stats["cpu_percent"] is None else f"{stats['cpu_percent']:.0f}"
        lines.append(
            f"  {name:<12} {health:<10} {stats['restarts']:>8}   {cpu:>5}   {stats['rss_bytes'] / MIB:>10.0f}  "
            f"pid {where.get('pid', '?')} on {where.get('ip') or where.get('host', '?')}"
        )
    if record["restarts"]:
        lines.append(f"  restarts in all: {record['restarts']}")
    if ray_actors is not None:
        lines += ["", "  Ray's view (--address):"]
        lines += [
            f"  {a['class']:<16} {a['state']:<10} restarts {a['restarts']}  pid {a['pid']} on node {a['node']}"
            for a in ray_actors
        ]
        if not ray_actors:
            lines.append("  none of the run's actor processes is known to that cluster")
    gates = [e for e in read_jsonl(run / "evaluations.jsonl") if e.get("kind") == "gate"][-3:]
    if gates:
        lines += ["", "  last gates:"]
        for gate in gates:
            cells = []
            for label, task in gate.get("tasks", {}).items():
                if "candidate_solve_rate" in task:
                    cells.append(task_cell(label, {"solve_rate": task["candidate_solve_rate"]}))
                elif "wins" in task:
                    cells.append(task_cell(label, task))
            verdict = "accepted" if gate["accepted"] else "rejected"
            lines.append(
                f"  gate {gate.get('iteration', '?')}: {verdict} (version {gate['version']}): {', '.join(cells)}"
            )
    return "\n".join(lines)
