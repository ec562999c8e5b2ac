"""Sending email through an SMTP relay (plain, STARTTLS or SSL; login optional).

A relay is configured when INVOICE_PIPELINE_SMTP_HOST is set; without one no mail is attempted.
"""

from __future__ import annotations

import os
import smtplib
import ssl
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Literal

from invoice_pipeline.domain import redaction

TlsMode = Literal["none", "starttls", "ssl"]
TLS_MODES: tuple[TlsMode, ...] = ("none", "starttls", "ssl")
SMTP_ENV_VARS = {
    "host": "INVOICE_PIPELINE_SMTP_HOST",
    "port": "INVOICE_PIPELINE_SMTP_PORT",
    "tls_mode": "INVOICE_PIPELINE_SMTP_TLS",
    "user": "INVOICE_PIPELINE_SMTP_USER",
    "password": "INVOICE_PIPELINE_SMTP_PASSWORD",
}
NO_RELAY = (
    "no mail relay configured: set INVOICE_PIPELINE_SMTP_HOST (and INVOICE_PIPELINE_SMTP_PORT, _TLS, _USER, "
    '_PASSWORD as the relay needs); see "The notification settings" in the README'
)


class MailError(Exception):
    """The relay did not take the message; the message says what it answered (never the password)."""


@dataclass(frozen=True)
class SmtpSettings:
    """Where and how to hand mail over; without a host no relay is configured."""

    host: str | None = None
    port: int = 25
    tls_mode: TlsMode = "none"
    user: str | None = None
    password: str | None = None
    timeout_seconds: float = 30.0

    def __post_init__(self) -> None:
        redaction.register(self.password, user=self.user)  # never shown, in any form, from now on

    def __repr__(self) -> str:
        return f"SmtpSettings(host={self.host!r}, port={self.port}, tls_mode={self.tls_mode!r}, user={self.user!r})"

    @property
    def configured(self) -> bool:
        """True when a relay host is set (INVOICE_PIPELINE_SMTP_HOST)."""
        return bool(self.host)

    @classmethod
    def from_values(
        cls,
        host: str | None,
        port: str | int | None = None,
        tls_mode: str | None = None,
        user: str | None = None,
        password: str | None = None,
    ) -> SmtpSettings:
        """Validated settings; empty values count as unset (port: 25, or 465 with ssl). MailError names the
        INVOICE_PIPELINE_SMTP_* variable of a wrong value."""
        asked = (tls_mode or "none").lower()
        mode = next((known for known in TLS_MODES if known == asked), None)
        if mode is None:
            raise MailError(f"{SMTP_ENV_VARS['tls_mode']} must be none, starttls or ssl, not {asked!r}")
        port_text = str(port or ("465" if mode == "ssl" else "25"))
        if not port_text.isdigit() or not 0 < int(port_text) < 65536:
            raise MailError(f"{SMTP_ENV_VARS['port']} must be a port number such as 25, 465 or 587, not {port_text!r}")
        return cls(
            host=(host or "").strip() or None,
            port=int(port_text),
            tls_mode=mode,
            user=user or None,
            password=password or None,
        )

    @classmethod
    def from_environment(cls) -> SmtpSettings:
        """Settings from the INVOICE_PIPELINE_SMTP_* environment variables (no host: no relay configured)."""
        return cls.from_values(**{field: os.environ.get(variable) for field, variable in SMTP_ENV_VARS.items()})


def one_line(text: str) -> str:
    """Header-safe text: line breaks and other control characters become spaces."""
    return "".join(" " if ord(ch) < 32 or ord(ch) == 127 else ch for ch in text).strip()


def build_message(
    *, sender: str, recipients: list[str], subject: str, text: str | None, html: str | None
) -> EmailMessage:
    """A message with the parts given (plain text, HTML, or both as alternatives); the subject cannot inject
    headers."""
    message = EmailMessage()
    message["From"] = one_line(sender)
    message["To"] = ", ".join(one_line(r) for r in recipients)
    message["Subject"] = one_line(subject)
    (first, first_subtype), *alternatives = [
        (body, kind) for body, kind in ((text, "plain"), (html, "html")) if body is not None
    ]
    message.set_content(first, subtype=first_subtype)
    for body, subtype in alternatives:
        message.add_alternative(body, subtype=subtype)
    return message


def send_message(settings: SmtpSettings, message: EmailMessage) -> None:
    """Hand the message to the relay; MailError says why it was not taken (or that no relay is configured)."""
    host = settings.host
    if not host:  # not configured
        raise MailError(NO_RELAY)
    try:
        if settings.tls_mode == "ssl":
            client: smtplib.SMTP = smtplib.SMTP_SSL(
                host, settings.port, timeout=settings.timeout_seconds, context=ssl.create_default_context()
            )
        else:
            client = smtplib.SMTP(host, settings.port, timeout=settings.timeout_seconds)
        with client:
            if settings.tls_mode == "starttls":
                client.starttls(context=ssl.create_default_context())
            if settings.user:
                client.login(settings.user, settings.password or "")
            client.send_message(message)
    except (OSError, smtplib.SMTPException) as error:
        raise MailError(
            redaction.redact(
                f"mail to {message['To']} via {settings.host}:{settings.port} failed: {type(error).__name__}: {error}"
            )
        ) from None
