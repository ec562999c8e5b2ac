"""The daily sync in Dagster: the schedule that asks every automatic provider for its invoices, and the
sensor that turns each plan into dynamic partitions and one import run per eligible invoice."""

import dagster as dg
from pydantic import Field

from invoice_pipeline.config import load_config
from invoice_pipeline.dagster_defs.abandoned_runs import end_abandoned_import_runs
from invoice_pipeline.dagster_defs.jobs import import_provider_invoice_job
from invoice_pipeline.dagster_defs.mail import SmtpResource
from invoice_pipeline.dagster_defs.metadata import shown_metadata, table_metadata
from invoice_pipeline.dagster_defs.partitions import provider_invoice_partitions
from invoice_pipeline.dagster_defs.reference_assets import reference_assets
from invoice_pipeline.dagster_defs.resources import InvoicePipelineResource
from invoice_pipeline.dagster_defs.run_tags import import_run_tags
from invoice_pipeline.domain.display import shown
from invoice_pipeline.domain.invoice_keys import InvoiceKey
from invoice_pipeline.importing.sync_plan import plan_sync
from invoice_pipeline.notifications.provider_changes import ProviderChange, notify_provider_changes
from invoice_pipeline.warehouse.operations_log import OperationsLog

GROUP = "daily_operations"
OWNERS = ["team:billing-data"]
OFFERS_ASSET = dg.AssetKey("provider_invoice_offers")


LAUNCHED_BY_SENSOR = "provider_invoice_sync_sensor"


class ProviderInvoiceOffersConfig(dg.Config):
    """Which providers to ask, and who launches the imports of the plan (leave the defaults in the UI)."""

    provider: str = Field(default="", description="Only this automatic provider; empty: every automatic provider.")
    requested_by: str = Field(default="", description="Who asks for this sync (kept in the invoices' history).")
    imports_launched_by: str = Field(
        default=LAUNCHED_BY_SENSOR,
        description="Who imports the eligible invoices: the sync sensor, or the command line that ran this sync "
        "(`invoice-pipeline sync` runs them itself, so the sensor leaves its plans alone).",
    )


@dg.asset(group_name=GROUP, kinds={"python"}, owners=OWNERS, deps=[a.key for a in reference_assets])
def provider_invoice_offers(
    context: dg.AssetExecutionContext,
    config: ProviderInvoiceOffersConfig,
    invoice_pipeline: InvoicePipelineResource,
    smtp: SmtpResource,
) -> dg.MaterializeResult:
    """The invoices every automatic provider offers today, and which to import: new ones, those in Error
    (the next-day retry) and those whose import stopped without finishing (recorded as Error first; their
    runs, if Dagster still shows them in progress, are ended as failed). Active invoices whose provider total
    changed are recorded in their history and notified by email at once; the imported invoice is never
    touched. Provider folders that are never read (a name that is not an invoice id) are listed in
    `folders_not_read`."""
    pipeline_config = invoice_pipeline.load_config()
    providers = [config.provider] if config.provider else None
    actor = config.requested_by or f"dagster run {context.run.run_id}"
    with invoice_pipeline.warehouse(pipeline_config) as warehouse:
        for run_id in end_abandoned_import_runs(context.instance, warehouse, settle=pipeline_config.claim_lapse):
            context.log.warning(f"import run {run_id} had stopped without ending; it is now shown as failed")
        plan = plan_sync(pipeline_config, warehouse, providers, actor=actor)
        mail_errors = notify_provider_changes(OperationsLog(warehouse), pipeline_config.notifications, smtp.settings())
    changes = [ProviderChange.from_log(change) for change in plan.new_changes]
    for change in changes:
        figures = {name: value for name, value in change.as_row().items() if name != "invoice"}
        context.log.info(f"{change.invoice}: changed at provider, {change.text()}")
        context.log_event(
            dg.AssetObservation(
                asset_key="provider_invoice",
                partition=change.invoice,
                metadata=shown_metadata(
                    {"provider_change": "the provider's total differs from the imported invoice", **figures}
                ),
            )
        )
    for error in plan.provider_errors + mail_errors:
        context.log.warning(error)
    for folder in plan.folders_not_read:
        context.log.warning(f"{folder.provider}: folder {folder.folder} not read: {folder.reason}")
    return dg.MaterializeResult(
        metadata={
            "eligible": dg.MetadataValue.json([str(k) for k in plan.eligible]),
            "imports_launched_by": config.imports_launched_by,
            "offered_count": len(plan.candidates),
            "eligible_count": len(plan.eligible),
            "offers": table_metadata(
                [{"invoice": str(c.key), "import": c.eligible, "reason": c.reason} for c in plan.candidates],
                ["invoice", "import", "reason"],
            ),
            "provider_changes": table_metadata(
                [change.as_row() for change in changes],
                ["invoice", "imported_total", "provider_total", "currency", "lines_changed"],
            ),
            "provider_errors": dg.MetadataValue.json([shown(error) for error in plan.provider_errors]),
            "folders_not_read": table_metadata(
                [folder.as_row() for folder in plan.folders_not_read], ["provider", "folder", "reason"]
            ),
            "notifications_not_sent": dg.MetadataValue.json([shown(error) for error in mail_errors]),
        }
    )


