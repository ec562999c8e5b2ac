"""Partner Center line items as line summaries: canonical columns, the provider's own columns, exact text."""

from __future__ import annotations

import json

import pytest

from invoice_pipeline.connectors.partner_center.answers import loads_exact
from invoice_pipeline.connectors.partner_center.mapping import (
    DAILY_RATED,
    LICENSE_BASED,
    ONE_TIME,
    LineSummaryFiles,
    summary_columns,
    summary_row,
)
from invoice_pipeline.demo.partner_center_fake.invoices import (
    NORTHWIND,
    daily_rated_line,
    license_based_line,
    one_time_line,
)
from invoice_pipeline.demo.partner_center_fake.json_text import pascal_case, to_json
from invoice_pipeline.schemas.line_columns import COMMON_COLUMNS, USAGE_COLUMNS


def _as_received(item: dict) -> dict:
    """A line item as the connector receives it: JSON text parsed with numbers kept exact."""
    return loads_exact(to_json(item))


def test_a_license_based_line_becomes_a_license_summary_with_its_subtotal_and_its_own_columns():
    item = _as_received(license_based_line(NORTHWIND, "SUB-M365-1001", "M365-E3", 25, "36.00"))
    item["totalOtherDiscount"], item["subtotal"], item["tax"] = "90.00", "810.00", "162.00"

    row = summary_row(item, LICENSE_BASED, "G1-LB0000001")

    assert {c: row[c] for c in COMMON_COLUMNS} == {
        "line_id": "G1-LB0000001",
        "customer_id": NORTHWIND,
        "subscription_id": "SUB-M365-1001",
        "product_id": "M365-E3",  # the durable offer id (the offer id stays as offer_id)
        "charge_start_date": "2026-10-01",
        "charge_end_date": "2026-10-31",
        "quantity": "25",
        "unit_price": "36.00",
        "amount": "810.00",  # after discount, before tax
        "currency": "USD",
    }
    assert row["provider_amount"] == "900.00" and row["total_other_discount"] == "90.00" and row["tax"] == "162.00"
    assert row["charge_type"] == "Cycle fee" and row["line_item_type"] == "LicenseBasedLineItem"


def test_a_one_time_line_from_an_export_blob_is_read_whatever_the_key_casing():
    item = _as_received(pascal_case(one_time_line(NORTHWIND, "SUB-M365-1001", "M365-E3", "cancel", 2, "-36.00")))
    assert "ChargeType" in item

    row = summary_row(item, ONE_TIME, "G2-OT0000001")

    assert (row["product_id"], row["quantity"], row["unit_price"], row["amount"]) == (
        "M365-E3",
        "2",
        "-36.00",
        "-72.00",
    )
    assert row["charge_type"] == "cancel" and row["pc_to_bc_exchange_rate"] == "1"
    assert json.loads(row["price_adjustment_description"]) == ["Promotion: 0%"]
    assert row["order_date"] == "2026-10-01T00:00:00Z"  # provider columns stay as sent


def test_a_daily_rated_line_becomes_a_usage_summary_with_meter_resource_and_tags():
    item = daily_rated_line(NORTHWIND, "SUB-AZ-1001", 2, "D2s v5 VM", "0.0333333", "0.096")
    text = to_json(item).replace('"billingPreTaxTotal":0.003200', '"billingPreTaxTotal":12345678901234567.1234567891')

    row = summary_row(loads_exact(text), DAILY_RATED, "G1-DR0000001")

    assert row["amount"] == "12345678901234567.1234567891"  # exact, never through a float
    assert (row["quantity"], row["unit_price"], row["currency"]) == ("0.0333333", "0.096", "USD")
    assert (row["usage_date"], row["charge_end_date"]) == ("2026-10-02", "2026-10-31")
    assert (row["meter_id"], row["meter_name"], row["unit"]) == ("m-d2s-v5-vm", "D2s v5 VM", "1 Hour")
    assert row["meter_category"] == "Virtual Machines" and row["resource_group"] == "rg-prod"
    assert json.loads(row["tags"]) == {"env": "prod", "costCenter": "CC-42"}
    assert row["additional_info"] == '{"ServiceType": "Standard_D2s_v5"}'


def test_numbers_keep_their_written_digits_and_exponents_become_plain_decimals():
    item = {"quantity": "1.50", "unitPrice": "1E-7", "billingPreTaxTotal": "2.5e2", "usageDate": "2026-10-02"}
    row = summary_row(loads_exact(json.dumps(item).replace('"1.50"', "1.50")), DAILY_RATED, "X")
    assert (row["quantity"], row["unit_price"], row["amount"]) == ("1.50", "0.0000001", "250")
    assert row["customer_id"] == ""  # absent: empty, for the schema to report


