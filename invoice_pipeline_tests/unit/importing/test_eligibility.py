"""Which invoices an automatic sync imports: new, Error, stuck Populating; never Active, running, deactivated
or deleted ones (those only through an explicit sync). Where an invoice stands is read from the warehouse: its
current record, else its history."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from invoice_pipeline.domain.invoice_keys import InvoiceKey
from invoice_pipeline.domain.lifecycle import Stage, record_standing, standing_without_record
from invoice_pipeline.domain.statuses import Status
from invoice_pipeline.importing.eligibility import invoice_standing, standing_of, sync_candidate
from invoice_pipeline_tests.fakes import InMemoryWarehouse, history_entry, stored_record

KEY = InvoiceKey("contoso-csp", "G1")
NOW = datetime(2026, 11, 25, 6, 0, tzinfo=UTC)
STUCK_AFTER = timedelta(minutes=120)


def _record(status: str, minutes_ago: int = 0, is_manual: bool = False):
    return stored_record(
        KEY,
        Status(status),
        record_id="rec1",
        is_manual=is_manual,
        created_at=NOW - timedelta(days=1),
        updated_at=NOW - timedelta(minutes=minutes_ago),
        run_id="r1",
    )


def _candidate(status: str, minutes_ago: int = 0, is_manual: bool = False):
    return sync_candidate(record_standing(_record(status, minutes_ago, is_manual), STUCK_AFTER, NOW))


def _entry(to_status: str, changed_at: datetime, actor: str, reason: str):
    return history_entry(_record("Active"), None, to_status, reason, actor=actor, at=changed_at)


def _removed_history(to_status: str):
    imported = {"changed_at": NOW - timedelta(days=3), "actor": "dagster run r1", "reason": "Imported"}
    steps = [
        {**imported, "to_status": "Populating"},
        {**imported, "to_status": "Active"},
        {
            "to_status": to_status,
            "changed_at": datetime(2026, 11, 24, 9, 30, tzinfo=UTC),
            "actor": "cli:alice",
            "reason": "re-issued",
        },
    ]
    return [_entry(**step) for step in steps]


def _removed(to_status: str):
    return sync_candidate(standing_without_record(KEY, _removed_history(to_status)))


def test_a_new_invoice_is_imported():
    assert sync_candidate(standing_without_record(KEY, [])).eligible


def test_an_error_invoice_is_retried():
    candidate = _candidate("Error")
    assert (candidate.eligible, candidate.reason) == (True, "retry after Error")


def test_a_populating_invoice_is_left_alone_until_it_counts_as_stuck():
    assert not _candidate("Populating", 119).eligible
    assert _candidate("Populating", 120).eligible


def test_an_active_invoice_is_never_reimported():
    candidate = _candidate("Active", 10_000)
    assert (candidate.eligible, candidate.reason) == (False, "already Active")


def test_a_manual_invoice_waiting_for_activation_is_not_synced():
    assert not _candidate("Populating", 10_000, is_manual=True).eligible


def test_a_deactivated_invoice_is_skipped_saying_who_when_and_how_to_import_it_again():
    candidate = _removed("Inactive")
    assert (candidate.eligible, candidate.reason) == (
        False,
        "deactivated by cli:alice on 2026-11-24; sync it explicitly with "
        "`invoice-pipeline sync --invoice contoso-csp:G1` to import it again",
    )


def test_a_deleted_invoice_is_skipped_too():
    candidate = _removed("Deleted")
    assert not candidate.eligible
    assert candidate.reason.startswith("deleted by cli:alice on 2026-11-24; sync it explicitly with")


def test_the_last_removal_says_who_and_why():
    standing = standing_without_record(KEY, [_entry(to_status="Deleted", changed_at=NOW, actor="a", reason="dup")])
    assert (standing.by, standing.why) == ("a", "dup")


def test_an_invoice_of_a_manual_provider_is_never_synced_automatically():
    candidate = sync_candidate(standing_without_record(KEY, []), manual_provider=True)
    assert not candidate.eligible


# Where an invoice stands, read from the warehouse ------------------------------------------------------------


def test_an_invoice_the_warehouse_never_saw_stands_never_imported():
    assert invoice_standing(InMemoryWarehouse(), KEY, STUCK_AFTER).stage == Stage.NEVER_IMPORTED


@pytest.mark.parametrize(
    "status, stage",
    [("Active", Stage.ACTIVE), ("Error", Stage.ERROR), ("Populating", Stage.IMPORTING)],
    ids=["active", "error", "populating"],
)
def test_an_invoice_with_a_current_record_stands_where_its_record_does(status, stage):
    warehouse = InMemoryWarehouse()
    warehouse.add(_record(status, minutes_ago=1))
    assert standing_of(warehouse, KEY, warehouse.current_record(KEY), STUCK_AFTER, NOW).stage == stage


@pytest.mark.parametrize("to_status, stage", [("Inactive", Stage.DEACTIVATED), ("Deleted", Stage.DELETED)])
def test_an_invoice_without_a_current_record_stands_where_its_history_left_it(to_status, stage):
    warehouse = InMemoryWarehouse()
    warehouse.entries.extend(_removed_history(to_status))
    standing = invoice_standing(warehouse, KEY, STUCK_AFTER)
    assert (standing.stage, standing.by) == (stage, "cli:alice")


def test_without_a_stuck_threshold_an_old_populating_import_counts_as_running():
    warehouse = InMemoryWarehouse()
    warehouse.add(_record("Populating", minutes_ago=10_000))
    assert invoice_standing(warehouse, KEY, None).stage == Stage.IMPORTING


def test_with_a_stuck_threshold_an_old_populating_import_counts_as_stuck():
    warehouse = InMemoryWarehouse()
    warehouse.add(_record("Populating", minutes_ago=10_000))
    assert invoice_standing(warehouse, KEY, STUCK_AFTER).stage == Stage.STUCK
