"""What the daily operations remember: provider changes, crashed import runs and summary deliveries."""

from __future__ import annotations

import dataclasses
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal

import sqlalchemy as sa

from invoice_pipeline.domain.invoice_keys import InvoiceKey
from invoice_pipeline.domain.money import decimal_text
from invoice_pipeline.domain.statuses import DELETED, Status
from invoice_pipeline.warehouse import tables as t
from invoice_pipeline.warehouse.invoice_records import HistoryEntry, InvoiceRecord, records_query
from invoice_pipeline.warehouse.record_changes import note_in_history
from invoice_pipeline.warehouse.warehouse import Warehouse


@dataclass(frozen=True)
class ProviderInvoiceChange:
    """An Active invoice whose provider total or lines differ from the imported ones (a `provider_invoice_changes`
    row): the totals exact, the lines' fingerprints where known."""

    change_id: str
    record_id: str
    provider: str
    invoice_id: str
    currency: str | None
    minor_units: int | None
    old_total: Decimal
    new_total: Decimal
    old_line_fingerprint: str | None
    new_line_fingerprint: str | None
    seen_at: datetime
    notified_at: datetime | None = None

    @property
    def key(self) -> InvoiceKey:
        """The changed invoice's key."""
        return InvoiceKey(self.provider, self.invoice_id)

    @property
    def total_changed(self) -> bool:
        """Whether the provider's header total differs from the imported one."""
        return self.old_total != self.new_total

    @property
    def lines_changed(self) -> bool:
        """Whether the change is (also) a change of the invoice's lines since its import."""
        old, new = self.old_line_fingerprint, self.new_line_fingerprint
        return old is not None and new is not None and old != new

    def totals_text(self) -> tuple[str, str]:
        """The imported and the provider's total, in the currency's minor units."""
        return decimal_text(self.old_total, self.minor_units) or "", decimal_text(
            self.new_total, self.minor_units
        ) or ""

    def what_changed(self) -> str:
        """E.g. `provider changed the invoice total from 46.00 to 47.50 USD and its lines`."""
        (old, new), currency = self.totals_text(), self.currency or ""
        if not self.total_changed:
            return f"provider changed the invoice's lines (total {new} {currency} unchanged)"
        lines = " and its lines" if self.lines_changed else ""
        return f"provider changed the invoice total from {old} to {new} {currency}{lines}"


@dataclass(frozen=True)
class ImportRunFailure:
    """An import run that crashed (not a validation Error), with the invoice it imported when known."""

    run_id: str
    provider: str | None
    invoice_id: str | None
    error: str
    failed_at: datetime


@dataclass(frozen=True)
class StatusOutcome:
    """An invoice's current record with the last status change it had in a period."""

    record: InvoiceRecord
    changed_at: datetime
    to_status: str


@dataclass(frozen=True)
class SummaryDeliveryAttempts:
    """A day's summary send attempts: the last one's outcome (sent, failed or skipped) and how many were made."""

    summary_day: str
    status: str
    attempts: int
    last_error: str | None
    subject: str | None
    sent_at: datetime | None
    updated_at: datetime


