"""Manual operations through the rules layer: deactivate, delete, unlink, checksum override, manual
invoices and their activation, billable consumption and customer invoices."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
import sqlalchemy as sa

from invoice_pipeline.composition import connector_for
from invoice_pipeline.domain.import_failures import ImportFailure
from invoice_pipeline.domain.invoice_keys import InvoiceKey
from invoice_pipeline.domain.refusals import ImportRefused
from invoice_pipeline.domain.statuses import Status
from invoice_pipeline.importing.invoice_import import activate_manual_invoice, import_provider_invoice
from invoice_pipeline.importing.sync_plan import plan_sync
from invoice_pipeline.operations.billing import billable_consumption, billable_usage_summary
from invoice_pipeline.operations.invoice_operations import (
    ChecksumOverrideRequest,
    OfferedInvoiceStatus,
    OperationRefused,
    checksum_override_difference,
    create_manual_invoice,
    deactivate_invoice,
    delete_invoice,
    header_fields,
    offered_invoice_statuses,
    request_checksum_override,
    unlink_invoice,
)
from invoice_pipeline.use_cases import import_invoice
from invoice_pipeline.warehouse import tables as t
from invoice_pipeline.warehouse.invoice_imports import import_verdict
from invoice_pipeline.warehouse.operations_log import OperationsLog
from invoice_pipeline_tests.builders import ADVENTURE_WORKS, bill_at_cost, license_line, usage_line

pytestmark = pytest.mark.engine_contract

KEY = InvoiceKey("contoso-csp", "G1")
MANUAL = InvoiceKey("fabrikam-distribution", "FAB-1")
ACTOR = "ops:alice@example.com"
REASON = "provider sent a corrected invoice (ticket 4711)"


def fab_line(line_id: str, amount: str = "135.00", **overrides) -> dict:
    """A Fabrikam (manual provider) license line, resolvable in the demo reference data."""
    row = license_line(
        line_id,
        amount,
        customer_id="FAB-CUST-77",
        subscription_id="FAB-SUB-1",
        product_id="BACKUP-TB",
        quantity="1",
        unit_price=amount,
    )
    row.update(overrides)
    return row


def _import(workspace, warehouse, key=KEY, **kwargs):
    return import_provider_invoice(
        workspace.config(), warehouse, key, connectors=connector_for, run_id="test-run", actor="test", **kwargs
    )


def _active_invoice(workspace, warehouse, invoice_id: str = KEY.invoice_id):
    """Three usage lines (two for Northwind, one for Adventure Works), one license line, and a warning note."""
    workspace.add_invoice(
        invoice_id,
        usage=[
            usage_line("U1", "10.00"),
            usage_line("U2", "5.50", product_id="UNKNOWN-PRODUCT"),  # a reference warning: the record gets notes
            usage_line("U3", "7.25", customer_id=ADVENTURE_WORKS, subscription_id="SUB-AZ-1002"),
        ],
        license=[license_line("L1", "36.00")],
    )
    result = _import(workspace, warehouse, InvoiceKey("contoso-csp", invoice_id))
    assert result.status == Status.ACTIVE, result.message
    return warehouse.current_record(InvoiceKey("contoso-csp", invoice_id))


def _count(warehouse, table: sa.Table, record_id: str) -> int:
    with warehouse.engine.connect() as conn:
        return conn.execute(
            sa.select(sa.func.count()).select_from(table).where(table.c.record_id == record_id)
        ).scalar_one()


def _links(warehouse) -> list[tuple[str, str, str]]:
    links = t.customer_invoice_lines
    with warehouse.engine.connect() as conn:
        return sorted(
            tuple(r) for r in conn.execute(sa.select(links.c.customer_invoice_id, links.c.record_id, links.c.line_id))
        )


def _customer_invoice_count(warehouse) -> int:
    with warehouse.engine.connect() as conn:
        return conn.execute(sa.select(sa.func.count()).select_from(t.customer_invoices)).scalar_one()


def _state(warehouse, key=KEY):
    """Everything an operation may change about an invoice: records, history, lines, notes, links."""
    records = warehouse.records(key)
    return (
        records,
        warehouse.history(key),
        {r.record_id: warehouse.line_totals(r.record_id) for r in records},
        {r.record_id: warehouse.notes(r.record_id) for r in records},
        _links(warehouse),
    )


# Deactivate ---------------------------------------------------------------------------------------


def test_deactivate_keeps_the_record_inactive_with_its_history_lines_and_notes(workspace, warehouse):
    record = _active_invoice(workspace, warehouse)
    lines_before = warehouse.line_totals(record.record_id)
    notes_before = warehouse.notes(record.record_id)
    assert notes_before and lines_before["usage"][0] == 3

    deactivated = deactivate_invoice(warehouse, KEY, actor=ACTOR, reason=REASON)

    assert deactivated.status == "Inactive" and deactivated.record_id == record.record_id
    assert warehouse.current_record(KEY) is None
    (kept,) = warehouse.records(KEY)
    assert (kept.record_id, kept.status, kept.current_key) == (record.record_id, "Inactive", None)
    assert kept.total_amount == record.total_amount and kept.usage_line_count == 3
    assert warehouse.line_totals(record.record_id) == lines_before
    assert warehouse.notes(record.record_id) == notes_before
    history = warehouse.history(KEY)
    assert [(h.from_status, h.to_status) for h in history] == [
        (None, "Populating"),
        ("Populating", "Active"),
        ("Active", "Inactive"),
    ]
    assert (history[-1].actor, history[-1].reason) == (ACTOR, f"deactivated: {REASON}")


def test_deactivated_invoice_is_imported_again_as_a_new_record_and_the_old_one_stays_as_history(workspace, warehouse):
    old = _active_invoice(workspace, warehouse)
    deactivate_invoice(warehouse, KEY, actor=ACTOR, reason=REASON)

    again = _import(workspace, warehouse)

    assert again.status == Status.ACTIVE and again.record_id != old.record_id
    records = warehouse.records(KEY)
    assert [(r.record_id, r.status) for r in records] == [(again.record_id, "Active"), (old.record_id, "Inactive")]
    assert warehouse.current_record(KEY).record_id == again.record_id
    assert warehouse.line_totals(old.record_id)["usage"][0] == 3  # the old lines stay with the old record
    assert warehouse.line_totals(again.record_id)["usage"][0] == 3
    history = warehouse.history(KEY)
    assert [h.to_status for h in history] == ["Populating", "Active", "Inactive", "Populating", "Active"]
    assert {h.record_id for h in history[:3]} == {old.record_id}
    assert {h.record_id for h in history[3:]} == {again.record_id}


# Delete -------------------------------------------------------------------------------------------


def test_delete_removes_the_record_its_lines_and_notes_but_the_history_remains_with_a_deleted_entry(
    workspace, warehouse
):
    record = _active_invoice(workspace, warehouse)
    assert _count(warehouse, t.invoice_notes, record.record_id) > 0

    delete_invoice(warehouse, KEY, actor=ACTOR, reason=REASON)

    assert warehouse.records(KEY) == []
    for table in (t.provider_invoices, t.usage_summaries, t.license_summaries, t.invoice_notes):
        assert _count(warehouse, table, record.record_id) == 0, table.name
    history = warehouse.history(KEY)
    assert [(h.from_status, h.to_status) for h in history] == [
        (None, "Populating"),
        ("Populating", "Active"),
        ("Active", "Deleted"),
    ]
    assert history[-1].record_id == record.record_id
    assert (history[-1].actor, history[-1].reason) == (ACTOR, f"deleted: {REASON}")


def test_deleted_invoice_can_be_imported_again(workspace, warehouse):
    record = _active_invoice(workspace, warehouse)
    delete_invoice(warehouse, KEY, actor=ACTOR, reason=REASON)
    again = _import(workspace, warehouse)
    assert again.status == Status.ACTIVE and again.record_id != record.record_id
    assert [r.record_id for r in warehouse.records(KEY)] == [again.record_id]


# Refused while invoiced, unlink ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("operation", "verb"),
    [(deactivate_invoice, "deactivated"), (delete_invoice, "deleted")],
    ids=["deactivate", "delete"],
)
def test_deactivate_and_delete_are_refused_while_lines_are_invoiced_naming_count_customer_invoices_and_unlink(
    workspace, warehouse, operation, verb
):
    _active_invoice(workspace, warehouse)
    created = bill_at_cost(warehouse, actor="billing-test")
    ids = sorted(c.customer_invoice_id for c in created)
    assert len(ids) == 2
    before = _state(warehouse)

    with pytest.raises(OperationRefused) as refused:
        operation(warehouse, KEY, actor=ACTOR, reason=REASON)

    message = str(refused.value)
    assert message == (
        f"{KEY} cannot be {verb}: 3 of its lines are invoiced to customer invoice(s) {', '.join(ids)}; "
        f"remove those references first with `invoice-pipeline invoices unlink {KEY}`"
    )
    assert "\n" not in message
    assert _state(warehouse) == before  # status, history, lines, notes and links unchanged
    assert warehouse.current_record(KEY).status == "Active"


def test_unlink_removes_the_links_and_writes_a_history_entry_after_which_deactivation_works(workspace, warehouse):
    record = _active_invoice(workspace, warehouse)
    ids = sorted(c.customer_invoice_id for c in bill_at_cost(warehouse, actor="billing-test"))

    unlinked = unlink_invoice(warehouse, KEY, actor=ACTOR, reason="credit note issued to the customers")

    assert (unlinked.line_count, unlinked.recomputed_drafts + unlinked.voided_drafts) == (3, ids)
    assert _links(warehouse) == []
    assert warehouse.invoiced_lines(record.record_id).line_count == 0
    assert _customer_invoice_count(warehouse) == 2  # the customer invoices themselves stay
    entry = warehouse.history(KEY)[-1]
    assert (entry.from_status, entry.to_status, entry.actor) == ("Active", "Active", ACTOR)
    assert entry.reason == (
        f"unlinked 3 lines from customer invoice(s) {', '.join(ids)}: credit note issued to the customers"
    )
    assert warehouse.current_record(KEY).status == "Active"

    assert deactivate_invoice(warehouse, KEY, actor=ACTOR, reason=REASON).status == "Inactive"


def test_unlink_only_removes_the_links_of_that_invoice(workspace, warehouse):
    _active_invoice(workspace, warehouse, "G1")
    other = _active_invoice(workspace, warehouse, "G2")
    bill_at_cost(warehouse, actor="billing-test")
    unlink_invoice(warehouse, KEY, actor=ACTOR, reason=REASON)
    assert {record_id for _, record_id, _ in _links(warehouse)} == {other.record_id}
    assert warehouse.invoiced_lines(other.record_id).line_count == 3


# Checksum override -----------------------------------------------------------------------------------


def _checksum_error(workspace, warehouse, total: str = "10000.00", key=KEY):
    """Lines of 9,999.63 USD against the header's `total`."""
    workspace.add_invoice(
        key.invoice_id, usage=[usage_line("U1", "6000.00")], license=[license_line("L1", "3999.63")], total=total
    )
    result = _import(workspace, warehouse, key)
    assert result.status == Status.ERROR and result.message.startswith("Checksum failed"), result.message
    return result


