"""Warehouse faults told in one line, and the bounded wait for a warehouse that does not answer.

A fault names the warehouse (its file, or its URL without the password) and says what to do. Three kinds:
`WarehouseMisconfigured` (the URL, folder, file, database, role or SSL mode must be fixed by a person),
`WarehouseUnavailable` (locked by another process, or a server not answering, for longer than the wait) and
plain `WarehouseFault` (one the pipeline met, e.g. a full disk).

Waits are bounded per process: every connection to a warehouse that keeps failing shares one clock, started
at its first failure and cleared by the next success, so a whole command waits at most the configured
timeout however many connections it opens. A DuckDB file locked by another process is tried again every
tenth of a second or sooner (its lock is a local file's: trying is cheap, and the command gets in as soon as the
file is free); a server that does not answer, with a growing pause. Each wait is said on this module's logger, one
warning line naming what it waits for (the DuckDB lock's holder: its process id and program) when it starts and
again every few seconds while it lasts.
"""

from __future__ import annotations

import logging
import math
import random
import re
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from invoice_pipeline.domain import redaction

log = logging.getLogger(__name__)

# A slow attempt (a host that drops packets) is cut short, so that a retry line is said at least this often.
LONGEST_ATTEMPT_SECONDS = 10
LIBPQ_SHORTEST_CONNECT_TIMEOUT = 2
LONGEST_PAUSE_SECONDS = 5.0
DUCKDB_RETRY_SECONDS = 0.05  # a locked DuckDB file is tried again after 0.05-0.1 s
SAY_AGAIN_SECONDS = 5.0  # while a wait lasts, its line is said again this often

SUPPORTED_URLS = "duckdb:///path/to/warehouse.duckdb or postgresql+psycopg://user@host:5432/database"


class WarehouseFault(Exception):
    """The warehouse could not be used; the message names it and says what to do, in one line."""


class WarehouseMisconfigured(WarehouseFault):
    """The warehouse's URL, folder, file, database, role or SSL mode is wrong: a person must fix it."""


class WarehouseWriteFailed(WarehouseFault):
    """The warehouse could not be written (a full disk): what was being written was not stored."""


class WarehouseUnavailable(WarehouseFault):
    """The warehouse could not be reached in time (locked by another process, or not answering); nothing was
    written."""


# user:password@ up to the last @ (a password may hold a raw @; a host never does)
_CREDENTIALS = re.compile(r"^(?P<scheme>[^:/]+://[^:/@]*:)(?P<password>.*)@(?P<rest>[^@]*)$")


def without_password(text: str, url: str) -> str:
    """`text` (a driver's words about `url`) with every piece of the URL's password masked."""
    found = _CREDENTIALS.match(url)
    if not found or not found["password"]:
        return text
    pieces = sorted({found["password"], *found["password"].split("@")}, key=len, reverse=True)
    for piece in pieces:
        if len(piece) >= 3:
            text = text.replace(piece, "***")
    return text


def url_fault(error: Exception, url: str) -> WarehouseMisconfigured:
    """The fault for a warehouse URL SQLAlchemy cannot use: malformed, or naming a database it has no driver for."""
    if isinstance(error, (sa.exc.NoSuchModuleError, ModuleNotFoundError)):
        what = "names a database this pipeline cannot use"
    else:
        what = "is not a valid URL"
    return WarehouseMisconfigured(
        f"warehouse_url {redaction.masked_url(url)} {what} "
        f"({without_password(_first_line(error), url)}); use {SUPPORTED_URLS}"
    )


