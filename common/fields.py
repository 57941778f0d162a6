"""The one check of a configuration dataclass's field constraints, for code that builds configs directly.

Components declare constraints in field metadata (``min``, ``max``,
``exclusive_min``, ``choices``); the YAML loader in `cluster.config` reads the
same metadata and words its errors for the user. This check guards configs
built in code (tests, benchmarks, other callers).
"""

from __future__ import annotations

import dataclasses
from typing import Any


def check_fields(config: Any, section: str) -> None:
    """Raise ValueError naming ``section.field`` for any value outside its constraints; None always passes."""
    for f in dataclasses.fields(config):
        value, meta = getattr(config, f.name), f.metadata
        if value is None or isinstance(value, (list, tuple)) or dataclasses.is_dataclass(value):
            # optional values; pairs and lists are their owner's; a nested config checks itself
            continue
        where = f"{section}.{f.name}"
        if "choices" in meta and value not in meta["choices"]:
            raise ValueError(f"{where}: expected one of {', '.join(map(str, meta['choices']))}, got {value!r}")
        if "min" in meta:
            low, exclusive = meta["min"], bool(meta.get("exclusive_min"))
            if value < low or (exclusive and value == low):
                raise ValueError(f"{where}: expected a value {'>' if exclusive else '>='} {low}, got {value!r}")
        if "max" in meta and value > meta["max"]:
            raise ValueError(f"{where}: expected a value <= {meta['max']}, got {value!r}")
