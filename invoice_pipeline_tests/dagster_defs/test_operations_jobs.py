"""Manual operations as Dagster jobs (launchpad config), the import job's checksum override, and the
bill_customers asset job, run in a test instance against a test workspace; after each operation the
instance shows the invoice's partition in its new state (what the UI reads)."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal

import dagster as dg
import pytest
import sqlalchemy as sa

from invoice_pipeline.composition import connector_for
from invoice_pipeline.dagster_defs.invoice_state import WAITING_FOR_ACTIVATION, changed_at
from invoice_pipeline.dagster_defs.jobs import IMPORT_JOB
from invoice_pipeline.dagster_defs.mail import smtp_resource
from invoice_pipeline.dagster_defs.resources import pipeline_resource
from invoice_pipeline.dagster_defs.run_config import LaunchConfigRefused
from invoice_pipeline.dagster_defs.runs import run_invoice_import
from invoice_pipeline.definitions import defs
from invoice_pipeline.domain.invoice_keys import InvoiceKey
from invoice_pipeline.importing.invoice_import import import_provider_invoice
from invoice_pipeline.warehouse import tables as t
from invoice_pipeline_tests.builders import ADVENTURE_WORKS, bill_at_cost, clean_invoice, license_line, usage_line

KEY = InvoiceKey("contoso-csp", "G1")
MANUAL = InvoiceKey("fabrikam-distribution", "FAB-1")
PARTITIONS = "provider_invoices"
WHO = "alice@example.com"
OPERATION_JOBS = {
    "deactivate_provider_invoice": "deactivate_provider_invoice_op",
    "delete_provider_invoice": "delete_provider_invoice_op",
    "unlink_provider_invoice": "unlink_provider_invoice_op",
    "create_manual_provider_invoice": "create_manual_provider_invoice_op",
    "activate_manual_provider_invoice": "activate_manual_provider_invoice_op",
}


@pytest.fixture
def instance() -> Iterator[dg.DagsterInstance]:
    with dg.instance_for_test() as test_instance:
        yield test_instance


@pytest.fixture
def ops(workspace) -> dg.Definitions:
    """The real assets and jobs, with the resource bound to the test workspace (INVOICE_PIPELINE_CONFIG)."""
    return dg.Definitions(
        assets=defs.assets,
        jobs=defs.jobs,
        resources={"invoice_pipeline": pipeline_resource(), "smtp": smtp_resource()},
    )


def _fab_line(line_id: str, amount: str = "135.00") -> dict:
    return license_line(
        line_id,
        amount,
        customer_id="FAB-CUST-77",
        subscription_id="FAB-SUB-1",
        product_id="BACKUP-TB",
        unit_price=amount,
    )


def _run(ops, instance, job: str, **config) -> dg.ExecuteInProcessResult:
    """Launch an operation job as from the launchpad: its config at the top level, as the user types it."""
    return ops.resolve_job_def(job).execute_in_process(instance=instance, run_config=config, raise_on_error=False)


def _operation(ops, instance, job: str, key: InvoiceKey = KEY, reason: str = "duplicate of G2", **extra):
    return _run(ops, instance, job, invoice=str(key), reason=reason, requested_by=WHO, **extra)


def _failure(result: dg.ExecuteInProcessResult) -> tuple[str, str]:
    """The one failed step's error kind and its sentence, shown without a stack trace."""
    assert not result.success
    (event,) = result.get_step_failure_events()
    error = event.step_failure_data.error
    assert error.stack == []
    return error.cls_name, error.message


def _active_and_billed(workspace) -> list[str]:
    """KEY Active with three usage lines for two accounts, billed: returns the customer invoice ids."""
    clean_invoice(workspace, KEY.invoice_id)
    warehouse = workspace.warehouse()
    try:
        assert (
            import_provider_invoice(workspace.config(), warehouse, KEY, connectors=connector_for, actor="test").status
            == "Active"
        )
        return sorted(c.customer_invoice_id for c in bill_at_cost(warehouse, actor="test"))
    finally:
        warehouse.dispose()


def _look(workspace, key: InvoiceKey = KEY):
    """(current record, all records, history) of an invoice, read in a fresh warehouse connection."""
    warehouse = workspace.warehouse()
    try:
        return warehouse.current_record(key), warehouse.records(key), warehouse.history(key)
    finally:
        warehouse.dispose()


