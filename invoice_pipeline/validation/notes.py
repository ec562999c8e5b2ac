"""Notes attached to a provider invoice: CSV files a person opens in a spreadsheet, made safe."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from invoice_pipeline.domain.display import printable

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_PLAIN_NUMBER = re.compile(r"^-?[0-9]+(\.[0-9]+)?$")


@dataclass(frozen=True)
class Note:
    """A file attached to an invoice's notes, e.g. the Missing References `errors.csv`."""

    title: str
    file_name: str
    content: str


def spreadsheet_safe(value: object) -> str:
    """A cell value that a spreadsheet shows as text, never runs as a formula (plain numbers stay numbers).

    Control characters (NUL: no warehouse text column can hold one) and bidi overrides are shown as visible
    escapes (`domain.display.printable`, keeping a cell's newlines and tabs).
    """
    text = "" if value is None else printable(str(value), multiline=True)
    if text.startswith(_FORMULA_START) and not _PLAIN_NUMBER.match(text):
        return "'" + text
    return text


def csv_text(columns: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    """Render rows as CSV text with every cell neutralised against formula injection."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow([spreadsheet_safe(c) for c in columns])
    for row in rows:
        writer.writerow([spreadsheet_safe(v) for v in row])
    return buffer.getvalue()