def test_checksum_override_below_the_maximum_makes_the_invoice_active_with_the_accepted_difference_stored(
    workspace, warehouse
):
    _checksum_error(workspace, warehouse)  # difference 0.37, maximum 0.50 (the default)
    config = workspace.config()
    assert config.checksum_override_maximum_in("USD") == Decimal("0.50")

    accepted = request_checksum_override(
        config, warehouse, KEY, actor=ACTOR, reason="rounding at the provider", difference=Decimal("0.37")
    )
    assert accepted == Decimal("0.37")
    result = import_provider_invoice(
        config, warehouse, KEY, connectors=connector_for, actor=ACTOR, approved_difference=accepted
    )

    assert result.status == Status.ACTIVE
    assert result.message == "Imported with accepted checksum difference 0.37 USD"
    record = warehouse.current_record(KEY)
    assert (record.status, record.accepted_difference, record.difference) == (
        "Active",
        Decimal("0.37"),
        Decimal("0.37"),
    )
    summary = json.loads(json.dumps(record.summary()))
    assert (summary["accepted_difference"], summary["difference"], summary["status"]) == ("0.37", "0.37", "Active")
    assert warehouse.line_totals(record.record_id) == {
        "usage": (1, Decimal("6000.00")),
        "license": (1, Decimal("3999.63")),
    }
    requested = [h for h in warehouse.history(KEY) if h.reason.startswith("checksum override requested")]
    assert len(requested) == 1
    assert requested[0].actor == ACTOR
    assert requested[0].reason == (
        "checksum override requested, approving a difference of 0.37 USD: rounding at the provider"
    )
    assert warehouse.history(KEY)[-1].actor == ACTOR


