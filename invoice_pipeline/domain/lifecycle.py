"""The invoice lifecycle: where an invoice stands here, and what each action may do from there.

One table answers the warehouse (an import starting), the daily sync's plan (automatic sync) and the
operations a person runs, so the rules are written once. A verdict either allows the action, with a few
words on why (shown in the sync plan), or refuses it with one sentence saying why and what to do instead.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Protocol

from invoice_pipeline.domain.invoice_keys import InvoiceKey
from invoice_pipeline.domain.statuses import DELETED, NOT_IMPORTED, Status


class Stage(StrEnum):
    """Where an invoice stands here: its current record's status, or how it came to have none."""

    NEVER_IMPORTED = NOT_IMPORTED
    IMPORTING = "Populating (import running)"
    STUCK = "Populating (import stopped)"
    AWAITING_ACTIVATION = "Populating (manual, awaiting activation)"
    ACTIVE = Status.ACTIVE.value
    ERROR = Status.ERROR.value
    DEACTIVATED = "Inactive (deactivated)"
    DELETED = DELETED

    @property
    def has_current_record(self) -> bool:
        """Whether the invoice has a current record (deactivated and deleted ones have none)."""
        return self not in (Stage.NEVER_IMPORTED, Stage.DEACTIVATED, Stage.DELETED)


class Action(StrEnum):
    """What may happen to an invoice."""

    AUTOMATIC_SYNC = "automatic sync"  # the daily sync, `sync` without --invoice: decides what to import
    IMPORT = "import"  # an import run: `sync --invoice`, the import job for a partition, a planned import
    ACTIVATE = "activate"
    DEACTIVATE = "deactivate"
    DELETE = "delete"
    UNLINK = "unlink"
    OVERRIDE = "override"
    CREATE = "create"


class CurrentRecord(Protocol):
    """What the lifecycle reads from an invoice's current record (read-only)."""

    @property
    def key(self) -> InvoiceKey:
        """The provider invoice."""
        ...

    @property
    def status(self) -> str:
        """Its status (Populating, Active, Error, Inactive)."""
        ...

    @property
    def is_manual(self) -> bool:
        """Whether a person created it (a manual provider's invoice)."""
        ...

    @property
    def updated_at(self) -> datetime:
        """When it last changed."""
        ...

    @property
    def run_id(self) -> str | None:
        """The run that imports or imported it."""
        ...

    def claim_lapsed(self, now: datetime) -> bool:
        """Whether the claim of the process importing it lapsed (not renewed in time, or its process is gone)."""
        ...


class HistoryStep(Protocol):
    """What the lifecycle reads from an entry of an invoice's history."""

    @property
    def to_status(self) -> str:
        """The status (or action) the entry records."""

    @property
    def changed_at(self) -> datetime:
        """When it happened."""

    @property
    def actor(self) -> str:
        """Who did it."""

    @property
    def reason(self) -> str:
        """Why."""


@dataclass(frozen=True)
class Standing:
    """Where an invoice stands, with what its verdicts tell: since when, by whom (or which run)."""

    key: InvoiceKey
    stage: Stage
    since: datetime | None = None
    by: str | None = None
    why: str | None = None  # the reason a person gave when deactivating or deleting it


def record_standing(record: CurrentRecord, stuck_after: timedelta | None, now: datetime) -> Standing:
    """The standing of an invoice with a current record.

    A Populating import counts as stopped once its claim lapsed, or, as a last resort, once older than
    `stuck_after` (an import renewing its claim for longer, or one started by an earlier version, which
    claimed nothing); without `stuck_after` (an operation, which treats both alike) it counts as running.
    """
    stage = Stage(record.status) if record.status != Status.POPULATING else Stage.IMPORTING
    if record.status == Status.POPULATING and record.is_manual:
        stage = Stage.AWAITING_ACTIVATION
    elif (
        stage == Stage.IMPORTING
        and stuck_after is not None
        and (record.claim_lapsed(now) or record.updated_at <= now - stuck_after)
    ):
        stage = Stage.STUCK
    return Standing(record.key, stage, record.updated_at, record.run_id)


