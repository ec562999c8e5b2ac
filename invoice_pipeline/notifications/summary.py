"""The daily summary of provider invoice imports: what it contains, and how it is rendered."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from markupsafe import Markup, escape

from invoice_pipeline.config import NotificationsConfig, PipelineConfig
from invoice_pipeline.connectors.folder import FolderNotRead, folders_not_read
from invoice_pipeline.domain.billing_period import BillingPeriod
from invoice_pipeline.domain.display import shown
from invoice_pipeline.domain.money import decimal_text
from invoice_pipeline.domain.statuses import DELETED, Status
from invoice_pipeline.notifications.mail import NO_RELAY, MailError, SmtpSettings, build_message, send_message
from invoice_pipeline.reconciliation.period import unbilled_line
from invoice_pipeline.warehouse.operations_log import OperationsLog
from invoice_pipeline.warehouse.warehouse import Warehouse

TEMPLATES = Path(__file__).parent / "templates"
DEFAULT_TEXT_TEMPLATE = TEMPLATES / "daily_summary.txt.j2"
DEFAULT_HTML_TEMPLATE = TEMPLATES / "daily_summary.html.j2"


@dataclass(frozen=True)
class RenderedMail:
    """A mail ready to send: subject, and its plain text and HTML parts (at least one of them)."""

    subject: str
    text: str | None
    html: str | None

    @property
    def first_part(self) -> tuple[str, str]:
        """The part every mail client shows: ("text", the text), or ("html", the HTML) when it is the only part."""
        return ("text", self.text) if self.text is not None else ("html", self.html or "")


@dataclass(frozen=True)
class ImportOutcome:
    """An invoice that became Active or stayed in Error in the period: its total in the currency's minor units."""

    key: str
    currency: str
    total_amount: str
    line_count: int
    message: str
    accepted_difference: str  # empty unless a checksum difference was accepted


@dataclass(frozen=True)
class StillPopulating:
    """An import running now, and since when (local time)."""

    key: str
    since: str


@dataclass(frozen=True)
class ChangeSeen:
    """A provider change seen in the period: the totals in the currency's minor units, when (local time)."""

    key: str
    currency: str
    old_total: str
    new_total: str
    seen_at: str
    lines_changed: bool


@dataclass(frozen=True)
class SetAside:
    """An invoice a person deactivated or deleted (`status`), by whom, on which day and why."""

    key: str
    status: str
    by: str
    on: str
    reason: str


@dataclass(frozen=True)
class CrashedRun:
    """An import run that crashed, the invoice it imported (`?` when unknown) and its error."""

    key: str
    run_id: str
    error: str


@dataclass(frozen=True)
class DailySummary:
    """What happened to provider invoices in one summary period."""

    day: str
    period_start: datetime
    period_end: datetime
    succeeded: list[ImportOutcome] = field(default_factory=list)
    failed: list[ImportOutcome] = field(default_factory=list)
    populating: list[StillPopulating] = field(default_factory=list)
    changed: list[ChangeSeen] = field(default_factory=list)
    crashed: list[CrashedRun] = field(default_factory=list)
    folders_not_read: list[FolderNotRead] = field(default_factory=list)
    set_aside: list[SetAside] = field(default_factory=list)
    # The reconciliation's unbilled amounts of the summary day's billing period (month) and the one before it.
    unbilled_line: str = ""

    @property
    def nothing_new(self) -> bool:
        """True when there is nothing to report (invoices set aside by a person are a standing list, not news)."""
        return not (
            self.succeeded or self.failed or self.populating or self.changed or self.crashed or self.folders_not_read
        )

    def context(self) -> dict[str, Any]:
        """The values the templates see."""
        return {
            "day": self.day,
            "period_start": self.period_start,
            "period_end": self.period_end,
            "succeeded": self.succeeded,
            "failed": self.failed,
            "populating": self.populating,
            "changed": self.changed,
            "crashed": self.crashed,
            "set_aside": self.set_aside,
            "folders_not_read": self.folders_not_read,
            "nothing_new": self.nothing_new,
            "unbilled_line": self.unbilled_line,
        }


def summary_period(day: date, summary_time: str, timezone: str) -> tuple[datetime, datetime]:
    """The 24 hours that end at `summary_time` on `day`, in the configured time zone."""
    hour, minute = (int(part) for part in summary_time.split(":"))
    end = datetime.combine(day, time(hour, minute), tzinfo=ZoneInfo(timezone))
    return end - timedelta(days=1), end


def summary_due_at(config: PipelineConfig, day: date) -> datetime:
    """When `day`'s summary becomes due: its window ends at notifications.summary_time that day."""
    return summary_period(day, config.notifications.summary_time, config.daily_sync.timezone)[1]


class SummaryNotDue(Exception):
    """A day's summary was asked for before its window is over; the message says when it is due."""


def check_summary_due(config: PipelineConfig, day: date, now: datetime) -> None:
    """Raise SummaryNotDue unless `day`'s summary time has passed at `now` (sending it earlier would use up the
    day's one summary on a window that is not over)."""
    due_at = summary_due_at(config, day)
    if now < due_at:
        raise SummaryNotDue(
            f"the summary for {day} is not due yet: its window ends at {local_time(due_at, config.daily_sync.timezone)}"
            " (notifications.summary_time), and it is sent once it is due; "
            f"preview it now with `invoice-pipeline notify --preview --day {day}`"
        )