def test_an_import_without_override_stores_no_accepted_difference(workspace, warehouse):
    workspace.set_tolerance("contoso-csp", "0.50")
    workspace.add_invoice(KEY.invoice_id, usage=[usage_line("U1", "10.00")], adjust_total="0.37")
    _import(workspace, warehouse)
    # A difference within the provider's own tolerance is not an override.
    assert warehouse.current_record(KEY).accepted_difference is None


def test_an_import_that_fails_its_references_and_its_checksum_stores_both_and_refuses_the_override(
    workspace, warehouse
):
    workspace.add_invoice(KEY.invoice_id, usage=[usage_line("U1", customer_id="unknown-tenant")], adjust_total="0.37")
    _import(workspace, warehouse)
    assert warehouse.current_record(KEY).failures == (ImportFailure.REFERENCES, ImportFailure.CHECKSUM)
    with pytest.raises(OperationRefused, match="only accepts a checksum difference"):
        checksum_override_difference(workspace.config(), warehouse, KEY, approved=Decimal("0.37"))


def test_a_status_change_clears_the_failures_of_the_status_it_leaves(workspace, warehouse):
    _checksum_error(workspace, warehouse)
    deactivate_invoice(warehouse, KEY, actor=ACTOR, reason=REASON)
    assert warehouse.records(KEY)[0].failures == ()


def _set_override_maximum(workspace, maximum) -> None:
    import yaml

    data = yaml.safe_load(workspace.config_path.read_text())
    data["checksum_override_maximum"] = maximum
    workspace.config_path.write_text(yaml.safe_dump(data))


def test_an_override_whose_difference_changed_at_the_provider_ends_in_error_naming_both_figures(workspace, warehouse):
    # Issue #27, 6: approved 0.37 as stored; meanwhile the provider changed the header and the difference is 0.45.
    _checksum_error(workspace, warehouse, "10000.00")
    workspace.add_invoice(
        KEY.invoice_id, usage=[usage_line("U1", "6000.00")], license=[license_line("L1", "3999.63")], total="10000.08"
    )
    approved = ChecksumOverrideRequest(Decimal("0.37"), "rounding at the provider, ticket 7")

    result = import_invoice(
        workspace.config(),
        warehouse,
        KEY,
        connectors=connector_for,
        run_id="override",
        actor=ACTOR,
        checksum_override=approved,
    )

    assert (result.status, result.failures) == (Status.ERROR, (ImportFailure.CHECKSUM,))
    assert result.message == (
        "Checksum failed: header 10,000.08 USD; usage 6,000.00 + license 3,999.63 = 9,999.63; difference 0.45 USD; "
        "checksum override refused: the override approves a difference of 0.37 USD, but the invoice's checksum "
        "difference is 0.45 USD (header total minus lines total: the header exceeds the lines); nothing was "
        "accepted: look at the invoice again and approve 0.45 USD if it is acceptable"
    )
    record = warehouse.current_record(KEY)
    assert (record.status, record.difference, record.accepted_difference) == ("Error", Decimal("0.45"), None)
    assert warehouse.line_totals(record.record_id) == {"usage": (0, None), "license": (0, None)}
    history = warehouse.history(KEY)
    assert (history[-3].actor, history[-3].reason) == (
        ACTOR,
        "checksum override requested, approving a difference of 0.37 USD: rounding at the provider, ticket 7",
    )
    assert (history[-1].to_status, history[-1].actor, history[-1].reason) == ("Error", ACTOR, result.message)

    # The person looks again and approves the new figure: now it is accepted.
    again = ChecksumOverrideRequest(Decimal("0.45"), "provider confirmed 0.45, ticket 8")
    result = import_invoice(
        workspace.config(),
        warehouse,
        KEY,
        connectors=connector_for,
        run_id="override 2",
        actor=ACTOR,
        checksum_override=again,
    )
    assert (result.status, result.message) == (Status.ACTIVE, "Imported with accepted checksum difference 0.45 USD")
    assert warehouse.current_record(KEY).accepted_difference == Decimal("0.45")


def test_an_import_accepts_the_approved_difference_only_below_the_maximum_configured_when_it_runs(workspace, warehouse):
    _checksum_error(workspace, warehouse, "10000.00")
    _set_override_maximum(workspace, "0.30")  # lowered after the override was checked
    result = import_provider_invoice(
        workspace.config(), warehouse, KEY, connectors=connector_for, actor=ACTOR, approved_difference=Decimal("0.37")
    )
    assert result.status == Status.ERROR
    assert result.message.endswith(
        "; checksum override refused: the checksum difference 0.37 USD is not below the override maximum 0.30 USD; "
        "contact the provider"
    )


def _yen_checksum_error(workspace, warehouse) -> InvoiceKey:
    """A JPY invoice whose header is 3 JPY above its lines (a yen has no minor unit: 1 JPY is the smallest)."""
    key = InvoiceKey("contoso-csp", "Y1")
    workspace.add_invoice(
        key.invoice_id, usage=[usage_line("U1", "1000", currency="JPY")], currency="JPY", total="1003"
    )
    result = _import(workspace, warehouse, key)
    assert result.message.endswith("difference 3 JPY"), result.message
    return key


