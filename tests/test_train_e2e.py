"""The whole loop through the `selfplay` command, each run on its own embedded Ray, as a user runs it.

A short run must: fill the buffer from self-play, train, gate a candidate, and
hand the promoted weights to the self-play workers; a resumed run continues
with the same counters, buffer and weights; Ctrl-C checkpoints and exits 0.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from tests.clusters import FAST, REPO, overrides
from tests.conftest import ray_test_env, write_token


def selfplay(args: list[str], tmp_path: Path, timeout: float = 400) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    env.update(ray_test_env(write_token(tmp_path)))
    return subprocess.run(
        [sys.executable, "-m", "cluster", *args], capture_output=True, text=True, cwd=REPO, env=env, timeout=timeout
    )


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


@pytest.fixture(scope="module")
def first_run(tmp_path_factory) -> tuple[Path, subprocess.CompletedProcess]:
    tmp = tmp_path_factory.mktemp("train")
    run_dir = tmp / "run"
    argv = ["train", "--config", "configs/local.yaml", "--run-dir", str(run_dir), "--max-iterations", "2"]
    result = selfplay([*argv, "--max-minutes", "20", *overrides(FAST)], tmp)
    assert result.returncode == 0, result.stderr[-3000:]
    return run_dir, result


def test_short_run_goes_through_the_whole_loop(first_run):
    run_dir, result = first_run
    # The end of the run is a short summary: why it stopped, where it got, the last gate, what to run next.
    assert "stopped: --max-iterations 2 reached" in result.stdout
    assert "version 2 after 2 gate(s)" in result.stdout  # gating "always": both candidates promoted
    assert "last gate (accepted" in result.stdout and f"selfplay train --resume {run_dir}" in result.stdout
    assert len(result.stdout.splitlines()) < 15 and '"history"' not in result.stdout
    summary = json.loads((run_dir / "state.json").read_text())["counters"]
    assert summary["episodes"] > 0 and summary["positions"] > 0 and summary["learner_step"] >= 120

    metrics = read_jsonl(run_dir / "metrics.jsonl")
    plays = [m for m in metrics if m["event"] == "selfplay"]
    trains = [m for m in metrics if m["event"] == "train"]
    assert plays and trains
    assert any(m["weights_version"] >= 1 for m in plays), "self-play switched to a promoted version"

    gates = [e for e in read_jsonl(run_dir / "evaluations.jsonl") if e["kind"] == "gate"]
    assert [g["accepted"] for g in gates] == [True, True]
    assert (run_dir / "weights" / "v000002.safetensors").is_file()
    assert list((run_dir / "replay").glob("*.npz")), "acknowledged trajectories are on disk"
    state = json.loads((run_dir / "state.json").read_text())
    assert state["counters"]["version"] == 2 and state["counters"]["episodes"] == summary["episodes"]


def _documented_values(records: list[dict], name: str) -> list:
    """The values of a documented field (`cluster.monitor.FIELDS`) across interval records; <label>/<name>
    stand for any key, "a / b" for each of a and b."""
    path = name.split(".")
    values = []
    for record in records:
        level = [record]
        for part in path:
            keys = [key.strip() for key in part.split("/")]
            if part.startswith("<"):
                level = [v for item in level for v in item.values()]
            else:
                level = [item[key] for item in level for key in keys if key in item]
        values += level
    return [v for v in values if v is not None]


def test_every_documented_interval_field_is_written(first_run):
    """metrics.jsonl: one interval record per progress tick, and every documented field has a value in them."""
    from cluster.monitor import FIELDS

    run_dir, result = first_run
    intervals = [m for m in read_jsonl(run_dir / "metrics.jsonl") if m["event"] == "interval"]
    assert len(intervals) >= 3
    optional = ("levels.", "models.")  # only with a curriculum / several models
    for name, _, _ in FIELDS:
        if not name.startswith(optional):
            assert _documented_values(intervals, name), f"{name} never has a value"
    assert set(intervals[-1]["actors"]) == {"selfplay0", "learner", "replay", "evaluator"}
    assert all(a["rss_bytes"] > 50 * 2**20 for a in intervals[-1]["actors"].values())
    assert intervals[-1]["gate"]["reasoning/sudoku"]["solve_rate"] >= 0.0
    # Without a terminal the progress is plain lines, one per interval, with the same figures.
    lines = [line for line in result.stderr.splitlines() if line.startswith("[") and " pos/s" in line]
    assert len(lines) >= len(intervals) - 1 and "\x1b[" not in result.stderr


def test_tensorboard_holds_the_documented_tags(first_run):
    """tb/: the interval scalars, the gates and the original design's names, read with TensorBoard's own reader."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    run_dir, _ = first_run
    events = EventAccumulator(str(run_dir / "tb"))
    events.Reload()
    scalars = set(events.Tags()["scalars"])
    original = ["self_play/success_rate", "self_play/eval_success_rate", "self_play/num_episodes"]
    for tag in [*original, "self_play/best_model", "eval/hrm_accuracy", "run/positions_per_s", "run/loss_total"]:
        assert tag in scalars, f"{tag} not in {sorted(scalars)}"
    assert "gate/reasoning/sudoku/solve_rate" in scalars and "actors/learner/rss_mib" in scalars
    assert [e.value for e in events.Scalars("self_play/best_model")] == [1.0, 2.0]
    assert events.Scalars("self_play/num_episodes")[-1].value > 0
    assert "config/text_summary" in events.Tags()["tensors"]


