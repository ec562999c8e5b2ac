"""Reference data assets: the records every import must find, validated and published to the warehouse."""

import hashlib
import warnings
from typing import Any

import dagster as dg
import pandas as pd
from dagster_pandera import pandera_schema_to_dagster_type

from invoice_pipeline.dagster_defs.metadata import table_metadata
from invoice_pipeline.dagster_defs.resources import InvoicePipelineResource
from invoice_pipeline.schemas.reference_data import REFERENCE_SCHEMAS
from invoice_pipeline.validation.reference_data import load_reference_table

_DESCRIPTIONS = {
    "provider_accounts": "Maps each provider's customer (tenant) id to the partner's account. "
    "An import fails when a line's customer is not mapped for its provider.",
    "subscriptions": "Subscriptions on billing contracts, per provider. A line whose subscription is not "
    "here fails the import; a subscription without a product is a warning.",
    "products": "The products the partner sells. An unknown product on a line is a warning.",
    "currencies": "Currencies set up for billing, with their minor units; the checksum rounds to them.",
}


def _pandera_type(name: str) -> dg.DagsterType:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", dg.BetaWarning)  # pandera_schema_to_dagster_type is marked beta
        return pandera_schema_to_dagster_type(REFERENCE_SCHEMAS[name])


def _rows(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """The frame's rows by column name, a missing value as None (NULL in the warehouse)."""
    return [
        {str(column): None if pd.isna(value) else value for column, value in row.items()}
        for row in frame.to_dict("records")
    ]


def content_version(frame: pd.DataFrame) -> dg.DataVersion:
    """The data version of a validated reference table: a hash of its columns and rows, whatever their order in
    the file. The same content gives the same version, so reloading unchanged reference data leaves the invoices
    imported against it up to date in Dagster; any changed, added or removed row or column gives a new one."""
    header, *rows = frame.to_csv(index=False, lineterminator="\n").splitlines()
    digest = hashlib.sha256("\n".join([header, *sorted(rows)]).encode("utf-8")).hexdigest()
    return dg.DataVersion(digest)


def _reference_asset(name: str) -> dg.AssetsDefinition:
    @dg.asset(
        name=f"reference_{name}",
        group_name="reference_data",
        kinds={"csv", "pandas", "duckdb"},
        owners=["team:billing-data"],
        description=_DESCRIPTIONS[name],
        dagster_type=_pandera_type(name),
    )
    def reference_table(invoice_pipeline: InvoicePipelineResource) -> dg.Output[pd.DataFrame]:
        """Load and validate the reference file, publish it to the warehouse, versioned by its content."""
        config = invoice_pipeline.load_config()
        frame = load_reference_table(config.reference_data, name)
        rows = _rows(frame)
        with invoice_pipeline.warehouse(config) as warehouse:
            warehouse.replace_reference_table(name, rows)
        return dg.Output(
            frame,
            data_version=content_version(frame),
            metadata={"row_count": len(frame), "preview": table_metadata(rows[:20])},
        )

    return reference_table


reference_assets = [_reference_asset(name) for name in REFERENCE_SCHEMAS]
