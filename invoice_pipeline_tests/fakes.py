"""In-memory stand-ins for what the use cases are given: a warehouse holding records and their history, and provider
connectors offering a list of invoices. The unit tier builds its inputs with these, in microseconds.

`InMemoryWarehouse` implements the narrow Protocols of `invoice_pipeline.warehouse.protocols` the way the real
warehouse does (same verdicts, same refusals, same history entries); `test_warehouse_protocols.py` runs the same
checks on both, on DuckDB and PostgreSQL, so it cannot drift.

No engine is imported here. The record value types (`InvoiceRecord`, `HistoryEntry`, `ProviderInvoiceChange`,
`InvoicedLines`, `Unlinked`) live in warehouse modules that load SQLAlchemy's library (no engine, no connection), so
they are imported where a record is made, not when this module is.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import itertools
import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from invoice_pipeline.connectors.base import ConnectorError, InvoiceFiles, OfferedInvoice
from invoice_pipeline.domain.invoice_keys import InvoiceKey
from invoice_pipeline.domain.lifecycle import Action, Stage, record_standing, verdict
from invoice_pipeline.domain.refusals import ImportRefused, RecordChanged
from invoice_pipeline.domain.statuses import DELETED, Status

if TYPE_CHECKING:
    from invoice_pipeline.config import PipelineConfig, ProviderConfig
    from invoice_pipeline.warehouse.customer_documents import InvoicedLines, Unlinked
    from invoice_pipeline.warehouse.invoice_records import HistoryEntry, InvoiceRecord
    from invoice_pipeline.warehouse.line_publishing import FinishedImport, LineStaging
    from invoice_pipeline.warehouse.operations_log import ProviderInvoiceChange

DEFAULT_LAPSE = timedelta(minutes=5)
_ids = itertools.count(1)


def utc_now() -> datetime:
    """This moment, in UTC (as the warehouse stamps its changes)."""
    return datetime.now(UTC)


def stored_record(key: InvoiceKey, status: Status, **values: Any) -> InvoiceRecord:
    """A record as the warehouse would hand it back: current (unless Inactive), created and updated now unless
    `values` say otherwise."""
    from invoice_pipeline.warehouse.invoice_records import InvoiceRecord

    now = utc_now()
    fields: dict[str, Any] = {
        "record_id": f"rec-{next(_ids)}",
        "created_at": now,
        "updated_at": now,
        "is_manual": False,
        "current_key": None if status == Status.INACTIVE else str(key),
    }
    return InvoiceRecord(provider=key.provider, invoice_id=key.invoice_id, status=status, **(fields | values))


def history_entry(
    record: InvoiceRecord,
    from_status: str | None,
    to_status: str,
    reason: str,
    *,
    actor: str,
    at: datetime,
    run_id: str | None = None,
) -> HistoryEntry:
    """One entry of an invoice's history, as the warehouse writes it."""
    from invoice_pipeline.warehouse.invoice_records import HistoryEntry

    entry_id = f"entry-{next(_ids)}"
    return HistoryEntry(
        entry_id,
        record.record_id,
        record.provider,
        record.invoice_id,
        at,
        from_status,
        to_status,
        reason,
        run_id,
        actor,
    )


@dataclass
class FakeConnector:
    """A provider's connector offering a fixed list of invoices (or failing to list them); it holds no files."""

    offered: list[OfferedInvoice] = field(default_factory=list)
    error: ConnectorError | None = None

    def list_invoices(self) -> list[OfferedInvoice]:
        """The invoices offered, or the connector's error."""
        if self.error is not None:
            raise self.error
        return list(self.offered)

    def fetch_invoice(self, invoice_id: str) -> InvoiceFiles:
        """No files: the unit tier validates no lines (the engine tier does)."""
        raise ConnectorError(f"the fake connector holds no files of {invoice_id}")


