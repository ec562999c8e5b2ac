"""The reference tables the reference data assets publish (accounts, subscriptions, products, currencies)."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from invoice_pipeline.warehouse import tables as t


def replace_reference_table(conn: sa.Connection, name: str, rows: list[dict[str, Any]]) -> None:
    """Replace one reference table's rows, inside the caller's transaction."""
    table = t.REFERENCE_TABLES[name]
    conn.execute(sa.delete(table))
    if rows:
        conn.execute(sa.insert(table), rows)
