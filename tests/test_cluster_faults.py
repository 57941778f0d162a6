"""Fault injection on a running `python -m cluster train` (the embedded Ray its driver starts).

One at a time, with training seen to go on in between, the test SIGKILLs the process of a
self-play worker, of the replay buffer, of the learner and of the evaluator (found among the
driver's descendants by their process titles, ``ray::<ClassName>``). The run must go on after
each kill, exit 0 on Ctrl-C, keep every acknowledged position, leave checkpoints that resume,
never lower its weights version, and name each death and restart in its log.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time

import pytest

from tests.clusters import FAST, REPO, actor_processes, kill_tree, overrides, read_jsonl, tail, wait_for
from tests.conftest import ray_test_env, write_token

pytestmark = pytest.mark.slow

# The actor classes in the order they are killed, with how the driver's log may name them.
VICTIMS = [
    ("SelfPlayWorker", r"self-?play|worker"),
    ("ReplayBuffer", r"replay|buffer"),
    ("Learner", r"learner"),
    ("Evaluator", r"evaluator"),
]
DEATH = r"\b(gone|died|dead|lost|killed|unavailable|failed|crashed)\b"
RESTART = r"\b(restart\w*|replac\w*|came back)\b"


def acknowledged_positions(plays: list[dict]) -> int:
    """Positions the buffer acknowledged to the workers: per worker incarnation, its last cumulative count.

    ``acked_positions`` counts since the worker process started, so a replaced (or restarted)
    worker starts again from 0: a drop (or a new pid, where records carry one) begins a new incarnation.
    """
    total = 0
    last: dict[int, tuple[int, object]] = {}
    for m in plays:
        index, acked, pid = m["worker"], m["acked_positions"], m.get("pid")
        if index in last:
            previous, previous_pid = last[index]
            if acked < previous or pid != previous_pid:
                total += previous
        last[index] = (acked, pid)
    return total + sum(acked for acked, _ in last.values())


def test_the_run_survives_killing_each_actor(tmp_path):
    from actors.replay import ReplayBuffer, ReplayConfig

    run_dir = tmp_path / "run"
    metrics = run_dir / "metrics.jsonl"
    err_path, out_path = tmp_path / "driver.err", tmp_path / "driver.out"
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    env.update(ray_test_env(write_token(tmp_path)))
    argv = [sys.executable, "-m", "cluster", "train", "--config", "configs/local.yaml", "--run-dir", str(run_dir)]
    argv += ["--max-minutes", "8", *overrides(FAST)]
    with open(err_path, "w") as err, open(out_path, "w") as out:
        driver = subprocess.Popen(argv, cwd=REPO, env=env, stdout=out, stderr=err, text=True)
    versions: list[int] = []  # the weights version of state.json, every time the test looks

    def running() -> bool:
        state = run_dir / "state.json"
        if state.is_file():
            versions.append(json.loads(state.read_text())["counters"]["version"])  # written atomically
        if driver.poll() is not None:
            pytest.fail(f"the driver exited {driver.returncode}:\n{tail(err_path, 60)}")
        return True

    def records_after(count: int, event: str) -> list[dict]:
        return [m for m in read_jsonl(metrics)[count:] if m["event"] == event]

    try:
        wait_for(
            lambda: records_after(0, "train") and records_after(0, "selfplay"), 180, "the run to train", 1.0, running
        )
        for class_name, _ in VICTIMS:
            processes = wait_for(
                lambda name=class_name: actor_processes(driver.pid, name),
                60,
                f"a ray::{class_name} process",
                0.5,
                running,
            )
            assert len(processes) == 1, f"{len(processes)} ray::{class_name} processes: {processes}"
            count = len(read_jsonl(metrics))
            killed_at = time.monotonic()
            processes[0].kill()
            pid = processes[0].pid
            after = {}  # seconds from the kill to the next record of each kind
            for event in ("train", "selfplay"):
                wait_for(
                    lambda c=count, e=event: records_after(c, e), 120, f"a {event} record after the kill", 0.2, running
                )
                after[event] = time.monotonic() - killed_at
            print(
                f"killed ray::{class_name} (pid {pid}): next train record after {after['train']:.1f} s, "
                f"next self-play record after {after['selfplay']:.1f} s"
            )
        # The restarted evaluator gates the next candidate (and training goes on meanwhile).
        gates_before = len([e for e in read_jsonl(run_dir / "evaluations.jsonl") if e["kind"] == "gate"])
        wait_for(
            lambda: len([e for e in read_jsonl(run_dir / "evaluations.jsonl") if e["kind"] == "gate"]) > gates_before,
            120,
            "a gate by the restarted evaluator",
            1.0,
            running,
        )
        driver.send_signal(signal.SIGINT)
        driver.wait(timeout=180)
    finally:
        kill_tree(driver)
    log = err_path.read_text()
    assert driver.returncode == 0, tail(err_path, 60)

    lines = log.splitlines()
    for class_name, name in VICTIMS:
        died = [line for line in lines if re.search(name, line, re.I) and re.search(DEATH, line, re.I)]
        back = [line for line in lines if re.search(name, line, re.I) and re.search(RESTART, line, re.I)]
        assert died and back, f"the driver's log names no death and restart of {class_name}: {died[:2]} {back[:2]}"

    # Nothing acknowledged is lost.
    plays = [m for m in read_jsonl(metrics) if m["event"] == "selfplay"]
    acked = acknowledged_positions(plays)
    replay = ReplayBuffer(ReplayConfig(capacity=10**6, min_positions_to_sample=1), run_dir=str(run_dir))
    stored = len(replay)
    replay.close()
    print(f"acknowledged to the workers: {acked} positions; in the run directory's replay log: {stored}")
    assert stored >= acked > 0

    # The weights version never goes down: state.json over time, and the gate records.
    assert versions == sorted(versions), versions
    gate_versions = [e["version"] for e in read_jsonl(run_dir / "evaluations.jsonl") if e["kind"] == "gate"]
    assert gate_versions == sorted(gate_versions), gate_versions
    before = json.loads((run_dir / "state.json").read_text())["counters"]
    assert before["version"] >= max(versions, default=0)

    # The checkpoints still load: the run resumes and goes on.
    target = before["iteration"] + 1
    resume = [sys.executable, "-m", "cluster", "train", "--resume", str(run_dir), "--max-iterations", str(target)]
    result = subprocess.run(resume, cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    after = json.loads((run_dir / "state.json").read_text())["counters"]
    assert after["iteration"] == target and after["version"] >= before["version"]
    assert after["episodes"] > before["episodes"] and after["learner_step"] > before["learner_step"]
