"""Changing provider invoice records: status changes, history entries, notes, removal.

Every status change is conditional on the record being as the caller read it, and writes a history entry
in the same transaction.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from datetime import datetime
from typing import Any

import duckdb
import sqlalchemy as sa

from invoice_pipeline.domain.import_failures import failures_text
from invoice_pipeline.domain.invoice_keys import InvoiceKey
from invoice_pipeline.domain.notes import Note
from invoice_pipeline.domain.refusals import RecordChanged
from invoice_pipeline.domain.statuses import Status
from invoice_pipeline.warehouse import tables as t
from invoice_pipeline.warehouse.invoice_records import RECORD_COLUMNS, InvoiceRecord, new_id, utc_now


def change_status(
    conn: sa.Connection,
    record: InvoiceRecord,
    to: Status,
    reason: str,
    *,
    run_id: str | None,
    actor: str,
    values: Mapping[str, Any] | None = None,
) -> InvoiceRecord:
    """Move a record to `to` if nobody changed it meanwhile, write the history entry; returns the record now.

    `values` are other columns of the record to set with it (the message, an import's outcome).
    """
    pi = t.provider_invoices
    now = utc_now()
    # A status change clears the failures of the status left, unless the outcome stored with it names its own.
    changes: dict[str, Any] = {"updated_at": now, "failures": None, **(values or {})}
    if to == Status.INACTIVE:
        changes["current_key"] = None
    changed = RecordChanged(f"invoice {record.key} changed while this run was working on it; run it again")
    try:
        result = conn.execute(
            sa.update(pi)
            .where(
                pi.c.record_id == record.record_id,
                pi.c.status == record.status.value,
                pi.c.updated_at == record.updated_at,
            )
            .values(status=to.value, **changes)
        )
    except sa.exc.OperationalError as error:
        # DuckDB reports a concurrent change of the same row as a conflict instead of matching no row.
        if isinstance(error.orig, duckdb.TransactionException):
            raise changed from None
        raise
    if result.rowcount != 1:
        raise changed
    write_history(conn, record, record.status, to, reason, run_id=run_id, actor=actor, at=now)
    return dataclasses.replace(record, status=to, **changes)


def write_history(
    conn: sa.Connection,
    record: InvoiceRecord,
    from_status: str | None,
    to: str,
    reason: str,
    *,
    run_id: str | None,
    actor: str,
    at: datetime,
) -> None:
    """Append an entry to the invoice's status history (`to` may also be an action such as Deleted)."""
    conn.execute(
        sa.insert(t.invoice_status_history).values(
            entry_id=new_id(),
            record_id=record.record_id,
            provider=record.provider,
            invoice_id=record.invoice_id,
            changed_at=at,
            from_status=None if from_status is None else str(from_status),
            to_status=str(to),
            reason=reason,
            run_id=run_id,
            actor=actor,
        )
    )


def note_in_history(
    conn: sa.Connection, record: InvoiceRecord, reason: str, *, actor: str, at: datetime | None = None
) -> None:
    """An entry in the invoice's history that leaves its status as it is (an operation, a change seen)."""
    write_history(conn, record, record.status, record.status, reason, run_id=None, actor=actor, at=at or utc_now())


def insert_populating_record(
    conn: sa.Connection,
    key: InvoiceKey,
    *,
    message: str,
    reason: str,
    run_id: str | None,
    actor: str,
    is_manual: bool,
    values: Mapping[str, Any] | None = None,
) -> InvoiceRecord:
    """A new current record for the invoice, in Populating, with its first history entry."""
    now = utc_now()
    record = InvoiceRecord(
        record_id=new_id(),
        provider=key.provider,
        invoice_id=key.invoice_id,
        current_key=str(key),
        status=Status.POPULATING,
        message=message,
        is_manual=is_manual,
        run_id=run_id,
        created_at=now,
        updated_at=now,
        **(values or {}),
    )
    columns = {name: getattr(record, name) for name in RECORD_COLUMNS} | {"failures": failures_text(record.failures)}
    conn.execute(sa.insert(t.provider_invoices).values(**columns | {"status": record.status.value}))
    write_history(conn, record, None, Status.POPULATING, reason, run_id=run_id, actor=actor, at=now)
    return record


def replace_notes(conn: sa.Connection, record_id: str, notes: list[Note]) -> None:
    """The record's notes become `notes` (an import's latest findings)."""
    conn.execute(sa.delete(t.invoice_notes).where(t.invoice_notes.c.record_id == record_id))
    now = utc_now()
    for note in notes:
        conn.execute(
            sa.insert(t.invoice_notes).values(
                note_id=new_id(),
                record_id=record_id,
                title=note.title,
                file_name=note.file_name,
                content=note.content,
                created_at=now,
            )
        )


def delete_record(conn: sa.Connection, record: InvoiceRecord) -> bool:
    """Remove the record with its lines and notes if nobody changed it meanwhile (its history stays);
    whether it was removed."""
    for table in (*t.LINE_SUMMARY_TABLES.values(), t.invoice_notes):
        conn.execute(sa.delete(table).where(table.c.record_id == record.record_id))
    deleted = conn.execute(
        sa.delete(t.provider_invoices).where(
            t.provider_invoices.c.record_id == record.record_id,
            t.provider_invoices.c.updated_at == record.updated_at,
        )
    )
    return deleted.rowcount == 1
