"""The Dagster side of an import: the real assets, asset checks and jobs, run in a test instance."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal

import dagster as dg
import pytest
import sqlalchemy as sa

from invoice_pipeline.config import DEMO_CONFIG_PATH
from invoice_pipeline.dagster_defs.invoice_assets import NO_INVOICE_IN_ERROR
from invoice_pipeline.dagster_defs.jobs import IMPORT_JOB, REFERENCE_JOB
from invoice_pipeline.dagster_defs.mail import smtp_resource
from invoice_pipeline.dagster_defs.resources import InvoicePipelineResource, pipeline_resource
from invoice_pipeline.dagster_defs.run_tags import RUN_TAG_INVOICE, RUN_TAG_KEY, RUN_TAG_OUTCOME, RUN_TAG_PROVIDER
from invoice_pipeline.dagster_defs.runs import run_invoice_import, run_reference_refresh
from invoice_pipeline.definitions import defs
from invoice_pipeline.domain.invoice_keys import InvoiceKey
from invoice_pipeline.importing.import_results import CHECKSUM_CHECK, REFERENCES_CHECK, SCHEMA_CHECK
from invoice_pipeline.schemas.reference_data import REFERENCE_SCHEMAS
from invoice_pipeline.warehouse import tables as t
from invoice_pipeline_tests.builders import ProviderWorkspace, clean_invoice, license_line, make_workspace, usage_line

KEY = InvoiceKey("contoso-csp", "G300000001")
PARTITIONS = "provider_invoices"
INVOICE_CHECKS = {SCHEMA_CHECK, REFERENCES_CHECK, CHECKSUM_CHECK}
ALL_CHECKS = INVOICE_CHECKS | {NO_INVOICE_IN_ERROR}


@pytest.fixture
def instance():
    with dg.instance_for_test() as test_instance:
        yield test_instance


def _workspace_definitions() -> dg.Definitions:
    """The real assets and jobs, with the resource as the definitions build it (INVOICE_PIPELINE_CONFIG is set).

    `invoice_pipeline.definitions.defs` bound its resource when it was first imported (possibly before the
    workspace fixture set the variable), so the definitions are rebuilt around `pipeline_resource()` here.
    """
    resource = pipeline_resource()
    assert isinstance(resource, InvoicePipelineResource)
    return dg.Definitions(
        assets=defs.assets, jobs=defs.jobs, resources={"invoice_pipeline": resource, "smtp": smtp_resource()}
    )


@pytest.fixture
def workspace_defs(workspace) -> dg.Definitions:
    """The definitions bound to the test's workspace."""
    return _workspace_definitions()


def _run_import(
    defs_: dg.Definitions, instance: dg.DagsterInstance, key: InvoiceKey = KEY
) -> dg.ExecuteInProcessResult:
    if not instance.has_dynamic_partition(PARTITIONS, str(key)):
        instance.add_dynamic_partitions(PARTITIONS, [str(key)])
    return defs_.resolve_job_def(IMPORT_JOB).execute_in_process(
        instance=instance, partition_key=str(key), raise_on_error=False
    )


def _materializations(result: dg.ExecuteInProcessResult) -> dict[str, dict]:
    """Materialized asset (by its key's last part) -> its metadata values."""
    found = {}
    for event in result.get_asset_materialization_events():
        materialization = event.event_specific_data.materialization
        found[materialization.asset_key.path[-1]] = {k: v.value for k, v in materialization.metadata.items()}
    return found


def _observations(result: dg.ExecuteInProcessResult) -> dict[str, dict]:
    """Observed asset (by its key's last part) -> its metadata values."""
    found = {}
    for event in result.all_events:
        if event.is_asset_observation:
            observation = event.asset_observation_data.asset_observation
            found[observation.asset_key.path[-1]] = {k: v.value for k, v in observation.metadata.items()}
    return found


def _checks(result: dg.ExecuteInProcessResult) -> dict[str, dg.AssetCheckEvaluation]:
    return {evaluation.check_name: evaluation for evaluation in result.get_asset_check_evaluations()}


def _table_rows(value: dg.TableMetadataValue) -> list[dict]:
    return [record.data for record in value.records]


def _clean_invoice(workspace):
    clean_invoice(workspace, KEY.invoice_id)


