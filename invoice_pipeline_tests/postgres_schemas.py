"""PostgreSQL warehouses for tests: a migrated schema of its own per test, in the local test database.

Migrating a schema takes the warehouse's Alembic history (about 0.3 s); emptying one takes a TRUNCATE. So a schema a
test leaves behind is kept for the process's next test when, and only when, its catalog is still exactly what the
migrations made (tables, columns, defaults, constraints, indexes, sequences, views, functions, triggers, privileges
and the recorded revision): then its rows are truncated and its sequences restarted, and the next test gets a
schema no different from a freshly migrated one. Anything else (a test that changed the schema, rows that cannot be
truncated within 2 s because a connection still holds a lock) drops the schema, as every schema was dropped before.
"""

from __future__ import annotations

import atexit
import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
import sqlalchemy as sa

from invoice_pipeline.warehouse import schema_migrations

TEST_POSTGRES_URL_ENV_VAR = "INVOICE_PIPELINE_TEST_POSTGRES_URL"
TEST_POSTGRES_URL = os.environ.get(TEST_POSTGRES_URL_ENV_VAR, "postgresql+psycopg://postgres@127.0.0.1:5432/test")

# What a schema holds besides rows, one query per kind of object, each row a comparable tuple.
_CATALOG_QUERIES = {
    "relations": """
        SELECT c.relname, c.relkind::text, coalesce(c.relacl::text, ''), a.attname, format_type(a.atttypid, a.atttypmod),
               a.attnotnull, coalesce(pg_get_expr(d.adbin, d.adrelid), ''), a.attidentity::text, a.attgenerated::text
        FROM pg_class c
        JOIN pg_namespace n ON n.oid = c.relnamespace
        LEFT JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
        LEFT JOIN pg_attrdef d ON d.adrelid = c.oid AND d.adnum = a.attnum
        WHERE n.nspname = :schema""",
    "constraints": """
        SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid) FROM pg_constraint
        WHERE connamespace = CAST(:schema AS regnamespace)""",
    "indexes": "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = :schema",
    "views": "SELECT viewname, definition FROM pg_views WHERE schemaname = :schema",
    "functions": """
        SELECT proname, pg_get_function_identity_arguments(oid), md5(prosrc) FROM pg_proc
        WHERE pronamespace = CAST(:schema AS regnamespace)""",
    "triggers": """
        SELECT tgrelid::regclass::text, tgname, pg_get_triggerdef(t.oid) FROM pg_trigger t
        JOIN pg_class c ON c.oid = t.tgrelid WHERE c.relnamespace = CAST(:schema AS regnamespace)
        AND NOT t.tgisinternal""",
    "schema": "SELECT coalesce(nspacl::text, '') FROM pg_namespace WHERE nspname = :schema",
}

_emptied: list[tuple[str, tuple]] = []  # (schema, catalog) of schemas emptied by their last test, this process's


@atexit.register
def _drop_emptied_schemas() -> None:
    """Drop the schemas kept for a next test when the process ends."""
    if not _emptied:
        return
    admin = sa.create_engine(TEST_POSTGRES_URL, poolclass=sa.pool.NullPool)
    with admin.begin() as conn:
        while _emptied:
            schema, _ = _emptied.pop()
            conn.exec_driver_sql(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
    admin.dispose()


def catalog(conn: sa.Connection, schema: str) -> tuple:
    """The schema's objects and the revision recorded in it, comparable with `==` (between schemas too: the schema's
    own name is written `<schema>`)."""
    parts = [
        tuple(sorted(tuple(str(value).replace(schema, "<schema>") for value in row) for row in rows))
        for rows in (conn.execute(sa.text(query), {"schema": schema}) for query in _CATALOG_QUERIES.values())
    ]
    version = conn.exec_driver_sql(f"SELECT version_num FROM {schema}.alembic_version").scalars().all()
    return (*parts, tuple(sorted(version)))


def _emptied_if_unchanged(admin: sa.Engine, schema: str, migrated_catalog: tuple) -> bool:
    """Truncate the schema's tables and restart its sequences if its catalog is still `migrated_catalog`;
    whether it was."""
    try:
        with admin.begin() as conn:
            conn.exec_driver_sql("SET LOCAL lock_timeout = '2s'")
            if catalog(conn, schema) != migrated_catalog:
                return False
            tables = conn.execute(
                sa.text(
                    "SELECT tablename FROM pg_tables WHERE schemaname = :schema AND tablename <> 'alembic_version'"
                ),
                {"schema": schema},
            ).scalars()
            names = ", ".join(f'{schema}."{table}"' for table in tables)
            if names:
                conn.exec_driver_sql(f"TRUNCATE {names} RESTART IDENTITY CASCADE")
            sequences = conn.execute(
                sa.text("SELECT sequencename FROM pg_sequences WHERE schemaname = :schema"), {"schema": schema}
            ).scalars()
            for sequence in sequences:
                conn.exec_driver_sql(f'ALTER SEQUENCE {schema}."{sequence}" RESTART')
        return True
    except sa.exc.DBAPIError:  # a lock still held by a connection the test left open: drop the schema instead
        return False


def _url(schema: str) -> str:
    return f"{TEST_POSTGRES_URL}?options=-csearch_path%3D{schema}"


def _migrated_schema(admin: sa.Engine) -> tuple[str, tuple]:
    """A new schema brought to the head revision, and its catalog."""
    schema = _new_schema(admin)
    engine = sa.create_engine(_url(schema), poolclass=sa.pool.NullPool)
    schema_migrations.upgrade(engine)
    engine.dispose()
    with admin.connect() as conn:
        return schema, catalog(conn, schema)


def _new_schema(admin: sa.Engine) -> str:
    schema = f"ipt_{uuid.uuid4().hex[:16]}"
    try:
        with admin.begin() as conn:
            conn.exec_driver_sql(f"CREATE SCHEMA {schema}")
    except sa.exc.OperationalError as error:
        pytest.fail(
            f"PostgreSQL at {TEST_POSTGRES_URL} is not reachable ({str(error).splitlines()[0]}); start it "
            f"(.ci/run does) or point {TEST_POSTGRES_URL_ENV_VAR} at one, or deselect with -m 'not postgresql'"
        )
    return schema


@contextmanager
def postgres_warehouse_url(*, migrated: bool = True) -> Iterator[str]:
    """A PostgreSQL warehouse URL of its own for one test: a schema no other test uses meanwhile, empty, dropped or
    emptied for the next test after (see the module's docstring).

    `migrated` brings it to the head revision first, as `invoice-pipeline warehouse upgrade` does; unmigrated, it is
    a new schema with nothing in it.
    """
    admin = sa.create_engine(TEST_POSTGRES_URL, poolclass=sa.pool.NullPool)
    if migrated:
        schema, catalog = _emptied.pop() if _emptied else _migrated_schema(admin)
    else:
        schema, catalog = _new_schema(admin), ()
    try:
        yield _url(schema)
    finally:
        if migrated and _emptied_if_unchanged(admin, schema, catalog):
            _emptied.append((schema, catalog))
        else:
            with admin.begin() as conn:
                conn.exec_driver_sql("SET lock_timeout = '10s'")
                conn.exec_driver_sql(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
        admin.dispose()
