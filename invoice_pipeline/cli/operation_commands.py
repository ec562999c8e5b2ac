"""`invoice-pipeline invoices deactivate|delete|unlink|override|create|activate`: the operations that change an
invoice. Each refusal ends with exit 1 and one sentence, having changed nothing; each change is shown in the
invoice's partition in the Dagster UI at once.

The rules they call load Pandera and Ibis, Dagster shows their changes: both are imported by the command that
runs, so `invoice-pipeline --help` and the reading commands start without them."""

from __future__ import annotations

import sys
from collections.abc import Callable
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING

import click

from invoice_pipeline.cli.common import actor, import_hint, invoice_key_of, invoice_operation, refusals_as_exit_status
from invoice_pipeline.cli.errors import EXIT_BROKEN, EXIT_REFUSED, Refused
from invoice_pipeline.cli.output import say
from invoice_pipeline.domain.invoice_keys import InvoiceKey
from invoice_pipeline.domain.money import decimal_text
from invoice_pipeline.domain.statuses import Status
from invoice_pipeline.validation.checksum import approved_difference

if TYPE_CHECKING:
    from invoice_pipeline.config import PipelineConfig
    from invoice_pipeline.warehouse.invoice_records import InvoiceRecord
    from invoice_pipeline.warehouse.warehouse import Warehouse


def _latest_record(warehouse: Warehouse, key: InvoiceKey) -> InvoiceRecord | None:
    """The invoice's latest record, as its partition in the Dagster UI shows it (None: deleted or never made)."""
    records = warehouse.records(key)
    return records[0] if records else None


def _change_and_show_in_dagster(
    config: PipelineConfig, key: InvoiceKey, done: str, change: Callable[[Warehouse], str]
) -> None:
    """Make one change to an invoice (a refusal ends with exit 1, nothing changed), print its line, and show it on
    the invoice's partition in the Dagster UI as `done` (e.g. "deactivated by cli:alice: re-issued")."""
    from invoice_pipeline.cli.dagster_runs import show_in_dagster
    from invoice_pipeline.composition import opened_warehouse

    with refusals_as_exit_status(), opened_warehouse(config) as warehouse:
        say(change(warehouse))
        record = _latest_record(warehouse, key)
    show_in_dagster(config, key, record, done)


@invoice_operation("deactivate")
def deactivate(config: PipelineConfig, invoice_key: str, reason: str) -> None:
    """Deactivate an invoice: kept as Inactive, free to be synced again (refused while lines are invoiced)."""
    from invoice_pipeline.operations.invoice_operations import deactivate_invoice

    key = invoice_key_of(invoice_key)

    def deactivated(warehouse: Warehouse) -> str:
        record = deactivate_invoice(warehouse, key, actor=actor(), reason=reason)
        return f"{key}\t{record.status}\tto import it again: {import_hint(config, key)}"

    _change_and_show_in_dagster(config, key, f"deactivated by {actor()}: {reason}", deactivated)


def _confirmed(question: str) -> bool:
    """The person's yes to `question`; no answer (no terminal, or the input closed) is a no."""
    try:
        return click.confirm(question)
    except click.Abort:
        return False


@invoice_operation("delete", click.option("--yes", is_flag=True, help="Do not ask for confirmation."))
def delete(config: PipelineConfig, invoice_key: str, reason: str, yes: bool) -> None:
    """Delete an invoice and its lines (its history remains). Refused while lines are invoiced."""
    from invoice_pipeline.operations.invoice_operations import delete_invoice

    key = invoice_key_of(invoice_key)
    if not yes and not _confirmed(f"Delete {key} and its lines? Deactivating keeps them (recommended)."):
        raise Refused("nothing deleted; deactivate the invoice instead, or pass --yes")

    def deleted(warehouse: Warehouse) -> str:
        delete_invoice(warehouse, key, actor=actor(), reason=reason)
        return f"{key}\tdeleted\tits history remains (`invoice-pipeline invoices show {key}`)"

    _change_and_show_in_dagster(config, key, f"deleted by {actor()}: {reason}", deleted)


@invoice_operation("unlink")
def unlink(config: PipelineConfig, invoice_key: str, reason: str) -> None:
    """Remove the references from customer invoices to the invoice's lines (then it can be deactivated)."""
    from invoice_pipeline.operations.invoice_operations import unlink_invoice

    key = invoice_key_of(invoice_key)

    def unlinked(warehouse: Warehouse) -> str:
        return f"{key}\t{unlink_invoice(warehouse, key, actor=actor(), reason=reason).summary()}"

    _change_and_show_in_dagster(config, key, f"unlinked by {actor()}: {reason}", unlinked)


def _approved_difference(_context: click.Context, _option: click.Parameter, text: str | None) -> Decimal | None:
    """The difference a person approves, read exactly; text that is not a plain decimal is a usage error."""
    if text is None:
        return None
    try:
        return approved_difference(text)
    except ValueError as error:
        raise click.BadParameter(str(error)) from None


