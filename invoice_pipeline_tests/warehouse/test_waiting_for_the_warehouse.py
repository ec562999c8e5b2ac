"""A command that finds the DuckDB warehouse held by another process (an import running) says which process holds
it and that it retries, tries again often (it answers as soon as the file is free), and answers; a block of work
keeps the database open for itself only while it lasts."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from invoice_pipeline.composition import connector_for, opened_warehouse
from invoice_pipeline.domain.invoice_keys import InvoiceKey
from invoice_pipeline.importing.invoice_import import import_provider_invoice
from invoice_pipeline.warehouse import engine_faults
from invoice_pipeline.warehouse.engine_faults import lock_holder, retry_pause
from invoice_pipeline_tests.builders import usage_line

KEY = InvoiceKey("contoso-csp", "G-WAIT")
# Holds the warehouse file like an import does (a connection open in another process) until told to let it go
# (a line on its stdin): the test decides when, whatever the machine's load.
HOLDER = (
    "import duckdb, sys; c = duckdb.connect(sys.argv[1]); print('held', flush=True); sys.stdin.readline(); "
    "c.close(); print('released', flush=True)"
)
CLI = str(Path(sys.executable).parent / "invoice-pipeline")

duckdb_only = pytest.mark.parametrize("warehouse_engine", ["duckdb"])


@pytest.fixture
def imported(workspace):
    """A workspace whose warehouse holds one Active invoice, the file closed."""
    workspace.add_invoice(KEY.invoice_id, usage=[usage_line("U1")])
    warehouse = workspace.warehouse()
    try:
        import_provider_invoice(workspace.config(), warehouse, KEY, connectors=connector_for, run_id="t")
    finally:
        warehouse.dispose()
    return workspace


def _hold(database: str | Path) -> subprocess.Popen:
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(database)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
    return holder


def _release(holder: subprocess.Popen) -> None:
    assert holder.stdin is not None
    holder.stdin.write("\n")
    holder.stdin.close()
    holder.wait(timeout=60)


@duckdb_only
def test_invoices_list_says_which_process_holds_the_warehouse_and_that_it_retries_then_answers(imported):
    holder = _hold(imported.config().warehouse_url.removeprefix("duckdb:///"))
    try:
        listing = subprocess.Popen([CLI, "invoices", "list"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        assert listing.stderr is not None
        said = listing.stderr.readline()  # said while the file is held: the command waits for it
    finally:
        _release(holder)
    stdout, stderr = listing.communicate(timeout=120)
    assert listing.returncode == 0, said + stderr
    assert f"{KEY}\tActive" in stdout  # it answered once the file was free
    assert "locked by" in said, said
    assert f"process {holder.pid} (python" in said  # which process holds it, and its program
    assert "retrying for up to" in said
    assert "locked by" not in stderr  # the file was let go at once: no second line


def test_a_locked_duckdb_file_is_tried_again_within_a_tenth_of_a_second_however_long_it_waited():
    """DuckDB's lock is a local file's: trying again is cheap, so the wait ends when the file is free, not up to
    seconds later; a PostgreSQL server that does not answer still backs off."""
    assert all(retry_pause(attempt, is_duckdb=True) <= 0.1 for attempt in range(50))
    assert retry_pause(6, is_duckdb=False) > 1


def test_the_holder_of_a_duckdb_lock_is_named_from_duckdbs_error(tmp_path):
    database = tmp_path / "held.duckdb"
    duckdb.connect(str(database)).close()
    holder = _hold(database)
    try:
        with pytest.raises(duckdb.Error) as locked:
            duckdb.connect(str(database))
        named = lock_holder(locked.value)
    finally:
        _release(holder)
    assert named is not None
    assert named.startswith(f"process {holder.pid} (")
    assert "python" in named
    assert lock_holder(RuntimeError("disk full")) is None
    assert os.getpid() != holder.pid


@duckdb_only
def test_a_block_keeps_the_database_open_for_itself_and_lets_it_go_when_it_ends(imported):
    """Inside `opened_warehouse`, connections reuse the database this process holds open; after it, another
    process can open the file at once."""
    database = imported.config().warehouse_url.removeprefix("duckdb:///")
    check = f"import duckdb; duckdb.connect({database!r}).close()"
    with opened_warehouse(imported.config()) as warehouse:
        assert warehouse.current_record(KEY) is not None
        between_statements = subprocess.run([sys.executable, "-c", check], capture_output=True, text=True)
        assert warehouse.current_record(KEY) is not None
    after = subprocess.run([sys.executable, "-c", check], capture_output=True, text=True)
    assert between_statements.returncode != 0  # held for the block
    assert "lock" in between_statements.stderr.lower()
    assert after.returncode == 0, after.stderr
    assert engine_faults.OUTAGES.seconds_left(imported.config().warehouse_url, 60) == 60
