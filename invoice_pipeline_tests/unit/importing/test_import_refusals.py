"""When an import must not start, decided before anything is written: the lifecycle (Active, running, a manual
provider's invoice), a note that voids the invoice, or a provider that does not offer it (a typo must not leave an
Error record behind). A refusal changes nothing."""

from __future__ import annotations

from datetime import timedelta

import pytest

from invoice_pipeline.connectors.base import ConnectorError
from invoice_pipeline.domain.invoice_keys import InvoiceKey
from invoice_pipeline.domain.refusals import ImportRefused
from invoice_pipeline.domain.statuses import Status
from invoice_pipeline.importing.import_refusals import refuse_import
from invoice_pipeline_tests.fakes import (
    FakeConnector,
    FakeConnectors,
    InMemoryWarehouse,
    stored_record,
    utc_now,
)

KEY = InvoiceKey("contoso-csp", "G1")
MANUAL = InvoiceKey("fabrikam-distribution", "FAB-1")


def _refusal(config, warehouse, key=KEY, connectors=None) -> str:
    before = (dict(warehouse.stored), list(warehouse.entries))
    with pytest.raises(ImportRefused) as refused:
        refuse_import(config, warehouse, key, connectors=connectors or FakeConnectors.offering(contoso_csp=["G1"]))
    assert (warehouse.stored, warehouse.entries) == before  # a refusal changes nothing
    return str(refused.value)


def _with(status: Status, key=KEY, minutes_ago: int = 0, **values) -> InMemoryWarehouse:
    warehouse = InMemoryWarehouse()
    warehouse.add(stored_record(key, status, updated_at=utc_now() - timedelta(minutes=minutes_ago), **values))
    return warehouse


def test_an_active_invoice_is_refused_saying_to_deactivate_it_first(config):
    assert _refusal(config, _with(Status.ACTIVE)) == (
        "invoice contoso-csp:G1 is Active and cannot be downloaded again; deactivate it (recommended) "
        "or delete it first, then sync it"
    )


def test_an_invoice_being_imported_is_refused_naming_the_run(config):
    refusal = _refusal(config, _with(Status.POPULATING, run_id="run-7"))
    assert refusal.startswith("invoice contoso-csp:G1 is being imported by run run-7 since ")


def test_a_manual_providers_invoice_is_refused_saying_to_create_and_activate_it(config):
    refusal = _refusal(config, InMemoryWarehouse(), MANUAL)
    assert refusal.startswith("fabrikam-distribution:FAB-1 is a manual provider's invoice: it becomes Active only")


def test_a_manual_invoice_waiting_for_activation_is_refused_as_a_manual_providers_invoice(config):
    warehouse = _with(Status.POPULATING, MANUAL, is_manual=True)
    assert "becomes Active only through activation" in _refusal(config, warehouse, MANUAL)


def test_an_invoice_voided_by_an_active_credit_note_is_refused_naming_the_note(config):
    warehouse = InMemoryWarehouse()
    note = InvoiceKey("contoso-csp", "G2")
    warehouse.add(stored_record(note, Status.ACTIVE, document_type="credit_note", amends_invoice_id="G1"))
    assert _refusal(config, warehouse) == (
        "contoso-csp:G1 is voided by credit note G2 (Active here): its charges are not billable, so it is not "
        "imported; the replacement invoice carries the right charges"
    )


def test_a_void_note_with_lines_of_its_own_voids_nothing(config):
    warehouse = InMemoryWarehouse()
    note = InvoiceKey("contoso-csp", "G2")
    values = {"document_type": "void_note", "amends_invoice_id": "G1", "usage_line_count": 3}
    warehouse.add(stored_record(note, Status.ACTIVE, **values))
    refuse_import(config, warehouse, KEY, connectors=FakeConnectors.offering(contoso_csp=["G1"]))


def test_an_error_invoice_may_be_imported_again_without_asking_the_provider(config):
    connectors = FakeConnectors.offering(contoso_csp=[])
    refuse_import(config, _with(Status.ERROR), KEY, connectors=connectors)
    assert connectors.asked == []


def test_a_stuck_import_may_be_taken_over(config):
    warehouse = _with(Status.POPULATING, minutes_ago=10_000)
    refuse_import(config, warehouse, KEY, connectors=FakeConnectors.offering(contoso_csp=[]))


def test_a_new_invoice_the_provider_offers_may_be_imported(config):
    connectors = FakeConnectors.offering(contoso_csp=["G0", "G1"])
    refuse_import(config, InMemoryWarehouse(), KEY, connectors=connectors)
    assert connectors.asked == ["contoso-csp"]


def test_a_new_invoice_the_provider_does_not_offer_is_refused_naming_what_it_offers(config):
    connectors = FakeConnectors.offering(contoso_csp=["G2", "G3"])
    assert _refusal(config, InMemoryWarehouse(), connectors=connectors) == (
        "contoso-csp does not offer invoice 'G1'; it offers G2, G3 "
        "(list them with `invoice-pipeline providers invoices contoso-csp`)"
    )


def test_a_refusal_names_the_first_ten_invoices_offered_and_counts_the_others(config):
    connectors = FakeConnectors.offering(contoso_csp=[f"G{n:02}" for n in range(2, 15)])
    refusal = _refusal(config, InMemoryWarehouse(), connectors=connectors)
    assert "it offers G02, G03, G04, G05, G06, G07, G08, G09, G10, G11 and 3 more (list them" in refusal


def test_a_provider_offering_nothing_is_said_to_offer_none_now(config):
    refusal = _refusal(config, InMemoryWarehouse(), connectors=FakeConnectors.offering(contoso_csp=[]))
    assert "it offers none now" in refusal


def test_a_provider_that_cannot_list_its_invoices_refuses_a_new_one_saying_retry(config):
    connectors = FakeConnectors({"contoso-csp": FakeConnector(error=ConnectorError("folder is not readable"))})
    assert _refusal(config, InMemoryWarehouse(), connectors=connectors) == (
        "contoso-csp could not list its invoices (folder is not readable); nothing changed, retry"
    )


@pytest.mark.parametrize("removal", ["Inactive", "Deleted"])
def test_a_deactivated_or_deleted_invoice_may_be_imported_again_when_the_provider_offers_it(config, removal):
    warehouse = InMemoryWarehouse()
    gone = stored_record(KEY, Status.INACTIVE)
    warehouse.add(gone, history=(("Active", removal, "re-issued", "cli:alice"),))
    del warehouse.stored[gone.record_id]  # no current record: its history tells
    refuse_import(config, warehouse, KEY, connectors=FakeConnectors.offering(contoso_csp=["G1"]))
