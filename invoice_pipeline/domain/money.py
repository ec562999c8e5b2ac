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


def decimal_text(amount: Decimal | None, minor_units: int | None = None) -> str | None:
    """A decimal as a plain string (no exponent), without storage padding: at least the currency's
    minor units, more only where the amount has more significant digits. None stays None."""
    if amount is None:
        return None
    exponent = amount.normalize().as_tuple().exponent
    if not isinstance(exponent, int):  # NaN or infinity
        raise ValueError(f"{amount} is not an amount")
    places = max(-exponent, minor_units or 0, 0)
    text = f"{amount:.{places}f}"
    return text[1:] if text.startswith("-") and not amount else text
