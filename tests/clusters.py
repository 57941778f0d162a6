"""Helpers for tests that start real Ray clusters through the `ray` CLI, as a user does.

    with NetNamespace() as ns:                      # loopback only, made by the test (root)
        cluster = RayCluster(ns, workdir)           # token auth, own --temp-dir, own ports
        cluster.start_head(num_cpus=2)
        cluster.add_node(num_cpus=2)
        cluster.run(["ray", "job", "submit", "--address", cluster.dashboard_url, ...])
        ...
        cluster.shutdown()                          # by process id: raylets first, gcs_server last

Every command of a cluster (the `ray` CLI, the product's drivers, HTTP clients) runs inside
the namespace with the cluster's environment (`RayCluster.env`): the token file
(``RAY_AUTH_TOKEN_PATH``, ``RAY_AUTH_MODE=token``) and this virtualenv's ``bin`` first on
``PATH``, so that a job's ``python`` is the venv's. Nothing here uses the CLI's stop command:
it takes no address and would kill every Ray process on the machine. `RayCluster.shutdown`
stops the processes whose command line holds the cluster's own ``--temp-dir``, and their
children, by process id.

Why a network namespace: outside one, Ray rewrites 127.0.0.1 to the machine's address and
listens on every interface; inside a namespace that has only ``lo`` it stays on 127.0.0.1
by itself, and its ports cannot collide with another cluster's (see ../shared/RAY-NOTES.md).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil
import pytest

from tests.conftest import ray_test_env, write_token

REPO = Path(__file__).resolve().parents[1]
VENV_BIN = Path(sys.executable).parent
PYTHON = sys.executable

# The small, fast run of the end-to-end tests: two task kinds, few simulations, short calls,
# promotion without a match.
# The samples-per-insert bound paces the learner by self-play data, not by CPU speed: the
# 60 steps between two candidates need about 960 new positions, i.e. many play calls issued
# after the first promotion, so the workers are seen using it whatever the machine's speed.
FAST = [
    "tasks.mix=[{kind: tictactoe}, {kind: sudoku, params: {size: 4}}]",
    "search.num_simulations=8",
    "selfplay.episodes_per_worker=16",
    "selfplay.play_seconds=1.0",
    "selfplay.push_positions=64",
    "replay.min_positions_to_sample=64",
    "replay.segment_positions=256",
    "learner.batch_size=32",
    "learner.candidate_every=60",
    "learner.max_samples_per_insert=2",
    "evaluation.gating=always",
    "evaluation.puzzles_per_task=4",
    "evaluation.games_per_task=4",
    "run.train_seconds=1.0",
    "run.save_every_seconds=5",
    "run.progress_every_seconds=2",
]


def overrides(values: Sequence[str]) -> list[str]:
    return [arg for value in values for arg in ("--set", value)]


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    """The complete records of a JSON-lines file (a line being written at this moment is skipped)."""
    if not path.is_file():
        return []
    records = []
    for line in path.read_text().splitlines():
        if line.strip():
            with contextlib.suppress(json.JSONDecodeError):
                records.append(json.loads(line))
    return records


def wait_for(
    condition: Callable[[], Any], timeout: float, what: str, interval: float = 1.0, alive: Callable[[], Any] = None
) -> Any:
    """Poll ``condition`` until it returns something truthy (returned); fail after ``timeout`` seconds.

    ``alive``, if given, is checked on every round: it raises (or returns a false value) when what
    the test waits on has died, so that a crash fails at once instead of at the timeout.
    """
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if alive is not None and not alive():
            pytest.fail(f"gave up waiting for {what}: the process it depends on is gone")
        if time.monotonic() >= deadline:
            pytest.fail(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(interval)


def short_tmpdir(prefix: str) -> Path:
    """A fresh directory with a short path: Ray puts Unix sockets under its --temp-dir (max ~107 bytes)."""
    return Path(tempfile.mkdtemp(prefix=prefix, dir="/tmp"))


def tail(path: Path, lines: int = 40) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError as error:
        return f"<{error}>"


# ----- the network namespace -------------------------------------------------------------------------


class NetNamespace:
    """A network namespace that has only ``lo``, held open by a ``sleep`` the test started.

    Processes started through `command` stay in it after the holder exits; the holder is
    only what lets ``nsenter`` find the namespace.
    """

    def __init__(self) -> None:
        if os.geteuid() != 0:
            pytest.skip("a network namespace of the test's own needs root (unshare -n)")
        self.holder = subprocess.Popen(
            ["unshare", "-n", "sleep", "3600"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
        )
        own = os.readlink("/proc/self/ns/net")
        deadline = time.monotonic() + 10
        while True:  # unshare has exec'd `sleep` once the holder's namespace differs from ours
            if self.holder.poll() is not None:
                pytest.skip(f"unshare -n refused: {self.holder.stderr.read().strip()}")
            try:
                if os.readlink(f"/proc/{self.holder.pid}/ns/net") != own:
                    break
            except OSError:
                pass
            if time.monotonic() > deadline:
                self.close()
                pytest.fail("unshare -n did not make a network namespace within 10 s")
            time.sleep(0.05)
        self.inode = os.readlink(f"/proc/{self.holder.pid}/ns/net")
        self.prefix = ["nsenter", f"--net=/proc/{self.holder.pid}/ns/net"]
        subprocess.run([*self.prefix, "ip", "link", "set", "lo", "up"], check=True, timeout=10)

    def command(self, argv: Sequence[str]) -> list[str]:
        return [*self.prefix, *argv]

    def close(self) -> None:
        if self.holder.poll() is None:
            self.holder.kill()
        self.holder.wait(timeout=10)

    def __enter__(self) -> NetNamespace:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


# ----- ports -----------------------------------------------------------------------------------------


# `ray start` option -> its port's offset from a node's base port.
NODE_PORTS = {
    "--object-manager-port": 3,
    "--node-manager-port": 4,
    "--metrics-export-port": 5,
    "--dashboard-agent-listen-port": 6,
    "--dashboard-agent-grpc-port": 7,
    "--runtime-env-agent-port": 8,
    "--min-worker-port": 100,
    "--max-worker-port": 199,
}
HEAD_PORTS = {"--port": 0, "--dashboard-port": 1, "--ray-client-server-port": 2}


@dataclass(frozen=True)
class Ports:
    """Every port one Ray node listens on, from ``base``: fixed defaults (8265, 52365, ...) collide."""

    base: int

    @property
    def gcs(self) -> int:
        return self.base + HEAD_PORTS["--port"]

    @property
    def dashboard(self) -> int:
        return self.base + HEAD_PORTS["--dashboard-port"]

    def node_args(self) -> list[str]:
        """The `ray start` options every node needs (head and joining nodes alike)."""
        return [f"{option}={self.base + offset}" for option, offset in NODE_PORTS.items()]

    def head_args(self) -> list[str]:
        head = [f"{option}={self.base + offset}" for option, offset in HEAD_PORTS.items()]
        return [*head, "--dashboard-host=127.0.0.1", *self.node_args()]


def free_port_base(span: int = 200, start: int = 30000, stop: int = 60000) -> int:
    """A base port whose next ``span`` ports are free on 127.0.0.1 now (for clusters outside a namespace)."""
    for base in range(start + (os.getpid() % 50) * span, stop - span, span):
        try:
            for port in range(base, base + span):
                with socket.socket() as probe:
                    probe.bind(("127.0.0.1", port))
        except OSError:
            continue
        return base
    raise RuntimeError("no free range of ports")


# ----- a cluster of `ray start` nodes --------------------------------------------------------------


class RayCluster:
    """A head (and joining nodes) started by `ray start`, with its own token, --temp-dir and ports.

    ``ns``: the namespace every process runs in; None runs on this machine's loopback with
    ``RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0`` (a single node: a joining node then refuses to start).
    """

    HEAD_BASE = 24000  # inside a namespace of its own the ports are the cluster's alone
    NODE_BASE = 25000  # + 1000 per joining node

    def __init__(self, ns: NetNamespace | None, workdir: Path | None = None, env: dict[str, str] | None = None):
        self.ns = ns
        self.workdir = workdir or short_tmpdir("rc")
        self.temp_dir = self.workdir / "ray"
        self.temp_dir.mkdir(parents=True, exist_ok=True)
        self.token_path = write_token(self.workdir)
        self.token = Path(self.token_path).read_text().strip()
        self.env = {k: v for k, v in os.environ.items() if k not in ("RAY_ADDRESS", "PYTHONPATH")}
        self.env.update(ray_test_env(self.token_path))
        if ns is not None:  # in a namespace Ray stays on 127.0.0.1 by itself, and joining nodes work
            self.env.pop("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER")
        self.env["PATH"] = f"{VENV_BIN}{os.pathsep}{self.env.get('PATH', '')}"  # as an activated venv
        self.env["RAY_USAGE_STATS_ENABLED"] = "0"
        self.env.update(env or {})
        self.head_ports = Ports(self.HEAD_BASE if ns is not None else free_port_base())
        self.nodes: list[Ports] = []
        self.started = False
        self.shut_down = False

    # ----- addresses ---------------------------------------------------------------------------

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.head_ports.gcs}"

    @property
    def dashboard_url(self) -> str:
        return f"http://127.0.0.1:{self.head_ports.dashboard}"

    @property
    def session_dir(self) -> Path:
        return self.temp_dir / "session_latest"

    @property
    def logs_dir(self) -> Path:
        return self.session_dir / "logs"

    # ----- running commands --------------------------------------------------------------------

    def command(self, argv: Sequence[str]) -> list[str]:
        return self.ns.command(argv) if self.ns is not None else list(argv)

    def run(
        self, argv: Sequence[str], timeout: float = 120, check: bool = False, env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess:
        """Run ``argv`` in the cluster's namespace and environment; output captured."""
        result = subprocess.run(
            self.command(argv),
            cwd=REPO,
            env={**self.env, **(env or {})},
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if check and result.returncode != 0:
            pytest.fail(
                f"{' '.join(argv)} exited {result.returncode}\nstdout:\n{result.stdout[-3000:]}\n"
                f"stderr:\n{result.stderr[-3000:]}\n{self.diagnostics()}"
            )
        return result

    def popen(
        self, argv: Sequence[str], stdout: Any, stderr: Any, env: dict[str, str] | None = None
    ) -> subprocess.Popen:
        return subprocess.Popen(
            self.command(argv), cwd=REPO, env={**self.env, **(env or {})}, stdout=stdout, stderr=stderr, text=True
        )

    def http(self, path: str, method: str = "GET", timeout: float = 10) -> tuple[int, Any]:
        """(status, JSON body or text) of a dashboard call with the token, made from inside the namespace."""
        script = (
            "import json, sys, urllib.error, urllib.request\n"
            "req = urllib.request.Request(sys.argv[1], method=sys.argv[2],"
            " headers={'Authorization': 'Bearer ' + open(sys.argv[3]).read().strip()})\n"
            "try:\n"
            f"    with urllib.request.urlopen(req, timeout={timeout}) as r: code, body = r.status, r.read()\n"
            "except urllib.error.HTTPError as e: code, body = e.code, e.read()\n"
            "except Exception as e: code, body = 0, repr(e).encode()\n"
            "print(code); sys.stdout.write(body.decode(errors='replace'))\n"
        )
        argv = [PYTHON, "-c", script, self.dashboard_url + path, method, self.token_path]
        result = self.run(argv, timeout=timeout + 20)
        status, _, body = result.stdout.partition("\n")
        try:
            return int(status), json.loads(body)
        except ValueError:
            return (int(status) if status.isdigit() else 0), body + result.stderr

    # ----- starting ----------------------------------------------------------------------------

    def start_head(
        self, num_cpus: int, autoscaling_config: Path | None = None, env: dict[str, str] | None = None
    ) -> None:
        argv = [
            "ray",
            "start",
            "--head",
            f"--num-cpus={num_cpus}",
            f"--temp-dir={self.temp_dir}",
            "--disable-usage-stats",
            "--include-dashboard=true",
            *self.head_ports.head_args(),
        ]
        if autoscaling_config is not None:
            argv.append(f"--autoscaling-config={autoscaling_config}")
        self.started = True
        self.run(argv, timeout=120, check=True, env=env)
        self.wait_for_dashboard()

    def add_node(self, num_cpus: int, env: dict[str, str] | None = None) -> Ports:
        """A node joining the head (`ray start --address`), with ports of its own."""
        if self.ns is None:
            raise RuntimeError("a joining node needs a namespace (on loopback it refuses to start)")
        ports = Ports(self.NODE_BASE + 1000 * len(self.nodes))
        # A temp dir of its own: nodes sharing one would share runtime_resources/, and one node's
        # runtime env agent deletes a job's working directory that the other node is running in.
        temp_dir = self.workdir / f"node{len(self.nodes) + 1}"
        before = len(self.alive_nodes())
        argv = [
            "ray",
            "start",
            f"--address={self.address}",
            f"--num-cpus={num_cpus}",
            f"--temp-dir={temp_dir}",
            "--disable-usage-stats",
            *ports.node_args(),
        ]
        self.run(argv, timeout=120, check=True, env=env)
        self.nodes.append(ports)
        wait_for(lambda: len(self.alive_nodes()) > before, 60, "the joining node to register")
        return ports

    def wait_for_dashboard(self, timeout: float = 90) -> None:
        """Until the dashboard answers and its job server lists jobs (bounded); logs on failure."""
        deadline = time.monotonic() + timeout
        last: Any = None
        while time.monotonic() < deadline:
            status, body = self.http("/api/jobs/")
            if status == 200:
                status, body = self.http("/api/v0/nodes")
                if status == 200:
                    return
            last = (status, body)
            time.sleep(1.0)
        pytest.fail(
            f"the dashboard at {self.dashboard_url} did not answer in {timeout:g} s: {last}\n{self.diagnostics()}"
        )

    # ----- looking at it -----------------------------------------------------------------------

    def alive_nodes(self) -> list[dict[str, Any]]:
        """The ALIVE nodes, from the state API."""
        status, body = self.http("/api/v0/nodes?limit=100")
        if status != 200 or not isinstance(body, dict):
            return []
        return [n for n in body.get("data", {}).get("result", {}).get("result", []) if n.get("state") == "ALIVE"]

    def actors(self) -> list[dict[str, Any]]:
        status, body = self.http("/api/v0/actors?limit=1000&detail=true")
        if status != 200 or not isinstance(body, dict):
            return []
        return body.get("data", {}).get("result", {}).get("result", [])

    def job_status(self, submission_id: str) -> str | None:
        status, body = self.http(f"/api/jobs/{submission_id}")
        return body.get("status") if status == 200 and isinstance(body, dict) else None

    def wait_for_job(self, submission_id: str, statuses: Sequence[str], timeout: float) -> str:
        """Until the job's status is one of ``statuses``; returns it. Fails (with the job's logs) after ``timeout``."""
        final = {"SUCCEEDED", "FAILED", "STOPPED"}
        deadline = time.monotonic() + timeout
        status = None
        while time.monotonic() < deadline:
            status = self.job_status(submission_id)
            if status in statuses:
                return status
            if status in final:
                break
            time.sleep(2.0)
        pytest.fail(
            f"job {submission_id}: status {status}, expected one of {list(statuses)}"
            f"{f' (timed out after {timeout:g} s)' if status not in final else ''}\n"
            f"job logs:\n{self.job_logs(submission_id)[-4000:]}\n{self.diagnostics()}"
        )

    def job_logs(self, submission_id: str) -> str:
        result = self.run(["ray", "job", "logs", "--address", self.dashboard_url, submission_id], timeout=60)
        return result.stdout + (result.stderr if result.returncode else "")

    def processes(self) -> list[psutil.Process]:
        """This cluster's processes, and their children.

        Those whose command line holds one of its --temp-dirs, whose environment holds its token file (every
        process of the cluster inherits it: the Ray client server that `ray start --head` leaves
        behind has neither the temp dir in its command line nor a parent), or that live in its
        network namespace. Never the namespace's holder, which `NetNamespace.close` stops.
        """
        marker = f"{self.workdir}/"  # the head's --temp-dir and the joining nodes' are under it
        netns = self.ns.inode if self.ns is not None else None
        holder = self.ns.holder.pid if self.ns is not None else None
        found: dict[int, psutil.Process] = {}
        for process in psutil.process_iter(["pid", "cmdline"]):
            if process.pid in (os.getpid(), holder):
                continue
            try:
                mine = any(marker in part for part in process.info["cmdline"] or [])
                mine = mine or (netns is not None and _netns(process.pid) == netns)
                mine = mine or process.environ().get("RAY_AUTH_TOKEN_PATH") == self.token_path
                if mine:
                    found[process.pid] = process
                    for child in process.children(recursive=True):
                        found[child.pid] = child
            except (psutil.Error, OSError):
                continue
        return [p for pid, p in found.items() if pid != holder]

    def raylets(self) -> list[psutil.Process]:
        return [p for p in self.processes() if _name(p) == "raylet"]

    def diagnostics(self, lines: int = 30) -> str:
        """The tail of the logs that tell why a cluster misbehaves."""
        if not self.logs_dir.is_dir():
            return f"(no Ray logs under {self.temp_dir})"
        parts = []
        patterns = ["raylet.err", "raylet.out", "gcs_server.err", "dashboard.log", "monitor.log", "monitor.err"]
        patterns += ["job-driver-*.log", "dashboard_agent.log"]
        for pattern in patterns:
            for path in sorted(self.logs_dir.glob(pattern))[-2:]:
                text = tail(path, lines)
                if text.strip():
                    parts.append(f"----- {path.name} -----\n{text}")
        return "\n".join(parts)

    # ----- stopping ----------------------------------------------------------------------------

    def shutdown(self) -> None:
        """Stop every process of this cluster by process id: raylets first, gcs_server last; then SIGKILL."""
        if self.shut_down:
            return
        self.shut_down = True
        processes = self.processes()
        raylets = [p for p in processes if _name(p) == "raylet"]
        gcs = [p for p in processes if _name(p) == "gcs_server"]
        others = [p for p in processes if p not in raylets and p not in gcs]
        for group in (raylets, others, gcs):
            _signal_all(group, signal.SIGTERM)
            psutil.wait_procs(group, timeout=5)
        _signal_all(processes, signal.SIGKILL)
        psutil.wait_procs(processes, timeout=5)
        leftover = self.processes()  # e.g. a worker forked while we were stopping the others
        _signal_all(leftover, signal.SIGKILL)
        psutil.wait_procs(leftover, timeout=5)

    def cleanup(self) -> None:
        """`shutdown`, then remove the work dir (kept, with Ray's logs, when KEEP_RAY_LOGS=1)."""
        self.shutdown()
        if os.environ.get("KEEP_RAY_LOGS") == "1":
            print(f"Ray logs kept in {self.logs_dir}")
        else:
            shutil.rmtree(self.workdir, ignore_errors=True)


def _netns(pid: int) -> str | None:
    try:
        return os.readlink(f"/proc/{pid}/ns/net")
    except OSError:
        return None


def _name(process: psutil.Process) -> str:
    try:
        return process.name()
    except psutil.Error:
        return ""


def _signal_all(processes: Sequence[psutil.Process], signum: int) -> None:
    for process in processes:
        with contextlib.suppress(psutil.Error):
            process.send_signal(signum)


def actor_processes(root_pid: int, class_name: str) -> list[psutil.Process]:
    """Descendants of ``root_pid`` whose process title is ``ray::<class_name>`` (or ``ray::<class_name>.method``)."""
    try:
        descendants = psutil.Process(root_pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return []
    found = []
    for process in descendants:
        try:
            title = " ".join(process.cmdline())
        except psutil.Error:
            continue
        if title == f"ray::{class_name}" or title.startswith((f"ray::{class_name}.", f"ray::{class_name} ")):
            found.append(process)
    return found


def kill_tree(process: subprocess.Popen, grace: float = 10) -> None:
    """SIGINT, then SIGKILL, a process we started and every descendant of it."""
    try:
        children = psutil.Process(process.pid).children(recursive=True)
    except psutil.NoSuchProcess:
        children = []
    if process.poll() is None:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
    _signal_all(children, signal.SIGKILL)
    psutil.wait_procs(children, timeout=5)
