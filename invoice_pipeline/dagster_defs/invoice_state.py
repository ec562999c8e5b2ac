"""What the Dagster UI shows of a provider invoice: its partition's state follows the invoice's status.

Active is a materialization of `provider_invoice` (and of the assets its import writes: the line summaries and
the billable usage); Error is a failed run that did not materialize it, its failure carrying the status, the
message, who and when, what to do next and the notes' first rows; Populating is the run in progress. A
deactivated or deleted invoice leaves the partitions list (its runs and events stay), so it is never shown as a
successful materialization.
"""

from collections.abc import Callable, Sequence
from decimal import Decimal
from enum import StrEnum
from pathlib import Path
from typing import Any, NoReturn

import dagster as dg

from invoice_pipeline.dagster_defs.dagster_private import (
    CODE_VERSION_TAG,
    DATA_VERSION_TAG,
    INPUT_DATA_VERSION_TAG_PREFIX,
    INPUT_EVENT_POINTER_TAG_PREFIX,
    SerializableErrorInfo,
)
from invoice_pipeline.dagster_defs.errors import PlainError
from invoice_pipeline.dagster_defs.metadata import shown_metadata, table_metadata
from invoice_pipeline.dagster_defs.partitions import provider_invoice_partitions
from invoice_pipeline.dagster_defs.reference_assets import reference_assets
from invoice_pipeline.domain.import_failures import what_to_do
from invoice_pipeline.domain.invoice_keys import InvoiceKey
from invoice_pipeline.domain.line_kinds import LineKind
from invoice_pipeline.domain.money import decimal_text, round_to_minor_units
from invoice_pipeline.domain.notes import Note
from invoice_pipeline.domain.refusals import ImportRefused
from invoice_pipeline.domain.statuses import DELETED, Status
from invoice_pipeline.importing.invoice_import import ImportOutcomeUnrecorded
from invoice_pipeline.validation.notes import note_preview
from invoice_pipeline.warehouse.invoice_records import InvoiceRecord

INVOICE_ASSET = dg.AssetKey("provider_invoice")
REFERENCE_ASSETS = [reference.key for reference in reference_assets]
LINE_ASSETS = {LineKind.USAGE: dg.AssetKey("usage_summaries"), LineKind.LICENSE: dg.AssetKey("license_summaries")}
BILLABLE_USAGE_ASSET = dg.AssetKey("billable_usage")
WAITING_FOR_ACTIVATION = (
    "Waiting for activation: put its line files in the invoice's folder, then launch "
    "activate_manual_provider_invoice (Launchpad) or run `invoice-pipeline invoices activate KEY --reason ...`."
)
NOTE_ROWS_SHOWN = 10


def root_cause(error: SerializableErrorInfo) -> SerializableErrorInfo:
    """The error a failed step's error was caused by, at the end of its chain."""
    while error.cause is not None:
        error = error.cause
    return error


class OutcomeFailure(StrEnum):
    """Why an import run failed, shown as the sentence alone: an invoice in Error and a refusal are outcomes
    (nothing broke); an import whose Error could not be recorded broke, and says what takes it over.

    Dagster keeps only a failed step's error class name (`SerializableErrorInfo.cls_name`), so each value is
    that name, taken from our exception type where there is one: a renamed exception renames its outcome.
    """

    INVOICE_IN_ERROR = "ProviderInvoiceInError"  # no exception: the invoice's recorded status is the outcome
    IMPORT_REFUSED = ImportRefused.__name__
    OUTCOME_UNRECORDED = ImportOutcomeUnrecorded.__name__

    @classmethod
    def of(cls, error: SerializableErrorInfo) -> "OutcomeFailure | None":
        """The outcome a failed step's error stands for (its root cause's class), None when it is a crash."""
        name = root_cause(error).cls_name
        return next((failure for failure in cls if failure.value == name), None)


