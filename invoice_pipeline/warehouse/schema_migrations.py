"""Versioned warehouse schema: Alembic migrations, applied by `invoice-pipeline warehouse upgrade` and checked at start.

The embedded DuckDB warehouse upgrades itself when opened (nothing to run for one engineer); a
shared PostgreSQL warehouse is upgraded deliberately with the CLI command, and a process refuses to
work on a schema that is behind (or ahead of) its code.

Checking a schema loads no Alembic (a command that only reads starts faster): the revision a warehouse is at is
read from Alembic's `alembic_version` table, and the code's newest from its migration files. Alembic is imported
when there is something to migrate.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

import sqlalchemy as sa

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
# The first revision: what warehouses created before migrations existed already have.
BASELINE_REVISION = "0001"
_REVISION_LINE = re.compile(r"""^(down_)?revision\s*=\s*(?:["']([^"']+)["']|None)\s*$""", re.MULTILINE)


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
    """Alembic's configuration for running the migrations on `connection` (DuckDB's support registered first)."""
    from alembic.config import Config

    import invoice_pipeline.warehouse.alembic_duckdb  # noqa: F401  (registers DuckDB with Alembic)

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["connection"] = connection
    return config


@cache
def _revisions() -> dict[str, str | None]:
    """Each revision of the migration files, and the one it revises (None for the first)."""
    revisions: dict[str, str | None] = {}
    for path in sorted((MIGRATIONS_DIR / "versions").glob("*.py")):
        lines = dict(_REVISION_LINE.findall(path.read_text(encoding="utf-8")))  # {"": revision, "down_": revised}
        revisions[lines[""]] = lines.get("down_") or None
    return revisions


def head_revision() -> str:
    """The newest revision the code knows: the one no other migration revises (a linear history)."""
    revised = set(_revisions().values())
    (head,) = [revision for revision in _revisions() if revision not in revised]
    return head


def schema_state(engine: sa.Engine) -> SchemaState:
    """The warehouse's current revision (None when never migrated) and whether it has tables already."""
    with engine.connect() as conn:
        inspector = sa.inspect(conn)
        current = (
            conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalar()
            if inspector.has_table("alembic_version")
            else None
        )
        has_tables = inspector.has_table("provider_invoices")
    return SchemaState(current=current, head=head_revision(), has_tables=has_tables)


def upgrade(engine: sa.Engine, to: str = "head") -> tuple[str | None, str]:
    """Bring the warehouse to the head revision (or `to`); returns (revision before, revision after).

    A warehouse created before migrations existed (tables, no version) is recorded at the baseline
    first, then upgraded like any other.
    """
    state = schema_state(engine)
    target = head_revision() if to == "head" else to
    if state.current == target:
        return state.current, target  # nothing to migrate
    from alembic import command

    with engine.begin() as conn:
        config = _alembic_config(conn)
        if state.current is None and state.has_tables:
            command.stamp(config, BASELINE_REVISION)
        command.upgrade(config, to)
    return state.current, target


def check_schema(engine: sa.Engine, where: str) -> None:
    """Refuse to work on a warehouse whose schema is not this code's head revision."""
    state = schema_state(engine)
    if state.up_to_date:
        return
    if state.current is not None and state.current not in _revisions():
        raise WarehouseSchemaOutdated(
            f"the warehouse {where} is at schema revision {state.current}, newer than this code ({state.head}); "
            "upgrade invoice-pipeline on this machine to the version that wrote it"
        )
    found = f"at schema revision {state.current}" if state.current else "not set up yet"
    raise WarehouseSchemaOutdated(
        f"the warehouse {where} is {found}; this code needs revision {state.head}: "
        "run `invoice-pipeline warehouse upgrade` once, then start again"
    )
