"""The definitions as Dagster's own tools load them: from workspace.yaml, in a code server of their own."""

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
from pathlib import Path

import pytest

PROJECT_ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
STARTUP_TIMEOUT_SECONDS = 90

INVOICE_ASSETS = {"provider_invoice", "usage_summaries", "license_summaries", "billable_usage"}
REFERENCE_ASSETS = {
    "reference_provider_accounts",
    "reference_subscriptions",
    "reference_products",
    "reference_currencies",
}
CHECKS = {"line_summaries_match_schema", "references_resolved", "checksum_matches"}


@pytest.fixture
def dagster_env(tmp_path) -> dict[str, str]:
    """A process environment with a throwaway DAGSTER_HOME and data folder (the bundled demo config)."""
    home = tmp_path / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n", encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if k != "INVOICE_PIPELINE_CONFIG"}
    env.update(DAGSTER_HOME=str(home), INVOICE_PIPELINE_DATA_DIR=str(tmp_path / "data"), PYTHONUNBUFFERED="1")
    return env


def test_workspace_yaml_validates_with_the_dagster_cli(dagster_env):
    assert (PROJECT_ROOT / "workspace.yaml").is_file()
    completed = subprocess.run(
        [str(BIN / "dagster"), "definitions", "validate", "-w", "workspace.yaml"],
        cwd=PROJECT_ROOT,
        env=dagster_env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    output = completed.stdout + completed.stderr
    assert completed.returncode == 0, output
    assert "Validation successful for code location invoice_pipeline" in output


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _graphql(base_url: str, query: str) -> dict:
    request = urllib.request.Request(
        f"{base_url}/graphql",
        data=json.dumps({"query": query}).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=60) as response:
        body = json.loads(response.read())
    assert "errors" not in body, body
    return body["data"]


def _wait_until_up(base_url: str, server: subprocess.Popen, log_path: Path) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if server.poll() is not None:
            pytest.fail(f"dagster-webserver exited with {server.returncode}:\n{log_path.read_text()[-4000:]}")
        try:
            with urllib.request.urlopen(f"{base_url}/server_info", timeout=5) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.5)
    pytest.fail(f"dagster-webserver not up after {STARTUP_TIMEOUT_SECONDS}s:\n{log_path.read_text()[-4000:]}")


def _stop(server: subprocess.Popen) -> None:
    """Stop the webserver and the code server it started (its own process group)."""
    if server.poll() is not None:
        return
    os.killpg(server.pid, signal.SIGTERM)
    try:
        server.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(server.pid, signal.SIGKILL)
        server.wait(timeout=30)


WORKSPACE_QUERY = """
{
  workspaceOrError {
    __typename
    ... on Workspace {
      locationEntries {
        name
        locationOrLoadError {
          __typename
          ... on PythonError { message }
        }
      }
    }
  }
  repositoriesOrError {
    __typename
    ... on RepositoryConnection {
      nodes { name location { name } jobs { name isAssetJob } }
    }
  }
  assetNodes {
    assetKey { path }
    groupName
    isPartitioned
    assetChecksOrError {
      __typename
      ... on AssetChecks { checks { name blocking } }
    }
  }
}
"""


@pytest.mark.slow
def test_webserver_loads_the_workspace_with_the_invoice_assets_checks_and_import_job(dagster_env, tmp_path):
    port = _free_port()
    base_url = f"http://127.0.0.1:{port}"
    log_path = tmp_path / "webserver.log"
    with log_path.open("wb") as log:
        server = subprocess.Popen(
            [str(BIN / "dagster-webserver"), "-w", "workspace.yaml", "-p", str(port), "-h", "127.0.0.1"],
            cwd=PROJECT_ROOT,
            env=dagster_env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        _wait_until_up(base_url, server, log_path)
        data = _graphql(base_url, WORKSPACE_QUERY)
    finally:
        _stop(server)

    entries = {e["name"]: e["locationOrLoadError"] for e in data["workspaceOrError"]["locationEntries"]}
    assert entries["invoice_pipeline"]["__typename"] == "RepositoryLocation", entries

    repositories = data["repositoriesOrError"]["nodes"]
    jobs = {job["name"] for repo in repositories for job in repo["jobs"]}
    assert {"import_provider_invoice", "refresh_reference_data"} <= jobs
    assert {repo["location"]["name"] for repo in repositories} == {"invoice_pipeline"}

    nodes = {"/".join(node["assetKey"]["path"]): node for node in data["assetNodes"]}
    assert set(nodes) >= INVOICE_ASSETS | REFERENCE_ASSETS
    assert all(nodes[name]["isPartitioned"] for name in INVOICE_ASSETS)
    assert all(nodes[name]["groupName"] == "provider_invoices" for name in INVOICE_ASSETS)
    assert not any(nodes[name]["isPartitioned"] for name in REFERENCE_ASSETS)

    checks = nodes["provider_invoice"]["assetChecksOrError"]
    assert checks["__typename"] == "AssetChecks"
    assert {c["name"]: c["blocking"] for c in checks["checks"]} == {name: True for name in CHECKS}
    for name in INVOICE_ASSETS - {"provider_invoice"}:
        assert nodes[name]["assetChecksOrError"]["checks"] == []
