"""A provider document's kind, however the provider spells it, and which documents withdraw the invoice they
amend: a void note always, a credit note only when it comes without line items (credit-and-rebill)."""

from __future__ import annotations

import pytest

from invoice_pipeline.domain.provider_documents import DocumentType, parse_document_type, voids_amended_invoice

D = DocumentType


@pytest.mark.parametrize(
    ("written", "kind"),
    [
        pytest.param("invoice", D.INVOICE, id="invoice"),
        pytest.param("Invoice", D.INVOICE, id="invoice-capitalised"),
        pytest.param("Credit Note", D.CREDIT_NOTE, id="property-table-spaced"),
        pytest.param("credit_note", D.CREDIT_NOTE, id="snake-case"),
        pytest.param("creditNote", D.CREDIT_NOTE, id="camel-case"),
        pytest.param("credit-note", D.CREDIT_NOTE, id="dashed"),
        pytest.param("void_note", D.VOID_NOTE, id="void-note-example"),
        pytest.param("VOID_NOTE", D.VOID_NOTE, id="upper-case"),
        pytest.param("VoidNote", D.VOID_NOTE, id="pascal-case"),
        pytest.param("adjustment_note", D.ADJUSTMENT_NOTE, id="adjustment-note-example"),
        pytest.param("  Adjustment  Note ", D.ADJUSTMENT_NOTE, id="padded-and-double-spaced"),
    ],
)
def test_a_document_type_is_read_however_the_provider_spells_it(written, kind):
    assert parse_document_type(written) is kind


@pytest.mark.parametrize(
    "written",
    [
        pytest.param("", id="empty"),
        pytest.param("receipt", id="unknown-kind"),
        pytest.param("credit", id="half-a-name"),
    ],
)
def test_an_unknown_document_type_is_refused_listing_the_known_ones(written):
    with pytest.raises(ValueError) as refused:
        parse_document_type(written)

    assert str(refused.value) == (
        f"document type {written!r} is not one this pipeline knows (invoice, credit_note, void_note, adjustment_note)"
    )


@pytest.mark.parametrize(
    ("kind", "has_lines", "voids"),
    [
        pytest.param(D.VOID_NOTE, False, True, id="void-note"),
        pytest.param(D.VOID_NOTE, True, True, id="void-note-even-with-lines"),
        pytest.param(D.CREDIT_NOTE, False, True, id="credit-note-without-lines-credit-and-rebill"),
        pytest.param(D.CREDIT_NOTE, True, False, id="credit-note-with-lines-billed-as-its-lines"),
        pytest.param(D.ADJUSTMENT_NOTE, False, False, id="adjustment-note-without-lines"),
        pytest.param(D.ADJUSTMENT_NOTE, True, False, id="adjustment-note"),
        pytest.param(D.INVOICE, False, False, id="invoice-without-lines"),
        pytest.param(D.INVOICE, True, False, id="invoice"),
    ],
)
def test_only_a_void_note_or_a_credit_note_without_lines_withdraws_the_invoice_it_amends(kind, has_lines, voids):
    assert voids_amended_invoice(kind, has_lines) is voids
