"""What the reconciliation finds: the kinds of finding, what each means, and a finding with its money effect.

A finding's effect is in the currency's minor units: positive is money not billed that should be, negative money
billed that should not be (or a loss). The findings themselves are made by `line_findings` (a customer's seats and
usage, lines without terms, margins below cost) and `invoice_findings` (a provider invoice as a whole), and put
together for a period by `reconcile`.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum

from invoice_pipeline.domain.money import decimal_text


class FindingKind(StrEnum):
    """What a finding says; each has its CSV file and a line in the README."""

    UNBILLED_SEATS = "unbilled_seats"
    OVERBILLED_SEATS = "overbilled_seats"
    UNBILLED_USAGE = "unbilled_usage"
    USAGE_BILLED_DIFFERENTLY = "usage_billed_differently"
    BELOW_COST = "below_cost"
    NO_CONTRACT = "no_contract"
    ACCEPTED_CHECKSUM_DIFFERENCE = "accepted_checksum_difference"
    PENDING_PROVIDER_CHANGE = "pending_provider_change"


# The findings about a provider invoice as a whole (the period's invoices, by their header's billing period), not
# about a customer's lines: their effect is money charged by the provider, not billing to correct.
INVOICE_FINDINGS = (FindingKind.ACCEPTED_CHECKSUM_DIFFERENCE, FindingKind.PENDING_PROVIDER_CHANGE)

FINDING_MEANING = {
    FindingKind.UNBILLED_SEATS: "the provider charges more seats than the contract bills (leakage)",
    FindingKind.OVERBILLED_SEATS: "the contract bills more seats than the provider charges (over-billing)",
    FindingKind.UNBILLED_USAGE: "usage of an Active provider invoice that no customer invoice bills yet",
    FindingKind.USAGE_BILLED_DIFFERENTLY: "usage billed at another amount than its cost plus the contract's markup",
    FindingKind.BELOW_COST: "the customer is billed less than the cost of what is billed (negative margin)",
    FindingKind.NO_CONTRACT: "lines whose customer, contract or product has no contract terms in the period",
    FindingKind.ACCEPTED_CHECKSUM_DIFFERENCE: "an Active provider invoice whose header total and lines total differ: "
    "a difference accepted by a checksum override, at activation or within the provider's tolerance",
    FindingKind.PENDING_PROVIDER_CHANGE: "the provider changed an Active invoice's total or lines after its import, "
    "and the changed invoice is not imported yet",
}


# The findings whose effect is money billed too little (positive) or too much (negative): the period's unbilled and
# over-billed amounts. A negative margin is a loss, not billing to correct; lines without terms have no price.
LEAKAGE = (
    FindingKind.UNBILLED_SEATS,
    FindingKind.OVERBILLED_SEATS,
    FindingKind.UNBILLED_USAGE,
    FindingKind.USAGE_BILLED_DIFFERENTLY,
)


@dataclass(frozen=True)
class Finding:
    """One thing a billing team should look at, with its money effect in the currency's minor units: positive is
    money not billed that should be, negative is money billed that should not be (or a loss). The findings about a
    provider invoice (`INVOICE_FINDINGS`) name it and carry its totals; their effect is money the provider charges
    that the imported lines do not count (header minus lines; a pending change's new total minus the old)."""

    kind: FindingKind
    account_id: str
    billing_contract_id: str | None
    subscription_ids: str
    product_id: str | None
    currency: str
    minor_units: int
    provider_quantity: Decimal | None
    contract_quantity: Decimal | None
    cost: Decimal
    billed: Decimal | None
    expected: Decimal | None
    effect: Decimal
    explanation: str
    invoice: str | None = None  # `provider:invoice_id`, for the findings about a provider invoice
    header_total: Decimal | None = None  # the imported header total, in minor units
    lines_total: Decimal | None = None  # the imported lines' total, in minor units
    new_total: Decimal | None = None  # the provider's header total now (a pending change)
    accepted_by: str | None = None  # who accepted a checksum difference


def largest_first(findings: list[Finding]) -> list[Finding]:
    """Largest money effect first whatever its sign, ties in a stable order."""
    return sorted(
        findings, key=lambda f: (-abs(f.effect), f.kind, f.account_id, f.subscription_ids, f.currency, f.invoice or "")
    )


def amount_text(amount: Decimal, minor_units: int, currency: str) -> str:
    """An amount as an explanation says it: exact, at least the currency's minor units, and the currency."""
    return f"{decimal_text(amount, minor_units)} {currency}"


def count_text(number: Decimal | int, noun: str) -> str:
    """`1 line`, `3 lines`, `2.5 seats`."""
    return f"{decimal_text(Decimal(number))} {noun}{'' if number == 1 else 's'}"
