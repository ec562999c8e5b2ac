"""Reconcile one billing period: the warehouse's groups of the period's lines against the contracts."""

from __future__ import annotations

from pathlib import Path

from invoice_pipeline.domain.billing_period import BillingPeriod
from invoice_pipeline.domain.money import format_money
from invoice_pipeline.reconciliation.contracts import ContractTerms, load_contract_terms
from invoice_pipeline.reconciliation.reconcile import reconcile
from invoice_pipeline.reconciliation.tie_out import Reconciliation, TieOutBroken
from invoice_pipeline.validation.reference_errors import ReferenceDataError
from invoice_pipeline.warehouse.warehouse import Warehouse


def reconcile_period(
    warehouse: Warehouse, reference_folder: Path, period: BillingPeriod, contracts: list[ContractTerms] | None = None
) -> Reconciliation:
    """The period's reconciliation from Active provider invoices only, its tie-out asserted (TieOutBroken); the
    contracts are read from the reference folder unless given."""
    contracts = load_contract_terms(reference_folder) if contracts is None else contracts
    lines = warehouse.period_lines(period.start, period.end)
    result = reconcile(
        period,
        lines.license_groups,
        lines.usage_groups,
        contracts,
        invoices=lines.invoices,
        changes=lines.pending_changes,
    )
    result.tie_out(lines.line_costs)
    return result


TREND_PERIODS = 6  # periods a report's cost against revenue chart shows, its own included


def earlier_periods(warehouse: Warehouse, reference_folder: Path, period: BillingPeriod) -> list[Reconciliation]:
    """The reconciliations of the `TREND_PERIODS - 1` periods before `period`, oldest first, for its report."""
    contracts = load_contract_terms(reference_folder)
    return [
        reconcile_period(warehouse, reference_folder, month, contracts) for month in period.previous(TREND_PERIODS)[:-1]
    ]


def unbilled_amounts(warehouse: Warehouse, reference_folder: Path, period: BillingPeriod) -> str:
    """The period's unbilled amount per currency that has one (`12,419 JPY, 341.40 USD`, else `none`), or why not
    (`not known: ...`): a daily summary is still sent when the contracts are missing or wrong."""
    try:
        result = reconcile_period(warehouse, reference_folder, period)
    except ReferenceDataError as error:
        return f"not known: {error.problem}"
    except TieOutBroken as error:
        return f"not known: the reconciliation does not tie out ({error})"
    unbilled = [
        format_money(t.unbilled_amount, t.minor_units, code)
        for code, t in sorted(result.totals.items())
        if t.unbilled_amount
    ]
    return ", ".join(unbilled) or "none"


def unbilled_line(warehouse: Warehouse, reference_folder: Path, period: BillingPeriod) -> str:
    """The daily summary's line: the unbilled amount of the month before `period` (providers invoice a month in the
    next one, so it is still moving) and of `period` so far; a reason it is not known is said once."""
    [previous, _] = period.previous(2)
    before, now = (unbilled_amounts(warehouse, reference_folder, month) for month in (previous, period))
    if before.startswith("not known") and before == now:
        return f"Unbilled in {previous} and {period}: {now}"
    return (
        f"Unbilled in {previous}: {before}; in {period} so far: {now} (`invoice-pipeline reconcile --period "
        f"{previous} --out DIR`, or --period {period}, says what and where)"
    )
