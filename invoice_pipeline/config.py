"""The pipeline's configuration: one YAML file, validated, with paths resolved against its folder."""

from __future__ import annotations

import os
import re
from contextlib import suppress
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator, model_validator
from pydantic_core import PydanticCustomError

from invoice_pipeline.domain.invoice_keys import PROVIDER_ID_PATTERN
from invoice_pipeline.reconciliation.contracts import BillingPeriod

CONFIG_ENV_VAR = "INVOICE_PIPELINE_CONFIG"
DATA_DIR_ENV_VAR = "INVOICE_PIPELINE_DATA_DIR"
WAREHOUSE_URL_ENV_VAR = "INVOICE_PIPELINE_WAREHOUSE_URL"
DEMO_CONFIG_PATH = Path(__file__).parent / "demo" / "config.yaml"
EMAIL_PATTERN = re.compile(r"[^@\s<>,;\"]+@[^@\s<>,;\"]+")
ENV_VAR_NAME_PATTERN = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")
SECRET_KEYS = ("client_secret", "clientsecret", "secret", "password")
MISSING_SETTING = "missing_provider_setting"
CURRENCY_PATTERN = re.compile(r"[A-Z]{3}")
DEFAULT_CURRENCY = "default"  # checksum_override_maximum's key for the currencies it does not name
DEFAULT_OVERRIDE_MAXIMUM = Decimal("0.50")
# Limits on what one provider line file may hold, checked while it is hashed, before anything parses it.
DEFAULT_LINE_FILE_SIZE_LIMIT = 50 * 1000**3  # 50 GB
DEFAULT_LINE_LENGTH_LIMIT = 1000**2  # 1 MB
MIN_LINE_LENGTH_LIMIT = 1000
# DuckDB reads a CSV in buffers 16 times its longest line (and drops a last line longer than them): kept small.
MAX_LINE_LENGTH_LIMIT = 16 * 1000**2
_BYTE_UNITS = {"": 1, "B": 1, "KB": 1000, "MB": 1000**2, "GB": 1000**3, "TB": 1000**4}
_BYTE_UNITS |= {"KIB": 1024, "MIB": 1024**2, "GIB": 1024**3, "TIB": 1024**4}
_BYTE_SIZE_PATTERN = re.compile(r"\s*([0-9]+(?:\.[0-9]+)?)\s*([A-Za-z]*)\s*")


