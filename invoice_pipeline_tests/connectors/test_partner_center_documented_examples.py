"""Microsoft's documented Partner Center examples, served by the fake and imported through the real connector.

The examples and the invoices derived from them are in invoice_pipeline/demo/partner_center_fake/documented_examples.py
(each with its source page and what was changed). Every expected figure is computed by hand in the comment next to
it. Tests that check what is stored run on DuckDB and PostgreSQL (engine_contract); the first test reads only what
the fake answers.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from invoice_pipeline.connectors.base import BY_HAND, ConnectorContext
from invoice_pipeline.connectors.partner_center.client import PARTNER_CENTER_SCOPE
from invoice_pipeline.connectors.partner_center.connector import PartnerCenterConnector
from invoice_pipeline.demo.partner_center_fake.documented_examples import (
    COLLECTION_ITEMS,
    DAILY_RATED_ITEMS,
    THROTTLED_BODY,
    derived_azure_plan_invoice,
    derived_credit_and_rebill,
    derived_licence_invoice,
    derived_taxed_invoice,
    documented_collection,
    documented_daily_rated_invoice,
    documented_invoice_by_id,
    documented_legacy_azure_invoice,
    documented_throttling,
)
from invoice_pipeline.domain.billing_period import BillingPeriod
from invoice_pipeline.importing.import_results import CHECKSUM_CHECK, SCHEMA_CHECK
from invoice_pipeline.operations.billing import issue_customer_invoices
from invoice_pipeline.warehouse import tables as t
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

# The documented customers, subscriptions and products the examples need, added to the workspace's reference CSVs.
# Customer ids as the pipeline keys them: the lower-case GUID (the examples send upper case, or `org:` + upper case).
WINDOWS_LINUX_CUSTOMER = "9e9b71ba-3442-458b-b519-e1ccf72fbb54"  # example 3's "600 TEST"; ORG_CUSTOMER_ID's GUID
OFFICE_CUSTOMER = "74221236-d09c-4870-ac1d-33e155e9aebe"  # example 1's TSTAGIN1CUST190
PROVIDER_ACCOUNTS = [
    (WINDOWS_LINUX_CUSTOMER, "ACC-2001", "600 TEST"),
    (OFFICE_CUSTOMER, "ACC-2002", "TSTAGIN1CUST190"),
    ("c139c4bf-2e8b-4ab5-8bed-d9f50dcca7a2", "ACC-2003", "Test_Test_Office R2 Reduce Seats Validation"),  # example 4
    ("835a59a7-3172-47b5-bdef-d9cc65f4d0e4", "ACC-2004", "TEST_TEST Test Promotions 01"),  # example 4
]
SUBSCRIPTIONS = [  # (subscription_id, account_id, billing_contract_id, product_id), ids as the lines send them
    ("12345678-9d62-4a85-8fd0-91a87c261bc4", "ACC-2001", "BC-3001", "AZURE-PLAN"),  # daily-rated "Subscription 10"
    ("1F58ACD7-FE51-4705-9567-D009C9ADA150", "ACC-2002", "BC-3002", "2F707C7C-2433-49A5-A437-9CA7CF40D3EB"),
    ("D8A8F773-9D3E-4244-8797-3182075F09FA", "ACC-2002", "BC-3002", "69C67983-CF78-4102-83F6-3E5FD246864F"),
    ("86646af9-e80a-4aa0-da80-3fd2b792c2cc", "ACC-2003", "BC-3003", "CFQ7TTC0LH0R"),  # Phone System
    ("12345678-9cf0-4a1f-9514-7fcc7fe9d1fe", "ACC-2003", "BC-3003", "DZH318Z0BXWC"),  # WAF-as-a-Service
    ("9d7d1f3d-c8de-461c-db6d-91debd5129f0", "ACC-2004", "BC-3004", "CFQ7TTC0HL8W"),  # Power BI Premium Per User
]
PRODUCTS = [
    ("2F707C7C-2433-49A5-A437-9CA7CF40D3EB", "EXCHANGE ONLINE (PLAN 2)"),
    ("69C67983-CF78-4102-83F6-3E5FD246864F", "SHAREPOINT ONLINE (PLAN 2)"),
    ("CFQ7TTC0LH0R", "Microsoft 365 Phone System - Virtual User"),
    ("CFQ7TTC0HL8W", "Power BI Premium Per User"),
    ("DZH318Z0BXWC", "Test WAF-as-a-Service"),
]


def _add_reference_data(workspace) -> None:
    reference = workspace.root / "reference"
    rows: dict[str, Sequence[tuple[str, ...]]] = {
        "provider_accounts": [(PROVIDER, *account) for account in PROVIDER_ACCOUNTS],
        "subscriptions": [(PROVIDER, *subscription) for subscription in SUBSCRIPTIONS],
        "products": PRODUCTS,
        "currencies": [("CHF", "2")],  # the collection example's G000024130 and G000024131 are in CHF
    }
    for name, added in rows.items():
        with (reference / f"{name}.csv").open("a", newline="", encoding="utf-8") as handle:
            csv.writer(handle, lineterminator="\n").writerows(added)


@pytest.fixture
def partner_center(workspace, fake):
    """contoso-csp served by the fake, which serves only the invoices a test gives it; the examples' references."""
    use_partner_center(workspace, fake)
    fake.invoices.clear()
    _add_reference_data(workspace)
    return fake