@dataclass
class FingerprintingConnector(FakeConnector):
    """A fake connector that also fingerprints each invoice's lines cheaply (as the folder connector does)."""

    fingerprints: dict[str, str] = field(default_factory=dict)

    def line_fingerprint(self, invoice_id: str) -> str:
        """The invoice's lines' fingerprint now, or ConnectorError when its files cannot be read."""
        if invoice_id not in self.fingerprints:
            raise ConnectorError(f"{invoice_id}'s files cannot be read")
        return self.fingerprints[invoice_id]


@dataclass
class FakeConnectors:
    """The connector factory the use cases are given: each provider's fake connector, and who was asked."""

    by_provider: dict[str, FakeConnector] = field(default_factory=dict)
    asked: list[str] = field(default_factory=list)

    @classmethod
    def offering(cls, **offered: list[str]) -> FakeConnectors:
        """Connectors offering these invoice ids, per provider id (`contoso_csp=["G1"]` for `contoso-csp`)."""
        return cls(
            {
                provider.replace("_", "-"): FakeConnector([OfferedInvoice(invoice_id) for invoice_id in ids])
                for provider, ids in offered.items()
            }
        )

    def __call__(self, provider: ProviderConfig, config: PipelineConfig) -> FakeConnector:
        """The provider's connector (one offering nothing when none was set up)."""
        self.asked.append(provider.id)
        return self.by_provider.setdefault(provider.id, FakeConnector())


