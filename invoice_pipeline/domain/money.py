"""Money: exact decimals, rounded to a currency's minor units, formatted for people. Never float."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import ROUND_FLOOR, ROUND_HALF_EVEN, Decimal, localcontext


def round_to_minor_units(amount: Decimal, minor_units: int) -> Decimal:
    """Round `amount` to the currency's minor units (banker's rounding, as accounting systems do)."""
    return amount.quantize(Decimal(1).scaleb(-minor_units), rounding=ROUND_HALF_EVEN)


def apportion(total: Decimal, amounts: Sequence[Decimal], minor_units: int) -> list[Decimal]:
    """`amounts` in the currency's minor units, adding up to `total` (in them already, e.g. their sum rounded):
    each amount rounded down, then the minor units left over given one each to the amounts that lost the most
    (largest remainder; ties in the amounts' order). So the parts shown always add up to the whole shown, and each
    is within one minor unit of its exact amount when `total` is (a rounded sum is)."""
    if not amounts:
        if total:
            raise ValueError(f"{total} cannot be shared among no amounts")
        return []
    unit = Decimal(1).scaleb(-minor_units)
    with localcontext() as exact:
        exact.prec = 80  # sums of stored amounts are never rounded on the way
        floors = [amount.quantize(unit, rounding=ROUND_FLOOR) for amount in amounts]
        left = int((total - sum(floors, Decimal(0))) / unit)
        every, extra = divmod(left, len(amounts))
        lost_most = set(sorted(range(len(amounts)), key=lambda i: (floors[i] - amounts[i], i))[:extra])
        return [floor + unit * (every + (i in lost_most)) for i, floor in enumerate(floors)]


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
