"""`invoice-pipeline billing consumption|run|issue|invoices|show|export`: billable usage and customer invoices."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import click

from invoice_pipeline.cli.common import actor
from invoice_pipeline.cli.errors import Misconfigured, Refused
from invoice_pipeline.cli.output import say
from invoice_pipeline.domain.billing_period import BillingPeriod
from invoice_pipeline.domain.money import decimal_text

if TYPE_CHECKING:
    from invoice_pipeline.config import PipelineConfig
    from invoice_pipeline.warehouse.customer_documents import CustomerInvoice

PERIOD = click.option("--period", metavar="YYYY-MM", help="A charge month, e.g. 2026-10.")


@click.group()
def billing() -> None:
    """Billable consumption and customer invoices: bill, issue, list, show, export."""


def _period(text: str | None) -> BillingPeriod | None:
    if text is None:
        return None
    try:
        return BillingPeriod.parse(text)
    except ValueError as error:
        raise click.BadParameter(str(error), param_hint="--period") from None


@contextmanager
def _billing_refusals_as_exit_status() -> Iterator[None]:
    """End the command with exit 1 and the refusal's sentence when the billing rules refuse (nothing changed)."""
    from invoice_pipeline.warehouse.customer_documents import BillingRefused

    try:
        yield
    except BillingRefused as refusal:
        raise Refused(str(refusal)) from None


def _document_line(doc: CustomerInvoice) -> str:
    """A customer document as the tab-separated listings show it."""
    lines = f"{doc.line_count} line{'s' if doc.line_count != 1 else ''}"
    corrects = f"\tcorrects {doc.corrects}" if doc.corrects else ""
    return (
        f"{doc.customer_invoice_id}\t{doc.kind}\t{doc.status}\t{doc.account_id}\t{doc.period or '-'}\t"
        f"{decimal_text(doc.total_amount, doc.minor_units)} {doc.currency}\t{lines}{corrects}"
    )


@billing.command("consumption")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_obj
def consumption(config: PipelineConfig, as_json: bool) -> None:
    """Usage that can be billed: Active invoices only, not yet invoiced, per account, subscription and period."""
    from invoice_pipeline.composition import opened_warehouse
    from invoice_pipeline.operations.billing import billable_consumption

    with opened_warehouse(config) as warehouse:
        rows = billable_consumption(warehouse)
    records = [row.as_row() for row in rows]
    if as_json:
        say(json.dumps(records, indent=2), multiline=True)
        return
    for r in records:
        say(
            f"{r['account_id']}\t{r['subscription_id']}\t{r['charge_start_date']}..{r['charge_end_date']}\t"
            f"{r['amount']} {r['currency']}\t{r['line_count']} lines"
        )
    if not records:
        say("nothing to bill")


@billing.command("run")
@PERIOD
@click.pass_obj
def bill(config: PipelineConfig, period: str | None) -> None:
    """Bill the billable usage of a charge month (every month that has some without --period): each line at its cost
    plus the markup of the contract terms ruling its month, on one draft per account, currency and month (added to
    the month's draft if there is one). Usage without terms is held back and listed, not billed."""
    from invoice_pipeline.composition import opened_warehouse
    from invoice_pipeline.operations.billing import bill_customers
    from invoice_pipeline.validation.reference_errors import ReferenceDataError

    try:
        with opened_warehouse(config) as warehouse:
            run = bill_customers(
                warehouse,
                config.reference_data,
                actor=actor(),
                period=_period(period),
                bill_without_terms_at_cost=config.bill_usage_without_terms_at_cost,
            )
    except ReferenceDataError as error:
        raise Misconfigured(f"{error}; billing contracts are documented in the README (Billing)") from None
    for doc in run.drafts:
        say(f"{_document_line(doc)}\trounding difference {decimal_text(doc.rounding_difference)} {doc.currency}")
    for held in run.held_back:
        lines = f"{held.line_count} line{'s' if held.line_count != 1 else ''}"
        say(
            f"held back\t{held.account_id}\t{held.subscription_id}\t{held.period}\t"
            f"{decimal_text(held.cost, held.minor_units)} {held.currency}\t{lines}\t{held.reason}"
        )
    if not run.drafts and not run.held_back:
        say(f"nothing to bill{f' in {period}' if period else ''}")
    for month in sorted({doc.period for doc in run.drafts if doc.period}):
        say(f"review the drafts of {month}, then issue them: `invoice-pipeline billing issue --period {month}`")


