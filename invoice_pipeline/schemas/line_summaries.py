"""What a valid usage or license summary row is, as Pandera schemas over the raw (text) line tables.

The provider's files are read as text, so these schemas judge every value exactly as the provider
wrote it (digits, decimal places, date spelling) before anything is cast. They run in the database
through Pandera's Ibis backend, so a table of millions of lines is never pulled into pandas.
"""

from __future__ import annotations

import ibis.expr.datatypes as dt
import ibis.expr.types as ir
import pandera.ibis as pa

from invoice_pipeline.schemas.text_values import CURRENCY_PATTERN, EARLIEST_DATE, ISO_DATE_PATTERN, LATEST_DATE

# Line amounts, exactly as the provider sends them: at most 18 digits before the point and 18 after it (Microsoft's
# daily-rated usage carries 15: 0.116266666666667), what DECIMAL(38, 18) holds exactly. Their sums are exact too:
# an import refuses lines whose amounts, ignoring their signs, add up to 19 digits before the point (see
# importing/line_amount_sums.py).
DECIMAL_PATTERN = r"^-?[0-9]{1,18}(\.[0-9]{1,18})?$"
# Quantities and unit prices: metered usage is prorated to many places (0.0416666666666667 hours, a price
# per unit of 0.000012345678901): up to 18 after the point, what DECIMAL(38, 18) holds exactly. Never summed.
QUANTITY_PRICE_PATTERN = r"^-?[0-9]{1,18}(\.[0-9]{1,18})?$"
IDENTIFIER_PATTERN = r"^[^\x00-\x1f\x7f]{1,200}$"
UNIT_PATTERN = r"^[^\x00-\x1f\x7f]{1,100}$"
# Free text (a meter's name): anything but NUL, which no PostgreSQL text column can hold.
TEXT_PATTERN = r"^[^\x00]*$"
MONEY_SQL_TYPE = "DECIMAL(38, 18)"  # a line's amount, as the warehouse stores it (tables.LINE_AMOUNT)
QUANTITY_PRICE_SQL_TYPE = "DECIMAL(38, 18)"


def _as_date(column: ir.StringColumn) -> ir.DateColumn:
    return column.try_cast("date")


def _real_date_in_range(column: ir.StringColumn) -> ir.BooleanColumn:
    return _as_date(column).notnull() & (column >= EARLIEST_DATE) & (column <= LATEST_DATE)


class LineSummarySchema(pa.DataFrameModel):
    """Columns every line summary carries; money as decimal text, dates as ISO text."""

    line_id: dt.String = pa.Field(nullable=False, str_matches=IDENTIFIER_PATTERN)
    customer_id: dt.String = pa.Field(nullable=False, str_matches=IDENTIFIER_PATTERN)
    subscription_id: dt.String = pa.Field(nullable=False, str_matches=IDENTIFIER_PATTERN)
    product_id: dt.String = pa.Field(nullable=True, str_matches=IDENTIFIER_PATTERN)
    charge_start_date: dt.String = pa.Field(nullable=False, str_matches=ISO_DATE_PATTERN)
    charge_end_date: dt.String = pa.Field(nullable=False, str_matches=ISO_DATE_PATTERN)
    quantity: dt.String = pa.Field(nullable=False, str_matches=QUANTITY_PRICE_PATTERN)
    unit_price: dt.String = pa.Field(nullable=False, str_matches=QUANTITY_PRICE_PATTERN)
    amount: dt.String = pa.Field(nullable=False, str_matches=DECIMAL_PATTERN)
    currency: dt.String = pa.Field(nullable=False, str_matches=CURRENCY_PATTERN)

    # Each check method is named as its check: Pandera (0.35) takes `name=` only for the first schema built
    # from a shared base class, and names the checks of the next one after their methods.
    @pa.check("charge_start_date", "charge_end_date", name="real_date_2000_to_2099")
    def real_date_2000_to_2099(cls, data: pa.IbisData) -> ir.BooleanColumn:
        """A real calendar date between 2000-01-01 and 2099-12-31."""
        return _real_date_in_range(data.table[data.key])

    @pa.check("quantity", name="not_negative")
    def not_negative(cls, data: pa.IbisData) -> ir.BooleanColumn:
        """Quantities are zero or more; credits carry a negative price or amount instead."""
        return ~data.table[data.key].startswith("-")

    @pa.dataframe_check(name="charge_start_not_after_end")
    def charge_start_not_after_end(cls, data: pa.IbisData) -> ir.BooleanColumn:
        """The charge period starts on or before the day it ends."""
        table = data.table
        return _as_date(table.charge_start_date) <= _as_date(table.charge_end_date)

    class Config:
        strict = False  # extra provider columns are kept, not rejected
        coerce = False


class UsageSummarySchema(LineSummarySchema):
    """A usage summary row: a line summary plus the optional meter columns."""

    usage_date: dt.String | None = pa.Field(nullable=True, str_matches=ISO_DATE_PATTERN)
    meter_id: dt.String | None = pa.Field(nullable=True, str_matches=IDENTIFIER_PATTERN)
    meter_name: dt.String | None = pa.Field(nullable=True, str_matches=TEXT_PATTERN)
    unit: dt.String | None = pa.Field(nullable=True, str_matches=UNIT_PATTERN)

    @pa.check("usage_date", name="real_date_2000_to_2099")
    def usage_date_in_range(cls, data: pa.IbisData) -> ir.BooleanColumn:
        """A real calendar date between 2000-01-01 and 2099-12-31."""
        return _real_date_in_range(data.table[data.key])


class LicenseSummarySchema(LineSummarySchema):
    """A license summary row: seats (quantity x unit price) per subscription and charge period."""
