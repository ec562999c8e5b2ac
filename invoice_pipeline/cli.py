"""The `invoice-pipeline` command line: sync provider invoices through Dagster and inspect them."""

from __future__ import annotations

import getpass
import json
import logging
import os
import sys
import tempfile
import traceback
import warnings
from collections.abc import Callable
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, NoReturn

import click

from invoice_pipeline.config import CONFIG_ENV_VAR, ConfigError, PipelineConfig, load_config
from invoice_pipeline.connectors.base import ConnectorError
from invoice_pipeline.connectors.folder import LINE_FILE_STEMS, folders_not_read
from invoice_pipeline.domain.invoice_keys import InvalidInvoiceKey, InvoiceKey
from invoice_pipeline.domain.lifecycle import Stage
from invoice_pipeline.domain.money import decimal_text
from invoice_pipeline.domain.statuses import NOT_IMPORTED, parse_status
from invoice_pipeline.importing.eligibility import invoice_standing
from invoice_pipeline.importing.invoice_import import activate_manual_invoice, refuse_import
from invoice_pipeline.notifications.mail import NO_RELAY, MailError, SmtpSettings
from invoice_pipeline.notifications.summary import (
    SummaryNotDue,
    build_daily_summary,
    check_summary_due,
    deliver_daily_summary,
    due_summary_day,
    next_summary_day,
    render_summary,
)
from invoice_pipeline.operations.billing import bill_customers, billable_consumption, customer_invoice_text
from invoice_pipeline.operations.invoice_operations import (
    checksum_override_difference,
    create_manual_invoice,
    deactivate_invoice,
    delete_invoice,
    header_fields,
    offered_invoice_statuses,
    unlink_invoice,
)
from invoice_pipeline.warehouse.engine_faults import WarehouseFault, WarehouseMisconfigured
from invoice_pipeline.warehouse.schema_migrations import WarehouseSchemaOutdated
from invoice_pipeline.warehouse.warehouse import ImportRefused, Warehouse

EXIT_REFUSED = 1
EXIT_USAGE = 2
EXIT_BROKEN = 3
DEBUG_ENV_VAR = "INVOICE_PIPELINE_DEBUG"


class Refused(click.ClickException):
    """An operation refused: one sentence on why and what to do instead; nothing was changed."""

    exit_code = EXIT_REFUSED


class Misconfigured(click.ClickException):
    """Configuration or setup a person must fix, in one sentence that says how."""

    exit_code = EXIT_USAGE


class Broken(click.ClickException):
    """A fault the pipeline met (a run broke, a relay down), in one sentence that says what to do."""

    exit_code = EXIT_BROKEN


def _dagster_home() -> Path:
    """DAGSTER_HOME, or this folder when it holds dagster.yaml, or <data dir>/dagster_home; an instance a killed
    process left half-created there is repaired first (see `instance_repair`)."""
    from invoice_pipeline.dagster_defs.instance_repair import repair_instance

    if os.environ.get("DAGSTER_HOME"):
        home = Path(os.environ["DAGSTER_HOME"])
    else:
        home = Path.cwd() if Path("dagster.yaml").is_file() else load_config().data_dir / "dagster_home"
        instance_config = home / "dagster.yaml"
        try:
            home.mkdir(parents=True, exist_ok=True)
            if not instance_config.exists():
                _write_whole(instance_config, "telemetry:\n  enabled: false\n")
        except OSError as error:
            raise Misconfigured(
                f"the Dagster home {home} cannot be created ({error.strerror or error}); make its folder "
                "writable, or set DAGSTER_HOME to a writable folder"
            ) from None
        os.environ["DAGSTER_HOME"] = str(home.resolve())
    repair_instance(home)
    return home


def _write_whole(path: Path, text: str) -> None:
    """Write a file whole or not at all (a process killed meanwhile leaves no empty file behind)."""
    with tempfile.NamedTemporaryFile("w", dir=path.parent, delete=False, encoding="utf-8") as part:
        part.write(text)
    os.replace(part.name, path)


def _import_hint(config: PipelineConfig, key: InvoiceKey) -> str:
    """The command that imports this invoice (again): a sync for an automatic provider, create + activate else."""
    if config.provider(key.provider).sync == "automatic":
        return f"`invoice-pipeline sync --invoice {key}`"
    return (
        f"`invoice-pipeline invoices create {key} --reason ...`, then "
        f"`invoice-pipeline invoices activate {key} --reason ...`"
    )


