"""Migration 0007, both directions: line amounts, their sums and billed lines' cost at 18 places; the provider
invoice's tax amount, document type and amended invoice."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.config import Config

from invoice_pipeline.warehouse import schema_migrations
from invoice_pipeline.warehouse import tables as t
from invoice_pipeline.warehouse.warehouse import Warehouse

pytestmark = pytest.mark.engine_contract  # a team's `warehouse upgrade` runs on PostgreSQL

WIDENED = {
    ("usage_summaries", "amount"),
    ("license_summaries", "amount"),
    ("provider_invoices", "usage_total"),
    ("provider_invoices", "license_total"),
    ("provider_invoices", "difference"),
    ("provider_invoices", "accepted_difference"),
    ("customer_invoice_lines", "cost"),
}
KEPT = {  # header-level figures keep their type
    ("provider_invoices", "total_amount"): (38, 10),
    ("provider_invoices", "checksum_tolerance"): (28, 10),
    ("customer_invoice_lines", "amount"): (38, 18),
    ("customer_invoice_lines", "usage_markup_percent"): (28, 10),
    ("customer_invoices", "total_amount"): (38, 10),
}
NEW_COLUMNS = {"tax_amount", "document_type", "amends_invoice_id"}
NOW = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)
RECORD = {
    "record_id": "r1",
    "provider": "contoso-csp",
    "invoice_id": "G1",
    "current_key": "contoso-csp:G1",
    "status": "Active",
    "is_manual": False,
    "currency": "USD",
    "total_amount": Decimal("46.12"),
    "usage_total": Decimal("10.1234567891"),
    "license_total": Decimal("36.0000000001"),
    "difference": Decimal("-0.0034567892"),
    "accepted_difference": Decimal("-0.0034567892"),
    "created_at": NOW,
    "updated_at": NOW,
}
LINE = {
    "record_id": "r1",
    "line_id": "U1",
    "customer_id": "c",
    "account_id": "ACC-1001",
    "subscription_id": "s",
    "charge_start_date": date(2026, 10, 1),
    "charge_end_date": date(2026, 10, 31),
    "quantity": Decimal("1"),
    "unit_price": Decimal("10.1234567891"),
    "amount": Decimal("10.1234567891"),
    "currency": "USD",
}
LINK = {
    "customer_invoice_id": "CI-1",
    "record_id": "r1",
    "line_id": "U1",
    "amount": Decimal("11.13580246801"),
    "cost": Decimal("10.1234567891"),
}


def _types(engine: sa.Engine) -> dict[tuple[str, str], tuple[int, int]]:
    query = sa.text(
        "SELECT table_name, column_name, numeric_precision, numeric_scale FROM information_schema.columns "
        "WHERE table_schema = current_schema() AND numeric_scale IS NOT NULL AND numeric_scale > 0"
    )
    with engine.connect() as conn:
        return {(table, column): (int(p), int(s)) for table, column, p, s in conn.execute(query)}


def _columns(engine: sa.Engine, table: str) -> set[str]:
    query = sa.text(
        "SELECT column_name FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = :t"
    )
    with engine.connect() as conn:
        return set(conn.execute(query, {"t": table}).scalars())


def _insert_sql(table: str, row: dict) -> str:
    return f"INSERT INTO {table} ({', '.join(row)}) VALUES ({', '.join(f':{c}' for c in row)})"


def _at_0006(engine: sa.Engine, record: dict = RECORD) -> None:
    """Every table dropped, migrated to 0006 only, and a record with a line billed on a customer invoice line, as
    revision 0006 stored them (amounts and sums at 10 places)."""
    t.metadata.drop_all(engine)
    with engine.begin() as conn:
        conn.exec_driver_sql("DROP TABLE alembic_version")
    schema_migrations.upgrade(engine, to="0006")
    with engine.begin() as conn:
        conn.execute(sa.text(_insert_sql("provider_invoices", record)), record)
        conn.execute(sa.text(_insert_sql("usage_summaries", LINE)), LINE)
        license_line = LINE | {"line_id": "L1", "amount": Decimal("36.0000000001")}
        conn.execute(sa.text(_insert_sql("license_summaries", license_line)), license_line)
        conn.execute(sa.text(_insert_sql("customer_invoice_lines", LINK)), LINK)


def _downgrade(engine: sa.Engine, to: str) -> None:
    with engine.begin() as conn:
        config = Config()
        config.set_main_option("script_location", str(schema_migrations.MIGRATIONS_DIR))
        config.attributes["connection"] = conn
        command.downgrade(config, to)


def _stored(engine: sa.Engine, line_id: str = "U1") -> tuple:
    invoices, usage, links = t.provider_invoices, t.usage_summaries, t.customer_invoice_lines
    with engine.connect() as conn:
        sums = conn.execute(
            sa.select(
                invoices.c.usage_total, invoices.c.license_total, invoices.c.difference, invoices.c.accepted_difference
            )
        ).one()
        amount = conn.execute(sa.select(usage.c.amount).where(usage.c.line_id == line_id)).scalar_one()
        cost = conn.execute(sa.select(links.c.cost).where(links.c.line_id == line_id)).scalar_one()
    return (*sums, amount, cost)


def test_upgrading_from_0006_keeps_every_amount_and_then_holds_18_places(warehouse: Warehouse):
    engine = warehouse.engine
    _at_0006(engine)
    assert {column: _types(engine)[column] for column in WIDENED} == dict.fromkeys(WIDENED, (28, 10)) | {
        ("provider_invoices", column): (38, 10)
        for column in ("usage_total", "license_total", "difference", "accepted_difference")
    }
    assert not NEW_COLUMNS & _columns(engine, "provider_invoices")

    assert schema_migrations.upgrade(engine) == ("0006", schema_migrations.head_revision())

    types = _types(engine)
    assert {column: types[column] for column in WIDENED} == dict.fromkeys(WIDENED, (38, 18))
    assert {column: types[column] for column in KEPT} == KEPT
    assert types[("provider_invoices", "tax_amount")] == (38, 10)
    assert _stored(engine) == (
        Decimal("10.1234567891"),
        Decimal("36.0000000001"),
        Decimal("-0.0034567892"),
        Decimal("-0.0034567892"),
        Decimal("10.1234567891"),
        Decimal("10.1234567891"),
    )
    daily_rated = Decimal("0.116266666666667")
    finest = Decimal("-123456789012345678.123456789012345678")
    with engine.begin() as conn:
        conn.execute(sa.insert(t.usage_summaries).values(**LINE | {"line_id": "U2", "amount": daily_rated}))
        conn.execute(sa.insert(t.customer_invoice_lines).values(**LINK | {"line_id": "U2", "cost": daily_rated}))
        conn.execute(
            sa.update(t.provider_invoices).values(
                usage_total=finest,
                license_total=daily_rated,
                difference=Decimal("99999999999999999999.999999999999999999"),
                accepted_difference=Decimal("1E-18"),
                tax_amount=Decimal("1234567890123456789012345678.1234567891"),
                document_type="adjustment_note",
                amends_invoice_id="G0",
            )
        )
        new = conn.execute(
            sa.select(
                t.provider_invoices.c.tax_amount,
                t.provider_invoices.c.document_type,
                t.provider_invoices.c.amends_invoice_id,
            )
        ).one()
    assert _stored(engine, "U2") == (
        finest,
        daily_rated,
        Decimal("99999999999999999999.999999999999999999"),
        Decimal("1E-18"),
        daily_rated,
        daily_rated,
    )
    assert tuple(new) == (Decimal("1234567890123456789012345678.1234567891"), "adjustment_note", "G0")
    with warehouse.engine.connect() as conn:  # the billed lines' indexes are there again
        found = conn.execute(
            sa.select(t.customer_invoice_lines.c.line_id).where(
                t.customer_invoice_lines.c.record_id == "r1", t.customer_invoice_lines.c.line_id == "U2"
            )
        ).all()
    assert found == [("U2",)]


def test_the_upgraded_indexes_and_columns_are_what_the_code_declares(warehouse: Warehouse):
    engine = warehouse.engine
    _at_0006(engine)
    schema_migrations.upgrade(engine)
    declared = {c.name for c in t.provider_invoices.columns}
    assert _columns(engine, "provider_invoices") == declared
    assert declared >= NEW_COLUMNS
    indexes = {"ix_customer_invoice_lines_customer_invoice_id", "ix_customer_invoice_lines_record_line"}
    with engine.connect() as conn:
        if engine.dialect.name == "postgresql":
            names = conn.execute(
                sa.text("SELECT indexname FROM pg_indexes WHERE schemaname = current_schema() AND tablename = :t"),
                {"t": "customer_invoice_lines"},
            ).scalars()
        else:
            names = conn.execute(
                sa.text("SELECT index_name FROM duckdb_indexes() WHERE table_name = :t"),
                {"t": "customer_invoice_lines"},
            ).scalars()
        assert set(names) == indexes


def test_downgrading_to_0006_drops_the_new_columns_and_rounds_to_10_places(warehouse: Warehouse):
    engine = warehouse.engine
    _at_0006(engine)
    schema_migrations.upgrade(engine)
    with engine.begin() as conn:
        conn.execute(
            sa.update(t.usage_summaries)
            .values(amount=Decimal("0.116266666666667"))
            .where(t.usage_summaries.c.line_id == "U1")
        )
        conn.execute(sa.update(t.customer_invoice_lines).values(cost=Decimal("0.116266666666667")))
        conn.execute(
            sa.update(t.provider_invoices).values(
                usage_total=Decimal("0.232533333333334001"), tax_amount=Decimal("1.5"), document_type="invoice"
            )
        )

    _downgrade(engine, "0006")

    assert schema_migrations.schema_state(engine).current == "0006"
    assert not NEW_COLUMNS & _columns(engine, "provider_invoices")
    types = _types(engine)
    assert {column: types[column] for column in WIDENED} == dict.fromkeys(WIDENED, (28, 10)) | {
        ("provider_invoices", column): (38, 10)
        for column in ("usage_total", "license_total", "difference", "accepted_difference")
    }
    with engine.connect() as conn:
        amount = conn.execute(sa.text("SELECT amount FROM usage_summaries WHERE line_id = 'U1'")).scalar_one()
        cost = conn.execute(sa.text("SELECT cost FROM customer_invoice_lines")).scalar_one()
        usage_total = conn.execute(sa.text("SELECT usage_total FROM provider_invoices")).scalar_one()
    assert (Decimal(amount), Decimal(cost), Decimal(usage_total)) == (
        Decimal("0.1162666667"),
        Decimal("0.1162666667"),
        Decimal("0.2325333333"),
    )

    assert schema_migrations.upgrade(engine) == ("0006", schema_migrations.head_revision())  # and up again
    assert _types(engine)[("customer_invoice_lines", "cost")] == (38, 18)


def test_upgrading_a_sum_of_20_digits_before_the_point_is_refused_naming_its_record(warehouse: Warehouse):
    engine = warehouse.engine
    _at_0006(engine, RECORD | {"difference": Decimal("-100000000000000000000.5")})

    with pytest.raises(RuntimeError, match=r"1 provider invoice record\(s\) \(r1\) have a line total or difference"):
        schema_migrations.upgrade(engine)

    assert schema_migrations.schema_state(engine).current == "0006"
    assert _types(engine)[("usage_summaries", "amount")] == (28, 10)
