"""The pipeline's configuration: one YAML file, validated, with paths resolved against its folder.

How its values are read is in `values.py`, how a problem is told in one line in `messages.py`; each connector's
own settings are its own (`connectors/registry.py`).
"""

from __future__ import annotations

import os
import re
from contextlib import suppress
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import Field, ValidationError, ValidationInfo, field_validator, model_validator
from pydantic_core import PydanticCustomError

from invoice_pipeline.config.messages import validation_problem, yaml_problem
from invoice_pipeline.config.values import (
    DEFAULT_CURRENCY,
    DEFAULT_OVERRIDE_MAXIMUM,
    StrictModel,
    decimal_setting,
    limit_setting,
    override_maximum_setting,
)
from invoice_pipeline.connectors.line_file_limits import (
    DEFAULT_LINE_FILE_SIZE_LIMIT,
    DEFAULT_LINE_LENGTH_LIMIT,
    LineFileLimits,
)
from invoice_pipeline.connectors.registry import CONNECTORS, DEFAULT_CONNECTOR, Connector
from invoice_pipeline.connectors.settings import CONFIG_FOLDER, ConfigFolder, ConnectorSettings
from invoice_pipeline.domain.billing_period import BillingPeriod
from invoice_pipeline.domain.invoice_keys import PROVIDER_ID_PATTERN

CONFIG_ENV_VAR = "INVOICE_PIPELINE_CONFIG"
DATA_DIR_ENV_VAR = "INVOICE_PIPELINE_DATA_DIR"
WAREHOUSE_URL_ENV_VAR = "INVOICE_PIPELINE_WAREHOUSE_URL"
DEMO_CONFIG_PATH = Path(__file__).parent.parent / "demo" / "config.yaml"
EMAIL_PATTERN = re.compile(r"[^@\s<>,;\"]+@[^@\s<>,;\"]+")
SUMMARY_TIME_PATTERN = re.compile(r"([01][0-9]|2[0-3]):[0-5][0-9]")
# Errors raised for a provider's whole entry; their context's `where` names the key at fault (config.messages).
UNKNOWN_CONNECTOR = "unknown_connector"
SETTING_OF_ANOTHER_CONNECTOR = "setting_of_another_connector"


class ConfigError(ValueError):
    """A configuration problem, told in one line that names the key."""


