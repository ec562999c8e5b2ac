"""The one-pass schema check gives the same verdict, check by check, as Pandera's own validation."""

from __future__ import annotations

import copy
import subprocess
import sys

import duckdb
import ibis
import pandera.ibis as pa
import pytest

from invoice_pipeline.importing.provider_files import RAW_TABLE, reading, stage_line_file
from invoice_pipeline.schemas.line_columns import COMMON_COLUMNS, USAGE_COLUMNS
from invoice_pipeline.validation.line_schema import LINE_SCHEMAS, _describe_error, schema_failure_counts
from invoice_pipeline_tests.builders import write_csv

COLUMNS = [*COMMON_COLUMNS, *USAGE_COLUMNS]
GOOD = ["L0", "c", "s", "p", "2026-10-01", "2026-10-31", "1", "2.50", "2.50", "USD", "2026-10-02", "m", "VM", "h"]

# Each tricky row changes one or two cells of a good row.
TRICKY = {
    "thousands separator": {"amount": "1,000.00"},
    "exponent": {"amount": "1e5"},
    "NaN": {"unit_price": "NaN"},
    "Infinity": {"amount": "Infinity"},
    "19 integer digits": {"amount": "1234567890123456789"},
    "19 decimal places amount": {"amount": "0.1162666666666666671"},
    "15 decimal places amount allowed": {"amount": "0.116266666666667"},
    "16 decimal places quantity allowed": {"quantity": "0.0416666666666667"},
    "19 decimal places unit price": {"unit_price": "0.0000000000000000001"},
    "trailing newline": {"amount": "2.50\n"},
    "leading plus": {"amount": "+2.50"},
    "negative quantity": {"quantity": "-1"},
    "negative zero quantity": {"quantity": "-0"},
    "30 February": {"charge_start_date": "2026-02-30"},
    "1999": {"charge_end_date": "1999-12-31"},
    "2100": {"usage_date": "2100-01-01"},
    "slashes": {"charge_start_date": "2026/10/01"},
    "swapped period": {"charge_start_date": "2026-11-01", "charge_end_date": "2026-10-01"},
    "lowercase currency": {"currency": "usd"},
    "empty customer": {"customer_id": None},
    "control character id": {"line_id": "L\x01"},
    "201 character subscription": {"subscription_id": "s" * 201},
    "empty product (allowed)": {"product_id": None},
    "empty usage date (allowed)": {"usage_date": None},
}


def _staged(rows: list[list[str | None]]) -> tuple[ibis.BaseBackend, str]:
    con = duckdb.connect()
    con.execute(f"CREATE TEMP TABLE raw ({', '.join(f'{c} VARCHAR' for c in COLUMNS)})")
    con.executemany(f"INSERT INTO raw VALUES ({', '.join('?' for _ in COLUMNS)})", rows)
    return ibis.duckdb.from_connection(con), "raw"


def _row(index: int, changes: dict[str, str | None]) -> list[str | None]:
    row: list[str | None] = [*GOOD]
    row[0] = f"L{index}"
    for column, value in changes.items():
        row[COLUMNS.index(column)] = value
    return row


def _pandera_counts(table: ibis.Table, kind: str) -> dict[str, int]:
    try:
        LINE_SCHEMAS[kind].validate(table, lazy=True)
    except pa.errors.SchemaErrors as errors:
        counts = {}
        for error in errors.schema_errors:
            failure = _describe_error(table, error, "file")
            counts[f"{failure.column or '*'}:{failure.check}"] = failure.failing_rows
        return counts
    return {}


@pytest.mark.parametrize("case", list(TRICKY))
def test_fast_path_and_pandera_agree_on_each_tricky_row(case):
    backend, name = _staged([_row(1, {}), _row(2, TRICKY[case]), _row(3, {})])
    table = backend.table(name, database="temp")
    fast = {k: v for k, v in schema_failure_counts(table, LINE_SCHEMAS["usage"].to_schema()).items() if v}
    assert fast == _pandera_counts(table, "usage")
    if "allowed" in case:
        assert fast == {}
    else:
        assert fast, f"{case} should fail a check"


def test_fast_path_and_pandera_agree_on_all_tricky_rows_together():
    rows = [_row(i, changes) for i, changes in enumerate(TRICKY.values())] + [_row(100 + i, {}) for i in range(20)]
    backend, name = _staged(rows)
    table = backend.table(name, database="temp")
    fast = {k: v for k, v in schema_failure_counts(table, LINE_SCHEMAS["usage"].to_schema()).items() if v}
    assert fast == _pandera_counts(table, "usage")
    assert fast["amount:str_matches"] == 7


def test_fast_path_counts_nothing_on_good_rows():
    backend, name = _staged([_row(i, {}) for i in range(50)])
    table = backend.table(name, database="temp")
    counts = schema_failure_counts(table, LINE_SCHEMAS["usage"].to_schema())
    assert counts and not any(counts.values())
    LINE_SCHEMAS["usage"].validate(table, lazy=True)


def test_fast_path_steps_aside_for_a_check_it_does_not_know():
    schema = copy.deepcopy(LINE_SCHEMAS["license"].to_schema())
    schema.columns["amount"].checks.append(pa.Check.str_length(1, 5))
    backend, name = _staged([_row(1, {})])
    assert schema_failure_counts(backend.table(name, database="temp"), schema) is None


def test_tricky_rows_are_what_the_schemas_see_once_a_provider_csv_is_staged(tmp_path):
    # The staged view keeps every value of the provider's file as text: the rows above are what the schemas see.
    rows = [_row(i, changes) for i, changes in enumerate(TRICKY.values())]
    path = write_csv(tmp_path / "usage_summaries.csv", [dict(zip(COLUMNS, row, strict=True)) for row in rows], COLUMNS)
    con = duckdb.connect()
    stage_line_file(con, "usage", path)
    with reading(path.name):
        staged = con.sql(f"SELECT {', '.join(COLUMNS)} FROM {RAW_TABLE.format(kind='usage')}").fetchall()
    assert sorted(staged, key=lambda row: row[0]) == sorted((tuple(row) for row in rows), key=lambda row: row[0])


@pytest.mark.parametrize("first", ["license", "usage"])
def test_both_line_schemas_keep_their_check_names_whichever_is_built_first(first):
    # Schemas are cached per process, so each order is tried in a fresh interpreter.
    probe = (
        "from invoice_pipeline.validation.line_schema import LINE_SCHEMAS\n"
        f"for kind in ({first!r}, 'usage', 'license'):\n"
        "    schema = LINE_SCHEMAS[kind].to_schema()\n"
        "    print(kind, [c.name for c in schema.columns['quantity'].checks],"
        " [c.name for c in schema.columns['charge_end_date'].checks], [c.name for c in schema.checks])\n"
    )
    output = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout
    for line in output.splitlines():
        assert line.split(" ", 1)[1] == (
            "['str_matches', 'not_negative'] ['str_matches', 'real_date_2000_to_2099'] ['charge_start_not_after_end']"
        ), line
