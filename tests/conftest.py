"""Shared fixtures: `local_ray`, one real embedded Ray for the session; tic-tac-toe and its exact-value oracle."""

from __future__ import annotations

import os
import secrets

import pytest

# Logical CPUs of the test cluster: enough for a buffer, a learner, an evaluator and
# two self-play workers at once (Ray's CPU counts are scheduling tokens, not cores).
TEST_CLUSTER_CPUS = 6


def ray_test_env(token_path: str) -> dict[str, str]:
    """The environment every process of a test cluster needs: token auth on, loopback only."""
    return {"RAY_AUTH_TOKEN_PATH": token_path, "RAY_AUTH_MODE": "token", "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0"}


def write_token(directory) -> str:
    token = directory / "auth_token"
    token.write_text(secrets.token_hex(32))
    return str(token)


@pytest.fixture(scope="session")
def local_ray(tmp_path_factory):
    """One embedded Ray for the session (starting one takes 5-14 s), token auth on, loopback only."""
    import ray

    env = ray_test_env(write_token(tmp_path_factory.mktemp("ray-auth")))
    saved = {name: os.environ.get(name) for name in [*env, "RAY_ADDRESS"]}
    os.environ.update(env)
    os.environ.pop("RAY_ADDRESS", None)
    reload_auth_settings()
    ray.init(num_cpus=TEST_CLUSTER_CPUS, include_dashboard=False, logging_level="WARNING")
    try:
        yield ray
    finally:
        ray.shutdown()
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        reload_auth_settings()


def reload_auth_settings() -> None:
    """Make this process's Ray re-read RAY_AUTH_* from the environment.

    Ray reads them once, when `ray` is first imported (measured: setting them later and
    calling `ray.init` fails with "RAY_AUTH_MODE is currently 'disabled'"), and another
    test may have imported it already. Ray's own tests reset the state this way.
    """
    from ray._private.authentication_test_utils import reset_auth_token_state

    reset_auth_token_state()


@pytest.fixture(scope="session")
def tictactoe():
    from actors.tasks.tictactoe import TicTacToe

    return TicTacToe()


@pytest.fixture(scope="session")
def tictactoe_oracle(tictactoe):
    """A network whose values are tic-tac-toe's exact minimax values (uniform priors)."""
    from actors.search import oracle_network

    return oracle_network(tictactoe)