def test_a_yen_override_within_the_yens_maximum_is_accepted(workspace, warehouse):
    # Issue #27, 7: with one maximum of 0.50 for every currency, no yen difference could ever be overridden.
    _set_override_maximum(workspace, {"default": "0.50", "JPY": "50"})
    key = _yen_checksum_error(workspace, warehouse)

    result = import_invoice(
        workspace.config(),
        warehouse,
        key,
        connectors=connector_for,
        run_id="override",
        actor=ACTOR,
        checksum_override=ChecksumOverrideRequest(Decimal("3"), "rounding per line at the provider"),
    )

    assert (result.status, result.message) == (Status.ACTIVE, "Imported with accepted checksum difference 3 JPY")
    record = warehouse.current_record(key)
    assert (record.status, record.accepted_difference) == ("Active", Decimal("3"))
    assert warehouse.history(key)[-3].reason == (
        "checksum override requested, approving a difference of 3 JPY: rounding per line at the provider"
    )


def test_a_yen_override_under_one_maximum_for_every_currency_is_refused_saying_how_to_allow_it(workspace, warehouse):
    key = _yen_checksum_error(workspace, warehouse)  # checksum_override_maximum: the default 0.50
    before = _state(warehouse, key)
    with pytest.raises(OperationRefused) as refused:
        request_checksum_override(
            workspace.config(), warehouse, key, actor=ACTOR, reason="rounding", difference=Decimal("3")
        )
    assert str(refused.value) == (
        f"{key}: the checksum difference 3 JPY is not below the override maximum 0.5 JPY, and no JPY difference can "
        "be: its smallest is 1 JPY; set a maximum for JPY in the configuration (checksum_override_maximum: {default: "
        '"0.50", JPY: "50"}, for example), or contact the provider'
    )
    assert _state(warehouse, key) == before


# Manual invoices ----------------------------------------------------------------------------------------


def _manual_folder(workspace, lines=None, total: str | None = None, key=MANUAL):
    return workspace.add_invoice(
        key.invoice_id, license=[fab_line("F1")] if lines is None else lines, provider=key.provider, total=total
    )


def _create(workspace, warehouse, key=MANUAL, **kwargs):
    return create_manual_invoice(
        workspace.config(), warehouse, key, connectors=connector_for, actor=ACTOR, reason=REASON, **kwargs
    )


def _activate(config, warehouse, **kwargs):
    return activate_manual_invoice(
        config, warehouse, MANUAL, connectors=connector_for, actor=ACTOR, reason=REASON, **kwargs
    )


def test_manual_invoice_from_its_folder_starts_populating_marked_manual_without_lines(workspace, warehouse):
    _manual_folder(workspace)
    record = _create(workspace, warehouse)
    assert (record.status, record.is_manual) == ("Populating", True)
    assert (record.currency, record.minor_units, record.total_amount) == ("USD", 2, Decimal("135.00"))
    assert (record.invoice_date, record.billing_period_start) == (date(2026, 11, 5), date(2026, 10, 1))
    assert record.summary()["is_manual"] is True
    assert warehouse.line_totals(record.record_id) == {"usage": (0, None), "license": (0, None)}
    (entry,) = warehouse.history(MANUAL)
    assert (entry.from_status, entry.to_status, entry.actor) == (None, "Populating", ACTOR)
    assert entry.reason == f"created by hand: {REASON}"


def test_manual_invoice_from_header_fields_alone_writes_its_header_and_starts_populating(workspace, warehouse):
    fields = header_fields(
        invoice_date=date(2026, 11, 2),
        billing_period_start=date(2026, 10, 1),
        billing_period_end=date(2026, 10, 31),
        currency="EUR",
        total_amount="99.90",
    )
    record = _create(workspace, warehouse, header=fields)
    assert (record.status, record.is_manual, record.currency, record.total_amount) == (
        "Populating",
        True,
        "EUR",
        Decimal("99.90"),
    )
    header = json.loads((workspace.provider_folder("fabrikam-distribution") / "FAB-1" / "header.json").read_text())
    assert header == {"invoice_id": "FAB-1", **fields}


def test_creating_a_manual_invoice_from_invalid_header_fields_is_refused_and_leaves_no_header(workspace, warehouse):
    fields = header_fields(
        invoice_date=date(2026, 11, 2),
        billing_period_start=date(2026, 10, 1),
        billing_period_end=date(2026, 10, 31),
        currency="USD",
        total_amount="12,50",
    )
    with pytest.raises(OperationRefused, match="cannot be created: header.json: total_amount fails"):
        _create(workspace, warehouse, header=fields)
    assert warehouse.records(MANUAL) == []
    assert not (workspace.provider_folder("fabrikam-distribution") / "FAB-1" / "header.json").exists()


def test_creating_a_manual_invoice_without_folder_or_header_fields_is_refused(workspace, warehouse):
    with pytest.raises(OperationRefused, match="cannot be created: fabrikam-distribution has no invoice FAB-1"):
        _create(workspace, warehouse)
    assert warehouse.records(MANUAL) == []


