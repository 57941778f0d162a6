"""What an actor reports about its own process (shared by every actor's statistics)."""

from __future__ import annotations

import psutil

_PROCESS: psutil.Process | None = None


def resident_bytes() -> int:
    """This process's resident set size in bytes (the memory every actor reports as ``rss_bytes``)."""
    global _PROCESS
    if _PROCESS is None:
        _PROCESS = psutil.Process()
    return int(_PROCESS.memory_info().rss)
