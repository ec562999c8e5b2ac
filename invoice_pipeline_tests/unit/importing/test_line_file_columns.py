"""A CSV line file's columns, checked before any engine reads it: a non-empty file, UTF-8 text (or valid gzip), a
header row naming every column once (not twice but for case, none unnamed), holding every column a line needs. Each
refusal is one line naming the file and the problem.

That an import refused for its line file ends in Error and stores no line, and what DuckDB refuses in the rows, is
the engine tier's (invoice_pipeline_tests/importing/test_provider_files.py).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from invoice_pipeline.connectors.line_file_limits import LineFileLimits
from invoice_pipeline.domain.line_kinds import LineKind
from invoice_pipeline.importing.invoice_headers import ProviderFileError
from invoice_pipeline.importing.line_file_columns import csv_line_file_columns
from invoice_pipeline.schemas.line_columns import COMMON_COLUMNS
from invoice_pipeline.schemas.line_columns import USAGE_COLUMNS as USAGE_ONLY_COLUMNS
from invoice_pipeline_tests.fakes import csv_text

USAGE_COLUMNS = [*COMMON_COLUMNS, *USAGE_ONLY_COLUMNS]


def usage_line(line_id: str, amount: str = "10.00") -> dict[str, str]:
    """A usage row: only its columns count here, the values are the engine tier's."""
    return dict.fromkeys(USAGE_COLUMNS, "x") | {"line_id": line_id, "amount": amount}


GOOD_USAGE = [usage_line("U1", "6.00"), usage_line("U2", "4.00")]


def _csv_text(rows: list[dict], columns: list[str] = USAGE_COLUMNS) -> str:
    return csv_text(rows, columns)


def _write_usage(folder: Path, content: bytes, name: str = "usage_summaries.csv") -> Path:
    path = folder / name
    path.write_bytes(content)
    return path


def _refused(folder: Path, *fragments: str, name: str = "usage_summaries.csv") -> str:
    """Read the usage file's columns, and check: refused, in one line holding every fragment."""
    with pytest.raises(ProviderFileError) as refused:
        csv_line_file_columns(LineKind.USAGE, folder / name, LineFileLimits())
    message = str(refused.value)
    for fragment in fragments:
        assert fragment in message
    assert "\n" not in message
    return message


def test_a_csv_file_naming_every_column_once_gives_its_columns_in_order(tmp_path):
    _write_usage(tmp_path, b"\xef\xbb\xbf" + _csv_text(GOOD_USAGE).replace("\n", "\r\n").encode())
    assert csv_line_file_columns(LineKind.USAGE, tmp_path / "usage_summaries.csv", LineFileLimits()) == USAGE_COLUMNS


def test_semicolon_delimited_file_is_refused_with_a_hint_to_use_commas(tmp_path):
    text = _csv_text(GOOD_USAGE).replace(",", ";")
    _write_usage(tmp_path, text.encode())
    _refused(
        tmp_path,
        "usage_summaries.csv: missing column(s) line_id, customer_id",
        "another delimiter: use commas",
    )


def test_utf16_file_is_refused_as_not_utf8(tmp_path):
    _write_usage(tmp_path, _csv_text(GOOD_USAGE).encode("utf-16"))
    _refused(tmp_path, "usage_summaries.csv: cannot be read", "not UTF-8")


def test_zero_byte_file_is_refused_as_empty(tmp_path):
    _write_usage(tmp_path, b"")
    _refused(tmp_path, "usage_summaries.csv: the file is empty (0 bytes)", "header row")


def test_missing_columns_are_named(tmp_path):
    columns = [c for c in USAGE_COLUMNS if c not in ("amount", "currency")]
    _write_usage(tmp_path, _csv_text(GOOD_USAGE, columns).encode())
    message = _refused(tmp_path, "usage_summaries.csv: missing column(s) amount, currency")
    assert "delimiter" not in message


def test_column_given_twice_is_refused(tmp_path):
    text = _csv_text(GOOD_USAGE)
    header, *rows = text.splitlines()
    text = "\n".join([header + ",amount"] + [row + ",999.00" for row in rows]) + "\n"
    _write_usage(tmp_path, text.encode())
    _refused(tmp_path, "usage_summaries.csv: column(s) amount appear more than once")


def test_csv_gz_that_is_not_gzip_is_refused(tmp_path):
    _write_usage(tmp_path, _csv_text(GOOD_USAGE).encode(), name="usage_summaries.csv.gz")
    _refused(tmp_path, "usage_summaries.csv.gz: cannot be read", "not valid gzip", name="usage_summaries.csv.gz")


def test_header_with_a_trailing_comma_is_refused_naming_the_unnamed_column(tmp_path):
    _write_usage(tmp_path, "".join(line + ",\n" for line in _csv_text([usage_line("U1")]).splitlines()).encode())
    _refused(tmp_path, "usage_summaries.csv: column(s) 15 of the header row have no name")


@pytest.mark.parametrize("column", ["Amount", "LINE_ID"])
def test_column_names_equal_but_for_case_are_refused(tmp_path, column):
    row = dict(usage_line("U1"), **{column: "x"})
    _write_usage(tmp_path, _csv_text([row], [*USAGE_COLUMNS, column]).encode())
    _refused(tmp_path, f"{column}, {column.lower()} differ only by upper/lower case")
