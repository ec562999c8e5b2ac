"""Manual operations as Dagster jobs a data engineer launches from the UI (launchpad config), and billing."""

from collections.abc import Callable
from datetime import date

import dagster as dg
from pydantic import Field

from invoice_pipeline.dagster_defs.metadata import table_metadata
from invoice_pipeline.dagster_defs.resources import InvoicePipelineResource
from invoice_pipeline.domain.invoice_keys import InvalidInvoiceKey, InvoiceKey
from invoice_pipeline.importing.invoice_import import activate_manual_invoice
from invoice_pipeline.operations import billing
from invoice_pipeline.operations.invoice_operations import (
    create_manual_invoice,
    deactivate_invoice,
    delete_invoice,
    header_fields,
    unlink_invoice,
)
from invoice_pipeline.warehouse.warehouse import ImportRefused, Warehouse

OPERATIONS_TAG = "invoice_pipeline/operation"


class InvoiceOperationConfig(dg.Config):
    """Which provider invoice, why, and who asks (both kept in the invoice's history)."""

    invoice: str = Field(description="The provider invoice as PROVIDER:INVOICE_ID, e.g. contoso-csp:G000024130.")
    reason: str = Field(description="Why you do this; kept in the invoice's history.")
    requested_by: str = Field(description="Your name or email; kept in the invoice's history.")

    def key(self) -> InvoiceKey:
        """The invoice key, or a Failure explaining how to write it."""
        try:
            return InvoiceKey.parse(self.invoice)
        except InvalidInvoiceKey as error:
            raise dg.Failure(description=str(error), allow_retries=False) from None


def _refusals_as_failures(action: Callable[[], str]) -> str:
    try:
        return action()
    except ImportRefused as refusal:
        raise dg.Failure(description=str(refusal), allow_retries=False) from None


def _invoice_operation_job(
    name: str, description: str, operation: Callable[[Warehouse, InvoiceKey, str, str], str]
) -> dg.JobDefinition:
    @dg.op(name=f"{name}_op", description=description)
    def run_operation(
        context: dg.OpExecutionContext, config: InvoiceOperationConfig, invoice_pipeline: InvoicePipelineResource
    ) -> None:
        key = config.key()
        with invoice_pipeline.warehouse() as warehouse:
            outcome = _refusals_as_failures(lambda: operation(warehouse, key, config.requested_by, config.reason))
        context.log.info(f"{key}: {outcome}")

    @dg.job(name=name, description=description, tags={OPERATIONS_TAG: name})
    def operation_job() -> None:
        """Run the operation on one provider invoice."""
        run_operation()

    return operation_job


def _deactivate(warehouse: Warehouse, key: InvoiceKey, actor: str, reason: str) -> str:
    deactivate_invoice(warehouse, key, actor=actor, reason=reason)
    return "deactivated (Inactive); it can be synced again"


def _delete(warehouse: Warehouse, key: InvoiceKey, actor: str, reason: str) -> str:
    delete_invoice(warehouse, key, actor=actor, reason=reason)
    return "deleted; its history remains"


def _unlink(warehouse: Warehouse, key: InvoiceKey, actor: str, reason: str) -> str:
    unlinked = unlink_invoice(warehouse, key, actor=actor, reason=reason)
    return f"unlinked {unlinked.line_count} lines from {', '.join(unlinked.customer_invoice_ids)}"


deactivate_provider_invoice_job = _invoice_operation_job(
    "deactivate_provider_invoice",
    "Deactivate a provider invoice: kept as Inactive (history, lines, notes), free to be synced again. "
    "Refused while any of its lines is invoiced to a customer.",
    _deactivate,
)
delete_provider_invoice_job = _invoice_operation_job(
    "delete_provider_invoice",
    "Delete a provider invoice and its lines (its history remains). Refused while any line is invoiced.",
    _delete,
)
unlink_provider_invoice_job = _invoice_operation_job(
    "unlink_provider_invoice",
    "Remove the references from customer invoices to a provider invoice's lines, so it can be deactivated.",
    _unlink,
)


class ManualInvoiceConfig(InvoiceOperationConfig):
    """A manual provider invoice: from its folder in the provider folder format, or from header fields."""

    invoice_date: str = Field(default="", description="YYYY-MM-DD; leave empty to read header.json from the folder.")
    billing_period_start: str = Field(default="", description="YYYY-MM-DD")
    billing_period_end: str = Field(default="", description="YYYY-MM-DD")
    currency: str = Field(default="", description="ISO 4217 code, e.g. USD")
    total_amount: str = Field(default="", description="Decimal text, e.g. 1234.50 (negative for a credit note)")


