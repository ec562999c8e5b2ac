"""Billable usage: lines of Active provider invoices that no customer invoice links, grouped per account,
subscription, charge period and currency, for the CLI, exports and a bounded screen; and which lines are billed."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

import sqlalchemy as sa

from invoice_pipeline.domain.billing_period import BillingPeriod
from invoice_pipeline.domain.money import decimal_text
from invoice_pipeline.domain.statuses import Status
from invoice_pipeline.warehouse import tables as t
from invoice_pipeline.warehouse.customer_documents import InvoicedLines

GROUP_KEYS = ("account_id", "subscription_id", "charge_start_date", "charge_end_date", "currency")
BILLABLE_FIELDS = (*GROUP_KEYS, "line_count", "amount", "minor_units")


@dataclass(frozen=True)
class BillableConsumption:
    """Billable usage of one account, subscription, charge period and currency: its line count and exact cost."""

    account_id: str
    subscription_id: str
    charge_start_date: date
    charge_end_date: date
    currency: str
    line_count: int
    amount: Decimal  # the lines' exact sum
    minor_units: int

    def as_row(self) -> dict[str, Any]:
        """As the CLI's JSON and Dagster's table show it: dates ISO, the amount in the currency's minor units."""
        return dataclasses.asdict(self) | {
            "charge_start_date": self.charge_start_date.isoformat(),
            "charge_end_date": self.charge_end_date.isoformat(),
            "amount": decimal_text(self.amount, self.minor_units),
        }


@dataclass(frozen=True)
class CurrencyTotal:
    """Rows (account, subscription, charge period), lines and their exact sum in one currency."""

    currency: str
    row_count: int
    line_count: int
    amount: Decimal
    minor_units: int

    def as_row(self) -> dict[str, Any]:
        """As Dagster shows it: the amount in the currency's minor units."""
        return dataclasses.asdict(self) | {"amount": decimal_text(self.amount, self.minor_units)}


@dataclass(frozen=True)
class BillableSummary:
    """Billable usage as a screen shows it, bounded: totals per currency and the largest rows."""

    totals: list[CurrencyTotal]
    largest: list[BillableConsumption]

    @property
    def row_count(self) -> int:
        """Account, subscription and charge period rows, all currencies."""
        return sum(total.row_count for total in self.totals)

    @property
    def line_count(self) -> int:
        """Usage lines, all currencies."""
        return sum(total.line_count for total in self.totals)


def invoiced_lines(conn: sa.Connection, record_id: str) -> InvoicedLines:
    """How many of the record's lines are linked to customer invoices, and which customer invoices."""
    links = t.customer_invoice_lines
    linked = sa.and_(links.c.record_id == record_id, links.c.linked)
    count = conn.execute(sa.select(sa.func.count()).where(linked)).scalar_one()
    ids = conn.execute(
        sa.select(links.c.customer_invoice_id).where(linked).distinct().order_by(links.c.customer_invoice_id)
    ).scalars()
    return InvoicedLines(count, list(ids))


def not_linked(usage: sa.Table | sa.Subquery) -> sa.ColumnElement[bool]:
    """Whether no customer document links a usage line (billable, when its provider invoice is Active)."""
    links = t.customer_invoice_lines
    return ~sa.exists().where(
        links.c.record_id == usage.c.record_id, links.c.line_id == usage.c.line_id, links.c.linked
    )


def _billable_lines(*, any_billed: bool = True) -> sa.Select[Any]:
    """Usage lines of Active provider invoices that no customer invoice links.

    `any_billed=False` when no line of the invoices asked for is linked to a customer invoice: the same
    lines without looking each one up among the billed ones (10M lines: 0.3 s instead of 4.5 s).
    """
    usage, invoices = t.usage_summaries, t.provider_invoices
    query = (
        sa.select(usage, invoices.c.minor_units)
        .join(invoices, invoices.c.record_id == usage.c.record_id)
        .where(invoices.c.status == Status.ACTIVE.value)
    )
    return query.where(not_linked(usage)) if any_billed else query


