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


def failures_text(failures: tuple[ImportFailure, ...]) -> str | None:
    """The failures as the warehouse stores them: their values, comma-separated; None when there are none."""
    return ",".join(failures) or None


def failures_from_text(text: str | None) -> tuple[ImportFailure, ...]:
    """The failures a stored text names (see `failures_text`); none for NULL (none, or not known)."""
    return tuple(ImportFailure(value) for value in text.split(",")) if text else ()
