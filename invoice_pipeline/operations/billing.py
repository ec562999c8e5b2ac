"""Billable consumption and customer invoices: usage of Active provider invoices, billed once.

Billing links each usage line it bills to a customer invoice (the "child records invoiced" that
block deactivating or deleting the provider invoice until they are unlinked). The lines keep their
exact amounts; each customer invoice's total is rounded once to the currency's minor units, and the
rounding difference (rounded total minus the lines' exact sum) is stored with it.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from invoice_pipeline.domain.money import round_to_minor_units
from invoice_pipeline.warehouse.billing_tables import (
    BillableConsumption,
    BillableGroup,
    BillableSummary,
    CustomerInvoice,
)
from invoice_pipeline.warehouse.warehouse import Warehouse

LARGEST_SHOWN = 20  # rows a screen shows of a table that grows with the invoices


def billable_consumption(warehouse: Warehouse, record_id: str | None = None) -> list[BillableConsumption]:
    """Billable usage per account, subscription and charge period (Active invoices only, not yet invoiced);
    of one provider invoice record when `record_id` is given."""
    return warehouse.billable_consumption(record_id)


def billable_usage_summary(warehouse: Warehouse, record_id: str | None = None) -> BillableSummary:
    """The same usage as `billable_consumption`, bounded for a screen whatever the invoice's size: totals per
    currency and the 20 largest rows by amount (credits by their size too)."""
    return warehouse.billable_usage_summary(record_id, LARGEST_SHOWN)


def bill_customers(warehouse: Warehouse, *, actor: str) -> list[CustomerInvoice]:
    """Create one customer invoice per account and currency for all billable usage, linking the lines it bills;
    its total is the lines' exact sum rounded once to the currency's minor units (banker's rounding)."""
    now = datetime.now(UTC)

    def customer_invoice(group: BillableGroup) -> CustomerInvoice:
        total = round_to_minor_units(group.lines_total, group.minor_units)
        return CustomerInvoice(
            customer_invoice_id=f"CI-{now:%Y%m%d}-{uuid.uuid4().hex[:10].upper()}",
            account_id=group.account_id,
            currency=group.currency,
            total_amount=total,
            rounding_difference=total - group.lines_total,
            line_count=group.line_count,
            created_at=now,
            created_by=actor,
            minor_units=group.minor_units,
        )

    return warehouse.bill_usage(customer_invoice)


def largest_customer_invoices(created: list[CustomerInvoice]) -> list[CustomerInvoice]:
    """The `LARGEST_SHOWN` largest of the customer invoices, whatever their sign, as a screen shows them."""
    return sorted(created, key=lambda invoice: (-abs(invoice.total_amount), invoice.account_id))[:LARGEST_SHOWN]
