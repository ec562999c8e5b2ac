"""The warehouse's engine: connection settings, bounded connecting (see `engine_faults`) and the schema gate."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from invoice_pipeline.domain import redaction
from invoice_pipeline.warehouse import schema_migrations
from invoice_pipeline.warehouse.engine_faults import guard_engine, make_folder, url_fault


@dataclass(frozen=True)
class DuckDBSettings:
    """How DuckDB runs here: the warehouse file's connections, or PostgreSQL's in-process staging DuckDB."""

    temp_dir: Path  # DuckDB spills here past its memory limit
    memory_limit: str = "1GB"
    threads: int = 2

    def config(self) -> dict[str, Any]:
        """The settings as DuckDB's `config` connection argument."""
        return {
            "memory_limit": self.memory_limit,
            "threads": self.threads,
            "preserve_insertion_order": False,
            "temp_directory": str(self.temp_dir),
        }


def is_duckdb_url(url: str) -> bool:
    """Whether the URL names an embedded DuckDB file."""
    return url.startswith("duckdb:")


def is_duckdb(engine: sa.Engine) -> bool:
    """Whether the engine reaches an embedded DuckDB file."""
    return engine.dialect.name == "duckdb"


def duckdb_database(url: str) -> str | None:
    """The DuckDB database a URL names (a file, `:memory:` or empty), None for another engine."""
    return url.removeprefix("duckdb:///") if is_duckdb_url(url) else None


def create_warehouse_engine(url: str, settings: DuckDBSettings, *, lock_timeout_seconds: float) -> sa.Engine:
    """An engine for the warehouse at `url` that connects within `lock_timeout_seconds` or says plainly why not.

    Its folders are made first: DuckDB's temporary files', and the warehouse file's. The URL's passwords (its
    password part, a `password=` parameter, one inside `options=`) are registered with `domain.redaction` first,
    so no message, log record or metadata value shows them in any form.
    """
    redaction.register_url(url)
    make_folder(settings.temp_dir, "DuckDB's temporary files", "set data_dir to a writable folder")
    connect_args: dict[str, Any] = {}
    database = duckdb_database(url)
    if database is not None:
        connect_args["config"] = settings.config()
        if database and database != ":memory:":
            make_folder(Path(database).parent, "the warehouse", "set warehouse_url to a file in a writable folder")
    try:
        engine = sa.create_engine(url, connect_args=connect_args, poolclass=sa.pool.NullPool)
    except (sa.exc.ArgumentError, ValueError, ModuleNotFoundError) as error:  # no such module: no driver
        raise url_fault(error, url) from error
    guard_engine(
        engine, url=url, location=redaction.masked_url(url), timeout=lock_timeout_seconds, is_duckdb=is_duckdb_url(url)
    )
    return engine


@contextmanager
def database_kept_open(engine: sa.Engine) -> Iterator[None]:
    """For the length of a `with` block, keep an embedded DuckDB file's database open in this process.

    The engine opens a connection per use and closes it after (`NullPool`), so that no other process waits on
    DuckDB's file lock between uses; but opening the file costs tens of milliseconds (its catalog read, its
    write-ahead log checkpointed when the last connection closes), and a small import uses it some twenty
    times. One connection held for the block keeps the database open: every connection the block opens reuses
    it (DuckDB shares one database per file within a process) and the file is checkpointed once, when the
    block ends. Another process waits for the block, not for each statement: keep blocks short (a step, a
    command's reads). Opening it waits for a file locked by another process within the engine's bound, as any
    connection does. Nothing to keep for PostgreSQL or an in-memory database.
    """
    database = engine.url.database if is_duckdb(engine) else None
    if not database or database == ":memory:":
        yield
        return
    keeper = engine.raw_connection()
    try:
        yield
    finally:
        keeper.close()


@dataclass
class SchemaGate:
    """The warehouse URLs whose schema this process has already checked (or upgraded): each is checked once,
    however many times it is opened (every CLI command and Dagster step opens it anew)."""

    _checked: set[str] = field(default_factory=set)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def ensure(self, engine: sa.Engine, url: str) -> None:
        """Make sure the schema is this code's: the embedded DuckDB file is upgraded in place; a PostgreSQL
        warehouse must have been upgraded with `invoice-pipeline warehouse upgrade`."""
        database = duckdb_database(url)
        file_still_there = database is None or (database != ":memory:" and Path(database).exists())
        with self._lock:
            if url in self._checked and file_still_there:
                return
        if database is not None:
            schema_migrations.upgrade(engine)
        else:
            schema_migrations.check_schema(engine, redaction.masked_url(url))
        self.remember(url)

    def upgrade(self, engine: sa.Engine, url: str) -> tuple[str | None, str]:
        """Apply the migrations the warehouse lacks; returns (revision before, revision after)."""
        before_after = schema_migrations.upgrade(engine)
        self.remember(url)
        return before_after

    def remember(self, url: str) -> None:
        """The warehouse at `url` has this code's schema."""
        with self._lock:
            self._checked.add(url)


SCHEMAS_CHECKED = SchemaGate()  # one per process: what it remembers is true of the warehouse, not of one engine
