"""Lines charged outside the header's billing period: the boundaries and the figures, as the SQL counts them (DuckDB).

The words said about them are unit/validation/test_billing_period.py's."""

from __future__ import annotations

from datetime import date

import duckdb
import pytest

from invoice_pipeline.validation.billing_period import HeaderPeriod, OutOfPeriod

OCTOBER = HeaderPeriod(date(2026, 10, 1), date(2026, 10, 31), 31)


def _figures(period: HeaderPeriod, starts: list[str]) -> OutOfPeriod:
    con = duckdb.connect()
    con.execute("CREATE TABLE lines (charge_start_date DATE)")
    for start in starts:
        con.execute("INSERT INTO lines VALUES (?)", [start])
    result = con.execute(f"SELECT {period.figures('charge_start_date')} FROM lines")
    names = [column[0] for column in result.description]
    return OutOfPeriod.of([dict(zip(names, result.fetchone() or (), strict=True))])


@pytest.mark.parametrize(
    ("start", "lines", "beyond_limit"),
    [
        ("2026-10-01", 0, 0),  # the period's first day
        ("2026-10-31", 0, 0),  # its last day (wherever the charge ends)
        ("2026-09-30", 1, 0),  # the day before: late usage, never an Error
        ("2016-01-01", 1, 0),
        ("2026-11-01", 1, 0),  # the day after
        ("2026-12-01", 1, 0),  # 31 days after: the limit itself
        ("2026-12-02", 1, 1),  # 32 days after
    ],
)
def test_a_line_is_out_of_period_by_its_charge_start_and_an_error_beyond_the_limit(start, lines, beyond_limit):
    found = _figures(OCTOBER, [start])
    assert (found.lines, found.beyond_limit) == (lines, beyond_limit)


def test_the_figures_of_both_kinds_add_up_with_the_earliest_and_latest_charge_start_outside_the_period():
    usage = _figures(OCTOBER, ["2026-10-15", "2026-09-01", "2026-12-15"])
    license_ = _figures(OCTOBER, ["2026-08-20", "2026-11-02"])
    nothing = _figures(OCTOBER, [])
    assert OutOfPeriod.of(
        [
            {"out_of_period_lines": f.lines, "out_of_period_beyond_limit": f.beyond_limit}
            | {"out_of_period_earliest_start": f.earliest, "out_of_period_latest_start": f.latest}
            for f in (usage, license_, nothing)
        ]
    ) == OutOfPeriod(lines=4, beyond_limit=1, earliest=date(2026, 8, 20), latest=date(2026, 12, 15))
    assert nothing == OutOfPeriod()
