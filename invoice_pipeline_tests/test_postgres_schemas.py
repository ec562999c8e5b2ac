"""The tests' PostgreSQL warehouses: a schema is kept for the next test only when it is as good as a fresh one."""

import pytest
import sqlalchemy as sa

from invoice_pipeline_tests import postgres_schemas
from invoice_pipeline_tests.postgres_schemas import TEST_POSTGRES_URL, catalog, postgres_warehouse_url

pytestmark = pytest.mark.postgresql


def _schema(url: str) -> str:
    return url.rsplit("%3D", 1)[1]


def _run(url: str, *statements: str) -> list:
    """Run the statements in one transaction; the last one's rows."""
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    with engine.begin() as conn:
        for statement in statements:
            result = conn.exec_driver_sql(statement)
        rows = result.all() if result.returns_rows else []
    engine.dispose()
    return rows


def _catalog(url: str) -> tuple:
    engine = sa.create_engine(TEST_POSTGRES_URL, poolclass=sa.pool.NullPool)
    with engine.connect() as conn:
        found = catalog(conn, _schema(url))
    engine.dispose()
    return found


def _exists(url: str) -> bool:
    query = f"SELECT count(*) FROM pg_namespace WHERE nspname = '{_schema(url)}'"
    return _run(TEST_POSTGRES_URL, query) == [(1,)]


@pytest.fixture
def none_kept(monkeypatch):
    """This test's schemas only: none kept by an earlier test of the process; those it keeps dropped after."""
    monkeypatch.setattr(postgres_schemas, "_emptied", [])
    yield
    postgres_schemas._drop_emptied_schemas()


def test_a_schema_left_as_migrated_is_emptied_and_given_to_the_next_test_like_a_fresh_one(none_kept):
    with postgres_warehouse_url() as first:
        _run(first, "INSERT INTO reference_currencies (code, minor_units) VALUES ('USD', 2)")
        assert _run(first, "SELECT count(*) FROM reference_currencies") == [(1,)]
    with postgres_warehouse_url() as second, postgres_warehouse_url() as fresh:
        assert _schema(second) == _schema(first)  # kept, and emptied
        assert _schema(fresh) != _schema(first)  # none kept: migrated anew
        assert _run(second, "SELECT count(*) FROM reference_currencies") == [(0,)]
        assert _catalog(second) == _catalog(fresh)
        assert _run(second, "SELECT version_num FROM alembic_version") == _run(
            fresh, "SELECT version_num FROM alembic_version"
        )


def test_a_schema_whose_tables_a_test_changed_is_dropped_not_given_to_the_next_test(none_kept):
    with postgres_warehouse_url() as changed:
        _run(changed, "ALTER TABLE reference_currencies ADD COLUMN left_by_a_test text")
    assert not _exists(changed)
    with postgres_warehouse_url() as after:
        assert _schema(after) != _schema(changed)
        assert "left_by_a_test" not in str(_catalog(after))


def test_a_schema_with_a_revision_a_test_changed_is_dropped(none_kept):
    with postgres_warehouse_url() as stamped:
        _run(stamped, "UPDATE alembic_version SET version_num = '0001'")
    assert not _exists(stamped)


def test_the_schemas_kept_are_dropped_when_the_process_ends(none_kept):
    with postgres_warehouse_url() as kept:
        pass
    assert _exists(kept)
    postgres_schemas._drop_emptied_schemas()
    assert not _exists(kept)
