"""The daily sync's plan after real imports: provider changes of Active invoices, compared with what the import
stored and the provider's files, recorded once through the warehouse's SQL. Which invoices a plan imports is the
unit tier's (invoice_pipeline_tests/unit/importing/test_sync_plan.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
import sqlalchemy as sa

from invoice_pipeline.composition import connector_for
from invoice_pipeline.domain.invoice_keys import InvoiceKey
from invoice_pipeline.importing.invoice_import import import_provider_invoice
from invoice_pipeline.importing.sync_plan import plan_sync
from invoice_pipeline.warehouse import tables as t
from invoice_pipeline.warehouse.operations_log import OperationsLog
from invoice_pipeline_tests.builders import ADVENTURE_WORKS, license_line, usage_line

# Planning reads records and writes changes and fingerprints through warehouse SQL: run on both engines.
pytestmark = pytest.mark.engine_contract


def _key(invoice_id: str, provider: str = "contoso-csp") -> InvoiceKey:
    return InvoiceKey(provider, invoice_id)


def _import(workspace, warehouse, invoice_id: str):
    return import_provider_invoice(
        workspace.config(), warehouse, _key(invoice_id), connectors=connector_for, actor="test"
    )


def _age(warehouse, invoice_id: str, minutes: int) -> None:
    """Pretend the invoice's record was last updated `minutes` ago."""
    pi = t.provider_invoices
    with warehouse.engine.begin() as conn:
        conn.execute(
            sa.update(pi)
            .where(pi.c.current_key == str(_key(invoice_id)))
            .values(updated_at=datetime.now(UTC) - timedelta(minutes=minutes))
        )


def _plan(workspace, warehouse, **kwargs):
    return plan_sync(
        workspace.config(),
        warehouse,
        connectors=connector_for,
        changes=OperationsLog(warehouse),
        actor="test-sync",
        **kwargs,
    )


def _verdicts(plan) -> dict[str, tuple[bool, str]]:
    return {str(c.key): (c.eligible, c.reason) for c in plan.candidates}


def _change_count(warehouse) -> int:
    with warehouse.engine.connect() as conn:
        return conn.execute(sa.select(sa.func.count()).select_from(t.provider_invoice_changes)).scalar_one()


@pytest.fixture
def imported(workspace, warehouse):
    """G1 Active (46.00 USD), G2 Error, G3 stuck in Populating, G4 Populating (running), G5 never imported."""
    workspace.add_invoice("G1", usage=[usage_line("U1", "10.00")], license=[license_line("L1", "36.00")])
    workspace.add_invoice("G2", usage=[usage_line("U1", customer_id="unknown-tenant")])
    workspace.add_invoice("G3", usage=[usage_line("U1")])
    workspace.add_invoice("G4", usage=[usage_line("U1")])
    workspace.add_invoice("G5", usage=[usage_line("U1")])
    assert _import(workspace, warehouse, "G1").status == "Active"
    assert _import(workspace, warehouse, "G2").status == "Error"
    stuck_after = timedelta(minutes=workspace.config().stuck_populating_after_minutes)
    for invoice_id, run in (("G3", "dead-run"), ("G4", "live-run")):
        warehouse.start_import(_key(invoice_id), run_id=run, actor="test", stuck_after=stuck_after)
    _age(warehouse, "G3", minutes=121)
    _age(warehouse, "G4", minutes=5)
    return workspace


# Provider changes of Active invoices ---------------------------------------------------------------------


def test_a_changed_provider_total_of_an_active_invoice_is_recorded_once_in_history_and_the_invoice_is_untouched(
    imported, warehouse
):
    before = warehouse.current_record(_key("G1"))
    history_before = warehouse.history(_key("G1"))
    imported.add_invoice("G1", total="47.50")  # the provider's header changed after the import

    plan = _plan(imported, warehouse)
    (change,) = plan.new_changes
    assert (change.provider, change.invoice_id, change.currency) == ("contoso-csp", "G1", "USD")
    assert (change.old_total, change.new_total) == (Decimal("46.00"), Decimal("47.50"))
    assert change.record_id == before.record_id and change.notified_at is None
    assert _verdicts(plan)["contoso-csp:G1"] == (False, "already Active")  # not re-imported

    after = warehouse.current_record(_key("G1"))
    assert after == before  # total, status, message, updated_at: all unchanged
    history = warehouse.history(_key("G1"))
    assert history[: len(history_before)] == history_before
    (entry,) = history[len(history_before) :]
    assert (entry.from_status, entry.to_status, entry.actor, entry.run_id) == (
        "Active",
        "Active",
        "test-sync",
        None,
    )
    assert "provider changed the invoice total from 46.00 to 47.50 USD" in entry.reason
    assert "the imported invoice was not changed" in entry.reason
    assert warehouse.line_totals(before.record_id)["usage"][0] == 1  # the published lines stay


def test_the_same_provider_total_seen_again_is_not_a_new_change(imported, warehouse):
    imported.add_invoice("G1", total="47.50")
    assert len(_plan(imported, warehouse).new_changes) == 1
    history = warehouse.history(_key("G1"))
    again = _plan(imported, warehouse)
    assert again.new_changes == []
    assert warehouse.history(_key("G1")) == history
    assert _change_count(warehouse) == 1
    assert len(OperationsLog(warehouse).unnotified_changes()) == 1


