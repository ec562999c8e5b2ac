"""The reconciliation's rules: provider cost against contracts and customer billing, per billing period.

Plain Python over the warehouse's groups (one row per account, contract, product and currency for licences; per
account, contract, subscription, product and currency for usage), so its size follows the reference data, not the
lines. Every amount is an exact Decimal; each finding's money effect is rounded to the currency's minor units.

The tie-out, per currency and to the last digit: provider cost = billed cost + unbilled cost + cost of lines
without a contract. Licence cost is split by seats: the share of the provider's seats above the contract's is
unbilled (rounded to minor units), the rest billed; usage cost is billed where a customer invoice bills the line.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from decimal import Decimal
from enum import StrEnum

from invoice_pipeline.domain.money import decimal_text, round_to_minor_units
from invoice_pipeline.reconciliation.contracts import (
    BillingPeriod,
    ChargeKind,
    ContractTerms,
    TermsKey,
    partial_terms_in,
    terms_in,
)

HUNDRED = Decimal(100)


class FindingKind(StrEnum):
    """What a finding says; each has its CSV file and a line in the README."""

    UNBILLED_SEATS = "unbilled_seats"
    OVERBILLED_SEATS = "overbilled_seats"
    UNBILLED_USAGE = "unbilled_usage"
    USAGE_BILLED_DIFFERENTLY = "usage_billed_differently"
    BELOW_COST = "below_cost"
    NO_CONTRACT = "no_contract"


FINDING_MEANING = {
    FindingKind.UNBILLED_SEATS: "the provider charges more seats than the contract bills (leakage)",
    FindingKind.OVERBILLED_SEATS: "the contract bills more seats than the provider charges (over-billing)",
    FindingKind.UNBILLED_USAGE: "usage of an Active provider invoice that no customer invoice bills yet",
    FindingKind.USAGE_BILLED_DIFFERENTLY: "usage billed at another amount than its cost plus the contract's markup",
    FindingKind.BELOW_COST: "the customer is billed less than the cost of what is billed (negative margin)",
    FindingKind.NO_CONTRACT: "lines whose customer, contract or product has no contract terms in the period",
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
class Finding:
    """One thing a billing team should look at, with its money effect in the currency's minor units: positive is
    money not billed that should be, negative is money billed that should not be (or a loss)."""

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


@dataclass
class Margin:
    """What a customer is billed for a product against the provider's cost of what is billed."""

    account_id: str
    product_id: str
    currency: str
    minor_units: int
    billed_cost: Decimal = Decimal(0)
    revenue: Decimal = Decimal(0)

    @property
    def margin(self) -> Decimal:
        """Revenue minus the cost of what it bills."""
        return self.revenue - self.billed_cost


@dataclass
class CurrencyTotals:
    """The period's totals in one currency; `provider_cost` ties out to the other three costs exactly."""

    currency: str
    minor_units: int
    provider_cost: Decimal = Decimal(0)
    billed_cost: Decimal = Decimal(0)
    unbilled_cost: Decimal = Decimal(0)
    no_contract_cost: Decimal = Decimal(0)
    revenue: Decimal = Decimal(0)
    unbilled_amount: Decimal = Decimal(0)
    overbilled_amount: Decimal = Decimal(0)

    @property
    def margin(self) -> Decimal:
        """Revenue minus the cost of what is billed."""
        return self.revenue - self.billed_cost

    def rounded(self) -> dict[str, Decimal]:
        """The totals in the currency's minor units, tying out to the last of them: provider cost, unbilled cost and
        cost without a contract are rounded, billed cost is what remains (at most one minor unit from its own
        rounding), so billed + unbilled + without contract = provider cost as printed."""
        provider_cost, unbilled_cost, no_contract_cost = (
            _money(amount, self.minor_units)
            for amount in (self.provider_cost, self.unbilled_cost, self.no_contract_cost)
        )
        billed_cost = provider_cost - unbilled_cost - no_contract_cost
        revenue = _money(self.revenue, self.minor_units)
        return {
            "provider_cost": provider_cost,
            "billed_cost": billed_cost,
            "unbilled_cost": unbilled_cost,
            "no_contract_cost": no_contract_cost,
            "revenue": revenue,
            "margin": revenue - billed_cost,
            "unbilled_amount": self.unbilled_amount,
            "overbilled_amount": self.overbilled_amount,
        }


