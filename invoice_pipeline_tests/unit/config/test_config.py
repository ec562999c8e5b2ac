"""Loading the pipeline's YAML configuration: paths resolved against its folder, one-line errors naming the key."""

from __future__ import annotations

import copy
from decimal import Decimal
from pathlib import Path

import pytest
import yaml

from invoice_pipeline.config import CONFIG_ENV_VAR, DATA_DIR_ENV_VAR, DEMO_CONFIG_PATH, ConfigError, load_config
from invoice_pipeline.domain.billing_period import BillingPeriod
from invoice_pipeline_tests.unit.config.config_files import config_folder, valid_config, write_config


def _valid() -> dict:
    config = valid_config()
    config["providers"][0]["checksum_tolerance"] = "0.50"
    del config["providers"][1]["connector"], config["providers"][1]["checksum_tolerance"]  # defaults
    return config


@pytest.fixture
def config_dir(tmp_path, monkeypatch) -> Path:
    """A config folder with the folders the valid config names; the working directory is elsewhere."""
    folder = config_folder(tmp_path / "etc" / "invoices")
    elsewhere = tmp_path / "cwd"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    monkeypatch.delenv(CONFIG_ENV_VAR, raising=False)
    monkeypatch.setenv(DATA_DIR_ENV_VAR, str(tmp_path / "env-data"))
    return folder


def _error(folder: Path, data: dict | str) -> str:
    path = write_config(folder, data)
    with pytest.raises(ConfigError) as raised:
        load_config(path)
    message = str(raised.value)
    assert "\n" not in message, message
    assert message.startswith(str(path.resolve())), message
    return message


def test_valid_config_loads_with_its_providers(config_dir):
    config = load_config(write_config(config_dir, _valid()))
    assert [p.id for p in config.providers] == ["contoso-csp", "fabrikam-distribution"]
    assert [p.id for p in config.automatic_providers] == ["contoso-csp"]
    contoso = config.provider("contoso-csp")
    assert contoso.checksum_tolerance == Decimal("0.50") and isinstance(contoso.checksum_tolerance, Decimal)
    assert config.provider("fabrikam-distribution").checksum_tolerance == Decimal("0.00")
    assert contoso.connector == "folder"


def test_a_failed_summary_is_retried_hourly_unless_notifications_retry_failed_summary_minutes_says_otherwise(
    config_dir,
):
    assert load_config(write_config(config_dir, _valid())).notifications.retry_failed_summary_minutes == 60
    quarter = _with(lambda d: d.update(notifications={"retry_failed_summary_minutes": 15}))
    assert load_config(write_config(config_dir, quarter)).notifications.retry_failed_summary_minutes == 15


def test_relative_paths_resolve_against_the_config_folder_not_the_working_directory(config_dir):
    config = load_config(write_config(config_dir, _valid()))
    assert config.reference_data == config_dir / "reference"
    assert config.provider("contoso-csp").folder == config_dir / "providers" / "contoso-csp"
    assert config.data_dir == config_dir / "data"
    assert config.warehouse_url == f"duckdb:///{config_dir / 'data' / 'warehouse.duckdb'}"


def test_config_given_as_a_relative_path_is_found_from_the_working_directory(config_dir, monkeypatch):
    write_config(config_dir, _valid())
    monkeypatch.chdir(config_dir.parent)
    config = load_config(Path("invoices") / "config.yaml")
    assert config.reference_data == config_dir / "reference"


def test_absolute_paths_and_non_file_urls_are_kept(config_dir, tmp_path):
    absolute_reference = tmp_path / "shared-reference"
    absolute_reference.mkdir()
    data = _valid() | {"reference_data": str(absolute_reference), "warehouse_url": "postgresql://wh.internal/invoices"}
    config = load_config(write_config(config_dir, data))
    assert config.reference_data == absolute_reference
    assert config.warehouse_url == "postgresql://wh.internal/invoices"
    memory = load_config(write_config(config_dir, _valid() | {"warehouse_url": "duckdb:///:memory:"}))
    assert memory.warehouse_url == "duckdb:///:memory:"


def test_the_warehouse_url_from_the_environment_replaces_the_files(config_dir, monkeypatch):
    monkeypatch.setenv("INVOICE_PIPELINE_WAREHOUSE_URL", "postgresql+psycopg://billing@db.internal/invoices")
    config = load_config(write_config(config_dir, _valid()))
    assert config.warehouse_url == "postgresql+psycopg://billing@db.internal/invoices"


