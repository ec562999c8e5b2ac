"""Lines charged outside the header's billing period, in their pure part: the last day a charge may start without
an Error, the figures of the usage and license lines combined, and the words of the warning and the error in the
singular and the plural."""

from __future__ import annotations

from datetime import date

import pytest

from invoice_pipeline.validation.billing_period import (
    BEYOND_LIMIT,
    EARLIEST,
    LATEST,
    LINES,
    HeaderPeriod,
    OutOfPeriod,
    error_message,
    warning,
)

OCTOBER = HeaderPeriod(date(2026, 10, 1), date(2026, 10, 31), 31)


@pytest.mark.parametrize(
    ("days", "last_day"),
    [
        pytest.param(0, date(2026, 10, 31), id="none-after-the-period-end"),
        pytest.param(31, date(2026, 12, 1), id="31-days-into-the-next-month-but-one"),
        pytest.param(92, date(2027, 1, 31), id="across-the-year"),
    ],
)
def test_a_charge_may_start_up_to_error_after_days_past_the_periods_end(days, last_day):
    assert HeaderPeriod(OCTOBER.start, OCTOBER.end, days).error_after == last_day


def _figures(lines: int | None, beyond: int | None, earliest: date | None, latest: date | None) -> dict:
    return {LINES: lines, BEYOND_LIMIT: beyond, EARLIEST: earliest, LATEST: latest}


def test_the_figures_of_usage_and_license_lines_add_up_with_the_earliest_and_latest_start_of_both():
    usage = _figures(3, 1, date(2026, 9, 20), date(2026, 12, 5))
    license = _figures(2, 0, date(2026, 9, 1), date(2026, 11, 2))

    assert OutOfPeriod.of([usage, license]) == OutOfPeriod(5, 1, date(2026, 9, 1), date(2026, 12, 5))


def test_a_kind_with_no_line_out_of_period_adds_nothing_to_the_figures():
    usage = _figures(2, 0, date(2026, 11, 3), date(2026, 11, 4))
    no_license_line = _figures(None, None, None, None)  # the aggregate of no line

    assert OutOfPeriod.of([usage, no_license_line]) == OutOfPeriod(2, 0, date(2026, 11, 3), date(2026, 11, 4))
    assert OutOfPeriod.of([]) == OutOfPeriod(0, 0, None, None)


@pytest.mark.parametrize(
    ("found", "said"),
    [
        pytest.param(
            OutOfPeriod(1, 0, date(2026, 11, 2), date(2026, 11, 2)),
            "1 out-of-period line (charge starting 2026-11-02, billing period 2026-10-01 to 2026-10-31; see the Out "
            "Of Period Lines note)",
            id="one-line",
        ),
        pytest.param(
            OutOfPeriod(3, 0, date(2026, 9, 30), date(2026, 9, 30)),
            "3 out-of-period lines (charges starting 2026-09-30, billing period 2026-10-01 to 2026-10-31; see the "
            "Out Of Period Lines note)",
            id="lines-starting-the-same-day",
        ),
    ],
)
def test_the_warning_names_one_start_when_every_line_starts_the_same_day(found, said):
    assert warning(found, OCTOBER) == said


def test_the_error_counts_the_days_allowed_in_the_plural():
    found = OutOfPeriod(4, 2, date(2026, 12, 2), date(2026, 12, 9))

    assert error_message(found, OCTOBER) == (
        "Lines out of period: 2 lines charged more than 31 days after the billing period 2026-10-01 to 2026-10-31 "
        "(latest charge start 2026-12-09); ask the provider for a corrected invoice, or raise "
        "out_of_period_error_after_days if such charges are expected; see the Out Of Period Lines note"
    )
