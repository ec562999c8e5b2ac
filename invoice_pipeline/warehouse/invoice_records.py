"""Provider invoice records as stored, and reading them, their history, notes and line totals.

Changing them is `record_changes`.
"""

from __future__ import annotations

import dataclasses
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any, NamedTuple

import sqlalchemy as sa

from invoice_pipeline.domain.import_failures import ImportFailure, failures_from_text
from invoice_pipeline.domain.invoice_keys import InvoiceKey
from invoice_pipeline.domain.line_kinds import LineKind
from invoice_pipeline.domain.money import decimal_text
from invoice_pipeline.domain.notes import Note
from invoice_pipeline.domain.provider_documents import DocumentType
from invoice_pipeline.domain.statuses import Status
from invoice_pipeline.warehouse import tables as t
from invoice_pipeline.warehouse.import_claims import CLAIM_COLUMNS, ImportClaim, claim_from_values


def utc_now() -> datetime:
    """This moment, in UTC."""
    return datetime.now(UTC)


def as_utc(moment: datetime) -> datetime:
    """A stored moment as UTC (a driver may hand it back without its zone)."""
    return moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)


def new_id() -> str:
    """A new row id."""
    return uuid.uuid4().hex


RECORD_COLUMNS = tuple(column.name for column in t.provider_invoices.columns)
VOIDING_DOCUMENT_TYPES = (DocumentType.VOID_NOTE.value, DocumentType.CREDIT_NOTE.value)
_MONEY_FIELDS = ("total_amount", "usage_total", "license_total", "difference", "checksum_tolerance")
_DATE_FIELDS = ("invoice_date", "billing_period_start", "billing_period_end", "created_at", "updated_at")


@dataclass(frozen=True)
class InvoiceRecord:
    """One provider invoice record as stored (current or historical), with its import claim if it has one."""

    record_id: str
    provider: str
    invoice_id: str
    status: Status
    is_manual: bool
    created_at: datetime
    updated_at: datetime
    current_key: str | None = None  # `provider:invoice_id` while current; None once Inactive
    message: str | None = None
    run_id: str | None = None
    invoice_date: date | None = None
    billing_period_start: date | None = None
    billing_period_end: date | None = None
    currency: str | None = None
    minor_units: int | None = None
    total_amount: Decimal | None = None
    usage_total: Decimal | None = None
    license_total: Decimal | None = None
    difference: Decimal | None = None
    checksum_tolerance: Decimal | None = None
    accepted_difference: Decimal | None = None
    usage_line_count: int | None = None
    license_line_count: int | None = None
    line_fingerprint: str | None = None
    tax_amount: Decimal | None = None  # the tax the provider's lines carry; total_amount is before it
    document_type: str | None = None  # see domain/provider_documents.py; None: an invoice
    amends_invoice_id: str | None = None  # the invoice a note amends
    failures: tuple[ImportFailure, ...] = ()  # why it is not Active, as the import found it (see ImportFailure)
    claim: ImportClaim | None = None  # of the process that last imported it (an import Populating it renews it)

    @classmethod
    def from_row(cls, row: sa.RowMapping) -> InvoiceRecord:
        """The record a row of `records_query` holds (its `claim_*` columns make the claim)."""
        columns = {name: row[name] for name in RECORD_COLUMNS}
        columns["status"] = Status(columns["status"])
        columns["is_manual"] = bool(columns["is_manual"])
        columns["failures"] = failures_from_text(columns["failures"])
        return cls(**columns, claim=claim_from_values(row))

    @property
    def provider_total(self) -> Decimal | None:
        """The provider's total as imported: the header total plus the tax its lines carried (Partner Center's
        amount due), which is what the provider's listing shows."""
        if self.total_amount is None:
            return None
        return self.total_amount + (self.tax_amount or 0)

    @property
    def key(self) -> InvoiceKey:
        """The record's invoice key."""
        return InvoiceKey(self.provider, self.invoice_id)

    def line_count(self, kind: LineKind) -> int | None:
        """The stored line count of one kind (`usage`, `license`), None before an import stored lines."""
        return {LineKind.USAGE: self.usage_line_count, LineKind.LICENSE: self.license_line_count}[kind]

    def line_total(self, kind: LineKind) -> Decimal | None:
        """The validated amount total of one kind of lines, None before an import read them."""
        return {LineKind.USAGE: self.usage_total, LineKind.LICENSE: self.license_total}[kind]

    def claim_lapsed(self, now: datetime) -> bool:
        """Whether the record's import claim lapsed (False when it has none: an earlier version's import)."""
        return self.claim is not None and self.claim.lapsed(now)

    def summary(self) -> dict[str, Any]:
        """The record as JSON-ready values: money as decimal strings, dates ISO."""
        money = {name: getattr(self, name) for name in (*_MONEY_FIELDS, "accepted_difference", "tax_amount")}
        dates: dict[str, date | None] = {name: getattr(self, name) for name in _DATE_FIELDS}
        return {
            "provider": self.provider,
            "invoice_id": self.invoice_id,
            "status": self.status.value,
            "message": self.message,
            "currency": self.currency,
            **{name: decimal_text(amount, self.minor_units) for name, amount in money.items()},
            "document_type": self.document_type,
            "amends_invoice_id": self.amends_invoice_id,
            "usage_line_count": self.usage_line_count,
            "license_line_count": self.license_line_count,
            "is_manual": self.is_manual,
            "record_id": self.record_id,
            "run_id": self.run_id,
            **{name: moment.isoformat() if moment is not None else None for name, moment in dates.items()},
            "import_claim": self._claim_summary(),
        }

    def _claim_summary(self) -> str | None:
        """Who holds the claim of an import running now, and until when (None unless one is Populating)."""
        claim = self.claim
        if claim is None or self.status != Status.POPULATING or self.is_manual:
            return None
        return (
            f"{claim.holder.describe()} (run {claim.run_id}), renewed {claim.renewed_at:%Y-%m-%d %H:%M:%S} UTC, "
            f"lapses {claim.expires_at:%H:%M:%S} UTC unless renewed"
        )