def test_a_further_change_of_the_provider_total_is_recorded_again(imported, warehouse):
    imported.add_invoice("G1", total="47.50")
    _plan(imported, warehouse)
    imported.add_invoice("G1", total="48.25")
    (change,) = _plan(imported, warehouse).new_changes
    assert (change.old_total, change.new_total) == (Decimal("46.00"), Decimal("48.25"))
    assert _change_count(warehouse) == 2
    reasons = [h.reason for h in warehouse.history(_key("G1")) if h.reason.startswith("provider changed")]
    assert len(reasons) == 2 and "to 48.25 USD" in reasons[1]
    assert warehouse.current_record(_key("G1")).total_amount == Decimal("46.00")


def test_a_provider_total_equal_to_the_imported_one_in_another_notation_is_no_change(imported, warehouse):
    imported.add_invoice("G1", total="46.0")
    assert _plan(imported, warehouse).new_changes == []
    assert _change_count(warehouse) == 0


def test_total_changes_of_invoices_that_are_not_active_are_not_recorded(imported, warehouse):
    imported.add_invoice("G2", total="999.00")  # Error: it is simply retried
    imported.add_invoice("G4", total="999.00")  # Populating
    plan = _plan(imported, warehouse)
    assert plan.new_changes == []
    assert _change_count(warehouse) == 0
    assert _verdicts(plan)["contoso-csp:G2"] == (True, "retry after Error")


def test_an_unreadable_provider_total_is_no_change(imported, warehouse):
    folder = imported.provider_folder() / "G1"
    (folder / "header.json").write_text("{not json", encoding="utf-8")
    assert _plan(imported, warehouse).new_changes == []


# Line-level provider changes that keep the header total ----------------------------------------------------


def test_the_import_stores_the_fingerprint_of_the_provider_line_files_as_read(imported, warehouse):
    fingerprint = warehouse.current_record(_key("G1")).line_fingerprint
    assert len(fingerprint) == 64
    imported.add_invoice("G1", usage=[usage_line("U1", "10.00")], license=[license_line("L1", "36.00")])
    assert _plan(imported, warehouse).new_changes == []  # the same files written again: no change


@pytest.mark.parametrize(
    "usage, license",
    [
        ([usage_line("U1", "11.00")], [license_line("L1", "35.00")]),  # a line's amount changed
        ([usage_line("U1", "10.00", customer_id=ADVENTURE_WORKS, subscription_id="SUB-AZ-1002")], None),  # moved
    ],
    ids=["amount changed", "line moved to another customer"],
)
def test_a_line_change_keeping_the_header_total_is_recorded_once_in_history_and_the_invoice_is_untouched(
    imported, warehouse, usage, license
):
    before = warehouse.current_record(_key("G1"))
    history_before = warehouse.history(_key("G1"))
    imported.add_invoice("G1", usage=usage, license=license, total="46.00")

    (change,) = _plan(imported, warehouse).new_changes

    assert (change.old_total, change.new_total) == (Decimal("46.00"), Decimal("46.00"))
    assert change.old_line_fingerprint == before.line_fingerprint
    assert change.new_line_fingerprint not in (None, before.line_fingerprint)
    assert warehouse.current_record(_key("G1")) == before
    assert warehouse.line_totals(before.record_id)["usage"][0] == 1
    (entry,) = warehouse.history(_key("G1"))[len(history_before) :]
    assert entry.reason == (
        "provider changed the invoice's lines (total 46.00 USD unchanged); the imported invoice was not changed"
    )
    assert _plan(imported, warehouse).new_changes == []  # seen again: not a new change
    assert _change_count(warehouse) == 1


def test_a_change_of_both_total_and_lines_is_one_change_saying_both(imported, warehouse):
    imported.add_invoice("G1", usage=[usage_line("U1", "11.50")], license=[license_line("L1", "36.00")])
    (change,) = _plan(imported, warehouse).new_changes
    assert change.new_total == Decimal("47.50")
    reason = warehouse.history(_key("G1"))[-1].reason
    assert reason == (
        "provider changed the invoice total from 46.00 to 47.50 USD and its lines; the imported invoice was not changed"
    )


def test_lines_changed_again_are_a_further_change(imported, warehouse):
    imported.add_invoice("G1", usage=[usage_line("U1", "11.00")], license=[license_line("L1", "35.00")], total="46.00")
    _plan(imported, warehouse)
    imported.add_invoice("G1", usage=[usage_line("U1", "12.00")], license=[license_line("L1", "34.00")], total="46.00")
    assert len(_plan(imported, warehouse).new_changes) == 1
    assert _change_count(warehouse) == 2


def test_an_invoice_imported_without_a_line_fingerprint_is_compared_by_its_header_total_only(imported, warehouse):
    pi = t.provider_invoices
    with warehouse.engine.begin() as conn:  # imported before fingerprints existed
        conn.execute(sa.update(pi).where(pi.c.current_key == str(_key("G1"))).values(line_fingerprint=None))
    imported.add_invoice("G1", usage=[usage_line("U1", "11.00")], license=[license_line("L1", "35.00")], total="46.00")
    assert _plan(imported, warehouse).new_changes == []
