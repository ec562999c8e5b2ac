"""The warehouse: provider invoice records, their status history, notes, line summaries and billing.

`Warehouse` holds the engine and is the one way into the warehouse's tables; the work is done by the
modules beside it: `engine` (connecting, the schema gate), `invoice_records` (records, history, notes),
`record_changes` (status changes), `invoice_imports` (starting an import, recording a stopped or broken one),
`line_publishing` (staging lines and storing an import's outcome), billing's `customer_documents` (the values),
`customer_document_tables`, `billable_usage`, `billing_run` and `unlinking`, then `reconciliation_tables`,
`reference_tables` and `line_exports`.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from contextlib import AbstractContextManager
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from invoice_pipeline.domain import redaction
from invoice_pipeline.domain.billing_period import BillingPeriod
from invoice_pipeline.domain.invoice_keys import InvoiceKey
from invoice_pipeline.domain.line_kinds import LineKind
from invoice_pipeline.domain.notes import Note
from invoice_pipeline.domain.period_lines import PeriodLines
from invoice_pipeline.domain.pricing import UsageTerms
from invoice_pipeline.domain.statuses import DELETED, Status
from invoice_pipeline.warehouse import (
    billable_usage,
    billing_run,
    customer_document_tables,
    customer_documents,
    invoice_imports,
    invoice_records,
    line_publishing,
    reconciliation_tables,
    record_changes,
    schema_migrations,
    unlinking,
)
from invoice_pipeline.warehouse.billable_usage import BillableConsumption, BillableSummary
from invoice_pipeline.warehouse.customer_documents import (
    CustomerInvoice,
    CustomerInvoiceLine,
    HeldBackUsage,
    InvoicedLines,
    Unlinked,
)
from invoice_pipeline.warehouse.engine import (
    SCHEMAS_CHECKED,
    DuckDBSettings,
    create_warehouse_engine,
    database_kept_open,
    is_duckdb_url,
)
from invoice_pipeline.warehouse.import_claims import DEFAULT_LAPSE, claim_renewed
from invoice_pipeline.warehouse.invoice_records import (
    HistoryEntry,
    InvoiceRecord,
    LineTotal,
    utc_now,
)
from invoice_pipeline.warehouse.line_exports import export_lines
from invoice_pipeline.warehouse.line_publishing import FinishedImport, LineStaging
from invoice_pipeline.warehouse.reference_tables import replace_reference_table


class Warehouse:
    """Access to the warehouse at a SQLAlchemy URL (`duckdb:///file` or `postgresql+psycopg://...`)."""

    def __init__(
        self,
        url: str,
        *,
        temp_dir: Path | None = None,
        memory_limit: str = "1GB",
        threads: int = 2,
        lock_timeout_seconds: float = 60.0,
    ) -> None:
        self.url = url
        self.duckdb_settings = DuckDBSettings(
            temp_dir or Path(tempfile.gettempdir()) / "invoice-pipeline", memory_limit, threads
        )
        self.lock_timeout_seconds = lock_timeout_seconds
        self.engine = create_warehouse_engine(url, self.duckdb_settings, lock_timeout_seconds=lock_timeout_seconds)

    @property
    def location(self) -> str:
        """The warehouse as shown in messages: its file, or its URL without the password."""
        return redaction.masked_url(self.url)

    @property
    def is_duckdb(self) -> bool:
        """Whether the warehouse is an embedded DuckDB file."""
        return is_duckdb_url(self.url)

    def kept_open(self) -> AbstractContextManager[None]:
        """For a use case's `with` block: an embedded DuckDB file opened once for all its statements (see
        `database_kept_open`); nothing to keep for PostgreSQL."""
        return database_kept_open(self.engine)

    def create_schema(self) -> None:
        """Make sure the schema is this code's: the embedded DuckDB file is upgraded in place; a PostgreSQL
        warehouse must have been upgraded with `invoice-pipeline warehouse upgrade` (checked once per process)."""
        SCHEMAS_CHECKED.ensure(self.engine, self.url)

    def schema_state(self) -> schema_migrations.SchemaState:
        """The warehouse's schema revision against the code's."""
        return schema_migrations.schema_state(self.engine)

    def upgrade_schema(self) -> tuple[str | None, str]:
        """Apply the migrations the warehouse lacks; returns (revision before, revision after)."""
        return SCHEMAS_CHECKED.upgrade(self.engine, self.url)

    def dispose(self) -> None:
        """Release every connection (and so DuckDB's file lock)."""
        self.engine.dispose()

    # Reading -------------------------------------------------------------------------------

    def current_record(self, key: InvoiceKey) -> InvoiceRecord | None:
        """The invoice's current record (not Inactive), if any."""
        with self.engine.connect() as conn:
            return invoice_records.current_record(conn, key)

    def record_by_id(self, record_id: str) -> InvoiceRecord:
        """The record with this id (current or Inactive)."""
        with self.engine.connect() as conn:
            return invoice_records.record_by_id(conn, record_id)

    def records(self, key: InvoiceKey) -> list[InvoiceRecord]:
        """Every record of the invoice, the current one first, then older (Inactive) ones newest first."""
        with self.engine.connect() as conn:
            return invoice_records.invoice_records(conn, key)

    def list_invoices(self, provider: str | None = None, status: Status | None = None) -> list[InvoiceRecord]:
        """Current records and Inactive ones, filtered by provider and status, by provider, invoice and age."""
        with self.engine.connect() as conn:
            return invoice_records.listed_records(conn, provider, status)

    def history(self, key: InvoiceKey) -> list[HistoryEntry]:
        """Every status change of the invoice (all its records), oldest first."""
        with self.engine.connect() as conn:
            return invoice_records.invoice_history(conn, key)

    def notes(self, record_id: str) -> list[Note]:
        """The notes attached to a record."""
        with self.engine.connect() as conn:
            return invoice_records.record_notes(conn, record_id)

    def line_totals(self, record_id: str) -> dict[LineKind, LineTotal]:
        """Stored line count and amount total per kind (`usage`, `license`) for a record."""
        with self.engine.connect() as conn:
            return invoice_records.line_totals(conn, record_id)

    def export_lines(self, record_id: str, kind: LineKind, path: Path) -> int:
        """Write a record's stored line summaries of one kind to CSV, money as exact decimal text; returns the count."""
        with self.engine.connect() as conn:
            return export_lines(conn, record_id, kind, path)

    # Operations on a record -------------------------------------------------------------------

    def set_status(self, record: InvoiceRecord, to: Status, reason: str, *, actor: str) -> InvoiceRecord:
        """A person's status change of a record (RecordChanged if it changed meanwhile); returns it as stored."""
        with self.engine.begin() as conn:
            record_changes.change_status(conn, record, to, reason, run_id=None, actor=actor)
        return self.record_by_id(record.record_id)

    def note_in_history(self, record: InvoiceRecord, reason: str, *, actor: str) -> None:
        """An entry in the invoice's history that leaves its status as it is (an operation asked for)."""
        with self.engine.begin() as conn:
            record_changes.note_in_history(conn, record, reason, actor=actor)

    def delete_record(self, record: InvoiceRecord, reason: str, *, actor: str) -> bool:
        """Remove the record with its lines and notes, with a Deleted entry in its history, unless it changed
        since it was read (then nothing is removed); whether it was removed."""
        with self.engine.begin() as conn:
            if not record_changes.delete_record(conn, record):
                return False
            record_changes.write_history(
                conn, record, record.status, DELETED, reason, run_id=None, actor=actor, at=utc_now()
            )
        return True

    # Imports ---------------------------------------------------------------------------------

    def start_import(
        self,
        key: InvoiceKey,
        *,
        run_id: str | None,
        actor: str,
        stuck_after: timedelta,
        lapse: timedelta = DEFAULT_LAPSE,
    ) -> InvoiceRecord:
        """Mark the invoice Populating and claim it for this process (see `invoice_imports.start_import`);
        the claim is renewed with `claim_renewed` while the import works."""
        return invoice_imports.start_import(
            self.engine, key, run_id=run_id, actor=actor, stuck_after=stuck_after, lapse=lapse
        )

    def claim_renewed(self, record: InvoiceRecord, lapse: timedelta = DEFAULT_LAPSE) -> AbstractContextManager[None]:
        """Renew this process's claim on a record it imports, while the block runs (see `import_claims`)."""
        return claim_renewed(self.engine, record.record_id, record.run_id, lapse)

    def release_stopped_imports(self, stuck_after: timedelta, *, actor: str) -> list[InvoiceRecord]:
        """Turn Error every Populating import that stopped without finishing; returns them, now in Error."""
        return invoice_imports.release_stopped_imports(self.engine, stuck_after, actor=actor)

    def staging(self) -> AbstractContextManager[LineStaging]:
        """Where an import stages and validates its lines (see `line_publishing.staging`)."""
        return line_publishing.staging(self.engine, self.duckdb_settings)

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
        """Store the import's outcome atomically: lines (when Active), totals, message, notes and history
        (see `line_publishing.finish_import`)."""
        line_publishing.finish_import(
            self.engine,
            staging,
            record,
            finished,
            run_id=run_id,
            actor=actor,
            before_commit=before_commit,
        )

    def mark_crashed(self, started: InvoiceRecord, message: str, *, run_id: str | None, actor: str) -> None:
        """Record an import that broke (not a validation failure) as Error, while the record is still the one
        it started, so the daily sync retries it."""
        invoice_imports.mark_crashed(self.engine, started, message, run_id=run_id, actor=actor)

    def create_manual_record(
        self, key: InvoiceKey, *, actor: str, reason: str, values: dict[str, Any]
    ) -> InvoiceRecord:
        """Create a manual provider invoice record in Populating (a person sets it Active later)."""
        return invoice_imports.create_manual_record(self.engine, key, actor=actor, reason=reason, values=values)

    # Billing and reference data ----------------------------------------------------------------

    def invoiced_lines(self, record_id: str) -> InvoicedLines:
        """How many of the record's lines are linked to customer invoices, and which customer invoices."""
        with self.engine.connect() as conn:
            return billable_usage.invoiced_lines(conn, record_id)

    def unlink_lines(self, record: InvoiceRecord, reason: str, *, actor: str, history_reason: str) -> Unlinked:
        """Remove the links from customer documents to the record's lines, correcting them (drafts recomputed or
        voided, issued invoices credited), saying so in the record's history (`history_reason`); one transaction."""
        with self.engine.begin() as conn:
            unlinked = unlinking.unlink_record(conn, record.record_id, actor=actor, reason=reason, now=utc_now())
            record_changes.note_in_history(conn, record, history_reason, actor=actor)
            return unlinked

    def voiding_note(self, key: InvoiceKey) -> InvoiceRecord | None:
        """The Active note that voids the invoice, if one was imported (see `invoice_records.voiding_note`)."""
        with self.engine.connect() as conn:
            return invoice_records.voiding_note(conn, key)

    def void_record(self, record: InvoiceRecord, reason: str, *, actor: str) -> Unlinked:
        """Withdraw a voided invoice in one transaction: what customers were billed for its lines corrected
        (drafts recomputed or voided, issued invoices credited), then the record Inactive with `reason`."""
        with self.engine.begin() as conn:
            unlinked = unlinking.unlink_record(conn, record.record_id, actor=actor, reason=reason, now=utc_now())
            record_changes.change_status(
                conn, record, Status.INACTIVE, reason, run_id=None, actor=actor, values={"message": reason}
            )
            return unlinked

    def billable_consumption(self, record_id: str | None = None) -> list[BillableConsumption]:
        """Billable usage per account, subscription and charge period (see `billable_usage`)."""
        with self.engine.connect() as conn:
            return billable_usage.billable_consumption(conn, record_id)

    def billable_usage_summary(self, record_id: str | None = None, largest: int = 20) -> BillableSummary:
        """Billable usage bounded for a screen: totals per currency and the largest rows (see `billable_usage`)."""
        with self.engine.connect() as conn:
            return billable_usage.billable_usage_summary(conn, record_id, largest)

    def billable_periods(self) -> list[BillingPeriod]:
        """The charge months that have billable usage, oldest first."""
        with self.engine.connect() as conn:
            return billable_usage.billable_periods(conn)

    def bill_period(
        self, period: BillingPeriod, terms: list[UsageTerms], *, bill_without_terms_at_cost: bool, actor: str
    ) -> tuple[list[CustomerInvoice], list[HeldBackUsage]]:
        """Put the period's billable usage, priced by `terms`, on drafts (see `billing_run.bill_period`)."""
        return billing_run.bill_period(
            self.engine,
            period,
            terms,
            bill_without_terms_at_cost=bill_without_terms_at_cost,
            actor=actor,
            now=utc_now(),
        )

    def issue_customer_invoices(self, documents: list[CustomerInvoice], *, actor: str, reason: str) -> None:
        """Issue drafts in one transaction (all or none)."""
        with self.engine.begin() as conn:
            customer_document_tables.issue(conn, documents, actor=actor, reason=reason, now=utc_now())

    def customer_invoices(
        self, *, period: str | None = None, account_id: str | None = None, status: str | None = None
    ) -> list[CustomerInvoice]:
        """Customer invoices and credit notes, filtered."""
        with self.engine.connect() as conn:
            return customer_document_tables.customer_invoices(conn, period=period, account_id=account_id, status=status)

    def customer_invoice(
        self, customer_invoice_id: str
    ) -> tuple[CustomerInvoice, list[CustomerInvoiceLine], list[customer_documents.HistoryEntry]]:
        """One customer document with its lines and history (BillingRefused when there is none)."""
        with self.engine.connect() as conn:
            document = customer_document_tables.customer_invoice(conn, customer_invoice_id)
            return (
                document,
                customer_document_tables.customer_invoice_lines(conn, customer_invoice_id),
                customer_document_tables.customer_invoice_history(conn, customer_invoice_id),
            )

    def period_lines(self, start: date, end: date) -> PeriodLines:
        """A period's provider lines grouped for the reconciliation, and its cost per currency (one snapshot)."""
        return reconciliation_tables.period_lines(self.engine, start, end)

    def replace_reference_table(self, name: str, rows: list[dict[str, Any]]) -> None:
        """Replace one reference table's rows (what the reference data assets publish)."""
        with self.engine.begin() as conn:
            replace_reference_table(conn, name, rows)