def standing_without_record(key: InvoiceKey, history: Iterable[HistoryStep]) -> Standing:
    """The standing of an invoice with no current record, from its history (oldest first): deactivated or
    deleted by the last person who did either, or never imported."""
    removals = {Status.INACTIVE.value: Stage.DEACTIVATED, DELETED: Stage.DELETED}
    for entry in reversed(list(history)):
        if entry.to_status in removals:
            stage = removals[entry.to_status]
            return Standing(key, stage, entry.changed_at, entry.actor, why=entry.reason)
    return Standing(key, Stage.NEVER_IMPORTED)


@dataclass(frozen=True)
class Verdict:
    """Whether an action may happen, and why (a few words) or why not and what to do (one sentence)."""

    allowed: bool
    reason: str


def _allow(reason: str) -> Verdict:
    return Verdict(True, reason)


def _refuse(sentence: str) -> Verdict:
    return Verdict(False, sentence)


_BEING_IMPORTED = _refuse(
    "invoice {key} is being imported by run {by} since {since:%Y-%m-%d %H:%M} UTC and its process renews its "
    "claim; wait for it to finish (should that process stop, its claim lapses within seconds and the invoice "
    "can be imported again)"
)
_IN_OPERATION = _refuse(
    "{key} is being imported; wait for the import to finish (one that died is retried by the next sync), "
    "then {action} it"
)
_EXPLICIT_SYNC = "sync it explicitly with `invoice-pipeline sync --invoice {key}` to import it again"
_HISTORY = "its history: `invoice-pipeline invoices show {key}`"
_NO_RECORD = {
    Stage.NEVER_IMPORTED: _refuse(
        "{key} has no current record to {action}: it has never been imported "
        "(the provider's invoices: `invoice-pipeline providers invoices {provider}`)"
    ),
    Stage.DEACTIVATED: _refuse(
        "{key} has no current record to {action}: it was deactivated by {by} on {since:%Y-%m-%d}; " + _HISTORY
    ),
    Stage.DELETED: _refuse(
        "{key} has no current record to {action}: it was deleted by {by} on {since:%Y-%m-%d}; " + _HISTORY
    ),
}
_MANUAL_ACTIVATION = (
    "{key} is a manual provider's invoice: it becomes Active only through activation; "
    "create it with `invoice-pipeline invoices create {key} --reason ...`, then "
    "`invoice-pipeline invoices activate {key} --reason ...`"
)
_NOT_AWAITING = _refuse("{key} is {stage}; only a Populating manual invoice can be activated")
_NOT_CHECKSUM_ERROR = _refuse(
    "{key} is not in Error because of its checksum ({stage}); an override only accepts a checksum difference"
)

