"""The lifecycle's words, verdict by verdict: each refusal says why and what to do instead, naming the invoice,
who and when; each allowed import says why in the few words the sync plan shows. The matrix test
(test_lifecycle.py) proves which verdicts allow; these rows prove what each one says."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from invoice_pipeline.domain.invoice_keys import InvoiceKey
from invoice_pipeline.domain.lifecycle import Action, HistoryStep, Stage, Standing, standing_without_record, verdict

KEY = InvoiceKey("contoso-csp", "G1")
WHEN = datetime(2026, 11, 24, 9, 30, tzinfo=UTC)
A = Action
S = Stage
SHOW = "its history: `invoice-pipeline invoices show contoso-csp:G1`"
CREATE = "`invoice-pipeline invoices create contoso-csp:G1 --reason ...`"
ACTIVATE = "`invoice-pipeline invoices activate contoso-csp:G1 --reason ...`"
MANUAL_ACTIVATION = (
    f"contoso-csp:G1 is a manual provider's invoice: it becomes Active only through activation; create it with "
    f"{CREATE}, then {ACTIVATE}"
)
IN_OPERATION = (
    "contoso-csp:G1 is being imported; wait for the import to finish (one that died is retried by the next sync), "
    "then {} it"
)
NOT_CHECKSUM_ERROR = (
    "contoso-csp:G1 is not in Error because of its checksum ({}); an override only accepts a checksum difference"
)


def _standing(stage: Stage) -> Standing:
    return Standing(KEY, stage, WHEN, "cli:alice" if not stage.has_current_record else "run-1")


def _says(action: Action, stage: Stage, *, manual: bool) -> tuple[bool, str]:
    decided = verdict(action, _standing(stage), manual_provider=manual)
    return decided.allowed, decided.reason


AUTOMATIC_REFUSALS = [
    pytest.param(A.AUTOMATIC_SYNC, S.IMPORTING, "import running", id="sync-importing"),
    pytest.param(A.AUTOMATIC_SYNC, S.AWAITING_ACTIVATION, "manual invoice waiting to be activated", id="sync-awaiting"),
    pytest.param(A.AUTOMATIC_SYNC, S.ACTIVE, "already Active", id="sync-active"),
    pytest.param(
        A.AUTOMATIC_SYNC,
        S.DELETED,
        "deleted by cli:alice on 2026-11-24; sync it explicitly with "
        "`invoice-pipeline sync --invoice contoso-csp:G1` to import it again",
        id="sync-deleted",
    ),
    pytest.param(
        A.IMPORT,
        S.AWAITING_ACTIVATION,
        f"invoice contoso-csp:G1 is a manual invoice waiting to be activated; run {ACTIVATE} instead",
        id="import-awaiting",
    ),
    pytest.param(
        A.IMPORT,
        S.ACTIVE,
        "invoice contoso-csp:G1 is Active and cannot be downloaded again; deactivate it (recommended) or delete it "
        "first, then sync it",
        id="import-active",
    ),
    pytest.param(
        A.ACTIVATE,
        S.AWAITING_ACTIVATION,
        "contoso-csp:G1 is an automatic provider's invoice: it becomes Active through its import "
        "(`invoice-pipeline sync --invoice contoso-csp:G1`), never by activation; only a manual provider's invoices "
        "are created and activated by hand",
        id="activate-automatic-provider",
    ),
    pytest.param(
        A.CREATE,
        S.NEVER_IMPORTED,
        "contoso-csp is an automatic provider; its invoices come from the daily sync (or `sync --invoice`)",
        id="create-automatic-provider",
    ),
    pytest.param(
        A.DEACTIVATE,
        S.NEVER_IMPORTED,
        "contoso-csp:G1 has no current record to deactivate: it has never been imported "
        "(the provider's invoices: `invoice-pipeline providers invoices contoso-csp`)",
        id="deactivate-never-imported",
    ),
    pytest.param(
        A.DELETE,
        S.DEACTIVATED,
        f"contoso-csp:G1 has no current record to delete: it was deactivated by cli:alice on 2026-11-24; {SHOW}",
        id="delete-deactivated",
    ),
    pytest.param(
        A.UNLINK,
        S.DELETED,
        f"contoso-csp:G1 has no current record to unlink: it was deleted by cli:alice on 2026-11-24; {SHOW}",
        id="unlink-deleted",
    ),
    pytest.param(A.DEACTIVATE, S.IMPORTING, IN_OPERATION.format("deactivate"), id="deactivate-importing"),
    pytest.param(A.DELETE, S.STUCK, IN_OPERATION.format("delete"), id="delete-stuck"),
    pytest.param(
        A.OVERRIDE, S.IMPORTING, NOT_CHECKSUM_ERROR.format("Populating (import running)"), id="override-importing"
    ),
    pytest.param(A.OVERRIDE, S.ACTIVE, NOT_CHECKSUM_ERROR.format("Active"), id="override-active"),
    pytest.param(
        A.OVERRIDE,
        S.AWAITING_ACTIVATION,
        "contoso-csp:G1 is a manual invoice waiting to be activated; accept its checksum difference with "
        "`invoice-pipeline invoices activate contoso-csp:G1 --reason ... --accept-checksum-difference`",
        id="override-awaiting",
    ),
    pytest.param(
        A.OVERRIDE,
        S.NEVER_IMPORTED,
        "contoso-csp:G1 has no current record to override: it has never been imported "
        "(the provider's invoices: `invoice-pipeline providers invoices contoso-csp`)",
        id="override-never-imported",
    ),
]


@pytest.mark.parametrize(("action", "stage", "sentence"), AUTOMATIC_REFUSALS)
def test_an_automatic_providers_invoice_refused_an_action_is_told_why_and_what_to_do(action, stage, sentence):
    assert _says(action, stage, manual=False) == (False, sentence)


MANUAL_REFUSALS = [
    pytest.param(
        A.AUTOMATIC_SYNC,
        S.NEVER_IMPORTED,
        f"a manual provider's invoice, never synced automatically: {CREATE}, then {ACTIVATE}",
        id="sync-manual-provider",
    ),
    pytest.param(A.IMPORT, S.ERROR, MANUAL_ACTIVATION, id="import-manual-provider"),
    pytest.param(
        A.OVERRIDE,
        S.ERROR,
        MANUAL_ACTIVATION + " (`--accept-checksum-difference` accepts a small difference)",
        id="override-manual-provider",
    ),
    pytest.param(
        A.ACTIVATE,
        S.NEVER_IMPORTED,
        f"contoso-csp:G1 has not been created; create it first with {CREATE}",
        id="activate-never-created",
    ),
    pytest.param(
        A.ACTIVATE,
        S.ACTIVE,
        "contoso-csp:G1 is Active; only a Populating manual invoice can be activated",
        id="activate-active",
    ),
    pytest.param(
        A.ACTIVATE,
        S.STUCK,
        "contoso-csp:G1 is Populating (import stopped); only a Populating manual invoice can be activated",
        id="activate-stuck",
    ),
    pytest.param(
        A.ACTIVATE,
        S.DEACTIVATED,
        f"contoso-csp:G1 was deactivated by cli:alice on 2026-11-24; create it again with {CREATE}, then activate it",
        id="activate-deactivated",
    ),
    pytest.param(
        A.ACTIVATE,
        S.DELETED,
        f"contoso-csp:G1 was deleted by cli:alice on 2026-11-24; create it again with {CREATE}, then activate it",
        id="activate-deleted",
    ),
    pytest.param(
        A.CREATE,
        S.ERROR,
        "contoso-csp:G1 already exists; deactivate or delete it before creating it again (it is Error)",
        id="create-error",
    ),
    pytest.param(
        A.CREATE,
        S.AWAITING_ACTIVATION,
        "contoso-csp:G1 already exists; deactivate or delete it before creating it again "
        "(it is Populating (manual, awaiting activation))",
        id="create-awaiting",
    ),
]


@pytest.mark.parametrize(("action", "stage", "sentence"), MANUAL_REFUSALS)
def test_a_manual_providers_invoice_refused_an_action_is_told_why_and_what_to_do(action, stage, sentence):
    assert _says(action, stage, manual=True) == (False, sentence)


ALLOWED = [
    pytest.param(A.AUTOMATIC_SYNC, S.NEVER_IMPORTED, False, "new invoice", id="sync-new"),
    pytest.param(A.AUTOMATIC_SYNC, S.STUCK, False, "its import stopped without finishing", id="sync-stuck"),
    pytest.param(A.AUTOMATIC_SYNC, S.ERROR, False, "retry after Error", id="sync-error"),
    pytest.param(A.IMPORT, S.NEVER_IMPORTED, False, "import started", id="import-new"),
    pytest.param(A.IMPORT, S.STUCK, False, "retry of an import that did not finish", id="import-stuck"),
    pytest.param(A.IMPORT, S.DEACTIVATED, False, "import asked explicitly after a deactivation", id="import-deact"),
    pytest.param(A.IMPORT, S.DELETED, False, "import asked explicitly after a deletion", id="import-deleted"),
    pytest.param(A.ACTIVATE, S.AWAITING_ACTIVATION, True, "activated by hand", id="activate-awaiting"),
    pytest.param(A.CREATE, S.NEVER_IMPORTED, True, "created by hand", id="create-new"),
    pytest.param(A.CREATE, S.DEACTIVATED, True, "created by hand again after a deactivation", id="create-deact"),
    pytest.param(A.CREATE, S.DELETED, True, "created by hand again after a deletion", id="create-deleted"),
    pytest.param(A.OVERRIDE, S.ERROR, False, "checksum override", id="override-error"),
]


@pytest.mark.parametrize(("action", "stage", "manual", "words"), ALLOWED)
def test_an_allowed_action_says_why_in_the_words_the_sync_plan_shows(action, stage, manual, words):
    assert _says(action, stage, manual=manual) == (True, words)


class _Step:
    def __init__(self, to_status: str, day: int, actor: str, reason: str) -> None:
        self.to_status, self.actor, self.reason = to_status, actor, reason
        self.changed_at = datetime(2026, 11, day, tzinfo=UTC)


def _history(*steps: tuple[str, int, str, str]) -> list[HistoryStep]:
    return [_Step(*step) for step in steps]


@pytest.mark.parametrize(
    ("history", "standing"),
    [
        pytest.param([], Standing(KEY, S.NEVER_IMPORTED), id="no-history"),
        pytest.param(
            _history(("Active", 1, "run-1", "imported")),
            Standing(KEY, S.NEVER_IMPORTED),
            id="only-imports-is-never-imported",
        ),
        pytest.param(
            _history(("Active", 1, "run-1", "imported"), ("Inactive", 3, "cli:alice", "wrong month")),
            Standing(KEY, S.DEACTIVATED, datetime(2026, 11, 3, tzinfo=UTC), "cli:alice", why="wrong month"),
            id="deactivated",
        ),
        pytest.param(
            _history(("Inactive", 3, "cli:alice", "wrong month"), ("Deleted", 5, "cli:bob", "duplicate")),
            Standing(KEY, S.DELETED, datetime(2026, 11, 5, tzinfo=UTC), "cli:bob", why="duplicate"),
            id="last-removal-wins",
        ),
    ],
)
def test_an_invoice_without_a_record_stands_where_its_last_removal_left_it(history, standing):
    assert standing_without_record(KEY, history) == standing