class InMemoryWarehouse:
    """Records, their history, claims and provider changes in memory, with the warehouse's rules: the same
    lifecycle verdicts, the same refusals and history entries. Lines are not validated here (`staging`)."""

    def __init__(self) -> None:
        self.stored: dict[str, InvoiceRecord] = {}
        self.entries: list[HistoryEntry] = []
        self.invoiced: dict[str, tuple[int, list[str]]] = {}  # record id -> lines linked, customer invoice ids
        self.changes: list[ProviderInvoiceChange] = []
        self.staging_error: Exception | None = None  # what validating lines raises (the engine tier validates)
        self.crash_error: Exception | None = None  # what recording a crashed import raises (a warehouse fault)
        self.kept_open_depth = 0  # how many use cases' `kept_open` blocks are running

    # Setting the scene -----------------------------------------------------------------------------------

    def add(self, record: InvoiceRecord, *, history: tuple[tuple[str | None, str, str, str], ...] = ()) -> None:
        """Store a record as it is, with history entries (from, to, reason, actor) dated its last update."""
        self.stored[record.record_id] = record
        for from_status, to_status, reason, actor in history:
            self.entries.append(
                history_entry(record, from_status, to_status, reason, actor=actor, at=record.updated_at)
            )

    def calls_seen(self, *methods: str) -> list[tuple[str, int]]:
        """From now on, each call of these methods, listed with the `kept_open` blocks running when it came."""
        return calls_seen(self, lambda: self.kept_open_depth, *methods)

    def link_lines(self, record: InvoiceRecord, line_count: int, customer_invoice_ids: list[str]) -> None:
        """Pretend `line_count` of the record's lines are billed on these customer invoices."""
        self.invoiced[record.record_id] = (line_count, customer_invoice_ids)

    # InvoiceLookups --------------------------------------------------------------------------------------

    @contextmanager
    def kept_open(self) -> Iterator[None]:
        """Nothing to open in memory; `kept_open_depth` says whether a use case's block is running."""
        self.kept_open_depth += 1
        try:
            yield
        finally:
            self.kept_open_depth -= 1

    def current_record(self, key: InvoiceKey) -> InvoiceRecord | None:
        """The invoice's current record (not Inactive), if any."""
        return next((r for r in self.stored.values() if r.current_key == str(key)), None)

    def history(self, key: InvoiceKey) -> list[HistoryEntry]:
        """Every status change of the invoice (all its records), oldest first."""
        return [e for e in self.entries if (e.provider, e.invoice_id) == (key.provider, key.invoice_id)]

    def voiding_note(self, key: InvoiceKey) -> InvoiceRecord | None:
        """The Active note without lines (void note, credit note) that names the invoice as the one it amends."""
        for record in self.stored.values():
            lines = (record.usage_line_count or 0) + (record.license_line_count or 0)
            if (
                record.provider == key.provider
                and record.amends_invoice_id == key.invoice_id
                and record.status == Status.ACTIVE
                and record.document_type in ("void_note", "credit_note")
                and lines == 0
            ):
                return record
        return None

    def record_by_id(self, record_id: str) -> InvoiceRecord:
        """The record with this id (current or Inactive)."""
        return self.stored[record_id]

    # StoppedImports and ImportClaims ---------------------------------------------------------------------

    def release_stopped_imports(self, stuck_after: timedelta, *, actor: str) -> list[InvoiceRecord]:
        """Turn Error every Populating import that stopped without finishing; returns them, now in Error."""
        now = utc_now()
        populating = [r for r in self.stored.values() if r.status == Status.POPULATING and not r.is_manual]
        return [
            self._record_stopped_import(record, stuck_after, actor=actor)
            for record in populating
            if record_standing(record, stuck_after, now).stage == Stage.STUCK
        ]

    def start_import(
        self,
        key: InvoiceKey,
        *,
        run_id: str | None,
        actor: str,
        stuck_after: timedelta,
        lapse: timedelta = DEFAULT_LAPSE,
    ) -> InvoiceRecord:
        """Mark the invoice Populating (a new record, its Error record, or one whose import stopped); refused,
        changing nothing, when the invoice is Active or another import still holds it."""
        record = self.current_record(key)
        if record is None:
            created = stored_record(key, Status.POPULATING, message="Import running", run_id=run_id)
            self._write(created, None, Status.POPULATING, "import started", actor, run_id)
            return created
        now = utc_now()
        decided = verdict(Action.IMPORT, record_standing(record, stuck_after, now), manual_provider=False)
        if not decided.allowed:
            raise ImportRefused(decided.reason)
        if record_standing(record, stuck_after, now).stage == Stage.STUCK:
            record = self._record_stopped_import(record, stuck_after, actor=actor)
        return self._change(
            record, Status.POPULATING, decided.reason, actor, run_id, run_id=run_id, message="Import running"
        )

    @contextmanager
    def claim_renewed(self, record: InvoiceRecord, lapse: timedelta = DEFAULT_LAPSE) -> Iterator[None]:
        """Nothing to renew in memory: the block runs."""
        yield

    def mark_crashed(self, started: InvoiceRecord, message: str, *, run_id: str | None, actor: str) -> None:
        """Record an import that broke as Error, while the record is still the one it started."""
        if self.crash_error is not None:
            raise self.crash_error
        record = self.current_record(started.key)
        if record is None or (record.record_id, record.run_id, record.status) != (
            started.record_id,
            started.run_id,
            Status.POPULATING,
        ):
            return
        self._change(record, Status.ERROR, message, actor, run_id, message=message)

    @contextmanager
    def staging(self) -> Iterator[LineStaging]:
        """Validating lines needs the engines: `staging_error` is raised here (an import that breaks)."""
        raise self.staging_error or AssertionError("the unit tier validates no lines; the engine tier does")
        yield  # a generator, for contextmanager

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
        """Store the import's outcome with its history entry (no lines here)."""
        self._change(record, finished.status, finished.message, actor, run_id, message=finished.message)

    def void_record(self, record: InvoiceRecord, reason: str, *, actor: str) -> Unlinked:
        """Withdraw a voided invoice: the record Inactive with `reason` (no customer invoice billed it here)."""
        self._change(record, Status.INACTIVE, reason, actor, message=reason)
        return self._unlinked(0)

    # RecordOperations ------------------------------------------------------------------------------------

    def set_status(self, record: InvoiceRecord, to: Status, reason: str, *, actor: str) -> InvoiceRecord:
        """A person's status change (RecordChanged if it changed meanwhile); returns it as stored."""
        return self._change(record, to, reason, actor)

    def delete_record(self, record: InvoiceRecord, reason: str, *, actor: str) -> bool:
        """Remove the record with a Deleted entry unless it changed since it was read; whether it was removed."""
        stored = self.stored.get(record.record_id)
        if stored is None or (stored.status, stored.updated_at) != (record.status, record.updated_at):
            return False
        del self.stored[record.record_id]
        self.entries.append(history_entry(record, record.status, DELETED, reason, actor=actor, at=utc_now()))
        return True

    def note_in_history(self, record: InvoiceRecord, reason: str, *, actor: str) -> None:
        """An entry that leaves the record's status as it is."""
        self.entries.append(history_entry(record, record.status, record.status, reason, actor=actor, at=utc_now()))

    def invoiced_lines(self, record_id: str) -> InvoicedLines:
        """How many of the record's lines are billed on customer invoices, and which."""
        from invoice_pipeline.warehouse.customer_documents import InvoicedLines

        line_count, customer_invoice_ids = self.invoiced.get(record_id, (0, []))
        return InvoicedLines(line_count, customer_invoice_ids)

    def unlink_lines(self, record: InvoiceRecord, reason: str, *, actor: str, history_reason: str) -> Unlinked:
        """Remove the record's links to customer invoices, saying so in its history."""
        line_count, _ = self.invoiced.pop(record.record_id, (0, []))
        self.note_in_history(record, history_reason, actor=actor)
        return self._unlinked(line_count)

    def create_manual_record(
        self, key: InvoiceKey, *, actor: str, reason: str, values: dict[str, Any]
    ) -> InvoiceRecord:
        """A manual provider invoice record in Populating (a person sets it Active later)."""
        message = "Created by hand; activate it when its lines are complete"
        created = stored_record(key, Status.POPULATING, is_manual=True, message=message, **values)
        self._write(created, None, Status.POPULATING, reason, actor, None)
        return created

    # ProviderChangeLog -----------------------------------------------------------------------------------

    def record_provider_change(
        self, record: InvoiceRecord, new_total: Decimal, *, new_line_fingerprint: str | None = None, actor: str
    ) -> ProviderInvoiceChange | None:
        """Record the provider's new total and lines of an Active invoice, once per new total and lines."""
        from invoice_pipeline.warehouse.operations_log import ProviderInvoiceChange

        seen = (record.record_id, new_total, new_line_fingerprint)
        if any((c.record_id, c.new_total, c.new_line_fingerprint) == seen for c in self.changes):
            return None
        assert record.provider_total is not None  # an Active record has its header total
        of_record = {name: getattr(record, name) for name in ("record_id", "provider", "invoice_id", "currency")}
        change = ProviderInvoiceChange(
            **of_record,
            change_id=f"change-{next(_ids)}",
            minor_units=record.minor_units,
            old_total=record.provider_total,
            new_total=new_total,
            old_line_fingerprint=record.line_fingerprint,
            new_line_fingerprint=new_line_fingerprint,
            seen_at=utc_now(),
        )
        self.changes.append(change)
        self.note_in_history(record, f"{change.what_changed()}; the imported invoice was not changed", actor=actor)
        return change

    # How the warehouse changes a record ------------------------------------------------------------------

    def _change(
        self, record: InvoiceRecord, to: Status, reason: str, actor: str, entry_run: str | None = None, **values: Any
    ) -> InvoiceRecord:
        """Move a record to `to` if nobody changed it meanwhile (else RecordChanged), writing its history."""
        stored = self.stored.get(record.record_id)
        if stored is None or (stored.status, stored.updated_at) != (record.status, record.updated_at):
            raise RecordChanged(f"invoice {record.key} changed while this run was working on it; run it again")
        changed = dataclasses.replace(
            record,
            status=to,
            updated_at=max(utc_now(), record.updated_at + timedelta(microseconds=1)),
            failures=(),
            current_key=None if to == Status.INACTIVE else record.current_key,
            **values,
        )
        self._write(changed, record.status, to, reason, actor, entry_run)
        return changed

    def _write(
        self, record: InvoiceRecord, from_status: str | None, to: str, reason: str, actor: str, run_id: str | None
    ) -> None:
        self.stored[record.record_id] = record
        entry = history_entry(record, from_status, to, reason, actor=actor, at=record.updated_at, run_id=run_id)
        self.entries.append(entry)

    def _record_stopped_import(self, record: InvoiceRecord, stuck_after: timedelta, *, actor: str) -> InvoiceRecord:
        from invoice_pipeline.warehouse.import_claims import stopped_import_message

        message = stopped_import_message(record.run_id, record.claim, stuck_after, utc_now())
        return self._change(record, Status.ERROR, message, actor, message=message)

    @staticmethod
    def _unlinked(line_count: int) -> Unlinked:
        from invoice_pipeline.warehouse.customer_documents import Unlinked

        return Unlinked(line_count=line_count, recomputed=[], voided_drafts=[], credit_notes=[])