def test_without_data_dir_and_warehouse_url_the_environment_data_dir_is_used(config_dir, tmp_path):
    data = _valid()
    del data["data_dir"], data["warehouse_url"]
    config = load_config(write_config(config_dir, data))
    assert config.data_dir == tmp_path / "env-data"
    assert config.warehouse_url == f"duckdb:///{tmp_path / 'env-data' / 'warehouse.duckdb'}"


def test_a_charge_starting_more_than_31_days_after_the_period_is_an_error_unless_configured_otherwise(config_dir):
    assert load_config(write_config(config_dir, _valid())).out_of_period_error_after_days == 31
    none = _with(lambda d: d.update(out_of_period_error_after_days=0))
    assert load_config(write_config(config_dir, none)).out_of_period_error_after_days == 0


def test_unknown_provider_lookup_names_the_configured_ones(config_dir):
    config = load_config(write_config(config_dir, _valid()))
    with pytest.raises(
        ConfigError, match=r"unknown provider 'tailspin'; configured providers: contoso-csp, fabrikam-distribution"
    ):
        config.provider("tailspin")


def _with(change) -> dict:
    data = copy.deepcopy(_valid())
    change(data)
    return data


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        pytest.param(
            lambda d: d.update(warehouse_dir="x"),
            "unknown key 'warehouse_dir'; remove it or check its spelling",
            id="unknown_top_level_key",
        ),
        pytest.param(
            lambda d: d["providers"][0].update(colour="blue"),
            "unknown key 'providers.0.colour'",
            id="unknown_provider_key",
        ),
        pytest.param(
            lambda d: d["providers"][1].pop("name"), "missing key 'providers.1.name'", id="missing_provider_name"
        ),
        pytest.param(
            lambda d: d["providers"][0].pop("sync"), "missing key 'providers.0.sync'", id="missing_provider_sync"
        ),
        pytest.param(lambda d: d.pop("reference_data"), "missing key 'reference_data'", id="missing_reference_data"),
        pytest.param(
            lambda d: d["providers"][0].pop("path"), "missing key 'providers.0.path'", id="missing_provider_path"
        ),
        pytest.param(
            lambda d: d["providers"][0].update(sync="daily"),
            "'providers.0.sync': Input should be 'automatic' or 'manual'",
            id="bad_sync",
        ),
        pytest.param(
            lambda d: d["providers"][0].update(id="Contoso_CSP"),
            "'providers.0.id': must be lowercase letters, digits and '-'",
            id="bad_provider_id",
        ),
        pytest.param(
            lambda d: d["providers"][0].update(id="-contoso"), "'providers.0.id':", id="provider_id_starting_with_dash"
        ),
        pytest.param(
            lambda d: d["providers"][0].update(id="c" * 65), "'providers.0.id':", id="provider_id_of_65_chars"
        ),
        pytest.param(
            lambda d: d["providers"][0].update(id="contoso-csp\n"),
            "'providers.0.id':",
            id="provider_id_with_trailing_newline",
        ),
        pytest.param(
            lambda d: d["providers"][1].update(id="contoso-csp"),
            "provider id 'contoso-csp' appears twice; ids must be unique",
            id="duplicate_provider_id",
        ),
        pytest.param(
            lambda d: d["providers"][1].update(path="providers/northwind"),
            "'providers.1.path': folder",
            id="missing_provider_folder",
        ),
        pytest.param(
            lambda d: d.update(reference_data="ref-data"), "'reference_data': folder", id="missing_reference_folder"
        ),
        pytest.param(
            lambda d: d["providers"][0].update(checksum_tolerance=0.5),
            "'providers.0.checksum_tolerance': "
            'checksum_tolerance must be a quoted decimal string such as "0.50", not a float',
            id="float_tolerance",
        ),
        pytest.param(
            lambda d: d["providers"][0].update(checksum_tolerance="fifty cents"),
            "'providers.0.checksum_tolerance': checksum_tolerance must be a decimal number",
            id="text_tolerance",
        ),
        pytest.param(
            lambda d: d["providers"][0].update(checksum_tolerance="-0.01"),
            "'providers.0.checksum_tolerance': checksum_tolerance must be a finite, non-negative decimal",
            id="negative_tolerance",
        ),
        pytest.param(
            lambda d: d["providers"][0].update(checksum_tolerance="NaN"),
            "'providers.0.checksum_tolerance': checksum_tolerance must be a finite, non-negative decimal",
            id="nan_tolerance",
        ),
        pytest.param(
            lambda d: d["providers"][0].update(checksum_tolerance="1e400"),
            "'providers.0.checksum_tolerance': checksum_tolerance must be below 1000000000000000000 with at most 10 "
            "decimal places (it is stored as money)",
            id="tolerance_beyond_money",
        ),
        pytest.param(
            lambda d: d["providers"][0].update(checksum_tolerance="0.00000000001"),
            "'providers.0.checksum_tolerance': checksum_tolerance must be below 1000000000000000000 with at most 10 "
            "decimal places (it is stored as money)",
            id="tolerance_finer_than_money",
        ),
        pytest.param(
            lambda d: d.update(notifications={"retry_failed_summary_minutes": 1}),
            "'notifications.retry_failed_summary_minutes': Input should be greater than or equal to 5",
            id="summary_retry_below_the_sensor_interval",
        ),
        pytest.param(
            lambda d: d.update(notifications={"retry_failed_summary_minutes": "hourly"}),
            "'notifications.retry_failed_summary_minutes': Input should be a valid integer",
            id="summary_retry_not_a_number",
        ),
        pytest.param(
            lambda d: d.update(out_of_period_error_after_days=-1),
            "'out_of_period_error_after_days': Input should be greater than or equal to 0",
            id="negative_out_of_period_days",
        ),
        pytest.param(
            lambda d: d.update(out_of_period_error_after_days=1.5),
            "'out_of_period_error_after_days': Input should be a valid integer",
            id="fractional_out_of_period_days",
        ),
        pytest.param(
            lambda d: d.update(providers={"contoso-csp": {}}),
            "'providers': Input should be a valid list",
            id="providers_not_a_list",
        ),
    ],
)
def test_bad_config_raises_one_line_naming_the_key(config_dir, change, expected):
    message = _error(config_dir, _with(change))
    assert expected in message