@dataclass
class CleanRun:
    """One end-to-end import of a clean invoice: its workspace, its instance and the run's result."""

    workspace: ProviderWorkspace
    instance: dg.DagsterInstance
    result: dg.ExecuteInProcessResult


@pytest.fixture(scope="module")
def clean_run(tmp_path_factory, migrated_duckdb) -> Iterator[CleanRun]:
    """The clean invoice imported once for the module; each test below reads one side of the same run."""
    workspace = make_workspace(tmp_path_factory.mktemp("clean_run"), migrated_duckdb=migrated_duckdb)
    _clean_invoice(workspace)
    with dg.instance_for_test() as instance:
        with pytest.MonkeyPatch.context() as env:
            env.setenv("INVOICE_PIPELINE_CONFIG", str(workspace.config_path))
            env.setenv("INVOICE_PIPELINE_DATA_DIR", str(workspace.root / "data"))
            result = _run_import(_workspace_definitions(), instance)
        yield CleanRun(workspace, instance, result)


# The definitions ------------------------------------------------------------------------------


def test_definitions_hold_the_import_job_its_three_checks_a_warning_and_the_assets_its_import_writes():
    job = defs.resolve_job_def(IMPORT_JOB)
    assert job.partitions_def is not None and job.partitions_def.name == PARTITIONS
    asset_graph = defs.resolve_asset_graph()
    keys = {key.to_user_string() for key in asset_graph.get_all_asset_keys()}
    assert {"provider_invoice", "usage_summaries", "license_summaries", "billable_usage"} <= keys
    assert {f"reference_{name}" for name in REFERENCE_SCHEMAS} <= keys
    checks = {key.name for key in asset_graph.asset_check_keys if key.asset_key == dg.AssetKey("provider_invoice")}
    assert checks == ALL_CHECKS
    import_assets = defs.resolve_assets_def("provider_invoice")
    assert {spec.name for spec in import_assets.check_specs} == ALL_CHECKS
    # written by the import when its invoice is Active, never launched: an Error never fails their partitions
    for written in ("usage_summaries", "license_summaries", "billable_usage"):
        assert not asset_graph.get(dg.AssetKey(written)).is_executable, written
    assert job.asset_layer.selected_asset_keys == {dg.AssetKey("provider_invoice")}


def test_resource_follows_the_config_env_var_and_falls_back_to_the_bundled_demo(monkeypatch, tmp_path):
    config = tmp_path / "config.yaml"
    monkeypatch.setenv("INVOICE_PIPELINE_CONFIG", str(config))
    bound = pipeline_resource()
    # Bound to the variable, not to its value at definition time: it is read when a run starts.
    monkeypatch.setenv("INVOICE_PIPELINE_CONFIG", str(tmp_path / "other.yaml"))

    @dg.asset
    def which_config(invoice_pipeline: InvoicePipelineResource) -> str:
        return str(invoice_pipeline.config_file())

    result = dg.materialize([which_config], resources={"invoice_pipeline": bound})
    assert result.output_for_node("which_config") == str(tmp_path / "other.yaml")

    monkeypatch.delenv("INVOICE_PIPELINE_CONFIG")
    assert pipeline_resource().config_file() == DEMO_CONFIG_PATH


# A clean invoice --------------------------------------------------------------------------------


def test_clean_invoice_materializes_the_three_invoice_assets_with_status_totals_and_line_counts(clean_run):
    workspace, result = clean_run.workspace, clean_run.result
    assert result.success
    materialized = _materializations(result)
    invoice = materialized["provider_invoice"]
    assert invoice["status"] == "Active"
    assert invoice["message"] == "Imported"
    assert invoice["currency"] == "USD"
    for name in ("total_amount", "usage_total", "license_total", "difference"):
        assert isinstance(invoice[name], str), name
    assert Decimal(invoice["total_amount"]) == Decimal("58.75")
    assert Decimal(invoice["usage_total"]) == Decimal("22.75")
    assert Decimal(invoice["license_total"]) == Decimal("36.00")
    assert Decimal(invoice["difference"]) == 0
    assert (invoice["usage_line_count"], invoice["license_line_count"]) == (3, 1)
    assert materialized["usage_summaries"] == {"line_count": 3, "total": "22.75", "currency": "USD"}
    assert materialized["license_summaries"] == {"line_count": 1, "total": "36.00", "currency": "USD"}
    warehouse = workspace.warehouse()
    try:
        assert invoice["record_id"] == warehouse.current_record(KEY).record_id
    finally:
        warehouse.dispose()


