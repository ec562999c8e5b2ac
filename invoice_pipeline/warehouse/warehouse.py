"""The warehouse: provider invoice records, their status history, notes and line summaries.

Statuses and history go through SQLAlchemy Core (one code path for every engine). Line summaries
stay in DuckDB: an import stages and validates them in temp tables of the warehouse's own DuckDB
connection and publishes them in the same transaction that sets the invoice Active.
"""

from __future__ import annotations

import csv
import logging
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, suppress
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import psycopg
import sqlalchemy as sa

from invoice_pipeline.domain.invoice_keys import InvoiceKey
from invoice_pipeline.domain.lifecycle import Action, Stage, Verdict, record_standing, verdict
from invoice_pipeline.domain.money import decimal_text
from invoice_pipeline.domain.statuses import Status
from invoice_pipeline.validation.notes import Note
from invoice_pipeline.warehouse import schema_migrations
from invoice_pipeline.warehouse import tables as t
from invoice_pipeline.warehouse.engine_faults import guard_engine, make_folder, masked_url, url_fault
from invoice_pipeline.warehouse.import_claims import (
    CLAIM_COLUMNS,
    DEFAULT_LAPSE,
    ImportClaim,
    claim_from_values,
    claim_renewed,
    stopped_import_message,
    write_claim,
)

log = logging.getLogger(__name__)

EXPORT_PREFIX = "lines-for-copy-"
STALE_EXPORT_SECONDS = 24 * 3600


class ImportRefused(Exception):
    """An import that must not start now; the message says why and what to do instead."""


class PublishedLinesDiffer(Exception):
    """The lines written are not the lines validated (count or amount total); nothing was stored."""


class RecordChanged(ImportRefused):
    """The record changed under a conditional status change (another run got there first)."""


def _now() -> datetime:
    return datetime.now(UTC)


def _utc(moment: datetime) -> datetime:
    """A stored moment as UTC (a driver may hand it back without its zone)."""
    return moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)


def _new_id() -> str:
    return uuid.uuid4().hex


@dataclass(frozen=True)
class InvoiceRecord:
    """One provider invoice record as stored (current or historical)."""

    values: dict[str, Any]

    def __getattr__(self, name: str) -> Any:
        try:
            return self.values[name]
        except KeyError as error:
            raise AttributeError(name) from error

    @property
    def key(self) -> InvoiceKey:
        """The record's invoice key."""
        return InvoiceKey(self.values["provider"], self.values["invoice_id"])

    @property
    def claim(self) -> ImportClaim | None:
        """The claim of the process that last imported the record (an import Populating it now renews it)."""
        return claim_from_values(self.values)

    def claim_lapsed(self, now: datetime) -> bool:
        """Whether the record's import claim lapsed (False when it has none: an earlier version's import)."""
        claim = self.claim
        return claim is not None and claim.lapsed(now)

    def summary(self) -> dict[str, Any]:
        """The record as JSON-ready values: money as decimal strings, dates ISO."""
        v = self.values
        money = (
            "total_amount",
            "usage_total",
            "license_total",
            "difference",
            "checksum_tolerance",
            "accepted_difference",
        )
        dates = ("invoice_date", "billing_period_start", "billing_period_end", "created_at", "updated_at")
        return {
            "provider": v["provider"],
            "invoice_id": v["invoice_id"],
            "status": v["status"],
            "message": v["message"],
            "currency": v["currency"],
            **{name: decimal_text(v[name], v["minor_units"]) for name in money},
            "usage_line_count": v["usage_line_count"],
            "license_line_count": v["license_line_count"],
            "is_manual": bool(v["is_manual"]),
            "record_id": v["record_id"],
            "run_id": v["run_id"],
            **{name: v[name].isoformat() if v[name] is not None else None for name in dates},
            "import_claim": self._claim_summary(),
        }

    def _claim_summary(self) -> str | None:
        """Who holds the claim of an import running now, and until when (None unless one is Populating)."""
        claim = self.claim
        if claim is None or self.values["status"] != Status.POPULATING or self.values["is_manual"]:
            return None
        return (
            f"{claim.holder.describe()} (run {claim.run_id}), renewed {claim.renewed_at:%Y-%m-%d %H:%M:%S} UTC, "
            f"lapses {claim.expires_at:%H:%M:%S} UTC unless renewed"
        )


