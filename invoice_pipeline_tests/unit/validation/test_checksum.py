"""The checksum rule as a pure function: exact decimals, rounding per minor units, tolerance, message."""

from __future__ import annotations

from decimal import Decimal

import pytest

from invoice_pipeline.validation.checksum import approved_difference, check_checksum, override_refusal


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
    # 18 integer digits + 18 decimals per line is what the schema allows; their sum can have 37 digits.
    usage = Decimal("100000000000000000.005000000000000000")
    license = Decimal("900000000000000000.000000000000000001")
    assert usage + license != Decimal("1000000000000000000.005000000000000001")  # the default 28-digit context rounds
    result = _check("1000000000000000000.01", str(usage), str(license))
    assert result.lines_total == Decimal("1000000000000000000.01")  # exact sum ...0.005000000000000001 rounds up
    assert result.passed


# What a checksum override accepts ------------------------------------------------------------------------------


def _override(approved, found, maximum="0.50", *, currency="USD", minor_units=2):
    return override_refusal(
        approved=Decimal(approved),
        found=Decimal(found),
        maximum=Decimal(maximum),
        currency=currency,
        minor_units=minor_units,
    )


@pytest.mark.parametrize(
    ("approved", "found"), [("0.37", "0.37"), ("0.370", "0.37"), ("-0.13", "-0.13"), ("0.49", "0.49")]
)
def test_an_override_accepts_the_very_difference_it_approved_below_the_maximum(approved, found):
    assert _override(approved, found) is None


def test_an_override_refuses_a_difference_other_than_the_one_it_approved_naming_both():
    assert _override("0.10", "0.45") == (
        "the override approves a difference of 0.10 USD, but the invoice's checksum difference is 0.45 USD "
        "(header total minus lines total: the header exceeds the lines); nothing was accepted: look at the invoice "
        "again and approve 0.45 USD if it is acceptable"
    )


def test_an_override_of_the_opposite_sign_is_refused_explaining_the_sign():
    assert _override("0.45", "-0.45") == (
        "the override approves a difference of 0.45 USD, but the invoice's checksum difference is -0.45 USD "
        "(header total minus lines total: the lines exceed the header); nothing was accepted: look at the invoice "
        "again and approve -0.45 USD if it is acceptable"
    )


def test_an_override_approving_finer_than_the_currencys_minor_units_is_not_the_difference_found():
    assert _override("0.365", "0.37").startswith("the override approves a difference of 0.365 USD, but the invoice's")


@pytest.mark.parametrize("found", ["0.50", "-0.50", "125.00"])
def test_an_override_refuses_the_maximum_or_more_even_when_it_approved_that_figure(found):
    assert _override(found, found) == (
        f"the checksum difference {found} USD is not below the override maximum 0.50 USD; contact the provider"
    )


def test_an_override_of_a_difference_above_the_maximum_shows_the_approved_figure_too():
    assert _override("0.10", "0.75") == (
        "the checksum difference 0.75 USD is not below the override maximum 0.50 USD (the override approves "
        "0.10 USD); contact the provider"
    )


def test_a_yen_override_is_judged_by_the_yens_maximum():
    assert _override("3", "3", "50", currency="JPY", minor_units=0) is None
    assert _override("-49", "-49", "50", currency="JPY", minor_units=0) is None
    assert _override("50", "50", "50", currency="JPY", minor_units=0).startswith(
        "the checksum difference 50 JPY is not below the override maximum 50 JPY"
    )


def test_a_maximum_below_one_minor_unit_says_how_to_allow_overrides_in_that_currency():
    assert _override("3", "3", "0.50", currency="JPY", minor_units=0) == (
        "the checksum difference 3 JPY is not below the override maximum 0.5 JPY, and no JPY difference can be: "
        "its smallest is 1 JPY; set a maximum for JPY in the configuration (checksum_override_maximum: "
        '{default: "0.50", JPY: "50"}, for example), or contact the provider'
    )


@pytest.mark.parametrize(
    ("text", "amount"), [("0.37", "0.37"), ("-0.45", "-0.45"), (" 3 ", "3"), ("+125.00", "125.00"), ("0.370", "0.370")]
)
def test_an_approved_difference_is_read_exactly_from_its_text(text, amount):
    read = approved_difference(text)
    assert read == Decimal(amount) and str(read) == amount


@pytest.mark.parametrize("text", ["", "0,37", "1,000.00", "1e2", "NaN", "Infinity", "0.37 USD", ".37", "-", "0x10"])
def test_an_approved_difference_not_written_as_plain_decimal_text_is_refused_saying_how_to_write_it(text):
    with pytest.raises(ValueError) as refused:
        approved_difference(text)
    assert str(refused.value) == (
        f"{text.strip()!r} is not a difference; write it as the invoice's message shows it (header total minus "
        "lines total, in the invoice's currency), a plain decimal such as 0.37 or -0.45"
    )