def due_summary_day(now: datetime, summary_time: str, timezone: str) -> date:
    """The latest day whose summary time has passed at `now`."""
    local = now.astimezone(ZoneInfo(timezone))
    hour, minute = (int(part) for part in summary_time.split(":"))
    return local.date() if (local.hour, local.minute) >= (hour, minute) else local.date() - timedelta(days=1)


def _money(value: Any, minor_units: int | None) -> str:
    return decimal_text(value, minor_units) or ""


def build_daily_summary(warehouse: Warehouse, config: PipelineConfig, day: date) -> DailySummary:
    """Collect the period's successes, failures, running imports, provider changes and crashed runs, and the
    provider folders that are never read (asked of the folder connectors now: they are there until fixed)."""
    timezone = config.daily_sync.timezone
    start, end = summary_period(day, config.notifications.summary_time, timezone)
    log = OperationsLog(warehouse)
    succeeded: list[ImportOutcome] = []
    failed: list[ImportOutcome] = []
    for outcome in log.latest_outcomes_between(start, end):
        record = outcome.record
        entry = ImportOutcome(
            key=str(record.key),
            currency=record.currency or "",
            total_amount=_money(record.total_amount, record.minor_units),
            line_count=(record.usage_line_count or 0) + (record.license_line_count or 0),
            message=record.message or "",
            accepted_difference=_money(record.accepted_difference, record.minor_units),
        )
        if record.status == Status.ACTIVE and outcome.to_status == Status.ACTIVE:
            succeeded.append(entry)
        elif record.status == Status.ERROR and outcome.to_status == Status.ERROR:
            failed.append(entry)
    populating = [
        StillPopulating(str(r.key), r.updated_at.astimezone(ZoneInfo(timezone)).strftime("%Y-%m-%d %H:%M"))
        for r in warehouse.list_invoices(status=Status.POPULATING)
    ]
    changed = [
        ChangeSeen(
            key=str(c.key),
            currency=c.currency or "",
            old_total=_money(c.old_total, c.minor_units),
            new_total=_money(c.new_total, c.minor_units),
            seen_at=c.seen_at.astimezone(ZoneInfo(timezone)).strftime("%Y-%m-%d %H:%M"),
            lines_changed=c.lines_changed,
        )
        for c in log.changes_seen_between(start, end)
    ]
    set_aside = [
        SetAside(
            key=f"{h.provider}:{h.invoice_id}",
            status="deleted" if h.to_status == DELETED else "deactivated",
            by=h.actor,
            on=h.changed_at.astimezone(ZoneInfo(timezone)).strftime("%Y-%m-%d"),
            reason=h.reason,
        )
        for h in log.set_aside_by_a_person()
    ]
    crashed = [
        CrashedRun(f"{f.provider}:{f.invoice_id}" if f.provider else "?", f.run_id, f.error)
        for f in log.run_failures_between(start, end)
    ]
    refused = [row for provider in config.providers for row in folders_not_read(provider)]
    unbilled = unbilled_line(warehouse, config.reference_data, BillingPeriod(day.year, day.month))
    return DailySummary(
        day.isoformat(),
        start,
        end,
        succeeded,
        failed,
        populating,
        changed,
        crashed,
        refused,
        set_aside,
        unbilled,
    )


def shown_value(value: Any) -> Any:
    """Every value a template writes (`{{ ... }}`), as a person may see it: one line, secrets redacted, control
    characters and bidi overrides escaped (`domain.display.shown`); markup the HTML template made stays as made."""
    if value is None or isinstance(value, Markup | bool | int):
        return value
    return shown(str(value))


def _environment(folder: Path, html: bool) -> Environment:
    environment = Environment(
        loader=FileSystemLoader(str(folder)),
        autoescape=select_autoescape(enabled_extensions=("html", "j2"), default=html) if html else False,
        undefined=StrictUndefined,
        keep_trailing_newline=True,
        finalize=shown_value,
    )
    environment.filters["code_spans"] = _code_spans if html else str
    return environment


def _code_spans(text: str) -> Markup:
    """`text` escaped for HTML, each part written between backticks (a command) shown as code."""
    return Markup(re.sub(r"`([^`]+)`", r"<code>\1</code>", str(escape(shown(str(text))))))


def render_template(path: Path, context: dict[str, Any], *, html: bool) -> str:
    """Render one template file (HTML templates escape every value)."""
    return _environment(path.parent, html).get_template(path.name).render(**context)


def render_subject(template: str, context: dict[str, Any]) -> str:
    """Render the configured subject (a Jinja2 string); line breaks never reach the header."""
    environment = Environment(undefined=StrictUndefined, autoescape=False, finalize=shown_value)
    text = environment.from_string(template).render(**context)
    return " ".join(text.split())


