"""The Dagster definitions of invoice-pipeline, loaded by `workspace.yaml`."""

import dagster as dg

from invoice_pipeline.dagster_defs.invoice_assets import billable_usage, provider_invoice_import
from invoice_pipeline.dagster_defs.jobs import import_provider_invoice_job, refresh_reference_data_job
from invoice_pipeline.dagster_defs.reference_assets import reference_assets
from invoice_pipeline.dagster_defs.resources import pipeline_resource

defs = dg.Definitions(
    assets=[*reference_assets, provider_invoice_import, billable_usage],
    jobs=[import_provider_invoice_job, refresh_reference_data_job],
    resources={"invoice_pipeline": pipeline_resource()},
)
