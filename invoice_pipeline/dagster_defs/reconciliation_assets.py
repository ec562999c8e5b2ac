"""The monthly reconciliation as a Dagster asset: one partition per billing period from the first one
(`billing_assets.first_billing_period`), refreshed daily for the last and the current month; what the UI shows is
bounded and fits 1280 px (the report's path first, totals, counts, and a table of each kind's 10 largest findings).
Built for the monthly partitions of a configuration (`pipeline.pipeline_definitions`): importing it reads none."""

from datetime import UTC, datetime
from typing import Any

import dagster as dg

from invoice_pipeline.dagster_defs.billing_assets import CUSTOMER_INVOICES, RECONCILIATION_FOLDER
from invoice_pipeline.dagster_defs.errors import PlainError
from invoice_pipeline.dagster_defs.metadata import shown_metadata, table_metadata
from invoice_pipeline.dagster_defs.resources import InvoicePipelineResource
from invoice_pipeline.domain.billing_period import BillingPeriod
from invoice_pipeline.reconciliation.findings import FindingKind
from invoice_pipeline.reconciliation.period import earlier_periods, reconcile_period
from invoice_pipeline.reconciliation.reports import (
    FINDING_SUMMARY_COLUMNS,
    SHOWN_PER_KIND,
    TOTAL_COLUMNS,
    finding_summary_row,
    report_file,
    totals_row,
    write_reports,
)
from invoice_pipeline.reconciliation.tie_out import Reconciliation, TieOutBroken
from invoice_pipeline.validation.reference_errors import ReferenceDataError

PERIOD_RECONCILIATION = dg.AssetKey("period_reconciliation")


def _reconcile_one_period(
    context: dg.AssetExecutionContext, invoice_pipeline: InvoicePipelineResource
) -> dg.MaterializeResult:
    """What the providers charged against what the customers are billed in one billing period (a month): licence
    seats above or below the contracts, usage not billed or billed at another amount than cost plus markup,
    customers billed below cost, lines without a contract. Active provider invoices only; the totals tie out per
    currency (provider cost = billed + unbilled + without contract). Writes the period's CSV files and HTML report
    to the data folder's `reconciliation/<period>/`."""
    config = invoice_pipeline.load_config()
    period = BillingPeriod.parse(context.partition_key)
    out = config.data_dir / RECONCILIATION_FOLDER / str(period)
    try:
        with invoice_pipeline.warehouse(config) as warehouse:
            result = reconcile_period(warehouse, config.reference_data, period)
            history = earlier_periods(warehouse, config.reference_data, period)
    except ReferenceDataError as error:
        raise PlainError("ReferenceDataError", f"{error}; billing contracts are documented in the README") from None
    except TieOutBroken as error:
        raise PlainError("TieOutBroken", f"the reconciliation does not tie out, nothing reported: {error}") from None
    write_reports(result, out, history)
    return dg.MaterializeResult(metadata=reconciliation_metadata(result, str(report_file(out, result))))


def period_reconciliation_asset(partitions_def: dg.PartitionsDefinition, reason: str) -> dg.AssetsDefinition:
    """The `period_reconciliation` asset, a partition per month of `partitions_def` (`billing_assets.billing_periods`),
    showing `reason`, where they start and why (`billing_assets.first_billing_period`)."""
    return dg.asset(
        key=PERIOD_RECONCILIATION,
        partitions_def=partitions_def,
        group_name="billing",
        kinds={"duckdb", "html"},
        owners=["team:billing-data"],
        deps=[CUSTOMER_INVOICES],
        metadata=shown_metadata({"partitions_start": dg.MetadataValue.text(reason)}),
    )(_reconcile_one_period)


def reconciliation_metadata(result: Reconciliation, report: str) -> dict[str, Any]:
    """What the UI shows of a period's reconciliation, bounded at any size and readable at 1280 px (every entry's
    label and value fit the partition's pane side by side): the report first, the totals per currency, how many
    findings of each kind, then a table of each kind's largest."""
    counts = [{"kind": kind.value, "count": len(result.of_kind(kind))} for kind in FindingKind]
    metadata: dict[str, Any] = {
        "report": dg.MetadataValue.path(report),
        "report_link": dg.MetadataValue.url(f"file://{report}"),
        "period": str(result.period),
        "totals_by_currency": _totals_table(result),
        "finding_counts": table_metadata(counts, ["kind", "count"]),
    }
    for kind in FindingKind:
        if findings := result.of_kind(kind):
            rows = [finding_summary_row(finding) for finding in findings[:SHOWN_PER_KIND]]
            metadata[kind.value] = table_metadata(rows, FINDING_SUMMARY_COLUMNS[kind])
    return metadata


def _totals_table(result: Reconciliation) -> dg.TableMetadataValue:
    """The totals per currency as a column per currency and a row per figure: narrow whatever the currencies."""
    columns = [totals_row(totals) for _, totals in sorted(result.totals.items())]
    figures = [name for name in TOTAL_COLUMNS if name != "currency"] if columns else []
    rows = [{"total": name} | {column["currency"]: column[name] for column in columns} for name in figures]
    return table_metadata(rows, ["total", *(column["currency"] for column in columns)])


reconcile_period_job = dg.define_asset_job(
    "reconcile_billing_period",
    selection=dg.AssetSelection.assets(PERIOD_RECONCILIATION),  # partitioned by month, as its asset
    description="Reconcile one billing period (pick its month): findings, margins, totals and the HTML report.",
)


def daily_reconciliation_schedule(partitions_def: dg.PartitionsDefinition) -> dg.ScheduleDefinition:
    """The daily reconciliation of the months of `partitions_def` (the reconciliation asset's) that are due."""

    @dg.schedule(job=reconcile_period_job, cron_schedule="30 7 * * *", default_status=dg.DefaultScheduleStatus.RUNNING)
    def daily_reconciliation_schedule(context: dg.ScheduleEvaluationContext) -> list[dg.RunRequest]:
        """Every day after the sync: the last month's reconciliation (providers invoice a month in the next one, so it
        still changes) and the current month's, so their unbilled amounts are always today's."""
        now = context.scheduled_execution_time or datetime.now(UTC)
        months = BillingPeriod(now.year, now.month).previous(2)
        return [
            dg.RunRequest(run_key=f"{month}@{now:%Y-%m-%d}", partition_key=str(month))
            for month in months
            if partitions_def.has_partition_key(str(month))
        ]

    return daily_reconciliation_schedule
