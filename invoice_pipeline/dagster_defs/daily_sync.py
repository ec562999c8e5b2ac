"""The daily sync in Dagster: the schedule that asks every automatic provider for its invoices, and the
sensor that turns each plan into dynamic partitions and one import run per eligible invoice."""

import dagster as dg

from invoice_pipeline.config import load_config
from invoice_pipeline.dagster_defs.jobs import import_provider_invoice_job
from invoice_pipeline.dagster_defs.mail import SmtpResource
from invoice_pipeline.dagster_defs.metadata import table_metadata
from invoice_pipeline.dagster_defs.partitions import provider_invoice_partitions
from invoice_pipeline.dagster_defs.reference_assets import reference_assets
from invoice_pipeline.dagster_defs.resources import InvoicePipelineResource
from invoice_pipeline.dagster_defs.run_tags import import_run_tags
from invoice_pipeline.domain.invoice_keys import InvoiceKey
from invoice_pipeline.importing.sync_plan import plan_sync
from invoice_pipeline.notifications.provider_changes import notify_provider_changes
from invoice_pipeline.warehouse.operations_log import OperationsLog

GROUP = "daily_operations"
OWNERS = ["team:billing-data"]
OFFERS_ASSET = dg.AssetKey("provider_invoice_offers")


@dg.asset(group_name=GROUP, kinds={"python"}, owners=OWNERS, deps=[a.key for a in reference_assets])
def provider_invoice_offers(
    context: dg.AssetExecutionContext, invoice_pipeline: InvoicePipelineResource, smtp: SmtpResource
) -> dg.MaterializeResult:
    """The invoices every automatic provider offers today, and which to import: new ones, those in Error
    (the next-day retry) and those stuck in Populating. Active invoices whose provider total changed are
    recorded in their history and notified by email at once; the imported invoice is never touched."""
    config = invoice_pipeline.load_config()
    with invoice_pipeline.warehouse(config) as warehouse:
        plan = plan_sync(config, warehouse, actor=f"dagster run {context.run.run_id}")
        mail_errors = notify_provider_changes(OperationsLog(warehouse), config.notifications, smtp.settings())
    for change in plan.new_changes:
        context.log_event(
            dg.AssetObservation(
                asset_key="provider_invoice",
                partition=f"{change['provider']}:{change['invoice_id']}",
                metadata={
                    "provider_change": "the provider's total differs from the imported invoice",
                    "imported_total": f"{change['old_total'].normalize():f}",
                    "provider_total": f"{change['new_total'].normalize():f}",
                    "currency": change["currency"] or "",
                },
            )
        )
    for error in plan.provider_errors + mail_errors:
        context.log.warning(error)
    return dg.MaterializeResult(
        metadata={
            "eligible": dg.MetadataValue.json([str(k) for k in plan.eligible]),
            "offered_count": len(plan.candidates),
            "eligible_count": len(plan.eligible),
            "offers": table_metadata(
                [{"invoice": str(c.key), "import": c.eligible, "reason": c.reason} for c in plan.candidates]
            ),
            "provider_changes": len(plan.new_changes),
            "problems": dg.MetadataValue.json(plan.provider_errors + mail_errors),
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
    if not records or records[0].asset_materialization is None:
        return dg.SkipReason("the daily sync has not decided what to import yet")
    latest = records[0]
    if context.cursor == str(latest.storage_id):
        return dg.SkipReason("no new daily sync plan")
    keys = list(latest.asset_materialization.metadata["eligible"].value)  # type: ignore[arg-type]
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
