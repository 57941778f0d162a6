"""Starting or attaching to Ray.

No address (neither ``--address`` nor ``RAY_ADDRESS``): an embedded local Ray
with this machine's resources (or ``ray.num_cpus``). With an address, attach
to that cluster and never pass resources, which belong to the cluster.
"""

from __future__ import annotations

import os

from cluster.config import RayConfig


def start_ray(config: RayConfig, address: str | None = None) -> str:
    """Initialise Ray in this process; returns a short description of what it joined."""
    import ray

    target = address or config.address or os.environ.get("RAY_ADDRESS")
    if ray.is_initialized():
        return "the Ray already running in this process"
    if target:
        ray.init(address=target, logging_level="WARNING", log_to_driver=True)
        return f"the Ray cluster at {target}"
    ray.init(num_cpus=config.num_cpus, include_dashboard=False, logging_level="WARNING", log_to_driver=True)
    return f"an embedded local Ray ({int(ray.cluster_resources().get('CPU', 0))} CPUs)"
