"""`selfplay bench selfplay` on the session Ray: a row per kind with its ceiling, and the workers rows
(report structure and arithmetic only; no timing beyond positivity)."""

from __future__ import annotations

import json
from io import StringIO
from unittest import mock

import pytest

from cluster.bench_selfplay import batch_cycle, chunk_count, format_selfplay_bench, parse_workers, summarise
from cluster.cli import main
from cluster.errors import UsageError

SMALL = ["--set", "selfplay.episodes_per_worker=8", "--seconds", "1"]
RATES = ("positions_per_s", "episodes_per_s", "moves_per_s", "simulations_per_s")


def run_json(args: list[str]) -> dict:
    with mock.patch("sys.stdout", new=StringIO()) as out:
        assert main(["bench", "selfplay", "--json", *args]) == 0
    return json.loads(out.getvalue())


@pytest.fixture(scope="module")
def report(local_ray) -> dict:
    return run_json([*SMALL, "--workers", "1,2"])


def test_every_kind_of_the_mix_has_a_row_with_positive_rates_and_its_ceiling(report):
    # configs/local.yaml's mix
    assert [kind["task"] for kind in report["kinds"]] == ["tictactoe", "sudoku", "countdown", "dsl"]
    assert report["episodes_per_worker"] == 8 and report["seconds"] == 1.0 and "already running" in report["ray"]
    for kind in report["kinds"]:
        assert all(kind[rate] > 0 for rate in RATES), kind
        assert kind["network_calls"] > 0 and kind["rows_per_call"] >= 1
        assert 0 < kind["network_share"] <= 1 and kind["reference_rows_per_s"] > 0
        assert 0 < kind["network_bound_share"] < float("inf"), kind  # a ratio of two timings: no tighter bound
        # The share is positions/s over the ceiling, i.e. the worker's network rows/s over the reference's.
        assert kind["network_bound_share"] == pytest.approx(kind["positions_per_s"] / kind["ceiling_positions_per_s"])
        assert kind["rows_per_position"] == pytest.approx(kind["network_rows"] / kind["positions"], rel=1e-3)
        # The reference ran at each play call's mean batch (pooled over the calls, so only roughly the same).
        assert kind["reference_rows_per_call"] == pytest.approx(kind["rows_per_call"], rel=0.5)
    tictactoe = report["kinds"][0]
    assert tictactoe["algorithm"] == "puct" and tictactoe["num_simulations"] == 64  # the entry's own search
    assert report["kinds"][2]["algorithm"] == "gumbel"


def test_the_workers_rows_sum_the_workers_and_give_the_scaling_efficiency(report):
    for kind in report["kinds"]:
        one, two = kind["workers"]
        assert (one["workers"], two["workers"]) == (1, 2)
        assert one["scaling_efficiency"] == 1.0 and two["scaling_efficiency"] > 0
        assert two["scaling_efficiency"] == pytest.approx(two["moves_per_s"] / (2 * one["moves_per_s"]))
        assert all(two[rate] > 0 for rate in RATES)
        assert one["positions_per_s"] == kind["positions_per_s"]  # the kind's figures are the one worker's


def test_the_text_report_has_a_table_per_kind(report):
    text = format_selfplay_bench(report)
    for name in ("tictactoe", "sudoku", "countdown", "dsl"):
        assert f"\n{name} (task id" in text
    assert text.count("  one worker: ") == 4 and "ceiling pos/s" in text


def test_kind_restricts_the_report_to_that_kind(local_ray):
    result = run_json(
        ["--kind", "sudoku", "--workers", "1", "--seconds", "1", "--set", "selfplay.episodes_per_worker=4"]
    )
    assert [kind["task"] for kind in result["kinds"]] == ["sudoku"]
    assert [row["workers"] for row in result["kinds"][0]["workers"]] == [1]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--kind", "chess"], "--kind: expected a kind of"),
        (["--workers", "0"], "--workers: expected positive integers"),
        (["--workers", "1,x"], "--workers: expected positive integers"),
        (["--seconds", "0"], "--seconds: expected a positive number"),
    ],
)
def test_a_bad_argument_is_a_one_line_error(args, message, capsys):
    try:
        code = main(["bench", "selfplay", *args])
    except SystemExit as exit_:  # argparse's own checks
        code = exit_.code
    err = capsys.readouterr().err
    assert code == 2 and message in err and err.count("\n") == 1, err


def test_worker_counts_always_include_one_and_are_sorted():
    assert parse_workers("4, 2") == (1, 2, 4) and parse_workers("1") == (1,)
    with pytest.raises(UsageError):
        parse_workers("")


@pytest.mark.parametrize("mean", [1.0, 3.4, 15.5, 63.99])
def test_the_reference_batch_cycle_has_the_workers_mean_from_its_two_neighbouring_sizes(mean):
    sizes = batch_cycle(mean)
    assert set(sizes) <= {int(mean), int(mean) + 1}
    assert sum(sizes) / len(sizes) == pytest.approx(mean, abs=1 / len(sizes))


def test_chunks_are_about_a_second_and_at_least_four():
    assert chunk_count(2) == 4 and chunk_count(10) == 10 and chunk_count(10.5) == 11


def test_summarise_sums_rates_over_workers_and_pools_the_ratios():
    def worker(positions: int, rows: float) -> dict:
        counts = {"positions": positions, "episodes": 2, "moves": positions, "simulations": 100.0}
        return {"seconds": 2.0, **counts, "network_calls": 10, "network_rows": rows, "network_seconds": 1.0}

    row = summarise([worker(40, 200.0), worker(20, 100.0)], [{"rows": 300, "calls": 30, "seconds": 1.0}] * 2)
    assert row["positions_per_s"] == 30 and row["moves_per_s"] == 30 and row["network_share"] == 0.5
    assert row["rows_per_call"] == 15 and row["rows_per_position"] == 5 and row["reference_rows_per_s"] == 600
    assert row["ceiling_positions_per_s"] == 120 and row["network_bound_share"] == 0.25 == 30 / 120