# Activation ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("lines", "total", "expected"),
    [
        ([fab_line("F1", customer_id="FAB-CUST-UNKNOWN")], None, "Unresolved references: "),
        ([fab_line("F1")], "260.00", "Checksum failed: header 260.00 USD; usage 0.00 + license 135.00 = 135.00"),
        (
            [fab_line("F1", "1.000,00", unit_price="1000.00")],
            "1000.00",
            "Schema validation failed: license_summaries.csv column 'amount'",
        ),
    ],
    ids=["references", "checksum", "schema"],
)
def test_activation_failing_the_import_rules_is_refused_and_recorded_like_a_failed_import_and_stays_populating(
    workspace, warehouse, lines, total, expected
):
    _manual_folder(workspace, lines, total)
    record = _create(workspace, warehouse)

    with pytest.raises(ImportRefused) as refused:
        _activate(workspace.config(), warehouse)

    assert str(refused.value).startswith(f"{MANUAL} cannot be activated: {expected}")
    assert f"then `invoice-pipeline invoices activate {MANUAL} --reason ...` again" in str(refused.value)
    current = warehouse.current_record(MANUAL)
    assert (current.status, current.record_id, current.is_manual) == ("Populating", record.record_id, True)
    assert current.message.startswith(f"Activation refused: {expected}")
    assert warehouse.line_totals(record.record_id) == {"usage": (0, None), "license": (0, None)}
    last = warehouse.history(MANUAL)[-1]
    assert (last.from_status, last.to_status, last.actor) == ("Populating", "Populating", ACTOR)
    assert last.reason.startswith(f"activation refused (asked: {REASON}): {expected}")


def test_a_refused_activation_keeps_the_failures_notes_with_line_ids_and_how_to_fix(workspace, warehouse):
    _manual_folder(workspace, [fab_line("F1", customer_id="FAB-CUST-UNKNOWN"), fab_line("F2", "20.00")], "150.00")
    record = _create(workspace, warehouse)
    with pytest.raises(ImportRefused) as refused:
        _activate(workspace.config(), warehouse)
    folder = workspace.provider_folder("fabrikam-distribution") / "FAB-1"
    assert str(refused.value) == (
        f"{MANUAL} cannot be activated: Unresolved references: customer 'FAB-CUST-UNKNOWN' (1 line); see the "
        "Missing References note | Checksum failed: header 150.00 USD; usage 0.00 + license 155.00 = 155.00; "
        f"difference -5.00 USD; it stays Populating: fix its files in {folder} or the reference data (-5.00 USD is "
        "not below the checksum override maximum 0.50 USD), then "
        f"`invoice-pipeline invoices activate {MANUAL} --reason ...` again; its notes: "
        f"`invoice-pipeline invoices notes {MANUAL} --out DIR`"
    )
    notes = {(n.title, n.file_name): n.content for n in warehouse.notes(record.record_id)}
    assert set(notes) == {
        ("Missing References", "errors.csv"),
        ("Missing References", "warnings.csv"),
        ("Checksum", "line_totals.csv"),
    }
    assert "FAB-CUST-UNKNOWN" in notes["Missing References", "errors.csv"]
    assert "F1" in notes["Missing References", "errors.csv"]  # the example line id
    assert warehouse.current_record(MANUAL).difference == Decimal("-5.00")


def test_a_refused_activation_can_be_activated_again_once_fixed(workspace, warehouse):
    _manual_folder(workspace, [fab_line("F1")], "260.00")
    record = _create(workspace, warehouse)
    with pytest.raises(ImportRefused):
        _activate(workspace.config(), warehouse)
    _manual_folder(workspace, [fab_line("F1")], "135.00")
    result = _activate(workspace.config(), warehouse)
    assert (result.status, result.record_id) == (Status.ACTIVE, record.record_id)
    assert {n.title for n in warehouse.notes(record.record_id)} <= {"Missing References"}


def test_activation_passing_the_import_rules_sets_the_manual_invoice_active_with_its_lines(workspace, warehouse):
    _manual_folder(workspace, [fab_line("F1", "100.00"), fab_line("F2", "35.00")])
    record = _create(workspace, warehouse)

    result = _activate(workspace.config(), warehouse, run_id="activation")

    assert (result.status, result.message) == (Status.ACTIVE, "Imported")
    current = warehouse.current_record(MANUAL)
    assert (current.record_id, current.status, current.is_manual) == (record.record_id, "Active", True)
    assert (current.license_total, current.difference, current.license_line_count) == (
        Decimal("135.00"),
        Decimal("0"),
        2,
    )
    assert warehouse.line_totals(record.record_id)["license"] == (2, Decimal("135.00"))
    entry = warehouse.history(MANUAL)[-1]
    assert (entry.from_status, entry.to_status, entry.actor, entry.run_id) == (
        "Populating",
        "Active",
        ACTOR,
        "activation",
    )


def test_header_only_manual_invoice_is_activated_once_its_line_files_are_added_to_its_folder(workspace, warehouse):
    fields = header_fields(
        invoice_date=date(2026, 11, 2),
        billing_period_start=date(2026, 10, 1),
        billing_period_end=date(2026, 10, 31),
        currency="USD",
        total_amount="135.00",
    )
    _create(workspace, warehouse, header=fields)
    with pytest.raises(ImportRefused, match="Checksum failed"):
        _activate(workspace.config(), warehouse)
    _manual_folder(workspace, total="135.00")  # the line file is added (header.json rewritten with the same total)
    assert _activate(workspace.config(), warehouse).status == Status.ACTIVE


def test_an_accepted_difference_where_the_lines_exceed_the_header_keeps_its_sign_in_the_message(workspace, warehouse):
    _checksum_error(workspace, warehouse, total="9999.50")  # header minus lines: -0.13
    config = workspace.config()
    approved = Decimal("-0.13")
    request_checksum_override(
        config, warehouse, KEY, actor=ACTOR, reason="rounding at the provider", difference=approved
    )
    result = import_provider_invoice(
        config, warehouse, KEY, connectors=connector_for, actor=ACTOR, approved_difference=approved
    )
    assert result.message == "Imported with accepted checksum difference -0.13 USD"
    assert warehouse.current_record(KEY).accepted_difference == Decimal("-0.13")


def test_activation_accepting_a_checksum_difference_below_the_maximum_passes_and_stores_it(workspace, warehouse):
    _manual_folder(workspace, total="135.37")
    _create(workspace, warehouse)
    config = workspace.config()
    with pytest.raises(ImportRefused, match="difference 0.37 USD"):
        _activate(config, warehouse)

    result = _activate(config, warehouse, approved_difference=Decimal("0.37"))

    assert result.status == Status.ACTIVE
    assert result.message == "Imported with accepted checksum difference 0.37 USD"
    record = warehouse.current_record(MANUAL)
    assert record.accepted_difference == Decimal("0.37")
    assert record.summary()["accepted_difference"] == "0.37"


