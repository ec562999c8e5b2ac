"""Quantities and unit prices keep up to 18 decimal places (metered usage is prorated finely).

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25 18:30:00
"""

from alembic import op

from invoice_pipeline.warehouse.tables import ExactDecimal

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

LINE_TABLES = ("usage_summaries", "license_summaries")
COLUMNS = ("quantity", "unit_price")


def upgrade() -> None:
    """Widen quantity and unit_price to NUMERIC(38, 18); every stored value is kept exactly."""
    for table in LINE_TABLES:
        for column in COLUMNS:
            op.alter_column(table, column, type_=ExactDecimal(38, 18), existing_type=ExactDecimal(28, 10))


def downgrade() -> None:
    """Back to NUMERIC(28, 10): the database rounds values with more than 10 places; export them first."""
    for table in LINE_TABLES:
        for column in COLUMNS:
            op.alter_column(table, column, type_=ExactDecimal(28, 10), existing_type=ExactDecimal(38, 18))
