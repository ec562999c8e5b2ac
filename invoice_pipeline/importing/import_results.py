"""What an import ended with: its checks, its result, and the figures and notes shown beside them."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from invoice_pipeline.domain.import_failures import ImportFailure
from invoice_pipeline.domain.invoice_keys import InvoiceKey
from invoice_pipeline.domain.money import decimal_text
from invoice_pipeline.domain.notes import Note
from invoice_pipeline.domain.statuses import Status
from invoice_pipeline.validation.checksum import ChecksumResult
from invoice_pipeline.validation.notes import csv_text

if TYPE_CHECKING:
    import duckdb

    from invoice_pipeline.config import ProviderConfig
    from invoice_pipeline.importing.invoice_headers import InvoiceHeader
    from invoice_pipeline.validation.line_schema import SchemaFailure
    from invoice_pipeline.validation.references import MissingReference
    from invoice_pipeline.warehouse.invoice_records import InvoiceRecord
    from invoice_pipeline.warehouse.line_publishing import FinishedImport, ImportTotals, InvoiceHeaderValues

SCHEMA_CHECK = "line_summaries_match_schema"
REFERENCES_CHECK = "references_resolved"
CHECKSUM_CHECK = "checksum_matches"


@dataclass(frozen=True)
class CheckOutcome:
    """The verdict of one validation step, with the figures to show next to it."""

    passed: bool
    description: str
    metadata: dict[str, Any] = field(default_factory=dict)
    evaluated: bool = True  # False: the check could not run (an earlier one stopped it); it did not pass either

    @classmethod
    def not_evaluated(cls, why: str) -> CheckOutcome:
        """A check that did not run, and why: not passed, and not a failure of its own rule."""
        return cls(False, f"Not evaluated: {why}", evaluated=False)


@dataclass(frozen=True)
class ImportResult:
    """What one import ended with."""

    key: InvoiceKey
    record_id: str
    status: Status
    message: str
    checks: dict[str, CheckOutcome]
    usage_line_count: int = 0
    license_line_count: int = 0
    checksum: ChecksumResult | None = None
    missing_references: list[MissingReference] = field(default_factory=list)
    header: InvoiceHeaderValues | None = None
    totals: ImportTotals | None = None
    notes: list[Note] = field(default_factory=list)
    failures: tuple[ImportFailure, ...] = ()  # why it is not Active, in the order the message says it
    voided: tuple[InvoiceRecord, ...] = ()  # invoices this import withdrew (a void note's, or itself), as now stored

    def to_finished(self) -> FinishedImport:
        """What the warehouse stores with the record (line counts only for an Active invoice)."""
        from invoice_pipeline.warehouse.line_publishing import FinishedImport  # DuckDB: where an import finishes

        active = self.status == Status.ACTIVE
        return FinishedImport(
            status=self.status,
            message=self.message,
            header=self.header,
            totals=self.totals,
            notes=self.notes,
            usage_line_count=self.usage_line_count if active else None,
            license_line_count=self.license_line_count if active else None,
            failures=self.failures,
        )


def not_evaluated(checks: dict[str, CheckOutcome]) -> None:
    """Mark the checks that did not run as not evaluated: the files stopped validation early."""
    for name in (SCHEMA_CHECK, REFERENCES_CHECK, CHECKSUM_CHECK):
        checks.setdefault(name, CheckOutcome.not_evaluated("the invoice's files did not pass their schemas"))


def stored_header(
    header: InvoiceHeader, minor_units: int | None, provider: ProviderConfig, line_fingerprint: str
) -> InvoiceHeaderValues:
    """The header as stored with the record, and the lines' fingerprint as imported."""
    from invoice_pipeline.warehouse.line_publishing import InvoiceHeaderValues  # DuckDB: where an import validates

    return InvoiceHeaderValues(
        invoice_date=header.invoice_date,
        billing_period_start=header.billing_period_start,
        billing_period_end=header.billing_period_end,
        currency=header.currency,
        minor_units=minor_units,
        total_amount=header.total_amount,
        checksum_tolerance=provider.checksum_tolerance,
        line_fingerprint=line_fingerprint,
        tax_amount=header.tax_amount,
        document_type=header.document_type.value,
        amends_invoice_id=header.amends_invoice_id,
    )


def checksum_metadata(checksum: ChecksumResult) -> dict[str, Any]:
    """The checksum's figures as its message shows them: in the currency's minor units, difference = header - lines."""

    def money(amount: Decimal) -> str | None:
        return decimal_text(amount, checksum.minor_units)

    return {
        "currency": checksum.currency,
        "header_total": money(checksum.header_total),
        "usage_total": money(checksum.usage_total),
        "license_total": money(checksum.license_total),
        "lines_total": money(checksum.lines_total),
        "difference": money(checksum.difference),
        "tolerance": money(checksum.tolerance),
    }


def checksum_note(staging: duckdb.DuckDBPyConnection) -> Note:
    """The lines' totals per customer and subscription, largest first, to find what is missing or extra."""
    rows = staging.execute(
        """
        SELECT customer_id, subscription_id,
               sum(amount) FILTER (WHERE kind = 'usage') AS usage_amount,
               sum(amount) FILTER (WHERE kind = 'license') AS license_amount,
               sum(amount) AS total_amount, count(*) AS line_count
        FROM all_lines GROUP BY 1, 2 ORDER BY abs(sum(amount)) DESC, 1, 2
        """
    ).fetchall()
    columns = ("customer_id", "subscription_id", "usage_amount", "license_amount", "total_amount", "line_count")
    return Note("Checksum", "line_totals.csv", csv_text(columns, rows))


def schema_failures_note(failures: list[SchemaFailure]) -> Note:
    """The failing values of each broken schema check, one row per line, to find them in the files."""
    rows = [(f.file_name, f.column or "", f.check, line_id, value) for f in failures for line_id, value in f.note_rows]
    return Note("Schema Failures", "failure_cases.csv", csv_text(("file", "column", "check", "line_id", "value"), rows))


REFERENCES_SHOWN = 20  # rows of the references check's table; the Missing References note lists them all


def reference_table(missing: list[MissingReference]) -> list[dict[str, Any]]:
    """The missing references as the references check shows them, errors first and most lines first: the first
    `REFERENCES_SHOWN` (the counts beside the table say how many there are)."""
    return [
        {
            "severity": "error" if m.blocking else "warning",
            "reference_type": m.reference_type,
            "reference_id": m.reference_id,
            "line_count": m.line_count,
            "example_line_ids": " ".join(m.example_line_ids),
        }
        for m in missing[:REFERENCES_SHOWN]
    ]
