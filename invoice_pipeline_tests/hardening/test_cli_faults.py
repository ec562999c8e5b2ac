"""Faults through the real command: each broken warehouse ends in one line naming it (never its password) with a
documented exit status, --debug adds the traceback, a dead server is waited for in bounded time and said while
waited for (in Dagster runs too), and a Dagster instance a kill left half-created is repaired by the next command."""

from __future__ import annotations

import os
import random
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import dagster as dg
import psycopg
import pytest
import sqlalchemy as sa
import yaml

from invoice_pipeline.config import DEMO_CONFIG_PATH
from invoice_pipeline.dagster_defs.reference_assets import reference_assets
from invoice_pipeline.dagster_defs.resources import pipeline_resource
from invoice_pipeline.warehouse.engine_faults import WarehouseUnavailable
from invoice_pipeline.warehouse.warehouse import Warehouse
from invoice_pipeline_tests.hardening.small_disks import mounted_tmpfs
from invoice_pipeline_tests.postgres_schemas import TEST_POSTGRES_URL

CLI = Path(sys.executable).parent / "invoice-pipeline"
PASSWORD = "s3cr3t-pw"
EXIT_USAGE, EXIT_BROKEN = 2, 3
KEY = "contoso-csp:G100000001"


def _free_port() -> int:
    """A loopback port where nothing listens: a PostgreSQL server that is down."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Site:
    """A folder of its own to run the CLI in: the bundled demo's providers with a config of its own (its data
    folder here, a warehouse timeout), and a fresh Dagster home."""

    def __init__(self, root: Path, lock_timeout_seconds: float = 60) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)
        config = yaml.safe_load(DEMO_CONFIG_PATH.read_text())
        config["reference_data"] = str(DEMO_CONFIG_PATH.parent / config["reference_data"])
        for provider in config["providers"]:
            provider["path"] = str(DEMO_CONFIG_PATH.parent / provider["path"])
        config["data_dir"] = str(root / "data")
        config["warehouse_lock_timeout_seconds"] = lock_timeout_seconds
        self.config_path = root / "config.yaml"
        self.config_path.write_text(yaml.safe_dump(config))
        self.dagster_home = root / "dagster_home"
        self.dagster_home.mkdir()
        (self.dagster_home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n", encoding="utf-8")
        self.env = {
            **{k: v for k, v in os.environ.items() if not k.startswith(("INVOICE_PIPELINE_", "DAGSTER_HOME"))},
            "INVOICE_PIPELINE_CONFIG": str(self.config_path),
            "DAGSTER_HOME": str(self.dagster_home),
        }

    def run(self, *args: str, warehouse_url: str | None = None, **env: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [str(CLI), *args],
            env={**self.env, **({"INVOICE_PIPELINE_WAREHOUSE_URL": warehouse_url} if warehouse_url else {}), **env},
            cwd=self.root,
            capture_output=True,
            text=True,
            timeout=300,
        )

    def start(self, *args: str) -> subprocess.Popen:
        return subprocess.Popen(
            [str(CLI), *args], env=self.env, cwd=self.root, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )


def _one_line(completed: subprocess.CompletedProcess) -> str:
    """The command's only stderr line; no traceback anywhere."""
    assert "Traceback" not in completed.stderr + completed.stdout, completed.stderr
    lines = completed.stderr.strip().splitlines()
    assert len(lines) == 1, completed.stderr
    return lines[0]


@pytest.fixture
def site(tmp_path) -> Site:
    return Site(tmp_path)


@pytest.fixture
def read_only_folder(tmp_path) -> Iterator[Path]:
    """A folder this user cannot write to: a read-only tmpfs for root (who may write anywhere else), else 0555."""
    if os.geteuid() == 0:
        yield from mounted_tmpfs(tmp_path / "read-only", "ro,size=1m")
        return
    folder = tmp_path / "read-only"
    folder.mkdir(mode=0o555)
    yield folder
    folder.chmod(0o755)


@pytest.fixture
def full_disk(tmp_path) -> Iterator[Path]:
    """A 16 kB tmpfs: too small for a new warehouse's schema."""
    yield from mounted_tmpfs(tmp_path / "full-disk", "size=16k")