@dg.op(description="Create a manual provider invoice (status Populating).")
def create_manual_provider_invoice_op(
    context: dg.OpExecutionContext, config: ManualInvoiceConfig, invoice_pipeline: InvoicePipelineResource
) -> None:
    """Create the invoice from the launchpad's header fields, or from its folder when they are empty."""
    key = config.key()
    header = None
    if config.invoice_date:
        try:
            header = header_fields(
                invoice_date=date.fromisoformat(config.invoice_date),
                billing_period_start=date.fromisoformat(config.billing_period_start),
                billing_period_end=date.fromisoformat(config.billing_period_end),
                currency=config.currency,
                total_amount=config.total_amount,
            )
        except ValueError as error:
            raise dg.Failure(description=f"header fields: {error}; dates are YYYY-MM-DD", allow_retries=False) from None
    pipeline_config = invoice_pipeline.load_config()
    with invoice_pipeline.warehouse(pipeline_config) as warehouse:
        record = _refusals_as_failures(
            lambda: (
                create_manual_invoice(
                    pipeline_config, warehouse, key, actor=config.requested_by, reason=config.reason, header=header
                ).status
            )
        )
    context.log.info(f"{key}: created, {record}")


@dg.job(description="Create a manual provider invoice (third-party vendor, distributor); it starts Populating.")
def create_manual_provider_invoice() -> None:
    """Create a manual provider invoice."""
    create_manual_provider_invoice_op()


class ActivateManualInvoiceConfig(InvoiceOperationConfig):
    """Which manual invoice to set Active, optionally accepting a small checksum difference."""

    accept_checksum_difference: bool = Field(
        default=False, description="Accept a checksum difference below checksum_override_maximum (default 0.50)."
    )


@dg.op(description="Set a manual provider invoice Active after the import's schema, reference and checksum rules.")
def activate_manual_provider_invoice_op(
    context: dg.OpExecutionContext, config: ActivateManualInvoiceConfig, invoice_pipeline: InvoicePipelineResource
) -> None:
    """Activate, or fail with the same message an import would give."""
    key = config.key()
    pipeline_config = invoice_pipeline.load_config()
    with invoice_pipeline.warehouse(pipeline_config) as warehouse:
        result = _refusals_as_failures(
            lambda: (
                activate_manual_invoice(
                    pipeline_config,
                    warehouse,
                    key,
                    run_id=context.run.run_id,
                    actor=config.requested_by,
                    reason=config.reason,
                    override_maximum=pipeline_config.checksum_override_maximum
                    if config.accept_checksum_difference
                    else None,
                ).message
            )
        )
    context.log.info(f"{key}: Active ({result})")


@dg.job(description="Set a manual provider invoice Active (refused, unchanged, when the import rules fail).")
def activate_manual_provider_invoice() -> None:
    """Activate a manual provider invoice."""
    activate_manual_provider_invoice_op()


@dg.asset(group_name="billing", kinds={"duckdb"}, owners=["team:billing-data"], deps=["usage_summaries"])
def billable_consumption(invoice_pipeline: InvoicePipelineResource) -> dg.MaterializeResult:
    """Usage that can be billed to customers: usage summaries of Active provider invoices only, not yet
    invoiced, per account, subscription and charge period."""
    with invoice_pipeline.warehouse() as warehouse:
        rows = billing.billable_consumption(warehouse)
    return dg.MaterializeResult(metadata={"row_count": len(rows), "billable": table_metadata(rows)})


@dg.asset(group_name="billing", kinds={"duckdb"}, owners=["team:billing-data"], deps=[billable_consumption])
def customer_invoices(
    context: dg.AssetExecutionContext, invoice_pipeline: InvoicePipelineResource
) -> dg.MaterializeResult:
    """Bills the billable consumption: one customer invoice per account and currency, linking every usage line it
    bills (those links block deactivating the provider invoice until they are unlinked)."""
    with invoice_pipeline.warehouse() as warehouse:
        created = billing.bill_customers(warehouse, actor=f"dagster run {context.run.run_id}")
    return dg.MaterializeResult(metadata={"created": len(created), "customer_invoices": table_metadata(created)})


bill_customers_job = dg.define_asset_job(
    "bill_customers",
    selection=dg.AssetSelection.assets(billable_consumption, customer_invoices),
    description="Compute billable consumption and create customer invoices for it.",
)

operation_jobs = [
    deactivate_provider_invoice_job,
    delete_provider_invoice_job,
    unlink_provider_invoice_job,
    create_manual_provider_invoice,
    activate_manual_provider_invoice,
    bill_customers_job,
]
