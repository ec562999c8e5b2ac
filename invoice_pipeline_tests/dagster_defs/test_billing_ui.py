"""Customer billing as a data engineer sees it in the Dagster UI, asked through the webserver's GraphQL API: a month
billed from the `customer_invoices` partition, its drafts issued from the Launchpad, both shown on the partition."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from invoice_pipeline_tests.builders import clean_invoice, make_workspace, usage_line
from invoice_pipeline_tests.dagster_ui import (
    BIN,
    PROJECT_ROOT,
    DagsterDaemon,
    DagsterWebserver,
    dagster_env,
    wait_for,
)

pytestmark = pytest.mark.slow

MONTH = "2026-10"
REPOSITORY = {"repositoryLocationName": "invoice_pipeline", "repositoryName": "__repository__"}

LAUNCH = """
mutation Launch($executionParams: ExecutionParams!) {
  launchPipelineExecution(executionParams: $executionParams) {
    __typename
    ... on LaunchRunSuccess { run { runId } }
    ... on PythonError { message }
    ... on RunConfigValidationInvalid { errors { message } }
  }
}
"""

RUN_STATUS = """
query Status($runId: ID!) { runOrError(runId: $runId) { ... on Run { status } } }
"""

MONTH_SHOWN = """
query Month($partition: String!) {
  assetNodeOrError(assetKey: {path: ["customer_invoices"]}) {
    ... on AssetNode {
      assetMaterializations(partitions: [$partition], limit: 1) {
        partition
        description
        metadataEntries {
          label
          ... on IntMetadataEntry { intValue }
          ... on TableMetadataEntry { table { records } }
        }
      }
    }
  }
}
"""


@dataclass
class BillingUi:
    server: DagsterWebserver


@pytest.fixture(scope="module")
def billing_ui(tmp_path_factory) -> Iterator[BillingUi]:
    root = tmp_path_factory.mktemp("billing_ui")
    workspace = make_workspace(root / "workspace")
    workspace.quiet_daily_schedule()
    clean_invoice(workspace, "G1")  # Northwind 15.50 USD of Azure usage (10 % markup), Adventure Works 7.25 (8.5 %)
    # Tailspin Toys' USD Azure usage has no USD terms: held back.
    workspace.add_invoice(
        "G2",
        usage=[
            usage_line(
                "T1",
                "106.50",
                customer_id="c41e8f33-2d9b-4a6e-b318-7e2f4a9c5d03",
                subscription_id="SUB-AZ-1003",
            )
        ],
    )
    home = root / "dagster_home"
    home.mkdir()
    shutil.copy(PROJECT_ROOT / "dagster.yaml", home / "dagster.yaml")
    env = dagster_env(home, INVOICE_PIPELINE_CONFIG=str(workspace.config_path))
    env.pop("INVOICE_PIPELINE_SMTP_HOST", None)
    synced = subprocess.run(
        [str(BIN / "invoice-pipeline"), "sync"], env=env, cwd=root, capture_output=True, text=True, timeout=600
    )
    assert synced.returncode == 0, synced.stderr
    server = DagsterWebserver(env, root / "webserver.log")
    daemon = DagsterDaemon(env, root / "daemon.log")
    try:
        yield BillingUi(server)
    finally:
        daemon.stop()
        server.stop()


def _launch(ui: BillingUi, job: str, *, tags: dict[str, str] | None = None, run_config: dict | None = None) -> str:
    """Launch a job as the Launchpad (or the partition's Materialize button) does; wait until its run ends."""
    params = {
        "selector": {**REPOSITORY, "pipelineName": job},
        "mode": "default",
        "runConfigData": run_config or {},
        "executionMetadata": {"tags": [{"key": k, "value": v} for k, v in (tags or {}).items()]},
    }
    launched = ui.server.graphql(LAUNCH, {"executionParams": params})["launchPipelineExecution"]
    assert launched["__typename"] == "LaunchRunSuccess", launched
    run_id = launched["run"]["runId"]

    def ended() -> str | None:
        status = ui.server.graphql(RUN_STATUS, {"runId": run_id})["runOrError"]["status"]
        return status if status in ("SUCCESS", "FAILURE", "CANCELED") else None

    return wait_for(ended, message=f"the {job} run to end")


def _month_shown(ui: BillingUi) -> tuple[str | None, dict[str, Any]]:
    [latest] = ui.server.graphql(MONTH_SHOWN, {"partition": MONTH})["assetNodeOrError"]["assetMaterializations"]
    entries = {}
    for entry in latest["metadataEntries"]:
        if "intValue" in entry:
            entries[entry["label"]] = entry["intValue"]
        elif "table" in entry:
            entries[entry["label"]] = [_record(r) for r in entry["table"]["records"]]
    return latest["description"], entries


def _record(text: str) -> dict[str, Any]:
    return json.loads(text)


def test_billing_a_month_from_its_partition_shows_its_drafts_totals_and_the_usage_held_back(billing_ui):
    status = _launch(billing_ui, "bill_customers", tags={"dagster/partition": MONTH})

    assert status == "SUCCESS"
    _, shown = _month_shown(billing_ui)
    assert (shown["drafts"], shown["issued_invoices"], shown["credit_notes"], shown["held_back_lines"]) == (2, 0, 0, 1)
    # 15.50 x 1.10 = 17.05; 7.25 x 1.085 = 7.86625 -> 7.87
    assert shown["totals_by_currency"] == [
        {"currency": "USD", "invoices": "24.92", "credit_notes": "0.00", "net": "24.92"}
    ]
    assert sorted((d["account_id"], d["status"], d["total_amount"]) for d in shown["largest_documents"]) == [
        ("ACC-1001", "draft", "17.05"),
        ("ACC-1002", "draft", "7.87"),
    ]
    [held] = shown["held_back"]
    assert (held["account_id"], held["cost"], held["line_count"]) == ("ACC-1003", "106.50", 1)
    assert "no usage terms for contract BC-2003, product AZURE-PLAN in USD in 2026-10" in held["reason"]


def test_issuing_the_month_from_the_launchpad_shows_on_the_same_partition(billing_ui):
    config = {"ops": {"issue_customer_invoices_op": {"config": {"period": MONTH, "requested_by": "alice@example.com"}}}}

    status = _launch(billing_ui, "issue_customer_invoices", run_config=config)

    assert status == "SUCCESS"
    description, shown = _month_shown(billing_ui)
    assert description == "issued by alice@example.com"
    assert (shown["drafts"], shown["issued_invoices"]) == (0, 2)
    assert {d["status"] for d in shown["largest_documents"]} == {"issued"}


def test_issuing_a_month_with_no_draft_fails_with_the_refusal(billing_ui):
    config = {"ops": {"issue_customer_invoices_op": {"config": {"period": MONTH, "requested_by": "alice@example.com"}}}}

    assert _launch(billing_ui, "issue_customer_invoices", run_config=config) == "FAILURE"