class TieOutBroken(Exception):
    """The period's costs do not add up: a defect, never a finding; nothing is reported from it."""


@dataclass
class Reconciliation:
    """A period's findings, margins per customer and product, and totals per currency."""

    period: BillingPeriod
    findings: list[Finding] = field(default_factory=list)
    margins: list[Margin] = field(default_factory=list)
    totals: dict[str, CurrencyTotals] = field(default_factory=dict)

    def of_kind(self, kind: FindingKind) -> list[Finding]:
        """The findings of one kind, largest effect first."""
        return largest_first([finding for finding in self.findings if finding.kind == kind])

    def tie_out(self, line_costs: dict[str, Decimal]) -> None:
        """Raise TieOutBroken unless, in every currency, provider cost = billed + unbilled + without contract,
        and provider cost is what the period's lines sum to in the warehouse (`line_costs`)."""
        if set(line_costs) != set(self.totals):
            currencies = f"{sorted(line_costs)} against {sorted(self.totals)}"
            raise TieOutBroken(f"{self.period}: currencies of the lines {currencies}")
        for code, totals in self.totals.items():
            parts = totals.billed_cost + totals.unbilled_cost + totals.no_contract_cost
            if parts != totals.provider_cost or totals.provider_cost != line_costs[code]:
                raise TieOutBroken(
                    f"{self.period} {code}: provider cost {totals.provider_cost} (lines {line_costs[code]}) against "
                    f"billed {totals.billed_cost} + unbilled {totals.unbilled_cost} + without contract "
                    f"{totals.no_contract_cost} = {parts}"
                )


def largest_first(findings: list[Finding]) -> list[Finding]:
    """Largest money effect first whatever its sign, ties in a stable order."""
    return sorted(findings, key=lambda f: (-abs(f.effect), f.kind, f.account_id, f.subscription_ids, f.currency))


def reconcile(
    period: BillingPeriod,
    license_groups: list[LicenseGroup],
    usage_groups: list[UsageGroup],
    contracts: list[ContractTerms],
) -> Reconciliation:
    """The period's findings, margins and totals from the warehouse's groups and the contracts holding in it."""
    terms, partial = terms_in(contracts, period), partial_terms_in(contracts, period)
    result = Reconciliation(period)

    def noted(found: list[Finding], contract: ContractTerms) -> list[Finding]:
        note = partial.get(contract.key)
        return [replace(finding, explanation=f"{finding.explanation}; {note}") for finding in found] if note else found

    margins: dict[tuple[str, str, str], Margin] = {}

    def totals_of(currency: str, minor_units: int) -> CurrencyTotals:
        return result.totals.setdefault(currency, CurrencyTotals(currency, minor_units))

    def margin_of(account_id: str, product_id: str, currency: str, minor_units: int) -> Margin:
        key = (account_id, product_id, currency)
        return margins.setdefault(key, Margin(account_id, product_id, currency, minor_units))

    for licenses in license_groups:
        totals = totals_of(licenses.currency, licenses.minor_units)
        totals.provider_cost += licenses.cost
        contract = _terms_for(terms, licenses, ChargeKind.LICENSE)
        if contract is None:
            totals.no_contract_cost += licenses.cost
            result.findings.append(_no_contract(licenses, licenses.subscription_ids, licenses.cost, None))
            continue
        billed_cost, finding = _licence_seats(licenses, contract)
        totals.billed_cost += billed_cost
        totals.unbilled_cost += licenses.cost - billed_cost
        revenue = _money(Decimal(contract.seats or 0) * (contract.unit_price or Decimal(0)), licenses.minor_units)
        totals.revenue += revenue
        margin = margin_of(licenses.account_id, contract.product_id, licenses.currency, licenses.minor_units)
        margin.billed_cost += billed_cost
        margin.revenue += revenue
        result.findings.extend(noted([finding] if finding else [], contract))

    for usage in usage_groups:
        totals = totals_of(usage.currency, usage.minor_units)
        totals.provider_cost += usage.cost
        contract = _terms_for(terms, usage, ChargeKind.USAGE)
        if contract is None:
            totals.no_contract_cost += usage.cost
            result.findings.append(_no_contract(usage, usage.subscription_id, usage.cost, usage.billed_amount))
            continue
        totals.billed_cost += usage.billed_cost
        totals.unbilled_cost += usage.cost - usage.billed_cost
        totals.revenue += usage.billed_amount
        margin = margin_of(usage.account_id, contract.product_id, usage.currency, usage.minor_units)
        margin.billed_cost += usage.billed_cost
        margin.revenue += usage.billed_amount
        result.findings.extend(noted(_usage_billing(usage, contract), contract))

    result.margins = sorted(margins.values(), key=lambda m: (m.account_id, m.product_id, m.currency))
    for margin in result.margins:
        if margin.margin < 0:
            result.findings.append(_below_cost(margin))
    for finding in result.findings:
        totals = result.totals[finding.currency]
        if finding.kind in LEAKAGE and finding.effect > 0:
            totals.unbilled_amount += finding.effect
        elif finding.kind in LEAKAGE:
            totals.overbilled_amount -= finding.effect
    result.findings = largest_first(result.findings)
    return result


