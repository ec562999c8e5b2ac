"""What valid reference data is: the records an import must find, as Pandera schemas."""

from __future__ import annotations

import pandera.pandas as pa
from pandera.typing import Series

from invoice_pipeline.config import PROVIDER_ID_PATTERN

_ID = r"^[^\x00-\x1f\x7f]{1,200}$"


class ProviderAccountsSchema(pa.DataFrameModel):
    """Maps a provider's customer (tenant) id to the partner's account."""

    provider: Series[str] = pa.Field(str_matches=PROVIDER_ID_PATTERN.pattern)
    provider_account_id: Series[str] = pa.Field(str_matches=_ID)
    account_id: Series[str] = pa.Field(str_matches=_ID)
    account_name: Series[str] = pa.Field(nullable=True)

    @pa.dataframe_check(name="one_account_per_provider_customer")
    def unique_mapping(cls, df):  # noqa: ANN001, ANN201 - pandera check signature
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
    def unique_subscription(cls, df):  # noqa: ANN001, ANN201 - pandera check signature
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


REFERENCE_SCHEMAS: dict[str, type[pa.DataFrameModel]] = {
    "provider_accounts": ProviderAccountsSchema,
    "subscriptions": SubscriptionsSchema,
    "products": ProductsSchema,
    "currencies": CurrenciesSchema,
}