@billing.command("issue")
@click.argument("customer_invoice_id", required=False)
@PERIOD
@click.pass_obj
def issue(config: PipelineConfig, customer_invoice_id: str | None, period: str | None) -> None:
    """Issue one draft customer invoice, or every draft of --period; issued invoices never change again (unlinking
    their lines credits them)."""
    from invoice_pipeline.composition import opened_warehouse
    from invoice_pipeline.operations.billing import issue_customer_invoices

    if (customer_invoice_id is None) == (period is None):
        raise click.UsageError("give one CUSTOMER_INVOICE_ID or --period YYYY-MM")
    with opened_warehouse(config) as warehouse, _billing_refusals_as_exit_status():
        issued = issue_customer_invoices(
            warehouse, actor=actor(), customer_invoice_id=customer_invoice_id, period=_period(period)
        )
    for doc in issued:
        say(_document_line(doc))


@billing.command("invoices")
@PERIOD
@click.option("--account", "account_id", help="One customer account, e.g. ACC-1001.")
@click.option("--status", type=click.Choice(["draft", "issued", "void"]), help="Only documents in this status.")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array.")
@click.pass_obj
def invoices(
    config: PipelineConfig, period: str | None, account_id: str | None, status: str | None, as_json: bool
) -> None:
    """Customer invoices and credit notes: id, kind, status, account, period, total, line count, what a credit note
    corrects."""
    from invoice_pipeline.composition import opened_warehouse

    month = _period(period)
    with opened_warehouse(config) as warehouse:
        docs = warehouse.customer_invoices(period=str(month) if month else None, account_id=account_id, status=status)
    if as_json:
        say(json.dumps([doc.as_row() for doc in docs], indent=2), multiline=True)
        return
    for doc in docs:
        say(_document_line(doc))
    if not docs:
        say("no customer invoices")


@billing.command("show")
@click.argument("customer_invoice_id")
@click.option("--json", "as_json", is_flag=True, help="Print JSON: the invoice, its lines and its history.")
@click.pass_obj
def show(config: PipelineConfig, customer_invoice_id: str, as_json: bool) -> None:
    """One customer invoice or credit note: its lines (cost, markup, price, the provider line) and its history."""
    from invoice_pipeline.composition import opened_warehouse
    from invoice_pipeline.operations.billing_exports import customer_invoice_json

    with opened_warehouse(config) as warehouse, _billing_refusals_as_exit_status():
        doc, lines, history = warehouse.customer_invoice(customer_invoice_id)
    if as_json:
        say(json.dumps(customer_invoice_json(doc, lines, history), indent=2), multiline=True)
        return
    say(_document_line(doc))
    for line in lines:
        markup = (
            "at cost" if line.usage_markup_percent is None else f"markup {decimal_text(line.usage_markup_percent)}%"
        )
        unlinked = "" if line.linked or doc.kind == "credit_note" else "\tunlinked (credited)"
        row = line.as_row()
        say(
            f"  {line.provider_invoice or line.record_id}\t{line.line_id}\t{line.subscription_id}\t"
            f"{line.charge_start_date}\tcost {row['cost']}\t{markup}\tprice {row['price']}{unlinked}"
        )
    for entry in history:
        say(
            f"  {entry.changed_at:%Y-%m-%d %H:%M:%S}\t{entry.from_status or '-'} -> {entry.to_status}\t"
            f"{entry.actor}\t{entry.reason}"
        )


@billing.command("export")
@click.argument("customer_invoice_id")
@click.option("--out", required=True, type=click.Path(file_okay=False, path_type=Path), help="Folder to write into.")
@click.pass_obj
def export(config: PipelineConfig, customer_invoice_id: str, out: Path) -> None:
    """Write one customer invoice as CSV (`<id>.csv` its header, `<id>-lines.csv` its lines; spreadsheet-safe)
    and JSON (`<id>.json`), exact amounts."""
    from invoice_pipeline.composition import opened_warehouse
    from invoice_pipeline.operations.billing_exports import write_customer_invoice

    with opened_warehouse(config) as warehouse, _billing_refusals_as_exit_status():
        doc, lines, history = warehouse.customer_invoice(customer_invoice_id)
    try:
        written = write_customer_invoice(doc, lines, history, out)
    except OSError as error:
        raise Misconfigured(
            f"cannot write into {out}: {error.strerror or error}; choose a folder you can write"
        ) from None
    say(f"wrote {', '.join(path.name for path in written)} to {out}")
