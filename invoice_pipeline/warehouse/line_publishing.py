"""Publishing an import's lines: where they are staged, and storing its outcome in one transaction.

Line summaries stay in DuckDB while an import stages and validates them (temp tables of the warehouse's
own DuckDB connection, or an in-process DuckDB for PostgreSQL); they are published in the same
transaction that sets the invoice Active, and checked against the validated count and total first.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import TYPE_CHECKING, Any, cast

import duckdb
import sqlalchemy as sa

from invoice_pipeline.domain.import_failures import ImportFailure, failures_text
from invoice_pipeline.domain.line_kinds import LineKind
from invoice_pipeline.domain.money import decimal_text
from invoice_pipeline.domain.notes import Note
from invoice_pipeline.domain.refusals import ImportRefused
from invoice_pipeline.domain.statuses import Status
from invoice_pipeline.warehouse import tables as t
from invoice_pipeline.warehouse.engine import DuckDBSettings, is_duckdb
from invoice_pipeline.warehouse.invoice_records import (
    InvoiceRecord,
    as_utc,
    current_record,
    line_totals,
    new_id,
)
from invoice_pipeline.warehouse.record_changes import change_status, replace_notes

if TYPE_CHECKING:
    import psycopg

EXPORT_PREFIX = "lines-for-copy-"
STALE_EXPORT_SECONDS = 24 * 3600


class PublishedLinesDiffer(Exception):
    """The lines written are not the lines validated (count or amount total); nothing was stored."""


@dataclass(frozen=True)
class InvoiceHeaderValues:
    """The provider invoice's header as stored with its record, and how its lines were when read."""

    invoice_date: date
    billing_period_start: date
    billing_period_end: date
    currency: str
    minor_units: int | None  # None: the currency is not set up in the reference data
    total_amount: Decimal
    checksum_tolerance: Decimal
    line_fingerprint: str | None = None  # see connectors/base.py `line_files_fingerprint`
    tax_amount: Decimal | None = None  # the tax the lines carry (total_amount is before tax)
    document_type: str | None = None  # see domain/provider_documents.py
    amends_invoice_id: str | None = None


@dataclass(frozen=True)
class ImportTotals:
    """The validated lines' amount totals and their difference from the header total."""

    usage_total: Decimal
    license_total: Decimal
    difference: Decimal
    accepted_difference: Decimal | None = None  # set when a checksum override accepted the difference

    def of(self, kind: LineKind) -> Decimal:
        """The total of one kind of lines (`usage`, `license`)."""
        return {LineKind.USAGE: self.usage_total, LineKind.LICENSE: self.license_total}[kind]


@dataclass(frozen=True)
class FinishedImport:
    """What an import found, to be stored with the record: its final status and everything shown with it."""

    status: Status
    message: str
    header: InvoiceHeaderValues | None = None  # None when the header could not be read
    totals: ImportTotals | None = None  # None when the lines were not totalled
    notes: list[Note] = field(default_factory=list)
    usage_line_count: int | None = None
    license_line_count: int | None = None
    history_reason: str | None = None  # when the history should say more than the message (who asked, why)
    failures: tuple[ImportFailure, ...] = ()  # why it is not Active (stored for decisions, see ImportFailure)

    def record_values(self, run_id: str | None) -> dict[str, Any]:
        """The record's columns this outcome sets (an accepted difference only when there is one)."""
        values: dict[str, Any] = {
            "message": self.message,
            "failures": failures_text(self.failures),
            "usage_line_count": self.usage_line_count,
            "license_line_count": self.license_line_count,
        }
        if self.header is not None:
            values |= dataclasses.asdict(self.header)
        if self.totals is not None:
            values |= {name: value for name, value in dataclasses.asdict(self.totals).items() if value is not None}
        if run_id:
            values["run_id"] = run_id
        return values


@dataclass
class LineStaging:
    """Where an import stages its lines: a DuckDB connection, and for a DuckDB warehouse the warehouse
    connection it belongs to (None for PostgreSQL: `finish_import` opens one).

    On a DuckDB warehouse the lines may be published while they are validated (`publish_while_validating`):
    `lines_published` is then the open transaction holding them, which `finish_import` commits with the outcome
    or rolls back when the invoice does not become Active.
    """

    duckdb: duckdb.DuckDBPyConnection
    warehouse_connection: sa.Connection | None
    settings: DuckDBSettings
    lines_published: sa.RootTransaction | None = None
    published_record_id: str | None = None

    @property
    def can_publish_while_validating(self) -> bool:
        """Only a DuckDB warehouse: its lines are inserted by its own connection, in one transaction."""
        return self.warehouse_connection is not None

    def publish_while_validating(self, record_id: str) -> bool:
        """Insert the lines of the staged `published_<kind>_summaries` views into the line tables, in a transaction
        left open (`lines_published`); those views stop at the first line that breaks a rule.

        False, and nothing kept, when the insert stopped (a line that breaks a rule, a file that cannot be read):
        the lines are then validated first, which says why, and published by `finish_import`.
        """
        conn = self.warehouse_connection
        if conn is None:
            return False
        transaction = conn.begin()
        try:
            _replace_lines(conn, self, record_id)
        except duckdb.Error:
            transaction.rollback()
            return False
        self.lines_published, self.published_record_id = transaction, record_id
        return True

    def published_lines(self, kind: LineKind) -> str:
        """SQL of the lines of one kind published while validated (uncommitted; this connection sees them)."""
        record_id = str(self.published_record_id).replace("'", "''")
        return f"(SELECT * FROM main.{t.LINE_SUMMARY_TABLES[kind].name} WHERE record_id = '{record_id}')"

    def discard_published_lines(self) -> None:
        """Roll back the lines published while validated, if any."""
        if self.lines_published is not None:
            self.lines_published.rollback()
        self.lines_published = self.published_record_id = None


