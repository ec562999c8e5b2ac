"""Initial warehouse schema: provider invoices, history, notes, line summaries, reference data, billing

Revision ID: 0001
Revises:
Create Date: 2026-11-25 17:49:07.995405
"""

import sqlalchemy as sa
from alembic import op

import invoice_pipeline.warehouse.tables

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def _is_postgresql() -> bool:
    # Line lookups by index on PostgreSQL only (see tables.py: DuckDB bulk loads without it).
    return op.get_bind().dialect.name == "postgresql"


def upgrade() -> None:
    """Apply this revision."""
    op.create_table(
        "customer_invoice_lines",
        sa.Column("customer_invoice_id", sa.String(length=64), nullable=False),
        sa.Column("record_id", sa.String(length=32), nullable=False),
        sa.Column("line_id", sa.String(length=200), nullable=False),
        sa.Column("amount", invoice_pipeline.warehouse.tables.ExactDecimal(), nullable=False),
    )
    op.create_index(
        op.f("ix_customer_invoice_lines_customer_invoice_id"),
        "customer_invoice_lines",
        ["customer_invoice_id"],
        unique=False,
    )
    op.create_index(op.f("ix_customer_invoice_lines_record_id"), "customer_invoice_lines", ["record_id"], unique=False)
    op.create_table(
        "customer_invoices",
        sa.Column("customer_invoice_id", sa.String(length=64), nullable=False),
        sa.Column("account_id", sa.String(length=200), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("total_amount", invoice_pipeline.warehouse.tables.ExactDecimal(), nullable=False),
        sa.Column("line_count", sa.BigInteger(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=200), nullable=False),
        sa.PrimaryKeyConstraint("customer_invoice_id"),
    )
    op.create_table(
        "import_run_failures",
        sa.Column("run_id", sa.String(length=64), nullable=False),
        sa.Column("provider", sa.String(length=64), nullable=True),
        sa.Column("invoice_id", sa.String(length=100), nullable=True),
        sa.Column("error", sa.Text(), nullable=False),
        sa.Column("failed_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("run_id"),
    )
    op.create_table(
        "invoice_notes",
        sa.Column("note_id", sa.String(length=32), nullable=False),
        sa.Column("record_id", sa.String(length=32), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("file_name", sa.String(length=200), nullable=False),
        sa.Column("content", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("note_id"),
    )
    op.create_index(op.f("ix_invoice_notes_record_id"), "invoice_notes", ["record_id"], unique=False)
    op.create_table(
        "invoice_status_history",
        sa.Column("entry_id", sa.String(length=32), nullable=False),
        sa.Column("record_id", sa.String(length=32), nullable=False),
        sa.Column("provider", sa.String(length=64), nullable=False),
        sa.Column("invoice_id", sa.String(length=100), nullable=False),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("from_status", sa.String(length=16), nullable=True),
        sa.Column("to_status", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("run_id", sa.String(length=64), nullable=True),
        sa.Column("actor", sa.String(length=200), nullable=False),
        sa.PrimaryKeyConstraint("entry_id"),
    )
    op.create_index(op.f("ix_invoice_status_history_record_id"), "invoice_status_history", ["record_id"], unique=False)
    op.create_table(
        "license_summaries",
        sa.Column("record_id", sa.String(length=32), nullable=False),
        sa.Column("line_id", sa.String(length=200), nullable=False),
        sa.Column("customer_id", sa.String(length=200), nullable=False),
        sa.Column("account_id", sa.String(length=200), nullable=False),
        sa.Column("subscription_id", sa.String(length=200), nullable=False),
        sa.Column("billing_contract_id", sa.String(length=200), nullable=True),
        sa.Column("product_id", sa.String(length=200), nullable=True),
        sa.Column("charge_start_date", sa.Date(), nullable=False),
        sa.Column("charge_end_date", sa.Date(), nullable=False),
        sa.Column("quantity", invoice_pipeline.warehouse.tables.ExactDecimal(), nullable=False),
        sa.Column("unit_price", invoice_pipeline.warehouse.tables.ExactDecimal(), nullable=False),
        sa.Column("amount", invoice_pipeline.warehouse.tables.ExactDecimal(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("extra", sa.Text(), nullable=True),
    )
    if _is_postgresql():
        op.create_index("uq_license_summaries_record_line", "license_summaries", ["record_id", "line_id"], unique=True)
    op.create_table(
        "provider_invoice_changes",
        sa.Column("change_id", sa.String(length=32), nullable=False),
        sa.Column("record_id", sa.String(length=32), nullable=False),
        sa.Column("provider", sa.String(length=64), nullable=False),
        sa.Column("invoice_id", sa.String(length=100), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=True),
        sa.Column("minor_units", sa.Integer(), nullable=True),
        sa.Column("old_total", invoice_pipeline.warehouse.tables.ExactDecimal(), nullable=False),
        sa.Column("new_total", invoice_pipeline.warehouse.tables.ExactDecimal(), nullable=False),
        sa.Column("seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("notified_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("change_id"),
        sa.UniqueConstraint("record_id", "new_total", name="uq_provider_invoice_change"),
    )
    op.create_table(
        "provider_invoices",
        sa.Column("record_id", sa.String(length=32), nullable=False),
        sa.Column("provider", sa.String(length=64), nullable=False),
        sa.Column("invoice_id", sa.String(length=100), nullable=False),
        sa.Column("current_key", sa.String(length=170), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("message", sa.Text(), nullable=True),
        sa.Column("is_manual", sa.Boolean(), nullable=False),
        sa.Column("invoice_date", sa.Date(), nullable=True),
        sa.Column("billing_period_start", sa.Date(), nullable=True),
        sa.Column("billing_period_end", sa.Date(), nullable=True),
        sa.Column("currency", sa.String(length=3), nullable=True),
        sa.Column("minor_units", sa.Integer(), nullable=True),
        sa.Column("total_amount", invoice_pipeline.warehouse.tables.ExactDecimal(), nullable=True),
        sa.Column("usage_total", invoice_pipeline.warehouse.tables.ExactDecimal(), nullable=True),
        sa.Column("license_total", invoice_pipeline.warehouse.tables.ExactDecimal(), nullable=True),
        sa.Column("difference", invoice_pipeline.warehouse.tables.ExactDecimal(), nullable=True),
        sa.Column("checksum_tolerance", invoice_pipeline.warehouse.tables.ExactDecimal(), nullable=True),
        sa.Column("accepted_difference", invoice_pipeline.warehouse.tables.ExactDecimal(), nullable=True),
        sa.Column("usage_line_count", sa.BigInteger(), nullable=True),
        sa.Column("license_line_count", sa.BigInteger(), nullable=True),
        sa.Column("run_id", sa.String(length=64), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("record_id"),
        sa.UniqueConstraint("current_key"),
    )
    op.create_table(
        "reference_currencies",
        sa.Column("code", sa.String(length=3), nullable=False),
        sa.Column("minor_units", sa.Integer(), nullable=False),
    )
    op.create_table(
        "reference_products",
        sa.Column("product_id", sa.String(length=200), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
    )
    op.create_table(
        "reference_provider_accounts",
        sa.Column("provider", sa.String(length=64), nullable=False),
        sa.Column("provider_account_id", sa.String(length=200), nullable=False),
        sa.Column("account_id", sa.String(length=200), nullable=False),
        sa.Column("account_name", sa.Text(), nullable=True),
    )
    op.create_table(
        "reference_subscriptions",
        sa.Column("provider", sa.String(length=64), nullable=False),
        sa.Column("subscription_id", sa.String(length=200), nullable=False),
        sa.Column("account_id", sa.String(length=200), nullable=False),
        sa.Column("billing_contract_id", sa.String(length=200), nullable=False),
        sa.Column("product_id", sa.String(length=200), nullable=True),
    )
    op.create_table(
        "summary_deliveries",
        sa.Column("summary_day", sa.String(length=10), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("subject", sa.Text(), nullable=True),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("summary_day"),
    )
    op.create_table(
        "usage_summaries",
        sa.Column("record_id", sa.String(length=32), nullable=False),
        sa.Column("line_id", sa.String(length=200), nullable=False),
        sa.Column("customer_id", sa.String(length=200), nullable=False),
        sa.Column("account_id", sa.String(length=200), nullable=False),
        sa.Column("subscription_id", sa.String(length=200), nullable=False),
        sa.Column("billing_contract_id", sa.String(length=200), nullable=True),
        sa.Column("product_id", sa.String(length=200), nullable=True),
        sa.Column("charge_start_date", sa.Date(), nullable=False),
        sa.Column("charge_end_date", sa.Date(), nullable=False),
        sa.Column("quantity", invoice_pipeline.warehouse.tables.ExactDecimal(), nullable=False),
        sa.Column("unit_price", invoice_pipeline.warehouse.tables.ExactDecimal(), nullable=False),
        sa.Column("amount", invoice_pipeline.warehouse.tables.ExactDecimal(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("usage_date", sa.Date(), nullable=True),
        sa.Column("meter_id", sa.String(length=200), nullable=True),
        sa.Column("meter_name", sa.Text(), nullable=True),
        sa.Column("unit", sa.String(length=100), nullable=True),
        sa.Column("extra", sa.Text(), nullable=True),
    )
    if _is_postgresql():
        op.create_index("uq_usage_summaries_record_line", "usage_summaries", ["record_id", "line_id"], unique=True)


def downgrade() -> None:
    """Revert this revision."""
    if _is_postgresql():
        op.drop_index("uq_usage_summaries_record_line", table_name="usage_summaries")
    op.drop_table("usage_summaries")
    op.drop_table("summary_deliveries")
    op.drop_table("reference_subscriptions")
    op.drop_table("reference_provider_accounts")
    op.drop_table("reference_products")
    op.drop_table("reference_currencies")
    op.drop_table("provider_invoices")
    op.drop_table("provider_invoice_changes")
    if _is_postgresql():
        op.drop_index("uq_license_summaries_record_line", table_name="license_summaries")
    op.drop_table("license_summaries")
    op.drop_index(op.f("ix_invoice_status_history_record_id"), table_name="invoice_status_history")
    op.drop_table("invoice_status_history")
    op.drop_index(op.f("ix_invoice_notes_record_id"), table_name="invoice_notes")
    op.drop_table("invoice_notes")
    op.drop_table("import_run_failures")
    op.drop_table("customer_invoices")
    op.drop_index(op.f("ix_customer_invoice_lines_record_id"), table_name="customer_invoice_lines")
    op.drop_index(op.f("ix_customer_invoice_lines_customer_invoice_id"), table_name="customer_invoice_lines")
    op.drop_table("customer_invoice_lines")
