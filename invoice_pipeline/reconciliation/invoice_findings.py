"""The findings about a provider invoice as a whole: a checksum difference accepted, and a provider change pending.

Their effect is money the provider charges that the imported lines do not count (header minus lines; a pending
change's new total minus the old), added to the currency's totals.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from decimal import Decimal

from invoice_pipeline.domain.money import format_money, round_to_minor_units
from invoice_pipeline.domain.period_lines import PendingChange, PeriodInvoice
from invoice_pipeline.reconciliation.findings import Finding, FindingKind, amount_text
from invoice_pipeline.reconciliation.totals import CurrencyTotals


def provider_invoice_findings(
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
            f"{amount_text(invoice.checksum_tolerance, units, code)}, imported by {who}"
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
    old, new = round_to_minor_units(exact_old, units), round_to_minor_units(exact_new, units)
    lines = " and its lines" if change.lines_changed else ""
    what = (
        f"the invoice's lines (total {amount_text(exact_old, units, code)} unchanged)"
        if exact_old == exact_new
        else f"the invoice total from {amount_text(exact_old, units, code)} to "
        f"{amount_text(exact_new, units, code)}{lines}"
    )
    finding = _invoice_finding(
        FindingKind.PENDING_PROVIDER_CHANGE,
        change,
        header=old,
        lines=round_to_minor_units(change.lines_total, units),
        effect=round_to_minor_units(exact_new - exact_old, units),
    )
    explanation = (
        f"the provider changed {what} (seen {change.seen_at:%Y-%m-%d}), after its import; the imported invoice "
        f"still counts {format_money(old, units, code)}: deactivate it and sync it again"
    )
    return replace(finding, new_total=new, explanation=explanation)
