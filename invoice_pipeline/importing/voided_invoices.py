"""Notes that void the invoice they amend, and the tax a header's total leaves out: what an import says and does.

Microsoft's credit-and-rebill sends the original invoice, a credit note without line items for all of it, and a
replacement. Whichever arrives first, the original ends Inactive once both are here: what customers were billed
for its lines is corrected through the customer billing lifecycle (drafts recomputed, issued invoices credited),
and the replacement's lines are billed by the next billing run, so each charge is billed once with no manual step.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from invoice_pipeline.connectors.base import BY_HAND
from invoice_pipeline.domain.invoice_keys import InvoiceKey
from invoice_pipeline.domain.money import decimal_text
from invoice_pipeline.domain.provider_documents import DocumentType
from invoice_pipeline.domain.statuses import Status

if TYPE_CHECKING:
    from invoice_pipeline.importing.invoice_headers import InvoiceHeader
    from invoice_pipeline.warehouse.invoice_records import InvoiceRecord
    from invoice_pipeline.warehouse.line_publishing import InvoiceHeaderValues
    from invoice_pipeline.warehouse.protocols import ImportClaims, InvoiceLookups


def _named(document_type: DocumentType | str) -> str:
    return str(DocumentType(document_type).value).replace("_", " ")


def voiding_description(header: InvoiceHeader, minor_units: int) -> str:
    """What a voiding note does, or why it cannot (it names no invoice), for its checksum check and message."""
    kind = _named(header.document_type)
    total = f"{decimal_text(header.total_amount, minor_units)} {header.currency}"
    if header.amends_invoice_id is None:
        return (
            f"{kind} {header.invoice_id} ({total}) has no line items and names no invoice it amends (amendsOf), "
            "so nothing says which charges it withdraws; ask the provider which invoice it voids; " + BY_HAND
        )
    return (
        f"{kind} {header.invoice_id} ({total}) voids {header.amends_invoice_id}: no line items of its own; "
        f"{header.amends_invoice_id} is not billable (withdrawn if it was imported here, what customers were billed "
        "for its lines credited; refused if it comes later)"
    )


def tax_description(header: InvoiceHeader, minor_units: int) -> str:
    """The tax the header's total leaves out, as the checksum's description ends ('' without tax)."""
    if not header.tax_amount:
        return ""
    tax = decimal_text(header.tax_amount, minor_units)
    due = decimal_text(header.total_amount + header.tax_amount, minor_units)
    return (
        f" (before tax: the provider's total {due} {header.currency} less tax {tax} {header.currency} "
        "carried by the lines)"
    )


def voided_by(warehouse: InvoiceLookups, key: InvoiceKey) -> str | None:
    """Why the invoice must not be imported because an Active note here voids it (`voided by credit note X`), or
    None."""
    note = warehouse.voiding_note(key)
    if note is None:
        return None
    return f"voided by {_named(note.document_type or DocumentType.VOID_NOTE)} {note.invoice_id}"


def withdraw_voided_invoices(
    warehouse: ImportClaims, key: InvoiceKey, header: InvoiceHeaderValues, *, actor: str
) -> tuple[InvoiceRecord, ...]:
    """After an Active import: a voiding note withdraws the invoice it amends when that invoice is Active here; an
    invoice that an Active note already voids is withdrawn at once. Returns the records withdrawn, as now stored."""
    withdrawn = []
    if header.amends_invoice_id is not None and header.document_type is not None:
        note = warehouse.voiding_note(InvoiceKey(key.provider, header.amends_invoice_id))
        if note is not None and note.invoice_id == key.invoice_id:
            amended = InvoiceKey(key.provider, header.amends_invoice_id)
            withdrawn.append(_withdraw(warehouse, amended, note.document_type, key, actor))
    note = warehouse.voiding_note(key)
    if note is not None:
        withdrawn.append(_withdraw(warehouse, key, note.document_type, note.key, actor))
    return tuple(record for record in withdrawn if record is not None)


def _withdraw(
    warehouse: ImportClaims, voided: InvoiceKey, note_type: str | None, note: InvoiceKey, actor: str
) -> InvoiceRecord | None:
    record = warehouse.current_record(voided)
    if record is None or record.status != Status.ACTIVE:
        return None  # not imported yet (voided when it is), or already withdrawn
    reason = (
        f"voided by {_named(note_type or DocumentType.VOID_NOTE)} {note.invoice_id}: its lines are no longer "
        "billable; customer invoices that billed them were corrected"
    )
    warehouse.void_record(record, reason, actor=actor)
    return warehouse.record_by_id(record.record_id)
