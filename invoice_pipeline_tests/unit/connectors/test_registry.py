"""The connector registry: a connector registered by the tests with one line (and no edit anywhere else) is named in
the configuration, validates its own settings, refuses a secret written in the file with no code of its own, and is
built by its factory."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import invoice_pipeline
from invoice_pipeline.config import ConfigError, load_config
from invoice_pipeline.connectors.base import ConnectorContext
from invoice_pipeline.connectors.folder import FolderSettings
from invoice_pipeline.connectors.line_file_limits import LineFileLimits
from invoice_pipeline.connectors.partner_center.settings import PartnerCenterConnectorSettings
from invoice_pipeline.connectors.registry import CONNECTORS
from invoice_pipeline_tests.connectors.canned_connector import CANNED, CannedConnector, CannedSettings
from invoice_pipeline_tests.unit.config.config_files import config_folder, valid_config, write_config


@pytest.fixture(autouse=True)
def canned(monkeypatch: pytest.MonkeyPatch) -> None:
    """The test-only canned connector, registered with its one registry line (undone after the test)."""
    monkeypatch.setitem(CONNECTORS, "canned", CANNED)


def _config(tmp_path: Path, change: Callable[[dict[str, Any]], object] | None = None) -> Path:
    """A configuration whose automatic provider is a canned one offering C-1 and C-2, changed by `change`."""
    data = valid_config()
    provider = {"id": "canned-csp", "name": "Canned CSP", "sync": "automatic", "connector": "canned"}
    data["providers"][0] = provider | {"invoices": ["C-1", "C-2"]}
    if change:
        change(data["providers"][0])
    return write_config(config_folder(tmp_path), data)


def _error(tmp_path: Path, change: Callable[[dict[str, Any]], object]) -> str:
    path = _config(tmp_path, change)
    with pytest.raises(ConfigError) as raised:
        load_config(path)
    message = str(raised.value)
    assert "\n" not in message and message.startswith(str(path)), message
    return message


def test_a_connector_registered_with_one_line_is_named_in_the_configuration_with_its_own_settings(tmp_path):
    provider = load_config(_config(tmp_path)).provider("canned-csp")

    assert provider.connector == "canned"
    assert provider.settings == CannedSettings(invoices=["C-1", "C-2"])
    assert provider.settings.folder is None  # not a folder connector


def test_a_registered_connector_is_built_by_its_factory_from_its_settings_and_the_context(tmp_path):
    provider = load_config(_config(tmp_path)).provider("canned-csp")
    context = ConnectorContext("canned-csp", LineFileLimits(10_000, 1_000), tmp_path / "downloads")

    connector = CONNECTORS["canned"].connect(provider.settings, context)

    assert isinstance(connector, CannedConnector)
    assert [offered.invoice_id for offered in connector.list_invoices()] == ["C-1", "C-2"]
    files = connector.fetch_invoice("C-2")
    assert (files.header_path, files.limits) == (tmp_path / "downloads" / "C-2" / "header.json", context.limits)


def test_a_connector_is_never_built_from_another_connectors_settings(tmp_path):
    folder_provider = load_config(_config(tmp_path)).provider("fabrikam-distribution")
    context = ConnectorContext("fabrikam-distribution", LineFileLimits(), tmp_path / "downloads")

    with pytest.raises(TypeError, match="FolderSettings are not the settings of this connector"):
        CONNECTORS["canned"].connect(folder_provider.settings, context)


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        pytest.param(
            lambda p: p.update(invoices=[]),
            "'providers.0.invoices': List should have at least 1 item after validation, not 0",
            id="no_invoice",
        ),
        pytest.param(lambda p: p.pop("invoices"), "missing key 'providers.0.invoices'", id="missing_setting"),
        pytest.param(
            lambda p: p.update(colour="blue"),
            "unknown key 'providers.0.colour'; remove it or check its spelling",
            id="unknown_key",
        ),
        pytest.param(
            lambda p: p.update(path="providers/contoso-csp"),
            "'providers.0.path': a canned provider has no path (a setting of connector: folder); remove it",
            id="another_connectors_setting",
        ),
        pytest.param(
            lambda p: p.update(sync="manual"),
            "'providers.0': a canned provider must be sync: automatic (manual providers use folders)",
            id="manual_without_a_folder",
        ),
        pytest.param(
            lambda p: p.update(connector="ftp"),
            "'providers.0.connector': 'ftp' is not a connector; use one of: folder, partner_center, canned",
            id="unregistered_connector",
        ),
    ],
)
def test_a_registered_connectors_bad_settings_are_refused_in_one_line_naming_the_key(tmp_path, change, expected):
    assert _error(tmp_path, change).endswith(expected)


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        pytest.param(
            lambda p: p.update(password="s3cr3t"),
            "'providers.0': never write the password in this file: put it in an environment variable and give "
            "that variable's name in this connector's settings",
            id="beside_its_settings",
        ),
        pytest.param(
            lambda p: p.update(options={"Client_Secret": "s3cr3t"}),
            "'providers.0.options': never write the client secret in this file",
            id="in_a_mapping_whatever_the_case",
        ),
        pytest.param(
            lambda p: p.update(invoices=["C-1", {"secret": "s3cr3t"}]),
            "'providers.0.invoices.1': never write the secret in this file",
            id="in_a_list",
        ),
        pytest.param(
            lambda p: p.update(options={"api_token": "s3cr3t"}),
            "'providers.0.options': never write the api_token in this file",
            id="a_token",
        ),
        pytest.param(
            lambda p: p.update(options={"apiKey": "s3cr3t"}),
            "'providers.0.options': never write the apiKey in this file",
            id="an_api_key_in_camel_case",
        ),
        pytest.param(
            lambda p: p.update(options={"smtp-passwd": "s3cr3t"}),
            "'providers.0.options': never write the smtp-passwd in this file",
            id="a_passwd",
        ),
        pytest.param(
            lambda p: p.update(options={"private_key": "s3cr3t"}),
            "'providers.0.options': never write the private_key in this file",
            id="a_private_key",
        ),
        pytest.param(
            lambda p: p.update(options={"credentials": {"user": "u"}}),
            "'providers.0.options': never write the credentials in this file",
            id="credentials",
        ),
    ],
)
def test_any_registered_connector_refuses_a_secret_written_in_the_file_with_no_code_of_its_own(
    tmp_path, change, expected
):
    message = _error(tmp_path, change)
    assert expected in message
    assert "s3cr3t" not in message


def test_the_pipeline_names_the_test_connector_nowhere_its_package_and_registry_line_are_all_it_takes():
    package = Path(invoice_pipeline.__file__).parent
    assert [path for path in package.rglob("*.py") if "canned" in path.read_text(encoding="utf-8").lower()] == []


@pytest.mark.parametrize("key", ["api_token_env", "token_url", "client_secret_file"])
def test_a_key_naming_where_a_secret_is_kept_or_asked_for_is_no_secret(tmp_path, key):
    message = _error(tmp_path, lambda p: p.update({key: "CANNED"}))
    assert "never write" not in message
    assert f"unknown key 'providers.0.{key}'" in message  # the canned connector has no such setting


def test_the_pipeline_decides_nothing_by_a_connectors_name_outside_the_connectors():
    """What differs between connectors is declared by their settings (e.g. GUIDs compared in any case), so a
    registered connector gets the same import as the built-in ones."""
    package = Path(invoice_pipeline.__file__).parent
    named = [
        f"{path.relative_to(package)}:{number}"
        for path in package.rglob("*.py")
        if "connectors" not in path.relative_to(package).parts and "demo" not in path.relative_to(package).parts
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if ".connector ==" in line or ".connector !=" in line or ".connector in (" in line
    ]
    assert named == []


def test_partner_centers_guids_compare_in_any_case_and_a_folder_providers_as_written():
    assert PartnerCenterConnectorSettings.guids_in_any_case is True
    assert FolderSettings.guids_in_any_case is False
    assert CannedSettings.guids_in_any_case is False  # the default a new connector gets