class OperationsLog:
    """Daily-operations records kept in the warehouse, next to the invoices they are about."""

    def __init__(self, warehouse: Warehouse) -> None:
        self.warehouse = warehouse
        self.engine = warehouse.engine

    # Provider changes after import -------------------------------------------------------------

    def record_provider_change(
        self, record: InvoiceRecord, new_total: Decimal, *, new_line_fingerprint: str | None = None, actor: str
    ) -> ProviderInvoiceChange | None:
        """Record that the provider's Active invoice now has `new_total` and, when known, lines with
        `new_line_fingerprint` (differing from the imported ones: a line-level change).

        The imported invoice is not touched; its history gets an entry. Returns the new change, or
        None when this same total and lines were already recorded (so it is notified once).
        """
        changes = t.provider_invoice_changes
        now = datetime.now(UTC)
        with self.engine.begin() as conn:
            seen = conn.execute(
                sa.select(changes.c.change_id).where(
                    changes.c.record_id == record.record_id,
                    changes.c.new_total == new_total,
                    changes.c.new_line_fingerprint.is_not_distinct_from(new_line_fingerprint),
                )
            ).first()
            if seen:
                return None
            assert record.provider_total is not None  # an Active record has its header total
            change = ProviderInvoiceChange(
                change_id=uuid.uuid4().hex,
                record_id=record.record_id,
                provider=record.provider,
                invoice_id=record.invoice_id,
                currency=record.currency,
                minor_units=record.minor_units,
                old_total=record.provider_total,
                new_total=new_total,
                old_line_fingerprint=record.line_fingerprint,
                new_line_fingerprint=new_line_fingerprint,
                seen_at=now,
            )
            conn.execute(sa.insert(changes).values(**dataclasses.asdict(change)))
            note_in_history(
                conn, record, f"{change.what_changed()}; the imported invoice was not changed", actor=actor, at=now
            )
        return change

    def unnotified_changes(self) -> list[ProviderInvoiceChange]:
        """Changes whose notification has not been sent yet (e.g. the mail server was down)."""
        changes = t.provider_invoice_changes
        query = sa.select(changes).where(changes.c.notified_at.is_(None)).order_by(changes.c.seen_at)
        with self.engine.connect() as conn:
            return [ProviderInvoiceChange(**r) for r in conn.execute(query).mappings()]

    def mark_change_notified(self, change_id: str) -> None:
        """Remember that a change's email went out."""
        changes = t.provider_invoice_changes
        with self.engine.begin() as conn:
            conn.execute(
                sa.update(changes).where(changes.c.change_id == change_id).values(notified_at=datetime.now(UTC))
            )

    def changes_seen_between(self, start: datetime, end: datetime) -> list[ProviderInvoiceChange]:
        """Provider changes first seen in [start, end)."""
        changes = t.provider_invoice_changes
        query = (
            sa.select(changes)
            .where(changes.c.seen_at >= start, changes.c.seen_at < end)
            .order_by(changes.c.provider, changes.c.invoice_id, changes.c.seen_at)
        )
        with self.engine.connect() as conn:
            return [ProviderInvoiceChange(**r) for r in conn.execute(query).mappings()]

    # Crashed import runs --------------------------------------------------------------------------

    def record_run_failure(self, run_id: str, key: InvoiceKey | None, error: str) -> None:
        """Remember an import run that crashed (not a validation Error), once per run."""
        failures = t.import_run_failures
        with self.engine.begin() as conn:
            if conn.execute(sa.select(failures.c.run_id).where(failures.c.run_id == run_id)).first():
                return
            conn.execute(
                sa.insert(failures).values(
                    run_id=run_id,
                    provider=key.provider if key else None,
                    invoice_id=key.invoice_id if key else None,
                    error=error,
                    failed_at=datetime.now(UTC),
                )
            )

    def run_failures_between(self, start: datetime, end: datetime) -> list[ImportRunFailure]:
        """Crashed import runs recorded in [start, end)."""
        failures = t.import_run_failures
        query = (
            sa.select(failures)
            .where(failures.c.failed_at >= start, failures.c.failed_at < end)
            .order_by(failures.c.failed_at)
        )
        with self.engine.connect() as conn:
            return [ImportRunFailure(**r) for r in conn.execute(query).mappings()]

    # Status changes over a period ----------------------------------------------------------------

    def latest_outcomes_between(self, start: datetime, end: datetime) -> list[StatusOutcome]:
        """For each invoice whose status changed in [start, end): its current record with that last change."""
        history, invoices = t.invoice_status_history, t.provider_invoices
        query = (
            records_query()
            .add_columns(history.c.changed_at, history.c.to_status)
            .join(history, history.c.record_id == invoices.c.record_id)
            .where(history.c.changed_at >= start, history.c.changed_at < end)
            # Status changes only: provider changes, unlinks and override requests keep the status.
            .where(history.c.from_status.is_distinct_from(history.c.to_status))
            .order_by(invoices.c.provider, invoices.c.invoice_id, history.c.changed_at)
        )
        latest: dict[str, StatusOutcome] = {}
        with self.engine.connect() as conn:
            for row in conn.execute(query).mappings():
                latest[row["record_id"]] = StatusOutcome(
                    InvoiceRecord.from_row(row), row["changed_at"], row["to_status"]
                )
        return list(latest.values())

    def set_aside_by_a_person(self) -> list[HistoryEntry]:
        """Invoices a person deactivated or deleted and nothing imported since: the automatic sync leaves them.

        One entry per invoice (to_status Inactive or Deleted), its latest history entry, when it has no current record.
        """
        history, invoices = t.invoice_status_history, t.provider_invoices
        has_current_record = sa.exists().where(
            invoices.c.provider == history.c.provider,
            invoices.c.invoice_id == history.c.invoice_id,
            invoices.c.current_key.is_not(None),
        )
        query = (
            sa.select(history)
            .where(~has_current_record)
            .order_by(history.c.provider, history.c.invoice_id, history.c.changed_at)
        )
        latest: dict[tuple[str, str], HistoryEntry] = {}
        with self.engine.connect() as conn:
            for row in conn.execute(query).mappings():
                latest[(row["provider"], row["invoice_id"])] = HistoryEntry(**row)
        return [entry for entry in latest.values() if entry.to_status in (Status.INACTIVE, DELETED)]

    # Daily summary deliveries --------------------------------------------------------------------

    def delivery(self, day: str) -> SummaryDeliveryAttempts | None:
        """The summary delivery of a day, if one was attempted."""
        deliveries = t.summary_deliveries
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(deliveries).where(deliveries.c.summary_day == day)).mappings().first()
        return SummaryDeliveryAttempts(**row) if row else None

    def record_delivery(
        self, day: str, *, sent: bool, subject: str, error: str | None = None, status: str | None = None
    ) -> None:
        """Record a summary send attempt: sent, failed (with the error), or skipped (nothing to send)."""
        deliveries = t.summary_deliveries
        now = datetime.now(UTC)
        with self.engine.begin() as conn:
            row = conn.execute(sa.select(deliveries).where(deliveries.c.summary_day == day)).mappings().first()
            values = {
                "status": status or ("sent" if sent else "failed"),
                "last_error": error,
                "subject": subject,
                "sent_at": now if sent else None,
                "updated_at": now,
            }
            if row is None:
                conn.execute(sa.insert(deliveries).values(summary_day=day, attempts=1, **values))
            else:
                conn.execute(
                    sa.update(deliveries)
                    .where(deliveries.c.summary_day == day)
                    .values(attempts=row["attempts"] + 1, **values)
                )