def _actor() -> str:
    """Who runs this command, for the invoices' history."""
    return f"cli:{getpass.getuser()}"


def _smtp() -> SmtpSettings:
    try:
        return SmtpSettings.from_environment()
    except MailError as error:
        raise Misconfigured(str(error)) from None


def _open(config: PipelineConfig, *, check_schema: bool = True) -> Warehouse:
    from invoice_pipeline.dagster_defs.resources import open_warehouse

    return open_warehouse(config, check_schema=check_schema)


def _debug_asked(ctx: click.Context, param: click.Parameter, asked: bool) -> None:
    if asked:
        os.environ[DEBUG_ENV_VAR] = "1"


def _debugging() -> bool:
    """Whether a fault shows its traceback (--debug, or INVOICE_PIPELINE_DEBUG=1)."""
    return os.environ.get(DEBUG_ENV_VAR, "").strip().lower() in ("1", "true", "yes", "on")


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False),
    help=f"Pipeline YAML configuration (default: ${CONFIG_ENV_VAR}, else the bundled demo).",
)
@click.option(
    "--debug",
    is_flag=True,
    is_eager=True,
    expose_value=False,
    callback=_debug_asked,
    help=f"Show a fault's traceback, then its one line (also ${DEBUG_ENV_VAR}=1).",
)
@click.pass_context
def cli(ctx: click.Context, config_path: str | None) -> None:
    """Import and validate provider invoices (Partner Center, distributors, vendors) with Dagster."""
    if config_path:
        os.environ[CONFIG_ENV_VAR] = str(Path(config_path).resolve())
    ctx.obj = load_config()


@cli.command()
@click.option("--provider", "provider_id", help="Only this automatic provider.")
@click.option("--invoice", "invoice_key", help="Import this one invoice now (PROVIDER:INVOICE_ID), manual backfill.")
@click.pass_obj
def sync(config: PipelineConfig, provider_id: str | None, invoice_key: str | None) -> None:
    """Import every eligible invoice (new, Error, stuck Populating) of the automatic providers, through Dagster.

    Prints one line per invoice. Validation Errors are outcomes, not failures: the exit status is
    non-zero only when the pipeline itself broke (3), or when a requested invoice is refused (1).
    """

    if invoice_key:
        key = InvoiceKey.parse(invoice_key)
        config.provider(key.provider)
        warehouse = _open(config)
        try:
            refuse_import(config, warehouse, key)
        except ImportRefused as refusal:
            raise Refused(str(refusal)) from None
        finally:
            warehouse.dispose()
        targets = [key]
    else:
        if provider_id and config.provider(provider_id).sync != "automatic":
            raise Refused(
                f"{provider_id} is a manual provider: its invoices are never synced; create one with "
                f"`invoice-pipeline invoices create {provider_id}:ID --reason ...`, then activate it"
            )
        _open(config).dispose()  # a warehouse fault ends the command here, in one line, before any run
        targets = _daily_sync(provider_id)
    broken, refused = _run_imports(targets)
    if broken:
        sys.exit(EXIT_BROKEN)
    if refused and invoice_key:
        sys.exit(EXIT_REFUSED)


def _daily_sync(provider_id: str | None) -> list[InvoiceKey]:
    """Run the daily sync job through Dagster (reference data, then the offers), printing what it decided.

    It is the run the schedule makes, so the UI shows the same history whichever started it; the
    imports it finds eligible are returned for this command to run.
    """
    import dagster as dg

    from invoice_pipeline.dagster_defs.runs import run_daily_sync
    from invoice_pipeline.definitions import defs

    _dagster_home()
    with dg.DagsterInstance.get() as instance:
        plan = run_daily_sync(defs, instance, provider=provider_id, requested_by=_actor())
    if not plan.outcome.success:
        raise Broken(
            f"the daily sync failed: {plan.outcome.error or 'see the run in the Dagster UI'} "
            f"(run {plan.outcome.run_id})"
        )
    for problem in plan.provider_errors:
        click.echo(f"provider error\t{problem}", err=True)
    for skipped in plan.skipped:
        click.echo(f"{skipped['invoice']}\tskipped\t{skipped['reason']}")
    for folder in plan.folders_not_read:
        click.echo(f"{folder['provider']}:{folder['folder']}\tnot read\t{folder['reason']}")
    for change in plan.changes:
        click.echo(
            f"{change['invoice']}\tchanged at provider\timported {change['imported_total']}, "
            f"provider now {change['provider_total']} {change['currency']}"
            + (", and its lines changed" if change.get("lines_changed") else "")
        )
    for error in plan.notifications_not_sent:
        click.echo(f"notification not sent (retried next sync)\t{error}", err=True)
    return plan.eligible


