"""What a person is told to do about each rule an import broke (word for word), and the failures as the
warehouse stores them: their values comma-separated, none as NULL, read back in their order."""

from __future__ import annotations

import pytest

from invoice_pipeline.domain.import_failures import (
    EVERY_ERROR,
    ImportFailure,
    failures_from_text,
    failures_text,
    what_to_do,
)

F = ImportFailure


@pytest.mark.parametrize(
    ("failure", "advice"),
    [
        pytest.param(
            F.FILES,
            "Fix or replace the provider's files (the schema failures say which rows and columns), then retry: "
            "materialize this partition again, or backfill the failed partitions.",
            id="files",
        ),
        pytest.param(
            F.REFERENCE_DATA,
            "Fix the reference data folder (its assets' last run says what is wrong), refresh the reference data, "
            "then retry this partition.",
            id="reference-data",
        ),
        pytest.param(
            F.REFERENCES,
            "Add the missing references to the reference data (errors.csv lists each customer, subscription or "
            "currency with its lines), refresh the reference data, then retry this partition.",
            id="references",
        ),
        pytest.param(
            F.OUT_OF_PERIOD,
            "Ask the provider about the lines charged outside the billing period; if the invoice is right, raise the "
            "provider's out_of_period_error_after_days, then retry this partition.",
            id="out-of-period",
        ),
        pytest.param(
            F.CHECKSUM,
            "Compare line_totals.csv with the provider's invoice. If the difference is acceptable and below the "
            "override maximum (checksum_override_maximum, 0.50 unless configured), launch import_provider_invoice "
            "for this partition with checksum_override {difference, reason} in the Launchpad; otherwise ask the "
            "provider for a corrected invoice (the daily sync retries it).",
            id="checksum",
        ),
    ],
)
def test_each_broken_rule_says_what_to_do_then_that_the_daily_sync_retries(failure, advice):
    assert what_to_do((failure,)) == (
        f"{advice} The daily sync retries an invoice in Error every day; nothing is billed from it meanwhile."
    )


def test_the_advice_for_several_rules_follows_their_order():
    files_first = what_to_do((F.FILES, F.OUT_OF_PERIOD))
    period_first = what_to_do((F.OUT_OF_PERIOD, F.FILES))

    assert files_first.index("Fix or replace") < files_first.index("Ask the provider") < files_first.index(EVERY_ERROR)
    assert period_first.index("Ask the provider") < period_first.index("Fix or replace")


@pytest.mark.parametrize(
    ("failures", "stored"),
    [
        pytest.param((), None, id="none-is-null"),
        pytest.param((F.CHECKSUM,), "checksum", id="one"),
        pytest.param((F.REFERENCES, F.OUT_OF_PERIOD), "references,out_of_period", id="two-in-order"),
    ],
)
def test_failures_are_stored_as_their_values_comma_separated_and_read_back_the_same(failures, stored):
    assert failures_text(failures) == stored
    assert failures_from_text(stored) == failures


def test_an_empty_stored_text_reads_as_no_failures():
    assert failures_from_text("") == ()


def test_a_stored_value_no_rule_has_is_refused():
    with pytest.raises(ValueError, match="'schema' is not a valid ImportFailure"):
        failures_from_text("checksum,schema")
