"""A billing run's writes: a period's billable usage priced by the terms ruling it and put on one draft per account
and currency, in one transaction; the usage without terms held back (or billed at cost when configured).

How a line is priced is the pricing rule's (`domain/pricing.py`); what a billing run does is the billing use case's
(`operations/billing.py`).
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa

from invoice_pipeline.domain.billing_period import BillingPeriod
from invoice_pipeline.domain.pricing import UsageTerms, held_back_reason
from invoice_pipeline.domain.statuses import Status
from invoice_pipeline.warehouse import tables as t
from invoice_pipeline.warehouse.billable_usage import not_linked
from invoice_pipeline.warehouse.customer_document_tables import (
    analyze_table,
    customer_invoices,
    insert_rows,
    new_document_id,
    recompute_totals,
    record_document_changes,
)
from invoice_pipeline.warehouse.customer_documents import CustomerInvoice, DocumentKind, DocumentStatus, HeldBackUsage
from invoice_pipeline.warehouse.tables import MONEY, ExactDecimal

FACTOR = ExactDecimal(18, 8)  # 1 + markup / 100 with a markup of at most 6 places


def _terms_table() -> sa.Table:
    """The terms ruling one charge month, for one billing run's transaction."""
    return sa.Table(
        "billing_run_terms",
        sa.MetaData(),
        sa.Column("account_id", sa.String(200), nullable=False),
        sa.Column("billing_contract_id", sa.String(200), nullable=False),
        sa.Column("product_id", sa.String(200), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("usage_markup_percent", MONEY, nullable=False),
        sa.Column("price_factor", FACTOR, nullable=False),
        sa.Column("terms_valid_from", sa.Date, nullable=False),
        sa.Column("customer_invoice_id", sa.String(64)),  # the draft its account's lines go on
        prefixes=["TEMPORARY"],
    )


def bill_period(
    engine: sa.Engine,
    period: BillingPeriod,
    terms: list[UsageTerms],
    *,
    bill_without_terms_at_cost: bool,
    actor: str,
    now: datetime,
) -> tuple[list[CustomerInvoice], list[HeldBackUsage]]:
    """In one transaction: price the period's billable usage by `terms` and put it on one draft per account and
    currency (the existing draft of that month, else a new one); returns the drafts it changed and the usage held
    back (no terms, unless `bill_without_terms_at_cost`)."""
    usage, invoices = t.usage_summaries, t.provider_invoices
    ruling = _terms_table()
    with engine.begin() as conn:
        ruling.create(conn)
        if terms:
            conn.execute(
                sa.insert(ruling),
                [
                    {
                        "account_id": rule.account_id,
                        "billing_contract_id": rule.billing_contract_id,
                        "product_id": rule.product_id,
                        "currency": rule.currency,
                        "usage_markup_percent": rule.usage_markup_percent,
                        "price_factor": rule.price_factor,
                        "terms_valid_from": date.fromisoformat(rule.valid_from),
                    }
                    for rule in terms
                ],
            )
        analyze_table(conn, ruling)
        matched = sa.and_(
            ruling.c.account_id == usage.c.account_id,
            ruling.c.billing_contract_id == usage.c.billing_contract_id,
            ruling.c.product_id == usage.c.product_id,
            ruling.c.currency == usage.c.currency,
        )
        in_period = sa.and_(
            invoices.c.status == Status.ACTIVE.value,
            usage.c.charge_start_date.between(period.start, period.end),
            not_linked(usage),
        )
        lines = usage.join(invoices, invoices.c.record_id == usage.c.record_id).outerjoin(ruling, matched)
        priced = in_period if bill_without_terms_at_cost else sa.and_(in_period, ruling.c.account_id.is_not(None))
        groups = conn.execute(
            sa.select(usage.c.account_id, usage.c.currency, sa.func.max(invoices.c.minor_units))
            .select_from(lines)
            .where(priced)
            .group_by(usage.c.account_id, usage.c.currency)
            .order_by(usage.c.account_id, usage.c.currency)
        ).all()
        # Before the lines are linked: the same lines, and the links probed are those before this run.
        held_back = [] if bill_without_terms_at_cost else _held_back(conn, period, lines, in_period, ruling)
        drafts = _drafts_table()
        drafts.create(conn)
        draft_ids = _drafts_for(conn, str(period), [tuple(group) for group in groups], actor=actor, now=now)
        insert_rows(
            conn,
            drafts,
            [{"account_id": a, "currency": c, "customer_invoice_id": i} for (a, c), i in draft_ids.items()],
        )
        analyze_table(conn, drafts)
        # Each terms row names its account's draft, so the lines are joined to one table: PostgreSQL misjudges a
        # join on four columns and would read the drafts once per line after it.
        conn.execute(
            sa.update(ruling)
            .where(drafts.c.account_id == ruling.c.account_id, drafts.c.currency == ruling.c.currency)
            .values(customer_invoice_id=drafts.c.customer_invoice_id)
        )
        with_terms = usage.join(invoices, invoices.c.record_id == usage.c.record_id).join(ruling, matched)
        _link_lines(conn, with_terms, in_period, ruling.c.customer_invoice_id, ruling)
        if bill_without_terms_at_cost:
            at_cost = lines.join(
                drafts, sa.and_(drafts.c.account_id == usage.c.account_id, drafts.c.currency == usage.c.currency)
            )
            _link_lines(conn, at_cost, sa.and_(in_period, ruling.c.account_id.is_(None)), drafts.c.customer_invoice_id)
        ruling.drop(conn)
        drafts.drop(conn)
        changed = sorted(draft_ids.values())
        recompute_totals(conn, changed)
        return customer_invoices(conn, ids=changed), held_back


def _link_lines(
    conn: sa.Connection,
    source: sa.Join,
    where: sa.ColumnElement[bool],
    customer_invoice_id: sa.ColumnElement[str],
    ruling: sa.Table | None = None,
) -> None:
    """Link the lines `source` and `where` select to their drafts, each priced by its `ruling` terms (at cost when
    none): cost, price, the terms used and the line's attributes."""
    usage, links = t.usage_summaries, t.customer_invoice_lines
    # DuckDB types DECIMAL(38, 18) x DECIMAL(18, 8) as DECIMAL(38, 26), which overflows past 12 digits: the whole
    # units and the fraction are priced apart, each within range, then added.
    units = sa.cast(sa.func.trunc(usage.c.amount), ExactDecimal(38, 0))
    priced = (
        (
            sa.cast(units * ruling.c.price_factor, t.PRICE)
            + sa.cast((usage.c.amount - units) * ruling.c.price_factor, t.PRICE),
            ruling.c.usage_markup_percent,
            ruling.c.terms_valid_from,
        )
        if ruling is not None
        else (sa.cast(usage.c.amount, t.PRICE), sa.null(), sa.null())
    )
    attributes = ["account_id", "billing_contract_id", "subscription_id", "product_id", "currency", "charge_start_date"]
    conn.execute(
        sa.insert(links).from_select(
            [
                "customer_invoice_id",
                "record_id",
                "line_id",
                "amount",
                "usage_markup_percent",
                "terms_valid_from",
                "cost",
                *attributes,
                "linked",
            ],
            sa.select(
                customer_invoice_id,
                usage.c.record_id,
                usage.c.line_id,
                *priced,
                usage.c.amount,
                *[usage.c[name] for name in attributes],
                sa.true(),
            )
            .select_from(source)
            .where(where),
        )
    )


def _drafts_table() -> sa.Table:
    """Which draft each account and currency's lines go on, for one billing run's transaction."""
    return sa.Table(
        "billing_run_drafts",
        sa.MetaData(),
        sa.Column("account_id", sa.String(200), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("customer_invoice_id", sa.String(64), nullable=False),
        prefixes=["TEMPORARY"],
    )


def _drafts_for(
    conn: sa.Connection, period: str, groups: list[tuple[Any, ...]], *, actor: str, now: datetime
) -> dict[tuple[str, str], str]:
    """The draft invoice of the month for each (account, currency, minor units) of `groups`: the month's existing
    draft, else a new one (made in a few statements, whatever the number of accounts)."""
    docs = t.customer_invoices
    drafts = sa.select(docs.c.account_id, docs.c.currency, docs.c.customer_invoice_id).where(
        docs.c.period == period,
        docs.c.kind == DocumentKind.INVOICE.value,
        docs.c.status == DocumentStatus.DRAFT.value,
    )
    existing = {(account_id, currency): doc_id for account_id, currency, doc_id in conn.execute(drafts)}
    created = [
        {
            "customer_invoice_id": new_document_id(DocumentKind.INVOICE, now),
            "account_id": account_id,
            "currency": currency,
            "period": period,
            "kind": DocumentKind.INVOICE.value,
            "status": DocumentStatus.DRAFT.value,
            "total_amount": Decimal(0),
            "rounding_difference": Decimal(0),
            "line_count": 0,
            "minor_units": minor_units,
            "created_at": now,
            "created_by": actor,
        }
        for account_id, currency, minor_units in groups
        if (account_id, currency) not in existing
    ]
    insert_rows(conn, docs, created)
    record_document_changes(
        conn,
        [row["customer_invoice_id"] for row in created],
        None,
        DocumentStatus.DRAFT,
        f"billing run for {period}",
        actor,
        now,
    )
    made = {(row["account_id"], row["currency"]): row["customer_invoice_id"] for row in created}
    return {
        (account_id, currency): existing.get((account_id, currency)) or made[(account_id, currency)]
        for account_id, currency, _ in groups
    }


def _held_back(
    conn: sa.Connection, period: BillingPeriod, lines: sa.Join, in_period: sa.ColumnElement[bool], ruling: sa.Table
) -> list[HeldBackUsage]:
    usage, invoices = t.usage_summaries, t.provider_invoices
    keys = [usage.c.account_id, usage.c.billing_contract_id, usage.c.subscription_id, usage.c.product_id]
    rows = conn.execute(
        sa.select(
            *keys,
            usage.c.currency,
            sa.func.count(),
            sa.func.sum(usage.c.amount),
            sa.func.max(invoices.c.minor_units),
        )
        .select_from(lines)
        .where(in_period, ruling.c.account_id.is_(None))
        .group_by(*keys, usage.c.currency)
        .order_by(*keys, usage.c.currency)
    ).all()
    return [
        HeldBackUsage(
            period=str(period),
            account_id=account_id,
            billing_contract_id=contract,
            subscription_id=subscription,
            product_id=product,
            currency=currency,
            line_count=int(count),
            cost=Decimal(cost),
            minor_units=int(minor_units),
            reason=held_back_reason(contract, product, currency, period),
        )
        for account_id, contract, subscription, product, currency, count, cost, minor_units in map(tuple, rows)
    ]
