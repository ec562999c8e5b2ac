"""What a valid provider invoice header is: its fields, and the rules its text values follow.

Plain Python (no schema library), so reading a header loads no engine. A problem is named as the line schemas name
theirs: the field, the check that failed and the value.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime

from invoice_pipeline.schemas.text_values import CURRENCY_PATTERN, EARLIEST_DATE, ISO_DATE_PATTERN, LATEST_DATE

# The header's total: at most 18 digits before the point and 10 after it, what the warehouse keeps of it
# (provider_invoices.total_amount, NUMERIC(38, 10)); its lines may carry more places, their sum is compared in the
# currency's minor units.
TOTAL_AMOUNT_PATTERN = r"^-?[0-9]{1,18}(\.[0-9]{1,10})?$"

HEADER_FIELDS = (
    "invoice_id",
    "invoice_date",
    "billing_period_start",
    "billing_period_end",
    "currency",
    "total_amount",
)
DATE_FIELDS = ("invoice_date", "billing_period_start", "billing_period_end")
_PATTERNS = {
    **dict.fromkeys(DATE_FIELDS, ISO_DATE_PATTERN),
    "currency": CURRENCY_PATTERN,
    "total_amount": TOTAL_AMOUNT_PATTERN,
}
REAL_DATE_CHECK = "real_date_2000_to_2099"
PERIOD_ORDER_CHECK = "billing_period_start_not_after_end"


def is_real_date(value: str) -> bool:
    """A real calendar date written year-month-day, between 2000-01-01 and 2099-12-31."""
    try:
        datetime.strptime(value, "%Y-%m-%d")
    except ValueError:
        return False
    return EARLIEST_DATE <= value <= LATEST_DATE


def header_problems(fields: Mapping[str, str]) -> list[str]:
    """Every rule the header's text `fields` break, sorted: a field not matching its pattern (dates ISO, currency
    ISO 4217, total a decimal string), a date that is no real date in range, a billing period starting after it ends.
    """
    problems = {
        f"{name} fails str_matches('{pattern}') (value {fields[name]!r})"
        for name, pattern in _PATTERNS.items()
        if not re.match(pattern, fields[name])
    }
    problems |= {
        f"{name} fails {REAL_DATE_CHECK} (value {fields[name]!r})"
        for name in DATE_FIELDS
        if not is_real_date(fields[name])
    }
    if fields["billing_period_start"] > fields["billing_period_end"]:
        problems.add(
            f"billing_period_start {fields['billing_period_start']!r} is after "
            f"billing_period_end {fields['billing_period_end']!r} [{PERIOD_ORDER_CHECK}]"
        )
    return sorted(problems)