def render_summary(summary: DailySummary, settings: NotificationsConfig) -> RenderedMail:
    """The summary mail: the parts of the configured templates alone, or both default parts when none is
    configured (a mail never mixes a customized part with a default one)."""
    context = summary.context()
    text_template, html_template = settings.text_template, settings.html_template
    if text_template is None and html_template is None:
        text_template, html_template = DEFAULT_TEXT_TEMPLATE, DEFAULT_HTML_TEMPLATE
    return RenderedMail(
        subject=render_subject(settings.subject, context),
        text=render_template(text_template, context, html=False) if text_template else None,
        html=render_template(html_template, context, html=True) if html_template else None,
    )


@dataclass(frozen=True)
class SummaryDelivery:
    """What became of one day's summary: sent, or why not; and the mail as rendered."""

    day: str
    sent: bool
    reason: str
    mail: RenderedMail | None = None


DONE_STATUSES = ("sent", "skipped")


@dataclass(frozen=True)
class SummaryAttempt:
    """Whether to try sending a day's summary now; `attempts` were made before, `reason` says why (not)."""

    day: date
    due: bool
    attempts: int
    reason: str


def next_summary_day(warehouse: Warehouse, config: PipelineConfig, now: datetime) -> date:
    """The day whose summary is sent next: the latest due day until it was sent or skipped, then the next day
    (its window so far)."""
    day = due_summary_day(now, config.notifications.summary_time, config.daily_sync.timezone)
    delivery = OperationsLog(warehouse).delivery(day.isoformat())
    return day + timedelta(days=1) if delivery and delivery.status in DONE_STATUSES else day


def next_summary_attempt(warehouse: Warehouse, config: PipelineConfig, now: datetime) -> SummaryAttempt:
    """The latest due day's summary: due unless it was sent or skipped, or unless it failed less than
    `notifications.retry_failed_summary_minutes` ago (then the reason gives the next attempt and the last error)."""
    settings, timezone = config.notifications, config.daily_sync.timezone
    day = due_summary_day(now, settings.summary_time, timezone)
    delivery = OperationsLog(warehouse).delivery(day.isoformat())
    if delivery is None:
        return SummaryAttempt(day, True, 0, f"the summary for {day} is due")
    attempts = delivery.attempts
    if delivery.status in DONE_STATUSES:
        return SummaryAttempt(day, False, attempts, f"the summary for {day} was already {delivery.status}")
    failed_at = delivery.updated_at.astimezone(UTC)  # elapsed time, not wall-clock time across a DST change
    retry_at = failed_at + timedelta(minutes=settings.retry_failed_summary_minutes)
    failure = (
        f"the summary for {day} is not sent yet: attempt {attempts} failed at {local_time(failed_at, timezone)} "
        f"({delivery.last_error})"
    )
    if now < retry_at:
        return SummaryAttempt(
            day,
            False,
            attempts,
            f"{failure}; next attempt at {local_time(retry_at, timezone)} "
            f"(notifications.retry_failed_summary_minutes: {settings.retry_failed_summary_minutes})",
        )
    return SummaryAttempt(day, True, attempts, f"{failure}; trying again")


def local_time(moment: datetime, timezone: str) -> str:
    """`moment` as the configured time zone's wall-clock time, naming the zone."""
    return f"{moment.astimezone(ZoneInfo(timezone)):%Y-%m-%d %H:%M} {timezone}"


def deliver_daily_summary(
    warehouse: Warehouse, config: PipelineConfig, smtp: SmtpSettings, day: date, now: datetime | None = None
) -> SummaryDelivery:
    """Send the day's summary exactly once; a failed send is recorded and raised (MailError), to be retried.

    A day not due at `now` (default: the current time) is refused with SummaryNotDue, and without a configured
    relay MailError says how to configure one: in both cases nothing is attempted or recorded.
    """
    check_summary_due(config, day, now or datetime.now(UTC))
    log = OperationsLog(warehouse)
    previous = log.delivery(day.isoformat())
    if previous and previous.status in DONE_STATUSES:
        return SummaryDelivery(day.isoformat(), False, f"already {previous.status} for {day.isoformat()}")
    if not smtp.configured:
        raise MailError(NO_RELAY)
    settings = config.notifications
    summary = build_daily_summary(warehouse, config, day)
    mail = render_summary(summary, settings)
    if summary.nothing_new and not settings.send_when_nothing_new:
        log.record_delivery(day.isoformat(), sent=False, subject=mail.subject, status="skipped")
        return SummaryDelivery(day.isoformat(), False, "nothing new, and send_when_nothing_new is off", mail)
    if not settings.recipients:
        error = "no recipients configured (notifications.recipients)"
        log.record_delivery(day.isoformat(), sent=False, subject=mail.subject, error=error)
        raise MailError(error)
    message = build_message(
        sender=settings.sender, recipients=settings.recipients, subject=mail.subject, text=mail.text, html=mail.html
    )
    try:
        send_message(smtp, message)
    except MailError as error:
        log.record_delivery(day.isoformat(), sent=False, subject=mail.subject, error=str(error))
        raise
    log.record_delivery(day.isoformat(), sent=True, subject=mail.subject)
    return SummaryDelivery(day.isoformat(), True, f"sent to {', '.join(settings.recipients)}", mail)
