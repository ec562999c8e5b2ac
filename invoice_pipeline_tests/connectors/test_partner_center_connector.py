"""The Partner Center connector against the fake Partner Center served for real on loopback."""

from __future__ import annotations

import csv
import gzip
import secrets
import tracemalloc
from decimal import Decimal

import pytest

from invoice_pipeline.connectors.base import ConnectorContext, ConnectorError
from invoice_pipeline.connectors.line_file_limits import LineFileLimits
from invoice_pipeline.connectors.partner_center.client import PartnerCenterClient
from invoice_pipeline.connectors.partner_center.connector import PartnerCenterConnector
from invoice_pipeline.connectors.partner_center.export import blob_line_items, run_export
from invoice_pipeline.connectors.partner_center.settings import PartnerCenterSettings
from invoice_pipeline.demo.partner_center_fake.blobs import export_blobs
from invoice_pipeline.demo.partner_center_fake.invoices import NORTHWIND, daily_rated_line, make_invoice
from invoice_pipeline.demo.partner_center_fake.server import PartnerCenterFake
from invoice_pipeline_tests.connectors.partner_center_support import fast_settings


class Sleeps(list):
    """Records the waits the connector asks for, without waiting."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


def _connector(fake: PartnerCenterFake, tmp_path, sleeps: Sleeps, **overrides) -> PartnerCenterConnector:
    settings = PartnerCenterSettings.model_validate(fast_settings(fake, **overrides))
    context = ConnectorContext("contoso-csp", LineFileLimits(), tmp_path / "downloads")
    return PartnerCenterConnector(settings, context, sleep=sleeps)


def _rows(path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def _leftovers(tmp_path) -> list[str]:
    downloads = tmp_path / "downloads"
    return sorted(p.name for p in downloads.iterdir()) if downloads.exists() else []


# Listing and paging ------------------------------------------------------------------------------------


@pytest.mark.parametrize("next_links", [True, False], ids=["links_next", "offset"])
def test_invoices_are_listed_over_every_page_with_their_exact_totals(fake, tmp_path, sleeps, next_links):
    fake.invoices["G200000003"] = make_invoice(
        "G200000003", daily_rated=[daily_rated_line(NORTHWIND, "SUB-AZ-1001", 1, "D2s v5 VM", "1", "0.3333333333")]
    )
    fake.faults.invoice_next_links = next_links

    offered = _connector(fake, tmp_path, sleeps, invoice_page_size=2).list_invoices()

    assert [(o.invoice_id, o.currency, o.total_amount) for o in offered] == [
        ("G200000001", "USD", Decimal("1486.46")),
        ("G200000002", "USD", Decimal("408.81")),
        ("G200000003", "USD", Decimal("0.33")),
    ]
    listing = [r for r in fake.requests if r["path"] == "/v1/invoices"]
    assert [r["query"].get("offset") for r in listing] == ["0", "2"]
    assert all(r["headers"].get("MS-RequestId") and r["headers"].get("MS-CorrelationId") for r in listing)


def test_an_invoice_is_downloaded_as_a_provider_folder_with_license_and_usage_summaries(fake, tmp_path, sleeps):
    files = _connector(fake, tmp_path, sleeps).fetch_invoice("G200000001")

    assert files.header_path == tmp_path / "downloads" / "G200000001" / "header.json"
    assert '"total_amount": "1486.46"' in files.header_path.read_text()
    licenses, usage = _rows(files.line_files["license"]), _rows(files.line_files["usage"])
    # Licence-based lines came from v1 over two pages (offset paging), usage from the v2 export's three blobs.
    assert [r["line_id"] for r in licenses] == [f"G200000001-LB000000{n}" for n in (1, 2, 3)]
    assert len(usage) == 7 and len({r["line_id"] for r in usage}) == 7
    assert sum(Decimal(r["amount"]) for r in licenses + usage) == Decimal("1486.457650")
    blobs = [p for p in fake.paths("GET") if p.startswith("/blobs/")]
    assert len(blobs) == 3
    assert not [r for r in fake.requests if r["path"].startswith("/blobs/") and "Authorization" in r["headers"]]
    assert _leftovers(tmp_path) == ["G200000001"]  # no partial folder, no blob left behind
    assert sorted(p.name for p in files.header_path.parent.iterdir()) == [
        "header.json",
        "license_summaries.csv",
        "usage_summaries.csv",
    ]


def test_line_item_pages_without_next_links_are_followed_by_offset_until_a_short_page(fake, tmp_path, sleeps):
    fake.faults.line_item_next_links = False
    files = _connector(fake, tmp_path, sleeps, line_item_page_size=2).fetch_invoice("G200000001")
    licenses = _rows(files.line_files["license"])
    assert [r["line_id"] for r in licenses] == [f"G200000001-LB000000{n}" for n in (1, 2, 3)]


def test_a_manifest_that_does_not_list_every_blob_it_announces_fails_the_download(fake, tmp_path, sleeps):
    fake.faults.blob_count_off = 1
    with pytest.raises(ConnectorError, match="the manifest announces 4 blobs but lists 3; nothing was imported"):
        _connector(fake, tmp_path, sleeps).fetch_invoice("G200000001")
    assert _leftovers(tmp_path) == []


def test_one_time_lines_come_from_the_export_and_usage_from_v1_continuation_pages_when_v2_has_no_data(
    fake, tmp_path, sleeps
):
    files = _connector(fake, tmp_path, sleeps).fetch_invoice("G200000002")

    licenses, usage = _rows(files.line_files["license"]), _rows(files.line_files["usage"])
    assert {r["line_item_type"] for r in licenses} == {"OneTimeInvoiceLineItem"}
    assert sorted(r["charge_type"] for r in licenses) == ["cancel", "new", "renew"]
    assert len(usage) == 3
    v1_usage = [
        r
        for r in fake.requests
        if r["path"].endswith("/lineitems") and r["query"]["invoicelineitemtype"] == "usagelineitems"
    ]
    assert [r["query"].get("seekOperation") for r in v1_usage] == [None, "Next"]
    assert v1_usage[1]["headers"]["MS-ContinuationToken"] == "seek-2"


def test_a_running_export_is_polled_again_after_its_retry_after(fake, tmp_path, sleeps):
    fake.faults.running_polls, fake.faults.poll_retry_after = 2, "3"

    _connector(fake, tmp_path, sleeps, max_retry_after_seconds=300).fetch_invoice("G200000001")

    assert sleeps == [3.0, 3.0]
    operations = [p for p in fake.paths("GET") if "/operations/" in p]
    assert len(operations) == 3


# Faults ----------------------------------------------------------------------------------------------------


def test_throttling_waits_what_retry_after_asks_then_succeeds(fake, tmp_path, sleeps):
    fake.faults.throttled, fake.faults.retry_after = 2, "7"

    offered = _connector(fake, tmp_path, sleeps, max_retry_after_seconds=300).list_invoices()

    assert len(offered) == 2
    assert sleeps == [7.0, 7.0]


def test_server_errors_are_retried_with_growing_jittered_backoff(fake, tmp_path, sleeps):
    fake.faults.server_errors = 3

    files = _connector(fake, tmp_path, sleeps, backoff_initial_seconds=1, backoff_max_seconds=60).fetch_invoice(
        "G200000001"
    )

    assert files.line_files
    backoff = [s for s in sleeps if s]  # the export's polls wait 0 (Retry-After: 0)
    assert len(backoff) == 3
    assert 1 <= backoff[0] <= 2 and 2 <= backoff[1] <= 3 and 4 <= backoff[2] <= 5


def test_server_errors_stop_after_max_attempts_with_the_providers_answer(fake, tmp_path, sleeps):
    fake.faults.server_errors = 100

    with pytest.raises(ConnectorError) as raised:
        _connector(fake, tmp_path, sleeps, max_attempts=3).fetch_invoice("G200000001")

    message = str(raised.value)
    assert "GET http://127.0.0.1" in message and "/v1/invoices:" in message  # the collection carries the header
    assert "500 Internal Server Error (500 An unexpected error occurred. Please try again later.)" in message
    assert "3 attempts" in message
    assert len([p for p in fake.paths() if p.startswith("/v1/")]) == 3
    assert _leftovers(tmp_path) == []


def test_client_errors_are_not_retried_and_say_what_partner_center_answered(fake, tmp_path, sleeps):
    fake.faults.forbidden = {"G200000001"}

    with pytest.raises(ConnectorError, match="Partner Center answered") as raised:
        _connector(fake, tmp_path, sleeps).fetch_invoice("G200000001")

    assert "403 Forbidden (403 Forbidden: PartnerBilling.Read.All is not granted)" in str(raised.value)
    assert sleeps == [] and len([p for p in fake.paths() if p.startswith("/graph/")]) == 1
    assert _leftovers(tmp_path) == []


def test_an_invoice_the_collection_does_not_list_is_refused_without_asking_for_it(fake, tmp_path, sleeps):
    with pytest.raises(ConnectorError) as raised:
        _connector(fake, tmp_path, sleeps).fetch_invoice("G999999999")

    assert str(raised.value) == (
        "Partner Center's invoice collection (GET /v1/invoices) does not list invoice G999999999; nothing was imported"
    )
    assert set(fake.paths()) == {"/login/11111111-2222-3333-4444-555555555555/oauth2/v2.0/token", "/v1/invoices"}
    assert _leftovers(tmp_path) == []


def test_a_timeout_is_retried(fake, tmp_path, sleeps):
    fake.faults.stalled, fake.faults.stall_seconds = 1, 1.0

    assert len(_connector(fake, tmp_path, sleeps, timeout_seconds=0.2).list_invoices()) == 2
    assert len(sleeps) == 1


def test_a_blob_download_dropped_half_way_is_downloaded_again_from_the_start(fake, tmp_path, sleeps):
    fake.faults.dropped_downloads = 1

    files = _connector(fake, tmp_path, sleeps).fetch_invoice("G200000001")

    assert len(_rows(files.line_files["usage"])) == 7
    assert len([p for p in fake.paths("GET") if p.startswith("/blobs/")]) == 4


def test_a_token_refused_as_expired_is_renewed_once(fake, tmp_path, sleeps):
    connector = _connector(fake, tmp_path, sleeps)
    fake.faults.expired_tokens = 1

    assert len(connector.list_invoices()) == 2

    answers = [r["path"] for r in fake.requests]
    assert answers.count("/v1/invoices") == 2  # refused once, then answered with a fresh token
    assert len([p for p in answers if p.startswith("/login/")]) == 2


def test_a_token_refused_twice_is_not_retried_again(fake, tmp_path, sleeps):
    fake.faults.expired_tokens = 5

    with pytest.raises(ConnectorError, match=r"401 Unauthorized \(401 Unauthorized: the access token has expired\)"):
        _connector(fake, tmp_path, sleeps).list_invoices()
    assert sleeps == []


def test_a_failed_export_operation_fails_the_download_with_partner_centers_error_and_leaves_nothing(
    fake, tmp_path, sleeps
):
    fake.faults.failed_exports = {"G200000001": ("500", "Internal server error")}

    with pytest.raises(ConnectorError) as raised:
        _connector(fake, tmp_path, sleeps).fetch_invoice("G200000001")

    assert str(raised.value) == (
        "the daily-rated usage export of invoice G200000001 failed at Partner Center: 500 Internal server error"
    )
    assert _leftovers(tmp_path) == []


def test_a_blob_that_cannot_be_read_fails_the_download_and_keeps_the_earlier_complete_one(fake, tmp_path, sleeps):
    connector = _connector(fake, tmp_path, sleeps)
    earlier = connector.fetch_invoice("G200000001")
    fake.faults.unreadable_blobs = {"G200000001"}

    with pytest.raises(ConnectorError) as raised:
        connector.fetch_invoice("G200000001")

    assert "the daily-rated usage export of invoice G200000001: blob part-00002-daily_rated.json.gz cannot be read" in (
        str(raised.value)
    )
    assert "BadGzipFile" in str(raised.value)
    assert _leftovers(tmp_path) == ["G200000001"]
    assert len(_rows(earlier.line_files["usage"])) == 7  # the earlier complete download, untouched


def test_a_missing_secret_variable_is_named(fake, tmp_path, sleeps, monkeypatch):
    monkeypatch.delenv("PARTNER_CENTER_CLIENT_SECRET")

    with pytest.raises(ConnectorError, match="the environment variable PARTNER_CENTER_CLIENT_SECRET is not set"):
        _connector(fake, tmp_path, sleeps).list_invoices()


def test_a_wrong_secret_gives_the_token_endpoints_answer_without_the_secret(fake, tmp_path, sleeps, monkeypatch):
    monkeypatch.setenv("PARTNER_CENTER_CLIENT_SECRET", "wrong-S3cret-value")

    with pytest.raises(ConnectorError) as raised:
        _connector(fake, tmp_path, sleeps).list_invoices()

    # The token endpoint's status and OAuth error code only: its description may echo the request (#29).
    assert str(raised.value).endswith("401 Unauthorized (invalid_client)")
    assert "wrong-S3cret-value" not in str(raised.value) and sleeps == []


# Flat memory -----------------------------------------------------------------------------------------------


def test_export_blobs_stream_to_disk_one_at_a_time_in_flat_memory(fake, tmp_path, sleeps):
    # About 7 MB of hardly compressible line items over three blobs.
    lines = []
    for day in range(300):
        line = daily_rated_line(NORTHWIND, "SUB-AZ-1001", 1 + day % 28, "D2s v5 VM", "1", "0.01")
        line["additionalInfo"] = secrets.token_hex(20_000)
        lines.append(line)
    fake.invoices["G200000009"] = make_invoice("G200000009", daily_rated=lines)
    connector = _connector(fake, tmp_path, sleeps)
    folder = tmp_path / "blobs"
    folder.mkdir()
    export_blobs(fake, "G200000009", "daily_rated")  # the fake builds its blobs in this process: before tracing

    with connector.client() as client:
        tracemalloc.start()
        try:
            sizes = []
            for blob in run_export(client, "G200000009", "daily-rated usage", folder):
                assert [p.name for p in folder.iterdir()] == [blob.path.name]  # one blob on disk at a time
                sizes.append(blob.path.stat().st_size)
                assert sum(1 for _ in blob_line_items(blob, "test")) == 100
                blob.path.unlink()
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()

    assert len(sizes) == 3 and min(sizes) > 2_000_000
    assert peak < max(sizes) / 2  # never a whole blob in memory: streamed in chunks, read line by line


def test_the_gzip_reader_reports_the_line_that_is_not_json(tmp_path):
    from invoice_pipeline.connectors.partner_center.export import ExportBlob

    path = tmp_path / "blob.json.gz"
    path.write_bytes(gzip.compress(b'{"a": 1}\n{"a": \n'))

    with pytest.raises(ConnectorError, match=r"blob part-1.json.gz cannot be read near line 2 \(JSONDecodeError"):
        list(blob_line_items(ExportBlob("part-1.json.gz", path), "the export"))


def test_the_client_sends_partner_centers_request_headers(fake, tmp_path, sleeps):
    connector = _connector(fake, tmp_path, sleeps)
    with PartnerCenterClient(connector.settings, "demo") as client:
        client.get_json(client.api_url("/invoices"), scope="https://api.partnercenter.microsoft.com/.default")
    headers = fake.requests[-1]["headers"]
    assert headers["Accept"] == "application/json" and headers["Authorization"].startswith("Bearer fake-access-")
    assert headers["MS-RequestId"] and headers["MS-CorrelationId"]
