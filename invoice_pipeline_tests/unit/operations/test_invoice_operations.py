"""The operations' refusals and what they write, decided by the lifecycle and the stored record: deactivate and
delete (refused while lines are invoiced), unlink, the checksum override (the very figure stored, below the
maximum, with a reason), manual invoices (created for manual providers only, once). A refusal changes nothing.

What the operations do to lines, notes and customer invoices on a real warehouse is the engine tier's
(invoice_pipeline_tests/operations/test_invoice_operations.py)."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest

from invoice_pipeline.domain.import_failures import ImportFailure
from invoice_pipeline.domain.invoice_keys import InvoiceKey
from invoice_pipeline.domain.statuses import Status
from invoice_pipeline.operations.invoice_operations import (
    ChecksumOverrideRequest,
    OperationRefused,
    checksum_override_difference,
    create_manual_invoice,
    deactivate_invoice,
    delete_invoice,
    header_fields,
    request_checksum_override,
    unlink_invoice,
)
from invoice_pipeline.use_cases import import_invoice
from invoice_pipeline_tests.fakes import FakeConnectors, InMemoryWarehouse, pipeline_config, stored_record, utc_now

KEY = InvoiceKey("contoso-csp", "G1")
MANUAL = InvoiceKey("fabrikam-distribution", "FAB-1")
ACTOR = "ops:alice@example.com"
REASON = "provider sent a corrected invoice (ticket 4711)"


def _state(warehouse):
    return dict(warehouse.stored), list(warehouse.entries), dict(warehouse.invoiced)


def _refused(warehouse, operation, *args, **kwargs) -> str:
    before = _state(warehouse)
    with pytest.raises(OperationRefused) as refused:
        operation(*args, **kwargs)
    assert _state(warehouse) == before  # a refusal changes nothing
    return str(refused.value)


def _stored(warehouse, status: Status = Status.ACTIVE, key=KEY, **values):
    record = stored_record(key, status, **values)
    warehouse.add(record)
    return record


def _checksum_error(warehouse, difference: str = "0.37", currency: str = "USD", minor_units: int = 2, **values):
    """An invoice in Error for its checksum alone, with its difference (header total minus lines total) stored."""
    values = {"failures": (ImportFailure.CHECKSUM,), "message": f"Checksum failed: difference {difference}"} | values
    return _stored(
        warehouse, Status.ERROR, difference=Decimal(difference), currency=currency, minor_units=minor_units, **values
    )


def _override_refused(config, warehouse, *, reason: str, difference: str) -> str:
    request = {"actor": ACTOR, "reason": reason, "difference": Decimal(difference)}
    return _refused(warehouse, request_checksum_override, config, warehouse, KEY, **request)


def _history(warehouse, key=KEY):
    return [(e.from_status, e.to_status, e.reason, e.actor) for e in warehouse.history(key)]


# Deactivate, delete -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("operation", [deactivate_invoice, delete_invoice], ids=["deactivate", "delete"])
def test_an_invoice_without_a_current_record_cannot_be_deactivated_or_deleted(warehouse, operation):
    refusal = _refused(warehouse, operation, warehouse, KEY, actor=ACTOR, reason=REASON)
    assert "has no current record to " in refusal and "it has never been imported" in refusal


def test_deactivating_an_invoice_without_a_current_record_is_refused(warehouse):
    with pytest.raises(OperationRefused, match="has no current record to deactivate"):
        deactivate_invoice(warehouse, KEY, actor=ACTOR, reason=REASON)


def test_deactivating_an_automatic_invoice_still_being_imported_is_refused_and_changes_nothing(warehouse):
    _stored(warehouse, Status.POPULATING, run_id="other-run")
    refusal = _refused(warehouse, deactivate_invoice, warehouse, KEY, actor=ACTOR, reason=REASON)
    assert refusal.startswith(f"{KEY} is being imported; wait for the import to finish")


def test_deactivating_keeps_the_record_inactive_saying_who_and_why(warehouse):
    _stored(warehouse)
    record = deactivate_invoice(warehouse, KEY, actor=ACTOR, reason=REASON)
    assert (record.status, warehouse.current_record(KEY)) == (Status.INACTIVE, None)
    assert _history(warehouse) == [("Active", "Inactive", f"deactivated: {REASON}", ACTOR)]


def test_an_error_invoice_can_be_deactivated(warehouse):
    _stored(warehouse, Status.ERROR)
    assert deactivate_invoice(warehouse, KEY, actor=ACTOR, reason=REASON).status == Status.INACTIVE


def test_deactivate_unlink_and_delete_run_every_statement_in_one_kept_open_block(warehouse):
    watched = ("current_record", "invoiced_lines", "set_status", "unlink_lines", "delete_record")
    _stored(warehouse)
    warehouse.link_lines(_stored(warehouse, key=MANUAL, is_manual=True), 1, ["CI-1"])
    seen = warehouse.calls_seen(*watched)
    deactivate_invoice(warehouse, KEY, actor=ACTOR, reason=REASON)
    unlink_invoice(warehouse, MANUAL, actor=ACTOR, reason=REASON)
    delete_invoice(warehouse, MANUAL, actor=ACTOR, reason=REASON)
    assert {name for name, _ in seen} == set(watched)
    assert all(depth == 1 for _, depth in seen), seen


def test_deleting_removes_the_current_record_and_says_so_in_its_history(warehouse):
    _stored(warehouse, Status.ERROR)
    delete_invoice(warehouse, KEY, actor=ACTOR, reason=REASON)
    assert warehouse.current_record(KEY) is None
    assert _history(warehouse) == [("Error", "Deleted", f"deleted: {REASON}", ACTOR)]


@pytest.mark.parametrize(
    ("operation", "verb"),
    [(deactivate_invoice, "deactivated"), (delete_invoice, "deleted")],
    ids=["deactivate", "delete"],
)
def test_deactivate_and_delete_are_refused_while_lines_are_invoiced_naming_count_customer_invoices_and_unlink(
    warehouse, operation, verb
):
    warehouse.link_lines(_stored(warehouse), 3, ["CI-1", "CI-2"])
    assert _refused(warehouse, operation, warehouse, KEY, actor=ACTOR, reason=REASON) == (
        f"{KEY} cannot be {verb}: 3 of its lines are invoiced to customer invoice(s) CI-1, CI-2; "
        f"remove those references first with `invoice-pipeline invoices unlink {KEY}`"
    )


def test_a_refusal_names_ten_customer_invoices_and_counts_the_others(warehouse):
    warehouse.link_lines(_stored(warehouse), 12, [f"CI-{n:02}" for n in range(12)])
    refusal = _refused(warehouse, deactivate_invoice, warehouse, KEY, actor=ACTOR, reason=REASON)
    assert "customer invoice(s) CI-00, CI-01, CI-02, CI-03, CI-04, CI-05, CI-06, CI-07, CI-08, CI-09 and 2 more;" in (
        refusal
    )


def test_a_delete_of_a_record_that_changed_meanwhile_is_refused_saying_look_again(warehouse):
    _stored(warehouse, Status.ERROR)

    class ChangedMeanwhile(InMemoryWarehouse):
        def delete_record(self, record, reason, *, actor):
            return False

    changing = ChangedMeanwhile()
    changing.stored, changing.entries = warehouse.stored, warehouse.entries
    with pytest.raises(OperationRefused, match=f"{KEY} changed while it was being deleted; look at it again"):
        delete_invoice(changing, KEY, actor=ACTOR, reason=REASON)


# Unlink -----------------------------------------------------------------------------------------------------


def test_unlink_with_nothing_invoiced_is_refused_and_writes_no_history(warehouse):
    _stored(warehouse)
    refusal = _refused(warehouse, unlink_invoice, warehouse, KEY, actor=ACTOR, reason=REASON)
    assert refusal == f"{KEY} has no lines invoiced to customers; nothing to unlink"


def test_unlink_says_in_the_history_how_many_lines_left_which_customer_invoices(warehouse):
    record = _stored(warehouse)
    warehouse.link_lines(record, 1, ["CI-7"])
    unlinked = unlink_invoice(warehouse, KEY, actor=ACTOR, reason=REASON)
    assert unlinked.line_count == 1
    assert _history(warehouse) == [
        ("Active", "Active", f"unlinked 1 line from customer invoice(s) CI-7: {REASON}", ACTOR)
    ]
    assert deactivate_invoice(warehouse, KEY, actor=ACTOR, reason=REASON).status == Status.INACTIVE


def test_unlink_of_an_invoice_without_a_current_record_is_refused(warehouse):
    assert "has no current record to unlink" in _refused(
        warehouse, unlink_invoice, warehouse, KEY, actor=ACTOR, reason=REASON
    )


# Checksum override ------------------------------------------------------------------------------------------


def test_an_override_approving_the_stored_difference_is_recorded_in_history_and_returned(config, warehouse):
    _checksum_error(warehouse)
    accepted = request_checksum_override(
        config, warehouse, KEY, actor=ACTOR, reason="rounding at the provider", difference=Decimal("0.37")
    )
    assert accepted == Decimal("0.37")
    assert _history(warehouse) == [
        (
            "Error",
            "Error",
            "checksum override requested, approving a difference of 0.37 USD: rounding at the provider",
            ACTOR,
        )
    ]
    assert warehouse.current_record(KEY).status == Status.ERROR  # the import makes it Active, not the request


@pytest.mark.parametrize(("difference", "shown"), [("0.50", "0.50"), ("125.00", "125.00")], ids=["at", "far-above"])
def test_checksum_override_of_the_maximum_or_more_is_refused_saying_contact_the_provider(
    config, warehouse, difference, shown
):
    _checksum_error(warehouse, difference)
    refusal = _override_refused(config, warehouse, reason="looks fine to me", difference=difference)
    assert refusal == (
        f"{KEY}: the checksum difference {shown} USD is not below the override maximum 0.50 USD; contact the provider"
    )


def test_checksum_override_of_an_invoice_in_error_for_its_references_is_refused(config, warehouse):
    _checksum_error(warehouse, failures=(ImportFailure.REFERENCES,), message="Unresolved references: customer")
    with pytest.raises(OperationRefused, match="is not in Error because of its checksum .*only accepts a checksum"):
        checksum_override_difference(config, warehouse, KEY, approved=Decimal("0.37"))


def test_checksum_override_of_an_invoice_in_error_for_references_and_checksum_is_refused(config, warehouse):
    _checksum_error(warehouse, failures=(ImportFailure.REFERENCES, ImportFailure.CHECKSUM))
    with pytest.raises(OperationRefused, match="only accepts a checksum difference"):
        checksum_override_difference(config, warehouse, KEY, approved=Decimal("0.37"))


def test_the_checksum_override_is_decided_by_the_stored_failure_not_by_the_message_words(config, warehouse):
    # The words change (a new wording, a translation): the decision does not.
    _checksum_error(warehouse, message="Totals differ: header 10000.00 USD")
    assert checksum_override_difference(config, warehouse, KEY, approved=Decimal("0.37")) == Decimal("0.37")


def test_an_error_worded_like_a_checksum_failure_but_failed_for_something_else_is_refused(config, warehouse):
    _checksum_error(warehouse, message="Checksum failed: header 10000.00 USD", failures=(ImportFailure.REFERENCES,))
    with pytest.raises(OperationRefused, match="only accepts a checksum difference"):
        checksum_override_difference(config, warehouse, KEY, approved=Decimal("0.37"))


def test_checksum_override_of_an_active_invoice_is_refused(config, warehouse):
    _stored(warehouse)
    with pytest.raises(OperationRefused, match=r"is not in Error because of its checksum \(Active"):
        checksum_override_difference(config, warehouse, KEY, approved=Decimal("0.37"))


def test_checksum_override_of_an_invoice_never_imported_is_refused(config, warehouse):
    with pytest.raises(OperationRefused, match="has no current record to override: it has never been imported"):
        checksum_override_difference(config, warehouse, KEY, approved=Decimal("0.37"))


def test_a_manual_invoices_difference_is_accepted_by_its_activation_not_by_an_override(config, warehouse):
    _checksum_error(warehouse, key=MANUAL, is_manual=True)
    with pytest.raises(OperationRefused, match="accepts a small difference"):
        checksum_override_difference(config, warehouse, MANUAL, approved=Decimal("0.37"))


@pytest.mark.parametrize("reason", ["", "   "], ids=["empty", "blank"])
def test_checksum_override_needs_a_reason(config, warehouse, reason):
    _checksum_error(warehouse)
    refusal = _override_refused(config, warehouse, reason=reason, difference="0.37")
    assert refusal.endswith("needs a reason; say why the difference is acceptable")


def test_the_override_maximum_comes_from_the_configuration(tmp_path, warehouse):
    config = pipeline_config(tmp_path, checksum_override_maximum="0.30")
    _checksum_error(warehouse)
    with pytest.raises(OperationRefused, match="0.37 USD is not below the override maximum 0.30 USD"):
        checksum_override_difference(config, warehouse, KEY, approved=Decimal("0.37"))


@pytest.mark.parametrize(
    ("approved", "found", "direction"),
    [
        ("0.10", "0.37", "the header exceeds the lines"),
        ("0.13", "-0.13", "the lines exceed the header"),  # the sign matters: header minus lines
    ],
    ids=["another-figure", "opposite-sign"],
)
def test_an_override_approving_another_figure_than_the_invoices_difference_is_refused_with_both_and_changes_nothing(
    config, warehouse, approved, found, direction
):
    _checksum_error(warehouse, found)
    connectors = FakeConnectors.offering(contoso_csp=["G1"])
    refusal = _refused(
        warehouse,
        import_invoice,
        config,
        warehouse,
        KEY,
        connectors=connectors,
        run_id="override",
        actor=ACTOR,
        checksum_override=ChecksumOverrideRequest(Decimal(approved), "approved by finance"),
    )
    assert refusal == (
        f"{KEY}: the override approves a difference of {approved} USD, but the invoice's checksum difference is "
        f"{found} USD (header total minus lines total: {direction}); nothing was accepted: look at the invoice "
        f"again and approve {found} USD if it is acceptable"
    )
    assert connectors.asked == []  # nothing downloaded


# Manual invoices --------------------------------------------------------------------------------------------


def _create(config, warehouse, key=MANUAL, **kwargs):
    return create_manual_invoice(
        config, warehouse, key, connectors=FakeConnectors(), actor=ACTOR, reason=REASON, **kwargs
    )


def test_creating_a_manual_invoice_for_an_automatic_provider_is_refused(config, warehouse):
    key = InvoiceKey("contoso-csp", "G9")
    refusal = _refused(warehouse, _create, config, warehouse, key)
    assert refusal.startswith("contoso-csp is an automatic provider")


def test_creating_a_manual_invoice_that_already_exists_is_refused(config, warehouse):
    _stored(warehouse, Status.POPULATING, MANUAL, is_manual=True)
    refusal = _refused(warehouse, _create, config, warehouse)
    assert refusal.startswith(f"{MANUAL} already exists; deactivate or delete it before creating it again")


def test_creating_a_manual_invoice_whose_header_is_already_in_its_folder_from_header_fields_is_refused(
    tmp_path, config, warehouse
):
    folder = tmp_path / "providers" / MANUAL.provider / MANUAL.invoice_id
    folder.mkdir(parents=True)
    (folder / "header.json").write_text("{}", encoding="utf-8")
    fields = header_fields(
        invoice_date=utc_now().date(),
        billing_period_start=utc_now().date() - timedelta(days=30),
        billing_period_end=utc_now().date(),
        currency="USD",
        total_amount="12.50",
    )
    refusal = _refused(warehouse, _create, config, warehouse, header=fields)
    assert refusal == f"{folder / 'header.json'} already exists; create the invoice from that folder"
    assert (folder / "header.json").read_text(encoding="utf-8") == "{}"


def test_header_fields_are_written_as_the_provider_folder_format_writes_them():
    fields = header_fields(
        invoice_date=utc_now().date().replace(year=2026, month=11, day=2),
        billing_period_start=utc_now().date().replace(year=2026, month=10, day=1),
        billing_period_end=utc_now().date().replace(year=2026, month=10, day=31),
        currency="EUR",
        total_amount="99.90",
    )
    assert fields == {
        "invoice_date": "2026-11-02",
        "billing_period_start": "2026-10-01",
        "billing_period_end": "2026-10-31",
        "currency": "EUR",
        "total_amount": "99.90",
    }


def test_a_manual_invoice_awaiting_activation_can_be_deactivated_or_deleted(warehouse):
    _stored(warehouse, Status.POPULATING, MANUAL, is_manual=True)
    assert deactivate_invoice(warehouse, MANUAL, actor=ACTOR, reason=REASON).status == Status.INACTIVE
    _stored(warehouse, Status.POPULATING, MANUAL, is_manual=True)
    delete_invoice(warehouse, MANUAL, actor=ACTOR, reason=REASON)
    assert warehouse.current_record(MANUAL) is None


def test_deleting_an_invoice_still_being_imported_is_refused(warehouse):
    _stored(warehouse, Status.POPULATING, run_id="other-run")
    refusal = _refused(warehouse, delete_invoice, warehouse, KEY, actor=ACTOR, reason=REASON)
    assert refusal.startswith(f"{KEY} is being imported; wait for the import to finish")


def test_the_lines_of_an_invoice_being_imported_again_can_be_unlinked(warehouse):
    warehouse.link_lines(_stored(warehouse, Status.POPULATING, run_id="retry"), 2, ["CI-1"])
    assert unlink_invoice(warehouse, KEY, actor=ACTOR, reason=REASON).line_count == 2


def test_a_deactivated_invoice_cannot_be_deactivated_again_and_the_refusal_says_by_whom(warehouse):
    _stored(warehouse)
    deactivate_invoice(warehouse, KEY, actor="ops:bob", reason=REASON)
    refusal = _refused(warehouse, deactivate_invoice, warehouse, KEY, actor=ACTOR, reason=REASON)
    assert refusal.startswith(f"{KEY} has no current record to deactivate: it was deactivated by ops:bob on ")
    assert refusal.endswith(f"its history: `invoice-pipeline invoices show {KEY}`")


def test_a_deleted_invoice_cannot_be_unlinked_and_the_refusal_says_by_whom(warehouse):
    _stored(warehouse, Status.ERROR)
    delete_invoice(warehouse, KEY, actor="ops:bob", reason=REASON)
    refusal = _refused(warehouse, unlink_invoice, warehouse, KEY, actor=ACTOR, reason=REASON)
    assert refusal.startswith(f"{KEY} has no current record to unlink: it was deleted by ops:bob on ")


def test_an_override_of_an_invoice_being_imported_is_refused(config, warehouse):
    _stored(warehouse, Status.POPULATING, run_id="other-run")
    with pytest.raises(OperationRefused, match=r"is not in Error because of its checksum \(Populating"):
        checksum_override_difference(config, warehouse, KEY, approved=Decimal("0.37"))


def test_an_override_is_held_to_the_currencys_own_maximum(tmp_path, warehouse):
    config = pipeline_config(tmp_path, checksum_override_maximum={"default": "0.50", "JPY": "50"})
    _checksum_error(warehouse, "37", currency="JPY", minor_units=0)
    assert checksum_override_difference(config, warehouse, KEY, approved=Decimal("37")) == Decimal("37")