def calls_seen(target: Any, depth: Callable[[], int], *methods: str) -> list[tuple[str, int]]:
    """From now on, each call of `target`'s methods, listed with `depth()` when it came (how many use cases'
    `kept_open` blocks were running)."""
    seen: list[tuple[str, int]] = []
    for name in methods:
        method = getattr(target, name)

        def watched(*args: Any, _method: Any = method, _name: str = name, **kwargs: Any) -> Any:
            seen.append((_name, depth()))
            return _method(*args, **kwargs)

        setattr(target, name, watched)
    return seen


def provider_header(invoice_id: str, **overrides: Any) -> dict[str, Any]:
    """A provider invoice's valid `header.json` fields (October 2026, USD 46.00), with `overrides`."""
    header = {
        "invoice_id": invoice_id,
        "invoice_date": "2026-11-05",
        "billing_period_start": "2026-10-01",
        "billing_period_end": "2026-10-31",
        "currency": "USD",
        "total_amount": "46.00",
    }
    return header | overrides


def csv_text(rows: list[dict[str, Any]], columns: list[str]) -> str:
    """A line file's CSV text: a header row of `columns`, then `rows` (values of other columns left out)."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()


def pipeline_config(root: Path, **settings: Any) -> PipelineConfig:
    """A configuration as the test workspaces write it (an automatic provider `contoso-csp` and a manual one
    `fabrikam-distribution`, both provider folders under `root`), with `settings` added; nothing is read from it."""
    from invoice_pipeline.config import load_config

    providers = [("contoso-csp", "Contoso CSP", "automatic"), ("fabrikam-distribution", "Fabrikam", "manual")]
    for folder in ("reference", *(f"providers/{provider_id}" for provider_id, _, _ in providers)):
        (root / folder).mkdir(parents=True, exist_ok=True)
    config = {
        "warehouse_url": "duckdb:///data/warehouse.duckdb",
        "data_dir": "data",
        "reference_data": "reference",
        "first_billing_period": "2026-09",
        "providers": [
            {"id": provider_id, "name": name, "sync": sync, "connector": "folder", "path": f"providers/{provider_id}"}
            for provider_id, name, sync in providers
        ],
        **settings,
    }
    (root / "config.yaml").write_text(json.dumps(config), encoding="utf-8")  # JSON is YAML
    return load_config(root / "config.yaml")


@pytest.fixture(name="config")
def config_fixture(tmp_path: Path) -> PipelineConfig:
    """The test's configuration (`pipeline_config`), its folders under the test's own temporary folder."""
    return pipeline_config(tmp_path)


@pytest.fixture(name="warehouse")
def warehouse_fixture() -> InMemoryWarehouse:
    """An empty in-memory warehouse."""
    return InMemoryWarehouse()
