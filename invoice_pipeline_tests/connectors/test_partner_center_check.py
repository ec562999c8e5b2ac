"""`invoice-pipeline providers check PROVIDER`: the read-only calls against the fake Partner Center on loopback, through
the real command line (in this process), one line per step; nothing imported, nothing left, no secret shown."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import pytest
import sqlalchemy as sa

from invoice_pipeline.connectors.partner_center.check_steps import STEPS
from invoice_pipeline.demo.partner_center_fake import server as fake_server
from invoice_pipeline.demo.partner_center_fake.invoices import make_invoice
from invoice_pipeline.warehouse import tables as t
from invoice_pipeline_tests.cli_runner import Completed, run_cli
from invoice_pipeline_tests.connectors.partner_center_support import SECRET_ENV, start_fake, use_partner_center

SECRET = "Zq7-check-distinctive-S3cret-5521"  # appears nowhere else, so any output holding it is a leak
WRONG_SECRET = "Wr0ng-distinctive-S3cret-7730"


@pytest.fixture
def fake(monkeypatch):
    """The fake Partner Center, with a distinctive client secret (also in the environment)."""
    server = start_fake(monkeypatch, secret=SECRET)
    yield server
    server.stop()


@pytest.fixture
def checked(workspace, fake, tmp_path, monkeypatch):
    """The workspace's contoso-csp served by the fake; the check's temporary folders made in a folder of this test."""
    use_partner_center(workspace, fake)
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    return workspace


def _check(workspace, *args: str) -> Completed:
    return run_cli("providers", "check", *args, env=dict(os.environ), cwd=workspace.root)


def _steps(stdout: str) -> list[tuple[str, str, str]]:
    """(status, step, message) of each step line; sample lines (indented) left out."""
    lines = [line for line in stdout.splitlines() if not line.startswith("  ")]
    steps = [tuple(line.split("\t", 2)) for line in lines]
    assert all(len(step) == 3 for step in steps), stdout
    return steps  # type: ignore[return-value]


def _no_secret(completed: Completed, fake=None) -> None:
    shown = completed.stdout + completed.stderr
    assert SECRET not in shown and WRONG_SECRET not in shown
    assert "Traceback" not in shown
    for token in fake.tokens if fake is not None else ():
        assert token not in shown


def test_every_step_is_ok_against_the_fake(checked, fake):
    completed = _check(checked, "contoso-csp")

    assert completed.returncode == 0, completed.stdout + completed.stderr
    assert completed.stderr == ""
    steps = _steps(completed.stdout)
    assert [(status, name) for status, name, _ in steps] == [("ok", name) for name in STEPS]
    said = {name: message for _, name, message in steps}
    assert f"{SECRET_ENV} (client_secret_env) is set" in said["configuration"]
    assert "granted for scope https://api.partnercenter.microsoft.com/.default" in said["token for Partner Center"]
    assert "granted for scope https://graph.microsoft.com/.default" in said["token for Graph"]
    collection = said["invoice collection"]
    assert collection.startswith("2 documents")
    assert "id 2/2, invoiceDate 2/2, totalCharges 2/2, currencyCode 2/2, documentType 2/2" in collection
    assert "billingPeriodStartDate/billingPeriodEndDate 0/2" in collection  # as in Microsoft's collection example
    assert "span of the lines' charge dates" in collection and "document types: invoice 2" in collection
    download = said["download"]
    assert download.startswith("invoice G200000002 (the newest by invoiceDate")
    assert "reconciliation export: manifest compressedJSONLines, 3 blobs" in download
    assert "daily-rated usage export: manifest compressedJSONLines, 0 blobs, so its lines were read from v1" in download
    assert "usage 3 lines, license 3 lines" in download
    samples = [line.strip() for line in completed.stdout.splitlines() if line.startswith("  ")]
    assert len(samples) == 6
    assert samples[0] == (
        "usage G200000002-DR0000001: customer 7f3c2a10-1b7e-4c55-9a51-2d1f0e6b8a01, subscription SUB-AZ-1001, "
        "product AZURE-PLAN, charged 2026-10-01 to 2026-10-31, amount 2.304000 USD"
    )
    assert samples[3].startswith("license G200000002-OT0000001: customer 7f3c2a10-1b7e-4c55-9a51-2d1f0e6b8a01")
    totals = said["totals"]
    assert "header total_amount 408.81 USD" in totals and "tax_amount 0.00" in totals
    assert "lines 408.808000 exactly (usage 8.808000 + license 400.00)" in totals
    assert "difference 0.00 USD" in totals
    _no_secret(completed, fake)


def test_an_invoice_asked_for_is_the_one_downloaded_and_json_lists_the_steps(checked, fake):
    completed = _check(checked, "contoso-csp", "--invoice", "G200000001", "--json")

    assert completed.returncode == 0, completed.stderr
    steps = json.loads(completed.stdout)
    assert [(s["name"], s["status"]) for s in steps] == [(name, "ok") for name in STEPS]
    download = steps[4]
    assert download["message"].startswith("invoice G200000001 downloaded")
    assert "daily-rated usage export: manifest compressedJSONLines, 3 blobs" in download["message"]
    assert "usage 7 lines, license 3 lines" in download["message"]
    assert len(download["details"]) == 6
    assert "difference 0.00 USD" in steps[5]["message"]


def test_an_invoice_not_listed_fails_the_download_naming_the_listed_ones(checked, fake):
    completed = _check(checked, "contoso-csp", "--invoice", "G999")

    assert completed.returncode == 1
    steps = _steps(completed.stdout)
    assert steps[4] == (
        "FAILED",
        "download",
        "invoice G999 is not in the invoice collection (GET /v1/invoices); it lists G200000001, G200000002",
    )
    assert steps[5] == ("skipped", "totals", "nothing was downloaded")
    assert completed.stderr == "invoice-pipeline: contoso-csp: FAILED at download; nothing was imported\n"


def test_nothing_is_imported_and_nothing_is_left(checked, fake, tmp_path):
    assert _check(checked, "contoso-csp").returncode == 0
    assert _check(checked, "contoso-csp", "--invoice", "G200000001").returncode == 0

    warehouse = checked.warehouse()
    try:
        with warehouse.engine.connect() as conn:
            records = conn.execute(sa.select(sa.func.count()).select_from(t.provider_invoices)).scalar_one()
    finally:
        warehouse.dispose()
    assert records == 0
    assert not (checked.root / "data" / "downloads").exists()
    assert list((tmp_path / "tmp").iterdir()) == []  # the temporary download folders are gone
    assert any("/graph/" in path for path in fake.paths("POST"))  # it did download: the exports ran


def test_a_refused_secret_is_one_failed_token_line_with_the_endpoints_answer(checked, fake, monkeypatch):
    monkeypatch.setenv(SECRET_ENV, WRONG_SECRET)

    completed = _check(checked, "contoso-csp")

    assert completed.returncode == 1
    steps = _steps(completed.stdout)
    assert len(completed.stdout.splitlines()) == len(STEPS)
    assert [status for status, _, _ in steps] == ["ok", "FAILED", "skipped", "skipped", "skipped", "skipped"]
    _, name, message = steps[1]
    assert name == "token for Partner Center"
    assert message.startswith("not granted for scope https://api.partnercenter.microsoft.com/.default: POST ")
    assert message.endswith("/oauth2/v2.0/token: the token endpoint answered 401 Unauthorized (invalid_client)")
    assert {message for _, _, message in steps[2:]} == {"no token for Partner Center (see that step)"}
    assert "FAILED at token for Partner Center" in completed.stderr
    _no_secret(completed, fake)
    assert not any(path.startswith("/v1/") for path in fake.paths())  # nothing asked with no token


def test_a_missing_secret_variable_is_named_and_nothing_is_asked(checked, fake, monkeypatch):
    monkeypatch.delenv(SECRET_ENV)

    completed = _check(checked, "contoso-csp")

    assert completed.returncode == 1
    steps = _steps(completed.stdout)
    assert steps[0][:2] == ("FAILED", "configuration")
    assert f"the environment variable {SECRET_ENV} (client_secret_env) is not set or empty" in steps[0][2]
    assert [status for status, _, _ in steps[1:]] == ["skipped"] * 5
    assert fake.requests == []


def test_an_unexpected_manifest_format_is_one_failed_download_line(checked, fake):
    fake.faults.manifest_data_format = "parquet"

    completed = _check(checked, "contoso-csp")

    assert completed.returncode == 1
    steps = _steps(completed.stdout)
    assert [status for status, _, _ in steps] == ["ok", "ok", "ok", "ok", "FAILED", "skipped"]
    _, name, message = steps[4]
    assert name == "download" and "the manifest's data format 'parquet' is neither compressedJSONLines" in message
    # What the exports answered, as far as the download went: the newest invoice's daily-rated export is refused first.
    assert message.endswith("(so far: daily-rated usage export: manifest parquet, 0 blobs)")
    assert steps[5] == ("skipped", "totals", "the download failed")
    assert len([line for line in completed.stdout.splitlines() if line.startswith("FAILED")]) == 1
    _no_secret(completed, fake)


def test_a_refused_graph_token_fails_its_step_and_skips_a_download_that_needs_the_export(checked, fake, monkeypatch):
    # The fake's token endpoint refuses a scope it does not serve (400 invalid_scope): make it refuse Graph's.
    monkeypatch.setitem(fake_server.SCOPES, "/graph", "https://graph.example/.default")

    completed = _check(checked, "contoso-csp")

    assert completed.returncode == 1
    steps = _steps(completed.stdout)
    assert [status for status, _, _ in steps] == ["ok", "ok", "FAILED", "ok", "skipped", "skipped"]
    assert "400 Bad Request (invalid_scope)" in steps[2][2]
    assert (
        "the exports cannot run (the app needs the Graph application permission PartnerBilling.Read.All"
        in (steps[2][2])
    )
    assert "read through the Graph export, and the token for Graph was refused" in steps[4][2]


def test_a_collection_field_missing_fails_its_step_naming_the_documents_and_a_nested_void_note_is_read(checked, fake):
    void = make_invoice(
        "G220000004", total_charges="-1486.46", document_type="void_note", amends_of="G200000001", nested=True
    )
    fake.invoices[void.invoice_id] = void
    fake.invoices["G200000001"].invoice["amendments"] = [void.invoice]
    del fake.invoices["G200000002"].invoice["currencyCode"]

    completed = _check(checked, "contoso-csp", "--invoice", "G220000004")

    assert completed.returncode == 1
    steps = _steps(completed.stdout)
    assert [status for status, _, _ in steps] == ["ok", "ok", "ok", "FAILED", "ok", "ok"]
    collection = steps[3][2]
    assert collection.startswith("3 documents (2 items on 1 page, 1 note nested in amendments)")
    assert "id 3/3, invoiceDate 3/3, totalCharges 3/3, currencyCode 2/3, documentType 3/3" in collection
    assert "currencyCode missing in G200000002: their header.json would lack currency" in collection
    assert "document types: invoice 2, void_note 1" in collection
    assert "usage 0 lines, license 0 lines" in steps[4][2] and "document type void_note" in steps[4][2]
    assert steps[5][2].endswith("a note that voids the invoice it amends: no checksum")
    assert completed.stderr == "invoice-pipeline: contoso-csp: FAILED at invoice collection; nothing was imported\n"


def test_an_empty_collection_is_a_warning_and_nothing_is_downloaded(checked, fake):
    fake.invoices.clear()

    completed = _check(checked, "contoso-csp")

    assert completed.returncode == 0, completed.stderr
    steps = _steps(completed.stdout)
    assert [status for status, _, _ in steps] == ["ok", "ok", "ok", "warning", "skipped", "skipped"]
    assert steps[3][2].startswith("0 documents (0 items on 1 page, 0 notes nested in amendments): Partner Center lists")
    assert {message for _, _, message in steps[4:]} == {"the invoice collection lists no document"}


def test_a_folder_provider_is_refused_in_one_line(checked, fake):
    completed = _check(checked, "fabrikam-distribution")

    assert completed.returncode == 1
    assert completed.stdout == ""
    assert completed.stderr.count("\n") == 1
    assert "the check talks to Microsoft Partner Center only" in completed.stderr
    assert "`invoice-pipeline providers invoices fabrikam-distribution`" in completed.stderr
    assert fake.requests == []


def test_a_malformed_invoice_id_is_a_usage_error(checked, fake):
    completed = _check(checked, "contoso-csp", "--invoice", "../G1")

    assert completed.returncode == 2
    assert "Invalid value for '--invoice'" in completed.stderr
    assert fake.requests == []


def test_the_check_imports_no_dagster():
    import subprocess
    import sys

    code = (
        "import sys, invoice_pipeline.connectors.partner_center.check; "
        "sys.exit(1 if any(m == 'dagster' or m.startswith('dagster.') for m in sys.modules) else 0)"
    )
    assert subprocess.run([sys.executable, "-c", code], cwd=Path(__file__).parents[2]).returncode == 0