def _billable_groups(conn: sa.Connection, record_id: str | None) -> sa.Subquery:
    """Billable usage grouped per account, subscription, charge period and currency (line count, exact amount,
    minor units); of one provider invoice record when `record_id` is given."""
    links = t.customer_invoice_lines
    any_billed = record_id is None or bool(
        conn.execute(sa.select(sa.exists().where(links.c.record_id == record_id))).scalar()
    )
    billable = _billable_lines(any_billed=any_billed)
    if record_id is not None:
        billable = billable.where(t.usage_summaries.c.record_id == record_id)
    lines = billable.subquery()
    keys = [lines.c[name] for name in GROUP_KEYS]
    return (
        sa.select(
            *keys,
            sa.func.count().label("line_count"),
            sa.func.sum(lines.c.amount).label("amount"),
            sa.func.max(lines.c.minor_units).label("minor_units"),
        )
        .group_by(*keys)
        .subquery()
    )


def billable_consumption(conn: sa.Connection, record_id: str | None = None) -> list[BillableConsumption]:
    """Billable usage per account, subscription and charge period (line count, exact amount, minor units);
    of one provider invoice record when `record_id` is given. Every row: for the CLI and exports."""
    groups = _billable_groups(conn, record_id)
    order = [groups.c.account_id, groups.c.subscription_id, groups.c.charge_start_date, groups.c.currency]
    return [BillableConsumption(**r) for r in conn.execute(sa.select(groups).order_by(*order)).mappings()]


def billable_usage_summary(conn: sa.Connection, record_id: str | None = None, largest: int = 20) -> BillableSummary:
    """What a screen shows of billable usage, bounded whatever its size: totals per currency (rows, lines,
    exact amount) and the `largest` rows by absolute amount. One pass over the lines: the totals are windows over
    the grouped rows, kept on the largest rows and on the largest row of each currency."""
    groups = _billable_groups(conn, record_id)
    currency = groups.c.currency
    ranked = sa.select(
        groups,
        sa.func.count().over(partition_by=currency).label("currency_rows"),
        sa.func.sum(groups.c.line_count).over(partition_by=currency).label("currency_lines"),
        sa.func.sum(groups.c.amount).over(partition_by=currency).label("currency_amount"),
        sa.func.row_number().over(order_by=_largest_first(groups)).label("rank"),
        sa.func.row_number().over(partition_by=currency, order_by=_largest_first(groups)).label("currency_rank"),
    ).subquery()
    kept = conn.execute(
        sa.select(ranked).where(sa.or_(ranked.c.rank <= largest, ranked.c.currency_rank == 1)).order_by(ranked.c.rank)
    ).mappings()
    totals: dict[str, CurrencyTotal] = {}
    rows = []
    for row in kept:
        code, lines = row["currency"], int(row["currency_lines"])
        totals[code] = CurrencyTotal(code, row["currency_rows"], lines, row["currency_amount"], row["minor_units"])
        if row["rank"] <= largest:
            rows.append(BillableConsumption(**{name: row[name] for name in BILLABLE_FIELDS}))
    return BillableSummary(sorted(totals.values(), key=lambda total: total.currency), rows)


def _largest_first(groups: sa.Subquery) -> list[sa.ColumnElement[Any]]:
    """Largest amount first whatever its sign (a large credit is as worth a look as a large charge); ties in a
    stable order."""
    return [
        sa.func.abs(groups.c.amount).desc(),
        groups.c.account_id,
        groups.c.subscription_id,
        groups.c.charge_start_date,
    ]


def billable_periods(conn: sa.Connection) -> list[BillingPeriod]:
    """The charge months that have billable usage, oldest first."""
    lines = _billable_lines().subquery()
    year, month = sa.extract("year", lines.c.charge_start_date), sa.extract("month", lines.c.charge_start_date)
    rows = conn.execute(sa.select(year, month).distinct().order_by(year, month)).all()
    return [BillingPeriod(int(y), int(m)) for y, m in rows]