def _stored_lines(warehouse, invoice_id: str, kind: str) -> list[dict[str, Any]]:
    lines = t.LINE_SUMMARY_TABLES[kind]
    record_id = _stored(warehouse, invoice_id)["record_id"]
    with warehouse.engine.connect() as conn:
        query = sa.select(lines).where(lines.c.record_id == record_id).order_by(lines.c.line_id)
        return [dict(row) for row in conn.execute(query).mappings()]


def _as_text(value: Any) -> Any:
    """A documented value as the connector reads the fake's JSON: numbers as their exact text."""
    return json.loads(json.dumps(value, default=str), parse_int=str, parse_float=str)


# What the fake serves ------------------------------------------------------------------------------------------


def test_the_fake_serves_microsofts_examples_as_documented(workspace, partner_center):
    _serve(partner_center, *documented_collection(), documented_daily_rated_invoice())
    provider = workspace.config().provider(PROVIDER)
    context = ConnectorContext(provider.id, provider.line_file_limits, workspace.root / "downloads")
    connector = PartnerCenterConnector(provider.settings.partner_center, context)

    # The collection example's two items, field for field (the fake adds only its envelope and paging).
    with connector.client() as client:
        page = client.get_json(client.api_url("/invoices?size=2&offset=0"), scope=PARTNER_CENTER_SCOPE)
    assert page["items"] == _as_text(COLLECTION_ITEMS)
    # Offered: both items and the adjustment note nested in G000024130's amendments, with their totals as documented.
    assert [(i.invoice_id, i.currency, i.total_amount) for i in connector.list_invoices()] == [
        ("D02005YFHI", "GBP", Decimal("24606.35")),
        ("G000024130", "CHF", Decimal("586366")),
        ("G000024131", "CHF", Decimal("107661.12")),
        ("T000001234", "USD", Decimal("0.98")),
    ]
    # The daily-rated example's lines, through the export as the connector downloads them: 15 decimal places kept as
    # sent, the empty customerId left empty (the line schema refuses it by name).
    files = connector.fetch_invoice("T000001234")
    with files.line_files["usage"].open(encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert [row["amount"] for row in rows] == ["0.486031696515249", "0.490235765325545"]
    assert [row["amount"] for row in rows] == [str(item["billingPreTaxTotal"]) for item in DAILY_RATED_ITEMS]
    assert {(row["customer_id"], row["provider_customer_id"]) for row in rows} == {("", "")}
    # api-throttling-guidance's 429: the status, `Retry-After: 57` and the body, as documented.
    documented_throttling(partner_center.faults, 1)
    throttled = httpx.get(f"{partner_center.base_url}/v1/invoices")
    assert (throttled.status_code, throttled.headers["Retry-After"], throttled.json()) == (429, "57", THROTTLED_BODY)


# As documented -------------------------------------------------------------------------------------------------


@pytest.mark.engine_contract
def test_each_document_of_the_collection_example_is_an_error_its_own_figures_explain(
    workspace, partner_center, warehouse
):
    documented_throttling(partner_center.faults, 3)  # the first listing's first three asks: 429, Retry-After 57
    _serve(partner_center, *documented_collection())

    results = {invoice_id: _import(workspace, warehouse, invoice_id) for invoice_id in partner_center.invoices}

    assert partner_center.faults.throttled == 0
    # D02005YFHI: totalCharges 24606.35 GBP less tax 0.0 + 0.0 = 24606.35; its Office lines (example 1) 0.0 + 0.0 =
    # 0.00: difference 24606.35 - 0.00 = 24,606.35 GBP; and both lines are in USD, the header in GBP.
    # G000024130: a void note naming no invoice it amends. G000024131: an adjustment note of 107661.12 CHF without a
    # documented line: difference 107661.12 - 0.00 = 107,661.12 CHF.
    assert {invoice_id: r.message for invoice_id, r in results.items()} == {
        "D02005YFHI": "Unresolved references: currency mismatch 'USD' (2 lines); see the Missing References note | "
        "Checksum failed: header 24,606.35 GBP; usage 0.00 + license 0.00 = 0.00; difference 24,606.35 GBP",
        "G000024130": "void note G000024130 (586366.00 CHF) has no line items and names no invoice it amends "
        "(amendsOf), so nothing says which charges it withdraws; ask the provider which invoice it voids; " + BY_HAND,
        "G000024131": "Checksum failed: header 107,661.12 CHF; usage 0.00 + license 0.00 = 0.00; difference "
        "107,661.12 CHF",
    }
    stored = {invoice_id: _stored(warehouse, invoice_id) for invoice_id in results}
    assert {invoice_id: s["status"] for invoice_id, s in stored.items()} == dict.fromkeys(results, "Error")
    assert stored["D02005YFHI"]["difference"] == Decimal("24606.35")
    assert stored["G000024131"]["difference"] == Decimal("107661.12")
    assert stored["G000024131"]["amends_invoice_id"] == "G000024130"
    # No billing period in the collection: D02005YFHI's is its lines' charges, 2017-05-12 (the earlier start) to
    # 2017-06-09; a document without lines takes its invoice date (G000024131: 2018-02-08T18:44:37.5381456Z).
    assert [str(stored["D02005YFHI"][f"billing_period_{end}"]) for end in ("start", "end")] == [
        "2017-05-12",
        "2017-06-09",
    ]
    assert [str(stored["G000024131"][f"billing_period_{end}"]) for end in ("start", "end")] == [
        "2018-02-08",
        "2018-02-08",
    ]


@pytest.mark.engine_contract
@pytest.mark.parametrize("with_period", [True, False], ids=["body-as-documented", "period-left-out-of-the-collection"])
def test_the_invoice_by_id_example_with_its_one_time_lines_is_an_error_463_63_apart(
    workspace, partner_center, warehouse, with_period
):
    # As documented, the body carries a billing period; the fake's collection leaves it out unless told (as
    # Microsoft's collection example has none), and the connector then takes the span of the lines' charges.
    partner_center.faults.collection_billing_periods = with_period
    _serve(partner_center, documented_invoice_by_id())

    result = _import(workspace, warehouse, "G000024135")

    # Tax: taxTotal "0" + "73" + 0 = 73; the header's total before tax: totalCharges 2076.63 - 73 = 2003.63.
    # Lines: item 3 has a meterDescription but also a reservationOrderId, so it is no consumption aggregate: three
    # licence lines, subtotals 0 + 720 + 820 = 1540.00; no usage. Difference: 2003.63 - 1540.00 = 463.63.
    assert result.status == "Error"
    checksum = result.checks[CHECKSUM_CHECK].metadata
    assert (checksum["header_total"], checksum["usage_total"], checksum["license_total"]) == (
        "2003.63",
        "0.00",
        "1540.00",
    )
    assert (checksum["difference"], checksum["tax"]) == ("463.63", "73.00")
    assert "difference 463.63 USD (before tax: the provider's total 2076.63 USD less tax 73.00 USD" in result.message
    stored = _stored(warehouse, "G000024135")
    assert (stored["status"], stored["total_amount"], stored["tax_amount"]) == (
        "Error",
        Decimal("2003.63"),
        Decimal(73),
    )
    assert (stored["usage_total"], stored["license_total"], stored["difference"]) == (
        Decimal(0),
        Decimal(1540),
        Decimal("463.63"),
    )
    period = [str(stored["billing_period_start"]), str(stored["billing_period_end"])]
    if with_period:
        # 2018-02-01T22:40:37.5897767Z to 2018-02-28T22:40:37.5897767Z: 2018-02-01 to 2018-02-28; an Error after
        # 2018-02-28 + 31 days = 2018-03-31. The charges start 2021-05-20, 2021-05-20 and 2019-02-04
        # (2019-02-04T09:22:40.1767993-08:00 is 17:22 UTC that day): all 3 lines beyond.
        assert period == ["2018-02-01", "2018-02-28"]
        assert result.message.startswith(
            "Lines out of period: 3 lines charged more than 31 days after the billing period 2018-02-01 to "
            "2018-02-28 (latest charge start 2021-05-20)"
        )
    else:
        # The charges: 2019-02-04 (item 3, the earliest start) to 2021-06-19 (items 1 and 2, the latest end).
        assert period == ["2019-02-04", "2021-06-19"]
        assert "out of period" not in result.message


@pytest.mark.engine_contract
def test_the_daily_rated_example_without_a_customer_is_refused_naming_the_column(workspace, partner_center, warehouse):
    _serve(partner_center, documented_daily_rated_invoice())

    result = _import(workspace, warehouse, "T000001234")

    # Both documented lines have customerId "": the line schema refuses customer_id on 2 lines (no reference lookup).
    assert result.status == "Error"
    assert "customer_id" in result.message
    assert not result.checks[SCHEMA_CHECK].passed
    assert result.checks[SCHEMA_CHECK].metadata["failing_rows"] == 2
    assert _stored(warehouse, "T000001234")["status"] == "Error"


@pytest.mark.engine_contract
def test_the_legacy_azure_line_kinds_of_examples_2_and_3_are_refused_before_any_line_is_read(
    workspace, partner_center, warehouse
):
    _serve(partner_center, documented_legacy_azure_invoice())

    result = _import(workspace, warehouse, "1234000000")

    assert result.status == "Error"
    assert result.message == (
        "invoice 1234000000 holds line items this connector does not read (azure billing_line_items, azure "
        "usage_line_items); " + BY_HAND
    )
    assert not [path for path in partner_center.paths("GET") if "/lineitems" in path]
    assert _stored(warehouse, "1234000000")["status"] == "Error"


# Derived -------------------------------------------------------------------------------------------------------


@pytest.mark.engine_contract
def test_licence_lines_with_upper_case_ids_resolve_to_their_account(workspace, partner_center, warehouse):
    _serve(partner_center, derived_licence_invoice())

    result = _import(workspace, warehouse, "D02005YFHI")

    # Example 1: 3 seats x 0.0 + 1 seat x 0.0 = 0.00, tax 0.0 + 0.0 = 0.00; totalCharges 0.00 - 0.00 = 0.00.
    assert result.status == "Active", result.message
    stored = _stored(warehouse, "D02005YFHI")
    assert (stored["license_line_count"], stored["usage_line_count"]) == (2, 0)
    assert (stored["total_amount"], stored["license_total"], stored["difference"]) == (
        Decimal(0),
        Decimal(0),
        Decimal(0),
    )
    # customerId 74221236-D09C-... is the lower-case GUID; the subscription is syndicationPartnerSubscriptionNumber in
    # lower case (not subscriptionId 4KIKawEAAAAAAAEA), found although the reference data lists it in upper case;
    # the product durableOfferId.
    assert [
        (line["customer_id"], line["account_id"], line["subscription_id"], line["product_id"])
        for line in _stored_lines(warehouse, "D02005YFHI", "license")
    ] == [
        (OFFICE_CUSTOMER, "ACC-2002", "1f58acd7-fe51-4705-9567-d009c9ada150", "2F707C7C-2433-49A5-A437-9CA7CF40D3EB"),
        (OFFICE_CUSTOMER, "ACC-2002", "d8a8f773-9d3e-4244-8797-3182075f09fa", "69C67983-CF78-4102-83F6-3E5FD246864F"),
    ]


@pytest.mark.engine_contract
def test_licence_lines_with_upper_case_subscription_guids_resolve_to_the_same_subscription_in_lower_case(
    workspace, partner_center, warehouse
):
    subscriptions = workspace.root / "reference" / "subscriptions.csv"
    upper = [row[0] for row in SUBSCRIPTIONS if row[0] != row[0].lower() and not row[0].startswith("12345678")]
    text = subscriptions.read_text(encoding="utf-8")
    for subscription_id in upper:  # 1F58ACD7-... and D8A8F773-..., listed as lower-case GUIDs instead
        text = text.replace(subscription_id, subscription_id.lower())
    subscriptions.write_text(text, encoding="utf-8")
    _serve(partner_center, derived_licence_invoice())

    result = _import(workspace, warehouse, "D02005YFHI")

    assert result.status == "Active", result.message
    assert {line["subscription_id"] for line in _stored_lines(warehouse, "D02005YFHI", "license")} == {
        "1f58acd7-fe51-4705-9567-d009c9ada150",
        "d8a8f773-9d3e-4244-8797-3182075f09fa",
    }


@pytest.mark.engine_contract
def test_the_taxed_new_commerce_invoice_compares_its_lines_with_its_total_before_tax(
    workspace, partner_center, warehouse
):
    documented_throttling(partner_center.faults, 3)
    _serve(partner_center, derived_taxed_invoice())

    result = _import(workspace, warehouse, "G000773581")

    # totalCharges 793.00 = subtotals 0 + 720 + taxTotal 0 + 73. Before tax: 793.00 - 73 = 720.00; the two licence
    # lines: 0 + 720 = 720.00; difference 720.00 - 720.00 = 0.00.
    assert partner_center.faults.throttled == 0
    assert result.status == "Active", result.message
    stored = _stored(warehouse, "G000773581")
    assert (stored["total_amount"], stored["tax_amount"]) == (Decimal(720), Decimal(73))
    assert (stored["license_line_count"], stored["usage_line_count"]) == (2, 0)
    assert (stored["license_total"], stored["usage_total"], stored["difference"]) == (
        Decimal(720),
        Decimal(0),
        Decimal(0),
    )
    checksum = result.checks[CHECKSUM_CHECK]
    assert "the provider's total 793.00 USD less tax 73.00 USD" in checksum.description
    assert [line["amount"] for line in _stored_lines(warehouse, "G000773581", "license")] == [Decimal(0), Decimal(720)]


@pytest.mark.engine_contract
def test_azure_plan_usage_in_both_datasets_is_imported_once_from_the_daily_rated_lines_to_15_places(
    workspace, partner_center, warehouse
):
    documented_throttling(partner_center.faults, 3)
    _serve(partner_center, derived_azure_plan_invoice())

    result = _import(workspace, warehouse, "T000001234")

    # Daily-rated: 0.486031696515249 + 0.490235765325545 = 0.976267461840794 (usage, exact); the reconciliation's
    # two aggregates (0.48, 0.49) are set aside, no licence line. totalCharges: 0.976267461840794 in cents = 0.98;
    # lines 0.976267461840794 in cents = 0.98; difference 0.00.
    assert partner_center.faults.throttled == 0
    assert result.status == "Active", result.message
    stored = _stored(warehouse, "T000001234")
    assert (stored["usage_line_count"], stored["license_line_count"]) == (2, 0)
    assert (stored["usage_total"], stored["license_total"]) == (Decimal("0.976267461840794"), Decimal(0))
    assert (stored["total_amount"], stored["difference"]) == (Decimal("0.98"), Decimal(0))
    lines = _stored_lines(warehouse, "T000001234", "usage")
    assert [line["amount"] for line in lines] == [Decimal("0.486031696515249"), Decimal("0.490235765325545")]
    # customerId org:9E9B71BA-... is the lower-case GUID; chargeEndDate 2018-12-01T00:00:00Z is 2018-12-01.
    assert {(line["customer_id"], line["account_id"]) for line in lines} == {(WINDOWS_LINUX_CUSTOMER, "ACC-2001")}
    assert {(str(line["charge_start_date"]), str(line["charge_end_date"])) for line in lines} == {
        ("2018-11-01", "2018-12-01")
    }
    # The aggregates stay with the download, as sent: billableQuantity 23.200004 and 23.350007, subtotals
    # ROUNDDOWN(0.0209496384791679 x 23.200004 = 0.48603..., 2) = 0.48 and ROUNDDOWN(0.49023..., 2) = 0.49.
    folder = workspace.root / "data" / "downloads" / PROVIDER / "T000001234"
    with (folder / "reconciliation_consumption.csv").open(encoding="utf-8") as handle:
        aggregates = list(csv.DictReader(handle))
    assert [(a["BillableQuantity"], a["Subtotal"], a["Quantity"]) for a in aggregates] == [
        ("23.200004", "0.48", "1"),
        ("23.350007", "0.49", "1"),
    ]


@pytest.mark.engine_contract
def test_an_azure_plan_invoice_totalled_by_the_reconciliation_rule_shows_the_rounding_in_the_checksum(
    workspace, partner_center, warehouse
):
    _serve(partner_center, derived_azure_plan_invoice(total_from_reconciliation=True))

    strict = _import(workspace, warehouse, "T000001234")
    workspace.set_tolerance(PROVIDER, "0.01")
    tolerated = _import(workspace, warehouse, "T000001234")

    # totalCharges 0.97: the reconciliation's subtotals, ROUNDDOWN per meter, 0.48 + 0.49 (tax 0). The lines are the
    # daily-rated detail, 0.976267461840794, in cents 0.98: difference 0.97 - 0.98 = -0.01. At the workspace's
    # tolerance 0.00 an Error; at 0.01 Active, the usage still the exact detail.
    assert strict.status == "Error"
    assert strict.message == (
        "Checksum failed: header 0.97 USD; usage 0.98 + license 0.00 = 0.98; difference -0.01 USD"
    )
    assert tolerated.status == "Active", tolerated.message
    stored = _stored(warehouse, "T000001234")
    assert (stored["usage_total"], stored["difference"]) == (Decimal("0.976267461840794"), Decimal("-0.01"))


@pytest.mark.engine_contract
@pytest.mark.parametrize("note_type", ["void_note", "Credit Note"])
def test_credit_and_rebill_bills_each_charge_once(workspace, partner_center, warehouse, note_type):
    original, note, replacement = derived_credit_and_rebill(note_type)
    _serve(partner_center, original)
    assert _import(workspace, warehouse, "T000001234").status == "Active"
    bill_at_cost(warehouse)
    issue_customer_invoices(warehouse, actor="test", period=BillingPeriod.parse("2018-11"))
    documented_throttling(partner_center.faults, 2)
    _serve(partner_center, note, replacement)

    voiding = _import(workspace, warehouse, "G000024130")
    rebilled = _import(workspace, warehouse, "G000024131")
    bill_at_cost(warehouse)

    assert partner_center.faults.throttled == 0
    assert voiding.status == "Active", voiding.message
    assert "voids T000001234" in voiding.message
    kind = "void_note" if note_type == "void_note" else "credit_note"
    stored_note = _stored(warehouse, "G000024130")
    assert (stored_note["document_type"], stored_note["amends_invoice_id"]) == (kind, "T000001234")
    assert stored_note["total_amount"] == Decimal("-0.98")
    stored_original = _stored(warehouse, "T000001234")
    assert stored_original["status"] == "Inactive"
    assert f"voided by {kind.replace('_', ' ')} G000024130" in stored_original["message"]
    # The replacement: its Windows line 0.486031696515249 (usage, exact), its aggregate 0.48 set aside; totalCharges
    # 0.49, lines 0.49 in cents: difference 0.00. It is an adjustment note billed like an invoice.
    assert rebilled.status == "Active", rebilled.message
    stored_replacement = _stored(warehouse, "G000024131")
    assert (stored_replacement["document_type"], stored_replacement["amends_invoice_id"]) == (
        "adjustment_note",
        "G000024130",
    )
    assert (stored_replacement["usage_total"], stored_replacement["license_total"]) == (
        Decimal("0.486031696515249"),
        Decimal(0),
    )
    # Billed at cost: the original's 0.976267461840794 -> 0.98 on the issued invoice, credited -0.98 when it was
    # voided, then the replacement's 0.486031696515249 -> 0.49 on a new draft. Invoices 0.98 + 0.49 = 1.47, credit
    # notes -0.98: net 1.47 - 0.98 = 0.49, the replacement's amount (the Windows charge once, the Linux charge no more).
    billed = _billed(warehouse)
    assert billed == {"invoice": Decimal("1.47"), "credit_note": Decimal("-0.98")}
    assert sum(billed.values()) == Decimal("0.49")
