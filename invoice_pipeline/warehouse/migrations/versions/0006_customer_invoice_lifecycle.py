"""Customer invoices with a lifecycle: period, kind (invoice | credit_note), status (draft -> issued, void), the
invoice a credit note corrects, their history; each billed line with its cost, price, the terms used and the line's
attributes (so what was billed stays readable once its provider invoice is gone); totals wide enough for any amount
the schemas accept.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-07 09:30:00
"""

import sqlalchemy as sa
from alembic import op

from invoice_pipeline.warehouse.tables import ExactDecimal

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

INVOICES, LINES = "customer_invoices", "customer_invoice_lines"
BY_DOCUMENT = {"ix_customer_invoice_lines_customer_invoice_id": ["customer_invoice_id"]}
# A line's link is found by its record and line id: by record alone, a run linking a million lines of one invoice
# re-reads every link it has made so far for each line (PostgreSQL: hours instead of seconds).
INDEXES_BEFORE = BY_DOCUMENT | {"ix_customer_invoice_lines_record_id": ["record_id"]}
INDEXES_AFTER = BY_DOCUMENT | {"ix_customer_invoice_lines_record_line": ["record_id", "line_id"]}
# Sums of lines (header, usage, licence totals, differences) and customer invoice totals: 28 digits before the point.
WIDE_PROVIDER_COLUMNS = ("total_amount", "usage_total", "license_total", "difference", "accepted_difference")
LINE_ATTRIBUTES = ("account_id", "billing_contract_id", "subscription_id", "product_id", "currency")


def _rebuild_lines(
    columns: list[sa.Column], *, copied: str, into: str, joined: str, indexes: tuple[dict, dict]
) -> None:
    """DuckDB cannot change a column's type while an index depends on its table: build the lines table anew with
    `columns` after the link's own, copy every line over, swap it in and index it again (both engines alike)."""
    rebuilt = f"{LINES}_rebuilt"
    op.create_table(
        rebuilt,
        sa.Column("customer_invoice_id", sa.String(length=64), nullable=False),
        sa.Column("record_id", sa.String(length=32), nullable=False),
        sa.Column("line_id", sa.String(length=200), nullable=False),
        *columns,
    )
    op.execute(f"INSERT INTO {rebuilt} ({into}) SELECT {copied} FROM {LINES} l {joined}")  # noqa: S608 - constants
    dropped, created = indexes
    for name in dropped:
        op.drop_index(name, table_name=LINES)
    op.drop_table(LINES)
    op.rename_table(rebuilt, LINES)
    for name, columns_indexed in created.items():
        op.create_index(name, LINES, columns_indexed)


