"""Reading a provider invoice's line summary files (CSV or Parquet); its header is read by `invoice_headers`.

Line files are staged in DuckDB as views with every column as text, so that the schemas judge every
value exactly as the provider wrote it, and so that nothing is auto-detected as a float on the money
path. A view, not a copy: each pass over the lines (validation, publishing) reads the file where it
lies, streaming, so memory stays flat and the lines are never materialised once more. A CSV file's columns are read
and checked first, with no engine (`line_file_columns`).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb

from invoice_pipeline.connectors.line_file_limits import LineFileLimits
from invoice_pipeline.domain.line_kinds import LineKind
from invoice_pipeline.importing.invoice_headers import ProviderFileError
from invoice_pipeline.importing.line_file_columns import check_columns, csv_line_file_columns
from invoice_pipeline.schemas.line_columns import COMMON_COLUMNS

RAW_TABLE = "raw_{kind}_summaries"
DUCKDB_MAX_LINE_SIZE = 2 * 1024 * 1024  # DuckDB's own default; raised to the line length limit when that is larger


def quote_identifier(name: str) -> str:
    """A column name from a provider file, quoted so it can only ever be an identifier in SQL."""
    return '"' + name.replace('"', '""') + '"'


def _sql_text(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _is_resource_problem(error: duckdb.Error) -> bool:
    """Memory or spill space ran out while reading: nothing to blame on the provider's file."""
    text = str(error).lower()
    return isinstance(error, duckdb.OutOfMemoryException) or any(
        sign in text for sign in ("failed to create directory", "no space left on device")
    )


def _explain_read_error(file_name: str, error: duckdb.Error) -> str:
    text = str(error)
    line = re.search(r"CSV Error on Line: (\d+)", text)
    where = f" at line {line.group(1)}" if line else ""
    lowered = text.lower()
    if "invalid unicode" in lowered:
        reason = "the file is not UTF-8 text; export it as UTF-8"
    elif "unterminated quote" in lowered:
        reason = "a quoted field is never closed"
    elif "expected number of columns" in lowered:
        counts = re.search(r"Expected Number of Columns: (\d+) Found: (\d+)", text)
        reason = "a row has a different number of fields than the header" + (
            f" ({counts.group(2)} instead of {counts.group(1)})" if counts else ""
        )
    elif "maximum line size" in lowered:
        reason = "a line is longer than the reader allows; check the file is not corrupted"
    elif "gzip" in lowered or "compress" in lowered:
        reason = "not valid gzip; send it uncompressed or compress it again"
    else:
        reason = "not valid CSV: " + text.strip().splitlines()[0][:200]
    return f"{file_name}: cannot be read{where}: {reason}"


def _file_reader(path: Path, names: list[str] | None, limits: LineFileLimits) -> str:
    """The SQL that reads the file with every column as text (a CSV file's `names` as read from its header row)."""
    if names is None:
        return f"read_parquet({_sql_text(str(path))})"
    columns = ", ".join(f"{_sql_text(name)}: 'VARCHAR'" for name in names)
    # Strict CSV, no guessing: comma separated, double quotes, header row, every column as text; lines as long as
    # the line length limit allows (the hashing pass refused the file if one is longer).
    max_line_size = max(DUCKDB_MAX_LINE_SIZE, limits.line_length + 2)
    return (
        f"read_csv({_sql_text(str(path))}, header = true, delim = ',', quote = '\"', escape = '\"',"
        f" auto_detect = false, columns = {{{columns}}}, strict_mode = true, null_padding = false,"
        f" compression = 'auto', max_line_size = {max_line_size})"
    )


def stage_line_file(
    con: duckdb.DuckDBPyConnection, kind: LineKind, path: Path | None, limits: LineFileLimits | None = None
) -> None:
    """Stage one line summary file as the temp view `raw_<kind>_summaries`, every column as text.

    The file itself is read by the queries over the view (run them inside `reading(file_name)`); here
    only its columns are checked. An absent file means no lines of that kind: the view is empty. The file must
    still be a regular file (not a link); its size and line lengths were checked by the pass that hashed it
    (connectors/base.py `line_files_fingerprint`).
    """
    view = RAW_TABLE.format(kind=kind)
    if path is None:
        columns = ", ".join(f"CAST(NULL AS VARCHAR) AS {quote_identifier(c)}" for c in COMMON_COLUMNS)
        con.execute(f"CREATE OR REPLACE TEMP VIEW {view} AS SELECT {columns} WHERE false")
        return
    file_name = path.name
    limits = limits or LineFileLimits()
    names = csv_line_file_columns(kind, path, limits)
    reader = _file_reader(path, names, limits)
    if names is None:
        with reading(file_name):
            names = con.sql(f"SELECT * FROM {reader} LIMIT 0").columns
        check_columns(file_name, names)
    casts = ", ".join(f"CAST({quote_identifier(c)} AS VARCHAR) AS {quote_identifier(c)}" for c in names)
    con.execute(f"CREATE OR REPLACE TEMP VIEW {view} AS SELECT {casts} FROM {reader}")


# Errors in the SQL itself (a bug here), never caused by what a file holds.
_NOT_THE_FILES_FAULT = (
    duckdb.BinderException,
    duckdb.CatalogException,
    duckdb.ParserException,
    duckdb.SyntaxException,
    duckdb.InternalError,
)


@contextmanager
def reading(file_name: str) -> Iterator[None]:
    """Queries that read a staged provider file: a file DuckDB cannot read is a ProviderFileError naming it.

    Not this machine's problems (memory, spill space) nor errors in our own SQL: those stay crashes.
    """
    try:
        yield
    except duckdb.Error as error:
        if _is_resource_problem(error) or isinstance(error, _NOT_THE_FILES_FAULT):
            raise
        raise ProviderFileError(_explain_read_error(file_name, error)) from None
