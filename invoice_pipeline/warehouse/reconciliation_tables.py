"""The reconciliation's reads: a period's provider lines grouped in the warehouse, so no line leaves it.

Lines of Active provider invoices whose charge starts in the period; one `GROUP BY` per line table, and the
period's cost per currency summed apart, all in one snapshot, for the tie-out.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

import sqlalchemy as sa

from invoice_pipeline.domain.statuses import Status
from invoice_pipeline.reconciliation.findings import LicenseGroup, UsageGroup
from invoice_pipeline.warehouse import tables as t

USAGE_GROUP_KEYS = ("account_id", "billing_contract_id", "subscription_id", "product_id", "currency")


@dataclass(frozen=True)
class PeriodLines:
    """A period's provider lines as the reconciliation reads them."""

    license_groups: list[LicenseGroup]
    usage_groups: list[UsageGroup]
    line_costs: dict[str, Decimal]  # per currency: the lines' amounts summed apart from the groups


def _active_lines(lines: sa.Table, start: date, end: date) -> sa.Select[Any]:
    invoices = t.provider_invoices
    return (
        sa.select(lines, invoices.c.minor_units)
        .join(invoices, invoices.c.record_id == lines.c.record_id)
        .where(invoices.c.status == Status.ACTIVE.value, lines.c.charge_start_date.between(start, end))
    )


def _license_groups(conn: sa.Connection, start: date, end: date) -> list[LicenseGroup]:
    lines = _active_lines(t.license_summaries, start, end).subquery()
    keys = [lines.c.account_id, lines.c.billing_contract_id, lines.c.product_id, lines.c.currency]
    # A credit line (negative amount) removes its quantity of seats.
    seats = sa.case((lines.c.amount < 0, -lines.c.quantity), else_=lines.c.quantity)
    query = sa.select(
        *keys,
        sa.func.max(lines.c.minor_units).label("minor_units"),
        sa.func.string_agg(sa.distinct(lines.c.subscription_id), sa.literal_column("' '")).label("subscription_ids"),
        sa.func.count().label("line_count"),
        sa.func.sum(seats).label("seats"),
        sa.func.sum(lines.c.amount).label("cost"),
    ).group_by(*keys)
    return [LicenseGroup(**_normalised(row)) for row in conn.execute(query).mappings()]


def _usage_groups(conn: sa.Connection, start: date, end: date) -> list[UsageGroup]:
    lines = _active_lines(t.usage_summaries, start, end).subquery()
    links = t.customer_invoice_lines
    keys = [lines.c[name] for name in USAGE_GROUP_KEYS]
    billed = links.c.line_id.is_not(None)
    query = (
        sa.select(
            *keys,
            sa.func.max(lines.c.minor_units).label("minor_units"),
            sa.func.count().label("line_count"),
            sa.func.sum(lines.c.amount).label("cost"),
            sa.func.count(links.c.line_id).label("billed_line_count"),
            sa.func.coalesce(sa.func.sum(sa.case((billed, lines.c.amount))), 0).label("billed_cost"),
            sa.func.coalesce(sa.func.sum(links.c.amount), 0).label("billed_amount"),
        )
        .select_from(
            lines.outerjoin(links, sa.and_(links.c.record_id == lines.c.record_id, links.c.line_id == lines.c.line_id))
        )
        .group_by(*keys)
    )
    return [UsageGroup(**_normalised(row)) for row in conn.execute(query).mappings()]


def _line_costs(conn: sa.Connection, start: date, end: date) -> dict[str, Decimal]:
    costs: dict[str, Decimal] = {}
    for table in (t.license_summaries, t.usage_summaries):
        lines = _active_lines(table, start, end).subquery()
        query = sa.select(lines.c.currency, sa.func.sum(lines.c.amount)).group_by(lines.c.currency)
        for currency, amount in conn.execute(query):
            costs[currency] = costs.get(currency, Decimal(0)) + Decimal(amount)
    return costs


def _normalised(row: sa.RowMapping) -> dict[str, Any]:
    """Exact decimals and plain ints whatever the driver returned (sums of NUMERIC are NUMERIC on both)."""
    values = dict(row)
    for name in ("seats", "cost", "billed_cost", "billed_amount"):
        if name in values:
            values[name] = Decimal(values[name])
    for name in ("minor_units", "line_count", "billed_line_count"):
        if name in values:
            values[name] = int(values[name])
    return values


def period_lines(engine: sa.Engine, start: date, end: date) -> PeriodLines:
    """The period's licence and usage groups and its cost per currency, read in one snapshot."""
    options = {"isolation_level": "REPEATABLE READ"} if engine.dialect.name == "postgresql" else {}
    with engine.connect().execution_options(**options) as conn, conn.begin():
        licenses, usage = _license_groups(conn, start, end), _usage_groups(conn, start, end)
        return PeriodLines(licenses, usage, _line_costs(conn, start, end))
