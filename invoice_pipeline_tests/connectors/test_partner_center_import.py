"""Full imports through Dagster from the fake Partner Center, and the daily change check through the same client."""

from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal

import pytest
import sqlalchemy as sa
import yaml

from invoice_pipeline.composition import connector_for
from invoice_pipeline.domain.invoice_keys import InvoiceKey
from invoice_pipeline.domain.lifecycle import Stage
from invoice_pipeline.importing.eligibility import invoice_standing
from invoice_pipeline.importing.invoice_import import import_provider_invoice
from invoice_pipeline.importing.sync_plan import plan_sync
from invoice_pipeline.warehouse import tables as t
from invoice_pipeline.warehouse.operations_log import OperationsLog
from invoice_pipeline_tests.connectors.partner_center_support import use_partner_center
from invoice_pipeline_tests.dagster_defs.test_invoice_assets import _materializations, _observations, _run_import

FIRST, SECOND = InvoiceKey("contoso-csp", "G200000001"), InvoiceKey("contoso-csp", "G200000002")


@pytest.fixture
def partner_center(workspace, fake):
    """The workspace's automatic provider contoso-csp, served by the fake Partner Center."""
    use_partner_center(workspace, fake)
    return fake


def _record(workspace, key: InvoiceKey):
    warehouse = workspace.warehouse()
    try:
        return warehouse.current_record(key)
    finally:
        warehouse.dispose()


def _extras(workspace, record_id: str) -> list[dict]:
    warehouse = workspace.warehouse()
    try:
        with warehouse.engine.connect() as conn:
            table = t.usage_summaries
            rows = conn.execute(sa.select(table.c.extra).where(table.c.record_id == record_id)).all()
    finally:
        warehouse.dispose()
    return [json.loads(extra) for (extra,) in rows]


def _downloads(workspace) -> list[str]:
    folder = workspace.root / "data" / "downloads" / "contoso-csp"
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


@pytest.mark.parametrize("key", [FIRST, SECOND], ids=["license_based_and_exported_usage", "one_time_and_v1_usage"])
def test_a_full_import_through_dagster_from_partner_center_ends_active(
    workspace, partner_center, workspace_defs, instance, key
):
    partner_center.faults.throttled, partner_center.faults.server_errors = 1, 1
    partner_center.faults.expired_tokens, partner_center.faults.running_polls = 1, 2

    result = _run_import(workspace_defs, instance, key)

    assert result.success
    invoice = _materializations(result)["provider_invoice"]
    assert invoice["status"] == "Active", invoice["message"]
    expected = {FIRST: ("1486.46", 7, 3), SECOND: ("408.81", 3, 3)}[key]
    assert (Decimal(invoice["total_amount"]), invoice["usage_line_count"], invoice["license_line_count"]) == (
        Decimal(expected[0]),
        expected[1],
        expected[2],
    )
    extras = _extras(workspace, invoice["record_id"])
    assert {e["meter_category"] for e in extras} == {"Virtual Machines"}
    assert {e["line_item_type"] for e in extras} == {"DailyRatedUsageLineItem"}
    assert json.loads(extras[0]["tags"]) == {"env": "prod", "costCenter": "CC-42"}
    assert _downloads(workspace) == [key.invoice_id]


@pytest.mark.parametrize(
    ("fault", "message"),
    [
        pytest.param(
            lambda f: f.faults.failed_exports.update({"G200000001": ("500", "Internal server error")}),
            "the daily-rated usage export of invoice G200000001 failed at Partner Center: 500 Internal server error",
            id="failed_export",
        ),
        pytest.param(
            lambda f: f.faults.unreadable_blobs.add("G200000001"),
            "the daily-rated usage export of invoice G200000001: blob part-00002-daily_rated.json.gz cannot be read",
            id="unreadable_blob",
        ),
        pytest.param(
            lambda f: f.faults.forbidden.add("G200000001"),
            "/reports/partners/billing/usage/billed/export: Partner Center answered 403 Forbidden "
            "(403 Forbidden: PartnerBilling.Read.All is not granted)",
            id="forbidden",
        ),
    ],
)
def test_a_provider_failure_ends_the_import_in_error_with_the_providers_answer_and_nothing_partial(
    workspace, partner_center, workspace_defs, instance, fault, message
):
    fault(partner_center)

    result = _run_import(workspace_defs, instance, FIRST)

    assert _materializations(result) == {}  # the partition shows the Error as a failed run
    invoice = _observations(result)["provider_invoice"]
    assert invoice["status"] == "Error"
    assert message in invoice["message"]
    record = _record(workspace, FIRST)
    assert record.status == "Error" and message in record.message
    assert record.usage_line_count is None and record.license_line_count is None
    assert _downloads(workspace) == []


