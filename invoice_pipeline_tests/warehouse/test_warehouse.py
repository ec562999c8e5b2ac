"""Warehouse status changes: who may start an import, the guard against interleaving, the history."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from invoice_pipeline.domain.invoice_keys import InvoiceKey
from invoice_pipeline.domain.refusals import ImportRefused
from invoice_pipeline.domain.statuses import Status
from invoice_pipeline.warehouse import invoice_imports
from invoice_pipeline.warehouse import tables as t
from invoice_pipeline.warehouse.line_publishing import FinishedImport

pytestmark = pytest.mark.engine_contract

KEY = InvoiceKey("contoso-csp", "G300000001")
STUCK_AFTER = timedelta(minutes=120)


def _age(warehouse, record_id: str, minutes: int) -> None:
    with warehouse.engine.begin() as conn:
        conn.execute(
            sa.update(t.provider_invoices)
            .where(t.provider_invoices.c.record_id == record_id)
            .values(updated_at=datetime.now(UTC) - timedelta(minutes=minutes))
        )


def test_starting_an_import_creates_a_populating_record_and_its_history(warehouse):
    record = warehouse.start_import(KEY, run_id="r1", actor="tester", stuck_after=STUCK_AFTER)
    assert record.status == Status.POPULATING and record.current_key == str(KEY)
    [entry] = warehouse.history(KEY)
    assert (entry.from_status, entry.to_status, entry.run_id, entry.actor) == (
        None,
        "Populating",
        "r1",
        "tester",
    )


def test_a_second_import_is_refused_while_the_first_is_running(warehouse):
    warehouse.start_import(KEY, run_id="r1", actor="tester", stuck_after=STUCK_AFTER)
    with pytest.raises(ImportRefused, match="is being imported by run r1"):
        warehouse.start_import(KEY, run_id="r2", actor="tester", stuck_after=STUCK_AFTER)
    assert len(warehouse.history(KEY)) == 1


def test_a_stuck_populating_import_can_be_taken_over(warehouse):
    first = warehouse.start_import(KEY, run_id="r1", actor="tester", stuck_after=STUCK_AFTER)
    _age(warehouse, first.record_id, 121)
    second = warehouse.start_import(KEY, run_id="r2", actor="tester", stuck_after=STUCK_AFTER)
    assert second.record_id == first.record_id and second.run_id == "r2"
    assert warehouse.history(KEY)[-1].reason == "retry of an import that did not finish"


def test_finishing_an_import_that_was_taken_over_meanwhile_is_refused_and_changes_nothing(warehouse):
    first = warehouse.start_import(KEY, run_id="r1", actor="tester", stuck_after=STUCK_AFTER)
    _age(warehouse, first.record_id, 121)
    warehouse.start_import(KEY, run_id="r2", actor="tester", stuck_after=STUCK_AFTER)
    finished = FinishedImport(Status.ERROR, "late")
    with warehouse.staging() as staging, pytest.raises(ImportRefused, match="taken over by another run"):
        warehouse.finish_import(staging, first, finished, run_id="r1", actor="tester")
    current = warehouse.current_record(KEY)
    assert (current.status, current.run_id) == ("Populating", "r2")


def test_a_run_that_crashes_after_being_taken_over_leaves_the_new_runs_record_alone(warehouse):
    first = warehouse.start_import(KEY, run_id="r1", actor="tester", stuck_after=STUCK_AFTER)
    _age(warehouse, first.record_id, 121)
    warehouse.start_import(KEY, run_id="r2", actor="tester", stuck_after=STUCK_AFTER)
    warehouse.mark_crashed(first, "Import failed unexpectedly (OSError: disk full)", run_id="r1", actor="tester")
    current = warehouse.current_record(KEY)
    assert (current.status, current.run_id) == ("Populating", "r2")


def test_two_runs_retrying_one_error_invoice_at_once_the_second_is_told_the_first_has_it(warehouse, monkeypatch):
    first = warehouse.start_import(KEY, run_id="r1", actor="tester", stuck_after=STUCK_AFTER)
    warehouse.mark_crashed(first, "Import failed unexpectedly (OSError: disk full)", run_id="r1", actor="tester")
    decide = invoice_imports.import_verdict

    def another_run_starts_in_between(record, stuck_after):
        # r3 has read the Error record; r2 starts the retry on its own connection before r3 writes.
        monkeypatch.setattr(invoice_imports, "import_verdict", decide)
        warehouse.start_import(KEY, run_id="r2", actor="tester", stuck_after=STUCK_AFTER)
        return decide(record, stuck_after)

    monkeypatch.setattr(invoice_imports, "import_verdict", another_run_starts_in_between)
    with pytest.raises(ImportRefused, match="started by another run at the same moment; that run imports it"):
        warehouse.start_import(KEY, run_id="r3", actor="tester", stuck_after=STUCK_AFTER)
    current = warehouse.current_record(KEY)
    assert (current.status, current.run_id) == ("Populating", "r2")


def test_only_one_current_record_per_invoice_is_possible(warehouse):
    warehouse.start_import(KEY, run_id="r1", actor="tester", stuck_after=STUCK_AFTER)
    now = datetime.now(UTC)
    with pytest.raises(sa.exc.IntegrityError), warehouse.engine.begin() as conn:
        conn.execute(
            sa.insert(t.provider_invoices).values(
                record_id="x" * 32,
                provider=KEY.provider,
                invoice_id=KEY.invoice_id,
                current_key=str(KEY),
                status="Populating",
                is_manual=False,
                created_at=now,
                updated_at=now,
            )
        )


def test_a_crash_marks_the_populating_record_error_for_the_next_sync(warehouse):
    started = warehouse.start_import(KEY, run_id="r1", actor="tester", stuck_after=STUCK_AFTER)
    warehouse.mark_crashed(started, "Import failed unexpectedly (OSError: disk full)", run_id="r1", actor="tester")
    record = warehouse.current_record(KEY)
    assert (record.status, record.message) == ("Error", "Import failed unexpectedly (OSError: disk full)")