def _run_imports(targets: list[InvoiceKey], options: dict[str, object] | None = None) -> tuple[bool, bool]:
    """Run the import job for each target through Dagster, printing one line each.

    Returns whether any run broke, and whether any import was refused.
    """
    import dagster as dg

    from invoice_pipeline.dagster_defs.abandoned_runs import end_abandoned_import_runs
    from invoice_pipeline.dagster_defs.runs import run_invoice_import
    from invoice_pipeline.definitions import defs

    _dagster_home()
    broken = refused = False
    with dg.DagsterInstance.get() as instance:
        config = load_config()
        warehouse = _open(config)
        try:
            for run_id in end_abandoned_import_runs(instance, warehouse, settle=config.claim_lapse):
                click.echo(f"import run {run_id} had stopped without ending: now shown as failed in Dagster", err=True)
        finally:
            warehouse.dispose()
        for key in targets:
            outcome = run_invoice_import(defs, instance, key, options)
            if outcome.refused:
                refused = True
                click.echo(f"{key}\trefused\t{outcome.error}")
            elif outcome.broken:
                broken = True
                click.echo(f"{key}\tfailed\t{outcome.error or 'run failed'} (run {outcome.run_id})")
            else:
                warehouse = _open(load_config())
                try:
                    record = warehouse.current_record(key)
                finally:
                    warehouse.dispose()
                status = record.status if record else NOT_IMPORTED
                message = (record.message if record else "") or ""
                click.echo(f"{key}\t{status}\t{message}")
    if not targets:
        click.echo("nothing to import")
    return broken, refused


@cli.group()
def invoices() -> None:
    """List and inspect provider invoices."""


@invoices.command("list")
@click.option("--provider", "provider_id", help="Only this provider.")
@click.option("--status", "status_name", help="Only this status: Populating, Active, Error or Inactive.")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array.")
@click.pass_obj
def list_invoices(config: PipelineConfig, provider_id: str | None, status_name: str | None, as_json: bool) -> None:
    """Provider invoice records with status, totals and line counts."""
    try:
        status = parse_status(status_name) if status_name else None
    except ValueError as error:
        raise click.BadParameter(str(error), param_hint="--status") from None
    warehouse = _open(config)
    try:
        records = [r.summary() for r in warehouse.list_invoices(provider_id, status)]
    finally:
        warehouse.dispose()
    if as_json:
        click.echo(json.dumps(records, indent=2))
        return
    for r in records:
        lines = (r["usage_line_count"] or 0) + (r["license_line_count"] or 0)
        total = f"{r['total_amount'] or '-'} {r['currency'] or ''}".strip()
        click.echo(f"{r['provider']}:{r['invoice_id']}\t{r['status']}\t{total}\t{lines} lines\t{r['message'] or ''}")
    if not records:
        click.echo("no provider invoices")


def _key(text: str) -> InvoiceKey:
    try:
        return InvoiceKey.parse(text)
    except InvalidInvoiceKey as error:
        raise click.BadParameter(str(error)) from None


