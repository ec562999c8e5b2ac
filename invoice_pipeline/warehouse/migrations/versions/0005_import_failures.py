"""Import failures: why an invoice is not Active, as a type decisions read instead of the message.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01 05:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Add `failures` to the records. An Error record whose checksum alone failed (its message starts with the
    checksum's verdict, as every earlier version wrote it) keeps its checksum override: the message is read
    here, once, and never again."""
    op.add_column("provider_invoices", sa.Column("failures", sa.String(length=100), nullable=True))
    op.execute(
        "UPDATE provider_invoices SET failures = 'checksum' "
        "WHERE status = 'Error' AND difference IS NOT NULL AND message LIKE 'Checksum failed%'"
    )


def downgrade() -> None:
    """Drop `failures`."""
    op.drop_column("provider_invoices", "failures")
