"""The daily sync in Dagster: the schedule that asks every automatic provider for its invoices, and the
sensor that turns each plan into dynamic partitions and one import run per eligible invoice."""

import dagster as dg
from pydantic import Field

from invoice_pipeline.composition import connector_for
from invoice_pipeline.config import DailySyncConfig
from invoice_pipeline.connectors.folder import FolderNotRead
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
NO_FOLDER_LEFT_UNREAD = "no_folder_left_unread"
SYNC_PLAN = "sync_plan"  # the offers' metadata entry holding the SyncPlan (`SyncPlan.as_json`)


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


def _folder_row(folder: FolderNotRead) -> dict[str, str]:
    """The folder as the check's row: its reason and its fix apart (a reason ends with "; <how to fix it>")."""
    reason, _, fix = folder.reason.rpartition("; ")
    return {"provider": folder.provider, "folder": folder.folder, "reason": reason or fix, "fix": fix if reason else ""}


def no_folder_left_unread(folders: list[FolderNotRead]) -> dg.AssetCheckResult:
    """The offers' WARN check: fails while a provider folder is never read, naming each folder and its fix."""
    if not folders:
        return dg.AssetCheckResult(
            check_name=NO_FOLDER_LEFT_UNREAD,
            passed=True,
            severity=dg.AssetCheckSeverity.WARN,
            description="Every provider folder is read: no folder is left unread",
            metadata={"folders_not_read_count": 0},
        )
    named = "; ".join(f"{folder.provider}: {folder.folder} ({folder.reason})" for folder in folders[:20])
    return dg.AssetCheckResult(
        check_name=NO_FOLDER_LEFT_UNREAD,
        passed=False,
        severity=dg.AssetCheckSeverity.WARN,
        description=shown(f"{len(folders)} provider folder(s) never read, so no invoice in them is imported: {named}"),
        metadata=shown_metadata(
            {
                "folders_not_read_count": len(folders),
                "folders_not_read": table_metadata(
                    [_folder_row(folder) for folder in folders[:100]], ["provider", "folder", "reason", "fix"]
                ),
            }
        ),
    )


@dg.asset(
    group_name=GROUP,
    kinds={"python"},
    owners=OWNERS,
    deps=[a.key for a in reference_assets],
    check_specs=[
        dg.AssetCheckSpec(
            NO_FOLDER_LEFT_UNREAD,
            asset=OFFERS_ASSET,
            description="Every folder of a folder provider is read: a folder whose name is not an invoice id (or a "
            "link outside the provider's folder) is never imported. Fails, as a warning, naming each folder, why "
            "and how to fix it; evaluated by every daily sync.",
        )
    ],
)
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
    `folders_not_read` and fail the `no_folder_left_unread` check (a warning)."""
    pipeline_config = invoice_pipeline.load_config()
    providers = [config.provider] if config.provider else None
    actor = config.requested_by or f"dagster run {context.run.run_id}"
    with invoice_pipeline.warehouse(pipeline_config) as warehouse:
        for run_id in end_abandoned_import_runs(context.instance, warehouse, settle=pipeline_config.claim_lapse):
            context.log.warning(f"import run {run_id} had stopped without ending; it is now shown as failed")
        log = OperationsLog(warehouse)
        plan = plan_sync(pipeline_config, warehouse, providers, connectors=connector_for, changes=log, actor=actor)
        mail_errors = notify_provider_changes(log, pipeline_config.notifications, smtp.settings())
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
    recorded = plan.as_json()
    return dg.MaterializeResult(
        metadata={
            "eligible": dg.MetadataValue.json([str(k) for k in plan.eligible]),
            "imports_launched_by": config.imports_launched_by,
            "offered_count": len(plan.candidates),
            "eligible_count": len(plan.eligible),
            "offers": table_metadata(recorded["offers"], ["invoice", "import", "reason"]),
            "provider_changes": table_metadata(
                [change.as_row() for change in changes],
                ["invoice", "imported_total", "provider_total", "currency", "lines_changed"],
            ),
            "provider_errors": dg.MetadataValue.json([shown(error) for error in plan.provider_errors]),
            "folders_not_read": table_metadata(recorded["folders_not_read"], ["provider", "folder", "reason"]),
            "notifications_not_sent": dg.MetadataValue.json([shown(error) for error in mail_errors]),
            SYNC_PLAN: dg.MetadataValue.json(recorded),  # the plan itself, read back by `invoice-pipeline sync`
        },
        check_results=[no_folder_left_unread(plan.folders_not_read)],
    )


daily_provider_sync_job = dg.define_asset_job(
    "daily_provider_sync",
    selection=dg.AssetSelection.assets(*reference_assets, provider_invoice_offers),
    description="Refresh reference data and decide which provider invoices to import today.",
)


def daily_sync_schedule(settings: DailySyncConfig) -> dg.ScheduleDefinition:
    """The daily sync at the configured cron and time zone (on by default)."""
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