class ProviderConfig(StrictModel):
    """One provider the partner buys from, and how its invoices reach the pipeline.

    Its entry holds the keys below and those of its connector (`connector:`, `folder` when it names none), which the
    connector's registered settings model validates into `settings` (`connectors/registry.py`): the providers'
    settings are a union of the registered connectors' settings, discriminated on `connector`.
    """

    id: str
    name: str
    sync: Literal["automatic", "manual"]
    connector: str = DEFAULT_CONNECTOR
    settings: ConnectorSettings  # its connector's own keys, validated by the connector's settings model
    checksum_tolerance: Decimal = Decimal("0.00")
    # This provider's own limits on its line files; unset, the configuration's (PipelineConfig) apply.
    line_file_size_limit: int | None = None
    line_length_limit: int | None = None

    @model_validator(mode="before")
    @classmethod
    def _settings_of_its_connector(cls, data: object, info: ValidationInfo) -> object:
        """The entry's keys that are not the provider's own, validated by its connector's settings model (errors
        name them as they are written: providers.0.path)."""
        if not isinstance(data, dict) or isinstance(data.get("settings"), ConnectorSettings):
            return data
        name = data.get("connector", DEFAULT_CONNECTOR)
        connector = CONNECTORS.get(name) if isinstance(name, str) else None
        if connector is None:
            raise PydanticCustomError(
                UNKNOWN_CONNECTOR,
                "{connector} is not a connector; use one of: {known}",
                {"where": "connector", "connector": repr(str(name)[:40]), "known": ", ".join(CONNECTORS)},
            )
        provider_keys = cls.model_fields.keys() - {"settings"}
        own = {key: value for key, value in data.items() if key not in provider_keys}
        strays = _settings_of_other_connectors(connector, own)
        settings = connector.settings.model_validate(
            {key: value for key, value in own.items() if key not in strays}, context=info.context
        )
        if strays:
            key, other = next(iter(strays.items()))
            raise PydanticCustomError(
                SETTING_OF_ANOTHER_CONNECTOR,
                "a {connector} provider has no {key} (a setting of connector: {other}); remove it",
                {"where": key, "connector": name, "key": key, "other": other},
            )
        return {key: value for key, value in data.items() if key in provider_keys} | {"settings": settings}

    @field_validator("id")
    @classmethod
    def _valid_id(cls, value: str) -> str:
        if not PROVIDER_ID_PATTERN.fullmatch(value):
            raise ValueError("must be lowercase letters, digits and '-' (at most 64), e.g. contoso-csp")
        return value

    @field_validator("checksum_tolerance", mode="before")
    @classmethod
    def _valid_tolerance(cls, value: object) -> Decimal:
        return decimal_setting(value, "checksum_tolerance")

    @field_validator("line_file_size_limit", "line_length_limit", mode="before")
    @classmethod
    def _valid_limit(cls, value: object, info: ValidationInfo) -> int | None:
        return None if value is None else limit_setting(value, str(info.field_name))

    @model_validator(mode="after")
    def _manual_providers_use_folders(self) -> ProviderConfig:
        if self.sync == "manual" and self.settings.folder is None:
            raise ValueError(f"a {self.connector} provider must be sync: automatic (manual providers use folders)")
        return self

    @property
    def folder(self) -> Path:
        """The folder the provider's invoices are read from (every manual provider has one)."""
        folder = self.settings.folder
        if folder is None:
            raise ValueError(f"provider {self.id} has no folder: its invoices come from its {self.connector} connector")
        return folder

    @property
    def line_file_limits(self) -> LineFileLimits:
        """The limits this provider's line files are held to."""
        return LineFileLimits(
            self.line_file_size_limit or DEFAULT_LINE_FILE_SIZE_LIMIT,
            self.line_length_limit or DEFAULT_LINE_LENGTH_LIMIT,
        )


class DailySyncConfig(StrictModel):
    """When the daily sync runs (a cron in a time zone)."""

    cron: str = "0 6 * * *"
    timezone: str = "UTC"

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as error:
            raise ValueError(f"unknown time zone {value!r}; use an IANA name such as Europe/Paris") from error
        return value

    @field_validator("cron")
    @classmethod
    def _five_fields(cls, value: str) -> str:
        if len(value.split()) != 5:
            raise ValueError(f'{value!r} is not a cron expression of five fields, e.g. "0 6 * * *"')
        return value


class NotificationsConfig(StrictModel):
    """Who gets the daily summary and change emails, when, and with which templates."""

    recipients: list[str] = Field(default_factory=list)
    sender: str = "invoice-pipeline@localhost"
    subject: str = (
        "Provider invoices {{ day }}: {{ succeeded | length }} imported, {{ failed | length }} failed"
        "{% if changed %}, {{ changed | length }} changed at the provider{% endif %}"
    )
    summary_time: str = "07:00"
    send_when_nothing_new: bool = True
    # After a failed summary send (relay down), the next attempt waits this long; 5 is the sensor's interval.
    retry_failed_summary_minutes: int = Field(default=60, ge=5)
    text_template: Path | None = None
    html_template: Path | None = None

    @field_validator("recipients")
    @classmethod
    def _addresses(cls, value: list[str]) -> list[str]:
        for address in value:
            if not EMAIL_PATTERN.fullmatch(address):
                raise ValueError(f"{address!r} is not an email address")
        return value

    @field_validator("summary_time")
    @classmethod
    def _time_of_day(cls, value: str) -> str:
        if not SUMMARY_TIME_PATTERN.fullmatch(value):
            raise ValueError("summary_time must be a time of day as HH:MM, 00:00 to 23:59 (e.g. 07:00)")
        return value