def fail_with_outcome(kind: OutcomeFailure, message: str, metadata: dict[str, Any] | None = None) -> NoReturn:
    """End the step as failed, showing `message` and no stack trace (`kind` names it for `classify_failure`), with
    `metadata` on the failure (the run's log and the partition's "View logs" show it)."""
    raise PlainError(kind.value, message, metadata=metadata)


def changed_at(record: InvoiceRecord) -> str:
    """When the record last changed, as the UI shows it: UTC to the second."""
    return f"{record.updated_at:%Y-%m-%d %H:%M:%S} UTC"


def notes_metadata(notes: Sequence[Note], paths: Sequence[Path]) -> dict[str, Any]:
    """Each note's first rows as a table, how many it has, and its file's full path to open it whole."""
    metadata: dict[str, Any] = {}
    for note, path in zip(notes, paths, strict=True):
        preview = note_preview(note, NOTE_ROWS_SHOWN)
        metadata[note.file_name] = table_metadata(preview.rows, preview.columns)
        metadata[f"{note.file_name} rows"] = f"{len(preview.rows)} of {preview.row_count} shown ({note.title})"
        metadata[f"{note.file_name} path"] = dg.MetadataValue.path(str(path))
    return metadata


def error_metadata(record: InvoiceRecord, actor: str, notes: dict[str, Any]) -> dict[str, Any]:
    """What the failure of an import whose invoice is in Error shows: its status and message, who and when, what
    to do next, and its notes (`notes_metadata`)."""
    return shown_metadata(
        {
            "status": str(record.status),
            "message": record.message or "",
            "changed_by": actor,
            "changed_at": changed_at(record),
            "what_to_do": what_to_do(record.failures),
            "record_id": record.record_id,
            **notes,
        }
    )


def _money(record: InvoiceRecord, amount: Decimal | None) -> str:
    if amount is None:
        return ""
    minor_units = record.minor_units
    shown = round_to_minor_units(amount, minor_units) if minor_units is not None else amount
    return decimal_text(shown, minor_units) or ""


def invoice_metadata(
    record: InvoiceRecord, actor: str | None = None, notes: dict[str, Any] | None = None
) -> dict[str, Any]:
    """What the UI shows for a provider invoice record: money in the currency's minor units, as the messages do;
    who made it so (`actor`, when known) and when, and its notes (`notes_metadata`, e.g. warnings.csv)."""
    return shown_metadata(
        {
            "status": str(record.status),
            "message": record.message or "",
            **({"changed_by": actor} if actor else {}),
            "changed_at": changed_at(record),
            "record_id": record.record_id,
            "currency": record.currency or "",
            "total_amount": _money(record, record.total_amount),
            "usage_total": _money(record, record.usage_total),
            "license_total": _money(record, record.license_total),
            "difference": _money(record, record.difference),
            "accepted_difference": _money(record, record.accepted_difference),
            "tax_amount": _money(record, record.tax_amount),  # the lines' tax, left out of total_amount
            "document_type": record.document_type or "invoice",
            "amends_invoice_id": record.amends_invoice_id or "",
            "usage_line_count": record.usage_line_count or 0,
            "license_line_count": record.license_line_count or 0,
            "is_manual": bool(record.is_manual),
            **(notes or {}),
        }
    )


def line_asset_metadata(record: InvoiceRecord, kind: LineKind) -> dict[str, Any]:
    """The metadata of one line asset's partition: how many lines the invoice stored, and their total."""
    return shown_metadata(
        {
            "line_count": record.line_count(kind) or 0,
            "total": _money(record, record.line_total(kind)),
            "currency": record.currency or "",
        }
    )


