"""`invoice-pipeline reconcile --period YYYY-MM [--json] [--out DIR]`: what the providers charged against what the
customers are billed, in one billing period."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import click

from invoice_pipeline.cli.errors import Broken, Misconfigured
from invoice_pipeline.cli.output import say
from invoice_pipeline.domain.money import format_money

if TYPE_CHECKING:
    from invoice_pipeline.config import PipelineConfig
    from invoice_pipeline.reconciliation.tie_out import Reconciliation


@click.command("reconcile")
@click.option("--period", required=True, metavar="YYYY-MM", help="The billing period (month), e.g. 2026-10.")
@click.option("--json", "as_json", is_flag=True, help="Print the whole reconciliation as JSON.")
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    help="Write a CSV per finding kind, margins, totals, JSON and the HTML report into this folder.",
)
@click.pass_obj
def reconcile(config: PipelineConfig, period: str, as_json: bool, out: Path | None) -> None:
    """Reconcile a billing period: Active provider invoices' licence and usage lines against the billing
    contracts (reference data billing_contracts.csv) and the customer invoices; totals tie out per currency."""
    from invoice_pipeline.composition import opened_warehouse
    from invoice_pipeline.domain.billing_period import BillingPeriod
    from invoice_pipeline.reconciliation.findings import FINDING_MEANING, FindingKind
    from invoice_pipeline.reconciliation.period import earlier_periods, reconcile_period
    from invoice_pipeline.reconciliation.reports import reconciliation_json, report_file
    from invoice_pipeline.reconciliation.tie_out import TieOutBroken
    from invoice_pipeline.validation.reference_errors import ReferenceDataError

    try:
        billing_period = BillingPeriod.parse(period)
    except ValueError as error:
        raise click.BadParameter(str(error), param_hint="--period") from None
    try:
        with opened_warehouse(config) as warehouse:
            result = reconcile_period(warehouse, config.reference_data, billing_period)
            history = [] if out is None else earlier_periods(warehouse, config.reference_data, billing_period)
    except ReferenceDataError as error:
        raise Misconfigured(f"{error}; billing contracts are documented in the README (Reconciliation)") from None
    except TieOutBroken as error:
        raise Broken(f"the reconciliation does not tie out, nothing reported: {error}") from None
    # The files first: a reader that stops reading the summary (`| head`) must not cost them.
    written = [] if out is None else _write_reports(result, out, history)
    if as_json:
        say(json.dumps(reconciliation_json(result), indent=2), multiline=True)
    else:
        say(f"reconciliation {result.period}")
        for code in sorted(result.totals):
            units = result.totals[code].minor_units
            money = {name: format_money(value, units) for name, value in result.totals[code].rounded().items()}
            say(
                f"{code}\tprovider cost {money['provider_cost']} = billed {money['billed_cost']} + unbilled "
                f"{money['unbilled_cost']} + without contract {money['no_contract_cost']}\trevenue {money['revenue']}"
                f"\tmargin {money['margin']}\tunbilled amount {money['unbilled_amount']}"
                f"\tprovider invoices: header {money['header_total']} - lines {money['lines_total']} = accepted "
                f"difference {money['accepted_difference']}\tpending provider changes {money['pending_change']}"
            )
        if not result.totals:
            say(
                f"no lines of Active provider invoices charge in {result.period}: nothing to reconcile; import that "
                f"month's invoices (invoice-pipeline sync; invoice-pipeline invoices list shows those in Error or "
                f"Inactive), or check the period"
            )
        for kind in FindingKind:
            say(f"{kind.value}\t{len(result.of_kind(kind))}\t{FINDING_MEANING[kind]}")
    if out is not None:
        say(f"wrote {len(written)} files to {out}; the report: {report_file(out, result)}", err=as_json)


def _write_reports(result: Reconciliation, out: Path, history: list[Reconciliation]) -> list[Path]:
    """The period's files written into `out`; a folder that cannot be written is the user's to fix (exit 2)."""
    from invoice_pipeline.reconciliation.reports import write_reports

    try:
        return write_reports(result, out, history)
    except OSError as error:
        raise Misconfigured(
            f"cannot write the reconciliation's files to {out} ({error.strerror or error}); give --out a folder "
            f"you can write to"
        ) from None