def test_invoice_metadata_shows_money_with_the_currencys_minor_units_like_the_cli_and_the_checksum_check(clean_run):
    # USD has 2 minor units: the CLI (`invoices list --json`) and the checksum check both say "36.00" and "0.00".
    workspace, result = clean_run.workspace, clean_run.result
    invoice = _materializations(result)["provider_invoice"]
    warehouse = workspace.warehouse()
    try:
        summary = warehouse.current_record(KEY).summary()
    finally:
        warehouse.dispose()
    assert _checks(result)[CHECKSUM_CHECK].metadata["difference"].value == "0.00"
    shown = {name: invoice[name] for name in ("total_amount", "usage_total", "license_total", "difference")}
    assert shown == {name: summary[name] for name in shown}


def test_clean_invoice_passes_all_three_checks_with_their_figures(clean_run):
    checks = _checks(clean_run.result)
    assert set(checks) == ALL_CHECKS
    assert all(evaluation.passed for evaluation in checks.values())
    assert all(evaluation.asset_key == dg.AssetKey("provider_invoice") for evaluation in checks.values())
    schema = {k: v.value for k, v in checks[SCHEMA_CHECK].metadata.items()}
    assert schema == {"invoice": str(KEY), "usage_line_count": "3", "license_line_count": "1"}  # text: never charted
    checksum = {k: v.value for k, v in checks[CHECKSUM_CHECK].metadata.items()}
    assert checksum["header_total"] == "58.75"
    assert checksum["lines_total"] == "58.75"
    assert checksum["difference"] == "0.00"
    references = checks[REFERENCES_CHECK].metadata
    assert references["errors"].value == "0"
    assert _table_rows(references["missing_references"]) == []


def test_billable_usage_of_an_active_invoice_is_materialized_per_account_and_subscription(clean_run):
    result, instance = clean_run.result, clean_run.instance
    billable = _materializations(result)["billable_usage"]
    assert (billable["row_count"], billable["line_count"]) == (2, 3)
    assert _table_rows(billable["totals_by_currency"]) == [
        {"currency": "USD", "row_count": 2, "line_count": 3, "amount": "22.75"}
    ]
    rows = _table_rows(billable["largest_rows"])  # largest first
    assert [(row["account_id"], row["subscription_id"]) for row in rows] == [
        ("ACC-1001", "SUB-AZ-1001"),
        ("ACC-1002", "SUB-AZ-1002"),
    ]
    assert (rows[0]["amount"], rows[0]["line_count"], rows[1]["amount"]) == ("15.50", 2, "7.25")
    # The materialization is recorded against the invoice's partition in the instance.
    event = instance.get_latest_materialization_event(dg.AssetKey("billable_usage"))
    assert event is not None and event.dagster_event.partition == str(KEY)


# Validation failures ----------------------------------------------------------------------------------


def test_checksum_failure_fails_the_checksum_check_with_the_totals_and_the_difference(
    workspace, workspace_defs, instance
):
    workspace.add_invoice(
        KEY.invoice_id, usage=[usage_line("U1", "6000.00")], license=[license_line("L1", "3999.63")], total="10000.00"
    )
    result = _run_import(workspace_defs, instance)
    assert not result.success
    checks = _checks(result)
    assert checks[SCHEMA_CHECK].passed and checks[REFERENCES_CHECK].passed
    checksum = checks[CHECKSUM_CHECK]
    assert not checksum.passed
    assert checksum.severity == dg.AssetCheckSeverity.ERROR
    figures = {k: v.value for k, v in checksum.metadata.items()}
    assert figures["header_total"] == "10000.00"
    assert figures["lines_total"] == "9999.63"
    assert figures["difference"] == "0.37"
    assert figures["currency"] == "USD"
    assert _materializations(result) == {}  # an invoice in Error is a failed partition, not a materialized one
    invoice = _observations(result)["provider_invoice"]
    assert invoice["status"] == "Error"
    assert invoice["message"].startswith("Checksum failed: header 10,000.00 USD")
    assert invoice["line_totals.csv path"].endswith(
        f"notes/{KEY.provider}/{KEY.invoice_id}/{invoice['record_id']}/line_totals.csv"
    )
    (failure,) = result.get_step_failure_events()
    error = failure.step_failure_data.error
    assert error.message == f"{KEY} is in Error: {invoice['message']}" and error.stack == []
    told = {k: v.value for k, v in failure.step_failure_data.user_failure_data.metadata.items()}
    assert (told["status"], told["message"], told["changed_by"]) == (
        "Error",
        invoice["message"],
        f"dagster run {result.run_id}",
    )
    assert "checksum_override" in told["what_to_do"] and told["line_totals.csv path"] == invoice["line_totals.csv path"]


