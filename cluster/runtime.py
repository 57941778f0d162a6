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
    resources: dict[str, float]  # the cluster's resources when it connected ("CPU", "GPU", ...)


def start_ray(config: RayConfig, address: str | None = None) -> RayConnection:
    """Initialise Ray in this process (or reuse the one already initialised)."""
    import ray

    target = address or config.address or os.environ.get("RAY_ADDRESS")
    if ray.is_initialized():
        return RayConnection("the Ray already running in this process", False, ray.cluster_resources())
    if target:
        ray.init(address=target, logging_level="WARNING", log_to_driver=True)
        return RayConnection(f"the Ray cluster at {target}", False, ray.cluster_resources())
    ray.init(
        num_cpus=config.num_cpus,
        num_gpus=config.num_gpus,
        include_dashboard=False,
        logging_level="WARNING",
        log_to_driver=True,
    )
    resources = ray.cluster_resources()
    description = f"an embedded local Ray ({resources.get('CPU', 0.0):g} CPUs, {resources.get('GPU', 0.0):g} GPUs)"
    return RayConnection(description, True, resources)
