"""Self-play: workers that play B episodes of the task mix at once with batched search and push them to replay.

- `SelfPlayConfig` (config.py): workers, episodes per worker, pushes;
- `EpisodeGroup` and the pure helpers (episodes.py): one task id's slots, instances, value targets;
- `SelfPlayWorker`, `create_selfplay_workers` (worker.py): the actor.
"""

from actors.selfplay.config import SelfPlayConfig
from actors.selfplay.episodes import SEED_LIMIT, difficulty_bucket, game_value_targets, split_slots
from actors.selfplay.worker import NO_WEIGHTS, SelfPlayWorker, create_selfplay_workers

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
