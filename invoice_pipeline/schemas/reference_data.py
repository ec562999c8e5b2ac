"""What valid reference data is: the records an import must find, as Pandera schemas."""

from __future__ import annotations

import pandas as pd
import pandera.pandas as pa
from pandera.typing import Series

from invoice_pipeline.domain.invoice_keys import PROVIDER_ID_PATTERN
from invoice_pipeline.domain.line_kinds import LineKind

_ID = r"^[^\x00-\x1f\x7f]{1,200}$"


class ProviderAccountsSchema(pa.DataFrameModel):
    """Maps a provider's customer (tenant) id to the partner's account."""

    provider: Series[str] = pa.Field(str_matches=PROVIDER_ID_PATTERN.pattern)
    provider_account_id: Series[str] = pa.Field(str_matches=_ID)
    account_id: Series[str] = pa.Field(str_matches=_ID)
    account_name: Series[str] = pa.Field(nullable=True)

    @pa.dataframe_check(name="one_account_per_provider_customer")
    def unique_mapping(cls, df: pd.DataFrame) -> pd.Series[bool]:
        """A provider's customer id maps to exactly one account."""
        return ~df.duplicated(["provider", "provider_account_id"], keep=False)

    class Config:
        strict = True


class SubscriptionsSchema(pa.DataFrameModel):
    """Subscriptions on billing contracts, per provider; the product may be missing (a warning)."""

    provider: Series[str] = pa.Field(str_matches=PROVIDER_ID_PATTERN.pattern)
    subscription_id: Series[str] = pa.Field(str_matches=_ID)
    account_id: Series[str] = pa.Field(str_matches=_ID)
    billing_contract_id: Series[str] = pa.Field(str_matches=_ID)
    product_id: Series[str] = pa.Field(nullable=True)

    @pa.dataframe_check(name="one_row_per_provider_subscription")
    def unique_subscription(cls, df: pd.DataFrame) -> pd.Series[bool]:
        """A provider's subscription appears once."""
        return ~df.duplicated(["provider", "subscription_id"], keep=False)

    class Config:
        strict = True


class ProductsSchema(pa.DataFrameModel):
    """The products the partner sells."""

    product_id: Series[str] = pa.Field(str_matches=_ID, unique=True)
    name: Series[str]

    class Config:
        strict = True


class CurrenciesSchema(pa.DataFrameModel):
    """Currencies set up for billing, with their minor units (JPY 0, USD 2, KWD 3)."""

    code: Series[str] = pa.Field(str_matches=r"^[A-Z]{3}$", unique=True)
    minor_units: Series[int] = pa.Field(ge=0, le=4)

    class Config:
        strict = True
        coerce = True


_DECIMAL = r"^-?\d{1,20}(\.\d{1,10})?$"
_DATE = r"^\d{4}-\d{2}-\d{2}$"
# A markup percent has at most 6 places, so a line's price (cost x (1 + markup / 100)) is exact in 18 places.
_MARKUP = r"^-?\d{1,3}(\.\d{1,6})?$"


