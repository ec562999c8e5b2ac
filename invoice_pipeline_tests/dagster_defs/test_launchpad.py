"""The Launchpad of the operation jobs, through a real dagster-webserver and the GraphQL the Launchpad sends.

The Launchpad validates config with `isPipelineConfigValid` (the config schema only) and launches with
`launchPipelineExecution`. Config an operation cannot work with (an empty or malformed invoice key, no
reason, no name) is refused at launch, before any run exists, with one line per field saying what to write;
good config launches, and the run's operation shows on the invoice's partition at once.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from invoice_pipeline.dagster_defs.jobs import IMPORT_JOB
from invoice_pipeline.domain.invoice_keys import InvoiceKey
from invoice_pipeline_tests.builders import ProviderWorkspace, license_line, make_workspace
from invoice_pipeline_tests.dagster_ui import DagsterWebserver, dagster_env, partition_statuses

LOCATION = "invoice_pipeline"
OPERATION_JOBS = {
    "deactivate_provider_invoice": set(),
    "delete_provider_invoice": set(),
    "unlink_provider_invoice": set(),
    "create_manual_provider_invoice": {
        "invoice_date",
        "billing_period_start",
        "billing_period_end",
        "currency",
        "total_amount",
    },
    "activate_manual_provider_invoice": {"accept_checksum_difference"},
}
REQUIRED = {"invoice", "reason", "requested_by"}
MANUAL = InvoiceKey("fabrikam-distribution", "FAB-UI-1")
WHO = "alice@example.com"
# A launched run starts at once (no daemon needed to dequeue it).
INSTANCE_YAML = """\
telemetry:
  enabled: false
run_coordinator:
  module: dagster._core.run_coordinator
  class: DefaultRunCoordinator