def test_activation_accepting_another_figure_than_the_difference_found_is_refused_naming_both(workspace, warehouse):
    _manual_folder(workspace, total="135.37")
    _create(workspace, warehouse)
    with pytest.raises(ImportRefused) as refused:
        _activate(workspace.config(), warehouse, approved_difference=Decimal("0.10"))
    assert str(refused.value).startswith(
        f"{MANUAL} cannot be activated: Checksum failed: header 135.37 USD; usage 0.00 + license 135.00 = 135.00; "
        "difference 0.37 USD; checksum override refused: the override approves a difference of 0.10 USD, but the "
        "invoice's checksum difference is 0.37 USD (header total minus lines total: the header exceeds the lines); "
    )
    assert "accept the difference with --accept-checksum-difference 0.37" in str(refused.value)
    record = warehouse.current_record(MANUAL)
    assert (record.status, record.accepted_difference, record.difference) == ("Populating", None, Decimal("0.37"))


def test_activation_accepting_a_checksum_difference_does_not_accept_the_maximum_itself(workspace, warehouse):
    # "Accept a checksum difference below checksum_override_maximum": 0.50 is not below 0.50, as for an override.
    _manual_folder(workspace, total="135.50")
    _create(workspace, warehouse)
    config = workspace.config()
    with pytest.raises(ImportRefused, match="0.50 USD is not below the override maximum 0.50 USD"):
        _activate(config, warehouse, approved_difference=Decimal("0.50"))
    assert warehouse.current_record(MANUAL).status == "Populating"


def test_activating_an_automatic_invoice_or_an_active_manual_one_is_refused(workspace, warehouse):
    _active_invoice(workspace, warehouse)
    with pytest.raises(ImportRefused, match="is an automatic provider's invoice: it becomes Active through its import"):
        activate_manual_invoice(
            workspace.config(), warehouse, KEY, connectors=connector_for, actor=ACTOR, reason=REASON
        )
    _manual_folder(workspace)
    _create(workspace, warehouse)
    _activate(workspace.config(), warehouse)
    with pytest.raises(ImportRefused, match="is Active; only a Populating manual invoice can be activated"):
        _activate(workspace.config(), warehouse)


def test_a_manual_invoice_can_be_deactivated_or_deleted_before_activation(workspace, warehouse):
    _manual_folder(workspace)
    _create(workspace, warehouse)
    assert deactivate_invoice(warehouse, MANUAL, actor=ACTOR, reason=REASON).status == "Inactive"
    second = _create(workspace, warehouse)
    delete_invoice(warehouse, MANUAL, actor=ACTOR, reason=REASON)
    assert [r.status for r in warehouse.records(MANUAL)] == ["Inactive"]
    assert warehouse.history(MANUAL)[-1].record_id == second.record_id


# The daily sync and manual invoices ------------------------------------------------------------------------


def _age(warehouse, key: InvoiceKey, days: int) -> None:
    pi = t.provider_invoices
    with warehouse.engine.begin() as conn:
        conn.execute(
            sa.update(pi)
            .where(pi.c.current_key == str(key))
            .values(updated_at=datetime.now(UTC) - timedelta(days=days))
        )


def test_the_daily_sync_plan_does_not_touch_manual_invoices(workspace, warehouse):
    workspace.add_invoice("G1", usage=[usage_line("U1")])
    _manual_folder(workspace)
    _create(workspace, warehouse)
    _manual_folder(workspace, key=InvoiceKey("fabrikam-distribution", "FAB-NEW"))  # offered, never created
    _age(warehouse, MANUAL, days=3)  # older than stuck_populating_after_minutes: still not retried
    before = _state(warehouse, MANUAL)

    plan = plan_sync(
        workspace.config(), warehouse, connectors=connector_for, changes=OperationsLog(warehouse), actor="test-sync"
    )

    assert [str(c.key) for c in plan.candidates] == ["contoso-csp:G1"]
    assert plan.eligible == [KEY]
    asked = plan_sync(
        workspace.config(),
        warehouse,
        ["fabrikam-distribution"],
        connectors=connector_for,
        changes=OperationsLog(warehouse),
        actor="test-sync",
    )
    verdicts = {str(c.key): (c.eligible, c.reason) for c in asked.candidates}
    assert verdicts[str(MANUAL)] == (
        False,
        f"a manual provider's invoice, never synced automatically: `invoice-pipeline invoices create {MANUAL} "
        f"--reason ...`, then `invoice-pipeline invoices activate {MANUAL} --reason ...`",
    )
    assert _state(warehouse, MANUAL) == before


def test_importing_a_manual_invoice_waiting_for_activation_is_refused_naming_activate(workspace, warehouse):
    _manual_folder(workspace)
    _create(workspace, warehouse)
    _age(warehouse, MANUAL, days=3)
    record = warehouse.current_record(MANUAL)
    refusal = import_verdict(record, timedelta(minutes=120)).reason
    assert refusal == (
        f"invoice {MANUAL} is a manual invoice waiting to be activated; "
        f"run `invoice-pipeline invoices activate {MANUAL} --reason ...` instead"
    )
    before = _state(warehouse, MANUAL)
    with pytest.raises(ImportRefused, match="invoices activate fabrikam-distribution:FAB-1"):
        _import(workspace, warehouse, MANUAL)
    assert _state(warehouse, MANUAL) == before


def test_offered_invoice_statuses_show_not_imported_for_invoices_without_a_record(workspace, warehouse):
    _active_invoice(workspace, warehouse, "G1")
    workspace.add_invoice("G2", usage=[usage_line("U1")], total="99.99")
    _manual_folder(workspace)
    _create(workspace, warehouse)
    offered = offered_invoice_statuses(workspace.config(), warehouse, "contoso-csp", connectors=connector_for)
    assert offered == [
        OfferedInvoiceStatus("G1", "Active", "USD", Decimal("58.75"), None),
        OfferedInvoiceStatus("G2", "not imported", "USD", Decimal("99.99"), None),
    ]
    assert [o.text() for o in offered] == ["G1\tActive\t58.75 USD", "G2\tnot imported\t99.99 USD"]
    assert [
        r.status
        for r in offered_invoice_statuses(
            workspace.config(), warehouse, "fabrikam-distribution", connectors=connector_for
        )
    ] == ["Populating"]


