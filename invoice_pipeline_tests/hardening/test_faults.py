"""Faults: a warehouse locked by another process makes the import wait, or fail cleanly and be retried."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from invoice_pipeline.domain.invoice_keys import InvoiceKey
from invoice_pipeline.domain.statuses import Status
from invoice_pipeline.importing.invoice_import import import_provider_invoice
from invoice_pipeline.warehouse.warehouse import WarehouseUnavailable
from invoice_pipeline_tests.builders import usage_line

KEY = InvoiceKey("contoso-csp", "G-LOCK")
HOLDER = "import duckdb, sys, time; c = duckdb.connect(sys.argv[1]); print('locked', flush=True); time.sleep(float(sys.argv[2]))"


def _set_lock_timeout(workspace, seconds: float) -> None:
    data = yaml.safe_load(workspace.config_path.read_text())
    data["warehouse_lock_timeout_seconds"] = seconds
    workspace.config_path.write_text(yaml.safe_dump(data))


def _hold_lock(workspace, seconds: float) -> subprocess.Popen:
    database = workspace.config().warehouse_url.removeprefix("duckdb:///")
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, database, str(seconds)], stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "locked"
    return holder


# A DuckDB file lock is the embedded warehouse's concern; PostgreSQL has its own test below.
duckdb_only = pytest.mark.parametrize("warehouse_engine", ["duckdb"])


@pytest.fixture
def invoice(workspace):
    workspace.add_invoice(KEY.invoice_id, usage=[usage_line("U1")])
    workspace.warehouse().dispose()  # the warehouse file exists before another process locks it
    return workspace


@duckdb_only
def test_an_import_waits_for_a_short_lock_and_then_succeeds(invoice):
    _set_lock_timeout(invoice, 30)
    holder = _hold_lock(invoice, 2)
    started = time.monotonic()
    warehouse = invoice.warehouse()
    try:
        result = import_provider_invoice(invoice.config(), warehouse, KEY, run_id="t")
    finally:
        warehouse.dispose()
        holder.wait()
    assert result.status == Status.ACTIVE
    assert time.monotonic() - started >= 1  # it really waited for the other process


@duckdb_only
def test_a_long_lock_fails_cleanly_writes_nothing_and_the_next_run_imports(invoice):
    _set_lock_timeout(invoice, 1)
    holder = _hold_lock(invoice, 6)
    warehouse = invoice.warehouse()
    try:
        with pytest.raises(WarehouseUnavailable, match="stayed locked by another process for 1 s.*nothing was changed"):
            import_provider_invoice(invoice.config(), warehouse, KEY, run_id="t")
    finally:
        holder.wait()
    try:
        assert warehouse.current_record(KEY) is None
        assert import_provider_invoice(invoice.config(), warehouse, KEY, run_id="t").status == Status.ACTIVE
    finally:
        warehouse.dispose()


@duckdb_only
def test_the_cli_reports_a_locked_warehouse_in_one_line_with_the_broken_exit_status(invoice):
    _set_lock_timeout(invoice, 1)
    holder = _hold_lock(invoice, 8)
    try:
        cli = str(Path(sys.executable).parent / "invoice-pipeline")
        done = subprocess.run([cli, "invoices", "list"], capture_output=True, text=True, timeout=60)
    finally:
        holder.wait()
    assert done.returncode == 3
    assert "Traceback" not in done.stderr
    assert "stayed locked by another process" in done.stderr


def test_the_cli_reports_an_unreachable_postgresql_warehouse_in_one_line_without_its_password(workspace, monkeypatch):
    _set_lock_timeout(workspace, 1)
    # Nothing listens on port 1: the server "refuses" like a PostgreSQL that is down.
    monkeypatch.setenv("INVOICE_PIPELINE_WAREHOUSE_URL", "postgresql+psycopg://billing:s3cr3t-pw@127.0.0.1:1/invoices")
    cli = str(Path(sys.executable).parent / "invoice-pipeline")
    done = subprocess.run([cli, "invoices", "list"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 3
    assert "Traceback" not in done.stderr
    assert "could not be reached" in done.stderr
    assert "billing:***@127.0.0.1:1/invoices" in done.stderr
    assert "s3cr3t-pw" not in done.stderr + done.stdout


IMPORTER = """
import sys
from invoice_pipeline.config import load_config
from invoice_pipeline.dagster_defs.resources import open_warehouse
from invoice_pipeline.domain.invoice_keys import InvoiceKey
from invoice_pipeline.importing.invoice_import import import_provider_invoice
from invoice_pipeline.warehouse.warehouse import ImportRefused
config = load_config(sys.argv[1])
warehouse = open_warehouse(config)
try:
    print(import_provider_invoice(config, warehouse, InvoiceKey.parse(sys.argv[2]), run_id=sys.argv[3]).status)
except ImportRefused as refusal:
    print("refused:", refusal)
"""


def test_two_processes_importing_the_same_invoice_at_once_import_it_once(invoice):
    _set_lock_timeout(invoice, 120)
    lines = [usage_line(f"U{i}", "1.25") for i in range(20_000)]
    invoice.add_invoice(KEY.invoice_id, usage=lines)
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", IMPORTER, str(invoice.config_path), str(KEY), f"run-{n}"],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        for n in (1, 2)
    ]
    outcomes = sorted(p.communicate(timeout=180)[0].strip() for p in processes)
    assert outcomes[0] == "Active"
    # The loser either found the invoice Active, or found the winner's import still running.
    assert outcomes[1].startswith("refused:")
    assert "is Active and cannot be downloaded again" in outcomes[1] or "is being imported by run run-" in outcomes[1]
    warehouse = invoice.warehouse()
    try:
        [record] = warehouse.records(KEY)
        assert warehouse.line_totals(record.record_id)["usage"] == (20_000, 25_000)
    finally:
        warehouse.dispose()
