"""The reconciliation's reads: a period's provider lines grouped in the warehouse, so no line leaves it.

Lines of Active provider invoices whose charge starts in the period; one `GROUP BY` per line table, and the
period's cost per currency summed apart, all in one snapshot, for the tie-out.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from invoice_pipeline.domain.period_lines import LicenseGroup, PendingChange, PeriodInvoice, PeriodLines, UsageGroup
from invoice_pipeline.domain.pricing import usage_price
from invoice_pipeline.domain.statuses import Status
from invoice_pipeline.warehouse import tables as t
from invoice_pipeline.warehouse.customer_documents import DocumentStatus

# Partner Center provider columns that mark a licence summary line as a charge rather than seats: an Azure
# reservation (reservationOrderId) or consumption (meterDescription, "the meter description for consumption line
# item", invoice-resources). See docs/partner-center.md.
NOT_SEAT_FIELDS = ("reservation_order_id", "meter_description")
USAGE_GROUP_KEYS = ("account_id", "billing_contract_id", "subscription_id", "product_id", "currency")


def _active_lines(lines: sa.Table, start: date, end: date) -> sa.Select[Any]:
    invoices = t.provider_invoices
    return (
        sa.select(lines, invoices.c.minor_units)
        .join(invoices, invoices.c.record_id == lines.c.record_id)
        .where(invoices.c.status == Status.ACTIVE.value, lines.c.charge_start_date.between(start, end))
    )


def _provider_field(conn: sa.Connection, extra: sa.ColumnElement[Any], name: str) -> sa.ColumnElement[str]:
    """A provider column kept in a line's `extra` JSON, as text ('' when absent or null)."""
    if conn.dialect.name == "postgresql":
        value = sa.cast(extra, postgresql.JSON)[name].astext
    else:
        value = sa.func.json_extract_string(extra, f"$.{name}")
    return sa.func.coalesce(value, "")


def _license_groups(conn: sa.Connection, start: date, end: date) -> list[LicenseGroup]:
    lines = _active_lines(t.license_summaries, start, end).subquery()
    keys = [lines.c.account_id, lines.c.billing_contract_id, lines.c.product_id, lines.c.currency]
    # A credit line (negative amount) removes its quantity of seats; a reservation or consumption line is a charge,
    # not seats (Partner Center writes quantity 1 on them).
    not_seats = sa.or_(*(_provider_field(conn, lines.c.extra, name) != "" for name in NOT_SEAT_FIELDS))
    seats = sa.case((not_seats, 0), (lines.c.amount < 0, -lines.c.quantity), else_=lines.c.quantity)
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
    """The period's usage per group: the Active lines' cost, and of it what customer invoices link (at most one link
    per line); `billed_amount` is what every customer invoice and credit note bills for the group's charge month,
    whether or not its provider invoice is still Active, so a line billed twice shows."""
    lines = _active_lines(t.usage_summaries, start, end).subquery()
    links = t.customer_invoice_lines
    keys = [lines.c[name] for name in USAGE_GROUP_KEYS]
    linked = sa.and_(links.c.record_id == lines.c.record_id, links.c.line_id == lines.c.line_id, links.c.linked)
    billed = links.c.line_id.is_not(None)
    query = (
        sa.select(
            *keys,
            sa.func.max(lines.c.minor_units).label("minor_units"),
            sa.func.count().label("line_count"),
            sa.func.sum(lines.c.amount).label("cost"),
            sa.func.count(links.c.line_id).label("billed_line_count"),
            sa.func.coalesce(sa.func.sum(sa.case((billed, lines.c.amount))), 0).label("billed_cost"),
        )
        .select_from(lines.outerjoin(links, linked))
        .group_by(*keys)
    )
    groups = {
        tuple(row[name] for name in USAGE_GROUP_KEYS): {**_normalised(row), "billed_amount": Decimal(0)}
        for row in conn.execute(query).mappings()
    }
    for key, minor_units, billed_amount in _billed_amounts(conn, start, end):
        group = groups.setdefault(
            key,
            {
                **dict(zip(USAGE_GROUP_KEYS, key, strict=True)),
                "minor_units": minor_units,
                "line_count": 0,
                "cost": Decimal(0),
                "billed_line_count": 0,
                "billed_cost": Decimal(0),
                "billed_amount": Decimal(0),
            },
        )
        group["billed_amount"] += billed_amount
    return [UsageGroup(**group) for group in groups.values()]


