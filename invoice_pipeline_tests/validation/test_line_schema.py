"""Staging line files as text and validating them with their Pandera schemas, directly on small files."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from pathlib import Path

import duckdb
import ibis
import pytest

from invoice_pipeline.importing.invoice_headers import ProviderFileError
from invoice_pipeline.importing.provider_files import stage_line_file
from invoice_pipeline.validation.line_schema import (
    EXAMPLES_PER_FAILURE,
    SchemaFailure,
    validate_staged_lines,
)
from invoice_pipeline_tests.builders import LINE_COLUMNS, USAGE_COLUMNS, license_line, usage_line

DECIMAL_MEANING = (
    "a decimal number with at most 18 digits before the point and 18 after (no thousands separators, no exponent)"
)


@pytest.fixture
def con() -> Iterator[duckdb.DuckDBPyConnection]:
    connection = duckdb.connect()
    yield connection
    connection.close()


def _write(path: Path, rows: list[dict], columns: list[str]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    return path


def _validate(con, tmp_path, rows, kind="usage", columns=None) -> list[SchemaFailure]:
    columns = columns or (USAGE_COLUMNS if kind == "usage" else LINE_COLUMNS)
    path = _write(tmp_path / f"{kind}_summaries.csv", rows, columns)
    stage_line_file(con, kind, path)
    table = ibis.duckdb.from_connection(con).table(f"raw_{kind}_summaries", database="temp")
    return validate_staged_lines(table, kind, path.name).failures


def _by_check(failures: list[SchemaFailure]) -> dict[tuple[str | None, str], SchemaFailure]:
    return {(f.column, f.check): f for f in failures}


# Staging ----------------------------------------------------------------------------------------


def test_staged_values_are_text_exactly_as_written(con, tmp_path):
    rows = [usage_line("U1", "10.10", quantity="0010", unit_price="1.0100000000", meter_id="00042")]
    path = _write(tmp_path / "usage_summaries.csv", rows, USAGE_COLUMNS)
    stage_line_file(con, "usage", path)
    types = dict(con.execute("SELECT column_name, column_type FROM (DESCRIBE raw_usage_summaries)").fetchall())
    assert set(types.values()) == {"VARCHAR"}
    assert list(types) == USAGE_COLUMNS
    staged = con.execute(
        "SELECT quantity, unit_price, amount, meter_id, charge_start_date FROM raw_usage_summaries"
    ).fetchall()
    assert staged == [("0010", "1.0100000000", "10.10", "00042", "2026-10-01")]


def test_absent_file_stages_an_empty_view_with_the_common_columns(con):
    stage_line_file(con, "license", None)
    columns = [c for (c,) in con.execute("SELECT column_name FROM (DESCRIBE raw_license_summaries)").fetchall()]
    assert columns == LINE_COLUMNS
    table = ibis.duckdb.from_connection(con).table("raw_license_summaries", database="temp")
    verdict = validate_staged_lines(table, "license", "license (no file)")
    assert (verdict.failures, verdict.line_count) == ([], 0)


def test_staging_again_replaces_the_previous_view(con, tmp_path):
    stage_line_file(con, "usage", _write(tmp_path / "a.csv", [usage_line("U1"), usage_line("U2")], USAGE_COLUMNS))
    stage_line_file(con, "usage", _write(tmp_path / "b.csv", [usage_line("U9")], USAGE_COLUMNS))
    assert con.execute("SELECT line_id FROM raw_usage_summaries").fetchall() == [("U9",)]


def test_staging_a_file_without_a_required_column_raises_naming_it(con, tmp_path):
    path = _write(tmp_path / "license_summaries.csv", [license_line("L1")], [c for c in LINE_COLUMNS if c != "line_id"])
    with pytest.raises(ProviderFileError, match=r"^license_summaries.csv: missing column\(s\) line_id$"):
        stage_line_file(con, "license", path)


# Validation -------------------------------------------------------------------------------------


def test_clean_usage_and_license_files_have_no_failures(con, tmp_path):
    assert _validate(con, tmp_path, [usage_line("U1"), usage_line("U2", "-3.25", unit_price="-3.25")]) == []
    assert (
        _validate(con, tmp_path, [license_line("L1", "900.00", quantity="25", unit_price="36.00")], kind="license")
        == []
    )


def test_header_only_file_has_no_failures(con, tmp_path):
    assert _validate(con, tmp_path, []) == []


def test_usage_file_without_the_optional_meter_columns_passes(con, tmp_path):
    assert _validate(con, tmp_path, [usage_line("U1")], columns=LINE_COLUMNS) == []


def test_boundary_values_pass(con, tmp_path):
    rows = [
        usage_line("U1", "123456789012345678.123456789012345678", unit_price="0.0000000001", quantity="0"),
        usage_line("U2", "-0.5", charge_start_date="2000-01-01", charge_end_date="2099-12-31", usage_date="2024-02-29"),
        usage_line("U3", charge_start_date="2026-10-15", charge_end_date="2026-10-15", product_id=""),
        usage_line("L" * 200, usage_date="", meter_id="", meter_name="", unit=""),
    ]
    assert _validate(con, tmp_path, rows) == []


def test_failing_rows_are_counted_with_the_first_five_as_examples_and_all_in_the_note(con, tmp_path):
    rows = [usage_line(f"U{i}", "1.00") for i in range(1, 11)]
    for i in (2, 3, 5, 6, 8, 9, 10):
        rows[i - 1]["amount"] = f"{i},00"
    failures = _validate(con, tmp_path, rows)
    assert len(failures) == 1
    failure = failures[0]
    assert (failure.file_name, failure.column, failure.check) == ("usage_summaries.csv", "amount", "str_matches")
    assert failure.meaning == DECIMAL_MEANING
    assert failure.failing_rows == 7
    assert len(failure.examples) == EXAMPLES_PER_FAILURE == 5
    assert failure.examples == [("U2", "2,00"), ("U3", "3,00"), ("U5", "5,00"), ("U6", "6,00"), ("U8", "8,00")]
    assert sorted(failure.note_rows) == sorted([(f"U{i}", f"{i},00") for i in (2, 3, 5, 6, 8, 9, 10)])
    assert failure.describe() == (
        f"usage_summaries.csv column 'amount' must be {DECIMAL_MEANING} [str_matches]: 7 rows, "
        "e.g. U2='2,00', U3='3,00', U5='5,00', U6='6,00', U8='8,00'"
    )


def test_each_failing_check_is_reported_separately_with_its_own_rows(con, tmp_path):
    rows = [
        usage_line("U1", currency="usd"),
        usage_line("U2", currency="US"),
        usage_line("U3", quantity="-2"),
        usage_line("U4", charge_start_date="2026-11-01", charge_end_date="2026-10-31"),
        usage_line("U5", usage_date="2026-13-01"),
        usage_line("U6"),
    ]
    failures = _by_check(_validate(con, tmp_path, rows))
    assert set(failures) == {
        ("currency", "str_matches"),
        ("quantity", "not_negative"),
        (None, "charge_start_not_after_end"),
        ("usage_date", "real_date_2000_to_2099"),
    }
    assert failures[("currency", "str_matches")].examples == [("U1", "usd"), ("U2", "US")]
    assert failures[("quantity", "not_negative")].describe() == (
        "usage_summaries.csv column 'quantity' must be zero or more (credits carry a negative price or amount, "
        "not quantity) [not_negative]: 1 row, e.g. U3='-2'"
    )
    assert failures[(None, "charge_start_not_after_end")].describe() == (
        "usage_summaries.csv each row must be a charge_start_date on or before charge_end_date "
        "[charge_start_not_after_end]: 1 row, e.g. U4"
    )
    assert failures[("usage_date", "real_date_2000_to_2099")].examples == [("U5", "2026-13-01")]


def test_empty_required_value_is_reported_as_empty_with_none(con, tmp_path):
    failures = _validate(con, tmp_path, [usage_line("U1"), usage_line("U2", subscription_id="")])
    assert len(failures) == 1
    failure = failures[0]
    assert (failure.column, failure.check, failure.failing_rows) == ("subscription_id", "not_nullable", 1)
    assert failure.meaning == "a value (it is empty)"
    assert failure.examples == [("U2", None)]
    assert failure.describe().endswith("[not_nullable]: 1 row, e.g. U2=None")


def test_row_without_line_id_is_shown_as_a_question_mark(con, tmp_path):
    failures = _validate(con, tmp_path, [usage_line("U1"), usage_line("")])
    assert [(f.column, f.check, f.failing_rows) for f in failures] == [("line_id", "not_nullable", 1)]
    assert failures[0].describe().endswith("1 row, e.g. ?=None")


@pytest.mark.parametrize(
    ("column", "value", "check", "meaning"),
    [
        ("amount", "1e3", "str_matches", DECIMAL_MEANING),
        ("charge_end_date", "31.10.2026", "str_matches", "a date written YYYY-MM-DD"),
        (
            "charge_end_date",
            "2026-04-31",
            "real_date_2000_to_2099",
            "a real calendar date from 2000-01-01 to 2099-12-31",
        ),
        (
            "charge_start_date",
            "2100-01-01",
            "real_date_2000_to_2099",
            "a real calendar date from 2000-01-01 to 2099-12-31",
        ),
        ("currency", "EURO", "str_matches", "a three-letter ISO 4217 currency code in capitals"),
        ("customer_id", "tenant\x07", "str_matches", "1 to 200 characters without control characters"),
        ("product_id", "M365\tE3", "str_matches", "1 to 200 characters without control characters"),
    ],
)
def test_each_check_explains_its_meaning(con, tmp_path, column, value, check, meaning):
    failures = _by_check(_validate(con, tmp_path, [usage_line("U1"), usage_line("U2", **{column: value})]))
    failure = failures[(column, check)]
    assert failure.meaning == meaning
    assert (failure.failing_rows, failure.examples) == (1, [("U2", value)])


def test_license_file_extra_columns_are_not_judged(con, tmp_path):
    rows = [license_line("L1", usage_date="not a date", meter_id="x")]
    assert _validate(con, tmp_path, rows, kind="license", columns=[*LINE_COLUMNS, "usage_date", "meter_id"]) == []


def test_examples_name_the_right_lines_in_a_larger_file(con, tmp_path):
    rows = [usage_line(f"U{i:05d}", "1.00") for i in range(30_000)]
    for i in (7, 12_345, 29_999):
        rows[i]["amount"] = f"bad-{i}"
    failures = _validate(con, tmp_path, rows)
    assert len(failures) == 1
    assert failures[0].failing_rows == 3
    assert sorted(failures[0].examples) == [("U00007", "bad-7"), ("U12345", "bad-12345"), ("U29999", "bad-29999")]


def test_note_rows_are_capped_while_the_count_stays_exact(con, tmp_path, monkeypatch):
    monkeypatch.setattr("invoice_pipeline.validation.line_schema.NOTE_ROWS_PER_FAILURE", 8)
    rows = [usage_line(f"U{i:02d}", "1.00.0", unit_price="1.00") for i in range(11)]
    failures = _validate(con, tmp_path, rows)
    assert [(f.column, f.failing_rows) for f in failures] == [("amount", 11)]
    assert len(failures[0].note_rows) == 8
    assert len(failures[0].examples) == EXAMPLES_PER_FAILURE
    assert "11 rows" in failures[0].describe()
