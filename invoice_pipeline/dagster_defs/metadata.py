"""Turning rule outcomes into Dagster metadata (tables rather than markdown, so provider text is never markup)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import dagster as dg

from invoice_pipeline.warehouse.billing_tables import BillableSummary


def _cell(value: Any) -> str | int | bool | None:
    if value is None or isinstance(value, bool | int):
        return value
    return str(value)


def table_metadata(rows: Sequence[dict[str, Any]], columns: Sequence[str] | None = None) -> dg.TableMetadataValue:
    """Rows of dicts as a Dagster table (every value shown as text, money included)."""
    names = list(columns or (rows[0].keys() if rows else []))
    schema = dg.TableSchema(columns=[dg.TableColumn(name, "string") for name in names])
    records = [dg.TableRecord({name: _cell(row.get(name)) for name in names}) for row in rows]
    return dg.MetadataValue.table(records=records, schema=schema)


def plain_metadata(values: dict[str, Any]) -> dict[str, Any]:
    """Metadata values Dagster accepts as they are; lists of dicts become tables, decimals text."""
    result: dict[str, Any] = {}
    for key, value in values.items():
        if isinstance(value, list):
            result[key] = table_metadata(value)
        elif value is None or isinstance(value, bool | int | str):
            result[key] = value
        else:
            result[key] = str(value)
    return result


def billable_summary_metadata(summary: BillableSummary) -> dict[str, Any]:
    """Billable usage as the UI shows it, bounded at any size: how many rows and lines, the totals per currency and
    the largest rows (amounts in the currency's minor units)."""
    return {
        "row_count": summary.row_count,
        "line_count": summary.line_count,
        "totals_by_currency": table_metadata(
            [total.as_row() for total in summary.totals], ["currency", "row_count", "line_count", "amount"]
        ),
        "largest_rows": table_metadata([row.as_row() for row in summary.largest]),
    }
