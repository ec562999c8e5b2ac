"""What a valid date or currency is, as text a provider writes: shared by the header and the line schemas."""

from __future__ import annotations

ISO_DATE_PATTERN = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$"
CURRENCY_PATTERN = r"^[A-Z]{3}$"
EARLIEST_DATE = "2000-01-01"
LATEST_DATE = "2099-12-31"
