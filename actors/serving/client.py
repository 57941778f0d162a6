"""`RemoteNetwork`: the search's network callable, evaluated by an `InferenceServer`.

    network = RemoteNetwork(server)                 # what SelfPlayWorker(..., inference=server) builds
    network.use_weights(version, [weights_ref])     # at a switch of version: the server loads it (once)
    logits, value = network(tokens, task_ids)       # one evaluate call, waited for at most `timeout`

The weights are the server's: there is no ``load_state_dict``. `use_weights` asks the server
to hold ``version`` (``set_weights``, a no-op when it holds it already, e.g. because the driver
published it first) and remembers it. Every reply carries the version that computed it: a
reply older than the remembered version means the server restarted and has not been given
the weights again yet, so the client re-sends them and asks again; a newer one (another
worker or the driver switched the server first) is counted in ``rows_ahead``. Trajectories
therefore record a version no newer than the one that evaluated them.

Waits are bounded: each call waits at most ``timeout`` seconds (then `TimeoutError`); a server
restarting (`ActorUnavailableError`) is retried ``retries`` times with a doubling backoff, then
the error is raised; a server that is gone for good (`ActorDiedError`) raises at once.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import numpy as np

from common.handles import Handle, actor_error_named, is_actor_unavailable

log = logging.getLogger(__name__)

TIMEOUT_S = 60.0  # the longest wait for one reply
RETRIES = 8  # calls repeated while the server restarts (backoff 0.25, 0.5, 1, 2, then 4 s: about 20 s in all)
BACKOFF_S = 0.25
MAX_BACKOFF_S = 4.0


class RemoteNetwork:
    """``network(tokens int64 [B, L], task_ids int64 [B]) -> (logits float32 [B, A'], value float32 [B])``
    through ``server`` (an `InferenceServer` actor handle, or a plain object with its methods).

    Attributes:
        version: the weights version its worker uses (`use_weights`), None before the first.
        server_version: the version of the last reply.
        calls, rows: evaluate calls answered, rows in them.
        resends: times the weights were sent again to a server found behind (restarted).
        retries: calls repeated because the server was restarting.
        rows_ahead: rows computed by a newer version than ``version``.
    """

    def __init__(
        self, server: Any, timeout: float = TIMEOUT_S, retries: int = RETRIES, backoff: float = BACKOFF_S
    ) -> None:
        self.server = Handle(server)
        self.timeout, self.max_retries, self.backoff = timeout, retries, backoff
        self.version: int | None = None
        self._weights: Any = None
        self.server_version: int | None = None
        self.calls = self.rows = self.resends = self.retries = self.rows_ahead = 0

    def __call__(self, tokens: np.ndarray, task_ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """One evaluate call (again after re-sending the weights if the server is behind)."""
        logits, value, version = self._request("evaluate", tokens, task_ids)
        if self.version is not None and version < self.version:  # restarted and not yet handed the weights
            log.warning("inference server at version %s, expected %s: sending the weights again", version, self.version)
            self.resends += 1
            self._request("set_weights", self.version, self._weights)
            logits, value, version = self._request("evaluate", tokens, task_ids)
            if version < self.version:
                raise RuntimeError(f"inference server: still at version {version} after being sent {self.version}")
        self.server_version = version
        self.calls += 1
        self.rows += len(tokens)
        if self.version is not None and version > self.version:
            self.rows_ahead += len(tokens)
        return logits, value

    def use_weights(self, version: int, weights: Any) -> int:
        """Have the server hold ``version`` (``weights``: a one-element list holding the reference of a
        state dict, or the dict) or a newer one; returns the version it holds."""
        held = self._request("set_weights", version, weights)
        self.version, self._weights = version, weights
        self.server_version = held
        return held

    def _request(self, method: str, *args: Any) -> Any:
        """``server.method(*args)``, waited for at most ``timeout`` s, retried while the server restarts."""
        attempt = 0
        while True:
            try:
                return self.server.call(method, *args, timeout=self.timeout)
            except Exception as error:
                if actor_error_named(error, "GetTimeoutError"):
                    raise TimeoutError(
                        f"inference server: no answer to {method} within {self.timeout:g} s "
                        "(is the server scheduled and alive?)"
                    ) from None
                if not is_actor_unavailable(error) or attempt >= self.max_retries:
                    raise
            time.sleep(min(self.backoff * 2**attempt, MAX_BACKOFF_S))
            attempt += 1
            self.retries += 1
