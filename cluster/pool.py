"""The self-play pool: which workers run, and how the pool grows, shrinks and heals.

``selfplay.num_workers`` is a number (a fixed pool) or a range ``{min, max}`` (elastic).

- On an embedded Ray the cluster is this machine: the pool starts as many workers as fit
  beside the other actors, between ``min`` and ``max`` (the driver refuses a config whose
  ``min`` does not fit).
- On a cluster, the pool asks the autoscaler for the capacity of ``max`` workers
  (`ray.autoscaler.sdk.request_resources`, one bundle per worker, so it launches nodes for
  them), starts ``min`` at once, and at each `grow` (the driver calls it every few seconds,
  never in a loop) starts as many more as the free CPUs hold, while none is still pending:
  a worker is pending until it answers its first call (`location`), so actors waiting for a node
  are never stacked up.
- Workers are spread over the nodes (Ray's ``SPREAD`` strategy) and are not restarted by
  Ray: a worker whose process or node died is dropped (`lost`) and a replacement with the
  same index and the next *incarnation* is started at a later `grow`, when there is room.
  A replacement draws a new instance stream, so it does not replay its predecessor's
  episodes (`actors.selfplay.worker.SelfPlayWorker`'s ``incarnation``).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from cluster.config import RunConfig
from common.process import describe_location


@dataclass
class Member:
    """One running self-play worker."""

    index: int
    incarnation: int
    handle: Any
    started: float = field(default_factory=time.monotonic)
    model: int = 0  # the model (of ``model: [...]``) it plays with
    ready: bool = False  # it answered `location`: placed on a node, constructed, running
    location: dict[str, Any] | None = None  # its process and node, from its first statistics


class SelfPlayPool:
    """The self-play workers of a run; see the module docstring."""

    def __init__(
        self,
        config: RunConfig,
        buffers: list[Any],
        resumes: int,
        room: int | None,
        log: Callable[[str], None],
        inference_servers: list[Any] | None = None,
    ) -> None:
        """``room``: workers that fit on a fixed (embedded) Ray; None on a cluster that may grow."""
        self.config = config
        self.buffers = buffers  # the replay shards: worker i pushes to shard i % len(buffers)
        self.resumes = resumes
        self.low, self.high = config.selfplay.worker_range
        self.room = room
        self.log = log
        self.inference_servers = inference_servers or []
        self.bundle = actor_resources(config, 1)["selfplay0"]
        self.others = [bundle for bundle in actor_resources(config, 0).values() if bundle]
        self.members: dict[int, Member] = {}
        self.next_incarnation: dict[int, int] = {}
        self.lost_workers = 0

    @property
    def elastic(self) -> bool:
        return self.room is None and self.high > self.low

    @property
    def target(self) -> int:
        """How many workers the pool aims for now."""
        return self.high if self.room is None else max(self.low, min(self.high, self.room))

    def start(self) -> list[Member]:
        """The first workers: ``min`` on a cluster (asking the autoscaler for ``max``), all that fit otherwise."""
        if self.room is None and self.high > 0:
            self._request_capacity()
        count = self.low if self.room is None else self.target
        return [self._start(index) for index in range(count)]

    def grow(self) -> list[Member]:
        """Start workers for free indices while there is room; never while one is still pending."""
        if len(self.members) >= self.target or any(not m.ready for m in self.members.values()):
            return []
        free = [index for index in range(self.target) if index not in self.members]
        if self.room is None:
            free = free[: self._workers_that_fit()]
        return [self._start(index) for index in free]

    def lost(self, index: int, error: BaseException) -> None:
        """Drop worker ``index`` (its process or node is gone); a later `grow` replaces it."""
        member = self.members.pop(index, None)
        if member is None:
            return
        self.lost_workers += 1
        where = " on " + describe_location(member.location) if member.location else ""
        self.log(f"self-play worker {index}{where} is gone ({type(error).__name__}); it will be replaced")

    def placed(self, index: int, location: dict[str, Any] | None) -> None:
        """Worker ``index`` answered from ``location``: it runs; log where."""
        member = self.members.get(index)
        if member is None or member.ready:
            return
        member.ready, member.location = True, location
        replacement = f" (replacement {member.incarnation})" if member.incarnation else ""
        self.log(f"self-play worker {index}{replacement} runs on {describe_location(location)}")

    # ----- internals --------------------------------------------------------------------

    def _start(self, index: int) -> Member:
        from actors.selfplay.worker import start_selfplay_worker

        c = self.config
        incarnation = self.next_incarnation.get(index, 0)
        self.next_incarnation[index] = incarnation + 1
        servers = self.inference_servers
        model = self.model_of(index)
        handle = start_selfplay_worker(
            c.tasks,
            c.models[model],
            c.search,
            c.selfplay,
            c.seed,
            index,
            self.buffers[index % len(self.buffers)],
            resumes=self.resumes,
            incarnation=incarnation,
            inference=servers[index % len(servers)] if servers else None,
        )
        member = Member(index, incarnation, handle, model=model)
        self.members[index] = member
        return member

    def model_of(self, index: int) -> int:
        """The model worker ``index`` plays (see `model_of_worker`); a replacement plays its predecessor's."""
        return model_of_worker(index, self.config.selfplay.shares(len(self.config.models)))

    def _request_capacity(self) -> None:
        """Ask the autoscaler for room for ``max`` workers (a standing request, renewed by the next call)."""
        from ray.autoscaler.sdk import request_resources

        # The request is for the cluster's whole size, not an addition to it: the other actors' room too.
        request_resources(bundles=[*self.others, *[self.bundle] * self.high])
        each = ", ".join(f"{amount:g} {name}" for name, amount in self.bundle.items())
        self.log(f"asked the autoscaler for room for {self.high} self-play workers ({each} each) and the other actors")

    def _workers_that_fit(self) -> int:
        import ray

        free = ray.available_resources()
        return min(int(free.get(name, 0.0) // amount + 1e-9) for name, amount in self.bundle.items())


def model_of_worker(index: int, shares: list[float]) -> int:
    """The model self-play worker ``index`` plays: the first worker of each model in turn (every model
    plays), then each next worker goes to the model furthest below its share (the lowest index on a tie),
    so every prefix of the pool follows ``shares`` as closely as it can, however the pool grows or heals."""
    if index < len(shares):
        return index
    counts = [1] * len(shares)
    model = 0
    for _ in range(index + 1 - len(shares)):
        model = min(range(len(shares)), key=lambda k: ((counts[k] + 1) / shares[k], k))
        counts[model] += 1
    return model


def actor_resources(config: RunConfig, workers: int) -> dict[str, dict[str, float]]:
    """What each actor of a run with ``workers`` self-play workers declares to Ray, by actor name:
    ``{"replay": {"CPU": 1.0}, "learner": {"CPU": 2.0, "GPU": 1.0}, ..., "selfplay0": {"CPU": 1.0}}``."""

    def declared(section: Any) -> dict[str, float]:
        amounts = {"CPU": section.num_cpus, "GPU": getattr(section, "num_gpus", 0.0)}
        return {name: amount for name, amount in amounts.items() if amount}

    c = config
    actors = {"replay" if shard == 0 else f"replay{shard}": declared(c.replay) for shard in range(c.replay.shards)}
    for model in range(len(c.models)):
        suffix = "" if model == 0 else str(model)
        actors.update({f"learner{suffix}": declared(c.learner), f"evaluator{suffix}": declared(c.evaluation)})
    actors.update({f"inference{index}": declared(c.inference) for index in range(c.inference.servers)})
    actors.update({f"selfplay{index}": declared(c.selfplay) for index in range(workers)})
    return actors
