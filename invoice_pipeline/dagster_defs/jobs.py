"""Jobs a data engineer launches: import one provider invoice, refresh reference data."""

import dagster as dg

from invoice_pipeline.dagster_defs.invoice_assets import provider_invoice_import
from invoice_pipeline.dagster_defs.reference_assets import reference_assets

IMPORT_JOB = "import_provider_invoice"
REFERENCE_JOB = "refresh_reference_data"

import_provider_invoice_job = dg.define_asset_job(
    IMPORT_JOB,
    selection=dg.AssetSelection.assets(provider_invoice_import),
    description="Import one provider invoice (pick its partition, provider:invoice_id): its record, checks, and when "
    "it is Active its line summaries and billable usage.",
)

refresh_reference_data_job = dg.define_asset_job(
    REFERENCE_JOB,
    selection=dg.AssetSelection.assets(*reference_assets),
    description="Load and validate the reference data folder and publish it to the warehouse.",
)