class PipelineConfig(StrictModel):
    """The whole configuration: warehouse, reference data, providers and operating settings."""

    warehouse_url: str
    reference_data: ConfigFolder
    providers: list[ProviderConfig] = Field(default_factory=list)
    data_dir: Path
    # An import's claim on its invoice lapses this long after its process stops renewing it (every sixth of it).
    import_claim_lapse_seconds: float = Field(default=30, ge=3)
    # Last resort: an import still Populating after this long is taken over even while its claim is renewed.
    stuck_populating_after_minutes: int = Field(default=120, ge=0)
    duckdb_memory_limit: str = "1GB"
    duckdb_threads: int = Field(default=2, ge=1)
    # The largest line file (decompressed) and the longest line in one a provider may send, in bytes (sizes such as
    # 50GB or 1MB in the file); a provider's own setting overrides them.
    line_file_size_limit: int = DEFAULT_LINE_FILE_SIZE_LIMIT
    line_length_limit: int = DEFAULT_LINE_LENGTH_LIMIT
    warehouse_lock_timeout_seconds: float = Field(default=60, ge=0)
    # A line whose charge starts more than this many days after the header's billing period puts its invoice in
    # Error (lines outside the period by less, or before it, are imported with the Out Of Period Lines note).
    out_of_period_error_after_days: int = Field(default=31, ge=0, le=36500)
    # An override accepts a checksum difference below this, per currency (DEFAULT_CURRENCY: the other ones).
    checksum_override_maximum: dict[str, Decimal] = Field(
        default_factory=lambda: {DEFAULT_CURRENCY: DEFAULT_OVERRIDE_MAXIMUM}
    )
    # Usage with no contract terms in its charge month is held back from billing unless this says to bill it at cost.
    bill_usage_without_terms_at_cost: bool = False
    # The first month of the monthly partitions (customer_invoices, period_reconciliation); unset, they start at the
    # first month already reconciled or the month before last (see `billing_assets.first_billing_period`).
    first_billing_period: BillingPeriod | None = None
    daily_sync: DailySyncConfig = Field(default_factory=DailySyncConfig)
    notifications: NotificationsConfig = Field(default_factory=NotificationsConfig)

    @field_validator("checksum_override_maximum", mode="before")
    @classmethod
    def _valid_override_maximum(cls, value: object) -> dict[str, Decimal]:
        return override_maximum_setting(value)

    @field_validator("line_file_size_limit", "line_length_limit", mode="before")
    @classmethod
    def _valid_limit(cls, value: object, info: ValidationInfo) -> int:
        return limit_setting(value, str(info.field_name))

    @field_validator("first_billing_period", mode="before")
    @classmethod
    def _valid_first_period(cls, value: object) -> BillingPeriod | None:
        if value is None or isinstance(value, BillingPeriod):
            return value
        if isinstance(value, str):
            with suppress(ValueError):
                return BillingPeriod.parse(value)
        raise ValueError(
            'must be a month written YYYY-MM, e.g. "2026-01": the first month of the monthly partitions '
            "(customer_invoices, period_reconciliation)"
        )

    @model_validator(mode="after")
    def _unique_provider_ids(self) -> PipelineConfig:
        seen: set[str] = set()
        for provider in self.providers:
            if provider.id in seen:
                raise ValueError(f"provider id {provider.id!r} appears twice; ids must be unique")
            seen.add(provider.id)
        return self

    @model_validator(mode="after")
    def _limits_of_each_provider(self) -> PipelineConfig:
        """Every provider holds the limits its line files are held to: its own, else the configuration's."""
        for i, provider in enumerate(self.providers):
            self.providers[i] = provider.model_copy(
                update={
                    "line_file_size_limit": provider.line_file_size_limit or self.line_file_size_limit,
                    "line_length_limit": provider.line_length_limit or self.line_length_limit,
                }
            )
        return self

    def provider(self, provider_id: str) -> ProviderConfig:
        """The provider with this id, or a ConfigError naming the known ones."""
        for provider in self.providers:
            if provider.id == provider_id:
                return provider
        known = ", ".join(p.id for p in self.providers) or "none"
        raise ConfigError(f"unknown provider {provider_id!r}; configured providers: {known}")

    def checksum_override_maximum_in(self, currency: str) -> Decimal:
        """The checksum difference an override accepts in `currency` must be below this: the currency's own
        maximum, else the configured default, else 0.50."""
        maximums = self.checksum_override_maximum
        return maximums.get(currency, maximums.get(DEFAULT_CURRENCY, DEFAULT_OVERRIDE_MAXIMUM))

    @property
    def stuck_after(self) -> timedelta:
        """The last-resort bound: an import still Populating after this long is taken over, claim or not."""
        return timedelta(minutes=self.stuck_populating_after_minutes)

    @property
    def claim_lapse(self) -> timedelta:
        """How long an import's claim on its invoice holds without being renewed."""
        return timedelta(seconds=self.import_claim_lapse_seconds)

    @property
    def automatic_providers(self) -> list[ProviderConfig]:
        """Providers the daily sync asks for invoices."""
        return [p for p in self.providers if p.sync == "automatic"]


