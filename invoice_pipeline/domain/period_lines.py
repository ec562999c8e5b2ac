"""A billing period's provider lines as the warehouse groups them for the reconciliation.

Licence and usage lines of Active provider invoices, grouped per account, contract, product and currency (usage also
per subscription), so their number follows the reference data, not the lines; and the period's provider invoices
(by their header's billing period) with their pending provider changes. Amounts are exact Decimals, as stored.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from invoice_pipeline.domain.money import round_to_minor_units


@dataclass(frozen=True)
class LicenseGroup:
    """Licence lines of Active provider invoices in the period, per account, contract, product and currency.
    `seats` counts a credit line's quantity as seats removed."""

    account_id: str
    billing_contract_id: str | None
    product_id: str | None
    currency: str
    minor_units: int
    subscription_ids: str
    line_count: int
    seats: Decimal
    cost: Decimal


@dataclass(frozen=True)
class UsageGroup:
    """Usage lines of Active provider invoices in the period, per account, contract, subscription, product and
    currency; `billed_cost` and `billed_amount` are the lines a customer invoice bills, at cost and as billed."""

    account_id: str
    billing_contract_id: str | None
    subscription_id: str
    product_id: str | None
    currency: str
    minor_units: int
    line_count: int
    cost: Decimal
    billed_line_count: int
    billed_cost: Decimal
    billed_amount: Decimal


@dataclass(frozen=True)
class PeriodInvoice:
    """An Active provider invoice of the period (its header's billing period starts in it): its header total and its
    lines' total (exact, as stored), and who made it Active: an override's or an activation's person and words, or
    the import's actor when the difference was within the provider's tolerance."""

    provider: str
    invoice_id: str
    currency: str
    minor_units: int
    header_total: Decimal
    lines_total: Decimal  # usage + licence lines
    checksum_tolerance: Decimal
    accepted_difference: Decimal | None  # set when a person accepted the difference (override, activation)
    activated_by: str | None  # who made the record Active (the history's entry)
    activation_reason: str | None
    overridden_by: str | None  # who asked for the checksum override, with the reason they gave
    override_reason: str | None

    @property
    def key(self) -> str:
        """`provider:invoice_id`."""
        return f"{self.provider}:{self.invoice_id}"

    def checksum_totals(self) -> tuple[Decimal, Decimal]:
        """Header total and lines total as the checksum compared them: each rounded to the currency's minor units."""
        return round_to_minor_units(self.header_total, self.minor_units), round_to_minor_units(
            self.lines_total, self.minor_units
        )


@dataclass(frozen=True)
class PendingChange:
    """The latest change the provider made to an Active invoice of the period after its import, still pending: the
    record it was seen on is still the invoice's current one (deactivating and importing again resolves it)."""

    provider: str
    invoice_id: str
    currency: str
    minor_units: int
    imported_total: Decimal
    provider_total: Decimal
    lines_total: Decimal  # the imported lines'
    lines_changed: bool
    seen_at: datetime

    @property
    def key(self) -> str:
        """`provider:invoice_id`."""
        return f"{self.provider}:{self.invoice_id}"


@dataclass(frozen=True)
class PeriodLines:
    """A period's provider lines as the reconciliation reads them."""

    license_groups: list[LicenseGroup]
    usage_groups: list[UsageGroup]
    line_costs: dict[str, Decimal]  # per currency: the lines' amounts summed apart from the groups
    invoices: list[PeriodInvoice] = field(default_factory=list)  # Active, their header's billing period in it
    pending_changes: list[PendingChange] = field(default_factory=list)  # of those invoices
