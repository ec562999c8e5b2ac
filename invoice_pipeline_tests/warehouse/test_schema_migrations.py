"""Versioned warehouse schema: migrations build what the code declares; PostgreSQL is upgraded on purpose."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from invoice_pipeline.composition import connector_for, open_warehouse
from invoice_pipeline.domain.import_failures import ImportFailure
from invoice_pipeline.domain.invoice_keys import InvoiceKey
from invoice_pipeline.domain.statuses import Status
from invoice_pipeline.importing.invoice_import import import_provider_invoice
from invoice_pipeline.warehouse import schema_migrations
from invoice_pipeline.warehouse import tables as t
from invoice_pipeline.warehouse.schema_migrations import WarehouseSchemaOutdated
from invoice_pipeline.warehouse.warehouse import Warehouse
from invoice_pipeline_tests.builders import clean_invoice, make_workspace
from invoice_pipeline_tests.postgres_schemas import postgres_warehouse_url
from invoice_pipeline_tests.test_cli import _env, run_cli

pytestmark = pytest.mark.engine_contract  # a team's `warehouse upgrade` runs on PostgreSQL

KEY = InvoiceKey("contoso-csp", "INV-1")


def test_the_migrations_build_exactly_the_tables_and_columns_the_code_declares(warehouse: Warehouse):
    query = sa.text(
        "SELECT table_name, column_name FROM information_schema.columns "
        "WHERE table_schema = current_schema() AND table_name <> 'alembic_version'"
    )
    with warehouse.engine.connect() as conn:
        built = {tuple(row) for row in conn.execute(query)}
    declared = {(table.name, column.name) for table in t.metadata.tables.values() for column in table.columns}
    assert built == declared
    assert warehouse.schema_state().current == schema_migrations.head_revision()


def test_the_migrations_leave_nothing_for_alembic_to_generate_on_postgresql():
    # Alembic reflects PostgreSQL fully (duckdb_engine cannot): types, nullability, keys and indexes too.
    with postgres_warehouse_url() as url:
        engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
        with engine.connect() as conn:
            assert compare_metadata(MigrationContext.configure(conn), t.metadata) == []
        engine.dispose()


def test_upgrading_from_the_first_revision_keeps_stored_lines_and_then_holds_finer_quantities(warehouse: Warehouse):
    engine = warehouse.engine
    _rebuild_at(engine, schema_migrations.BASELINE_REVISION)
    line = {
        "record_id": "r1",
        "line_id": "U1",
        "customer_id": "c",
        "account_id": "a",
        "subscription_id": "s",
        "charge_start_date": date(2026, 10, 1),
        "charge_end_date": date(2026, 10, 31),
        "quantity": Decimal("1.5"),
        "unit_price": Decimal("0.0000000001"),
        "amount": Decimal("123456789012345678.1234567891"),
        "currency": "USD",
    }
    with engine.begin() as conn:
        conn.execute(sa.insert(t.usage_summaries).values(**line))
    assert schema_migrations.upgrade(engine) == ("0001", schema_migrations.head_revision())
    finer = line | {"line_id": "U2", "quantity": Decimal("0.0416666666666667"), "unit_price": Decimal("1E-18")}
    with engine.begin() as conn:
        conn.execute(sa.insert(t.usage_summaries).values(**finer))
        stored = conn.execute(
            sa.select(
                t.usage_summaries.c.quantity, t.usage_summaries.c.unit_price, t.usage_summaries.c.amount
            ).order_by(t.usage_summaries.c.line_id)
        ).all()
    assert [tuple(row) for row in stored] == [
        (Decimal("1.5"), Decimal("0.0000000001"), Decimal("123456789012345678.1234567891")),
        (Decimal("0.0416666666666667"), Decimal("1E-18"), Decimal("123456789012345678.1234567891")),
    ]


def _rebuild_at(engine: sa.Engine, revision: str) -> None:
    """Drop every table and migrate to `revision` only, as a warehouse of that version was."""
    t.metadata.drop_all(engine)
    with engine.begin() as conn:
        conn.exec_driver_sql("DROP TABLE alembic_version")
    schema_migrations.upgrade(engine, to=revision)


def test_a_duckdb_warehouse_made_before_migrations_is_recorded_at_the_baseline_and_keeps_its_data(tmp_path):
    workspace = make_workspace(tmp_path / "workspace")
    (workspace.root / "data").mkdir()
    engine = sa.create_engine(workspace.config().warehouse_url)
    schema_migrations.upgrade(engine, to=schema_migrations.BASELINE_REVISION)
    with engine.begin() as conn:  # the first version's tables, without a version table
        conn.exec_driver_sql("DROP TABLE alembic_version")
        conn.execute(sa.insert(t.reference_currencies).values(code="USD", minor_units=2))
    engine.dispose()
    warehouse = open_warehouse(workspace.config())
    try:
        assert warehouse.schema_state().current == schema_migrations.head_revision()
        with warehouse.engine.connect() as conn:
            assert conn.execute(sa.select(t.reference_currencies.c.code)).scalars().all() == ["USD"]
    finally:
        warehouse.dispose()


def test_a_postgresql_warehouse_not_set_up_is_refused_until_the_upgrade_command_runs(tmp_path):
    with postgres_warehouse_url(migrated=False) as url:
        workspace = make_workspace(tmp_path / "workspace", url)
        clean_invoice(workspace, "INV-1")
        with pytest.raises(WarehouseSchemaOutdated, match=r"not set up yet.*run `invoice-pipeline warehouse upgrade`"):
            open_warehouse(workspace.config())
        env = _env(INVOICE_PIPELINE_CONFIG=str(workspace.config_path))

        status = run_cli("warehouse", "status", env=env, cwd=tmp_path)
        assert status.returncode == 1
        assert "schema revision: none (not set up)" in status.stdout
        listing = run_cli("invoices", "list", env=env, cwd=tmp_path)
        assert listing.returncode == 3
        assert "run `invoice-pipeline warehouse upgrade`" in listing.stderr
        assert "Traceback" not in listing.stderr

        first = run_cli("warehouse", "upgrade", env=env, cwd=tmp_path)
        assert first.returncode == 0, first.stderr
        assert f"schema upgraded from nothing to revision {schema_migrations.head_revision()}" in first.stdout
        again = run_cli("warehouse", "upgrade", env=env, cwd=tmp_path)
        assert "nothing to do" in again.stdout
        assert run_cli("warehouse", "status", env=env, cwd=tmp_path).returncode == 0

        warehouse = open_warehouse(workspace.config())
        try:
            assert (
                import_provider_invoice(workspace.config(), warehouse, KEY, connectors=connector_for).status
                == Status.ACTIVE
            )
        finally:
            warehouse.dispose()


def test_a_warehouse_newer_than_the_code_is_refused(tmp_path):
    with postgres_warehouse_url() as url:
        engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
        with engine.begin() as conn:
            conn.exec_driver_sql("UPDATE alembic_version SET version_num = 'f00dcafe'")
        with pytest.raises(WarehouseSchemaOutdated, match="newer than this code"):
            schema_migrations.check_schema(engine, "under test")
        engine.dispose()


def test_upgrading_from_0002_keeps_customer_invoices_and_provider_changes_and_then_holds_line_changes(
    warehouse: Warehouse,
):
    engine = warehouse.engine
    _rebuild_at(engine, "0002")
    now = datetime.now(UTC)
    customer_invoice = {
        "customer_invoice_id": "CI-1",
        "account_id": "ACC-1001",
        "currency": "USD",
        "total_amount": Decimal("3346.684"),
        "line_count": 2,
        "created_at": now,
        "created_by": "billing",
    }
    change = {
        "change_id": "c1",
        "record_id": "r1",
        "provider": "contoso-csp",
        "invoice_id": "G1",
        "currency": "USD",
        "minor_units": 2,
        "old_total": Decimal("46.00"),
        "new_total": Decimal("47.50"),
        "seen_at": now,
    }
    with engine.begin() as conn:  # as revision 0002 stored them: without the columns 0003 adds
        conn.execute(sa.text(_insert_sql("customer_invoices", customer_invoice)), customer_invoice)
        conn.execute(sa.text(_insert_sql("provider_invoice_changes", change)), change)

    assert schema_migrations.upgrade(engine) == ("0002", schema_migrations.head_revision())

    changes, invoices = t.provider_invoice_changes, t.customer_invoices
    with engine.begin() as conn:
        kept = conn.execute(sa.select(invoices.c.total_amount, invoices.c.rounding_difference)).one()
        assert tuple(kept) == (Decimal("3346.684"), None)  # billed before rounding: not rounded, no difference
        assert conn.execute(sa.select(changes.c.change_id, changes.c.new_line_fingerprint)).all() == [("c1", None)]
        for change_id, fingerprint in (("c2", "a" * 64), ("c3", "b" * 64)):  # the lines changed, the total did not
            line_change = change | {"change_id": change_id, "new_total": Decimal("46.00")}
            conn.execute(sa.insert(changes).values(**line_change, new_line_fingerprint=fingerprint))
    with pytest.raises(sa.exc.IntegrityError), engine.begin() as conn:
        conn.execute(
            sa.insert(changes).values(**change | {"change_id": "c4", "new_total": 46, "new_line_fingerprint": "a" * 64})
        )


def _insert_sql(table: str, row: dict) -> str:
    return f"INSERT INTO {table} ({', '.join(row)}) VALUES ({', '.join(f':{c}' for c in row)})"


def test_upgrading_from_0004_keeps_the_checksum_override_of_invoices_in_error_for_their_checksum(
    warehouse: Warehouse,
):
    engine = warehouse.engine
    _rebuild_at(engine, "0004")
    now = datetime.now(UTC)
    stored = {
        "checksum": ("Error", "Checksum failed: header 10000.00 USD, lines 9999.63 USD", Decimal("0.37")),
        "references": ("Error", "Unresolved references: 1 line names unknown customer", Decimal("0.37")),
        "active": ("Active", "Imported with accepted checksum difference 0.37 USD", Decimal("0.37")),
    }
    with engine.begin() as conn:  # as revision 0004 stored them: without `failures`
        for record_id, (status, message, difference) in stored.items():
            row = {
                "record_id": record_id,
                "provider": "contoso-csp",
                "invoice_id": record_id,
                "current_key": f"contoso-csp:{record_id}",
                "status": status,
                "message": message,
                "is_manual": False,
                "difference": difference,
                "created_at": now,
                "updated_at": now,
            }
            conn.execute(sa.text(_insert_sql("provider_invoices", row)), row)

    assert schema_migrations.upgrade(engine) == ("0004", schema_migrations.head_revision())

    records = {key: warehouse.current_record(InvoiceKey("contoso-csp", key)) for key in stored}
    assert {key: record.failures if record else None for key, record in records.items()} == {
        "checksum": (ImportFailure.CHECKSUM,),
        "references": (),
        "active": (),
    }
