"""The checksum rule: the header total must equal usage plus license totals, exactly, in decimal."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal, localcontext

from invoice_pipeline.domain.money import decimal_text, format_money, round_to_minor_units


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