def test_the_daily_change_check_gets_partner_centers_header_totals_through_the_client(
    workspace, partner_center, workspace_defs, instance, warehouse
):
    assert _run_import(workspace_defs, instance, FIRST).success
    plan = plan_sync(
        workspace.config(), warehouse, connectors=connector_for, changes=OperationsLog(warehouse), actor="test"
    )
    assert plan.eligible == [SECOND] and plan.new_changes == []

    partner_center.invoices["G200000001"].invoice["totalCharges"] = Decimal("1500.10")
    plan = plan_sync(
        workspace.config(), warehouse, connectors=connector_for, changes=OperationsLog(warehouse), actor="test"
    )

    assert [(c.old_total, c.new_total) for c in plan.new_changes] == [(Decimal("1486.46"), Decimal("1500.10"))]
    assert _record(workspace, FIRST).status == "Active"


def test_a_provider_that_does_not_answer_is_reported_by_the_plan(workspace, partner_center, warehouse):
    partner_center.faults.forbidden = set()
    partner_center.faults.server_errors = 100

    plan = plan_sync(
        workspace.config(), warehouse, connectors=connector_for, changes=OperationsLog(warehouse), actor="test"
    )

    assert plan.candidates == []
    assert len(plan.provider_errors) == 1 and "500 Internal Server Error" in plan.provider_errors[0]


def test_an_import_waiting_on_slow_exports_keeps_its_claim_and_is_not_taken_for_a_stopped_one(
    workspace, fake, warehouse
):
    settings = yaml.safe_load(workspace.config_path.read_text())
    settings["import_claim_lapse_seconds"] = 3
    workspace.config_path.write_text(yaml.safe_dump(settings, sort_keys=False), encoding="utf-8")
    use_partner_center(workspace, fake, max_retry_after_seconds=1)
    fake.faults.running_polls, fake.faults.poll_retry_after = 6, "1"  # each export runs for about 6 s
    config = workspace.config()
    with ThreadPoolExecutor(1) as pool:
        importing = pool.submit(
            import_provider_invoice, config, warehouse, FIRST, connectors=connector_for, run_id="slow-export"
        )
        time.sleep(4.5)  # longer than the claim: only its renewals keep it
        assert not importing.done(), "the exports did not keep the import waiting"
        assert invoice_standing(warehouse, FIRST, config.stuck_after).stage == Stage.IMPORTING
        assert warehouse.release_stopped_imports(config.stuck_after, actor="next command") == []
        result = importing.result(timeout=120)
    assert result.status == "Active", result.message


def test_a_credit_note_imported_through_dagster_shows_its_original_voided_on_the_originals_partition(
    workspace, partner_center, workspace_defs, instance
):
    from invoice_pipeline.demo.partner_center_fake.invoices import NORTHWIND, daily_rated_line, make_invoice
    from invoice_pipeline_tests.dagster_defs.test_operations_jobs import _latest_observation

    original = make_invoice(
        "G240000001", daily_rated=[daily_rated_line(NORTHWIND, "SUB-AZ-1001", 2, "D2s v5 VM", "24", "0.20")]
    )
    note = make_invoice("G240000002", total_charges="-4.80", document_type="credit_note", amends_of="G240000001")
    partner_center.invoices.update({original.invoice_id: original, note.invoice_id: note})
    original_key, note_key = InvoiceKey("contoso-csp", "G240000001"), InvoiceKey("contoso-csp", "G240000002")
    assert _run_import(workspace_defs, instance, original_key).success

    result = _run_import(workspace_defs, instance, note_key)

    assert result.success
    shown = _materializations(result)["provider_invoice"]
    assert (shown["status"], shown["document_type"], shown["amends_invoice_id"]) == (
        "Active",
        "credit_note",
        "G240000001",
    )
    assert "voids G240000001" in shown["message"]
    voided = _latest_observation(instance, original_key)
    assert voided is not None and voided["status"] == "Inactive"
    assert "voided by credit note G240000002" in voided["change"]
    assert original_key not in [InvoiceKey.parse(k) for k in instance.get_dynamic_partitions("provider_invoices")]
