"""What an actor reports about its own process (shared by every actor's statistics)."""

from __future__ import annotations

import os
import socket
from typing import Any

import psutil

_PROCESS: psutil.Process | None = None


def _process() -> psutil.Process:
    global _PROCESS
    if _PROCESS is None:
        _PROCESS = psutil.Process()
    return _PROCESS


def resident_bytes() -> int:
    """This process's resident set size in bytes (the memory every actor reports as ``rss_bytes``)."""
    return int(_process().memory_info().rss)


def cpu_percent() -> float:
    """This process's CPU use since the previous call, in percent of one core (0.0 on the first call)."""
    return float(_process().cpu_percent(interval=None))


def actor_location() -> dict[str, Any]:
    """Where this process runs: ``pid``, ``host``, and in a Ray worker its node's ``node`` id, ``ip`` and the
    ``gpus`` Ray assigned it (their ids; empty when it declared none).

    Every actor reports it with its statistics, so the driver can say which actor runs on
    which node and see a restart (a new pid) without asking Ray's state API.
    """
    import sys

    location: dict[str, Any] = {"pid": os.getpid(), "host": socket.gethostname()}
    ray = sys.modules.get("ray")  # only a process that runs Ray has a node
    if ray is not None and ray.is_initialized():
        location["node"] = ray.get_runtime_context().get_node_id()
        location["ip"] = ray.util.get_node_ip_address()
        location["gpus"] = [str(gpu) for gpu in ray.get_runtime_context().get_accelerator_ids().get("GPU", [])]
    return location


def describe_location(location: dict[str, Any] | None) -> str:
    """`actor_location`'s record as the log says it: ``node 10.0.0.5 (…1a2b3c4d), pid 123, GPU 0``."""
    if not location:
        return "an unknown place"
    # The id's tail: Ray's fake autoscaler gives its nodes ids that differ only at the end.
    where = f"node {location.get('ip', '?')} (…{location.get('node', '')[-8:]}), pid {location.get('pid', '?')}"
    gpus = location.get("gpus")
    return where + (f", GPU {','.join(gpus)}" if gpus else "")


class ReportsLocation:
    """Mixin of the run's actor classes: ``location()`` answers where the actor runs, so the driver can
    say so when the run starts and see a restart (a new process) of an actor that was idle."""

    def location(self) -> dict[str, Any]:
        return actor_location()