@contextmanager
def _lines_kept_as_probe_side(con: duckdb.DuckDBPyConnection) -> Iterator[duckdb.DuckDBPyConnection]:
    """While an import stages: every join of its lines has them on the left, the reference tables on the right.

    DuckDB estimates a CSV read without sniffing at a few dozen rows, so it would build its hash tables on
    the provider file's side (10M lines: gigabytes spilled, 3x slower) instead of the small reference
    tables'. The setting is global to the database, so it is restored when the staging ends.
    """
    con.execute("SET GLOBAL disabled_optimizers = 'build_side_probe_side'")
    try:
        yield con
    finally:
        with suppress(duckdb.Error):  # a connection already broken by the import's own error
            con.execute("RESET GLOBAL disabled_optimizers")


@contextmanager
def staging(engine: sa.Engine, settings: DuckDBSettings) -> Iterator[LineStaging]:
    """Where an import stages and validates its lines.

    For a DuckDB warehouse it is the warehouse's own connection, so the staged lines are published by
    a local INSERT ... SELECT inside the transaction that sets the invoice Active. For PostgreSQL it is
    an in-process DuckDB, and no warehouse connection is held while the lines are downloaded and
    validated (that can take long; an idle connection may be dropped): `finish_import` opens one.
    """
    if is_duckdb(engine):
        with engine.connect() as conn:
            driver = conn.connection.driver_connection
            # duckdb_engine wraps the DuckDB connection; the wrapper forwards calls, ibis needs the real one.
            wrapped = cast(duckdb.DuckDBPyConnection, getattr(driver, "_ConnectionWrapper__c", driver))
            with _lines_kept_as_probe_side(wrapped) as staged:
                yield LineStaging(staged, conn, settings)
        return
    _remove_stale_exports(settings)
    local = duckdb.connect(config=settings.config())
    try:
        with _lines_kept_as_probe_side(local):
            yield LineStaging(local, None, settings)
    finally:
        local.close()


@contextmanager
def _publishing_connection(engine: sa.Engine, staged: LineStaging) -> Iterator[sa.Connection]:
    if staged.warehouse_connection is not None:
        yield staged.warehouse_connection
        return
    with engine.connect() as conn:
        yield conn


def finish_import(
    engine: sa.Engine,
    staged: LineStaging,
    record: InvoiceRecord,
    finished: FinishedImport,
    *,
    run_id: str | None,
    actor: str,
    before_commit: Callable[[], None] | None = None,
) -> None:
    """Store the import's outcome atomically: lines (when Active), totals, message, notes and history.

    The lines written are checked against the validated count and total of each kind before anything
    is committed; `before_commit` may refuse too (raise): either way nothing is stored. Lines published while
    they were validated are committed in their open transaction, or rolled back when the invoice is not Active.
    """
    _refuse_if_taken_over(engine, record)
    if finished.status != Status.ACTIVE or staged.published_record_id != record.record_id:
        staged.discard_published_lines()
    published = staged.lines_published
    try:
        with (
            _publishing_connection(engine, staged) as conn,
            published if published is not None else conn.begin(),
        ):
            if published is None:
                _replace_lines(conn, staged, record.record_id, publish=finished.status == Status.ACTIVE)
            if finished.status == Status.ACTIVE:
                _verify_published_lines(conn, record.record_id, finished)
            if before_commit is not None:
                before_commit()
            replace_notes(conn, record.record_id, finished.notes)
            # Conditional on the record being exactly as this import left it when it started: an import
            # taken over meanwhile (stuck, then retried by another run) cannot overwrite the newer one.
            change_status(
                conn,
                record,
                finished.status,
                finished.history_reason or finished.message,
                run_id=run_id,
                actor=actor,
                values=finished.record_values(run_id),
            )
    except Exception as error:
        if not _is_integrity_error(error):
            raise
        # The COPY met lines a run that took the invoice over has committed meanwhile.
        _refuse_if_taken_over(engine, record)
        raise


