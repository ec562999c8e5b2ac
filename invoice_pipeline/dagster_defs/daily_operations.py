"""Daily operations in Dagster: the daily sync schedule, the sensor that turns its plan into runs,
the crashed-run recorder, and the daily summary email."""

import os
from datetime import UTC, datetime

import dagster as dg
from pydantic import Field

from invoice_pipeline.config import load_config
from invoice_pipeline.dagster_defs.invoice_assets import RUN_TAG_INVOICE, RUN_TAG_PROVIDER
from invoice_pipeline.dagster_defs.jobs import import_provider_invoice_job
from invoice_pipeline.dagster_defs.metadata import table_metadata
from invoice_pipeline.dagster_defs.partitions import provider_invoice_partitions
from invoice_pipeline.dagster_defs.reference_assets import reference_assets
from invoice_pipeline.dagster_defs.resources import InvoicePipelineResource
from invoice_pipeline.dagster_defs.runs import classify_failure, import_run_tags
from invoice_pipeline.domain.invoice_keys import InvalidInvoiceKey, InvoiceKey
from invoice_pipeline.importing.sync_plan import plan_sync
from invoice_pipeline.notifications.mail import SMTP_ENV_VARS, SmtpSettings
from invoice_pipeline.notifications.provider_changes import notify_provider_changes
from invoice_pipeline.notifications.summary import DONE_STATUSES, deliver_daily_summary, due_summary_day
from invoice_pipeline.warehouse.operations_log import OperationsLog

GROUP = "daily_operations"
OWNERS = ["team:billing-data"]
OFFERS_ASSET = dg.AssetKey("provider_invoice_offers")
SUMMARY_TAG = "invoice_pipeline/summary_day"


class SmtpResource(dg.ConfigurableResource):
    """The SMTP relay for notifications; every value comes from INVOICE_PIPELINE_SMTP_* variables."""

    host: str = Field(default="localhost", description="INVOICE_PIPELINE_SMTP_HOST")
    port: int = Field(default=25, description="INVOICE_PIPELINE_SMTP_PORT")
    tls_mode: str = Field(default="none", description="INVOICE_PIPELINE_SMTP_TLS: none, starttls or ssl")
    user: str | None = Field(default=None, description="INVOICE_PIPELINE_SMTP_USER (optional)")
    password: str | None = Field(default=None, description="INVOICE_PIPELINE_SMTP_PASSWORD (optional)")

    def settings(self) -> SmtpSettings:
        """The relay settings for the mail rules."""
        tls_mode = self.tls_mode.lower()
        if tls_mode not in ("none", "starttls", "ssl"):
            raise dg.Failure(f"INVOICE_PIPELINE_SMTP_TLS must be none, starttls or ssl, not {self.tls_mode!r}")
        return SmtpSettings(self.host, self.port, tls_mode, self.user or None, self.password or None)  # type: ignore[arg-type]


def smtp_resource() -> SmtpResource:
    """The SMTP resource with an EnvVar for each INVOICE_PIPELINE_SMTP_* variable that is set."""
    values: dict[str, object] = {}
    for field, variable in SMTP_ENV_VARS.items():
        if os.environ.get(variable):
            values[field] = dg.EnvVar.int(variable) if field == "port" else dg.EnvVar(variable)
    return SmtpResource(**values)


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


@dg.run_failure_sensor(monitored_jobs=[import_provider_invoice_job], default_status=dg.DefaultSensorStatus.RUNNING)
def import_run_crash_sensor(context: dg.RunFailureSensorContext, invoice_pipeline: InvoicePipelineResource) -> None:
    """Records import runs that crashed (not validation Errors or refusals) so the daily summary lists them."""
    outcome = classify_failure(context.dagster_run.run_id, context.get_step_failure_events())
    if not outcome.broken:
        return
    tags = context.dagster_run.tags
    try:
        if RUN_TAG_PROVIDER in tags:
            key: InvoiceKey | None = InvoiceKey(tags[RUN_TAG_PROVIDER], tags[RUN_TAG_INVOICE])
        else:  # launched from the UI by materializing a partition: only Dagster's partition tag
            key = InvoiceKey.parse(tags["dagster/partition"])
    except (KeyError, InvalidInvoiceKey):
        key = None
    with invoice_pipeline.warehouse() as warehouse:
        error = outcome.error or context.failure_event.message or "run failed"
        OperationsLog(warehouse).record_run_failure(context.dagster_run.run_id, key, error)


class DailySummaryConfig(dg.Config):
    """Which day's summary to send."""

    day: str = Field(description="YYYY-MM-DD: the summary covers the 24 hours ending at summary_time that day.")


@dg.asset(group_name=GROUP, kinds={"email"}, owners=OWNERS)
def daily_import_summary(
    context: dg.AssetExecutionContext,
    config: DailySummaryConfig,
    invoice_pipeline: InvoicePipelineResource,
    smtp: SmtpResource,
) -> dg.MaterializeResult:
    """The daily summary email: which provider invoices succeeded, failed (with their message), are still
    Populating or changed at the provider. Sent once per day; a failed send fails this run and is retried."""
    pipeline_config = invoice_pipeline.load_config()
    with invoice_pipeline.warehouse(pipeline_config) as warehouse:
        delivery = deliver_daily_summary(
            warehouse, pipeline_config, smtp.settings(), datetime.strptime(config.day, "%Y-%m-%d").date()
        )
    metadata: dict[str, object] = {"day": delivery.day, "sent": delivery.sent, "outcome": delivery.reason}
    if delivery.mail:
        metadata |= {"subject": delivery.mail.subject, "text": dg.MetadataValue.text(delivery.mail.text)}
    return dg.MaterializeResult(metadata=metadata)


send_daily_summary_job = dg.define_asset_job(
    "send_daily_summary",
    selection=dg.AssetSelection.assets(daily_import_summary),
    description="Send one day's import summary (launch with config day: YYYY-MM-DD to preview or resend).",
)


@dg.sensor(job=send_daily_summary_job, minimum_interval_seconds=300, default_status=dg.DefaultSensorStatus.RUNNING)
def daily_summary_sensor(
    context: dg.SensorEvaluationContext, invoice_pipeline: InvoicePipelineResource
) -> dg.RunRequest | dg.SkipReason:
    """Once the summary time has passed, requests the day's summary run until it has been sent (one per day)."""
    config = invoice_pipeline.load_config()
    day = due_summary_day(datetime.now(UTC), config.notifications.summary_time, config.daily_sync.timezone)
    with invoice_pipeline.warehouse(config) as warehouse:
        delivery = OperationsLog(warehouse).delivery(day.isoformat())
    if delivery and delivery["status"] in DONE_STATUSES:
        return dg.SkipReason(f"the summary for {day} was already {delivery['status']}")
    attempt = delivery["attempts"] if delivery else 0
    if delivery:
        context.log.warning(f"summary for {day} not sent yet: {delivery['last_error']}; trying again")
    return dg.RunRequest(
        run_key=f"daily-summary:{day}:{attempt}",
        run_config=dg.RunConfig(ops={"daily_import_summary": DailySummaryConfig(day=day.isoformat())}),
        tags={SUMMARY_TAG: day.isoformat(), "invoice_pipeline/attempt": str(attempt + 1)},
    )