def _link_count(workspace) -> int:
    warehouse = workspace.warehouse()
    try:
        with warehouse.engine.connect() as conn:
            return conn.execute(sa.select(sa.func.count()).select_from(t.customer_invoice_lines)).scalar_one()
    finally:
        warehouse.dispose()


def _op_config_fields(job: dg.JobDefinition, op_name: str) -> dict:
    ops_type = job.run_config_schema.config_type.fields["ops"].config_type
    return ops_type.fields[op_name].config_type.fields["config"].config_type.fields


def _launchpad_fields(job: dg.JobDefinition) -> dict:
    """The fields the Launchpad asks for: an operation job's config is its op's, at the top level."""
    return job.run_config_schema.config_type.fields


def _metadata(event: dg.AssetMaterialization | dg.AssetObservation) -> dict:
    return {label: entry.value for label, entry in event.metadata.items()}


def _latest_observation(instance, key: InvoiceKey = KEY) -> dict | None:
    """The metadata of the last observation of the invoice's `provider_invoice` partition, if any."""
    records = instance.fetch_observations(
        dg.AssetRecordsFilter(asset_key=dg.AssetKey("provider_invoice"), asset_partitions=[str(key)]), limit=1
    ).records
    return _metadata(records[0].asset_observation) if records else None


def _materializations(instance, asset: str, key: InvoiceKey = KEY) -> list[dict]:
    """The metadata of the materializations of an asset's partition, newest first."""
    records = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=dg.AssetKey(asset), asset_partitions=[str(key)]), limit=10
    ).records
    return [_metadata(record.asset_materialization) for record in records]


def _partitions(instance) -> list[str]:
    return instance.get_dynamic_partitions(PARTITIONS)


# The definitions -----------------------------------------------------------------------------------


def test_definitions_hold_every_operation_job_and_the_bill_customers_job():
    names = {job.name for job in defs.resolve_all_job_defs()}
    assert set(OPERATION_JOBS) | {"bill_customers", "issue_customer_invoices", IMPORT_JOB} <= names
    billing_assets = defs.resolve_job_def("bill_customers").asset_layer.executable_asset_keys
    assert {key.to_user_string() for key in billing_assets} == {"customer_invoices"}


@pytest.mark.parametrize("job_name", sorted(OPERATION_JOBS))
def test_every_operation_jobs_launchpad_config_field_has_a_description(job_name):
    job = defs.resolve_job_def(job_name)
    assert job.description
    fields = _launchpad_fields(job)
    assert {"invoice", "reason", "requested_by"} <= set(fields)
    assert fields["invoice"].is_required and fields["reason"].is_required and fields["requested_by"].is_required
    undocumented = [name for name, field in fields.items() if not (field.description or "").strip()]
    assert undocumented == []


def test_the_import_jobs_override_options_are_optional_and_described():
    fields = _op_config_fields(defs.resolve_job_def(IMPORT_JOB), "provider_invoice_import")
    assert set(fields) == {"checksum_override", "requested_by"}
    assert not any(field.is_required for field in fields.values())
    assert all((field.description or "").strip() for field in fields.values())
    assert "checksum_override_maximum" in fields["checksum_override"].description
    override = fields["checksum_override"].config_type.inner_type.fields  # optional: None or the override
    assert {name for name, field in override.items() if field.is_required} == {"difference", "reason"}
    assert "header total minus lines total" in override["difference"].description


# Deactivate, unlink, delete -------------------------------------------------------------------------


def test_deactivate_job_fails_with_the_refusal_sentence_while_lines_are_invoiced(workspace, ops, instance):
    ids = _active_and_billed(workspace)
    instance.add_dynamic_partitions(PARTITIONS, [str(KEY)])
    _, _, history_before = _look(workspace)

    result = _operation(ops, instance, "deactivate_provider_invoice")

    cls_name, description = _failure(result)
    assert cls_name == "OperationRefused"
    assert description == (
        f"{KEY} cannot be deactivated: 3 of its lines are invoiced to customer invoice(s) {', '.join(ids)}; "
        f"remove those references first with `invoice-pipeline invoices unlink {KEY}`"
    )
    record, _, history = _look(workspace)
    assert record.status == "Active" and history == history_before
    assert instance.get_run_by_id(result.run_id).status == dg.DagsterRunStatus.FAILURE
    assert _partitions(instance) == [str(KEY)] and _latest_observation(instance) is None