def _is_integrity_error(error: Exception) -> bool:
    """Whether `error` is SQLAlchemy's integrity error or PostgreSQL's driver's own (the COPY's lines go through the
    driver, not through SQLAlchemy); the driver is imported here, when an error happened, so that a DuckDB
    warehouse never loads it."""
    import psycopg

    return isinstance(error, sa.exc.IntegrityError | psycopg.errors.IntegrityError)


def _refuse_if_taken_over(engine: sa.Engine, record: InvoiceRecord) -> None:
    """ImportRefused when another run took the invoice over since this import started (its claim lapsed
    while this process was stopped): this import stores nothing."""
    with engine.connect() as conn:
        current = current_record(conn, record.key)
    if current is None or (current.record_id, current.status, current.run_id, as_utc(current.updated_at)) != (
        record.record_id,
        record.status,
        record.run_id,
        as_utc(record.updated_at),
    ):
        raise ImportRefused(
            f"invoice {record.key} was taken over by another run (this one had stopped renewing its claim, or "
            "ran past stuck_populating_after_minutes); this run stored nothing"
        )


def _replace_lines(conn: sa.Connection, staged: LineStaging, record_id: str, *, publish: bool = True) -> None:
    """Inside the caller's transaction: remove the record's lines, then (`publish`) copy in the staged ones."""
    for kind, table in t.LINE_SUMMARY_TABLES.items():
        conn.execute(sa.delete(table).where(table.c.record_id == record_id))
        if publish:
            _publish_lines(conn, staged.duckdb, staged.settings, table, f"published_{kind}_summaries", record_id)


def _publish_lines(
    conn: sa.Connection,
    staged: duckdb.DuckDBPyConnection,
    settings: DuckDBSettings,
    table: sa.Table,
    view: str,
    record_id: str,
) -> None:
    """Copy a staged view's lines into a line summary table, inside the caller's transaction.

    DuckDB inserts them locally. PostgreSQL gets them by COPY from a CSV file DuckDB writes (strings
    always quoted, so an empty string stays distinct from NULL, decimals as exact text), streamed in
    chunks so memory stays flat whatever the number of lines, then analyzes the table.
    """
    columns = [c.name for c in table.columns]
    lines = lines_to_publish(table, view)
    if is_duckdb(conn.engine):
        staged.execute(f"INSERT INTO main.{table.name} ({', '.join(columns)}) {lines}", [record_id])
        return
    export = settings.temp_dir / f"{EXPORT_PREFIX}{table.name}-{new_id()}.csv"
    try:
        staged.execute(
            f"COPY ({lines}) TO '{str(export).replace(chr(39), chr(39) * 2)}' "
            "(FORMAT csv, HEADER false, FORCE_QUOTE *)",
            [record_id],
        )
        driver = cast("psycopg.Connection[Any]", conn.connection.driver_connection)  # PostgreSQL: psycopg's
        with (
            driver.cursor().copy(
                f"COPY {table.name} ({', '.join(columns)}) FROM STDIN (FORMAT csv, ENCODING 'UTF8')"
            ) as copy,
            export.open("rb") as handle,
        ):
            while chunk := handle.read(1 << 20):
                copy.write(chunk)
        # Fresh statistics (a sample of the table) for the queries that follow, billing first: planned on none, a
        # million new lines look like one and get joined row by row (minutes instead of seconds).
        driver.execute(f"ANALYZE {table.name}")
    finally:
        export.unlink(missing_ok=True)


def lines_to_publish(table: sa.Table, view: str) -> str:
    """The SELECT of a staged view's lines as `table` stores them; the record id is its parameter $1."""
    return f"SELECT $1 AS record_id, {', '.join(c.name for c in table.columns if c.name != 'record_id')} FROM {view}"


def _verify_published_lines(conn: sa.Connection, record_id: str, finished: FinishedImport) -> None:
    """The lines just written (not committed yet) are the validated ones: same count, same amount total."""
    expected_counts = {LineKind.USAGE: finished.usage_line_count, LineKind.LICENSE: finished.license_line_count}
    places = finished.header.minor_units if finished.header is not None else None
    for kind, (count, stored_total) in line_totals(conn, record_id).items():
        expected_total = finished.totals.of(kind) if finished.totals is not None else None
        total = Decimal(stored_total or 0)
        if count != expected_counts[kind] or (expected_total is not None and total != expected_total):
            raise PublishedLinesDiffer(
                f"the {kind} lines written ({count}, total {decimal_text(total, places)}) are not the lines "
                f"validated ({expected_counts[kind]}, total {decimal_text(expected_total, places)}); nothing was "
                "stored, run it again"
            )


def _remove_stale_exports(settings: DuckDBSettings) -> None:
    """Line exports left by a killed process (a finished COPY always removes its own file)."""
    cutoff = time.time() - STALE_EXPORT_SECONDS
    for export in settings.temp_dir.glob(f"{EXPORT_PREFIX}*.csv"):
        if export.stat().st_mtime < cutoff:
            export.unlink(missing_ok=True)
