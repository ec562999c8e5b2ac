"""Notes' files: CSV text a person opens in a spreadsheet, made safe; a note's preview; writing notes to a folder.

The note itself is `domain.notes.Note`.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from invoice_pipeline.domain.display import printable
from invoice_pipeline.domain.invoice_keys import InvoiceKey
from invoice_pipeline.domain.notes import Note

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_PLAIN_NUMBER = re.compile(r"^-?[0-9]+(\.[0-9]+)?$")


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


@dataclass(frozen=True)
class NotePreview:
    """A note's first rows, as a person reads them before opening the whole file."""

    columns: list[str]
    rows: list[dict[str, str]]
    row_count: int  # every row of the note, the shown ones included


def note_preview(note: Note, limit: int = 10) -> NotePreview:
    """The note's column names, its first `limit` rows and how many rows it has in all."""
    reader = csv.reader(io.StringIO(note.content))
    columns = next(reader, [])
    rows = [dict(zip(columns, row, strict=False)) for row in reader]
    return NotePreview(columns, rows[:limit], len(rows))


def write_note_files(notes: Iterable[Note], folder: Path) -> list[Path]:
    """Write each note to `folder` under its own file name, whole or not at all; the files' paths, in order."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for note in notes:
        path = folder / note.file_name
        part = path.with_name(f".{note.file_name}.part")
        part.write_text(note.content, encoding="utf-8")
        part.replace(path)
        paths.append(path.resolve())
    return paths


def notes_folder(data_dir: Path, key: InvoiceKey, record_id: str) -> Path:
    """Where the notes of one record of an invoice are written for a person to open: one folder per record, so
    a later import never overwrites what an earlier one found."""
    return data_dir / "notes" / key.provider / key.invoice_id / record_id
