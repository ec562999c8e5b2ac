"""Import runs whose process died are ended as failed (Dagster would show them in progress for ever); runs
still importing, or not yet importing, are left alone."""

from __future__ import annotations

import subprocess
import sys
import time
from datetime import timedelta

import dagster as dg
import pytest
from dagster._core.storage.dagster_run import DagsterRun

from invoice_pipeline.dagster_defs.abandoned_runs import end_abandoned_import_runs
from invoice_pipeline.dagster_defs.jobs import IMPORT_JOB
from invoice_pipeline.dagster_defs.run_tags import RUN_TAG_PROCESS, import_run_tags
from invoice_pipeline.domain.invoice_keys import InvoiceKey
from invoice_pipeline.warehouse.import_claims import ClaimHolder

STUCK_AFTER = timedelta(hours=2)
SETTLE = timedelta(seconds=30)


def _key(invoice_id: str) -> InvoiceKey:
    return InvoiceKey("contoso-csp", invoice_id)


@pytest.fixture
def instance():
    with dg.DagsterInstance.ephemeral() as ephemeral:
        yield ephemeral


def _started_run(instance, key: InvoiceKey, **tags: str) -> str:
    run = DagsterRun(job_name=IMPORT_JOB, status=dg.DagsterRunStatus.STARTED, tags={**import_run_tags(key), **tags})
    instance.add_run(run)
    return run.run_id


def _status(instance, run_id: str) -> dg.DagsterRunStatus:
    return instance.get_run_by_id(run_id).status


def _failure_message(instance, run_id: str) -> str:
    [failure] = [e for e in instance.all_logs(run_id) if e.dagster_event and e.dagster_event.is_run_failure]
    return failure.dagster_event.message


def _dead_process() -> ClaimHolder:
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(0.2)"])
    holder = ClaimHolder(ClaimHolder.this_process().host, ClaimHolder.this_process().boot_id, child.pid, 1)
    child.wait()
    return holder


def test_a_run_whose_import_was_recorded_as_stopped_is_ended_as_failed_saying_why(instance, warehouse):
    run_id = _started_run(instance, _key("G1"))
    warehouse.start_import(
        _key("G1"), run_id=run_id, actor="test", stuck_after=STUCK_AFTER, lapse=timedelta(seconds=0.2)
    )
    time.sleep(0.3)  # its claim lapsed: nobody renewed it
    warehouse.release_stopped_imports(STUCK_AFTER, actor="next command")
    assert end_abandoned_import_runs(instance, warehouse, settle=SETTLE) == [run_id]
    assert _status(instance, run_id) == dg.DagsterRunStatus.FAILURE
    message = _failure_message(instance, run_id)
    assert message.startswith(
        "Run ended as failed by invoice-pipeline: its process stopped without ending the run; the import of "
        "contoso-csp:G1 it ran is over (contoso-csp:G1 is Error: Import stopped without finishing"
    )


def test_a_run_still_importing_or_not_importing_yet_is_left_alone(instance, warehouse):
    importing = _started_run(instance, _key("G1"))
    warehouse.start_import(_key("G1"), run_id=importing, actor="test", stuck_after=STUCK_AFTER)
    not_yet = _started_run(instance, _key("G2"))
    assert end_abandoned_import_runs(instance, warehouse, settle=SETTLE) == []
    assert {_status(instance, importing), _status(instance, not_yet)} == {dg.DagsterRunStatus.STARTED}


def test_a_run_whose_process_is_gone_is_ended_even_before_its_import_started(instance, warehouse):
    run_id = _started_run(instance, _key("G1"), **{RUN_TAG_PROCESS: _dead_process().as_text()})
    alive = _started_run(instance, _key("G2"), **{RUN_TAG_PROCESS: ClaimHolder.this_process().as_text()})
    assert end_abandoned_import_runs(instance, warehouse, settle=SETTLE) == [run_id]
    assert "(contoso-csp:G1 is without a current record)" in _failure_message(instance, run_id)
    assert _status(instance, alive) == dg.DagsterRunStatus.STARTED
