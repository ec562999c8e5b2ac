"""The daily sync's plan: which offered invoices are imported (new, Error, stuck), which are not and why, which
providers failed to answer, and what changed at the provider of an Active invoice (recorded once, the invoice
untouched). The engine tier (invoice_pipeline_tests/importing/test_sync_plan.py) plans after real imports."""

from __future__ import annotations

import dataclasses
import json
from datetime import timedelta
from decimal import Decimal

import pytest

from invoice_pipeline.connectors.base import ConnectorError, OfferedInvoice
from invoice_pipeline.domain.invoice_keys import InvoiceKey
from invoice_pipeline.domain.statuses import Status
from invoice_pipeline.importing.sync_plan import SyncPlan, plan_sync
from invoice_pipeline_tests.fakes import (
    FakeConnector,
    FakeConnectors,
    FingerprintingConnector,
    InMemoryWarehouse,
    pipeline_config,
    stored_record,
    utc_now,
)


def _key(invoice_id: str, provider: str = "contoso-csp") -> InvoiceKey:
    return InvoiceKey(provider, invoice_id)


def _plan(config, warehouse, connectors, **kwargs):
    return plan_sync(config, warehouse, connectors=connectors, changes=warehouse, actor="test-sync", **kwargs)


def _verdicts(plan) -> dict[str, tuple[bool, str]]:
    return {str(c.key): (c.eligible, c.reason) for c in plan.candidates}


def _aged(invoice_id: str, status: Status, minutes: int, **values):
    return stored_record(_key(invoice_id), status, updated_at=utc_now() - timedelta(minutes=minutes), **values)


def _active(invoice_id: str = "G1", total: str = "46.00", **values):
    values = {"currency": "USD", "minor_units": 2, "total_amount": Decimal(total)} | values
    return stored_record(_key(invoice_id), Status.ACTIVE, **values)


@pytest.fixture
def warehouse():
    """G1 Active (46.00 USD), G2 Error, G3 stuck in Populating, G4 Populating (running), G5 never imported."""
    warehouse = InMemoryWarehouse()
    warehouse.add(_active())
    warehouse.add(_aged("G2", Status.ERROR, 60))
    warehouse.add(_aged("G3", Status.POPULATING, 121, run_id="dead-run"))
    warehouse.add(_aged("G4", Status.POPULATING, 5, run_id="live-run"))
    return warehouse


OFFERED = {"contoso_csp": ["G1", "G2", "G3", "G4", "G5"]}


# Which invoices are imported --------------------------------------------------------------------------


def test_new_error_and_stuck_populating_invoices_are_eligible_active_and_running_ones_are_not(config, warehouse):
    plan = _plan(config, warehouse, FakeConnectors.offering(**OFFERED))
    assert _verdicts(plan) == {
        "contoso-csp:G1": (False, "already Active"),
        "contoso-csp:G2": (True, "retry after Error"),
        "contoso-csp:G3": (True, "retry after Error"),  # its stop recorded first (see below)
        "contoso-csp:G4": (False, "import running"),
        "contoso-csp:G5": (True, "new invoice"),
    }
    assert [str(k) for k in plan.eligible] == ["contoso-csp:G2", "contoso-csp:G3", "contoso-csp:G5"]
    assert plan.new_changes == [] and plan.provider_errors == []
    stopped = warehouse.current_record(_key("G3"))
    assert stopped.status == "Error"
    assert stopped.message.startswith("Import stopped without finishing (run dead-run): it was still Populating")


def test_the_stuck_threshold_comes_from_stuck_populating_after_minutes(tmp_path, warehouse):
    config = pipeline_config(tmp_path, stuck_populating_after_minutes=3)
    assert _verdicts(_plan(config, warehouse, FakeConnectors.offering(**OFFERED)))["contoso-csp:G4"] == (
        True,
        "retry after Error",
    )


def test_an_inactive_invoice_counts_as_new(config):
    warehouse = InMemoryWarehouse()
    warehouse.add(stored_record(_key("G1"), Status.INACTIVE))
    plan = _plan(config, warehouse, FakeConnectors.offering(contoso_csp=["G1"]))
    assert _verdicts(plan) == {"contoso-csp:G1": (True, "new invoice")}


def test_only_automatic_providers_are_asked_unless_named(config):
    connectors = FakeConnectors.offering(contoso_csp=["G1"], fabrikam_distribution=["FAB-1"])
    assert list(_verdicts(_plan(config, InMemoryWarehouse(), connectors))) == ["contoso-csp:G1"]
    named = _plan(config, InMemoryWarehouse(), connectors, provider_ids=["fabrikam-distribution"])
    assert list(_verdicts(named)) == ["fabrikam-distribution:FAB-1"]
    assert connectors.asked == ["contoso-csp", "fabrikam-distribution"]