@dataclass(frozen=True)
class HistoryEntry:
    """One entry of an invoice's history: a status change, or an action (Deleted) or note that keeps it."""

    entry_id: str
    record_id: str
    provider: str
    invoice_id: str
    changed_at: datetime
    from_status: str | None
    to_status: str
    reason: str
    run_id: str | None
    actor: str

    def summary(self) -> dict[str, Any]:
        """The entry as JSON-ready values (its moment ISO)."""
        return dataclasses.asdict(self) | {"changed_at": self.changed_at.isoformat()}


class LineTotal(NamedTuple):
    """The stored lines of one kind of a record: how many, and their amount total (None without lines)."""

    line_count: int
    total: Decimal | None


def records_query() -> sa.Select[Any]:
    """Provider invoice records, each with its import claim's columns (`claim_*`, NULL without one)."""
    pi = t.provider_invoices
    claims = t.import_claims
    return sa.select(pi, *(column.label(name) for name, column in CLAIM_COLUMNS.items())).select_from(
        pi.outerjoin(claims, claims.c.record_id == pi.c.record_id)
    )


def _read_records(conn: sa.Connection, query: sa.Select[Any]) -> list[InvoiceRecord]:
    return [InvoiceRecord.from_row(row) for row in conn.execute(query).mappings()]


def current_record(conn: sa.Connection, key: InvoiceKey) -> InvoiceRecord | None:
    """The invoice's current record (not Inactive), if any."""
    found = _read_records(conn, records_query().where(t.provider_invoices.c.current_key == str(key)))
    return found[0] if found else None


def voiding_note(conn: sa.Connection, key: InvoiceKey) -> InvoiceRecord | None:
    """The Active note (void note, or credit note without lines) that voids the invoice, if one was imported."""
    pi = t.provider_invoices
    found = _read_records(
        conn,
        records_query().where(
            pi.c.provider == key.provider,
            pi.c.amends_invoice_id == key.invoice_id,
            pi.c.status == Status.ACTIVE.value,
            pi.c.document_type.in_(VOIDING_DOCUMENT_TYPES),
            sa.func.coalesce(pi.c.usage_line_count, 0) + sa.func.coalesce(pi.c.license_line_count, 0) == 0,
        ),
    )
    return found[0] if found else None


def record_by_id(conn: sa.Connection, record_id: str) -> InvoiceRecord:
    """The record with this id (current or Inactive)."""
    [record] = _read_records(conn, records_query().where(t.provider_invoices.c.record_id == record_id))
    return record


def invoice_records(conn: sa.Connection, key: InvoiceKey) -> list[InvoiceRecord]:
    """Every record of the invoice, the current one first, then older (Inactive) ones newest first."""
    pi = t.provider_invoices
    query = (
        records_query()
        .where(pi.c.provider == key.provider, pi.c.invoice_id == key.invoice_id)
        .order_by(pi.c.current_key.is_(None), pi.c.created_at.desc())
    )
    return _read_records(conn, query)


def listed_records(conn: sa.Connection, provider: str | None, status: Status | None) -> list[InvoiceRecord]:
    """Current records and Inactive ones, filtered by provider and status, by provider, invoice and age."""
    pi = t.provider_invoices
    query = records_query().order_by(pi.c.provider, pi.c.invoice_id, pi.c.created_at)
    if provider:
        query = query.where(pi.c.provider == provider)
    if status:
        query = query.where(pi.c.status == status.value)
    return _read_records(conn, query)


def populating_imports(conn: sa.Connection) -> list[InvoiceRecord]:
    """Current records an import is Populating (not manual invoices awaiting activation)."""
    pi = t.provider_invoices
    return _read_records(
        conn,
        records_query().where(
            pi.c.current_key.is_not(None), pi.c.status == Status.POPULATING.value, pi.c.is_manual.is_(False)
        ),
    )


def invoice_history(conn: sa.Connection, key: InvoiceKey) -> list[HistoryEntry]:
    """Every history entry of the invoice (all its records), oldest first."""
    h = t.invoice_status_history
    query = (
        sa.select(h)
        .where(h.c.provider == key.provider, h.c.invoice_id == key.invoice_id)
        .order_by(h.c.changed_at, h.c.entry_id)
    )
    return [HistoryEntry(**row) for row in conn.execute(query).mappings()]


def record_notes(conn: sa.Connection, record_id: str) -> list[Note]:
    """The notes attached to a record."""
    n = t.invoice_notes
    query = (
        sa.select(n.c.title, n.c.file_name, n.c.content)
        .where(n.c.record_id == record_id)
        .order_by(n.c.title, n.c.file_name)
    )
    return [Note(title, file_name, content) for title, file_name, content in conn.execute(query)]


def line_totals(conn: sa.Connection, record_id: str) -> dict[LineKind, LineTotal]:
    """Stored line count and amount total per kind (`usage`, `license`) of a record (seen by `conn`'s
    transaction: also lines written and not committed yet)."""
    totals = {}
    for kind, table in t.LINE_SUMMARY_TABLES.items():
        count, total = conn.execute(
            sa.select(sa.func.count(), sa.func.sum(table.c.amount)).where(table.c.record_id == record_id)
        ).one()
        totals[kind] = LineTotal(count, total)
    return totals