def test_an_operation_run_launched_without_tags_gets_the_invoices_tags_for_the_runs_filter(workspace, ops, instance):
    _active_and_billed(workspace)
    result = _operation(ops, instance, "deactivate_provider_invoice")  # refused, but a run of that invoice
    tags = instance.get_run_by_id(result.run_id).tags
    assert (tags["invoice_pipeline/invoice"], tags["invoice_pipeline/provider"]) == (str(KEY), KEY.provider)


def test_deactivate_job_succeeds_after_the_unlink_job_with_who_and_why_in_the_history(workspace, ops, instance):
    ids = _active_and_billed(workspace)

    unlinked = _operation(ops, instance, "unlink_provider_invoice", reason="customers credited")
    assert unlinked.success
    assert _link_count(workspace) == 0
    assert _latest_observation(instance) == {
        "status": "Active",
        "change": f"unlinked 3 lines: {'; '.join(f'draft {i} void (no line left)' for i in ids)} by {WHO}: "
        "customers credited",
        "message": _look(workspace)[0].message,
        "record_id": _look(workspace)[0].record_id,
        "changed_at": changed_at(_look(workspace)[0]),
    }
    deactivated = _operation(ops, instance, "deactivate_provider_invoice", reason="provider reissued it")
    assert deactivated.success

    record, records, history = _look(workspace)
    assert record is None and [r.status for r in records] == ["Inactive"]
    unlink_entry, deactivate_entry = history[-2:]
    assert (unlink_entry.actor, unlink_entry.reason) == (
        WHO,
        f"unlinked 3 lines from customer invoice(s) {', '.join(ids)}: customers credited",
    )
    assert (deactivate_entry.to_status, deactivate_entry.actor, deactivate_entry.reason) == (
        "Inactive",
        WHO,
        "deactivated: provider reissued it",
    )
    run = instance.get_run_by_id(deactivated.run_id)
    assert run.tags["invoice_pipeline/operation"] == "deactivate_provider_invoice"


def test_deactivate_job_takes_the_partition_out_of_the_ui_with_an_observation_saying_who_and_why(
    workspace, ops, instance
):
    _active_and_billed(workspace)
    instance.add_dynamic_partitions(PARTITIONS, [str(KEY)])  # as the import made it
    assert _operation(ops, instance, "unlink_provider_invoice", reason="customers credited").success
    assert _partitions(instance) == [str(KEY)]

    assert _operation(ops, instance, "deactivate_provider_invoice", reason="provider reissued it").success

    _, (inactive,), _ = _look(workspace)
    assert _partitions(instance) == []
    assert _latest_observation(instance) == {
        "status": "Inactive",
        "change": f"deactivated by {WHO}: provider reissued it",
        "message": inactive.message or "",
        "record_id": inactive.record_id,
        "changed_at": changed_at(inactive),
    }


def test_unlink_job_with_nothing_invoiced_fails_with_the_refusal(workspace, ops, instance):
    workspace.add_invoice(KEY.invoice_id, usage=[usage_line("U1")])
    warehouse = workspace.warehouse()
    try:
        import_provider_invoice(workspace.config(), warehouse, KEY, connectors=connector_for, actor="test")
    finally:
        warehouse.dispose()
    assert _failure(_operation(ops, instance, "unlink_provider_invoice")) == (
        "OperationRefused",
        f"{KEY} has no lines invoiced to customers; nothing to unlink",
    )


def test_delete_job_removes_the_invoice_and_keeps_its_history_with_a_deleted_entry(workspace, ops, instance):
    _active_and_billed(workspace)
    instance.add_dynamic_partitions(PARTITIONS, [str(KEY)])
    refused = _operation(ops, instance, "delete_provider_invoice")
    assert "cannot be deleted: 3 of its lines are invoiced" in _failure(refused)[1]
    assert _operation(ops, instance, "unlink_provider_invoice").success
    assert _partitions(instance) == [str(KEY)]

    result = _operation(ops, instance, "delete_provider_invoice", reason="imported by mistake")

    assert result.success
    assert _partitions(instance) == []
    assert _latest_observation(instance) == {
        "status": "Deleted",
        "change": f"deleted (its history remains) by {WHO}: imported by mistake",
    }
    record, records, history = _look(workspace)
    assert record is None and records == []
    assert (history[-1].to_status, history[-1].actor, history[-1].reason) == (
        "Deleted",
        WHO,
        "deleted: imported by mistake",
    )


