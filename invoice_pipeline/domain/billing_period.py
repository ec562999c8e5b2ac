"""A billing period: the calendar month a provider line's charge starts in."""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import date

_PERIOD = re.compile(r"^(\d{4})-(\d{2})$")


@dataclass(frozen=True, order=True)
class BillingPeriod:
    """A calendar month; a provider line belongs to the month its charge starts in."""

    year: int
    month: int

    @classmethod
    def parse(cls, text: str) -> BillingPeriod:
        """`2026-10` -> October 2026; ValueError says what is expected."""
        match = _PERIOD.match(text.strip())
        if not match or not 1 <= int(match.group(2)) <= 12:
            raise ValueError(f"period {text!r} is not a month: give it as YYYY-MM, e.g. 2026-10")
        return cls(int(match.group(1)), int(match.group(2)))

    @property
    def start(self) -> date:
        """The month's first day."""
        return date(self.year, self.month, 1)

    @property
    def end(self) -> date:
        """The month's last day."""
        return date(self.year, self.month, calendar.monthrange(self.year, self.month)[1])

    def previous(self, count: int) -> list[BillingPeriod]:
        """This period and the `count - 1` months before it, oldest first."""
        index = self.year * 12 + self.month - 1
        return [BillingPeriod(i // 12, i % 12 + 1) for i in range(index - count + 1, index + 1)]

    def __str__(self) -> str:
        return f"{self.year:04d}-{self.month:02d}"
