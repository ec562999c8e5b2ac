"""A record's stored line summaries written out as CSV, money as exact decimal text."""

from __future__ import annotations

import csv
from decimal import Decimal
from pathlib import Path

import sqlalchemy as sa

from invoice_pipeline.domain.line_kinds import LineKind
from invoice_pipeline.domain.money import decimal_text
from invoice_pipeline.warehouse import tables as t


def export_lines(conn: sa.Connection, record_id: str, kind: LineKind, path: Path) -> int:
    """Write a record's stored line summaries of one kind to CSV, streamed in line order; returns the count."""
    table = t.LINE_SUMMARY_TABLES[kind]
    columns = [c.name for c in table.columns if c.name != "record_id"]
    query = sa.select(*(table.c[name] for name in columns)).where(table.c.record_id == record_id)
    count = 0
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(columns)
        for row in conn.execution_options(stream_results=True).execute(query.order_by(table.c.line_id)):
            writer.writerow([decimal_text(v) if isinstance(v, Decimal) else ("" if v is None else v) for v in row])
            count += 1
    return count
