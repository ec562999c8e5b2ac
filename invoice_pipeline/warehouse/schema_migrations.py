"""Versioned warehouse schema: Alembic migrations, applied by `invoice-pipeline warehouse upgrade` and checked at start.

The embedded DuckDB warehouse upgrades itself when opened (nothing to run for one engineer); a
shared PostgreSQL warehouse is upgraded deliberately with the CLI command, and a process refuses to
work on a schema that is behind (or ahead of) its code.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.ddl.impl import DefaultImpl
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
# The first revision: what warehouses created before migrations existed already have.
BASELINE_REVISION = "0001"


class DuckDBImpl(DefaultImpl):
    """Alembic's support for DuckDB: generic DDL, transactional like PostgreSQL."""

    __dialect__ = "duckdb"
    transactional_ddl = True


class WarehouseSchemaOutdated(Exception):
    """The warehouse schema is not the one this code needs; the message says which command fixes it."""


@dataclass(frozen=True)
class SchemaState:
    """Where a warehouse's schema stands against the code's migrations."""

    current: str | None
    head: str
    has_tables: bool

    @property
    def up_to_date(self) -> bool:
        """The schema is exactly the code's head revision."""
        return self.current == self.head


def _alembic_config(connection: sa.Connection) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["connection"] = connection
    return config


def head_revision() -> str:
    """The newest revision the code knows."""
    head = ScriptDirectory(str(MIGRATIONS_DIR)).get_current_head()
    assert head is not None, "the migrations folder has no revisions"
    return head


def schema_state(engine: sa.Engine) -> SchemaState:
    """The warehouse's current revision (None when never migrated) and whether it has tables already."""
    with engine.connect() as conn:
        current = MigrationContext.configure(conn).get_current_revision()
        has_tables = sa.inspect(conn).has_table("provider_invoices")
    return SchemaState(current=current, head=head_revision(), has_tables=has_tables)


def upgrade(engine: sa.Engine, to: str = "head") -> tuple[str | None, str]:
    """Bring the warehouse to the head revision (or `to`); returns (revision before, revision after).

    A warehouse created before migrations existed (tables, no version) is recorded at the baseline
    first, then upgraded like any other.
    """
    state = schema_state(engine)
    with engine.begin() as conn:
        config = _alembic_config(conn)
        if state.current is None and state.has_tables:
            command.stamp(config, BASELINE_REVISION)
        command.upgrade(config, to)
    return state.current, head_revision() if to == "head" else to


def check_schema(engine: sa.Engine, where: str) -> None:
    """Refuse to work on a warehouse whose schema is not this code's head revision."""
    state = schema_state(engine)
    if state.up_to_date:
        return
    known = {r.revision for r in ScriptDirectory(str(MIGRATIONS_DIR)).walk_revisions()}
    if state.current is not None and state.current not in known:
        raise WarehouseSchemaOutdated(
            f"the warehouse {where} is at schema revision {state.current}, newer than this code ({state.head}); "
            "upgrade invoice-pipeline on this machine to the version that wrote it"
        )
    found = f"at schema revision {state.current}" if state.current else "not set up yet"
    raise WarehouseSchemaOutdated(
        f"the warehouse {where} is {found}; this code needs revision {state.head}: "
        "run `invoice-pipeline warehouse upgrade` once, then start again"
    )
