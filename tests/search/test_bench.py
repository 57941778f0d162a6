"""`bench_search` runs end to end and reports what the CLI prints (no timing assertions)."""

from __future__ import annotations

import json

from actors.search import SearchConfig, uniform_network
from actors.tasks.tictactoe import TicTacToe
from cluster.bench import bench_search, format_search_bench


def test_bench_search_reports_each_batch_size():
    task = TicTacToe()
    result = bench_search(
        lambda: uniform_network(9),
        task,
        batch_sizes=(1, 4),
        num_simulations=4,
        moves=2,
        config=SearchConfig(algorithm="gumbel"),
        network_name="uniform",
    )
    json.dumps(result)  # JSON-ready
    assert result["algorithm"] == "gumbel" and result["num_simulations"] == 4
    assert [row["batch_size"] for row in result["results"]] == [1, 4]
    for row in result["results"]:
        assert row["search_sims_per_s"] > 0 and row["network_sims_per_s"] > 0
        assert row["ratio"] == row["search_sims_per_s"] / row["network_sims_per_s"]
        assert 0 <= row["network_share_of_search"] <= 1
        # At most one leaf per tree per network call, and at least one row; Gumbel re-roots
        # to a lone node after every move (no subtree reuse).
        assert 1 <= row["mean_leaf_batch"] <= row["batch_size"]
        assert row["mean_tree_size"] == 1.0
    text = format_search_bench(result)
    assert "tictactoe" in text and "uniform" in text and len(text.splitlines()) == 5
