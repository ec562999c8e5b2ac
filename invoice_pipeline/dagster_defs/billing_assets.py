"""Customer billing in Dagster: billable usage, `customer_invoices` partitioned by charge month (billing a month is
materializing its partition), and the Launchpad job that issues a month's drafts or one draft. The monthly partitions
are built from the configuration the definitions are built for (`pipeline.pipeline_definitions`): importing this
module reads no configuration."""

from collections import defaultdict
from contextlib import suppress
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import dagster as dg
from pydantic import Field

from invoice_pipeline.config import PipelineConfig
from invoice_pipeline.dagster_defs.errors import PlainError
from invoice_pipeline.dagster_defs.metadata import billable_summary_metadata, table_metadata
from invoice_pipeline.dagster_defs.resources import InvoicePipelineResource
from invoice_pipeline.domain.billing_period import BillingPeriod
from invoice_pipeline.domain.money import decimal_text
from invoice_pipeline.operations import billing
from invoice_pipeline.validation.reference_errors import ReferenceDataError
from invoice_pipeline.warehouse.customer_documents import BillingRefused, CustomerInvoice, DocumentKind, HeldBackUsage

OWNERS = ["team:billing-data"]
RECONCILIATION_FOLDER = "reconciliation"  # <data_dir>/reconciliation/<YYYY-MM>/: a month's reconciliation reports
RECENT_MONTHS = 3  # unconfigured: the current month and the two before it, the months providers still invoice
CUSTOMER_INVOICES = dg.AssetKey("customer_invoices")


def first_billing_period(today: date, config: PipelineConfig, source: Path | str) -> tuple[BillingPeriod, str]:
    """The first month of the monthly partitions, and why (the UI shows it, naming `source`, the file `config` was
    read from): `config`'s `first_billing_period` (never after the current month); unset, the first month already
    reconciled (a month's folder of reports in the data folder) or the month before last, whichever is earlier. The
    warehouse is not read: an import holds DuckDB's lock, a PostgreSQL server may not answer, and every run's process
    builds the definitions."""
    current = BillingPeriod(today.year, today.month)
    recent = current.previous(RECENT_MONTHS)[0]
    configured = config.first_billing_period
    if configured is not None and configured > current:
        return current, (
            f"{current}: the current month (first_billing_period in {source} is {configured}, a month to come; set it "
            "to the first month with data)"
        )
    if configured is not None:
        return configured, f"{configured}: first_billing_period in {source}"
    reconciled = _first_reconciled(config.data_dir / RECONCILIATION_FOLDER)
    if reconciled is not None and reconciled < recent:
        return reconciled, (
            f"{reconciled}: the first month reconciled ({config.data_dir / RECONCILIATION_FOLDER / str(reconciled)}); "
            f"set first_billing_period in {source} to choose the first month"
        )
    return recent, (
        f"{recent}: the month before last (no first_billing_period in {source}, no month reconciled before it); set "
        "first_billing_period to show earlier months"
    )


def _first_reconciled(folder: Path) -> BillingPeriod | None:
    """The earliest month with a folder of reconciliation reports in `folder`, if any."""
    months = []
    with suppress(OSError):
        for entry in folder.iterdir():
            with suppress(ValueError):
                if entry.is_dir():
                    months.append(BillingPeriod.parse(entry.name))
    return min(months, default=None)


def billing_periods(first: BillingPeriod) -> dg.MonthlyPartitionsDefinition:
    """The monthly partitions, keyed YYYY-MM: from `first` up to the current month, whichever it is when asked."""
    return dg.MonthlyPartitionsDefinition(start_date=str(first), fmt="%Y-%m", end_offset=1)


BILLING_REFUSED = BillingRefused.__name__


@dg.asset(group_name="billing", kinds={"duckdb"}, owners=OWNERS, deps=["usage_summaries"])
def billable_consumption(invoice_pipeline: InvoicePipelineResource) -> dg.MaterializeResult:
    """Usage that can be billed to customers: usage summaries of Active provider invoices only, not yet
    invoiced, per account, subscription and charge period. Shown bounded: the totals per currency and the 20
    largest rows (`invoice-pipeline billing consumption` lists every row)."""
    with invoice_pipeline.warehouse() as warehouse:
        summary = billing.billable_usage_summary(warehouse)
    return dg.MaterializeResult(metadata=billable_summary_metadata(summary))


