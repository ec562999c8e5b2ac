"""The invoice lifecycle, status by action: what an automatic sync, an import, an activation and each
operation may do from each stage, for an automatic and for a manual provider's invoice."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from invoice_pipeline.domain.invoice_keys import InvoiceKey
from invoice_pipeline.domain.lifecycle import RULES, Action, Stage, Standing, record_standing, verdict

KEY = InvoiceKey("contoso-csp", "G1")
WHEN = datetime(2026, 11, 24, 9, 30, tzinfo=UTC)
A = Action
S = Stage

# Allowed (1) or refused (0), automatic provider. Columns: never imported, importing, stuck, awaiting
# activation, Active, Error, deactivated, deleted.
COLUMNS = [
    S.NEVER_IMPORTED,
    S.IMPORTING,
    S.STUCK,
    S.AWAITING_ACTIVATION,
    S.ACTIVE,
    S.ERROR,
    S.DEACTIVATED,
    S.DELETED,
]
AUTOMATIC = {
    A.AUTOMATIC_SYNC: "10100100",
    A.IMPORT: "10100111",
    A.ACTIVATE: "00000000",
    A.DEACTIVATE: "00011100",
    A.DELETE: "00011100",
    A.UNLINK: "01111100",
    A.OVERRIDE: "00000100",
    A.CREATE: "00000000",
}
MANUAL = {
    **AUTOMATIC,
    A.AUTOMATIC_SYNC: "00000000",
    A.IMPORT: "00000000",
    A.ACTIVATE: "00010000",
    A.OVERRIDE: "00000000",
    A.CREATE: "10000011",
}
CASES = [
    (action, stage, manual, allowed == "1")
    for manual, table in ((False, AUTOMATIC), (True, MANUAL))
    for action, row in table.items()
    for stage, allowed in zip(COLUMNS, row, strict=True)
]


def _standing(stage: Stage) -> Standing:
    return Standing(KEY, stage, WHEN, "cli:alice" if not stage.has_current_record else "run-1")


def test_the_table_covers_every_action_and_stage():
    assert set(AUTOMATIC) == set(MANUAL) == set(Action) == set(RULES)
    assert all(set(RULES[action]) == set(Stage) for action in Action)


@pytest.mark.parametrize(("action", "stage", "manual", "allowed"), CASES, ids=lambda v: str(v))
def test_each_action_from_each_stage(action, stage, manual, allowed):
    decided = verdict(action, _standing(stage), manual_provider=manual)
    assert decided.allowed is allowed
    assert decided.reason and "{" not in decided.reason  # every template is filled
    if not allowed and action != A.AUTOMATIC_SYNC:
        assert "; " in decided.reason or ": " in decided.reason, decided.reason  # why, then what to do instead


def test_automatic_sync_skips_a_deactivated_invoice_saying_who_when_and_how():
    decided = verdict(A.AUTOMATIC_SYNC, _standing(S.DEACTIVATED), manual_provider=False)
    assert decided.reason == (
        "deactivated by cli:alice on 2026-11-24; sync it explicitly with "
        "`invoice-pipeline sync --invoice contoso-csp:G1` to import it again"
    )


def test_an_import_while_another_runs_names_the_run_and_says_its_claim_lapses_if_it_stops():
    decided = verdict(A.IMPORT, _standing(S.IMPORTING), manual_provider=False)
    assert decided.reason == (
        "invoice contoso-csp:G1 is being imported by run run-1 since 2026-11-24 09:30 UTC and its process renews "
        "its claim; wait for it to finish (should that process stop, its claim lapses within seconds and the "
        "invoice can be imported again)"
    )


class _Record:
    key = KEY
    run_id = "run-1"

    def __init__(self, status: str, minutes_ago: int, is_manual: bool = False, claim_lapsed: bool = False) -> None:
        self.status, self.is_manual = status, is_manual
        self.updated_at = WHEN - timedelta(minutes=minutes_ago)
        self.lapsed = claim_lapsed

    def claim_lapsed(self, now: datetime) -> bool:
        return self.lapsed


@pytest.mark.parametrize(
    ("status", "minutes_ago", "is_manual", "claim_lapsed", "stuck_after", "stage"),
    [
        ("Populating", 0, False, False, timedelta(minutes=120), S.IMPORTING),
        ("Populating", 0, False, True, timedelta(minutes=120), S.STUCK),  # its process stopped renewing
        ("Populating", 119, False, False, timedelta(minutes=120), S.IMPORTING),
        ("Populating", 120, False, False, timedelta(minutes=120), S.STUCK),  # the last-resort bound
        ("Populating", 10_000, False, True, None, S.IMPORTING),  # an operation does not ask: it treats both alike
        ("Populating", 10_000, True, True, timedelta(minutes=120), S.AWAITING_ACTIVATION),
        ("Active", 0, False, True, None, S.ACTIVE),
        ("Error", 0, False, False, None, S.ERROR),
    ],
)
def test_a_current_records_stage(status, minutes_ago, is_manual, claim_lapsed, stuck_after, stage):
    record = _Record(status, minutes_ago, is_manual, claim_lapsed)
    assert record_standing(record, stuck_after, WHEN).stage == stage
