"""The interval record's figures as Prometheus gauges, through Ray's metrics API (`ray.util.metrics`).

Ray exports them from each node's metrics port with a ``ray_`` prefix (``ray_selfplay_<field>``),
so they reach the Ray dashboard's Grafana and any Prometheus that scrapes the cluster;
deploy/grafana-selfplay.json is a dashboard for them. Every gauge carries the run directory's
name as the ``run`` tag, so several runs on one cluster stay apart; per-task and per-actor
figures carry ``task`` / ``actor`` tags.
"""

from __future__ import annotations

from typing import Any

PREFIX = "selfplay_"
MIB = 1 << 20


class PrometheusGauges:
    """A driver listener: sets one gauge per number of each interval record."""

    def __init__(self, run_name: str) -> None:
        self.run = run_name
        self.gauges: dict[str, Any] = {}

    def _set(self, name: str, value: Any, description: str = "", **tags: str) -> None:
        from ray.util.metrics import Gauge

        if not isinstance(value, (int, float)) or isinstance(value, bool):
            return
        key = PREFIX + name
        if key not in self.gauges:
            self.gauges[key] = Gauge(key, description=description or name, tag_keys=("run", *sorted(tags)))
        self.gauges[key].set(float(value), tags={"run": self.run, **tags})

    def __call__(self, event: str, values: dict[str, Any]) -> None:
        if event != "interval":
            return
        for name, value in values.items():
            self._set(name, value)
        for task, rates in values["tasks"].items():
            for key, rate in rates.items():
                self._set(f"task_{key}", rate, f"self-play {key} rate per task", task=task)
        for task, result in values["gate"].items():
            for key, figure in result.items():
                self._set(f"gate_{key}", figure, f"the latest gate's {key} per task", task=task)
        for actor, stats in values["actors"].items():
            self._set("actor_cpu_percent", stats["cpu_percent"], "CPU per actor, % of a core", actor=actor)
            if stats["rss_bytes"] is not None:
                self._set("actor_rss_mib", stats["rss_bytes"] / MIB, "resident memory per actor", actor=actor)
            self._set("actor_restarts", stats["restarts"], "restarts per actor this session", actor=actor)
