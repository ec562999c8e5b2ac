"""The daily sync run from the Dagster UI, as the webserver's GraphQL API reports it: an Active invoice stays
up to date while the reference data is unchanged (no "Unsynced" badge), Dagster's word when it did change, and
the offers' warning check on provider folders that are never read.

One workspace offering one clean invoice; a real `dagster-webserver` and `dagster-daemon` load `workspace.yaml`;
the tests launch the daily sync job as the Launchpad does (the first one's sensor imports the invoice, Active)
and run in file order.
"""

import json
import shutil
from collections.abc import Iterator
from typing import Any

import pytest

from invoice_pipeline_tests.builders import clean_invoice, license_line, make_workspace
from invoice_pipeline_tests.dagster_defs.test_dagster_ui import LAUNCH, Ui
from invoice_pipeline_tests.dagster_ui import (
    PROJECT_ROOT,
    RUNS,
    dagster_env,
    runs_of_partition,
    wait_for,
    webserver_and_daemon,
)

pytestmark = pytest.mark.slow

ACTIVE = "contoso-csp:G1"
INVOICE_ASSETS = ["provider_invoice", "usage_summaries", "license_summaries", "billable_usage"]
UNREAD_FOLDER = "G1 (old)"


@pytest.fixture(scope="module")
def ui(tmp_path_factory) -> Iterator[Ui]:
    """A webserver and daemon over a workspace offering one clean invoice, nothing imported yet."""
    root = tmp_path_factory.mktemp("staleness")
    workspace = make_workspace(root / "workspace")
    workspace.quiet_daily_schedule()
    clean_invoice(workspace, "G1")
    env = dagster_env(root / "dagster_home", INVOICE_PIPELINE_CONFIG=str(workspace.config_path))
    shutil.copy(PROJECT_ROOT / "dagster.yaml", root / "dagster_home")  # the run queue, as deployed
    env.pop("INVOICE_PIPELINE_SMTP_HOST", None)
    with webserver_and_daemon(env, root) as server:
        yield Ui(workspace, env, server, root)


def _daily_sync_from_the_ui(ui: Ui) -> None:
    """Launch the daily sync job as the Launchpad does (its defaults) and wait for the daemon to run it."""
    params = {
        "selector": {
            "repositoryLocationName": "invoice_pipeline",
            "repositoryName": "__repository__",
            "pipelineName": "daily_provider_sync",
        },
        "mode": "default",
        "runConfigData": {},
    }
    launched = ui.server.graphql(LAUNCH, {"executionParams": params})["launchPipelineExecution"]
    assert launched["__typename"] == "LaunchRunSuccess", launched
    run_id = launched["run"]["runId"]

    def ended() -> str | None:
        (run,) = ui.server.graphql(RUNS, {"filter": {"runIds": [run_id]}})["runsOrError"]["results"]
        return run["status"] if run["status"] in ("SUCCESS", "FAILURE", "CANCELED") else None

    assert wait_for(ended, message="the daily sync run to end") == "SUCCESS"


STALENESS = """
query Staleness($path: [String!]!, $partition: String!) {
  assetNodeOrError(assetKey: {path: $path}) {
    ... on AssetNode {
      staleStatus(partition: $partition)
      staleCauses(partition: $partition) {
        key { path } partitionKey category reason dependency { path } dependencyPartitionKey
      }
    }
  }
}
"""


def _staleness(ui: Ui, asset: str, partition: str) -> dict[str, Any]:
    return ui.server.graphql(STALENESS, {"path": [asset], "partition": partition})["assetNodeOrError"]


def _fresh(ui: Ui, asset: str) -> bool:
    node = _staleness(ui, asset, ACTIVE)
    return node["staleStatus"] == "FRESH" and node["staleCauses"] == []


def test_the_daily_sync_run_from_the_ui_imports_the_invoice_through_the_sensor_fresh(ui):
    _daily_sync_from_the_ui(ui)
    (run,) = wait_for(
        lambda: [r for r in runs_of_partition(ui.server, ACTIVE) if r["status"] in ("SUCCESS", "FAILURE")],
        message="the sensor's import of G1",
    )
    assert run["status"] == "SUCCESS"
    assert f"{ACTIVE}\tActive" in ui.cli("invoices", "list").stdout
    for asset in INVOICE_ASSETS:
        assert _fresh(ui, asset), (asset, _staleness(ui, asset, ACTIVE))


def test_the_daily_sync_run_twice_from_the_ui_with_unchanged_reference_data_leaves_the_active_invoice_fresh(ui):
    _daily_sync_from_the_ui(ui)
    _daily_sync_from_the_ui(ui)
    for asset in INVOICE_ASSETS:
        assert _fresh(ui, asset), (asset, _staleness(ui, asset, ACTIVE))


