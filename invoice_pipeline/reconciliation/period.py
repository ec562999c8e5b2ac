"""Reconcile one billing period: the warehouse's groups of the period's lines against the contracts."""

from __future__ import annotations

from pathlib import Path

from invoice_pipeline.reconciliation.contracts import BillingPeriod, load_contract_terms
from invoice_pipeline.reconciliation.findings import Reconciliation, reconcile
from invoice_pipeline.warehouse.warehouse import Warehouse


def reconcile_period(warehouse: Warehouse, reference_folder: Path, period: BillingPeriod) -> Reconciliation:
    """The period's reconciliation from Active provider invoices only, its tie-out asserted (TieOutBroken)."""
    contracts = load_contract_terms(reference_folder)
    lines = warehouse.period_lines(period.start, period.end)
    result = reconcile(period, lines.license_groups, lines.usage_groups, contracts)
    result.tie_out(lines.line_costs)
    return result


TREND_PERIODS = 6  # periods a report's cost against revenue chart shows, its own included


def earlier_periods(warehouse: Warehouse, reference_folder: Path, period: BillingPeriod) -> list[Reconciliation]:
    """The reconciliations of the `TREND_PERIODS - 1` periods before `period`, oldest first, for its report."""
    return [reconcile_period(warehouse, reference_folder, month) for month in period.previous(TREND_PERIODS)[:-1]]
