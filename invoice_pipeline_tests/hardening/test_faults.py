"""Faults: a warehouse locked by another process makes the import wait, or fail cleanly and be retried."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from invoice_pipeline.composition import connector_for
from invoice_pipeline.domain.invoice_keys import InvoiceKey
from invoice_pipeline.domain.statuses import Status
from invoice_pipeline.importing.invoice_import import import_provider_invoice
from invoice_pipeline.warehouse.engine_faults import WarehouseUnavailable
from invoice_pipeline_tests.builders import usage_line

KEY = InvoiceKey("contoso-csp", "G-LOCK")
# Holds the DuckDB file's lock until its stdin is closed (`_release`) or the given seconds pass, whichever is first:
# a test that needs the lock held while it runs releases it itself, however slowly a busy machine runs it.
HOLDER = (
    "import duckdb, select, sys; c = duckdb.connect(sys.argv[1]); print('locked', flush=True); "
    "select.select([sys.stdin], [], [], float(sys.argv[2]))"
)


def _set_lock_timeout(workspace, seconds: float) -> None:
    data = yaml.safe_load(workspace.config_path.read_text())
    data["warehouse_lock_timeout_seconds"] = seconds
    workspace.config_path.write_text(yaml.safe_dump(data))


def _hold_lock(workspace, seconds: float) -> subprocess.Popen:
    database = workspace.config().warehouse_url.removeprefix("duckdb:///")
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, database, str(seconds)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    assert holder.stdout.readline().strip() == "locked"
    return holder


def _release(holder: subprocess.Popen) -> None:
    holder.stdin.close()
    holder.wait(timeout=60)


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
        result = import_provider_invoice(invoice.config(), warehouse, KEY, connectors=connector_for, run_id="t")
    finally:
        warehouse.dispose()
        holder.wait()
    assert result.status == Status.ACTIVE
    assert time.monotonic() - started >= 1  # it really waited for the other process


@duckdb_only
def test_a_long_lock_fails_cleanly_writes_nothing_and_the_next_run_imports(invoice):
    _set_lock_timeout(invoice, 1)
    holder = _hold_lock(invoice, 120)
    try:
        # Opening the warehouse connects (it records imports that stopped), so the wait ends there.
        with pytest.raises(WarehouseUnavailable, match="stayed locked by another process for 1 s.*nothing was changed"):
            import_provider_invoice(invoice.config(), invoice.warehouse(), KEY, connectors=connector_for, run_id="t")
    finally:
        _release(holder)
    warehouse = invoice.warehouse()
    try:
        assert warehouse.current_record(KEY) is None
        assert (
            import_provider_invoice(invoice.config(), warehouse, KEY, connectors=connector_for, run_id="t").status
            == Status.ACTIVE
        )
    finally:
        warehouse.dispose()


@duckdb_only
def test_the_cli_reports_a_locked_warehouse_in_one_line_with_the_broken_exit_status(invoice):
    _set_lock_timeout(invoice, 1)
    holder = _hold_lock(invoice, 120)
    try:
        cli = str(Path(sys.executable).parent / "invoice-pipeline")
        done = subprocess.run([cli, "invoices", "list"], capture_output=True, text=True, timeout=60)
    finally:
        _release(holder)
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
from invoice_pipeline.composition import connector_for, open_warehouse
from invoice_pipeline.domain.invoice_keys import InvoiceKey
from invoice_pipeline.domain.refusals import ImportRefused
from invoice_pipeline.importing.invoice_import import import_provider_invoice
config = load_config(sys.argv[1])
warehouse = open_warehouse(config)
try:
    key = InvoiceKey.parse(sys.argv[2])
    print(import_provider_invoice(config, warehouse, key, connectors=connector_for, run_id=sys.argv[3]).status)
except ImportRefused as refusal:
    print("refused:", refusal)
"""


# Claims on PostgreSQL are row locks of another engine: the race is run on both.
@pytest.mark.engine_contract
def test_processes_importing_several_invoices_each_twice_at_once_import_each_once_with_every_line(invoice):
    _set_lock_timeout(invoice, 120)
    keys = [KEY, InvoiceKey("contoso-csp", "INV-2"), InvoiceKey("contoso-csp", "INV-3")]
    for key in keys:
        invoice.add_invoice(key.invoice_id, usage=[usage_line(f"{key.invoice_id}-U{i}", "1.25") for i in range(20_000)])
    processes = {
        (key, n): subprocess.Popen(
            [sys.executable, "-c", IMPORTER, str(invoice.config_path), str(key), f"run-{key.invoice_id}-{n}"],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        for key in keys
        for n in (1, 2)
    }
    outcomes: dict[InvoiceKey, list[str]] = {key: [] for key in keys}
    for (key, _), process in processes.items():
        outcomes[key].append(process.communicate(timeout=300)[0].strip())
    warehouse = invoice.warehouse()
    try:
        for key in keys:
            winner, loser = sorted(outcomes[key])
            assert winner == "Active", outcomes
            # The loser found the invoice Active, or the winner's import running, or started at the same moment.
            assert loser.startswith("refused:"), outcomes
            assert any(
                reason in loser
                for reason in ("is Active and cannot", "is being imported by run run-", "started by another run")
            ), loser
            [record] = warehouse.records(key)
            assert warehouse.line_totals(record.record_id)["usage"] == (20_000, 25_000)
            started = [h for h in warehouse.history(key) if h.to_status == "Populating"]
            assert len(started) == 1
    finally:
        warehouse.dispose()
