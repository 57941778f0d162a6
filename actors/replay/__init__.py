"""The replay buffer: trajectories from self-play, kept in bounded per-task stores and a durable log on disk.

- `ReplayConfig` (config.py): capacity, sampling rule, disk layout;
- `Trajectory`, `POSITION_FIELDS` (trajectory.py): what self-play sends, the per-position format;
- the ring stores and the sampling rule (store.py);
- the segment files on disk and the directory lock, `LOCK_WAIT_S` (segments.py);
- `ReplayBuffer`, `ReplayNotReadyError`, `create_replay_actor`, `create_replay_shards`, `replay_dirs` (buffer.py).
"""

from actors.replay.buffer import (
    ReplayBuffer,
    ReplayNotReadyError,
    create_replay_actor,
    create_replay_shards,
    replay_dirs,
)
from actors.replay.config import SAMPLING_MODES, ReplayConfig
from actors.replay.segments import LOCK_WAIT_S
from actors.replay.trajectory import POSITION_FIELDS, Trajectory

__all__ = [
    "LOCK_WAIT_S",
    "POSITION_FIELDS",
    "SAMPLING_MODES",
    "ReplayBuffer",
    "ReplayConfig",
    "ReplayNotReadyError",
    "Trajectory",
    "create_replay_actor",
    "create_replay_shards",
    "replay_dirs",
]
