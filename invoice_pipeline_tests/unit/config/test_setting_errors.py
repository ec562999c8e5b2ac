"""Each operating setting refused in one line that names its key (daily sync, notifications, claims and locks,
line file limits at both levels, unknown keys inside each section), and the bounds each setting accepts."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from invoice_pipeline.config import CONFIG_ENV_VAR, ConfigError, PipelineConfig, load_config
from invoice_pipeline.connectors.line_file_limits import LineFileLimits
from invoice_pipeline_tests.unit.config.config_files import config_folder, valid_config, write_config

Change = Callable[[dict[str, Any]], None]


@pytest.fixture
def folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.delenv(CONFIG_ENV_VAR, raising=False)
    monkeypatch.delenv("INVOICE_PIPELINE_WAREHOUSE_URL", raising=False)
    return config_folder(tmp_path / "etc")


def _load(folder: Path, change: Change) -> PipelineConfig:
    data = valid_config()
    change(data)
    return load_config(write_config(folder, data))


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        pytest.param(
            lambda d: d.update(daily_sync={"cron": "0 6 * *"}),
            "'daily_sync.cron': '0 6 * *' is not a cron expression of five fields, e.g. \"0 6 * * *\"",
            id="cron-of-four-fields",
        ),
        pytest.param(
            lambda d: d.update(daily_sync={"timezone": "Europe/Atlantis"}),
            "'daily_sync.timezone': unknown time zone 'Europe/Atlantis'; use an IANA name such as Europe/Paris",
            id="unknown-time-zone",
        ),
        pytest.param(
            lambda d: d.update(daily_sync={"hour": 6}),
            "unknown key 'daily_sync.hour'; remove it or check its spelling",
            id="unknown-key-in-daily-sync",
        ),
        pytest.param(
            lambda d: d.update(notifications={"recipient": "billing@example.com"}),
            "unknown key 'notifications.recipient'; remove it or check its spelling",
            id="unknown-key-in-notifications",
        ),
        pytest.param(
            lambda d: d.update(notifications={"recipients": ["billing team"]}),
            "'notifications.recipients': 'billing team' is not an email address",
            id="recipient-not-an-address",
        ),
        pytest.param(
            lambda d: d.update(notifications={"recipients": ["a@example.com, b@example.com"]}),
            "'notifications.recipients': 'a@example.com, b@example.com' is not an email address",
            id="two-recipients-in-one-item",
        ),
        pytest.param(
            lambda d: d.update(notifications={"summary_time": "24:00"}),
            "'notifications.summary_time': summary_time must be a time of day as HH:MM, 00:00 to 23:59 (e.g. 07:00)",
            id="summary-time-past-midnight",
        ),
        pytest.param(
            lambda d: d.update(notifications={"summary_time": "7:00"}),
            "'notifications.summary_time': summary_time must be a time of day as HH:MM, 00:00 to 23:59 (e.g. 07:00)",
            id="summary-time-without-its-leading-zero",
        ),
        pytest.param(
            lambda d: d.update(notifications={"send_when_nothing_new": "maybe"}),
            "'notifications.send_when_nothing_new': Input should be a valid boolean, unable to interpret input",
            id="send-when-nothing-new-not-a-boolean",
        ),
        pytest.param(
            lambda d: d.update(import_claim_lapse_seconds=2),
            "'import_claim_lapse_seconds': Input should be greater than or equal to 3",
            id="claim-lapse-under-3-seconds",
        ),
        pytest.param(
            lambda d: d.update(stuck_populating_after_minutes=-1),
            "'stuck_populating_after_minutes': Input should be greater than or equal to 0",
            id="negative-stuck-bound",
        ),
        pytest.param(
            lambda d: d.update(duckdb_threads=0),
            "'duckdb_threads': Input should be greater than or equal to 1",
            id="no-duckdb-thread",
        ),
        pytest.param(
            lambda d: d.update(warehouse_lock_timeout_seconds=-1),
            "'warehouse_lock_timeout_seconds': Input should be greater than or equal to 0",
            id="negative-lock-timeout",
        ),
        pytest.param(
            lambda d: d.update(out_of_period_error_after_days=36501),
            "'out_of_period_error_after_days': Input should be less than or equal to 36500",
            id="out-of-period-beyond-a-century",
        ),
        pytest.param(
            lambda d: d.update(bill_usage_without_terms_at_cost="sometimes"),
            "'bill_usage_without_terms_at_cost': Input should be a valid boolean, unable to interpret input",
            id="bill-at-cost-not-a-boolean",
        ),
        pytest.param(
            lambda d: d.update(line_length_limit=999),
            "'line_length_limit': line_length_limit must be between 1 KB and 16 MB",
            id="line-length-under-1-kb",
        ),
        pytest.param(
            lambda d: d.update(line_length_limit="16000001"),
            "'line_length_limit': line_length_limit must be between 1 KB and 16 MB",
            id="line-length-over-16-mb",
        ),
        pytest.param(
            lambda d: d["providers"][0].update(line_length_limit="1GB"),
            "'providers.0.line_length_limit': line_length_limit must be between 1 KB and 16 MB",
            id="providers-line-length",
        ),
        pytest.param(
            lambda d: d["providers"][0].update(line_file_size_limit="lots"),
            "'providers.0.line_file_size_limit': line_file_size_limit must be a size such as 1MB, 50GB or 1048576 "
            "(bytes)",
            id="providers-file-size",
        ),
        pytest.param(
            lambda d: d.update(providers=["contoso-csp"]),
            "'providers.0': Input should be a valid dictionary or instance of ProviderConfig",
            id="provider-not-a-mapping",
        ),
    ],
)
def test_a_bad_setting_is_refused_in_one_line_naming_its_key(folder, change, problem):
    with pytest.raises(ConfigError) as refused:
        _load(folder, change)

    assert str(refused.value) == f"{(folder / 'config.yaml').resolve()}: {problem}"


def test_a_template_that_does_not_exist_is_named_resolved_against_the_config_folder(folder):
    with pytest.raises(ConfigError) as refused:
        _load(folder, lambda d: d.update(notifications={"text_template": "mail.txt.j2"}))

    config = (folder / "config.yaml").resolve()
    assert (
        str(refused.value) == f"{config}: 'notifications.text_template': file {folder / 'mail.txt.j2'} does not exist"
    )


def test_the_daily_sync_runs_at_the_configured_cron_in_the_configured_zone(folder):
    config = _load(folder, lambda d: d.update(daily_sync={"cron": "30 5 * * 1-5", "timezone": "Europe/Paris"}))

    assert (config.daily_sync.cron, config.daily_sync.timezone) == ("30 5 * * 1-5", "Europe/Paris")


@pytest.mark.parametrize(
    ("change", "read", "value"),
    [
        pytest.param(
            lambda d: d.update(import_claim_lapse_seconds=3), lambda c: c.claim_lapse.seconds, 3, id="lapse-3"
        ),
        pytest.param(
            lambda d: d.update(out_of_period_error_after_days=36500),
            lambda c: c.out_of_period_error_after_days,
            36500,
            id="out-of-period-36500",
        ),
        pytest.param(
            lambda d: d.update(line_length_limit=1000), lambda c: c.line_length_limit, 1000, id="line-length-1-kb"
        ),
        pytest.param(
            lambda d: d.update(line_length_limit="16MB"),
            lambda c: c.line_length_limit,
            16_000_000,
            id="line-length-16-mb",
        ),
        pytest.param(
            lambda d: d.update(notifications={"summary_time": "23:59"}),
            lambda c: c.notifications.summary_time,
            "23:59",
            id="summary-time-23-59",
        ),
    ],
)
def test_a_setting_at_its_bound_is_accepted(folder, change, read, value):
    assert read(_load(folder, change)) == value


def test_a_providers_own_limits_replace_the_configurations_and_the_others_inherit_them(folder):
    def limits(d: dict[str, Any]) -> None:
        d.update(line_file_size_limit="10GB", line_length_limit="2MB")
        d["providers"][1].update(line_length_limit="1KiB")

    config = _load(folder, limits)

    assert config.provider("contoso-csp").line_file_limits == LineFileLimits(10 * 1000**3, 2 * 1000**2)
    assert config.provider("fabrikam-distribution").line_file_limits == LineFileLimits(10 * 1000**3, 1024)


def test_without_limits_a_provider_is_held_to_50_gb_files_and_1_mb_lines(folder):
    config = _load(folder, lambda d: None)

    assert config.provider("contoso-csp").line_file_limits == LineFileLimits(50 * 1000**3, 1000**2)


def test_a_tolerance_given_with_more_places_than_cents_is_kept_exactly(folder):
    config = _load(folder, lambda d: d["providers"][0].update(checksum_tolerance="0.005"))

    assert config.provider("contoso-csp").checksum_tolerance == Decimal("0.005")
