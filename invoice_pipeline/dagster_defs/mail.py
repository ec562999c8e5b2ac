"""The SMTP relay as a Dagster resource, built from the INVOICE_PIPELINE_SMTP_* variables."""

import os

import dagster as dg
from pydantic import Field

from invoice_pipeline.notifications.mail import SMTP_ENV_VARS, SmtpSettings


class SmtpResource(dg.ConfigurableResource):
    """The SMTP relay for notifications; every value comes from INVOICE_PIPELINE_SMTP_* variables."""

    host: str = Field(default="localhost", description="INVOICE_PIPELINE_SMTP_HOST")
    port: int = Field(default=25, description="INVOICE_PIPELINE_SMTP_PORT")
    tls_mode: str = Field(default="none", description="INVOICE_PIPELINE_SMTP_TLS: none, starttls or ssl")
    user: str | None = Field(default=None, description="INVOICE_PIPELINE_SMTP_USER (optional)")
    password: str | None = Field(default=None, description="INVOICE_PIPELINE_SMTP_PASSWORD (optional)")

    def settings(self) -> SmtpSettings:
        """The relay settings for the mail rules."""
        tls_mode = self.tls_mode.lower()
        if tls_mode not in ("none", "starttls", "ssl"):
            raise dg.Failure(f"INVOICE_PIPELINE_SMTP_TLS must be none, starttls or ssl, not {self.tls_mode!r}")
        return SmtpSettings(self.host, self.port, tls_mode, self.user or None, self.password or None)  # type: ignore[arg-type]


def smtp_resource() -> SmtpResource:
    """The SMTP resource with an EnvVar for each INVOICE_PIPELINE_SMTP_* variable that is set."""
    values: dict[str, object] = {}
    for field, variable in SMTP_ENV_VARS.items():
        if os.environ.get(variable):
            values[field] = dg.EnvVar.int(variable) if field == "port" else dg.EnvVar(variable)
    return SmtpResource(**values)