def test_a_manual_invoice_activated_by_hand_stays_fresh_after_a_daily_sync_with_unchanged_reference_data(ui):
    manual = "fabrikam-distribution:FAB-7"
    ui.workspace.add_invoice(
        "FAB-7",
        license=[
            license_line(
                "F1",
                "135.00",
                customer_id="FAB-CUST-77",
                subscription_id="FAB-SUB-1",
                product_id="BACKUP-TB",
                unit_price="135.00",
            )
        ],
        provider="fabrikam-distribution",
    )
    for command in (("create", manual), ("activate", manual)):
        done = ui.cli("invoices", *command, "--reason", "vendor PDF")
        assert done.returncode == 0, done.stderr
    _daily_sync_from_the_ui(ui)  # the reference data reloaded, unchanged
    node = _staleness(ui, "provider_invoice", manual)
    assert (node["staleStatus"], node["staleCauses"]) == ("FRESH", []), node


LATEST_FOLDER_CHECK = """
query FolderCheck {
  assetNodeOrError(assetKey: {path: ["provider_invoice_offers"]}) {
    ... on AssetNode {
      assetChecksOrError {
        ... on AssetChecks {
          checks {
            name
            description
            executionForLatestMaterialization {
              status
              evaluation {
                severity
                description
                metadataEntries { label ... on TableMetadataEntry { table { records } } }
              }
            }
          }
        }
      }
    }
  }
}
"""


def _folder_check(ui: Ui) -> dict[str, Any]:
    node = ui.server.graphql(LATEST_FOLDER_CHECK)["assetNodeOrError"]
    (check,) = [c for c in node["assetChecksOrError"]["checks"] if c["name"] == "no_folder_left_unread"]
    return check


def test_a_folder_never_read_fails_the_offers_warn_check_naming_the_folder_and_its_fix(ui):
    (ui.workspace.provider_folder() / UNREAD_FOLDER).mkdir()
    _daily_sync_from_the_ui(ui)
    check = _folder_check(ui)
    assert "never imported" in check["description"]
    latest = check["executionForLatestMaterialization"]
    assert latest["status"] == "FAILED"
    evaluation = latest["evaluation"]
    assert evaluation["severity"] == "WARN"
    assert evaluation["description"].startswith("1 provider folder(s) never read")
    assert f"contoso-csp: {UNREAD_FOLDER}" in evaluation["description"]
    (table,) = [entry["table"] for entry in evaluation["metadataEntries"] if entry["label"] == "folders_not_read"]
    (row,) = [json.loads(record) for record in table["records"]]
    assert (row["provider"], row["folder"], row["fix"]) == (
        "contoso-csp",
        UNREAD_FOLDER,
        "rename the folder to its invoice id",
    )
    assert _fresh(ui, "provider_invoice")  # a sync that only warned changes nothing on the invoice
    listed = ui.cli("sync")
    assert f"contoso-csp:{UNREAD_FOLDER}\tnot read\t" in listed.stdout  # the CLI still prints it


def test_once_the_folder_is_gone_the_check_passes_saying_so(ui):
    (ui.workspace.provider_folder() / UNREAD_FOLDER).rmdir()
    _daily_sync_from_the_ui(ui)
    latest = _folder_check(ui)["executionForLatestMaterialization"]
    assert latest["status"] == "SUCCEEDED"
    assert latest["evaluation"]["description"] == "Every provider folder is read: no folder is left unread"


def test_a_reference_data_change_makes_dagster_call_the_active_invoice_unsynced_naming_the_changed_table(ui):
    products = ui.workspace.root / "reference" / "products.csv"
    products.write_text(products.read_text() + "NEW-PRODUCT,A new product\n")
    _daily_sync_from_the_ui(ui)
    node = _staleness(ui, "provider_invoice", ACTIVE)
    assert node["staleStatus"] == "STALE"
    (cause,) = node["staleCauses"]  # the root cause the UI shows: only the table that changed, not all four
    assert (cause["key"]["path"], cause["partitionKey"], cause["category"], cause["reason"]) == (
        ["reference_products"],
        None,
        "DATA",
        "has a new data version",
    )
    for asset in INVOICE_ASSETS[1:]:  # the lines and billable usage follow the invoice, not the reference data
        assert _fresh(ui, asset), (asset, _staleness(ui, asset, ACTIVE))
    listed = ui.cli("invoices", "list").stdout
    assert f"{ACTIVE}\tActive" in listed  # nothing was re-imported
