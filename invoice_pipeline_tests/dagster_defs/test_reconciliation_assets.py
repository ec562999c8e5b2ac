"""The monthly reconciliation asset, materialized in process: what its partition shows (bounded at any size), the
report it writes, and a failure told in one sentence."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import dagster as dg
import pytest
import yaml

from invoice_pipeline.composition import connector_for
from invoice_pipeline.dagster_defs.billing_assets import billing_periods, first_billing_period
from invoice_pipeline.dagster_defs.mail import smtp_resource
from invoice_pipeline.dagster_defs.pipeline import pipeline_definitions
from invoice_pipeline.dagster_defs.reconciliation_assets import daily_reconciliation_schedule, reconciliation_metadata
from invoice_pipeline.dagster_defs.resources import InvoicePipelineResource
from invoice_pipeline.domain.billing_period import BillingPeriod
from invoice_pipeline.domain.invoice_keys import InvoiceKey
from invoice_pipeline.importing.invoice_import import import_provider_invoice
from invoice_pipeline.reconciliation.findings import Finding, FindingKind
from invoice_pipeline.reconciliation.reports import (
    EXPLANATION_SHOWN,
    FINDING_SUMMARY_COLUMNS,
    IDENTIFIER_SHOWN,
    TOTAL_COLUMNS,
    finding_summary_row,
)
from invoice_pipeline.reconciliation.tie_out import Reconciliation
from invoice_pipeline.reconciliation.totals import CurrencyTotals
from invoice_pipeline_tests.builders import clean_invoice, license_line, make_workspace, usage_line
from invoice_pipeline_tests.dagster_ui import BIN, PROJECT_ROOT, DagsterWebserver, dagster_env

TODAY = date(2026, 12, 7)


def _definitions(workspace) -> dg.Definitions:
    """The pipeline's definitions built from the workspace's configuration (INVOICE_PIPELINE_CONFIG's)."""
    resource = InvoicePipelineResource(config_path=str(workspace.config_path))
    return pipeline_definitions(workspace.config(), {"invoice_pipeline": resource, "smtp": smtp_resource()})


def _materialize(workspace, period: str = "2026-10") -> dg.ExecuteInProcessResult:
    job = _definitions(workspace).resolve_job_def("reconcile_billing_period")
    return job.execute_in_process(partition_key=period, raise_on_error=False)


def test_billing_periods_are_months_from_the_first_billing_period_up_to_the_current_one(workspace):
    defs = _definitions(workspace)
    now = datetime.now(UTC)
    for name in ("customer_invoices", "period_reconciliation"):
        keys = defs.get_assets_def(name).partitions_def.get_partition_keys()
        assert keys[0] == "2026-09" and keys[-1] == f"{now:%Y-%m}" and all(len(key) == 7 for key in keys)


def test_the_reconciliation_asset_says_where_its_partitions_start_and_why(workspace):
    [spec] = _definitions(workspace).get_assets_def("period_reconciliation").specs
    assert spec.metadata["partitions_start"] == dg.MetadataValue.text(
        f"2026-09: first_billing_period in {workspace.config_path}"
    )


def _unconfigured(workspace) -> None:
    """The workspace's config without a first_billing_period (the test workspaces pin one)."""
    data = yaml.safe_load(workspace.config_path.read_text())
    data.pop("first_billing_period", None)
    workspace.config_path.write_text(yaml.safe_dump(data))


def _first_period(workspace, today: date = TODAY, **settings) -> tuple[str, str]:
    _unconfigured(workspace)
    data = yaml.safe_load(workspace.config_path.read_text())
    data.update(settings)
    workspace.config_path.write_text(yaml.safe_dump(data))
    period, reason = first_billing_period(today, workspace.config(), workspace.config_path)
    return str(period), reason


def test_the_partitions_start_at_the_configured_first_billing_period(workspace):
    period, reason = _first_period(workspace, first_billing_period="2025-06")
    assert (period, reason) == ("2025-06", f"2025-06: first_billing_period in {workspace.config_path}")


def test_a_first_billing_period_after_the_current_month_starts_the_partitions_at_the_current_month(workspace):
    period, reason = _first_period(workspace, first_billing_period="2027-03")
    assert period == "2026-12"
    assert reason == (
        f"2026-12: the current month (first_billing_period in {workspace.config_path} is 2027-03, a month to "
        "come; set it to the first month with data)"
    )


def test_unconfigured_the_partitions_start_at_the_month_before_last(workspace):
    """Providers invoice a month in the next one: the month before last is the oldest the daily schedule still
    reconciles on the 1st, and a new deployment's first data is usually in it."""
    period, reason = _first_period(workspace)
    assert period == "2026-10"
    assert reason == (
        f"2026-10: the month before last (no first_billing_period in {workspace.config_path}, no month reconciled "
        "before it); set first_billing_period to show earlier months"
    )


def test_unconfigured_the_partitions_keep_every_month_already_reconciled(workspace):
    """The daily schedule reconciles every month as it passes: those months stay partitions as the months move on."""
    reports = workspace.root / "data" / "reconciliation"
    for name in ("2026-03", "2025-11", "not-a-month", "2025-13"):
        (reports / name).mkdir(parents=True)
    (reports / "2024-01-notes.txt").write_text("a file, not a month's folder", encoding="utf-8")

    period, reason = _first_period(workspace)

    assert period == "2025-11"
    assert reason == (
        f"2025-11: the first month reconciled ({reports / '2025-11'}); set first_billing_period in "
        f"{workspace.config_path} to choose the first month"
    )


# Imports the Dagster definitions' modules, then the code location's, noting every file opened.
_IMPORTS = """
import os, sys
opened = set()

def note(event, args):
    if event == "open" and isinstance(args[0], (str, os.PathLike)):
        opened.add(os.path.realpath(args[0]))

sys.addaudithook(note)
import invoice_pipeline.dagster_defs.billing_assets, invoice_pipeline.dagster_defs.reconciliation_assets
import invoice_pipeline.dagster_defs.pipeline
print("opened:", os.path.realpath(sys.argv[1]) in opened, flush=True)
import invoice_pipeline.definitions
"""


@pytest.mark.parametrize("broken", ["providers: [", None], ids=["broken", "missing"])
def test_the_definitions_modules_import_without_reading_the_configuration_the_code_location_fails_on_it(
    tmp_path, broken
):
    """The monthly partitions are built from the configuration the code location loads, once: importing the modules
    never reads it, and a configuration that cannot be read fails the code location with its one line."""
    config_path = tmp_path / "config.yaml"
    if broken is not None:
        config_path.write_text(broken, encoding="utf-8")
    env = dagster_env(tmp_path / "dagster_home", INVOICE_PIPELINE_CONFIG=str(config_path))

    imported = subprocess.run(
        [sys.executable, "-c", _IMPORTS, str(config_path)], env=env, cwd=tmp_path, capture_output=True, text=True,
        timeout=300,
    )  # fmt: skip

    assert imported.stdout == "opened: False\n", imported.stderr
    assert imported.returncode == 1
    problem = f"{config_path}: not valid YAML" if broken else f"config file {config_path} does not exist"
    assert imported.stderr.splitlines()[-1].startswith(f"invoice_pipeline.config.ConfigError: {problem}")


def test_the_daily_schedule_reconciles_the_last_month_and_the_current_one_once_a_day():
    """Providers invoice a month in the next one: on the 2nd, last month still changes, and this month has begun."""
    now = datetime.now(UTC)
    context = dg.build_schedule_context(scheduled_execution_time=datetime(now.year, now.month, 2, 7, 30, tzinfo=UTC))
    last, current = BillingPeriod(now.year, now.month).previous(2)

    requests = daily_reconciliation_schedule(billing_periods(last))(context)

    assert [(r.partition_key, r.run_key) for r in requests] == [
        (str(last), f"{last}@{current}-02"),
        (str(current), f"{current}@{current}-02"),
    ]


def test_the_daily_schedule_asks_for_no_month_before_the_first_billing_period():
    schedule = daily_reconciliation_schedule(billing_periods(BillingPeriod(2026, 9)))
    context = dg.build_schedule_context(scheduled_execution_time=datetime(2026, 9, 3, 7, 30, tzinfo=UTC))

    assert [r.partition_key for r in schedule(context)] == ["2026-09"]


def _counts(metadata) -> dict[str, int]:
    return {record.data["kind"]: int(record.data["count"]) for record in metadata["finding_counts"].value.records}


def _totals(metadata, currency: str) -> dict[str, str]:
    return {record.data["total"]: record.data[currency] for record in metadata["totals_by_currency"].value.records}


def test_a_period_shows_one_short_table_per_kind_of_finding_with_its_10_largest(workspace, warehouse):
    """30 subscriptions of unbilled usage (Northwind's contract: 10% over cost) and 17 seats over-billed: the counts
    of every kind in one table, then each kind with findings its own table of few columns, its 10 largest."""
    with (workspace.root / "reference" / "subscriptions.csv").open("a", encoding="utf-8") as subscriptions:
        subscriptions.writelines(f"contoso-csp,SUB-X-{n},ACC-1001,BC-2001,AZURE-PLAN\n" for n in range(1, 31))
    usage = [usage_line(f"U{n}", f"{n}.00", subscription_id=f"SUB-X-{n}") for n in range(1, 31)]
    workspace.add_invoice("G-MANY", usage=usage, license=[license_line("L1", "36.00")])
    import_provider_invoice(
        workspace.config(), warehouse, InvoiceKey("contoso-csp", "G-MANY"), connectors=connector_for
    )

    result = _materialize(workspace)

    assert result.success
    [materialization] = result.asset_materializations_for_node("period_reconciliation")
    metadata = materialization.metadata
    assert list(metadata) == [
        "report",
        "report_link",
        "period",
        "totals_by_currency",
        "finding_counts",
        "overbilled_seats",
        "unbilled_usage",
    ]
    assert _counts(metadata) == {kind.value: 0 for kind in FindingKind} | {"overbilled_seats": 1, "unbilled_usage": 30}
    unbilled = metadata["unbilled_usage"].value
    assert len(unbilled.records) == 10
    assert [column.name for column in unbilled.schema.columns] == [
        "account",
        "subscription",
        "currency",
        "effect",
        "explanation",
    ]
    assert [record.data["effect"] for record in unbilled.records[:2]] == ["33.00", "31.90"]  # U30, U29 plus 10%
    assert unbilled.records[0].data["explanation"] == "1 of 1 line not billed; cost 30.00 USD plus markup 10%"
    [seats] = metadata["overbilled_seats"].value.records
    assert seats.data == {
        "account": "ACC-1001",
        "product": "M365-E3",
        "currency": "USD",
        "effect": "-595.00",  # 17 seats over-billed at 35.00
        "explanation": "18 seats billed at 35.00 USD, 1 at the provider",
    }
    assert _totals(metadata, "USD")["provider_cost"] == "501.00"
    report = Path(metadata["report"].value)
    assert report.is_file() and report.parent == workspace.root / "data" / "reconciliation" / "2026-10"
    assert metadata["report_link"].value == f"file://{report}"


def test_the_totals_show_a_column_per_currency_and_a_row_per_figure():
    """Narrow whatever the currencies: a wide table of 13 figures overflowed the partition's pane at 1280 px."""
    result = Reconciliation(BillingPeriod(2026, 10))
    for code, units, cost in (("USD", 2, "10.00"), ("JPY", 0, "1500")):
        result.totals[code] = CurrencyTotals(code, units, provider_cost=Decimal(cost), no_contract_cost=Decimal(cost))

    totals = reconciliation_metadata(result, "/r.html")["totals_by_currency"]

    assert [column.name for column in totals.schema.columns] == ["total", "JPY", "USD"]
    assert totals.records[0].data == {"total": "provider_cost", "JPY": "1500", "USD": "10.00"}
    assert [record.data["total"] for record in totals.records] == [name for name in TOTAL_COLUMNS if name != "currency"]


def test_the_partition_counts_accepted_checksum_differences_and_shows_the_invoices_totals(workspace, warehouse):
    """A 0.03 USD difference within the provider's tolerance of 0.05: counted, and in the currency's totals."""
    workspace.set_tolerance("contoso-csp", "0.05")
    workspace.add_invoice("G-TOLERANCE", usage=[usage_line("U1", "100.00")], total="99.97")
    import_provider_invoice(
        workspace.config(), warehouse, InvoiceKey("contoso-csp", "G-TOLERANCE"), connectors=connector_for
    )

    result = _materialize(workspace)

    assert result.success
    [materialization] = result.asset_materializations_for_node("period_reconciliation")
    metadata = materialization.metadata
    counts = _counts(metadata)
    assert (counts["accepted_checksum_difference"], counts["pending_provider_change"]) == (1, 0)
    assert "pending_provider_change" not in metadata
    usd = _totals(metadata, "USD")
    assert [usd[name] for name in ("header_total", "lines_total", "accepted_difference")] == [
        "99.97",
        "100.00",
        "-0.03",
    ]
    [finding] = metadata["accepted_checksum_difference"].value.records
    explanation = finding.data.pop("explanation")
    assert finding.data == {"invoice": "contoso-csp:G-TOLERANCE", "currency": "USD", "effect": "-0.03"}
    assert explanation.startswith("header 99.97 USD against lines 100.00 USD: the lines exceed")
    assert len(explanation) <= EXPLANATION_SHOWN and explanation.endswith("…")  # the report has it whole


@pytest.mark.parametrize("kind", list(FindingKind))
def test_every_kind_of_finding_is_shown_in_at_most_5_short_columns_the_explanation_last(kind):
    """At 1280 px a table in the partition's pane gets about 500 px: whose, the effect, and the explanation."""
    columns = FINDING_SUMMARY_COLUMNS[kind]
    assert len(columns) <= 5 and columns[-1] == "explanation" and "effect" in columns
    assert all(len(column) <= 12 for column in columns)


def test_a_long_explanation_or_identifier_is_cut_short_with_an_ellipsis_and_a_short_one_kept_whole():
    finding = Finding(
        kind=FindingKind.NO_CONTRACT,
        account_id="A" * 50,
        billing_contract_id=None,
        subscription_ids="SUB-1",
        product_id=None,
        currency="USD",
        minor_units=2,
        provider_quantity=None,
        contract_quantity=None,
        cost=Decimal("1.00"),
        billed=None,
        expected=None,
        effect=Decimal("1.00"),
        explanation="word " * 40,
    )

    row = finding_summary_row(finding)

    assert row == {
        "account": "A" * (IDENTIFIER_SHOWN - 1) + "…",
        "subscription": "SUB-1",
        "currency": "USD",
        "effect": "1.00",
        "explanation": ("word " * (EXPLANATION_SHOWN // 5)).rstrip() + "…",
    }
    assert len(row["explanation"]) <= EXPLANATION_SHOWN


def test_without_billing_contracts_the_step_fails_with_one_sentence_naming_the_file(workspace):
    (workspace.root / "reference" / "billing_contracts.csv").unlink()

    result = _materialize(workspace)

    assert not result.success
    [failure] = [event for event in result.all_events if event.is_step_failure]
    message = failure.step_failure_data.error.message
    assert "billing_contracts.csv is missing; add it with columns" in message
    assert "Traceback" not in message


RECONCILIATION_PAGE = """
query Reconciliation($partition: String!) {
  assetNodeOrError(assetKey: {path: ["period_reconciliation"]}) {
    ... on AssetNode { partitionKeys metadataEntries { label ... on TextMetadataEntry { text } } }
  }
  assetOrError(assetKey: {path: ["period_reconciliation"]}) {
    ... on Asset {
      assetMaterializations(partitions: [$partition], limit: 1) {
        metadataEntries {
          label
          __typename
          ... on PathMetadataEntry { path }
          ... on TableMetadataEntry { table { records schema { columns { name } } } }
        }
      }
    }
  }
}
"""


def _months_up_to_now(first: str) -> list[str]:
    now = datetime.now(UTC)
    start = BillingPeriod.parse(first)
    count = (now.year - start.year) * 12 + now.month - start.month + 1
    return [str(period) for period in BillingPeriod(now.year, now.month).previous(count)]


def _reconciliation_page(tmp_path: Path, config_path: Path, *, reconcile: str | None = None) -> dict:
    """What the webserver tells the UI of `period_reconciliation` with this configuration: its node and the latest
    materialization of `reconcile`, a month synced and reconciled first (through the CLI and `dagster`)."""
    env = dagster_env(tmp_path / "dagster_home", INVOICE_PIPELINE_CONFIG=str(config_path))
    commands = [
        [str(BIN / "invoice-pipeline"), "sync"],
        [str(BIN / "dagster"), "asset", "materialize", "-m", "invoice_pipeline.definitions"]
        + ["--select", "period_reconciliation", "--partition", str(reconcile)],
    ]
    for command in commands if reconcile else []:
        done = subprocess.run(command, env=env, cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, done.stderr[-3000:]
    server = DagsterWebserver(env, tmp_path / "webserver.log")
    try:
        return server.graphql(RECONCILIATION_PAGE, {"partition": reconcile or ""})
    finally:
        server.stop()


@pytest.mark.slow
def test_the_webserver_shows_the_configured_first_month_and_a_short_table_per_kind_of_finding(tmp_path):
    workspace = make_workspace(tmp_path / "workspace")
    workspace.quiet_daily_schedule()
    data = yaml.safe_load(workspace.config_path.read_text())
    workspace.config_path.write_text(yaml.safe_dump(data | {"first_billing_period": "2026-09"}))
    clean_invoice(workspace, "G1")

    page = _reconciliation_page(tmp_path, workspace.config_path, reconcile="2026-10")

    node = page["assetNodeOrError"]
    assert node["partitionKeys"] == _months_up_to_now("2026-09")
    [start] = [entry["text"] for entry in node["metadataEntries"] if entry["label"] == "partitions_start"]
    assert start == f"2026-09: first_billing_period in {workspace.config_path}"
    [materialization] = page["assetOrError"]["assetMaterializations"]
    entries = {entry["label"]: entry for entry in materialization["metadataEntries"]}
    assert list(entries)[:2] == ["report", "report_link"] and "largest_findings" not in entries
    assert Path(entries["report"]["path"]).is_file()
    tables = {label: entry["table"] for label, entry in entries.items() if entry["__typename"] == "TableMetadataEntry"}
    counts = {json.loads(record)["kind"]: json.loads(record)["count"] for record in tables["finding_counts"]["records"]}
    found = [kind.value for kind in FindingKind if counts[kind.value]]
    assert "unbilled_usage" in found  # the clean invoice's usage is billed to nobody yet
    assert list(tables) == ["totals_by_currency", "finding_counts", *found]
    for kind in found:
        columns = [column["name"] for column in tables[kind]["schema"]["columns"]]
        assert columns == list(FINDING_SUMMARY_COLUMNS[FindingKind(kind)])
        assert 1 <= len(tables[kind]["records"]) <= 10
        assert all(len(json.loads(record)["explanation"]) <= EXPLANATION_SHOWN for record in tables[kind]["records"])


@pytest.mark.slow
def test_the_webserver_shows_the_month_before_last_as_the_first_partition_when_none_is_configured(tmp_path):
    workspace = make_workspace(tmp_path / "workspace")
    _unconfigured(workspace)

    node = _reconciliation_page(tmp_path, workspace.config_path)["assetNodeOrError"]

    now = datetime.now(UTC)
    first = str(BillingPeriod(now.year, now.month).previous(3)[0])
    assert node["partitionKeys"] == _months_up_to_now(first)
    [start] = [entry["text"] for entry in node["metadataEntries"] if entry["label"] == "partitions_start"]
    assert start == (
        f"{first}: the month before last (no first_billing_period in {workspace.config_path}, no month reconciled "
        "before it); set first_billing_period to show earlier months"
    )
