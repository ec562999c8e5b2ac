"""Lines charged outside the header's billing period: what the error and the warning say about them."""

from __future__ import annotations

from datetime import date

from invoice_pipeline.validation.billing_period import HeaderPeriod, OutOfPeriod, error_message, warning

OCTOBER = HeaderPeriod(date(2026, 10, 1), date(2026, 10, 31), 31)


def test_the_messages_count_the_lines_and_name_the_period_the_latest_start_and_what_to_do():
    one = OutOfPeriod(lines=1, beyond_limit=1, earliest=date(2026, 11, 1), latest=date(2026, 11, 1))
    assert error_message(one, HeaderPeriod(OCTOBER.start, OCTOBER.end, 0)) == (
        "Lines out of period: 1 line charged after the billing period 2026-10-01 to 2026-10-31 (latest charge start "
        "2026-11-01); ask the provider for a corrected invoice, or raise out_of_period_error_after_days if such "
        "charges are expected; see the Out Of Period Lines note"
    )
    many = OutOfPeriod(lines=1200, beyond_limit=1001, earliest=date(2026, 9, 1), latest=date(2027, 1, 1))
    assert error_message(many, HeaderPeriod(OCTOBER.start, OCTOBER.end, 1)).startswith(
        "Lines out of period: 1,001 lines charged more than 1 day after the billing period 2026-10-01 to 2026-10-31 "
        "(latest charge start 2027-01-01); "
    )
    assert warning(many, OCTOBER) == (
        "1,200 out-of-period lines (charges starting 2026-09-01 to 2027-01-01, billing period 2026-10-01 to "
        "2026-10-31; see the Out Of Period Lines note)"
    )
