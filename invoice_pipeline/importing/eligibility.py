"""Which offered invoices an automatic sync imports: new ones, Error ones (the next-day retry) and stuck ones."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from invoice_pipeline.domain.invoice_keys import InvoiceKey
from invoice_pipeline.domain.statuses import Status
from invoice_pipeline.warehouse.warehouse import InvoiceRecord


@dataclass(frozen=True)
class SyncCandidate:
    """An offered invoice and why it is (or is not) imported now."""

    key: InvoiceKey
    eligible: bool
    reason: str


def sync_candidate(
    key: InvoiceKey, current: InvoiceRecord | None, stuck_after: timedelta, now: datetime | None = None
) -> SyncCandidate:
    """Decide for one invoice from its current record (None when it was never imported or is Inactive)."""
    now = now or datetime.now(UTC)
    if current is None:
        return SyncCandidate(key, True, "new invoice")
    if current.status == Status.ERROR:
        return SyncCandidate(key, True, "retry after Error")
    if current.status == Status.POPULATING:
        if current.is_manual:
            return SyncCandidate(key, False, "manual invoice waiting to be activated")
        if current.updated_at <= now - stuck_after:
            return SyncCandidate(key, True, "stuck in Populating")
        return SyncCandidate(key, False, "import running")
    return SyncCandidate(key, False, f"already {current.status}")