def test_an_operation_job_with_a_bad_invoice_key_is_refused_before_any_run_saying_how_to_write_it(
    workspace, ops, instance
):
    with pytest.raises(LaunchConfigRefused) as refused:
        _run(ops, instance, "deactivate_provider_invoice", invoice="G1", reason="x", requested_by=WHO)
    assert refused.value.problems == [
        "invoice: 'G1' is not an invoice key; write PROVIDER:INVOICE_ID, e.g. contoso-csp:G000024130"
    ]
    assert instance.get_runs() == []


@pytest.mark.parametrize("job_name", sorted(OPERATION_JOBS))
def test_every_operation_job_refuses_an_empty_invoice_reason_or_name_before_any_run(job_name, ops, instance):
    with pytest.raises(LaunchConfigRefused) as refused:
        _run(ops, instance, job_name, invoice="", reason=" ", requested_by="")
    assert refused.value.problems == [
        "invoice: empty; write the provider invoice as PROVIDER:INVOICE_ID, e.g. contoso-csp:G000024130",
        "reason: empty; write why you do this (kept in the invoice's history)",
        "requested_by: empty; write your name or email (kept in the invoice's history)",
    ]
    assert str(refused.value).startswith(f"{job_name} was not launched (nothing changed); fix its config:\n- invoice")
    assert instance.get_runs() == []


# Manual invoices -----------------------------------------------------------------------------------------


def test_create_job_from_header_fields_then_activate_job_make_a_manual_invoice_active(workspace, ops, instance):
    created = _operation(
        ops,
        instance,
        "create_manual_provider_invoice",
        MANUAL,
        reason="vendor invoice received by post",
        invoice_date="2026-11-05",
        billing_period_start="2026-10-01",
        billing_period_end="2026-10-31",
        currency="USD",
        total_amount="135.00",
    )
    assert created.success
    record, _, history = _look(workspace, MANUAL)
    assert (record.status, record.is_manual, record.total_amount) == ("Populating", True, Decimal("135.00"))
    assert (history[-1].actor, history[-1].reason) == (WHO, "created by hand: vendor invoice received by post")
    assert _partitions(instance) == [str(MANUAL)]
    assert _latest_observation(instance, MANUAL) == {
        "status": "Populating",
        "change": f"created by hand by {WHO}: vendor invoice received by post",
        "message": record.message or "",
        "record_id": record.record_id,
        "changed_at": changed_at(record),
        "what_to_do": WAITING_FOR_ACTIVATION,  # the partition's events say it waits for someone
    }
    assert _materializations(instance, "provider_invoice", MANUAL) == []

    workspace.add_invoice(MANUAL.invoice_id, license=[_fab_line("F1")], provider=MANUAL.provider)  # its lines
    activated = _operation(ops, instance, "activate_manual_provider_invoice", MANUAL, reason="lines checked")

    assert activated.success
    record, _, history = _look(workspace, MANUAL)
    assert (record.status, record.license_line_count) == ("Active", 1)
    assert (history[-1].from_status, history[-1].to_status, history[-1].actor) == (
        "Populating",
        "Active",
        WHO,
    )
    assert history[-1].run_id == activated.run_id
    assert _partitions(instance) == [str(MANUAL)]
    (shown,) = _materializations(instance, "provider_invoice", MANUAL)
    assert (shown["status"], shown["record_id"], shown["license_line_count"], shown["total_amount"]) == (
        "Active",
        record.record_id,
        1,
        "135.00",
    )
    assert [m["line_count"] for m in _materializations(instance, "license_summaries", MANUAL)] == [1]
    observed = _latest_observation(instance, MANUAL)
    assert (observed["status"], observed["change"]) == (
        "Active",
        f"activated by {WHO}: lines checked ({record.message})",
    )


def test_create_job_with_empty_header_fields_reads_the_invoice_folder(workspace, ops, instance):
    workspace.add_invoice(MANUAL.invoice_id, license=[_fab_line("F1")], provider=MANUAL.provider, total="135.00")
    assert _operation(ops, instance, "create_manual_provider_invoice", MANUAL).success
    record, _, _ = _look(workspace, MANUAL)
    assert (record.status, record.total_amount) == ("Populating", Decimal("135.00"))