"""

VALIDATE = """
query Validate($pipeline: PipelineSelector!, $runConfigData: RunConfigData, $mode: String!) {
  isPipelineConfigValid(pipeline: $pipeline, runConfigData: $runConfigData, mode: $mode) {
    __typename
    ... on RunConfigValidationInvalid { errors { message reason } }
  }
}
"""
LAUNCH = """
mutation Launch($executionParams: ExecutionParams!) {
  launchPipelineExecution(executionParams: $executionParams) {
    __typename
    ... on LaunchRunSuccess { run { runId } }
    ... on RunConfigValidationInvalid { errors { message } }
    ... on PythonError { message className stack errorChain { error { message } } }
  }
}
"""
RUNS = "{ runsOrError { ... on Runs { results { runId jobName status } } } }"
RUN_STATUS = "query Status($runId: ID!) { runOrError(runId: $runId) { ... on Run { status } } }"
CONFIG_SCHEMA = """
query Schema($selector: PipelineSelector!) {
  runConfigSchemaOrError(selector: $selector, mode: "default") {
    __typename
    ... on RunConfigSchema {
      rootConfigType { key }
      allConfigTypes {
        key
        ... on CompositeConfigType { fields { name description isRequired configTypeKey } }
      }
    }
  }
}
"""
LATEST_EVENTS = """
query Latest($partition: String!) {
  assetOrError(assetKey: {path: ["provider_invoice"]}) {
    ... on Asset {
      assetMaterializations(partitions: [$partition], limit: 1) { metadataEntries { label ...Value } }
      assetObservations(partitions: [$partition], limit: 1) { metadataEntries { label ...Value } }
    }
  }
}
fragment Value on MetadataEntry {
  ... on TextMetadataEntry { text }
  ... on IntMetadataEntry { intValue }
  ... on BoolMetadataEntry { boolValue }
}
"""


@dataclass
class Launchpad:
    """The webserver, and the workspace its code location reads (INVOICE_PIPELINE_CONFIG)."""

    server: DagsterWebserver
    workspace: ProviderWorkspace

    def validate(self, job: str, config: dict[str, Any]) -> dict[str, Any]:
        """What the Launchpad's config check says."""
        variables = {"pipeline": _selector(job), "runConfigData": config, "mode": "default"}
        return self.server.graphql(VALIDATE, variables)["isPipelineConfigValid"]

    def launch(self, job: str, config: dict[str, Any]) -> dict[str, Any]:
        """What the Launch button gets back.

        A `PythonError` result comes with HTTP status 500 (the webserver's rule for any error it captured);
        the UI reads the body anyway (its Apollo error link forwards the data) and shows the error in a dialog.
        """
        params = {"selector": _selector(job), "runConfigData": config, "mode": "default"}
        request = urllib.request.Request(
            f"{self.server.url}/graphql",
            data=json.dumps({"query": LAUNCH, "variables": {"executionParams": params}}).encode(),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        try:
            with urllib.request.urlopen(request, timeout=120) as response:
                status, body = response.status, json.loads(response.read())
        except urllib.error.HTTPError as error:
            status, body = error.code, json.loads(error.read())
        assert "errors" not in body, body
        result = body["data"]["launchPipelineExecution"]
        assert status == (500 if result["__typename"] == "PythonError" else 200), (status, result)
        return result

    def runs(self) -> list[dict[str, Any]]:
        """Every run the instance holds."""
        return self.server.graphql(RUNS)["runsOrError"]["results"]

    def run_to_completion(self, job: str, config: dict[str, Any]) -> str:
        """Launch and wait for the run to end; its final status."""
        launched = self.launch(job, config)
        assert launched["__typename"] == "LaunchRunSuccess", launched
        run_id = launched["run"]["runId"]
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            status = self.server.graphql(RUN_STATUS, {"runId": run_id})["runOrError"]["status"]
            if status in {"SUCCESS", "FAILURE", "CANCELED"}:
                return status
            time.sleep(0.5)
        raise AssertionError(f"run {run_id} of {job} still running after 120 s:\n{self.server.log()}")

    def config_fields(self, job: str, *path: str) -> dict[str, dict[str, Any]]:
        """The fields of the job's config type at `path` (from the root), as the Launchpad's editor shows them."""
        schema = self.server.graphql(CONFIG_SCHEMA, {"selector": _selector(job)})["runConfigSchemaOrError"]
        types = {config_type["key"]: config_type for config_type in schema["allConfigTypes"]}
        fields = {field["name"]: field for field in types[schema["rootConfigType"]["key"]]["fields"]}
        for name in path:
            fields = {field["name"]: field for field in types[fields[name]["configTypeKey"]]["fields"]}
        return fields

    def latest_events(self, key: InvoiceKey) -> dict[str, dict[str, Any]]:
        """The metadata of the partition's latest materialization and observation, as its page shows them."""
        asset = self.server.graphql(LATEST_EVENTS, {"partition": str(key)})["assetOrError"]
        return {
            kind: _entries(asset[field][0]["metadataEntries"]) if asset[field] else {}
            for kind, field in (("materialization", "assetMaterializations"), ("observation", "assetObservations"))
        }


def _selector(job: str) -> dict[str, str]:
    return {"repositoryLocationName": LOCATION, "repositoryName": "__repository__", "pipelineName": job}


def _entries(entries: list[dict[str, Any]]) -> dict[str, Any]:
    return {entry["label"]: next(value for name, value in entry.items() if name != "label") for entry in entries}


@pytest.fixture(scope="module")
def launchpad(tmp_path_factory) -> Iterator[Launchpad]:
    """One webserver for the module, on a DuckDB workspace of its own."""
    root = tmp_path_factory.mktemp("launchpad")
    workspace = make_workspace(root / "workspace")
    home = root / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text(INSTANCE_YAML, encoding="utf-8")
    env = dagster_env(
        home,
        INVOICE_PIPELINE_CONFIG=str(workspace.config_path),
        INVOICE_PIPELINE_DATA_DIR=str(workspace.root / "data"),
    )
    server = DagsterWebserver(env, root / "webserver.log")
    try:
        yield Launchpad(server, workspace)
    finally:
        server.stop()


def _config(invoice: str = "contoso-csp:G404", reason: str = "duplicate of G2", requested_by: str = WHO) -> dict:
    return {"invoice": invoice, "reason": reason, "requested_by": requested_by}


# What the user reads where they type -------------------------------------------------------------------------


@pytest.mark.parametrize("job", sorted(OPERATION_JOBS))
def test_the_launchpad_asks_for_each_operation_field_at_the_top_level_with_its_description(launchpad, job):
    fields = launchpad.config_fields(job)

    assert set(fields) == REQUIRED | OPERATION_JOBS[job]
    assert {name for name, field in fields.items() if field["isRequired"]} == REQUIRED
    assert {name: bool((field["description"] or "").strip()) for name, field in fields.items()} == dict.fromkeys(
        fields, True
    )
    assert "PROVIDER:INVOICE_ID" in fields["invoice"]["description"]


def test_the_launchpad_shows_the_import_jobs_override_options_with_their_descriptions(launchpad):
    fields = launchpad.config_fields(IMPORT_JOB, "ops", "provider_invoice_import", "config")

    assert {"checksum_override", "requested_by"} <= set(fields)
    assert all((field["description"] or "").strip() for field in fields.values())
    assert "checksum_override_maximum" in fields["checksum_override"]["description"]


# Refused before any run exists -------------------------------------------------------------------------------------


@pytest.mark.parametrize("job", sorted(OPERATION_JOBS))
def test_the_scaffolded_empty_config_is_refused_at_launch_saying_what_to_write_and_no_run_exists(launchpad, job):
    scaffold = {"invoice": "", "reason": "", "requested_by": ""}  # what "Scaffold missing config" writes
    runs_before = launchpad.runs()

    launched = launchpad.launch(job, scaffold)

    assert launched == {
        "__typename": "PythonError",
        "className": "LaunchConfigRefused",
        "message": f"{job} was not launched (nothing changed); fix its config:\n"
        "- invoice: empty; write the provider invoice as PROVIDER:INVOICE_ID, e.g. contoso-csp:G000024130\n"
        "- reason: empty; write why you do this (kept in the invoice's history)\n"
        "- requested_by: empty; write your name or email (kept in the invoice's history)",
        "stack": [],
        "errorChain": [],
    }
    assert launchpad.runs() == runs_before


@pytest.mark.parametrize(
    ("invoice", "problem"),
    [
        (
            "G000024130",
            "invoice: 'G000024130' is not an invoice key; write PROVIDER:INVOICE_ID, e.g. contoso-csp:G000024130",
        ),
        ("Contoso:G1", "invoice: provider id 'Contoso' is not allowed: use lowercase letters, digits and '-'"),
        ("contoso-csp:../G1", "invoice: invoice id '../G1' is not allowed: use 1-100 ASCII letters, digits, '.', '_'"),
    ],
)
def test_a_malformed_invoice_key_is_refused_at_launch_saying_how_to_write_it(launchpad, invoice, problem):
    runs_before = launchpad.runs()

    launched = launchpad.launch("deactivate_provider_invoice", _config(invoice=invoice))

    assert (launched["__typename"], launched["className"], launched["stack"]) == (
        "PythonError",
        "LaunchConfigRefused",
        [],
    )
    assert launched["message"].splitlines()[1].startswith(f"- {problem}")
    assert launchpad.runs() == runs_before


def test_a_blank_reason_is_refused_at_launch_whatever_the_operation(launchpad):
    runs_before = launchpad.runs()
    launched = launchpad.launch("delete_provider_invoice", _config(reason="   "))
    assert launched["message"].splitlines()[1:] == [
        "- reason: empty; write why you do this (kept in the invoice's history)"
    ]
    assert launchpad.runs() == runs_before


def test_header_fields_given_in_part_or_dates_not_yyyy_mm_dd_are_refused_at_launch(launchpad):
    runs_before = launchpad.runs()
    config = _config(invoice=str(MANUAL)) | {"invoice_date": "05/11/2026", "currency": "USD"}

    launched = launchpad.launch("create_manual_provider_invoice", config)

    assert launched["message"].splitlines()[1:] == [
        "- billing_period_start, billing_period_end, total_amount: empty; give every header field, or leave them "
        "all empty to read header.json from the invoice's folder",
        "- invoice_date: '05/11/2026' is not a date; write YYYY-MM-DD, e.g. 2026-11-05",
    ]
    assert launchpad.runs() == runs_before


def test_the_launchpads_own_check_refuses_missing_fields_and_the_old_ops_form(launchpad):
    missing = launchpad.validate("deactivate_provider_invoice", {"invoice": "contoso-csp:G1"})
    assert missing["__typename"] == "RunConfigValidationInvalid"
    assert "Missing required config entries ['reason', 'requested_by']" in missing["errors"][0]["message"]

    old_form = {"ops": {"deactivate_provider_invoice_op": {"config": _config()}}}
    assert launchpad.validate("deactivate_provider_invoice", old_form)["__typename"] == "RunConfigValidationInvalid"
    assert launchpad.launch("deactivate_provider_invoice", old_form)["__typename"] == "RunConfigValidationInvalid"


# Good config launches; the operation shows on the partition at once --------------------------------------------------


@pytest.mark.slow  # three real runs, one process each (about 30 s)
def test_good_config_launches_and_each_operation_shows_on_the_invoices_partition(launchpad):
    header = {
        "invoice_date": "2026-11-05",
        "billing_period_start": "2026-10-01",
        "billing_period_end": "2026-10-31",
        "currency": "USD",
        "total_amount": "135.00",
    }
    assert launchpad.validate("create_manual_provider_invoice", _config(str(MANUAL)) | header) == {
        "__typename": "PipelineConfigValidationValid"
    }

    created = launchpad.run_to_completion(
        "create_manual_provider_invoice", _config(str(MANUAL), reason="vendor invoice received by post") | header
    )

    assert created == "SUCCESS"
    partitions = partition_statuses(launchpad.server, "provider_invoice")
    assert str(MANUAL) in partitions["keys"] and str(MANUAL) in partitions["missing"]
    shown = launchpad.latest_events(MANUAL)
    assert (shown["observation"]["status"], shown["observation"]["change"]) == (
        "Populating",
        f"created by hand by {WHO}: vendor invoice received by post",
    )

    line = license_line("F1", "135.00", customer_id="FAB-CUST-77", subscription_id="FAB-SUB-1", product_id="BACKUP-TB")
    launchpad.workspace.add_invoice(MANUAL.invoice_id, license=[line], provider=MANUAL.provider)
    activated = launchpad.run_to_completion("activate_manual_provider_invoice", _config(str(MANUAL), reason="checked"))

    assert activated == "SUCCESS"
    assert str(MANUAL) in partition_statuses(launchpad.server, "provider_invoice")["materialized"]
    materialized = launchpad.latest_events(MANUAL)["materialization"]
    assert (materialized["status"], materialized["total_amount"], materialized["license_line_count"]) == (
        "Active",
        "135.00",
        1,
    )

    deactivated = launchpad.run_to_completion("deactivate_provider_invoice", _config(str(MANUAL), reason="reissued"))

    assert deactivated == "SUCCESS"
    assert str(MANUAL) not in partition_statuses(launchpad.server, "provider_invoice")["keys"]
    observed = launchpad.latest_events(MANUAL)["observation"]
    assert (observed["status"], observed["change"]) == ("Inactive", f"deactivated by {WHO}: reissued")
    warehouse = launchpad.workspace.warehouse()
    try:
        assert [(r.status, r.record_id) for r in warehouse.list_invoices(MANUAL.provider)] == [
            ("Inactive", observed["record_id"])
        ]
    finally:
        warehouse.dispose()
