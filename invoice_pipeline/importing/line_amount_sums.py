"""An invoice's line amounts summed exactly: each amount in whole units and fraction, summed apart by the database
and added in Python, so no sum of amounts the schema can read overflows; and the limit beyond which an invoice's
lines could not be summed exactly."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Context, Decimal, localcontext
from typing import TYPE_CHECKING, Any

from invoice_pipeline.domain.line_kinds import LineKind
from invoice_pipeline.schemas.line_summaries import MONEY_SQL_TYPE

if TYPE_CHECKING:
    import ibis.expr.types as ir

# The amounts are summed in two parts, whole units and fractions, and added in Python: a database's SUM of
# DECIMAL(38, 18) amounts fails beyond 20 digits before the point (DuckDB 2.0: "Overflow in SUM of DECIMAL"),
# and it would fail in the middle of a pass. Summed so, no amounts the schema can read overflow.
AMOUNT_UNITS, AMOUNT_FRACTION = "amount_units", "amount_fraction"
AMOUNT_UNITS_MAGNITUDE, AMOUNT_FRACTION_MAGNITUDE = "amount_units_magnitude", "amount_fraction_magnitude"
# An invoice's line amounts add up to less than this ignoring their signs (19 digits before the point, where a header
# total has at most 18): then every sum of them (per kind, both, the difference to the header, any group of lines) fits
# the warehouse's NUMERIC(38, 18) and a database's SUM of them, exactly.
LINE_AMOUNTS_LIMIT = Decimal(10) ** 19
EXACT = Context(prec=80)  # far beyond any sum of amounts: added without rounding


@dataclass(frozen=True)
class AmountSums:
    """The exact sum of one file's line amounts, and of their absolute values."""

    total: Decimal
    magnitude: Decimal

    @classmethod
    def of(cls, figures: Mapping[str, Any]) -> AmountSums:
        """From the aggregates `amount_tallies` (or `amount_sums_sql`) made: units and fractions added exactly."""

        def part(name: str) -> Decimal:
            return Decimal(figures[name] or 0)

        with localcontext(EXACT):
            return cls(
                part(AMOUNT_UNITS) + part(AMOUNT_FRACTION),
                part(AMOUNT_UNITS_MAGNITUDE) + part(AMOUNT_FRACTION_MAGNITUDE),
            )


def amount_tallies(table: ir.Table) -> dict[str, ir.Scalar]:
    """The aggregates of the checked view's amounts (see AMOUNT_UNITS) for the validation pass."""
    units, fraction = table[AMOUNT_UNITS], table[AMOUNT_FRACTION]
    return {
        AMOUNT_UNITS: units.sum(),
        AMOUNT_FRACTION: fraction.sum(),
        AMOUNT_UNITS_MAGNITUDE: units.abs().sum(),
        AMOUNT_FRACTION_MAGNITUDE: fraction.abs().sum(),
    }


def amount_parts_sql(amount: str) -> tuple[str, str]:
    """`amount` (DECIMAL(38, 18)) as its whole units and its fraction, each summable without overflow."""
    units = f"CAST(trunc({amount}) AS DECIMAL(38, 0))"
    return units, f"CAST({amount} - {units} AS {MONEY_SQL_TYPE})"


def amount_sums_sql(amount: str) -> str:
    """The aggregates `AmountSums.of` reads, over the DECIMAL(38, 18) column `amount`."""
    units, fraction = amount_parts_sql(amount)
    return (
        f"sum({units}) AS {AMOUNT_UNITS}, sum({fraction}) AS {AMOUNT_FRACTION}, "
        f"sum(abs({units})) AS {AMOUNT_UNITS_MAGNITUDE}, sum(abs({fraction})) AS {AMOUNT_FRACTION_MAGNITUDE}"
    )


def beyond_exact_sums(sums: Mapping[LineKind, AmountSums]) -> Decimal | None:
    """The amounts of both kinds added ignoring their signs, when they reach LINE_AMOUNTS_LIMIT; else None."""
    with localcontext(EXACT):
        magnitude = sum((s.magnitude for s in sums.values()), Decimal(0))
    return magnitude if magnitude >= LINE_AMOUNTS_LIMIT else None
