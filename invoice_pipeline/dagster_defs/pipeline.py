"""The pipeline's Dagster definitions built for one configuration: the code location's (`definitions.py`), and
those of the runs a CLI command executes in its own process, with the command's resources. Built from the
configuration already loaded (the monthly partitions' first month too): importing the definitions reads none."""

from collections.abc import Mapping
from datetime import UTC, datetime

import dagster as dg

from invoice_pipeline.config import PipelineConfig, configured_path
from invoice_pipeline.dagster_defs.billing_assets import (
    bill_customers_job,
    billable_consumption,
    billing_periods,
    customer_invoices_asset,
    first_billing_period,
    issue_customer_invoices,
)
from invoice_pipeline.dagster_defs.daily_operations import (
    daily_import_summary,
    daily_summary_sensor,
    import_run_crash_sensor,
    send_daily_summary_job,
)
from invoice_pipeline.dagster_defs.daily_sync import (
    daily_provider_sync_job,
    daily_sync_schedule,
    provider_invoice_offers,
    provider_invoice_sync_sensor,
)
from invoice_pipeline.dagster_defs.invoice_assets import provider_invoice_import, written_by_the_import
from invoice_pipeline.dagster_defs.jobs import import_provider_invoice_job, refresh_reference_data_job
from invoice_pipeline.dagster_defs.operations import operation_jobs
from invoice_pipeline.dagster_defs.reconciliation_assets import (
    daily_reconciliation_schedule,
    period_reconciliation_asset,
    reconcile_period_job,
)
from invoice_pipeline.dagster_defs.reference_assets import reference_assets


def pipeline_definitions(config: PipelineConfig, resources: Mapping[str, object]) -> dg.Definitions:
    """Every asset, job, schedule and sensor, the daily sync scheduled at `config`'s cron and time zone and the
    monthly partitions starting at `config`'s first billing period, with `resources` ("invoice_pipeline" and "smtp").
    `config` is the one `load_config()` reads ($INVOICE_PIPELINE_CONFIG, else the bundled demo): the partitions'
    reason names that file."""
    first, reason = first_billing_period(datetime.now(UTC).date(), config, configured_path())
    months = billing_periods(first)
    return dg.Definitions(
        assets=[
            *reference_assets,
            provider_invoice_import,
            *written_by_the_import,
            provider_invoice_offers,
            daily_import_summary,
            billable_consumption,
            customer_invoices_asset(months),
            period_reconciliation_asset(months, reason),
        ],
        jobs=[
            import_provider_invoice_job,
            refresh_reference_data_job,
            daily_provider_sync_job,
            send_daily_summary_job,
            *operation_jobs,
            bill_customers_job,
            issue_customer_invoices,
            reconcile_period_job,
        ],
        schedules=[daily_sync_schedule(config.daily_sync), daily_reconciliation_schedule(months)],
        sensors=[provider_invoice_sync_sensor, import_run_crash_sensor, daily_summary_sensor],
        resources=dict(resources),
        # Every run's steps in its run's own process: the warehouse takes one writer at a time, so steps in processes
        # of their own (Dagster's default) would only wait for each other, each after loading Dagster and these
        # definitions anew (a one-step import run was two processes, the daily sync six).
        executor=dg.in_process_executor,
    )