def _money(amount: Decimal, minor_units: int) -> Decimal:
    return round_to_minor_units(amount, minor_units)


def _amount(amount: Decimal, minor_units: int, currency: str) -> str:
    """An amount as an explanation says it: exact, at least the currency's minor units, and the currency."""
    return f"{decimal_text(amount, minor_units)} {currency}"


def _count(number: Decimal | int, noun: str) -> str:
    """`1 line`, `3 lines`, `2.5 seats`."""
    return f"{decimal_text(Decimal(number))} {noun}{'' if number == 1 else 's'}"


def _terms_for(
    terms: dict[TermsKey, ContractTerms], group: LicenseGroup | UsageGroup, kind: ChargeKind
) -> ContractTerms | None:
    if group.billing_contract_id is None or group.product_id is None:
        return None
    return terms.get((group.account_id, group.billing_contract_id, group.product_id, kind, group.currency))


def _licence_seats(licenses: LicenseGroup, contract: ContractTerms) -> tuple[Decimal, Finding | None]:
    """The cost billed under the contract's seats, and the seat finding (more or fewer seats than billed)."""
    provider_seats, contract_seats = licenses.seats, Decimal(contract.seats or 0)
    unit_price = contract.unit_price or Decimal(0)
    if provider_seats == contract_seats:
        return licenses.cost, None
    if provider_seats > contract_seats:
        unbilled_share = (provider_seats - contract_seats) / provider_seats if provider_seats > 0 else Decimal(1)
        billed_cost = licenses.cost - _money(licenses.cost * unbilled_share, licenses.minor_units)
        kind, effect = FindingKind.UNBILLED_SEATS, (provider_seats - contract_seats) * unit_price
        explanation = (
            f"{_count(provider_seats, 'seat')} at the provider, {contract.seats} billed at "
            f"{_amount(unit_price, licenses.minor_units, licenses.currency)}"
        )
    else:
        billed_cost = licenses.cost
        kind, effect = FindingKind.OVERBILLED_SEATS, -(contract_seats - provider_seats) * unit_price
        explanation = (
            f"{_count(contract_seats, 'seat')} billed at {_amount(unit_price, licenses.minor_units, licenses.currency)}"
            f", {decimal_text(provider_seats)} at the provider"
        )
    finding = Finding(
        kind=kind,
        account_id=licenses.account_id,
        billing_contract_id=licenses.billing_contract_id,
        subscription_ids=licenses.subscription_ids,
        product_id=licenses.product_id,
        currency=licenses.currency,
        minor_units=licenses.minor_units,
        provider_quantity=provider_seats,
        contract_quantity=contract_seats,
        cost=licenses.cost,
        billed=_money(contract_seats * unit_price, licenses.minor_units),
        expected=_money(provider_seats * unit_price, licenses.minor_units),
        effect=_money(effect, licenses.minor_units),
        explanation=explanation,
    )
    return billed_cost, finding