def test_report_shows_the_curves_of_the_run(first_run, tmp_path):
    """`selfplay report`: a strength row per gate, and the memory of every actor (RSS reported by each)."""
    run_dir, _ = first_run
    result = selfplay(["report", "--run-dir", str(run_dir), "--json"], tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout)
    assert [row["version"] for row in report["strength"]] == [1, 2]
    for row in report["strength"]:
        assert set(row["tasks"]) == {"search/tictactoe", "reasoning/sudoku"}
        assert set(row["tasks"]["search/tictactoe"]) == {"minimax", "random"}
        assert 0.0 <= row["tasks"]["reasoning/sudoku"] <= 1.0
    assert report["strength"][-1]["learner_step"] >= 120
    actors = {actor for row in report["memory"] for actor in row["rss_bytes"]}
    assert actors == {"selfplay0", "learner", "replay", "evaluator"}
    assert all(rss > 50 * 2**20 for row in report["memory"] for rss in row["rss_bytes"].values())
    text = selfplay(["report", "--run-dir", str(run_dir)], tmp_path)
    assert text.returncode == 0 and "strength" in text.stdout and "memory" in text.stdout

    # --out: a PNG per plot, drawn from this run's logs, and report.md that shows each of them.
    out = tmp_path / "report"
    plotted = selfplay(["report", str(run_dir), "--out", str(out)], tmp_path)
    assert plotted.returncode == 0, plotted.stderr[-3000:]
    names = {"strength.png", "difficulty.png", "throughput.png", "buffer.png", "losses.png", "resources.png"}
    assert {p.name for p in out.glob("*.png")} == names
    for name in names:
        assert (out / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and (out / name).stat().st_size > 15_000, name
        assert f"![{name}]({name})" in (out / "report.md").read_text()


def test_resume_continues_counters_buffer_and_weights(first_run, tmp_path):
    from safetensors.numpy import load_file

    from actors.replay import ReplayBuffer, ReplayConfig

    run_dir, _ = first_run
    before = json.loads((run_dir / "state.json").read_text())["counters"]
    assert before["resumes"] == 0
    replay = ReplayBuffer(ReplayConfig(capacity=10**6, min_positions_to_sample=1), run_dir=str(run_dir))
    stored_before = {task_id: replay.positions(task_id)["tokens"].copy() for task_id in replay.sizes()}
    replay.close()
    plays_before = len([m for m in read_jsonl(run_dir / "metrics.jsonl") if m["event"] == "selfplay"])

    result = selfplay(["train", "--resume", str(run_dir), "--max-iterations", "3", "--json"], tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    assert f"resumed {run_dir} at version 2, learner step {before['learner_step']}" in result.stderr
    after = json.loads(result.stdout)  # --json: the counters
    assert after["iteration"] == 3 and after["episodes"] > before["episodes"]
    assert json.loads((run_dir / "state.json").read_text())["counters"]["resumes"] == 1

    replay = ReplayBuffer(ReplayConfig(capacity=10**6, min_positions_to_sample=1), run_dir=str(run_dir))
    for task_id, tokens in stored_before.items():
        now = replay.positions(task_id)["tokens"]
        assert np.array_equal(now[: len(tokens)], tokens), "the resumed buffer kept every earlier position"
    replay.close()

    resumed_plays = [m for m in read_jsonl(run_dir / "metrics.jsonl") if m["event"] == "selfplay"][plays_before:]
    assert resumed_plays and all(m["resumes"] == 1 for m in resumed_plays), "workers seed from the resume count"
    assert resumed_plays[0]["weights_version"] == 2, "the workers start the resumed run with the best weights"
    # The resumed learner went on from its checkpoint: its candidate comes from later steps and differs.
    gate = [e for e in read_jsonl(run_dir / "evaluations.jsonl") if e["kind"] == "gate"][-1]
    assert gate["iteration"] == 3 and gate["learner_step"] > before["learner_step"]
    v2 = load_file(str(run_dir / "weights" / "v000002.safetensors"))
    v3 = load_file(str(run_dir / "weights" / "v000003.safetensors"))
    assert v2.keys() == v3.keys() and any(not np.array_equal(v2[name], v3[name]) for name in v2)


def test_a_rejected_candidate_is_never_handed_to_the_workers(tmp_path):
    """Gating on: with 4 held-out puzzles the sign test can never reach p <= 0.05 (at best 1/16), so every
    candidate is rejected; the run keeps version 0, writes no v1 weights and its workers stay on version 0."""
    run_dir = tmp_path / "run"
    rejecting = [
        *[value for value in FAST if not value.startswith(("tasks.mix", "evaluation.gating"))],
        "tasks.mix=[{kind: sudoku, params: {size: 4}}]",
        "evaluation.gating=threshold",
    ]
    argv = ["train", "--config", "configs/local.yaml", "--run-dir", str(run_dir), "--max-iterations", "2"]
    result = selfplay([*argv, "--json", *overrides(rejecting)], tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    summary = json.loads(result.stdout)
    assert summary["iteration"] == 2 and summary["version"] == 0
    gate_lines = [line for line in result.stderr.splitlines() if line.startswith("gate ")]
    assert len(gate_lines) == 2 and all(" rejected (" in line for line in gate_lines), gate_lines

    gates = [e for e in read_jsonl(run_dir / "evaluations.jsonl") if e["kind"] == "gate"]
    assert [g["accepted"] for g in gates] == [False, False]
    assert all(g["version"] == 0 for g in gates)
    assert sorted(p.name for p in (run_dir / "weights").glob("*.safetensors")) == ["v000000.safetensors"]
    plays = [m for m in read_jsonl(run_dir / "metrics.jsonl") if m["event"] == "selfplay"]
    assert plays and all(m["weights_version"] == 0 for m in plays)
    assert json.loads((run_dir / "state.json").read_text())["counters"]["version"] == 0


def test_ctrl_c_checkpoints_and_exits_cleanly(tmp_path):
    run_dir = tmp_path / "run"
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    env.update(ray_test_env(write_token(tmp_path)))
    argv = [sys.executable, "-m", "cluster", "train", "--config", "configs/local.yaml", "--run-dir", str(run_dir)]
    argv += ["--json"]
    process = subprocess.Popen(
        [*argv, *overrides(FAST)], cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    deadline = time.monotonic() + 240
    metrics = run_dir / "metrics.jsonl"
    while time.monotonic() < deadline and not (metrics.exists() and '"selfplay"' in metrics.read_text()):
        time.sleep(1.0)
    # A second train on the directory this live run holds is refused in one line, before anything starts.
    second = selfplay(["train", "--resume", str(run_dir)], tmp_path, timeout=60)
    assert second.returncode == 2
    holder = f"process {process.pid} on {socket.gethostname()}"
    assert second.stderr.strip() == f"selfplay: {run_dir}: in use by a running selfplay train ({holder})"
    # `selfplay status` from another process sees the live run (after its first progress interval).
    status_file = run_dir / "status.json"
    while time.monotonic() < deadline and not (status_file.exists() and '"selfplay0"' in status_file.read_text()):
        time.sleep(1.0)
    live = selfplay(["status", str(run_dir)], tmp_path, timeout=60)
    assert live.returncode == 0, live.stderr[-2000:]
    assert f"{run_dir.resolve()}: running" in live.stdout, live.stdout
    assert re.search(r"^  learner +ok ", live.stdout, re.M) and re.search(r"^  selfplay0 +ok ", live.stdout, re.M)
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=240)
    assert process.returncode == 0, err[-3000:]
    assert "interrupted" in err
    summary = json.loads(out)
    state = json.loads((run_dir / "state.json").read_text())["counters"]
    assert state["episodes"] == summary["episodes"] > 0
    finished = selfplay(["status", str(run_dir)], tmp_path, timeout=60)
    assert finished.returncode == 0 and f"{run_dir.resolve()}: finished (interrupted" in finished.stdout
    assert f"version {state['version']}," in finished.stdout and "selfplay0" in finished.stdout


def test_status_names_a_missing_run_in_one_line(tmp_path):
    result = selfplay(["status", str(tmp_path / "nowhere")], tmp_path, timeout=60)
    assert result.returncode == 2
    assert result.stderr.strip().startswith(f"selfplay: {tmp_path / 'nowhere'}/status.json: no such file")


def test_bad_config_value_exits_2_with_one_line(tmp_path):
    result = selfplay(["train", "--config", "configs/local.yaml", "--set", "search.num_simulations=-3"], tmp_path)
    assert result.returncode == 2
    expected = "search.num_simulations: expected a positive integer, got -3"
    assert result.stderr.strip() == f"selfplay: configs/local.yaml: {expected}"


def damage_newest_learner_checkpoint(learner_dir: Path, manifest: str = "learner.json") -> Path:
    """Cut the model file that ``manifest`` names to half its length, as a crash mid-copy would."""
    model = learner_dir / json.loads((learner_dir / manifest).read_text())["files"]["model"]
    data = model.read_bytes()
    model.write_bytes(data[: len(data) // 2])
    return model


def test_a_damaged_learner_checkpoint_resumes_from_the_previous_one_saying_so(first_run, tmp_path):
    run_dir = tmp_path / "run"
    shutil.copytree(first_run[0], run_dir, ignore=shutil.ignore_patterns(".lock"))
    learner_dir = run_dir / "checkpoints" / "learner"
    previous_step = json.loads((learner_dir / "learner.previous.json").read_text())["counters"]["step"]
    newest_step = json.loads((learner_dir / "learner.json").read_text())["counters"]["step"]
    damaged = damage_newest_learner_checkpoint(learner_dir)

    state = json.loads((run_dir / "state.json").read_text())["counters"]
    target = state["iteration"] + 1
    result = selfplay(["train", "--resume", str(run_dir), "--max-iterations", str(target)], tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Traceback" not in result.stderr
    fallback = [line for line in result.stderr.splitlines() if "continued from the previous checkpoint" in line]
    assert len(fallback) == 1 and str(damaged) in fallback[0], result.stderr[-3000:]
    assert f"({newest_step - previous_step} learner step(s) lost)" in fallback[0]
    assert f"learner step {previous_step} " in result.stderr
    assert json.loads((run_dir / "state.json").read_text())["counters"]["iteration"] == target

    # Both checkpoints damaged: one line naming the directory, exit 2, nothing started.
    damage_newest_learner_checkpoint(learner_dir)
    damage_newest_learner_checkpoint(learner_dir, "learner.previous.json")
    result = selfplay(["train", "--resume", str(run_dir)], tmp_path)
    assert result.returncode == 2, result.stderr[-3000:]
    lines = result.stderr.strip().splitlines()
    assert "Traceback" not in result.stderr and lines[-1].startswith(f"selfplay: {learner_dir}"), lines[-5:]


def test_prometheus_exports_the_interval_figures(first_run, local_ray):
    """The run's last interval record, set through `ray.util.metrics`, is on the node's metrics endpoint."""
    import urllib.request

    from cluster.prometheus_metrics import PrometheusGauges

    run_dir, _ = first_run
    record = [m for m in read_jsonl(run_dir / "metrics.jsonl") if m["event"] == "interval"][-1]
    gauges = PrometheusGauges("e2e-run")
    port = local_ray.nodes()[0]["MetricsExportPort"]
    wanted = {"ray_selfplay_positions_per_s", "ray_selfplay_buffer_size", "ray_selfplay_actor_rss_mib"}
    found: dict[str, str] = {}
    deadline = time.monotonic() + 60  # Ray exports about 12 s after the first update
    while time.monotonic() < deadline and set(found) != wanted:
        gauges("interval", record)
        body = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10).read().decode()
        found = {line.split("{")[0]: line for line in body.splitlines() if line.split("{")[0] in wanted}
        time.sleep(2)
    assert set(found) == wanted, sorted(found)
    assert 'run="e2e-run"' in found["ray_selfplay_buffer_size"]
    assert float(found["ray_selfplay_buffer_size"].rsplit(" ", 1)[1]) == record["buffer_size"]
