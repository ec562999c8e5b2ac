"""Money: exact decimals, rounded to a currency's minor units, formatted for people. Never float."""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Decimal


def round_to_minor_units(amount: Decimal, minor_units: int) -> Decimal:
    """Round `amount` to the currency's minor units (banker's rounding, as accounting systems do)."""
    return amount.quantize(Decimal(1).scaleb(-minor_units), rounding=ROUND_HALF_EVEN)


def format_money(amount: Decimal, minor_units: int, currency: str | None = None) -> str:
    """`10000.5` with 2 minor units -> `10,000.50` (and ` USD` when a currency is given)."""
    text = f"{round_to_minor_units(amount, minor_units):,.{minor_units}f}"
    return f"{text} {currency}" if currency else text


def decimal_text(amount: Decimal | None) -> str | None:
    """A decimal as a plain string for JSON and CSV (no exponent), or None."""
    if amount is None:
        return None
    text = format(amount, "f")
    return "0" if text in ("-0", "0") else text
