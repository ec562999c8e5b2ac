"""What kind of document a provider invoice is, and when a note voids the invoice it amends.

Microsoft names a document's kind in `documentType` ("invoice", "void_note", "adjustment_note" in its examples,
"Credit Note" and "Invoice" in the property table of invoice-resources) and the invoice a note amends in
`amendsOf`. An adjustment note and a credit note with line items are billed like any invoice (their lines are the
charges and credits). A void note, or a credit note without line items (Microsoft's credit-and-rebill: the credit
note comes without a usage file), withdraws the invoice it amends: that invoice's lines stop being billable and
what customers were billed for them is corrected, and the note itself brings no line.
"""

from __future__ import annotations

import re
from enum import StrEnum


class DocumentType(StrEnum):
    """A provider document's kind."""

    INVOICE = "invoice"
    CREDIT_NOTE = "credit_note"
    VOID_NOTE = "void_note"
    ADJUSTMENT_NOTE = "adjustment_note"


def parse_document_type(text: str) -> DocumentType:
    """The kind a provider writes as `Credit Note`, `credit_note`, `creditNote`, `VOID_NOTE`...; ValueError lists
    the known ones."""
    spaced = re.sub(r"([a-z])([A-Z])", r"\1_\2", text.strip())
    name = re.sub(r"[\s\-]+", "_", spaced).lower()
    for kind in DocumentType:
        if kind.value == name:
            return kind
    known = ", ".join(kind.value for kind in DocumentType)
    raise ValueError(f"document type {text!r} is not one this pipeline knows ({known})")


def voids_amended_invoice(document_type: DocumentType, has_lines: bool) -> bool:
    """Whether the document withdraws the invoice it amends: a void note, or a credit note without line items."""
    return document_type == DocumentType.VOID_NOTE or (document_type == DocumentType.CREDIT_NOTE and not has_lines)
