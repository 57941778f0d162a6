"""The replay buffer: trajectories from self-play, kept in bounded per-task stores and a durable log on disk.

- `ReplayConfig` (config.py): capacity, sampling rule, disk layout;
- `Trajectory`, `ReplayBuffer`, `create_replay_actor` (buffer.py).
"""

from actors.replay.buffer import (
    LOCK_WAIT_S,
    POSITION_FIELDS,
    ReplayBuffer,
    ReplayNotReadyError,
    Trajectory,
    create_replay_actor,
)
from actors.replay.config import SAMPLING_MODES, ReplayConfig

__all__ = [
    "LOCK_WAIT_S",
    "POSITION_FIELDS",
    "SAMPLING_MODES",
    "ReplayBuffer",
    "ReplayConfig",
    "ReplayNotReadyError",
    "Trajectory",
    "create_replay_actor",
]