def _usage_billing(usage: UsageGroup, contract: ContractTerms) -> list[Finding]:
    """Usage not billed yet, and usage billed at another amount than cost plus the markup."""
    factor = 1 + (contract.usage_markup_percent or Decimal(0)) / HUNDRED
    found = []
    unbilled_cost = usage.cost - usage.billed_cost
    if usage.line_count > usage.billed_line_count:
        expected = _money(unbilled_cost * factor, usage.minor_units)
        found.append(
            _usage_finding(
                usage,
                FindingKind.UNBILLED_USAGE,
                cost=unbilled_cost,
                billed=None,
                expected=expected,
                effect=expected,
                explanation=f"{usage.line_count - usage.billed_line_count} of {_count(usage.line_count, 'line')} not "
                f"billed; cost {_amount(unbilled_cost, usage.minor_units, usage.currency)} plus markup "
                f"{contract.usage_markup_percent}%",
            )
        )
    if usage.billed_line_count:
        expected = _money(usage.billed_cost * factor, usage.minor_units)
        billed = _money(usage.billed_amount, usage.minor_units)
        if billed != expected:
            found.append(
                _usage_finding(
                    usage,
                    FindingKind.USAGE_BILLED_DIFFERENTLY,
                    cost=usage.billed_cost,
                    billed=billed,
                    expected=expected,
                    effect=expected - billed,
                    explanation=f"{_count(usage.billed_line_count, 'line')} billed at "
                    f"{_amount(billed, usage.minor_units, usage.currency)}; cost "
                    f"{_amount(usage.billed_cost, usage.minor_units, usage.currency)} plus markup "
                    f"{contract.usage_markup_percent}% is {_amount(expected, usage.minor_units, usage.currency)}",
                )
            )
    return found


def _usage_finding(
    usage: UsageGroup,
    kind: FindingKind,
    *,
    cost: Decimal,
    billed: Decimal | None,
    expected: Decimal,
    effect: Decimal,
    explanation: str,
) -> Finding:
    return Finding(
        kind=kind,
        account_id=usage.account_id,
        billing_contract_id=usage.billing_contract_id,
        subscription_ids=usage.subscription_id,
        product_id=usage.product_id,
        currency=usage.currency,
        minor_units=usage.minor_units,
        provider_quantity=None,
        contract_quantity=None,
        cost=cost,
        billed=billed,
        expected=expected,
        effect=effect,
        explanation=explanation,
    )


def _no_contract(
    group: LicenseGroup | UsageGroup, subscription_ids: str, cost: Decimal, billed: Decimal | None
) -> Finding:
    missing = (
        "no billing contract (subscription not in the reference data)"
        if group.billing_contract_id is None
        else "no product on the subscription"
        if group.product_id is None
        else "no contract terms for this contract, product and currency in the period"
    )
    return Finding(
        kind=FindingKind.NO_CONTRACT,
        account_id=group.account_id,
        billing_contract_id=group.billing_contract_id,
        subscription_ids=subscription_ids,
        product_id=group.product_id,
        currency=group.currency,
        minor_units=group.minor_units,
        provider_quantity=group.seats if isinstance(group, LicenseGroup) else None,
        contract_quantity=None,
        cost=cost,
        billed=billed or None,
        expected=None,
        effect=_money(cost, group.minor_units),
        explanation=f"{_count(group.line_count, 'line')}: {missing}",
    )


def _below_cost(margin: Margin) -> Finding:
    return Finding(
        kind=FindingKind.BELOW_COST,
        account_id=margin.account_id,
        billing_contract_id=None,
        subscription_ids="",
        product_id=margin.product_id,
        currency=margin.currency,
        minor_units=margin.minor_units,
        provider_quantity=None,
        contract_quantity=None,
        cost=margin.billed_cost,
        billed=_money(margin.revenue, margin.minor_units),
        expected=None,
        effect=_money(margin.margin, margin.minor_units),
        explanation=f"billed {_amount(margin.revenue, margin.minor_units, margin.currency)} against a cost of "
        f"{_amount(margin.billed_cost, margin.minor_units, margin.currency)}",
    )