def _postgresql(**parts: str) -> str:
    """The test server's URL with some parts changed (a database or a role that does not exist)."""
    return sa.engine.make_url(TEST_POSTGRES_URL).set(**parts).render_as_string(hide_password=False)


# Each broken warehouse: its URL (built from the test's folders), the exit status, and what its line says.
BrokenWarehouse = Callable[[Path], str]


def _not_a_database(root: Path) -> str:
    (root / "notes.duckdb").write_text("these are my notes, not a warehouse\n" * 100)
    return f"duckdb:///{root / 'notes.duckdb'}"


def _ssl_refused(_: Path) -> str:
    server = sa.engine.make_url(TEST_POSTGRES_URL)
    try:
        psycopg.connect(
            host=server.host,
            port=server.port,
            user=server.username,
            password=server.password,
            dbname=server.database,
            sslmode="require",
            connect_timeout=5,
        ).close()
    except psycopg.OperationalError:
        return f"{TEST_POSTGRES_URL}?sslmode=require"
    pytest.skip("the test server accepts SSL, so it does not refuse sslmode=require")


CASES: dict[str, tuple[BrokenWarehouse, int, str]] = {
    "duckdb file that is not a database": (_not_a_database, EXIT_USAGE, "not a valid DuckDB database file"),
    "malformed URL": (
        lambda _: f"postgresql+psycopg://billing:{PASSWORD}@127.0.0.1:port/invoices",
        EXIT_USAGE,
        "is not a valid URL",
    ),
    "URL of no supported database": (
        lambda _: f"postgres://billing:{PASSWORD}@127.0.0.1:5432/invoices",
        EXIT_USAGE,
        "names a database this pipeline cannot use",
    ),
}
POSTGRESQL_CASES: dict[str, tuple[BrokenWarehouse, int, str]] = {
    "database that does not exist": (
        lambda _: _postgresql(database="ipt_no_such_database"),
        EXIT_USAGE,
        'database "ipt_no_such_database" does not exist',
    ),
    "role that does not exist": (
        lambda _: _postgresql(username="ipt_no_such_role", password=PASSWORD),
        EXIT_USAGE,
        'role "ipt_no_such_role" does not exist',
    ),
    "sslmode=require refused by the server": (_ssl_refused, EXIT_USAGE, "SSL"),
}


def _shown(url: str) -> str:
    """How a message names the warehouse: its file, or its URL with the password masked."""
    if url.startswith("duckdb:///"):
        return url.removeprefix("duckdb:///")
    return url.replace(f":{PASSWORD}@", ":***@")


def _assert_told_in_one_line(site: Site, url: str, exit_status: int, says: str) -> None:
    completed = site.run("invoices", "list", warehouse_url=url)
    line = _one_line(completed)
    assert completed.returncode == exit_status, completed.stderr
    assert line.startswith("invoice-pipeline: ") and _shown(url) in line and says in line, line
    assert PASSWORD not in completed.stderr + completed.stdout
    debugged = site.run("--debug", "invoices", "list", warehouse_url=url)
    assert debugged.returncode == exit_status
    assert "Traceback" in debugged.stderr and debugged.stderr.strip().splitlines()[-1] == line
    assert PASSWORD not in debugged.stderr.strip().splitlines()[-1]


@pytest.mark.parametrize("case", CASES)
def test_a_broken_warehouse_is_told_in_one_line_and_debug_shows_the_traceback(site, tmp_path, case):
    make_url, exit_status, says = CASES[case]
    _assert_told_in_one_line(site, make_url(tmp_path), exit_status, says)


@pytest.mark.postgresql
@pytest.mark.parametrize("case", POSTGRESQL_CASES)
def test_a_postgresql_warehouse_the_server_refuses_is_told_in_one_line(site, tmp_path, case):
    make_url, exit_status, says = POSTGRESQL_CASES[case]
    _assert_told_in_one_line(site, make_url(tmp_path), exit_status, says)


