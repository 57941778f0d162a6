"""Prioritized replay through the learner, without Ray: the priorities it sends, the rule, and the bound on
calls in flight. (With a Ray buffer actor: tests/test_learner_ray.py.)"""

from __future__ import annotations

import copy
import dataclasses
import logging

import numpy as np
import pytest
import torch

from actors.replay import ReplayBuffer, ReplayConfig
from learner.replay_client import PRIORITY_EPSILON, priority_sender, replay_priorities
from tests.test_learner import make_learner, sudoku_demonstrations

PRIORITIZED = ReplayConfig(capacity=10_000, min_positions_to_sample=32, sampling="prioritized")


def prioritized_buffer(buffer_class: type[ReplayBuffer] = ReplayBuffer) -> ReplayBuffer:
    """Solved Sudoku positions twice: once with value target 1 (success), once with 0 (failure).

    The same tokens get the same predicted value, so for a network predicting below 0.5 (a
    fresh one predicts about 0) a position's value error is larger in its target-1 copy.
    """
    successes = list(sudoku_demonstrations(20))
    failures = [dataclasses.replace(t, value=np.zeros_like(t.value), success=False, outcome=0.0) for t in successes]
    buffer = buffer_class(PRIORITIZED, seed=0)
    buffer.add(successes + failures)
    return buffer


def importance_weights(buffer: ReplayBuffer) -> tuple[np.ndarray, np.ndarray]:
    """(value target, importance weight) per position of a large sample; the weight falls as the priority rises."""
    sample = buffer.sample(4096, seed=123)
    return sample["value"], sample["weight"]


class RecordingBuffer(ReplayBuffer):
    """A `ReplayBuffer` that keeps the batches it handed out and the priority updates it received."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.batches: list[dict] = []
        self.updates: list[tuple[np.ndarray, np.ndarray]] = []

    def sample(self, *args, **kwargs):
        batch = super().sample(*args, **kwargs)
        self.batches.append(batch)
        return batch

    def update_priorities(self, indices, priorities):
        self.updates.append((np.array(indices), np.array(priorities)))
        return super().update_priorities(indices, priorities)


def test_training_sends_priorities_and_larger_value_errors_get_larger_priorities():
    buffer = prioritized_buffer()
    values, weights = importance_weights(buffer)
    assert np.all(weights == 1.0)  # every position starts at the same priority
    learner = make_learner(buffer, send_priorities=True)
    learner.train(max_steps=4)

    values, weights = importance_weights(buffer)
    assert not np.all(weights == 1.0)  # the priorities are no longer all the initial one
    # Value target 1 (error about 1 for a fresh network): larger priorities, so smaller importance weights.
    assert weights[values == 1.0].mean() < weights[values == 0.0].mean()
    assert weights.max() <= 1.0  # normalised by the smallest priority, as PER does


def test_priorities_are_the_first_segments_value_error_before_the_update_plus_epsilon():
    buffer = prioritized_buffer(RecordingBuffer)
    learner = make_learner(buffer, send_priorities=True, prefetch=0)
    initial = copy.deepcopy(learner.model)  # the network the first batch's first segment sees
    learner.train(max_steps=3)
    assert len(buffer.updates) == 3
    first = buffer.batches[0]
    indices, priorities = buffer.updates[0]
    np.testing.assert_array_equal(indices, first["index"])

    tokens = torch.from_numpy(first["tokens"])
    with torch.no_grad():
        encoded = initial.train().encode(tokens, torch.zeros(len(tokens), dtype=torch.int64))
        _, out = initial.segment(initial.initial_carry(len(tokens), encoded.x.shape[1]), encoded)
    expected = np.abs(first["value"] - out.value.numpy()) + PRIORITY_EPSILON
    np.testing.assert_allclose(priorities, expected, rtol=1e-5, atol=1e-6)
    assert np.all(priorities >= PRIORITY_EPSILON)


def test_without_send_priorities_the_buffer_is_never_told():
    buffer = prioritized_buffer(RecordingBuffer)
    make_learner(buffer).train(max_steps=2)
    assert buffer.updates == [] and len(buffer.batches) >= 2


def test_replay_priorities_add_epsilon_to_the_value_error():
    np.testing.assert_allclose(
        replay_priorities(torch.tensor([0.0, 0.5, 2.0])), np.array([0.0, 0.5, 2.0]) + PRIORITY_EPSILON
    )


# ----- the bound on calls in flight ---------------------------------------------------------------


class ManualHandle:
    """A `common.handles.Handle` stand-in whose calls finish only when the test says so."""

    is_actor = True  # its calls finish later, as an actor's do

    def __init__(self) -> None:
        self.submitted: list[int] = []
        self.done: set[int] = set()
        self.waited: list[int] = []  # calls `result` had to wait for
        self.errors: dict[int, BaseException] = {}

    def submit(self, method: str, *args):
        assert method == "update_priorities"
        self.submitted.append(len(self.submitted))
        return self.submitted[-1]

    def finished(self, pending):
        return [call for call in pending if call in self.done]

    def result(self, call, timeout=None):
        if call not in self.done:
            self.waited.append(call)
            self.done.add(call)  # "waiting" finishes it
        if call in self.errors:
            raise self.errors[call]
        return 1


def test_at_most_two_priority_calls_are_in_flight_and_the_oldest_is_waited_for():
    handle = ManualHandle()
    sender = priority_sender(handle)
    pending_after = []
    for _ in range(5):
        sender.submit(np.arange(3), np.ones(3))
        pending_after.append(sender.in_flight)
    assert handle.submitted == [0, 1, 2, 3, 4]
    assert pending_after == [1, 2, 2, 2, 2]
    assert handle.waited == [0, 1, 2]  # at the limit: the oldest, in order

    handle.done.update({3, 4})  # both finished on their own: collected without waiting
    sender.submit(np.arange(3), np.ones(3))
    assert sender.in_flight == 1 and handle.waited == [0, 1, 2]


def test_an_unavailable_buffer_loses_the_update_with_a_warning(caplog):
    from ray.exceptions import ActorDiedError, ActorUnavailableError

    handle = ManualHandle()
    handle.errors = {0: ActorUnavailableError("restarting", None), 1: ActorDiedError()}
    sender = priority_sender(handle)
    with caplog.at_level(logging.WARNING, logger="common.handles"):
        for _ in range(4):
            sender.submit(np.arange(3), np.ones(3))
    assert sender.lost == 2 and sender.calls == 4
    assert sum("priority update was lost" in record.message for record in caplog.records) == 2

    handle.errors[2] = ValueError("replay.update_priorities: 3 indices, 2 priorities")  # a bug is not hidden
    with pytest.raises(ValueError, match="3 indices"):
        sender.submit(np.arange(3), np.ones(3))


def test_the_learner_keeps_training_when_priority_updates_fail():
    from ray.exceptions import ActorUnavailableError

    class RestartingBuffer(ReplayBuffer):
        def update_priorities(self, indices, priorities):
            raise ActorUnavailableError("the replay buffer is restarting", None)

    buffer = prioritized_buffer(RestartingBuffer)
    stats = make_learner(buffer, send_priorities=True).train(max_steps=3)
    assert stats["steps_this_call"] == 3
    assert stats["priority_updates_lost"] == 3  # a plain buffer answers at once: every update is settled


def test_create_learner_and_learner_take_send_priorities_off_by_default():
    import inspect

    from learner.learner import Learner, create_learner

    for function in (Learner.__init__, create_learner):
        parameter = inspect.signature(function).parameters["send_priorities"]
        assert parameter.kind is inspect.Parameter.KEYWORD_ONLY and parameter.default is False
