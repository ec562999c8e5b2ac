"""The v2 export (Graph) against the fake Partner Center: the manifest's data format and exports without data."""

from __future__ import annotations

import pytest

from invoice_pipeline.connectors.base import ConnectorContext, ConnectorError
from invoice_pipeline.connectors.line_file_limits import LineFileLimits
from invoice_pipeline.connectors.partner_center.connector import PartnerCenterConnector
from invoice_pipeline.connectors.partner_center.export import blob_line_items, run_export
from invoice_pipeline.connectors.partner_center.settings import PartnerCenterSettings
from invoice_pipeline.demo.partner_center_fake.server import PartnerCenterFake
from invoice_pipeline_tests.connectors.partner_center_support import fast_settings


def _exported(fake: PartnerCenterFake, tmp_path, invoice_id: str, dataset: str) -> list[dict]:
    """Every line item of one export, read through the connector's client as the connector reads them."""
    settings = PartnerCenterSettings.model_validate(fast_settings(fake))
    context = ConnectorContext("contoso-csp", LineFileLimits(), tmp_path / "downloads")
    folder = tmp_path / "blobs"
    folder.mkdir(exist_ok=True)
    items: list[dict] = []
    with PartnerCenterConnector(settings, context, sleep=lambda _: None).client() as client:
        for blob in run_export(client, invoice_id, dataset, folder):
            items += blob_line_items(blob, "test")
            blob.path.unlink()
    return items


# A. The manifest's dataFormat ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "data_format", ["compressedJSONLines", "compressedJSON", "COMPRESSEDJSONLINES", "compressedjson"]
)
def test_both_documented_spellings_of_the_manifest_data_format_are_read_whatever_their_case(
    fake, tmp_path, data_format
):
    fake.faults.manifest_data_format = data_format

    assert len(_exported(fake, tmp_path, "G200000001", "daily-rated usage")) == 7


@pytest.mark.parametrize("status", ["succeeded", "completed"])
def test_an_operation_that_succeeded_or_completed_gives_its_manifest(fake, tmp_path, status):
    # The Graph example answers "succeeded"; the operation resource page lists "completed" among the statuses.
    fake.faults.succeeded_status = status

    assert len(_exported(fake, tmp_path, "G200000001", "daily-rated usage")) == 7


def test_the_fake_serves_the_documented_data_format_by_default(fake):
    assert fake.faults.manifest_data_format == "compressedJSONLines"


def test_any_other_manifest_data_format_is_refused_naming_it_and_the_two_accepted(fake, tmp_path):
    fake.faults.manifest_data_format = "parquet"

    with pytest.raises(ConnectorError) as raised:
        _exported(fake, tmp_path, "G200000001", "daily-rated usage")

    message = str(raised.value)
    assert "the daily-rated usage export of invoice G200000001" in message
    assert "'parquet'" in message and "compressedJSONLines" in message and "compressedJSON " in message
    assert [p for p in fake.paths("GET") if p.startswith("/blobs/")] == []  # nothing downloaded


# B. An export that failed with 5000 "No data available" ------------------------------------------------------


def test_an_export_failed_with_5000_no_data_available_means_the_dataset_has_no_lines(fake, tmp_path):
    fake.faults.failed_exports = {("G200000001", "daily_rated"): ("5000", "No data available")}

    assert _exported(fake, tmp_path, "G200000001", "daily-rated usage") == []
    assert [p for p in fake.paths("GET") if "/manifests/" in p or p.startswith("/blobs/")] == []
    # Per dataset: the invoice's other export still has its lines.
    assert len(_exported(fake, tmp_path, "G200000002", "reconciliation")) == 3


@pytest.mark.parametrize(
    ("key", "failure"),
    [
        (("G200000001", "daily_rated"), ("500", "Internal server error")),
        (("G200000001", "daily_rated"), ("5001", "No data available")),
        ("G200000001", ("400", "Invalid invoice")),  # an invoice id alone: every dataset of the invoice fails
    ],
)
def test_any_other_failed_export_still_fails_with_partner_centers_error(fake, tmp_path, key, failure):
    fake.faults.failed_exports = {key: failure}

    with pytest.raises(ConnectorError) as raised:
        _exported(fake, tmp_path, "G200000001", "daily-rated usage")

    assert str(raised.value) == (
        f"the daily-rated usage export of invoice G200000001 failed at Partner Center: {failure[0]} {failure[1]}"
    )


def test_the_fakes_command_line_fails_exports_with_an_error_or_with_no_data_per_invoice_or_dataset():
    from invoice_pipeline.demo.partner_center_fake.__main__ import failed_exports

    assert failed_exports(["G200000001"], ["G200000002:daily_rated", "G200000003"]) == {
        "G200000001": ("500", "Internal server error"),
        ("G200000002", "daily_rated"): ("5000", "No data available"),
        "G200000003": ("5000", "No data available"),
    }


def test_the_fakes_command_line_serves_invoices_from_a_json_file_with_exact_amounts(tmp_path):
    from decimal import Decimal

    from invoice_pipeline.demo.partner_center_fake.__main__ import invoices_from_file

    path = tmp_path / "invoices.json"
    path.write_text(
        '[{"invoice": {"id": "G1", "totalCharges": 0.486031696515249, "currencyCode": "USD"},'
        ' "daily_rated": [{"billingPreTaxTotal": 0.486031696515249}]},'
        ' {"invoice": {"id": "G2", "documentType": "void_note", "amendsOf": "G1"}, "nested": true}]'
    )

    first, second = invoices_from_file(path)

    assert first.invoice["totalCharges"] == Decimal("0.486031696515249")
    assert first.invoice["invoiceDetails"] == [
        {"billingProvider": "one_time", "invoiceLineItemType": "usage_line_items"}
    ]
    assert first.daily_rated == [{"billingPreTaxTotal": Decimal("0.486031696515249")}]
    assert (second.invoice["invoiceDetails"], second.nested) == ([], True)