def test_missing_folder_message_names_the_resolved_folder(config_dir):
    message = _error(config_dir, _with(lambda d: d["providers"][1].update(path="providers/northwind")))
    assert f"folder {config_dir / 'providers' / 'northwind'} does not exist" in message


def test_provider_path_that_is_a_file_is_refused(config_dir):
    (config_dir / "providers" / "listing.txt").write_text("not a folder")
    message = _error(config_dir, _with(lambda d: d["providers"][0].update(path="providers/listing.txt")))
    assert "'providers.0.path': folder" in message


def test_the_largest_and_finest_tolerance_money_can_store_are_accepted(config_dir):
    largest, finest = "999999999999999999.9999999999", "0.0000000001"
    for tolerance in (largest, finest, "0.50000000000000"):
        edited = _with(lambda d, t=tolerance: d["providers"][0].update(checksum_tolerance=t))
        assert load_config(write_config(config_dir, edited)).provider("contoso-csp").checksum_tolerance == Decimal(
            tolerance
        )


def test_integer_tolerance_is_accepted_as_an_exact_decimal(config_dir):
    config = load_config(write_config(config_dir, _with(lambda d: d["providers"][0].update(checksum_tolerance=1))))
    assert config.provider("contoso-csp").checksum_tolerance == Decimal(1)


def test_invalid_yaml_raises_one_line_that_says_where(config_dir):
    text = "reference_data: reference\nproviders:\n  - id: contoso-csp\n    name: [Contoso\n"
    message = _error(config_dir, text)
    assert "not valid YAML" in message
    assert "line 4" in message


@pytest.mark.parametrize("text", ["", "- contoso-csp\n", "just text\n"], ids=["empty", "a_list", "a_scalar"])
def test_config_that_is_not_a_mapping_is_refused(config_dir, text):
    assert "must be a mapping" in _error(config_dir, text)


def test_missing_config_file_names_it_and_the_environment_variable(config_dir):
    with pytest.raises(
        ConfigError, match=f"config file {config_dir / 'nope.yaml'} does not exist; set {CONFIG_ENV_VAR}"
    ):
        load_config(config_dir / "nope.yaml")


def test_environment_variable_chooses_the_config(config_dir, monkeypatch):
    monkeypatch.setenv(CONFIG_ENV_VAR, str(write_config(config_dir, _valid())))
    assert load_config().reference_data == config_dir / "reference"


def test_bundled_demo_config_loads_when_nothing_is_set(config_dir, tmp_path):
    config = load_config()
    assert [(p.id, p.sync) for p in config.providers] == [
        ("contoso-csp", "automatic"),
        ("fabrikam-distribution", "manual"),
    ]
    assert config.reference_data == DEMO_CONFIG_PATH.parent / "reference"
    assert all(p.folder.is_dir() and p.folder.parent == DEMO_CONFIG_PATH.parent / "providers" for p in config.providers)
    assert config.data_dir == tmp_path / "env-data"
    assert config.warehouse_url == f"duckdb:///{tmp_path / 'env-data' / 'warehouse.duckdb'}"


