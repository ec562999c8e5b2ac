"""Notes that void the invoice they amend: the voided invoice is withdrawn (Inactive, saying by which note) whichever
of the two arrives first, and is never imported while the note is Active here; what an import says about a voiding
note and about the tax a header's total leaves out."""

from __future__ import annotations

from decimal import Decimal
from types import SimpleNamespace

from invoice_pipeline.connectors.base import BY_HAND
from invoice_pipeline.domain.invoice_keys import InvoiceKey
from invoice_pipeline.domain.statuses import Status
from invoice_pipeline.importing.voided_invoices import (
    tax_description,
    voided_by,
    voiding_description,
    withdraw_voided_invoices,
)
from invoice_pipeline_tests.fakes import InMemoryWarehouse, stored_record

ORIGINAL = InvoiceKey("contoso-csp", "G1")
NOTE = InvoiceKey("contoso-csp", "G2")
WITHDRAWN = (
    "voided by credit note G2: its lines are no longer billable; customer invoices that billed them were corrected"
)


def _note(warehouse, document_type: str = "credit_note", **values):
    note = stored_record(NOTE, Status.ACTIVE, document_type=document_type, amends_invoice_id="G1", **values)
    warehouse.add(note)
    return note


def _notes_header(amends: str | None = "G1", document_type: str | None = "credit_note"):
    """What a note's import stored of its header (only what the withdrawal reads)."""
    return SimpleNamespace(amends_invoice_id=amends, document_type=document_type)


def test_an_invoice_voided_by_an_active_credit_note_says_by_which():
    warehouse = InMemoryWarehouse()
    _note(warehouse)
    assert voided_by(warehouse, ORIGINAL) == "voided by credit note G2"


def test_a_void_note_without_a_document_type_reads_as_a_void_note():
    warehouse = InMemoryWarehouse()
    _note(warehouse, document_type="void_note")
    assert voided_by(warehouse, ORIGINAL) == "voided by void note G2"


def test_an_invoice_no_note_voids_is_not_voided():
    warehouse = InMemoryWarehouse()
    _note(warehouse, usage_line_count=2)  # a credit note with lines of its own corrects, it does not void
    assert voided_by(warehouse, ORIGINAL) is None


def test_a_note_imported_after_the_invoice_it_voids_withdraws_it():
    warehouse = InMemoryWarehouse()
    warehouse.add(stored_record(ORIGINAL, Status.ACTIVE))
    _note(warehouse)
    (withdrawn,) = withdraw_voided_invoices(warehouse, NOTE, _notes_header(), actor="dagster run r2")
    assert (withdrawn.key, withdrawn.status, withdrawn.message) == (ORIGINAL, Status.INACTIVE, WITHDRAWN)
    assert warehouse.current_record(ORIGINAL) is None
    assert [(e.to_status, e.reason, e.actor) for e in warehouse.history(ORIGINAL)] == [
        ("Inactive", WITHDRAWN, "dagster run r2")
    ]


def test_a_note_whose_invoice_is_not_imported_yet_withdraws_nothing():
    warehouse = InMemoryWarehouse()
    _note(warehouse)
    assert withdraw_voided_invoices(warehouse, NOTE, _notes_header(), actor="test") == ()


def test_an_invoice_imported_after_the_note_that_voids_it_is_withdrawn_at_once():
    warehouse = InMemoryWarehouse()
    _note(warehouse)
    warehouse.add(stored_record(ORIGINAL, Status.ACTIVE))
    (withdrawn,) = withdraw_voided_invoices(warehouse, ORIGINAL, _notes_header(None, None), actor="test")
    assert (withdrawn.key, withdrawn.status) == (ORIGINAL, Status.INACTIVE)


def test_an_invoice_already_withdrawn_or_in_error_is_left_alone():
    warehouse = InMemoryWarehouse()
    warehouse.add(stored_record(ORIGINAL, Status.ERROR))
    _note(warehouse)
    assert withdraw_voided_invoices(warehouse, NOTE, _notes_header(), actor="test") == ()
    assert warehouse.current_record(ORIGINAL).status == Status.ERROR


def test_a_note_naming_another_invoice_than_the_one_voided_here_withdraws_nothing():
    warehouse = InMemoryWarehouse()
    warehouse.add(stored_record(ORIGINAL, Status.ACTIVE))
    _note(warehouse)
    other = InvoiceKey("contoso-csp", "G3")  # a second note naming G1, while G2 is the note that voids it
    assert withdraw_voided_invoices(warehouse, other, _notes_header(), actor="test") == ()


def _header(amends: str | None, tax: str | None = None, document_type: str = "credit_note"):
    """What the import read from a header.json (only what the descriptions read)."""
    return SimpleNamespace(
        invoice_id="G2",
        document_type=document_type,
        total_amount=Decimal("-46.00"),
        currency="USD",
        amends_invoice_id=amends,
        tax_amount=None if tax is None else Decimal(tax),
    )


def test_a_voiding_note_says_which_invoice_it_voids_and_what_becomes_of_it():
    assert voiding_description(_header("G1"), 2) == (
        "credit note G2 (-46.00 USD) voids G1: no line items of its own; G1 is not billable (withdrawn if it was "
        "imported here, what customers were billed for its lines credited; refused if it comes later)"
    )


def test_a_voiding_note_naming_no_invoice_says_to_ask_the_provider():
    description = voiding_description(_header(None, document_type="void_note"), 2)
    assert description.startswith("void note G2 (-46.00 USD) has no line items and names no invoice it amends")
    assert description.endswith("ask the provider which invoice it voids; " + BY_HAND)


def test_a_header_without_tax_adds_nothing_to_the_checksums_description():
    assert tax_description(_header("G1"), 2) == ""


def test_a_header_whose_total_leaves_out_tax_says_so():
    header = SimpleNamespace(total_amount=Decimal("100.00"), tax_amount=Decimal("19.00"), currency="EUR")
    assert tax_description(header, 2) == (
        " (before tax: the provider's total 119.00 EUR less tax 19.00 EUR carried by the lines)"
    )
