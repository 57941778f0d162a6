"""Small helpers that every package uses: field checks of config dataclasses, crash-safe files, process facts.

Nothing here imports torch or Ray at module level, so config modules can use it
and a config error is reported before anything heavy loads.
"""
