"""`selfplay bench scale` on the session Ray: the report's structure and internal consistency (no clock limits)."""

from __future__ import annotations

import json

import pytest

from cluster.bench_scale import TARGET_WORKERS, format_scale_bench
from cluster.cli import main

FAST = [
    "bench",
    "scale",
    "--json",
    "--seconds",
    "1",
    "--producers",
    "1",
    "--echo-workers",
    "2",
    "--pending",
    "2,8",
    "--set",
    "replay.capacity=2000",
    "--set",
    "replay.min_positions_to_sample=100",
    "--set",
    "selfplay.episodes_per_worker=8",
]


@pytest.fixture(scope="module")
def report(local_ray):
    from io import StringIO
    from unittest import mock

    with mock.patch("sys.stdout", new=StringIO()) as out:
        assert main(FAST) == 0
    return json.loads(out.getvalue())


def test_the_report_has_every_measurement(report):
    assert {"config", "seconds", "cores", "ray", "worker", "buffer", "driver", "capacity"} <= report.keys()
    assert report["seconds"] == 1.0 and "already running" in report["ray"]  # the session's Ray, left running
    assert {"batches", "stats"}.isdisjoint(report["worker"])  # the internals stay out of the report
    assert [row["pending"] for row in report["driver"]["rows"]] == [2, 8]
    assert report["driver"]["echo_workers"] == 2 and report["buffer"]["producers"] == 1


def test_every_inserted_position_was_acknowledged_and_counted_by_the_buffer(report):
    buffer = report["buffer"]
    assert buffer["all_acknowledged_and_stored"] is True
    assert buffer["acknowledged_positions"] == buffer["inserted_total"] >= buffer["capacity"] == 2000  # filled first
    assert buffer["size_after"] == buffer["capacity"]
    for name in ("insert", "mixed"):
        assert buffer[name]["unanswered"] == 0 and buffer[name]["durable"] is True
        assert buffer[name]["insert_positions"] > 0 and buffer[name]["insert_calls"] > 0
    for name in ("sample", "mixed"):  # sample calls of learner.batch_size
        assert buffer[name]["sample_positions"] == buffer[name]["sample_calls"] * buffer["sample_batch_size"] > 0


def usage_is_consistent(row: dict, count: int, rate: float, own_core: float) -> None:
    assert rate == pytest.approx(count / row["wall_s"])
    assert own_core == pytest.approx(count / row["serving_s"])
    if row["cpu_s"] is not None:  # serving = max(wall - run-queue wait, CPU time)
        assert row["serving_s"] == pytest.approx(max(row["wall_s"] - row["run_queue_wait_s"], row["cpu_s"]))
        assert row["cpu_share"] == pytest.approx(row["cpu_s"] / row["wall_s"])


def test_rates_are_the_counts_over_the_times_reported(report):
    buffer, driver = report["buffer"], report["driver"]
    for name, kinds in (("insert", ["insert"]), ("sample", ["sample"]), ("mixed", ["insert", "sample"])):
        phase = buffer[name]
        for kind in kinds:
            usage_is_consistent(
                phase, phase[f"{kind}_positions"], phase[f"{kind}_per_s"], phase[f"{kind}_per_s_own_core"]
            )
    for row in driver["rows"]:
        usage_is_consistent(row, row["calls"], row["calls_per_s"], row["calls_per_s_own_core"])
        assert row["seconds_per_call_own_core"] == pytest.approx(1 / row["calls_per_s_own_core"])
    assert driver["calls_per_s_own_core"] == min(row["calls_per_s_own_core"] for row in driver["rows"])


def test_capacity_is_throughput_over_one_workers_rate(report):
    worker, buffer, capacity = report["worker"], report["buffer"], report["capacity"]
    assert worker["positions_per_s"] > 0 and worker["episodes"] > 0
    assert worker["driver_calls_per_s"] == pytest.approx(1 / worker["play_seconds"])
    assert worker["positions_per_play_call"] == max(1, round(worker["positions_per_s"] * worker["play_seconds"]))
    assert capacity["buffer_insert_per_s"] == buffer["insert"]["insert_per_s_own_core"]
    assert capacity["buffer_workers"] == pytest.approx(capacity["buffer_insert_per_s"] / worker["positions_per_s"])
    assert capacity["driver_workers"] == pytest.approx(
        report["driver"]["calls_per_s_own_core"] * worker["play_seconds"]
    )
    assert capacity["largest_pool"] == min(capacity["buffer_workers"], capacity["driver_workers"])
    assert capacity["limit"] == ("buffer" if capacity["buffer_workers"] <= capacity["driver_workers"] else "driver")
    assert capacity["meets_target"] == (capacity["largest_pool"] >= TARGET_WORKERS)
    per_shard = capacity["buffer_workers"] / capacity["buffer_shards"]
    assert (capacity["buffer_shards_for_target"] - 1) * per_shard < TARGET_WORKERS or capacity["meets_target"]
    assert capacity["buffer_workers_at_replay_ratio"] < capacity["buffer_workers"]  # sampling costs the buffer too


def test_shards_multiply_what_the_buffer_feeds_and_the_report_says_how_many_reach_the_target(report):
    from cluster.bench_scale import capacity
    from cluster.config import load_config

    one, two = (
        capacity(
            report["worker"],
            report["buffer"],
            report["driver"],
            load_config(None, [f"replay.shards={n}", "selfplay.num_workers=2"]),
        )
        for n in (1, 2)
    )
    assert two["buffer_insert_per_s"] == pytest.approx(2 * one["buffer_insert_per_s"])
    assert two["buffer_workers"] == pytest.approx(2 * one["buffer_workers"])
    assert two["largest_pool"] == min(two["buffer_workers"], two["driver_workers"])
    assert one["buffer_shards_for_target"] * one["buffer_workers"] >= min(TARGET_WORKERS, one["driver_workers"])


def test_the_table_prints_the_figures_of_the_report(report):
    text = format_scale_bench(report)
    capacity = report["capacity"]
    assert f"= {capacity['buffer_workers']:,.0f} workers" in text
    assert f"= {capacity['driver_workers']:,.0f} workers" in text
    assert f"largest pool: {capacity['largest_pool']:,.0f} workers, limited by the {capacity['limit']}" in text
    assert "every one acknowledged, durable and counted" in text


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--pending", ","], "--pending"),
        (["--seconds", "0"], "--seconds: expected a positive number"),
        (["--echo-workers", "-1"], "--echo-workers: expected a positive integer"),
    ],
)
def test_a_bad_argument_is_one_line_and_exit_code_2(capsys, argv, message):
    try:
        code = main(["bench", "scale", *argv])
    except SystemExit as stop:  # argparse's own checks exit from the parser
        code = stop.code
    assert code == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1
