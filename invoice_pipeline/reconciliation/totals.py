"""A period's margins per customer and product, and its totals per currency, exact and as shown."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from invoice_pipeline.domain.money import apportion, round_to_minor_units


@dataclass
class Margin:
    """What a customer is billed for a product against the provider's cost of what is billed: exact, and in the
    currency's minor units as shown (`rounded_*`, set by `reconcile`: shares of the currency's rounded totals, so
    the margins shown add up to the totals' margin)."""

    account_id: str
    product_id: str
    currency: str
    minor_units: int
    billed_cost: Decimal = Decimal(0)
    revenue: Decimal = Decimal(0)
    rounded_billed_cost: Decimal = Decimal(0)
    rounded_revenue: Decimal = Decimal(0)

    @property
    def margin(self) -> Decimal:
        """Revenue minus the cost of what it bills."""
        return self.revenue - self.billed_cost

    @property
    def rounded_margin(self) -> Decimal:
        """The margin as shown, in minor units: what a below_cost finding says."""
        return self.rounded_revenue - self.rounded_billed_cost


@dataclass
class CurrencyTotals:
    """The period's totals in one currency; `provider_cost` ties out to the other three costs exactly. The period's
    provider invoices (by their header's billing period) add their header and lines totals, in minor units as their
    checksum compared them: header - lines = the differences accepted; and the pending provider changes' sum."""

    currency: str
    minor_units: int
    provider_cost: Decimal = Decimal(0)
    billed_cost: Decimal = Decimal(0)
    unbilled_cost: Decimal = Decimal(0)
    no_contract_cost: Decimal = Decimal(0)
    revenue: Decimal = Decimal(0)
    unbilled_amount: Decimal = Decimal(0)
    overbilled_amount: Decimal = Decimal(0)
    header_total: Decimal = Decimal(0)
    lines_total: Decimal = Decimal(0)
    accepted_difference: Decimal = Decimal(0)
    pending_change: Decimal = Decimal(0)

    @property
    def margin(self) -> Decimal:
        """Revenue minus the cost of what is billed."""
        return self.revenue - self.billed_cost

    def rounded(self) -> dict[str, Decimal]:
        """The totals in the currency's minor units, tying out to the last of them: provider cost and revenue are
        rounded, and provider cost is shared among billed, unbilled and without contract (`apportion`: each within
        one minor unit of its exact amount), so billed + unbilled + without contract = provider cost as printed.
        The margins and the no_contract findings are in turn shares of these (see `reconcile`)."""
        provider_cost = round_to_minor_units(self.provider_cost, self.minor_units)
        billed_cost, unbilled_cost, no_contract_cost = apportion(
            provider_cost, [self.billed_cost, self.unbilled_cost, self.no_contract_cost], self.minor_units
        )
        revenue = round_to_minor_units(self.revenue, self.minor_units)
        return {
            "provider_cost": provider_cost,
            "billed_cost": billed_cost,
            "unbilled_cost": unbilled_cost,
            "no_contract_cost": no_contract_cost,
            "revenue": revenue,
            "margin": revenue - billed_cost,
            "unbilled_amount": self.unbilled_amount,
            "overbilled_amount": self.overbilled_amount,
            "header_total": self.header_total,
            "lines_total": self.lines_total,
            "accepted_difference": self.accepted_difference,
            "pending_change": self.pending_change,
        }
