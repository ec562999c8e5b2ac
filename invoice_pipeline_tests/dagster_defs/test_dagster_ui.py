"""What a data engineer sees in the Dagster UI, asked through the webserver's own GraphQL API.

One workspace is synced by the CLI (an Active invoice, a checksum Error, a references Error), then a real
`dagster-webserver` and `dagster-daemon` load `workspace.yaml` over the same instance. The tests run in
file order: later ones launch runs the way the UI does (asset page, backfill) and change invoices.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from invoice_pipeline_tests.builders import ProviderWorkspace, clean_invoice, license_line, make_workspace, usage_line
from invoice_pipeline_tests.dagster_ui import (
    BIN,
    PROJECT_ROOT,
    DagsterWebserver,
    dagster_env,
    partition_statuses,
    runs_of_partition,
    wait_for,
    webserver_and_daemon,
)

pytestmark = pytest.mark.slow

ACTIVE, CHECKSUM_ERROR, REFERENCES_ERROR = "contoso-csp:G1", "contoso-csp:G2", "contoso-csp:G3"
LATER = "contoso-csp:G4"  # offered after the sync: launched from the UI
INVOICE_ASSETS = ["provider_invoice", "usage_summaries", "license_summaries", "billable_usage"]
WRITTEN_BY_THE_IMPORT = INVOICE_ASSETS[1:]  # external assets: the import step reports them, nothing launches them


@dataclass
class Ui:
    workspace: ProviderWorkspace
    env: dict[str, str]
    server: DagsterWebserver
    root: Path

    def cli(self, *args: str) -> subprocess.CompletedProcess:
        completed = subprocess.run(
            [str(BIN / "invoice-pipeline"), *args], env=self.env, cwd=self.root, capture_output=True, text=True
        )
        assert "Traceback" not in completed.stderr, completed.stderr
        return completed


@pytest.fixture(scope="module")
def ui(tmp_path_factory) -> Iterator[Ui]:
    root = tmp_path_factory.mktemp("ui")
    workspace = make_workspace(root / "workspace")
    workspace.quiet_daily_schedule()  # its daemon runs for minutes: the 06:00 UTC sync would retry G2 and G3
    clean_invoice(workspace, "G1")
    workspace.add_invoice(
        "G2", usage=[usage_line("U1", "6000.00")], license=[license_line("L1", "3999.63")], total="10000.00"
    )
    workspace.add_invoice("G3", usage=[usage_line("U1"), usage_line("U2", customer_id="unknown-tenant")])
    home = root / "dagster_home"
    home.mkdir()
    shutil.copy(PROJECT_ROOT / "dagster.yaml", home / "dagster.yaml")  # the queue and its per-partition limit
    env = dagster_env(home, INVOICE_PIPELINE_CONFIG=str(workspace.config_path))
    env.pop("INVOICE_PIPELINE_SMTP_HOST", None)
    synced = subprocess.run(
        [str(BIN / "invoice-pipeline"), "sync"], env=env, cwd=root, capture_output=True, text=True, timeout=600
    )
    assert synced.returncode == 0, synced.stderr
    with webserver_and_daemon(env, root) as server:
        yield Ui(workspace, env, server, root)


RUN_LOG = """
query RunLog($runId: ID!) {
  logsForRun(runId: $runId) {
    ... on EventConnection {
      events {
        __typename
        ... on MessageEvent { message level }
        ... on ExecutionStepFailureEvent {
          stepKey
          error { message stack className }
          failureMetadata {
            metadataEntries {
              label
              ... on TextMetadataEntry { text }
              ... on PathMetadataEntry { path }
              ... on TableMetadataEntry { table { records schema { columns { name } } } }
            }
          }
        }
      }
    }
  }
}
"""

CHECK_EXECUTIONS = """
query Checks($path: [String!]!, $name: String!) {
  assetCheckExecutions(assetKey: {path: $path}, checkName: $name, limit: 50) {
    status
    partition
    evaluation { severity description metadataEntries { __typename label ... on TextMetadataEntry { text } } }
  }
}
"""

CHECK_PARTITION_STATUSES = """
query CheckStatuses($path: [String!]!) {
  assetNodeOrError(assetKey: {path: $path}) {
    ... on AssetNode {
      assetChecksOrError {
        ... on AssetChecks {
          checks {
            name
            partitionStatuses {
              ... on AssetCheckDefaultPartitionStatuses { succeededPartitions failedPartitions }
            }
          }
        }
      }
    }
  }
}
"""

LAUNCH = """
mutation Launch($executionParams: ExecutionParams!) {
  launchPipelineExecution(executionParams: $executionParams) {
    __typename
    ... on LaunchRunSuccess { run { runId } }
    ... on PythonError { message }
  }
}
"""

BACKFILL = """
mutation Backfill($params: LaunchBackfillParams!) {
  launchPartitionBackfill(backfillParams: $params) {
    __typename
    ... on LaunchBackfillSuccess { backfillId }
    ... on PythonError { message }
  }
}
"""

BACKFILL_STATUS = """
query BackfillStatus($id: String!) {
  partitionBackfillOrError(backfillId: $id) { ... on PartitionBackfill { status } }
}
"""

LATEST_MATERIALIZATION = """
query Latest($path: [String!]!) {
  assetNodeOrError(assetKey: {path: $path}) {
    ... on AssetNode { assetMaterializations(limit: 1) { runId metadataEntries { label } } }
  }
}
"""


def _asset_selection(names: list[str]) -> list[dict[str, list[str]]]:
    return [{"path": [name]} for name in names]


def _launch_like_the_asset_page(ui: Ui, partition: str) -> str:
    """What the asset page's Materialize button sends for one partition: the asset job and Dagster's tag only."""
    params = {
        "selector": {
            "repositoryLocationName": "invoice_pipeline",
            "repositoryName": "__repository__",
            "pipelineName": "__ASSET_JOB",
            "assetSelection": _asset_selection(["provider_invoice"]),  # the others are written by its import
        },
        "mode": "default",
        "runConfigData": {},
        "executionMetadata": {"tags": [{"key": "dagster/partition", "value": partition}]},
    }
    launched = ui.server.graphql(LAUNCH, {"executionParams": params})["launchPipelineExecution"]
    assert launched["__typename"] == "LaunchRunSuccess", launched
    return launched["run"]["runId"]


def _finished(ui: Ui, partition: str, count: int) -> list[dict] | None:
    runs = runs_of_partition(ui.server, partition)
    done = [r for r in runs if r["status"] in ("SUCCESS", "FAILURE", "CANCELED")]
    return runs if len(done) >= count else None


# 1. Partition state is the invoice's status ----------------------------------------------------------------


def test_active_invoice_is_materialized_and_error_invoices_are_failed_partitions(ui):
    statuses = partition_statuses(ui.server, "provider_invoice")
    assert statuses["materialized"] == {ACTIVE}
    assert statuses["failed"] == {CHECKSUM_ERROR, REFERENCES_ERROR}
    assert statuses["stats"]["numFailed"] == 2 and statuses["stats"]["numMaterialized"] == 1


def test_line_assets_are_materialized_for_the_active_invoice_and_never_failed_for_an_invoice_in_error(ui):
    for asset in WRITTEN_BY_THE_IMPORT:
        statuses = partition_statuses(ui.server, asset)
        assert statuses["materialized"] == {ACTIVE}, asset
        assert statuses["failed"] == set(), asset  # an invoice in Error stores no lines: nothing failed there


def test_an_error_invoices_run_fails_with_the_invoices_message_and_no_stack_trace(ui):
    (run,) = runs_of_partition(ui.server, CHECKSUM_ERROR)
    assert run["status"] == "FAILURE"
    events = ui.server.graphql(RUN_LOG, {"runId": run["runId"]})["logsForRun"]["events"]
    (failure,) = [e for e in events if e["__typename"] == "ExecutionStepFailureEvent"]
    assert failure["error"]["message"] == (
        f"{CHECKSUM_ERROR} is in Error: Checksum failed: header 10,000.00 USD; usage 6,000.00 + license 3,999.63"
        " = 9,999.63; difference 0.37 USD"
    )
    assert failure["error"]["stack"] == []


def _failure_metadata(ui: Ui, partition: str) -> dict[str, dict]:
    (run,) = runs_of_partition(ui.server, partition)
    events = ui.server.graphql(RUN_LOG, {"runId": run["runId"]})["logsForRun"]["events"]
    (failure,) = [e for e in events if e["__typename"] == "ExecutionStepFailureEvent"]
    return {entry["label"]: entry for entry in failure["failureMetadata"]["metadataEntries"]}


def test_an_error_run_fails_on_its_import_step_alone_without_a_dependencies_failed_line(ui):
    (run,) = runs_of_partition(ui.server, REFERENCES_ERROR)
    events = ui.server.graphql(RUN_LOG, {"runId": run["runId"]})["logsForRun"]["events"]
    failures = [e for e in events if e["__typename"] == "ExecutionStepFailureEvent"]
    assert [f["stepKey"] for f in failures] == ["provider_invoice_import"]
    assert not [e for e in events if "Dependencies for step" in (e.get("message") or "")]


def test_an_error_runs_failure_says_status_message_who_when_and_what_to_do(ui):
    metadata = _failure_metadata(ui, CHECKSUM_ERROR)
    assert metadata["status"]["text"] == "Error"
    assert metadata["message"]["text"].startswith("Checksum failed: header 10,000.00 USD")
    assert metadata["changed_by"]["text"].startswith("dagster run ")
    assert metadata["changed_at"]["text"].endswith("UTC")
    assert "checksum_override" in metadata["what_to_do"]["text"]


def test_an_error_runs_failure_shows_its_notes_first_rows_as_tables_with_each_notes_full_path(ui):
    metadata = _failure_metadata(ui, REFERENCES_ERROR)
    errors = metadata["errors.csv"]["table"]
    assert "reference_id" in [column["name"] for column in errors["schema"]["columns"]]
    assert any("unknown-tenant" in record for record in errors["records"])
    path = Path(metadata["errors.csv path"]["path"])
    assert path.is_absolute() and path.is_file() and "unknown-tenant" in path.read_text()
    assert "references" in metadata["what_to_do"]["text"]


def test_cli_runs_carry_the_invoice_tags_the_runs_page_filters_on(ui):
    (run,) = runs_of_partition(ui.server, REFERENCES_ERROR)
    assert run["tags"]["invoice_pipeline/invoice"] == REFERENCES_ERROR
    assert (run["tags"]["invoice_pipeline/provider"], run["tags"]["invoice_pipeline/invoice_id"]) == (
        "contoso-csp",
        "G3",
    )


# 2. Checks are per invoice ------------------------------------------------------------------------------------


def _executions(ui: Ui, check: str) -> dict[str, dict]:
    executions = ui.server.graphql(CHECK_EXECUTIONS, {"path": ["provider_invoice"], "name": check})
    return {e["partition"]: e for e in executions["assetCheckExecutions"]}


def test_each_check_result_belongs_to_the_invoice_it_judged(ui):
    checksum = _executions(ui, "checksum_matches")
    assert {partition: e["status"] for partition, e in checksum.items()} == {
        ACTIVE: "SUCCEEDED",
        CHECKSUM_ERROR: "FAILED",
        REFERENCES_ERROR: "SUCCEEDED",
    }
    references = _executions(ui, "references_resolved")
    assert references[REFERENCES_ERROR]["status"] == "FAILED"
    assert "customer 'unknown-tenant' (1 line" in references[REFERENCES_ERROR]["evaluation"]["description"]


def test_per_invoice_check_results_show_figures_as_text_and_name_the_invoice_they_judged(ui):
    for check in ("line_summaries_match_schema", "references_resolved", "checksum_matches"):
        for partition, execution in _executions(ui, check).items():
            evaluation = execution["evaluation"]
            assert evaluation["description"].startswith(f"{partition}: "), (check, evaluation["description"])
            kinds = {entry["label"]: entry["__typename"] for entry in evaluation["metadataEntries"]}
            assert set(kinds.values()) <= {"TextMetadataEntry", "TableMetadataEntry"}, (check, kinds)  # no plots
            assert kinds.get("invoice") == "TextMetadataEntry"


def test_checksum_figures_have_the_messages_sign_and_minor_units(ui):
    evaluation = _executions(ui, "checksum_matches")[CHECKSUM_ERROR]["evaluation"]
    figures = {entry["label"]: entry.get("text") for entry in evaluation["metadataEntries"]}
    assert (figures["header_total"], figures["lines_total"], figures["difference"]) == ("10000.00", "9999.63", "0.37")
    assert evaluation["description"].endswith("difference 0.37 USD")


def test_check_partition_statuses_never_say_passed_for_an_invoice_in_error(ui):
    node = ui.server.graphql(CHECK_PARTITION_STATUSES, {"path": ["provider_invoice"]})["assetNodeOrError"]
    statuses = {c["name"]: c["partitionStatuses"] for c in node["assetChecksOrError"]["checks"]}
    assert CHECKSUM_ERROR in statuses["checksum_matches"]["failedPartitions"]
    assert REFERENCES_ERROR in statuses["references_resolved"]["failedPartitions"]
    assert CHECKSUM_ERROR not in statuses["checksum_matches"]["succeededPartitions"]
    assert ACTIVE in statuses["checksum_matches"]["succeededPartitions"]  # judged its materialization


LATEST_CHECK_RESULTS = """
query Latest($path: [String!]!) {
  assetNodeOrError(assetKey: {path: $path}) {
    ... on AssetNode {
      assetChecksOrError {
        ... on AssetChecks { checks { name executionForLatestMaterialization { status partition } } }
      }
    }
  }
}
"""


def test_the_assets_latest_check_results_do_not_read_passed_while_invoices_are_in_error(ui):
    node = ui.server.graphql(LATEST_CHECK_RESULTS, {"path": ["provider_invoice"]})["assetNodeOrError"]
    latest = {c["name"]: c["executionForLatestMaterialization"] for c in node["assetChecksOrError"]["checks"]}
    assert latest["no_invoice_in_error"]["status"] == "FAILED"  # the overview's summary shows it
    every = _executions(ui, "no_invoice_in_error")
    assert every, "the check over all invoices was never evaluated"


# 7. CLI and UI share one history ------------------------------------------------------------------------------


def test_the_clis_sync_materialized_the_offers_asset(ui):
    node = ui.server.graphql(LATEST_MATERIALIZATION, {"path": ["provider_invoice_offers"]})["assetNodeOrError"]
    (latest,) = node["assetMaterializations"]
    assert {"eligible", "offers", "imports_launched_by"} <= {entry["label"] for entry in latest["metadataEntries"]}


# 3. Every run of an invoice is tagged and limited the same way ----------------------------------------------


def test_two_asset_page_runs_of_one_invoice_never_overlap_and_both_carry_the_invoice_tags(ui):
    ui.workspace.add_invoice("G4", usage=[usage_line(f"U{n}", "1.00") for n in range(1, 2001)])
    ui.cli("providers", "invoices", "contoso-csp")
    ui.server.graphql(
        "mutation Add($p: String!, $r: RepositorySelector!) { addDynamicPartition(partitionsDefName: $p, "
        'partitionKey: "' + LATER + '", repositorySelector: $r) { __typename } }',
        {
            "p": "provider_invoices",
            "r": {"repositoryLocationName": "invoice_pipeline", "repositoryName": "__repository__"},
        },
    )
    first, second = _launch_like_the_asset_page(ui, LATER), _launch_like_the_asset_page(ui, LATER)
    runs = wait_for(lambda: _finished(ui, LATER, 2), message="both runs of G4 to finish")
    by_id = {run["runId"]: run for run in runs}
    a, b = sorted((by_id[first], by_id[second]), key=lambda run: run["startTime"])
    assert a["endTime"] <= b["startTime"], "two runs of one invoice overlapped"
    for run in (a, b):
        assert run["tags"]["invoice_pipeline/invoice"] == LATER


PARTITION_EVENTS = """
query Events($path: [String!]!, $partition: String!) {
  assetOrError(assetKey: {path: $path}) {
    ... on Asset {
      assetEventHistory(partitions: [$partition], limit: 100, eventTypeSelectors: [MATERIALIZATION, OBSERVATION]) {
        results { __typename ... on MaterializationEvent { runId } ... on ObservationEvent { runId } }
      }
    }
  }
}
"""


def test_a_refused_reimport_of_an_active_invoice_writes_nothing_and_leaves_its_partition_as_it_was(ui):
    runs = sorted(runs_of_partition(ui.server, LATER), key=lambda run: run["startTime"])
    importing, refused = runs[-2:]
    assert importing["status"] == "SUCCESS"
    assert refused["tags"]["invoice_pipeline/outcome"] == "refused"
    assert refused["status"] == "SUCCESS"  # a failed run would turn the Active invoice's partition red
    for asset in INVOICE_ASSETS:
        history = ui.server.graphql(PARTITION_EVENTS, {"path": [asset], "partition": LATER})["assetOrError"]
        events = history["assetEventHistory"]["results"]
        assert [e["runId"] for e in events] == [importing["runId"]], asset  # nothing from the refused run
    statuses = partition_statuses(ui.server, "provider_invoice")
    assert LATER in statuses["materialized"] and LATER not in statuses["failed"]
    log = ui.server.graphql(RUN_LOG, {"runId": refused["runId"]})["logsForRun"]["events"]
    refusals = [e for e in log if (e.get("message") or "").startswith("Import refused:")]
    assert refusals and refusals[0]["level"] == "ERROR" and "Active" in refusals[0]["message"]


# 1. The "Failed" backfill preset is the next-day retry by hand ------------------------------------------------


def test_backfilling_the_failed_partitions_retries_exactly_the_error_invoices(ui):
    failed = sorted(partition_statuses(ui.server, "provider_invoice")["failed"])
    assert failed == [CHECKSUM_ERROR, REFERENCES_ERROR]
    ui.workspace.add_invoice(  # the provider corrected G2's header overnight
        "G2", usage=[usage_line("U1", "6000.00")], license=[license_line("L1", "3999.63")], total="9999.63"
    )
    params = {"assetSelection": _asset_selection(["provider_invoice"]), "partitionNames": failed, "fromFailure": False}
    launched = ui.server.graphql(BACKFILL, {"params": params})["launchPartitionBackfill"]
    assert launched["__typename"] == "LaunchBackfillSuccess", launched
    wait_for(
        lambda: (
            ui.server.graphql(BACKFILL_STATUS, {"id": launched["backfillId"]})["partitionBackfillOrError"]["status"]
            in ("COMPLETED", "COMPLETED_SUCCESS", "COMPLETED_FAILED", "FAILED")
        ),
        message="the backfill to complete",
    )
    statuses = partition_statuses(ui.server, "provider_invoice")
    assert CHECKSUM_ERROR in statuses["materialized"] and REFERENCES_ERROR in statuses["failed"]
    assert len(runs_of_partition(ui.server, ACTIVE)) == 1  # the Active invoice was not touched
    listed = ui.cli("invoices", "list").stdout
    assert f"{CHECKSUM_ERROR}\tActive" in listed and f"{REFERENCES_ERROR}\tError" in listed


# 4. Manual operations are visible where they happen -----------------------------------------------------------


def test_a_deactivated_invoice_is_no_longer_shown_as_materialized_and_its_runs_stay(ui):
    deactivated = ui.cli("invoices", "deactivate", ACTIVE, "--reason", "provider reissued it")
    assert deactivated.returncode == 0, deactivated.stderr
    statuses = partition_statuses(ui.server, "provider_invoice")
    assert ACTIVE not in statuses["keys"] and ACTIVE not in statuses["materialized"]
    assert runs_of_partition(ui.server, ACTIVE)  # its earlier runs stay listed in Runs


# 6. A check that did not run reads as a warning that says so, not as a failure -------------------------------


def test_checks_an_invoice_never_reached_are_warnings_saying_not_evaluated_not_red_failures(ui):
    ui.workspace.add_invoice("G5", usage=[usage_line("U1", "ten dollars")], total="10.00")
    synced = ui.cli("sync", "--invoice", "contoso-csp:G5")
    assert "contoso-csp:G5\tError" in synced.stdout, synced.stdout + synced.stderr
    schema = _executions(ui, "line_summaries_match_schema")["contoso-csp:G5"]
    assert (schema["status"], schema["evaluation"]["severity"]) == ("FAILED", "ERROR")
    for check in ("references_resolved", "checksum_matches"):
        skipped = _executions(ui, check)["contoso-csp:G5"]["evaluation"]
        assert skipped["severity"] == "WARN", check
        assert skipped["description"].startswith("contoso-csp:G5: Not evaluated"), skipped["description"]