RULES: dict[Action, dict[Stage, Verdict]] = {
    Action.AUTOMATIC_SYNC: {
        Stage.NEVER_IMPORTED: _allow("new invoice"),
        Stage.IMPORTING: _refuse("import running"),
        Stage.STUCK: _allow("its import stopped without finishing"),
        Stage.AWAITING_ACTIVATION: _refuse("manual invoice waiting to be activated"),
        Stage.ACTIVE: _refuse("already Active"),
        Stage.ERROR: _allow("retry after Error"),
        Stage.DEACTIVATED: _refuse("deactivated by {by} on {since:%Y-%m-%d}; " + _EXPLICIT_SYNC),
        Stage.DELETED: _refuse("deleted by {by} on {since:%Y-%m-%d}; " + _EXPLICIT_SYNC),
    },
    Action.IMPORT: {
        Stage.NEVER_IMPORTED: _allow("import started"),
        Stage.IMPORTING: _BEING_IMPORTED,
        Stage.STUCK: _allow("retry of an import that did not finish"),
        Stage.AWAITING_ACTIVATION: _refuse(
            "invoice {key} is a manual invoice waiting to be activated; "
            "run `invoice-pipeline invoices activate {key} --reason ...` instead"
        ),
        Stage.ACTIVE: _refuse(
            "invoice {key} is Active and cannot be downloaded again; deactivate it (recommended) "
            "or delete it first, then sync it"
        ),
        Stage.ERROR: _allow("retry after Error"),
        Stage.DEACTIVATED: _allow("import asked explicitly after a deactivation"),
        Stage.DELETED: _allow("import asked explicitly after a deletion"),
    },
    Action.ACTIVATE: {
        Stage.NEVER_IMPORTED: _refuse(
            "{key} has not been created; create it first with `invoice-pipeline invoices create {key} --reason ...`"
        ),
        Stage.IMPORTING: _NOT_AWAITING,
        Stage.STUCK: _NOT_AWAITING,
        Stage.AWAITING_ACTIVATION: _allow("activated by hand"),
        Stage.ACTIVE: _NOT_AWAITING,
        Stage.ERROR: _NOT_AWAITING,
        Stage.DEACTIVATED: _refuse(
            "{key} was deactivated by {by} on {since:%Y-%m-%d}; create it again with "
            "`invoice-pipeline invoices create {key} --reason ...`, then activate it"
        ),
        Stage.DELETED: _refuse(
            "{key} was deleted by {by} on {since:%Y-%m-%d}; create it again with "
            "`invoice-pipeline invoices create {key} --reason ...`, then activate it"
        ),
    },
    **{
        action: {
            **_NO_RECORD,
            Stage.IMPORTING: _IN_OPERATION,
            Stage.STUCK: _IN_OPERATION,
            Stage.AWAITING_ACTIVATION: _allow(action.value),
            Stage.ACTIVE: _allow(action.value),
            Stage.ERROR: _allow(action.value),
        }
        for action in (Action.DEACTIVATE, Action.DELETE)
    },
    Action.UNLINK: {
        **_NO_RECORD,
        Stage.IMPORTING: _allow("unlink"),
        Stage.STUCK: _allow("unlink"),
        Stage.AWAITING_ACTIVATION: _allow("unlink"),
        Stage.ACTIVE: _allow("unlink"),
        Stage.ERROR: _allow("unlink"),
    },
    Action.OVERRIDE: {
        **_NO_RECORD,
        Stage.IMPORTING: _NOT_CHECKSUM_ERROR,
        Stage.STUCK: _NOT_CHECKSUM_ERROR,
        Stage.AWAITING_ACTIVATION: _refuse(
            "{key} is a manual invoice waiting to be activated; accept its checksum difference with "
            "`invoice-pipeline invoices activate {key} --reason ... --accept-checksum-difference`"
        ),
        Stage.ACTIVE: _NOT_CHECKSUM_ERROR,
        Stage.ERROR: _allow("checksum override"),
    },
    Action.CREATE: {
        Stage.NEVER_IMPORTED: _allow("created by hand"),
        **{
            stage: _refuse("{key} already exists; deactivate or delete it before creating it again (it is {stage})")
            for stage in Stage
            if stage.has_current_record
        },
        Stage.DEACTIVATED: _allow("created by hand again after a deactivation"),
        Stage.DELETED: _allow("created by hand again after a deletion"),
    },
}

# What a provider's kind forbids, whatever the invoice's stage: a manual provider's invoices are created and
# activated by hand, never imported; an automatic provider's invoices are imported, never created by hand.
_NOT_FOR_MANUAL_PROVIDERS = {
    Action.AUTOMATIC_SYNC: _refuse(
        "a manual provider's invoice, never synced automatically: "
        "`invoice-pipeline invoices create {key} --reason ...`, then "
        "`invoice-pipeline invoices activate {key} --reason ...`"
    ),
    Action.IMPORT: _refuse(_MANUAL_ACTIVATION),
    Action.OVERRIDE: _refuse(_MANUAL_ACTIVATION + " (`--accept-checksum-difference` accepts a small difference)"),
}
_NOT_FOR_AUTOMATIC_PROVIDERS = {
    Action.ACTIVATE: _refuse(
        "{key} is an automatic provider's invoice: it becomes Active through its import "
        "(`invoice-pipeline sync --invoice {key}`), never by activation; only a manual provider's invoices are "
        "created and activated by hand"
    ),
    Action.CREATE: _refuse(
        "{provider} is an automatic provider; its invoices come from the daily sync (or `sync --invoice`)"
    ),
}


def verdict(action: Action, standing: Standing, *, manual_provider: bool) -> Verdict:
    """Whether `action` may happen to the invoice where it stands; what its provider's kind forbids comes first."""
    forbidden = _NOT_FOR_MANUAL_PROVIDERS if manual_provider else _NOT_FOR_AUTOMATIC_PROVIDERS
    rule = forbidden.get(action) or RULES[action][standing.stage]
    return Verdict(
        rule.allowed,
        rule.reason.format(
            key=standing.key,
            provider=standing.key.provider,
            stage=standing.stage,
            since=standing.since,
            by=standing.by,
            action=action.value,
        ),
    )