@invoices.command("show")
@click.argument("invoice_key")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_obj
def show_invoice(config: PipelineConfig, invoice_key: str, as_json: bool) -> None:
    """One invoice: its records (current first), status history and notes; who deactivated or deleted it, and why."""
    key = _key(invoice_key)
    warehouse = _open(config)
    try:
        records = warehouse.records(key)
        standing = invoice_standing(warehouse, key, None)
        if standing.stage == Stage.NEVER_IMPORTED:
            raise Refused(
                f"{key} has never been imported; the provider's invoices: "
                f"`invoice-pipeline providers invoices {key.provider}`; then {_import_hint(config, key)}"
            )
        details: dict[str, Any] = {
            "standing": standing.stage.value,
            "removed": None,
            "records": [r.summary() for r in records],
            "history": [h.summary() for h in warehouse.history(key)],
            "notes": [{"title": n.title, "file_name": n.file_name} for n in warehouse.notes(records[0].record_id)]
            if records
            else [],
        }
    finally:
        warehouse.dispose()
    if not standing.stage.has_current_record:
        details["removed"] = {"by": standing.by, "at": standing.since.isoformat(), "why": standing.why}
    if as_json:
        click.echo(json.dumps(details, indent=2))
        return
    if details["removed"]:
        how = "deleted (its record, lines and notes removed)" if standing.stage == Stage.DELETED else "deactivated"
        click.echo(
            f"{key} was {how} by {standing.by} on {standing.since:%Y-%m-%d %H:%M} UTC ({standing.why}); "
            f"to import it again: {_import_hint(config, key)}\n"
        )
    for name, value in (details["records"] or [{}])[0].items():
        click.echo(f"{name:20} {'' if value is None else value}")
    click.echo("\nhistory:")
    for h in details["history"]:
        click.echo(f"  {h['changed_at']}  {h['from_status'] or '-'} -> {h['to_status']}  {h['reason']}  ({h['actor']})")
    click.echo("\nnotes:" + ("" if details["notes"] else " none"))
    for n in details["notes"]:
        click.echo(f"  {n['title']}: {n['file_name']}")
    for older in details["records"][1:]:
        click.echo(f"\nearlier record {older['record_id']}: {older['status']} {older['message'] or ''}")


@invoices.command("notes")
@click.argument("invoice_key")
@click.option(
    "--out", "out_dir", required=True, type=click.Path(file_okay=False), help="Folder to write the note files to."
)
@click.pass_obj
def write_notes(config: PipelineConfig, invoice_key: str, out_dir: str) -> None:
    """Write the invoice's note files (e.g. Missing References errors.csv and warnings.csv) to a folder."""
    key = _key(invoice_key)
    warehouse = _open(config)
    try:
        records = warehouse.records(key)
        notes = warehouse.notes(records[0].record_id) if records else []
    finally:
        warehouse.dispose()
    if not notes:
        click.echo(f"{key} has no notes")
        return
    folder = Path(out_dir)
    folder.mkdir(parents=True, exist_ok=True)
    for note in notes:
        path = folder / note.file_name
        path.write_text(note.content, encoding="utf-8")
        click.echo(f"{note.title}: {path}")


def _operation(action: Callable[[Warehouse], str], config: PipelineConfig) -> None:
    """Run one operation; a refusal ends with exit 1 and its sentence, having changed nothing."""
    warehouse = _open(config)
    try:
        click.echo(action(warehouse))
    except ImportRefused as refusal:
        raise Refused(str(refusal)) from None
    finally:
        warehouse.dispose()


def _show_in_dagster(config: PipelineConfig, key: InvoiceKey, change: str) -> None:
    """Make the invoice's partition in the Dagster UI tell at once what this command did."""
    import dagster as dg

    from invoice_pipeline.dagster_defs.invoice_state import show_invoice_change

    warehouse = _open(config)
    try:
        records = warehouse.records(key)
    finally:
        warehouse.dispose()
    _dagster_home()
    with dg.DagsterInstance.get() as instance:
        show_invoice_change(instance, key, records[0] if records else None, change)


REASON = click.option("--reason", required=True, help="Why; kept in the invoice's history.")


@invoices.command("deactivate")
@click.argument("invoice_key")
@REASON
@click.pass_obj
def deactivate(config: PipelineConfig, invoice_key: str, reason: str) -> None:
    """Deactivate an invoice: kept as Inactive, free to be synced again (refused while lines are invoiced)."""
    key = _key(invoice_key)
    _operation(
        lambda wh: (
            f"{key}\t{deactivate_invoice(wh, key, actor=_actor(), reason=reason).status}\tto import it again: "
            f"{_import_hint(config, key)}"
        ),
        config,
    )
    _show_in_dagster(config, key, f"deactivated by {_actor()}: {reason}")


@invoices.command("delete")
@click.argument("invoice_key")
@REASON
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@click.pass_obj
def delete(config: PipelineConfig, invoice_key: str, reason: str, yes: bool) -> None:
    """Delete an invoice and its lines (its history remains). Refused while lines are invoiced."""
    key = _key(invoice_key)
    if not yes and not click.confirm(f"Delete {key} and its lines? Deactivating keeps them (recommended)."):
        raise Refused("nothing deleted; deactivate the invoice instead, or pass --yes")

    def run(wh: Warehouse) -> str:
        delete_invoice(wh, key, actor=_actor(), reason=reason)
        return f"{key}\tdeleted\tits history remains (`invoice-pipeline invoices show {key}`)"

    _operation(run, config)
    _show_in_dagster(config, key, f"deleted by {_actor()}: {reason}")


