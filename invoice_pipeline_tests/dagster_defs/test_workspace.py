"""The definitions as Dagster's own tools load them: from workspace.yaml, in a code server of their own."""

from __future__ import annotations

import os
import subprocess

import pytest

from invoice_pipeline_tests.dagster_ui import BIN, PROJECT_ROOT, DagsterWebserver

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
    server = DagsterWebserver(dagster_env, tmp_path / "webserver.log")
    try:
        data = server.graphql(WORKSPACE_QUERY)
    finally:
        server.stop()

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
    # none blocks: nothing runs after the import in its run (its line assets are written by the import itself)
    assert {c["name"]: c["blocking"] for c in checks["checks"]} == {name: False for name in CHECKS} | {
        "no_invoice_in_error": False
    }
    for name in INVOICE_ASSETS - {"provider_invoice"}:
        assert nodes[name]["assetChecksOrError"]["checks"] == []
