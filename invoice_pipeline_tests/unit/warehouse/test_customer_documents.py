"""Customer documents as the CLI, Dagster and an unlink's message show them: totals in the currency's minor units,
what unlinking did to each document in one line."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from invoice_pipeline.warehouse.customer_documents import CustomerInvoice, DocumentKind, DocumentStatus, Unlinked

CREATED = datetime(2026, 11, 2, 9, 30, tzinfo=UTC)


def document(customer_invoice_id, total, line_count, **overrides):
    values = {
        "customer_invoice_id": customer_invoice_id,
        "kind": DocumentKind.INVOICE.value,
        "status": DocumentStatus.DRAFT.value,
        "account_id": "ACC-1",
        "currency": "USD",
        "period": "2026-10",
        "total_amount": Decimal(total),
        "rounding_difference": Decimal("0.004"),
        "line_count": line_count,
        "corrects": None,
        "created_at": CREATED,
        "created_by": "billing",
        "issued_at": None,
        "issued_by": None,
        "minor_units": 2,
    }
    return CustomerInvoice(**(values | overrides))


def test_a_document_shows_its_total_in_the_currencys_minor_units_and_its_times_iso():
    row = document("CI-1", "55", 1, currency="JPY", minor_units=0).as_row()

    assert (row["total_amount"], row["rounding_difference"]) == ("55", "0.004")
    assert (row["created_at"], row["issued_at"]) == ("2026-11-02T09:30:00+00:00", None)


def test_an_unlink_says_in_one_line_what_became_of_each_document_that_billed_the_lines():
    credit_note = document(
        "CN-1", "-20.10", 2, kind=DocumentKind.CREDIT_NOTE.value, status=DocumentStatus.ISSUED.value, corrects="CI-3"
    )
    unlinked = Unlinked(4, [document("CI-1", "55", 1)], ["CI-2"], [credit_note])

    assert unlinked.recomputed_drafts == ["CI-1"]
    assert unlinked.summary() == (
        "unlinked 4 lines: draft CI-1 recomputed: 55.00 USD, 1 line; draft CI-2 void (no line left); "
        "credit note CN-1 of -20.10 USD for CI-3"
    )
