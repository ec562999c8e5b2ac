"""The reconciliation's rules: provider cost against contracts and customer billing, per billing period.

Plain Python over the warehouse's groups (one row per account, contract, product and currency for licences; per
account, contract, subscription, product and currency for usage), so its size follows the reference data, not the
lines. Every amount is an exact Decimal; each finding's money effect is rounded to the currency's minor units.

The tie-out, per currency and to the last digit: provider cost = billed cost + unbilled cost + cost of lines
without a contract. Licence cost is split by seats: the share of the provider's seats above the contract's is
unbilled (rounded to minor units), the rest billed; usage cost is billed where a customer invoice bills the line.

What is shown is in minor units from one rounding (`_round_as_shown`): each rounded total is shared among its parts,
so the margins and findings add up to the totals. The period's provider invoices (by their header's billing period)
add their header and lines totals, the checksum differences accepted and the pending provider changes.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from decimal import Decimal
from enum import StrEnum

from invoice_pipeline.domain.money import apportion, decimal_text, format_money, round_to_minor_units
from invoice_pipeline.reconciliation.contracts import (
    BillingPeriod,
    ChargeKind,
    ContractTerms,
    TermsKey,
    partial_terms_in,
    terms_in,
)
from invoice_pipeline.reconciliation.pricing import usage_price

HUNDRED = Decimal(100)


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
        return _money(self.header_total, self.minor_units), _money(self.lines_total, self.minor_units)


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
        provider_cost = _money(self.provider_cost, self.minor_units)
        billed_cost, unbilled_cost, no_contract_cost = apportion(
            provider_cost, [self.billed_cost, self.unbilled_cost, self.no_contract_cost], self.minor_units
        )
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
            "header_total": self.header_total,
            "lines_total": self.lines_total,
            "accepted_difference": self.accepted_difference,
            "pending_change": self.pending_change,
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
        and provider cost is what the period's lines sum to in the warehouse (`line_costs`; a currency of the
        period's invoices alone has none); then that what is shown adds up: the rounded totals tie out the same way,
        the margins shown add up to the totals' margin, the no_contract findings to the cost without a contract, and
        the invoice findings to the differences accepted and the pending changes."""
        if not set(line_costs) <= set(self.totals):
            currencies = f"{sorted(line_costs)} against {sorted(self.totals)}"
            raise TieOutBroken(f"{self.period}: currencies of the lines {currencies}")
        for code, totals in self.totals.items():
            lines = line_costs.get(code, Decimal(0))
            parts = totals.billed_cost + totals.unbilled_cost + totals.no_contract_cost
            if parts != totals.provider_cost or totals.provider_cost != lines:
                raise TieOutBroken(
                    f"{self.period} {code}: provider cost {totals.provider_cost} (lines {lines}) against "
                    f"billed {totals.billed_cost} + unbilled {totals.unbilled_cost} + without contract "
                    f"{totals.no_contract_cost} = {parts}"
                )
            self._shown_adds_up(code, totals.rounded())

    def _shown_adds_up(self, code: str, shown: dict[str, Decimal]) -> None:
        def effects(kind: FindingKind) -> Decimal:
            return sum((f.effect for f in self.findings if f.kind == kind and f.currency == code), Decimal(0))

        margins = [margin for margin in self.margins if margin.currency == code]
        sums = {
            "provider_cost": shown["billed_cost"] + shown["unbilled_cost"] + shown["no_contract_cost"],
            "billed_cost": sum((margin.rounded_billed_cost for margin in margins), Decimal(0)),
            "revenue": sum((margin.rounded_revenue for margin in margins), Decimal(0)),
            "no_contract_cost": effects(FindingKind.NO_CONTRACT),
            "accepted_difference": effects(FindingKind.ACCEPTED_CHECKSUM_DIFFERENCE),
            "pending_change": effects(FindingKind.PENDING_PROVIDER_CHANGE),
        }
        for name, parts in [*sums.items(), ("accepted_difference", shown["header_total"] - shown["lines_total"])]:
            if parts != shown[name]:
                raise TieOutBroken(f"{self.period} {code}: {name} {shown[name]} as shown, its parts add up to {parts}")


