"""Alembic's support for DuckDB (generic DDL, transactional like PostgreSQL): Alembic registers an implementation
for a dialect when its class is defined, so this module is imported before Alembic runs on a DuckDB warehouse."""

from alembic.ddl.impl import DefaultImpl


class DuckDBImpl(DefaultImpl):
    """Alembic's support for DuckDB: generic DDL, transactional like PostgreSQL."""

    __dialect__ = "duckdb"
    transactional_ddl = True
