"""The one pricing rule of usage: cost plus the markup of the terms ruling its charge month, exact; and why a line
with no such terms is held back."""

from __future__ import annotations

from decimal import Decimal

from invoice_pipeline.domain.billing_period import BillingPeriod
from invoice_pipeline.domain.pricing import UsageTerms, held_back_reason, price_factor, usage_price

OCTOBER = BillingPeriod(2026, 10)


def test_usage_is_priced_at_its_cost_plus_the_markup_exactly():
    assert usage_price(Decimal("100.00"), Decimal("8.5")) == Decimal("108.5")
    assert usage_price(Decimal("0.000000000000000001"), Decimal("12.345678")) == Decimal("1.12345678E-18")


def test_usage_without_terms_is_priced_at_its_cost():
    assert price_factor(None) == 1
    assert usage_price(Decimal("-42.10"), None) == Decimal("-42.10")


def test_the_largest_cost_the_schemas_accept_is_priced_without_rounding():
    cost = Decimal("9999999999.999999999999999999")  # 28 digits, 18 places

    price = usage_price(cost, Decimal("999.999999"))

    assert price == Decimal("109999999899.99999999999999998900000001")  # 38 digits: what 28 would round away
    assert price != cost * Decimal("10.99999999")  # the default context's 28 digits


def test_the_terms_price_factor_is_one_plus_the_markup_over_a_hundred():
    terms = UsageTerms("ACC-1", "BC-1", "AZURE-PLAN", "USD", Decimal("12.5"), "2026-01-01")

    assert terms.price_factor == Decimal("1.125")


def test_held_back_usage_says_what_is_missing_and_the_command_that_bills_it_once_fixed():
    command = "add them to billing_contracts.csv, then run `invoice-pipeline billing run --period 2026-10`"

    assert held_back_reason(None, None, "USD", OCTOBER) == (
        f"no billing contract (subscription not in the reference data): {command}"
    )
    assert held_back_reason("BC-1", None, "USD", OCTOBER) == f"no product on the subscription: {command}"
    assert held_back_reason("BC-1", "AZURE-PLAN", "EUR", OCTOBER) == (
        f"no usage terms for contract BC-1, product AZURE-PLAN in EUR in 2026-10: {command}"
    )