def test_a_read_only_warehouse_folder_is_told_in_one_line(site, read_only_folder):
    url = f"duckdb:///{read_only_folder / 'warehouse.duckdb'}"
    completed = site.run("invoices", "list", warehouse_url=url)
    line = _one_line(completed)
    assert completed.returncode == EXIT_USAGE
    assert str(read_only_folder / "warehouse.duckdb") in line and "writable" in line, line
    assert "Read-only file system" in line or "Permission denied" in line, line


def test_a_full_disk_is_told_in_one_line_as_a_fault_the_pipeline_met(site, full_disk):
    completed = site.run("invoices", "list", warehouse_url=f"duckdb:///{full_disk / 'warehouse.duckdb'}")
    line = _one_line(completed)
    assert completed.returncode == EXIT_BROKEN
    assert str(full_disk / "warehouse.duckdb") in line and "No space left on device" in line, line
    assert line.endswith("free disk space where the warehouse lives, then run it again")


def test_the_debug_variable_shows_the_traceback_too(site, tmp_path):
    url = _not_a_database(tmp_path)
    completed = site.run("invoices", "list", warehouse_url=url, INVOICE_PIPELINE_DEBUG="1")
    assert completed.returncode == EXIT_USAGE and "Traceback" in completed.stderr


# A server that does not answer --------------------------------------------------------------------------


RETRY_LINE = re.compile(
    r"invoice-pipeline: warehouse postgresql\+psycopg://billing:\*\*\*@127\.0\.0\.1:\d+/invoices not answering "
    r"\(connection refused\); retrying for up to \d+ s more"
)


def test_a_dead_server_is_said_while_waited_for_and_the_whole_sync_ends_within_the_timeout(tmp_path):
    timeout = 12  # the wait is said when it starts, then again every 5 s while it lasts
    site = Site(tmp_path, lock_timeout_seconds=timeout)
    url = f"postgresql+psycopg://billing:{PASSWORD}@127.0.0.1:{_free_port()}/invoices"
    started = time.monotonic()
    completed = site.run("sync", warehouse_url=url)
    took = time.monotonic() - started
    assert completed.returncode == EXIT_BROKEN, completed.stderr
    assert "Traceback" not in completed.stderr and PASSWORD not in completed.stderr + completed.stdout
    *retries, last = completed.stderr.strip().splitlines()
    assert len(retries) >= 2 and all(RETRY_LINE.fullmatch(line) for line in retries), retries
    assert f"could not be reached for {timeout} s" in last and "run it again when it is available" in last
    assert took < timeout + 15, f"sync took {took:.0f} s with a {timeout} s timeout"


def test_connections_to_a_dead_server_share_one_bounded_wait(tmp_path):
    url = f"postgresql+psycopg://billing:{PASSWORD}@127.0.0.1:{_free_port()}/invoices"
    first, second = (Warehouse(url, temp_dir=tmp_path, lock_timeout_seconds=2) for _ in range(2))
    started = time.monotonic()
    with pytest.raises(WarehouseUnavailable, match="could not be reached for 2 s"):
        first.engine.connect()
    waited = time.monotonic() - started
    with pytest.raises(WarehouseUnavailable):
        second.engine.connect()  # the same outage: no second wait
    assert 2 <= waited < 8 and time.monotonic() - started - waited < 2.5


def test_a_server_that_accepts_but_never_answers_is_given_up_on_within_the_timeout(tmp_path):
    with socket.socket() as silent:  # the kernel completes the handshake; no server ever answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        url = f"postgresql+psycopg://billing:{PASSWORD}@127.0.0.1:{silent.getsockname()[1]}/invoices"
        warehouse = Warehouse(url, temp_dir=tmp_path, lock_timeout_seconds=4)
        started = time.monotonic()
        with pytest.raises(WarehouseUnavailable, match=r"could not be reached for 4 s \(connection timeout expired\)"):
            warehouse.engine.connect()
    assert time.monotonic() - started < 4 + 5  # libpq alone would wait 130 s for each attempt


