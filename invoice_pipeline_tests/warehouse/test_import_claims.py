"""Import claims: a running import renews its claim; one whose process stopped is recorded as Error and taken
over at once (its process is gone) or once its claim lapsed (not renewed in time), on both engines."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from invoice_pipeline.domain.invoice_keys import InvoiceKey
from invoice_pipeline.domain.lifecycle import Stage
from invoice_pipeline.domain.refusals import ImportRefused
from invoice_pipeline.domain.statuses import Status
from invoice_pipeline.importing.eligibility import invoice_standing
from invoice_pipeline.warehouse import tables as t
from invoice_pipeline.warehouse.import_claims import ClaimHolder
from invoice_pipeline.warehouse.line_publishing import FinishedImport

pytestmark = pytest.mark.engine_contract

KEY = InvoiceKey("contoso-csp", "G400000001")
STUCK_AFTER = timedelta(minutes=120)

# A process that claims the invoice and renews its claim (a sixth of its length apart) until it is killed.
HOLDER = textwrap.dedent(
    """
    import sys, time
    from datetime import timedelta
    from invoice_pipeline.config import load_config
    from invoice_pipeline.composition import open_warehouse
    from invoice_pipeline.domain.invoice_keys import InvoiceKey

    warehouse = open_warehouse(load_config(sys.argv[1]))
    lapse = timedelta(seconds=float(sys.argv[3]))
    record = warehouse.start_import(
        InvoiceKey.parse(sys.argv[2]), run_id="holder-run", actor="test", stuck_after=timedelta(hours=2), lapse=lapse
    )
    with warehouse.claim_renewed(record, lapse):
        print("claimed", flush=True)
        time.sleep(120)
    """
)


def _claim_expiry(warehouse) -> datetime:
    return warehouse.current_record(KEY).claim.expires_at


def _stage(warehouse) -> Stage:
    return invoice_standing(warehouse, KEY, STUCK_AFTER).stage


@pytest.fixture
def holder(workspace, request):
    """Another process holding (and renewing) a claim on the invoice (of `request.param` seconds, default 60);
    killed by the test or at the end."""
    workspace.warehouse().dispose()  # the warehouse exists before the other process opens it
    lapse_seconds = getattr(request, "param", 60)
    process = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(workspace.config_path), str(KEY), str(lapse_seconds)],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONWARNINGS": "ignore"},
    )
    assert process.stdout.readline().strip() == "claimed"
    yield process
    process.kill()
    process.wait(timeout=30)


def test_starting_an_import_claims_the_invoice_for_this_process(warehouse):
    warehouse.start_import(KEY, run_id="r1", actor="tester", stuck_after=STUCK_AFTER, lapse=timedelta(seconds=30))
    claim = warehouse.current_record(KEY).claim
    assert claim.holder == ClaimHolder.this_process()
    assert claim.run_id == "r1"
    assert timedelta(seconds=29) < claim.expires_at - claim.renewed_at <= timedelta(seconds=30)
    assert _stage(warehouse) == Stage.IMPORTING
    shown = warehouse.current_record(KEY).summary()["import_claim"]  # what `invoices show` prints
    assert shown.startswith(f"process {os.getpid()} on {claim.holder.host} (run r1), renewed ")
    assert shown.endswith(f"lapses {claim.expires_at:%H:%M:%S} UTC unless renewed")


def test_a_claim_renewed_while_the_import_works_does_not_lapse(warehouse):
    lapse = timedelta(seconds=0.6)
    record = warehouse.start_import(KEY, run_id="r1", actor="tester", stuck_after=STUCK_AFTER, lapse=lapse)
    first_expiry = _claim_expiry(warehouse)
    with warehouse.claim_renewed(record, lapse):
        time.sleep(1.5)  # more than twice the claim's length
        assert _claim_expiry(warehouse) > first_expiry
        assert _stage(warehouse) == Stage.IMPORTING


def test_a_claim_not_renewed_lapses_and_the_next_command_records_the_import_as_stopped(warehouse):
    warehouse.start_import(KEY, run_id="r1", actor="tester", stuck_after=STUCK_AFTER, lapse=timedelta(seconds=0.3))
    assert warehouse.release_stopped_imports(STUCK_AFTER, actor="next command") == []  # still claimed
    time.sleep(0.5)
    assert _stage(warehouse) == Stage.STUCK
    [stopped] = warehouse.release_stopped_imports(STUCK_AFTER, actor="next command")
    record = warehouse.current_record(KEY)
    assert (stopped.record_id, record.status) == (record.record_id, Status.ERROR)
    assert record.message.startswith(
        f"Import stopped without finishing (run r1): process {os.getpid()} on {ClaimHolder.this_process().host} "
        "stopped renewing its claim at "
    )
    assert record.message.endswith(
        "(the process was killed, its machine went away, or its run ended without recording an outcome); "
        "no line was stored, the next sync imports it again"
    )
    last = warehouse.history(KEY)[-1]
    assert (last.from_status, last.to_status, last.actor) == ("Populating", "Error", "next command")
    assert warehouse.release_stopped_imports(STUCK_AFTER, actor="next command") == []  # recorded once


def test_an_import_whose_process_was_killed_is_taken_over_at_once(workspace, holder):
    warehouse = workspace.warehouse()
    try:
        assert _stage(warehouse) == Stage.IMPORTING
        with pytest.raises(ImportRefused, match="is being imported by run holder-run"):
            warehouse.start_import(KEY, run_id="r2", actor="tester", stuck_after=STUCK_AFTER)
        held = warehouse.current_record(KEY)
        holder.send_signal(signal.SIGKILL)
        holder.wait(timeout=30)
        # Its claim would hold for a minute more: the dead process is seen, no waiting.
        record = warehouse.start_import(KEY, run_id="r2", actor="tester", stuck_after=STUCK_AFTER)
        assert (record.status, record.run_id) == (Status.POPULATING, "r2")
        stopped, taken_over = warehouse.history(KEY)[-2:]
        assert (stopped.to_status, taken_over.to_status) == ("Error", "Populating")
        assert stopped.reason == (
            f"Import stopped without finishing (run holder-run): process {holder.pid} on {held.claim.holder.host} "
            "ended without recording an outcome (killed, its run stopped, or it could not write to the "
            "warehouse); no line was stored, the next sync imports it again"
        )
        assert taken_over.reason == "retry of an import that did not finish"
        assert warehouse.current_record(KEY).claim.holder == ClaimHolder.this_process()
    finally:
        warehouse.dispose()


@pytest.mark.parametrize("holder", [3], indirect=True)
def test_a_claim_renewed_by_a_live_process_holds_past_its_length(workspace, holder):
    time.sleep(4)  # longer than the holder's 3 s claim: only its renewals keep it
    warehouse = workspace.warehouse()
    try:
        assert _stage(warehouse) == Stage.IMPORTING
        assert warehouse.release_stopped_imports(STUCK_AFTER, actor="next command") == []
    finally:
        warehouse.dispose()


def test_a_renewal_stops_once_another_run_took_the_invoice_over(warehouse):
    lapse = timedelta(seconds=0.3)
    record = warehouse.start_import(KEY, run_id="r1", actor="tester", stuck_after=STUCK_AFTER, lapse=lapse)
    with warehouse.claim_renewed(record, lapse):
        with warehouse.engine.begin() as conn:  # another run's claim replaced ours
            conn.execute(sa.update(t.import_claims).values(run_id="r2", expires_at=datetime.now(UTC) + STUCK_AFTER))
        time.sleep(0.3)
        expiry = _claim_expiry(warehouse)
        time.sleep(0.3)
        assert _claim_expiry(warehouse) == expiry  # ours stopped renewing; theirs is left as it is


def test_an_import_past_the_last_resort_bound_is_taken_over_even_while_claimed(warehouse):
    warehouse.start_import(KEY, run_id="r1", actor="tester", stuck_after=STUCK_AFTER)
    assert _stage(warehouse) == Stage.IMPORTING
    assert invoice_standing(warehouse, KEY, timedelta(0)).stage == Stage.STUCK
    [stopped] = warehouse.release_stopped_imports(timedelta(0), actor="next command")
    assert "it was still Populating after 0 minutes, the longest an import may take" in stopped.message


def test_a_stopped_run_that_wakes_up_after_a_takeover_stores_nothing(warehouse):
    lapse = timedelta(seconds=0.2)
    stopped = warehouse.start_import(KEY, run_id="r1", actor="tester", stuck_after=STUCK_AFTER, lapse=lapse)
    time.sleep(0.3)  # r1 froze: its claim lapsed, r2 takes the invoice over
    warehouse.start_import(KEY, run_id="r2", actor="tester", stuck_after=STUCK_AFTER)
    woken = FinishedImport(status=Status.ERROR, message="r1's outcome")
    with warehouse.staging() as staging, pytest.raises(ImportRefused) as refused:
        warehouse.finish_import(staging, stopped, woken, run_id="r1", actor="tester")
    assert str(refused.value) == (
        f"invoice {KEY} was taken over by another run (this one had stopped renewing its claim, or ran past "
        "stuck_populating_after_minutes); this run stored nothing"
    )
    record = warehouse.current_record(KEY)
    assert (record.status, record.run_id, record.message) == (Status.POPULATING, "r2", "Import running")
