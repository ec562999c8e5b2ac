"""The checksum override's refusals at their edges: a currency with no known minor units, a maximum of exactly one
minor unit, an approved difference where none was found, and a refused text cut short in the message."""

from __future__ import annotations

from decimal import Decimal

import pytest

from invoice_pipeline.validation.checksum import approved_difference, override_refusal


def test_a_currency_without_known_minor_units_is_refused_at_its_maximum_with_no_hint_on_its_smallest_unit():
    refusal = override_refusal(
        approved=Decimal("0.7"), found=Decimal("0.7"), maximum=Decimal("0.5"), currency="XAU", minor_units=None
    )

    assert refusal == "the checksum difference 0.7 XAU is not below the override maximum 0.5 XAU; contact the provider"


def test_a_maximum_of_exactly_one_minor_unit_says_no_difference_can_be_below_it():
    refusal = override_refusal(
        approved=Decimal("0.01"), found=Decimal("0.01"), maximum=Decimal("0.01"), currency="USD", minor_units=2
    )

    assert refusal == (
        "the checksum difference 0.01 USD is not below the override maximum 0.01 USD, and no USD difference can be: "
        "its smallest is 0.01 USD; set a maximum for USD in the configuration (checksum_override_maximum: "
        '{default: "0.50", USD: "0.50"}, for example), or contact the provider'
    )


def test_the_smallest_difference_of_a_three_place_currency_below_its_maximum_is_accepted():
    assert (
        override_refusal(
            approved=Decimal("0.001"), found=Decimal("0.001"), maximum=Decimal("0.01"), currency="KWD", minor_units=3
        )
        is None
    )


def test_an_override_approving_a_difference_where_none_was_found_names_no_side():
    refusal = override_refusal(
        approved=Decimal("0.10"), found=Decimal("0.00"), maximum=Decimal("0.50"), currency="USD", minor_units=2
    )

    assert refusal == (
        "the override approves a difference of 0.10 USD, but the invoice's checksum difference is 0.00 USD (header "
        "total minus lines total); nothing was accepted: look at the invoice again and approve 0.00 USD if it is "
        "acceptable"
    )


@pytest.mark.parametrize(
    ("text", "quoted"),
    [
        pytest.param("1" * 50, "'" + "1" * 40 + "'", id="more-than-30-digits-cut-at-40"),
        pytest.param("  0.37 USD  ", "'0.37 USD'", id="stripped-before-quoting"),
    ],
)
def test_a_refused_difference_is_quoted_stripped_and_at_most_40_characters(text, quoted):
    with pytest.raises(ValueError) as refused:
        approved_difference(text)

    assert str(refused.value).startswith(f"{quoted} is not a difference; ")
