"""Launching the pipeline's jobs in this process, recorded in the Dagster instance (the CLI's run path)."""

from dataclasses import dataclass

import dagster as dg

from invoice_pipeline.dagster_defs.invoice_assets import RUN_TAG_INVOICE, RUN_TAG_KEY, RUN_TAG_PROVIDER
from invoice_pipeline.dagster_defs.jobs import IMPORT_JOB, REFERENCE_JOB
from invoice_pipeline.dagster_defs.partitions import provider_invoice_partitions
from invoice_pipeline.domain.invoice_keys import InvoiceKey

VALIDATION_FAILURE = "DagsterAssetCheckFailedError"
# The CLI prints its own one-line outcomes; the run's full log stays in the instance for the UI.
QUIET_RUN_CONFIG = {"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}}


@dataclass(frozen=True)
class RunOutcome:
    """How a Dagster run ended: `broken` only when the pipeline itself failed, not when validation did."""

    run_id: str
    success: bool
    broken: bool
    error: str | None = None


def import_run_tags(key: InvoiceKey) -> dict[str, str]:
    """Run tags that let the UI filter import runs by provider and invoice (and limit concurrency per invoice)."""
    return {RUN_TAG_PROVIDER: key.provider, RUN_TAG_INVOICE: key.invoice_id, RUN_TAG_KEY: str(key)}


def ensure_partitions(instance: dg.DagsterInstance, keys: list[InvoiceKey]) -> None:
    """Register provider invoices as dynamic partitions (those not registered yet)."""
    name = provider_invoice_partitions.name
    assert name is not None
    known = set(instance.get_dynamic_partitions(name))
    new = [str(k) for k in keys if str(k) not in known]
    if new:
        instance.add_dynamic_partitions(name, new)


def _outcome(result: dg.ExecuteInProcessResult) -> RunOutcome:
    if result.success:
        return RunOutcome(result.run_id, True, False)
    errors = [
        event.step_failure_data.error
        for event in result.all_events
        if event.is_step_failure and event.step_failure_data.error is not None
    ]
    broken = any(error.cls_name != VALIDATION_FAILURE for error in errors) or not errors
    message = next((e.message.strip() for e in errors if e.cls_name != VALIDATION_FAILURE), None)
    return RunOutcome(result.run_id, False, broken, message)


def run_invoice_import(defs: dg.Definitions, instance: dg.DagsterInstance, key: InvoiceKey) -> RunOutcome:
    """Run the import job for one provider invoice partition, in this process."""
    ensure_partitions(instance, [key])
    job = defs.resolve_job_def(IMPORT_JOB)
    result = job.execute_in_process(
        instance=instance,
        partition_key=str(key),
        tags=import_run_tags(key),
        run_config=QUIET_RUN_CONFIG,
        raise_on_error=False,
    )
    return _outcome(result)


def run_reference_refresh(defs: dg.Definitions, instance: dg.DagsterInstance) -> RunOutcome:
    """Run the reference data job in this process."""
    result = defs.resolve_job_def(REFERENCE_JOB).execute_in_process(
        instance=instance, run_config=QUIET_RUN_CONFIG, raise_on_error=False
    )
    return _outcome(result)
