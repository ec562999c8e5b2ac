"""Customer invoices and credit notes as the warehouse keeps them: their kinds and statuses, a document, its lines
and history, the usage a billing run holds back, and what unlinking a provider invoice's lines did to them.

Plain values (no engine): the reads and writes are `customer_document_tables`, `billable_usage`, `billing_run` and
`unlinking`.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from invoice_pipeline.domain.money import decimal_text


class DocumentKind(StrEnum):
    """What a customer document is."""

    INVOICE = "invoice"
    CREDIT_NOTE = "credit_note"


class DocumentStatus(StrEnum):
    """Where a customer document stands: a draft is recomputed as its lines change; issued is immutable; a draft left
    with no line is void."""

    DRAFT = "draft"
    ISSUED = "issued"
    VOID = "void"


class BillingRefused(Exception):
    """A billing operation that must not happen; the message says why and what to do instead."""


@dataclass(frozen=True)
class InvoicedLines:
    """Lines of a provider invoice linked to customer invoices, and which customer invoices."""

    line_count: int
    customer_invoice_ids: list[str]


@dataclass(frozen=True)
class CustomerInvoice:
    """A customer invoice or credit note (a `customer_invoices` row)."""

    customer_invoice_id: str
    kind: str
    status: str
    account_id: str
    currency: str
    period: str | None
    total_amount: Decimal  # rounded once to the currency's minor units
    rounding_difference: Decimal | None  # total_amount minus the exact sum of its lines' prices
    line_count: int
    corrects: str | None  # the invoice a credit note corrects
    created_at: datetime
    created_by: str
    issued_at: datetime | None
    issued_by: str | None
    minor_units: int | None

    def as_row(self) -> dict[str, Any]:
        """As the CLI and Dagster show it: the total in the currency's minor units, times ISO."""
        return dataclasses.asdict(self) | {
            "total_amount": decimal_text(self.total_amount, self.minor_units),
            "rounding_difference": decimal_text(self.rounding_difference),
            "created_at": self.created_at.isoformat(),
            "issued_at": self.issued_at.isoformat() if self.issued_at else None,
        }


@dataclass(frozen=True)
class CustomerInvoiceLine:
    """A line a customer document bills (or credits): the provider line, its cost, price and the terms used."""

    provider_invoice: str | None  # provider:invoice_id of its record, None once the record is deleted
    record_id: str
    line_id: str
    account_id: str | None
    billing_contract_id: str | None
    subscription_id: str | None
    product_id: str | None
    charge_start_date: date | None
    currency: str | None
    cost: Decimal | None
    usage_markup_percent: Decimal | None  # None: billed at cost, without terms
    terms_valid_from: date | None
    price: Decimal
    linked: bool
    minor_units: int | None  # its document's currency's

    def as_row(self) -> dict[str, Any]:
        """Exact amounts as text (at least the currency's minor units), dates ISO."""
        return dataclasses.asdict(self) | {
            "charge_start_date": self.charge_start_date.isoformat() if self.charge_start_date else None,
            "terms_valid_from": self.terms_valid_from.isoformat() if self.terms_valid_from else None,
            "cost": decimal_text(self.cost, self.minor_units),
            "usage_markup_percent": decimal_text(self.usage_markup_percent),
            "price": decimal_text(self.price, self.minor_units),
        }


@dataclass(frozen=True)
class HistoryEntry:
    """One status change of a customer document."""

    changed_at: datetime
    from_status: str | None
    to_status: str
    reason: str
    actor: str

    def as_row(self) -> dict[str, Any]:
        """The time ISO."""
        return dataclasses.asdict(self) | {"changed_at": self.changed_at.isoformat()}


@dataclass(frozen=True)
class HeldBackUsage:
    """Billable usage that has no price in its charge month, per account, contract, subscription, product, currency."""

    period: str
    account_id: str
    billing_contract_id: str | None
    subscription_id: str
    product_id: str | None
    currency: str
    line_count: int
    cost: Decimal
    minor_units: int
    reason: str

    def as_row(self) -> dict[str, Any]:
        """The cost in the currency's minor units."""
        return dataclasses.asdict(self) | {"cost": decimal_text(self.cost, self.minor_units)}


@dataclass(frozen=True)
class Unlinked:
    """What unlinking a provider invoice's lines did to the customer documents billing them."""

    line_count: int
    recomputed: list[CustomerInvoice]  # drafts that kept lines, as recomputed
    voided_drafts: list[str]
    credit_notes: list[CustomerInvoice]

    @property
    def recomputed_drafts(self) -> list[str]:
        """The ids of the drafts recomputed."""
        return [draft.customer_invoice_id for draft in self.recomputed]

    def summary(self) -> str:
        """One line: how many lines, and what became of each customer document that billed them."""
        parts = [
            f"draft {draft.customer_invoice_id} recomputed: {decimal_text(draft.total_amount, draft.minor_units)} "
            f"{draft.currency}, {lines_text(draft.line_count)}"
            for draft in self.recomputed
        ]
        parts += [f"draft {doc_id} void (no line left)" for doc_id in self.voided_drafts]
        parts += [
            f"credit note {note.customer_invoice_id} of {decimal_text(note.total_amount, note.minor_units)} "
            f"{note.currency} for {note.corrects}"
            for note in self.credit_notes
        ]
        return f"unlinked {lines_text(self.line_count)}: {'; '.join(parts)}"


def lines_text(count: int) -> str:
    """`1 line`, `3 lines`."""
    return f"{count} line{'' if count == 1 else 's'}"
