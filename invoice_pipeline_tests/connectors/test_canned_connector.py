"""The composition root builds a connector registered by the tests, from its settings in the configuration."""

from __future__ import annotations

import pytest

from invoice_pipeline.composition import connector_for
from invoice_pipeline.config import load_config
from invoice_pipeline.connectors.registry import CONNECTORS
from invoice_pipeline_tests.connectors.canned_connector import CANNED, CannedConnector
from invoice_pipeline_tests.unit.config.config_files import config_folder, valid_config, write_config


def test_connector_for_builds_a_connector_the_tests_registered_with_one_line(tmp_path, monkeypatch):
    monkeypatch.setitem(CONNECTORS, "canned", CANNED)  # the connector's one registry line
    data = valid_config()
    data["providers"][0] = {"id": "canned-csp", "name": "Canned CSP", "sync": "automatic", "connector": "canned"}
    data["providers"][0] |= {"invoices": ["C-1"], "line_length_limit": "2KB"}
    config = load_config(write_config(config_folder(tmp_path), data))
    provider = config.provider("canned-csp")

    connector = connector_for(provider, config)

    assert isinstance(connector, CannedConnector)
    files = connector.fetch_invoice("C-1")
    assert files.header_path == config.data_dir / "downloads" / "canned-csp" / "C-1" / "header.json"
    assert files.limits == provider.line_file_limits and files.limits.line_length == 2000
    with pytest.raises(Exception, match="canned-csp has no invoice C-9"):
        connector.fetch_invoice("C-9")
