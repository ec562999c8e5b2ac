"""How the configuration's values are read: strict keys, decimals never floats, a checksum override maximum per
currency, and line file limits as sizes."""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

from pydantic import BaseModel, ConfigDict

from invoice_pipeline.connectors.line_file_limits import (
    MAX_LINE_LENGTH_LIMIT,
    MIN_LINE_LENGTH_LIMIT,
    byte_size,
    byte_size_text,
)

CURRENCY_PATTERN = re.compile(r"[A-Z]{3}")
DEFAULT_CURRENCY = "default"  # checksum_override_maximum's key for the currencies it does not name
DEFAULT_OVERRIDE_MAXIMUM = Decimal("0.50")
MONEY_PLACES = 10  # an amount setting is stored as money, DECIMAL(28, 10): 18 digits before the point, 10 after
MONEY_BOUND = Decimal(10) ** (28 - MONEY_PLACES)


class StrictModel(BaseModel):
    """A part of the configuration: an unknown key is refused (a misspelt key must not be ignored), and it never
    changes once loaded."""

    model_config = ConfigDict(extra="forbid", frozen=True)


def decimal_setting(value: object, key: str) -> Decimal:
    """A finite, non-negative decimal from the file: a quoted string or a whole number, never a float."""
    if isinstance(value, float):
        raise ValueError(f'{key} must be a quoted decimal string such as "0.50", not a float')
    try:
        amount = Decimal(str(value))
    except InvalidOperation as error:
        raise ValueError(f'{key} must be a decimal number such as "0.50"') from error
    if not amount.is_finite() or amount < 0:
        raise ValueError(f"{key} must be a finite, non-negative decimal")
    # Stored as money (DECIMAL(28, 10)): a larger or finer amount could not be written with the invoice's record.
    if amount >= MONEY_BOUND or amount != round(amount, MONEY_PLACES):
        raise ValueError(
            f"{key} must be below {MONEY_BOUND} with at most {MONEY_PLACES} decimal places (it is stored as money)"
        )
    return amount


def override_maximum_setting(value: object) -> dict[str, Decimal]:
    """checksum_override_maximum as a maximum per currency: one decimal applies to every currency (the form
    before per-currency maximums), a mapping names currencies and `default` for the others."""
    key = "checksum_override_maximum"
    if not isinstance(value, dict):
        if isinstance(value, list | tuple | set | bool) or value is None:
            raise ValueError(
                f'{key} must be a quoted decimal such as "0.50", or a mapping of currency codes to quoted decimals '
                'such as {default: "0.50", JPY: "50"}'
            )
        return {DEFAULT_CURRENCY: decimal_setting(value, key)}
    maximums = {}
    for currency, amount in value.items():
        if currency != DEFAULT_CURRENCY and not (isinstance(currency, str) and CURRENCY_PATTERN.fullmatch(currency)):
            raise ValueError(
                f"{str(currency)[:20]!r} is not a currency code; write three upper-case letters (ISO 4217, e.g. JPY), "
                f"or {DEFAULT_CURRENCY} for the other currencies"
            )
        maximums[currency] = decimal_setting(amount, f"{key}.{currency}")
    return maximums


def limit_setting(value: object, key: str) -> int:
    """A line file limit in bytes (`line_file_size_limit`, `line_length_limit`), from a size such as 1MB."""
    size = byte_size(value, key)
    if key == "line_length_limit" and not MIN_LINE_LENGTH_LIMIT <= size <= MAX_LINE_LENGTH_LIMIT:
        raise ValueError(
            f"{key} must be between {byte_size_text(MIN_LINE_LENGTH_LIMIT)} and {byte_size_text(MAX_LINE_LENGTH_LIMIT)}"
        )
    return size
