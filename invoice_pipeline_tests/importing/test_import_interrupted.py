"""An import killed half way (a real process, SIGKILL) never leaves partial lines, and the next run repairs it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from decimal import Decimal

import pytest
import yaml

from benchmarks.generate import generate, write_config
from invoice_pipeline.composition import connector_for, open_warehouse
from invoice_pipeline.config import load_config
from invoice_pipeline.domain.invoice_keys import InvoiceKey
from invoice_pipeline.domain.statuses import Status
from invoice_pipeline.importing.invoice_import import import_provider_invoice

pytestmark = pytest.mark.engine_contract

LINES = 50_000
KEY = InvoiceKey("bench-csp", f"BENCH-{LINES}")

# The child imports the invoice and announces each step on stdout, pausing there so the parent can kill it.
CHILD = textwrap.dedent(
    """
    import sys, time
    from invoice_pipeline.config import load_config
    from invoice_pipeline.composition import connector_for, open_warehouse
    from invoice_pipeline.domain.invoice_keys import InvoiceKey
    from invoice_pipeline.importing import invoice_import, invoice_validation
    from invoice_pipeline.warehouse import line_publishing

    def announce(step, original):
        def wrapper(*args, **kwargs):
            print(step, flush=True)
            time.sleep(0.3)
            result = original(*args, **kwargs)
            print(step + " done", flush=True)
            time.sleep(0.3)
            return result
        return wrapper

    invoice_validation.stage_and_validate = announce("validating", invoice_validation.stage_and_validate)
    invoice_validation.find_missing_references = announce("resolving", invoice_validation.find_missing_references)
    line_publishing.finish_import = announce("publishing", line_publishing.finish_import)
    # Called inside the publishing transaction, after the lines are inserted and before the commit.
    line_publishing.change_status = announce("lines inserted, status not yet set", line_publishing.change_status)
    config = load_config(sys.argv[1])
    warehouse = open_warehouse(config)
    key = InvoiceKey.parse(sys.argv[2])
    invoice_import.import_provider_invoice(config, warehouse, key, connectors=connector_for, run_id="child")
    print("finished", flush=True)
    time.sleep(30)
    """
)


@pytest.fixture
def big_invoice(tmp_path, warehouse_url):
    """A 50,000-line invoice, in a DuckDB warehouse file or a PostgreSQL warehouse of its own."""
    generate(tmp_path, LINES, 0.0, "csv")
    config_path = write_config(tmp_path)
    data = yaml.safe_load(config_path.read_text())
    if warehouse_url:
        data["warehouse_url"] = warehouse_url
    config_path.write_text(yaml.safe_dump(data))
    return config_path


def _kill_at(config_path, marker: str) -> None:
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(config_path), str(KEY)],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONWARNINGS": "ignore"},
    )
    try:
        for line in child.stdout:
            if line.strip() == marker:
                break
        else:
            pytest.fail(f"the child import never reached {marker!r}")
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=30)


@pytest.mark.parametrize(
    "marker",
    [
        "validating",
        "validating done",
        "resolving",
        "publishing",
        "lines inserted, status not yet set",
        "publishing done",
    ],
)
def test_killed_import_leaves_no_partial_lines_and_the_next_run_imports_exactly(big_invoice, marker):
    _kill_at(big_invoice, marker)
    config = load_config(big_invoice)
    warehouse = open_warehouse(config)
    try:
        record = warehouse.current_record(KEY)
        count, total = warehouse.line_totals(record.record_id)["usage"]
        if marker == "publishing done":
            assert (record.status, count) == ("Active", LINES)
        else:
            assert record.status in ("Populating", "Error")  # Error once a command saw its claim lapse
            assert count == 0, "a killed import left lines behind"
            result = import_provider_invoice(
                config, warehouse, KEY, connectors=connector_for, run_id="after-kill"
            )  # at once: no wait
            assert result.status == Status.ACTIVE, result.message
            stopped = [entry.reason for entry in warehouse.history(KEY) if entry.to_status == "Error"]
            assert stopped == [
                f"Import stopped without finishing (run child): process {record.claim.holder.pid} on "
                f"{record.claim.holder.host} ended without recording an outcome (killed, its run stopped, or it "
                "could not write to the warehouse); no line was stored, the next sync imports it again"
            ]
        count, total = warehouse.line_totals(record.record_id)["usage"]
        record = warehouse.current_record(KEY)
        assert count == LINES
        assert round(total, 2) == record.total_amount == Decimal(record.total_amount)
    finally:
        warehouse.dispose()
