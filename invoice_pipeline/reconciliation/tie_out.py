"""A period's reconciliation and its tie-out, per currency and to the last digit.

Provider cost = billed cost + unbilled cost + cost of lines without a contract, and provider cost is what the
period's lines sum to in the warehouse; then what is shown (in minor units, from one rounding) adds up the same way.
A tie-out that breaks is a defect, never a finding: nothing is reported from it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from invoice_pipeline.domain.billing_period import BillingPeriod
from invoice_pipeline.reconciliation.findings import Finding, FindingKind, largest_first
from invoice_pipeline.reconciliation.totals import CurrencyTotals, Margin


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
