"""The checksum rule as a pure function: exact decimals, rounding per minor units, tolerance, message."""

from __future__ import annotations

from decimal import Decimal

import pytest

from invoice_pipeline.validation.checksum import check_checksum


def _check(header, usage, license, *, minor_units=2, tolerance="0", currency="USD"):
    return check_checksum(
        header_total=Decimal(header),
        usage_total=Decimal(usage),
        license_total=Decimal(license),
        currency=currency,
        minor_units=minor_units,
        tolerance=Decimal(tolerance),
    )


def test_failure_message_shows_the_three_totals_and_the_difference():
    result = _check("10000.00", "6000.00", "3999.63")
    assert not result.passed
    assert result.difference == Decimal("0.37")
    assert result.message == (
        "Checksum failed: header 10,000.00 USD; usage 6,000.00 + license 3,999.63 = 9,999.63; difference 0.37 USD"
    )


def test_passing_message_and_tolerance_shown_only_when_set():
    assert _check("46.00", "10.00", "36.00").message == (
        "Checksum passed: header 46.00 USD; usage 10.00 + license 36.00 = 46.00; difference 0.00 USD"
    )
    assert _check("46.37", "10.00", "36.00", tolerance="0.50").message == (
        "Checksum passed: header 46.37 USD; usage 10.00 + license 36.00 = 46.00; "
        "difference 0.37 USD (tolerance 0.50 USD)"
    )


def test_exact_decimal_arithmetic_where_floats_would_drift():
    assert 0.1 + 0.2 != 0.3
    result = _check("0.30", "0.1", "0.2")
    assert result.passed and result.difference == 0
    many = _check("1000000.00", "999999.99", "0.01")
    assert many.passed and many.lines_total == Decimal("1000000.00")


def test_lines_are_summed_before_rounding():
    # 0.004 + 0.004 = 0.008 -> 0.01; rounding each first would give 0.00 + 0.00
    result = _check("0.01", "0.004", "0.004")
    assert result.passed
    assert (result.usage_total, result.license_total, result.lines_total) == (
        Decimal("0.00"),
        Decimal("0.00"),
        Decimal("0.01"),
    )


@pytest.mark.parametrize(
    ("header", "usage", "license", "minor_units", "passed", "difference"),
    [
        ("1001", "1000.4", "0.2", 0, True, "0"),
        ("1000", "1000.4", "0.2", 0, False, "-1"),
        ("100.125", "100.1245", "0.0005", 3, True, "0.000"),  # 100.125 exactly
        ("1.000", "1.0005", "0", 3, True, "0.000"),  # 1.0005 -> 1.000 (half to even)
        ("1.002", "1.0015", "0", 3, True, "0.000"),  # 1.0015 -> 1.002 (half to even)
        ("1.001", "1.0005", "0", 3, False, "0.001"),
        ("10.00", "9.995", "0", 2, True, "0.00"),  # 9.995 -> 10.00
        ("10.00", "9.985", "0", 2, False, "0.02"),  # 9.985 -> 9.98
        ("10.004", "10.00", "0", 2, True, "0.00"),  # the header is rounded too
    ],
)
def test_both_sides_are_rounded_to_the_currencys_minor_units(header, usage, license, minor_units, passed, difference):
    result = _check(header, usage, license, minor_units=minor_units)
    assert result.passed is passed
    assert result.difference == Decimal(difference)
    assert str(result.difference) == difference


def test_three_minor_units_are_shown_in_the_message():
    result = _check("1.001", "1.0005", "0", minor_units=3, currency="KWD")
    assert result.message == (
        "Checksum failed: header 1.001 KWD; usage 1.000 + license 0.000 = 1.000; difference 0.001 KWD"
    )


def test_zero_minor_units_show_no_decimals():
    result = _check("1000", "1000.4", "0.2", minor_units=0, currency="JPY")
    assert result.message == "Checksum failed: header 1,000 JPY; usage 1,000 + license 0 = 1,001; difference -1 JPY"


@pytest.mark.parametrize(
    ("header", "tolerance", "passed"),
    [
        ("46.50", "0.50", True),  # difference equal to the tolerance passes
        ("45.50", "0.50", True),  # in either direction
        ("46.51", "0.50", False),
        ("45.49", "0.50", False),
        ("46.01", "0", False),
        ("46.00", "0", True),
    ],
)
def test_tolerance_boundary(header, tolerance, passed):
    assert _check(header, "10.00", "36.00", tolerance=tolerance).passed is passed


def test_tolerance_boundary_is_judged_on_rounded_totals():
    # exact difference 0.504 is over a 0.50 tolerance, but the rounded header (46.50) is within it
    within = _check("46.504", "10.00", "36.00", tolerance="0.50")
    assert within.header_total == Decimal("46.50") and within.difference == Decimal("0.50")
    assert within.passed
    beyond = _check("46.506", "10.004", "35.996", tolerance="0.50")
    assert (beyond.header_total, beyond.lines_total, beyond.difference) == (
        Decimal("46.51"),
        Decimal("46.00"),
        Decimal("0.51"),
    )
    assert not beyond.passed


def test_difference_is_header_minus_lines_with_the_same_sign_in_the_figures_and_the_message():
    result = _check("100.00", "80.00", "20.37")
    assert result.difference == Decimal("-0.37")
    assert result.message.endswith("difference -0.37 USD")


def test_negative_totals_of_a_credit_note():
    assert _check("-180.00", "0", "-180.00").passed
    result = _check("-100.00", "-60.00", "-40.37")
    assert not result.passed
    assert result.difference == Decimal("0.37")
    assert result.message == (
        "Checksum failed: header -100.00 USD; usage -60.00 + license -40.37 = -100.37; difference 0.37 USD"
    )


def test_credits_and_charges_that_cancel_out():
    result = _check("0.00", "125.40", "-125.40")
    assert result.passed and result.lines_total == 0


def test_lines_total_is_exact_beyond_28_significant_digits():
    # 18 integer digits + 10 decimals per line is what the schema allows; their sum can have 29 digits.
    usage = Decimal("100000000000000000.0050000000")
    license = Decimal("900000000000000000.0000000001")
    assert usage + license != Decimal("1000000000000000000.0050000001")  # the default 28-digit context rounds
    result = _check("1000000000000000000.01", str(usage), str(license))
    assert result.lines_total == Decimal("1000000000000000000.01")  # exact sum ...0.0050000001 rounds up
    assert result.passed
