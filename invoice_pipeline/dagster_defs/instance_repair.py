"""A local Dagster instance left half-created is repaired before it is used.

Dagster creates its SQLite databases (runs, the event log's index, schedules) the first time a process opens a
new DAGSTER_HOME, table by table, then stamps their schema revision and marks its data migrations. A process
killed meanwhile leaves a database Dagster never completes by itself: e.g. an event log index without its
`dynamic_partitions` table makes every later import fail ("... run `dagster instance migrate`"). Before the CLI
uses the instance, `repair_instance` looks for such a database and, finding one, runs the instance's own
migration (`DagsterInstance.upgrade`, what `dagster instance migrate` runs), saying so in one line.
"""

from __future__ import annotations

import contextlib
import io
import logging
import sqlite3
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import yaml
from alembic.script import ScriptDirectory

from invoice_pipeline.dagster_defs.dagster_private import (
    ASSET_DATA_MIGRATIONS,
    REQUIRED_DATA_MIGRATIONS,
    REQUIRED_SCHEDULE_DATA_MIGRATIONS,
    InstanceRef,
    RunStorageSqlMetadata,
    ScheduleStorageSqlMetadata,
    SqlEventLogStorageMetadata,
    storage_migrations_folder,
)

log = logging.getLogger(__name__)


class DagsterInstanceBroken(Exception):
    """The Dagster instance cannot be used and could not be repaired; the message names the command to run."""


@dataclass(frozen=True)
class _SqliteDatabase:
    """One of the instance's SQLite databases, and what a complete one holds."""

    file_name: str
    storage_class: str
    tables: frozenset[str]
    data_migrations: frozenset[str]


_DATABASES = (
    _SqliteDatabase(
        "runs.db", "SqliteRunStorage", frozenset(RunStorageSqlMetadata.tables), frozenset(REQUIRED_DATA_MIGRATIONS)
    ),
    _SqliteDatabase(
        "index.db",
        "SqliteEventLogStorage",
        frozenset(SqlEventLogStorageMetadata.tables),
        # Not the event log's own marker (`asset_key_table`): Dagster never reads it, and its migrate does not set it.
        frozenset(ASSET_DATA_MIGRATIONS),
    ),
    _SqliteDatabase(
        "schedules.db",
        "SqliteScheduleStorage",
        frozenset(ScheduleStorageSqlMetadata.tables),
        frozenset(REQUIRED_SCHEDULE_DATA_MIGRATIONS),
    ),
)


def _schema_head() -> str:
    """The schema revision Dagster stamps on a complete database of this release."""
    head = ScriptDirectory(str(storage_migrations_folder())).get_current_head()
    assert head is not None  # Dagster ships its migrations
    return head


def _sqlite_files(home: Path) -> list[tuple[Path, _SqliteDatabase]]:
    """The instance's SQLite databases that exist (none when its storage is PostgreSQL)."""
    ref = InstanceRef.from_dir(str(home))
    found = []
    for storage_data, database in zip(
        (ref.run_storage_data, ref.event_storage_data, ref.schedule_storage_data), _DATABASES, strict=True
    ):
        if storage_data is None or storage_data.class_name != database.storage_class:
            continue
        base_dir = (yaml.safe_load(storage_data.config_yaml) or {}).get("base_dir")
        if isinstance(base_dir, str) and (Path(base_dir) / database.file_name).is_file():
            found.append((Path(base_dir) / database.file_name, database))
    return found


def _what_is_missing(path: Path, database: _SqliteDatabase, head: str) -> str | None:
    """What the database lacks to be complete (tables, schema revision, data migrations), or None."""
    with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as conn:
        tables = {name for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        if missing := sorted(database.tables - tables):
            return f"tables {_first_names(missing)}"
        revisions = (
            {rev for (rev,) in conn.execute("SELECT version_num FROM alembic_version")}
            if "alembic_version" in tables
            else set()
        )
        if revisions != {head}:
            return f"schema revision {head} (has {', '.join(sorted(revisions)) or 'none'})"
        done = {
            name for (name,) in conn.execute("SELECT name FROM secondary_indexes WHERE migration_completed IS NOT NULL")
        }
        if missing := sorted(database.data_migrations - done):
            return f"data migrations {_first_names(missing)}"
    return None


def _first_names(names: list[str]) -> str:
    """Names for a one-line message: the first three, then how many more."""
    return ", ".join(names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else "")


def _incomplete_databases(home: Path) -> list[str]:
    """What the instance's SQLite databases lack, one entry per incomplete database."""
    head = _schema_head()
    found = []
    for path, database in _sqlite_files(home):
        try:
            missing = _what_is_missing(path, database, head)
        except sqlite3.Error as error:
            missing = f"a readable database ({error})"
        if missing:
            found.append(f"{path.relative_to(home) if path.is_relative_to(home) else path} lacks {missing}")
    return found


def repair_instance(home: Path) -> None:
    """Make the Dagster instance at `home` complete before it is used: a SQLite database a killed process left
    half-created is repaired with the instance's own migration (one warning line says so); DagsterInstanceBroken
    names the command to run when that does not complete it. An instance not on SQLite is left alone."""
    damage = _incomplete_databases(home)
    if not damage:
        return
    migrate = f"`DAGSTER_HOME={home} dagster instance migrate`"
    log.warning(
        "the Dagster instance %s was left half-created (%s; a process killed while creating it?): repairing it "
        "with Dagster's own migration, %s",
        home,
        "; ".join(damage),
        migrate,
    )
    try:
        # The migration prints its progress; the one line above says what happens.
        with (
            contextlib.redirect_stdout(io.StringIO()),
            contextlib.redirect_stderr(io.StringIO()),
            dg.DagsterInstance.from_ref(InstanceRef.from_dir(str(home))) as instance,
        ):
            instance.upgrade()
    except Exception as error:
        raise DagsterInstanceBroken(
            f"the Dagster instance {home} is incomplete and its migration failed ({type(error).__name__}: "
            f"{str(error).strip().splitlines()[0] if str(error).strip() else ''}); run {migrate}"
        ) from error
    if still := _incomplete_databases(home):
        raise DagsterInstanceBroken(f"the Dagster instance {home} is incomplete ({'; '.join(still)}); run {migrate}")
