"""A line whose customer is not its subscription's customer would bill the wrong account: a reference error."""

from __future__ import annotations

from invoice_pipeline.composition import connector_for
from invoice_pipeline.domain.invoice_keys import InvoiceKey
from invoice_pipeline.domain.statuses import Status
from invoice_pipeline.importing.import_results import REFERENCES_CHECK
from invoice_pipeline.importing.invoice_import import import_provider_invoice
from invoice_pipeline_tests.builders import ADVENTURE_WORKS, NORTHWIND, license_line, usage_line

KEY = InvoiceKey("contoso-csp", "G1")
MISMATCH_FIX = (
    "the customer and the subscription belong to different accounts: map the customer to the subscription's "
    "account in provider_accounts.csv or correct the subscription's account in subscriptions.csv; if the "
    "provider's line is wrong, ask the provider for a corrected file"
)


def test_a_line_whose_customer_is_not_the_subscriptions_customer_is_a_reference_error_naming_both_accounts(
    workspace, warehouse
):
    workspace.add_invoice(
        KEY.invoice_id,
        usage=[
            usage_line("U1"),
            usage_line("U2", subscription_id="SUB-AZ-1002"),  # Northwind (ACC-1001) on Adventure Works' subscription
            usage_line("U3", subscription_id="SUB-AZ-1002"),
            usage_line("U4", customer_id=ADVENTURE_WORKS, subscription_id="SUB-AZ-1002"),
        ],
        license=[license_line("L1", customer_id=ADVENTURE_WORKS)],  # Adventure Works (ACC-1002) on Northwind's
    )

    result = import_provider_invoice(workspace.config(), warehouse, KEY, connectors=connector_for, actor="test")

    assert result.status == Status.ERROR
    assert not result.checks[REFERENCES_CHECK].passed
    on_adventure_works = f"SUB-AZ-1002 (account ACC-1002) for customer {NORTHWIND} (account ACC-1001)"
    on_northwind = f"SUB-M365-1001 (account ACC-1001) for customer {ADVENTURE_WORKS} (account ACC-1002)"
    assert result.message == (
        f"Unresolved references: customer/subscription mismatch '{on_adventure_works}' (2 lines); "
        f"customer/subscription mismatch '{on_northwind}' (1 line); see the Missing References note"
    )
    notes = {n.file_name: n.content for n in warehouse.notes(result.record_id)}
    assert notes["errors.csv"].splitlines()[1:] == [
        f'customer/subscription mismatch,{on_adventure_works},2,U2 U3,"{MISMATCH_FIX}"',
        f'customer/subscription mismatch,{on_northwind},1,L1,"{MISMATCH_FIX}"',
    ]
    assert warehouse.line_totals(result.record_id)["usage"] == (0, None)  # nothing billed to the wrong account


def test_a_line_with_an_unmapped_customer_or_an_unknown_subscription_is_no_mismatch_as_well(workspace, warehouse):
    workspace.add_invoice(
        KEY.invoice_id,
        usage=[usage_line("U1", customer_id="unknown-tenant"), usage_line("U2", subscription_id="SUB-NOPE")],
    )
    result = import_provider_invoice(workspace.config(), warehouse, KEY, connectors=connector_for, actor="test")
    assert [m.reference_type for m in result.missing_references] == ["customer", "subscription"]


def test_thousands_of_missing_references_are_named_ten_in_the_message_twenty_in_the_check_and_all_in_the_note(
    workspace, warehouse
):
    unknown = [f"tenant-{n:04d}" for n in range(1_000)]  # most lines first: tenant-0000 has the most
    usage = [
        usage_line(f"U{n}-{k}", customer_id=tenant)
        for n, tenant in enumerate(unknown)
        for k in range(3 if n < 5 else 1)
    ]
    workspace.add_invoice(KEY.invoice_id, usage=usage)

    result = import_provider_invoice(workspace.config(), warehouse, KEY, connectors=connector_for, actor="test")

    assert result.status == Status.ERROR
    assert result.message.startswith("Unresolved references: customer 'tenant-0000' (3 lines); ")
    assert result.message.endswith("; and 990 more; see the Missing References note")
    assert result.message.count("customer '") == 10
    check = result.checks[REFERENCES_CHECK]
    assert check.metadata["errors"] == 1_000
    assert check.metadata["missing_references_shown"] == 20
    shown = check.metadata["missing_references"]
    assert [row["reference_id"] for row in shown] == unknown[:20]
    errors_csv = {n.file_name: n.content for n in warehouse.notes(result.record_id)}["errors.csv"]
    assert len(errors_csv.splitlines()) == 1 + 1_000  # a header and every missing reference
