"""A CSV line file's columns, read and checked before any engine reads the file: a regular, non-empty file, UTF-8 (or
valid gzip), a header row naming every column once, holding every column a line needs. No engine is loaded here.
"""

from __future__ import annotations

import csv
import gzip
import io
from collections.abc import Iterator
from pathlib import Path

from invoice_pipeline.connectors.base import ProviderFileRefused, open_regular_file, regular_file_status
from invoice_pipeline.connectors.folder import LINE_FILE_STEMS
from invoice_pipeline.connectors.line_file_limits import LineFileLimits, byte_size_text
from invoice_pipeline.domain.line_kinds import LineKind
from invoice_pipeline.importing.invoice_headers import ProviderFileError
from invoice_pipeline.schemas.line_columns import COMMON_COLUMNS


def csv_line_file_columns(kind: LineKind, path: Path, limits: LineFileLimits) -> list[str] | None:
    """The columns of a CSV (or .csv.gz) line file, checked; None for a Parquet file, whose columns only its reader
    knows. A file that is no longer there, not a regular file, or empty is refused."""
    file_name = path.name
    try:
        status = regular_file_status(path)
    except ProviderFileRefused as error:
        raise ProviderFileError(str(error)) from None
    if status is None:
        raise ProviderFileError(f"{file_name}: was removed while the invoice was read; send it again")
    if status.st_size == 0:
        raise ProviderFileError(
            f"{file_name}: the file is empty (0 bytes); remove it when there are no {LINE_FILE_STEMS[kind]}, "
            "or send it with its header row"
        )
    if file_name.lower().endswith(".parquet"):
        return None
    names = _csv_header_row(path, limits)
    check_columns(file_name, names)
    return names


def _bounded_lines(handle: io.TextIOWrapper, file_name: str, limit: int) -> Iterator[str]:
    """The lines of `handle`, none read beyond `limit` characters (a longer one is refused, not read whole)."""
    number = 0
    while line := handle.readline(limit + 1):
        number += 1
        if len(line) > limit and not line.endswith("\n"):
            raise ProviderFileError(
                f"{file_name}: cannot be read at line {number}: the line is longer than the reader allows (the line "
                f"length limit, line_length_limit, is {byte_size_text(limit)}); the file is refused whole"
            )
        yield line


def _csv_header_row(path: Path, limits: LineFileLimits) -> list[str]:
    """The header row of a CSV (or .csv.gz) file, read with Python's csv module (a regular file only, never a
    line longer than the line length limit)."""
    compressed = path.name.lower().endswith(".gz")
    try:
        with open_regular_file(path) as raw:
            binary = gzip.GzipFile(fileobj=raw, mode="rb") if compressed else raw
            with io.TextIOWrapper(binary, encoding="utf-8-sig", newline="") as handle:
                row = next(csv.reader(_bounded_lines(handle, path.name, limits.line_length)), None)
    except ProviderFileRefused as error:
        raise ProviderFileError(str(error)) from None
    except gzip.BadGzipFile:
        raise ProviderFileError(
            f"{path.name}: cannot be read: not valid gzip; send it uncompressed or compress it again"
        ) from None
    except (UnicodeDecodeError, csv.Error):
        start = b""
        if not compressed:
            with open_regular_file(path) as raw:
                start = raw.read(2)
        kind = " (it looks like UTF-16)" if start in (b"\xff\xfe", b"\xfe\xff") else ""
        raise ProviderFileError(f"{path.name}: cannot be read: not UTF-8 text{kind}; export it as UTF-8") from None
    except (OSError, EOFError) as error:
        raise ProviderFileError(f"{path.name}: cannot be read ({error})") from None
    if not row:
        raise ProviderFileError(
            f"{path.name}: cannot be read: no header row; send it with the column names in its first line"
        )
    return row


def check_columns(file_name: str, columns: list[str]) -> None:
    """Refuse a file whose header row has an unnamed column, a column twice (or twice but for case), or misses one
    every line needs (with a hint when it seems to use another delimiter than the comma)."""
    unnamed = [str(i) for i, c in enumerate(columns, start=1) if not c.strip()]
    if unnamed:
        raise ProviderFileError(
            f"{file_name}: column(s) {', '.join(unnamed)} of the header row have no name "
            "(a trailing comma?); name every column or remove the empty ones"
        )
    duplicated = sorted({c for c in columns if columns.count(c) > 1})
    if duplicated:
        raise ProviderFileError(f"{file_name}: column(s) {', '.join(duplicated)} appear more than once")
    lowered = [c.lower() for c in columns]
    same_but_case = sorted({c for c in columns if lowered.count(c.lower()) > 1})
    if same_but_case:
        raise ProviderFileError(
            f"{file_name}: column(s) {', '.join(same_but_case)} differ only by upper/lower case; "
            "column names are not case-sensitive here, rename or remove one of them"
        )
    missing = [c for c in COMMON_COLUMNS if c not in columns]
    if missing:
        hint = ""
        if len(columns) == 1 and any(sep in columns[0] for sep in ";\t|"):
            hint = "; the file seems to use another delimiter: use commas"
        raise ProviderFileError(f"{file_name}: missing column(s) {', '.join(missing)}{hint}")
