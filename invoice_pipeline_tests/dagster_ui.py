"""A real `dagster-webserver` loading `workspace.yaml`, and its GraphQL API: what the Dagster UI shows."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

PROJECT_ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
STARTUP_TIMEOUT_SECONDS = 120


def free_port() -> int:
    """A TCP port free on loopback now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def dagster_env(dagster_home: Path, **extra: str) -> dict[str, str]:
    """This process's environment with DAGSTER_HOME (created, telemetry off unless it has a dagster.yaml)."""
    dagster_home.mkdir(parents=True, exist_ok=True)
    if not (dagster_home / "dagster.yaml").exists():
        (dagster_home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n", encoding="utf-8")
    env = dict(os.environ)
    env.update(DAGSTER_HOME=str(dagster_home), PYTHONUNBUFFERED="1", **extra)
    return env


class _DagsterProcess:
    """A Dagster command on `workspace.yaml` in a process group of its own (it starts a code server)."""

    def __init__(self, command: list[str], env: dict[str, str], log_path: Path) -> None:
        self.log_path = log_path
        with log_path.open("wb") as log:
            self.process = subprocess.Popen(
                command, cwd=PROJECT_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )

    def log(self) -> str:
        """The end of the process's output."""
        return self.log_path.read_text(errors="replace")[-4000:]

    def stop(self) -> None:
        """Stop the process and the code server it started."""
        if self.process.poll() is not None:
            return
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=30)


class DagsterWebserver(_DagsterProcess):
    """`dagster-webserver -w workspace.yaml` on a free loopback port, up when constructed."""

    def __init__(self, env: dict[str, str], log_path: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        command = [str(BIN / "dagster-webserver"), "-w", "workspace.yaml", "-p", str(self.port), "-h", "127.0.0.1"]
        super().__init__(command, env, log_path)
        self._wait_until_up()

    def _wait_until_up(self) -> None:
        deadline = time.monotonic() + STARTUP_TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"dagster-webserver exited with {self.process.returncode}:\n{self.log()}")
            try:
                with urllib.request.urlopen(f"{self.url}/server_info", timeout=5) as response:
                    if response.status == 200:
                        return
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            time.sleep(0.5)
        self.stop()
        raise RuntimeError(f"dagster-webserver not up after {STARTUP_TIMEOUT_SECONDS}s:\n{self.log()}")

    def graphql(self, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        """The `data` of a GraphQL query, as the UI receives it; GraphQL errors fail loudly."""
        request = urllib.request.Request(
            f"{self.url}/graphql",
            data=json.dumps({"query": query, "variables": variables or {}}).encode(),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=120) as response:
            body = json.loads(response.read())
        if "errors" in body:
            raise AssertionError(body["errors"])
        return body["data"]


PARTITION_STATUSES = """
query PartitionStatuses($path: [String!]!) {
  assetNodeOrError(assetKey: {path: $path}) {
    ... on AssetNode {
      partitionKeys
      partitionStats { numMaterialized numFailed numMaterializing numPartitions }
      assetPartitionStatuses {
        ... on DefaultPartitionStatuses {
          materializedPartitions failedPartitions unmaterializedPartitions materializingPartitions
        }
      }
    }
  }
}
"""


def partition_statuses(server: DagsterWebserver, asset: str) -> dict[str, Any]:
    """The asset's partitions by state, as the partitions view and its filters show them."""
    node = server.graphql(PARTITION_STATUSES, {"path": [asset]})["assetNodeOrError"]
    statuses = node["assetPartitionStatuses"]
    return {
        "keys": node["partitionKeys"],
        "stats": node["partitionStats"],
        "materialized": set(statuses["materializedPartitions"]),
        "failed": set(statuses["failedPartitions"]),
        "missing": set(statuses["unmaterializedPartitions"]),
        "in_progress": set(statuses["materializingPartitions"]),
    }


class DagsterDaemon(_DagsterProcess):
    """`dagster-daemon run -w workspace.yaml`: schedules, sensors, the run queue and backfills."""

    def __init__(self, env: dict[str, str], log_path: Path) -> None:
        super().__init__([str(BIN / "dagster-daemon"), "run", "-w", "workspace.yaml"], env, log_path)


@contextmanager
def webserver_and_daemon(env: dict[str, str], root: Path) -> Iterator[DagsterWebserver]:
    """A webserver and a daemon over one instance (logs in `root`), both stopped when the block ends."""
    server = DagsterWebserver(env, root / "webserver.log")
    daemon = DagsterDaemon(env, root / "daemon.log")
    try:
        yield server
    finally:
        daemon.stop()
        server.stop()


RUNS = """
query Runs($filter: RunsFilter) {
  runsOrError(filter: $filter) {
    ... on Runs { results { runId status startTime endTime jobName tags { key value } } }
  }
}
"""


def runs_of_partition(server: DagsterWebserver, partition: str) -> list[dict[str, Any]]:
    """Every run of one partition, newest first, with its tags as a dict."""
    data = server.graphql(RUNS, {"filter": {"tags": [{"key": "dagster/partition", "value": partition}]}})
    runs = data["runsOrError"]["results"]
    for run in runs:
        run["tags"] = {tag["key"]: tag["value"] for tag in run["tags"]}
    return runs


def wait_for(condition: Any, timeout: float = 240, message: str = "condition") -> Any:
    """Poll `condition()` until it returns something truthy; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(1)
    raise AssertionError(f"timed out after {timeout}s waiting for {message}")
