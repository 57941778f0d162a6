"""The learner's side of the replay buffer: batches sampled with prefetch, priorities sent back.

The buffer is a Ray actor handle or, in tests, a plain `ReplayBuffer`; `common.handles.Handle`
calls both the same way. learner/ may not import actors/, so the buffer's error types are
recognised by name.

Priorities (only under ``replay.sampling: prioritized``; `Learner`'s ``send_priorities``). As
prioritized experience replay does with its TD error and AlphaZero-style learners (MuZero
Reanalyse, EfficientZero) with their value error, a trained position's new priority is

    priority = |value target - predicted value| + PRIORITY_EPSILON

with the prediction of the *first* deep-supervision segment (`learner.losses.deep_supervision_step`
returns it as ``value_error``). That readout is made before any optimizer step on this batch,
as PER computes its error before the update; later segments come after one or more optimizer
steps on these very positions, so their error says how well the network just fitted them, not
how much is left to learn. Every position has a first segment, while later ones exist only for
positions that have not halted, so first-segment errors compare alike across a batch. The
epsilon keeps a learned position sampleable and bounds how far one near-perfect position pushes
every other importance weight down (the buffer normalises weights by the smallest priority).
"""

from __future__ import annotations

import collections
import contextlib
import logging
import time
from typing import Any

import numpy as np

from common.handles import BoundedCalls, Handle, actor_error_named, is_actor_gone

log = logging.getLogger(__name__)

PRIORITY_EPSILON = 1e-2  # a hundredth of the value scale ([0, 1] or [-1, 1])
MAX_PRIORITY_CALLS_IN_FLIGHT = 2
_SAMPLE_SEED_TAG = 0x5A3  # separates the buffer's sample seeds from other uses of the run seed


def is_not_ready(error: BaseException) -> bool:
    """Whether ``error`` is the buffer's ReplayNotReadyError (also as raised through Ray)."""
    return actor_error_named(error, "ReplayNotReadyError")


def sample_seed(seed: int, index: int) -> int:
    """The seed of the ``index``-th sample call: batches depend only on (seed, index, buffer contents)."""
    return int(np.random.SeedSequence([seed, _SAMPLE_SEED_TAG, index]).generate_state(1, np.uint64)[0])


def inserted_total_of(batch: dict[str, Any]) -> int:
    """Positions inserted into the buffer when ``batch`` was drawn: a sample's ``age`` counts the
    positions inserted after it, and its ``index`` those before it."""
    return int(batch["age"][0]) + int(batch["index"][0]) + 1


def replay_priorities(value_error: Any) -> np.ndarray:
    """The priorities float64 [B] of a trained batch from its first-segment value errors [B] (module doc)."""
    errors = value_error.detach().float().cpu().numpy() if hasattr(value_error, "detach") else value_error
    return np.asarray(errors, dtype=np.float64) + PRIORITY_EPSILON


class BatchSource:
    """Sample calls on the replay buffer, ``depth`` of them kept in flight, results taken oldest first.

    ``buffers``: one buffer, or the shards of a sharded one (`actors.replay.ReplayConfig.shards`):
    sample call i goes to shard ``i % len(buffers)``, so every shard serves its share of the
    batches and a resumed learner asks the same shard for the same batch. Each is a Ray actor
    handle or a plain object with the same methods (`common.handles.Handle`).
    """

    def __init__(self, buffers: Any, batch_size: int, depth: int, seed: int) -> None:
        self.buffers = [Handle(b) for b in (buffers if isinstance(buffers, (list, tuple)) else [buffers])]
        self.batch_size = batch_size
        self.depth = depth
        self.seed = seed
        self.taken = 0  # batches handed out (and trained): the next resumed sample index
        self.last_shard = 0  # the shard the last batch taken came from
        self._inserted = [0] * len(self.buffers)  # each shard's insert count as last seen
        self._requested = 0
        self._pending: collections.deque = collections.deque()

    @property
    def in_flight(self) -> int:
        return len(self._pending)

    @property
    def inserted_total(self) -> int:
        """Positions inserted into all shards, as last seen (never ahead of the buffers)."""
        return sum(self._inserted)

    def ready(self) -> bool:
        """Whether every shard holds enough positions to sample (a synchronous call on each)."""
        return all(buffer.call("ready") for buffer in self.buffers)

    def refresh_inserted(self) -> int:
        """Ask every shard its insert count (synchronous calls); returns `inserted_total`."""
        for shard, buffer in enumerate(self.buffers):
            self._inserted[shard] = max(self._inserted[shard], int(buffer.call("stats")["inserted_total"]))
        return self.inserted_total

    def take(self) -> tuple[dict[str, Any], float]:
        """The oldest requested batch and the seconds spent blocked on it; the next request goes out first."""
        if not self._pending:
            self._request()
        shard, oldest = self._pending.popleft()
        while len(self._pending) < self.depth:
            self._request()
        started = time.perf_counter()
        try:
            batch = self.buffers[shard].result(oldest)
        except Exception:
            self.reset()
            raise
        self.taken += 1
        self.last_shard = shard
        self._inserted[shard] = max(self._inserted[shard], inserted_total_of(batch))
        return batch, time.perf_counter() - started

    def reset(self, taken: int | None = None) -> None:
        """Forget the calls in flight; the next request reuses the seed of batch ``taken`` (default: the next)."""
        pending, self._pending = list(self._pending), collections.deque()
        # Collect the results so a failed call is not reported later as an unhandled error.
        for shard, call in pending:
            with contextlib.suppress(Exception):  # the batch is discarded either way
                self.buffers[shard].result(call)
        if taken is not None:
            self.taken = taken
        self._requested = self.taken

    def _request(self) -> None:
        seed = sample_seed(self.seed, self._requested)
        shard = self._requested % len(self.buffers)
        self._requested += 1
        self._pending.append((shard, self.buffers[shard].submit("sample", self.batch_size, None, seed)))


def priority_sender(buffer: Handle) -> BoundedCalls:
    """``update_priorities`` calls on the buffer, at most `MAX_PRIORITY_CALLS_IN_FLIGHT` pending.

    A call that fails because the buffer actor is gone or restarting loses its update (logged,
    counted in ``lost``): those positions keep their old priorities. Any other error is raised.
    """
    return BoundedCalls(
        buffer, "update_priorities", MAX_PRIORITY_CALLS_IN_FLIGHT, is_actor_gone, "learner: a priority update"
    )
