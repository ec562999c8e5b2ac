"""What the Dagster UI shows of a provider invoice: its partition's state follows the invoice's status.

Active is a materialization of `provider_invoice` (and of the line assets); Error is a failed run that did
not materialize it; Populating is the run in progress. A deactivated or deleted invoice leaves the
partitions list (its runs and events stay), so it is never shown as a successful materialization.
"""

from decimal import Decimal
from enum import StrEnum
from typing import Any, NoReturn

import dagster as dg
from dagster_shared.error import SerializableErrorInfo

from invoice_pipeline.dagster_defs.errors import PlainError
from invoice_pipeline.dagster_defs.metadata import shown_metadata
from invoice_pipeline.dagster_defs.partitions import provider_invoice_partitions
from invoice_pipeline.domain.invoice_keys import InvoiceKey
from invoice_pipeline.domain.money import decimal_text, round_to_minor_units
from invoice_pipeline.domain.statuses import DELETED, Status
from invoice_pipeline.importing.invoice_import import ImportOutcomeUnrecorded
from invoice_pipeline.warehouse.warehouse import ImportRefused, InvoiceRecord

INVOICE_ASSET = dg.AssetKey("provider_invoice")
LINE_ASSETS = {"usage": dg.AssetKey("usage_summaries"), "license": dg.AssetKey("license_summaries")}


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


def fail_with_outcome(kind: OutcomeFailure, message: str) -> NoReturn:
    """End the step as failed, showing `message` and no stack trace (`kind` names it for `classify_failure`)."""
    raise PlainError(kind.value, message)


def _money(record: InvoiceRecord, amount: Decimal | None) -> str:
    if amount is None:
        return ""
    minor_units = record.minor_units
    shown = round_to_minor_units(amount, minor_units) if minor_units is not None else amount
    return decimal_text(shown, minor_units) or ""


def invoice_metadata(record: InvoiceRecord) -> dict[str, Any]:
    """What the UI shows for a provider invoice record: money in the currency's minor units, as the messages do."""
    return shown_metadata(
        {
            "status": str(record.status),
            "message": record.message or "",
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
        }
    )


def line_asset_metadata(record: InvoiceRecord, kind: str) -> dict[str, Any]:
    """The metadata of one line asset's partition: how many lines the invoice stored, and their total."""
    return shown_metadata(
        {
            "line_count": record.line_count(kind) or 0,
            "total": _money(record, record.line_total(kind)),
            "currency": record.currency or "",
        }
    )


def invoice_materializations(record: InvoiceRecord) -> list[dg.AssetMaterialization]:
    """The materializations that show an Active invoice: its record and the line summaries it stored."""
    key = str(record.key)
    return [
        dg.AssetMaterialization(asset_key=INVOICE_ASSET, partition=key, metadata=invoice_metadata(record)),
        *(
            dg.AssetMaterialization(asset_key=asset, partition=key, metadata=line_asset_metadata(record, kind))
            for kind, asset in LINE_ASSETS.items()
        ),
    ]


def status_observation(
    key: InvoiceKey, status: str, change: str, record: InvoiceRecord | None, notes: list[str] | None = None
) -> dg.AssetObservation:
    """An observation on the invoice's partition saying what changed, by whom and why, and the status after.

    `notes` are the file names of the invoice's notes (Missing References, Checksum, Schema Failures).
    """
    metadata: dict[str, Any] = {"status": str(status), "change": change}
    if record is not None:
        metadata |= {"message": record.message or "", "record_id": record.record_id}
    if notes:
        metadata["notes"] = f"{', '.join(notes)}: `invoice-pipeline invoices notes {key} --out DIR` writes them"
    return dg.AssetObservation(asset_key=INVOICE_ASSET, partition=str(key), metadata=shown_metadata(metadata))


def add_invoice_partitions(instance: dg.DagsterInstance, keys: list[InvoiceKey]) -> None:
    """Register provider invoices as dynamic partitions (those not registered yet)."""
    name = provider_invoice_partitions.name
    assert name is not None
    known = set(instance.get_dynamic_partitions(name))
    new = list(dict.fromkeys(str(k) for k in keys if str(k) not in known))
    if new:
        instance.add_dynamic_partitions(name, new)


def show_invoice_change(
    instance: dg.DagsterInstance, key: InvoiceKey, record: InvoiceRecord | None, change: str
) -> None:
    """Make the invoice's partition tell its status at once after a manual operation (not an import run).

    Active: materialized (record and line summaries). Deactivated or deleted: an observation saying so,
    then the partition leaves the list, so its earlier materialization no longer shows. Populating or
    Error without a run: an observation with the status and message.
    """
    status = record.status if record is not None else DELETED
    add_invoice_partitions(instance, [key])
    instance.report_runless_asset_event(status_observation(key, status, change, record))
    if record is not None and record.status == Status.ACTIVE:
        for materialization in invoice_materializations(record):
            instance.report_runless_asset_event(materialization)
    elif record is None or record.status == Status.INACTIVE:
        name = provider_invoice_partitions.name
        assert name is not None
        instance.delete_dynamic_partition(name, str(key))
