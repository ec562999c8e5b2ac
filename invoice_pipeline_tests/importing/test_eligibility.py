"""Which invoices an automatic sync imports: new, Error, stuck Populating; never Active or running ones."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from invoice_pipeline.domain.invoice_keys import InvoiceKey
from invoice_pipeline.importing.eligibility import sync_candidate
from invoice_pipeline.warehouse.warehouse import InvoiceRecord

KEY = InvoiceKey("contoso-csp", "G1")
NOW = datetime(2026, 11, 25, 6, 0, tzinfo=UTC)
STUCK_AFTER = timedelta(minutes=120)


def _record(status: str, minutes_ago: int = 0, is_manual: bool = False) -> InvoiceRecord:
    return InvoiceRecord({"status": status, "updated_at": NOW - timedelta(minutes=minutes_ago), "is_manual": is_manual})


def test_a_new_invoice_is_imported():
    assert sync_candidate(KEY, None, STUCK_AFTER, NOW).eligible


def test_an_error_invoice_is_retried():
    candidate = sync_candidate(KEY, _record("Error"), STUCK_AFTER, NOW)
    assert (candidate.eligible, candidate.reason) == (True, "retry after Error")


def test_a_populating_invoice_is_left_alone_until_it_counts_as_stuck():
    assert not sync_candidate(KEY, _record("Populating", 119), STUCK_AFTER, NOW).eligible
    assert sync_candidate(KEY, _record("Populating", 120), STUCK_AFTER, NOW).eligible


def test_an_active_invoice_is_never_reimported():
    candidate = sync_candidate(KEY, _record("Active", 10_000), STUCK_AFTER, NOW)
    assert (candidate.eligible, candidate.reason) == (False, "already Active")


def test_a_manual_invoice_waiting_for_activation_is_not_synced():
    assert not sync_candidate(KEY, _record("Populating", 10_000, is_manual=True), STUCK_AFTER, NOW).eligible