def _billed_amounts(conn: sa.Connection, start: date, end: date) -> list[tuple[tuple[Any, ...], int, Decimal]]:
    """What customer invoices and credit notes (not void) bill per usage group for lines charged in the period: the
    cost billed under each markup priced by the pricing rule (prices are never summed by the database)."""
    links, docs = t.customer_invoice_lines, t.customer_invoices
    keys = [links.c[name] for name in USAGE_GROUP_KEYS]
    query = (
        sa.select(*keys, links.c.usage_markup_percent, sa.func.max(docs.c.minor_units), sa.func.sum(links.c.cost))
        .join(docs, docs.c.customer_invoice_id == links.c.customer_invoice_id)
        .where(docs.c.status != DocumentStatus.VOID.value, links.c.charge_start_date.between(start, end))
        .group_by(*keys, links.c.usage_markup_percent)
    )
    return [
        (tuple(row[: len(keys)]), int(row[-2] or 0), usage_price(Decimal(row[-1]), row[-3]))
        for row in conn.execute(query).all()
    ]


def _line_costs(conn: sa.Connection, start: date, end: date) -> dict[str, Decimal]:
    costs: dict[str, Decimal] = {}
    for table in (t.license_summaries, t.usage_summaries):
        lines = _active_lines(table, start, end).subquery()
        query = sa.select(lines.c.currency, sa.func.sum(lines.c.amount)).group_by(lines.c.currency)
        for currency, amount in conn.execute(query):
            costs[currency] = costs.get(currency, Decimal(0)) + Decimal(amount)
    return costs


# How an override's history entry begins (operations/invoice_operations.py `request_checksum_override` writes it:
# the difference approved, then ": <the reason given>"); invoice_pipeline_tests/reconciliation/test_period.py holds
# both to it.
OVERRIDE_NOTE = "checksum override requested"


def _of_period(start: date, end: date) -> sa.ColumnElement[bool]:
    """The period's provider invoices: Active (so current) records whose header's billing period starts in it."""
    invoices = t.provider_invoices
    return sa.and_(
        invoices.c.status == Status.ACTIVE.value,
        invoices.c.current_key.is_not(None),
        invoices.c.billing_period_start.between(start, end),
    )


def _period_invoices(conn: sa.Connection, start: date, end: date) -> list[PeriodInvoice]:
    """The period's invoices with their header and lines totals, and for those whose totals differ who made them
    Active (the history's last entry into Active) and who asked for a checksum override, and why (its last one)."""
    invoices, history = t.provider_invoices, t.invoice_status_history
    columns = (
        "record_id",
        "provider",
        "invoice_id",
        "currency",
        "minor_units",
        "total_amount",
        "usage_total",
        "license_total",
        "checksum_tolerance",
        "accepted_difference",
    )
    query = (
        sa.select(*(invoices.c[name] for name in columns))
        .where(_of_period(start, end))
        .order_by(invoices.c.provider, invoices.c.invoice_id)
    )
    rows = conn.execute(query).mappings().all()
    differing = sa.select(invoices.c.record_id).where(_of_period(start, end), invoices.c.difference.is_distinct_from(0))
    entries = conn.execute(
        sa.select(history.c.record_id, history.c.from_status, history.c.to_status, history.c.reason, history.c.actor)
        .where(history.c.record_id.in_(differing))
        .order_by(history.c.changed_at, history.c.entry_id)
    ).all()
    activated: dict[str, tuple[str, str]] = {}
    overridden: dict[str, tuple[str, str]] = {}
    for record_id, from_status, to_status, reason, actor in entries:  # oldest first: the last one stays
        if to_status == Status.ACTIVE.value and from_status != to_status:
            activated[record_id] = (actor, reason)
        elif from_status == to_status and reason.startswith(OVERRIDE_NOTE):
            overridden[record_id] = (actor, reason.split(": ", 1)[1] if ": " in reason else reason)
    return [
        PeriodInvoice(
            provider=row["provider"],
            invoice_id=row["invoice_id"],
            currency=row["currency"],
            minor_units=int(row["minor_units"]),
            header_total=Decimal(row["total_amount"]),
            lines_total=Decimal(row["usage_total"] or 0) + Decimal(row["license_total"] or 0),
            checksum_tolerance=Decimal(row["checksum_tolerance"] or 0),
            accepted_difference=row["accepted_difference"],
            activated_by=activated.get(row["record_id"], (None, None))[0],
            activation_reason=activated.get(row["record_id"], (None, None))[1],
            overridden_by=overridden.get(row["record_id"], (None, None))[0],
            override_reason=overridden.get(row["record_id"], (None, None))[1],
        )
        for row in rows
    ]