def test_summary_files_hold_canonical_then_provider_columns_and_only_the_kinds_that_have_lines(tmp_path):
    with LineSummaryFiles(tmp_path, "G1") as files:
        files.write(_as_received(license_based_line(NORTHWIND, "S", "P", 1, "1.00")), LICENSE_BASED)
        files.write(_as_received(one_time_line(NORTHWIND, "S", "P", "new", 1, "1.00")), ONE_TIME)
        files.write(_as_received(license_based_line(NORTHWIND, "S", "P", 1, "1.00")), LICENSE_BASED)

    assert sorted(p.name for p in tmp_path.iterdir()) == ["license_summaries.csv"]
    lines = (tmp_path / "license_summaries.csv").read_text().splitlines()
    assert [line.split(",")[0] for line in lines] == ["line_id", "G1-LB0000001", "G1-OT0000001", "G1-LB0000002"]
    assert summary_columns("license")[: len(COMMON_COLUMNS)] == list(COMMON_COLUMNS)
    usage = summary_columns("usage")
    assert usage[: len(COMMON_COLUMNS) + len(USAGE_COLUMNS)] == [*COMMON_COLUMNS, *USAGE_COLUMNS]
    assert {"meter_category", "resource_group", "tags", "charge_type"} <= set(usage)


# Issue #28 C: what Microsoft's pages say the fields hold ---------------------------------------------------------


def test_perpetual_software_without_a_charge_end_date_ends_on_its_start_date_and_keeps_the_providers_value():
    perpetual = _as_received(one_time_line(NORTHWIND, "SUB-1", "SQL-STD-PERPETUAL", "new", 1, "899.00"))
    perpetual["chargeEndDate"] = ""
    absent = dict(perpetual)
    del absent["chargeEndDate"]
    monthly = _as_received(one_time_line(NORTHWIND, "SUB-1", "M365-E3", "new", 1, "36.00"))

    rows = [summary_row(item, ONE_TIME, "G2-OT1") for item in (perpetual, absent, monthly)]

    assert [(r["charge_start_date"], r["charge_end_date"], r["provider_charge_end_date"]) for r in rows] == [
        ("2026-10-01", "2026-10-01", ""),
        ("2026-10-01", "2026-10-01", ""),
        ("2026-10-01", "2026-10-31", "2026-10-31T00:00:00Z"),
    ]
    assert "provider_charge_end_date" in summary_columns("license")
    assert "provider_charge_end_date" in summary_columns("usage")


@pytest.mark.parametrize(
    ("sent", "normalised"),
    [
        ("org:7F3C2A10-1B7E-4C55-9A51-2D1F0E6B8A01", "7f3c2a10-1b7e-4c55-9a51-2d1f0e6b8a01"),
        ("ORG:7f3c2a10-1b7e-4c55-9a51-2d1f0e6b8a01", "7f3c2a10-1b7e-4c55-9a51-2d1f0e6b8a01"),
        (" org: 7F3C2A10-1B7E-4C55-9A51-2D1F0E6B8A01 ", "7f3c2a10-1b7e-4c55-9a51-2d1f0e6b8a01"),
        ("7F3C2A10-1B7E-4C55-9A51-2D1F0E6B8A01", "7f3c2a10-1b7e-4c55-9a51-2d1f0e6b8a01"),
        ("7f3c2a10-1b7e-4c55-9a51-2d1f0e6b8a01", "7f3c2a10-1b7e-4c55-9a51-2d1f0e6b8a01"),
        ("  Contoso-Customer-42 ", "Contoso-Customer-42"),  # not a GUID: as sent, trimmed
        ("org:Contoso", "org:Contoso"),
        ("", ""),
        ("   ", ""),
    ],
)
def test_customer_ids_are_normalised_guids_and_the_sent_value_is_kept(sent, normalised):
    from invoice_pipeline.connectors.partner_center.mapping import normalise_customer_id

    assert normalise_customer_id(sent) == normalised
    item = _as_received(daily_rated_line(NORTHWIND, "SUB-AZ-1001", 2, "D2s v5 VM", "1", "0.096"))
    item["customerId"] = sent
    row = summary_row(item, DAILY_RATED, "G1-DR1")
    assert (row["customer_id"], row["provider_customer_id"]) == (normalised, sent)


