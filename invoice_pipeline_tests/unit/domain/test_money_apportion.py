"""Sharing a rounded whole among its parts (`apportion`): each part rounded down, the minor units left over given
to the parts that lost the most, ties in the parts' order, so the parts shown add up to the whole shown; and
`decimal_text` refusing what is not an amount."""

from __future__ import annotations

from decimal import Decimal

import pytest

from invoice_pipeline.domain.money import apportion, decimal_text


def _decimals(*texts: str) -> list[Decimal]:
    return [Decimal(text) for text in texts]


@pytest.mark.parametrize(
    ("total", "amounts", "minor_units", "shares"),
    [
        pytest.param("15.25", ("10.00", "5.25"), 2, ("10.00", "5.25"), id="exact-parts-unchanged"),
        pytest.param("1.00", ("0.333", "0.333", "0.334"), 2, ("0.33", "0.33", "0.34"), id="largest-remainder-gets-it"),
        pytest.param("0.67", ("0.335", "0.335"), 2, ("0.34", "0.33"), id="tie-goes-to-the-first"),
        pytest.param("0.02", ("0.005", "0.005", "0.005"), 2, ("0.01", "0.01", "0.00"), id="two-units-two-first-ties"),
        pytest.param("-0.25", ("-0.125", "-0.125"), 2, ("-0.12", "-0.13"), id="negative-parts-rounded-down"),
        pytest.param("301", ("100.5", "200.5"), 0, ("101", "200"), id="no-minor-units"),
        pytest.param("0.000", ("1.0004", "-1.0004"), 3, ("1.000", "-1.000"), id="parts-cancelling-out"),
    ],
)
def test_the_parts_shown_add_up_to_the_whole_shown_each_within_one_minor_unit(total, amounts, minor_units, shares):
    shared = apportion(Decimal(total), _decimals(*amounts), minor_units)

    assert shared == _decimals(*shares)
    assert [str(share) for share in shared] == list(shares)  # in the currency's minor units
    assert sum(shared, Decimal(0)) == Decimal(total)


def test_a_whole_other_than_zero_cannot_be_shared_among_no_parts():
    with pytest.raises(ValueError, match=r"^0\.01 cannot be shared among no amounts$"):
        apportion(Decimal("0.01"), [], 2)


@pytest.mark.parametrize("amount", ["NaN", "Infinity"])
def test_decimal_text_refuses_what_is_not_an_amount(amount):
    with pytest.raises(ValueError, match=f"^{amount} is not an amount$"):
        decimal_text(Decimal(amount), 2)