@invoices.command("unlink")
@click.argument("invoice_key")
@REASON
@click.pass_obj
def unlink(config: PipelineConfig, invoice_key: str, reason: str) -> None:
    """Remove the references from customer invoices to the invoice's lines (then it can be deactivated)."""
    key = _key(invoice_key)

    def run(wh: Warehouse) -> str:
        unlinked = unlink_invoice(wh, key, actor=_actor(), reason=reason)
        return f"{key}\tunlinked {unlinked.line_count} lines\tfrom {', '.join(unlinked.customer_invoice_ids)}"

    _operation(run, config)


@invoices.command("override")
@click.argument("invoice_key")
@REASON
@click.pass_obj
def override(config: PipelineConfig, invoice_key: str, reason: str) -> None:
    """Import an invoice in Error because of its checksum as Active, when the difference is below the maximum."""
    key = _key(invoice_key)
    _operation(
        lambda wh: (
            f"{key}\tchecksum override\taccepting a difference of "
            f"{decimal_text(checksum_override_difference(config, wh, key))}"
        ),
        config,
    )
    broken, refused = _run_imports([key], {"checksum_override": {"reason": reason}, "requested_by": _actor()})
    if broken:
        sys.exit(EXIT_BROKEN)
    if refused:
        sys.exit(EXIT_REFUSED)


@invoices.command("create")
@click.argument("invoice_key")
@REASON
@click.option("--invoice-date", type=click.DateTime(["%Y-%m-%d"]), help="Header field; omit all to use the folder.")
@click.option("--period-start", type=click.DateTime(["%Y-%m-%d"]), help="Billing period start.")
@click.option("--period-end", type=click.DateTime(["%Y-%m-%d"]), help="Billing period end.")
@click.option("--currency", help="ISO 4217 code.")
@click.option("--total", "total_amount", help="Header total, decimal text (negative for a credit note).")
@click.pass_obj
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
    key = _key(invoice_key)
    fields = (invoice_date, period_start, period_end, currency, total_amount)
    header = None
    if any(fields):
        if not all(fields):
            raise click.UsageError("give all of --invoice-date, --period-start, --period-end, --currency, --total")
        header = header_fields(
            invoice_date=invoice_date.date(),  # type: ignore[union-attr]
            billing_period_start=period_start.date(),  # type: ignore[union-attr]
            billing_period_end=period_end.date(),  # type: ignore[union-attr]
            currency=currency,  # type: ignore[arg-type]
            total_amount=total_amount,  # type: ignore[arg-type]
        )
    _operation(
        lambda wh: (
            f"{key}\t{create_manual_invoice(config, wh, key, actor=_actor(), reason=reason, header=header).status}"
            f"\tadd its line files to its folder if any, then `invoice-pipeline invoices activate {key} --reason ...`"
        ),
        config,
    )
    _show_in_dagster(config, key, f"manual invoice created by {_actor()}: {reason}")


@invoices.command("activate")
@click.argument("invoice_key")
@REASON
@click.option("--accept-checksum-difference", is_flag=True, help="Accept a difference below the override maximum.")
@click.pass_obj
def activate(config: PipelineConfig, invoice_key: str, reason: str, accept_checksum_difference: bool) -> None:
    """Set a manual provider invoice Active; refused with the import's message when its rules fail."""
    key = _key(invoice_key)
    maximum = config.checksum_override_maximum if accept_checksum_difference else None

    def run(wh: Warehouse) -> str:
        result = activate_manual_invoice(config, wh, key, actor=_actor(), reason=reason, override_maximum=maximum)
        return f"{key}\t{result.status}\t{result.message}"

    _operation(run, config)
    _show_in_dagster(config, key, f"activated by {_actor()}: {reason}")


@invoices.command("export")
@click.argument("invoice_key")
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False), help="Folder to write the CSVs to.")
@click.pass_obj
def export(config: PipelineConfig, invoice_key: str, out_dir: str) -> None:
    """Write the stored line summaries of the invoice's current record as CSV (exact decimals)."""
    key = _key(invoice_key)
    folder = Path(out_dir)
    folder.mkdir(parents=True, exist_ok=True)
    warehouse = _open(config)
    try:
        record = warehouse.current_record(key)
        if record is None:
            raise Refused(f"{key} has no current record; list them with `invoice-pipeline invoices list`")
        for kind, stem in LINE_FILE_STEMS.items():
            count = warehouse.export_lines(record.record_id, kind, folder / f"{stem}.csv")
            click.echo(f"{folder / f'{stem}.csv'}\t{count} lines")
    finally:
        warehouse.dispose()


