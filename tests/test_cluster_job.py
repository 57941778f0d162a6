"""`selfplay train` as a Ray job on a two-node cluster made with the real CLI, as a user runs it.

    ray start --head ...; ray start --address ...        (in a loopback-only network namespace)
    ray job submit --address http://127.0.0.1:<dashboard> --working-dir <repo> -- python -m cluster train ...
    ray job stop / ray job logs

The job's working directory is a temporary copy of the checkout that Ray deletes, so a run
directory must be absolute: a relative one (or none, which defaults to runs/...) is refused
with one line. `ray job stop` sends SIGTERM (then SIGKILL after RAY_JOB_STOP_WAIT_TIME_S,
3 s by default); the run must be left resumable.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from tests.clusters import FAST, REPO, NetNamespace, RayCluster, overrides, read_jsonl, wait_for

pytestmark = pytest.mark.slow

JOB_TIMEOUT = 240  # one FAST iteration takes ~25 s embedded; the job adds its runtime env and two nodes


@pytest.fixture(scope="module")
def cluster():
    """A head (2 CPUs) and a second node (2 CPUs) in a namespace of their own; stopped by pid at the end."""
    ns = NetNamespace()
    cluster = RayCluster(ns)
    try:
        # `ray job stop` kills the driver RAY_JOB_STOP_WAIT_TIME_S after its SIGTERM (3 s by default, too
        # short for the final flush and checkpoint); deploy/ sets it on the head, as this does.
        cluster.start_head(num_cpus=2, env={"RAY_JOB_STOP_WAIT_TIME_S": "60"})
        cluster.add_node(num_cpus=2)
        yield cluster
    finally:
        cluster.cleanup()
        ns.close()


def submit(cluster: RayCluster, submission_id: str, args: list[str]) -> None:
    """`ray job submit --no-wait` of `python -m cluster <args>` with the checkout as working dir."""
    argv = ["ray", "job", "submit", "--address", cluster.dashboard_url, "--working-dir", str(REPO)]
    argv += ["--submission-id", submission_id, "--no-wait", "--", "python", "-m", "cluster", *args]
    cluster.run(argv, timeout=120, check=True)


def train_args(run_dir: Path, *extra: str) -> list[str]:
    return ["train", "--config", "configs/local.yaml", "--run-dir", str(run_dir), *extra, *overrides(FAST)]


def test_a_job_trains_and_leaves_its_run_directory(cluster, tmp_path):
    run_dir = tmp_path / "run"
    started = time.monotonic()
    submit(cluster, "train-one", train_args(run_dir, "--max-iterations", "1"))
    status = cluster.wait_for_job("train-one", ["SUCCEEDED"], JOB_TIMEOUT)
    print(f"job train-one {status} in {time.monotonic() - started:.1f} s")
    logs = cluster.job_logs("train-one")

    assert f"run directory: {run_dir}" in logs, logs[-3000:]
    state = json.loads((run_dir / "state.json").read_text())
    assert state["counters"]["iteration"] == 1 and state["counters"]["episodes"] > 0
    assert (run_dir / "checkpoints" / "learner").is_dir() and any((run_dir / "checkpoints" / "learner").iterdir())
    events = {m["event"] for m in read_jsonl(run_dir / "metrics.jsonl")}
    assert {"selfplay", "train"} <= events
    assert len(cluster.alive_nodes()) == 2


def test_ray_job_stop_leaves_a_run_that_resumes(cluster, tmp_path):
    run_dir = tmp_path / "run"
    metrics = run_dir / "metrics.jsonl"
    submit(cluster, "train-stop", train_args(run_dir))
    cluster.wait_for_job("train-stop", ["RUNNING"], 120)
    wait_for(
        lambda: any(m["event"] == "selfplay" for m in read_jsonl(metrics)),
        JOB_TIMEOUT,
        "self-play records in metrics.jsonl",
        alive=lambda: cluster.job_status("train-stop") == "RUNNING",
    )
    time.sleep(5)  # a few more calls, and one periodic checkpoint (run.save_every_seconds=5)

    # `selfplay status --address` from another process sees the live run and Ray's view of its actors,
    # by the cluster's GCS address and by its dashboard URL alike.
    for address in (cluster.address, cluster.dashboard_url):
        shown = cluster.run(["selfplay", "status", str(run_dir), "--address", address], timeout=120, check=True)
        assert f"run {run_dir}: running" in shown.stdout, shown.stdout
        view = shown.stdout.split("Ray's view (--address):")[1].splitlines()
        assert any(line.split()[:2] == ["Learner", "ALIVE"] for line in view), shown.stdout
        assert any(line.split()[:2] == ["SelfPlayWorker", "ALIVE"] for line in view), shown.stdout
    stopped = time.monotonic()
    result = cluster.run(["ray", "job", "stop", "--address", cluster.dashboard_url, "train-stop"], timeout=120)
    print(f"ray job stop: exit {result.returncode} after {time.monotonic() - stopped:.1f} s")
    status = cluster.wait_for_job("train-stop", ["STOPPED", "SUCCEEDED"], 60)
    logs = cluster.job_logs("train-stop")
    print(f"job train-stop ended {status}; last log lines:\n" + "\n".join(logs.splitlines()[-8:]))

    # The checkpoint was written at the stop: it counts every self-play call the run logged.
    state = json.loads((run_dir / "state.json").read_text())["counters"]
    plays = [m for m in read_jsonl(metrics) if m["event"] == "selfplay"]
    assert state["episodes"] == sum(m["episodes"] for m in plays) > 0, (
        f"state.json counts {state['episodes']} episodes, metrics.jsonl {sum(m['episodes'] for m in plays)}: "
        "the run was not checkpointed when the job was stopped"
    )

    target = state["iteration"] + 1
    submit(cluster, "train-resume", ["train", "--resume", str(run_dir), "--max-iterations", str(target)])
    cluster.wait_for_job("train-resume", ["SUCCEEDED"], JOB_TIMEOUT)
    after = json.loads((run_dir / "state.json").read_text())["counters"]
    assert after["iteration"] == target and after["resumes"] == state["resumes"] + 1
    assert after["episodes"] > state["episodes"] and after["learner_step"] > state["learner_step"]
    assert f"resumed {run_dir}" in cluster.job_logs("train-resume")


@pytest.mark.parametrize("run_dir_args", [["--run-dir", "runs/x"], []], ids=["relative", "none"])
def test_a_job_without_an_absolute_run_directory_is_refused_in_one_line(cluster, run_dir_args):
    submission_id = f"refused-{len(run_dir_args)}"
    argv = ["train", "--config", "configs/local.yaml", *run_dir_args, "--max-iterations", "1", *overrides(FAST)]
    submit(cluster, submission_id, argv)
    cluster.wait_for_job(submission_id, ["FAILED"], 120)
    logs = cluster.job_logs(submission_id)
    errors = [line for line in logs.splitlines() if line.startswith("selfplay:")]
    assert len(errors) == 1, logs[-3000:]
    assert "run-dir" in errors[0] or "run directory" in errors[0], errors[0]
    assert "Traceback" not in logs, logs[-3000:]
