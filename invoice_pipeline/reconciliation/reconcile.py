"""Reconcile a billing period: provider cost against contracts and customer billing.

Plain Python over the warehouse's groups of the period's lines (`domain.period_lines`), so its size follows the
reference data, not the lines. Every amount is an exact Decimal; each finding's money effect is rounded to the
currency's minor units.

What is shown is in minor units from one rounding (`_round_as_shown`): each rounded total is shared among its parts,
so the margins and findings add up to the totals. The period's provider invoices (by their header's billing period)
add their header and lines totals, the checksum differences accepted and the pending provider changes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from decimal import Decimal

from invoice_pipeline.domain.billing_period import BillingPeriod
from invoice_pipeline.domain.money import apportion, round_to_minor_units
from invoice_pipeline.domain.period_lines import LicenseGroup, PendingChange, PeriodInvoice, UsageGroup
from invoice_pipeline.reconciliation.contracts import ChargeKind, ContractTerms, TermsKey, partial_terms_in, terms_in
from invoice_pipeline.reconciliation.findings import LEAKAGE, Finding, FindingKind, largest_first
from invoice_pipeline.reconciliation.invoice_findings import provider_invoice_findings
from invoice_pipeline.reconciliation.line_findings import (
    below_cost_finding,
    no_contract_finding,
    seat_finding,
    usage_billing_findings,
)
from invoice_pipeline.reconciliation.tie_out import Reconciliation
from invoice_pipeline.reconciliation.totals import CurrencyTotals, Margin


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

    def with_partial_terms_note(found: list[Finding], contract: ContractTerms) -> list[Finding]:
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
        contract = _terms_ruling(terms, licenses, ChargeKind.LICENSE)
        if contract is None:
            totals.no_contract_cost += licenses.cost
            result.findings.append(no_contract_finding(licenses, licenses.subscription_ids, licenses.cost, None))
            continue
        billed_cost, finding = seat_finding(licenses, contract)
        totals.billed_cost += billed_cost
        totals.unbilled_cost += licenses.cost - billed_cost
        revenue = round_to_minor_units(
            Decimal(contract.seats or 0) * (contract.unit_price or Decimal(0)), licenses.minor_units
        )
        totals.revenue += revenue
        margin = margin_of(licenses.account_id, contract.product_id, licenses.currency, licenses.minor_units)
        margin.billed_cost += billed_cost
        margin.revenue += revenue
        result.findings.extend(with_partial_terms_note([finding] if finding else [], contract))

    for usage in usage_groups:
        totals = totals_of(usage.currency, usage.minor_units)
        totals.provider_cost += usage.cost
        contract = _terms_ruling(terms, usage, ChargeKind.USAGE)
        if contract is None:
            totals.no_contract_cost += usage.cost
            result.findings.append(no_contract_finding(usage, usage.subscription_id, usage.cost, usage.billed_amount))
            continue
        totals.billed_cost += usage.billed_cost
        totals.unbilled_cost += usage.cost - usage.billed_cost
        totals.revenue += usage.billed_amount
        margin = margin_of(usage.account_id, contract.product_id, usage.currency, usage.minor_units)
        margin.billed_cost += usage.billed_cost
        margin.revenue += usage.billed_amount
        result.findings.extend(with_partial_terms_note(usage_billing_findings(usage, contract), contract))

    result.margins = sorted(margins.values(), key=lambda m: (m.account_id, m.product_id, m.currency))
    _round_as_shown(result)
    for margin in result.margins:
        if margin.rounded_margin < 0:
            result.findings.append(below_cost_finding(margin))
    result.findings.extend(provider_invoice_findings(invoices, changes, totals_of))
    for finding in result.findings:
        totals = result.totals[finding.currency]
        if finding.kind in LEAKAGE and finding.effect > 0:
            totals.unbilled_amount += finding.effect
        elif finding.kind in LEAKAGE:
            totals.overbilled_amount -= finding.effect
    result.findings = largest_first(result.findings)
    return result


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


def _terms_ruling(
    terms: dict[TermsKey, ContractTerms], group: LicenseGroup | UsageGroup, kind: ChargeKind
) -> ContractTerms | None:
    """The contract terms ruling a group's lines in the period; None when its contract, product or terms are missing."""
    if group.billing_contract_id is None or group.product_id is None:
        return None
    return terms.get((group.account_id, group.billing_contract_id, group.product_id, kind, group.currency))
