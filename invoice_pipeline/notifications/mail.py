"""Sending email through an SMTP relay (plain, STARTTLS or SSL; login optional)."""

from __future__ import annotations

import os
import smtplib
import ssl
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Literal

TlsMode = Literal["none", "starttls", "ssl"]
SMTP_ENV_VARS = {
    "host": "INVOICE_PIPELINE_SMTP_HOST",
    "port": "INVOICE_PIPELINE_SMTP_PORT",
    "tls_mode": "INVOICE_PIPELINE_SMTP_TLS",
    "user": "INVOICE_PIPELINE_SMTP_USER",
    "password": "INVOICE_PIPELINE_SMTP_PASSWORD",
}


class MailError(Exception):
    """The relay did not take the message; the message says what it answered (never the password)."""


@dataclass(frozen=True)
class SmtpSettings:
    """Where and how to hand mail over."""

    host: str = "localhost"
    port: int = 25
    tls_mode: TlsMode = "none"
    user: str | None = None
    password: str | None = None
    timeout_seconds: float = 30.0

    def __repr__(self) -> str:
        return f"SmtpSettings(host={self.host!r}, port={self.port}, tls_mode={self.tls_mode!r}, user={self.user!r})"

    @classmethod
    def from_environment(cls) -> SmtpSettings:
        """Settings from the INVOICE_PIPELINE_SMTP_* environment variables (defaults: localhost:25, no TLS)."""
        env = {field: os.environ.get(var) or None for field, var in SMTP_ENV_VARS.items()}
        tls_mode = (env["tls_mode"] or "none").lower()
        if tls_mode not in ("none", "starttls", "ssl"):
            raise MailError(f"{SMTP_ENV_VARS['tls_mode']} must be none, starttls or ssl, not {tls_mode!r}")
        port = env["port"] or ("465" if tls_mode == "ssl" else "25")
        if not port.isdigit() or not 0 < int(port) < 65536:
            raise MailError(f"{SMTP_ENV_VARS['port']} must be a port number such as 25, 465 or 587, not {port!r}")
        return cls(
            host=env["host"] or "localhost",
            port=int(port),
            tls_mode=tls_mode,  # type: ignore[arg-type]
            user=env["user"],
            password=env["password"],
        )


def one_line(text: str) -> str:
    """Header-safe text: line breaks and other control characters become spaces."""
    return "".join(" " if ord(ch) < 32 or ord(ch) == 127 else ch for ch in text).strip()


def build_message(*, sender: str, recipients: list[str], subject: str, text: str, html: str | None) -> EmailMessage:
    """A multipart message (plain text, and HTML when given); the subject cannot inject headers."""
    message = EmailMessage()
    message["From"] = one_line(sender)
    message["To"] = ", ".join(one_line(r) for r in recipients)
    message["Subject"] = one_line(subject)
    message.set_content(text)
    if html is not None:
        message.add_alternative(html, subtype="html")
    return message


def send_message(settings: SmtpSettings, message: EmailMessage) -> None:
    """Hand the message to the relay; MailError says why it was not taken."""
    try:
        if settings.tls_mode == "ssl":
            client: smtplib.SMTP = smtplib.SMTP_SSL(
                settings.host, settings.port, timeout=settings.timeout_seconds, context=ssl.create_default_context()
            )
        else:
            client = smtplib.SMTP(settings.host, settings.port, timeout=settings.timeout_seconds)
        with client:
            if settings.tls_mode == "starttls":
                client.starttls(context=ssl.create_default_context())
            if settings.user:
                client.login(settings.user, settings.password or "")
            client.send_message(message)
    except (OSError, smtplib.SMTPException) as error:
        raise MailError(
            f"mail to {message['To']} via {settings.host}:{settings.port} failed: {type(error).__name__}: {error}"
        ) from None
