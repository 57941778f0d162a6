"""Starting or attaching to Ray.

No address (neither ``--address`` nor ``RAY_ADDRESS``): an embedded local Ray
with this machine's resources (or ``ray.num_cpus`` and ``ray.num_gpus``). With an address, attach
to that cluster and never pass resources, which belong to the cluster.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from cluster.config import RayConfig


@dataclass(frozen=True)
class RayConnection:
    description: str
    embedded: bool  # started by this process: its size is fixed, unlike a cluster that may autoscale
    cpus: float


def start_ray(config: RayConfig, address: str | None = None) -> RayConnection:
    """Initialise Ray in this process (or reuse the one already initialised)."""
    import ray

    target = address or config.address or os.environ.get("RAY_ADDRESS")
    if ray.is_initialized():
        return RayConnection("the Ray already running in this process", False, _cpus())
    if target:
        ray.init(address=target, logging_level="WARNING", log_to_driver=True)
        return RayConnection(f"the Ray cluster at {target}", False, _cpus())
    ray.init(
        num_cpus=config.num_cpus,
        num_gpus=config.num_gpus,
        include_dashboard=False,
        logging_level="WARNING",
        log_to_driver=True,
    )
    gpus = ray.cluster_resources().get("GPU", 0.0)
    return RayConnection(f"an embedded local Ray ({_cpus():g} CPUs, {gpus:g} GPUs)", True, _cpus())


def _cpus() -> float:
    import ray

    return float(ray.cluster_resources().get("CPU", 0.0))