@cli.group()
def billing() -> None:
    """Billable consumption and customer invoices."""


@billing.command("consumption")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_obj
def consumption(config: PipelineConfig, as_json: bool) -> None:
    """Usage that can be billed: Active invoices only, not yet invoiced, per account, subscription and period."""
    warehouse = _open(config)
    try:
        rows = billable_consumption(warehouse)
    finally:
        warehouse.dispose()
    records = [
        {
            **r,
            "charge_start_date": r["charge_start_date"].isoformat(),
            "charge_end_date": r["charge_end_date"].isoformat(),
            "amount": decimal_text(r["amount"], r["minor_units"]),
        }
        for r in rows
    ]
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
    warehouse = _open(config)
    try:
        created = bill_customers(warehouse, actor=_actor())
    finally:
        warehouse.dispose()
    for invoice in map(customer_invoice_text, created):
        click.echo(
            f"{invoice['customer_invoice_id']}\t{invoice['account_id']}\t"
            f"{invoice['total_amount']} {invoice['currency']}\t{invoice['line_count']} lines\t"
            f"rounding difference {invoice['rounding_difference']} {invoice['currency']}"
        )
    if not created:
        click.echo("nothing to bill")


@cli.group()
def providers() -> None:
    """The configured providers and the invoices they offer."""


@providers.command("list")
@click.pass_obj
def list_providers(config: PipelineConfig) -> None:
    """The configured providers."""
    for p in config.providers:
        click.echo(f"{p.id}\t{p.name}\t{p.sync}\t{p.connector}\ttolerance {p.checksum_tolerance}")


@providers.command("invoices")
@click.argument("provider_id")
@click.pass_obj
def provider_invoices(config: PipelineConfig, provider_id: str) -> None:
    """The invoices PROVIDER_ID offers, each with its status here (or `not imported`)."""
    warehouse = _open(config)
    try:
        for row in offered_invoice_statuses(config, warehouse, provider_id):
            total = f"{row['total_amount'] or '-'} {row['currency'] or '-'}"
            if row["header_problem"]:
                total = f"header unreadable: {row['header_problem']}"
            click.echo(f"{row['invoice_id']}\t{row['status']}\t{total}")
        for folder in folders_not_read(config.provider(provider_id)):
            click.echo(f"{folder['folder']}\tnot read\t{folder['reason']}")
    except ConnectorError as error:
        raise Broken(str(error)) from None
    finally:
        warehouse.dispose()


@cli.command()
@click.option("--preview", is_flag=True, help="Print the summary instead of sending it (any day).")
@click.option("--html", "show_html", is_flag=True, help="With --preview, print the HTML part too.")
@click.option(
    "--day",
    "day_text",
    help="YYYY-MM-DD (default: sending, the latest day whose summary time has passed; "
    "--preview, the summary that will be sent next).",
)
@click.pass_obj
def notify(config: PipelineConfig, preview: bool, show_html: bool, day_text: str | None) -> None:
    """Send the daily summary email now (once per day, only once its summary time has passed), or print it
    with --preview."""
    try:
        day = date.fromisoformat(day_text) if day_text else None
    except ValueError:
        raise click.BadParameter(f"{day_text!r} is not a date written YYYY-MM-DD", param_hint="--day") from None
    if not preview and not _smtp().configured:
        click.echo(f"invoice-pipeline: {NO_RELAY}", err=True)
        sys.exit(EXIT_USAGE)
    now = datetime.now(UTC)
    warehouse = _open(config)
    try:
        if preview:
            _preview_summary(warehouse, config, day or next_summary_day(warehouse, config, now), now, show_html)
            return
        day = day or due_summary_day(now, config.notifications.summary_time, config.daily_sync.timezone)
        try:
            delivery = deliver_daily_summary(warehouse, config, _smtp(), day, now)
        except SummaryNotDue as refusal:
            raise Refused(str(refusal)) from None
        except MailError as error:
            raise Broken(f"summary for {day} not sent: {error}; run notify again") from None
    finally:
        warehouse.dispose()
    click.echo(f"summary {delivery.day}: {delivery.reason}")