def test_a_dagster_step_fails_with_the_faults_line_and_no_stack_trace(tmp_path, monkeypatch):
    site = Site(tmp_path, lock_timeout_seconds=2)
    monkeypatch.setenv("INVOICE_PIPELINE_CONFIG", str(site.config_path))
    url = f"postgresql+psycopg://billing:{PASSWORD}@127.0.0.1:{_free_port()}/invoices"
    monkeypatch.setenv("INVOICE_PIPELINE_WAREHOUSE_URL", url)
    started = time.monotonic()
    with dg.instance_for_test() as instance:
        result = dg.materialize(
            reference_assets,
            resources={"invoice_pipeline": pipeline_resource()},
            instance=instance,
            raise_on_error=False,
        )
    assert not result.success
    failures = result.get_step_failure_events()
    assert len(failures) == len(reference_assets)
    for failure in failures:
        error = failure.step_failure_data.error
        assert (error.cls_name, error.stack) == ("WarehouseUnavailable", [])
        assert error.message.startswith(f"the warehouse {_shown(url)} could not be reached for 2 s")
        assert "\n" not in error.message and PASSWORD not in error.message
    assert time.monotonic() - started < 2 + 15  # one wait for the whole run, not one per asset


# A Dagster instance a kill left half-created -------------------------------------------------------------


def test_an_event_log_index_left_empty_is_repaired_by_the_next_command_saying_so(site):
    """What a kill while Dagster creates its event log index leaves: the file, without its tables."""
    index = site.dagster_home / "history" / "runs" / "index.db"
    index.parent.mkdir(parents=True)
    sqlite3.connect(index).close()
    completed = site.run("sync", "--invoice", KEY)
    assert completed.returncode == 0, completed.stderr
    assert "Traceback" not in completed.stderr
    (line,) = completed.stderr.strip().splitlines()
    assert f"the Dagster instance {site.dagster_home} was left half-created" in line, line
    assert "history/runs/index.db lacks tables" in line and "dagster instance migrate" in line
    again = site.run("sync", "--invoice", "contoso-csp:G100000005")
    assert again.returncode == 0 and again.stderr == "", again.stderr  # repaired once, for good


def _killed_during_its_first_run(site: Site, first_file: str, after: float) -> None:
    """Start `sync` on the fresh Dagster home and SIGKILL it `after` seconds from when a file matching
    `first_file` appears there."""
    child = site.start("sync")
    deadline = time.monotonic() + 120
    while not any(site.dagster_home.rglob(first_file)) and child.poll() is None:
        assert time.monotonic() < deadline, f"the first sync created no {first_file} in 2 minutes"
        time.sleep(0.001)
    time.sleep(after)
    child.send_signal(signal.SIGKILL)
    child.wait()


# Milliseconds after a file appears: Dagster creates its three databases in about 150 ms from the first one,
# and the event log index's tables in about 30 ms, the moments when a kill used to break the instance for good.
_SEED = random.Random(15)
KILL_MOMENTS = [("*.db", ms) for ms in sorted(_SEED.sample(range(0, 250, 5), 3))] + [
    ("index.db", ms) for ms in sorted(_SEED.sample(range(0, 30), 3))
]


@pytest.mark.slow
def test_a_kill_during_the_first_run_leaves_an_instance_the_next_command_repairs(tmp_path):
    repaired = []
    for first_file, moment in KILL_MOMENTS:
        site = Site(tmp_path / f"killed-{moment}ms-after-{first_file.strip('*.')}")
        _killed_during_its_first_run(site, first_file, moment / 1000)
        completed = site.run("sync", "--invoice", KEY)
        assert "Traceback" not in completed.stderr, (moment, completed.stderr)
        if completed.returncode == EXIT_BROKEN:  # not repaired: a line naming the command that repairs it
            last = completed.stderr.strip().splitlines()[-1]
            assert last.endswith(f"run `DAGSTER_HOME={site.dagster_home} dagster instance migrate`"), last
            continue
        assert completed.returncode == 0, (first_file, moment, completed.stderr)
        assert completed.stdout.startswith(f"{KEY}\t"), completed.stdout
        said = completed.stderr.strip().splitlines()
        assert all("was left half-created" in line for line in said), said
        repaired += [line for line in said if "index.db lacks tables" in line]
    assert repaired, f"no kill at {KILL_MOMENTS} left an event log index without its tables"
