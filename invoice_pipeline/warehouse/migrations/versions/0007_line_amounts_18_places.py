"""Line amounts keep up to 18 decimal places, as the provider sends them (Microsoft's daily-rated usage carries 15),
and so do their sums on the provider invoice and the cost a customer invoice line copies; the provider invoice gains
its tax amount, document type and the invoice a note amends (not written yet).

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-07 11:30:00
"""

import sqlalchemy as sa
from alembic import op

from invoice_pipeline.warehouse.tables import ExactDecimal

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

INVOICES, LINES = "provider_invoices", "customer_invoice_lines"
LINE_TABLES = ("usage_summaries", "license_summaries")
# Sums of line amounts; the header's own total_amount keeps its 10 places.
SUMS = ("usage_total", "license_total", "difference", "accepted_difference")
# DuckDB cannot change a column's type while an index depends on its table: the lines' indexes are dropped and made
# again around the change (both engines alike).
LINE_INDEXES = {
    "ix_customer_invoice_lines_customer_invoice_id": ["customer_invoice_id"],
    "ix_customer_invoice_lines_record_line": ["record_id", "line_id"],
}
NEW_COLUMNS = ("tax_amount", "document_type", "amends_invoice_id")


def _refuse_sums_beyond_20_digits() -> None:
    """NUMERIC(38, 18) keeps 20 digits before the point where NUMERIC(38, 10) kept 28: name the records it cannot
    hold (none an import of this version would store), rather than fail on the first with the database's words."""
    beyond = " OR ".join(f"abs({column}) >= {10**20}" for column in SUMS)  # exact, not a float's 1e20
    rows = op.get_bind().execute(sa.text(f"SELECT record_id FROM {INVOICES} WHERE {beyond} ORDER BY 1")).all()  # noqa: S608 - constants
    if rows:
        shown = ", ".join(str(row[0]) for row in rows[:5])
        raise RuntimeError(
            f"{len(rows)} provider invoice record(s) ({shown}) have a line total or difference of 20 digits or more "
            "before the point, which NUMERIC(38, 18) cannot hold; export and remove them, then upgrade again"
        )


def _change_cost(to: ExactDecimal, existing: ExactDecimal) -> None:
    for name in LINE_INDEXES:
        op.drop_index(name, table_name=LINES)
    op.alter_column(LINES, "cost", type_=to, existing_type=existing, existing_nullable=True)
    for name, columns in LINE_INDEXES.items():
        op.create_index(name, LINES, columns)


def upgrade() -> None:
    """Widen line amounts, their sums and billed lines' cost to NUMERIC(38, 18) (every stored value kept exactly);
    add tax_amount, document_type and amends_invoice_id to the provider invoices, NULL on every record."""
    _refuse_sums_beyond_20_digits()
    for table in LINE_TABLES:
        op.alter_column(table, "amount", type_=ExactDecimal(38, 18), existing_type=ExactDecimal(28, 10))
    for column in SUMS:
        op.alter_column(INVOICES, column, type_=ExactDecimal(38, 18), existing_type=ExactDecimal(38, 10))
    _change_cost(ExactDecimal(38, 18), ExactDecimal(28, 10))
    op.add_column(INVOICES, sa.Column("tax_amount", ExactDecimal(38, 10), nullable=True))
    op.add_column(INVOICES, sa.Column("document_type", sa.String(32), nullable=True))
    op.add_column(INVOICES, sa.Column("amends_invoice_id", sa.String(100), nullable=True))


def downgrade() -> None:
    """Back to 0006: the database rounds amounts, sums and costs with more than 10 places (export them first), and
    the tax amount, document type and amended invoice are lost."""
    for column in reversed(NEW_COLUMNS):
        op.drop_column(INVOICES, column)
    _change_cost(ExactDecimal(28, 10), ExactDecimal(38, 18))
    for column in SUMS:
        op.alter_column(INVOICES, column, type_=ExactDecimal(38, 10), existing_type=ExactDecimal(38, 18))
    for table in LINE_TABLES:
        op.alter_column(table, "amount", type_=ExactDecimal(28, 10), existing_type=ExactDecimal(38, 18))
