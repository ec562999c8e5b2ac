"""Import runs whose process died: Dagster would show them in progress for ever, so they are ended as failed.

A run executed in a process that was killed (the CLI's runs execute in its own process) never reports its
end. Its invoice's import claim tells what happened: once the warehouse recorded the import as stopped, or
the run's import ended long enough ago, the run is over whatever Dagster still shows.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import dagster as dg

from invoice_pipeline.dagster_defs.jobs import IMPORT_JOB
from invoice_pipeline.dagster_defs.run_tags import RUN_TAG_KEY, RUN_TAG_PROCESS
from invoice_pipeline.domain.invoice_keys import InvoiceKey
from invoice_pipeline.domain.statuses import Status
from invoice_pipeline.warehouse.import_claims import ClaimHolder
from invoice_pipeline.warehouse.invoice_records import InvoiceRecord
from invoice_pipeline.warehouse.warehouse import Warehouse

IN_PROGRESS = [dg.DagsterRunStatus.STARTING, dg.DagsterRunStatus.STARTED]


def end_abandoned_import_runs(instance: dg.DagsterInstance, warehouse: Warehouse, *, settle: timedelta) -> list[str]:
    """Report as failed every import run Dagster shows in progress that is over: its process (a CLI run names
    it) is gone, or its import was recorded as stopped (its claim lapsed) or taken over, or ended more than
    `settle` ago. Returns their run ids."""
    ended = []
    now = datetime.now(UTC)
    for run in instance.get_runs(filters=dg.RunsFilter(job_name=IMPORT_JOB, statuses=IN_PROGRESS)):
        invoice = run.tags.get(RUN_TAG_KEY)
        if not invoice:
            continue
        key = InvoiceKey.parse(invoice)
        current = warehouse.current_record(key)
        if not (_process_gone(run) or _import_over(warehouse, run, key, current, settle, now)):
            continue
        status = f"{current.status}: {current.message}" if current is not None else "without a current record"
        instance.report_run_failed(
            run,
            message=(
                f"Run ended as failed by invoice-pipeline: its process stopped without ending the run; "
                f"the import of {key} it ran is over ({key} is {status})"
            ),
        )
        ended.append(run.run_id)
    return ended


def _process_gone(run: dg.DagsterRun) -> bool:
    """Whether the run executed in a process of this machine that no longer runs (a CLI run names it)."""
    holder = ClaimHolder.from_text(run.tags.get(RUN_TAG_PROCESS, ""))
    return holder is not None and holder.is_gone()


def _import_over(
    warehouse: Warehouse,
    run: dg.DagsterRun,
    key: InvoiceKey,
    current: InvoiceRecord | None,
    settle: timedelta,
    now: datetime,
) -> bool:
    """Whether the run's import is over: recorded as stopped, taken over, or ended more than `settle` ago."""
    entries = [entry for entry in warehouse.history(key) if entry.run_id == run.run_id]
    if not entries:
        return False  # its import has not started: nothing here tells whether the run still lives
    if current is not None and current.run_id == run.run_id and current.status == Status.POPULATING:
        return current.claim_lapsed(now)
    return entries[-1].to_status == Status.POPULATING or now - entries[-1].changed_at >= settle