def _pending_changes(conn: sa.Connection, start: date, end: date) -> list[PendingChange]:
    """The latest change seen at the provider on each of the period's invoices whose record is still the one it
    was seen on (a change seen on a record since deactivated or deleted was resolved by importing it again)."""
    invoices, changes = t.provider_invoices, t.provider_invoice_changes
    query = (
        sa.select(
            changes.c.record_id,
            invoices.c.provider,
            invoices.c.invoice_id,
            invoices.c.currency,
            invoices.c.minor_units,
            changes.c.old_total,
            changes.c.new_total,
            invoices.c.usage_total,
            invoices.c.license_total,
            changes.c.old_line_fingerprint,
            changes.c.new_line_fingerprint,
            changes.c.seen_at,
        )
        .join(invoices, invoices.c.record_id == changes.c.record_id)
        .where(_of_period(start, end))
        .order_by(changes.c.seen_at, changes.c.change_id)
    )
    latest = {row["record_id"]: row for row in conn.execute(query).mappings()}
    return [
        PendingChange(
            provider=row["provider"],
            invoice_id=row["invoice_id"],
            currency=row["currency"],
            minor_units=int(row["minor_units"]),
            imported_total=Decimal(row["old_total"]),
            provider_total=Decimal(row["new_total"]),
            lines_total=Decimal(row["usage_total"] or 0) + Decimal(row["license_total"] or 0),
            lines_changed=None not in (row["old_line_fingerprint"], row["new_line_fingerprint"])
            and row["old_line_fingerprint"] != row["new_line_fingerprint"],
            seen_at=row["seen_at"],
        )
        for row in sorted(latest.values(), key=lambda row: (row["provider"], row["invoice_id"]))
    ]


def _normalised(row: sa.RowMapping) -> dict[str, Any]:
    """Exact decimals and plain ints whatever the driver returned (sums of NUMERIC are NUMERIC on both)."""
    values = dict(row)
    for name in ("seats", "cost", "billed_cost"):
        if name in values:
            values[name] = Decimal(values[name])
    for name in ("minor_units", "line_count", "billed_line_count"):
        if name in values:
            values[name] = int(values[name])
    return values


def period_lines(engine: sa.Engine, start: date, end: date) -> PeriodLines:
    """The period's licence and usage groups, its cost per currency, its invoices and their pending provider
    changes, read in one snapshot."""
    options = {"isolation_level": "REPEATABLE READ"} if engine.dialect.name == "postgresql" else {}
    with engine.connect().execution_options(**options) as conn, conn.begin():
        licenses, usage = _license_groups(conn, start, end), _usage_groups(conn, start, end)
        return PeriodLines(
            licenses,
            usage,
            _line_costs(conn, start, end),
            invoices=_period_invoices(conn, start, end),
            pending_changes=_pending_changes(conn, start, end),
        )