def test_offered_invoice_totals_keep_the_currencys_minor_units(workspace, warehouse):
    # header.json totals "46.00" and "-224.00" are shown so (as `providers invoices` did before), not "46" / "-224".
    workspace.add_invoice("G1", usage=[usage_line("U1", "10.00")], license=[license_line("L1", "36.00")])
    workspace.add_invoice("G2", license=[license_line("L1", "-224.00")])
    offered = offered_invoice_statuses(workspace.config(), warehouse, "contoso-csp", connectors=connector_for)
    assert [str(r.total_amount) for r in offered] == ["46.00", "-224.00"]
    assert [r.text() for r in offered] == ["G1\tnot imported\t46.00 USD", "G2\tnot imported\t-224.00 USD"]


# Billing ------------------------------------------------------------------------------------------------


def test_billable_consumption_is_usage_of_active_invoices_not_yet_invoiced_per_account_subscription_and_period(
    workspace, warehouse
):
    workspace.add_invoice(
        "G1",
        usage=[
            usage_line("U1", "10.00"),
            usage_line("U2", "5.50"),
            usage_line("U3", "7.25", customer_id=ADVENTURE_WORKS, subscription_id="SUB-AZ-1002"),
            usage_line("U4", "1.00", charge_start_date="2026-09-01", charge_end_date="2026-09-30"),
        ],
        license=[license_line("L1", "36.00")],  # licenses are not consumption
    )
    assert _import(workspace, warehouse, InvoiceKey("contoso-csp", "G1")).status == Status.ACTIVE
    workspace.add_invoice("G2", usage=[usage_line("U1", "500.00")], adjust_total="125.00")  # Error: no lines
    assert _import(workspace, warehouse, InvoiceKey("contoso-csp", "G2")).status == Status.ERROR
    _active_invoice(workspace, warehouse, "G3")
    deactivate_invoice(warehouse, InvoiceKey("contoso-csp", "G3"), actor=ACTOR, reason=REASON)  # Inactive
    _manual_folder(workspace, [fab_line("F1", amount="135.00")])
    _create(workspace, warehouse)  # Populating

    rows = billable_consumption(warehouse)

    assert [(r.account_id, r.subscription_id, r.charge_start_date, r.charge_end_date, r.currency) for r in rows] == [
        ("ACC-1001", "SUB-AZ-1001", date(2026, 9, 1), date(2026, 9, 30), "USD"),
        ("ACC-1001", "SUB-AZ-1001", date(2026, 10, 1), date(2026, 10, 31), "USD"),
        ("ACC-1002", "SUB-AZ-1002", date(2026, 10, 1), date(2026, 10, 31), "USD"),
    ]
    assert [(r.line_count, r.amount) for r in rows] == [
        (1, Decimal("1.00")),
        (2, Decimal("15.50")),
        (1, Decimal("7.25")),
    ]
    assert all(isinstance(r.amount, Decimal) for r in rows)


def test_billable_consumption_leaves_out_lines_already_invoiced(workspace, warehouse):
    _active_invoice(workspace, warehouse, "G1")
    bill_at_cost(warehouse, actor="billing-test")
    _active_invoice(workspace, warehouse, "G2")
    rows = billable_consumption(warehouse)
    assert [(r.account_id, r.line_count, r.amount) for r in rows] == [
        ("ACC-1001", 2, Decimal("15.50")),
        ("ACC-1002", 1, Decimal("7.25")),
    ]


def test_billable_consumption_of_one_invoice_before_and_after_some_of_its_lines_are_billed(workspace, warehouse):
    record = _active_invoice(workspace, warehouse)
    before = billable_consumption(warehouse, record.record_id)  # none of its lines billed yet
    assert [(r.account_id, r.line_count, r.amount) for r in before] == [
        ("ACC-1001", 2, Decimal("15.50")),
        ("ACC-1002", 1, Decimal("7.25")),
    ]
    with warehouse.engine.begin() as conn:  # one of its lines billed by hand
        conn.execute(
            sa.insert(t.customer_invoice_lines).values(
                customer_invoice_id="CI-1", record_id=record.record_id, line_id="U1", amount=Decimal("10.00")
            )
        )
    after = billable_consumption(warehouse, record.record_id)
    assert [(r.account_id, r.line_count, r.amount) for r in after] == [
        ("ACC-1001", 1, Decimal("5.50")),
        ("ACC-1002", 1, Decimal("7.25")),
    ]


