"""The SMTP relay as a Dagster resource, built from the INVOICE_PIPELINE_SMTP_* variables."""

import os

import dagster as dg
from pydantic import Field

from invoice_pipeline.notifications.mail import SMTP_ENV_VARS, MailError, SmtpSettings


class SmtpResource(dg.ConfigurableResource):
    """The SMTP relay for notifications; every value comes from INVOICE_PIPELINE_SMTP_* variables.

    Without a host no relay is configured: no mail is attempted.
    """

    host: str | None = Field(default=None, description="INVOICE_PIPELINE_SMTP_HOST; unset: no relay, no mail")
    port: int | None = Field(default=None, description="INVOICE_PIPELINE_SMTP_PORT (default 25, 465 with ssl)")
    tls_mode: str = Field(default="none", description="INVOICE_PIPELINE_SMTP_TLS: none, starttls or ssl")
    user: str | None = Field(default=None, description="INVOICE_PIPELINE_SMTP_USER (optional)")
    password: str | None = Field(default=None, description="INVOICE_PIPELINE_SMTP_PASSWORD (optional)")

    def settings(self) -> SmtpSettings:
        """The relay settings for the mail rules; a wrong value fails naming its variable."""
        try:
            return SmtpSettings.from_values(self.host, self.port, self.tls_mode, self.user, self.password)
        except MailError as error:
            raise dg.Failure(str(error)) from None


def smtp_resource() -> SmtpResource:
    """The SMTP resource with an EnvVar for each INVOICE_PIPELINE_SMTP_* variable that is set."""

    def env(field: str) -> dg.EnvVar | None:
        name = SMTP_ENV_VARS[field]
        return dg.EnvVar(name) if os.environ.get(name) else None

    port = SMTP_ENV_VARS["port"]
    return SmtpResource(
        host=env("host"),
        port=dg.EnvVar.int(port) if os.environ.get(port) else None,
        tls_mode=env("tls_mode") or "none",
        user=env("user"),
        password=env("password"),
    )
