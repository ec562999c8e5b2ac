"""Unlinking a provider invoice's lines from the customer documents that bill them, correcting what they bill: a
draft is recomputed (void when no line is left), an issued invoice gets a credit note; each change in one transaction
and in `customer_invoice_history`."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

import sqlalchemy as sa

from invoice_pipeline.domain.money import round_to_minor_units
from invoice_pipeline.domain.pricing import EXACT
from invoice_pipeline.warehouse import tables as t
from invoice_pipeline.warehouse.customer_document_tables import (
    customer_invoice,
    customer_invoices,
    new_document_id,
    priced_sums,
    recompute_totals,
    record_document_change,
)
from invoice_pipeline.warehouse.customer_documents import (
    CustomerInvoice,
    DocumentKind,
    DocumentStatus,
    Unlinked,
    lines_text,
)


def unlink_record(conn: sa.Connection, record_id: str, *, actor: str, reason: str, now: datetime) -> Unlinked:
    """Remove the links from customer documents to the record's lines, correcting what they bill: a draft loses the
    lines and is recomputed (void when none is left); an issued invoice keeps them as billed and gets a credit note
    for exactly what they were billed, linked to it."""
    links, docs = t.customer_invoice_lines, t.customer_invoices
    linked = sa.and_(links.c.record_id == record_id, links.c.linked)
    affected = customer_invoices(
        conn, ids=conn.execute(sa.select(links.c.customer_invoice_id).where(linked).distinct()).scalars().all()
    )
    line_count = conn.execute(sa.select(sa.func.count()).where(linked)).scalar_one()
    drafts = [doc for doc in affected if doc.status == DocumentStatus.DRAFT]
    issued = [doc for doc in affected if doc.status == DocumentStatus.ISSUED]
    draft_ids = [doc.customer_invoice_id for doc in drafts]
    if draft_ids:
        conn.execute(sa.delete(links).where(linked, links.c.customer_invoice_id.in_(draft_ids)))
        recompute_totals(conn, draft_ids)
    voided, recomputed = [], []
    for doc in customer_invoices(conn, ids=draft_ids):
        if doc.line_count:
            record_document_change(
                conn, doc.customer_invoice_id, doc.status, doc.status, f"lines unlinked: {reason}", actor, now
            )
            recomputed.append(doc)
            continue
        conn.execute(
            sa.update(docs)
            .where(docs.c.customer_invoice_id == doc.customer_invoice_id)
            .values(status=DocumentStatus.VOID.value)
        )
        record_document_change(
            conn, doc.customer_invoice_id, doc.status, DocumentStatus.VOID, f"every line unlinked: {reason}", actor, now
        )
        voided.append(doc.customer_invoice_id)
    credit_notes = [_credit(conn, invoice, record_id, actor=actor, reason=reason, now=now) for invoice in issued]
    return Unlinked(
        line_count,
        sorted(recomputed, key=lambda draft: draft.customer_invoice_id),
        sorted(voided),
        sorted(credit_notes, key=lambda note: note.customer_invoice_id),
    )


def _credit(
    conn: sa.Connection, invoice: CustomerInvoice, record_id: str, *, actor: str, reason: str, now: datetime
) -> CustomerInvoice:
    """A credit note for exactly what `invoice` billed for the record's lines; the lines are no longer linked. When it
    credits the last of the invoice's linked lines, its total is what remains of the invoice's total, so an invoice
    credited in full nets to zero."""
    links, docs = t.customer_invoice_lines, t.customer_invoices
    credited = sa.and_(links.c.customer_invoice_id == invoice.customer_invoice_id, links.c.record_id == record_id)
    note_id = new_document_id(DocumentKind.CREDIT_NOTE, now)
    copied = [
        "record_id",
        "line_id",
        "usage_markup_percent",
        "terms_valid_from",
        "account_id",
        "billing_contract_id",
        "subscription_id",
        "product_id",
        "currency",
        "charge_start_date",
    ]
    conn.execute(
        sa.insert(docs).values(
            customer_invoice_id=note_id,
            account_id=invoice.account_id,
            currency=invoice.currency,
            period=invoice.period,
            kind=DocumentKind.CREDIT_NOTE.value,
            status=DocumentStatus.ISSUED.value,
            corrects=invoice.customer_invoice_id,
            total_amount=Decimal(0),
            rounding_difference=Decimal(0),
            line_count=0,
            minor_units=invoice.minor_units,
            created_at=now,
            created_by=actor,
            issued_at=now,
            issued_by=actor,
        )
    )
    conn.execute(
        sa.insert(links).from_select(
            ["customer_invoice_id", *copied, "amount", "cost", "linked"],
            sa.select(
                sa.literal(note_id), *[links.c[name] for name in copied], -links.c.amount, -links.c.cost, sa.false()
            ).where(credited, links.c.linked),
        )
    )
    conn.execute(sa.update(links).where(credited, links.c.linked).values(linked=False))
    line_count, exact = priced_sums(conn, [note_id])[note_id]
    total = round_to_minor_units(exact, invoice.minor_units or 0)
    still_linked = conn.execute(
        sa.select(sa.exists().where(links.c.customer_invoice_id == invoice.customer_invoice_id, links.c.linked))
    ).scalar()
    if not still_linked:
        earlier = conn.execute(
            sa.select(sa.func.coalesce(sa.func.sum(docs.c.total_amount), 0)).where(
                docs.c.corrects == invoice.customer_invoice_id, docs.c.customer_invoice_id != note_id
            )
        ).scalar_one()
        total = -(invoice.total_amount + Decimal(earlier))
    conn.execute(
        sa.update(docs)
        .where(docs.c.customer_invoice_id == note_id)
        .values(total_amount=total, rounding_difference=EXACT.subtract(total, exact), line_count=line_count)
    )
    record_document_change(
        conn,
        note_id,
        None,
        DocumentStatus.ISSUED,
        f"credits {lines_text(line_count)} of {invoice.customer_invoice_id}: {reason}",
        actor,
        now,
    )
    record_document_change(
        conn,
        invoice.customer_invoice_id,
        invoice.status,
        invoice.status,
        f"{lines_text(line_count)} unlinked and credited by {note_id}: {reason}",
        actor,
        now,
    )
    return customer_invoice(conn, note_id)
