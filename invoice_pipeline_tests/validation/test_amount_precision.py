"""Line amounts at the precision the provider sends them (issue #28, 6): up to 18 decimal places, stored and summed
exactly on both engines; Microsoft's daily-rated usage carries 15 (`billingPreTaxTotal` 0.116266666666667)."""

from __future__ import annotations

from decimal import Decimal

import duckdb
import ibis
import pytest
import sqlalchemy as sa

from invoice_pipeline.composition import connector_for
from invoice_pipeline.domain.invoice_keys import InvoiceKey
from invoice_pipeline.domain.statuses import Status
from invoice_pipeline.importing.invoice_import import import_provider_invoice
from invoice_pipeline.importing.provider_files import stage_line_file
from invoice_pipeline.validation.line_schema import SchemaFailure, validate_staged_lines
from invoice_pipeline.warehouse import tables as t
from invoice_pipeline_tests.builders import USAGE_COLUMNS, bill_at_cost, license_line, usage_line, write_csv

pytestmark = pytest.mark.engine_contract  # what the warehouse stores, on DuckDB and PostgreSQL

KEY = InvoiceKey("contoso-csp", "G-PRECISION")
DAILY_RATED = "0.116266666666667"  # 15 decimals, as Microsoft's daily-rated usage lines carry
FINEST = "0.000000000000000001"  # 18 decimals
LARGEST = "999999999999999999.999999999999999999"
AMOUNT_MEANING = (
    "a decimal number with at most 18 digits before the point and 18 after (no thousands separators, no exponent)"
)


def _import(workspace, warehouse):
    return import_provider_invoice(workspace.config(), warehouse, KEY, connectors=connector_for, run_id="t")


def test_a_line_amount_with_15_decimals_is_stored_and_totalled_exactly(workspace, warehouse):
    usage = [
        usage_line("U1", DAILY_RATED, quantity="0.0416666666666667", unit_price="2.790400000000008"),
        usage_line("U2", DAILY_RATED),
        usage_line("U3", FINEST),
        usage_line("U4", "-999999999999999999.999999999999999999", unit_price="-1"),
        usage_line("U5", "999999999999999999.999999999999999999", unit_price="1"),
    ]
    workspace.add_invoice(KEY.invoice_id, usage=usage, license=[license_line("L1", "36.000000000000000001")])

    result = _import(workspace, warehouse)

    assert result.status == Status.ACTIVE, result.message
    exact_usage = Decimal("0.232533333333334001")  # 2 x 0.116266666666667 + 1E-18, the +/- lines cancel
    with warehouse.engine.connect() as conn:
        stored = conn.execute(
            sa.select(t.usage_summaries.c.line_id, t.usage_summaries.c.amount).order_by(t.usage_summaries.c.line_id)
        ).all()
    assert [tuple(row) for row in stored] == [
        ("U1", Decimal(DAILY_RATED)),
        ("U2", Decimal(DAILY_RATED)),
        ("U3", Decimal(FINEST)),
        ("U4", Decimal("-999999999999999999.999999999999999999")),
        ("U5", Decimal("999999999999999999.999999999999999999")),
    ]
    record = warehouse.current_record(KEY)
    assert (record.usage_total, record.license_total) == (exact_usage, Decimal("36.000000000000000001"))
    assert warehouse.line_totals(result.record_id)["usage"] == (5, exact_usage)
    assert result.checksum.usage_total == Decimal("0.23")  # the checksum compares minor units, as before
    assert result.checksum.passed


@pytest.mark.parametrize("amount", [DAILY_RATED, FINEST, "-123456789012345678.123456789012345678", "4", "4.5"])
def test_line_amounts_with_up_to_18_digits_before_and_18_after_the_point_pass_their_schema(tmp_path, amount):
    assert _amount_failures(tmp_path, amount) == []


@pytest.mark.parametrize(
    "amount", ["0.1162666666666666671", "1234567890123456789", "4.", ".5", "4e0", "1,004.00", "+4.00", "NaN"]
)
def test_line_amounts_beyond_18_places_or_not_plain_decimals_are_refused_saying_so(tmp_path, amount):
    [failure] = _amount_failures(tmp_path, amount)
    assert (failure.check, failure.meaning, failure.examples) == ("str_matches", AMOUNT_MEANING, [("U1", amount)])


def _amount_failures(tmp_path, amount: str) -> list[SchemaFailure]:
    path = write_csv(tmp_path / "usage_summaries.csv", [usage_line("U1", amount, unit_price="1")], USAGE_COLUMNS)
    with duckdb.connect() as con:
        stage_line_file(con, "usage", path)
        table = ibis.duckdb.from_connection(con).table("raw_usage_summaries", database="temp")
        return validate_staged_lines(table, "usage", path.name).failures


