"""What the use cases need of the warehouse, each a narrow Protocol: the import and sync rules and the operations
take one of these, never the concrete `Warehouse`.

`Warehouse` satisfies every one (mypy checks it in `invoice_pipeline_tests/warehouse/test_protocols.py`); the
in-memory warehouse of the unit tier (`invoice_pipeline_tests/fakes.py`) does too, and the engine contract runs
the same checks on both, so the fake cannot drift from the engines.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from datetime import timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from invoice_pipeline.domain.invoice_keys import InvoiceKey
    from invoice_pipeline.domain.statuses import Status
    from invoice_pipeline.warehouse.customer_documents import InvoicedLines, Unlinked
    from invoice_pipeline.warehouse.invoice_records import HistoryEntry, InvoiceRecord
    from invoice_pipeline.warehouse.line_publishing import FinishedImport, LineStaging
    from invoice_pipeline.warehouse.operations_log import ProviderInvoiceChange


class InvoiceLookups(Protocol):
    """Where an invoice stands here: its current record, its history, the note that voids it."""

    def kept_open(self) -> AbstractContextManager[None]:
        """For a use case's `with` block: the store opened once for its many statements (an embedded file is
        opened once instead of once a statement; other processes wait for the block)."""
        ...

    def current_record(self, key: InvoiceKey) -> InvoiceRecord | None:
        """The invoice's current record (not Inactive), if any."""
        ...

    def history(self, key: InvoiceKey) -> list[HistoryEntry]:
        """Every status change of the invoice (all its records), oldest first."""
        ...

    def voiding_note(self, key: InvoiceKey) -> InvoiceRecord | None:
        """The Active note that voids the invoice, if one was imported."""
        ...


class StoppedImports(InvoiceLookups, Protocol):
    """The lookups, and recording the imports that stopped without finishing (what a sync does first)."""

    def release_stopped_imports(self, stuck_after: timedelta, *, actor: str) -> list[InvoiceRecord]:
        """Turn Error every Populating import that stopped without finishing; returns them, now in Error."""
        ...


class ImportClaims(InvoiceLookups, Protocol):
    """An import's life: starting it under a claim, renewing the claim, storing its outcome or its crash."""

    def start_import(
        self, key: InvoiceKey, *, run_id: str | None, actor: str, stuck_after: timedelta, lapse: timedelta = ...
    ) -> InvoiceRecord:
        """Mark the invoice Populating and claim it (ImportRefused, nothing changed, when it must not start)."""
        ...

    def claim_renewed(self, record: InvoiceRecord, lapse: timedelta = ...) -> AbstractContextManager[None]:
        """Renew this process's claim on a record it imports, while the block runs."""
        ...

    def mark_crashed(self, started: InvoiceRecord, message: str, *, run_id: str | None, actor: str) -> None:
        """Record an import that broke as Error, while the record is still the one it started."""
        ...

    def staging(self) -> AbstractContextManager[LineStaging]:
        """Where an import stages and validates its lines."""
        ...

    def finish_import(
        self,
        staging: LineStaging,
        record: InvoiceRecord,
        finished: FinishedImport,
        *,
        run_id: str | None,
        actor: str,
        before_commit: Callable[[], None] | None = None,
    ) -> None:
        """Store the import's outcome atomically: lines (when Active), totals, message, notes and history."""
        ...

    def record_by_id(self, record_id: str) -> InvoiceRecord:
        """The record with this id (current or Inactive)."""
        ...

    def void_record(self, record: InvoiceRecord, reason: str, *, actor: str) -> Unlinked:
        """Withdraw a voided invoice: what customers were billed for its lines corrected, the record Inactive."""
        ...


class RecordOperations(InvoiceLookups, Protocol):
    """What a person's operations change: a record's status, its removal, its links to customer invoices."""

    def set_status(self, record: InvoiceRecord, to: Status, reason: str, *, actor: str) -> InvoiceRecord:
        """A person's status change of a record (RecordChanged if it changed meanwhile); returns it as stored."""
        ...

    def delete_record(self, record: InvoiceRecord, reason: str, *, actor: str) -> bool:
        """Remove the record with a Deleted entry in its history unless it changed meanwhile; whether it did."""
        ...

    def note_in_history(self, record: InvoiceRecord, reason: str, *, actor: str) -> None:
        """An entry in the invoice's history that leaves its status as it is."""
        ...

    def invoiced_lines(self, record_id: str) -> InvoicedLines:
        """How many of the record's lines are linked to customer invoices, and which customer invoices."""
        ...

    def unlink_lines(self, record: InvoiceRecord, reason: str, *, actor: str, history_reason: str) -> Unlinked:
        """Remove the links from customer documents to the record's lines, correcting them."""
        ...

    def create_manual_record(
        self, key: InvoiceKey, *, actor: str, reason: str, values: dict[str, Any]
    ) -> InvoiceRecord:
        """Create a manual provider invoice record in Populating."""
        ...


class ProviderChangeLog(Protocol):
    """Where the sync records what changed at the provider after an Active invoice's import."""

    def record_provider_change(
        self, record: InvoiceRecord, new_total: Decimal, *, new_line_fingerprint: str | None = None, actor: str
    ) -> ProviderInvoiceChange | None:
        """Record the provider's new total and lines of an Active invoice; None when recorded already."""
        ...