def test_create_job_with_a_date_not_written_yyyy_mm_dd_is_refused_before_any_run(workspace, ops, instance):
    with pytest.raises(LaunchConfigRefused) as refused:
        _operation(
            ops,
            instance,
            "create_manual_provider_invoice",
            MANUAL,
            invoice_date="05/11/2026",
            billing_period_start="2026-10-01",
            billing_period_end="2026-10-31",
            currency="USD",
            total_amount="135.00",
        )
    assert refused.value.problems == ["invoice_date: '05/11/2026' is not a date; write YYYY-MM-DD, e.g. 2026-11-05"]
    assert instance.get_runs() == [] and _look(workspace, MANUAL)[1] == []


def test_create_job_with_only_some_header_fields_is_refused_before_any_run(workspace, ops, instance):
    with pytest.raises(LaunchConfigRefused) as refused:
        _operation(ops, instance, "create_manual_provider_invoice", MANUAL, currency="USD", total_amount="135.00")
    assert refused.value.problems == [
        "invoice_date, billing_period_start, billing_period_end: empty; give every header field, or leave them all "
        "empty to read header.json from the invoice's folder"
    ]
    assert instance.get_runs() == []


def test_create_job_for_an_automatic_provider_fails_with_the_refusal(workspace, ops, instance):
    workspace.add_invoice(KEY.invoice_id, usage=[usage_line("U1")])
    cls_name, description = _failure(_operation(ops, instance, "create_manual_provider_invoice", KEY))
    assert (cls_name, description.startswith("contoso-csp is an automatic provider")) == ("OperationRefused", True)


def test_activate_job_failing_the_import_rules_fails_with_the_imports_message_recorded_and_shown(
    workspace, ops, instance
):
    workspace.add_invoice(MANUAL.invoice_id, license=[_fab_line("F1")], provider=MANUAL.provider, total="135.37")
    assert _operation(ops, instance, "create_manual_provider_invoice", MANUAL).success
    _, _, history_before = _look(workspace, MANUAL)

    refused = _operation(ops, instance, "activate_manual_provider_invoice", MANUAL)

    kind, message = _failure(refused)
    assert kind == "OperationRefused"
    assert message.startswith(
        f"{MANUAL} cannot be activated: Checksum failed: header 135.37 USD; usage 0.00 + license 135.00 = 135.00; "
        "difference 0.37 USD; it stays Populating"
    )
    record, _, history = _look(workspace, MANUAL)
    assert record.status == "Populating" and len(history) == len(history_before) + 1  # the refusal is recorded
    observed = _latest_observation(instance, MANUAL)
    assert (observed["status"], observed["change"]) == (
        "Populating",
        f"activation refused, asked by {WHO}: duplicate of G2",
    )

    another = _operation(ops, instance, "activate_manual_provider_invoice", MANUAL, accept_checksum_difference="0.10")
    kind, message = _failure(another)
    assert kind == "OperationRefused"
    assert "the override approves a difference of 0.10 USD, but the invoice's checksum difference is 0.37 USD" in (
        message
    )
    assert _look(workspace, MANUAL)[0].status == "Populating"

    accepted = _operation(ops, instance, "activate_manual_provider_invoice", MANUAL, accept_checksum_difference="0.37")
    assert accepted.success
    record, _, _ = _look(workspace, MANUAL)
    assert (record.status, record.accepted_difference) == ("Active", Decimal("0.37"))


def test_activate_job_accepting_a_difference_not_written_as_a_decimal_is_refused_at_launch(ops, instance):
    with pytest.raises(LaunchConfigRefused) as refused:
        _operation(ops, instance, "activate_manual_provider_invoice", MANUAL, accept_checksum_difference="0,37")
    assert refused.value.problems == [
        "accept_checksum_difference: '0,37' is not a difference; write it as the invoice's message shows it (header "
        "total minus lines total, in the invoice's currency), a plain decimal such as 0.37 or -0.45"
    ]
    assert instance.get_runs() == []


