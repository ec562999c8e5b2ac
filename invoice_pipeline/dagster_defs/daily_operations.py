"""Daily operations in Dagster: the crashed-run recorder and the daily summary email."""

from datetime import UTC, datetime

import dagster as dg
from pydantic import Field

from invoice_pipeline.dagster_defs.errors import PlainError
from invoice_pipeline.dagster_defs.jobs import import_provider_invoice_job
from invoice_pipeline.dagster_defs.mail import SmtpResource
from invoice_pipeline.dagster_defs.resources import InvoicePipelineResource
from invoice_pipeline.dagster_defs.run_tags import RUN_TAG_INVOICE, RUN_TAG_PROVIDER
from invoice_pipeline.dagster_defs.runs import classify_failure
from invoice_pipeline.domain.invoice_keys import InvalidInvoiceKey, InvoiceKey
from invoice_pipeline.notifications.mail import NO_RELAY, MailError
from invoice_pipeline.notifications.summary import SummaryNotDue, deliver_daily_summary, next_summary_attempt
from invoice_pipeline.warehouse.operations_log import OperationsLog

GROUP = "daily_operations"
OWNERS = ["team:billing-data"]
SUMMARY_TAG = "invoice_pipeline/summary_day"
SUMMARY_NOT_DUE = SummaryNotDue.__name__  # a refusal is an outcome: the run log shows its sentence, no stack trace
SUMMARY_NOT_SENT = "SummaryNotSent"


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
    Populating or changed at the provider, and the provider folders never read. Sent once per day, once the
    day's summary time has passed (an earlier run is refused, sending and recording nothing); a failed send is
    recorded and fails this run, and the sensor retries it after notifications.retry_failed_summary_minutes."""
    pipeline_config = invoice_pipeline.load_config()
    day = datetime.strptime(config.day, "%Y-%m-%d").date()
    with invoice_pipeline.warehouse(pipeline_config) as warehouse:
        try:
            delivery = deliver_daily_summary(warehouse, pipeline_config, smtp.settings(), day, utc_now())
        except SummaryNotDue as refusal:
            raise PlainError(SUMMARY_NOT_DUE, str(refusal)) from None
        except MailError as error:  # recorded; the sensor tries again later: a fault met, said in one line
            raise PlainError(SUMMARY_NOT_SENT, f"summary for {day} not sent: {error}") from None
    metadata: dict[str, dg.MetadataValue] = {
        "day": dg.MetadataValue.text(delivery.day),
        "sent": dg.MetadataValue.bool(delivery.sent),
        "outcome": dg.MetadataValue.text(delivery.reason),
    }
    if delivery.mail:
        part, body = delivery.mail.first_part
        metadata |= {"subject": dg.MetadataValue.text(delivery.mail.subject), part: dg.MetadataValue.text(body)}
    return dg.MaterializeResult(metadata=metadata)


send_daily_summary_job = dg.define_asset_job(
    "send_daily_summary",
    selection=dg.AssetSelection.assets(daily_import_summary),
    description="Send one day's import summary (launch with config day: YYYY-MM-DD to preview or resend).",
)


def utc_now() -> datetime:
    """The summary sensor's clock (tests move it rather than sleep)."""
    return datetime.now(UTC)


@dg.sensor(job=send_daily_summary_job, minimum_interval_seconds=300, default_status=dg.DefaultSensorStatus.RUNNING)
def daily_summary_sensor(
    context: dg.SensorEvaluationContext, invoice_pipeline: InvoicePipelineResource, smtp: SmtpResource
) -> dg.RunRequest | dg.SkipReason:
    """Once the summary time has passed, requests the day's summary run until it has been sent (one per day).

    Skips without a configured relay (saying how to configure one), and after a failed send until
    notifications.retry_failed_summary_minutes have passed (saying when, and the last error).
    """
    if not smtp.settings().configured:
        return dg.SkipReason(NO_RELAY)
    config = invoice_pipeline.load_config()
    with invoice_pipeline.warehouse(config) as warehouse:
        attempt = next_summary_attempt(warehouse, config, utc_now())
    if not attempt.due:
        return dg.SkipReason(attempt.reason)
    if attempt.attempts:
        context.log.warning(attempt.reason)
    day = attempt.day.isoformat()
    return dg.RunRequest(
        run_key=f"daily-summary:{day}:{attempt.attempts}",
        run_config=dg.RunConfig(ops={"daily_import_summary": DailySummaryConfig(day=day)}),
        tags={SUMMARY_TAG: day, "invoice_pipeline/attempt": str(attempt.attempts + 1)},
    )