def test_out_of_period_lines_fail_the_partition_and_its_observation_names_the_out_of_period_lines_note(
    workspace, workspace_defs, instance
):
    workspace.add_invoice(
        KEY.invoice_id,
        usage=[usage_line("U1"), usage_line("U2", charge_start_date="2027-01-01", charge_end_date="2027-01-31")],
    )
    result = _run_import(workspace_defs, instance)
    assert not result.success
    assert all(check.passed for name, check in _checks(result).items() if name in INVOICE_CHECKS)
    assert _materializations(result) == {}
    invoice = _observations(result)["provider_invoice"]
    assert invoice["status"] == "Error"
    assert invoice["message"].startswith("Lines out of period: 1 line charged more than 31 days after")
    assert invoice["out_of_period_lines.csv rows"] == "1 of 1 shown (Out Of Period Lines)"
    assert "U2" in str(invoice["out_of_period_lines.csv"].records)
    (failure,) = result.get_step_failure_events()
    assert failure.step_failure_data.error.message == f"{KEY} is in Error: {invoice['message']}"


def test_an_active_invoice_with_out_of_period_lines_says_how_many_in_its_message(workspace, workspace_defs, instance):
    workspace.add_invoice(
        KEY.invoice_id,
        usage=[usage_line("U1"), usage_line("U2", charge_start_date="2026-09-01", charge_end_date="2026-09-30")],
    )
    result = _run_import(workspace_defs, instance)
    assert result.success
    assert _materializations(result)["provider_invoice"]["message"].startswith(
        "Imported with 1 out-of-period line (charge starting 2026-09-01, billing period 2026-10-01 to 2026-10-31; "
    )


def test_a_checksum_difference_has_one_sign_and_the_currency_minor_units_in_message_and_figures(
    workspace, workspace_defs, instance
):
    workspace.add_invoice(KEY.invoice_id, usage=[usage_line("U1", "10.004", unit_price="10.004")], adjust_total="-125")
    checksum = _checks(_run_import(workspace_defs, instance))[CHECKSUM_CHECK]
    figures = {k: v.value for k, v in checksum.metadata.items()}
    assert (figures["usage_total"], figures["lines_total"], figures["difference"]) == ("10.00", "10.00", "-125.00")
    assert checksum.description.endswith("difference -125.00 USD")


def test_an_invoice_in_error_writes_no_billable_usage_and_fails_its_import_step_alone(
    workspace, workspace_defs, instance
):
    workspace.add_invoice(KEY.invoice_id, usage=[usage_line("U1", "10.00")], adjust_total="125.00")
    result = _run_import(workspace_defs, instance)
    assert not result.success
    assert "billable_usage" not in _materializations(result)
    assert instance.get_latest_materialization_event(dg.AssetKey("billable_usage")) is None
    failures = result.get_step_failure_events()
    assert [event.step_key for event in failures] == ["provider_invoice_import"]
    assert failures[0].step_failure_data.error.cls_name == "ProviderInvoiceInError"


def test_unresolved_references_fail_the_references_check_with_a_missing_references_table(
    workspace, workspace_defs, instance
):
    workspace.add_invoice(
        KEY.invoice_id,
        usage=[
            usage_line("U1"),
            usage_line("U2", customer_id="unknown-tenant"),
            usage_line("U3", customer_id="unknown-tenant"),
            usage_line("U4", product_id="UNKNOWN-PRODUCT"),
        ],
    )
    result = _run_import(workspace_defs, instance)
    assert not result.success
    references = _checks(result)[REFERENCES_CHECK]
    assert not references.passed
    assert "customer 'unknown-tenant' (2 lines)" in references.description
    assert references.metadata["errors"].value == "1"
    assert references.metadata["warnings"].value == "1"
    rows = _table_rows(references.metadata["missing_references"])
    assert {
        "severity": "error",
        "reference_type": "customer",
        "reference_id": "unknown-tenant",
        "line_count": 2,
        "example_line_ids": "U2 U3",
    } in rows
    assert any(row["severity"] == "warning" and row["reference_id"] == "UNKNOWN-PRODUCT" for row in rows)
    assert _observations(result)["provider_invoice"]["status"] == "Error"
    assert _materializations(result) == {}