def test_a_named_manual_providers_invoices_are_listed_but_never_imported(config):
    connectors = FakeConnectors.offering(fabrikam_distribution=["FAB-1"])
    (candidate,) = _plan(config, InMemoryWarehouse(), connectors, provider_ids=["fabrikam-distribution"]).candidates
    assert not candidate.eligible
    assert candidate.reason.startswith("a manual provider's invoice, never synced automatically")


def test_planning_changes_no_invoice_but_records_an_import_that_stopped_as_error(config, warehouse):
    before = dict(warehouse.stored)
    _plan(config, warehouse, FakeConnectors.offering(**OFFERED))
    after = dict(warehouse.stored)
    stuck = next(r for r in before.values() if r.invoice_id == "G3")
    assert (stuck.status, after.pop(stuck.record_id).status) == ("Populating", "Error")
    del before[stuck.record_id]
    assert after == before


def test_a_provider_that_fails_to_answer_is_named_and_the_others_are_still_planned(tmp_path):
    automatic = [
        {"id": p, "name": p, "sync": "automatic", "connector": "folder", "path": f"providers/{p}"}
        for p in ("contoso-csp", "northwind")
    ]
    (tmp_path / "providers" / "northwind").mkdir(parents=True)
    config = pipeline_config(tmp_path, providers=automatic)
    connectors = FakeConnectors(
        {
            "contoso-csp": FakeConnector(error=ConnectorError("token expired")),
            "northwind": FakeConnector([OfferedInvoice("N1")]),
        }
    )
    plan = _plan(config, InMemoryWarehouse(), connectors)
    assert plan.provider_errors == ["contoso-csp: token expired"]
    assert _verdicts(plan) == {"northwind:N1": (True, "new invoice")}


def test_an_invoice_voided_by_an_active_note_is_not_imported_and_says_which_note(config):
    warehouse = InMemoryWarehouse()
    warehouse.add(_active("G2", document_type="void_note", amends_invoice_id="G1"))
    plan = _plan(config, warehouse, FakeConnectors.offering(contoso_csp=["G1"]))
    assert _verdicts(plan) == {"contoso-csp:G1": (False, "voided by void note G2")}


# Provider changes of Active invoices ---------------------------------------------------------------------


def _offering_total(total: str | None, invoice_id: str = "G1") -> FakeConnectors:
    amount = None if total is None else Decimal(total)
    return FakeConnectors({"contoso-csp": FakeConnector([OfferedInvoice(invoice_id, "USD", amount)])})


def test_a_changed_provider_total_of_an_active_invoice_is_recorded_once_in_history_and_the_invoice_is_untouched(
    config, warehouse
):
    before = warehouse.current_record(_key("G1"))
    plan = _plan(config, warehouse, _offering_total("47.50"))
    (change,) = plan.new_changes
    assert (change.provider, change.invoice_id, change.currency) == ("contoso-csp", "G1", "USD")
    assert (change.old_total, change.new_total) == (Decimal("46.00"), Decimal("47.50"))
    assert change.record_id == before.record_id and change.notified_at is None
    assert warehouse.current_record(_key("G1")) == before
    (entry,) = warehouse.history(_key("G1"))
    assert (entry.from_status, entry.to_status, entry.actor) == ("Active", "Active", "test-sync")
    assert entry.reason == (
        "provider changed the invoice total from 46.00 to 47.50 USD; the imported invoice was not changed"
    )


def test_the_same_provider_total_seen_again_is_not_a_new_change(config, warehouse):
    assert len(_plan(config, warehouse, _offering_total("47.50")).new_changes) == 1
    assert _plan(config, warehouse, _offering_total("47.50")).new_changes == []
    assert len(warehouse.changes) == 1 and len(warehouse.history(_key("G1"))) == 1


def test_a_further_change_of_the_provider_total_is_recorded_again(config, warehouse):
    _plan(config, warehouse, _offering_total("47.50"))
    (change,) = _plan(config, warehouse, _offering_total("48.25")).new_changes
    assert (change.old_total, change.new_total) == (Decimal("46.00"), Decimal("48.25"))


def test_a_provider_total_equal_to_the_imported_one_in_another_notation_is_no_change(config, warehouse):
    assert _plan(config, warehouse, _offering_total("46.0")).new_changes == []


def test_a_provider_that_lists_no_total_is_no_change(config, warehouse):
    assert _plan(config, warehouse, _offering_total(None)).new_changes == []