def test_a_licence_line_is_the_partner_center_subscription_and_the_durable_offer():
    item = _as_received(license_based_line(NORTHWIND, "BILLING-SUB-GUID", "OFFER-GUID", 25, "36.00"))
    item["syndicationPartnerSubscriptionNumber"] = "PC-SUB-1001"
    item["durableOfferId"] = "CFQ7TTC0LFLX:0001"

    row = summary_row(item, LICENSE_BASED, "G1-LB1")

    assert (row["subscription_id"], row["billing_subscription_id"]) == ("PC-SUB-1001", "BP-BILLING-SUB-GUID")
    assert (row["product_id"], row["offer_id"]) == ("CFQ7TTC0LFLX:0001", "LEGACY-OFFER-GUID")

    # Without them (older lines): the billing subscription and the offer.
    item["syndicationPartnerSubscriptionNumber"], item["durableOfferId"] = "", None
    row = summary_row(item, LICENSE_BASED, "G1-LB1")
    assert (row["subscription_id"], row["product_id"]) == ("BP-BILLING-SUB-GUID", "LEGACY-OFFER-GUID")
    assert {"billing_subscription_id", "offer_id"} <= set(summary_columns("license"))


def test_a_daily_rated_unit_is_its_unit_of_measure_or_its_unit():
    item = _as_received(daily_rated_line(NORTHWIND, "SUB-AZ-1001", 2, "D2s v5 VM", "1", "0.096"))
    assert summary_row(item, DAILY_RATED, "X")["unit"] == "1 Hour"
    del item["unitOfMeasure"]
    item["Unit"] = "10 GB"
    assert summary_row(item, DAILY_RATED, "X")["unit"] == "10 GB"


@pytest.mark.parametrize(
    ("sent", "date"),
    [
        ("2026-10-01T00:00:00+02:00", "2026-09-30"),  # 2026-09-30T22:00Z
        ("2026-10-31T20:00:00-08:00", "2026-11-01"),  # 2026-11-01T04:00Z
        ("2026-10-31T00:00:00-08:00", "2026-10-31"),
        ("2026-10-01T00:00:00Z", "2026-10-01"),
        ("2026-10-01T23:30:00.1234567Z", "2026-10-01"),
        ("2026-10-01T23:30:00", "2026-10-01"),  # no zone: the date as written
        ("2026-10-01", "2026-10-01"),
        ("2026-10-01T25:00:00Z", "2026-10-01T25:00:00Z"),  # not a time: as sent, for the schema to refuse
    ],
)
def test_a_date_with_an_offset_is_its_utc_calendar_date_and_without_a_zone_the_date_as_written(sent, date):
    item = {"chargeStartDate": sent, "chargeEndDate": sent, "usageDate": sent}
    row = summary_row(item, DAILY_RATED, "X")
    assert (row["charge_start_date"], row["charge_end_date"], row["usage_date"]) == (date, date, date)


def test_fields_the_mapping_does_not_list_are_kept_in_one_json_column_as_sent():
    item = _as_received(pascal_case(one_time_line(NORTHWIND, "SUB-1", "M365-E3", "new", 1, "36.00")))
    item["PromotionId"] = "39NFJQT1Q5KV"
    item["NewField"] = {"Nested": ["a", 1]}

    row = summary_row(item, ONE_TIME, "X")

    assert json.loads(row["extra_fields"]) == {"PromotionId": "39NFJQT1Q5KV", "NewField": {"Nested": ["a", 1]}}
    assert " " not in row["extra_fields"]  # compact
    plain = summary_row(_as_received(one_time_line(NORTHWIND, "SUB-1", "M365-E3", "new", 1, "36.00")), ONE_TIME, "X")
    assert plain["extra_fields"] == ""  # every field listed: nothing extra
    assert summary_columns("license")[-1] == "extra_fields" and summary_columns("usage")[-1] == "extra_fields"


def test_the_v1_object_type_is_not_an_extra_field_but_any_other_attribute_is():
    item = _as_received(daily_rated_line(NORTHWIND, "SUB-AZ-1001", 2, "D2s v5 VM", "1", "0.096"))
    item["attributes"] = {"objectType": "DailyRatedUsageLineItem"}
    assert summary_row(item, DAILY_RATED, "X")["extra_fields"] == ""
    item["attributes"] = {"objectType": "DailyRatedUsageLineItem", "etag": "1"}
    assert json.loads(summary_row(item, DAILY_RATED, "X")["extra_fields"]) == {"attributes": item["attributes"]}
