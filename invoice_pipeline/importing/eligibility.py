"""Where an invoice stands here (read from the warehouse), and which offered invoices an automatic sync imports.

The rules themselves are the lifecycle's (`domain/lifecycle.py`): new ones, Error ones (the next-day retry)
and stuck ones are imported; Active, running, awaiting activation, deactivated and deleted ones never are.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from invoice_pipeline.domain.invoice_keys import InvoiceKey
from invoice_pipeline.domain.lifecycle import (
    Action,
    Standing,
    record_standing,
    standing_without_record,
    verdict,
)

if TYPE_CHECKING:
    from invoice_pipeline.warehouse.invoice_records import InvoiceRecord
    from invoice_pipeline.warehouse.protocols import InvoiceLookups


@dataclass(frozen=True)
class SyncCandidate:
    """An offered invoice and why it is (or is not) imported now."""

    key: InvoiceKey
    eligible: bool
    reason: str


def standing_of(
    warehouse: InvoiceLookups,
    key: InvoiceKey,
    current: InvoiceRecord | None,
    stuck_after: timedelta | None,
    now: datetime | None = None,
) -> Standing:
    """Where the invoice stands, from its current record, or else from its history (deactivated, deleted)."""
    if current is not None:
        return record_standing(current, stuck_after, now or datetime.now(UTC))
    return standing_without_record(key, warehouse.history(key))


def invoice_standing(warehouse: InvoiceLookups, key: InvoiceKey, stuck_after: timedelta | None) -> Standing:
    """Where the invoice stands now (`stuck_after` None: a Populating import counts as running)."""
    return standing_of(warehouse, key, warehouse.current_record(key), stuck_after)


def sync_candidate(standing: Standing, *, manual_provider: bool = False) -> SyncCandidate:
    """Whether an automatic sync imports the invoice, and why (or why not)."""
    decided = verdict(Action.AUTOMATIC_SYNC, standing, manual_provider=manual_provider)
    return SyncCandidate(standing.key, decided.allowed, decided.reason)
