"""Money: exact decimals, banker's rounding to a currency's minor units, formatting for people."""

from __future__ import annotations

from decimal import Decimal

import pytest

from invoice_pipeline.domain.money import decimal_text, format_money, round_to_minor_units


@pytest.mark.parametrize(
    ("amount", "minor_units", "expected"),
    [
        ("0.125", 2, "0.12"),  # half to even: down to the even cent
        ("0.135", 2, "0.14"),  # half to even: up to the even cent
        ("0.1251", 2, "0.13"),  # more than half goes up
        ("-0.125", 2, "-0.12"),
        ("-0.135", 2, "-0.14"),
        ("2.5", 0, "2"),
        ("3.5", 0, "4"),
        ("1000.4999999999", 0, "1000"),
        ("1.0005", 3, "1.000"),
        ("1.0015", 3, "1.002"),
        ("7", 2, "7.00"),
        ("123456789012345678.1250000000", 2, "123456789012345678.12"),
    ],
)
def test_rounding_is_half_to_even_at_the_currencys_minor_units(amount, minor_units, expected):
    rounded = round_to_minor_units(Decimal(amount), minor_units)
    assert str(rounded) == expected


def test_rounding_works_on_sums_of_decimals_without_float_noise():
    total = Decimal("0.1") + Decimal("0.2")
    assert round_to_minor_units(total, 2) == Decimal("0.30")
    assert round(2.675, 2) == 2.67  # the float 2.675 is really 2.67499999...
    assert round_to_minor_units(Decimal("2.675"), 2) == Decimal("2.68")


@pytest.mark.parametrize(
    ("amount", "minor_units", "currency", "expected"),
    [
        ("10000.5", 2, None, "10,000.50"),
        ("10000.5", 2, "USD", "10,000.50 USD"),
        ("-1234.565", 2, "EUR", "-1,234.56 EUR"),
        ("1234567", 0, "JPY", "1,234,567 JPY"),
        ("1234567.5", 0, "JPY", "1,234,568 JPY"),
        ("0.37", 2, "USD", "0.37 USD"),
        ("1.2345", 3, "KWD", "1.234 KWD"),
        ("999", 2, None, "999.00"),
        ("123456789012345678.12", 2, None, "123,456,789,012,345,678.12"),
    ],
)
def test_format_money_groups_thousands_and_shows_the_minor_units(amount, minor_units, currency, expected):
    assert format_money(Decimal(amount), minor_units, currency) == expected


@pytest.mark.parametrize(
    ("amount", "minor_units", "expected"),
    [
        ("10.1000000000", 2, "10.10"),
        ("99.4012000000", 2, "99.4012"),
        ("900.0000000000", 2, "900.00"),
        ("900.0000000000", 0, "900"),
        ("1.50", None, "1.5"),
        ("1E+3", None, "1000"),
        ("1E+3", 2, "1000.00"),
        ("0.0000000001", 2, "0.0000000001"),
        ("-0.0000000000", 2, "0.00"),
        ("-180.0000000000", 2, "-180.00"),
        ("123456789012345678.1234567891", 2, "123456789012345678.1234567891"),
    ],
)
def test_decimal_text_is_plain_and_keeps_only_significant_digits(amount, minor_units, expected):
    text = decimal_text(Decimal(amount), minor_units)
    assert text == expected
    assert "E" not in text and "e" not in text


def test_decimal_text_of_none_is_none():
    assert decimal_text(None, 2) is None
