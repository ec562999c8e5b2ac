"""A billing period is a calendar month, read as YYYY-MM."""

from __future__ import annotations

from datetime import date

import pytest

from invoice_pipeline.domain.billing_period import BillingPeriod


def test_a_period_is_read_from_its_month_and_written_back_the_same():
    period = BillingPeriod.parse(" 2026-02 ")

    assert period == BillingPeriod(2026, 2)
    assert str(period) == "2026-02"


@pytest.mark.parametrize("text", ["2026-13", "2026-00", "2026-1", "26-10", "2026/10", "October"])
def test_a_period_that_is_not_a_month_is_refused_with_the_form_expected(text):
    with pytest.raises(ValueError, match="give it as YYYY-MM, e.g. 2026-10"):
        BillingPeriod.parse(text)


def test_a_period_runs_from_the_first_to_the_last_day_of_its_month_leap_years_included():
    assert (BillingPeriod(2028, 2).start, BillingPeriod(2028, 2).end) == (date(2028, 2, 1), date(2028, 2, 29))
    assert BillingPeriod(2026, 2).end == date(2026, 2, 28)


def test_the_periods_before_one_cross_the_year_oldest_first():
    assert BillingPeriod(2026, 2).previous(4) == [
        BillingPeriod(2025, 11),
        BillingPeriod(2025, 12),
        BillingPeriod(2026, 1),
        BillingPeriod(2026, 2),
    ]
