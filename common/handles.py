"""One way to call an actor's methods, whether it is a Ray actor handle or a plain object (tests, benchmarks).

    buffer = Handle(buffer_actor_or_object)
    pending = buffer.submit("add", trajectories)   # an ObjectRef, or a plain call already made
    buffer.finished([pending, ...])                # the calls that are done, without waiting
    buffer.result(pending, timeout=30.0)           # its value (or its exception), waiting at most `timeout`
    buffer.call("stats")                           # submit, then result

A plain object's method runs at `submit`; its value or exception is kept and handed
out by `result`, so callers handle both kinds with the same code and in the same order.

`BoundedCalls` sends calls whose results nobody waits for (pushes of trajectories, priority
updates) with a bound on how many are pending, so a slow actor slows its callers instead of
growing a queue.
"""

from __future__ import annotations

import collections
import logging
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

log = logging.getLogger(__name__)


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


def actor_error_named(error: BaseException, *names: str) -> bool:
    """Whether ``error`` is one of Ray's errors ``names`` (by class name, so Ray need not be imported).

    Through Ray a task's error is a RayTaskError that also subclasses the original class.
    """
    return any(cls.__name__ in names for cls in type(error).__mro__)


def is_actor_unavailable(error: BaseException) -> bool:
    """The actor is restarting (or unreachable for now): a call in flight was lost, later ones may succeed."""
    return actor_error_named(error, "ActorUnavailableError")


def is_actor_gone(error: BaseException) -> bool:
    """The actor died or is restarting (`RayActorError` and its subclasses): the call's work was lost."""
    return actor_error_named(error, "RayActorError")


class BoundedCalls:
    """Calls of ``method`` on ``handle`` whose values are not needed, at most ``max_in_flight`` pending.

    `submit` first takes the acknowledgements of finished calls, then, while at the limit, waits
    for the oldest. A call that fails with an error ``tolerated`` (e.g. the actor restarting)
    loses its work: it is logged as ``what`` and its weight counted in ``lost``; any other
    error is raised. Each call carries a weight (the positions of a push, 1 for an update), and
    ``submitted`` / ``acknowledged`` / ``lost`` add them up.
    """

    def __init__(
        self,
        handle: Handle,
        method: str,
        max_in_flight: int,
        tolerated: Callable[[BaseException], bool],
        what: str,
    ) -> None:
        if max_in_flight < 1:
            raise ValueError(f"{what}: max_in_flight must be positive, got {max_in_flight}")
        self.handle, self.method, self.max_in_flight = handle, method, max_in_flight
        self.tolerated, self.what = tolerated, what
        self.calls = 0
        self.submitted = 0
        self.acknowledged = 0
        self.lost = 0
        self.wait_seconds = 0.0  # time spent blocked on the oldest call (backpressure)
        self.max_seen_in_flight = 0
        self._pending: collections.deque[tuple[Any, int]] = collections.deque()  # (call, weight), oldest first

    @property
    def in_flight(self) -> int:
        return len(self._pending)

    @property
    def in_flight_weight(self) -> int:
        return sum(weight for _, weight in self._pending)

    def submit(self, *args: Any, weight: int = 1) -> None:
        """Send one call, first collecting finished ones and, at the limit, waiting for the oldest."""
        self.collect(block=False)
        while len(self._pending) >= self.max_in_flight:
            self._wait_oldest()
        self._pending.append((self.handle.submit(self.method, *args), weight))
        self.calls += 1
        self.submitted += weight
        self.max_seen_in_flight = max(self.max_seen_in_flight, len(self._pending))
        if not self.handle.is_actor:  # a plain object has answered already
            self.collect(block=False)

    def collect(self, block: bool) -> None:
        """Take the results of finished calls; with ``block``, wait for every call in flight."""
        if block:
            while self._pending:
                self._wait_oldest()
            return
        if not self._pending:
            return
        done = {id(call) for call in self.handle.finished([call for call, _ in self._pending])}
        finished = [item for item in self._pending if id(item[0]) in done]
        self._pending = collections.deque(item for item in self._pending if id(item[0]) not in done)
        for call, weight in finished:
            self._settle(call, weight)

    def _wait_oldest(self) -> None:
        call, weight = self._pending.popleft()
        started = time.perf_counter()
        self._settle(call, weight)
        self.wait_seconds += time.perf_counter() - started

    def _settle(self, call: Any, weight: int) -> None:
        try:
            self.handle.result(call)
        except Exception as error:
            if not self.tolerated(error):
                raise
            self.lost += weight
            log.warning("%s was lost (%s)", self.what, error)
            return
        self.acknowledged += weight
