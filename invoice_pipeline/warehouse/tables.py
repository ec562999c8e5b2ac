"""The warehouse's tables, as SQLAlchemy Core metadata shared by DuckDB and PostgreSQL."""

from __future__ import annotations

from decimal import Decimal

import sqlalchemy as sa

from invoice_pipeline.domain.line_kinds import LineKind


class ExactDecimal(sa.types.UserDefinedType):
    """NUMERIC(precision, scale) that reaches the driver and comes back as Decimal, never through float.

    SQLAlchemy's Numeric converts through float on dialects that do not declare native decimals
    (duckdb_engine is one); both DuckDB's and psycopg's drivers handle Decimal themselves.
    """

    cache_ok = True

    def __init__(self, precision: int = 28, scale: int = 10) -> None:
        self.precision = precision
        self.scale = scale

    def get_col_spec(self, **kw: object) -> str:
        """The column type in DDL."""
        return f"NUMERIC({self.precision}, {self.scale})"

    def bind_processor(self, dialect: sa.Dialect) -> None:
        """Decimals go to the driver as they are."""
        return None

    def result_processor(self, dialect: sa.Dialect, coltype: object):  # noqa: ANN201 - SQLAlchemy hook
        """Values come back as Decimal (exact text conversion if a driver hands over anything else)."""

        def to_decimal(value: object) -> Decimal | None:
            if value is None or isinstance(value, Decimal):
                return value
            return Decimal(str(value))

        return to_decimal


MONEY = ExactDecimal(28, 10)
# Header totals (the provider's, customer invoices'): 10 places, 28 digits before the point.
SUM_OF_MONEY = ExactDecimal(38, 10)
# A provider line's amount as the provider sends it: up to 18 places (Microsoft's daily-rated usage carries 15).
LINE_AMOUNT = ExactDecimal(38, 18)
# Sums of line amounts (usage and license totals, their difference to the header), exactly: 18 places, 20 digits
# before the point (an import refuses lines whose amounts add up to more: see importing/line_amount_sums.py).
SUM_OF_LINE_AMOUNTS = ExactDecimal(38, 18)
# A billed line's price: its cost times the terms' factor (markups have at most 6 places: see pricing.py).
PRICE = ExactDecimal(38, 18)
QUANTITY_PRICE = ExactDecimal(38, 18)  # metered quantities and unit prices carry more places than money
metadata = sa.MetaData()

provider_invoices = sa.Table(
    "provider_invoices",
    metadata,
    sa.Column("record_id", sa.String(32), primary_key=True),
    sa.Column("provider", sa.String(64), nullable=False),
    sa.Column("invoice_id", sa.String(100), nullable=False),
    # `provider:invoice_id` while the record is the invoice's current one; NULL once Inactive, so
    # deactivated records stay as history while at most one current record exists per invoice.
    sa.Column("current_key", sa.String(170), unique=True),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("message", sa.Text),
    # Why the invoice is not Active, as `ImportFailure` values (comma-separated): decisions read these, never
    # the message. NULL when none, or not known (a crashed import, a record from before 0005).
    sa.Column("failures", sa.String(100)),
    sa.Column("is_manual", sa.Boolean, nullable=False, default=False),
    sa.Column("invoice_date", sa.Date),
    sa.Column("billing_period_start", sa.Date),
    sa.Column("billing_period_end", sa.Date),
    sa.Column("currency", sa.String(3)),
    sa.Column("minor_units", sa.Integer),
    sa.Column("total_amount", SUM_OF_MONEY),
    sa.Column("usage_total", SUM_OF_LINE_AMOUNTS),
    sa.Column("license_total", SUM_OF_LINE_AMOUNTS),
    sa.Column("difference", SUM_OF_LINE_AMOUNTS),
    sa.Column("checksum_tolerance", MONEY),
    sa.Column("accepted_difference", SUM_OF_LINE_AMOUNTS),
    sa.Column("usage_line_count", sa.BigInteger),
    sa.Column("license_line_count", sa.BigInteger),
    sa.Column("run_id", sa.String(64)),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    # What the provider's line files were when imported (see connectors/base.py `line_files_fingerprint`),
    # to tell a line-level change at the provider that keeps the header total.
    sa.Column("line_fingerprint", sa.String(64)),
    # Not written yet (0007, for credit and adjustment notes): the tax the provider's lines carry, what the document
    # is (invoice | credit_note | void_note | adjustment_note) and the invoice a note amends. NULL: not known.
    sa.Column("tax_amount", SUM_OF_MONEY),
    sa.Column("document_type", sa.String(32)),
    sa.Column("amends_invoice_id", sa.String(100)),
)

