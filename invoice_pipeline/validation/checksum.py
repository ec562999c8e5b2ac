"""The checksum rule and its override.

The header total is compared with the usage plus license totals, summed exactly in decimal and both sides rounded to
the currency's minor units; it passes within the provider's tolerance. A person may override a failed checksum by
approving its exact difference, below the currency's maximum.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal, localcontext

from invoice_pipeline.domain.money import decimal_text, format_money, round_to_minor_units

APPROVED_DIFFERENCE = re.compile(r"[+-]?[0-9]{1,30}(?:\.[0-9]{1,30})?")


@dataclass(frozen=True)
class ChecksumResult:
    """The three totals (rounded to the currency's minor units), their difference and the verdict.

    The difference is always header total minus lines total: negative when the lines exceed the header.
    """

    currency: str
    minor_units: int
    header_total: Decimal
    usage_total: Decimal
    license_total: Decimal
    lines_total: Decimal
    difference: Decimal
    tolerance: Decimal

    @property
    def passed(self) -> bool:
        """Whether the difference is within the provider's tolerance."""
        return abs(self.difference) <= self.tolerance

    def _money(self, amount: Decimal, with_currency: bool = False) -> str:
        return format_money(amount, self.minor_units, self.currency if with_currency else None)

    @property
    def message(self) -> str:
        """One line with the three totals and the difference, e.g. for the invoice's message field."""
        verdict = "Checksum passed" if self.passed else "Checksum failed"
        text = (
            f"{verdict}: header {self._money(self.header_total, True)}; usage {self._money(self.usage_total)}"
            f" + license {self._money(self.license_total)} = {self._money(self.lines_total)};"
            f" difference {self._money(self.difference, True)}"
        )
        if self.tolerance:
            text += f" (tolerance {decimal_text(self.tolerance, self.minor_units)} {self.currency})"
        return text


def approved_difference(text: str) -> Decimal:
    """The checksum difference a person approves, read exactly from its text (`0.37`, `-0.45`); ValueError saying
    how to write it otherwise (never through float, no thousands separator, no exponent, no currency)."""
    written = text.strip()
    if not APPROVED_DIFFERENCE.fullmatch(written):
        raise ValueError(
            f"{written[:40]!r} is not a difference; write it as the invoice's message shows it (header total minus "
            "lines total, in the invoice's currency), a plain decimal such as 0.37 or -0.45"
        )
    return Decimal(written)


def override_refusal(
    *, approved: Decimal, found: Decimal, maximum: Decimal, currency: str, minor_units: int | None
) -> str | None:
    """Why a checksum override must not accept the difference `found`, or None when it may: only the very
    difference a person approved (`approved`, exactly, sign included), and only below the currency's maximum.

    Both are header total minus lines total, as the invoice's message shows them.
    """

    def shown(amount: Decimal) -> str:
        return f"{decimal_text(amount, minor_units)} {currency}"

    if abs(found) >= maximum:
        approved_too = f" (the override approves {shown(approved)})" if approved != found else ""
        refusal = f"the checksum difference {shown(found)} is not below the override maximum {shown(maximum)}"
        smallest = Decimal(1).scaleb(-minor_units) if minor_units is not None else None
        if smallest is not None and maximum <= smallest:
            example = f'{{default: "0.50", {currency}: "{decimal_text(smallest * 50, minor_units)}"}}'
            return (
                f"{refusal}{approved_too}, and no {currency} difference can be: its smallest is {shown(smallest)}; "
                f"set a maximum for {currency} in the configuration (checksum_override_maximum: {example}, for "
                "example), or contact the provider"
            )
        return f"{refusal}{approved_too}; contact the provider"
    if approved != found:
        direction = ": the header exceeds the lines" if found > 0 else ": the lines exceed the header" if found else ""
        return (
            f"the override approves a difference of {shown(approved)}, but the invoice's checksum difference is "
            f"{shown(found)} (header total minus lines total{direction}); nothing was accepted: look at the invoice "
            f"again and approve {shown(found)} if it is acceptable"
        )
    return None


def check_checksum(
    *,
    header_total: Decimal,
    usage_total: Decimal,
    license_total: Decimal,
    currency: str,
    minor_units: int,
    tolerance: Decimal,
) -> ChecksumResult:
    """Compare the header total with usage + license, both sides rounded to the currency's minor units."""
    with localcontext() as exact:
        exact.prec = 80  # far beyond any stored amount: the sum is exact before it is rounded
        lines_total = round_to_minor_units(usage_total + license_total, minor_units)
    header = round_to_minor_units(header_total, minor_units)
    return ChecksumResult(
        currency=currency,
        minor_units=minor_units,
        header_total=header,
        usage_total=round_to_minor_units(usage_total, minor_units),
        license_total=round_to_minor_units(license_total, minor_units),
        lines_total=lines_total,
        difference=header - lines_total,
        tolerance=tolerance,
    )