def test_schema_failure_fails_the_schema_check_and_leaves_the_other_checks_not_evaluated(
    workspace, workspace_defs, instance
):
    workspace.add_invoice(KEY.invoice_id, usage=[usage_line("U1", "1,000.00", unit_price="1")], total="10.00")
    checks = _checks(_run_import(workspace_defs, instance))
    assert set(checks) == ALL_CHECKS
    assert not any(evaluation.passed for evaluation in checks.values())
    assert checks[NO_INVOICE_IN_ERROR].severity == dg.AssetCheckSeverity.WARN
    assert "column 'amount' must be a decimal number" in checks[SCHEMA_CHECK].description
    assert checks[SCHEMA_CHECK].metadata["failing_rows"].value == "1"
    assert checks[SCHEMA_CHECK].severity == dg.AssetCheckSeverity.ERROR
    for skipped in (REFERENCES_CHECK, CHECKSUM_CHECK):  # did not run: a warning saying so, not a failure of its own
        assert checks[skipped].description.startswith(f"{KEY}: Not evaluated"), skipped
        assert checks[skipped].severity == dg.AssetCheckSeverity.WARN, skipped


def test_running_an_active_invoice_again_is_refused_saying_deactivate_or_delete_and_writes_nothing(
    workspace, workspace_defs, instance
):
    _clean_invoice(workspace)
    assert _run_import(workspace_defs, instance).success
    warehouse = workspace.warehouse()
    try:
        history_before = warehouse.history(KEY)
        again = _run_import(workspace_defs, instance)
        history_after = warehouse.history(KEY)
        status = warehouse.current_record(KEY).status
    finally:
        warehouse.dispose()
    assert again.success  # a failed run would show the Active invoice's partition as failed
    assert instance.get_run_by_id(again.run_id).tags[RUN_TAG_OUTCOME] == "refused"
    logged = [record.user_message for record in instance.all_logs(again.run_id) if record.level >= 40]
    assert any(
        "is Active and cannot be downloaded again; deactivate it (recommended) or delete it first" in message
        for message in logged
    ), logged
    assert _materializations(again) == {} and _observations(again) == {}  # nothing recorded that did not happen
    assert _checks(again) == {}
    assert history_after == history_before and status == "Active"


# Reference data ---------------------------------------------------------------------------------------


def _csv_rows(workspace, name: str) -> int:
    with (workspace.root / "reference" / f"{name}.csv").open(encoding="utf-8") as handle:
        return sum(1 for _ in csv.DictReader(handle))


def _reference_counts(workspace) -> dict[str, int]:
    warehouse = workspace.warehouse()
    try:
        with warehouse.engine.connect() as conn:
            return {
                name: conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one()
                for name, table in t.REFERENCE_TABLES.items()
            }
    finally:
        warehouse.dispose()


def test_reference_data_assets_materialize_and_publish_every_table_to_the_warehouse(
    workspace, workspace_defs, instance
):
    job = workspace_defs.resolve_job_def(REFERENCE_JOB)
    result = job.execute_in_process(instance=instance)
    assert result.success
    materialized = _materializations(result)
    expected = {name: _csv_rows(workspace, name) for name in REFERENCE_SCHEMAS}
    assert {name: materialized[f"reference_{name}"]["row_count"] for name in REFERENCE_SCHEMAS} == expected
    assert all(count > 0 for count in expected.values())
    preview = _table_rows(materialized["reference_currencies"]["preview"])
    assert {"code": "JPY", "minor_units": "0"} in [{**row, "minor_units": str(row["minor_units"])} for row in preview]
    assert _reference_counts(workspace) == expected
    # A refresh replaces the published rows rather than adding to them.
    assert job.execute_in_process(instance=instance).success
    assert _reference_counts(workspace) == expected


