"""Self-play: workers that play B episodes of the task mix at once with batched search and push them to replay.

- `SelfPlayConfig` (config.py): workers, episodes per worker, pushes;
- `SelfPlayWorker`, `create_selfplay_workers` and the pure helpers (worker.py).
"""

from actors.selfplay.config import SelfPlayConfig
from actors.selfplay.worker import (
    NO_WEIGHTS,
    SEED_LIMIT,
    SelfPlayWorker,
    create_selfplay_workers,
    difficulty_bucket,
    game_value_targets,
    split_slots,
)

__all__ = [
    "NO_WEIGHTS",
    "SEED_LIMIT",
    "SelfPlayConfig",
    "SelfPlayWorker",
    "create_selfplay_workers",
    "difficulty_bucket",
    "game_value_targets",
    "split_slots",
]
