"""Shared inference: a server actor evaluates the leaf batches of many self-play workers on one device.

- `InferenceConfig` (config.py): how many servers, their resources, device and batch size;
- `InferenceServer`, `create_inference_servers` (server.py): the actor, merging concurrent requests
  into one forward pass;
- `RemoteNetwork` (client.py): the search's network callable on a worker, sending its leaves there.

Only the config is imported here: the run configuration imports this package and must stay
free of torch and Ray.
"""

from actors.serving.config import InferenceConfig

__all__ = ["InferenceConfig"]
