"""The findings about a customer's lines: licence seats against the contract's, usage billed against cost plus the
markup, lines without contract terms, and a margin below cost.

Licence cost is split by seats: the share of the provider's seats above the contract's is unbilled (rounded to minor
units), the rest billed; usage cost is billed where a customer invoice bills the line.
"""

from __future__ import annotations

from decimal import Decimal

from invoice_pipeline.domain.money import decimal_text, round_to_minor_units
from invoice_pipeline.domain.period_lines import LicenseGroup, UsageGroup
from invoice_pipeline.domain.pricing import usage_price
from invoice_pipeline.reconciliation.contracts import ContractTerms
from invoice_pipeline.reconciliation.findings import Finding, FindingKind, amount_text, count_text
from invoice_pipeline.reconciliation.totals import Margin


def seat_finding(licenses: LicenseGroup, contract: ContractTerms) -> tuple[Decimal, Finding | None]:
    """The cost billed under the contract's seats, and the seat finding (more or fewer seats than billed)."""
    provider_seats, contract_seats = licenses.seats, Decimal(contract.seats or 0)
    unit_price = contract.unit_price or Decimal(0)
    if provider_seats == contract_seats:
        return licenses.cost, None
    if provider_seats > contract_seats:
        unbilled_share = (provider_seats - contract_seats) / provider_seats if provider_seats > 0 else Decimal(1)
        billed_cost = licenses.cost - round_to_minor_units(licenses.cost * unbilled_share, licenses.minor_units)
        kind, effect = FindingKind.UNBILLED_SEATS, (provider_seats - contract_seats) * unit_price
        explanation = (
            f"{count_text(provider_seats, 'seat')} at the provider, {contract.seats} billed at "
            f"{amount_text(unit_price, licenses.minor_units, licenses.currency)}"
        )
    else:
        billed_cost = licenses.cost
        kind, effect = FindingKind.OVERBILLED_SEATS, -(contract_seats - provider_seats) * unit_price
        explanation = (
            f"{count_text(contract_seats, 'seat')} billed at "
            f"{amount_text(unit_price, licenses.minor_units, licenses.currency)}, {decimal_text(provider_seats)} at "
            "the provider"
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
        billed=round_to_minor_units(contract_seats * unit_price, licenses.minor_units),
        expected=round_to_minor_units(provider_seats * unit_price, licenses.minor_units),
        effect=round_to_minor_units(effect, licenses.minor_units),
        explanation=explanation,
    )
    return billed_cost, finding


def usage_billing_findings(usage: UsageGroup, contract: ContractTerms) -> list[Finding]:
    """Usage not billed yet, and usage billed at another amount than cost plus the markup."""
    markup = contract.usage_markup_percent or Decimal(0)
    found = []
    unbilled_cost = usage.cost - usage.billed_cost
    if usage.line_count > usage.billed_line_count:
        expected = round_to_minor_units(usage_price(unbilled_cost, markup), usage.minor_units)
        found.append(
            _usage_finding(
                usage,
                FindingKind.UNBILLED_USAGE,
                cost=unbilled_cost,
                billed=None,
                expected=expected,
                effect=expected,
                explanation=f"{usage.line_count - usage.billed_line_count} of "
                f"{count_text(usage.line_count, 'line')} not billed; cost "
                f"{amount_text(unbilled_cost, usage.minor_units, usage.currency)} plus markup "
                f"{contract.usage_markup_percent}%",
            )
        )
    if usage.billed_line_count or usage.billed_amount:
        expected = round_to_minor_units(usage_price(usage.billed_cost, markup), usage.minor_units)
        billed = round_to_minor_units(usage.billed_amount, usage.minor_units)
        if billed != expected:
            found.append(
                _usage_finding(
                    usage,
                    FindingKind.USAGE_BILLED_DIFFERENTLY,
                    cost=usage.billed_cost,
                    billed=billed,
                    expected=expected,
                    effect=expected - billed,
                    explanation=f"{count_text(usage.billed_line_count, 'line')} billed at "
                    f"{amount_text(billed, usage.minor_units, usage.currency)}; cost "
                    f"{amount_text(usage.billed_cost, usage.minor_units, usage.currency)} plus markup "
                    f"{contract.usage_markup_percent}% is {amount_text(expected, usage.minor_units, usage.currency)}",
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


def no_contract_finding(
    group: LicenseGroup | UsageGroup, subscription_ids: str, cost: Decimal, billed: Decimal | None
) -> Finding:
    """Lines with no contract terms to price them: their cost is neither billed nor unbilled, and the finding says
    what is missing (the billing contract, the subscription's product, or the terms)."""
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
        effect=round_to_minor_units(cost, group.minor_units),
        explanation=f"{count_text(group.line_count, 'line')}: {missing}",
    )


def below_cost_finding(margin: Margin) -> Finding:
    """The margin as shown (in minor units, a share of the totals'), with the exact amounts where they differ."""
    units, code = margin.minor_units, margin.currency
    explanation = (
        f"billed {amount_text(margin.rounded_revenue, units, code)} against a cost of "
        f"{amount_text(margin.rounded_billed_cost, units, code)}"
    )
    if (margin.revenue, margin.billed_cost) != (margin.rounded_revenue, margin.rounded_billed_cost):
        exactly = f"{amount_text(margin.revenue, units, code)} against {amount_text(margin.billed_cost, units, code)}"
        explanation += f" (exactly {exactly})"
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
