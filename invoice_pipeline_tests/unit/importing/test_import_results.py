"""What an import's checks say beside their verdict: a check stopped by an earlier one is "not evaluated" (neither
passed nor a failure of its own), and the checksum's figures are text in the currency's minor units, the
difference being header total minus lines total."""

from __future__ import annotations

from decimal import Decimal

from invoice_pipeline.importing.import_results import (
    CHECKSUM_CHECK,
    REFERENCES_CHECK,
    SCHEMA_CHECK,
    CheckOutcome,
    checksum_metadata,
    not_evaluated,
)
from invoice_pipeline.validation.checksum import check_checksum


def test_a_check_that_did_not_run_is_neither_passed_nor_evaluated_and_says_why():
    outcome = CheckOutcome.not_evaluated("currency XYZ is not set up")
    assert (outcome.passed, outcome.evaluated, outcome.description) == (
        False,
        False,
        "Not evaluated: currency XYZ is not set up",
    )


def test_checks_stopped_by_the_files_are_marked_not_evaluated_and_the_check_that_ran_is_kept():
    schema = CheckOutcome(False, "usage_summaries.csv: amount fails")
    checks = {SCHEMA_CHECK: schema}
    not_evaluated(checks)
    assert checks[SCHEMA_CHECK] is schema
    for name in (REFERENCES_CHECK, CHECKSUM_CHECK):
        assert (checks[name].evaluated, checks[name].description) == (
            False,
            "Not evaluated: the invoice's files did not pass their schemas",
        )


def _checksum(header: str, usage: str, license: str, currency: str = "USD", minor_units: int = 2):
    totals = {"header_total": header, "usage_total": usage, "license_total": license}
    exact = {name: Decimal(amount) for name, amount in totals.items()}
    return check_checksum(**exact, currency=currency, minor_units=minor_units, tolerance=Decimal("0"))


def test_the_checksums_figures_are_text_in_the_currencys_minor_units():
    assert checksum_metadata(_checksum("10000.00", "6000.00", "3999.63")) == {
        "currency": "USD",
        "header_total": "10000.00",
        "usage_total": "6000.00",
        "license_total": "3999.63",
        "lines_total": "9999.63",
        "difference": "0.37",
        "tolerance": "0.00",
    }


def test_the_difference_is_negative_when_the_lines_exceed_the_header():
    assert checksum_metadata(_checksum("9999.50", "6000.00", "3999.63"))["difference"] == "-0.13"


def test_a_currency_without_minor_units_shows_whole_amounts():
    figures = checksum_metadata(_checksum("1000", "600.4", "399.2", currency="JPY", minor_units=0))
    assert (figures["header_total"], figures["lines_total"], figures["difference"]) == ("1000", "1000", "0")