def make_folder(folder: Path, holding: str, otherwise: str) -> None:
    """Create a folder the warehouse needs (for `holding`), or say in one line why it cannot be and what to do
    (make it writable, or `otherwise`)."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise WarehouseMisconfigured(
            f"the folder {folder} for {holding} cannot be created ({error.strerror or error}); "
            f"make it writable for this user, or {otherwise}"
        ) from error


def _first_line(error: BaseException) -> str:
    lines = str(error).strip().splitlines()
    text = re.sub(r"\s+", " ", lines[0]) if lines else type(error).__name__
    return text[:200]


# (signs in the error's text, the fault, what to do); the first entry with a sign in the text decides.
Remedy = tuple[tuple[str, ...], type[WarehouseFault], str]
_DISK_FULL: Remedy = (
    ("no space left on device", "disk full", "could not extend file", "disk quota exceeded"),
    WarehouseWriteFailed,
    "free disk space where the warehouse lives, then run it again",
)
_UNWRITABLE_FILE: Remedy = (
    ("read-only file system", "permission denied", "operation not permitted"),
    WarehouseMisconfigured,
    "make its folder and file writable for this user, or set warehouse_url to a file in a writable folder",
)
_DUCKDB_REMEDIES: list[Remedy] = [
    (
        ("not a valid duckdb database file",),
        WarehouseMisconfigured,
        "point warehouse_url at the warehouse's file, or move this file away to start an empty warehouse",
    ),
    (
        ("older version of duckdb", "newer version of duckdb", "storage version"),
        WarehouseMisconfigured,
        "open it with the invoice-pipeline release that wrote it, or point warehouse_url at another file",
    ),
    _UNWRITABLE_FILE,
    _DISK_FULL,
]
_POSTGRESQL_REMEDIES: list[Remedy] = [
    _DISK_FULL,
    (
        ("no pg_hba.conf entry",),
        WarehouseMisconfigured,
        "allow this host and user in the server's pg_hba.conf, or connect as another user",
    ),
    (('role "',), WarehouseMisconfigured, "create that role on the server, or fix the user name in warehouse_url"),
    (
        ('database "',),
        WarehouseMisconfigured,
        "create that database on the server, or fix the database name in warehouse_url",
    ),
    (
        ("password authentication failed", "no password supplied", "authentication failed"),
        WarehouseMisconfigured,
        "check the user and its password (PGPASSWORD, ~/.pgpass, or the URL in INVOICE_PIPELINE_WAREHOUSE_URL)",
    ),
    (("ssl",), WarehouseMisconfigured, "enable SSL on the server, or change the sslmode in warehouse_url"),
    (
        ("could not translate host name", "name or service not known", "nodename nor servname"),
        WarehouseMisconfigured,
        "check the host name in warehouse_url",
    ),
    (
        ("invalid connection option", "invalid dsn", "invalid integer value", "invalid port number"),
        WarehouseMisconfigured,
        "fix warehouse_url",
    ),
]

# A DuckDB file locked by another process, or a PostgreSQL server not answering (yet): worth waiting for.
_LOCKED = ("could not set lock", "conflicting lock")
_NOT_ANSWERING = (
    "connection refused",
    "timeout expired",
    "timed out",
    "starting up",
    "shutting down",
    "not yet accepting connections",
    "in recovery mode",
    "too many clients",
    "remaining connection slots",
    "no route to host",
    "network is unreachable",
    "server closed the connection unexpectedly",
)


# DuckDB names the process holding its file's lock: `Conflicting lock is held in /usr/bin/python3 (PID 4242)`.
_LOCK_HOLDER = re.compile(r"lock is held in (?P<program>.+?) \(PID (?P<pid>\d+)\)")
_INTERPRETER = re.compile(r"^python[\d.]*$")


def lock_holder(error: BaseException) -> str | None:
    """The process DuckDB names as holding the file's lock, e.g. `process 4242 (invoice-pipeline sync)`, or None
    when the error names none. Its program and first argument only (from /proc, else the program DuckDB names):
    the rest of a command line may hold anything."""
    found = _LOCK_HOLDER.search(str(error))
    if found is None:
        return None
    pid = found["pid"]
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().decode("utf-8", "replace").split("\0")
    except OSError:
        argv = [found["program"]]
    words = [word for word in argv if word]
    if len(words) > 1 and _INTERPRETER.match(Path(words[0]).name) and not words[1].startswith("-"):
        words = words[1:]  # a console script: `python /venv/bin/invoice-pipeline sync` is `invoice-pipeline sync`
    program = " ".join([Path(words[0]).name if words else found["program"], *words[1:2]])
    return f"process {pid} ({redaction.redact(program)[:80]})"


def retry_pause(attempt: int, *, is_duckdb: bool) -> float:
    """How long to pause before attempt `attempt + 1`: a locked DuckDB file is tried again within a tenth of a
    second, a server that does not answer after a growing pause (0.2 s doubling, at most 5 s)."""
    if is_duckdb:
        return DUCKDB_RETRY_SECONDS + random.uniform(0, DUCKDB_RETRY_SECONDS)
    return min(0.2 * 2 ** min(attempt, 5) + random.uniform(0, 0.2), LONGEST_PAUSE_SECONDS)


def _transient_sign(error: BaseException, is_duckdb: bool) -> str | None:
    """Why a failed connection is worth retrying (`connection refused`, ...), or None when it is not."""
    text = str(error).lower()
    return next((sign for sign in (_LOCKED if is_duckdb else _NOT_ANSWERING) if sign in text), None)


def fault(error: BaseException, location: str, *, is_duckdb: bool, url: str = "") -> WarehouseFault:
    """The one-line fault for an error met while opening the warehouse (at `url`, whose password is masked)."""
    text = str(error).lower()
    said = without_password(_first_line(error), url)
    for signs, kind, remedy in _DUCKDB_REMEDIES if is_duckdb else _POSTGRESQL_REMEDIES:
        if any(sign in text for sign in signs):
            return kind(f"the warehouse {location} could not be opened ({said}); {remedy}")
    return WarehouseFault(f"the warehouse {location} could not be opened ({said}); run it again")


def environment_fault(error: BaseException, location: str, *, is_duckdb: bool) -> WarehouseFault | None:
    """A statement's error as a one-line fault when it is the machine's, not the data's: a full disk, or (DuckDB)
    an unwritable folder or file. Anything else (a conflict, a constraint) is left to the code that asked."""
    text = str(error).lower()
    for signs, kind, remedy in (_DISK_FULL, _UNWRITABLE_FILE) if is_duckdb else (_DISK_FULL,):
        if any(sign in text for sign in signs):
            return kind(f"the warehouse {location} could not be written ({_first_line(error)}); {remedy}")
    return None


class _Outages:
    """Since when each warehouse has failed to answer in this process (cleared by a successful connection)."""

    def __init__(self) -> None:
        self._since: dict[str, float] = {}
        self._lock = threading.Lock()

    def seconds_left(self, url: str, timeout: float, *, failed_since: float | None = None) -> float:
        """How much longer this process may wait for the warehouse; an attempt that failed, begun at
        `failed_since`, starts the clock if it is not running."""
        with self._lock:
            since = self._since.get(url) if failed_since is None else self._since.setdefault(url, failed_since)
        return timeout if since is None else max(0.0, since + timeout - time.monotonic())

    def clear(self, url: str) -> None:
        """The warehouse answered: its next outage gets the whole wait."""
        with self._lock:
            self._since.pop(url, None)


OUTAGES = _Outages()


def connect_within_bound(
    connect: Callable[..., Any],
    cparams: dict[str, Any],
    *,
    errors: type[Exception],
    url: str,
    location: str,
    timeout: float,
    is_duckdb: bool,
) -> Any:
    """Open a DBAPI connection, `connect(**cparams)`; `errors` is the driver's error class.

    While the DuckDB file is locked by another process or PostgreSQL does not answer, retry with backoff,
    logging one line per retry, until `timeout` seconds have passed since this process found the warehouse
    unavailable; then raise WarehouseUnavailable. Any other failure raises its one-line fault at once.
    """
    attempt = 0
    said_at: float | None = None
    while True:
        params = cparams
        if not is_duckdb and "connect_timeout" not in cparams:
            # libpq's own default is 130 s: a host that drops packets would hold one attempt that long.
            left = OUTAGES.seconds_left(url, timeout)
            per_attempt = min(LONGEST_ATTEMPT_SECONDS, max(LIBPQ_SHORTEST_CONNECT_TIMEOUT, math.ceil(left)))
            params = {**cparams, "connect_timeout": per_attempt}
        attempted = time.monotonic()
        try:
            connection = connect(**params)
        except errors as error:
            sign = _transient_sign(error, is_duckdb)
            if sign is None:
                raise fault(error, location, is_duckdb=is_duckdb, url=url) from error
            left = OUTAGES.seconds_left(url, timeout, failed_since=attempted)
            if left <= 0:
                gave_up = "stayed locked by another process" if is_duckdb else "could not be reached"
                raise WarehouseUnavailable(
                    f"the warehouse {location} {gave_up} for {timeout:g} s "
                    f"({without_password(_first_line(error), url)}); nothing was changed, run it again when it is "
                    "available"
                ) from error
            if said_at is None or time.monotonic() - said_at >= SAY_AGAIN_SECONDS:
                log.warning(
                    "warehouse %s %s; retrying for up to %d s more",
                    location,
                    _waiting_for(error, sign, is_duckdb),
                    math.ceil(left),
                )
                said_at = time.monotonic()
            time.sleep(min(left, retry_pause(attempt, is_duckdb=is_duckdb)))
            attempt += 1
        else:
            OUTAGES.clear(url)
            return connection


def _waiting_for(error: BaseException, sign: str, is_duckdb: bool) -> str:
    """What a wait is for: `locked by process 4242 (invoice-pipeline sync)` (or `by another process` when DuckDB
    names none), or a server's `not answering (connection refused)`."""
    if not is_duckdb:
        return f"not answering ({sign})"
    return f"locked by {lock_holder(error) or 'another process'}"


def guard_engine(engine: sa.Engine, *, url: str, location: str, timeout: float, is_duckdb: bool) -> None:
    """Make the engine wait, within the bound, for a warehouse that is locked or not answering, and raise the
    one-line faults above instead of the driver's errors (opening it; a full disk or unwritable file later)."""
    errors = engine.dialect.loaded_dbapi.Error

    def connect(dialect: sa.Dialect, record: object, cargs: tuple[Any, ...], cparams: dict[str, Any]) -> Any:
        return connect_within_bound(
            lambda **params: dialect.connect(*cargs, **params),
            cparams,
            errors=errors,
            url=url,
            location=location,
            timeout=timeout,
            is_duckdb=is_duckdb,
        )

    def told_in_one_line(context: sa.engine.ExceptionContext) -> None:
        found = environment_fault(context.original_exception, location, is_duckdb=is_duckdb)
        if found is not None:
            raise found from context.original_exception

    sa.event.listen(engine, "do_connect", connect)
    sa.event.listen(engine, "handle_error", told_in_one_line)
