"""Why an import did not make its invoice Active, as a type: decisions read it, never the invoice's message."""

from __future__ import annotations

from enum import StrEnum


class ImportFailure(StrEnum):
    """One rule an import's invoice broke; an invoice in Error (or an activation refused) has one or more.

    The message says the same to a person; the message's words may change, these may not.
    """

    FILES = "files"  # the provider's files could not be fetched or did not pass their schemas
    REFERENCE_DATA = "reference_data"  # the reference data could not be loaded, nothing was checked
    REFERENCES = "references"  # a line names a customer, product, ... the reference data does not know
    # A line's charge starts more than `out_of_period_error_after_days` after the header's billing period.
    OUT_OF_PERIOD = "out_of_period"
    CHECKSUM = "checksum"  # the header's total differs from the lines' total beyond the tolerance


_WHAT_TO_DO = {
    ImportFailure.FILES: "Fix or replace the provider's files (the schema failures say which rows and columns), then "
    "retry: materialize this partition again, or backfill the failed partitions.",
    ImportFailure.REFERENCE_DATA: "Fix the reference data folder (its assets' last run says what is wrong), refresh "
    "the reference data, then retry this partition.",
    ImportFailure.REFERENCES: "Add the missing references to the reference data (errors.csv lists each customer, "
    "subscription or currency with its lines), refresh the reference data, then retry this partition.",
    ImportFailure.OUT_OF_PERIOD: "Ask the provider about the lines charged outside the billing period; if the invoice "
    "is right, raise the provider's out_of_period_error_after_days, then retry this partition.",
    ImportFailure.CHECKSUM: "Compare line_totals.csv with the provider's invoice. If the difference is acceptable and "
    "below the override maximum (checksum_override_maximum, 0.50 unless configured), launch import_provider_invoice "
    "for this partition with checksum_override {difference, reason} in the Launchpad; otherwise ask the provider "
    "for a corrected invoice (the daily sync retries it).",
}
EVERY_ERROR = "The daily sync retries an invoice in Error every day; nothing is billed from it meanwhile."


def what_to_do(failures: tuple[ImportFailure, ...]) -> str:
    """What a person does next about an invoice in Error, one sentence per rule it broke, then the retry rule."""
    return " ".join([*(_WHAT_TO_DO[failure] for failure in failures), EVERY_ERROR])


def failures_text(failures: tuple[ImportFailure, ...]) -> str | None:
    """The failures as the warehouse stores them: their values, comma-separated; None when there are none."""
    return ",".join(failures) or None


def failures_from_text(text: str | None) -> tuple[ImportFailure, ...]:
    """The failures a stored text names (see `failures_text`); none for NULL (none, or not known)."""
    return tuple(ImportFailure(value) for value in text.split(",")) if text else ()
