"""A failed run's outcome is decided on its error's class (OutcomeFailure), never on its message's words."""

from __future__ import annotations

import dagster as dg
import pytest

from invoice_pipeline.dagster_defs.invoice_state import OutcomeFailure, fail_with_outcome
from invoice_pipeline.dagster_defs.runs import RunOutcome, classify_failure
from invoice_pipeline.domain.refusals import ImportRefused
from invoice_pipeline.importing.invoice_import import ImportOutcomeUnrecorded

WORDS = "Import refused: ProviderInvoiceInError ImportRefused"  # every outcome's words, to mislead a text match


def _outcome_of(failing: dg.OpDefinition) -> RunOutcome:
    """Run a one-op job in a real (ephemeral) instance and classify its failure as the CLI and the sensor do."""
    result = dg.GraphDefinition(name="one_step", node_defs=[failing]).to_job().execute_in_process(raise_on_error=False)
    assert not result.success
    failures = [event for event in result.all_events if event.is_step_failure]
    return classify_failure(result.run_id, failures)


def _step(body) -> dg.OpDefinition:
    @dg.op(name="step")
    def step() -> None:
        body()

    return step


def _raise(error: Exception):
    def body() -> None:
        raise error

    return body


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (lambda: fail_with_outcome(OutcomeFailure.INVOICE_IN_ERROR, WORDS), (False, False, None)),
        (lambda: fail_with_outcome(OutcomeFailure.IMPORT_REFUSED, "nothing changed"), (True, False, "nothing changed")),
        (lambda: fail_with_outcome(OutcomeFailure.OUTCOME_UNRECORDED, WORDS), (False, True, WORDS)),
        (_raise(ImportRefused("nothing changed")), (True, False, None)),
        (_raise(ImportOutcomeUnrecorded(WORDS)), (False, True, None)),
        (_raise(OSError(WORDS)), (False, True, f"OSError: {WORDS}")),
    ],
    ids=["invoice-in-error", "refused", "unrecorded", "raised-refusal", "raised-unrecorded", "crash"],
)
def test_a_failed_run_is_classified_by_its_errors_class_whatever_its_message_says(body, expected):
    outcome = _outcome_of(_step(body))
    refused, broken, error = expected
    assert (outcome.refused, outcome.broken) == (refused, broken)
    if error is not None:
        assert outcome.error == error


def test_the_outcomes_are_named_after_our_exception_types_so_a_rename_renames_them():
    # Dagster keeps only the error's class name; the names come from the types, not from copies of them.
    assert OutcomeFailure.IMPORT_REFUSED.value == ImportRefused.__name__
    assert OutcomeFailure.OUTCOME_UNRECORDED.value == ImportOutcomeUnrecorded.__name__
    assert len({failure.value for failure in OutcomeFailure}) == len(OutcomeFailure)
