"""Bad (and unusual but valid) provider files, through the real import.

Every refused invoice must end in Error with one message that names the file and the problem, and
must store no line at all, even though its other line file is valid.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest
import sqlalchemy as sa

from invoice_pipeline.composition import connector_for
from invoice_pipeline.connectors.folder import folders_not_read
from invoice_pipeline.domain.invoice_keys import InvoiceKey
from invoice_pipeline.domain.statuses import Status
from invoice_pipeline.importing.import_results import SCHEMA_CHECK
from invoice_pipeline.importing.invoice_import import import_provider_invoice
from invoice_pipeline_tests.builders import USAGE_COLUMNS, license_line, usage_line, write_csv
from invoice_pipeline_tests.fakes import csv_text, provider_header

KEY = InvoiceKey("contoso-csp", "G300000001")
NO_LINES = {"usage": (0, None), "license": (0, None)}
DECIMAL_MEANING = (
    "must be a decimal number with at most 18 digits before the point and 18 after "
    "(no thousands separators, no exponent) [str_matches]"
)
QUANTITY_PRICE_MEANING = DECIMAL_MEANING
DATE_MEANING = "must be a real calendar date from 2000-01-01 to 2099-12-31 [real_date_2000_to_2099]"


def _import(workspace, warehouse):
    return import_provider_invoice(workspace.config(), warehouse, KEY, connectors=connector_for, run_id="t")


def _csv_text(rows: list[dict], columns: list[str] = USAGE_COLUMNS) -> str:
    return csv_text(rows, columns)


def _invoice_with_valid_license(workspace, usage_total: str = "10.00") -> Path:
    """An invoice folder whose license file is valid (one 36.00 line); the test adds the usage file."""
    total = str(Decimal(usage_total) + Decimal("36.00"))
    return workspace.add_invoice(KEY.invoice_id, license=[license_line("L1", "36.00")], total=total)


def _write_usage(workspace, content: bytes, name: str = "usage_summaries.csv", usage_total: str = "10.00") -> Path:
    folder = _invoice_with_valid_license(workspace, usage_total)
    (folder / name).write_bytes(content)
    return folder


def _refused(workspace, warehouse, *fragments: str):
    """Import, and check: Error, the message holds every fragment, the record says so, no line stored."""
    result = _import(workspace, warehouse)
    assert result.status == Status.ERROR, result.message
    for fragment in fragments:
        assert fragment in result.message
    assert "\n" not in result.message
    assert not result.checks[SCHEMA_CHECK].passed
    record = warehouse.current_record(KEY)
    assert record.status == "Error"
    assert record.message == result.message
    assert warehouse.line_totals(record.record_id) == NO_LINES
    return result


def _accepted(workspace, warehouse):
    result = _import(workspace, warehouse)
    assert result.status == Status.ACTIVE, result.message
    return result


def _stored_usage(warehouse, *columns: str) -> list[tuple]:
    with warehouse.engine.connect() as conn:
        return [
            tuple(r)
            for r in conn.execute(sa.text(f"SELECT {', '.join(columns)} FROM usage_summaries ORDER BY line_id"))
        ]


GOOD_USAGE = [usage_line("U1", "6.00"), usage_line("U2", "4.00")]


# Reading the file ------------------------------------------------------------------------------


def test_quote_never_closed_is_refused_as_an_unclosed_quote(workspace, warehouse):
    text = _csv_text([usage_line("U1")]) + 'U2,"7f3c2a10,SUB-AZ-1001,AZURE-PLAN,2026-10-01,2026-10-31,1,1,1,USD,,,,\n'
    _write_usage(workspace, text.encode())
    result = _refused(workspace, warehouse, "usage_summaries.csv: cannot be read")
    assert "a quoted field is never closed" in result.message
    assert "not UTF-8" not in result.message


@pytest.mark.parametrize(
    "bad_row",
    [
        pytest.param(",".join(usage_line("U2").values()) + ",surplus", id="row_with_more_fields_than_the_header"),
        pytest.param("U2,7f3c2a10,SUB-AZ-1001", id="row_with_fewer_fields_than_the_header"),
    ],
)
def test_rows_that_do_not_fit_the_header_are_refused_without_blaming_the_encoding(workspace, warehouse, bad_row):
    text = _csv_text([usage_line("U1"), usage_line("U3")]) + bad_row + "\n"
    _write_usage(workspace, text.encode())
    result = _refused(workspace, warehouse, "usage_summaries.csv")
    assert "not UTF-8" not in result.message
    assert "missing column" not in result.message  # every column is there; one row is wrong


def test_latin1_file_with_accented_text_is_refused_as_not_utf8(workspace, warehouse):
    rows = [usage_line("U1", meter_name="Sauvegarde données à froid, Zürich")]
    _write_usage(workspace, _csv_text(rows).encode("latin-1"))
    _refused(workspace, warehouse, "usage_summaries.csv: cannot be read", "not UTF-8")


def test_utf8_bom_and_crlf_line_ends_are_accepted_and_leave_no_trace_in_the_values(workspace, warehouse):
    rows = [usage_line("U1", "6.00", meter_name="Sauvegarde à froid"), usage_line("U2", "4.00")]
    content = b"\xef\xbb\xbf" + _csv_text(rows).replace("\n", "\r\n").encode("utf-8")
    _write_usage(workspace, content)
    result = _accepted(workspace, warehouse)
    assert result.usage_line_count == 2
    assert _stored_usage(warehouse, "line_id", "currency", "unit", "meter_name") == [
        ("U1", "USD", "1 Hour", "Sauvegarde à froid"),
        ("U2", "USD", "1 Hour", "D2s v5 VM"),
    ]


def test_quoted_fields_with_commas_and_doubled_quotes_are_read_whole(workspace, warehouse):
    rows = [usage_line("U1", "6.00", meter_name='D2s v5, "Spot" Linux'), usage_line("U2", "4.00", unit="1,000 Hours")]
    text = _csv_text(rows)
    assert '"D2s v5, ""Spot"" Linux"' in text  # the file really quotes them
    _write_usage(workspace, text.encode())
    _accepted(workspace, warehouse)
    assert _stored_usage(warehouse, "line_id", "meter_name", "unit") == [
        ("U1", 'D2s v5, "Spot" Linux', "1 Hour"),
        ("U2", "D2s v5 VM", "1,000 Hours"),
    ]


def test_header_only_file_means_no_lines_of_that_kind(workspace, warehouse):
    workspace.add_invoice(KEY.invoice_id, usage=[], license=[license_line("L1", "36.00")])
    assert (workspace.provider_folder() / KEY.invoice_id / "usage_summaries.csv").read_text().count("\n") == 1
    result = _accepted(workspace, warehouse)
    assert (result.usage_line_count, result.license_line_count) == (0, 1)
    assert warehouse.line_totals(result.record_id) == {"usage": (0, None), "license": (1, Decimal("36.00"))}


def test_real_csv_gz_is_accepted(workspace, warehouse):
    _write_usage(workspace, gzip.compress(_csv_text(GOOD_USAGE).encode()), name="usage_summaries.csv.gz")
    result = _accepted(workspace, warehouse)
    assert warehouse.line_totals(result.record_id)["usage"] == (2, Decimal("10.00"))


def _write_parquet(path: Path, rows: list[dict], select: str = "*") -> Path:
    source = write_csv(path.with_suffix(".source.csv"), rows)
    con = duckdb.connect()
    try:
        con.execute(
            f"COPY (SELECT {select} FROM read_csv('{source}', all_varchar = true)) TO '{path}' (FORMAT parquet)"
        )
    finally:
        con.close()
    source.unlink()
    return path


def test_parquet_file_is_accepted(workspace, warehouse):
    folder = _invoice_with_valid_license(workspace, "10.10")
    _write_parquet(folder / "usage_summaries.parquet", [usage_line("U1", "6.05"), usage_line("U2", "4.05")])
    result = _accepted(workspace, warehouse)
    assert warehouse.line_totals(result.record_id)["usage"] == (2, Decimal("10.10"))


def test_parquet_file_with_typed_columns_is_judged_on_its_text(workspace, warehouse):
    folder = _invoice_with_valid_license(workspace, "10.10")
    typed = (
        "* REPLACE (CAST(amount AS DECIMAL(18, 2)) AS amount, CAST(quantity AS INTEGER) AS quantity, "
        "CAST(charge_start_date AS DATE) AS charge_start_date)"
    )
    _write_parquet(folder / "usage_summaries.parquet", [usage_line("U1", "6.05"), usage_line("U2", "4.05")], typed)
    result = _accepted(workspace, warehouse)
    assert warehouse.line_totals(result.record_id)["usage"] == (2, Decimal("10.10"))


def test_bad_value_in_parquet_file_is_refused_naming_the_parquet_file(workspace, warehouse):
    folder = _invoice_with_valid_license(workspace)
    _write_parquet(folder / "usage_summaries.parquet", [usage_line("U1", "6.00"), usage_line("U2", "4,00")])
    _refused(workspace, warehouse, f"usage_summaries.parquet column 'amount' {DECIMAL_MEANING}", "U2='4,00'")


def test_usage_as_both_csv_and_parquet_is_refused(workspace, warehouse):
    folder = _write_usage(workspace, _csv_text(GOOD_USAGE).encode())
    _write_parquet(folder / "usage_summaries.parquet", GOOD_USAGE)
    _refused(
        workspace,
        warehouse,
        f"invoice {KEY.invoice_id} has more than one usage_summaries file "
        "(usage_summaries.csv, usage_summaries.parquet); keep exactly one",
    )


# Values in the lines ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        pytest.param(
            {"quantity": "ten"},
            f"column 'quantity' {QUANTITY_PRICE_MEANING}: 1 row, e.g. U2='ten'",
            id="text_in_quantity",
        ),
        pytest.param(
            {"charge_start_date": "2024-02-30", "charge_end_date": "2024-03-31"},
            f"column 'charge_start_date' {DATE_MEANING}: 1 row, e.g. U2='2024-02-30'",
            id="february_30th",
        ),
        pytest.param(
            {"usage_date": "2026-02-29"},
            f"column 'usage_date' {DATE_MEANING}: 1 row, e.g. U2='2026-02-29'",
            id="february_29th_of_a_common_year",
        ),
        pytest.param(
            {"charge_start_date": "1999-12-31"},
            f"column 'charge_start_date' {DATE_MEANING}: 1 row, e.g. U2='1999-12-31'",
            id="date_before_2000",
        ),
        pytest.param(
            {"charge_end_date": "2026/10/31"},
            "column 'charge_end_date' must be a date written YYYY-MM-DD [str_matches]: 1 row, e.g. U2='2026/10/31'",
            id="date_not_iso",
        ),
        pytest.param(
            {"charge_start_date": "2026-10-31", "charge_end_date": "2026-10-01"},
            "usage_summaries.csv each row must be a charge_start_date on or before charge_end_date "
            "[charge_start_not_after_end]: 1 row, e.g. U2",
            id="charge_start_after_end",
        ),
        pytest.param(
            {"customer_id": ""},
            "column 'customer_id' must be a value (it is empty) [not_nullable]: 1 row, e.g. U2=None",
            id="empty_customer_id",
        ),
        pytest.param({"amount": ""}, "column 'amount' must be a value (it is empty)", id="empty_amount"),
        pytest.param(
            {"amount": "1234567890123456789"},
            f"column 'amount' {DECIMAL_MEANING}: 1 row, e.g. U2='1234567890123456789'",
            id="19_integer_digits",
        ),
        pytest.param(
            {"amount": "4.0000000000000000001"},
            f"column 'amount' {DECIMAL_MEANING}: 1 row, e.g. U2='4.0000000000000000001'",
            id="19_decimal_places",
        ),
        pytest.param(
            {"unit_price": "0.0000000000000000001"},
            f"column 'unit_price' {QUANTITY_PRICE_MEANING}: 1 row, e.g. U2='0.0000000000000000001'",
            id="unit_price_19_decimal_places",
        ),
        pytest.param(
            {"unit": "x" * 101},
            "column 'unit' must be 1 to 100 characters without control characters [str_matches]: 1 row",
            id="unit_too_long",
        ),
        pytest.param(
            {"meter_id": "m" * 201},
            "column 'meter_id' must be 1 to 200 characters without control characters [str_matches]: 1 row",
            id="meter_id_too_long",
        ),
        pytest.param(
            {"meter_name": "Standard\x00D2s"},
            "column 'meter_name' must be text without NUL characters [str_matches]: 1 row",
            id="nul_in_meter_name",
        ),
        pytest.param({"amount": "4e0"}, f"column 'amount' {DECIMAL_MEANING}: 1 row, e.g. U2='4e0'", id="exponent"),
        pytest.param(
            {"amount": "4.0E+0"}, f"column 'amount' {DECIMAL_MEANING}: 1 row, e.g. U2='4.0E+0'", id="exponent_capital"
        ),
        pytest.param({"amount": "NaN"}, f"column 'amount' {DECIMAL_MEANING}: 1 row, e.g. U2='NaN'", id="nan"),
        pytest.param(
            {"amount": "Infinity"}, f"column 'amount' {DECIMAL_MEANING}: 1 row, e.g. U2='Infinity'", id="infinity"
        ),
        pytest.param(
            {"amount": "-inf"}, f"column 'amount' {DECIMAL_MEANING}: 1 row, e.g. U2='-inf'", id="negative_inf"
        ),
        pytest.param(
            {"unit_price": "1,004.00"},
            f"column 'unit_price' {QUANTITY_PRICE_MEANING}: 1 row, e.g. U2='1,004.00'",
            id="thousands_separator",
        ),
        pytest.param(
            {"amount": " 4.00"}, f"column 'amount' {DECIMAL_MEANING}: 1 row, e.g. U2=' 4.00'", id="leading_space"
        ),
        pytest.param({"amount": "+4.00"}, f"column 'amount' {DECIMAL_MEANING}: 1 row, e.g. U2='+4.00'", id="plus_sign"),
        pytest.param({"amount": "4."}, f"column 'amount' {DECIMAL_MEANING}: 1 row, e.g. U2='4.'", id="trailing_point"),
        pytest.param(
            {"quantity": "-1"},
            "column 'quantity' must be zero or more (credits carry a negative price or amount, not quantity) "
            "[not_negative]: 1 row, e.g. U2='-1'",
            id="negative_quantity",
        ),
        pytest.param(
            {"currency": "usd"},
            "column 'currency' must be a three-letter ISO 4217 currency code in capitals [str_matches]: "
            "1 row, e.g. U2='usd'",
            id="lowercase_currency",
        ),
        pytest.param(
            {"subscription_id": "SUB-AZ-1001\nSUB-AZ-1002"},
            "column 'subscription_id' must be 1 to 200 characters without control characters",
            id="newline_inside_an_identifier",
        ),
        pytest.param(
            {"line_id": "U" + "2" * 200},
            "column 'line_id' must be 1 to 200 characters without control characters",
            id="line_id_of_201_chars",
        ),
    ],
)
def test_bad_line_value_refuses_the_invoice_naming_file_column_and_line(workspace, warehouse, overrides, expected):
    bad = usage_line("U2", "4.00")
    bad.update(overrides)
    _write_usage(workspace, _csv_text([usage_line("U1", "6.00"), bad]).encode())
    _refused(workspace, warehouse, "Schema validation failed: ", "usage_summaries.csv", expected)


def test_bad_value_in_the_license_file_names_the_license_file(workspace, warehouse):
    workspace.add_invoice(
        KEY.invoice_id, usage=GOOD_USAGE, license=[license_line("L1", "36.00", quantity="2.5e1")], total="46.00"
    )
    _refused(
        workspace,
        warehouse,
        f"license_summaries.csv column 'quantity' {QUANTITY_PRICE_MEANING}: 1 row, e.g. L1='2.5e1'",
    )


def _stored_text(warehouse, sql: str) -> list[str]:
    """Values exactly as the warehouse holds them (cast to text in the database, no driver conversion)."""
    with warehouse.engine.connect() as conn:
        return [r[0] for r in conn.execute(sa.text(sql))]


def test_amount_with_18_integer_digits_and_18_decimal_places_is_stored_exactly(workspace, warehouse):
    big = "123456789012345678.123456789012345678"
    workspace.add_invoice(KEY.invoice_id, usage=[usage_line("U1", big, unit_price=big)], total="123456789012345678.12")
    result = _accepted(workspace, warehouse)
    assert result.checksum.usage_total == Decimal("123456789012345678.12")
    assert _stored_text(warehouse, "SELECT CAST(amount AS VARCHAR) FROM usage_summaries") == [big]


def test_record_totals_are_written_with_every_significant_digit(workspace, warehouse):
    usage = "1234567.1234567891"  # 17 significant digits: more than a float holds
    workspace.add_invoice(KEY.invoice_id, usage=[usage_line("U1", usage, unit_price=usage)], total="1234567.12")
    _accepted(workspace, warehouse)
    stored = _stored_text(warehouse, "SELECT CAST(usage_total AS VARCHAR) FROM provider_invoices")
    assert stored == [usage + "00000000"]  # NUMERIC(38, 18): line totals keep 18 places


def test_stored_line_amounts_read_back_with_every_significant_digit(workspace, warehouse):
    usage = "1234567.1234567891"
    workspace.add_invoice(KEY.invoice_id, usage=[usage_line("U1", usage, unit_price=usage)], total="1234567.12")
    result = _accepted(workspace, warehouse)
    assert _stored_text(warehouse, "SELECT CAST(amount AS VARCHAR) FROM usage_summaries") == [usage + "00000000"]
    assert warehouse.line_totals(result.record_id)["usage"] == (1, Decimal(usage))


def test_hostile_line_id_in_a_refused_file_is_neutralised_in_the_failure_note(workspace, warehouse):
    bad = usage_line('=HYPERLINK("http://x")', "4.00")
    bad["amount"] = "four"
    _write_usage(workspace, _csv_text([usage_line("U1", "6.00"), bad]).encode())
    result = _refused(workspace, warehouse, "column 'amount'")
    note = {n.file_name: n.content for n in warehouse.notes(result.record_id)}["failure_cases.csv"]
    rows = list(csv.reader(io.StringIO(note)))
    assert rows[0] == ["file", "column", "check", "line_id", "value"]
    assert ["usage_summaries.csv", "amount", "str_matches", '\'=HYPERLINK("http://x")', "four"] in rows


def test_credit_with_negative_price_and_amount_but_positive_quantity_is_accepted(workspace, warehouse):
    workspace.add_invoice(KEY.invoice_id, usage=[usage_line("U1", "-4.50", quantity="3", unit_price="-1.50")])
    result = _accepted(workspace, warehouse)
    assert warehouse.line_totals(result.record_id)["usage"] == (1, Decimal("-4.50"))


# header.json ------------------------------------------------------------------------------------


def _write_header_text(workspace, text: str | bytes) -> Path:
    folder = workspace.add_invoice(KEY.invoice_id, usage=GOOD_USAGE, license=[license_line("L1", "36.00")])
    path = folder / "header.json"
    path.write_bytes(text if isinstance(text, bytes) else text.encode("utf-8"))
    return folder


def test_header_that_is_not_json_is_refused(workspace, warehouse):
    _write_header_text(
        workspace,
        json.dumps(
            provider_header(
                KEY.invoice_id,
            )
        )[:-20],
    )
    _refused(workspace, warehouse, "header.json: not valid JSON (", "at line 1)")


def test_header_numbers_given_as_json_numbers_are_exact_decimals(workspace, warehouse):
    folder = workspace.add_invoice(KEY.invoice_id, usage=[usage_line("U1", "10.10")])
    text = json.dumps(provider_header(KEY.invoice_id, total_amount="@@"), indent=2).replace('"@@"', "10.10")
    (folder / "header.json").write_text(text, encoding="utf-8")
    result = _accepted(workspace, warehouse)
    assert result.checksum.header_total == Decimal("10.10")
    assert str(result.checksum.header_total) == "10.10"
    assert warehouse.current_record(KEY).total_amount == Decimal("10.10")


def test_header_total_as_json_number_beyond_float_precision_stays_exact(workspace, warehouse):
    big = "123456789012345678.12"
    assert Decimal(float(big)) != Decimal(big)  # a float would lose the cents
    folder = workspace.add_invoice(KEY.invoice_id, usage=[usage_line("U1", big, unit_price=big)])
    text = json.dumps(provider_header(KEY.invoice_id, total_amount="@@")).replace('"@@"', big)
    (folder / "header.json").write_text(text, encoding="utf-8")
    result = _accepted(workspace, warehouse)
    assert result.checksum.header_total == Decimal(big)


def test_header_with_utf8_bom_is_accepted(workspace, warehouse):
    folder = workspace.add_invoice(KEY.invoice_id, usage=[usage_line("U1", "10.00")])
    path = folder / "header.json"
    path.write_bytes(b"\xef\xbb\xbf" + path.read_bytes())
    _accepted(workspace, warehouse)


def test_bad_utf8_in_an_extra_column_near_the_end_is_refused_as_not_utf8(workspace, warehouse):
    rows = [dict(usage_line(f"U{i}", "1.00"), note="ok") for i in range(3000)]
    rows[-3]["note"] = "BAD"
    folder = workspace.add_invoice(KEY.invoice_id, usage=rows)
    path = folder / "usage_summaries.csv"
    path.write_bytes(path.read_bytes().replace(b",BAD", b",\xff\xfe"))
    _refused(workspace, warehouse, "usage_summaries.csv: cannot be read at line 2999: the file is not UTF-8 text")


# Folders never read --------------------------------------------------------------------------------------


def test_folders_not_read_name_each_folder_safely_with_why_and_how_to_fix_it(workspace, tmp_path):
    root = workspace.provider_folder()
    workspace.add_invoice("G1", usage=[usage_line("U1")])
    for name in ("G2 copy", "bad\nname", "..G3"):
        (root / name).mkdir()
    (tmp_path / "elsewhere").mkdir()
    (root / "G4").symlink_to(tmp_path / "elsewhere")
    (root / "notes.txt").write_text("a file, not a folder")
    rows = folders_not_read(workspace.config().provider("contoso-csp"))
    by_folder = {row.folder: row.reason for row in rows}
    assert sorted(by_folder) == ["..G3", "G2 copy", "G4", "bad\\nname"]  # the line break shown, never written
    assert {row.provider for row in rows} == {"contoso-csp"}
    assert by_folder["G2 copy"] == (
        "invoice id 'G2 copy' is not allowed: use 1-100 ASCII letters, digits, '.', '_' or '-', starting with a "
        "letter or digit, without '..'; rename the folder to its invoice id"
    )
    assert by_folder["G4"] == (
        f"a link to {(tmp_path / 'elsewhere').resolve()}, outside {root.resolve()}; move the folder itself here"
    )


def test_a_provider_folder_that_cannot_be_listed_is_one_row_saying_why(workspace):
    provider = workspace.config().provider("contoso-csp")
    provider.folder.rename(provider.folder.with_name("moved-away"))
    (row,) = folders_not_read(provider)
    assert row.folder == "."
    assert row.reason.startswith("cannot be listed ([Errno 2] No such file or directory: ")
    assert row.reason.endswith("; check providers.path")
