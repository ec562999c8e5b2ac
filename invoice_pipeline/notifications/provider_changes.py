"""Provider change emails: sent at once when a provider's total or lines differ from an imported invoice."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from invoice_pipeline.config import NotificationsConfig
from invoice_pipeline.notifications.mail import NO_RELAY, MailError, SmtpSettings, build_message, send_message
from invoice_pipeline.notifications.summary import TEMPLATES, render_subject, render_template
from invoice_pipeline.warehouse.operations_log import OperationsLog, ProviderInvoiceChange

CHANGE_SUBJECT = (
    "Provider invoice {{ key }} changed at the provider: {% if total_changed %}{{ old_total }} -> {{ new_total }} "
    "{{ currency }}{% if lines_changed %}, lines changed{% endif %}"
    "{% else %}lines changed, total {{ new_total }} {{ currency }}{% endif %}"
)
CHANGE_TEXT_TEMPLATE: Path = TEMPLATES / "provider_change.txt.j2"
CHANGE_HTML_TEMPLATE: Path = TEMPLATES / "provider_change.html.j2"


@dataclass(frozen=True)
class ProviderChange:
    """An Active invoice whose provider total or lines now differ from the imported ones, its totals written in
    the currency's minor units, as the sync shows it (the CLI's line, the Dagster run's table and observation)."""

    invoice: str
    imported_total: str | None
    provider_total: str | None
    currency: str
    lines_changed: bool

    @classmethod
    def from_log(cls, change: ProviderInvoiceChange) -> ProviderChange:
        """The change as the operations log recorded it (see `OperationsLog.record_provider_change`)."""
        imported_total, provider_total = change.totals_text()
        return cls(
            invoice=str(change.key),
            imported_total=imported_total,
            provider_total=provider_total,
            currency=change.currency or "",
            lines_changed=change.lines_changed,
        )

    def as_row(self) -> dict[str, Any]:
        """The change as a table row (Dagster metadata), read back with `ProviderChange(**row)`."""
        return asdict(self)

    def text(self) -> str:
        """E.g. `imported 46.00, provider now 47.50 USD, and its lines changed`."""
        lines = ", and its lines changed" if self.lines_changed else ""
        return f"imported {self.imported_total}, provider now {self.provider_total} {self.currency}{lines}"


def notify_provider_changes(log: OperationsLog, settings: NotificationsConfig, smtp: SmtpSettings) -> list[str]:
    """Email every change not notified yet; returns the send errors (those changes are retried next time).

    Without a configured relay nothing is attempted: one error says how to configure one.
    """
    changes = log.unnotified_changes()
    if changes and not smtp.configured:
        return [NO_RELAY]
    errors = []
    for change in changes:
        old_total, new_total = change.totals_text()
        context = {
            "key": str(change.key),
            "currency": change.currency or "",
            "old_total": old_total,
            "new_total": new_total,
            "seen_at": change.seen_at.strftime("%Y-%m-%d %H:%M UTC"),
            "total_changed": change.total_changed,
            "lines_changed": change.lines_changed,
        }
        message = build_message(
            sender=settings.sender,
            recipients=settings.recipients,
            subject=render_subject(CHANGE_SUBJECT, context),
            text=render_template(CHANGE_TEXT_TEMPLATE, context, html=False),
            html=render_template(CHANGE_HTML_TEMPLATE, context, html=True),
        )
        if not settings.recipients:
            errors.append("no notification recipients are configured (notifications.recipients)")
            break
        try:
            send_message(smtp, message)
        except MailError as error:
            errors.append(str(error))
            continue
        log.mark_change_notified(change.change_id)
    return errors
