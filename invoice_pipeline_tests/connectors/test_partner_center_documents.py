"""Partner Center as Microsoft documents it: app-only calls, one dataset per charge, tax, void and credit notes.

Each test serves invoices built like Microsoft's documented examples from the fake on loopback and imports them
through the real connector and import; the expected totals are computed by hand in the comments.
"""

from __future__ import annotations

from decimal import Decimal

import pytest

from invoice_pipeline.composition import connector_for
from invoice_pipeline.connectors.base import ConnectorError
from invoice_pipeline.demo.partner_center_fake.invoices import (
    ADVENTURE_WORKS,
    NORTHWIND,
    azure_plan_reconciliation_line,
    daily_rated_line,
    make_invoice,
    one_time_line,
)
from invoice_pipeline.domain.billing_period import BillingPeriod
from invoice_pipeline.domain.invoice_keys import InvoiceKey
from invoice_pipeline.domain.refusals import ImportRefused
from invoice_pipeline.importing.import_results import CHECKSUM_CHECK
from invoice_pipeline.importing.sync_plan import plan_sync
from invoice_pipeline.operations.billing import issue_customer_invoices
from invoice_pipeline.warehouse.operations_log import OperationsLog
from invoice_pipeline_tests.builders import bill_at_cost
from invoice_pipeline_tests.connectors.partner_center_support import (
    billed_by_kind as _billed,
)
from invoice_pipeline_tests.connectors.partner_center_support import (
    import_invoice as _import,
)
from invoice_pipeline_tests.connectors.partner_center_support import (
    serve as _serve,
)
from invoice_pipeline_tests.connectors.partner_center_support import (
    stored_record as _stored,
)
from invoice_pipeline_tests.connectors.partner_center_support import (
    use_partner_center,
)

PROVIDER = "contoso-csp"
pytestmark = pytest.mark.engine_contract  # what is stored and billed, on DuckDB and PostgreSQL


@pytest.fixture
def partner_center(workspace, fake):
    """contoso-csp served by the fake, which serves only the invoices a test gives it."""
    use_partner_center(workspace, fake)
    fake.invoices.clear()
    return fake


def _azure_day(customer: str, subscription: str, day: int, hours: str, price: str = "0.096") -> dict:
    return daily_rated_line(customer, subscription, day, "D2s v5 VM", hours, price)


# 1. Auth -------------------------------------------------------------------------------------------------------


def test_an_import_uses_only_calls_documented_for_app_only_credentials(workspace, partner_center, warehouse):
    # "Get invoice by ID ... supports authentication with App+User credentials only" (get-invoice-by-id): the
    # header comes from the invoice collection, documented for app-only credentials.
    _serve(
        partner_center,
        make_invoice("G210000001", one_time=[one_time_line(NORTHWIND, "SUB-M365-1001", "M365-E3", "new", 5, "36.00")]),
    )

    result = _import(workspace, warehouse, "G210000001")

    assert result.status == "Active", result.message
    assert "/v1/invoices/G210000001" not in partner_center.paths("GET")


# 3. One dataset per charge ----------------------------------------------------------------------------------------


def test_azure_plan_usage_is_counted_once_from_the_daily_rated_usage(workspace, partner_center, warehouse):
    # The reconciliation aggregates Northwind's D2s meter for the month (quantity 1, 48 hours in billableQuantity,
    # subtotal 4.608) and the daily-rated usage details it: 24 h x 0.096 on the 2nd and on the 3rd = 2.304 + 2.304.
    # Microsoft bills it once: totalCharges = 180.00 (5 seats x 36.00) + 4.608 = 184.608 -> 184.61.
    _serve(
        partner_center,
        make_invoice(
            "G210000002",
            one_time=[
                one_time_line(NORTHWIND, "SUB-M365-1001", "M365-E3", "new", 5, "36.00"),
                azure_plan_reconciliation_line(NORTHWIND, "SUB-AZ-1001", "D2s v5 VM", "48", "4.608"),
            ],
            daily_rated=[_azure_day(NORTHWIND, "SUB-AZ-1001", 2, "24"), _azure_day(NORTHWIND, "SUB-AZ-1001", 3, "24")],
        ),
    )

    result = _import(workspace, warehouse, "G210000002")

    assert result.status == "Active", result.message
    stored = _stored(warehouse, "G210000002")
    assert (stored["license_line_count"], stored["usage_line_count"]) == (1, 2)
    assert (stored["license_total"], stored["usage_total"]) == (Decimal("180.00"), Decimal("4.608"))
    # The aggregate is not lost: it stays with the download, for audit.
    aggregates = workspace.root / "data" / "downloads" / PROVIDER / "G210000002" / "reconciliation_consumption.csv"
    assert "D2s v5 VM" in aggregates.read_text()


def test_azure_plan_aggregates_without_daily_rated_usage_fail_the_download_saying_why(
    workspace, partner_center, warehouse
):
    invoice = make_invoice(
        "G210000003",
        one_time=[azure_plan_reconciliation_line(NORTHWIND, "SUB-AZ-1001", "D2s v5 VM", "48", "4.608")],
        total_charges="4.61",
    )
    _serve(partner_center, invoice)

    result = _import(workspace, warehouse, "G210000003")

    assert result.status == "Error"
    assert "1 Azure consumption line(s) of the reconciliation (4.608 USD)" in result.message
    assert "daily-rated usage has no lines" in result.message