def _records_query() -> sa.Select:
    """Provider invoice records, each with its import claim's columns (`claim_*`, NULL without one)."""
    pi = t.provider_invoices
    claims = t.import_claims
    return sa.select(pi, *(column.label(name) for name, column in CLAIM_COLUMNS.items())).select_from(
        pi.outerjoin(claims, claims.c.record_id == pi.c.record_id)
    )


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


@dataclass(frozen=True)
class LineStaging:
    """Where an import stages its lines: a DuckDB connection, and for a DuckDB warehouse the warehouse
    connection it belongs to (None for PostgreSQL: `finish_import` opens one)."""

    duckdb: duckdb.DuckDBPyConnection
    warehouse_connection: sa.Connection | None


@dataclass(frozen=True)
class FinishedImport:
    """What an import found, to be stored with the record: its final status and everything shown with it."""

    status: Status
    message: str
    header: dict[str, Any]
    notes: list[Note]
    usage_line_count: int | None = None
    license_line_count: int | None = None
    history_reason: str | None = None  # when the history should say more than the message (who asked, why)


def import_verdict(record: InvoiceRecord, stuck_after: timedelta) -> Verdict:
    """Whether an import of the invoice may start from its current record, and why (the lifecycle's rule)."""
    return verdict(Action.IMPORT, record_standing(record, stuck_after, _now()), manual_provider=False)


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
        self._duckdb_temp_dir = temp_dir or Path(tempfile.gettempdir()) / "invoice-pipeline"
        self._duckdb_settings: dict[str, Any] = {
            "memory_limit": memory_limit,
            "threads": threads,
            "preserve_insertion_order": False,
            "temp_directory": str(self._duckdb_temp_dir),
        }
        # DuckDB spills here past its memory limit (the warehouse file's, or PostgreSQL's staging DuckDB).
        make_folder(self._duckdb_temp_dir, "DuckDB's temporary files", "set data_dir to a writable folder")
        connect_args: dict[str, Any] = {}
        if self.is_duckdb:
            connect_args["config"] = self._duckdb_settings
            database = url.removeprefix("duckdb:///")
            if database and database != ":memory:":
                make_folder(Path(database).parent, "the warehouse", "set warehouse_url to a file in a writable folder")
        try:
            self.engine = sa.create_engine(url, connect_args=connect_args, poolclass=sa.pool.NullPool)
        except (sa.exc.ArgumentError, ValueError, ModuleNotFoundError) as error:  # no such module: no driver
            raise url_fault(error, url) from error
        self.lock_timeout_seconds = lock_timeout_seconds
        guard_engine(
            self.engine, url=url, location=self.location, timeout=lock_timeout_seconds, is_duckdb=self.is_duckdb
        )

    @property
    def location(self) -> str:
        """The warehouse as shown in messages: its file, or its URL without the password."""
        return masked_url(self.url)

    @property
    def is_duckdb(self) -> bool:
        """Whether the warehouse is an embedded DuckDB file."""
        return self.url.startswith("duckdb:")

    _schema_ready: set[str] = set()  # warehouse URLs whose schema this process has already checked

    def create_schema(self) -> None:
        """Make sure the schema is this code's: the embedded DuckDB file is upgraded in place; a PostgreSQL
        warehouse must have been upgraded with `invoice-pipeline warehouse upgrade` (checked once per process)."""
        database = self.url.removeprefix("duckdb:///") if self.is_duckdb else None
        file_still_there = database is None or (database != ":memory:" and Path(database).exists())
        if self.url in Warehouse._schema_ready and file_still_there:
            return
        if self.is_duckdb:
            schema_migrations.upgrade(self.engine)
        else:
            schema_migrations.check_schema(self.engine, self.location)
        Warehouse._schema_ready.add(self.url)

    def schema_state(self) -> schema_migrations.SchemaState:
        """The warehouse's schema revision against the code's."""
        return schema_migrations.schema_state(self.engine)

    def upgrade_schema(self) -> tuple[str | None, str]:
        """Apply the migrations the warehouse lacks; returns (revision before, revision after)."""
        before_after = schema_migrations.upgrade(self.engine)
        Warehouse._schema_ready.add(self.url)
        return before_after

    def dispose(self) -> None:
        """Release every connection (and so DuckDB's file lock)."""
        self.engine.dispose()

    # Reading -------------------------------------------------------------------------------

    def current_record(self, key: InvoiceKey) -> InvoiceRecord | None:
        """The invoice's current record (not Inactive), if any."""
        with self.engine.connect() as conn:
            row = conn.execute(_records_query().where(t.provider_invoices.c.current_key == str(key))).mappings().first()
        return InvoiceRecord(dict(row)) if row else None

    def records(self, key: InvoiceKey) -> list[InvoiceRecord]:
        """Every record of the invoice, the current one first, then older (Inactive) ones newest first."""
        pi = t.provider_invoices
        query = (
            _records_query()
            .where(pi.c.provider == key.provider, pi.c.invoice_id == key.invoice_id)
            .order_by(pi.c.current_key.is_(None), pi.c.created_at.desc())
        )
        with self.engine.connect() as conn:
            return [InvoiceRecord(dict(r)) for r in conn.execute(query).mappings()]

    def list_invoices(self, provider: str | None = None, status: Status | None = None) -> list[InvoiceRecord]:
        """Current records and Inactive ones, filtered by provider and status, newest invoice dates first."""
        pi = t.provider_invoices
        query = _records_query().order_by(pi.c.provider, pi.c.invoice_id, pi.c.created_at)
        if provider:
            query = query.where(pi.c.provider == provider)
        if status:
            query = query.where(pi.c.status == status.value)
        with self.engine.connect() as conn:
            return [InvoiceRecord(dict(r)) for r in conn.execute(query).mappings()]

    def history(self, key: InvoiceKey) -> list[dict[str, Any]]:
        """Every status change of the invoice (all its records), oldest first."""
        h = t.invoice_status_history
        query = (
            sa.select(h)
            .where(h.c.provider == key.provider, h.c.invoice_id == key.invoice_id)
            .order_by(h.c.changed_at, h.c.entry_id)
        )
        with self.engine.connect() as conn:
            return [dict(r) for r in conn.execute(query).mappings()]

    def notes(self, record_id: str) -> list[Note]:
        """The notes attached to a record."""
        n = t.invoice_notes
        query = (
            sa.select(n.c.title, n.c.file_name, n.c.content)
            .where(n.c.record_id == record_id)
            .order_by(n.c.title, n.c.file_name)
        )
        with self.engine.connect() as conn:
            return [Note(*r) for r in conn.execute(query)]

    def line_totals(self, record_id: str) -> dict[str, tuple[int, Any]]:
        """Stored line count and amount total per kind (`usage`, `license`) for a record."""
        totals = {}
        with self.engine.connect() as conn:
            for kind, table in t.LINE_SUMMARY_TABLES.items():
                count, total = conn.execute(
                    sa.select(sa.func.count(), sa.func.sum(table.c.amount)).where(table.c.record_id == record_id)
                ).one()
                totals[kind] = (count, total)
        return totals

    # Status changes --------------------------------------------------------------------------

    def change_status(
        self,
        conn: sa.Connection,
        record: InvoiceRecord,
        to: Status,
        reason: str,
        *,
        run_id: str | None,
        actor: str,
        values: dict[str, Any] | None = None,
    ) -> InvoiceRecord:
        """Move a record to `to` if nobody changed it meanwhile, write the history entry; returns the record now."""
        pi = t.provider_invoices
        now = _now()
        changes = {"status": to.value, "updated_at": now, **(values or {})}
        if to == Status.INACTIVE:
            changes["current_key"] = None
        changed = RecordChanged(f"invoice {record.key} changed while this run was working on it; run it again")
        try:
            result = conn.execute(
                sa.update(pi)
                .where(
                    pi.c.record_id == record.record_id,
                    pi.c.status == record.status,
                    pi.c.updated_at == record.updated_at,
                )
                .values(**changes)
            )
        except sa.exc.OperationalError as error:
            # DuckDB reports a concurrent change of the same row as a conflict instead of matching no row.
            if isinstance(error.orig, duckdb.TransactionException):
                raise changed from None
            raise
        if result.rowcount != 1:
            raise changed
        self.write_history(conn, record.values, record.status, to, reason, run_id=run_id, actor=actor, at=now)
        return InvoiceRecord(record.values | changes)

    @staticmethod
    def write_history(
        conn: sa.Connection,
        record: dict[str, Any],
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
                entry_id=_new_id(),
                record_id=record["record_id"],
                provider=record["provider"],
                invoice_id=record["invoice_id"],
                changed_at=at,
                from_status=from_status,
                to_status=str(to),
                reason=reason,
                run_id=run_id,
                actor=actor,
            )
        )

    def note_in_history(
        self, conn: sa.Connection, record: InvoiceRecord, reason: str, *, actor: str, at: datetime | None = None
    ) -> None:
        """An entry in the invoice's history that leaves its status as it is (an operation, a change seen)."""
        self.write_history(
            conn, record.values, record.status, record.status, reason, run_id=None, actor=actor, at=at or _now()
        )

    def create_manual_record(
        self, key: InvoiceKey, *, actor: str, reason: str, values: dict[str, Any]
    ) -> InvoiceRecord:
        """Create a manual provider invoice record in Populating (a person sets it Active later)."""
        with self.engine.begin() as conn:
            self._insert_populating_record(
                conn,
                key,
                message="Created by hand; activate it when its lines are complete",
                reason=reason,
                run_id=None,
                actor=actor,
                is_manual=True,
                values=values,
            )
        return self.current_record(key)  # type: ignore[return-value]

    def _insert_populating_record(
        self,
        conn: sa.Connection,
        key: InvoiceKey,
        *,
        message: str,
        reason: str,
        run_id: str | None,
        actor: str,
        is_manual: bool,
        values: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """A new current record for the invoice, in Populating, with its first history entry."""
        now = _now()
        record = {
            "record_id": _new_id(),
            "provider": key.provider,
            "invoice_id": key.invoice_id,
            "current_key": str(key),
            "status": Status.POPULATING.value,
            "message": message,
            "is_manual": is_manual,
            "run_id": run_id,
            "created_at": now,
            "updated_at": now,
            **(values or {}),
        }
        conn.execute(sa.insert(t.provider_invoices).values(**record))
        self.write_history(conn, record, None, Status.POPULATING, reason, run_id=run_id, actor=actor, at=now)
        return record

    def start_import(
        self,
        key: InvoiceKey,
        *,
        run_id: str | None,
        actor: str,
        stuck_after: timedelta,
        lapse: timedelta = DEFAULT_LAPSE,
    ) -> InvoiceRecord:
        """Mark the invoice Populating (a new record, or its Error record, or one whose import stopped) and claim
        it for this process for `lapse` (renewed with `claim_renewed` while the import works); returns it.

        An import that stopped is first recorded as Error, saying what happened, then taken over. Refused,
        changing nothing, when the invoice is Active or another import still holds its claim.
        """
        try:
            return self._start_import(key, run_id=run_id, actor=actor, stuck_after=stuck_after, lapse=lapse)
        except (sa.exc.IntegrityError, RecordChanged):
            # Another process created the invoice's record, or took its Error / stopped record, between our read
            # and our write.
            raise ImportRefused(
                f"invoice {key} was started by another run at the same moment; that run imports it, "
                "nothing was changed by this one"
            ) from None

    def _start_import(
        self, key: InvoiceKey, *, run_id: str | None, actor: str, stuck_after: timedelta, lapse: timedelta
    ) -> InvoiceRecord:
        with self.engine.begin() as conn:
            row = conn.execute(_records_query().where(t.provider_invoices.c.current_key == str(key))).mappings().first()
            if row is None:
                started = InvoiceRecord(
                    self._insert_populating_record(
                        conn,
                        key,
                        message="Import running",
                        reason="import started",
                        run_id=run_id,
                        actor=actor,
                        is_manual=False,
                    )
                )
                write_claim(conn, started.record_id, run_id, lapse, started.updated_at)
                return started
            record = InvoiceRecord(dict(row))
            decided = import_verdict(record, stuck_after)
            if not decided.allowed:
                raise ImportRefused(decided.reason)
            if record_standing(record, stuck_after, _now()).stage == Stage.STUCK:
                record = self._record_stopped_import(conn, record, stuck_after, actor=actor)
            started = self.change_status(
                conn,
                record,
                Status.POPULATING,
                decided.reason,
                run_id=run_id,
                actor=actor,
                values={"run_id": run_id, "message": "Import running"},
            )
            write_claim(conn, started.record_id, run_id, lapse, started.updated_at)
        return started

    def _record_stopped_import(
        self, conn: sa.Connection, record: InvoiceRecord, stuck_after: timedelta, *, actor: str
    ) -> InvoiceRecord:
        """A Populating import that stopped (its claim lapsed, or past the last-resort bound) becomes Error."""
        message = stopped_import_message(record.run_id, record.claim, stuck_after, _now())
        # Not the stopped run's own change (its id is in the message): its history ends where it stopped.
        return self.change_status(
            conn, record, Status.ERROR, message, run_id=None, actor=actor, values={"message": message}
        )

    def release_stopped_imports(self, stuck_after: timedelta, *, actor: str) -> list[InvoiceRecord]:
        """Turn Error every Populating import that stopped without finishing (its claim lapsed, or it ran past
        the last-resort bound), each with a message saying what happened; returns them, now in Error."""
        pi = t.provider_invoices
        query = _records_query().where(
            pi.c.current_key.is_not(None), pi.c.status == Status.POPULATING.value, pi.c.is_manual.is_(False)
        )
        released = []
        with self.engine.connect() as conn:
            populating = [InvoiceRecord(dict(row)) for row in conn.execute(query).mappings()]
        now = _now()
        for record in populating:
            if record_standing(record, stuck_after, now).stage != Stage.STUCK:
                continue
            with suppress(RecordChanged), self.engine.begin() as conn:  # another process recorded it first
                released.append(self._record_stopped_import(conn, record, stuck_after, actor=actor))
        for stopped in released:  # said once committed
            log.warning("%s is now Error: %s", stopped.key, stopped.message)
        return released

    def claim_renewed(self, record: InvoiceRecord, lapse: timedelta = DEFAULT_LAPSE) -> AbstractContextManager[None]:
        """Renew this process's claim on a record it imports, while the block runs (see `import_claims`)."""
        return claim_renewed(self.engine, record.record_id, record.run_id, lapse)

    @contextmanager
    def staging(self) -> Iterator[LineStaging]:
        """Where an import stages and validates its lines.

        For a DuckDB warehouse it is the warehouse's own connection, so the staged lines are published by
        a local INSERT ... SELECT inside the transaction that sets the invoice Active. For PostgreSQL it is
        an in-process DuckDB, and no warehouse connection is held while the lines are downloaded and
        validated (that can take long; an idle connection may be dropped): `finish_import` opens one.
        """
        if self.is_duckdb:
            with self.engine.connect() as conn:
                driver = conn.connection.driver_connection
                # duckdb_engine wraps the DuckDB connection; the wrapper forwards calls, ibis needs the real one.
                with _lines_kept_as_probe_side(getattr(driver, "_ConnectionWrapper__c", driver)) as staged:
                    yield LineStaging(staged, conn)
            return
        self._remove_stale_exports()
        local = duckdb.connect(config=self._duckdb_settings)
        try:
            with _lines_kept_as_probe_side(local):
                yield LineStaging(local, None)
        finally:
            local.close()

    @contextmanager
    def _publishing_connection(self, staging: LineStaging) -> Iterator[sa.Connection]:
        if staging.warehouse_connection is not None:
            yield staging.warehouse_connection
            return
        with self.engine.connect() as conn:
            yield conn

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
        """Store the import's outcome atomically: lines (when Active), totals, message, notes and history.

        The lines written are checked against the validated count and total of each kind before anything
        is committed; `before_commit` may refuse too (raise): either way nothing is stored.
        """
        values = {"message": finished.message, **finished.header}
        values["usage_line_count"] = finished.usage_line_count
        values["license_line_count"] = finished.license_line_count
        if run_id:
            values["run_id"] = run_id
        self._refuse_if_taken_over(record)
        try:
            self._store_outcome(
                staging, record, finished, values, run_id=run_id, actor=actor, before_commit=before_commit
            )
        except (sa.exc.IntegrityError, psycopg.errors.IntegrityError):
            # The COPY met lines a run that took the invoice over has committed meanwhile.
            self._refuse_if_taken_over(record)
            raise

    def _refuse_if_taken_over(self, record: InvoiceRecord) -> None:
        """ImportRefused when another run took the invoice over since this import started (its claim lapsed
        while this process was stopped): this import stores nothing."""
        current = self.current_record(record.key)
        if current is None or (current.record_id, current.status, current.run_id, _utc(current.updated_at)) != (
            record.record_id,
            record.status,
            record.run_id,
            _utc(record.updated_at),
        ):
            raise ImportRefused(
                f"invoice {record.key} was taken over by another run (this one had stopped renewing its claim, or "
                "ran past stuck_populating_after_minutes); this run stored nothing"
            )

    def _store_outcome(
        self,
        staging: LineStaging,
        record: InvoiceRecord,
        finished: FinishedImport,
        values: dict[str, Any],
        *,
        run_id: str | None,
        actor: str,
        before_commit: Callable[[], None] | None,
    ) -> None:
        with self._publishing_connection(staging) as conn, conn.begin():
            for table in t.LINE_SUMMARY_TABLES.values():
                conn.execute(sa.delete(table).where(table.c.record_id == record.record_id))
            if finished.status == Status.ACTIVE:
                for kind, table in t.LINE_SUMMARY_TABLES.items():
                    self._publish_lines(conn, staging.duckdb, table, f"published_{kind}_summaries", record.record_id)
                self._verify_published_lines(conn, record.record_id, finished)
            if before_commit is not None:
                before_commit()
            conn.execute(sa.delete(t.invoice_notes).where(t.invoice_notes.c.record_id == record.record_id))
            now = _now()
            for note in finished.notes:
                conn.execute(
                    sa.insert(t.invoice_notes).values(
                        note_id=_new_id(),
                        record_id=record.record_id,
                        title=note.title,
                        file_name=note.file_name,
                        content=note.content,
                        created_at=now,
                    )
                )
            # Conditional on the record being exactly as this import left it when it started: an import
            # taken over meanwhile (stuck, then retried by another run) cannot overwrite the newer one.
            self.change_status(
                conn,
                record,
                finished.status,
                finished.history_reason or finished.message,
                run_id=run_id,
                actor=actor,
                values=values,
            )

    def _publish_lines(
        self, conn: sa.Connection, staging: duckdb.DuckDBPyConnection, table: sa.Table, view: str, record_id: str
    ) -> None:
        """Copy a staged view's lines into a line summary table, inside the caller's transaction.

        DuckDB inserts them locally. PostgreSQL gets them by COPY from a CSV file DuckDB writes (strings
        always quoted, so an empty string stays distinct from NULL, decimals as exact text), streamed in
        chunks so memory stays flat whatever the number of lines.
        """
        columns = [c.name for c in table.columns]
        lines = f"SELECT $1 AS record_id, {', '.join(columns[1:])} FROM {view}"
        if self.is_duckdb:
            staging.execute(f"INSERT INTO main.{table.name} ({', '.join(columns)}) {lines}", [record_id])
            return
        export = self._duckdb_temp_dir / f"{EXPORT_PREFIX}{table.name}-{_new_id()}.csv"
        try:
            staging.execute(
                f"COPY ({lines}) TO '{str(export).replace(chr(39), chr(39) * 2)}' "
                "(FORMAT csv, HEADER false, FORCE_QUOTE *)",
                [record_id],
            )
            cursor = conn.connection.driver_connection.cursor()
            with (
                cursor.copy(
                    f"COPY {table.name} ({', '.join(columns)}) FROM STDIN (FORMAT csv, ENCODING 'UTF8')"
                ) as copy,
                export.open("rb") as handle,
            ):
                while chunk := handle.read(1 << 20):
                    copy.write(chunk)
        finally:
            export.unlink(missing_ok=True)

    @staticmethod
    def _verify_published_lines(conn: sa.Connection, record_id: str, finished: FinishedImport) -> None:
        """The lines just written (not committed yet) are the validated ones: same count, same amount total."""
        validated = {
            "usage": (finished.usage_line_count, finished.header.get("usage_total")),
            "license": (finished.license_line_count, finished.header.get("license_total")),
        }
        for kind, table in t.LINE_SUMMARY_TABLES.items():
            count, total = conn.execute(
                sa.select(sa.func.count(), sa.func.sum(table.c.amount)).where(table.c.record_id == record_id)
            ).one()
            expected_count, expected_total = validated[kind]
            total = Decimal(total or 0)
            if count != expected_count or (expected_total is not None and total != expected_total):
                places = finished.header.get("minor_units")
                raise PublishedLinesDiffer(
                    f"the {kind} lines written ({count}, total {decimal_text(total, places)}) are not the lines "
                    f"validated ({expected_count}, total {decimal_text(expected_total, places)}); nothing was "
                    "stored, run it again"
                )

    def _remove_stale_exports(self) -> None:
        """Line exports left by a killed process (a finished COPY always removes its own file)."""
        cutoff = time.time() - STALE_EXPORT_SECONDS
        for export in self._duckdb_temp_dir.glob(f"{EXPORT_PREFIX}*.csv"):
            if export.stat().st_mtime < cutoff:
                export.unlink(missing_ok=True)

    def mark_crashed(self, started: InvoiceRecord, message: str, *, run_id: str | None, actor: str) -> None:
        """Record an import that broke (not a validation failure) as Error, so the daily sync retries it.

        Only while the record is still the one this import started: a run that took the invoice over
        meanwhile (it was stuck) is left alone.
        """
        record = self.current_record(started.key)
        if (
            record is None
            or record.record_id != started.record_id
            or record.run_id != started.run_id
            or record.status != Status.POPULATING
        ):
            return
        with self.engine.begin() as conn:
            self.change_status(
                conn, record, Status.ERROR, message, run_id=run_id, actor=actor, values={"message": message}
            )

    # Reference data ---------------------------------------------------------------------------

    def replace_reference_table(self, name: str, rows: list[dict[str, Any]]) -> None:
        """Replace one reference table's rows (what the reference data assets publish)."""
        table = t.REFERENCE_TABLES[name]
        with self.engine.begin() as conn:
            conn.execute(sa.delete(table))
            if rows:
                conn.execute(sa.insert(table), rows)

    def export_lines(self, record_id: str, kind: str, path: Path) -> int:
        """Write a record's stored line summaries of one kind to CSV, money as exact decimal text; returns the count."""
        table = t.LINE_SUMMARY_TABLES[kind]
        columns = [c.name for c in table.columns if c.name != "record_id"]
        query = sa.select(*(table.c[name] for name in columns)).where(table.c.record_id == record_id)
        count = 0
        with self.engine.connect() as conn, path.open("w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(columns)
            for row in conn.execution_options(stream_results=True).execute(query.order_by(table.c.line_id)):
                writer.writerow([decimal_text(v) if isinstance(v, Decimal) else ("" if v is None else v) for v in row])
                count += 1
        return count
