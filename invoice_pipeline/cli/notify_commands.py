"""`invoice-pipeline notify`: send the daily summary email, or print it with --preview."""

from __future__ import annotations

import sys
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING

import click

from invoice_pipeline.cli.common import smtp
from invoice_pipeline.cli.errors import EXIT_USAGE, Broken, Refused
from invoice_pipeline.cli.output import say

if TYPE_CHECKING:
    from invoice_pipeline.config import PipelineConfig
    from invoice_pipeline.warehouse.warehouse import Warehouse


@click.command()
@click.option("--preview", is_flag=True, help="Print the summary instead of sending it (any day).")
@click.option("--html", "show_html", is_flag=True, help="With --preview, print the HTML part too.")
@click.option(
    "--day",
    "day_text",
    help="YYYY-MM-DD (default: sending, the latest day whose summary time has passed; "
    "--preview, the summary that will be sent next).",
)
@click.pass_obj
def notify(config: PipelineConfig, preview: bool, show_html: bool, day_text: str | None) -> None:
    """Send the daily summary email now (once per day, only once its summary time has passed), or print it
    with --preview."""
    from invoice_pipeline.composition import opened_warehouse
    from invoice_pipeline.notifications.mail import NO_RELAY, MailError
    from invoice_pipeline.notifications.summary import (
        SummaryNotDue,
        deliver_daily_summary,
        due_summary_day,
        next_summary_day,
    )

    try:
        day = date.fromisoformat(day_text) if day_text else None
    except ValueError:
        raise click.BadParameter(f"{day_text!r} is not a date written YYYY-MM-DD", param_hint="--day") from None
    if not preview and not smtp().configured:
        say(f"invoice-pipeline: {NO_RELAY}", err=True)
        sys.exit(EXIT_USAGE)
    now = datetime.now(UTC)
    with opened_warehouse(config) as warehouse:
        if preview:
            _preview_summary(warehouse, config, day or next_summary_day(warehouse, config, now), now, show_html)
            return
        day = day or due_summary_day(now, config.notifications.summary_time, config.daily_sync.timezone)
        try:
            delivery = deliver_daily_summary(warehouse, config, smtp(), day, now)
        except SummaryNotDue as refusal:
            raise Refused(str(refusal)) from None
        except MailError as error:
            raise Broken(f"summary for {day} not sent: {error}; run notify again") from None
    say(f"summary {delivery.day}: {delivery.reason}")


def _preview_summary(warehouse: Warehouse, config: PipelineConfig, day: date, now: datetime, show_html: bool) -> None:
    """Print the day's summary as it would be sent (the part a text reader sees; --html adds the HTML part);
    a day not due yet is said on stderr (its window is not over)."""
    from invoice_pipeline.notifications.summary import (
        SummaryNotDue,
        build_daily_summary,
        check_summary_due,
        render_summary,
    )

    settings = config.notifications
    mail = render_summary(build_daily_summary(warehouse, config, day), settings)
    try:
        check_summary_due(config, day, now)
    except SummaryNotDue as not_due:
        say(str(not_due), err=True)
    say(f"To: {', '.join(settings.recipients) or '(no recipients configured)'}")
    say(f"Subject: {mail.subject}\n\n{mail.first_part[1]}", multiline=True)
    if show_html and mail.text is not None:
        if mail.html is None:
            say("no HTML part: only notifications.text_template is set, so the mail is plain text", err=True)
        else:
            say(mail.html, multiline=True)
