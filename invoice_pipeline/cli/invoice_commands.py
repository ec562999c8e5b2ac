"""`invoice-pipeline invoices list|show|notes|export`: read the provider invoices (the operations that change
them are in `operation_commands`)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from invoice_pipeline.cli.common import import_hint, invoice_key_of
from invoice_pipeline.cli.errors import Refused
from invoice_pipeline.cli.lazy_group import LazyGroup
from invoice_pipeline.cli.output import say
from invoice_pipeline.domain.lifecycle import Stage
from invoice_pipeline.domain.statuses import parse_status

if TYPE_CHECKING:
    from invoice_pipeline.config import PipelineConfig

OPERATIONS = {
    name: f"invoice_pipeline.cli.operation_commands:{name}"
    for name in ("deactivate", "delete", "unlink", "override", "create", "activate")
}


@click.group(cls=LazyGroup, lazy_subcommands=OPERATIONS)
def invoices() -> None:
    """List and inspect provider invoices."""


@invoices.command("list")
@click.option("--provider", "provider_id", help="Only this provider.")
@click.option("--status", "status_name", help="Only this status: Populating, Active, Error or Inactive.")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array.")
@click.pass_obj
def list_invoices(config: PipelineConfig, provider_id: str | None, status_name: str | None, as_json: bool) -> None:
    """Provider invoice records with status, totals and line counts."""
    from invoice_pipeline.composition import opened_warehouse

    try:
        status = parse_status(status_name) if status_name else None
    except ValueError as error:
        raise click.BadParameter(str(error), param_hint="--status") from None
    with opened_warehouse(config) as warehouse:
        records = [r.summary() for r in warehouse.list_invoices(provider_id, status)]
    if as_json:
        say(json.dumps(records, indent=2), multiline=True)
        return
    for r in records:
        lines = (r["usage_line_count"] or 0) + (r["license_line_count"] or 0)
        total = f"{r['total_amount'] or '-'} {r['currency'] or ''}".strip()
        say(f"{r['provider']}:{r['invoice_id']}\t{r['status']}\t{total}\t{lines} lines\t{r['message'] or ''}")
    if not records:
        say("no provider invoices")


@invoices.command("show")
@click.argument("invoice_key")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_obj
def show_invoice(config: PipelineConfig, invoice_key: str, as_json: bool) -> None:
    """One invoice: its records (current first), status history and notes; who deactivated or deleted it, and why."""
    from invoice_pipeline.composition import opened_warehouse
    from invoice_pipeline.importing.eligibility import invoice_standing

    key = invoice_key_of(invoice_key)
    with opened_warehouse(config) as warehouse:
        records = warehouse.records(key)
        standing = invoice_standing(warehouse, key, None)
        if standing.stage == Stage.NEVER_IMPORTED:
            raise Refused(
                f"{key} has never been imported; the provider's invoices: "
                f"`invoice-pipeline providers invoices {key.provider}`; then {import_hint(config, key)}"
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
    if not standing.stage.has_current_record and standing.since is not None:  # deactivated or deleted, and when
        details["removed"] = {"by": standing.by, "at": standing.since.isoformat(), "why": standing.why}
    if as_json:
        say(json.dumps(details, indent=2), multiline=True)
        return
    if details["removed"]:
        how = "deleted (its record, lines and notes removed)" if standing.stage == Stage.DELETED else "deactivated"
        say(
            f"{key} was {how} by {standing.by} on {standing.since:%Y-%m-%d %H:%M} UTC ({standing.why}); "
            f"to import it again: {import_hint(config, key)}"
        )
        say()
    for name, value in (details["records"] or [{}])[0].items():
        say(f"{name:20} {'' if value is None else value}")
    say("\nhistory:", multiline=True)
    for h in details["history"]:
        say(f"  {h['changed_at']}  {h['from_status'] or '-'} -> {h['to_status']}  {h['reason']}  ({h['actor']})")
    say("\nnotes:" + ("" if details["notes"] else " none"), multiline=True)
    for n in details["notes"]:
        say(f"  {n['title']}: {n['file_name']}")
    for older in details["records"][1:]:
        say()
        say(f"earlier record {older['record_id']}: {older['status']} {older['message'] or ''}")


@invoices.command("notes")
@click.argument("invoice_key")
@click.option(
    "--out", "out_dir", required=True, type=click.Path(file_okay=False), help="Folder to write the note files to."
)
@click.pass_obj
def write_notes(config: PipelineConfig, invoice_key: str, out_dir: str) -> None:
    """Write the invoice's note files (e.g. Missing References errors.csv and warnings.csv) to a folder."""
    from invoice_pipeline.composition import opened_warehouse
    from invoice_pipeline.validation.notes import write_note_files

    key = invoice_key_of(invoice_key)
    with opened_warehouse(config) as warehouse:
        records = warehouse.records(key)
        notes = warehouse.notes(records[0].record_id) if records else []
    if not notes:
        say(f"{key} has no notes")
        return
    for note, path in zip(notes, write_note_files(notes, Path(out_dir)), strict=True):
        say(f"{note.title}: {path}")


@invoices.command("export")
@click.argument("invoice_key")
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False), help="Folder to write the CSVs to.")
@click.pass_obj
def export(config: PipelineConfig, invoice_key: str, out_dir: str) -> None:
    """Write the stored line summaries of the invoice's current record as CSV (exact decimals)."""
    from invoice_pipeline.composition import opened_warehouse
    from invoice_pipeline.connectors.folder import LINE_FILE_STEMS

    key = invoice_key_of(invoice_key)
    folder = Path(out_dir)
    folder.mkdir(parents=True, exist_ok=True)
    with opened_warehouse(config) as warehouse:
        record = warehouse.current_record(key)
        if record is None:
            raise Refused(f"{key} has no current record; list them with `invoice-pipeline invoices list`")
        for kind, stem in LINE_FILE_STEMS.items():
            count = warehouse.export_lines(record.record_id, kind, folder / f"{stem}.csv")
            say(f"{folder / f'{stem}.csv'}\t{count} lines")