class ConfigError(ValueError):
    """A configuration problem, told in one line that names the key."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _decimal_setting(value: object, key: str) -> Decimal:
    if isinstance(value, float):
        raise ValueError(f'{key} must be a quoted decimal string such as "0.50", not a float')
    try:
        amount = Decimal(str(value))
    except InvalidOperation as error:
        raise ValueError(f'{key} must be a decimal number such as "0.50"') from error
    if not amount.is_finite() or amount < 0:
        raise ValueError(f"{key} must be a finite, non-negative decimal")
    return amount


def _override_maximum_setting(value: object) -> dict[str, Decimal]:
    """checksum_override_maximum as a maximum per currency: one decimal applies to every currency (the form
    before per-currency maximums), a mapping names currencies and `default` for the others."""
    key = "checksum_override_maximum"
    if not isinstance(value, dict):
        if isinstance(value, list | tuple | set | bool) or value is None:
            raise ValueError(
                f'{key} must be a quoted decimal such as "0.50", or a mapping of currency codes to quoted decimals '
                'such as {default: "0.50", JPY: "50"}'
            )
        return {DEFAULT_CURRENCY: _decimal_setting(value, key)}
    maximums = {}
    for currency, amount in value.items():
        if currency != DEFAULT_CURRENCY and not (isinstance(currency, str) and CURRENCY_PATTERN.fullmatch(currency)):
            raise ValueError(
                f"{str(currency)[:20]!r} is not a currency code; write three upper-case letters (ISO 4217, e.g. JPY), "
                f"or {DEFAULT_CURRENCY} for the other currencies"
            )
        maximums[currency] = _decimal_setting(amount, f"{key}.{currency}")
    return maximums


def byte_size(value: object, key: str) -> int:
    """A size in bytes from a configuration value: a whole number of bytes, or a number with a unit (B, KB, MB, GB,
    TB by powers of 1000; KiB, MiB, GiB, TiB by powers of 1024), e.g. 50GB or 1MB."""
    hint = f"{key} must be a size such as 1MB, 50GB or 1048576 (bytes)"
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise ValueError(hint)
    if isinstance(value, int):
        size = value
    else:
        match = _BYTE_SIZE_PATTERN.fullmatch(value)
        if not match or match.group(2).upper() not in _BYTE_UNITS:
            raise ValueError(hint)
        size = int(Decimal(match.group(1)) * _BYTE_UNITS[match.group(2).upper()])
    if size < 1:
        raise ValueError(f"{key} must be at least 1 byte")
    return size


def byte_size_text(size: int) -> str:
    """A size as a person reads it: 1 MB, 50 GB, 1.5 MB; else bytes."""
    for unit in ("TB", "TIB", "GB", "GIB", "MB", "MIB", "KB", "KIB"):
        amount = Decimal(size) / _BYTE_UNITS[unit]
        if amount >= 1 and amount == amount.quantize(Decimal("0.1")):
            return f"{amount.normalize():f} {unit.replace('I', 'i')}"
    return f"{size} bytes"


@dataclass(frozen=True)
class LineFileLimits:
    """What one provider line file may hold (a file beyond either is refused whole, never truncated): its size in
    bytes (decompressed for .csv.gz) and its longest line in bytes (CSV)."""

    file_size: int = DEFAULT_LINE_FILE_SIZE_LIMIT
    line_length: int = DEFAULT_LINE_LENGTH_LIMIT


class PartnerCenterSettings(_Strict):
    """How to reach Microsoft Partner Center for one provider; the client secret stays in the environment."""

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

    @model_validator(mode="before")
    @classmethod
    def _no_secret_in_the_file(cls, data: object) -> object:
        if isinstance(data, dict) and any(str(key).lower() in SECRET_KEYS for key in data):
            raise ValueError(
                "never write the client secret in this file: put it in an environment variable and give that "
                "variable's name in client_secret_env"
            )
        return data

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


class ProviderConfig(_Strict):
    """One provider the partner buys from, and how its invoices reach the pipeline."""

    id: str
    name: str
    sync: Literal["automatic", "manual"]
    connector: Literal["folder", "partner_center"] = "folder"
    path: Path | None = None
    partner_center: PartnerCenterSettings | None = None
    checksum_tolerance: Decimal = Decimal("0.00")
    # This provider's own limits on its line files; unset, the configuration's (PipelineConfig) apply.
    line_file_size_limit: int | None = None
    line_length_limit: int | None = None

    @field_validator("id")
    @classmethod
    def _valid_id(cls, value: str) -> str:
        if not PROVIDER_ID_PATTERN.fullmatch(value):
            raise ValueError("must be lowercase letters, digits and '-' (at most 64), e.g. contoso-csp")
        return value

    @field_validator("checksum_tolerance", mode="before")
    @classmethod
    def _valid_tolerance(cls, value: object) -> Decimal:
        return _decimal_setting(value, "checksum_tolerance")

    @field_validator("line_file_size_limit", "line_length_limit", mode="before")
    @classmethod
    def _valid_limit(cls, value: object, info: ValidationInfo) -> int | None:
        return None if value is None else _limit_setting(value, str(info.field_name))

    @model_validator(mode="after")
    def _settings_of_its_connector(self) -> ProviderConfig:
        if self.connector == "folder":
            if self.path is None:
                raise PydanticCustomError(MISSING_SETTING, "path", {"hint": ""})
            if self.partner_center is not None:
                raise ValueError("partner_center settings only apply to connector: partner_center; remove them")
        else:
            if self.partner_center is None:
                raise PydanticCustomError(
                    MISSING_SETTING, "partner_center", {"hint": " (tenant_id, client_id, client_secret_env)"}
                )
            if self.path is not None:
                raise ValueError("a partner_center provider has no path (its invoices come from the API); remove it")
            if self.sync != "automatic":
                raise ValueError("a partner_center provider must be sync: automatic (manual providers use folders)")
        return self

    @property
    def folder(self) -> Path:
        """The folder a folder provider's invoices are read from (every manual provider has one)."""
        if self.path is None:
            raise ValueError(f"provider {self.id} has no folder: its invoices come from the Partner Center API")
        return self.path

    @property
    def line_file_limits(self) -> LineFileLimits:
        """The limits this provider's line files are held to."""
        return LineFileLimits(
            self.line_file_size_limit or DEFAULT_LINE_FILE_SIZE_LIMIT,
            self.line_length_limit or DEFAULT_LINE_LENGTH_LIMIT,
        )


class DailySyncConfig(_Strict):
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


