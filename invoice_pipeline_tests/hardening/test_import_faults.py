"""Faults in the middle of an import, through the real `invoice-pipeline` command: a process killed at random
moments (seeded), a full disk, a PostgreSQL server stopped during COPY. Each ends in at most one line, and
the next sync takes the invoice over at once and ends Active with exactly the provider's lines and total."""

from __future__ import annotations

import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import suppress
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import dagster as dg
import duckdb
import psutil
import pytest
import sqlalchemy as sa
import yaml

from benchmarks.generate import PROVIDER, generate, write_config
from invoice_pipeline.composition import open_warehouse
from invoice_pipeline.config import load_config
from invoice_pipeline.dagster_defs.jobs import IMPORT_JOB
from invoice_pipeline.domain.invoice_keys import InvoiceKey
from invoice_pipeline_tests.hardening.small_disks import mounted_tmpfs

CLI = Path(sys.executable).parent / "invoice-pipeline"
SEED = 15
LINES = 60_000
KILLS = 4


def _key(lines: int) -> InvoiceKey:
    return InvoiceKey(PROVIDER, f"BENCH-{lines}")


class Bench:
    """Generated provider invoices, a pipeline config for them and a Dagster home, driven through the CLI."""

    def __init__(self, root: Path, warehouse_url: str | None = None, data_dir: Path | None = None) -> None:
        self.root = root
        self.config_path = write_config(root)
        settings = yaml.safe_load(self.config_path.read_text())
        settings["warehouse_lock_timeout_seconds"] = 10
        if warehouse_url:
            settings["warehouse_url"] = warehouse_url
        if data_dir:
            settings["data_dir"] = str(data_dir)
        self.config_path.write_text(yaml.safe_dump(settings))
        self.dagster_home = dagster_home = root / "dagster_home"
        dagster_home.mkdir()
        (dagster_home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n", encoding="utf-8")
        hidden = ("INVOICE_PIPELINE_CONFIG", "INVOICE_PIPELINE_DATA_DIR", "INVOICE_PIPELINE_WAREHOUSE_URL")
        self.env = {k: v for k, v in os.environ.items() if k not in hidden}
        self.env |= {"DAGSTER_HOME": str(dagster_home), "INVOICE_PIPELINE_CONFIG": str(self.config_path)}
        self.env["PYTHONWARNINGS"] = "ignore"

    def add_invoice(self, lines: int) -> InvoiceKey:
        """A provider invoice of `lines` usage lines (its id says how many)."""
        generate(self.root, lines, 0.0, "csv")
        return _key(lines)

    def command(self, *args: str) -> list[str]:
        return [str(CLI), *args]

    def run(self, *args: str, timeout: float = 600) -> subprocess.CompletedProcess:
        return subprocess.run(
            self.command(*args), env=self.env, cwd=self.root, capture_output=True, text=True, timeout=timeout
        )

    def start(self, *args: str) -> subprocess.Popen:
        return subprocess.Popen(
            self.command(*args), env=self.env, cwd=self.root, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )

    def status(self, key: InvoiceKey) -> tuple[str | None, str | None]:
        """The invoice's status and message as `invoices list` shows them (None, None: never imported)."""
        listed = self.run("invoices", "list", "--json")
        assert listed.returncode == 0, listed.stderr
        for record in json.loads(listed.stdout):
            if record["invoice_id"] == key.invoice_id and record["status"] != "Inactive":
                return record["status"], record["message"]
        return None, None

    def status_changes(self, key: InvoiceKey, since: datetime) -> tuple[float, float]:
        """Seconds from `since` until the invoice's last import started (Populating) and until it ended."""
        warehouse = open_warehouse(load_config(self.config_path))
        try:
            history = warehouse.history(key)
        finally:
            warehouse.dispose()
        started = [e.changed_at for e in history if e.to_status == "Populating"][-1]
        ended = history[-1].changed_at
        return ((started - since).total_seconds(), (ended - since).total_seconds())

    def import_runs(self) -> dict[str, list[dg.DagsterRun]]:
        """The Dagster instance's import runs by status."""
        with dg.DagsterInstance.from_config(str(self.dagster_home)) as instance:
            runs = instance.get_runs(filters=dg.RunsFilter(job_name=IMPORT_JOB))
        by_status: dict[str, list[dg.DagsterRun]] = {}
        for run in runs:
            by_status.setdefault(run.status.value, []).append(run)
        return by_status

    def sync(self, key: InvoiceKey) -> None:
        """`sync --invoice`, which must end Active."""
        synced = self.run("sync", "--invoice", str(key))
        assert synced.returncode == 0, synced.stdout + synced.stderr
        assert f"{key}\tActive\t" in synced.stdout, synced.stdout

    def usage_file(self, key: InvoiceKey) -> Path:
        """The provider's usage summaries file of the invoice."""
        return self.root / "providers" / PROVIDER / key.invoice_id / "usage_summaries.csv"

    def assert_exactly_the_providers_lines(self, key: InvoiceKey, lines: int) -> None:
        """Stored: every line of the provider's file once, and their total is the file's and the header's."""
        count, total = duckdb.sql(
            f"SELECT count(*), sum(CAST(amount AS DECIMAL(28, 10))) FROM read_csv('{self.usage_file(key)}', "
            "all_varchar = true)"
        ).fetchall()[0]
        assert count == lines
        warehouse = open_warehouse(load_config(self.config_path))
        try:
            record = warehouse.current_record(key)
            stored_count, stored_total = warehouse.line_totals(record.record_id)["usage"]
        finally:
            warehouse.dispose()
        assert (record.status, record.usage_line_count, stored_count) == ("Active", lines, lines)
        assert Decimal(stored_total) == total == record.usage_total
        assert record.total_amount == round(total, 2)


def _kill_once_it_reads(child: subprocess.Popen, file: Path, delay: float) -> None:
    """Kill `child` `delay` seconds after it first has `file` open (it reads it inside its import)."""
    process = psutil.Process(child.pid)
    deadline = time.monotonic() + 120
    while child.poll() is None and time.monotonic() < deadline:
        with suppress(psutil.Error):
            if any(Path(opened.path) == file for opened in process.open_files()):
                time.sleep(delay)
                break
        time.sleep(0.005)
    child.kill()


def _one_line_without_traceback(completed: subprocess.CompletedProcess | tuple[str, str]) -> str:
    stdout, stderr = (completed.stdout, completed.stderr) if hasattr(completed, "stdout") else completed
    assert "Traceback" not in stdout + stderr, stdout + stderr
    return stdout + stderr


# Kills at random moments -----------------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.engine_contract  # a killed import's claim and its takeover, on both engines
def test_imports_killed_at_random_moments_are_taken_over_by_the_next_sync_with_exactly_their_lines(
    tmp_path, warehouse_url
):
    bench = Bench(tmp_path, warehouse_url)
    bench.sync(bench.add_invoice(100))  # sets up the Dagster home, so every kill below is one of an import
    first = bench.add_invoice(LINES + 1)
    launched = datetime.now(UTC)
    bench.sync(first)
    bench.assert_exactly_the_providers_lines(first, LINES + 1)
    # The import's window in a whole `sync --invoice`: from launch, when it went Populating and Active.
    populating, active = bench.status_changes(first, launched)
    moments = random.Random(SEED)
    stopped = 0
    for kill, lines in enumerate(range(LINES + 2, LINES + 2 + KILLS)):
        key = bench.add_invoice(lines)
        child = bench.start("sync", "--invoice", str(key))
        if kill % 2:  # a moment drawn from the measured window: before, inside or after the import
            moment = moments.uniform(populating, active)
            time.sleep(moment)
            child.kill()
        else:  # a moment while it reads the provider's file, whatever the machine's load: inside the import
            moment = moments.uniform(0, 0.1)
            _kill_once_it_reads(child, bench.usage_file(key), moment)
        _one_line_without_traceback(child.communicate(timeout=60))
        status, message = bench.status(key)  # the next command sees what happened
        assert status in (None, "Error", "Active"), f"killed after {moment:.2f} s: {status} {message}"
        if status == "Error":
            stopped += 1
            assert message.startswith("Import stopped without finishing"), message
            assert "ended without recording an outcome (killed, its run stopped" in message
        # A busy machine moves the window: the next moment is drawn inside what this kill showed.
        if kill % 2 and status is None:  # killed before its import began: it begins later
            populating, active = moment, max(active, moment + 0.5)
        elif kill % 2 and status == "Active":  # killed after its import ended: it ends sooner
            active = moment * 0.8
            populating = min(populating, active * 0.7)
        if status != "Active":
            bench.sync(key)  # at once: the killed process's claim is not waited for
        else:  # killed after its import ended: the daily sync has nothing to import, and ends the run
            daily = bench.run("sync")
            assert daily.returncode == 0 and daily.stdout.endswith("nothing to import\n"), daily.stdout + daily.stderr
        bench.assert_exactly_the_providers_lines(key, lines)
        runs = bench.import_runs()
        assert not runs.keys() & {"STARTING", "STARTED"}, "a killed run is still shown in progress"
    assert stopped >= KILLS // 2, f"only {stopped} kills hit a running import"
    assert len(runs.get("FAILURE", [])) >= stopped  # each run killed during its import is shown failed


# A full disk -----------------------------------------------------------------------------------------------


@pytest.fixture
def small_disk(tmp_path) -> Iterator[Path]:
    """A 6 MB disk: room for the warehouse's schema, not for the invoice's lines."""
    yield from mounted_tmpfs(tmp_path / "small-disk", "size=6m")


@pytest.mark.slow
def test_a_full_disk_ends_the_import_in_one_line_and_the_next_sync_imports_it(tmp_path, small_disk):
    bench = Bench(tmp_path, data_dir=small_disk)
    key = bench.add_invoice(200_000)
    synced = bench.run("sync", "--invoice", str(key))
    output = _one_line_without_traceback(synced)
    assert synced.returncode == 3, output
    [failed] = [line for line in synced.stdout.splitlines() if line.startswith(str(key))]
    assert "No space left on device" in failed or "disk is full" in failed.lower() or "space" in failed, failed
    listed = bench.run("invoices", "list", "--json")  # the disk still full: reading works, says nothing untrue
    assert (listed.returncode, listed.stderr) == (0, ""), listed.stderr
    subprocess.run(["mount", "-o", "remount,size=512m", str(small_disk)], check=True)
    status, message = bench.status(key)
    assert status in ("Error", None), message
    bench.sync(key)
    bench.assert_exactly_the_providers_lines(key, 200_000)


# A PostgreSQL server stopped during COPY -------------------------------------------------------------------


class OwnPostgres:
    """A PostgreSQL server of the test's own (initdb on a spare port, run as the postgres user)."""

    def __init__(self, folder: Path, bin_dir: Path, port: int) -> None:
        self.folder, self.bin_dir, self.port = folder, bin_dir, port
        self.data = folder / "data"
        self.url = f"postgresql+psycopg://postgres@127.0.0.1:{port}/postgres"

    def _as_postgres(self, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run(["runuser", "-u", "postgres", "--", *args], capture_output=True, text=True, timeout=120)

    def init(self) -> subprocess.CompletedProcess:
        return self._as_postgres(str(self.bin_dir / "initdb"), "-D", str(self.data), "-A", "trust", "-U", "postgres")

    def start(self) -> None:
        options = f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1"
        started = self._as_postgres(
            str(self.bin_dir / "pg_ctl"), "-D", str(self.data), "-o", options, "-l", str(self.folder / "log"), "-w",
            "start",
        )  # fmt: skip
        assert started.returncode == 0, started.stdout + started.stderr

    def stop(self, mode: str = "fast") -> None:
        self._as_postgres(str(self.bin_dir / "pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "stop")

    def copying(self) -> bool:
        """Whether a COPY into the warehouse is running now."""
        engine = sa.create_engine(self.url, poolclass=sa.pool.NullPool)
        try:
            with engine.connect() as conn:
                query = "SELECT count(*) FROM pg_stat_activity WHERE query ILIKE 'COPY %%FROM STDIN%%'"
                return conn.exec_driver_sql(query).scalar_one() > 0
        finally:
            engine.dispose()


def _spare_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def own_postgres() -> Iterator[OwnPostgres]:
    """Skipped, saying why, where no PostgreSQL server binaries or no postgres user exist."""
    bin_dirs = sorted(Path("/usr/lib/postgresql").glob("*/bin"))
    if not bin_dirs or not shutil.which("runuser") or os.geteuid() != 0:
        pytest.skip("needs PostgreSQL's server binaries (/usr/lib/postgresql/*/bin), runuser and root")
    folder = Path(tempfile.mkdtemp(prefix="ipt-own-postgres-", dir="/tmp"))
    shutil.chown(folder, "postgres", "postgres")
    server = OwnPostgres(folder, bin_dirs[-1], _spare_port())
    initialized = server.init()
    if initialized.returncode != 0:
        shutil.rmtree(folder, ignore_errors=True)
        pytest.skip(f"initdb failed here: {initialized.stderr.strip()[:200]}")
    server.start()
    try:
        yield server
    finally:
        server.stop("immediate")
        shutil.rmtree(folder, ignore_errors=True)


@pytest.mark.slow
@pytest.mark.postgresql
def test_a_postgresql_server_stopped_during_copy_ends_the_import_and_the_next_sync_imports_it(tmp_path, own_postgres):
    bench = Bench(tmp_path, warehouse_url=own_postgres.url)
    lines = 400_000
    key = bench.add_invoice(lines)
    assert bench.run("warehouse", "upgrade").returncode == 0
    child = bench.start("sync", "--invoice", str(key))
    deadline = time.monotonic() + 300
    while not own_postgres.copying():
        assert child.poll() is None, "the import ended before its COPY was seen"
        assert time.monotonic() < deadline, "no COPY seen in 5 minutes"
        time.sleep(0.05)
    own_postgres.stop("immediate")
    stopped = time.monotonic()
    stdout, stderr = child.communicate(timeout=120)
    output = _one_line_without_traceback((stdout, stderr))
    assert child.returncode == 3, output
    assert time.monotonic() - stopped < 60  # bounded by the configured 10 s waits, not minutes
    [failed] = [line for line in stdout.splitlines() if line.startswith(str(key))]
    assert "\tfailed\t" in failed, failed
    assert "its Error could not be recorded" in failed and "then the next sync" in failed, failed
    assert all(line.startswith("invoice-pipeline: ") for line in stderr.splitlines()), stderr  # no driver noise
    own_postgres.start()
    status, message = bench.status(key)
    assert status == "Error", message
    assert message.startswith("Import stopped without finishing"), message
    bench.sync(key)
    bench.assert_exactly_the_providers_lines(key, lines)