def reference_provenance(instance: dg.DagsterInstance) -> dict[str, str]:
    """The provenance of an invoice made Active by an operation (activation): the reference data versions it was
    checked against, today's. Without it Dagster calls the invoice unsynced after every reference refresh, even
    one that changed nothing (it then only knows that the reference assets materialized after it)."""
    tags = {CODE_VERSION_TAG: "invoice-pipeline"}  # the asset declares no code version: any value, never compared
    for key in REFERENCE_ASSETS:
        records = instance.fetch_materializations(dg.AssetRecordsFilter(asset_key=key), limit=1).records
        latest = records[0].asset_materialization if records else None
        version = (latest.tags or {}).get(DATA_VERSION_TAG) if latest is not None else None
        if version:
            tags[f"{INPUT_DATA_VERSION_TAG_PREFIX}/{key.to_user_string()}"] = version
            tags[f"{INPUT_EVENT_POINTER_TAG_PREFIX}/{key.to_user_string()}"] = str(records[0].storage_id)
    return tags


def invoice_materializations(
    record: InvoiceRecord, actor: str | None = None, provenance: dict[str, str] | None = None
) -> list[dg.AssetMaterialization]:
    """The materializations that show an Active invoice: its record (who made it so, and its `provenance`:
    `reference_provenance`) and the line summaries it stored."""
    key = str(record.key)
    return [
        dg.AssetMaterialization(
            asset_key=INVOICE_ASSET, partition=key, metadata=invoice_metadata(record, actor), tags=provenance
        ),
        *(
            dg.AssetMaterialization(asset_key=asset, partition=key, metadata=line_asset_metadata(record, kind))
            for kind, asset in LINE_ASSETS.items()
        ),
    ]


def status_observation(
    key: InvoiceKey, status: str, change: str, record: InvoiceRecord | None, notes: dict[str, Any] | None = None
) -> dg.AssetObservation:
    """An observation on the invoice's partition saying what changed, by whom and why, and the status after.

    `notes` is the notes' metadata (`notes_metadata`: first rows and full paths).
    """
    metadata: dict[str, Any] = {"status": str(status), "change": change}
    if record is not None:
        metadata |= {"message": record.message or "", "record_id": record.record_id, "changed_at": changed_at(record)}
        if record.status == Status.POPULATING and record.is_manual:
            metadata["what_to_do"] = WAITING_FOR_ACTIVATION
        elif record.status == Status.ERROR:
            metadata["what_to_do"] = what_to_do(record.failures)
    return dg.AssetObservation(
        asset_key=INVOICE_ASSET, partition=str(key), metadata=shown_metadata(metadata | (notes or {}))
    )


def add_invoice_partitions(instance: dg.DagsterInstance, keys: list[InvoiceKey]) -> list[str]:
    """Register provider invoices as dynamic partitions (those not registered yet); returns those it added."""
    name = provider_invoice_partitions.name
    assert name is not None
    known = set(instance.get_dynamic_partitions(name))
    new = list(dict.fromkeys(str(k) for k in keys if str(k) not in known))
    if new:
        instance.add_dynamic_partitions(name, new)
    return new


def show_invoice_change(
    instance: dg.DagsterInstance,
    key: InvoiceKey,
    record: InvoiceRecord | None,
    change: str,
    log_event: Callable[[dg.AssetMaterialization | dg.AssetObservation], None] | None = None,
    actor: str | None = None,
) -> None:
    """Make the invoice's partition tell its status at once after a manual operation (not an import run).

    Active: materialized (record and line summaries). Deactivated or deleted: an observation saying so,
    then the partition leaves the list, so its earlier materialization no longer shows. Populating or
    Error without a run: an observation with the status and message. `log_event`: the run's own (an operation
    job's `context.log_event`), so the partition's events name the run that made the change; without it (the
    CLI) they are recorded outside any run. `actor`: who made the change, shown as `changed_by`.
    """
    report = log_event or instance.report_runless_asset_event
    status = record.status if record is not None else DELETED
    add_invoice_partitions(instance, [key])
    report(status_observation(key, status, change, record))
    if record is not None and record.status == Status.ACTIVE:
        for materialization in invoice_materializations(record, actor, reference_provenance(instance)):
            report(materialization)
    elif record is None or record.status == Status.INACTIVE:
        name = provider_invoice_partitions.name
        assert name is not None
        instance.delete_dynamic_partition(name, str(key))