def test_activate_job_keeps_the_requested_reason_in_the_history(workspace, ops, instance):
    # The launchpad asks for a reason, "kept in the invoice's history".
    workspace.add_invoice(MANUAL.invoice_id, license=[_fab_line("F1")], provider=MANUAL.provider)
    assert _operation(ops, instance, "create_manual_provider_invoice", MANUAL).success
    assert _operation(
        ops, instance, "activate_manual_provider_invoice", MANUAL, reason="lines checked against the PDF"
    ).success
    _, _, history = _look(workspace, MANUAL)
    activation = history[-1]
    assert activation.to_status == "Active"
    assert "lines checked against the PDF" in activation.reason, activation.reason


# Checksum override through the import job ------------------------------------------------------------------


def _checksum_error(workspace, total: str) -> None:
    workspace.add_invoice(
        KEY.invoice_id, usage=[usage_line("U1", "6000.00")], license=[license_line("L1", "3999.63")], total=total
    )
    warehouse = workspace.warehouse()
    try:
        assert (
            import_provider_invoice(workspace.config(), warehouse, KEY, connectors=connector_for, actor="test").status
            == "Error"
        )
    finally:
        warehouse.dispose()


def _override(difference: str = "0.37", reason: str = "rounding at the provider") -> dict:
    """The import job's options for a checksum override approving `difference`."""
    return {"checksum_override": {"difference": difference, "reason": reason}, "requested_by": WHO}


def _override_run_config(difference: str = "0.37", reason: str = "rounding at the provider") -> dict:
    return {"ops": {"provider_invoice_import": {"config": _override(difference, reason)}}}


def test_import_job_with_the_checksum_override_makes_the_invoice_active_with_the_accepted_difference(
    workspace, ops, instance
):
    _checksum_error(workspace, "10000.00")  # difference 0.37
    instance.add_dynamic_partitions(PARTITIONS, [str(KEY)])

    result = ops.resolve_job_def(IMPORT_JOB).execute_in_process(
        instance=instance, partition_key=str(KEY), run_config=_override_run_config(), raise_on_error=False
    )

    assert result.success
    record, _, history = _look(workspace)
    assert (record.status, record.accepted_difference) == ("Active", Decimal("0.37"))
    assert record.message == "Imported with accepted checksum difference 0.37 USD"
    assert record.run_id == result.run_id
    override = [h for h in history if h.reason.startswith("checksum override requested")]
    assert [(h.actor, h.reason) for h in override] == [
        (WHO, "checksum override requested, approving a difference of 0.37 USD: rounding at the provider")
    ]
    assert (history[-1].to_status, history[-1].actor) == ("Active", WHO)
    checks = {e.check_name: e.passed for e in result.get_asset_check_evaluations()}
    assert checks["checksum_matches"] is True
    materialized = {
        e.event_specific_data.materialization.asset_key.to_user_string(): e.event_specific_data.materialization
        for e in result.get_asset_materialization_events()
    }
    assert {"provider_invoice", "billable_usage"} <= set(materialized)
    shown = materialized["provider_invoice"].metadata
    assert (shown["accepted_difference"].value, shown["difference"].value) == ("0.37", "0.37")


def test_import_job_with_an_override_of_a_large_difference_is_refused_and_changes_nothing(workspace, ops, instance):
    _checksum_error(workspace, "10124.63")  # difference 125.00
    _, _, history_before = _look(workspace)

    outcome = run_invoice_import(ops, instance, KEY, _override("125.00", "please"))

    assert outcome.refused and not outcome.broken and not outcome.success
    assert outcome.error == (
        f"Import refused: {KEY}: the checksum difference 125.00 USD is not below the override maximum 0.50 USD; "
        "contact the provider"
    )
    record, _, history = _look(workspace)
    assert record.status == "Error" and history == history_before


def test_import_job_override_without_a_reason_is_refused(workspace, ops, instance):
    _checksum_error(workspace, "10000.00")
    outcome = run_invoice_import(ops, instance, KEY, _override(reason=" "))
    assert outcome.refused
    assert "needs a reason" in outcome.error
    assert _look(workspace)[0].status == "Error"


