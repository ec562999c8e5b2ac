"""Turning rule outcomes into Dagster metadata (tables rather than markdown, so provider text is never markup).

Every text the UI shows from here, keys, column names and values alike, is `domain.display.shown`: secrets
redacted, control characters and bidi overrides written as visible escapes.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import dagster as dg

from invoice_pipeline.domain.display import shown
from invoice_pipeline.warehouse.billable_usage import BillableSummary


def _cell(value: Any) -> str | int | bool | None:
    """A table cell as the UI shows it: a number, flag or nothing as is, anything else as text a person may see."""
    if value is None or isinstance(value, bool | int):
        return value
    return shown(str(value))


def _shown_json(value: Any) -> Any:
    if isinstance(value, str):
        return shown(value)
    if isinstance(value, dict):
        return {shown(str(key)): _shown_json(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_shown_json(item) for item in value]
    return value


def shown_value(value: Any) -> Any:
    """A metadata value as the UI may show it: text, JSON, tables and paths shown (`display.shown`)."""
    if isinstance(value, str):
        return shown(value)
    if isinstance(value, dg.TableMetadataValue):
        records = [dg.TableRecord({shown(k): _cell(v) for k, v in r.data.items()}) for r in value.records]
        schema = dg.TableSchema(columns=[dg.TableColumn(shown(c.name), c.type) for c in value.schema.columns])
        return dg.MetadataValue.table(records=records, schema=schema)
    if isinstance(value, dg.JsonMetadataValue):
        return dg.MetadataValue.json(_shown_json(value.data))
    if isinstance(value, dg.TextMetadataValue):
        return dg.MetadataValue.text(shown(value.text or ""))
    if isinstance(value, dg.MarkdownMetadataValue):
        return dg.MetadataValue.md(shown(value.md_str or "", multiline=True))
    return value


def shown_metadata(values: dict[str, Any]) -> dict[str, Any]:
    """Metadata whose keys and values are shown (`shown_value`): what every metadata= given to Dagster passes."""
    return {shown(key): shown_value(value) for key, value in values.items()}


def table_metadata(rows: Sequence[dict[str, Any]], columns: Sequence[str] | None = None) -> dg.TableMetadataValue:
    """Rows of dicts as a Dagster table (every value shown as text, money included)."""
    names = list(columns or (rows[0].keys() if rows else []))
    schema = dg.TableSchema(columns=[dg.TableColumn(shown(name), "string") for name in names])
    records = [dg.TableRecord({shown(name): _cell(row.get(name)) for name in names}) for row in rows]
    return dg.MetadataValue.table(records=records, schema=schema)


def plain_metadata(values: dict[str, Any]) -> dict[str, Any]:
    """Metadata values Dagster accepts as they are; lists of dicts become tables, decimals text; all shown."""
    result: dict[str, Any] = {}
    for key, value in values.items():
        if isinstance(value, list):
            result[key] = table_metadata(value)
        elif value is None or isinstance(value, bool | int | str | dg.MetadataValue):
            result[key] = value
        else:
            result[key] = str(value)
    return shown_metadata(result)


def billable_summary_metadata(summary: BillableSummary) -> dict[str, Any]:
    """Billable usage as the UI shows it, bounded at any size: how many rows and lines, the totals per currency and
    the largest rows (amounts in the currency's minor units)."""
    return shown_metadata(
        {
            "row_count": summary.row_count,
            "line_count": summary.line_count,
            "totals_by_currency": table_metadata(
                [total.as_row() for total in summary.totals], ["currency", "row_count", "line_count", "amount"]
            ),
            "largest_rows": table_metadata([row.as_row() for row in summary.largest]),
        }
    )
