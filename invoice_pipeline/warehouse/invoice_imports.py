"""An import's record: starting it (claimed by its process), and recording one that stopped or broke.

How an import ends when it does finish is `line_publishing.finish_import`.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from contextlib import suppress
from datetime import timedelta
from typing import Any

import sqlalchemy as sa

from invoice_pipeline.domain.invoice_keys import InvoiceKey
from invoice_pipeline.domain.lifecycle import Action, Stage, Verdict, record_standing, verdict
from invoice_pipeline.domain.refusals import ImportRefused, RecordChanged
from invoice_pipeline.domain.statuses import Status
from invoice_pipeline.warehouse.import_claims import stopped_import_message, write_claim
from invoice_pipeline.warehouse.invoice_records import (
    InvoiceRecord,
    current_record,
    populating_imports,
    record_by_id,
    utc_now,
)
from invoice_pipeline.warehouse.record_changes import change_status, insert_populating_record

log = logging.getLogger(__name__)


def import_verdict(record: InvoiceRecord, stuck_after: timedelta) -> Verdict:
    """Whether an import of the invoice may start from its current record, and why (the lifecycle's rule)."""
    return verdict(Action.IMPORT, record_standing(record, stuck_after, utc_now()), manual_provider=False)


def start_import(
    engine: sa.Engine, key: InvoiceKey, *, run_id: str | None, actor: str, stuck_after: timedelta, lapse: timedelta
) -> InvoiceRecord:
    """Mark the invoice Populating (a new record, or its Error record, or one whose import stopped) and claim
    it for this process for `lapse`; returns it.

    An import that stopped is first recorded as Error, saying what happened, then taken over. Refused,
    changing nothing, when the invoice is Active or another import still holds its claim.
    """
    try:
        with engine.begin() as conn:
            started = _started(conn, key, run_id=run_id, actor=actor, stuck_after=stuck_after)
            write_claim(conn, started.record_id, run_id, lapse, started.updated_at)
        return started
    except (sa.exc.IntegrityError, RecordChanged):
        # Another process created the invoice's record, or took its Error / stopped record, between our read
        # and our write.
        raise ImportRefused(
            f"invoice {key} was started by another run at the same moment; that run imports it, "
            "nothing was changed by this one"
        ) from None


def _started(
    conn: sa.Connection, key: InvoiceKey, *, run_id: str | None, actor: str, stuck_after: timedelta
) -> InvoiceRecord:
    record = current_record(conn, key)
    if record is None:
        return insert_populating_record(
            conn, key, message="Import running", reason="import started", run_id=run_id, actor=actor, is_manual=False
        )
    decided = import_verdict(record, stuck_after)
    if not decided.allowed:
        raise ImportRefused(decided.reason)
    if record_standing(record, stuck_after, utc_now()).stage == Stage.STUCK:
        record = _record_stopped_import(conn, record, stuck_after, actor=actor)
    return change_status(
        conn,
        record,
        Status.POPULATING,
        decided.reason,
        run_id=run_id,
        actor=actor,
        values={"run_id": run_id, "message": "Import running"},
    )


def _record_stopped_import(
    conn: sa.Connection, record: InvoiceRecord, stuck_after: timedelta, *, actor: str
) -> InvoiceRecord:
    """A Populating import that stopped (its claim lapsed, or past the last-resort bound) becomes Error."""
    message = stopped_import_message(record.run_id, record.claim, stuck_after, utc_now())
    # Not the stopped run's own change (its id is in the message): its history ends where it stopped.
    return change_status(conn, record, Status.ERROR, message, run_id=None, actor=actor, values={"message": message})


def release_stopped_imports(engine: sa.Engine, stuck_after: timedelta, *, actor: str) -> list[InvoiceRecord]:
    """Turn Error every Populating import that stopped without finishing (its claim lapsed, or it ran past
    the last-resort bound), each with a message saying what happened; returns them, now in Error."""
    released = []
    with engine.connect() as conn:
        populating = populating_imports(conn)
    now = utc_now()
    for record in populating:
        if record_standing(record, stuck_after, now).stage != Stage.STUCK:
            continue
        with suppress(RecordChanged), engine.begin() as conn:  # another process recorded it first
            released.append(_record_stopped_import(conn, record, stuck_after, actor=actor))
    for stopped in released:  # said once committed
        log.warning("%s is now Error: %s", stopped.key, stopped.message)
    return released


def mark_crashed(engine: sa.Engine, started: InvoiceRecord, message: str, *, run_id: str | None, actor: str) -> None:
    """Record an import that broke (not a validation failure) as Error, so the daily sync retries it.

    Only while the record is still the one this import started: a run that took the invoice over
    meanwhile (it was stuck) is left alone.
    """
    with engine.begin() as conn:
        record = current_record(conn, started.key)
        if (
            record is None
            or record.record_id != started.record_id
            or record.run_id != started.run_id
            or record.status != Status.POPULATING
        ):
            return
        change_status(conn, record, Status.ERROR, message, run_id=run_id, actor=actor, values={"message": message})


def create_manual_record(
    engine: sa.Engine, key: InvoiceKey, *, actor: str, reason: str, values: Mapping[str, Any]
) -> InvoiceRecord:
    """Create a manual provider invoice record in Populating (a person sets it Active later)."""
    with engine.begin() as conn:
        created = insert_populating_record(
            conn,
            key,
            message="Created by hand; activate it when its lines are complete",
            reason=reason,
            run_id=None,
            actor=actor,
            is_manual=True,
            values=values,
        )
    with engine.connect() as conn:
        return record_by_id(conn, created.record_id)  # as stored