class NotificationsConfig(_Strict):
    """Who gets the daily summary and change emails, when, and with which templates."""

    recipients: list[str] = Field(default_factory=list)
    sender: str = "invoice-pipeline@localhost"
    subject: str = (
        "Provider invoices {{ day }}: {{ succeeded | length }} imported, {{ failed | length }} failed"
        "{% if changed %}, {{ changed | length }} changed at the provider{% endif %}"
    )
    summary_time: str = Field(default="07:00", pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]$")
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


class PipelineConfig(_Strict):
    """The whole configuration: warehouse, reference data, providers and operating settings."""

    warehouse_url: str
    reference_data: Path
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
        return _override_maximum_setting(value)

    @field_validator("line_file_size_limit", "line_length_limit", mode="before")
    @classmethod
    def _valid_limit(cls, value: object, info: ValidationInfo) -> int:
        return _limit_setting(value, str(info.field_name))

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


def _limit_setting(value: object, key: str) -> int:
    size = byte_size(value, key)
    if key == "line_length_limit" and not MIN_LINE_LENGTH_LIMIT <= size <= MAX_LINE_LENGTH_LIMIT:
        raise ValueError(
            f"{key} must be between {byte_size_text(MIN_LINE_LENGTH_LIMIT)} and {byte_size_text(MAX_LINE_LENGTH_LIMIT)}"
        )
    return size


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


def _yaml_problem(error: yaml.YAMLError) -> str:
    parts = []
    for text, mark in (
        (getattr(error, "context", None), getattr(error, "context_mark", None)),
        (getattr(error, "problem", None), getattr(error, "problem_mark", None)),
    ):
        if text:
            parts.append(f"{text} (line {mark.line + 1}, column {mark.column + 1})" if mark else text)
    return ": ".join(parts) or str(error).splitlines()[0]


def _format_error(error: ValidationError, source: Path) -> str:
    first = error.errors()[0]
    key = ".".join(str(part) for part in first["loc"]) or "(top level)"
    if first["type"] == "extra_forbidden":
        return f"{source}: unknown key '{key}'; remove it or check its spelling"
    if first["type"] == "missing":
        return f"{source}: missing key '{key}'"
    if first["type"] == MISSING_SETTING:
        return f"{source}: missing key '{key}.{first['msg']}'{first['ctx']['hint']}"
    message = first["msg"].removeprefix("Value error, ")
    return f"{source}: '{key}': {message}"


def load_config(path: Path | str | None = None) -> PipelineConfig:
    """Load the configuration from `path`, `$INVOICE_PIPELINE_CONFIG`, or the bundled demo.

    `$INVOICE_PIPELINE_WAREHOUSE_URL`, when set, replaces the file's `warehouse_url`. Relative paths resolve
    against the config file's folder; the demo keeps its warehouse in the local data folder. Any problem
    raises ConfigError with one line that names the key.
    """
    if path is None:
        path = os.environ.get(CONFIG_ENV_VAR) or DEMO_CONFIG_PATH
    source = Path(path).expanduser().resolve()
    if not source.is_file():
        raise ConfigError(f"config file {source} does not exist; set {CONFIG_ENV_VAR} to a readable YAML file")
    try:
        raw = yaml.safe_load(source.read_text(encoding="utf-8"))
    except yaml.YAMLError as error:
        raise ConfigError(f"{source}: not valid YAML: {_yaml_problem(error)}") from None
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
    if "reference_data" in raw:
        raw["reference_data"] = _resolve(base, raw["reference_data"])
    providers = raw.get("providers")
    if isinstance(providers, list):
        raw["providers"] = [
            {**p, "path": _resolve(base, p["path"])} if isinstance(p, dict) and "path" in p else p for p in providers
        ]
    notifications = raw.get("notifications")
    if isinstance(notifications, dict):
        for key in ("text_template", "html_template"):
            if notifications.get(key):
                notifications[key] = _resolve(base, notifications[key])
    try:
        config = PipelineConfig.model_validate(raw)
    except ValidationError as error:
        raise ConfigError(_format_error(error, source)) from None
    for key, template in (
        ("notifications.text_template", config.notifications.text_template),
        ("notifications.html_template", config.notifications.html_template),
    ):
        if template is not None and not template.is_file():
            raise ConfigError(f"{source}: '{key}': file {template} does not exist")
    for key, folder in [("reference_data", config.reference_data)] + [
        (f"providers.{i}.path", p.path) for i, p in enumerate(config.providers) if p.path is not None
    ]:
        if not folder.is_dir():
            raise ConfigError(f"{source}: '{key}': folder {folder} does not exist")
    return config