def test_invalid_reference_file_fails_its_asset_and_keeps_the_published_table(workspace, workspace_defs, instance):
    assert run_reference_refresh(workspace_defs, instance).success
    before = _reference_counts(workspace)
    (workspace.root / "reference" / "currencies.csv").write_text("code,minor_units\nUSD,two\n", encoding="utf-8")
    outcome = run_reference_refresh(workspace_defs, instance)
    assert not outcome.success and outcome.broken
    failed_steps = [
        event.step_key
        for event in instance.all_logs(outcome.run_id)
        if event.dagster_event is not None and event.dagster_event.is_step_failure
    ]
    assert failed_steps == ["reference_currencies"]
    assert _reference_counts(workspace) == before


# The run helper the CLI uses ---------------------------------------------------------------------------


def test_run_invoice_import_reports_a_validation_failure_as_failed_but_not_broken(workspace, workspace_defs, instance):
    workspace.add_invoice(KEY.invoice_id, usage=[usage_line("U1", customer_id="unknown-tenant")])
    outcome = run_invoice_import(workspace_defs, instance, KEY)
    assert (outcome.success, outcome.broken, outcome.error) == (False, False, None)
    assert instance.get_run_by_id(outcome.run_id).status == dg.DagsterRunStatus.FAILURE


def test_run_invoice_import_reports_a_clean_import_as_a_success(workspace, workspace_defs, instance):
    _clean_invoice(workspace)
    outcome = run_invoice_import(workspace_defs, instance, KEY)
    assert (outcome.success, outcome.broken, outcome.error) == (True, False, None)
    assert instance.get_run_by_id(outcome.run_id).status == dg.DagsterRunStatus.SUCCESS


def _explode(*args, **kwargs):
    raise OSError("disk full")


def test_run_invoice_import_reports_a_crash_as_broken_and_the_invoice_goes_to_error(
    workspace, workspace_defs, instance, monkeypatch
):
    _clean_invoice(workspace)
    monkeypatch.setattr("invoice_pipeline.importing.invoice_validation.find_missing_references", _explode)
    outcome = run_invoice_import(workspace_defs, instance, KEY)
    assert (outcome.success, outcome.broken) == (False, True)
    assert outcome.error
    warehouse = workspace.warehouse()
    try:
        record = warehouse.current_record(KEY)
    finally:
        warehouse.dispose()
    assert record.status == "Error"
    assert "Import failed unexpectedly (OSError: disk full)" in record.message
    assert record.run_id == outcome.run_id


def test_run_invoice_import_names_the_cause_of_a_crash_in_its_error(workspace, workspace_defs, instance, monkeypatch):
    # The CLI prints the first line of this error as the invoice's outcome (`failed\t<error>`).
    _clean_invoice(workspace)
    monkeypatch.setattr("invoice_pipeline.importing.invoice_validation.find_missing_references", _explode)
    outcome = run_invoice_import(workspace_defs, instance, KEY)
    assert outcome.broken
    assert "disk full" in outcome.error.splitlines()[0]


def test_import_runs_carry_the_provider_and_invoice_tags_and_register_the_partition_once(
    workspace, workspace_defs, instance
):
    _clean_invoice(workspace)
    other = InvoiceKey("contoso-csp", "G300000002")
    workspace.add_invoice(other.invoice_id, usage=[usage_line("U1")])
    first = run_invoice_import(workspace_defs, instance, KEY)
    second = run_invoice_import(workspace_defs, instance, other)
    tags = instance.get_run_by_id(first.run_id).tags
    assert tags[RUN_TAG_PROVIDER] == "contoso-csp"
    assert tags[RUN_TAG_INVOICE] == "G300000001"
    assert tags[RUN_TAG_KEY] == "contoso-csp:G300000001"
    assert tags["dagster/partition"] == "contoso-csp:G300000001"
    by_invoice = instance.get_runs(filters=dg.RunsFilter(tags={RUN_TAG_KEY: str(other)}))
    assert [run.run_id for run in by_invoice] == [second.run_id]
    by_provider = instance.get_runs(filters=dg.RunsFilter(tags={RUN_TAG_PROVIDER: "contoso-csp"}))
    assert {run.run_id for run in by_provider} == {first.run_id, second.run_id}
    run_invoice_import(workspace_defs, instance, KEY)  # refused (Active), but the partition is not added twice
    assert sorted(instance.get_dynamic_partitions(PARTITIONS)) == [str(KEY), str(other)]