def test_a_header_total_keeps_at_most_10_places(workspace, warehouse):
    workspace.add_invoice(KEY.invoice_id, usage=[usage_line("U1", DAILY_RATED)], total="0.11626666667")
    result = _import(workspace, warehouse)
    assert result.status == Status.ERROR
    assert "header.json: total_amount fails str_matches" in result.message
    assert "(value '0.11626666667')" in result.message


def test_duckdb_refuses_a_sum_of_decimal_38_18_beyond_20_digits_before_the_point_never_rounding_it():
    # What the import guards against (importing/line_amount_sums.py sums amounts in two parts): DuckDB's SUM of
    # DECIMAL(38, 18) is DECIMAL(38, 18), exact up to 20 digits before the point, and beyond raises; never a float.
    with duckdb.connect() as con:
        con.execute(f"CREATE TABLE t AS SELECT '{LARGEST}'::DECIMAL(38, 18) AS a FROM range(101)")
        exact = con.execute("SELECT sum(a), typeof(sum(a)) FROM (SELECT a FROM t LIMIT 100)").fetchone()
        assert exact == (Decimal("99999999999999999999.9999999999999999"), "DECIMAL(38,18)")
        with pytest.raises(duckdb.OutOfRangeException, match="Overflow in SUM of DECIMAL"):
            con.execute("SELECT sum(a) FROM t").fetchall()


@pytest.mark.parametrize(
    ("usage", "usage_magnitude", "magnitude"),
    [
        pytest.param(
            [LARGEST] * 101,
            "100999999999999999999.999999999999999899",
            "101000000000000000035.999999999999999899",
            id="beyond_a_database_sum",
        ),
        pytest.param(
            [LARGEST, f"-{LARGEST}"] * 6,
            "11999999999999999999.999999999999999988",
            "12000000000000000035.999999999999999988",
            id="cancelling_out",
        ),
    ],
)
def test_lines_whose_amounts_add_up_to_19_digits_before_the_point_are_refused_saying_so(
    workspace, warehouse, usage, usage_magnitude, magnitude
):
    lines = [usage_line(f"U{i}", amount, unit_price="1") for i, amount in enumerate(usage)]
    workspace.add_invoice(KEY.invoice_id, usage=lines, license=[license_line("L1", "36.00")], total="1.00")

    result = _import(workspace, warehouse)

    assert result.status == Status.ERROR
    assert result.message == (
        f"Schema validation failed: the line amounts add up to {magnitude} ignoring their signs "
        f"(usage_summaries.csv {usage_magnitude}, license_summaries.csv 36); an invoice's lines must add up to less "
        "than 10000000000000000000 (19 digits before the point, where a header total has at most 18) for their "
        "sums to stay exact; check the files' amount column"
    )
    with warehouse.engine.connect() as conn:
        for table in (t.usage_summaries, t.license_summaries):
            assert conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one() == 0


def test_lines_just_below_the_limit_are_summed_exactly(workspace, warehouse):
    # Nine of the largest amounts and their credits, 18 digits before the point each: every sum of them is exact.
    usage = [usage_line(f"U{i}", amount, unit_price="1") for i, amount in enumerate([LARGEST, f"-{LARGEST}"] * 4)]
    usage.append(usage_line("U9", "999999999999999999.999999999999999998", unit_price="1"))
    workspace.add_invoice(KEY.invoice_id, usage=usage, license=[license_line("L1", f"-{LARGEST}")], total="0.00")

    result = _import(workspace, warehouse)

    assert result.status == Status.ACTIVE, result.message
    record = warehouse.current_record(KEY)
    assert (record.usage_total, record.license_total) == (
        Decimal("999999999999999999.999999999999999998"),
        Decimal(f"-{LARGEST}"),
    )
    assert record.difference == 0


def test_a_billed_line_keeps_its_15_decimal_cost_exactly(workspace, warehouse):
    usage = [usage_line("U1", DAILY_RATED), usage_line("U2", DAILY_RATED), usage_line("U3", "-0.000000000000000001")]
    workspace.add_invoice(KEY.invoice_id, usage=usage)
    assert _import(workspace, warehouse).status == Status.ACTIVE

    [draft] = bill_at_cost(warehouse)

    links = t.customer_invoice_lines
    with warehouse.engine.connect() as conn:
        billed = conn.execute(sa.select(links.c.line_id, links.c.cost, links.c.amount).order_by(links.c.line_id)).all()
    assert [tuple(row) for row in billed] == [
        ("U1", Decimal(DAILY_RATED), Decimal(DAILY_RATED)),
        ("U2", Decimal(DAILY_RATED), Decimal(DAILY_RATED)),
        ("U3", Decimal("-1E-18"), Decimal("-1E-18")),
    ]
    assert draft.total_amount == Decimal("0.23")  # 0.232533333333333999 rounded once
    assert draft.rounding_difference == Decimal("-0.002533333333333999")
