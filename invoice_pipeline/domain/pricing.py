"""The one pricing rule of usage, used by billing and by the reconciliation alike, so they cannot disagree.

A usage line is priced at its cost plus the markup of the contract terms that rule its charge month (of the terms
holding in the month, those that start last: `reconciliation.contracts.usage_terms_in`). A line with no such terms
has no price: billing holds it back and says why, unless the configuration allows billing such lines at cost.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Context, Decimal, localcontext

from invoice_pipeline.domain.billing_period import BillingPeriod

HUNDRED = Decimal(100)
# Wide enough that no sum or price of amounts the schemas accept (28 digits, 18 places) is ever rounded.
EXACT = Context(prec=80)


@dataclass(frozen=True)
class UsageTerms:
    """The usage terms ruling one charge month for one account, contract, product and currency."""

    account_id: str
    billing_contract_id: str
    product_id: str
    currency: str
    usage_markup_percent: Decimal
    valid_from: str  # ISO date: the terms' identity, with the key

    @property
    def price_factor(self) -> Decimal:
        """What a cost is multiplied by: 1 + markup / 100 (exact: a markup has at most 6 places)."""
        return price_factor(self.usage_markup_percent)


def price_factor(usage_markup_percent: Decimal | None) -> Decimal:
    """1 + markup / 100; a line billed without terms (at cost) has the factor 1."""
    if usage_markup_percent is None:
        return Decimal(1)
    with localcontext(EXACT):
        return 1 + usage_markup_percent / HUNDRED


def usage_price(cost: Decimal, usage_markup_percent: Decimal | None) -> Decimal:
    """The exact price of usage costing `cost` under terms with this markup (None: at cost)."""
    with localcontext(EXACT):
        return cost * price_factor(usage_markup_percent)


def held_back_reason(
    billing_contract_id: str | None, product_id: str | None, currency: str, period: BillingPeriod
) -> str:
    """Why usage lines have no price in their charge month, and what to do about it."""
    if billing_contract_id is None:
        missing = "no billing contract (subscription not in the reference data)"
    elif product_id is None:
        missing = "no product on the subscription"
    else:
        missing = f"no usage terms for contract {billing_contract_id}, product {product_id} in {currency} in {period}"
    return f"{missing}: add them to billing_contracts.csv, then run `invoice-pipeline billing run --period {period}`"