def _preview_summary(warehouse: Warehouse, config: PipelineConfig, day: date, now: datetime, show_html: bool) -> None:
    """Print the day's summary as it would be sent (the part a text reader sees; --html adds the HTML part);
    a day not due yet is said on stderr (its window is not over)."""
    settings = config.notifications
    mail = render_summary(build_daily_summary(warehouse, config, day), settings)
    try:
        check_summary_due(config, day, now)
    except SummaryNotDue as not_due:
        click.echo(str(not_due), err=True)
    click.echo(f"To: {', '.join(settings.recipients) or '(no recipients configured)'}")
    click.echo(f"Subject: {mail.subject}\n\n{mail.first_part[1]}")
    if show_html and mail.text is not None:
        if mail.html is None:
            click.echo("no HTML part: only notifications.text_template is set, so the mail is plain text", err=True)
        else:
            click.echo(mail.html)


@cli.group("warehouse")
def warehouse_group() -> None:
    """The warehouse's schema: which revision it is at, and the migrations that bring it to this version."""


@warehouse_group.command("status")
@click.pass_obj
def warehouse_status(config: PipelineConfig) -> None:
    """Print the warehouse's schema revision; exit 1 when it needs `warehouse upgrade`."""
    warehouse = _open(config, check_schema=False)
    try:
        state = warehouse.schema_state()
    finally:
        warehouse.dispose()
    click.echo(f"warehouse: {warehouse.location}")
    click.echo(f"schema revision: {state.current or 'none (not set up)'}; this version needs: {state.head}")
    if not state.up_to_date:
        raise Refused("the schema is not this version's; run `invoice-pipeline warehouse upgrade`")
    click.echo("up to date")


@warehouse_group.command("upgrade")
@click.pass_obj
def warehouse_upgrade(config: PipelineConfig) -> None:
    """Create the warehouse's tables or apply the migrations it lacks (safe to run again)."""
    warehouse = _open(config, check_schema=False)
    try:
        before, after = warehouse.upgrade_schema()
    finally:
        warehouse.dispose()
    if before == after:
        click.echo(f"warehouse {warehouse.location}: already at schema revision {after}, nothing to do")
    else:
        click.echo(f"warehouse {warehouse.location}: schema upgraded from {before or 'nothing'} to revision {after}")


def main() -> None:
    """Console entry point: a fault ends with one line on stderr and its exit status (1 refused, 2 usage,
    configuration or setup to fix, 3 a fault the pipeline met), never a traceback unless asked for (--debug or
    INVOICE_PIPELINE_DEBUG=1). The pipeline's warnings (a warehouse retry, an instance repaired) go to stderr,
    one line each."""
    from invoice_pipeline.dagster_defs.instance_repair import DagsterInstanceBroken

    warnings.filterwarnings("ignore", message=".*(beta|preview|experimental).*", category=Warning)
    said = logging.StreamHandler()
    said.setFormatter(logging.Formatter("invoice-pipeline: %(message)s"))
    pipeline_log = logging.getLogger("invoice_pipeline")
    pipeline_log.addHandler(said)
    pipeline_log.setLevel(logging.WARNING)
    pipeline_log.propagate = False
    # Libraries' own warnings (a driver closing a broken connection) would reach stderr through Python's
    # last-resort handler: the pipeline's one line says what happened; --debug shows theirs too.
    logging.getLogger().addHandler(logging.StreamHandler() if _debugging() else logging.NullHandler())
    try:
        cli.main(prog_name="invoice-pipeline")
    except (ConfigError, InvalidInvoiceKey, WarehouseMisconfigured) as error:
        _fail(error, EXIT_USAGE)
    except (WarehouseFault, WarehouseSchemaOutdated, DagsterInstanceBroken) as error:
        _fail(error, EXIT_BROKEN)
    except Exception as error:
        first_line = (str(error).strip().splitlines() or [""])[0][:300]
        _fail(
            error,
            EXIT_BROKEN,
            f"unexpected {type(error).__name__}: {first_line}; run it again with --debug for the traceback",
        )


def _fail(error: Exception, exit_code: int, line: str | None = None) -> NoReturn:
    """End the command with the fault's one line (its traceback first when asked for)."""
    if _debugging():
        traceback.print_exception(error)
    click.echo(f"invoice-pipeline: {line or error}", err=True)
    sys.exit(exit_code)
