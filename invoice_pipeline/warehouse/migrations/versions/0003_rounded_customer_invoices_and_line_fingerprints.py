"""Customer invoice totals rounded to minor units with their rounding difference; provider line fingerprints.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-26 09:00:00
"""

import sqlalchemy as sa
from alembic import op

from invoice_pipeline.warehouse.tables import ExactDecimal

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

FINGERPRINT = sa.String(64)
CHANGES = "provider_invoice_changes"
UNIQUE_CHANGE = "uq_provider_invoice_change"
CHANGE_FINGERPRINTS = ("old_line_fingerprint", "new_line_fingerprint")
UNIQUE_BEFORE = ["record_id", "new_total"]
UNIQUE_AFTER = ["record_id", "new_total", "new_line_fingerprint"]


def _is_postgresql() -> bool:
    return op.get_bind().dialect.name == "postgresql"


def _rebuild_changes(*, fingerprints: bool, unique_columns: list[str]) -> None:
    """DuckDB cannot alter a table's constraints: build the changes table anew (with or without the
    fingerprint columns), copy every row over, then swap it in."""
    rebuilt = f"{CHANGES}_rebuilt"
    op.create_table(
        rebuilt,
        sa.Column("change_id", sa.String(length=32), nullable=False),
        sa.Column("record_id", sa.String(length=32), nullable=False),
        sa.Column("provider", sa.String(length=64), nullable=False),
        sa.Column("invoice_id", sa.String(length=100), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=True),
        sa.Column("minor_units", sa.Integer(), nullable=True),
        sa.Column("old_total", ExactDecimal(), nullable=False),
        sa.Column("new_total", ExactDecimal(), nullable=False),
        *[sa.Column(name, FINGERPRINT, nullable=True) for name in CHANGE_FINGERPRINTS if fingerprints],
        sa.Column("seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("notified_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("change_id"),
        sa.UniqueConstraint(*unique_columns, name=UNIQUE_CHANGE),
    )
    copied = "change_id, record_id, provider, invoice_id, currency, minor_units, old_total, new_total, "
    copied += "seen_at, notified_at"
    op.execute(f"INSERT INTO {rebuilt} ({copied}) SELECT {copied} FROM {CHANGES}")
    op.drop_table(CHANGES)
    op.rename_table(rebuilt, CHANGES)


def upgrade() -> None:
    """Add the columns: invoices billed and changes seen before keep NULL (not rounded, no fingerprint); a
    change is then one per record, provider total and provider lines."""
    op.add_column("customer_invoices", sa.Column("rounding_difference", ExactDecimal(), nullable=True))
    op.add_column("provider_invoices", sa.Column("line_fingerprint", FINGERPRINT, nullable=True))
    if not _is_postgresql():
        _rebuild_changes(fingerprints=True, unique_columns=UNIQUE_AFTER)
        return
    for name in CHANGE_FINGERPRINTS:
        op.add_column(CHANGES, sa.Column(name, FINGERPRINT, nullable=True))
    op.drop_constraint(UNIQUE_CHANGE, CHANGES, type_="unique")
    op.create_unique_constraint(UNIQUE_CHANGE, CHANGES, UNIQUE_AFTER)


def downgrade() -> None:
    """Drop the columns. Line-level changes that kept the total would repeat a total: delete them first."""
    if _is_postgresql():
        op.drop_constraint(UNIQUE_CHANGE, CHANGES, type_="unique")
        op.create_unique_constraint(UNIQUE_CHANGE, CHANGES, UNIQUE_BEFORE)
        for name in reversed(CHANGE_FINGERPRINTS):
            op.drop_column(CHANGES, name)
    else:
        _rebuild_changes(fingerprints=False, unique_columns=UNIQUE_BEFORE)
    op.drop_column("provider_invoices", "line_fingerprint")
    op.drop_column("customer_invoices", "rounding_difference")
