"""Which invoices an automatic sync imports: new, Error, stuck Populating; never Active, running, deactivated
or deleted ones (those only through an explicit sync)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from invoice_pipeline.domain.invoice_keys import InvoiceKey
from invoice_pipeline.domain.lifecycle import record_standing, standing_without_record
from invoice_pipeline.domain.statuses import Status
from invoice_pipeline.importing.eligibility import sync_candidate
from invoice_pipeline.warehouse.invoice_records import HistoryEntry, InvoiceRecord

KEY = InvoiceKey("contoso-csp", "G1")
NOW = datetime(2026, 11, 25, 6, 0, tzinfo=UTC)
STUCK_AFTER = timedelta(minutes=120)


def _candidate(status: str, minutes_ago: int = 0, is_manual: bool = False):
    record = InvoiceRecord(
        record_id="rec1",
        provider=KEY.provider,
        invoice_id=KEY.invoice_id,
        status=Status(status),
        is_manual=is_manual,
        created_at=NOW - timedelta(days=1),
        updated_at=NOW - timedelta(minutes=minutes_ago),
        run_id="r1",
    )
    return sync_candidate(record_standing(record, STUCK_AFTER, NOW))


def _entry(to_status: str, changed_at: datetime, actor: str, reason: str) -> HistoryEntry:
    return HistoryEntry("e1", "rec1", KEY.provider, KEY.invoice_id, changed_at, None, to_status, reason, None, actor)


def _removed(to_status: str):
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
    history = [_entry(**step) for step in steps]
    return sync_candidate(standing_without_record(KEY, history))


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