def _settings_of_other_connectors(connector: Connector[ConnectorSettings], keys: dict[str, object]) -> dict[str, str]:
    """The keys that are not this connector's settings but another registered connector's, each with its name."""
    strays = {}
    for key in keys:
        if key in connector.settings.model_fields:
            continue
        owner = next((name for name, other in CONNECTORS.items() if key in other.settings.model_fields), None)
        if owner is not None:
            strays[key] = owner
    return strays


def default_data_dir() -> Path:
    """Where the embedded default keeps its warehouse and Dagster files: `$INVOICE_PIPELINE_DATA_DIR` or ./data."""
    return Path(os.environ.get(DATA_DIR_ENV_VAR, "data")).resolve()


def _resolve(base: Path, value: object) -> object:
    if isinstance(value, str) and value:
        path = Path(value).expanduser()
        return str(path if path.is_absolute() else (base / path).resolve())
    return value


def _resolve_warehouse_url(base: Path, url: str) -> str:
    prefix = "duckdb:///"
    if url.startswith(prefix) and not url.startswith(prefix + "/") and url != prefix + ":memory:":
        return prefix + str((base / url[len(prefix) :]).resolve())
    return url


def configured_path() -> Path:
    """The configuration file `load_config()` reads when given none: `$INVOICE_PIPELINE_CONFIG`, or the bundled demo."""
    return Path(os.environ.get(CONFIG_ENV_VAR) or DEMO_CONFIG_PATH)


def load_config(path: Path | str | None = None) -> PipelineConfig:
    """Load the configuration from `path`, `$INVOICE_PIPELINE_CONFIG`, or the bundled demo.

    `$INVOICE_PIPELINE_WAREHOUSE_URL`, when set, replaces the file's `warehouse_url`. Relative paths resolve
    against the config file's folder; the demo keeps its warehouse in the local data folder. Any problem
    raises ConfigError with one line that names the key.
    """
    source = Path(path if path is not None else configured_path()).expanduser().resolve()
    if not source.is_file():
        raise ConfigError(f"config file {source} does not exist; set {CONFIG_ENV_VAR} to a readable YAML file")
    try:
        raw = yaml.safe_load(source.read_text(encoding="utf-8"))
    except yaml.YAMLError as error:
        raise ConfigError(f"{source}: not valid YAML: {yaml_problem(error)}") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{source}: must be a mapping with warehouse_url, reference_data and providers")
    base = source.parent
    data_dir = Path(str(_resolve(base, raw["data_dir"]))) if raw.get("data_dir") else default_data_dir()
    raw = {**raw, "data_dir": str(data_dir)}
    raw.setdefault("warehouse_url", f"duckdb:///{data_dir / 'warehouse.duckdb'}")
    # A deployment sets the warehouse from its environment (secrets stay out of the file).
    raw["warehouse_url"] = os.environ.get(WAREHOUSE_URL_ENV_VAR) or raw["warehouse_url"]
    if isinstance(raw["warehouse_url"], str):
        raw["warehouse_url"] = _resolve_warehouse_url(base, raw["warehouse_url"])
    notifications = raw.get("notifications")
    if isinstance(notifications, dict):
        for key in ("text_template", "html_template"):
            if notifications.get(key):
                notifications[key] = _resolve(base, notifications[key])
    try:
        config = PipelineConfig.model_validate(raw, context={CONFIG_FOLDER: base})
    except ValidationError as error:
        raise ConfigError(validation_problem(error, source)) from None
    for key, template in (
        ("notifications.text_template", config.notifications.text_template),
        ("notifications.html_template", config.notifications.html_template),
    ):
        if template is not None and not template.is_file():
            raise ConfigError(f"{source}: '{key}': file {template} does not exist")
    return config