def upgrade() -> None:
    """Invoices billed before keep what they were: issued invoices (they were final), their lines billed at cost
    (price = cost, no terms), their period the month of their first line; attributes are copied from the lines."""
    for column in WIDE_PROVIDER_COLUMNS:
        op.alter_column("provider_invoices", column, type_=ExactDecimal(38, 10), existing_type=ExactDecimal(28, 10))
    op.alter_column(INVOICES, "total_amount", type_=ExactDecimal(38, 10), existing_type=ExactDecimal(28, 10))
    # Total minus the exact sum of prices, which carry up to 18 places.
    op.alter_column(INVOICES, "rounding_difference", type_=ExactDecimal(38, 18), existing_type=ExactDecimal(28, 10))
    op.add_column(INVOICES, sa.Column("period", sa.String(7), nullable=True))
    op.add_column(INVOICES, sa.Column("kind", sa.String(16), nullable=False, server_default="invoice"))
    op.add_column(INVOICES, sa.Column("status", sa.String(16), nullable=False, server_default="issued"))
    op.add_column(INVOICES, sa.Column("corrects", sa.String(64), nullable=True))
    op.add_column(INVOICES, sa.Column("minor_units", sa.Integer(), nullable=True))
    op.add_column(INVOICES, sa.Column("issued_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column(INVOICES, sa.Column("issued_by", sa.String(200), nullable=True))

    _rebuild_lines(
        [
            sa.Column("amount", ExactDecimal(38, 18), nullable=False),
            sa.Column("cost", ExactDecimal(28, 10), nullable=True),
            sa.Column("usage_markup_percent", ExactDecimal(28, 10), nullable=True),
            sa.Column("terms_valid_from", sa.Date(), nullable=True),
            *[sa.Column(name, sa.String(3 if name == "currency" else 200), nullable=True) for name in LINE_ATTRIBUTES],
            sa.Column("charge_start_date", sa.Date(), nullable=True),
            sa.Column("linked", sa.Boolean(), nullable=False, server_default=sa.true()),
        ],
        copied=(
            "l.customer_invoice_id, l.record_id, l.line_id, l.amount, l.amount, "
            + ", ".join(f"u.{name}" for name in (*LINE_ATTRIBUTES, "charge_start_date"))
        ),
        into="customer_invoice_id, record_id, line_id, amount, cost, "
        + ", ".join((*LINE_ATTRIBUTES, "charge_start_date")),
        joined="LEFT JOIN usage_summaries u ON u.record_id = l.record_id AND u.line_id = l.line_id",
        indexes=(INDEXES_BEFORE, INDEXES_AFTER),
    )

    op.create_table(
        "customer_invoice_history",
        sa.Column("entry_id", sa.String(32), nullable=False),
        sa.Column("customer_invoice_id", sa.String(64), nullable=False),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("from_status", sa.String(16), nullable=True),
        sa.Column("to_status", sa.String(16), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.PrimaryKeyConstraint("entry_id"),
    )
    op.create_index(
        "ix_customer_invoice_history_customer_invoice_id", "customer_invoice_history", ["customer_invoice_id"]
    )

    first_month = (
        "to_char(min(l.charge_start_date), 'YYYY-MM')"
        if op.get_bind().dialect.name == "postgresql"
        else "strftime(min(l.charge_start_date), '%Y-%m')"
    )
    op.execute(
        f"UPDATE {INVOICES} SET minor_units = (SELECT max(p.minor_units) FROM {LINES} l "  # noqa: S608
        f"JOIN provider_invoices p ON p.record_id = l.record_id "
        f"WHERE l.customer_invoice_id = {INVOICES}.customer_invoice_id), issued_at = created_at, "
        f"issued_by = created_by, period = (SELECT {first_month} FROM {LINES} l "
        f"WHERE l.customer_invoice_id = {INVOICES}.customer_invoice_id)"
    )


def downgrade() -> None:
    """Back to 0005: the lifecycle, credit notes' meaning and the lines' terms are lost; export them first."""
    op.drop_index("ix_customer_invoice_history_customer_invoice_id", table_name="customer_invoice_history")
    op.drop_table("customer_invoice_history")
    _rebuild_lines(
        [sa.Column("amount", ExactDecimal(28, 10), nullable=False)],
        copied="l.customer_invoice_id, l.record_id, l.line_id, l.amount",
        into="customer_invoice_id, record_id, line_id, amount",
        joined="",
        indexes=(INDEXES_AFTER, INDEXES_BEFORE),
    )
    for name in ("issued_by", "issued_at", "minor_units", "corrects", "status", "kind", "period"):
        op.drop_column(INVOICES, name)
    op.alter_column(INVOICES, "rounding_difference", type_=ExactDecimal(28, 10), existing_type=ExactDecimal(38, 18))
    op.alter_column(INVOICES, "total_amount", type_=ExactDecimal(28, 10), existing_type=ExactDecimal(38, 10))
    for column in WIDE_PROVIDER_COLUMNS:
        op.alter_column("provider_invoices", column, type_=ExactDecimal(28, 10), existing_type=ExactDecimal(38, 10))
