"""An elastic self-play pool on Ray's fake multi-node autoscaler, driven as a user runs it.

    RAY_FAKE_CLUSTER=1 AUTOSCALER_UPDATE_INTERVAL_S=1 ray start --head --num-cpus 1 --autoscaling-config fake.yaml
    python -m cluster train --address 127.0.0.1:<gcs> --set 'selfplay.num_workers={min: 1, max: 3}' ...

The head's one CPU holds the replay buffer and the learner (pinned to the driver's node), so
every self-play worker needs a node the autoscaler launches: the run asks for the room of
`max` workers (`ray.autoscaler.sdk.request_resources`), starts workers as nodes appear and keeps
training meanwhile. Killing a fake node's raylet loses the workers on it; the run goes on.
Each test gets a fresh head: a killed fake node may stay "pending" and block later scale-ups.
"""

from __future__ import annotations

import re
import signal
import time

import psutil
import pytest
import yaml

from tests.clusters import FAST, REPO, NetNamespace, RayCluster, overrides, read_jsonl, tail, wait_for

pytestmark = pytest.mark.slow

FAKE_CLUSTER = REPO / "tests" / "data" / "cluster" / "fake.yaml"
LOST_WORKER = re.compile(r"worker \d+.*\b(gone|lost|died|dead|unavailable)\b", re.IGNORECASE)


@pytest.fixture
def autoscaling_cluster():
    """A fresh head with the fake autoscaler (1 CPU; worker nodes of 1 CPU, 0 to 2 of them)."""
    ns = NetNamespace()
    cluster = RayCluster(ns)
    try:
        config = yaml.safe_load(FAKE_CLUSTER.read_text())
        # The provider joins new nodes to <machine address>:6379 unless told the head's GCS address.
        config["provider"]["gcs_address"] = cluster.address
        path = cluster.workdir / "fake.yaml"
        path.write_text(yaml.safe_dump(config))
        fake = {"RAY_FAKE_CLUSTER": "1", "AUTOSCALER_UPDATE_INTERVAL_S": "1"}
        cluster.start_head(num_cpus=1, autoscaling_config=path, env=fake)
        yield cluster
    finally:
        cluster.cleanup()
        ns.close()


def test_the_pool_grows_onto_launched_nodes_and_survives_losing_one(autoscaling_cluster, tmp_path):
    cluster = autoscaling_cluster
    assert len(cluster.alive_nodes()) == 1, "only the head before the run"
    run_dir = tmp_path / "run"
    metrics = run_dir / "metrics.jsonl"
    err_path, out_path = tmp_path / "driver.err", tmp_path / "driver.out"
    argv = ["python", "-m", "cluster", "train", "--config", "configs/local.yaml", "--run-dir", str(run_dir)]
    argv += ["--address", cluster.address, "--max-minutes", "6"]
    argv += overrides([*FAST, "selfplay.num_workers={min: 1, max: 3}"])
    with open(err_path, "w") as err, open(out_path, "w") as out:
        driver = cluster.popen(argv, stdout=out, stderr=err)
    started = time.monotonic()
    try:

        def running() -> bool:
            if driver.poll() is not None:
                pytest.fail(f"the driver exited {driver.returncode}:\n{tail(err_path, 60)}\n{cluster.diagnostics()}")
            return True

        # The run asked for room: the autoscaler launches both fake nodes (pending actors alone, one
        # worker and the evaluator, would need one).
        nodes = wait_for(
            lambda: len(cluster.alive_nodes()) >= 3 and cluster.alive_nodes(), 120, "2 fake nodes", 2.0, running
        )
        print(f"3 nodes alive {time.monotonic() - started:.1f} s after the driver started")
        head = next(n["node_id"] for n in nodes if n.get("is_head_node"))

        # The pool grows onto them: self-play records from workers other than worker 0.
        wait_for(
            lambda: any(m["event"] == "selfplay" and m["worker"] > 0 for m in read_jsonl(metrics)),
            120,
            "self-play records from a worker index > 0",
            2.0,
            running,
        )
        print(f"worker index > 0 played {time.monotonic() - started:.1f} s after the driver started")
        workers = [a for a in cluster.actors() if a["class_name"] == "SelfPlayWorker" and a["state"] == "ALIVE"]
        remote = [a for a in workers if a["node_id"] != head]
        assert remote, f"no self-play worker on a launched node: {[(a['node_id'][:8], a['pid']) for a in workers]}"

        # Kill the raylet of a launched node that runs a self-play worker (the worker's parent).
        victim = psutil.Process(remote[0]["pid"]).parent()
        assert victim.name() == "raylet", victim
        killed_at = time.time()
        victim.send_signal(signal.SIGKILL)
        print(f"killed raylet {victim.pid} of node {remote[0]['node_id'][:8]} (worker pid {remote[0]['pid']})")

        lost = wait_for(
            lambda: [line for line in err_path.read_text().splitlines() if LOST_WORKER.search(line)],
            90,
            "the driver to log the lost worker",
            1.0,
            running,
        )
        noticed = time.time()
        print(f"{noticed - killed_at:.1f} s after the kill the driver logged: {lost[0]}")

        def after(event: str) -> list[dict]:
            return [m for m in read_jsonl(metrics) if m["event"] == event and m["time"] > noticed]

        wait_for(
            lambda: after("train") and after("selfplay"), 90, "train and self-play records after the loss", 1.0, running
        )
        print(
            f"train and self-play records {time.time() - noticed:.1f} s after the loss was logged; workers playing "
            f"since: {sorted({m['worker'] for m in after('selfplay')})}"
        )
        driver.send_signal(signal.SIGINT)
        driver.wait(timeout=120)
        assert driver.returncode == 0, tail(err_path, 60)
    finally:
        if driver.poll() is None:
            driver.kill()
            driver.wait(timeout=30)
        lines = err_path.read_text(errors="replace").splitlines()
        # The driver's own lines, without the progress lines and the lines Ray forwards from other processes.
        events = [line for line in lines if not line.startswith(("[", "\x1b[", "("))]
        print("driver log, without progress lines:\n" + "\n".join(events[-40:] + lines[-1:]))
        monitor = cluster.logs_dir / "monitor.log"
        if monitor.is_file():
            launches = [line for line in monitor.read_text().splitlines() if "Adding" in line or "Launching" in line]
            print("autoscaler:\n" + "\n".join(launches[-6:]))