class BillingContractsSchema(pa.DataFrameModel):
    """What each customer is billed for, per billing contract and product, in a period: licences as seats at a
    unit price per month, usage at the provider's cost plus a markup percent. Amounts are decimal text."""

    billing_contract_id: Series[str] = pa.Field(str_matches=_ID)
    account_id: Series[str] = pa.Field(str_matches=_ID)
    product_id: Series[str] = pa.Field(str_matches=_ID)
    charge_kind: Series[str] = pa.Field(isin=[kind.value for kind in LineKind])
    currency: Series[str] = pa.Field(str_matches=r"^[A-Z]{3}$")
    seats: Series[str] = pa.Field(nullable=True, str_matches=r"^\d{1,9}$")
    unit_price: Series[str] = pa.Field(nullable=True, str_matches=_DECIMAL)
    usage_markup_percent: Series[str] = pa.Field(nullable=True, str_matches=_MARKUP)
    valid_from: Series[str] = pa.Field(str_matches=_DATE)
    valid_to: Series[str] = pa.Field(nullable=True, str_matches=_DATE)

    @pa.dataframe_check(name="license_terms_have_seats_and_unit_price")
    def license_terms(cls, df: pd.DataFrame) -> pd.Series[bool]:
        """A licence row says how many seats the customer is billed for, and at what price per seat."""
        return (df["charge_kind"] != LineKind.LICENSE) | (df["seats"].notna() & df["unit_price"].notna())

    @pa.dataframe_check(name="license_terms_have_no_markup")
    def license_terms_only(cls, df: pd.DataFrame) -> pd.Series[bool]:
        """A licence row bills seats at their unit price: a markup there would be ignored, so refused."""
        return (df["charge_kind"] != LineKind.LICENSE) | df["usage_markup_percent"].isna()

    @pa.dataframe_check(name="usage_terms_have_a_markup")
    def usage_terms(cls, df: pd.DataFrame) -> pd.Series[bool]:
        """A usage row says the markup on the provider's cost (0 bills usage at cost)."""
        return (df["charge_kind"] != LineKind.USAGE) | df["usage_markup_percent"].notna()

    @pa.dataframe_check(name="usage_markup_from_minus_100_to_900_percent")
    def markup_range(cls, df: pd.DataFrame) -> pd.Series[bool]:
        """A usage markup is a percent from -100 (free) to 900 (ten times the cost), at most 6 decimal places."""
        markup = pd.to_numeric(df["usage_markup_percent"], errors="coerce")
        return df["usage_markup_percent"].isna() | ((markup >= -100) & (markup <= 900))

    @pa.dataframe_check(name="usage_terms_have_no_seats_or_unit_price")
    def usage_terms_only(cls, df: pd.DataFrame) -> pd.Series[bool]:
        """A usage row bills cost plus its markup: seats and a unit price there would be ignored, so refused."""
        return (df["charge_kind"] != LineKind.USAGE) | (df["seats"].isna() & df["unit_price"].isna())

    @pa.dataframe_check(name="valid_dates_in_order")
    def dates_in_order(cls, df: pd.DataFrame) -> pd.Series[bool]:
        """valid_from and valid_to are real days, e.g. not 2026-11-31, and valid_to is not before valid_from."""
        start = pd.to_datetime(df["valid_from"], format="%Y-%m-%d", errors="coerce")
        end = pd.to_datetime(df["valid_to"], format="%Y-%m-%d", errors="coerce")
        return start.notna() & (df["valid_to"].isna() | (end.notna() & (end >= start)))

    @pa.dataframe_check(name="one_term_per_contract_product_and_day")
    def no_overlap(cls, df: pd.DataFrame) -> pd.Series[bool]:
        """Terms of one contract, product, kind and currency must not overlap in time: one holds on any day."""
        keys = ["billing_contract_id", "product_id", "charge_kind", "currency"]
        start = pd.to_datetime(df["valid_from"], format="%Y-%m-%d", errors="coerce")
        end = pd.to_datetime(df["valid_to"], format="%Y-%m-%d", errors="coerce").fillna(pd.Timestamp.max)
        ordered = df.assign(_start=start, _end=end).sort_values([*keys, "_start"])
        # The latest end among the earlier-starting terms of the same key: a start on or before it overlaps.
        latest_end = ordered.groupby(keys, sort=False, dropna=False)["_end"].cummax()
        previous_end = latest_end.groupby([ordered[key] for key in keys], sort=False, dropna=False).shift()
        # Both terms of an overlap: a term overlaps a later one exactly when the next one starts on or before its end.
        next_start = ordered.groupby(keys, sort=False, dropna=False)["_start"].shift(-1)
        overlapping = (ordered["_start"] <= previous_end) | (next_start <= ordered["_end"])
        return ~overlapping.reindex(df.index)

    class Config:
        strict = True


REFERENCE_SCHEMAS: dict[str, type[pa.DataFrameModel]] = {
    "provider_accounts": ProviderAccountsSchema,
    "subscriptions": SubscriptionsSchema,
    "products": ProductsSchema,
    "currencies": CurrenciesSchema,
}

# Read only by the reconciliation: an import neither needs nor reads them.
CONTRACT_SCHEMAS: dict[str, type[pa.DataFrameModel]] = {"billing_contracts": BillingContractsSchema}
