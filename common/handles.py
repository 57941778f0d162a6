"""One way to call an actor's methods, whether it is a Ray actor handle or a plain object (tests, benchmarks).

    buffer = Handle(buffer_actor_or_object)
    pending = buffer.submit("add", trajectories)   # an ObjectRef, or a plain call already made
    buffer.finished([pending, ...])                # the calls that are done, without waiting
    buffer.result(pending, timeout=30.0)           # its value (or its exception), waiting at most `timeout`
    buffer.call("stats")                           # submit, then result

A plain object's method runs at `submit`; its value or exception is kept and handed
out by `result`, so callers handle both kinds with the same code and in the same order.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import Any


@dataclass
class _PlainCall:
    """A plain object's finished call: its value, or the exception it raised."""

    value: Any = None
    error: BaseException | None = None


def is_actor_handle(target: Any) -> bool:
    """Whether ``target`` is a Ray actor handle (without importing Ray: no Ray loaded, no handle)."""
    ray = sys.modules.get("ray")
    return ray is not None and isinstance(target, ray.actor.ActorHandle)


class Handle:
    """Submit calls to ``target`` and collect their results; see the module docstring."""

    def __init__(self, target: Any) -> None:
        self.target = target
        self.is_actor = is_actor_handle(target)

    def submit(self, method: str, *args: Any, **kwargs: Any) -> Any:
        """Start ``target.method(*args, **kwargs)``; returns the pending call for `result`."""
        if self.is_actor:
            return getattr(self.target, method).remote(*args, **kwargs)
        try:
            return _PlainCall(value=getattr(self.target, method)(*args, **kwargs))
        except Exception as error:  # handed to the caller at `result`, as Ray would
            return _PlainCall(error=error)

    def result(self, pending: Any, timeout: float | None = None) -> Any:
        """The value of a submitted call (raising its exception); waits at most ``timeout`` seconds on an actor.

        An actor that died raises `ray.exceptions.ActorDiedError` (or `ActorUnavailableError`
        while it restarts) here, so no wait outlives its actor; a timeout raises `GetTimeoutError`.
        """
        if not self.is_actor:
            if pending.error is not None:
                raise pending.error
            return pending.value
        import ray

        return ray.get(pending, timeout=timeout)

    def finished(self, pending: list[Any]) -> list[Any]:
        """The calls of ``pending`` that are done now (every plain call is), in their order; never waits."""
        if not self.is_actor or not pending:
            return list(pending)
        import ray

        ready, _ = ray.wait(pending, num_returns=len(pending), timeout=0)
        done = set(ready)
        return [ref for ref in pending if ref in done]

    def call(self, method: str, *args: Any, timeout: float | None = None) -> Any:
        """``target.method(*args)`` and its value: `submit` then `result`."""
        return self.result(self.submit(method, *args), timeout=timeout)