# 4. Tax ---------------------------------------------------------------------------------------------------------


def test_a_taxed_invoice_compares_pre_tax_lines_with_the_total_less_their_tax(workspace, partner_center, warehouse):
    # 5 x 36.00 = 180.00 with 18.00 tax; 12 x 22.00 = 264.00 with 26.40 tax: totalCharges 488.40 is the amount due
    # with tax; the lines are pre-tax (444.00) and carry 44.40 of tax: 488.40 - 44.40 = 444.00, difference 0.
    _serve(
        partner_center,
        make_invoice(
            "G210000004",
            one_time=[
                one_time_line(NORTHWIND, "SUB-M365-1001", "M365-E3", "new", 5, "36.00", tax="18.00"),
                one_time_line(ADVENTURE_WORKS, "SUB-M365-1002", "M365-BP", "renew", 12, "22.00", tax="26.40"),
            ],
        ),
    )

    result = _import(workspace, warehouse, "G210000004")

    assert result.status == "Active", result.message
    stored = _stored(warehouse, "G210000004")
    assert (stored["total_amount"], stored["tax_amount"], stored["license_total"]) == (
        Decimal("444.00"),
        Decimal("44.40"),
        Decimal("444.00"),
    )
    checksum = result.checks[CHECKSUM_CHECK]
    assert "tax 44.40 USD" in checksum.description
    assert checksum.metadata["tax"] == "44.40"


# 5. Void and credit notes ----------------------------------------------------------------------------------------


def _original() -> object:
    # Northwind's October Azure usage, wrongly rated: 24 h x 0.20 on the 2nd = 4.80.
    return make_invoice("G220000001", daily_rated=[_azure_day(NORTHWIND, "SUB-AZ-1001", 2, "24", "0.20")])


def _credit_note() -> object:
    # Microsoft's credit-and-rebill: a credit note for the whole original, without any line item.
    return make_invoice("G220000002", total_charges="-4.80", document_type="credit_note", amends_of="G220000001")


def _replacement() -> object:
    # The right rating: 24 h x 0.096 = 2.304.
    return make_invoice("G220000003", daily_rated=[_azure_day(NORTHWIND, "SUB-AZ-1001", 2, "24", "0.096")])


def test_credit_and_rebill_bills_each_charge_once_without_a_manual_step(workspace, partner_center, warehouse):
    _serve(partner_center, _original())
    assert _import(workspace, warehouse, "G220000001").status == "Active"
    bill_at_cost(warehouse)
    issue_customer_invoices(warehouse, actor="test", period=BillingPeriod.parse("2026-10"))
    _serve(partner_center, _credit_note(), _replacement())

    note = _import(workspace, warehouse, "G220000002")
    replacement = _import(workspace, warehouse, "G220000003")
    bill_at_cost(warehouse)

    assert note.status == "Active", note.message
    assert "voids G220000001" in note.message
    original = _stored(warehouse, "G220000001")
    assert original["status"] == "Inactive"
    assert "voided by credit note G220000002" in original["message"]
    assert replacement.status == "Active", replacement.message
    # Billed 4.80 on the issued invoice, credited 4.80, then 2.30 (2.304 at cost, in cents) on a new draft.
    assert _billed(warehouse) == {"invoice": Decimal("7.10"), "credit_note": Decimal("-4.80")}


def test_a_credit_note_imported_before_its_original_keeps_the_original_out_and_unbilled(
    workspace, partner_center, warehouse
):
    _serve(partner_center, _original(), _credit_note(), _replacement())
    assert _import(workspace, warehouse, "G220000002").status == "Active"

    plan = plan_sync(
        workspace.config(), warehouse, connectors=connector_for, changes=OperationsLog(warehouse), actor="test"
    )
    with pytest.raises(ImportRefused, match="G220000001 is voided by credit note G220000002"):
        _import(workspace, warehouse, "G220000001")
    assert _import(workspace, warehouse, "G220000003").status == "Active"
    bill_at_cost(warehouse)

    assert {str(c.key): (c.eligible, c.reason) for c in plan.candidates}["contoso-csp:G220000001"] == (
        False,
        "voided by credit note G220000002",
    )
    assert warehouse.records(InvoiceKey(PROVIDER, "G220000001")) == []  # no record made, none to clean up
    assert _billed(warehouse) == {"invoice": Decimal("2.30")}