# The checksum override maximum, per currency ------------------------------------------------------------------


def test_without_a_checksum_override_maximum_every_currency_gets_0_50(config_dir):
    config = load_config(write_config(config_dir, _valid()))
    assert [config.checksum_override_maximum_in(code) for code in ("USD", "JPY")] == [Decimal("0.50")] * 2


def test_a_single_checksum_override_maximum_applies_to_every_currency_as_before(config_dir):
    config = load_config(write_config(config_dir, _with(lambda d: d.update(checksum_override_maximum="0.30"))))
    assert [config.checksum_override_maximum_in(code) for code in ("USD", "JPY")] == [Decimal("0.30")] * 2


def test_a_checksum_override_maximum_per_currency_applies_the_default_to_the_currencies_it_does_not_name(config_dir):
    maximum = {"default": "0.50", "JPY": "50", "KWD": "0.500"}
    config = load_config(write_config(config_dir, _with(lambda d: d.update(checksum_override_maximum=maximum))))
    assert config.checksum_override_maximum_in("JPY") == Decimal("50")
    assert config.checksum_override_maximum_in("KWD") == Decimal("0.500")
    assert config.checksum_override_maximum_in("USD") == Decimal("0.50")
    assert isinstance(config.checksum_override_maximum_in("JPY"), Decimal)


def test_a_checksum_override_maximum_per_currency_without_default_keeps_0_50_for_the_others(config_dir):
    config = load_config(write_config(config_dir, _with(lambda d: d.update(checksum_override_maximum={"JPY": "50"}))))
    assert (config.checksum_override_maximum_in("JPY"), config.checksum_override_maximum_in("EUR")) == (
        Decimal("50"),
        Decimal("0.50"),
    )


@pytest.mark.parametrize(
    ("maximum", "expected"),
    [
        pytest.param(
            0.5,
            "'checksum_override_maximum': checksum_override_maximum must be a quoted decimal string such as "
            '"0.50", not a float',
            id="float",
        ),
        pytest.param(
            {"default": "0.50", "JPY": 50.0},
            "'checksum_override_maximum': checksum_override_maximum.JPY must be a quoted decimal string",
            id="float_for_a_currency",
        ),
        pytest.param(
            {"default": "0.50", "JPY": "-1"},
            "'checksum_override_maximum': checksum_override_maximum.JPY must be a finite, non-negative decimal",
            id="negative_for_a_currency",
        ),
        pytest.param(
            {"default": "fifty cents"},
            "'checksum_override_maximum': checksum_override_maximum.default must be a decimal number",
            id="text_default",
        ),
        pytest.param(
            {"jpy": "50"},
            "'checksum_override_maximum': 'jpy' is not a currency code; write three upper-case letters "
            "(ISO 4217, e.g. JPY), or default for the other currencies",
            id="lower_case_currency",
        ),
        pytest.param(
            {"YEN!": "50"},
            "'checksum_override_maximum': 'YEN!' is not a currency code",
            id="not_a_currency_code",
        ),
        pytest.param(
            ["0.50"],
            "'checksum_override_maximum': checksum_override_maximum must be a quoted decimal such as \"0.50\", or "
            'a mapping of currency codes to quoted decimals such as {default: "0.50", JPY: "50"}',
            id="list",
        ),
    ],
)
def test_a_bad_checksum_override_maximum_raises_one_line_naming_the_key(config_dir, maximum, expected):
    message = _error(config_dir, _with(lambda d: d.update(checksum_override_maximum=maximum)))
    assert expected in message


def test_the_first_billing_period_is_unset_by_default_and_read_as_a_month_when_set(config_dir):
    unset = {key: value for key, value in _valid().items() if key != "first_billing_period"}
    assert load_config(write_config(config_dir, unset)).first_billing_period is None
    unquoted = yaml.safe_dump(_valid(), sort_keys=False) + "first_billing_period: 2025-06\n"
    assert load_config(write_config(config_dir, unquoted)).first_billing_period == BillingPeriod(2025, 6)


@pytest.mark.parametrize("value", ["2025-13", "June 2025", 202506, "2025-06-01"])
def test_a_first_billing_period_that_is_not_a_month_raises_one_line_naming_the_key(config_dir, value):
    message = _error(config_dir, _with(lambda d: d.update(first_billing_period=value)))
    assert message.endswith(
        "'first_billing_period': must be a month written YYYY-MM, e.g. \"2026-01\": the first month of the monthly "
        "partitions (customer_invoices, period_reconciliation)"
    ), message
