"""Customer billing: usage of Active provider invoices priced by the contracts, on drafts per account, currency and
charge month, issued by a person, corrected by credit notes; billed once.

Billing links each usage line it bills to a customer invoice (the "child records invoiced" that block deactivating
or deleting the provider invoice until they are unlinked). Each line keeps its cost and its exact price (cost plus
the markup of the terms ruling its charge month: `domain/pricing.py`, the reconciliation's rule too); each
document's total is the exact sum of its prices rounded once to the currency's minor units (banker's rounding), the
rounding difference stored with it. Usage with no terms in its month is held back and listed, not billed, unless the
configuration's `bill_usage_without_terms_at_cost` says to bill it at cost.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from invoice_pipeline.domain.billing_period import BillingPeriod
from invoice_pipeline.reconciliation.contracts import ContractTerms, load_contract_terms, usage_terms_in
from invoice_pipeline.warehouse.billable_usage import BillableConsumption, BillableSummary
from invoice_pipeline.warehouse.customer_documents import BillingRefused, CustomerInvoice, DocumentStatus, HeldBackUsage
from invoice_pipeline.warehouse.warehouse import Warehouse

LARGEST_SHOWN = 20  # rows a screen shows of a table that grows with the invoices


@dataclass
class BillingRun:
    """What a billing run did: the drafts it created or added to, and the usage it held back (no terms)."""

    periods: list[BillingPeriod] = field(default_factory=list)
    drafts: list[CustomerInvoice] = field(default_factory=list)
    held_back: list[HeldBackUsage] = field(default_factory=list)


def billable_consumption(warehouse: Warehouse, record_id: str | None = None) -> list[BillableConsumption]:
    """Billable usage per account, subscription and charge period (Active invoices only, not yet invoiced);
    of one provider invoice record when `record_id` is given."""
    return warehouse.billable_consumption(record_id)


def billable_usage_summary(warehouse: Warehouse, record_id: str | None = None) -> BillableSummary:
    """The same usage as `billable_consumption`, bounded for a screen whatever the invoice's size: totals per
    currency and the 20 largest rows by amount (credits by their size too)."""
    return warehouse.billable_usage_summary(record_id, LARGEST_SHOWN)


def bill_customers(
    warehouse: Warehouse,
    reference_folder: Path,
    *,
    actor: str,
    period: BillingPeriod | None = None,
    bill_without_terms_at_cost: bool = False,
    contracts: list[ContractTerms] | None = None,
) -> BillingRun:
    """Bill the billable usage of `period` (every month that has some when None): each line priced by the terms
    ruling its charge month, on the draft of its account, currency and month; usage without terms held back. The
    contracts are read from the reference folder unless given (ReferenceDataError says what to fix)."""
    contracts = load_contract_terms(reference_folder) if contracts is None else contracts
    with warehouse.kept_open():
        run = BillingRun(periods=[period] if period is not None else warehouse.billable_periods())
        for month in run.periods:
            drafts, held_back = warehouse.bill_period(
                month,
                usage_terms_in(contracts, month),
                bill_without_terms_at_cost=bill_without_terms_at_cost,
                actor=actor,
            )
            run.drafts.extend(drafts)
            run.held_back.extend(held_back)
    return run


def issue_customer_invoices(
    warehouse: Warehouse,
    *,
    actor: str,
    customer_invoice_id: str | None = None,
    period: BillingPeriod | None = None,
) -> list[CustomerInvoice]:
    """Issue one draft, or every draft of a period (all or none); issued documents are immutable. BillingRefused
    says why when there is nothing to issue."""
    if (customer_invoice_id is None) == (period is None):
        raise BillingRefused("give either one customer invoice id or --period YYYY-MM to issue")
    with warehouse.kept_open():
        return _issue(warehouse, actor, customer_invoice_id, period)


def _issue(
    warehouse: Warehouse, actor: str, customer_invoice_id: str | None, period: BillingPeriod | None
) -> list[CustomerInvoice]:
    if customer_invoice_id is not None:
        document, _, _ = warehouse.customer_invoice(customer_invoice_id)
        if document.status != DocumentStatus.DRAFT:
            raise BillingRefused(
                f"{customer_invoice_id} is {document.status}, not a draft: only drafts are issued "
                "(an issued invoice is corrected by unlinking its lines, which credits them)"
            )
        drafts = [document]
        reason = "issued"
    else:
        drafts = warehouse.customer_invoices(period=str(period), status=DocumentStatus.DRAFT.value)
        if not drafts:
            raise BillingRefused(
                f"no draft customer invoice for {period}; `invoice-pipeline billing run --period {period}` bills it"
            )
        reason = f"issued with the drafts of {period}"
    warehouse.issue_customer_invoices(drafts, actor=actor, reason=reason)
    return [warehouse.customer_invoice(draft.customer_invoice_id)[0] for draft in drafts]


def largest_customer_invoices(created: list[CustomerInvoice]) -> list[CustomerInvoice]:
    """The `LARGEST_SHOWN` largest of the customer invoices, whatever their sign, as a screen shows them."""
    return sorted(created, key=lambda invoice: (-abs(invoice.total_amount), invoice.account_id))[:LARGEST_SHOWN]