daily_provider_sync_job = dg.define_asset_job(
    "daily_provider_sync",
    selection=dg.AssetSelection.assets(*reference_assets, provider_invoice_offers),
    description="Refresh reference data and decide which provider invoices to import today.",
)


def daily_sync_schedule() -> dg.ScheduleDefinition:
    """The daily sync at the configured cron and time zone (on by default)."""
    settings = load_config().daily_sync
    return dg.ScheduleDefinition(
        name="daily_provider_invoice_sync",
        job=daily_provider_sync_job,
        cron_schedule=settings.cron,
        execution_timezone=settings.timezone,
        default_status=dg.DefaultScheduleStatus.RUNNING,
        description="Asks every automatic provider for its invoices; the sync sensor then imports the eligible ones.",
    )


@dg.sensor(job=import_provider_invoice_job, minimum_interval_seconds=30, default_status=dg.DefaultSensorStatus.RUNNING)
def provider_invoice_sync_sensor(context: dg.SensorEvaluationContext) -> dg.SensorResult | dg.SkipReason:
    """Turns each new plan of the daily sync into dynamic partitions and one import run per eligible invoice."""
    records = context.instance.fetch_materializations(dg.AssetRecordsFilter(asset_key=OFFERS_ASSET), limit=1).records
    plan = records[0].asset_materialization if records else None
    if plan is None:
        return dg.SkipReason("the daily sync has not decided what to import yet")
    latest = records[0]
    if context.cursor == str(latest.storage_id):
        return dg.SkipReason("no new daily sync plan")
    launched_by = plan.metadata.get("imports_launched_by")
    if launched_by is not None and launched_by.value != LAUNCHED_BY_SENSOR:
        return dg.SensorResult(
            skip_reason=f"the latest plan's imports were run by {launched_by.value}", cursor=str(latest.storage_id)
        )
    eligible = plan.metadata["eligible"]
    assert isinstance(eligible, dg.JsonMetadataValue) and isinstance(eligible.value, list)  # written as a JSON list
    keys = [str(key) for key in eligible.value]
    name = provider_invoice_partitions.name
    assert name is not None
    known = set(context.instance.get_dynamic_partitions(name))
    new = [k for k in keys if k not in known]
    return dg.SensorResult(
        run_requests=[
            dg.RunRequest(
                partition_key=k, run_key=f"{latest.storage_id}:{k}", tags=import_run_tags(InvoiceKey.parse(k))
            )
            for k in keys
        ],
        dynamic_partitions_requests=[provider_invoice_partitions.build_add_request(new)] if new else [],
        cursor=str(latest.storage_id),
    )
