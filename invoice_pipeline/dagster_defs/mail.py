"""The SMTP relay as a Dagster resource, from the INVOICE_PIPELINE_SMTP_* variables as a run finds them."""

import os

import dagster as dg
from pydantic import Field

from invoice_pipeline.notifications.mail import SMTP_ENV_VARS, MailError, SmtpSettings


class SmtpResource(dg.ConfigurableResource):
    """The SMTP relay for notifications; a value not given comes from its INVOICE_PIPELINE_SMTP_* variable, read
    when the resource is used (never when the definitions are loaded).

    Without a host no relay is configured: no mail is attempted.
    """

    host: str | None = Field(default=None, description="INVOICE_PIPELINE_SMTP_HOST; unset: no relay, no mail")
    port: int | None = Field(default=None, description="INVOICE_PIPELINE_SMTP_PORT (default 25, 465 with ssl)")
    tls_mode: str | None = Field(default=None, description="INVOICE_PIPELINE_SMTP_TLS: none, starttls or ssl")
    user: str | None = Field(default=None, description="INVOICE_PIPELINE_SMTP_USER (optional)")
    password: str | None = Field(default=None, description="INVOICE_PIPELINE_SMTP_PASSWORD (optional)")

    def settings(self) -> SmtpSettings:
        """The relay settings for the mail rules; a wrong value fails naming its variable."""
        given = {name: getattr(self, name) for name in SMTP_ENV_VARS}  # the fields are named as the variables' keys
        values = {name: os.environ.get(SMTP_ENV_VARS[name]) if v is None else v for name, v in given.items()}
        try:
            return SmtpSettings.from_values(**values)
        except MailError as error:
            raise dg.Failure(str(error)) from None


def smtp_resource() -> SmtpResource:
    """The SMTP resource as the definitions use it: no value of its own, so each run reads the
    INVOICE_PIPELINE_SMTP_* variables when it starts (a `dg.EnvVar` would fail every run whose variable is unset)."""
    return SmtpResource()
