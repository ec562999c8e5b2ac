"""What a valid provider invoice header is, as a Pandera schema over the header's text fields."""

from __future__ import annotations

import pandas as pd
import pandera.pandas as pa
from pandera.typing import Series

from invoice_pipeline.schemas.line_summaries import CURRENCY_PATTERN, EARLIEST_DATE, LATEST_DATE

# The header's total: at most 18 digits before the point and 10 after it, what the warehouse keeps of it
# (provider_invoices.total_amount, NUMERIC(38, 10)); its lines may carry more places, their sum is compared in the
# currency's minor units.
TOTAL_AMOUNT_PATTERN = r"^-?[0-9]{1,18}(\.[0-9]{1,10})?$"

HEADER_FIELDS = (
    "invoice_id",
    "invoice_date",
    "billing_period_start",
    "billing_period_end",
    "currency",
    "total_amount",
)


def _real_dates(values: pd.Series) -> pd.Series:
    parsed = pd.to_datetime(values, format="%Y-%m-%d", errors="coerce")
    return parsed.notna() & (values >= EARLIEST_DATE) & (values <= LATEST_DATE)


class InvoiceHeaderSchema(pa.DataFrameModel):
    """The header of one provider invoice; dates ISO, currency ISO 4217, total a decimal string."""

    invoice_id: Series[str]
    invoice_date: Series[str] = pa.Field(str_matches=r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")
    billing_period_start: Series[str] = pa.Field(str_matches=r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")
    billing_period_end: Series[str] = pa.Field(str_matches=r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")
    currency: Series[str] = pa.Field(str_matches=CURRENCY_PATTERN)
    total_amount: Series[str] = pa.Field(str_matches=TOTAL_AMOUNT_PATTERN)

    @pa.check("invoice_date", "billing_period_start", "billing_period_end", name="real_date_2000_to_2099")
    def real_date(cls, values: pd.Series) -> pd.Series:
        """A real calendar date between 2000-01-01 and 2099-12-31."""
        return _real_dates(values)

    @pa.dataframe_check(name="billing_period_start_not_after_end")
    def period_ordered(cls, df: pd.DataFrame) -> pd.Series:
        """The billing period starts on or before the day it ends."""
        return df["billing_period_start"] <= df["billing_period_end"]

    class Config:
        strict = True
