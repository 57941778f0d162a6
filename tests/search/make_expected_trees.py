"""Stored expected trees: fixed searches whose every result is recorded, to prove a refactor changes nothing.

Each case plays a few moves of B episodes with one `SearchConfig` and a deterministic
network (the uniform evaluator, tic-tac-toe's exact oracle, or `hashed_network`, a small
numpy net with non-uniform priors and values), resetting finished slots with new
instances as self-play does. Per move it records every `SearchResult` field and a
digest of each tree (its integer arrays hashed exactly, its value sums summed), after
the search and again after `advance` (so re-rooting and subtree reuse are covered).

The matrix covers PUCT and Gumbel, proofs on / off, decisive moves on / off, seeded
Dirichlet noise, temperature sampling, Gumbel noise, subtree reuse (whole and capped),
``run(active=...)`` on complementary halves and explicit ``move_numbers``, on
tic-tac-toe, Connect Four, Countdown (single player), a maze and a 4x4 Sudoku.

Regenerate (only when a change of behaviour is intended) with

    .venv/bin/python -m tests.search.make_expected_trees

which rewrites ``tests/search/data/expected_trees.json``; `test_expected_trees` recomputes
every case and compares.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np

from actors.search import BatchedSearch, SearchConfig, oracle_network, uniform_network
from actors.search.tree import N_VALUE_SUM, N_VISITS, VALUE_SUM, VISITS
from actors.tasks.base import Task

FIXTURE = Path(__file__).parent / "data" / "expected_trees.json"
GREEDY = {"dirichlet_fraction": 0.0, "temperature_init": 0.0, "temperature_final": 0.0}
RESULT_FIELDS = (
    "actions",
    "policy",
    "root_value",
    "visit_counts",
    "reused_visits",
    "simulations",
    "proven",
    "searched",
    "max_depth",
    "tree_size",
)


@dataclass(frozen=True)
class Case:
    name: str
    kind: str  # a key of TASKS
    network: str  # "uniform", "oracle" or "hashed"
    config: dict[str, Any]
    batch_size: int = 4
    moves: int = 5
    difficulty: float = 0.5
    halves: bool = False  # search each move as two run(active=...) calls on complementary slots
    move_numbers: bool = False  # pass explicit move numbers (shifted by one) to run


CASES = (
    # Tic-tac-toe, PUCT: the four combinations of proofs and decisive moves, noise and temperature on.
    Case("ttt-puct-default", "tictactoe", "hashed", {"num_simulations": 24, "temperature_moves": 3}),
    Case("ttt-puct-plain", "tictactoe", "hashed", {"num_simulations": 24, "proofs": False, "decisive_moves": False}),
    Case(
        "ttt-puct-proofs-oracle",
        "tictactoe",
        "oracle",
        {"num_simulations": 32, "decisive_moves": False, **GREEDY},
    ),
    Case(
        "ttt-puct-decisive-cbase-fixedfpu",
        "tictactoe",
        "hashed",
        {
            "num_simulations": 20,
            "proofs": False,
            "c_base": 19652.0,
            "fpu": "fixed",
            "fpu_value": 0.3,
            "temperature_init": 0.5,
            "temperature_final": 0.25,
            "temperature_moves": 2,
        },
    ),
    Case(
        "ttt-puct-fresh-halves",
        "tictactoe",
        "hashed",
        {"num_simulations": 16, "reuse_tree": False, "dirichlet_alpha": 1.0},
        halves=True,
        move_numbers=True,
    ),
    Case("ttt-puct-capped-reuse", "tictactoe", "uniform", {"num_simulations": 40, "reuse_max_nodes": 6}),
    # Tic-tac-toe, Gumbel: the same four combinations, with noise, without, and a small top-k.
    Case("ttt-gumbel-default", "tictactoe", "hashed", {"algorithm": "gumbel", "num_simulations": 16}),
    Case(
        "ttt-gumbel-plain",
        "tictactoe",
        "hashed",
        {"algorithm": "gumbel", "num_simulations": 16, "proofs": False, "decisive_moves": False},
    ),
    Case(
        "ttt-gumbel-proofs-oracle-k4",
        "tictactoe",
        "oracle",
        {"algorithm": "gumbel", "num_simulations": 12, "decisive_moves": False, "max_num_considered_actions": 4},
    ),
    Case(
        "ttt-gumbel-decisive-noiseless-halves",
        "tictactoe",
        "hashed",
        {"algorithm": "gumbel", "num_simulations": 10, "proofs": False, "gumbel_scale": 0.0, "gumbel_c_visit": 5.0},
        halves=True,
    ),
    # Connect Four.
    Case("c4-puct-default", "connect4", "hashed", {"num_simulations": 32}, batch_size=3, moves=4),
    Case("c4-gumbel-default", "connect4", "hashed", {"algorithm": "gumbel", "num_simulations": 16}, batch_size=3),
    Case(
        "c4-puct-plain",
        "connect4",
        "uniform",
        {"num_simulations": 24, "proofs": False, "decisive_moves": False},
        batch_size=2,
        moves=3,
    ),
    # Countdown (single player): episodes end within three moves, finished slots are reset.
    Case("countdown-puct-default", "countdown", "hashed", {"num_simulations": 32}, moves=6, difficulty=0.05),
    Case(
        "countdown-puct-plain",
        "countdown",
        "uniform",
        {"num_simulations": 24, "proofs": False, "decisive_moves": False},
        moves=6,
        difficulty=0.05,
    ),
    Case(
        "countdown-gumbel-default",
        "countdown",
        "hashed",
        {"algorithm": "gumbel", "num_simulations": 32},
        moves=6,
        difficulty=0.05,
    ),
    Case(
        "countdown-gumbel-proofs-noiseless",
        "countdown",
        "uniform",
        {"algorithm": "gumbel", "num_simulations": 24, "decisive_moves": False, "gumbel_scale": 0.0},
        moves=6,
        difficulty=0.05,
    ),
    # A maze and a 4x4 Sudoku (single player).
    Case("maze-puct-default", "maze", "hashed", {"num_simulations": 24}, batch_size=3, moves=6),
    Case(
        "maze-gumbel-plain",
        "maze",
        "uniform",
        {"algorithm": "gumbel", "num_simulations": 16, "proofs": False, "decisive_moves": False},
        batch_size=3,
        moves=6,
    ),
    Case("sudoku-puct-default", "sudoku", "hashed", {"num_simulations": 24}, batch_size=3, moves=5),
    Case(
        "sudoku-gumbel-default",
        "sudoku",
        "hashed",
        {"algorithm": "gumbel", "num_simulations": 16},
        batch_size=3,
        moves=5,
    ),
)


@cache
def make_task(kind: str) -> Task:
    from actors.tasks.connect4 import ConnectFour
    from actors.tasks.countdown import Countdown
    from actors.tasks.maze import Maze
    from actors.tasks.sudoku import Sudoku
    from actors.tasks.tictactoe import TicTacToe

    factories: dict[str, Callable[[], Task]] = {
        "tictactoe": TicTacToe,
        "connect4": ConnectFour,
        "countdown": lambda: Countdown(max_numbers=4),
        "maze": lambda: Maze(5),
        "sudoku": lambda: Sudoku(4),
    }
    return factories[kind]()


def hashed_network(task: Task, seed: int = 0) -> Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """A fixed random numpy net: embeddings + positions, tanh, mean pool, linear heads (A' = A + 3).

    Each output row depends on its own tokens only, computed by elementwise products and
    reductions (no BLAS, whose blocking can depend on the batch size), so results are
    exact functions of the rows. Values are in [-1, 1] for two players, (0, 1) for one.
    """
    spec = task.spec
    rng = np.random.default_rng([seed, spec.num_actions, spec.obs_length])
    width = 8
    embed = rng.normal(size=(spec.vocab_size, width))
    position = 0.5 * rng.normal(size=(spec.obs_length, width))
    policy = 1.5 * rng.normal(size=(width, spec.num_actions + 3))
    value = rng.normal(size=width)
    two_player = spec.num_players == 2

    def network(tokens: np.ndarray, task_ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        h = np.tanh(embed[tokens] + position).mean(axis=1)  # [k, width]
        logits = (h[:, :, None] * policy[None]).sum(axis=1)
        v = (h * value).sum(axis=1)
        v = np.tanh(v) if two_player else 1.0 / (1.0 + np.exp(-v))
        return logits.astype(np.float32), v.astype(np.float32)

    return network


def make_network(case: Case, task: Task):
    if case.network == "uniform":
        return uniform_network(task.spec.num_actions)
    if case.network == "oracle":
        return oracle_network(task)
    return hashed_network(task)


def _floats(array: np.ndarray) -> list:
    """float32 values as JSON numbers (9 significant digits round-trip a float32)."""
    return np.vectorize(lambda x: float(f"{x:.9g}"), otypes=[float])(np.asarray(array, dtype=np.float64)).tolist()


def tree_digest(search: BatchedSearch) -> dict[str, Any]:
    """Per tree: a hash of its in-use integer arrays (exact) and its value sums (floats)."""
    tree, hashes, node_sums, edge_sums = search.tree, [], [], []
    for b in range(search.batch_size):
        n = int(tree.num_nodes[b])
        digest = hashlib.sha256()
        for array in (
            tree.states[b, :n],
            tree.children_index[b, :n],
            tree.parent[b, :n],
            tree.action[b, :n],
            tree.depth[b, :n],
            tree.to_play[b, :n],
            tree.terminal[b, :n],
            np.rint(tree.nodes[b, :n, N_VISITS]).astype(np.int64),
            np.rint(tree.children[b, :n, VISITS]).astype(np.int64),
            np.where(np.isnan(tree.solved[b, :n]), 9, np.rint(1000 * tree.solved[b, :n])).astype(np.int64),
        ):
            digest.update(np.ascontiguousarray(array).tobytes())
        hashes.append(digest.hexdigest()[:16])
        node_sums.append(float(np.abs(tree.nodes[b, :n, N_VALUE_SUM]).sum()))
        edge_sums.append(float(np.abs(tree.children[b, :n, VALUE_SUM]).sum()))
    return {"hash": hashes, "node_value_sum": _floats(node_sums), "edge_value_sum": _floats(edge_sums)}


def _record(result) -> dict[str, Any]:
    out = {}
    for name in RESULT_FIELDS:
        value = getattr(result, name)
        out[name] = _floats(value) if value.dtype.kind == "f" else value.tolist()
    return out


def run_case(case: Case) -> dict[str, Any]:
    """Play the case and return everything it recorded (JSON-ready)."""
    task = make_task(case.kind)
    config = SearchConfig(**case.config)
    search = BatchedSearch(task, make_network(case, task), config, batch_size=case.batch_size, task_id=0)
    b = case.batch_size
    search.reset(np.array([task.generate(seed, case.difficulty) for seed in range(b)]), 1000 + np.arange(b))
    next_seed = b
    steps = []
    for _ in range(case.moves):
        was_live = ~search.done
        moves = search.move_numbers + 1 if case.move_numbers else None
        if case.halves:
            first = np.arange(b) % 2 == 0
            results = [search.run(moves, active=first), search.run(moves, active=~first)]
        else:
            results = [search.run(moves)]
        after_run = tree_digest(search)
        actions = np.where(results[0].searched, results[0].actions, results[-1].actions)
        search.advance(actions)
        step = {
            "results": [_record(r) for r in results],
            "tree_after_run": after_run,
            "tree_after_advance": tree_digest(search),
            "root_states": search.root_states.tolist(),
        }
        finished = np.flatnonzero(search.done & was_live)
        if len(finished):
            fresh = np.array([task.generate(next_seed + i, case.difficulty) for i in range(len(finished))])
            search.reset_slots(finished, fresh, 1000 + next_seed + np.arange(len(finished)))
            next_seed += len(finished)
            step["reset"] = finished.tolist()
        steps.append(step)
    return {"steps": steps, "network_calls": search.network_calls, "network_rows": search.network_rows}


def generate() -> dict[str, Any]:
    return {case.name: run_case(case) for case in CASES}


def main() -> None:
    FIXTURE.parent.mkdir(parents=True, exist_ok=True)
    FIXTURE.write_text(json.dumps(generate(), separators=(",", ":"), sort_keys=True) + "\n")
    digest = hashlib.sha256(FIXTURE.read_bytes()).hexdigest()
    print(f"wrote {FIXTURE} ({FIXTURE.stat().st_size} bytes), sha256 {digest}")


if __name__ == "__main__":
    main()