def test_a_void_note_nested_in_its_originals_amendments_is_offered_and_voids_it(workspace, partner_center, warehouse):
    original = _original()
    void = make_invoice(
        "G220000004", total_charges="-4.80", document_type="void_note", amends_of="G220000001", nested=True
    )
    _serve(partner_center, original, void)  # the fake lists a nested note in its original's amendments only
    config = workspace.config()
    connector_ids = [i.invoice_id for i in connector_for(config.provider(PROVIDER), config).list_invoices()]
    assert connector_ids == ["G220000001", "G220000004"]

    assert _import(workspace, warehouse, "G220000001").status == "Active"
    assert _import(workspace, warehouse, "G220000004").status == "Active"

    assert _stored(warehouse, "G220000001")["status"] == "Inactive"
    assert _stored(warehouse, "G220000004")["document_type"] == "void_note"
    assert _stored(warehouse, "G220000004")["amends_invoice_id"] == "G220000001"


# The billing period ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("listed", "period"),
    [(False, ("2026-10-02", "2026-10-31")), (True, ("2026-10-01", "2026-10-31"))],
    ids=["collection_without_period", "collection_with_period"],
)
def test_the_billing_period_is_the_collections_or_else_the_span_of_the_lines_charges(
    workspace, partner_center, warehouse, listed, period
):
    # Microsoft's collection example carries no billingPeriodStartDate/EndDate (only Get invoice by ID, App+User
    # only, does): the period is then the lines' charges, here 2 to 31 October.
    line = one_time_line(NORTHWIND, "SUB-M365-1001", "M365-E3", "new", 5, "36.00")
    line["chargeStartDate"] = "2026-10-01T22:00:00-02:00"  # 2 October in UTC
    partner_center.faults.collection_billing_periods = listed
    _serve(partner_center, make_invoice("G210000005", one_time=[line]))

    assert _import(workspace, warehouse, "G210000005").status == "Active"

    stored = _stored(warehouse, "G210000005")
    assert (str(stored["billing_period_start"]), str(stored["billing_period_end"])) == period


# Robustness -----------------------------------------------------------------------------------------------------


def test_a_collection_that_ignores_the_offset_is_refused_instead_of_read_forever(workspace, partner_center):
    # Microsoft: "For all modern commercial purchases, pagesize & offset will be ignored".
    invoices = [
        make_invoice(f"G23000000{n}", one_time=[one_time_line(NORTHWIND, "S", "P", "new", 1, "1")]) for n in (1, 2, 3)
    ]
    _serve(partner_center, *invoices)
    partner_center.faults.invoice_next_links, partner_center.faults.offsets_ignored = False, True
    use_partner_center(workspace, partner_center, invoice_page_size=2)
    config = workspace.config()

    with pytest.raises(ConnectorError, match="answered the same page for offset 2 as for offset 0"):
        connector_for(config.provider(PROVIDER), config).list_invoices()


def test_a_credit_note_listing_line_items_that_do_not_come_is_not_taken_for_a_void(
    workspace, partner_center, warehouse
):
    note = make_invoice(
        "G230000004",
        one_time=[one_time_line(NORTHWIND, "SUB-M365-1001", "M365-E3", "cancel", 5, "-36.00")],
        document_type="credit_note",
        amends_of="G220000001",
    )
    note.one_time = []  # listed in invoiceDetails, absent from every dataset
    note.v2_datasets = set()
    _serve(partner_center, _original(), note)
    assert _import(workspace, warehouse, "G220000001").status == "Active"

    result = _import(workspace, warehouse, "G230000004")

    assert result.status == "Error"
    assert "credit note G230000004 lists line items (invoiceDetails) but Partner Center returned none" in result.message
    assert _stored(warehouse, "G220000001")["status"] == "Active"


def test_the_daily_change_check_compares_a_taxed_invoice_with_the_amount_due_it_imported(
    workspace, partner_center, warehouse
):
    # Imported 444.00 before tax with 44.40 tax: Partner Center's totalCharges stays 488.40, which is no change;
    # 500.00 later is one, from 488.40.
    _serve(
        partner_center,
        make_invoice(
            "G210000006",
            one_time=[
                one_time_line(NORTHWIND, "SUB-M365-1001", "M365-E3", "new", 5, "36.00", tax="18.00"),
                one_time_line(ADVENTURE_WORKS, "SUB-M365-1002", "M365-BP", "renew", 12, "22.00", tax="26.40"),
            ],
        ),
    )
    assert _import(workspace, warehouse, "G210000006").status == "Active"

    assert (
        plan_sync(
            workspace.config(), warehouse, connectors=connector_for, changes=OperationsLog(warehouse), actor="test"
        ).new_changes
        == []
    )

    partner_center.invoices["G210000006"].invoice["totalCharges"] = Decimal("500.00")
    changes = plan_sync(
        workspace.config(), warehouse, connectors=connector_for, changes=OperationsLog(warehouse), actor="test"
    ).new_changes
    assert [(c.old_total, c.new_total) for c in changes] == [(Decimal("488.40"), Decimal("500.00"))]


def test_a_credit_note_voiding_an_invoice_partner_center_does_not_list_is_refused(workspace, partner_center, warehouse):
    _serve(
        partner_center,
        make_invoice("G230000005", total_charges="-4.80", document_type="credit_note", amends_of="G299999999"),
    )

    result = _import(workspace, warehouse, "G230000005")

    assert result.status == "Error"
    assert "credit note G230000005 voids G299999999, which Partner Center's invoice collection does not list" in (
        result.message
    )