def test_import_job_override_approving_another_figure_is_refused_with_both_and_changes_nothing(
    workspace, ops, instance
):
    _checksum_error(workspace, "10000.00")  # difference 0.37
    _, _, history_before = _look(workspace)

    outcome = run_invoice_import(ops, instance, KEY, _override("0.10"))

    assert outcome.refused and not outcome.broken
    assert outcome.error == (
        f"Import refused: {KEY}: the override approves a difference of 0.10 USD, but the invoice's checksum "
        "difference is 0.37 USD (header total minus lines total: the header exceeds the lines); nothing was "
        "accepted: look at the invoice again and approve 0.37 USD if it is acceptable"
    )
    record, _, history = _look(workspace)
    assert record.status == "Error" and history == history_before


def test_import_job_override_whose_difference_changed_at_the_provider_fails_with_both_figures(workspace, ops, instance):
    _checksum_error(workspace, "10000.00")  # approved as 0.37, then the provider changes the header: 0.45
    workspace.add_invoice(
        KEY.invoice_id, usage=[usage_line("U1", "6000.00")], license=[license_line("L1", "3999.63")], total="10000.08"
    )

    outcome = run_invoice_import(ops, instance, KEY, _override("0.37"))

    assert not outcome.success and not outcome.refused and not outcome.broken  # failed: the invoice is in Error
    record, _, _ = _look(workspace)
    assert (record.status, record.accepted_difference, record.difference) == ("Error", None, Decimal("0.45"))
    assert "the override approves a difference of 0.37 USD, but the invoice's checksum difference is 0.45 USD" in (
        record.message
    )


def test_import_job_override_with_a_difference_not_written_as_a_decimal_is_refused(workspace, ops, instance):
    _checksum_error(workspace, "10000.00")
    _, _, history_before = _look(workspace)
    outcome = run_invoice_import(ops, instance, KEY, _override("0.37 USD"))
    assert outcome.refused
    assert outcome.error.startswith("Import refused: checksum_override.difference: '0.37 USD' is not a difference")
    assert _look(workspace)[2] == history_before


# Billing ------------------------------------------------------------------------------------------------------


def _materialized(result: dg.ExecuteInProcessResult) -> dict[str, dict]:
    found = {}
    for event in result.get_asset_materialization_events():
        materialization = event.event_specific_data.materialization
        found[materialization.asset_key.to_user_string()] = dict(materialization.metadata)
    return found


def test_bill_customers_job_materializes_billable_consumption_and_customer_invoices(workspace, ops, instance):
    workspace.add_invoice(
        KEY.invoice_id,
        usage=[
            usage_line("U1", "10.00"),
            usage_line("U2", "5.50"),
            usage_line("U3", "7.25", customer_id=ADVENTURE_WORKS, subscription_id="SUB-AZ-1002"),
        ],
    )
    warehouse = workspace.warehouse()
    try:
        import_provider_invoice(workspace.config(), warehouse, KEY, connectors=connector_for, actor="test")
    finally:
        warehouse.dispose()
    job = ops.resolve_job_def("bill_customers")

    first = job.execute_in_process(instance=instance, partition_key="2026-10")

    materialized = _materialized(first)["customer_invoices"]
    assert (materialized["drafts_changed"].value, materialized["drafts"].value) == (2, 2)
    documents = [r.data for r in materialized["largest_documents"].records]
    # Northwind's terms add 10 % (15.50 -> 17.05), Adventure Works' 8.5 % (7.25 -> 7.87).
    assert sorted((r["account_id"], r["status"], r["total_amount"]) for r in documents) == [
        ("ACC-1001", "draft", "17.05"),
        ("ACC-1002", "draft", "7.87"),
    ]
    assert materialized["held_back_lines"].value == 0
    assert _link_count(workspace) == 3

    second = _materialized(job.execute_in_process(instance=instance, partition_key="2026-10"))["customer_invoices"]
    assert (second["drafts_changed"].value, second["drafts"].value) == (0, 2)
    assert _link_count(workspace) == 3

    issued = ops.resolve_job_def("issue_customer_invoices").execute_in_process(
        instance=instance,
        run_config={"ops": {"issue_customer_invoices_op": {"config": {"period": "2026-10", "requested_by": WHO}}}},
    )
    assert issued.success
    shown = [e for e in issued.all_events if e.event_type_value == "ASSET_MATERIALIZATION"]
    [event] = shown
    metadata = event.event_specific_data.materialization.metadata
    assert (event.event_specific_data.materialization.partition, metadata["issued_invoices"].value) == ("2026-10", 2)