def largest_first(findings: list[Finding]) -> list[Finding]:
    """Largest money effect first whatever its sign, ties in a stable order."""
    return sorted(
        findings, key=lambda f: (-abs(f.effect), f.kind, f.account_id, f.subscription_ids, f.currency, f.invoice or "")
    )


def reconcile(
    period: BillingPeriod,
    license_groups: list[LicenseGroup],
    usage_groups: list[UsageGroup],
    contracts: list[ContractTerms],
    *,
    invoices: Sequence[PeriodInvoice] = (),
    changes: Sequence[PendingChange] = (),
) -> Reconciliation:
    """The period's findings, margins and totals from the warehouse's groups and the contracts holding in it, and
    its provider invoices' accepted checksum differences and pending provider changes."""
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
    _round_as_shown(result)
    for margin in result.margins:
        if margin.rounded_margin < 0:
            result.findings.append(_below_cost(margin))
    result.findings.extend(_provider_invoices(invoices, changes, totals_of))
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


def _round_as_shown(result: Reconciliation) -> None:
    """One rounding for everything shown: per currency, the margins' billed cost and revenue are shares of the
    totals' (rounded) billed cost and revenue, and the no_contract findings' effects shares of the cost without a
    contract (`apportion`), so margins, findings and totals add up to the last minor unit."""
    for code, totals in result.totals.items():
        shown, units = totals.rounded(), totals.minor_units
        margins = [margin for margin in result.margins if margin.currency == code]
        if margins:  # none: nothing is billed in the currency (`tie_out` says so if its totals say otherwise)
            billed = apportion(shown["billed_cost"], [margin.billed_cost for margin in margins], units)
            revenue = apportion(shown["revenue"], [margin.revenue for margin in margins], units)
            for margin, billed_cost, billed_amount in zip(margins, billed, revenue, strict=True):
                margin.rounded_billed_cost, margin.rounded_revenue = billed_cost, billed_amount
        no_contract = sorted(
            (f for f in result.findings if f.kind == FindingKind.NO_CONTRACT and f.currency == code),
            key=lambda f: (
                f.account_id,
                f.billing_contract_id or "",
                f.product_id or "",
                f.subscription_ids,
                f.provider_quantity is None,
            ),
        )
        effects = apportion(shown["no_contract_cost"], [finding.cost for finding in no_contract], units)
        shared = {id(finding): effect for finding, effect in zip(no_contract, effects, strict=True)}
        result.findings = [
            replace(finding, effect=shared[id(finding)]) if id(finding) in shared else finding
            for finding in result.findings
        ]


def _provider_invoices(
    invoices: Sequence[PeriodInvoice],
    changes: Sequence[PendingChange],
    totals_of: Callable[[str, int], CurrencyTotals],
) -> list[Finding]:
    """The period's invoices' header and lines totals, the differences accepted between them and the pending
    provider changes, added to the currencies' totals; a finding for each difference and each change."""
    found = []
    for invoice in invoices:
        header, lines = invoice.checksum_totals()
        totals = totals_of(invoice.currency, invoice.minor_units)
        totals.header_total += header
        totals.lines_total += lines
        totals.accepted_difference += header - lines
        if header != lines:
            found.append(_accepted_difference(invoice, header, lines))
    for change in changes:
        finding = _pending_change(change)
        totals_of(change.currency, change.minor_units).pending_change += finding.effect
        found.append(finding)
    return found


def _invoice_finding(
    kind: FindingKind, invoice: PeriodInvoice | PendingChange, *, header: Decimal, lines: Decimal, effect: Decimal
) -> Finding:
    return Finding(
        kind=kind,
        account_id="",
        billing_contract_id=None,
        subscription_ids="",
        product_id=None,
        currency=invoice.currency,
        minor_units=invoice.minor_units,
        provider_quantity=None,
        contract_quantity=None,
        cost=lines,
        billed=None,
        expected=None,
        effect=effect,
        explanation="",
        invoice=invoice.key,
        header_total=header,
        lines_total=lines,
    )