def customer_invoices_metadata(
    period: str, documents: list[CustomerInvoice], held_back: list[HeldBackUsage] | None = None
) -> dict[str, Any]:
    """What the UI shows of a month's customer documents, bounded at any size: counts per kind and status, totals per
    currency (invoices, credit notes, net), the 20 largest documents and, after a billing run, the usage held back."""
    live = [doc for doc in documents if doc.status != "void"]
    totals: dict[str, dict[str, Decimal]] = defaultdict(lambda: {"invoices": Decimal(0), "credit_notes": Decimal(0)})
    units: dict[str, int] = {}
    for doc in live:
        side = "invoices" if doc.kind == DocumentKind.INVOICE else "credit_notes"
        totals[doc.currency][side] += doc.total_amount
        units[doc.currency] = doc.minor_units or 0
    metadata: dict[str, Any] = {
        "period": period,
        "drafts": sum(doc.status == "draft" for doc in documents),
        "issued_invoices": sum(doc.status == "issued" and doc.kind == DocumentKind.INVOICE for doc in documents),
        "credit_notes": sum(doc.kind == DocumentKind.CREDIT_NOTE for doc in documents),
        "void": sum(doc.status == "void" for doc in documents),
        "totals_by_currency": table_metadata(
            [
                {
                    "currency": code,
                    "invoices": decimal_text(sides["invoices"], units[code]),
                    "credit_notes": decimal_text(sides["credit_notes"], units[code]),
                    "net": decimal_text(sides["invoices"] + sides["credit_notes"], units[code]),
                }
                for code, sides in sorted(totals.items())
            ],
            ["currency", "invoices", "credit_notes", "net"],
        ),
        "largest_documents": table_metadata(
            [
                {name: row[name] for name in _SHOWN}
                for row in (doc.as_row() for doc in billing.largest_customer_invoices(live))
            ],
            _SHOWN,
        ),
    }
    if held_back is not None:
        largest = sorted(held_back, key=lambda held: (-abs(held.cost), held.account_id))[: billing.LARGEST_SHOWN]
        metadata["held_back_lines"] = sum(held.line_count for held in held_back)
        metadata["held_back"] = table_metadata([held.as_row() for held in largest])
    return metadata


_SHOWN = ["customer_invoice_id", "kind", "status", "account_id", "currency", "total_amount", "line_count", "corrects"]


def _bill_one_month(
    context: dg.AssetExecutionContext, invoice_pipeline: InvoicePipelineResource
) -> dg.MaterializeResult:
    """Bills one charge month: its billable usage at cost plus the markup of the contract terms ruling the month, on
    one draft per account and currency (added to the month's draft if there is one), each line linked (those links
    block deactivating the provider invoice until unlinked). Usage without terms is held back and listed. Shown: the
    month's drafts, issued invoices, credit notes and totals, the 20 largest, and what was held back."""
    config = invoice_pipeline.load_config()
    period = BillingPeriod.parse(context.partition_key)
    try:
        with invoice_pipeline.warehouse(config) as warehouse:
            run = billing.bill_customers(
                warehouse,
                config.reference_data,
                actor=f"dagster run {context.run.run_id}",
                period=period,
                bill_without_terms_at_cost=config.bill_usage_without_terms_at_cost,
            )
            documents = warehouse.customer_invoices(period=str(period))
    except ReferenceDataError as error:
        raise PlainError("ReferenceDataError", f"{error}; billing contracts are documented in the README") from None
    metadata = customer_invoices_metadata(str(period), documents, run.held_back)
    return dg.MaterializeResult(metadata={"drafts_changed": len(run.drafts), **metadata})


def customer_invoices_asset(partitions_def: dg.PartitionsDefinition) -> dg.AssetsDefinition:
    """The `customer_invoices` asset, a partition per charge month of `partitions_def` (`billing_periods`)."""
    return dg.asset(
        key=CUSTOMER_INVOICES,
        partitions_def=partitions_def,
        group_name="billing",
        kinds={"duckdb"},
        owners=OWNERS,
        deps=[billable_consumption],
    )(_bill_one_month)


bill_customers_job = dg.define_asset_job(
    "bill_customers",
    selection=dg.AssetSelection.assets(CUSTOMER_INVOICES),  # partitioned by charge month, as its asset
    description="Bill one charge month (pick its partition): drafts per account and currency, usage without contract "
    "terms held back. Review the drafts, then issue them with `issue_customer_invoices`.",
)


class IssueConfig(dg.Config):
    """Which drafts to issue, and who issues them (kept in each invoice's history)."""

    period: str = Field(default="", description="Issue every draft of this charge month, YYYY-MM (or give one id).")
    customer_invoice_id: str = Field(default="", description="Issue this one draft, e.g. CI-20261207-1A2B3C4D5E.")
    requested_by: str = Field(description="Your name or email; kept in each invoice's history.")


@dg.op(description="Issue draft customer invoices: a month's, or one. Issued invoices never change again.")
def issue_customer_invoices_op(
    context: dg.OpExecutionContext, config: IssueConfig, invoice_pipeline: InvoicePipelineResource
) -> None:
    """Issue the drafts, then show the month's customer invoices anew on its `customer_invoices` partition."""
    if not config.requested_by.strip():
        raise PlainError(BILLING_REFUSED, "requested_by is empty: give your name or email (kept in the history)")
    try:
        period = BillingPeriod.parse(config.period) if config.period.strip() else None
    except ValueError as error:
        raise PlainError(BILLING_REFUSED, str(error)) from None
    with invoice_pipeline.warehouse() as warehouse:
        try:
            issued = billing.issue_customer_invoices(
                warehouse,
                actor=config.requested_by,
                customer_invoice_id=config.customer_invoice_id.strip() or None,
                period=period,
            )
        except BillingRefused as refusal:
            raise PlainError(BILLING_REFUSED, str(refusal)) from None
        for month in sorted({doc.period for doc in issued if doc.period}):
            context.log_event(
                dg.AssetMaterialization(
                    asset_key=CUSTOMER_INVOICES,
                    partition=month,
                    description=f"issued by {config.requested_by}",
                    metadata=customer_invoices_metadata(month, warehouse.customer_invoices(period=month)),
                )
            )
    context.log.info(f"issued {', '.join(doc.customer_invoice_id for doc in issued)}")


@dg.job(description="Issue draft customer invoices: every draft of a month (period) or one (customer_invoice_id).")
def issue_customer_invoices() -> None:
    """Issue draft customer invoices."""
    issue_customer_invoices_op()
