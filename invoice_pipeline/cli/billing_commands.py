"""`invoice-pipeline billing consumption|run`: billable consumption and customer invoices."""

from __future__ import annotations

import json

import click

from invoice_pipeline.cli.common import actor
from invoice_pipeline.composition import opened_warehouse
from invoice_pipeline.config import PipelineConfig
from invoice_pipeline.operations.billing import bill_customers, billable_consumption


@click.group()
def billing() -> None:
    """Billable consumption and customer invoices."""


@billing.command("consumption")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_obj
def consumption(config: PipelineConfig, as_json: bool) -> None:
    """Usage that can be billed: Active invoices only, not yet invoiced, per account, subscription and period."""
    with opened_warehouse(config) as warehouse:
        rows = billable_consumption(warehouse)
    records = [row.as_row() for row in rows]
    if as_json:
        click.echo(json.dumps(records, indent=2))
        return
    for r in records:
        click.echo(
            f"{r['account_id']}\t{r['subscription_id']}\t{r['charge_start_date']}..{r['charge_end_date']}\t"
            f"{r['amount']} {r['currency']}\t{r['line_count']} lines"
        )
    if not records:
        click.echo("nothing to bill")


@billing.command("run")
@click.pass_obj
def bill(config: PipelineConfig) -> None:
    """Create customer invoices for all billable consumption (links the lines they bill); each total is rounded
    once to the currency's minor units, with its rounding difference (rounded total minus the lines' sum)."""
    with opened_warehouse(config) as warehouse:
        created = bill_customers(warehouse, actor=actor())
    for invoice in (created_invoice.as_row() for created_invoice in created):
        click.echo(
            f"{invoice['customer_invoice_id']}\t{invoice['account_id']}\t"
            f"{invoice['total_amount']} {invoice['currency']}\t{invoice['line_count']} lines\t"
            f"rounding difference {invoice['rounding_difference']} {invoice['currency']}"
        )
    if not created:
        click.echo("nothing to bill")
