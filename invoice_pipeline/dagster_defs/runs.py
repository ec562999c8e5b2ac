"""Launching the pipeline's jobs in this process, recorded in the Dagster instance (the CLI's run path)."""

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import dagster as dg

from invoice_pipeline.dagster_defs.dagster_private import SerializableErrorInfo
from invoice_pipeline.dagster_defs.daily_sync import OFFERS_ASSET, SYNC_PLAN, daily_provider_sync_job
from invoice_pipeline.dagster_defs.invoice_state import OutcomeFailure, add_invoice_partitions, root_cause
from invoice_pipeline.dagster_defs.jobs import IMPORT_JOB, REFERENCE_JOB
from invoice_pipeline.dagster_defs.partitions import provider_invoice_partitions
from invoice_pipeline.dagster_defs.run_tags import REFUSED, RUN_TAG_OUTCOME, RUN_TAG_PROCESS, import_run_tags
from invoice_pipeline.domain.invoice_keys import InvoiceKey
from invoice_pipeline.importing.sync_plan import SyncPlan
from invoice_pipeline.warehouse.import_claims import ClaimHolder

# The CLI prints its own one-line outcomes; the run's full log stays in the instance for the UI.
QUIET_RUN_CONFIG = {"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}}


@dataclass(frozen=True)
class RunOutcome:
    """How a Dagster run ended: `broken` only when the pipeline itself failed, not when validation did."""

    run_id: str
    success: bool
    broken: bool
    error: str | None = None
    refused: bool = False


def _describe(error: SerializableErrorInfo) -> str:
    """The error's root cause in one line, e.g. `OSError: disk full`, or an outcome's own sentence."""
    root = root_cause(error)
    name = root.cls_name or "Error"
    lines = root.message.strip().splitlines()
    text = lines[0] if lines else name
    if OutcomeFailure.of(root) is not None:
        return text
    # Display only: Dagster writes a raised exception's message as Python does (`OSError: disk full`), and
    # a PlainError's as its sentence alone; the class is named once either way.
    return text if text.startswith(f"{name}:") else f"{name}: {text}"


def classify_failure(run_id: str, step_failures: Sequence[dg.DagsterEvent]) -> RunOutcome:
    """A failed run's outcome: an invoice in Error is normal, a refusal is a refusal, the rest broke.

    Decided on each error's OutcomeFailure (its class), never on its message.
    """
    errors = [e.step_failure_data.error for e in step_failures if e.step_failure_data.error is not None]
    problems = [e for e in errors if OutcomeFailure.of(e) is not OutcomeFailure.INVOICE_IN_ERROR]
    refused = bool(problems) and all(OutcomeFailure.of(e) is OutcomeFailure.IMPORT_REFUSED for e in problems)
    broken = (bool(problems) or not errors) and not refused
    message = _describe(problems[0]) if problems else None
    return RunOutcome(run_id, False, broken, message, refused)


def _outcome(result: dg.ExecuteInProcessResult, instance: dg.DagsterInstance | None = None) -> RunOutcome:
    if result.success:
        if instance is not None and refused_run(instance, result.run_id):
            return RunOutcome(result.run_id, False, False, _refusal(instance, result.run_id), refused=True)
        return RunOutcome(result.run_id, True, False)
    return classify_failure(result.run_id, [event for event in result.all_events if event.is_step_failure])


def refused_run(instance: dg.DagsterInstance, run_id: str) -> bool:
    """Whether the run was an import that refused and wrote nothing (a green run: see `invoice_assets._refuse`)."""
    run = instance.get_run_by_id(run_id)
    return run is not None and run.tags.get(RUN_TAG_OUTCOME) == REFUSED


def _refusal(instance: dg.DagsterInstance, run_id: str) -> str:
    """The sentence a refused run logged, as the CLI prints it."""
    errors = [entry.user_message for entry in instance.all_logs(run_id) if entry.level == logging.ERROR]
    return errors[-1] if errors else "Import refused"


def run_invoice_import(
    defs: dg.Definitions, instance: dg.DagsterInstance, key: InvoiceKey, options: dict[str, object] | None = None
) -> RunOutcome:
    """Run the import job for one provider invoice partition, in this process.

    `options` is the import's config (ProviderInvoiceImportConfig), e.g. a checksum override. A refused import of
    an invoice that had no partition leaves none behind (a mistyped invoice id does not join the partitions).
    """
    added = add_invoice_partitions(instance, [key])
    job = defs.resolve_job_def(IMPORT_JOB)
    run_config: dict[str, object] = dict(QUIET_RUN_CONFIG)
    if options:
        run_config["ops"] = {"provider_invoice_import": {"config": options}}
    result = job.execute_in_process(
        instance=instance,
        partition_key=str(key),
        tags={**import_run_tags(key), RUN_TAG_PROCESS: ClaimHolder.this_process().as_text()},
        run_config=run_config,
        raise_on_error=False,
    )
    outcome = _outcome(result, instance)
    if outcome.refused and added:
        name = provider_invoice_partitions.name
        assert name is not None
        instance.delete_dynamic_partition(name, str(key))
    return outcome


def run_reference_refresh(defs: dg.Definitions, instance: dg.DagsterInstance) -> RunOutcome:
    """Run the reference data job in this process."""
    result = defs.resolve_job_def(REFERENCE_JOB).execute_in_process(
        instance=instance, run_config=QUIET_RUN_CONFIG, raise_on_error=False
    )
    return _outcome(result)


@dataclass(frozen=True)
class DailySyncRun:
    """A daily sync run: how it ended, the plan it recorded (empty when it failed before deciding), and the
    notifications of provider changes it could not send (retried by the next sync)."""

    outcome: RunOutcome
    plan: SyncPlan
    notifications_not_sent: list[str]


def run_daily_sync(
    defs: dg.Definitions, instance: dg.DagsterInstance, *, provider: str | None, requested_by: str
) -> DailySyncRun:
    """Run the daily sync job (reference data, then the offers) in this process, as the schedule would.

    Its imports are left to the caller: the plan says so, and the sync sensor leaves it alone.
    """
    offers_config = {"provider": provider or "", "requested_by": requested_by, "imports_launched_by": "the CLI"}
    result = defs.resolve_job_def(daily_provider_sync_job.name).execute_in_process(
        instance=instance,
        run_config={**QUIET_RUN_CONFIG, "ops": {"provider_invoice_offers": {"config": offers_config}}},
        raise_on_error=False,
    )
    metadata: dict[str, Any] = {}
    for event in result.get_asset_materialization_events():
        materialization = event.step_materialization_data.materialization
        if materialization.asset_key == OFFERS_ASSET:
            metadata = {name: value.value for name, value in materialization.metadata.items()}
    return DailySyncRun(
        outcome=_outcome(result),
        plan=SyncPlan.from_json(metadata[SYNC_PLAN]) if metadata else SyncPlan(),
        notifications_not_sent=list(metadata.get("notifications_not_sent", [])),
    )
