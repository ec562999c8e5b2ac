"""The `partner_center` provider settings in the YAML configuration."""

from __future__ import annotations

import pytest

from invoice_pipeline.config import DEMO_CONFIG_PATH, ConfigError, load_config
from invoice_pipeline_tests.unit.config.config_files import config_folder, valid_config, write_config

SETTINGS = {"tenant_id": "tenant-1", "client_id": "app-1", "client_secret_env": "CONTOSO_PC_SECRET"}


def _config(tmp_path, change=None) -> tuple:
    data = valid_config()
    provider = data["providers"][0]
    del provider["path"]
    provider.update(connector="partner_center", partner_center=dict(SETTINGS))
    if change:
        change(provider)
    return write_config(config_folder(tmp_path), data), provider


def _error(tmp_path, change) -> str:
    path, _ = _config(tmp_path, change)
    with pytest.raises(ConfigError) as raised:
        load_config(path)
    message = str(raised.value)
    assert "\n" not in message and message.startswith(str(path))
    return message


def test_a_partner_center_provider_needs_no_folder_and_defaults_to_microsofts_endpoints(tmp_path):
    path, _ = _config(tmp_path)
    provider = load_config(path).provider("contoso-csp")
    assert provider.connector == "partner_center" and provider.settings.folder is None
    settings = provider.settings.partner_center
    assert (settings.tenant_id, settings.client_id, settings.client_secret_env) == (
        "tenant-1",
        "app-1",
        "CONTOSO_PC_SECRET",
    )
    assert settings.login_url == "https://login.microsoftonline.com"
    assert settings.api_url == "https://api.partnercenter.microsoft.com/v1"
    assert settings.graph_url == "https://graph.microsoft.com/v1.0"


def test_base_urls_can_point_at_a_mirror(tmp_path):
    path, _ = _config(tmp_path, lambda p: p["partner_center"].update(api_url="http://mirror.internal:8080/pc/v1/"))
    assert (
        load_config(path).provider("contoso-csp").settings.partner_center.api_url == "http://mirror.internal:8080/pc/v1"
    )


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        pytest.param(
            lambda p: p["partner_center"].update(client_secret="s3cr3t-value"),
            "'providers.0.partner_center': never write the client secret in this file",
            id="secret_in_the_file",
        ),
        pytest.param(
            lambda p: p["partner_center"].update(client_secret_env="s3cr3t~value.with-dots"),
            "'providers.0.partner_center.client_secret_env': must be the name of an environment variable",
            id="secret_instead_of_its_variable",
        ),
        pytest.param(lambda p: p.pop("partner_center"), "missing key 'providers.0.partner_center'", id="no_settings"),
        pytest.param(
            lambda p: p["partner_center"].pop("tenant_id"),
            "missing key 'providers.0.partner_center.tenant_id'",
            id="no_tenant",
        ),
        pytest.param(
            lambda p: p.update(path="providers/contoso-csp"),
            "a partner_center provider has no path",
            id="path_given",
        ),
        pytest.param(lambda p: p.update(sync="manual"), "must be sync: automatic", id="manual"),
        pytest.param(
            lambda p: p["partner_center"].update(api_url="api.partnercenter.microsoft.com"),
            "is not an http(s) base URL",
            id="url_without_scheme",
        ),
        pytest.param(
            lambda p: p.update(connector="folder"), "missing key 'providers.0.path'", id="folder_without_path"
        ),
    ],
)
def test_bad_partner_center_settings_are_refused_in_one_line_naming_the_key(tmp_path, change, expected):
    message = _error(tmp_path, change)
    assert expected in message
    assert "s3cr3t" not in message


def test_the_bundled_partner_center_demo_config_loads(monkeypatch):
    config = load_config(DEMO_CONFIG_PATH.parent / "partner_center.yaml")
    provider = config.provider("contoso-csp")
    assert provider.connector == "partner_center"
    assert provider.settings.partner_center.client_secret_env == "PARTNER_CENTER_CLIENT_SECRET"
    assert config.reference_data == DEMO_CONFIG_PATH.parent / "reference"