def _accepted_difference(invoice: PeriodInvoice, header: Decimal, lines: Decimal) -> Finding:
    """Header minus lines, as the checksum compared them: money the provider charges that no line explains."""
    units, code = invoice.minor_units, invoice.currency
    difference = header - lines
    what = (
        f"{format_money(difference, units, code)} charged that no line explains"
        if difference > 0
        else f"the lines exceed the header by {format_money(-difference, units, code)}"
    )
    if invoice.accepted_difference is None:
        who = invoice.activated_by
        how = (
            f"within {invoice.provider}'s checksum tolerance of "
            f"{_amount(invoice.checksum_tolerance, units, code)}, imported by {who}"
        )
    elif invoice.override_reason is not None:
        who = invoice.overridden_by
        how = f"accepted by {who} with a checksum override: {invoice.override_reason}"
    else:
        who = invoice.activated_by
        how = f"accepted by {who} at activation: {invoice.activation_reason}"
    finding = _invoice_finding(
        FindingKind.ACCEPTED_CHECKSUM_DIFFERENCE, invoice, header=header, lines=lines, effect=difference
    )
    explanation = (
        f"header {format_money(header, units, code)} against lines {format_money(lines, units, code)}: {what}; {how}"
    )
    return replace(finding, accepted_by=who, explanation=explanation)


def _pending_change(change: PendingChange) -> Finding:
    """The provider's total now minus the imported one: what the provider charges that the import does not count."""
    units, code = change.minor_units, change.currency
    # The change is the exact totals' difference rounded once (1801.5 -> 1900.5 JPY is 99, not 1,900 - 1,802).
    exact_old, exact_new = change.imported_total, change.provider_total
    old, new = _money(exact_old, units), _money(exact_new, units)
    lines = " and its lines" if change.lines_changed else ""
    what = (
        f"the invoice's lines (total {_amount(exact_old, units, code)} unchanged)"
        if exact_old == exact_new
        else f"the invoice total from {_amount(exact_old, units, code)} to {_amount(exact_new, units, code)}{lines}"
    )
    finding = _invoice_finding(
        FindingKind.PENDING_PROVIDER_CHANGE,
        change,
        header=old,
        lines=_money(change.lines_total, units),
        effect=_money(exact_new - exact_old, units),
    )
    explanation = (
        f"the provider changed {what} (seen {change.seen_at:%Y-%m-%d}), after its import; the imported invoice "
        f"still counts {format_money(old, units, code)}: deactivate it and sync it again"
    )
    return replace(finding, new_total=new, explanation=explanation)


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
    markup = contract.usage_markup_percent or Decimal(0)
    found = []
    unbilled_cost = usage.cost - usage.billed_cost
    if usage.line_count > usage.billed_line_count:
        expected = _money(usage_price(unbilled_cost, markup), usage.minor_units)
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
    if usage.billed_line_count or usage.billed_amount:
        expected = _money(usage_price(usage.billed_cost, markup), usage.minor_units)
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
    """The margin as shown (in minor units, a share of the totals'), with the exact amounts where they differ."""
    units, code = margin.minor_units, margin.currency
    explanation = (
        f"billed {_amount(margin.rounded_revenue, units, code)} against a cost of "
        f"{_amount(margin.rounded_billed_cost, units, code)}"
    )
    if (margin.revenue, margin.billed_cost) != (margin.rounded_revenue, margin.rounded_billed_cost):
        explanation += (
            f" (exactly {_amount(margin.revenue, units, code)} against {_amount(margin.billed_cost, units, code)})"
        )
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
        billed=margin.rounded_revenue,
        expected=None,
        effect=margin.rounded_margin,
        explanation=explanation,
    )