def test_the_providers_total_is_compared_with_the_imported_total_plus_the_tax_its_lines_carried(config):
    warehouse = InMemoryWarehouse()
    warehouse.add(_active(total="100.00", tax_amount=Decimal("19.00")))
    assert _plan(config, warehouse, _offering_total("119.00")).new_changes == []
    (change,) = _plan(config, warehouse, _offering_total("120.00")).new_changes
    assert change.old_total == Decimal("119.00")


def test_total_changes_of_invoices_that_are_not_active_are_not_recorded(config, warehouse):
    plan = _plan(config, warehouse, _offering_total("999.00", "G2"))
    assert plan.new_changes == [] and warehouse.changes == []


def _fingerprinting(fingerprints: dict[str, str], total: str = "46.00") -> FakeConnectors:
    offered = [OfferedInvoice("G1", "USD", Decimal(total))]
    return FakeConnectors({"contoso-csp": FingerprintingConnector(offered, fingerprints=fingerprints)})


def test_a_line_change_keeping_the_header_total_is_recorded_once(config):
    warehouse = InMemoryWarehouse()
    warehouse.add(_active(line_fingerprint="a" * 64))
    (change,) = _plan(config, warehouse, _fingerprinting({"G1": "b" * 64})).new_changes
    assert (change.old_line_fingerprint, change.new_line_fingerprint) == ("a" * 64, "b" * 64)
    assert warehouse.history(_key("G1"))[-1].reason == (
        "provider changed the invoice's lines (total 46.00 USD unchanged); the imported invoice was not changed"
    )
    assert _plan(config, warehouse, _fingerprinting({"G1": "b" * 64})).new_changes == []


def test_the_same_lines_are_no_change(config):
    warehouse = InMemoryWarehouse()
    warehouse.add(_active(line_fingerprint="a" * 64))
    assert _plan(config, warehouse, _fingerprinting({"G1": "a" * 64})).new_changes == []


def test_a_change_of_both_total_and_lines_is_one_change_saying_both(config):
    warehouse = InMemoryWarehouse()
    warehouse.add(_active(line_fingerprint="a" * 64))
    (change,) = _plan(config, warehouse, _fingerprinting({"G1": "b" * 64}, total="47.50")).new_changes
    assert change.new_total == Decimal("47.50")
    assert warehouse.history(_key("G1"))[-1].reason == (
        "provider changed the invoice total from 46.00 to 47.50 USD and its lines; the imported invoice was not changed"
    )


def test_lines_that_cannot_be_read_now_are_compared_by_the_next_sync(config):
    warehouse = InMemoryWarehouse()
    warehouse.add(_active(line_fingerprint="a" * 64))
    assert _plan(config, warehouse, _fingerprinting({})).new_changes == []


def test_an_invoice_imported_without_a_line_fingerprint_is_compared_by_its_header_total_only(config):
    warehouse = InMemoryWarehouse()
    warehouse.add(_active())
    assert _plan(config, warehouse, _fingerprinting({"G1": "b" * 64})).new_changes == []


# The plan as the Dagster run records it and the command line reads it back --------------------------------


def _recorded_plan(config):
    warehouse = InMemoryWarehouse()
    warehouse.add(_active(line_fingerprint="a" * 64, minor_units=2))
    warehouse.add(_aged("G2", Status.ERROR, 60))
    connectors = FakeConnectors(
        {"contoso-csp": FingerprintingConnector([OfferedInvoice("G1", "USD", Decimal("47.10")), OfferedInvoice("G2")])}
    )
    plan = _plan(config, warehouse, connectors)
    return dataclasses.replace(plan, provider_errors=["northwind: token expired"])


def test_a_plan_read_back_from_its_json_is_the_same_plan(config):
    plan = _recorded_plan(config)
    assert plan.new_changes and plan.candidates
    assert SyncPlan.from_json(json.loads(json.dumps(plan.as_json()))) == plan


def test_a_plans_json_keeps_money_exact_as_decimal_text(config):
    (change,) = _recorded_plan(config).as_json()["provider_changes"]
    assert (change["old_total"], change["new_total"]) == ("46.00", "47.10")


def test_a_plans_offers_are_the_rows_the_ui_shows(config):
    assert _recorded_plan(config).as_json()["offers"] == [
        {"invoice": "contoso-csp:G1", "import": False, "reason": "already Active"},
        {"invoice": "contoso-csp:G2", "import": True, "reason": "retry after Error"},
    ]


def test_the_invoices_left_alone_are_the_skipped_ones_with_why(config):
    plan = _recorded_plan(config)
    assert [(str(c.key), c.reason) for c in plan.skipped] == [("contoso-csp:G1", "already Active")]
    assert [str(k) for k in plan.eligible] == ["contoso-csp:G2"]
