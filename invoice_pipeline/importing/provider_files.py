"""Reading a provider invoice's files: the header (JSON) and the line summary files (CSV or Parquet).

Line files are staged in DuckDB as views with every column as text, so that the schemas judge every
value exactly as the provider wrote it, and so that nothing is auto-detected as a float on the money
path. A view, not a copy: each pass over the lines (validation, publishing) reads the file where it
lies, streaming, so memory stays flat and the lines are never materialised once more.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd
import pandera.pandas as pa

from invoice_pipeline.connectors.base import ProviderFileRefused, open_regular_file, regular_file_status
from invoice_pipeline.connectors.folder import HEADER_MAX_BYTES, LINE_FILE_STEMS
from invoice_pipeline.connectors.line_file_limits import LineFileLimits, byte_size_text
from invoice_pipeline.domain.invoice_keys import INVOICE_ID_PATTERN
from invoice_pipeline.domain.line_kinds import LineKind
from invoice_pipeline.domain.provider_documents import DocumentType, parse_document_type
from invoice_pipeline.schemas.invoice_header import HEADER_FIELDS, InvoiceHeaderSchema
from invoice_pipeline.schemas.line_columns import COMMON_COLUMNS

RAW_TABLE = "raw_{kind}_summaries"
# Optional header fields: the tax the lines carry (total_amount is then the total before tax, the provider's amount
# due less that tax), the document's kind, and the invoice a note amends.
OPTIONAL_HEADER_FIELDS = ("tax_amount", "document_type", "amends_invoice_id")
_TAX_PATTERN = re.compile(r"^-?[0-9]{1,18}(\.[0-9]{1,10})?$")
DUCKDB_MAX_LINE_SIZE = 2 * 1024 * 1024  # DuckDB's own default; raised to the line length limit when that is larger


def quote_identifier(name: str) -> str:
    """A column name from a provider file, quoted so it can only ever be an identifier in SQL."""
    return '"' + name.replace('"', '""') + '"'


class ProviderFileError(Exception):
    """A provider file that cannot be read or is not valid; the message names the file and the problem."""


@dataclass(frozen=True)
class InvoiceHeader:
    """A validated provider invoice header."""

    invoice_id: str
    invoice_date: date
    billing_period_start: date
    billing_period_end: date
    currency: str
    total_amount: Decimal
    tax_amount: Decimal | None = None
    document_type: DocumentType = DocumentType.INVOICE
    amends_invoice_id: str | None = None


def _refuse_duplicate_keys(pairs: list[tuple[str, object]]) -> dict[str, object]:
    keys = [k for k, _ in pairs]
    duplicated = sorted({k for k in keys if keys.count(k) > 1})
    if duplicated:
        raise ProviderFileError(f"header.json: key(s) {', '.join(duplicated)} appear more than once")
    return dict(pairs)


def _refuse_constant(name: str) -> object:
    raise ProviderFileError(f"header.json: {name} is not a number; write amounts as decimal strings")


def read_header(path: Path, expected_invoice_id: str) -> InvoiceHeader:
    """Read and validate `header.json`; its invoice_id must match the invoice's folder or key.

    Only a regular file is read (never a link, a FIFO or a device), and at most HEADER_MAX_BYTES of it."""
    try:
        with open_regular_file(path) as handle:
            content = handle.read(HEADER_MAX_BYTES + 1)
    except ProviderFileRefused as error:
        raise ProviderFileError(str(error)) from None
    if len(content) > HEADER_MAX_BYTES:
        raise ProviderFileError(
            f"header.json: larger than {byte_size_text(HEADER_MAX_BYTES)}; a header holds only the invoice's fields"
        )
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise ProviderFileError("header.json: not UTF-8 text; save it as UTF-8") from error
    try:
        data = json.loads(
            text,
            object_pairs_hook=_refuse_duplicate_keys,
            parse_float=str,
            parse_int=str,
            parse_constant=_refuse_constant,
        )
    except json.JSONDecodeError as error:
        raise ProviderFileError(f"header.json: not valid JSON ({error.msg} at line {error.lineno})") from error
    if not isinstance(data, dict):
        raise ProviderFileError("header.json: must be a JSON object with " + ", ".join(HEADER_FIELDS))
    missing = [f for f in HEADER_FIELDS if data.get(f) in (None, "")]
    if missing:
        raise ProviderFileError(f"header.json: missing field(s) {', '.join(missing)}")
    unknown = sorted(set(data) - set(HEADER_FIELDS) - set(OPTIONAL_HEADER_FIELDS))
    if unknown:
        raise ProviderFileError(
            f"header.json: unknown field(s) {', '.join(unknown)}; expected {', '.join(HEADER_FIELDS)} "
            f"(and optionally {', '.join(OPTIONAL_HEADER_FIELDS)})"
        )
    tax_amount, document_type, amends_invoice_id = _optional_fields(data)
    not_text = [f for f in HEADER_FIELDS if not isinstance(data[f], str)]
    if not_text:
        raise ProviderFileError(f"header.json: field(s) {', '.join(not_text)} must be strings or numbers")
    with_controls = [f for f in HEADER_FIELDS if re.search(r"[\x00-\x1f\x7f]", data[f])]
    if with_controls:
        raise ProviderFileError(f"header.json: field(s) {', '.join(with_controls)} contain control characters")
    frame = pd.DataFrame([{f: data[f] for f in HEADER_FIELDS}])
    try:
        InvoiceHeaderSchema.validate(frame, lazy=True)
    except pa.errors.SchemaErrors as errors:
        problems = sorted(
            {
                f"billing_period_start {data['billing_period_start']!r} is after "
                f"billing_period_end {data['billing_period_end']!r} [{row.check}]"
                if row.check == "billing_period_start_not_after_end"
                else f"{row.column} fails {row.check} (value {row.failure_case!r})"
                for row in errors.failure_cases.itertuples()
            }
        )
        raise ProviderFileError("header.json: " + "; ".join(problems)) from None
    if data["invoice_id"] != expected_invoice_id:
        raise ProviderFileError(
            f"header.json: invoice_id {data['invoice_id']!r} differs from the invoice's folder "
            f"{expected_invoice_id!r}; rename the folder or fix the header"
        )
    return InvoiceHeader(
        invoice_id=data["invoice_id"],
        invoice_date=date.fromisoformat(data["invoice_date"]),
        billing_period_start=date.fromisoformat(data["billing_period_start"]),
        billing_period_end=date.fromisoformat(data["billing_period_end"]),
        currency=data["currency"],
        total_amount=Decimal(data["total_amount"]),
        tax_amount=tax_amount,
        document_type=document_type,
        amends_invoice_id=amends_invoice_id,
    )


def _optional_fields(data: dict[str, object]) -> tuple[Decimal | None, DocumentType, str | None]:
    """The optional header fields, validated: tax a decimal, a known document type (an invoice when not given), the
    invoice a note amends."""
    given = {f: data[f] for f in OPTIONAL_HEADER_FIELDS if data.get(f) not in (None, "")}
    if any(not isinstance(value, str) for value in given.values()):
        raise ProviderFileError(f"header.json: field(s) {', '.join(given)} must be strings or numbers")
    values: dict[str, Any] = {"tax_amount": None, "document_type": DocumentType.INVOICE, "amends_invoice_id": None}
    if "tax_amount" in given:
        if not _TAX_PATTERN.fullmatch(str(given["tax_amount"])):
            raise ProviderFileError(
                f"header.json: tax_amount {given['tax_amount']!r} is not a decimal number with at most 18 digits "
                "before the point and 10 after"
            )
        values["tax_amount"] = Decimal(str(given["tax_amount"]))
    if "document_type" in given:
        try:
            values["document_type"] = parse_document_type(str(given["document_type"]))
        except ValueError as error:
            raise ProviderFileError(f"header.json: {error}; write one of them in document_type") from None
    if "amends_invoice_id" in given:
        if not INVOICE_ID_PATTERN.fullmatch(str(given["amends_invoice_id"])):
            raise ProviderFileError(
                f"header.json: amends_invoice_id {given['amends_invoice_id']!r} is not an invoice id"
            )
        values["amends_invoice_id"] = given["amends_invoice_id"]
    return values["tax_amount"], values["document_type"], values["amends_invoice_id"]


def _sql_text(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


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


def _csv_header(path: Path, limits: LineFileLimits) -> list[str]:
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


def _file_columns(path: Path, limits: LineFileLimits) -> tuple[list[str], str]:
    """The file's column names and the SQL that reads it with every column as text."""
    if path.name.lower().endswith(".parquet"):
        return [], f"read_parquet({_sql_text(str(path))})"
    names = _csv_header(path, limits)
    columns = ", ".join(f"{_sql_text(name)}: 'VARCHAR'" for name in names)
    # Strict CSV, no guessing: comma separated, double quotes, header row, every column as text; lines as long as
    # the line length limit allows (the hashing pass refused the file if one is longer).
    max_line_size = max(DUCKDB_MAX_LINE_SIZE, limits.line_length + 2)
    reader = (
        f"read_csv({_sql_text(str(path))}, header = true, delim = ',', quote = '\"', escape = '\"',"
        f" auto_detect = false, columns = {{{columns}}}, strict_mode = true, null_padding = false,"
        f" compression = 'auto', max_line_size = {max_line_size})"
    )
    return names, reader


def _check_columns(file_name: str, columns: list[str]) -> None:
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
    names, reader = _file_columns(path, limits or LineFileLimits())
    if names:
        _check_columns(file_name, names)
    else:
        with reading(file_name):
            names = con.sql(f"SELECT * FROM {reader} LIMIT 0").columns
        _check_columns(file_name, names)
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