# The claim of the process importing a Populating invoice: renewed while it works, it lapses when the
# process stops (see warehouse/import_claims.py). One row per record; kept after the import as who held it.
import_claims = sa.Table(
    "import_claims",
    metadata,
    sa.Column("record_id", sa.String(32), primary_key=True),
    sa.Column("run_id", sa.String(64)),
    sa.Column("host", sa.String(255), nullable=False),
    sa.Column("boot_id", sa.String(64), nullable=False),
    sa.Column("pid", sa.Integer, nullable=False),
    sa.Column("process_started", sa.BigInteger, nullable=False),
    sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("renewed_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
)

invoice_status_history = sa.Table(
    "invoice_status_history",
    metadata,
    sa.Column("entry_id", sa.String(32), primary_key=True),
    sa.Column("record_id", sa.String(32), nullable=False, index=True),
    sa.Column("provider", sa.String(64), nullable=False),
    sa.Column("invoice_id", sa.String(100), nullable=False),
    sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("from_status", sa.String(16)),
    sa.Column("to_status", sa.String(16), nullable=False),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("run_id", sa.String(64)),
    sa.Column("actor", sa.String(200), nullable=False),
)

invoice_notes = sa.Table(
    "invoice_notes",
    metadata,
    sa.Column("note_id", sa.String(32), primary_key=True),
    sa.Column("record_id", sa.String(32), nullable=False, index=True),
    sa.Column("title", sa.String(200), nullable=False),
    sa.Column("file_name", sa.String(200), nullable=False),
    sa.Column("content", sa.Text, nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
)


def _line_summary_columns() -> list[sa.Column]:
    return [
        sa.Column("record_id", sa.String(32), nullable=False),
        sa.Column("line_id", sa.String(200), nullable=False),
        sa.Column("customer_id", sa.String(200), nullable=False),
        sa.Column("account_id", sa.String(200), nullable=False),
        sa.Column("subscription_id", sa.String(200), nullable=False),
        sa.Column("billing_contract_id", sa.String(200)),
        sa.Column("product_id", sa.String(200)),
        sa.Column("charge_start_date", sa.Date, nullable=False),
        sa.Column("charge_end_date", sa.Date, nullable=False),
        sa.Column("quantity", QUANTITY_PRICE, nullable=False),
        sa.Column("unit_price", QUANTITY_PRICE, nullable=False),
        sa.Column("amount", LINE_AMOUNT, nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
    ]


usage_summaries = sa.Table(
    "usage_summaries",
    metadata,
    *_line_summary_columns(),
    sa.Column("usage_date", sa.Date),
    sa.Column("meter_id", sa.String(200)),
    sa.Column("meter_name", sa.Text),
    sa.Column("unit", sa.String(100)),
    sa.Column("extra", sa.Text),
)

license_summaries = sa.Table(
    "license_summaries",
    metadata,
    *_line_summary_columns(),
    sa.Column("extra", sa.Text),
)

LINE_SUMMARY_TABLES = {LineKind.USAGE: usage_summaries, LineKind.LICENSE: license_summaries}

# PostgreSQL finds a record's lines by index, and refuses a line stored twice; DuckDB's zone maps
# already find them, and an index there would slow the bulk load of millions of lines.
for _table in LINE_SUMMARY_TABLES.values():
    sa.Index(f"uq_{_table.name}_record_line", _table.c.record_id, _table.c.line_id, unique=True).ddl_if(
        dialect="postgresql"
    )

reference_provider_accounts = sa.Table(
    "reference_provider_accounts",
    metadata,
    sa.Column("provider", sa.String(64), nullable=False),
    sa.Column("provider_account_id", sa.String(200), nullable=False),
    sa.Column("account_id", sa.String(200), nullable=False),
    sa.Column("account_name", sa.Text),
)
reference_subscriptions = sa.Table(
    "reference_subscriptions",
    metadata,
    sa.Column("provider", sa.String(64), nullable=False),
    sa.Column("subscription_id", sa.String(200), nullable=False),
    sa.Column("account_id", sa.String(200), nullable=False),
    sa.Column("billing_contract_id", sa.String(200), nullable=False),
    sa.Column("product_id", sa.String(200)),
)
reference_products = sa.Table(
    "reference_products",
    metadata,
    sa.Column("product_id", sa.String(200), nullable=False),
    sa.Column("name", sa.Text, nullable=False),
)
reference_currencies = sa.Table(
    "reference_currencies",
    metadata,
    sa.Column("code", sa.String(3), nullable=False),
    sa.Column("minor_units", sa.Integer, nullable=False),
)
REFERENCE_TABLES = {
    "provider_accounts": reference_provider_accounts,
    "subscriptions": reference_subscriptions,
    "products": reference_products,
    "currencies": reference_currencies,
}

provider_invoice_changes = sa.Table(
    "provider_invoice_changes",
    metadata,
    sa.Column("change_id", sa.String(32), primary_key=True),
    sa.Column("record_id", sa.String(32), nullable=False),
    sa.Column("provider", sa.String(64), nullable=False),
    sa.Column("invoice_id", sa.String(100), nullable=False),
    sa.Column("currency", sa.String(3)),
    sa.Column("minor_units", sa.Integer),
    sa.Column("old_total", MONEY, nullable=False),
    sa.Column("new_total", MONEY, nullable=False),
    # The lines' fingerprints, imported and the provider's now; NULL where the provider's cannot be had cheaply.
    sa.Column("old_line_fingerprint", sa.String(64)),
    sa.Column("new_line_fingerprint", sa.String(64)),
    sa.Column("seen_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("notified_at", sa.DateTime(timezone=True)),
    # One row per record and provider total and lines: the same change is recorded and notified once.
    sa.UniqueConstraint("record_id", "new_total", "new_line_fingerprint", name="uq_provider_invoice_change"),
)

import_run_failures = sa.Table(
    "import_run_failures",
    metadata,
    sa.Column("run_id", sa.String(64), primary_key=True),
    sa.Column("provider", sa.String(64)),
    sa.Column("invoice_id", sa.String(100)),
    sa.Column("error", sa.Text, nullable=False),
    sa.Column("failed_at", sa.DateTime(timezone=True), nullable=False),
)

summary_deliveries = sa.Table(
    "summary_deliveries",
    metadata,
    sa.Column("summary_day", sa.String(10), primary_key=True),
    sa.Column("status", sa.String(16), nullable=False),  # sent | failed
    sa.Column("attempts", sa.Integer, nullable=False),
    sa.Column("last_error", sa.Text),
    sa.Column("subject", sa.Text),
    sa.Column("sent_at", sa.DateTime(timezone=True)),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
)

customer_invoices = sa.Table(
    "customer_invoices",
    metadata,
    sa.Column("customer_invoice_id", sa.String(64), primary_key=True),
    sa.Column("account_id", sa.String(200), nullable=False),
    sa.Column("currency", sa.String(3), nullable=False),
    sa.Column("total_amount", SUM_OF_MONEY, nullable=False),  # rounded once to the currency's minor units
    # total_amount minus the exact sum of its lines; NULL on invoices billed before totals were rounded.
    sa.Column("rounding_difference", PRICE),
    sa.Column("line_count", sa.BigInteger, nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("created_by", sa.String(200), nullable=False),
    sa.Column("period", sa.String(7)),  # the charge month billed, YYYY-MM
    sa.Column("kind", sa.String(16), nullable=False, server_default="invoice"),  # invoice | credit_note
    sa.Column("status", sa.String(16), nullable=False, server_default="issued"),  # draft | issued | void
    sa.Column("corrects", sa.String(64)),  # a credit note's invoice
    sa.Column("minor_units", sa.Integer),
    sa.Column("issued_at", sa.DateTime(timezone=True)),
    sa.Column("issued_by", sa.String(200)),
)

# The lines each customer invoice bills, with what the line was when billed. `linked` is a provider invoice line's
# reference to the invoice billing it (the "child records invoiced"): true on an invoice's lines until unlinked; a
# credit note's lines (negative, the lines it credits) are never links.
customer_invoice_lines = sa.Table(
    "customer_invoice_lines",
    metadata,
    sa.Column("customer_invoice_id", sa.String(64), nullable=False, index=True),
    sa.Column("record_id", sa.String(32), nullable=False),
    sa.Column("line_id", sa.String(200), nullable=False),
    sa.Column("amount", PRICE, nullable=False),  # the price billed: cost plus the terms' markup
    sa.Column("cost", LINE_AMOUNT),  # the provider line's amount
    sa.Column("usage_markup_percent", MONEY),  # the terms used; NULL: billed at cost (no terms)
    sa.Column("terms_valid_from", sa.Date),
    sa.Column("account_id", sa.String(200)),
    sa.Column("billing_contract_id", sa.String(200)),
    sa.Column("subscription_id", sa.String(200)),
    sa.Column("product_id", sa.String(200)),
    sa.Column("currency", sa.String(3)),
    sa.Column("charge_start_date", sa.Date),
    sa.Column("linked", sa.Boolean, nullable=False, server_default=sa.true()),
    # A line's link is found by record and line id (by record alone, linking a million lines of one invoice re-reads
    # every link made so far for each line).
    sa.Index("ix_customer_invoice_lines_record_line", "record_id", "line_id"),
)

customer_invoice_history = sa.Table(
    "customer_invoice_history",
    metadata,
    sa.Column("entry_id", sa.String(32), primary_key=True),
    sa.Column("customer_invoice_id", sa.String(64), nullable=False, index=True),
    sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("from_status", sa.String(16)),
    sa.Column("to_status", sa.String(16), nullable=False),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("actor", sa.String(200), nullable=False),
)
