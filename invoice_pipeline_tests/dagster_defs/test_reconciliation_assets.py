"""The monthly reconciliation asset, materialized in process: what its partition shows (bounded at any size), the
report it writes, and a failure told in one sentence."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import dagster as dg

from invoice_pipeline.dagster_defs.reconciliation_assets import (
    billing_periods,
    daily_reconciliation_schedule,
    period_reconciliation,
)
from invoice_pipeline.dagster_defs.resources import InvoicePipelineResource
from invoice_pipeline.domain.invoice_keys import InvoiceKey
from invoice_pipeline.importing.invoice_import import import_provider_invoice
from invoice_pipeline_tests.builders import license_line, usage_line


def _materialize(workspace, period: str = "2026-10") -> dg.ExecuteInJobResult:
    resource = InvoicePipelineResource(config_path=str(workspace.config_path))
    return dg.materialize(
        [period_reconciliation], partition_key=period, resources={"invoice_pipeline": resource}, raise_on_error=False
    )


def test_billing_periods_are_months_up_to_the_current_one():
    keys = billing_periods.get_partition_keys()
    assert keys[0] == "2024-01" and all(len(key) == 7 for key in keys)


def test_the_daily_schedule_reconciles_the_last_month_and_the_current_one_once_a_day():
    """Providers invoice a month in the next one: on 2 December, November still changes, and December has begun."""
    context = dg.build_schedule_context(scheduled_execution_time=datetime(2026, 12, 2, 7, 30, tzinfo=UTC))

    requests = daily_reconciliation_schedule(context)

    assert [(r.partition_key, r.run_key) for r in requests] == [
        ("2026-11", "2026-11@2026-12-02"),
        ("2026-12", "2026-12@2026-12-02"),
    ]


def test_the_daily_schedule_asks_for_no_month_before_the_first_billing_period():
    context = dg.build_schedule_context(scheduled_execution_time=datetime(2024, 1, 3, 7, 30, tzinfo=UTC))

    assert [r.partition_key for r in daily_reconciliation_schedule(context)] == ["2024-01"]


def test_a_period_with_many_findings_shows_counts_totals_and_only_the_20_largest(workspace, warehouse):
    """30 subscriptions of unbilled usage (Northwind's contract: 10% over cost): the UI gets the 20 largest."""
    with (workspace.root / "reference" / "subscriptions.csv").open("a", encoding="utf-8") as subscriptions:
        subscriptions.writelines(f"contoso-csp,SUB-X-{n},ACC-1001,BC-2001,AZURE-PLAN\n" for n in range(1, 31))
    usage = [usage_line(f"U{n}", f"{n}.00", subscription_id=f"SUB-X-{n}") for n in range(1, 31)]
    workspace.add_invoice("G-MANY", usage=usage, license=[license_line("L1", "36.00")])
    import_provider_invoice(workspace.config(), warehouse, InvoiceKey("contoso-csp", "G-MANY"))

    result = _materialize(workspace)

    assert result.success
    [materialization] = result.asset_materializations_for_node("period_reconciliation")
    metadata = materialization.metadata
    assert metadata["unbilled_usage_count"].value == 30
    assert metadata["overbilled_seats_count"].value == 1  # 1 seat at the provider, 18 billed
    assert len(metadata["largest_findings"].value.records) == 20
    largest = [record.data["effect"] for record in metadata["largest_findings"].value.records[:3]]
    assert largest == ["-595.00", "33.00", "31.90"]  # 17 seats over-billed at 35.00, then U30 and U29 plus 10%
    [usd] = metadata["totals_by_currency"].value.records
    assert usd.data["provider_cost"] == "501.00"
    report = Path(metadata["report"].value)
    assert report.is_file() and report.parent == workspace.root / "data" / "reconciliation" / "2026-10"
    assert metadata["report_link"].value == f"file://{report}"


def test_the_partition_counts_accepted_checksum_differences_and_shows_the_invoices_totals(workspace, warehouse):
    """A 0.03 USD difference within the provider's tolerance of 0.05: counted, and in the currency's totals."""
    workspace.set_tolerance("contoso-csp", "0.05")
    workspace.add_invoice("G-TOLERANCE", usage=[usage_line("U1", "100.00")], total="99.97")
    import_provider_invoice(workspace.config(), warehouse, InvoiceKey("contoso-csp", "G-TOLERANCE"))

    result = _materialize(workspace)

    assert result.success
    [materialization] = result.asset_materializations_for_node("period_reconciliation")
    metadata = materialization.metadata
    assert metadata["accepted_checksum_difference_count"].value == 1
    assert metadata["pending_provider_change_count"].value == 0
    [usd] = metadata["totals_by_currency"].value.records
    assert [usd.data[name] for name in ("header_total", "lines_total", "accepted_difference")] == [
        "99.97",
        "100.00",
        "-0.03",
    ]
    [finding] = [r.data for r in metadata["largest_findings"].value.records if r.data["invoice"]]
    assert (finding["kind"], finding["invoice"], finding["effect"]) == (
        "accepted_checksum_difference",
        "contoso-csp:G-TOLERANCE",
        "-0.03",
    )


def test_without_billing_contracts_the_step_fails_with_one_sentence_naming_the_file(workspace):
    (workspace.root / "reference" / "billing_contracts.csv").unlink()

    result = _materialize(workspace)

    assert not result.success
    [failure] = [event for event in result.all_events if event.is_step_failure]
    message = failure.step_failure_data.error.message
    assert "billing_contracts.csv is missing; add it with columns" in message
    assert "Traceback" not in message