@invoice_operation(
    "override",
    click.option(
        "--difference",
        required=True,
        callback=_approved_difference,
        help="The difference you approve, as the invoice's message shows it (header total minus lines total, "
        "sign included, e.g. 0.37 or -0.13); only that very figure is accepted.",
    ),
)
def override(config: PipelineConfig, invoice_key: str, reason: str, difference: Decimal) -> None:
    """Import an invoice in Error because of its checksum as Active, accepting the difference you approve and no
    other, below the currency's override maximum. Exit 1 when refused or when it ends in Error."""
    from invoice_pipeline.cli.dagster_runs import command_instance, run_imports
    from invoice_pipeline.composition import opened_warehouse
    from invoice_pipeline.operations.invoice_operations import checksum_override_difference

    key = invoice_key_of(invoice_key)
    options: dict[str, object] = {
        "checksum_override": {"difference": str(difference), "reason": reason},
        "requested_by": actor(),
    }
    with opened_warehouse(config) as warehouse:  # the command's one warehouse, its import run's too
        with refusals_as_exit_status():
            found = checksum_override_difference(config, warehouse, key, approved=difference)
        record = warehouse.current_record(key)
        shown = f"{decimal_text(found, record.minor_units)} {record.currency}" if record else decimal_text(found)
        say(f"{key}\tchecksum override\tapproving a difference of {shown}")
        with command_instance(config) as instance:
            broken, refused = run_imports(config, warehouse, instance, [key], options)
        if broken:
            sys.exit(EXIT_BROKEN)
        if refused:
            sys.exit(EXIT_REFUSED)
        record = warehouse.current_record(key)
    if record is None or record.status != Status.ACTIVE:
        status = f"in {record.status}" if record else "gone"
        raise Refused(
            f"the checksum override of {key} was not applied: it is {status} (its message above says why); "
            "nothing was imported"
        )


@invoice_operation(
    "create",
    click.option("--invoice-date", type=click.DateTime(["%Y-%m-%d"]), help="Header field; omit all to use the folder."),
    click.option("--period-start", type=click.DateTime(["%Y-%m-%d"]), help="Billing period start."),
    click.option("--period-end", type=click.DateTime(["%Y-%m-%d"]), help="Billing period end."),
    click.option("--currency", help="ISO 4217 code."),
    click.option("--total", "total_amount", help="Header total, decimal text (negative for a credit note)."),
)
def create(
    config: PipelineConfig,
    invoice_key: str,
    reason: str,
    invoice_date: datetime | None,
    period_start: datetime | None,
    period_end: datetime | None,
    currency: str | None,
    total_amount: str | None,
) -> None:
    """Create a manual provider invoice (status Populating) from its folder or from header fields."""
    from invoice_pipeline.cli.dagster_runs import show_in_dagster
    from invoice_pipeline.composition import connector_for, opened_warehouse
    from invoice_pipeline.operations.invoice_operations import create_manual_invoice, header_fields

    key = invoice_key_of(invoice_key)
    header = None
    if invoice_date or period_start or period_end or currency or total_amount:
        if not (invoice_date and period_start and period_end and currency and total_amount):
            raise click.UsageError("give all of --invoice-date, --period-start, --period-end, --currency, --total")
        header = header_fields(
            invoice_date=invoice_date.date(),
            billing_period_start=period_start.date(),
            billing_period_end=period_end.date(),
            currency=currency,
            total_amount=total_amount,
        )
    with refusals_as_exit_status(), opened_warehouse(config) as warehouse:
        record = create_manual_invoice(
            config, warehouse, key, connectors=connector_for, actor=actor(), reason=reason, header=header
        )
        say(
            f"{key}\t{record.status}\tadd its line files to its folder if any, then "
            f"`invoice-pipeline invoices activate {key} --reason ...`"
        )
        shown = _latest_record(warehouse, key)
    show_in_dagster(config, key, shown, f"manual invoice created by {actor()}: {reason}")


@invoice_operation(
    "activate",
    click.option(
        "--accept-checksum-difference",
        callback=_approved_difference,
        help="Accept this checksum difference, as the refused activation shows it (header total minus lines total, "
        "e.g. 0.37): that very figure only, below the currency's override maximum.",
    ),
)
def activate(config: PipelineConfig, invoice_key: str, reason: str, accept_checksum_difference: Decimal | None) -> None:
    """Set a manual provider invoice Active; refused (exit 1) with the import's message when its rules fail."""
    from invoice_pipeline.cli.dagster_runs import show_in_dagster
    from invoice_pipeline.composition import connector_for, opened_warehouse
    from invoice_pipeline.use_cases import activate_invoice

    key = invoice_key_of(invoice_key)
    with refusals_as_exit_status(), opened_warehouse(config) as warehouse:
        result = activate_invoice(
            config,
            warehouse,
            key,
            connectors=connector_for,
            actor=actor(),
            reason=reason,
            accept_checksum_difference=accept_checksum_difference,
        )
        say(f"{key}\t{result.status}\t{result.message}")
        record = _latest_record(warehouse, key)
    show_in_dagster(config, key, record, f"activated by {actor()}: {reason}")
