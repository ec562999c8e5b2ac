"""A customer invoice or credit note as files a billing system or a spreadsheet reads: CSV (formula-safe) and JSON,
every amount exact."""

from __future__ import annotations

import json
from pathlib import Path

from invoice_pipeline.validation.notes import csv_text
from invoice_pipeline.warehouse.customer_documents import CustomerInvoice, CustomerInvoiceLine, HistoryEntry


def customer_invoice_json(
    document: CustomerInvoice, lines: list[CustomerInvoiceLine], history: list[HistoryEntry]
) -> dict[str, object]:
    """One document as JSON shows it: its fields, its lines and its history, amounts exact."""
    return {**document.as_row(), "lines": [line.as_row() for line in lines], "history": [e.as_row() for e in history]}


def write_customer_invoice(
    document: CustomerInvoice, lines: list[CustomerInvoiceLine], history: list[HistoryEntry], out: Path
) -> list[Path]:
    """Write `<id>.csv` (the header), `<id>-lines.csv` and `<id>.json` (header, lines, history) into `out`."""
    out.mkdir(parents=True, exist_ok=True)
    header = document.as_row()
    rows = [line.as_row() for line in lines]
    line_columns = list(rows[0]) if rows else list(CustomerInvoiceLine.__dataclass_fields__)
    files = {
        f"{document.customer_invoice_id}.csv": csv_text(list(header), [list(header.values())]),
        f"{document.customer_invoice_id}-lines.csv": csv_text(line_columns, [list(row.values()) for row in rows]),
        f"{document.customer_invoice_id}.json": json.dumps(customer_invoice_json(document, lines, history), indent=2),
    }
    written = []
    for name, text in files.items():
        path = out / name
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written
