"""The Partner Center connector's settings (a provider's `partner_center:` block) and what builds the connector.

Light on purpose: the configuration loads this module; the HTTP stack (httpx, tenacity) loads only when a provider
is reached.
"""

from __future__ import annotations

import re
from typing import ClassVar

from pydantic import BaseModel, ConfigDict, Field, field_validator

from invoice_pipeline.connectors.base import ConnectorContext, ProviderConnector
from invoice_pipeline.connectors.settings import ConnectorSettings

ENV_VAR_NAME_PATTERN = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")


class PartnerCenterSettings(BaseModel):
    """How to reach Microsoft Partner Center for one provider; the client secret stays in the environment."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    tenant_id: str = Field(min_length=1)
    client_id: str = Field(min_length=1)
    client_secret_env: str = "PARTNER_CENTER_CLIENT_SECRET"
    login_url: str = "https://login.microsoftonline.com"
    api_url: str = "https://api.partnercenter.microsoft.com/v1"
    graph_url: str = "https://graph.microsoft.com/v1.0"
    timeout_seconds: float = Field(default=60, gt=0)
    max_attempts: int = Field(default=5, ge=1, le=20)
    backoff_initial_seconds: float = Field(default=1, ge=0)
    backoff_max_seconds: float = Field(default=60, ge=0)
    max_retry_after_seconds: float = Field(default=300, ge=0)
    export_poll_seconds: float = Field(default=10, ge=0)
    export_timeout_minutes: float = Field(default=45, gt=0)  # two exports stay under the 120-minute stuck limit
    invoice_page_size: int = Field(default=200, ge=1, le=200)
    line_item_page_size: int = Field(default=2000, ge=1, le=2000)

    @field_validator("client_secret_env")
    @classmethod
    def _env_var_name(cls, value: str) -> str:
        if not ENV_VAR_NAME_PATTERN.fullmatch(value):
            # Never echo the value: someone may have pasted the secret itself here.
            raise ValueError(
                "must be the name of an environment variable (letters, digits, '_'), "
                "e.g. PARTNER_CENTER_CLIENT_SECRET, never the secret itself"
            )
        return value

    @field_validator("login_url", "api_url", "graph_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if not re.fullmatch(r"https?://[^\s/?#]+(/[^\s?#]*)?", value):
            raise ValueError(f"{value!r} is not an http(s) base URL such as https://graph.microsoft.com/v1.0")
        return value.rstrip("/")


class PartnerCenterConnectorSettings(ConnectorSettings):
    """A partner_center provider's setting: its `partner_center` block (no `path`: its invoices come from the API,
    and it is automatic)."""

    secret_instead: ClassVar[str] = "give that variable's name in client_secret_env"
    guids_in_any_case: ClassVar[bool] = True

    partner_center: PartnerCenterSettings


def partner_center_connector(settings: PartnerCenterConnectorSettings, context: ConnectorContext) -> ProviderConnector:
    """The Partner Center connector for these settings."""
    from invoice_pipeline.connectors.partner_center.connector import PartnerCenterConnector  # the HTTP stack

    return PartnerCenterConnector(settings.partner_center, context)
