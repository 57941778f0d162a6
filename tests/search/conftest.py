"""Shared fixtures of the search tests: tasks, exact-value oracles and reference positions."""

from __future__ import annotations

import pytest

from actors.search import oracle_network
from actors.tasks.tictactoe import TicTacToe


@pytest.fixture(scope="session")
def tictactoe() -> TicTacToe:
    return TicTacToe()


@pytest.fixture(scope="session")
def tictactoe_oracle(tictactoe):
    return oracle_network(tictactoe)