def test_the_billable_summary_totals_every_row_exactly_and_shows_only_the_20_largest(workspace, warehouse):
    periods = [(date(2024 + m // 12, m % 12 + 1, 1), date(2024 + m // 12, m % 12 + 1, 28)) for m in range(30)]
    usage = [  # 30 charge periods of one subscription (30 rows), amounts with more places than cents
        usage_line(f"U{m}", f"{m + 1}.{m:02d}5", charge_start_date=str(start), charge_end_date=str(end))
        for m, (start, end) in enumerate(periods)
    ]
    usage.append(usage_line("U99", "-25.10", customer_id=ADVENTURE_WORKS, subscription_id="SUB-AZ-1002"))  # a credit
    workspace.add_invoice("G1", usage=usage)
    record = _import(workspace, warehouse, InvoiceKey("contoso-csp", "G1"))
    assert record.status == Status.ACTIVE

    every_row = billable_consumption(warehouse, record.record_id)
    summary = billable_usage_summary(warehouse, record.record_id)

    assert (summary.row_count, summary.line_count) == (31, 31) == (len(every_row), len(usage))
    [usd] = summary.totals
    assert (usd.currency, usd.amount) == ("USD", sum(row.amount for row in every_row))
    assert usd.as_row()["amount"] == "444.40"
    largest = sorted(every_row, key=lambda row: abs(row.amount), reverse=True)[:20]  # the credit among them
    assert summary.largest == largest
    assert summary.largest[0].as_row()["amount"] == "30.295"  # exact: more places than the currency's cents
    assert "-25.10" in [row.as_row()["amount"] for row in summary.largest]

    workspace.add_invoice("G2", usage=[usage_line("E1", "0.50", currency="EUR")], currency="EUR")
    assert _import(workspace, warehouse, InvoiceKey("contoso-csp", "G2")).status == Status.ACTIVE
    every_invoice = billable_usage_summary(warehouse)  # currencies kept apart, each totalled
    assert [(t.currency, t.row_count, t.line_count, t.amount) for t in every_invoice.totals] == [
        ("EUR", 1, 1, Decimal("0.50")),
        ("USD", 31, 31, usd.amount),
    ]
    assert every_invoice.largest == largest  # the EUR row is not among the 20 largest


def test_bill_customers_creates_one_customer_invoice_per_account_and_currency_linking_each_usage_line(
    workspace, warehouse
):
    record = _active_invoice(workspace, warehouse)

    created = bill_at_cost(warehouse, actor="billing-test")

    assert [(c.account_id, c.currency, c.total_amount, c.line_count) for c in created] == [
        ("ACC-1001", "USD", Decimal("15.50"), 2),
        ("ACC-1002", "USD", Decimal("7.25"), 1),
    ]
    assert {c.created_by for c in created} == {"billing-test"}
    assert len({c.customer_invoice_id for c in created}) == 2
    by_account = {c.account_id: c.customer_invoice_id for c in created}
    assert _links(warehouse) == sorted(
        [
            (by_account["ACC-1001"], record.record_id, "U1"),
            (by_account["ACC-1001"], record.record_id, "U2"),
            (by_account["ACC-1002"], record.record_id, "U3"),
        ]
    )
    with warehouse.engine.connect() as conn:
        stored = conn.execute(
            sa.select(t.customer_invoices.c.customer_invoice_id, t.customer_invoices.c.total_amount)
        ).all()
    assert sorted(stored) == sorted((c.customer_invoice_id, c.total_amount) for c in created)
    assert billable_consumption(warehouse) == []


def test_bill_customers_bills_each_currency_of_an_account_on_its_own_customer_invoice(workspace, warehouse):
    workspace.add_invoice("G1", usage=[usage_line("U1", "10.00")])
    workspace.add_invoice("G2", usage=[usage_line("U1", "20.00", currency="EUR")], currency="EUR")
    for invoice_id in ("G1", "G2"):
        assert _import(workspace, warehouse, InvoiceKey("contoso-csp", invoice_id)).status == Status.ACTIVE
    created = bill_at_cost(warehouse, actor="billing-test")
    assert sorted((c.account_id, c.currency, c.total_amount) for c in created) == [
        ("ACC-1001", "EUR", Decimal("20.00")),
        ("ACC-1001", "USD", Decimal("10.00")),
    ]
    assert len(_links(warehouse)) == 2


def test_billing_twice_bills_nothing_new(workspace, warehouse):
    _active_invoice(workspace, warehouse)
    bill_at_cost(warehouse, actor="billing-test")
    links = _links(warehouse)
    assert bill_at_cost(warehouse, actor="billing-test") == []
    assert _links(warehouse) == links
    assert _customer_invoice_count(warehouse) == 2


def test_lines_of_a_deactivated_invoice_are_never_billed_again(workspace, warehouse):
    old = _active_invoice(workspace, warehouse)
    bill_at_cost(warehouse, actor="billing-test")
    unlink_invoice(warehouse, KEY, actor=ACTOR, reason=REASON)
    deactivate_invoice(warehouse, KEY, actor=ACTOR, reason=REASON)

    assert billable_consumption(warehouse) == []
    assert bill_at_cost(warehouse, actor="billing-test") == []
    assert _links(warehouse) == []

    # Synced again: only the new record's lines are billable, once.
    again = _import(workspace, warehouse)
    rows = billable_consumption(warehouse)
    assert sum(r.line_count for r in rows) == 3
    bill_at_cost(warehouse, actor="billing-test")
    assert {record_id for _, record_id, _ in _links(warehouse)} == {again.record_id}
    assert old.record_id != again.record_id


def test_lines_of_a_deactivated_invoice_never_billed_before_are_not_billable(workspace, warehouse):
    _active_invoice(workspace, warehouse)
    deactivate_invoice(warehouse, KEY, actor=ACTOR, reason=REASON)
    assert billable_consumption(warehouse) == []
    assert bill_at_cost(warehouse, actor="billing-test") == []


def test_offered_invoice_statuses_tell_deactivated_and_deleted_invoices_and_unreadable_headers(workspace, warehouse):
    _active_invoice(workspace, warehouse, "G1")
    _active_invoice(workspace, warehouse, "G2")
    deactivate_invoice(warehouse, KEY, actor=ACTOR, reason=REASON)
    delete_invoice(warehouse, InvoiceKey("contoso-csp", "G2"), actor=ACTOR, reason=REASON)
    workspace.add_invoice("G3", usage=[usage_line("U1")])
    header = workspace.provider_folder() / "G3" / "header.json"
    fields = json.loads(header.read_text())
    del fields["currency"]
    header.write_text(json.dumps(fields))

    rows = {
        r.invoice_id: r
        for r in offered_invoice_statuses(workspace.config(), warehouse, "contoso-csp", connectors=connector_for)
    }

    assert {i: r.status for i, r in rows.items()} == {
        "G1": "Inactive (deactivated)",
        "G2": "Deleted",
        "G3": "not imported",
    }
    assert rows["G3"].header_problem == "header.json: missing field(s) currency"
    assert rows["G3"].text() == "G3\tnot imported\theader unreadable: header.json: missing field(s) currency"
    assert rows["G1"].header_problem is None
